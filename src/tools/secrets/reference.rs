//! The grammar of a value in `[sandbox.secrets]` / `[local_prod.secrets]` (and in
//! devops-ai's `infra.toml`, with the same meaning there): what it names and where
//! the value comes from. Pure: text in, a [`SecretSource`] or why not out.
//!
//! - `op://vault/item/field` (or `…/item/section/field`): a 1Password field;
//! - `bao://MOUNT/PATH#KEY`: a key of an OpenBao / Vault KV v2 secret;
//! - `env://NAME` or `$NAME`: the environment, else `NAME` in the main clone's `.env`;
//! - `dotenv://PATH#KEY`: `KEY` of a dotenv file, PATH relative to the main clone;
//! - anything else is the value itself: `$` claims only a following letter, `_` or
//!   `{` (`$2b$12$…`, a bcrypt hash, is a literal) and a scheme kinfra does not
//!   claim (`postgres://…`) is a literal. `${NAME}` and `akv://` are refused, named.

/// Where a secret given by reference comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A 1Password secret reference (`op://vault/item/field`), as written.
    OnePassword(String),
    /// A variable of the environment kinfra runs in (`$NAME`, `env://NAME`), else
    /// `NAME` in the main clone's `.env`.
    Host(String),
    /// `KEY` of the dotenv file at `path` (relative to the main clone).
    Dotenv { path: String, key: String },
    /// `KEY` of the KV v2 secret `PATH` on mount `MOUNT` of OpenBao / Vault.
    Bao {
        mount: String,
        path: String,
        key: String,
    },
    /// The value as written: for development-only values.
    Literal(String),
}

/// The parts of a 1Password reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OpRef {
    pub vault: String,
    pub item: String,
    pub section: Option<String>,
    pub field: String,
}

/// The schemes kinfra reads; any other `x://` is a literal.
const ENV: &str = "env://";
const DOTENV: &str = "dotenv://";
const OP: &str = "op://";
const BAO: &str = "bao://";
const AKV: &str = "akv://";

impl SecretSource {
    /// Pure: what a value in a `secrets` table means (see the module's grammar).
    pub fn parse(value: &str) -> Result<SecretSource, String> {
        if value.contains('\0') {
            return Err(
                "the value holds a NUL byte, which no process environment can carry: remove it"
                    .into(),
            );
        }
        if value.starts_with(OP) {
            op_parts(value)?;
            return Ok(SecretSource::OnePassword(value.to_string()));
        }
        if let Some(rest) = value.strip_prefix(BAO) {
            return parse_bao(value, rest);
        }
        if let Some(name) = value.strip_prefix(ENV) {
            return host(value, name);
        }
        if let Some(rest) = value.strip_prefix(DOTENV) {
            return parse_dotenv(value, rest);
        }
        if value.starts_with(AKV) {
            return Err(format!(
                "{value:?}: the akv:// scheme (Azure Key Vault) is not supported by kinfra: copy the secret into 1Password (op://) or OpenBao (bao://), or set it in the environment (env://NAME)"
            ));
        }
        if let Some(rest) = value.strip_prefix('$') {
            match rest.chars().next() {
                Some('{') => {
                    let name: String = rest[1..].chars().take_while(|c| *c != '}').collect();
                    return Err(format!(
                        "{value:?}: the ${{NAME}} form is not read (a value is never interpolated): write ${name} or env://{name}"
                    ));
                }
                Some(c) if c.is_ascii_alphabetic() || c == '_' => return host(value, rest),
                // `$2b$12$…`: a bcrypt hash, `$` alone: the value itself.
                _ => {}
            }
        }
        Ok(SecretSource::Literal(value.to_string()))
    }

    /// The reference as kinfra writes it back (its canonical spelling): what the
    /// kept values are keyed on. A literal's text is never shown: `literal`.
    pub fn reference(&self) -> String {
        match self {
            SecretSource::OnePassword(r) => r.clone(),
            SecretSource::Host(n) => format!("{ENV}{n}"),
            SecretSource::Dotenv { path, key } => format!("{DOTENV}{path}#{key}"),
            SecretSource::Bao { mount, path, key } => format!("{BAO}{mount}/{path}#{key}"),
            SecretSource::Literal(_) => "literal".into(),
        }
    }

