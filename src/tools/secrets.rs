//! Secrets: the stack's 1Password item (its field table), fetched at `up` time and
//! handed only to the compose process's environment; and secrets given by reference
//! (`[sandbox.secrets]`: [`reference`]'s grammar), resolved together ([`batch`]).
//! Never printed.

mod bao;
pub mod batch;
mod dotenv;
pub mod reference;

pub use reference::{OpRef, SecretSource};

use std::time::Duration;

use serde::Deserialize;

use crate::state::kind::Kind;
use crate::support::exec::{Cmd, ExecError};
pub use crate::tools::error::SecretsError;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretField {
    /// The field's label in the 1Password item.
    pub field: String,
    /// The environment variable compose gets it as: a plain name that steers no
    /// process (`DOCKER_HOST`, `PATH`, `LD_PRELOAD`, … are refused).
    #[serde(deserialize_with = "crate::support::validate::de_secret_var")]
    pub var: String,
    /// What it is for, shown by the installer.
    #[serde(default)]
    pub purpose: String,
    /// Whether setup may generate a random value for it.
    #[serde(default)]
    pub generated: bool,
    /// The kinds of instance that get it (`"sandbox"`, `"local_prod"`); both when
    /// empty. KTRDR's local-prod item has no FRED key.
    #[serde(default)]
    pub kinds: Vec<String>,
}

impl SecretField {
    pub fn for_kind(&self, kind: Kind) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind.key())
    }
}

/// A secret given by reference: the variable compose gets, and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRef {
    pub var: String,
    pub source: SecretSource,
}

/// How long `op` may take (`KINFRA_OP_TIMEOUT_SECS`, default 30): a hanging
/// 1Password CLI must not hang `up`.
fn op_timeout() -> Duration {
    Duration::from_secs(
        crate::support::env_vars::number(
            crate::support::env_vars::EnvVars::KINFRA_OP_TIMEOUT_SECS,
            1,
        )
        .ok()
        .flatten()
        .unwrap_or(30),
    )
}

/// An `op item get --format json` answer, as 1Password documents it: the parts
/// kinfra reads (the built-in field table here, references in `batch`).
#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    fields: Vec<Field>,
}

#[derive(Deserialize)]
struct Field {
    #[serde(default)]
    id: String,
    #[serde(default)]
    label: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    section: Option<Section>,
}

#[derive(Deserialize)]
struct Section {
    #[serde(default)]
    id: String,
    #[serde(default)]
    label: Option<String>,
}

/// Pure: the CONCEALED fields of an `op item get --format json` answer, mapped to
/// environment variables through the stack's field table.
pub fn parse_item(
    fields: &[&SecretField],
    json: &str,
) -> Result<Vec<(String, String)>, serde_json::Error> {
    let item: Item = serde_json::from_str(json)?;
    Ok(fields
        .iter()
        .filter_map(|sf| {
            item.fields
                .iter()
                .find(|f| f.label == sf.field && f.kind == "CONCEALED")
                .and_then(|f| f.value.clone())
                .filter(|v| !v.is_empty())
                .map(|v| {
                    // From here on no output path prints it.
                    crate::support::stdio::conceal(&v);
                    (sf.var.clone(), v)
                })
        })
        .collect())
}

fn map_exec(e: ExecError, item: &str) -> SecretsError {
    match e {
        ExecError::NotFound { .. } => SecretsError::NotInstalled,
        ExecError::TimedOut { secs, .. } => SecretsError::TimedOut { secs },
        other => classify(other.stderr(), item),
    }
}

/// Pure: what a failed `op item get` said. Only "no such item" means missing (setup
/// then offers to create it); sign-in problems and everything else are not.
pub fn classify(stderr: &str, item: &str) -> SecretsError {
    let last = stderr
        .trim()
        .lines()
        .last()
        .unwrap_or("no detail")
        .to_string();
    let lower = stderr.to_lowercase();
    if lower.contains("isn't an item") || lower.contains("no item found") {
        SecretsError::ItemMissing { item: item.into() }
    } else if lower.contains("not signed in")
        || lower.contains("not currently signed in")
        || lower.contains("session expired")
        || lower.contains("authorization prompt dismissed")
        || lower.contains("no accounts configured")
    {
        SecretsError::NotSignedIn
    } else {
        SecretsError::ItemUnavailable {
            item: item.into(),
            reason: last,
        }
    }
}

