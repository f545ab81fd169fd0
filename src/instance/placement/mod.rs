//! `--on auto`: the engine with the most room under its budget, this machine's or
//! one on another machine (`kinfra engine add`). Room is the engine's memory budget
//! (this machine's: `KINFRA_MEMORY_BUDGET` or the stack's `[budget]`, else its memory
//! less a reserve; another machine's: its memory less the reserve) less the memory
//! its running instances used after their last start. A tie stays on this machine.

pub mod budget;
pub mod resolve;
pub mod room;

use std::collections::BTreeMap;

use serde::Serialize;

use self::budget::Limits;
use crate::instance::error::Result;
use crate::state::context::Context;
use crate::tools::docker::{self, Container};

/// What keeps an engine alive, off its total (as the budget's reserve).
const RESERVE: u64 = 1 << 30;

/// One engine's room as `--on auto` weighed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Room {
    /// `None`: this machine's engine.
    pub engine: Option<String>,
    pub budget: u64,
    pub used: u64,
}

impl Room {
    fn free(&self) -> u64 {
        self.budget.saturating_sub(self.used)
    }
}

/// Pure: the engine with the most room (the first, this machine's, on a tie).
pub fn choose(rooms: &[Room]) -> Option<&Room> {
    rooms
        .iter()
        .fold(None, |best: Option<&Room>, r| match best {
            Some(b) if b.free() >= r.free() => Some(b),
            _ => Some(r),
        })
}

