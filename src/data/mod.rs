//! Data branches: a sandbox's volumes start as a consistent copy of local-prod's,
//! another sandbox's, or a snapshot's (`snapshot save|list|rm`, `sandbox create
//! --data`, `sandbox reset`). docs/DATA.md has the methods, their guarantees and
//! their costs.
//!
//! Layers: [`plan`] is pure (what the engine's output says, what is data, what the
//! copies are named); `engine` holds the docker calls; `journal` makes a copy
//! undoable whatever kills it; `copy` runs one; `snapshot` and `branch` are the
//! commands.

mod branch;
pub mod copy;
mod engine;
pub mod error;
pub mod journal;
pub mod plan;
mod snapshot;

pub use branch::{ResetOptions, create, fill, origin_of, reset, seed};
pub use copy::{Copied, Method};
pub use plan::{Selection, Snapshot};
pub use snapshot::{Listed, forget, list, remove, save};

/// `snapshot list`'s answer, the same document for the CLI's `--json` and MCP
/// `snapshot_list` (an object, as MCP's structured content must be).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshots {
    pub snapshots: Vec<Listed>,
}

/// This project's snapshots (every project's with `all`).
pub fn snapshots(ctx: &Context, stack: &Stack, all: bool) -> Result<Snapshots> {
    Ok(Snapshots {
        snapshots: list(ctx, stack, all)?,
    })
}

use crate::data::error::{DataError, Result};
use crate::instance::{self, Instance, Kind};
use crate::stack::Stack;
use crate::state::context::Context;

/// Where data comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Instance(Box<Instance>),
    Snapshot(Snapshot),
}

impl Source {
    /// For the person: `local-prod ktrdr-prod`, `sandbox shop--a`, `snapshot base`.
    pub fn label(&self) -> String {
        match self {
            Source::Instance(i) => format!("{} {}", i.kind.label(), i.id()),
            Source::Snapshot(s) => format!("snapshot {}", s.name),
        }
    }

    /// The engine on another machine its data lives on (`None`: this machine's):
    /// an instance's placement, a snapshot's engine as found.
    pub fn engine(&self, ctx: &Context) -> Result<Option<String>> {
        match self {
            Source::Instance(i) => Ok(ctx
                .registry()
                .load()?
                .kinfra
                .placements
                .get(i.id())
                .cloned()),
            Source::Snapshot(s) => Ok(s.engine.clone()),
        }
    }

    /// As recorded for `reset` (`snapshot:NAME`, `instance:ID`).
    pub fn record(&self) -> String {
        match self {
            Source::Instance(i) => format!("instance:{}", i.id()),
            Source::Snapshot(s) => format!("snapshot:{}", s.name),
        }
    }
}

/// The project's name as it goes into snapshot volume names.
fn project_slug(stack: &Stack) -> String {
    crate::support::slug::slugify(&stack.name).unwrap_or_else(|_| "project".into())
}

/// The engine a snapshot's record says it lives on, checked: a recorded engine's
/// name, never an address or a name kinfra did not record (the file is input, and
/// an engine is dialled only from its own record, `kinfra engine add`'s). `None`:
/// this machine's (every record written before engines existed says nothing).
fn recorded_engine(
    ctx: &Context,
    stack: &Stack,
    name: &str,
) -> Result<Option<crate::engine::Engine>> {
    let c = ctx.registry().load()?;
    let Some(e) = c
        .kinfra
        .snapshots
        .get(&snapshot::record_key(stack, name))
        .and_then(|r| r.engine.clone())
    else {
        return Ok(None);
    };
    snapshot_engine(ctx, name, &e).map(Some)
}

/// The engine `engine` (as a snapshot record of `name` gives it), or the refusal.
fn snapshot_engine(ctx: &Context, name: &str, engine: &str) -> Result<crate::engine::Engine> {
    use crate::engine::error::EngineError as E;
    crate::engine::named(ctx, engine).map_err(|err| match err {
        E::BadName { .. }
        | E::NoSuchEngine { .. }
        | E::BadRecordName { .. }
        | E::BadRecordAddress { .. } => DataError::SnapshotEngineRefused {
            name: name.into(),
            engine: engine.chars().take(80).collect(),
            why: err.to_string(),
        },
        other => other.into(),
    })
}

