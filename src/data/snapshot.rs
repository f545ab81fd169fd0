//! `kinfra snapshot save|list|rm`: a consistent copy of an instance's data volumes,
//! kept as labelled Docker volumes (no compose label: destroy and prune leave them).

use serde::Serialize;

use super::copy::{self, Copied, Pair};
use super::plan::{self, Snapshot};
use super::{Source, engine, prepare, project_slug};
use crate::data::error::{DataError, Result};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::state::registry::SnapshotRecord;

fn record_key(stack: &Stack, name: &str) -> String {
    format!("{}/{name}", stack.name)
}

/// The lock that reserves snapshot `name` of `stack`'s project: a lock id (a
/// project-name shape), unique per (project, name).
fn name_lock(stack: &Stack, name: &str) -> String {
    let id = format!("snapshot_{}_{name}", project_slug(stack));
    if id.len() <= crate::support::slug::MAX_SLUG {
        return id;
    }
    // Too long for a lock id: a prefix and a digest of the whole keep it unique.
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    format!("{}_{:016x}", &id[..40], h.finish())
}

/// `--data NAME` looks for local-prod, then a snapshot, then a sandbox: a snapshot
/// named like an instance would make `--data` ambiguous, so it is refused here.
fn check_not_an_instance(ctx: &Context, stack: &Stack, name: &str) -> Result<()> {
    let reg = ctx.registry().load()?;
    let sandbox = crate::instance::sandbox_entry(ctx, stack, Some(name))
        .ok()
        .map(|e| e.instance_id);
    let local_prod = reg.local_prod.as_ref().map(|e| e.instance_id.as_str());
    match plan::snapshot_name_clash(
        name,
        &stack.worktree_prefix,
        &stack.local_prod_id,
        local_prod,
        sandbox.as_deref(),
    ) {
        Some(why) => Err(DataError::SnapshotNameClash {
            name: name.into(),
            why,
        }),
        None => Ok(()),
    }
}

/// Saves snapshot `name` of `source` (an instance; another snapshot copies it).
pub fn save(
    ctx: &Context,
    stack: &Stack,
    source: &Source,
    name: &str,
    how: super::How,
) -> Result<(Snapshot, Copied)> {
    plan::check_snapshot_name(name).map_err(|why| DataError::BadSnapshotName { why })?;
    check_not_an_instance(ctx, stack, name)?;
    // Held until the snapshot is made: of two saves of one name, the second
    // waits here, then finds the name taken (the check below) instead of both
    // filling the same volumes.
    let _name = crate::instance::lock(ctx, &name_lock(stack, name), "snapshot save")?;
    copy::recover(ctx);
    let rows = engine::volumes()?;
    if plan::snapshots(&rows)
        .iter()
        .any(|s| s.name == name && s.project == stack.name)
    {
        return Err(DataError::SnapshotExists {
            name: name.into(),
            project: stack.name.clone(),
        });
    }
    let _lock = match source {
        Source::Instance(i) => Some(crate::instance::lock(ctx, i.id(), "snapshot")?),
        Source::Snapshot(_) => None,
    };
    let p = prepare(stack, source, &rows, how)?;
    if let Some(s) = &p.said {
        ctx.reporter.info(s);
    }
    let (src_id, commit) = match source {
        Source::Instance(i) => (
            i.id().to_string(),
            crate::tools::git::resolve_commit(&i.dir, "HEAD")
                .map(|c| c.chars().take(12).collect())
                .unwrap_or_default(),
        ),
        Source::Snapshot(s) => (s.source.clone(), s.commit.clone()),
    };
    let created = crate::instance::now_iso();
    let slug = project_slug(stack);
    let pairs: Vec<Pair> = p
        .volumes
        .iter()
        .map(|v| Pair {
            from: v.name.clone(),
            to: plan::snapshot_volume(&slug, name, &v.suffix),
            create: Some(vec![
                (plan::SNAPSHOT, name.to_string()),
                (plan::SNAPSHOT_PROJECT, stack.name.clone()),
                (plan::SNAPSHOT_VOLUME, v.key.clone()),
                (plan::SNAPSHOT_SUFFIX, v.suffix.clone()),
                (plan::SNAPSHOT_SOURCE, src_id.clone()),
                (plan::SNAPSHOT_COMMIT, commit.clone()),
                (plan::SNAPSHOT_CREATED, created.clone()),
            ]),
        })
        .collect();
    ctx.reporter
        .step(&format!("Saving snapshot {name} of {}", source.label()));
    let snap = Snapshot {
        name: name.to_string(),
        project: stack.name.clone(),
        source: src_id.clone(),
        commit: commit.clone(),
        created: created.clone(),
        volumes: pairs
            .iter()
            .zip(&p.volumes)
            .map(|(pair, v)| plan::DataVolume {
                name: pair.to.clone(),
                key: v.key.clone(),
                suffix: v.suffix.clone(),
            })
            .collect(),
    };
    let copied = copy::run(ctx, &p.job(pairs))?;
    ctx.registry().update(|c| {
        c.kinfra.snapshots.insert(
            record_key(stack, name),
            SnapshotRecord {
                bytes: copied.bytes,
                method: if copied.online.is_empty() {
                    format!("{:?}", copied.method)
                } else {
                    format!("Online+{:?}", copied.method)
                },
                paused_ms: copied.paused_ms,
            },
        );
        Ok(())
    })?;
    Ok((snap, copied))
}

/// A snapshot with what was measured when it was taken.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// `None`: the copy never finished (an interrupted save whose cleanup did not
    /// run); `snapshot rm` removes it.
    pub bytes: Option<u64>,
}

/// The snapshots of this stack's project (every project's with `all`).
pub fn list(ctx: &Context, stack: &Stack, all: bool) -> Result<Vec<Listed>> {
    let records = ctx.registry().load()?.kinfra.snapshots;
    Ok(plan::snapshots(&engine::volumes()?)
        .into_iter()
        .filter(|s| all || s.project == stack.name)
        .map(|s| Listed {
            bytes: records
                .get(&format!("{}/{}", s.project, s.name))
                .map(|r| r.bytes),
            snapshot: s,
        })
        .collect())
}

/// Removes snapshot `name`: its volumes and its record.
pub fn remove(ctx: &Context, stack: &Stack, name: &str) -> Result<Snapshot> {
    let s = super::find_snapshot(stack, name)?;
    let names: Vec<String> = s.volumes.iter().map(|v| v.name.clone()).collect();
    // Only volumes that carry this snapshot's labels (what every kinfra version
    // put on them) go.
    let refused = engine::remove_owned_volumes(
        &names,
        &[
            (plan::SNAPSHOT, name),
            (plan::SNAPSHOT_PROJECT, stack.name.as_str()),
        ],
    )?;
    if !refused.is_empty() {
        let why: Vec<String> = refused.into_iter().map(|(_, w)| w).collect();
        return Err(DataError::SnapshotNotRemoved { why });
    }
    ctx.registry().update(|c| {
        c.kinfra.snapshots.remove(&record_key(stack, name));
        Ok(())
    })?;
    Ok(s)
}
