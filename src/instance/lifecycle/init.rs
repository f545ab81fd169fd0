//! `sandbox init` and `local-prod init`: register the current checkout.

use std::path::{Path, PathBuf};

use crate::instance::error::{Error, Result};
use crate::instance::leftovers::check_leftovers;
use crate::instance::model::env::SandboxEnv;
use crate::instance::placement::resolve;
use crate::instance::{Instance, Kind, ProjectObjects, now_iso};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::state::envfile;
use crate::state::registry::{Contents, Entry};
use crate::support::slug::slugify;
use crate::tools::git;

#[derive(Debug, Default)]
pub struct InitOptions {
    pub slot: Option<u8>,
    pub name: Option<String>,
    /// Docker's objects under the instance's project name, if the caller queried
    /// them already (kinfra-setup does while it clones); otherwise queried here.
    pub docker: Option<ProjectObjects>,
}

/// Validates a requested sandbox slot.
pub(crate) fn check_slot(stack: &Stack, slot: u8) -> Result<u8> {
    if (1..=stack.max_slot).contains(&slot) {
        Ok(slot)
    } else {
        Err(Error::BadSlot {
            value: slot.to_string(),
            max: stack.max_slot,
        })
    }
}

/// Compose projects named like the Python tools' pooled slots are theirs
/// ([`crate::stack::compat::is_pool_name`]): kinfra never makes one.
pub(crate) fn refuse_pool_name(id: &str) -> Result<()> {
    if crate::stack::compat::is_pool_name(id) {
        return Err(Error::PoolName { id: id.into() });
    }
    Ok(())
}

/// Picks the slot (requested or lowest free) under the registry lock. Slots are
/// numbered per project (five projects with two sandboxes each do not exhaust
/// them): a slot counts as taken by this project's instances, and by any instance
/// kinfra has no project recorded for (the Python tools' are KTRDR's). Ports stay
/// unique machine-wide: a slot whose ports (env scheme) another instance of any
/// project holds is passed over.
pub(crate) fn take_slot(c: &Contents, stack: &Stack, requested: Option<u8>) -> Result<u8> {
    let used: std::collections::BTreeMap<u8, String> = c
        .instances
        .values()
        .filter(|e| {
            c.kinfra
                .stacks
                .get(&e.instance_id)
                .is_none_or(|p| *p == stack.name)
        })
        .map(|e| (e.slot, e.instance_id.clone()))
        .collect();
    let held = held_ports(c, stack);
    let clash = |slot: u8| -> Option<String> {
        crate::stack::ports::own_for_slot(stack, slot)
            .into_iter()
            .find_map(|(_, p)| held.get(&p).cloned())
    };
    match requested {
        Some(s) => match used.get(&s).cloned().or_else(|| clash(s)) {
            Some(by) => Err(Error::SlotTaken { slot: s, by }),
            None => Ok(s),
        },
        None => (1..=stack.max_slot)
            .find(|s| !used.contains_key(s) && clash(*s).is_none())
            .ok_or_else(|| {
                Error::State(crate::state::error::StateError::SlotsFull {
                    max: stack.max_slot,
                    holders: used.into_iter().collect(),
                })
            }),
    }
}

/// The host ports other projects' instances hold (port → instance): ports kinfra
/// chose (auto scheme), a built-in project's slot table for its instances, what the
/// `.env.sandbox` of any other instance records, and what the other tools hold
/// ([`crate::stack::compat`]).
fn held_ports(c: &Contents, stack: &Stack) -> std::collections::BTreeMap<u16, String> {
    let mut held = std::collections::BTreeMap::new();
    if stack.auto_ports {
        return held; // chosen at allocation, unique there
    }
    // The Python tools' slot pool and devops-ai's slots hold theirs, claimed or not.
    held.extend(crate::stack::compat::foreign_ports(c));
    for e in c.local_prod.iter().chain(c.instances.values()) {
        let project = c.kinfra.stacks.get(&e.instance_id);
        if project.is_none_or(|p| *p == stack.name) {
            continue; // this project's own: numbered by slot already
        }
        let ports: Vec<u16> = if let Some(chosen) = c.kinfra.ports.get(&e.instance_id) {
            chosen.values().copied().collect()
        } else if let Some(table) =
            project.and_then(|p| crate::stack::compat::slot_ports(p, e.slot))
        {
            table
        } else {
            resolve::env_ports(std::path::Path::new(&e.path))
        };
        for p in ports {
            held.insert(p, e.instance_id.clone());
        }
    }
    held
}

