//! `release` and `prune`: reconcile the registry with the disk and Docker. Frees
//! slots whose directory is gone and removes compose projects kinfra started that no
//! entry owns, with their volumes (so a reused slot never inherits a stale database)
//! unless the project's directory still exists: then its volumes stay.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::instance::error::{Error, Result};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::state::registry::{Contents, Entry};
use crate::tools::docker;

#[derive(Debug, Clone, Serialize)]
pub struct PruneItem {
    pub project: String,
    pub slot: Option<u8>,
    pub path: Option<String>,
    pub reason: String,
    pub containers: usize,
    /// Volumes removed (or, with --dry-run, to be removed).
    pub volumes: usize,
    /// Its volumes stay: local-prod's, or a project whose directory still exists.
    pub keeps_volumes: bool,
}

/// Releases one registered instance by slot number or name: containers and volumes
/// removed, registration dropped. Its directory is not deleted.
pub fn release(ctx: &Context, what: &str) -> Result<PruneItem> {
    let reg = ctx.registry().load()?;
    let entry: Entry = match what.parse::<u8>() {
        Ok(0) => {
            return Err(Error::ReleaseSlotZero);
        }
        Ok(slot) => reg
            .instances
            .values()
            .find(|e| e.slot == slot)
            .cloned()
            .ok_or_else(|| Error::NoSuchInstance {
                name: format!("(slot {slot})"),
            })?,
        Err(_) => reg
            .instances
            .get(what)
            .cloned()
            .ok_or_else(|| Error::NoSuchInstance { name: what.into() })?,
    };
    let _lock = crate::instance::lock(ctx, &entry.instance_id, "release")?;
    let removed = docker::remove_project(&entry.instance_id, Some(Path::new(&entry.path)), true)?;
    crate::instance::leftovers::remove_env_file(Path::new(&entry.path));
    ctx.registry().update(|c| {
        c.instances.remove(&entry.instance_id);
        crate::instance::leftovers::forget_records(ctx, &mut c.kinfra, &entry.instance_id);
        Ok(())
    })?;
    Ok(PruneItem {
        project: entry.instance_id.clone(),
        slot: Some(entry.slot),
        path: Some(entry.path.clone()),
        reason: "released".into(),
        containers: removed.containers,
        volumes: removed.volumes,
        keeps_volumes: false,
    })
}

/// Finds (and unless `dry_run`, removes) entries whose directory is gone and
/// projects kinfra started that no entry owns.
pub fn prune(ctx: &Context, stack: &Stack, dry_run: bool) -> Result<Vec<PruneItem>> {
    let reg = ctx.registry().load()?;
    let containers = docker::by_project(docker::containers(None)?);
    let volumes = docker::all_volume_projects()?;
    let items = plan(&reg, stack, &containers, &volumes);
    if dry_run {
        return Ok(items);
    }
    for it in &items {
        prune_one(ctx, it)?;
    }
    prune_worktree_records(ctx, &reg, &items)?;
    Ok(items)
}