/// The engine `--on auto` places a new instance on (`None`: this machine's). An
/// engine that does not answer is left out, and said.
pub fn auto(ctx: &Context, stack: &crate::stack::Stack) -> Result<Option<String>> {
    let reg = ctx.registry().load()?;
    let footprints = &reg.kinfra.footprints;
    let used_by = |cs: &[Container], on: Option<&str>| -> u64 {
        let mut running: Vec<&str> = cs
            .iter()
            .filter(|c| c.running())
            .map(|c| c.project.as_str())
            .filter(|p| reg.kinfra.placements.get(*p).map(String::as_str) == on)
            .collect();
        running.sort_unstable();
        running.dedup();
        running.iter().filter_map(|p| footprints.get(*p)).sum()
    };
    let limits = Limits::for_stack(stack)?;
    let local_total = limits
        .memory
        .or_else(|| docker::engine_memory().map(|t| t.saturating_sub(RESERVE)))
        .unwrap_or(0);
    let mut rooms = vec![Room {
        engine: None,
        budget: local_total,
        used: used_by(&docker::containers(None).unwrap_or_default(), None),
    }];
    let engines = crate::engine::recorded(ctx)?;
    let looked: BTreeMap<String, Result<(u64, Vec<Container>)>> = std::thread::scope(|s| {
        let hs: Vec<_> = engines
            .iter()
            .map(|e| {
                s.spawn(move || {
                    let facts = crate::engine::look(e, std::time::Duration::from_secs(15), false);
                    let cs = crate::engine::remote::containers(e);
                    (
                        e.name.clone(),
                        facts
                            .and_then(|f| cs.map(|cs| (f.memory_bytes, cs)))
                            .map_err(crate::Error::from),
                    )
                })
            })
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for (name, r) in looked {
        match r {
            Ok((mem, cs)) => rooms.push(Room {
                used: used_by(&cs, Some(&name)),
                engine: Some(name),
                budget: mem.saturating_sub(RESERVE),
            }),
            Err(e) => ctx
                .reporter
                .warn(&format!("--on auto leaves out {name}: {e}")),
        }
    }
    let chosen = choose(&rooms).and_then(|r| r.engine.clone());
    ctx.reporter.info(&format!(
        "--on auto: {} ({})",
        chosen.as_deref().unwrap_or("this machine's engine"),
        rooms
            .iter()
            .map(|r| format!(
                "{}: {} free",
                r.engine.as_deref().unwrap_or("local"),
                crate::support::units::human_bytes(r.free())
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(chosen)
}

/// Where `--on` (the CLI's `create`, `impl`; the MCP server's `on`) places a new
/// sandbox: `None` for this machine's engine, else a recorded engine's name, checked
/// before anything is made. `auto` weighs the engines ([`auto`]). An address
/// (`ssh://…`) or a name with path or shell characters is refused with what to write
/// instead; an unknown name lists the known ones.
pub fn resolve_on(
    ctx: &Context,
    stack: &crate::stack::Stack,
    on: Option<&str>,
) -> Result<Option<String>> {
    match on {
        None => Ok(None),
        Some("auto") => auto(ctx, stack),
        Some(name) => {
            on_word(name).map_err(|why| crate::engine::error::EngineError::BadName { why })?;
            Ok(Some(crate::engine::named(ctx, name)?.name))
        }
    }
}

/// Pure: an `--on` value is `auto` or an engine's name, never an address.
pub fn on_word(on: &str) -> std::result::Result<(), String> {
    if on == "auto" {
        return Ok(());
    }
    if on.contains("://") || on.contains('@') {
        return Err(format!(
            "--on takes an engine's name or `auto`, not an address ({:?}): record the machine \
             first with `kinfra engine add NAME ssh://USER@HOST`, then place with --on NAME",
            on.chars().take(80).collect::<String>()
        ));
    }
    crate::engine::engine_name(on).map_err(|why| format!("--on: {why}"))
}

/// What `up --on` may do with where an instance already is. Pure: `placed` is its
/// engine (`None`: not placed on another one), `wanted` where `--on` says (`None`:
/// this machine's), `started_here` whether this machine's engine holds anything of it.
pub fn may_place(
    id: &str,
    placed: Option<&str>,
    wanted: Option<&str>,
    started_here: bool,
) -> std::result::Result<bool, String> {
    match (placed, wanted) {
        (Some(p), Some(w)) if p == w => Ok(false),
        (Some(p), _) => Err(format!(
            "{id} is placed on the engine {p}, and `--on` says {}: a sandbox stays on the engine \
             it was placed on (its volumes live there). Drop --on, or destroy it and create it \
             again with --on",
            wanted.unwrap_or("this machine's engine")
        )),
        (None, None) => Ok(false),
        (None, Some(w)) if started_here => Err(format!(
            "{id} has containers on this machine's engine (it was started here), so it cannot \
             be placed on {w}: `kinfra sandbox destroy` it and create it again with --on {w}"
        )),
        (None, Some(_)) => Ok(true),
    }
}

/// `up --on ENGINE|auto` for a sandbox: places it on that engine when it is not
/// placed yet and was never started here; the engine it is on already is accepted;
/// any other is refused with the reason. Before `up` (which then routes to it).
pub fn place_for_up(ctx: &Context, stack: &crate::stack::Stack, id: &str, on: &str) -> Result<()> {
    let wanted = resolve_on(ctx, stack, Some(on))?;
    let placed = ctx.registry().load()?.kinfra.placements.get(id).cloned();
    let started_here =
        placed.is_none() && wanted.is_some() && !docker::containers(Some(id))?.is_empty();
    let place = may_place(id, placed.as_deref(), wanted.as_deref(), started_here)
        .map_err(|why| crate::instance::error::Error::PlacementRefused { why })?;
    let Some(name) = wanted.filter(|_| place) else {
        return Ok(());
    };
    let e = crate::engine::named(ctx, &name)?;
    crate::engine::remote::connect(ctx, &e)?;
    ctx.registry().update_with(|c| {
        if !c.kinfra.engines.contains_key(&e.name) {
            return Err(crate::instance::error::Error::Engine(
                crate::engine::error::EngineError::NoSuchEngine {
                    name: e.name.clone(),
                    known: c.kinfra.engines.keys().cloned().collect(),
                },
            ));
        }
        if let Some(p) = c.kinfra.placements.get(id).filter(|p| **p != e.name) {
            return Err(crate::instance::error::Error::PlacedMeanwhile {
                id: id.into(),
                engine: p.clone(),
            });
        }
        c.kinfra.placements.insert(id.to_string(), e.name.clone());
        Ok(())
    })?;
    ctx.reporter.info(&format!("{id} placed on {}", e.name));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(e: Option<&str>, budget: u64, used: u64) -> Room {
        Room {
            engine: e.map(String::from),
            budget,
            used,
        }
    }

    #[test]
    fn the_most_room_wins_and_a_tie_stays_here() {
        let rooms = [
            room(None, 8, 2),
            room(Some("a"), 16, 4),
            room(Some("b"), 12, 0),
        ];
        assert_eq!(choose(&rooms).unwrap().engine.as_deref(), Some("a"));
        let tie = [room(None, 8, 0), room(Some("a"), 8, 0)];
        assert_eq!(choose(&tie).unwrap().engine, None);
        let full_here = [room(None, 1, 5), room(Some("a"), 2, 1)];
        assert_eq!(choose(&full_here).unwrap().engine.as_deref(), Some("a"));
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn on_is_auto_or_an_engine_name_never_an_address() {
        on_word("auto").unwrap();
        on_word("build-box").unwrap();
        for bad in [
            "ssh://dev@box",
            "dev@box",
            "tcp://1.2.3.4:2375",
            "../x",
            "a/b",
            "box;rm -rf ~",
            "$(id)",
            "-oProxyCommand=sh",
            "Box",
            "",
            "local",
        ] {
            let e = on_word(bad).unwrap_err();
            assert!(e.contains("--on"), "{bad:?}: {e}");
        }
        assert!(on_word("ssh://dev@box").unwrap_err().contains("engine add"));
    }

    #[test]
    fn up_on_places_a_new_sandbox_and_refuses_a_move() {
        assert_eq!(may_place("s", None, Some("box"), false), Ok(true));
        assert_eq!(may_place("s", Some("box"), Some("box"), false), Ok(false));
        assert_eq!(may_place("s", None, None, true), Ok(false));
        let moved = may_place("s", Some("box"), Some("gpu"), false).unwrap_err();
        assert!(
            moved.contains("placed on the engine box") && moved.contains("gpu"),
            "{moved}"
        );
        let back = may_place("s", Some("box"), None, false).unwrap_err();
        assert!(back.contains("this machine's engine"), "{back}");
        let here = may_place("s", None, Some("box"), true).unwrap_err();
        assert!(here.contains("started here"), "{here}");
    }
}