    /// The kind, as `secrets status` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            SecretSource::OnePassword(_) => "op",
            SecretSource::Host(_) => "env",
            SecretSource::Dotenv { .. } => "dotenv",
            SecretSource::Bao { .. } => "bao",
            SecretSource::Literal(_) => "literal",
        }
    }

    /// A secret store (`--no-secrets` leaves these out).
    pub fn is_store(&self) -> bool {
        matches!(
            self,
            SecretSource::OnePassword(_) | SecretSource::Bao { .. }
        )
    }
}

fn host(value: &str, name: &str) -> Result<SecretSource, String> {
    crate::support::validate::env_name(name).map_err(|e| {
        format!("{value:?} names no environment variable ({e}); write $NAME or env://NAME")
    })?;
    Ok(SecretSource::Host(name.to_string()))
}

/// A path segment of a reference: plain characters only, never `.` or `..`, so a
/// reference cannot climb out of its mount or its main clone, nor carry a query.
fn plain_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+'))
}

/// Pure: the parts of `op://vault/item[/section]/field`.
pub fn op_parts(value: &str) -> Result<OpRef, String> {
    let bad = || {
        format!(
            "{value:?} is not a 1Password secret reference: write op://vault/item/field (or op://vault/item/section/field)"
        )
    };
    let rest = value.strip_prefix(OP).ok_or_else(bad)?;
    let parts: Vec<&str> = rest.split('/').collect();
    if !(3..=4).contains(&parts.len())
        || parts.iter().any(|p| p.trim().is_empty())
        || value.chars().any(char::is_control)
        // A part starting with `-` would read as an option of `op`.
        || parts.iter().any(|p| p.starts_with('-'))
    {
        return Err(bad());
    }
    Ok(OpRef {
        vault: parts[0].into(),
        item: parts[1].into(),
        section: (parts.len() == 4).then(|| parts[2].to_string()),
        field: parts[parts.len() - 1].into(),
    })
}

fn parse_bao(value: &str, rest: &str) -> Result<SecretSource, String> {
    let bad = |why: &str| {
        format!("{value:?} is not an OpenBao reference ({why}): write bao://MOUNT/PATH#KEY")
    };
    let (loc, key) = rest.split_once('#').ok_or_else(|| bad("no #KEY"))?;
    let (mount, path) = loc.split_once('/').ok_or_else(|| bad("no PATH"))?;
    if !plain_segment(mount) || !path.split('/').all(plain_segment) {
        return Err(bad(
            "MOUNT and PATH are plain names (A-Z a-z 0-9 - _ . @ +) separated by /, never . or ..",
        ));
    }
    if key.is_empty() || key.chars().any(char::is_control) {
        return Err(bad("KEY is empty or holds a control character"));
    }
    Ok(SecretSource::Bao {
        mount: mount.into(),
        path: path.into(),
        key: key.into(),
    })
}

