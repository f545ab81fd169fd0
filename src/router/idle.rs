//! Idle stop: the router stops a sandbox after its project's `[router]
//! idle_stop` (else `KINFRA_IDLE_STOP`, the machine's default) without traffic
//! through the router (a request by name, bytes through a checked-out port) and
//! without a kinfra command on it (the instance lock file, which every command
//! that changes it writes, is newer then). Containers stop, nothing is removed
//! (kinfra's own `sandbox down` in its registered directory); never local-prod.
//! A request by name, or a connection to a checked-out port, wakes it again.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::names::Route;
use super::shared::Shared;
use crate::stack::IdleStop;
use crate::support::exec::Cmd;

pub const VAR: &str = crate::support::env_vars::EnvVars::KINFRA_IDLE_STOP;

pub use crate::support::units::parse_duration as parse;

/// How often the descriptions are looked at when no sandbox has an idle stop
/// (a project that gains one is seen this soon).
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// How long ago a kinfra command last took the instance's lock.
fn since_command(shared: &Shared, id: &str) -> Option<Duration> {
    let m = std::fs::metadata(shared.ctx.home.lock_file(id)).ok()?;
    SystemTime::now().duration_since(m.modified().ok()?).ok()
}

pub fn runs(route: &Route) -> bool {
    route.services.iter().any(|s| {
        std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], s.port)),
            Duration::from_millis(200),
        )
        .is_ok()
    })
}

/// Pure: the idle stop of an instance: its description's (`"off"` included)
/// wins over the machine's default.
pub fn effective(described: Option<IdleStop>, default: Option<Duration>) -> Option<Duration> {
    match described {
        Some(i) => i.after(),
        None => default,
    }
}

/// Pure: how long the watcher sleeps: a quarter of the shortest idle stop, from
/// 1 s to 30 s; [`LOOK_EVERY`] when none has one.
pub fn next_look(idles: &[Duration]) -> Duration {
    idles.iter().min().map_or(LOOK_EVERY, |i| {
        (*i / 4).clamp(Duration::from_secs(1), Duration::from_secs(30))
    })
}

/// Looks at every sandbox, then sleeps as [`next_look`] says, for good.
pub async fn watch(shared: Arc<Shared>, default: Option<Duration>, started: Instant) {
    loop {
        let s = shared.clone();
        let next = tokio::task::spawn_blocking(move || sweep(&s, default, started))
            .await
            .unwrap_or(LOOK_EVERY);
        tokio::time::sleep(next).await;
    }
}

/// The idle stop `route`'s description asks for (read from its directory as
/// every command reads it, so an edit holds at the next look); a description
/// that does not parse is said in the log once and the machine's default holds.
fn described(route: &Route, shared: &Shared) -> Option<IdleStop> {
    static SAID: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    match crate::stack::for_dir(Path::new(&route.path), Some(&shared.ctx.home)) {
        Ok(s) => s.router.idle_stop,
        Err(e) => {
            let line = format!(
                "kinfra router: {}'s description is not read ({e}); the machine's idle stop holds",
                route.instance
            );
            if SAID.lock().is_ok_and(|mut s| s.insert(line.clone())) {
                crate::errln!("{line}");
            }
            None
        }
    }
}

fn sweep(shared: &Shared, default: Option<Duration>, started: Instant) -> Duration {
    let mut idles = Vec::new();
    for route in shared.table().iter() {
        if route.kind != "sandbox" || !Path::new(&route.path).is_dir() {
            continue;
        }
        let Some(idle) = effective(described(route, shared), default) else {
            continue;
        };
        idles.push(idle);
        let used = shared
            .last_seen
            .get(&route.instance)
            .unwrap_or(started)
            .elapsed();
        let commanded = since_command(shared, &route.instance).unwrap_or(Duration::MAX);
        if used < idle || commanded < idle || !runs(route) {
            continue;
        }
        if stop(shared, route).is_ok() {
            crate::errln!(
                "kinfra router: stopping {} (idle {} s)",
                route.instance,
                used.as_secs()
            );
            shared.last_seen.touch(&route.instance);
        }
    }
    next_look(&idles)
}

/// Stops `route`'s sandbox as `sandbox down` does (its output to
/// `router/idle.log`); idle stop and the page's stop button. A start under way
/// is forgotten, so the next request starts it again.
pub fn stop(shared: &Shared, route: &Route) -> Result<(), super::wake::NotWoken> {
    use super::wake::NotWoken;
    super::wake::check(&shared.ctx, route)?;
    let log = shared.ctx.home.router_dir().join("idle.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|_| NotWoken::Failed)?;
    let exe = std::env::current_exe().map_err(|_| NotWoken::Failed)?;
    Cmd::new(&exe)
        .args(["-q", "sandbox", "down"])
        .current_dir(&route.path)
        .spawn_service(log)
        .map_err(|_| NotWoken::Failed)?;
    shared.waking.release(&route.instance);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_wins_over_the_machines_default() {
        let m = Some(Duration::from_secs(1800));
        assert_eq!(effective(None, m), m);
        assert_eq!(effective(None, None), None);
        assert_eq!(
            effective(Some(IdleStop::Off), m),
            None,
            "off over the machine"
        );
        assert_eq!(
            effective(Some(IdleStop::After(Duration::from_secs(60))), m),
            Some(Duration::from_secs(60))
        );
        assert_eq!(next_look(&[]), LOOK_EVERY);
        assert_eq!(next_look(&[Duration::from_secs(3)]), Duration::from_secs(1));
        assert_eq!(
            next_look(&[Duration::from_secs(3600), Duration::from_secs(60)]),
            Duration::from_secs(15)
        );
        assert_eq!(
            next_look(&[Duration::from_secs(86400)]),
            Duration::from_secs(30)
        );
    }
}
