//! Resolving many references at once: 1Password is asked once per item (`op item
//! get ITEM --vault VAULT --format json`, the fields picked from its answer), OpenBao
//! once per secret path, and every failure is collected, so one message names every
//! reference it blocks. Values are concealed as they arrive: no output prints them.

use super::{Field, Item};
use std::collections::BTreeMap;
use std::path::Path;

use super::reference::{OpRef, SecretSource, op_parts};
use super::{SecretRef, SecretsError};
use crate::support::exec::Cmd;

/// What the references are read against.
pub struct Lookup<'a> {
    /// The main clone: its `.env` backs `env://`, `dotenv://` paths are relative to it.
    pub main_clone: &'a Path,
    /// The table's literal entries: `env://NAME` reads them over the environment.
    /// Never where a secret store is or which token it gets: a repository writing
    /// `BAO_ADDR = "http://its-host"` would receive the user's `BAO_TOKEN`.
    pub literals: &'a [(String, String)],
}

impl Lookup<'_> {
    /// A variable of the environment, the literal entries over it.
    fn env(&self, name: &str) -> Option<String> {
        self.literals
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| crate::support::env_vars::get(name))
    }
}

/// One thing that could not be had, and the references it blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// `VAR (reference)` of each blocked reference.
    pub blocked: Vec<String>,
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.blocked.join(", "), self.reason)
    }
}

fn named(r: &SecretRef) -> String {
    format!("{} ({})", r.var, r.source.reference())
}

/// Resolves every reference (literals are themselves). All or nothing: any failure
/// returns every failure, and no value.
pub fn resolve_all(
    refs: &[&SecretRef],
    lookup: &Lookup,
) -> Result<Vec<(String, String)>, SecretsError> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut failures: Vec<Failure> = Vec::new();
    let mut op_items: BTreeMap<(String, String), Vec<(&SecretRef, OpRef)>> = BTreeMap::new();
    let mut bao_paths: BTreeMap<(String, String), Vec<(&SecretRef, String)>> = BTreeMap::new();
    for r in refs {
        match &r.source {
            SecretSource::Literal(v) => {
                values.insert(r.var.clone(), v.clone());
            }
            SecretSource::OnePassword(text) => match op_parts(text) {
                Ok(p) => op_items
                    .entry((p.vault.clone(), p.item.clone()))
                    .or_default()
                    .push((r, p)),
                Err(e) => failures.push(Failure {
                    blocked: vec![named(r)],
                    reason: e,
                }),
            },
            SecretSource::Bao { mount, path, key } => bao_paths
                .entry((mount.clone(), path.clone()))
                .or_default()
                .push((r, key.clone())),
            SecretSource::Host(name) => match host_value(lookup, name) {
                Ok(v) => {
                    values.insert(r.var.clone(), v);
                }
                Err(reason) => failures.push(Failure {
                    blocked: vec![named(r)],
                    reason,
                }),
            },
            SecretSource::Dotenv { path, key } => {
                match dotenv_value(lookup.main_clone, path, key) {
                    Ok(v) => {
                        values.insert(r.var.clone(), v);
                    }
                    Err(reason) => failures.push(Failure {
                        blocked: vec![named(r)],
                        reason,
                    }),
                }
            }
        }
    }
    ask_op(&op_items, &mut values, &mut failures);
    ask_bao(&bao_paths, &mut values, &mut failures);
    let mut out = Vec::new();
    for r in refs {
        let Some(v) = values.remove(&r.var) else {
            continue;
        };
        // A process environment cannot carry a NUL: refused, named, never cut.
        if v.contains('\0') {
            failures.push(Failure {
                blocked: vec![named(r)],
                reason: "the value holds a NUL byte, which no process environment can carry".into(),
            });
            continue;
        }
        if !matches!(r.source, SecretSource::Literal(_)) {
            crate::support::stdio::conceal(&v);
        }
        out.push((r.var.clone(), v));
    }
    if failures.is_empty() {
        Ok(out)
    } else {
        Err(SecretsError::Unresolved {
            failures: failures.iter().map(ToString::to_string).collect(),
        })
    }
}

type Values = BTreeMap<String, String>;

