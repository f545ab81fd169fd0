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

pub(super) fn record_key(stack: &Stack, name: &str) -> String {
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

/// Where snapshot `name` of `source` is made: the source's engine, which this
/// command then works on (an instance's placement routes it there); with that
/// engine's volumes, the name checked free in this project on every engine.
fn engine_and_rows(
    ctx: &Context,
    stack: &Stack,
    source: &Source,
    name: &str,
) -> Result<(Option<String>, Vec<plan::VolumeRow>)> {
    let at = source.engine(ctx)?;
    if let Source::Instance(i) = source {
        crate::engine::remote::route(ctx, i.id())?;
    }
    let here = crate::tools::docker::engine_in_use().map(|(n, _)| n);
    if here != at {
        return Err(DataError::DataAcrossEngines {
            source_label: source.label(),
            target: format!("snapshot {name}"),
            new: true,
            from: at,
            to: here,
        });
    }
    copy::recover(ctx);
    let rows = engine::volumes()?;
    // One name per project, whichever engine holds it: the record (keyed by
    // project and name) says where a snapshot is.
    let elsewhere = ctx
        .registry()
        .load()?
        .kinfra
        .snapshots
        .get(&record_key(stack, name))
        .and_then(|r| r.engine.clone())
        .filter(|e| Some(e) != at.as_ref());
    if elsewhere.is_some()
        || plan::snapshots(&rows)
            .iter()
            .any(|s| s.name == name && s.project == stack.name)
    {
        return Err(DataError::SnapshotExists {
            name: name.into(),
            project: stack.name.clone(),
            engine: elsewhere.or(at),
        });
    }
    Ok((at, rows))
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
    let (at, rows) = engine_and_rows(ctx, stack, source, name)?;
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
        engine: at.clone(),
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
                engine: at.clone(),
                source: src_id.clone(),
                commit: commit.clone(),
                created: created.clone(),
            },
        );
        Ok(())
    })?;
    Ok((snap, copied))
}

/// A snapshot with what was measured when it was taken, and whether its engine
/// answered.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// `None`: the copy never finished (an interrupted save whose cleanup did not
    /// run); `snapshot rm` removes it.
    pub bytes: Option<u64>,
    /// Whether its engine answered: a snapshot on an engine that does not (or on
    /// one its record names that kinfra will not dial) is listed from its record,
    /// never dropped; its volumes are then unknown.
    pub reachable: bool,
    /// Why its engine could not be looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The snapshots of this stack's project (every project's with `all`), on this
/// machine's engine and every recorded engine, all looked at at once.
pub fn list(ctx: &Context, stack: &Stack, all: bool) -> Result<Vec<Listed>> {
    let reg = ctx.registry().load()?;
    let records = &reg.kinfra.snapshots;
    let mut engines: Vec<crate::engine::Engine> = Vec::new();
    // An engine's record kinfra would not use: its snapshots are listed as unreachable.
    let mut refused: std::collections::BTreeMap<String, String> = Default::default();
    for (n, r) in &reg.kinfra.engines {
        match crate::engine::Engine::from_record(n, r) {
            Ok(e) => engines.push(e.controlled(ctx)),
            Err(err) => {
                refused.insert(n.clone(), err.to_string());
            }
        }
    }
    let (local, remote) = std::thread::scope(|s| {
        let hs: Vec<_> = engines
            .iter()
            .map(|e| s.spawn(move || engine::on_engine(Some(e), engine::volumes)))
            .collect();
        let local = engine::on_engine(None, engine::volumes);
        let remote: Vec<Result<Vec<plan::VolumeRow>>> = hs
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        (local, remote)
    });
    let keep = |s: &Snapshot| all || s.project == stack.name;
    let listed = |s: Snapshot| Listed {
        bytes: records
            .get(&format!("{}/{}", s.project, s.name))
            .map(|r| r.bytes),
        snapshot: s,
        reachable: true,
        error: None,
    };
    let mut out: Vec<Listed> = plan::snapshots(&local?)
        .into_iter()
        .filter(keep)
        .map(listed)
        .collect();
    for (e, rows) in engines.iter().zip(remote) {
        match rows {
            Ok(rows) => out.extend(
                plan::snapshots(&rows)
                    .into_iter()
                    .filter(keep)
                    .map(|mut s| {
                        s.engine = Some(e.name.clone());
                        listed(s)
                    }),
            ),
            Err(err) => {
                refused.insert(e.name.clone(), err.to_string());
            }
        }
    }
    for (n, why) in &refused {
        ctx.reporter.warn(&format!(
            "snapshots on the engine {n} are listed from their records: {why}"
        ));
    }
    // What the records say lives on an engine that did not answer, or on one
    // kinfra will not dial (not an engine's name, an engine not recorded).
    let looked: Vec<&str> = engines
        .iter()
        .map(|e| e.name.as_str())
        .filter(|n| !refused.contains_key(*n))
        .collect();
    for (key, r) in records {
        let (Some(on), Some((project, name))) = (&r.engine, key.rsplit_once('/')) else {
            continue;
        };
        if looked.contains(&on.as_str()) || !(all || project == stack.name) {
            continue;
        }
        let why = refused.get(on).cloned().unwrap_or_else(|| {
            let why = match crate::engine::engine_name(on) {
                Err(why) => format!("its record names no engine kinfra uses: {why}"),
                Ok(()) => format!(
                    "its record names the engine {on:?}, which is not recorded (`kinfra engine list`)"
                ),
            };
            ctx.reporter.warn(&format!("snapshot {project}/{name}: {why}"));
            why
        });
        out.push(Listed {
            snapshot: Snapshot {
                name: name.into(),
                project: project.into(),
                source: r.source.clone(),
                commit: r.commit.clone(),
                created: r.created.clone(),
                volumes: Vec::new(),
                engine: Some(on.clone()),
            },
            bytes: Some(r.bytes),
            reachable: false,
            error: Some(why),
        });
    }
    out.sort_by(|a, b| {
        (&a.snapshot.project, &a.snapshot.name).cmp(&(&b.snapshot.project, &b.snapshot.name))
    });
    Ok(out)
}

