//! The router's life: one per kinfra home. `run` holds `router/router.lock` while
//! it serves (the OS's file lock: a `kill -9` frees it) and writes where it
//! listens into `router/router.json`; `start` runs `kinfra router run` in a
//! process group of its own and records that process as host services are
//! recorded (pid, start time, command line and a mark: [`host::our_process`]
//! judges it), so `stop` signals only the router kinfra started.

use std::fs::{File, OpenOptions, TryLockError};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::instance::host::services::{self as host, Verdict};
use crate::router::error::{Result, RouterError};
use crate::state::context::Context;
use crate::support::env_vars::{self, EnvVars};
use crate::support::exec::Cmd;
use crate::support::process::MARK_VAR;

/// The router's port when `KINFRA_ROUTER_PORT` is not set: above the well-known
/// ports and the ranges dev servers and kinfra's own sandboxes take.
pub const DEFAULT_PORT: u16 = 7355;

/// The port asked for: `KINFRA_ROUTER_PORT`, else [`DEFAULT_PORT`].
pub fn wanted_port() -> u16 {
    env_vars::get(EnvVars::KINFRA_ROUTER_PORT)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_PORT)
}

/// Whether `up` starts the router: either `KINFRA_ROUTER=off` (the person's
/// machine) or the description's `[router] auto_start = false` (the project) says
/// no; `KINFRA_ROUTER=on` is the default and overrides neither.
pub fn auto_start(stack: &crate::stack::Stack) -> bool {
    env_vars::get(EnvVars::KINFRA_ROUTER).as_deref() != Some("off") && stack.router.auto_start
}

fn pid_file(ctx: &Context) -> PathBuf {
    ctx.home.router_dir().join("router.pid")
}
fn info_file(ctx: &Context) -> PathBuf {
    ctx.home.router_dir().join("router.json")
}
fn lock_file(ctx: &Context) -> PathBuf {
    ctx.home.router_dir().join("router.lock")
}
pub fn log_file(ctx: &Context) -> PathBuf {
    ctx.home.router_dir().join("router.log")
}

/// What a serving router writes: where it listens and its token for the page's
/// actions (the file is the owner's only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Info {
    pub pid: u32,
    pub port: u16,
    pub token: String,
}

/// Reads `router.json` (a bounded read; anything else than kinfra's record is none).
pub fn read_info(ctx: &Context) -> Option<Info> {
    // A FIFO there would hang `status`, `checkout` and every `up` that starts the router.
    let bytes = crate::support::fsutil::read_regular(&info_file(ctx), 4096)?;
    serde_json::from_slice(&bytes).ok()
}

/// `kinfra router status`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct RouterStatus {
    pub running: bool,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    /// The page (`http://kinfra.localhost:PORT/`) when it runs.
    pub url: Option<String>,
    /// Started by `kinfra router start` (and so stoppable by `stop`), not `run`.
    pub background: bool,
    pub log: PathBuf,
    /// Why its record is not trusted, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

/// Whether a router holds this home's lock now.
fn lock_held(ctx: &Context) -> bool {
    let Ok(f) = OpenOptions::new().read(true).open(lock_file(ctx)) else {
        return false;
    };
    matches!(f.try_lock(), Err(TryLockError::WouldBlock))
}

pub fn status(ctx: &Context) -> RouterStatus {
    let (background, record) = match host::our_process(&pid_file(ctx)) {
        Verdict::Ours(_) => (true, None),
        Verdict::Absent => (false, None),
        Verdict::Stale(why) => (false, Some(format!("stale: {why}"))),
        Verdict::Corrupt(why) => (false, Some(format!("unreadable: {why}"))),
    };
    let info = read_info(ctx).filter(|_| lock_held(ctx));
    RouterStatus {
        running: info.is_some(),
        pid: info.as_ref().map(|i| i.pid),
        port: info.as_ref().map(|i| i.port),
        url: info
            .as_ref()
            .map(|i| format!("http://kinfra.localhost:{}/", i.port)),
        background: background && info.is_some(),
        log: log_file(ctx),
        record,
    }
}

/// `kinfra router start`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    /// False: one ran already (its pid and port are these).
    pub started: bool,
    pub pid: u32,
    pub port: u16,
    pub url: String,
}

