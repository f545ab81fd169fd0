//! The machine budget: agents start stacks in bursts, and nine stacks starting at
//! once swap a laptop until the OOM killer takes the orchestrator. After a stack
//! passes its gate its containers' memory is recorded; before a start, what is
//! running (by its recorded memory) plus what this stack needed last time must fit
//! the engine's memory (or `KINFRA_MEMORY_BUDGET`), and the count of running stacks
//! must stay under `KINFRA_MAX_RUNNING` when set. Over budget, `up` refuses naming
//! what runs and what each uses, or with `--wait` queues: one ticket file per waiter
//! in `$KINFRA_HOME/queue`, the oldest live ticket alone re-checks, so starts go in
//! order without a thundering herd.
//!
//! Costs nothing when neither a limit is set nor this stack has a recorded memory.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::instance::error::{Error, Result};
use crate::state::context::Context;
use crate::support::env_vars::EnvVars;
use crate::support::error::SupportError;
use crate::support::units::human_bytes;

/// What keeps the engine and the VM (Docker Desktop) alive, off the engine's total.
const RESERVE: u64 = 1 << 30;

/// The limits in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub max_running: Option<usize>,
    /// Bytes the running stacks may use together; `None`: the engine's total minus
    /// a reserve (asked only when needed).
    pub memory: Option<u64>,
}

impl Limits {
    /// The stack's `[budget]`, with the environment's settings over it; a value that
    /// does not parse is an error, not ignored.
    pub fn for_stack(stack: &crate::stack::Stack) -> Result<Limits> {
        let env = Limits::from_env()?;
        Ok(Limits {
            max_running: env.max_running.or(stack.budget.max_running),
            memory: env.memory.or(stack.budget.memory),
        })
    }

    /// From the environment alone.
    pub fn from_env() -> Result<Limits> {
        let max_running = match crate::support::env_vars::get(EnvVars::KINFRA_MAX_RUNNING) {
            Some(v) => Some(
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| SupportError::BadVariable {
                        name: EnvVars::KINFRA_MAX_RUNNING,
                        value: v.clone(),
                        why: " is not a number of stacks".into(),
                    })?,
            ),
            None => None,
        };
        let memory = match crate::support::env_vars::get(EnvVars::KINFRA_MEMORY_BUDGET) {
            Some(v) => Some(crate::support::units::parse_bytes(&v).ok_or_else(|| {
                SupportError::BadVariable {
                    name: EnvVars::KINFRA_MEMORY_BUDGET,
                    value: v.clone(),
                    why: " is not a size (examples: 8G, 512M, 2000000000)".into(),
                }
            })?),
            None => None,
        };
        Ok(Limits {
            max_running,
            memory,
        })
    }
}

/// A running stack as the budget sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub instance_id: String,
    /// Its recorded memory, when known.
    pub memory: Option<u64>,
}

/// Pure: whether `mine` (recorded memory, if known) fits beside `running` under
/// `limits` with `memory_total` available; the reason when it does not.
pub fn verdict(
    limits: &Limits,
    memory_total: Option<u64>,
    running: &[Running],
    mine: Option<u64>,
) -> std::result::Result<(), String> {
    if let Some(max) = limits.max_running
        && running.len() >= max
    {
        return Err(format!(
            "{} stack(s) running, and KINFRA_MAX_RUNNING allows {max}",
            running.len()
        ));
    }
    let (Some(mine), Some(total)) = (mine, memory_total) else {
        return Ok(());
    };
    let used: u64 = running.iter().filter_map(|r| r.memory).sum();
    if used + mine > total {
        return Err(format!(
            "it needed {} last time; {} of {} is taken by the running stacks",
            human_bytes(mine),
            human_bytes(used),
            human_bytes(total)
        ));
    }
    Ok(())
}

/// Checks the budget for starting `id` now.
pub fn check(ctx: &Context, stack: &crate::stack::Stack, id: &str) -> Result<()> {
    let limits = Limits::for_stack(stack)?;
    let state = ctx.registry().load()?;
    let mine = state.kinfra.footprints.get(id).copied();
    if limits.max_running.is_none() && mine.is_none() {
        return Ok(());
    }
    let (running, total) = running_now(&state, &limits, id, mine)?;
    verdict(&limits, total, &running, mine).map_err(|why| Error::OverBudget {
        id: id.to_string(),
        room_asked: false,
        why,
        running: running
            .iter()
            .map(|r| {
                format!(
                    "{} ({})",
                    r.instance_id,
                    r.memory
                        .map(human_bytes)
                        .unwrap_or_else(|| "memory not recorded".into())
                )
            })
            .collect(),
    })
}

/// The registered stacks running now but `id` (with their recorded memory), and
/// the memory they may use together (asked of the engine only when needed).
pub fn running_now(
    state: &crate::state::registry::Contents,
    limits: &Limits,
    id: &str,
    mine: Option<u64>,
) -> Result<(Vec<Running>, Option<u64>)> {
    let registered: Vec<String> = state
        .local_prod
        .iter()
        .chain(state.instances.values())
        .map(|e| e.instance_id.clone())
        .collect();
    let by_project = crate::tools::docker::by_project(crate::tools::docker::containers(None)?);
    let running: Vec<Running> = registered
        .iter()
        .filter(|r| r.as_str() != id)
        .filter(|r| {
            by_project
                .get(*r)
                .is_some_and(|cs| cs.iter().any(|c| c.running()))
        })
        .map(|r| Running {
            instance_id: r.clone(),
            memory: state.kinfra.footprints.get(r).copied(),
        })
        .collect();
    let total = match (limits.memory, mine) {
        (Some(m), _) => Some(m),
        (None, Some(_)) => crate::tools::docker::engine_memory().map(|t| t.saturating_sub(RESERVE)),
        (None, None) => None,
    };
    Ok((running, total))
}

