//! The files a compose file makes compose read besides itself: `env_file:`,
//! `secrets:`/`configs:` `file:`, `include:` and `extends: file:`. git carries none
//! of them into a new worktree when they are ignored, and compose fails on the
//! missing one with a message about something else.

use serde_json::Value;

/// One file a compose file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// As written.
    pub path: String,
    /// A compose file itself (`include`, `extends: file:`): it names more files,
    /// relative to its own directory.
    pub compose: bool,
}

/// Pure: the paths a compose file's text names, as written, in order, each once.
/// Paths built from variables (`${X}`) are left out: their value is the
/// instance's. A text that is no YAML names nothing.
pub fn referenced(text: &str) -> Vec<Ref> {
    let Ok(doc) = yaml_serde::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut out: Vec<Ref> = Vec::new();
    let mut add = |v: Option<&Value>, compose: bool| {
        for s in strings(v) {
            if !s.contains('$') && !out.iter().any(|r| r.path == s) {
                out.push(Ref { path: s, compose });
            }
        }
    };
    if let Some(list) = doc.get("include").and_then(Value::as_array) {
        for i in list {
            if i.is_string() {
                add(Some(i), true);
            } else {
                add(i.get("path"), true);
                add(i.get("env_file"), false);
            }
        }
    }
    if let Some(services) = doc.get("services").and_then(Value::as_object) {
        for svc in services.values() {
            match svc.get("env_file") {
                Some(Value::Array(list)) => {
                    for e in list {
                        add(
                            if e.is_object() {
                                e.get("path")
                            } else {
                                Some(e)
                            },
                            false,
                        );
                    }
                }
                other => add(other, false),
            }
            add(svc.pointer("/extends/file"), true);
        }
    }
    for top in ["secrets", "configs"] {
        if let Some(m) = doc.get(top).and_then(Value::as_object) {
            for v in m.values() {
                add(v.get("file"), false);
            }
        }
    }
    out
}

/// A string or a list of strings, as compose accepts for a path.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// Pure: `name` (as a compose file in `dir` wrote it) as a path from the
/// repository's top: `dir` joined, `.` and `..` resolved by their text. `Err` says
/// why when it is absolute or climbs out of the repository.
pub fn from_top(dir: &str, name: &str) -> Result<String, String> {
    if name.starts_with('/') || name.starts_with('~') {
        return Err(format!(
            "{name:?} is outside the repository (an absolute path)"
        ));
    }
    let mut parts: Vec<&str> = dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("{name:?} climbs out of the repository"));
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(format!("{name:?} names no file"));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_reference_is_found_once() {
        let text = r#"
include:
  - infra/db.yaml
  - path: [extra/a.yaml, extra/b.yaml]
    env_file: extra/.env
services:
  api:
    image: x
    env_file: .env.api
    extends:
      file: base.yml
      service: base
  worker:
    image: x
    env_file:
      - ./.env.api
      - path: ./.env.local
        required: false
      - ${CONFIG_DIR}/app.env
secrets:
  db_password:
    file: ./secrets/db.txt
  from_env:
    environment: DB
configs:
  nginx:
    file: nginx.conf
"#;
        let found = referenced(text);
        let compose: Vec<&str> = found
            .iter()
            .filter(|r| r.compose)
            .map(|r| r.path.as_str())
            .collect();
        assert_eq!(
            compose,
            ["infra/db.yaml", "extra/a.yaml", "extra/b.yaml", "base.yml"]
        );
        assert_eq!(
            found.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
            vec![
                "infra/db.yaml",
                "extra/a.yaml",
                "extra/b.yaml",
                "extra/.env",
                ".env.api",
                "base.yml",
                "./.env.api",
                "./.env.local",
                "./secrets/db.txt",
                "nginx.conf",
            ]
        );
    }

    #[test]
    fn no_yaml_names_nothing() {
        assert!(referenced("services: [unclosed").is_empty());
        assert!(referenced("").is_empty());
        assert!(referenced("services:\n  a:\n    env_file: 3\n").is_empty());
    }

    #[test]
    fn paths_are_taken_from_the_files_own_directory_and_kept_inside() {
        assert_eq!(from_top("", "./.env").unwrap(), ".env");
        assert_eq!(from_top("infra", "../secrets/x").unwrap(), "secrets/x");
        assert_eq!(from_top("a/b", "./c/../d.env").unwrap(), "a/b/d.env");
        for bad in [
            "../../etc/passwd",
            "/etc/passwd",
            "~/.ssh/id_rsa",
            "..",
            ".",
        ] {
            assert!(from_top("", bad).is_err(), "{bad}");
        }
        assert!(from_top("infra", "../../x").is_err());
    }
}