/// 1Password, once per item: every field wanted from it picked from one answer.
fn ask_op(
    op_items: &BTreeMap<(String, String), Vec<(&SecretRef, OpRef)>>,
    values: &mut Values,
    failures: &mut Vec<Failure>,
) {
    for ((vault, item), wanted) in op_items {
        match op_item(vault, item) {
            Ok(json) => {
                for (r, p) in wanted {
                    match pick_field(&json, p) {
                        Ok(v) => {
                            values.insert(r.var.clone(), v);
                        }
                        Err(reason) => failures.push(Failure {
                            blocked: vec![named(r)],
                            reason,
                        }),
                    }
                }
            }
            Err(reason) => failures.push(Failure {
                blocked: wanted.iter().map(|(r, _)| named(r)).collect(),
                reason,
            }),
        }
    }
}

/// OpenBao, once per secret path: every key wanted from it.
fn ask_bao(
    bao_paths: &BTreeMap<(String, String), Vec<(&SecretRef, String)>>,
    values: &mut Values,
    failures: &mut Vec<Failure>,
) {
    for ((mount, path), wanted) in bao_paths {
        // kinfra's own environment only: the store's address and token are the
        // user's, never the repository's literal entries.
        match super::bao::read(&crate::support::env_vars::get, mount, path) {
            Ok(data) => {
                for (r, key) in wanted {
                    match data.get(key) {
                        Some(v) => {
                            values.insert(r.var.clone(), v.clone());
                        }
                        None => failures.push(Failure {
                            blocked: vec![named(r)],
                            reason: format!("secret {mount}/{path} has no key {key:?}"),
                        }),
                    }
                }
            }
            Err(reason) => failures.push(Failure {
                blocked: wanted.iter().map(|(r, _)| named(r)).collect(),
                reason,
            }),
        }
    }
}

/// `env://NAME`: the environment (with the literal entries), else `NAME` in the
/// main clone's `.env`.
fn host_value(lookup: &Lookup, name: &str) -> Result<String, String> {
    if let Some(v) = lookup.env(name) {
        return Ok(v);
    }
    match read_inside(lookup.main_clone, ".env") {
        Ok(Some(text)) => super::dotenv::value(&text, name)
            .ok_or_else(|| format!("{name} is not set, nor in the main clone's .env")),
        Ok(None) => Err(format!(
            "{name} is not set (and the main clone has no .env)"
        )),
        Err(e) => Err(format!("{name} is not set, and {e}")),
    }
}

/// A file inside the main clone (after links), `None` when absent.
fn read_inside(main_clone: &Path, rel: &str) -> Result<Option<String>, String> {
    let path = crate::support::fsutil::resolve_inside(main_clone, Path::new(rel))
        .map_err(|why| format!("{rel} is refused: {why}"))?;
    // A dotenv file is small: a huge one (or a device) is refused, not read whole.
    const MAX_DOTENV: u64 = 16 << 20;
    use crate::support::fsutil::{BoundedReadError, read_bounded};
    // Links followed (inside the clone, as checked above): the file itself is read,
    // and a link to nothing is a file that does not exist.
    let path = match std::fs::canonicalize(&path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{rel} could not be read: {e}")),
    };
    match read_bounded(&path, MAX_DOTENV) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("{rel} is not UTF-8 text")),
        Err(BoundedReadError::NotFound) => Ok(None),
        Err(BoundedReadError::NotRegular) => Err(format!("{rel} is not a regular file")),
        Err(BoundedReadError::TooLarge { .. }) => {
            Err(format!("{rel} is larger than 16 MiB: not a dotenv file"))
        }
        Err(BoundedReadError::Io(e)) => Err(format!("{rel} could not be read: {e}")),
    }
}

fn dotenv_value(main_clone: &Path, path: &str, key: &str) -> Result<String, String> {
    let text = read_inside(main_clone, path)?
        .ok_or_else(|| format!("{path} does not exist in the main clone"))?;
    super::dotenv::value(&text, key).ok_or_else(|| format!("{path} has no {key}"))
}

/// `op item get ITEM --vault VAULT --format json`: one call for every field of the
/// item, in kinfra's own environment (the repository's literal entries never
/// steer which account or server `op` uses).
fn op_item(vault: &str, item: &str) -> Result<String, String> {
    Cmd::new("op")
        .args(["item", "get", item, "--vault", vault, "--format", "json"])
        .timeout(super::op_timeout())
        .run()
        .map_err(|e| super::map_exec(e, item).to_string())
}

