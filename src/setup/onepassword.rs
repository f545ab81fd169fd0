//! The 1Password part of setup: explain the item, and create it when asked, with
//! random values for the fields that can be generated. Values travel to `op` through
//! its stdin (a JSON item template), never as arguments, and are never printed.

use std::io::Read;
use std::time::Duration;

use crate::stack::{Kind, Stack};
use crate::support::exec::Cmd;

/// The explanation shown by setup and `--check-only`.
pub fn explain(stack: &Stack) -> String {
    let mut s = format!(
        "local-prod reads its secrets from the 1Password item \"{}\" at every `up`.\n\
         They are passed only to the containers' environment: never written to disk.\n\
         Fields (type: password / concealed):\n",
        stack.local_prod_item
    );
    for f in stack.fields_for(Kind::LocalProd) {
        s.push_str(&format!(
            "  {:<18} -> {:<18} {}\n",
            f.field, f.var, f.purpose
        ));
    }
    s.push_str(&format!(
        "Without the item (or without `op`), the stack starts with insecure development defaults.\n\
         Create it later with: op item create --category password --title {} (then add the fields), \
         or rerun kinfra-setup with `op` signed in.",
        stack.local_prod_item
    ));
    s
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemState {
    Present,
    Missing,
    /// The repository's own description (read after the clone) names the item.
    AfterClone,
    /// op missing, not signed in, or not answering: the reason.
    Unavailable(String),
}

pub fn item_state(stack: &Stack) -> ItemState {
    match crate::tools::secrets::fetch(&stack.fields_for(Kind::LocalProd), &stack.local_prod_item) {
        Ok(_) => ItemState::Present,
        // Only a definite "no such item" offers to create one: a sign-in or connection
        // problem must never lead to a duplicate item.
        Err(crate::tools::secrets::SecretsError::ItemMissing { .. }) => ItemState::Missing,
        Err(e) => ItemState::Unavailable(e.to_string()),
    }
}

/// A random secret: 32 URL-safe characters from the OS's random source.
fn random_secret() -> std::io::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect())
}

/// Creates the item with generated values; the API key field is left empty for the
/// user. Returns the names of the fields that were generated.
pub fn create_item(stack: &Stack) -> Result<Vec<&str>, String> {
    let mut fields = Vec::new();
    let mut generated = Vec::new();
    for f in stack.fields_for(Kind::LocalProd) {
        let value = if f.generated {
            generated.push(f.field.as_str());
            random_secret().map_err(|e| format!("no random source: {e}"))?
        } else {
            String::new()
        };
        fields.push(serde_json::json!({
            "id": f.field, "type": "CONCEALED", "label": f.field, "value": value
        }));
    }
    let template = serde_json::json!({
        "title": stack.local_prod_item,
        "category": "PASSWORD",
        "fields": fields,
    });
    // `op item create` reads an item JSON template piped to its stdin.
    Cmd::new("op")
        .args([
            "item",
            "create",
            "--category",
            "password",
            "--title",
            &stack.local_prod_item,
            "--format",
            "json",
        ])
        .stdin_bytes(template.to_string())
        .timeout(Duration::from_secs(60))
        .run()
        .map_err(|e| e.to_string())?;
    Ok(generated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_long() {
        let a = random_secret().unwrap();
        let b = random_secret().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn explanation_names_every_field() {
        let text = explain(&crate::stack::KTRDR);
        for f in [
            "db_password",
            "jwt_secret",
            "anthropic_api_key",
            "grafana_password",
            "ktrdr-local-prod",
        ] {
            assert!(text.contains(f), "{f}");
        }
    }
}
