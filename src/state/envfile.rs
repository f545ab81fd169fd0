//! `.env.sandbox`: plain `KEY=VALUE` lines, sorted by key, no quoting, no secrets.
//! Readers skip blank lines and `#` comments and split on the first `=`.

use std::collections::BTreeMap;

pub use crate::support::error::{EnvFileError, LoadError};

pub const FILE_NAME: &str = ".env.sandbox";

/// The keys kinfra writes into every `.env.sandbox`, whatever the stack.
pub const OWN_KEYS: [&str; 5] = [
    "SLOT_NUMBER",
    "INSTANCE_ID",
    "COMPOSE_PROJECT_NAME",
    "CREATED_AT",
    "SANDBOX_VERSION",
];

/// The key naming one shared directory: `<PREFIX>_<SUB>_DIR`.
pub fn shared_dir_key(prefix: &str, sub: &str) -> String {
    format!(
        "{prefix}_{}_DIR",
        sub.to_uppercase().replace(['-', '.'], "_")
    )
}

/// Parses the text of an env file. Tolerates a UTF-8 BOM and CRLF line ends;
/// refuses duplicate keys (which one wins would be a guess).
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, EnvFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut map = BTreeMap::new();
    let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(EnvFileError::NoEquals {
                line: line_no,
                text: line.chars().take(80).collect(),
            });
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(EnvFileError::BadKey {
                line: line_no,
                key: k.chars().take(80).collect(),
            });
        }
        if let Some(first) = first_line.get(k) {
            return Err(EnvFileError::Duplicate {
                line: line_no,
                first: *first,
                key: k.to_string(),
            });
        }
        first_line.insert(k.to_string(), line_no);
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

/// Renders sorted `KEY=VALUE` lines.
pub fn render(map: &BTreeMap<String, String>) -> String {
    let mut s = String::new();
    for (k, v) in map {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_skips_comments_and_splits_on_first_equals() {
        let m = parse("# c\n\nA=1\nB=x=y\r\n  C = 3 \n").unwrap();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "x=y");
        assert_eq!(m["C"], " 3");
    }

    #[test]
    fn parse_tolerates_bom_and_refuses_junk() {
        assert_eq!(parse("\u{feff}A=1\n").unwrap()["A"], "1");
        assert_eq!(
            parse("A=1\nA=2\n"),
            Err(EnvFileError::Duplicate {
                line: 2,
                first: 1,
                key: "A".into()
            })
        );
        assert!(matches!(
            parse("junk\n"),
            Err(EnvFileError::NoEquals { line: 1, .. })
        ));
        assert!(matches!(parse("A B=1\n"), Err(EnvFileError::BadKey { .. })));
    }
}