/// Pure: the field a reference names in an `op item get --format json` answer: by
/// label (else id), inside the named section when the reference has one.
pub fn pick_field(json: &str, r: &OpRef) -> Result<String, String> {
    let item: Item = serde_json::from_str(json).map_err(|e| {
        format!(
            "1Password returned something that is not an item ({})",
            crate::support::error::json_where(&e)
        )
    })?;
    let in_section = |f: &Field| match &r.section {
        None => true,
        Some(s) => f
            .section
            .as_ref()
            .is_some_and(|x| x.label.as_deref() == Some(s.as_str()) || x.id == *s),
    };
    let found = item
        .fields
        .iter()
        .filter(|f| in_section(f))
        .find(|f| f.label == r.field)
        .or_else(|| {
            item.fields
                .iter()
                .filter(|f| in_section(f))
                .find(|f| f.id == r.field)
        });
    match found {
        Some(f) => f
            .value
            .clone()
            .ok_or_else(|| format!("field {:?} of item {:?} has no value", r.field, r.item)),
        None => Err(format!(
            "item {:?} in vault {:?} has no field {:?}{}",
            r.item,
            r.vault,
            r.field,
            r.section
                .as_ref()
                .map(|s| format!(" in section {s:?}"))
                .unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shape of `op item get ITEM --vault V --format json` (1Password CLI 2.x).
    const ITEM: &str = r#"{"id":"abc","title":"shop","version":3,"vault":{"id":"v","name":"dev"},"category":"LOGIN",
      "sections":[{"id":"s1","label":"prod"}],
      "fields":[
        {"id":"username","type":"STRING","purpose":"USERNAME","label":"username","value":"shop"},
        {"id":"f1","type":"CONCEALED","label":"api-key","value":"k$1\"\\"},
        {"id":"f2","type":"CONCEALED","section":{"id":"s1","label":"prod"},"label":"api-key","value":"prod-key"},
        {"id":"f3","type":"CONCEALED","label":"pem","value":"-----BEGIN-----\nAAA\n-----END-----"},
        {"id":"notesPlain","type":"STRING","purpose":"NOTES","label":"notesPlain"}]}"#;

    fn r(s: &str) -> OpRef {
        op_parts(s).unwrap()
    }

    #[test]
    fn fields_are_picked_by_label_section_and_id() {
        assert_eq!(
            pick_field(ITEM, &r("op://dev/shop/api-key")).unwrap(),
            "k$1\"\\"
        );
        assert_eq!(
            pick_field(ITEM, &r("op://dev/shop/prod/api-key")).unwrap(),
            "prod-key"
        );
        assert_eq!(
            pick_field(ITEM, &r("op://dev/shop/f3")).unwrap(),
            "-----BEGIN-----\nAAA\n-----END-----"
        );
        let e = pick_field(ITEM, &r("op://dev/shop/nope")).unwrap_err();
        assert!(e.contains("nope") && e.contains("shop"), "{e}");
        assert!(
            pick_field(ITEM, &r("op://dev/shop/notesPlain"))
                .unwrap_err()
                .contains("no value")
        );
        assert!(pick_field("[]", &r("op://dev/shop/x")).is_err());
        // An error never quotes the answer: it may be a secret.
        let odd =
            r#"{"fields":[{"label":"x","value":"v","section":"s3cretS"},{"label":"y","value":7}]}"#;
        let e = pick_field(odd, &r("op://dev/shop/x")).unwrap_err();
        assert!(e.contains("line 1") && !e.contains("s3cret"), "{e}");
    }

    #[test]
    fn every_failure_is_named_and_nothing_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "FROM_DOT=dot-val\n").unwrap();
        std::fs::write(dir.path().join("s.env"), "K=\"multi\nline\"\n").unwrap();
        let refs = [
            SecretRef {
                var: "A".into(),
                source: SecretSource::Host("KINFRA_TEST_SURELY_UNSET_1".into()),
            },
            SecretRef {
                var: "B".into(),
                source: SecretSource::Dotenv {
                    path: "missing.env".into(),
                    key: "K".into(),
                },
            },
            SecretRef {
                var: "C".into(),
                source: SecretSource::Host("FROM_DOT".into()),
            },
            SecretRef {
                var: "D".into(),
                source: SecretSource::Dotenv {
                    path: "s.env".into(),
                    key: "K".into(),
                },
            },
            SecretRef {
                var: "E".into(),
                source: SecretSource::Literal("$2b$12$x".into()),
            },
            SecretRef {
                var: "F".into(),
                source: SecretSource::Host("LIT".into()),
            },
        ];
        let literals = [("LIT".to_string(), "from-literal".to_string())];
        let lookup = Lookup {
            main_clone: dir.path(),
            literals: &literals,
        };
        let all: Vec<&SecretRef> = refs.iter().collect();
        let e = resolve_all(&all, &lookup).unwrap_err().to_string();
        assert!(e.contains("A (env://KINFRA_TEST_SURELY_UNSET_1)"), "{e}");
        assert!(e.contains("B (dotenv://missing.env#K)"), "{e}");
        let ok: Vec<&SecretRef> = refs[2..].iter().collect();
        let v = resolve_all(&ok, &lookup).unwrap();
        assert_eq!(
            v,
            [
                ("C".to_string(), "dot-val".to_string()),
                ("D".to_string(), "multi\nline".to_string()),
                ("E".to_string(), "$2b$12$x".to_string()),
                ("F".to_string(), "from-literal".to_string()),
            ]
        );
    }

    #[test]
    fn a_dotenv_file_outside_the_main_clone_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.env"), "K=stolen\n").unwrap();
        let clone = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("x.env"), clone.path().join("link.env"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), clone.path().join("dir")).unwrap();
        let lookup = Lookup {
            main_clone: clone.path(),
            literals: &[],
        };
        for path in ["link.env", "dir/x.env"] {
            let r = SecretRef {
                var: "K".into(),
                source: SecretSource::Dotenv {
                    path: path.into(),
                    key: "K".into(),
                },
            };
            let e = resolve_all(&[&r], &lookup).unwrap_err().to_string();
            assert!(e.contains("outside") && !e.contains("stolen"), "{e}");
        }
    }

    #[test]
    fn a_literal_never_chooses_where_the_store_token_goes() {
        // A hostile repository's `[sandbox.secrets] BAO_ADDR = "http://its-host"`
        // beside a `bao://` reference: the user's token must not go there.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = format!("http://{}", l.local_addr().unwrap());
        let clone = tempfile::tempdir().unwrap();
        let literals = [
            ("BAO_ADDR".to_string(), addr.clone()),
            ("VAULT_ADDR".to_string(), addr),
            ("BAO_TOKEN".to_string(), "repo-token".to_string()),
        ];
        let lookup = Lookup {
            main_clone: clone.path(),
            literals: &literals,
        };
        let r = SecretRef {
            var: "K".into(),
            source: SecretSource::Bao {
                mount: "secret".into(),
                path: "a".into(),
                key: "k".into(),
            },
        };
        let _ = resolve_all(&[&r], &lookup);
        assert!(
            l.accept().is_err(),
            "the repository's BAO_ADDR was contacted"
        );
    }

    #[test]
    fn a_huge_or_special_dotenv_file_is_refused_unread() {
        let clone = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(clone.path().join("big.env")).unwrap();
        f.set_len(17 << 20).unwrap();
        std::fs::create_dir(clone.path().join("dir.env")).unwrap();
        let lookup = Lookup {
            main_clone: clone.path(),
            literals: &[],
        };
        for (path, says) in [("big.env", "16 MiB"), ("dir.env", "regular file")] {
            let r = SecretRef {
                var: "K".into(),
                source: SecretSource::Dotenv {
                    path: path.into(),
                    key: "K".into(),
                },
            };
            let e = resolve_all(&[&r], &lookup).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(path), "{e}");
        }
    }

    #[test]
    fn a_nul_byte_is_refused_naming_the_key() {
        let clone = tempfile::tempdir().unwrap();
        std::fs::write(clone.path().join("n.env"), "K=\"a\\\0b\"\nJ='x\0y'\n").unwrap();
        let lookup = Lookup {
            main_clone: clone.path(),
            literals: &[],
        };
        let r = SecretRef {
            var: "NUL_KEY".into(),
            source: SecretSource::Dotenv {
                path: "n.env".into(),
                key: "J".into(),
            },
        };
        let e = resolve_all(&[&r], &lookup).unwrap_err().to_string();
        assert!(e.contains("NUL_KEY") && e.contains("NUL byte"), "{e}");
    }
}
