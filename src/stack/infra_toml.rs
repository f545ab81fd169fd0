//! devops-ai's `.devops-ai/infra.toml`, read as a stack description when a
//! repository has no `kinfra.toml`: a project onboarded with devops-ai's Python
//! `kinfra` works with this one unchanged, and its compose file is never rewritten
//! (devops-ai's `init` rewrites it in place; kinfra reads the port variables that
//! rewrite left). Pure: the file's text in, a `kinfra.toml` text out, plus what
//! could not be carried over.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::support::validate::{EnvValue, PortNumber};

/// Where devops-ai keeps it, relative to the repository.
pub const PATH: &str = ".devops-ai/infra.toml";

// devops-ai ignores keys it does not know; so does this reader.
#[derive(Debug, Deserialize)]
struct Infra {
    project: Project,
    #[serde(default)]
    sandbox: Sandbox,
}

#[derive(Debug, Deserialize)]
struct Project {
    name: String,
    #[serde(default)]
    prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Sandbox {
    #[serde(default)]
    compose_file: Option<String>,
    #[serde(default)]
    ports: BTreeMap<String, PortNumber>,
    #[serde(default)]
    health: Option<Health>,
    #[serde(default)]
    mounts: Option<toml::Value>,
    #[serde(default)]
    otel: Option<toml::Value>,
    #[serde(default)]
    env: BTreeMap<String, EnvValue>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Health {
    endpoint: String,
    port_var: String,
    #[serde(default)]
    #[allow(dead_code)] // read for completeness: kinfra's gate has its own --timeout
    timeout: Option<u64>,
}

/// The `kinfra.toml` an `infra.toml` says, and notes on what it could not say.
/// Every value goes through kinfra's own parser afterwards, with its checks.
pub fn translate(text: &str) -> Result<(String, Vec<String>), String> {
    let infra: Infra = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
    let mut t = toml::Table::new();
    let mut notes = Vec::new();
    t.insert("name".into(), infra.project.name.clone().into());
    let sb = infra.sandbox;
    t.insert(
        "compose_file".into(),
        sb.compose_file
            .unwrap_or_else(|| "docker-compose.yml".into())
            .into(),
    );
    if let Some(p) = &infra.project.prefix {
        let up = p.to_uppercase().replace('-', "_");
        t.insert("env_prefix".into(), up.into());
    }
    // devops-ai's slots run from 1 to 100 across projects: kinfra's per-project
    // numbering needs no more than its default ten.
    let mut ports = Vec::new();
    for (key, PortNumber(base)) in &sb.ports {
        let mut p = toml::Table::new();
        p.insert("key".into(), key.clone().into());
        p.insert("local_prod".into(), i64::from(*base).into());
        p.insert("base".into(), i64::from(*base).into());
        p.insert("step".into(), 1.into());
        ports.push(toml::Value::Table(p));
    }
    if !ports.is_empty() {
        t.insert("ports".into(), ports.into());
    }
    if let Some(h) = sb.health {
        let mut http = toml::Table::new();
        http.insert("port".into(), h.port_var.clone().into());
        http.insert("path".into(), h.endpoint.into());
        let mut g = toml::Table::new();
        g.insert("name".into(), "health".into());
        // The gate names a service for its logs: the port's own is not known here,
        // so the first service the compose file publishes it from is found by
        // `stack check`; "health" stands for it.
        g.insert("service".into(), "health".into());
        g.insert("http".into(), toml::Value::Table(http));
        t.insert("gate".into(), vec![toml::Value::Table(g)].into());
    }
    let mut sandbox = toml::Table::new();
    if !sb.env.is_empty() {
        sandbox.insert(
            "env".into(),
            toml::Value::Table(sb.env.into_iter().map(|(k, v)| (k, v.0.into())).collect()),
        );
    }
    if !sb.secrets.is_empty() {
        sandbox.insert(
            "secrets".into(),
            toml::Value::Table(sb.secrets.into_iter().map(|(k, v)| (k, v.into())).collect()),
        );
    }
    if !sandbox.is_empty() {
        t.insert("sandbox".into(), toml::Value::Table(sandbox));
    }
    let carry: Vec<toml::Value> = sb
        .files
        .into_iter()
        .map(|(dest, src)| {
            let mut c = toml::Table::new();
            c.insert("from".into(), src.into());
            c.insert("to".into(), dest.into());
            toml::Value::Table(c)
        })
        .collect();
    if !carry.is_empty() {
        t.insert("carry".into(), carry.into());
    }
    if sb.mounts.is_some() {
        notes.push(
            "[sandbox.mounts] is not applied: kinfra runs the compose file as the repository wrote it, in the worktree (its relative mounts are the worktree's); write the shared mounts into the compose file".into(),
        );
    }
    if sb.otel.is_some() {
        notes.push(
            "[sandbox.otel] is not applied: set the OTEL variables in [sandbox.env] of a kinfra.toml, or in the compose file".into(),
        );
    }
    let text = toml::to_string(&t).map_err(|e| e.to_string())?;
    Ok((text, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = r#"
[project]
name = "shop"
prefix = "shop"
[sandbox]
compose_file = "compose.yml"
[sandbox.ports]
SHOP_WEB_PORT = 31080
[sandbox.health]
endpoint = "/api/v1/health"
port_var = "SHOP_WEB_PORT"
timeout = 60
[sandbox.mounts]
code = ["src/:/app/src"]
[sandbox.env]
APP_ENV = "sandbox"
[sandbox.secrets]
API_KEY = "op://dev-vault/shop/api-key"
[sandbox.files]
"config.yaml" = "config.example.yaml"
[agent_deck]
whatever = true
"#;

    #[test]
    fn devops_ais_example_becomes_a_kinfra_description() {
        let (text, notes) = translate(SHOP).unwrap();
        let s = crate::stack::Stack::parse(&text, "t").unwrap();
        assert_eq!(s.name, "shop");
        assert_eq!(s.compose_file, "compose.yml");
        assert_eq!(s.env_prefix, "SHOP");
        assert_eq!(
            crate::stack::ports::for_slot(&s, 3),
            [("SHOP_WEB_PORT", 31083)]
        );
        assert_eq!(
            crate::stack::ports::for_slot(&s, 0),
            [("SHOP_WEB_PORT", 31080)]
        );
        assert_eq!(s.env_for(crate::stack::Kind::Sandbox)["APP_ENV"], "sandbox");
        assert_eq!(
            s.secret_refs_for(crate::stack::Kind::Sandbox)[0].source,
            crate::stack::SecretSource::OnePassword("op://dev-vault/shop/api-key".into())
        );
        assert_eq!(s.carry[0].from, "config.example.yaml");
        assert_eq!(s.carry[0].dest(), "config.yaml");
        assert_eq!(s.gate.len(), 1);
        assert!(notes[0].contains("[sandbox.mounts]"), "{notes:?}");
    }

    #[test]
    fn todays_secret_references_are_read_as_devops_ai_reads_them() {
        let infra = r#"
[project]
name = "shop"
[sandbox.secrets]
ADMIN_HASH = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
DB_URL = "postgres://u:p@db:5432/shop"
TOKEN = "env://SHOP_TOKEN"
HOME_TOKEN = "$SHOP_HOME_TOKEN"
LOCAL = "dotenv://config/.env.local#LOCAL_KEY"
API_KEY = "op://dev/shop/api-key"
BAO_KEY = "bao://secret/shop/dev#key"
"#;
        let (text, _) = translate(infra).unwrap();
        let s = crate::stack::Stack::parse(&text, "t").unwrap();
        let kinds: Vec<(&str, &str)> = s
            .secret_refs_for(crate::stack::Kind::Sandbox)
            .iter()
            .map(|r| (r.var.as_str(), r.source.kind()))
            .collect();
        for want in [
            ("ADMIN_HASH", "literal"),
            ("DB_URL", "literal"),
            ("TOKEN", "env"),
            ("HOME_TOKEN", "env"),
            ("LOCAL", "dotenv"),
            ("API_KEY", "op"),
            ("BAO_KEY", "bao"),
        ] {
            assert!(kinds.contains(&want), "{want:?} in {kinds:?}");
        }
        // Azure Key Vault: refused, the scheme named.
        let (text, _) =
            translate("[project]\nname = \"x\"\n[sandbox.secrets]\nK = \"akv://v/s\"\n").unwrap();
        let e = crate::stack::Stack::parse(&text, "t")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("akv://") && e.contains("[sandbox.secrets] K"),
            "{e}"
        );
        let (text, _) =
            translate("[project]\nname = \"x\"\n[sandbox.secrets]\nK = \"${HOME}\"\n").unwrap();
        assert!(
            crate::stack::Stack::parse(&text, "t")
                .unwrap_err()
                .to_string()
                .contains("${HOME}")
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(translate("not toml [").is_err());
        assert!(translate("[sandbox]\n").unwrap_err().contains("project"));
        // A translated value kinfra refuses is refused by kinfra's parser.
        let (text, _) =
            translate("[project]\nname = \"x\"\n[sandbox.env]\nPATH = \"/evil\"\n").unwrap();
        assert!(crate::stack::Stack::parse(&text, "t").is_err());
    }

    #[test]
    fn a_value_or_port_that_would_change_the_env_file_names_its_line() {
        let e = translate("[project]\nname = \"x\"\n[sandbox.env]\nA = \"1\\nSLOT_NUMBER=9\"\n")
            .unwrap_err();
        assert!(e.contains("line 4") && e.contains("newline"), "{e}");
        let e = translate("[project]\nname = \"x\"\n[sandbox.ports]\nP = 0\n").unwrap_err();
        assert!(e.contains("line 4") && e.contains("port 0"), "{e}");
    }
}