/// The snapshot `name` of this stack's project, looked for on the engine its
/// record names (else this machine's), read there on a thread of its own (this
/// command's docker calls stay where they are). `other` = a snapshot of that
/// name exists there for another project.
fn find_snapshot(ctx: &Context, stack: &Stack, name: &str) -> Result<Snapshot> {
    plan::check_snapshot_name(name).map_err(|why| DataError::BadSnapshotName { why })?;
    let at = recorded_engine(ctx, stack, name)?;
    let all = plan::snapshots(&engine::on_engine(at.as_ref(), engine::volumes)?);
    if let Some(s) = all
        .iter()
        .find(|s| s.name == name && s.project == stack.name)
    {
        let mut s = s.clone();
        s.engine = at.map(|e| e.name);
        return Ok(s);
    }
    if let Some(s) = all.iter().find(|s| s.name == name) {
        return Err(DataError::SnapshotOfOtherProject {
            name: name.into(),
            project: stack.name.clone(),
            other: s.project.clone(),
        });
    }
    Err(DataError::NoSuchSnapshot {
        name: name.into(),
        project: stack.name.clone(),
        known: all
            .iter()
            .filter(|s| s.project == stack.name)
            .map(|s| s.name.clone())
            .collect(),
    })
}

/// Before `target`'s data is copied from `source`: both on one engine (`to`:
/// the target's, `None` for this machine's). A copy runs inside one engine
/// (docs/DATA.md); streaming volumes between engines is not supported yet, so a
/// source elsewhere is refused, naming both engines, before anything is made.
pub fn same_engine(
    ctx: &Context,
    source: &Source,
    target: &str,
    new: bool,
    to: Option<&str>,
) -> Result<()> {
    let from = source.engine(ctx)?;
    if from.as_deref() == to {
        return Ok(());
    }
    Err(DataError::DataAcrossEngines {
        source_label: source.label(),
        target: target.into(),
        new,
        from,
        to: to.map(String::from),
    })
}

/// Where `sandbox create --data SOURCE --on ON` (and MCP's `create` with `data` and
/// `on`) places the new sandbox: `auto` means the source's engine (its data is
/// copied inside that engine, so that is the only place it can go); any other
/// `on` is checked as without `--data` ([`crate::instance::placement::resolve_on`]),
/// and [`same_engine`] then refuses one that is not the source's.
pub fn placement_for(
    ctx: &Context,
    stack: &Stack,
    source: &Source,
    on: Option<&str>,
) -> Result<Option<String>> {
    if on != Some("auto") {
        return Ok(crate::instance::placement::resolve_on(ctx, stack, on)?);
    }
    let e = source.engine(ctx)?;
    ctx.reporter.info(&format!(
        "--on auto with --data: {}, where {}'s data is",
        error::engine_words(e.as_deref()),
        source.label()
    ));
    Ok(e)
}

/// `--data local-prod|SANDBOX|SNAPSHOT` (or `--from`): `local-prod`, then a snapshot
/// of the project by that name, then a registered sandbox. Checked before anything
/// changes.
///
/// Read on a thread of its own that starts on this machine's engine: a source on
/// another engine is looked at there, and this command's own docker calls stay
/// where they are (the target's engine; [`same_engine`] then compares the two).
pub fn resolve_source(ctx: &Context, stack: &Stack, spec: &str, snapshots: bool) -> Result<Source> {
    engine::on_engine(None, || resolve_source_here(ctx, stack, spec, snapshots))
}

