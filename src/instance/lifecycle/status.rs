//! `status` of one instance and `list` of all of them, from one `docker ps` call.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::instance::error::Result;
use crate::instance::{Instance, Kind};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::state::registry::Entry;
use crate::tools::docker::{self, Container};

#[derive(Debug, Clone, Serialize)]
pub struct ServiceState {
    pub service: String,
    pub state: String,
    pub health: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub instance_id: String,
    pub kind: &'static str,
    pub slot: u8,
    pub path: PathBuf,
    pub state: String,
    pub registered: bool,
    pub ports: std::collections::BTreeMap<String, u16>,
    pub services: Vec<ServiceState>,
    /// Directories that containers of the same compose project were started from
    /// (another clone, kinfra home or a manual run): not this instance's.
    pub foreign: Vec<String>,
    /// What the instance shares with other instances on purpose (an external
    /// network, a volume the repository shares, a host-network service).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<String>,
}

/// Splits a project's containers into this directory's and the directories the
/// others were started from. Compose names projects, not directories, so the same
/// name may be running from somewhere else.
pub fn split_foreign(cs: Vec<Container>, dir: &Path) -> (Vec<Container>, Vec<String>) {
    let (own, other): (Vec<Container>, Vec<Container>) =
        cs.into_iter().partition(|c| docker::started_from(c, dir));
    let dirs: std::collections::BTreeSet<String> =
        other.into_iter().map(|c| c.working_dir).collect();
    (own, dirs.into_iter().collect())
}

/// The state of an instance's own containers, "foreign" when only another
/// directory's containers carry its project name.
fn state_of(own: &[Container], foreign: &[String]) -> String {
    if own.is_empty() && !foreign.is_empty() {
        "foreign".into()
    } else {
        summarize(own)
    }
}

/// running / partial x/y / stopped, from the project's containers.
pub fn summarize(cs: &[Container]) -> String {
    let total = cs.len();
    let running = cs.iter().filter(|c| c.running()).count();
    match (running, total) {
        (_, 0) | (0, _) => "stopped".into(),
        (r, t) if r == t => "running".into(),
        (r, t) => format!("partial {r}/{t}"),
    }
}

