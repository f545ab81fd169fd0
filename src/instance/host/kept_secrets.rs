//! The values of an instance's secrets given by reference, kept between starts:
//! asking 1Password again on every `up` would park an unattended agent on an
//! approval prompt. Kept in one JSON file per instance under kinfra's home (mode
//! 0600 in a directory of mode 0700), never in the worktree and never in a file
//! compose reads by path: the values reach compose only through its process
//! environment. A value is reused while its reference is the same; a changed or
//! added reference resolves again, `up --refresh-secrets` resolves all again, and an
//! unresolvable one fails before anything starts, the file left as it was.
//! `destroy` and `release` remove the file ([`remove`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::instance::Instance;
use crate::instance::error::{Error, Result};
use crate::stack::{SecretRef, SecretSource, Stack};
use crate::state::context::Context;
use crate::tools::secrets::batch;

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeptFile {
    /// The instance the values are for: a file copied from another is not used.
    #[serde(default)]
    instance: String,
    #[serde(default)]
    entries: BTreeMap<String, Kept>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Kept {
    /// The reference it was resolved from (its canonical spelling).
    reference: String,
    /// When it was resolved (RFC 3339).
    since: String,
    value: String,
}

/// What a start hands compose, and what it took to get it.
#[derive(Debug, Default)]
pub struct Obtained {
    /// `(VAR, value)`, literals included, in the description's order.
    pub env: Vec<(String, String)>,
    /// References resolved now (not reused).
    pub resolved: usize,
    /// References whose kept value was reused.
    pub reused: usize,
}

/// How to obtain them.
#[derive(Debug, Clone, Copy)]
pub struct How {
    /// Secret stores (`op://`, `bao://`) too; `--no-secrets` leaves them out.
    pub stores: bool,
    /// Resolve again even where a kept value matches (`--refresh-secrets`).
    pub refresh: bool,
}

/// The kept file as read: its entries, or why it cannot be trusted.
struct Loaded {
    file: KeptFile,
    /// Why the file there is not used (corrupt, a link, readable by others, …): it
    /// is kept aside, never silently overwritten, and reported.
    problem: Option<String>,
}

fn load(path: &Path, instance_id: &str) -> Loaded {
    let bad = |why: String| Loaded {
        file: KeptFile::default(),
        problem: Some(format!("{} {why}", path.display())),
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Loaded {
                file: KeptFile::default(),
                problem: None,
            };
        }
        Err(e) => return bad(format!("cannot be examined: {e}")),
    };
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !meta.file_type().is_file() {
        return bad("is not a regular file (a link, a directory, …)".into());
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return bad(format!(
            "has mode {mode:04o}: others could read or change the values"
        ));
    }
    // The owner must be whoever owns the directory kinfra keeps it in.
    if let Some(home_owner) = path
        .parent()
        .and_then(|d| std::fs::metadata(d).ok())
        .map(|m| m.uid())
        && meta.uid() != home_owner
    {
        return bad("is owned by another user".into());
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return bad(format!("cannot be read: {e}")),
    };
    let file: KeptFile = match serde_json::from_slice(&bytes) {
        Ok(f) => f,
        // Where, never serde's message: it can quote a value from the file.
        Err(e) => {
            return bad(format!(
                "is not a kept-values file (at line {}, column {})",
                e.line(),
                e.column()
            ));
        }
    };
    if !file.instance.is_empty() && file.instance != instance_id {
        return bad(format!(
            "holds the values of another instance ({:?})",
            file.instance
        ));
    }
    if file.entries.values().any(|k| k.value.contains('\0')) {
        return bad("holds a value with a NUL byte, which no process environment can carry".into());
    }
    Loaded {
        file,
        problem: None,
    }
}

/// Moves an untrusted kept file aside (`<file>.bad-<seconds>[-N]`, never over an
/// earlier one) so a new one can be written without losing it; a regular file
/// set aside is made private (mode 0600): it may hold values.
fn set_aside(path: &Path) -> Result<std::path::PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let aside = (0u32..)
        .map(|n| {
            let mut a = path.as_os_str().to_owned();
            a.push(if n == 0 {
                format!(".bad-{secs}")
            } else {
                format!(".bad-{secs}-{n}")
            });
            std::path::PathBuf::from(a)
        })
        .find(|a| std::fs::symlink_metadata(a).is_err())
        .unwrap_or_else(|| path.with_extension("bad"));
    std::fs::rename(path, &aside).map_err(|e| Error::io("could not set aside", path, e))?;
    if std::fs::symlink_metadata(&aside).is_ok_and(|m| m.file_type().is_file()) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(0o600));
    }
    Ok(aside)
}

