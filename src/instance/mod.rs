//! Instance lifecycle: one implementation for sandboxes and local-prod, which differ
//! only in the data of [`Kind`]. One file per operation.

pub mod error;
pub mod gate;
pub mod host;
pub mod leftovers;
pub mod lifecycle;
pub mod model;
pub mod placement;
pub mod shared;

pub use leftovers::prune::{PruneItem, prune, release};
pub use lifecycle::create::{CreateOptions, create};
pub use lifecycle::destroy::{DestroyOptions, Destroyed, destroy, destroy_local_prod};
pub use lifecycle::init::{InitOptions, check_local_prod_free, init};
pub use lifecycle::ops::{ExecOutput, down, exec, log_tails, logs, shell, wait};
pub use lifecycle::passthrough::compose;
pub use lifecycle::status::{
    ListRow, Listing, ServiceState, Status, StatusReport, list, report, status,
};
pub use lifecycle::up::{UpOptions, UpReport, print_gate, show_failing_logs, up};
pub use model::lock::{InstanceLock, held_by, lock};

use std::path::{Path, PathBuf};

use crate::instance::error::{Error, Result};
use crate::instance::model::env::SandboxEnv;
pub use crate::stack::Kind;
use crate::stack::Stack;
use crate::state::context::Context;
use crate::state::envfile;
use crate::support::fsutil::same_path;
use crate::tools::compose::Project;
use crate::tools::error::ToolsError;

/// An instance found on disk: its directory and validated `.env.sandbox`.
#[derive(Debug, Clone)]
pub struct Instance {
    pub kind: Kind,
    pub dir: PathBuf,
    pub env: SandboxEnv,
}

impl Instance {
    pub fn id(&self) -> &str {
        &self.env.instance_id
    }

    /// The stack's links (URLs, ports) with this instance's ports.
    pub fn links(&self, stack: &Stack) -> Vec<(String, String)> {
        if stack.auto_ports && stack.links.is_empty() {
            return crate::stack::ports::auto_links(&self.env.ports);
        }
        let ports: Vec<(&str, u16)> = self
            .env
            .ports
            .iter()
            .map(|(k, p)| (k.as_str(), *p))
            .collect();
        crate::stack::ports::links(stack, &ports)
            .into_iter()
            .map(|(l, t)| (l.to_string(), t))
            .collect()
    }

    /// Each link by its lowercase label (MCP's instance descriptions; `kinfra url`
    /// adds the routed URL beside each: `router::urls`).
    pub fn urls(&self, stack: &Stack) -> std::collections::BTreeMap<String, String> {
        self.links(stack)
            .into_iter()
            .map(|(l, u)| (l.to_lowercase(), u))
            .collect()
    }

    /// Reads the instance at `dir` for a command: as [`Instance::at`], except that a
    /// port key missing from a file written under another description (the
    /// registry's record of the instance's description differs, or there is none:
    /// the Python tools made it) is new, not corruption: it takes the slot's value,
    /// and `up` or `sync` write it.
    ///
    /// This is where every command loads an instance's `.env.sandbox`, so the file's
    /// identity keys are checked against the registry here ([`identity::check`]):
    /// the name, and so the compose project, of what the command acts on is the
    /// registry's.
    ///
    /// And so it is where a command on an instance placed on another machine's engine
    /// is sent there ([`crate::engine::remote::route`]).
    pub fn read(ctx: &Context, stack: &Stack, dir: &Path) -> Result<Instance> {
        let inst = Self::read_unchecked(ctx, stack, dir)?;
        model::identity::check(&ctx.registry().load()?, dir, &inst.env)?;
        crate::engine::remote::route(ctx, inst.id())?;
        Ok(inst)
    }

    fn read_unchecked(ctx: &Context, stack: &Stack, dir: &Path) -> Result<Instance> {
        match crate::instance::model::env::load(stack, dir) {
            Err(envfile::LoadError::Invalid {
                source: envfile::EnvFileError::Missing { key },
                ..
            }) if crate::stack::ports::for_slot(stack, 0)
                .iter()
                .chain(crate::stack::ports::for_slot(stack, 1).iter())
                .any(|(k, _)| *k == key)
                && description_moved(ctx, stack, dir) =>
            {
                let env = crate::instance::model::env::load_filling(stack, dir)?;
                Ok(Instance {
                    kind: Kind::of_slot(env.slot),
                    dir: dir.to_path_buf(),
                    env,
                })
            }
            other => {
                let env = other?;
                Ok(Instance {
                    kind: Kind::of_slot(env.slot),
                    dir: dir.to_path_buf(),
                    env,
                })
            }
        }
    }