pub fn status(ctx: &Context, inst: &Instance) -> Result<Status> {
    let (cs, foreign) = split_foreign(docker::containers(Some(inst.id()))?, &inst.dir);
    let registered = ctx.registry().load()?.entry_at(&inst.dir).is_some();
    let mut services: Vec<ServiceState> = cs
        .iter()
        .map(|c| ServiceState {
            service: c.service.clone(),
            state: c.state.clone(),
            health: c.health().map(|h| h.as_str().to_string()),
            status: c.status.clone(),
        })
        .collect();
    services.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(Status {
        instance_id: inst.id().into(),
        kind: inst.kind.label(),
        slot: inst.env.slot,
        path: inst.dir.clone(),
        state: state_of(&cs, &foreign),
        registered,
        ports: inst.env.ports.iter().cloned().collect(),
        services,
        foreign,
        shared: crate::instance::placement::resolve::cached_shared(ctx, inst.id()),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct ListRow {
    pub instance_id: String,
    /// The project (stack) it is an instance of.
    pub project: String,
    pub kind: &'static str,
    pub slot: u8,
    /// running, partial x/y, stopped, foreign, directory missing, unknown (Docker
    /// unreachable)
    pub state: String,
    /// Directories other containers of this project name were started from.
    pub foreign: Vec<String>,
    pub api_port: Option<u16>,
    pub path: String,
    pub created_at: String,
    pub age: String,
    /// Memory its containers used after its last successful start (bytes).
    pub memory: Option<u64>,
    /// The engine on another machine it is placed on (`None`: this machine's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// `sandbox list`'s answer, the same document for the CLI's `--json` and MCP `list`.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub instances: Vec<ListRow>,
    /// Why Docker could not be asked (the states are then "unknown").
    pub docker_error: Option<String>,
}

/// `status`'s answer, the same document for the CLI's `--json` and MCP `status`:
/// the instance, and the shared and host services it works with.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    #[serde(flatten)]
    pub status: Status,
    pub shared_services: Vec<crate::instance::shared::services::SharedState>,
    pub host_services: Vec<crate::instance::host::services::HostState>,
    /// The engine on another machine it is placed on (`None`: this machine's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// The status of `inst` with its shared services (one `docker ps` more, only when
/// the stack declares some) and, for local-prod, its host services.
pub fn report(ctx: &Context, stack: &Stack, inst: &Instance) -> Result<StatusReport> {
    let status = status(ctx, inst)?;
    let shared_services = if stack.shared.is_empty() {
        Vec::new()
    } else {
        crate::instance::shared::services::status(stack).unwrap_or_default()
    };
    let host_services = if inst.kind == Kind::LocalProd {
        crate::instance::host::services::status(ctx, stack, inst)
    } else {
        Vec::new()
    };
    let engine = ctx
        .registry()
        .load()?
        .kinfra
        .placements
        .get(inst.id())
        .cloned();
    Ok(StatusReport {
        status,
        shared_services,
        host_services,
        engine,
    })
}

/// Every registered instance (local-prod first), with one Docker query for all.
pub fn list(ctx: &Context, stack: &Stack) -> Result<Listing> {
    let reg = ctx.registry().load()?;
    let (groups, docker_error) =
        if reg.local_prod.is_none() && reg.instances.is_empty() && reg.pool_slots().is_empty() {
            (Some(Default::default()), None) // nothing to ask Docker about
        } else {
            match docker::containers(None) {
                Ok(cs) => (Some(docker::by_project(cs)), None),
                Err(e) => (None, Some(e.to_string())),
            }
        };
    let now = jiff::Timestamp::now();
    let remote = remote_groups(&reg);
    let row = |e: &Entry| {
        let engine = reg.kinfra.placements.get(&e.instance_id).cloned();
        let groups = match &engine {
            Some(name) => remote.get(name).cloned().unwrap_or(None),
            None => groups.clone(),
        };
        let (own, foreign) = match &groups {
            Some(g) => {
                let cs = g.get(&e.instance_id).cloned().unwrap_or_default();
                let (own, foreign) = split_foreign(cs, Path::new(&e.path));
                (Some(own), foreign)
            }
            None => (None, Vec::new()),
        };
        let state = if !Path::new(&e.path).is_dir() {
            "directory missing".to_string()
        } else {
            match (&own, &engine) {
                (Some(own), _) => state_of(own, &foreign),
                (None, Some(name)) => format!("unknown (engine {name} unreachable)"),
                (None, None) => "unknown".to_string(),
            }
        };
        let project = crate::stack::compat::project_of(&reg.kinfra, stack, &e.instance_id);
        // The port shown: the stack's API port for an env-driven project known here,
        // else the first web port kinfra chose for it.
        let described = crate::stack::compat::by_name(stack, &project);
        let api_port = match (reg.kinfra.ports.get(&e.instance_id), described) {
            (Some(chosen), d) => d
                .and_then(|st| chosen.get(&st.api_port_key).copied())
                .or_else(|| crate::stack::ports::main_port(chosen)),
            (None, Some(st)) => crate::stack::ports::for_slot(st, e.slot)
                .into_iter()
                .find(|(k, _)| *k == st.api_port_key)
                .map(|(_, p)| p),
            (None, None) => None,
        };
        ListRow {
            instance_id: e.instance_id.clone(),
            project,
            kind: Kind::of_slot(e.slot).label(),
            slot: e.slot,
            state,
            foreign,
            api_port,
            path: e.path.clone(),
            created_at: e.created_at.clone(),
            age: age(&e.created_at, now),
            memory: reg.kinfra.footprints.get(&e.instance_id).copied(),
            engine,
        }
    };
    let mut rows: Vec<ListRow> = reg.local_prod.iter().map(row).collect();
    let mut sandboxes: Vec<ListRow> = reg.instances.values().map(row).collect();
    sandboxes.sort_by_key(|r| r.slot);
    rows.extend(sandboxes);
    // The Python tools' pool: theirs, shown so its ports and projects are known.
    rows.extend(pool_rows(&reg, groups.as_ref(), now));
    // Grouped by project (in order of first appearance), local-prod first in each.
    let mut order: Vec<String> = Vec::new();
    for r in &rows {
        if !order.contains(&r.project) {
            order.push(r.project.clone());
        }
    }
    rows.sort_by_key(|r| order.iter().position(|p| *p == r.project));
    Ok(Listing {
        instances: rows,
        docker_error,
    })
}

/// The containers of each engine on another machine that an instance is placed on,
/// by project, each engine asked at once (`None`: it did not answer).
fn remote_groups(
    reg: &crate::state::registry::Contents,
) -> std::collections::BTreeMap<String, Option<std::collections::BTreeMap<String, Vec<Container>>>>
{
    let mut names: Vec<&String> = reg.kinfra.placements.values().collect();
    names.sort();
    names.dedup();
    std::thread::scope(|s| {
        let handles: Vec<_> = names
            .into_iter()
            .map(|name| {
                let record = reg.kinfra.engines.get(name).cloned();
                s.spawn(move || {
                    let cs = record
                        .and_then(|r| crate::engine::Engine::from_record(name, &r).ok())
                        .and_then(|e| crate::engine::remote::containers(&e).ok());
                    (name.clone(), cs.map(docker::by_project))
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

/// The Python tools' pooled slots as `list` rows.
fn pool_rows(
    reg: &crate::state::registry::Contents,
    groups: Option<&std::collections::BTreeMap<String, Vec<Container>>>,
    now: jiff::Timestamp,
) -> Vec<ListRow> {
    reg.pool_slots()
        .into_iter()
        .map(|p| ListRow {
            instance_id: p.project.clone(),
            project: crate::stack::compat::pool_project(),
            kind: "pool slot",
            slot: p.slot,
            state: match groups {
                Some(g) => state_of(&g.get(&p.project).cloned().unwrap_or_default(), &[]),
                None => "unknown".to_string(),
            },
            foreign: Vec::new(),
            api_port: p.api_port,
            path: p.path.clone(),
            age: if p.claimed_at.is_empty() {
                "-".into()
            } else {
                age(&p.claimed_at, now)
            },
            created_at: p.claimed_at,
            memory: None,
            engine: None,
        })
        .collect()
}

/// "3d", "5h", "12m", "40s"; "?" when the timestamp cannot be read. Timestamps
/// without an offset (the Python tool's) are taken as UTC.
pub fn age(created: &str, now: jiff::Timestamp) -> String {
    let ts = created.parse::<jiff::Timestamp>().ok().or_else(|| {
        created
            .parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp())
    });
    let Some(ts) = ts else { return "?".into() };
    let secs = now.as_second() - ts.as_second();
    match secs {
        s if s < 0 => "0s".into(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::docker::parse_ps;

    #[test]
    fn states() {
        let cs = parse_ps("a\tp\tdb\trunning\tUp\tn\t\nb\tp\tapi\texited\tExited (1)\tn2\t\n");
        assert_eq!(summarize(&cs), "partial 1/2");
        assert_eq!(summarize(&cs[..1]), "running");
        assert_eq!(summarize(&cs[1..]), "stopped");
        assert_eq!(summarize(&[]), "stopped");
    }

    #[test]
    fn another_directorys_containers_are_foreign() {
        let cs = parse_ps(
            "a\tp\tdb\trunning\tUp\tn\t\t/home/u/p\nb\tp\tapi\trunning\tUp\tn2\t\t/elsewhere/p\n",
        );
        let (own, foreign) = split_foreign(cs.clone(), Path::new("/home/u/p"));
        assert_eq!(own.len(), 1);
        assert_eq!(foreign, vec!["/elsewhere/p"]);
        assert_eq!(state_of(&own, &foreign), "running");
        let (own, foreign) = split_foreign(cs[1..].to_vec(), Path::new("/home/u/p"));
        assert_eq!(state_of(&own, &foreign), "foreign");
    }

    #[test]
    fn ages() {
        let now: jiff::Timestamp = "2026-01-03T00:00:00Z".parse().unwrap();
        assert_eq!(age("2026-01-01T00:00:00Z", now), "2d");
        assert_eq!(age("2026-01-02T23:00:00.123456", now), "1h");
        assert_eq!(age("2026-01-02T23:59:30+00:00", now), "30s");
        assert_eq!(age("yesterday", now), "?");
    }
}