fn save(path: &Path, file: &KeptFile) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("could not create", dir, e))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("could not restrict", dir, e))?;
    }
    let text = serde_json::to_vec_pretty(file).map_err(|source| Error::Unencodable { source })?;
    crate::support::fsutil::write_atomic(path, &text, Some(0o600))
        .map_err(|e| Error::io("could not write", path, e))
}

/// The instance's secrets given by reference: kept values where the reference is
/// unchanged, the rest resolved now (all together: 1Password once per item). On
/// any failure nothing is returned and the kept file is untouched.
pub fn obtain(
    ctx: &Context,
    id: &str,
    refs: &[SecretRef],
    main_clone: &Path,
    how: How,
) -> Result<Obtained> {
    if refs.is_empty() {
        // The description dropped them all: what was kept for them goes too (a
        // file kinfra cannot trust stays, for the user to look at).
        if load(&ctx.home.kept_secrets_file(id), id).problem.is_none() {
            remove(ctx, id);
        }
        return Ok(Obtained::default());
    }
    let path = ctx.home.kept_secrets_file(id);
    let Loaded {
        file: kept,
        problem,
    } = load_reported(ctx, &path, id);
    let literals: Vec<(String, String)> = refs
        .iter()
        .filter_map(|r| match &r.source {
            SecretSource::Literal(v) => Some((r.var.clone(), v.clone())),
            _ => None,
        })
        .collect();
    let wanted: Vec<&SecretRef> = refs
        .iter()
        .filter(|r| !matches!(r.source, SecretSource::Literal(_)))
        .filter(|r| how.stores || !r.source.is_store())
        .collect();
    let reusable = |r: &SecretRef| {
        kept.entries
            .get(&r.var)
            .filter(|k| !how.refresh && k.reference == r.source.reference())
    };
    let to_resolve: Vec<&SecretRef> = wanted
        .iter()
        .copied()
        .filter(|r| reusable(r).is_none())
        .collect();
    let fresh = if to_resolve.is_empty() {
        Vec::new()
    } else {
        ctx.reporter.step(&format!(
            "Resolving {} secret reference(s)",
            to_resolve.len()
        ));
        batch::resolve_all(
            &to_resolve,
            &batch::Lookup {
                main_clone,
                literals: &literals,
            },
        )
        .map_err(Error::SecretRefs)?
    };
    let now = crate::instance::now_iso();
    let mut next = KeptFile {
        instance: id.to_string(),
        ..Default::default()
    };
    let mut out = Obtained {
        resolved: fresh.len(),
        ..Default::default()
    };
    for r in refs {
        let value = match &r.source {
            SecretSource::Literal(v) => Some(v.clone()),
            _ => {
                if let Some((_, v)) = fresh.iter().find(|(k, _)| *k == r.var) {
                    next.entries.insert(
                        r.var.clone(),
                        Kept {
                            reference: r.source.reference(),
                            since: now.clone(),
                            value: v.clone(),
                        },
                    );
                    Some(v.clone())
                } else if let Some(k) = kept
                    .entries
                    .get(&r.var)
                    .filter(|k| k.reference == r.source.reference())
                {
                    // Reused, or (a store left out by --no-secrets) kept unused.
                    next.entries.insert(r.var.clone(), k.clone());
                    let used = wanted.iter().any(|w| w.var == r.var);
                    if used {
                        crate::support::stdio::conceal(&k.value);
                        out.reused += 1;
                    }
                    used.then(|| k.value.clone())
                } else {
                    None
                }
            }
        };
        if let Some(v) = value {
            out.env.push((r.var.clone(), v));
        }
    }
    write_back(ctx, &path, id, &next, &kept, problem.is_some())?;
    Ok(out)
}

/// [`load`], a problem said as a warning.
fn load_reported(ctx: &Context, path: &Path, instance_id: &str) -> Loaded {
    let l = load(path, instance_id);
    if let Some(p) = &l.problem {
        ctx.reporter.warn(&format!(
            "{p}: not used; every reference resolves again and the file is set aside"
        ));
    }
    l
}

/// Writes what is kept now when it changed; an untrusted file (`untrusted`) is
/// first set aside, only now that everything resolved.
fn write_back(
    ctx: &Context,
    path: &Path,
    instance_id: &str,
    next: &KeptFile,
    kept: &KeptFile,
    untrusted: bool,
) -> Result<()> {
    let changed = serde_json::to_value(next).ok() != serde_json::to_value(kept).ok();
    if untrusted {
        let aside = set_aside(path)?;
        ctx.reporter
            .warn(&format!("the old file is now {}", aside.display()));
    }
    if changed || untrusted {
        if next.entries.is_empty() {
            remove(ctx, instance_id);
        } else {
            save(path, next)?;
        }
    }
    Ok(())
}

