//! Host services: processes local-prod runs natively beside its containers (KTRDR's
//! training host on 5002 uses the Mac's GPU; its IB gateway host on 5001). Started
//! from the clone in a process group of their own, so they outlive kinfra and a
//! stop ends their children too; pid files under kinfra's home, output appended to
//! the service's log file in the clone. They run only once allowed (`kinfra stack
//! allow`): the commands come from the repository.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Instance;
use crate::stack::{HostService, Stack};
use crate::state::context::Context;
use crate::support::error::{Error, Result};
use crate::support::exec::Cmd;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostState {
    pub name: String,
    pub port: u16,
    /// The process group kinfra started, when it still runs.
    pub pid: Option<u32>,
    /// Something answers on the port (the health URL where there is one).
    pub healthy: bool,
    pub log: PathBuf,
}

impl HostState {
    pub fn label(&self) -> String {
        match (self.pid, self.healthy) {
            (Some(p), true) => format!("running (pid {p})"),
            (Some(p), false) => format!("started, not answering yet (pid {p})"),
            (None, true) => "port answers, not started by kinfra".into(),
            (None, false) => "stopped".into(),
        }
    }
}

fn pid_file(ctx: &Context, inst: &Instance, name: &str) -> PathBuf {
    ctx.home.host_dir(inst.id()).join(format!("{name}.pid"))
}

/// Whether the process group `pid` still exists (signal 0 checks, sends nothing).
fn alive(pid: u32) -> bool {
    use nix::sys::signal::killpg;
    use nix::unistd::Pid;
    i32::try_from(pid).is_ok_and(|p| p > 1 && killpg(Pid::from_raw(p), None).is_ok())
}

fn recorded_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| alive(*p))
}

fn healthy(h: &HostService) -> bool {
    match &h.health {
        Some(path) => crate::instance::gate::http_ok(h.port, path),
        None => crate::stack::ports::in_use(h.port),
    }
}

/// The host services named (all when `names` is empty).
fn select<'s>(stack: &'s Stack, names: &[String]) -> Result<Vec<&'s HostService>> {
    super::pick(
        &stack.host,
        names,
        |s| s.name.as_str(),
        "host service",
        &stack.origin,
    )
}

pub fn status(ctx: &Context, stack: &Stack, inst: &Instance) -> Vec<HostState> {
    stack
        .host
        .iter()
        .map(|h| HostState {
            name: h.name.clone(),
            port: h.port,
            pid: recorded_pid(&pid_file(ctx, inst, &h.name)),
            healthy: healthy(h),
            log: inst.dir.join(&h.log),
        })
        .collect()
}

/// Starts the named host services that are not running and waits up to `timeout`
/// for each to answer. Returns the names it started.
pub fn start(
    ctx: &Context,
    stack: &Stack,
    inst: &Instance,
    names: &[String],
    secrets: bool,
    timeout: Duration,
) -> Result<Vec<String>> {
    let chosen = select(stack, names)?;
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    super::allow::require(ctx, &crate::tools::git::read_main_clone(&inst.dir), stack)?;
    // Their environment: local-prod's variables and secrets, then their own.
    let mut env: Vec<(String, String)> = inst.env.compose_vars(stack, &ctx.shared_dir());
    let opts = super::UpOptions {
        secrets,
        ..Default::default()
    };
    super::up::load_secrets(ctx, stack, inst, &opts, &mut env)?;
    let mut started = Vec::new();
    for h in chosen {
        let pf = pid_file(ctx, inst, &h.name);
        if let Some(pid) = recorded_pid(&pf) {
            ctx.reporter
                .info(&format!("{} is running already (pid {pid})", h.name));
            continue;
        }
        if crate::stack::ports::in_use(h.port) {
            return Err(Error::HostPortHeld {
                name: h.name.clone(),
                port: h.port,
            });
        }
        let (pid, log_path) = launch(ctx, inst, h, &env, &pf)?;
        let deadline = crate::support::timeout::deadline(Instant::now(), timeout);
        while !healthy(h) {
            if !alive(pid) {
                let _ = std::fs::remove_file(&pf);
                return Err(Error::Invalid(format!(
                    "host service {} exited at start; its log: {}",
                    h.name,
                    log_path.display()
                )));
            }
            if Instant::now() >= deadline {
                return Err(Error::Invalid(format!(
                    "host service {} (pid {pid}) does not answer on port {} after {} s; it is left running: see {}, or stop it with `kinfra local-prod host stop {}`",
                    h.name,
                    h.port,
                    timeout.as_secs(),
                    log_path.display(),
                    h.name
                )));
            }
            std::thread::sleep(crate::support::timeout::nap(
                Duration::from_millis(200),
                deadline,
            ));
        }
        started.push(h.name.clone());
    }
    Ok(started)
}

/// Starts one host service in its own process group, its output appended to its
/// log, and records its pid in `pf`. Returns the pid and the log's path.
fn launch(
    ctx: &Context,
    inst: &Instance,
    h: &HostService,
    env: &[(String, String)],
    pf: &Path,
) -> Result<(u32, PathBuf)> {
    let clone = inst.dir.display().to_string();
    let dir = crate::support::fsutil::resolve_inside(&inst.dir, Path::new(&h.dir))
        .map_err(|why| Error::Invalid(format!("host service {}: dir {}: {why}", h.name, h.dir)))?;
    let log_path = crate::support::fsutil::resolve_inside(&inst.dir, Path::new(&h.log))
        .map_err(|why| Error::Invalid(format!("host service {}: log {}: {why}", h.name, h.log)))?;
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("could not create", parent, e))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io("could not open the log", &log_path, e))?;
    let own: Vec<(String, String)> = h
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.replace("{clone}", &clone)))
        .collect();
    ctx.reporter.step(&format!(
        "Starting host service {} on port {} (log {})",
        h.name,
        h.port,
        log_path.display()
    ));
    let pid = Cmd::new(&h.command[0])
        .args(&h.command[1..])
        .current_dir(&dir)
        .envs(
            env.iter()
                .chain(own.iter())
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .spawn_service(log)?;
    if let Some(parent) = pf.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("could not create", parent, e))?;
    }
    crate::support::fsutil::write_atomic(pf, pid.to_string().as_bytes(), Some(0o600))
        .map_err(|e| Error::io("could not write", pf, e))?;
    Ok((pid, log_path))
}

/// Stops the named host services kinfra started: SIGTERM to the process group,
/// SIGKILL after 10 s. Returns the names it stopped.
pub fn stop(
    ctx: &Context,
    stack: &Stack,
    inst: &Instance,
    names: &[String],
) -> Result<Vec<String>> {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let mut stopped = Vec::new();
    for h in select(stack, names)? {
        let pf = pid_file(ctx, inst, &h.name);
        let Some(pid) = recorded_pid(&pf) else {
            let _ = std::fs::remove_file(&pf);
            continue;
        };
        ctx.reporter
            .step(&format!("Stopping host service {} (pid {pid})", h.name));
        let group = Pid::from_raw(pid as i32);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = crate::support::timeout::deadline(Instant::now(), Duration::from_secs(10));
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(crate::support::timeout::nap(
                Duration::from_millis(100),
                deadline,
            ));
        }
        if alive(pid) {
            let _ = killpg(group, Signal::SIGKILL);
        }
        let _ = std::fs::remove_file(&pf);
        stopped.push(h.name.clone());
    }
    Ok(stopped)
}