    /// Reads the instance at `dir` as it is (no port filled), its identity checked
    /// against the registry as in [`Instance::read`].
    pub fn at(ctx: &Context, stack: &Stack, dir: &Path) -> Result<Instance> {
        let env = crate::instance::model::env::load(stack, dir)?;
        model::identity::check(&ctx.registry().load()?, dir, &env)?;
        crate::engine::remote::route(ctx, &env.instance_id)?;
        Ok(Instance {
            kind: Kind::of_slot(env.slot),
            dir: dir.to_path_buf(),
            env,
        })
    }

    /// The compose project: the instance's own compose file if it has one, else the
    /// embedded one; env from `.env.sandbox` (overriding the process environment).
    pub fn project(&self, ctx: &Context, stack: &Stack) -> Result<Project> {
        let mut files = stack.compose_files_in(&self.dir)?;
        // Chosen ports live in the resolved copy that the last `up` ran.
        let copy = ctx.home.model_copy_file(self.id());
        if stack.auto_ports && copy.is_file() {
            files = vec![copy];
        }
        let mut p = Project::new(self.id(), &files[0], &self.dir);
        p.files = files;
        // COMPOSE_PROFILES (environment or `.env`) switches profiles on as it does
        // for compose: their services and ports are the instance's too.
        p.profiles = crate::tools::compose::merge_profiles(
            stack.profiles_for(self.kind),
            crate::tools::compose::env_profiles(&self.dir),
        );
        p.env = self.env.compose_vars(stack, &ctx.shared_dir());
        Ok(p)
    }
}

