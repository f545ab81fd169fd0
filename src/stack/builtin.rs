//! KTRDR's built-in descriptions, and which one fits a checkout.

use std::path::Path;
use std::sync::LazyLock;

use super::Stack;

/// KTRDR's compose file name: its presence marks a KTRDR checkout.
pub(super) const KTRDR_COMPOSE_FILE: &str = "docker-compose.sandbox.yml";

/// KTRDR's built-in description for M6-era trees (parsed once, on first use).
pub static KTRDR: LazyLock<Stack> = LazyLock::new(|| builtin("stacks/ktrdr.toml", KTRDR_M6));

/// KTRDR's built-in description for its tree as it is today (2c5c7173): secrets
/// under the names that compose file reads, agents' ports per instance, shared
/// observability.
pub static KTRDR_2026: LazyLock<Stack> =
    LazyLock::new(|| builtin("stacks/ktrdr-2026.toml", KTRDR_TODAY));

const KTRDR_M6: &str = "the built-in KTRDR description (M6 tree)";
const KTRDR_TODAY: &str = "the built-in KTRDR description (today's tree, 2c5c7173)";

fn builtin(file: &str, origin: &str) -> Stack {
    let text = crate::support::assets::text::<crate::support::assets::Scripts>(file);
    // The build embeds these files and unit tests parse them: a failure is a bug here.
    let mut s = Stack::parse(&text, origin).unwrap_or_else(|e| panic!("embedded {file}: {e}"));
    s.builtin = true;
    s
}

/// Pure: which built-in KTRDR description fits a KTRDR compose file: today's when
/// it reads the secrets under their newer names, else M6's.
/// Whether `stack` (as [`crate::stack::for_dir`] gave it for `dir`) is a description
/// `dir` carries: KTRDR's built-in one is also what `for_dir` falls back to for a
/// directory it cannot place (none, not a checkout, no compose file), so it counts
/// only where KTRDR's compose file is. A reader that acts on a description's port
/// table (the router) must not give every such directory KTRDR's ports.
pub fn carried_by(stack: &Stack, dir: &Path) -> bool {
    ![KTRDR_M6, KTRDR_TODAY].contains(&stack.origin.as_str())
        || dir.join(KTRDR_COMPOSE_FILE).is_file()
}

pub fn ktrdr_for_compose(text: &str) -> &'static Stack {
    let vars = crate::tools::compose::variables(text);
    if vars.contains("KTRDR_DB_PASSWORD") || vars.contains("KTRDR_AUTH_JWT_SECRET") {
        &KTRDR_2026
    } else {
        &KTRDR
    }
}

