//! What kinfra left behind, reconciled with the registry and Docker: objects already
//! named like a new instance (an orphan of ours goes, anyone else's refuses), a
//! project's containers started from another directory, the records of an instance
//! that is gone, and `release` and `prune` (`prune`).

pub(super) mod prune;

use std::path::Path;

use crate::instance::error::{Error, Result};
use crate::instance::{Instance, Kind};
use crate::state::context::Context;
use crate::state::envfile;
use crate::tools::error::ToolsError;

/// What Docker holds under a compose project name, from one pair of queries. A
/// caller with other work to do can take it early ([`crate::instance::InitOptions::docker`]) so the
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

/// Forgets an instance that is gone: kinfra's records of it (its project, ports,
/// description, data origin) and its resolved compose copy. Called inside the
/// registry update that drops its entry; the copy is only a cache of `config`.
pub(crate) fn forget_records(ctx: &Context, k: &mut crate::state::registry::KinfraState, id: &str) {
    k.forget(id);
    crate::tools::model::remove_copy(&ctx.home, id);
    crate::instance::host::kept_secrets::remove(ctx, id);
}

/// Removes kinfra's `.env.sandbox` from a directory it no longer manages.
pub(crate) fn remove_env_file(dir: &Path) {
    let f = dir.join(envfile::FILE_NAME);
    if f.is_file() {
        let _ = std::fs::remove_file(f);
    }
}