fn parse_dotenv(value: &str, rest: &str) -> Result<SecretSource, String> {
    let bad = |why: &str| {
        format!(
            "{value:?} is not a dotenv reference ({why}): write dotenv://PATH#KEY, PATH relative to the main clone"
        )
    };
    let (path, key) = rest.rsplit_once('#').ok_or_else(|| bad("no #KEY"))?;
    crate::support::validate::env_name(key).map_err(|e| bad(&e))?;
    let p = std::path::Path::new(path);
    if path.is_empty() || path.chars().any(char::is_control) {
        return Err(bad("no PATH"));
    }
    if p.is_absolute()
        || p.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
    {
        return Err(bad(
            "PATH must stay inside the main clone: no leading /, no ..",
        ));
    }
    Ok(SecretSource::Dotenv {
        path: path.into(),
        key: key.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> SecretSource {
        SecretSource::Literal(s.into())
    }

    #[test]
    fn each_kind_parses() {
        assert_eq!(
            SecretSource::parse("op://v/i/f"),
            Ok(SecretSource::OnePassword("op://v/i/f".into()))
        );
        assert_eq!(
            op_parts("op://v/i/s/f").unwrap(),
            OpRef {
                vault: "v".into(),
                item: "i".into(),
                section: Some("s".into()),
                field: "f".into()
            }
        );
        assert_eq!(
            SecretSource::parse("env://API_KEY"),
            Ok(SecretSource::Host("API_KEY".into()))
        );
        assert_eq!(
            SecretSource::parse("$API_KEY"),
            Ok(SecretSource::Host("API_KEY".into()))
        );
        assert_eq!(
            SecretSource::parse("$_X"),
            Ok(SecretSource::Host("_X".into()))
        );
        assert_eq!(
            SecretSource::parse("dotenv://conf/.env.local#DB_PW"),
            Ok(SecretSource::Dotenv {
                path: "conf/.env.local".into(),
                key: "DB_PW".into()
            })
        );
        assert_eq!(
            SecretSource::parse("bao://secret/shop/dev#api-key"),
            Ok(SecretSource::Bao {
                mount: "secret".into(),
                path: "shop/dev".into(),
                key: "api-key".into()
            })
        );
        for s in [
            "op://v/i/f",
            "env://A",
            "dotenv://x/.env#K",
            "bao://m/p/q#k",
        ] {
            let src = SecretSource::parse(s).unwrap();
            assert_eq!(src.reference(), s);
            assert_eq!(SecretSource::parse(&src.reference()), Ok(src));
        }
        assert_eq!(SecretSource::parse("$A").unwrap().reference(), "env://A");
    }

    #[test]
    fn hostile_and_unusual_values() {
        // A bcrypt hash: `$` before a digit claims nothing.
        let bcrypt = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
        assert_eq!(SecretSource::parse(bcrypt), Ok(lit(bcrypt)));
        assert_eq!(SecretSource::parse("$"), Ok(lit("$")));
        assert_eq!(SecretSource::parse("pa$word"), Ok(lit("pa$word")));
        assert_eq!(SecretSource::parse("$$X"), Ok(lit("$$X")));
        // A scheme kinfra does not claim is the value itself.
        let url = "postgres://u:p@db:5432/x";
        assert_eq!(SecretSource::parse(url), Ok(lit(url)));
        // `${HOME}` is refused by name, never interpolated.
        let e = SecretSource::parse("${HOME}").unwrap_err();
        assert!(e.contains("${HOME}") && e.contains("$HOME"), "{e}");
        // Azure: refused naming the scheme.
        let e = SecretSource::parse("akv://vault/secret").unwrap_err();
        assert!(e.contains("akv://") && e.contains("Azure"), "{e}");
        // NUL: refused.
        let e = SecretSource::parse("a\0b").unwrap_err();
        assert!(e.contains("NUL"), "{e}");
        // `$NAME` must be a whole name.
        assert!(SecretSource::parse("$lower").is_err());
        assert!(SecretSource::parse("$A-B").is_err());
        assert!(SecretSource::parse("env://").is_err());
        assert!(SecretSource::parse("env://A;rm").is_err());
        // dotenv PATH escaping the main clone.
        for p in [
            "dotenv://../other/.env#K",
            "dotenv://a/../../.env#K",
            "dotenv:///etc/passwd#K",
            "dotenv://.env",
            "dotenv://.env#k-k",
            "dotenv://#K",
        ] {
            assert!(SecretSource::parse(p).is_err(), "{p}");
        }
        // bao paths cannot climb or carry a query.
        for b in [
            "bao://secret#k",
            "bao://secret/a",
            "bao://secret/../sys/x#k",
            "bao://secret/a?x=1#k",
            "bao://secret/a//b#k",
            "bao://secret/a#",
            "bao:///a#k",
        ] {
            assert!(SecretSource::parse(b).is_err(), "{b}");
        }
        // op references never read as options.
        for o in [
            "op://v//f",
            "op://v/i/f\n--account=x",
            "op://-v/i/f",
            "op://v/i",
        ] {
            assert!(SecretSource::parse(o).is_err(), "{o}");
        }
    }
}
