//! `KINFRA_IDLE_STOP=30m`: the router stops a sandbox after that long without a
//! request to it by name and without a kinfra command on it (the instance lock
//! file, which every command that changes it writes, is newer then). Containers
//! stop, nothing is removed (kinfra's own `sandbox down` in its registered
//! directory); never local-prod. A request by name wakes it again.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::names::Route;
use super::shared::Shared;
use crate::support::exec::Cmd;

pub const VAR: &str = crate::support::env_vars::EnvVars::KINFRA_IDLE_STOP;

pub use crate::support::units::parse_duration as parse;

/// How long ago a kinfra command last took the instance's lock.
fn since_command(shared: &Shared, id: &str) -> Option<Duration> {
    let m = std::fs::metadata(shared.ctx.home.lock_file(id)).ok()?;
    SystemTime::now().duration_since(m.modified().ok()?).ok()
}

fn runs(route: &Route) -> bool {
    route.services.iter().any(|s| {
        std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], s.port)),
            Duration::from_millis(200),
        )
        .is_ok()
    })
}

/// Looks every `idle / 4` (at most every 30 s) for sandboxes idle that long.
pub async fn watch(shared: Arc<Shared>, idle: Duration, started: Instant) {
    let every = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        tokio::time::sleep(every).await;
        let s = shared.clone();
        let _ = tokio::task::spawn_blocking(move || sweep(&s, idle, started)).await;
    }
}

fn sweep(shared: &Shared, idle: Duration, started: Instant) {
    for route in shared.table().iter() {
        if route.kind != "sandbox" || !Path::new(&route.path).is_dir() {
            continue;
        }
        let asked = shared
            .last_seen
            .get(&route.instance)
            .unwrap_or(started)
            .elapsed();
        let commanded = since_command(shared, &route.instance).unwrap_or(Duration::MAX);
        if asked < idle || commanded < idle || !runs(route) {
            continue;
        }
        let log = shared.ctx.home.router_dir().join("idle.log");
        let Ok(log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
        else {
            continue;
        };
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        if Cmd::new(&exe)
            .args(["-q", "sandbox", "down"])
            .current_dir(&route.path)
            .spawn_service(log)
            .is_ok()
        {
            crate::errln!(
                "kinfra router: stopping {} (idle {} s)",
                route.instance,
                asked.as_secs()
            );
            shared.last_seen.touch(&route.instance);
        }
    }
}