fn resolve_source_here(
    ctx: &Context,
    stack: &Stack,
    spec: &str,
    snapshots: bool,
) -> Result<Source> {
    if spec == "local-prod" {
        return Ok(Source::Instance(Box::new(instance::find(
            ctx,
            stack,
            Kind::LocalProd,
            None,
        )?)));
    }
    if snapshots {
        match find_snapshot(ctx, stack, spec) {
            Ok(s) => {
                // Saved before this check existed, or a sandbox made since: one
                // name for two sources is refused, never guessed.
                if let Ok(e) = instance::sandbox_entry(ctx, stack, Some(spec)) {
                    return Err(DataError::SourceAmbiguous {
                        spec: spec.into(),
                        sandbox: e.instance_id,
                    });
                }
                return Ok(Source::Snapshot(s));
            }
            Err(DataError::NoSuchSnapshot { .. }) => {}
            Err(e @ DataError::BadSnapshotName { .. }) => {
                // Not a snapshot name: it may still name a sandbox.
                if crate::support::validate::project_name(spec).is_err() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    if let Ok(e) = instance::sandbox_entry(ctx, stack, Some(spec))
        && std::path::Path::new(&e.path).is_dir()
    {
        check_same_project(ctx, stack, &e)?;
    }
    match instance::find(ctx, stack, Kind::Sandbox, Some(spec)) {
        Ok(i) => Ok(Source::Instance(Box::new(i))),
        Err(crate::Error::NoSuchInstance { .. }) if snapshots => {
            // This machine's, and those recorded on other engines (not dialled
            // for an error message).
            let mut known: Vec<String> =
                plan::snapshots(&engine::on_engine(None, engine::volumes)?)
                    .into_iter()
                    .filter(|s| s.project == stack.name)
                    .map(|s| s.name)
                    .collect();
            let recorded = ctx.registry().load()?.kinfra.snapshots;
            known.extend(
                recorded
                    .iter()
                    .filter(|(_, r)| r.engine.is_some())
                    .filter_map(|(k, _)| k.rsplit_once('/'))
                    .filter(|(p, _)| *p == stack.name)
                    .map(|(_, n)| n.to_string()),
            );
            known.sort();
            known.dedup();
            Err(DataError::NoSuchSource {
                spec: spec.into(),
                project: stack.name.clone(),
                snapshots: known,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// A registered sandbox is a source only for its own project: the registry holds
/// every project's, and another project's data is not this one's to copy.
fn check_same_project(
    ctx: &Context,
    stack: &Stack,
    e: &crate::state::registry::Entry,
) -> Result<()> {
    let theirs = crate::stack::for_dir(std::path::Path::new(&e.path), Some(&ctx.home))
        .map(|s| s.name)
        .map_err(|err| DataError::SourceProjectUnknown {
            id: e.instance_id.clone(),
            why: err.to_string(),
        })?;
    if theirs != stack.name {
        return Err(DataError::SourceOfOtherProject {
            id: e.instance_id.clone(),
            theirs,
            project: stack.name.clone(),
        });
    }
    Ok(())
}

/// The source's data volumes and, for a running instance, the containers to pause
/// and the images to copy with.
struct Prepared {
    volumes: Vec<plan::DataVolume>,
    freeze: Vec<String>,
    images: Vec<String>,
    /// `--online`: by index in `volumes`, the Postgres to stream each from.
    online: Vec<copy::Online>,
    /// For the person: which volumes and why.
    said: Option<String>,
}

impl Prepared {
    /// The copy of `pairs`, pausing and copying with what was found here.
    fn job(self, pairs: Vec<copy::Pair>) -> copy::Job {
        copy::Job {
            pairs,
            freeze: self.freeze,
            images: self.images,
            online: self.online,
        }
    }
}

/// How a copy is taken from a running source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct How {
    /// Postgres volumes streamed from their running server (`pg_basebackup`),
    /// which is not paused; other volumes as usual.
    pub online: bool,
}

fn prepare(stack: &Stack, source: &Source, rows: &[plan::VolumeRow], how: How) -> Result<Prepared> {
    match source {
        Source::Snapshot(s) if how.online => Err(DataError::OnlineSnapshot {
            name: s.name.clone(),
        }),
        Source::Snapshot(s) => Ok(Prepared {
            volumes: s.volumes.clone(),
            freeze: Vec::new(),
            // The images of the instance it was taken from (a Postgres image's GNU
            // cp can share blocks where busybox's cannot).
            images: engine::holders(&s.source)
                .map(|hs| hs.into_iter().map(|h| h.image).collect())
                .unwrap_or_default(),
            online: Vec::new(),
            said: None,
        }),
        Source::Instance(i) => {
            let sel = plan::select(rows, i.id(), &stack.data);
            if sel.data.is_empty() {
                return Err(DataError::NoData {
                    instance: i.id().to_string(),
                    why: if sel.skipped.is_empty() {
                        "compose has created none (it never started)".into()
                    } else {
                        sel.describe()
                    },
                });
            }
            let holders = engine::holders(i.id())?;
            let online = if how.online {
                find_online(i.id(), &sel.data, &holders)?
            } else {
                Vec::new()
            };
            // Volumes copied by files: their writers are paused for it.
            let names: Vec<&str> = sel
                .data
                .iter()
                .enumerate()
                .filter(|(n, _)| !online.iter().any(|o| o.index == *n))
                .map(|(_, d)| d.name.as_str())
                .collect();
            let all: Vec<&str> = sel.data.iter().map(|d| d.name.as_str()).collect();
            let writes = |h: &engine::Holder| h.mounts.iter().any(|m| all.contains(&m.as_str()));
            let freeze = holders
                .iter()
                .filter(|h| h.running && !h.paused)
                .filter(|h| h.mounts.iter().any(|m| names.contains(&m.as_str())))
                .map(|h| h.id.clone())
                .collect();
            let mut images: Vec<String> = holders
                .iter()
                .filter(|h| writes(h))
                .chain(holders.iter())
                .map(|h| h.image.clone())
                .collect();
            images.dedup();
            Ok(Prepared {
                said: Some(sel.describe()),
                online,
                volumes: sel.data,
                freeze,
                images,
            })
        }
    }
}

/// `--online`: each data volume a running Postgres serves, with where its data
/// directory is inside it. None found is an error that says why.
fn find_online(
    id: &str,
    data: &[plan::DataVolume],
    holders: &[engine::Holder],
) -> Result<Vec<copy::Online>> {
    let mut online = Vec::new();
    let mut outside = Vec::new();
    for h in holders.iter().filter(|h| h.running && !h.paused) {
        let serves: Vec<usize> = (0..data.len())
            .filter(|n| h.mounts.contains(&data[*n].name))
            .collect();
        if serves.is_empty() {
            continue;
        }
        let Some(server) = engine::postgres_in(&h.id) else {
            continue;
        };
        for (name, dest) in engine::mount_points(&h.id)? {
            let Some(n) = serves.iter().copied().find(|n| data[*n].name == name) else {
                continue;
            };
            if online.iter().any(|o: &copy::Online| o.index == n) {
                // Served by two containers: one stream is the copy.
                continue;
            }
            match plan::data_dir_within(&dest, &server.data_dir) {
                Some(rel) => online.push(copy::Online {
                    index: n,
                    container: h.id.clone(),
                    rel,
                    server: server.clone(),
                }),
                None => outside.push(format!("{name} (mounted at {dest})")),
            }
        }
    }
    if online.is_empty() {
        let why = if holders.iter().any(|h| h.running) {
            if outside.is_empty() {
                "no running Postgres (with pg_basebackup, answering a local connection as `postgres`) mounts one of its data volumes".to_string()
            } else {
                format!(
                    "its Postgres keeps its data directory outside its data volume(s) {}",
                    outside.join(", ")
                )
            }
        } else {
            "it is not running (a stopped instance is copied as it is, with no pause)".to_string()
        };
        return Err(DataError::OnlineRefused {
            id: id.to_string(),
            why,
        });
    }
    Ok(online)
}

/// One line for the person about a finished copy.
pub fn describe(c: &Copied, what: &str, source: &str) -> String {
    let files = crate::support::units::human_bytes(c.bytes);
    let secs = c.millis as f64 / 1000.0;
    let mut s = if c.online.is_empty() {
        format!(
            "{what} from {source}: {}, {files} in {secs:.1} s",
            c.method.label()
        )
    } else {
        format!(
            "{what} from {source}: {} online from its running Postgres (pg_basebackup, not paused), the rest by {}; {files} in {secs:.1} s",
            c.online.join(", "),
            c.method.label()
        )
    };
    if let Some(p) = c.paused_ms {
        s.push_str(&format!("; {source} was paused {p} ms"));
    }
    s
}