/// Records what `id`'s containers use now (after its gate passed).
/// [`record`], after this command: a fresh container's first stats sample takes the
/// engine about a second, which `up` must not wait for. A detached `kinfra` records
/// it (`kinfra internal record-footprint ID`); when that cannot start, it is done
/// here and now.
pub fn record_soon(ctx: &Context, id: &str) {
    let started = std::env::current_exe().ok().is_some_and(|exe| {
        crate::support::exec::Cmd::new(exe)
            .args(["internal", "record-footprint", id])
            .env(EnvVars::KINFRA_HOME, &ctx.home)
            .spawn_detached()
            .is_ok()
    });
    if !started {
        record(ctx, id);
    }
}

pub fn record(ctx: &Context, id: &str) {
    let Ok(cs) = crate::tools::docker::containers(Some(id)) else {
        return;
    };
    let ids: Vec<String> = cs
        .iter()
        .filter(|c| c.running())
        .map(|c| c.id.clone())
        .collect();
    if let Some(bytes) = crate::tools::docker::memory_usage(&ids) {
        let _ = ctx.registry().update(|c| {
            c.kinfra.footprints.insert(id.to_string(), bytes);
            Ok(())
        });
    }
}

/// A place in the start queue; leaving it (drop) lets the next waiter check.
pub struct Ticket {
    path: PathBuf,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn queue_dir(ctx: &Context) -> PathBuf {
    ctx.home.queue_dir()
}

/// The live tickets in order: oldest first. A ticket whose process is gone is
/// removed (a killed waiter must not block the queue).
fn tickets(dir: &Path) -> Vec<PathBuf> {
    let mut t: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    t.sort();
    t.retain(|p| {
        let pid = std::fs::File::open(p)
            .ok()
            .and_then(|mut f| {
                let mut s = String::new();
                f.read_to_string(&mut s).ok().map(|_| s)
            })
            .and_then(|s| s.trim().parse::<i32>().ok());
        let alive = pid.is_some_and(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        });
        if !alive && pid.is_some() {
            let _ = std::fs::remove_file(p);
        }
        alive || pid.is_none()
    });
    t
}

/// Waits in line until the budget lets `id` start; the ticket is kept until the
/// caller's start is over, so the next waiter sees this stack running.
/// `make_room` is asked first whenever this start is first in line and over
/// budget (`--make-room`: it stops idle sandboxes; `true`: it did, check again).
pub fn wait_turn(
    ctx: &Context,
    stack: &crate::stack::Stack,
    id: &str,
    make_room: &dyn Fn() -> Result<bool>,
) -> Result<Ticket> {
    let dir = queue_dir(ctx);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("could not create", &dir, e))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path = dir.join(format!("{nanos:024}-{}-{id}", std::process::id()));
    let mut f =
        std::fs::File::create(&path).map_err(|e| Error::io("could not create", &path, e))?;
    f.write_all(std::process::id().to_string().as_bytes())
        .map_err(|e| Error::io("could not write", &path, e))?;
    let ticket = Ticket { path };
    let poll = crate::support::env_vars::number(EnvVars::KINFRA_BUDGET_POLL_MS, 1)
        .ok()
        .flatten()
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(2));
    let mut said = String::new();
    loop {
        if crate::state::context::interrupted() {
            return Err(Error::interrupted());
        }
        let line = tickets(&dir);
        let first = line.first().is_some_and(|p| p == &ticket.path);
        if first {
            match check(ctx, stack, id) {
                Ok(()) => return Ok(ticket),
                Err(Error::OverBudget { why, .. }) => {
                    if make_room()? {
                        continue;
                    }
                    if why != said {
                        ctx.reporter.info(&format!("waiting for room: {why}"));
                        said = why;
                    }
                }
                Err(e) => return Err(e),
            }
        } else {
            let ahead = line.iter().take_while(|p| *p != &ticket.path).count();
            let msg = format!("waiting in line: {ahead} start(s) ahead");
            if msg != said {
                ctx.reporter.info(&msg);
                said = msg;
            }
        }
        std::thread::sleep(poll);
    }
}

/// Recorded memory by instance, for `list`.
pub fn footprints(ctx: &Context) -> BTreeMap<String, u64> {
    ctx.registry()
        .load()
        .map(|c| c.kinfra.footprints)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_counts_stacks_and_memory() {
        let r = |id: &str, m: Option<u64>| Running {
            instance_id: id.into(),
            memory: m,
        };
        let none = Limits::default();
        assert!(verdict(&none, None, &[r("a", None)], None).is_ok());
        let two = Limits {
            max_running: Some(2),
            memory: None,
        };
        assert!(verdict(&two, None, &[r("a", None)], None).is_ok());
        let e = verdict(&two, None, &[r("a", None), r("b", None)], None).unwrap_err();
        assert!(e.contains("KINFRA_MAX_RUNNING allows 2"), "{e}");
        // Memory: known footprints add up; an unknown one counts as nothing.
        assert!(verdict(&none, Some(1000), &[r("a", Some(600))], Some(400)).is_ok());
        let e = verdict(
            &none,
            Some(1000),
            &[r("a", Some(600)), r("b", None)],
            Some(401),
        )
        .unwrap_err();
        assert!(e.contains("needed 401 B last time"), "{e}");
        // Without a recorded footprint there is nothing to compare.
        assert!(verdict(&none, Some(10), &[r("a", Some(600))], None).is_ok());
    }
}