/// Pure: what is stale, from the registry and what Docker holds per project (its
/// containers, its volumes).
fn plan<C, V>(
    reg: &Contents,
    stack: &Stack,
    containers: &BTreeMap<String, Vec<C>>,
    volumes: &BTreeMap<String, Vec<V>>,
) -> Vec<PruneItem> {
    let count = |p: &str| {
        (
            containers.get(p).map_or(0, Vec::len),
            volumes.get(p).map_or(0, Vec::len),
        )
    };
    let mut items = Vec::new();
    let all_entries = reg.local_prod.iter().chain(reg.instances.values());
    for e in all_entries.clone() {
        if !Path::new(&e.path).is_dir() {
            let (c, v) = count(&e.instance_id);
            // local-prod's data goes only through destroy or `down --volumes`: a
            // moved clone must not cost its database.
            let (reason, volumes) = if e.slot == 0 {
                ("directory missing; local-prod's volumes are kept", 0)
            } else {
                ("directory missing", v)
            };
            items.push(PruneItem {
                project: e.instance_id.clone(),
                slot: Some(e.slot),
                path: Some(e.path.clone()),
                reason: reason.into(),
                containers: c,
                volumes,
                keeps_volumes: volumes == 0 && v > 0,
            });
        }
    }
    let owned: Vec<&str> = all_entries.map(|e| e.instance_id.as_str()).collect();
    for (project, dir) in &reg.kinfra.projects {
        if !owned.contains(&project.as_str()) {
            let (c, v) = count(project);
            // Its directory may still hold the work that database belongs to: only
            // the containers go. (`release` or `down --volumes` remove volumes on purpose.)
            let (reason, volumes) = if *project == stack.local_prod_id {
                (
                    "no registry entry owns it; local-prod's volumes are kept",
                    0,
                )
            } else if Path::new(dir).is_dir() {
                (
                    "no registry entry owns it; its volumes are kept while its directory exists",
                    0,
                )
            } else {
                ("no registry entry owns it", v)
            };
            let keeps_volumes = volumes == 0 && v > 0;
            if keeps_volumes && c == 0 {
                continue; // nothing to remove; its volumes stay on record as ours
            }
            items.push(PruneItem {
                project: project.clone(),
                slot: None,
                path: Some(dir.clone()),
                reason: reason.into(),
                containers: c,
                volumes,
                keeps_volumes,
            });
        }
    }
    items
}

/// Removes one stale project's containers (and volumes, unless kept) and forgets it,
/// re-checked under its lock.
fn prune_one(ctx: &Context, it: &PruneItem) -> Result<()> {
    let _lock = crate::instance::lock(ctx, &it.project, "prune")?;
    docker::remove_project(
        &it.project,
        it.path.as_deref().map(Path::new),
        !it.keeps_volumes,
    )?;
    ctx.registry().update(|c| {
        // Re-checked under the lock: only drop what is still stale.
        if it.slot.is_some() {
            if c.local_prod
                .as_ref()
                .is_some_and(|e| e.instance_id == it.project && !Path::new(&e.path).is_dir())
            {
                c.local_prod = None;
            }
            if c.instances
                .get(&it.project)
                .is_some_and(|e| !Path::new(&e.path).is_dir())
            {
                c.instances.remove(&it.project);
            }
        }
        let still_owned = c.instances.contains_key(&it.project)
            || c.local_prod
                .as_ref()
                .is_some_and(|e| e.instance_id == it.project);
        // Kept volumes stay on record as ours, so a new instance of that name
        // takes them over instead of being refused as someone else's.
        if !still_owned {
            // Its ports, records and resolved copy go; the project record stays
            // while volumes do.
            let dir = c.kinfra.projects.get(&it.project).cloned();
            crate::instance::leftovers::forget_records(ctx, &mut c.kinfra, &it.project);
            if let (Some(d), true) = (dir, it.keeps_volumes) {
                c.kinfra.projects.insert(it.project.clone(), d);
            }
        }
        if !still_owned
            && !it.keeps_volumes
            && let Some(p) = &it.path
        {
            c.kinfra.created_worktrees.retain(|w| w != p);
        }
        Ok(())
    })?;
    Ok(())
}

/// git's own records of the worktrees whose directory is gone, in their repositories.
fn prune_worktree_records(ctx: &Context, reg: &Contents, items: &[PruneItem]) -> Result<()> {
    let repos: std::collections::BTreeSet<&str> = items
        .iter()
        .filter(|it| it.slot.is_some())
        .filter_map(|it| reg.instances.get(&it.project))
        .filter_map(|e| e.parent_repo.as_deref())
        .filter(|r| Path::new(r).is_dir())
        .collect();
    for repo in repos {
        let _git = ctx.registry().worktree_lock()?;
        if let Err(e) = crate::tools::git::worktree_prune(Path::new(repo)) {
            ctx.reporter
                .warn(&format!("`git worktree prune` in {repo} failed: {e}"));
        }
    }
    Ok(())
}