/// Removes snapshot `name`: its volumes (on the engine they live on) and its record.
pub fn remove(ctx: &Context, stack: &Stack, name: &str) -> Result<Snapshot> {
    let s = match super::find_snapshot(ctx, stack, name) {
        Ok(s) => s,
        // Saved on another engine and never recorded (a save killed between its
        // copy and its record): looked for on each engine.
        Err(e @ DataError::NoSuchSnapshot { .. }) => {
            let recorded = ctx
                .registry()
                .load()?
                .kinfra
                .snapshots
                .contains_key(&record_key(stack, name));
            match (!recorded)
                .then(|| unrecorded_elsewhere(ctx, stack, name))
                .flatten()
            {
                Some(s) => s,
                None => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    let at = match &s.engine {
        Some(n) => Some(super::snapshot_engine(ctx, name, n)?),
        None => None,
    };
    let names: Vec<String> = s.volumes.iter().map(|v| v.name.clone()).collect();
    // Only volumes that carry this snapshot's labels (what every kinfra version
    // put on them) go.
    let project = stack.name.clone();
    let refused = engine::on_engine(at.as_ref(), || {
        engine::remove_owned_volumes(
            &names,
            &[
                (plan::SNAPSHOT, name),
                (plan::SNAPSHOT_PROJECT, project.as_str()),
            ],
        )
    })?;
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

/// Drops the record of snapshot `name` that lives on another machine's engine, and
/// nothing else: for one whose engine is gone for good or refused (its record
/// naming an engine kinfra will not dial), which `remove` cannot reach and which
/// would otherwise hold `engine rm` forever. Nothing is dialled; the volumes, if
/// that machine still has them, stay there. Returns the engine the record named.
/// A snapshot on this machine's engine is refused: `remove` takes it whole.
pub fn forget(ctx: &Context, stack: &Stack, name: &str) -> Result<String> {
    let key = record_key(stack, name);
    ctx.registry().update_with(|c| {
        let Some(record) = c.kinfra.snapshots.get(&key) else {
            let prefix = format!("{}/", stack.name);
            return Err(DataError::NoSuchSnapshot {
                name: name.into(),
                project: stack.name.clone(),
                known: c
                    .kinfra
                    .snapshots
                    .keys()
                    .filter_map(|k| k.strip_prefix(&prefix).map(String::from))
                    .collect(),
            });
        };
        let Some(engine) = record.engine.clone() else {
            return Err(DataError::ForgetLocal { name: name.into() });
        };
        c.kinfra.snapshots.remove(&key);
        Ok(engine)
    })
}

/// The snapshot `name` of this project on a recorded engine that answers, when
/// its record is missing.
fn unrecorded_elsewhere(ctx: &Context, stack: &Stack, name: &str) -> Option<Snapshot> {
    let engines = crate::engine::recorded(ctx).ok()?;
    engines.iter().find_map(|e| {
        let rows = engine::on_engine(Some(e), engine::volumes).ok()?;
        let mut s = plan::snapshots(&rows)
            .into_iter()
            .find(|s| s.name == name && s.project == stack.name)?;
        s.engine = Some(e.name.clone());
        Some(s)
    })
}