/// Forgets an instance's kept values (it is gone).
pub fn remove(ctx: &Context, instance_id: &str) {
    // Absent already is fine.
    let _ = std::fs::remove_file(ctx.home.kept_secrets_file(instance_id));
}

/// One reference as `secrets status` shows it: never a value.
#[derive(Debug, Clone, Serialize)]
pub struct RefStatus {
    pub var: String,
    /// `op`, `bao`, `env`, `dotenv` or `literal`.
    pub kind: String,
    /// The reference (`literal` for a literal, whose text is not shown).
    pub reference: String,
    /// Whether a value is kept for it (a literal never is: it is its own value).
    pub cached: bool,
    /// When the kept value was resolved.
    pub since: Option<String>,
}

/// `kinfra secrets status`: each reference of the instance's kind.
#[derive(Debug, Clone, Serialize)]
pub struct SecretsStatus {
    pub instance: String,
    pub references: Vec<RefStatus>,
    /// Why the kept file is not used (corrupt, a link, readable by others, another
    /// instance's): the next `up` resolves again and sets it aside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What is kept for the instance, reference by reference.
pub fn status(ctx: &Context, stack: &Stack, inst: &Instance) -> SecretsStatus {
    let Loaded {
        file: kept,
        problem,
    } = load(&ctx.home.kept_secrets_file(inst.id()), inst.id());
    let references = stack
        .secret_refs_for(inst.kind)
        .iter()
        .map(|r| {
            let k = kept
                .entries
                .get(&r.var)
                .filter(|k| k.reference == r.source.reference());
            RefStatus {
                var: r.var.clone(),
                kind: r.source.kind().into(),
                reference: r.source.reference(),
                cached: k.is_some(),
                since: k.map(|k| k.since.clone()),
            }
        })
        .collect();
    SecretsStatus {
        instance: inst.id().to_string(),
        references,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const GOOD: &str = r#"{"instance":"shop--a","entries":{"K":{"reference":"env://X","since":"t","value":"v4lue"}}}"#;

    fn write(dir: &Path, text: &str, mode: u32) -> std::path::PathBuf {
        let p = dir.join("shop--a.json");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn an_untrusted_kept_file_is_reported_not_used() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), GOOD, 0o600);
        let l = load(&p, "shop--a");
        assert!(l.problem.is_none() && l.file.entries["K"].value == "v4lue");
        // No file: nothing kept, no problem.
        assert!(
            load(&d.path().join("none.json"), "shop--a")
                .problem
                .is_none()
        );
        let cases: [(&str, u32, &str); 5] = [
            ("{corrupt", 0o600, "not a kept-values file"),
            (GOOD, 0o644, "mode 0644"),
            (
                &GOOD.replace("shop--a", "other--b"),
                0o600,
                "another instance",
            ),
            (&GOOD.replace("v4lue", "v\\u0000x"), 0o600, "NUL"),
            (r#"{"entries":{"K":"v4lue"}}"#, 0o600, "line 1"),
        ];
        for (text, mode, says) in cases {
            let p = write(d.path(), text, mode);
            let l = load(&p, "shop--a");
            let why = l.problem.unwrap_or_default();
            assert!(why.contains(says) && l.file.entries.is_empty(), "{why}");
            assert!(!why.contains("v4lue"), "{why}");
        }
        // A link (to another instance's file) is not followed.
        let other = write(d.path(), GOOD, 0o600);
        let link = d.path().join("link.json");
        std::os::unix::fs::symlink(&other, &link).unwrap();
        assert!(load(&link, "shop--a").problem.unwrap().contains("regular"));
    }

    #[test]
    fn setting_aside_never_overwrites_an_earlier_one() {
        let d = tempfile::tempdir().unwrap();
        let first = write(d.path(), "{one", 0o644);
        let a1 = set_aside(&first).unwrap();
        let second = write(d.path(), "{two", 0o644);
        let a2 = set_aside(&second).unwrap();
        assert_ne!(a1, a2);
        assert_eq!(std::fs::read_to_string(&a1).unwrap(), "{one");
        assert_eq!(std::fs::read_to_string(&a2).unwrap(), "{two");
        let mode = std::fs::metadata(&a2).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!first.exists());
    }
}