/// Whether the instance at `dir` was made (or last synced) under another
/// description than `stack`, or under none kinfra recorded.
fn description_moved(ctx: &Context, stack: &Stack, dir: &Path) -> bool {
    let id = std::fs::read_to_string(dir.join(envfile::FILE_NAME))
        .ok()
        .and_then(|t| envfile::parse(&t).ok())
        .and_then(|m| m.get("INSTANCE_ID").cloned());
    let Some(id) = id else { return false };
    let Ok(reg) = ctx.registry().load() else {
        return false;
    };
    reg.kinfra
        .descriptions
        .get(&id)
        .is_none_or(|d| d.fingerprint != stack.fingerprint())
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

/// Current time as ISO-8601 UTC, seconds precision.
pub fn now_iso() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// What Docker holds under a compose project name, from one pair of queries. A
/// caller with other work to do can take it early ([`InitOptions::docker`]) so the
/// two docker calls overlap that work instead of following it.
#[derive(Debug)]
pub struct ProjectObjects {
    containers: Result<Vec<crate::tools::docker::Container>>,
    volumes: Result<Vec<String>>,
}

impl ProjectObjects {
    pub fn query(project: &str) -> ProjectObjects {
        // Two independent docker calls: run them side by side.
        let engine = crate::tools::docker::EngineScope::current();
        let (containers, volumes) = std::thread::scope(|s| {
            let vols = s.spawn(|| {
                let _engine = engine.enter();
                crate::tools::docker::volumes(project)
            });
            let cs = crate::tools::docker::containers(Some(project));
            (cs, vols.join())
        });
        let volumes = volumes.unwrap_or(Err(ToolsError::QueryCrashed {
            what: "docker volume query",
        }));
        ProjectObjects {
            containers: containers.map_err(Error::from),
            volumes: volumes.map_err(Error::from),
        }
    }
}

/// Before a new instance takes the name `project`: Docker objects already labelled
/// with it are removed only when this registry started that project and no entry
/// owns it any more (an orphan of ours, whose database password would be stale).
/// For local-prod only the containers go: its volumes are removed only by
/// `local-prod destroy` or `down --volumes`, so the new local-prod reuses its data
/// (its password comes from the same 1Password item).
/// Anything else is someone else's (another kinfra home, the Python tool, a manual
/// compose run): refused, never deleted. Docker unreachable: a warning. `seen` is
/// Docker's state if the caller already queried it.
pub(crate) fn check_leftovers(
    ctx: &Context,
    project: &str,
    seen: Option<ProjectObjects>,
    kind: Kind,
) -> Result<()> {
    let ProjectObjects {
        containers: cs,
        volumes: vols,
    } = seen.unwrap_or_else(|| ProjectObjects::query(project));
    let cs = match cs {
        Ok(cs) => cs,
        Err(e) => {
            ctx.reporter.warn(&format!(
                "could not check Docker for objects named {project}: {e}"
            ));
            return Ok(());
        }
    };
    let vols = vols?;
    if cs.is_empty() && vols.is_empty() {
        return Ok(());
    }
    let reg = ctx.registry().load()?;
    let owned = reg.instances.contains_key(project)
        || reg
            .local_prod
            .as_ref()
            .is_some_and(|e| e.instance_id == project);
    if let Some(dir) = reg.kinfra.projects.get(project).filter(|_| !owned) {
        let keep_volumes = kind == Kind::LocalProd;
        let r = crate::tools::docker::remove_project(project, Some(Path::new(dir)), !keep_volumes)?;
        if r.foreign.is_empty() {
            if keep_volumes {
                ctx.reporter.warn(&format!(
                    "removed {} container(s) left over from an earlier {project}; its volume(s) {} are kept \
                     and the new local-prod uses them (`docker volume rm` them first for an empty database)",
                    r.containers,
                    vols.join(", ")
                ));
            } else {
                ctx.reporter.warn(&format!(
                    "removed {} container(s) and {} volume(s) left over from an earlier {project} (stale passwords)",
                    r.containers, r.volumes
                ));
            }
            ctx.registry().update(|c| {
                c.kinfra.projects.remove(project);
                Ok(())
            })?;
            return Ok(());
        }
    }
    Err(Error::ProjectInUse {
        project: project.into(),
        what: describe_objects(&cs, &vols),
    })
}

fn describe_objects(cs: &[crate::tools::docker::Container], vols: &[String]) -> String {
    let mut parts = Vec::new();
    if !cs.is_empty() {
        let dirs: Vec<&str> = cs
            .iter()
            .map(|c| c.working_dir.as_str())
            .filter(|d| !d.is_empty())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        parts.push(format!(
            "{} container(s){}",
            cs.len(),
            if dirs.is_empty() {
                String::new()
            } else {
                format!(" started from {}", dirs.join(", "))
            }
        ));
    }
    if !vols.is_empty() {
        parts.push(format!("volume(s) {}", vols.join(", ")));
    }
    parts.join(" and ")
}

/// Refuses to act when containers of the instance's project were started from
/// another directory: compose would recreate or remove them.
pub(crate) fn ensure_not_foreign(inst: &Instance) -> Result<Vec<crate::tools::docker::Container>> {
    let cs = crate::tools::docker::containers(Some(inst.id()))?;
    let foreign: Vec<_> = cs
        .iter()
        .filter(|c| !crate::tools::docker::started_from(c, &inst.dir))
        .cloned()
        .collect();
    if foreign.is_empty() {
        Ok(cs)
    } else {
        Err(Error::ProjectInUse {
            project: inst.id().into(),
            what: describe_objects(&foreign, &[]),
        })
    }
}

/// A failed compose run: "Docker unreachable" when the engine no longer answers
/// (compose's own message for that is a Python traceback), else "compose failed".
pub(crate) fn compose_error(project: &str, e: crate::support::exec::ExecError) -> Error {
    if crate::tools::docker::precheck().is_err() {
        return crate::tools::docker::unavailable(e).into();
    }
    match crate::tools::docker::classify(e) {
        ToolsError::Support(crate::support::error::SupportError::Exec(source)) => {
            Error::ComposeFailed {
                project: project.into(),
                source,
            }
        }
        other => other.into(),
    }
}

/// Forgets an instance that is gone: kinfra's records of it (its project, ports,
/// description, data origin) and its resolved compose copy. Called inside the
/// registry update that drops its entry; the copy is only a cache of `config`.
pub(crate) fn forget_records(ctx: &Context, k: &mut crate::state::registry::KinfraState, id: &str) {
    k.forget(id);
    crate::tools::model::remove_copy(&ctx.home, id);
    host::kept_secrets::remove(ctx, id);
}

/// Removes kinfra's `.env.sandbox` from a directory it no longer manages.
pub(crate) fn remove_env_file(dir: &Path) {
    let f = dir.join(envfile::FILE_NAME);
    if f.is_file() {
        let _ = std::fs::remove_file(f);
    }
}
