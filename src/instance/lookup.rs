//! Which instance a command acts on: the one containing the current directory, the
//! sandbox named (by name, worktree name or slug), or the registered local-prod from
//! anywhere; and the shared or host services a command names.

use std::path::{Path, PathBuf};

use crate::instance::error::{Error, Result};
use crate::instance::{Instance, Kind};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::state::envfile;
use crate::support::fsutil::same_path;

/// Walks up from `start` to the directory holding `.env.sandbox`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(envfile::FILE_NAME).is_file())
        .map(Path::to_path_buf)
}

/// The instance a command acts on. local-prod is a singleton: the registered one,
/// from any directory (an unregistered clone holding local-prod's `.env.sandbox` is
/// still found from inside it). A sandbox: the one containing the current directory.
pub fn locate(ctx: &Context, stack: &Stack, kind: Kind) -> Result<Instance> {
    if kind == Kind::LocalProd
        && let Some(e) = ctx.registry().load()?.local_prod
    {
        let dir = PathBuf::from(&e.path);
        if dir.join(envfile::FILE_NAME).is_file() {
            return Instance::read(ctx, stack, &dir);
        }
    }
    let root = find_root(&ctx.cwd).ok_or_else(|| Error::NoInstanceHere {
        dir: ctx.cwd.clone(),
    })?;
    let inst = Instance::read(ctx, stack, &root)?;
    if inst.kind != kind {
        return Err(Error::WrongKind {
            dir: root,
            expected: kind.label(),
            found: format!("{} {}", inst.kind.label(), inst.id()),
        });
    }
    Ok(inst)
}

/// For the agent verbs (`url`, `env`, `wait`, MCP): the sandbox named, else the
/// instance of either kind containing the current directory.
pub fn here_or_named(ctx: &Context, stack: &Stack, name: Option<&str>) -> Result<Instance> {
    if name.is_some() {
        return find(ctx, stack, Kind::Sandbox, name);
    }
    let root = find_root(&ctx.cwd).ok_or_else(|| Error::NoInstanceHere {
        dir: ctx.cwd.clone(),
    })?;
    Instance::read(ctx, stack, &root)
}

/// The registry entry of the sandbox named `name` (with or without the worktree
/// prefix, or as its slug), or of the one containing the current directory (what
/// `destroy` acts on).
pub fn sandbox_entry(
    ctx: &Context,
    stack: &Stack,
    name: Option<&str>,
) -> Result<crate::state::registry::Entry> {
    let reg = ctx.registry().load()?;
    match name {
        Some(n) => {
            let prefixed = format!("{}{}", stack.worktree_prefix, n);
            let slugged = crate::support::slug::slugify(n)
                .map(|s| format!("{}{s}", stack.worktree_prefix))
                .unwrap_or_default();
            [n, prefixed.as_str(), slugged.as_str()]
                .iter()
                .find_map(|k| reg.instances.get(*k).cloned())
                .ok_or_else(|| {
                    if reg.local_prod.as_ref().is_some_and(|e| e.instance_id == n) {
                        Error::WrongKind {
                            dir: PathBuf::from(
                                &reg.local_prod
                                    .as_ref()
                                    .map(|e| e.path.clone())
                                    .unwrap_or_default(),
                            ),
                            expected: "sandbox",
                            found: "local-prod (use `kinfra local-prod destroy`)".into(),
                        }
                    } else {
                        Error::NoSuchInstance { name: n.into() }
                    }
                })
        }
        None => {
            let root = find_root(&ctx.cwd).ok_or_else(|| Error::NoInstanceHere {
                dir: ctx.cwd.clone(),
            })?;
            if let Some(lp) = &reg.local_prod
                && same_path(Path::new(&lp.path), &root)
            {
                return Err(Error::WrongKind {
                    dir: root,
                    expected: "sandbox",
                    found: "local-prod (use `kinfra local-prod destroy`)".into(),
                });
            }
            reg.instances
                .values()
                .find(|e| same_path(Path::new(&e.path), &root))
                .cloned()
                .ok_or_else(|| Error::NoSuchInstance {
                    name: format!("(the instance at {})", root.display()),
                })
        }
    }
}

/// The instance a command acts on: the sandbox named in the registry when a name is
/// given, else [`locate`] (local-prod takes no name: there is one).
pub fn find(ctx: &Context, stack: &Stack, kind: Kind, name: Option<&str>) -> Result<Instance> {
    let Some(n) = name else {
        return locate(ctx, stack, kind);
    };
    if kind == Kind::LocalProd {
        return Err(Error::LocalProdNamed { name: n.into() });
    }
    let entry = sandbox_entry(ctx, stack, Some(n))?;
    let dir = PathBuf::from(&entry.path);
    if !dir.is_dir() {
        return Err(Error::InstanceDirGone {
            id: entry.instance_id,
            path: entry.path,
        });
    }
    Instance::read(ctx, stack, &dir)
}

/// The items named (all when `names` is empty): shared or host services. An
/// unknown name is an error that lists the ones `origin` declares.
pub(crate) fn pick<'s, T>(
    items: &'s [T],
    names: &[String],
    name_of: impl Fn(&T) -> &str,
    what: &str,
    origin: &str,
) -> Result<Vec<&'s T>> {
    if names.is_empty() {
        return Ok(items.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            items.iter().find(|i| name_of(i) == n).ok_or_else(|| {
                let known: Vec<&str> = items.iter().map(&name_of).collect();
                Error::NotDeclared {
                    what: what.into(),
                    name: n.clone(),
                    origin: origin.into(),
                    known: known.iter().map(|k| k.to_string()).collect(),
                }
            })
        })
        .collect()
}