/// Starts the router in the background unless one runs for this home; waits
/// until it listens. A held port is refused before anything starts, naming the
/// holder.
pub fn start(ctx: &Context, port: u16) -> Result<Started> {
    let s = status(ctx);
    if let (true, Some(pid), Some(p)) = (s.running, s.pid, s.port) {
        return Ok(Started {
            started: false,
            pid,
            port: p,
            url: format!("http://kinfra.localhost:{p}/"),
        });
    }
    let pf = pid_file(ctx);
    match host::our_process(&pf) {
        Verdict::Corrupt(why) => {
            return Err(crate::Error::HostRecordUntrusted {
                records: vec![format!("router: {}: {why}", pf.display())],
            }
            .into());
        }
        // A router kinfra started that does not hold the lock: it is stopping.
        Verdict::Ours(pid) => host::end_group(pid),
        Verdict::Stale(_) | Verdict::Absent => {}
    }
    let _ = std::fs::remove_file(&pf);
    check_port_free(port)?;
    let dir = ctx.home.router_dir();
    std::fs::create_dir_all(&dir).map_err(|e| RouterError::io("could not create", &dir, e))?;
    let log_path = log_file(ctx);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| RouterError::io("could not open the log", &log_path, e))?;
    let exe = std::env::current_exe()
        .map_err(|e| RouterError::io("could not find kinfra's own program", "kinfra", e))?;
    let mark = host::new_mark();
    let port_s = port.to_string();
    // From the home, so a worktree removed later is no router's directory.
    let pid = Cmd::new(&exe)
        .args(["router", "run", "--port", port_s.as_str()])
        .current_dir(ctx.home.path())
        .envs([(MARK_VAR, mark.as_str())])
        .spawn_service(log)?;
    if let Some(id) = host::settled(pid) {
        host::write_record(&pf, pid, &id, &mark)?;
    }
    wait_listening(ctx, pid, port, &log_path)?;
    Ok(Started {
        started: true,
        pid,
        port,
        url: format!("http://kinfra.localhost:{port}/"),
    })
}

/// Waits (up to 10 s) until the router `pid` wrote its record and `port` answers.
fn wait_listening(ctx: &Context, pid: u32, port: u16, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = read_info(ctx).is_some_and(|i| i.pid == pid && i.port == port);
        if ready && answers(port) {
            return Ok(());
        }
        if !host::alive(pid) || Instant::now() >= deadline {
            let tail = last_line(log);
            let _ = std::fs::remove_file(pid_file(ctx));
            return Err(RouterError::RouterDidNotStart {
                tail,
                log: log.to_path_buf(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// The log's last non-empty line (bounded), for an error message.
fn last_line(log: &Path) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let from = text.len().saturating_sub(4096);
    let tail = String::from_utf8_lossy(&text[from..]).into_owned();
    tail.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}

/// Refuses a port something holds, naming it.
fn check_port_free(port: u16) -> Result<()> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(_) => Ok(()),
        Err(_) => Err(RouterError::RouterPortHeld {
            port,
            holder: super::holder::describe(port),
        }),
    }
}

/// `kinfra router stop`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct Stopped {
    /// The pid stopped; none when no router kinfra started was running.
    pub stopped: Option<u32>,
    /// A router run in the foreground (`kinfra router run`) is not signalled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreground: Option<u32>,
}

/// Stops the router `start` started (SIGTERM to its group): only when its record
/// still names that process.
pub fn stop(ctx: &Context) -> Result<Stopped> {
    let pf = pid_file(ctx);
    match host::our_process(&pf) {
        Verdict::Ours(pid) => {
            host::end_group(pid);
            let _ = std::fs::remove_file(&pf);
            if read_info(ctx).is_some_and(|i| i.pid == pid) {
                let _ = std::fs::remove_file(info_file(ctx));
            }
            Ok(Stopped {
                stopped: Some(pid),
                foreground: None,
            })
        }
        Verdict::Corrupt(why) => Err(crate::Error::HostRecordUntrusted {
            records: vec![format!("router: {}: {why}", pf.display())],
        }
        .into()),
        Verdict::Stale(why) => {
            ctx.reporter.warn(&format!(
                "the router's record {} is stale ({why}); nothing was signalled and the record is removed",
                pf.display()
            ));
            let _ = std::fs::remove_file(&pf);
            Ok(Stopped {
                stopped: None,
                foreground: status(ctx).pid,
            })
        }
        Verdict::Absent => Ok(Stopped {
            stopped: None,
            foreground: status(ctx).pid,
        }),
    }
}

/// Held while `run` serves: this home's one router.
pub struct Held {
    _lock: File,
    info: PathBuf,
    pub listener: TcpListener,
    pub info_now: Info,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.info);
    }
}

/// Takes this home's router lock and the port, and writes where it listens. A
/// second router is refused naming where the first listens; a held port naming
/// its holder.
pub fn take(ctx: &Context, port: u16) -> Result<Held> {
    let dir = ctx.home.router_dir();
    std::fs::create_dir_all(&dir).map_err(|e| RouterError::io("could not create", &dir, e))?;
    let lp = lock_file(ctx);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lp)
        .map_err(|e| RouterError::io("could not open the lock file", &lp, e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let i = read_info(ctx);
            return Err(RouterError::RouterRunning {
                pid: i.as_ref().map(|i| i.pid),
                port: i.map(|i| i.port),
            });
        }
        Err(TryLockError::Error(e)) => {
            return Err(RouterError::io("could not take the lock", &lp, e));
        }
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(|_| {
        RouterError::RouterPortHeld {
            port,
            holder: super::holder::describe(port),
        }
    })?;
    let info_now = Info {
        pid: std::process::id(),
        port,
        token: host::new_mark(),
    };
    let ip = info_file(ctx);
    let text = serde_json::to_string(&info_now).unwrap_or_default();
    crate::support::fsutil::write_atomic(&ip, text.as_bytes(), Some(0o600))
        .map_err(|e| RouterError::io("could not write", &ip, e))?;
    Ok(Held {
        _lock: lock,
        info: ip,
        listener,
        info_now,
    })
}
