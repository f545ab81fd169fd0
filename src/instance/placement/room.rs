//! Making room: when `up` would exceed the machine budget, the least recently used
//! idle sandbox of this kinfra home is stopped instead of refusing (`up
//! --make-room`, or asked at a terminal), and `up` says which. "Use" is what the
//! router's idle stop counts: a request to the instance by name (the router writes
//! when it last saw one to `router/seen.json`) and a kinfra command on it (its lock
//! file's time). Idle: no use for [`MIN_IDLE`] and no kinfra command holding its
//! lock now. Stopping is kinfra's own `sandbox down` in its registered directory:
//! containers stop, nothing is removed; local-prod never.
//!
//! All or nothing: when stopping every idle sandbox would still not make room,
//! none is stopped (the refusal, or `--wait`'s queue, as without the flag).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::budget::{Limits, Running};
use crate::instance::error::{Error, Result};
use crate::state::context::Context;
use crate::state::home::Home;
use crate::support::units::human_bytes;

/// Used this recently, a sandbox is someone's now (a page being clicked through,
/// a command that just ran): never stopped to make room.
pub const MIN_IDLE: Duration = Duration::from_secs(10);

/// The most of `router/seen.json` read (a line per instance; anything bigger is
/// not the router's).
const MAX_SEEN: u64 = 256 * 1024;

/// Where the router writes when it last saw a request for each instance by name.
pub fn seen_file(home: &Home) -> PathBuf {
    home.router_dir().join("seen.json")
}

/// When the router last saw a request for each instance by name (ms since the
/// epoch); empty when no router wrote one, or the file is not its.
pub fn read_seen(home: &Home) -> BTreeMap<String, u64> {
    crate::support::fsutil::read_regular(&seen_file(home), MAX_SEEN)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The router's side: its last requests by name, for `up --make-room` to read.
pub fn write_seen(home: &Home, seen: &BTreeMap<String, u64>) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(seen).map_err(std::io::Error::other)?;
    crate::support::fsutil::write_atomic(&seen_file(home), &bytes, Some(0o600))
}

/// Milliseconds since the epoch (what `seen.json` records).
pub fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// How a running instance has been used, as making room judges it.
#[derive(Debug, Clone, PartialEq)]
pub struct Use {
    /// A sandbox (local-prod is never stopped to make room).
    pub sandbox: bool,
    /// A kinfra command holds its lock now (an `up`, a `down`, a data copy).
    pub busy: bool,
    /// Its last use (ms since the epoch): a request by name or a kinfra command.
    pub last_ms: Option<u64>,
}

/// One sandbox to stop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evict {
    pub instance_id: String,
    /// Seconds since its last use (none recorded: `None`).
    pub idle_secs: Option<u64>,
    pub memory: Option<u64>,
}

impl Evict {
    /// "shop-b (idle 12 min, 1.2 GiB)".
    pub fn describe(&self) -> String {
        let idle = match self.idle_secs {
            Some(s) if s < 120 => format!("idle {s} s"),
            Some(s) if s < 7200 => format!("idle {} min", s / 60),
            Some(s) => format!("idle {} h", s / 3600),
            None => "never used".into(),
        };
        let mem = self
            .memory
            .map(human_bytes)
            .unwrap_or_else(|| "memory not recorded".into());
        format!("{} ({idle}, {mem})", self.instance_id)
    }
}

/// Pure: the idle sandboxes to stop, least recently used first, so that `mine`
/// fits beside what stays running under `limits`; `None` when even stopping every
/// idle one would not make room (then none is stopped). Empty: it fits already.
pub fn plan(
    limits: &Limits,
    memory_total: Option<u64>,
    running: &[Running],
    uses: &BTreeMap<String, Use>,
    mine: Option<u64>,
    now_ms: u64,
) -> Option<Vec<Evict>> {
    let min_idle = u64::try_from(MIN_IDLE.as_millis()).unwrap_or(u64::MAX);
    let mut idle: Vec<(&Running, Option<u64>)> = running
        .iter()
        .filter_map(|r| {
            let u = uses.get(&r.instance_id)?;
            let since = u.last_ms.map(|t| now_ms.saturating_sub(t));
            (u.sandbox && !u.busy && since.is_none_or(|s| s >= min_idle)).then_some((r, u.last_ms))
        })
        .collect();
    // Least recently used first: never used before any used, then oldest; by name last.
    idle.sort_by(|a, b| (a.1, &a.0.instance_id).cmp(&(b.1, &b.0.instance_id)));
    let mut left: Vec<Running> = running.to_vec();
    let mut chosen = Vec::new();
    for (r, last) in idle {
        if super::budget::verdict(limits, memory_total, &left, mine).is_ok() {
            break;
        }
        left.retain(|x| x.instance_id != r.instance_id);
        chosen.push(Evict {
            instance_id: r.instance_id.clone(),
            idle_secs: last.map(|t| now_ms.saturating_sub(t) / 1000),
            memory: r.memory,
        });
    }
    super::budget::verdict(limits, memory_total, &left, mine)
        .is_ok()
        .then_some(chosen)
}