/// Is `op` signed in (or a service account configured)? For the audit only: with
/// the desktop-app integration it can say no while items can be read.
pub fn signed_in() -> Result<(), SecretsError> {
    if crate::support::env_vars::get(crate::support::env_vars::EnvVars::OP_SERVICE_ACCOUNT_TOKEN)
        .is_some()
    {
        return Ok(());
    }
    let out = Cmd::new("op")
        .args(["whoami", "--format", "json"])
        .timeout(op_timeout())
        .output()
        .map_err(|e| map_exec(e, ""))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(SecretsError::NotSignedIn)
    }
}

/// Fetches the item and returns `(VAR, value)` pairs. Values are never logged.
/// Asks for the item directly: with 1Password's desktop-app integration (Touch ID)
/// `op whoami` can say "not signed in" while `op item get` works.
pub fn fetch(fields: &[&SecretField], item: &str) -> Result<Vec<(String, String)>, SecretsError> {
    let json = Cmd::new("op")
        .args(["item", "get", item, "--format", "json"])
        .timeout(op_timeout())
        .run()
        .map_err(|e| map_exec(e, item))?;
    parse_item(fields, &json).map_err(|e| SecretsError::Garbage {
        item: item.into(),
        reason: crate::support::error::json_where(&e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::KTRDR;

    // Shape of `op item get <item> --format json` (1Password CLI 2.x).
    const ITEM: &str = r#"{"id":"abc","title":"ktrdr-local-prod","version":2,"vault":{"id":"v","name":"Private"},"category":"LOGIN","fields":[
      {"id":"username","type":"STRING","purpose":"USERNAME","label":"username","value":"ktrdr"},
      {"id":"f1","type":"CONCEALED","label":"db_password","value":"pw-1"},
      {"id":"f2","type":"CONCEALED","label":"jwt_secret","value":"jwt-2"},
      {"id":"f3","type":"STRING","label":"grafana_password","value":"not-concealed"},
      {"id":"f4","type":"CONCEALED","label":"anthropic_api_key","value":""},
      {"id":"notesPlain","type":"STRING","purpose":"NOTES","label":"notesPlain"}]}"#;

    #[test]
    fn takes_concealed_fields_only() {
        let v = parse_item(&KTRDR.fields_for(Kind::Sandbox), ITEM).unwrap();
        assert_eq!(
            v,
            vec![
                ("DB_PASSWORD".to_string(), "pw-1".to_string()),
                ("JWT_SECRET".to_string(), "jwt-2".to_string()),
            ]
        );
    }

    #[test]
    fn op_errors_are_told_apart() {
        // Captured from op 2.x.
        let missing = "[ERROR] 2026/01/01 00:00:00 \"ktrdr-local-prod\" isn't an item. Specify the item with its UUID, name, or domain.\n";
        assert!(matches!(
            classify(missing, "i"),
            SecretsError::ItemMissing { .. }
        ));
        for not_in in [
            "[ERROR] 2026/01/01 00:00:00 You are not currently signed in. Please run `op signin --help` for instructions\n",
            "[ERROR] 2026/01/01 00:00:00 account is not signed in\n",
            "[ERROR] 2026/01/01 00:00:00 authorization prompt dismissed, please try again\n",
        ] {
            assert!(
                matches!(classify(not_in, "i"), SecretsError::NotSignedIn),
                "{not_in}"
            );
        }
        let other = "[ERROR] 2026/01/01 00:00:00 could not connect to the 1Password desktop app\n";
        match classify(other, "i") {
            SecretsError::ItemUnavailable { reason, .. } => assert!(reason.contains("desktop app")),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_item(&KTRDR.fields_for(Kind::Sandbox), "not json").is_err());
        assert!(parse_item(&KTRDR.fields_for(Kind::Sandbox), "[1,2]").is_err());
        assert!(
            parse_item(&KTRDR.fields_for(Kind::Sandbox), "{}")
                .unwrap()
                .is_empty()
        );
    }
}