/// The checkout's top directory, after checking it is the stack's repository (its
/// `origin` names the stack's `repo_marker`, when the description has one).
pub(crate) fn stack_top(stack: &Stack, dir: &Path) -> Result<PathBuf> {
    let top = git::toplevel(dir)?;
    let origin = git::origin_url(&top)?;
    let Some(marker) = &stack.repo_marker else {
        return Ok(top);
    };
    match &origin {
        Some(url) if url.to_lowercase().contains(&marker.to_lowercase()) => Ok(top),
        // Not this stack's, and no compose file either: say that, not "not KTRDR".
        _ if !top.join(&stack.compose_file).is_file()
            && crate::stack::infer(&top, None)?.is_none() =>
        {
            Err(Error::NoComposeFile { dir: top })
        }
        _ => Err(Error::NotStackRepo {
            dir: top,
            origin,
            stack: stack.name.clone(),
            marker: marker.clone(),
        }),
    }
}

/// Fails when local-prod is already registered (checked before any work).
pub fn check_local_prod_free(ctx: &Context) -> Result<()> {
    match ctx.registry().load()?.local_prod {
        Some(e) => Err(Error::LocalProdExists {
            path: PathBuf::from(e.path),
        }),
        None => Ok(()),
    }
}

/// One id, one instance: a local-prod whose project is named like a sandbox
/// (`[local_prod] project = "shop--a"`) would share its compose project, volumes,
/// kept secrets and records.
fn id_free_of_other_kind(c: &crate::state::registry::Contents, kind: Kind, id: &str) -> Result<()> {
    let other = match kind {
        Kind::LocalProd => c.instances.get(id),
        Kind::Sandbox => c.local_prod.as_ref().filter(|e| e.instance_id == id),
    };
    match other {
        Some(e) => Err(Error::NameTaken {
            id: id.to_string(),
            path: PathBuf::from(&e.path),
        }),
        None => Ok(()),
    }
}

pub fn init(ctx: &Context, stack: &Stack, kind: Kind, opts: InitOptions) -> Result<Instance> {
    if let Some(s) = opts.slot {
        check_slot(stack, s)?;
    }
    let top = stack_top(stack, &ctx.cwd)?;
    let clone = git::is_clone(&top);
    if kind == Kind::LocalProd && !clone {
        return Err(Error::NotAClone { dir: top });
    }
    let env_path = top.join(envfile::FILE_NAME);
    let id = match kind {
        Kind::LocalProd => stack.local_prod_id.clone(),
        Kind::Sandbox => {
            let raw = match &opts.name {
                Some(n) => n.clone(),
                None => top
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            slugify(&raw)?
        }
    };
    refuse_pool_name(&id)?;
    let parent_repo = if clone {
        None
    } else {
        Some(git::common_repo(&top)?.display().to_string())
    };
    let now = now_iso();
    let path_s = top.display().to_string();
    if !env_path.exists() && ctx.registry().load()?.entry_at(&top).is_none() {
        check_leftovers(ctx, &id, opts.docker, kind)?;
    }
    let slot = ctx.registry().update_with(|c| {
        c.kinfra.stacks.insert(id.clone(), stack.name.clone());
        c.kinfra.descriptions.insert(id.clone(), stack.described());
        if let Some(e) = c.entry_at(&top) {
            return Err(Error::AlreadyInitialized {
                dir: top.clone(),
                id: e.instance_id.clone(),
            });
        }
        if env_path.exists() {
            return Err(Error::AlreadyInitialized {
                dir: top.clone(),
                id: "an unregistered instance (.env.sandbox exists)".into(),
            });
        }
        let entry = |slot| Entry {
            instance_id: id.clone(),
            slot,
            path: path_s.clone(),
            created_at: now.clone(),
            is_worktree: !clone,
            parent_repo: parent_repo.clone(),
        };
        id_free_of_other_kind(c, kind, &id)?;
        match kind {
            Kind::LocalProd => {
                if let Some(e) = &c.local_prod {
                    return Err(Error::LocalProdExists {
                        path: PathBuf::from(&e.path),
                    });
                }
                c.local_prod = Some(entry(0));
                Ok(0)
            }
            Kind::Sandbox => {
                if let Some(e) = c.instances.get(&id) {
                    return Err(Error::NameTaken {
                        id: id.clone(),
                        path: PathBuf::from(&e.path),
                    });
                }
                let slot = take_slot(c, stack, opts.slot)?;
                c.instances.insert(id.clone(), entry(slot));
                Ok(slot)
            }
        }
    })?;
    crate::state::context::pause_point("init:registered");
    let env = SandboxEnv::new(stack, slot, &id, &ctx.shared_dir(), &now);
    if let Err(e) = env.write(&env_path) {
        // Undo the registration: nothing half-made stays behind.
        let _ = ctx.registry().update(|c| {
            match kind {
                Kind::LocalProd => c.local_prod = None,
                Kind::Sandbox => {
                    c.instances.remove(&id);
                }
            }
            Ok(())
        });
        return Err(e);
    }
    let inst = Instance {
        kind,
        dir: top,
        env,
    };
    Ok(resolve::choose_ports(ctx, stack, inst))
}