/// What stopping would free, read now: the plan, and each sandbox's directory.
pub struct Plan {
    pub stop: Vec<Evict>,
    dirs: BTreeMap<String, String>,
}

impl Plan {
    /// "a (idle 3 min, 1 GiB), b (…)".
    pub fn describe(&self) -> String {
        self.stop
            .iter()
            .map(Evict::describe)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The plan for starting `id` now (`None`: no idle sandbox would make room).
pub fn plan_for(ctx: &Context, stack: &crate::stack::Stack, id: &str) -> Result<Option<Plan>> {
    let limits = Limits::for_stack(stack)?;
    let state = ctx.registry().load()?;
    let mine = state.kinfra.footprints.get(id).copied();
    let (running, total) = super::budget::running_now(&state, &limits, id, mine)?;
    let seen = read_seen(&ctx.home);
    let uses: BTreeMap<String, Use> = running
        .iter()
        .map(|r| {
            let id = &r.instance_id;
            let command = std::fs::metadata(ctx.home.lock_file(id))
                .and_then(|m| m.modified())
                .ok()
                .map(epoch_ms);
            let last_ms = seen.get(id).copied().max(command);
            let u = Use {
                sandbox: state.instances.contains_key(id),
                busy: crate::instance::model::lock::held(ctx, id),
                last_ms,
            };
            (id.clone(), u)
        })
        .collect();
    let dirs = state
        .instances
        .values()
        .map(|e| (e.instance_id.clone(), e.path.clone()))
        .collect();
    Ok(plan(
        &limits,
        total,
        &running,
        &uses,
        mine,
        epoch_ms(SystemTime::now()),
    )
    .map(|stop| Plan { stop, dirs }))
}

/// Stops the plan's sandboxes (kinfra's own `sandbox down` in each one's
/// registered directory, so each is stopped with its own stack's description),
/// saying which; the first that fails to stop ends it.
pub fn apply(ctx: &Context, plan: &Plan, for_id: &str) -> Result<()> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::io("could not find kinfra's own binary", "/proc/self/exe", e))?;
    for e in &plan.stop {
        let dir = plan.dirs.get(&e.instance_id).cloned().unwrap_or_default();
        if !std::path::Path::new(&dir).is_dir() {
            return Err(Error::RoomDirGone {
                id: e.instance_id.clone(),
                dir,
            });
        }
        ctx.reporter.step(&format!(
            "Stopping {} to make room for {for_id}",
            e.describe()
        ));
        crate::support::exec::Cmd::new(&exe)
            .args(["-q", "sandbox", "down"])
            .env(crate::support::env_vars::EnvVars::KINFRA_HOME, &ctx.home)
            .current_dir(&dir)
            .run()
            .map_err(|source| Error::RoomNotMade {
                id: e.instance_id.clone(),
                for_id: for_id.to_string(),
                source: Box::new(source),
            })?;
        // A warning (shown under --quiet too, and in the router's wake log):
        // another sandbox than the one asked for was stopped.
        ctx.reporter.warn(&format!(
            "stopped {} to make room for {for_id} (containers stopped, nothing removed; `kinfra sandbox up {}` starts it again)",
            e.describe(),
            e.instance_id
        ));
    }
    Ok(())
}

/// The budget for starting `id`: it fits; or the least recently used idle
/// sandboxes are stopped to make room (`make_room`, or the person at a terminal
/// says so when asked); or the refusal, as without making room.
pub fn check_or_make(
    ctx: &Context,
    stack: &crate::stack::Stack,
    id: &str,
    make_room: bool,
) -> Result<()> {
    let over = match super::budget::check(ctx, stack, id) {
        Ok(()) => return Ok(()),
        Err(e @ Error::OverBudget { .. }) => e,
        Err(e) => return Err(e),
    };
    let Some(plan) = plan_for(ctx, stack, id)?.filter(|p| !p.stop.is_empty()) else {
        return Err(match over {
            Error::OverBudget {
                id, why, running, ..
            } => Error::OverBudget {
                id,
                why,
                running,
                room_asked: make_room,
            },
            e => e,
        });
    };
    // Never a question without a terminal: there the flag decides.
    let go = make_room
        || (ctx.interactive && {
            ctx.reporter.warn(&over.to_string());
            ctx.prompter.confirm(
                &format!(
                    "Stop {} to make room for {id}? (containers stop, nothing is removed)",
                    plan.describe()
                ),
                true,
            )?
        });
    if !go {
        return Err(over);
    }
    apply(ctx, &plan, id)?;
    super::budget::check(ctx, stack, id)
}