/// The built-in KTRDR description for the checkout at `top` (M6's when its compose
/// file cannot be read: `up` names the missing file then).
pub(super) fn ktrdr_for(top: &Path) -> &'static Stack {
    match std::fs::read_to_string(top.join(KTRDR_COMPOSE_FILE)) {
        Ok(text) => ktrdr_for_compose(&text),
        Err(_) => &KTRDR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `for_dir` gives KTRDR's built-in description to a directory it cannot place:
    /// that is no port table of the directory's (a never-started sandbox of
    /// another project was routed and checked out on KTRDR's slot ports).
    #[test]
    fn the_built_in_description_is_carried_only_where_ktrdrs_compose_file_is() {
        let d = tempfile::tempdir().unwrap();
        assert!(!carried_by(&KTRDR, d.path()));
        assert!(!carried_by(&KTRDR_2026, &d.path().join("gone")));
        std::fs::write(d.path().join(KTRDR_COMPOSE_FILE), "services: {}\n").unwrap();
        assert!(carried_by(&KTRDR, d.path()));
        let own = parse("").unwrap();
        assert!(
            carried_by(&own, &d.path().join("gone")),
            "a kinfra.toml's own"
        );
    }
    use crate::stack::*;
    use std::collections::BTreeMap;

    const TODAY: &str =
        include_str!("../../tests/fixtures/ktrdr-2c5c7173/docker-compose.sandbox.yml");

    fn parse(extra: &str) -> std::result::Result<Stack, String> {
        Stack::parse(
            &format!("name = \"shop\"\ncompose_file = \"compose.yml\"\n{extra}"),
            "t",
        )
        .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn the_compose_file_in_hand_chooses_the_ktrdr_description() {
        assert_eq!(ktrdr_for_compose(TODAY).origin, KTRDR_TODAY);
        let m6 = crate::support::assets::text::<crate::support::assets::Stacks>(
            "demo/docker-compose.sandbox.yml",
        );
        assert_eq!(ktrdr_for_compose(&m6).origin, KTRDR_M6);
        // Both go by one name: their instances are one project's.
        assert_eq!(KTRDR.name, KTRDR_2026.name);
    }

    #[test]
    fn todays_description_maps_what_todays_compose_file_reads() {
        let s = &*KTRDR_2026;
        let read = crate::tools::compose::variables(TODAY);
        for f in &s.secret_fields {
            assert!(read.contains(f.var.as_str()), "{} not read", f.var);
        }
        let lp: Vec<&str> = s
            .fields_for(Kind::LocalProd)
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(lp, ["db_password", "jwt_secret", "anthropic_api_key"]);
        assert_eq!(s.fields_for(Kind::Sandbox).len(), 4);
        assert_eq!(s.env_for(Kind::Sandbox)["KTRDR_ENV"], "development");
        assert_eq!(s.env_for(Kind::LocalProd)["KTRDR_ENV"], "production");
        // Every host port the compose file publishes comes from a key of it.
        for p in crate::stack::check::read(TODAY).ports {
            let (var, _) = p.var.expect("a variable");
            assert!(
                s.ports.iter().any(|r| r.key == var && !r.fixed),
                "{var} is not an instance port"
            );
        }
    }

    #[test]
    fn todays_ports_never_meet_across_slots_and_shared_ports_are_everyones() {
        let s = &*KTRDR_2026;
        let mut seen = BTreeMap::new();
        for slot in 0..=s.max_slot {
            for (k, p) in crate::stack::ports::own_for_slot(s, slot) {
                if let Some(first) = seen.insert(p, (slot, k)) {
                    panic!("port {p}: slot {slot} {k} and slot {} {}", first.0, first.1);
                }
            }
        }
        assert!(seen.contains_key(&5010) && seen.contains_key(&5020));
        assert_eq!(
            crate::stack::ports::for_slot(s, 3)
                .into_iter()
                .find(|(k, _)| *k == "KTRDR_JAEGER_UI_PORT"),
            Some(("KTRDR_JAEGER_UI_PORT", 46686))
        );
        assert!(crate::stack::ports::is_fixed(s, "KTRDR_GRAFANA_PORT"));
    }

    #[test]
    fn fixed_ports_are_a_kind_not_a_step_of_zero() {
        let s = parse("[[ports]]\nkey = \"OBS_PORT\"\nfixed = 46686\n").unwrap();
        assert_eq!(crate::stack::ports::for_slot(&s, 0), [("OBS_PORT", 46686)]);
        assert_eq!(crate::stack::ports::for_slot(&s, 7), [("OBS_PORT", 46686)]);
        assert!(crate::stack::ports::own_for_slot(&s, 7).is_empty());
        let e = parse("[[ports]]\nkey = \"A\"\nlocal_prod = 1\nbase = 9\nstep = 0\n").unwrap_err();
        assert!(e.contains("fixed = 1"), "{e}");
        let e = parse("[[ports]]\nkey = \"A\"\nfixed = 1\nbase = 9\n").unwrap_err();
        assert!(e.contains("takes no local_prod"), "{e}");
        let e = parse("[[ports]]\nkey = \"A\"\n").unwrap_err();
        assert!(e.contains("needs `local_prod`"), "{e}");
    }

    #[test]
    fn env_and_secrets_per_kind() {
        let s = parse(
            "[env]\nAPP_NAME = \"shop\"\n[sandbox.env]\nAPP_ENV = \"sandbox\"\n[local_prod.env]\nAPP_ENV = \"production\"\n\
             [sandbox.secrets]\nAPI_KEY = \"op://dev-vault/shop/api-key\"\nTOKEN = \"$SHOP_TOKEN\"\nDEV_PW = \"dev-only\"\n\
             [local_prod.secrets]\nAPI_KEY = \"op://prod/shop/section/api-key\"\n\
             [[secrets]]\nfield = \"fred\"\nvar = \"FRED\"\nkinds = [\"sandbox\"]\n",
        )
        .unwrap();
        assert_eq!(s.env_for(Kind::Sandbox)["APP_ENV"], "sandbox");
        assert_eq!(s.env_for(Kind::LocalProd)["APP_ENV"], "production");
        assert_eq!(s.env_for(Kind::LocalProd)["APP_NAME"], "shop");
        let sb = s.secret_refs_for(Kind::Sandbox);
        assert!(sb.contains(&SecretRef {
            var: "TOKEN".into(),
            source: SecretSource::Host("SHOP_TOKEN".into())
        }));
        assert!(sb.contains(&SecretRef {
            var: "DEV_PW".into(),
            source: SecretSource::Literal("dev-only".into())
        }));
        assert_eq!(
            s.secret_refs_for(Kind::LocalProd)[0].source,
            SecretSource::OnePassword("op://prod/shop/section/api-key".into())
        );
        assert_eq!(s.fields_for(Kind::Sandbox).len(), 1);
        assert!(s.fields_for(Kind::LocalProd).is_empty());
        assert!(s.has_secrets(Kind::LocalProd) && s.has_secrets(Kind::Sandbox));
        assert_eq!(s.secret_vars(), ["API_KEY", "DEV_PW", "FRED", "TOKEN"]);
    }

    #[test]
    fn bad_kind_settings_are_refused_with_what_to_do() {
        for (text, says) in [
            ("[sandbox.env]\nPATH = \"/evil\"\n", "steers"),
            ("[env]\nLD_PRELOAD = \"x.so\"\n", "steers"),
            ("[env]\nSLOT_NUMBER = \"3\"\n", "kinfra's own key"),
            (
                "[env]\nA = \"1\"\n[sandbox.env]\nA = \"2\"\n",
                "each variable once",
            ),
            (
                "[sandbox.env]\nA = \"1\"\n[sandbox.secrets]\nA = \"x\"\n",
                "each variable once",
            ),
            (
                "[local_prod.secrets]\nA = \"op://only-two/parts\"\n",
                "not a 1Password secret reference",
            ),
            (
                "[sandbox.secrets]\nA = \"$not a name\"\n",
                "names no environment variable",
            ),
            ("[sandbox.secrets]\nDOCKER_HOST = \"$X\"\n", "steers"),
            ("[env]\n\"bad-name\" = \"1\"\n", "bad-name"),
            (
                "[[secrets]]\nfield = \"f\"\nvar = \"V\"\nkinds = [\"prod\"]\n",
                "is not \\\"sandbox\\\"",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
        }
        // The same variable may differ between the kinds.
        parse("[sandbox.secrets]\nA = \"x\"\n[local_prod.secrets]\nA = \"op://v/i/f\"\n").unwrap();
    }

    #[test]
    fn a_secret_reference_is_parsed_as_data() {
        assert_eq!(
            SecretSource::parse("op://v/i/f"),
            Ok(SecretSource::OnePassword("op://v/i/f".into()))
        );
        assert!(SecretSource::parse("op://v//f").is_err());
        assert!(SecretSource::parse("op://v/i/f\n--account=x").is_err());
        assert_eq!(
            SecretSource::parse("$HOME_TOKEN"),
            Ok(SecretSource::Host("HOME_TOKEN".into()))
        );
        assert_eq!(
            SecretSource::parse("plain"),
            Ok(SecretSource::Literal("plain".into()))
        );
    }
}
