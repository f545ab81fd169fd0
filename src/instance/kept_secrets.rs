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

use super::Instance;
use crate::stack::{SecretRef, SecretSource, Stack};
use crate::state::context::Context;
use crate::support::error::{Error, Result};
use crate::tools::secrets::batch;

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeptFile {
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

fn load(path: &Path) -> KeptFile {
    // A file that cannot be read is as good as none: everything resolves again.
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(path: &Path, file: &KeptFile) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("could not create", dir, e))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("could not restrict", dir, e))?;
    }
    let text = serde_json::to_vec_pretty(file).map_err(|e| Error::Other(e.to_string()))?;
    crate::support::fsutil::write_atomic(path, &text, Some(0o600))
        .map_err(|e| Error::io("could not write", path, e))
}

/// The instance's secrets given by reference: kept values where the reference is
/// unchanged, the rest resolved now (all together: 1Password once per item). On
/// any failure nothing is returned and the kept file is untouched.
pub fn obtain(ctx: &Context, stack: &Stack, inst: &Instance, how: How) -> Result<Obtained> {
    let refs = stack.secret_refs_for(inst.kind == super::Kind::LocalProd);
    if refs.is_empty() {
        // The description dropped them all: what was kept for them goes too.
        remove(ctx, inst.id());
        return Ok(Obtained::default());
    }
    let path = ctx.home.kept_secrets_file(inst.id());
    let kept = load(&path);
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
    let main_clone = crate::tools::git::read_main_clone(&inst.dir);
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
                main_clone: &main_clone,
                literals: &literals,
            },
        )
        .map_err(Error::SecretRefs)?
    };
    let now = super::now_iso();
    let mut next = KeptFile::default();
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
    let changed = serde_json::to_value(&next).ok() != serde_json::to_value(&kept).ok();
    if changed {
        if next.entries.is_empty() {
            remove(ctx, inst.id());
        } else {
            save(&path, &next)?;
        }
    }
    Ok(out)
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
}

/// What is kept for the instance, reference by reference.
pub fn status(ctx: &Context, stack: &Stack, inst: &Instance) -> SecretsStatus {
    let kept = load(&ctx.home.kept_secrets_file(inst.id()));
    let references = stack
        .secret_refs_for(inst.kind == super::Kind::LocalProd)
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
    }
}