/// For a start waiting in line: stops idle sandboxes when that makes room now;
/// whether it stopped any.
pub fn make(ctx: &Context, stack: &crate::stack::Stack, id: &str) -> Result<bool> {
    match plan_for(ctx, stack, id)?.filter(|p| !p.stop.is_empty()) {
        Some(plan) => apply(ctx, &plan, id).map(|()| true),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: &str, m: u64) -> Running {
        Running {
            instance_id: id.into(),
            memory: Some(m),
        }
    }
    fn u(sandbox: bool, busy: bool, last_ms: Option<u64>) -> Use {
        Use {
            sandbox,
            busy,
            last_ms,
        }
    }
    const NOW: u64 = 1_000_000_000;
    const MIN: u64 = 60_000;

    fn ids(p: Option<Vec<Evict>>) -> Option<Vec<String>> {
        p.map(|v| v.into_iter().map(|e| e.instance_id).collect())
    }

    #[test]
    fn the_least_recently_used_idle_sandbox_goes_first() {
        let mem = Limits {
            max_running: None,
            memory: None,
        };
        let running = [r("a", 400), r("b", 400), r("c", 400)];
        let uses: BTreeMap<String, Use> = [
            ("a".to_string(), u(true, false, Some(NOW - 5 * MIN))),
            ("b".to_string(), u(true, false, Some(NOW - 20 * MIN))),
            ("c".to_string(), u(true, false, Some(NOW - 10 * MIN))),
        ]
        .into();
        // 1200 of 1500 used; 400 more needs one stopped: b, the oldest use.
        let p = plan(&mem, Some(1500), &running, &uses, Some(400), NOW);
        assert_eq!(ids(p.clone()), Some(vec!["b".to_string()]));
        let e = &p.unwrap()[0];
        assert_eq!(e.idle_secs, Some(20 * 60));
        assert_eq!(e.memory, Some(400));
        // 701 more: two, oldest first (700 fits beside two: 1500 of 1500).
        assert_eq!(
            ids(plan(&mem, Some(1500), &running, &uses, Some(700), NOW)),
            Some(vec!["b".to_string()])
        );
        assert_eq!(
            ids(plan(&mem, Some(1500), &running, &uses, Some(701), NOW)),
            Some(vec!["b".to_string(), "c".to_string()])
        );
        // It fits already: nothing stopped.
        assert_eq!(
            ids(plan(&mem, Some(5000), &running, &uses, Some(700), NOW)),
            Some(vec![])
        );
        // More than stopping all three frees: none stopped.
        assert_eq!(
            ids(plan(&mem, Some(1500), &running, &uses, Some(1600), NOW)),
            None
        );
    }

    #[test]
    fn never_local_prod_a_busy_one_or_one_used_just_now() {
        let two = Limits {
            max_running: Some(2),
            memory: None,
        };
        let running = [r("prod", 1), r("busy", 1), r("fresh", 1), r("old", 1)];
        let just_now = NOW - u64::try_from(MIN_IDLE.as_millis()).unwrap() + 1;
        let mut uses: BTreeMap<String, Use> = [
            ("prod".to_string(), u(false, false, None)),
            ("busy".to_string(), u(true, true, Some(NOW - 90 * MIN))),
            ("fresh".to_string(), u(true, false, Some(just_now))),
            ("old".to_string(), u(true, false, Some(NOW - MIN))),
        ]
        .into();
        // Four running, two allowed: three must go, and only `old` may.
        assert_eq!(ids(plan(&two, None, &running, &uses, None, NOW)), None);
        // Three allowed: `old` alone makes room.
        let three = Limits {
            max_running: Some(4),
            memory: None,
        };
        assert_eq!(
            ids(plan(&three, None, &running, &uses, None, NOW)),
            Some(vec!["old".to_string()])
        );
        // Never used (no request, no command on record) goes before one used.
        uses.insert("never".into(), u(true, false, None));
        let running = [r("old", 1), r("never", 1), r("prod", 1), r("busy", 1)];
        assert_eq!(
            ids(plan(&three, None, &running, &uses, None, NOW)),
            Some(vec!["never".to_string()])
        );
        // An instance the uses do not know (not registered) is never stopped.
        let running = [r("stranger", 1), r("prod", 1), r("busy", 1), r("fresh", 1)];
        assert_eq!(ids(plan(&three, None, &running, &uses, None, NOW)), None);
    }
}
