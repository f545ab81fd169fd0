//! Docker engines on other machines, reached over SSH: `kinfra engine add|list|rm`.
//!
//! kinfra runs no daemon of its own there. Docker's own SSH transport (`docker -H
//! ssh://USER@HOST`, with the user's ssh config, keys and agent) carries every docker
//! and compose call, and kinfra's own `ssh` (and rsync over it) the rest. Every
//! address is re-checked ([`target::SshTarget::parse`]) each time it is read, and
//! every ssh command line ends its options with `--` before the host: nothing a
//! record or a caller says becomes an ssh option.
//!
//! The records live in the registry's side file under its lock, so that removing an
//! engine and placing an instance on it cannot cross.

pub mod error;
pub mod keeper;
pub mod remote;
pub mod socket;
pub mod target;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::engine::error::{EngineError, Result, Unfit};
use crate::state::context::Context;
use crate::state::registry::EngineRecord;
use crate::support::exec::{Cmd, ExecError};
pub use socket::DockerAt;
pub use target::{SshTarget, engine_name};

/// How long kinfra waits for an engine's machine to answer a TCP connection: an
/// unreachable engine must fail a command in seconds, not after the kernel's minutes.
const CONNECT_SECS: u64 = 5;
/// A bound on any one call to an engine (docker's SSH transport sets no timeout).
const CALL: Duration = Duration::from_secs(60);
/// A bound on a probe of an engine that `list` shows (one slow machine must not hold
/// up the others' rows).
const PROBE: Duration = Duration::from_secs(15);

/// An engine as recorded: its name, address and remote home.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Engine {
    pub name: String,
    pub url: String,
    #[serde(skip)]
    pub target: SshTarget,
    /// The remote user's home (where the code mirrors live).
    pub remote_home: String,
    /// The control socket of the engine's one multiplexed connection, when kinfra
    /// may use it ([`Engine::controlled`]): kinfra's own ssh calls (and rsync's) go
    /// through that connection while it is up instead of logging in again.
    #[serde(skip)]
    pub control: Option<PathBuf>,
    /// Where Docker is on its machine (as recorded, checked again).
    #[serde(skip)]
    pub docker_at: DockerAt,
    /// The local end of its forwarded Docker socket, when kinfra may make one
    /// ([`Engine::controlled`], [`socket::local_path`]).
    #[serde(skip)]
    pub socket: Option<PathBuf>,
}

impl Engine {
    /// The record read back, its name and address checked again.
    pub fn from_record(name: &str, r: &EngineRecord) -> Result<Engine> {
        engine_name(name).map_err(|why| EngineError::BadRecordName { why })?;
        let target = SshTarget::parse(&r.url).map_err(|why| EngineError::BadRecordAddress {
            name: name.into(),
            why,
        })?;
        let docker_at =
            socket::docker_at(&r.docker_host).map_err(|why| EngineError::BadRecordDockerHost {
                name: name.into(),
                why,
            })?;
        Ok(Engine {
            name: name.into(),
            url: target.url(),
            target,
            remote_home: r.remote_home.clone(),
            control: None,
            docker_at,
            socket: None,
        })
    }

    /// The engine whose ssh calls go through its connection under kinfra's home
    /// while that is up. A control path ssh or rsync would read specially (its
    /// `%` tokens, `~`, whitespace or quotes splitting rsync's `-e`) is not used:
    /// the calls then log in on their own, as without a connection.
    pub fn controlled(mut self, ctx: &Context) -> Engine {
        let p = remote::control_path(ctx, &self);
        self.control = plain_local_path(&p).then_some(p);
        // The forwarded Docker socket lives in that connection: none without it.
        self.socket = self
            .control
            .as_ref()
            .and_then(|_| socket::local_path(&ctx.home.engine_dir(), &self.name));
        self
    }

    /// The control socket, when it is there (a socket whose master is gone makes
    /// ssh say so and log in on its own: `ControlMaster=no` never starts one).
    fn live_control(&self) -> Option<&Path> {
        self.control
            .as_deref()
            .filter(|c| c.exists() && self.connection_is_to_this_address())
    }

    /// Whether the connection under kinfra's home was made to the address this
    /// record names now: after the record's address changed (the machine moved),
    /// a connection still up to the old one is not this engine's.
    pub fn connection_is_to_this_address(&self) -> bool {
        self.control.as_deref().is_some_and(|c| {
            std::fs::read_to_string(c.with_extension("url")).is_ok_and(|u| u == self.url)
        })
    }

    /// `-o ControlMaster=no -o ControlPath=…` when the engine's connection is up.
    fn control_options(&self) -> Vec<String> {
        match self.live_control() {
            Some(c) => vec![
                "-o".into(),
                "ControlMaster=no".into(),
                "-o".into(),
                format!("ControlPath={}", c.display()),
            ],
            None => Vec::new(),
        }
    }

    /// `ssh` to the engine's machine, batch mode (never a password prompt), a short
    /// connect timeout; `remote` is a command line of kinfra's own for the remote
    /// shell (never a caller's words).
    pub fn ssh(&self, remote: &str) -> Cmd {
        ssh_base(&self.target)
            .args(self.control_options())
            .arg("--")
            .arg(&self.target.host)
            .arg(remote)
    }

    /// `docker -H …`: through the engine's forwarded socket when that answers now
    /// (no SSH login), else over Docker's SSH transport. For looks at an engine
    /// outside any instance's command (`engine add`, `list`); a command on an
    /// instance sends its calls where [`remote::connect`] chose.
    pub fn docker(&self) -> Cmd {
        Cmd::new("docker").arg("-H").arg(self.live_host())
    }

    /// `unix://…` of the forwarded socket when a ping through it answers now, else
    /// the engine's `ssh://` address. Starts nothing.
    pub fn live_host(&self) -> String {
        match &self.socket {
            Some(s)
                if self.connection_is_to_this_address()
                    && socket::ping(s, Duration::from_secs(5)).is_ok() =>
            {
                socket::unix_host(s)
            }
            _ => self.url.clone(),
        }
    }

    fn unreachable(&self, source: ExecError) -> EngineError {
        EngineError::EngineUnreachable {
            name: self.name.clone(),
            at: Box::new((self.url.clone(), self.target.login())),
            source,
        }
    }

    fn unfit(&self, why: Unfit) -> EngineError {
        EngineError::EngineUnfit {
            name: self.name.clone(),
            why: Box::new((self.url.clone(), why)),
        }
    }
}

/// `ssh` with kinfra's options for the target, up to (not including) `--` and the host.
pub fn ssh_base(t: &SshTarget) -> Cmd {
    let mut c = Cmd::new("ssh").args([
        "-o",
        "BatchMode=yes",
        "-o",
        &format!("ConnectTimeout={CONNECT_SECS}"),
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=3",
        "-l",
        &t.user,
    ]);
    if let Some(p) = t.port {
        c = c.arg("-p").arg(p.to_string());
    }
    c
}

/// A local path of characters that neither ssh's `ControlPath` (`%` tokens, `~`)
/// nor rsync's `-e` (split on whitespace, quotes read) treats specially.
pub(crate) fn plain_local_path(p: &Path) -> bool {
    p.to_str().is_some_and(|s| {
        s.starts_with('/')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+'))
    })
}

/// What one look at an engine found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    pub docker_version: String,
    pub memory_bytes: u64,
    pub cpus: u64,
    pub remote_home: String,
    pub rsync: bool,
    /// Where Docker is there, as its docker CLI says (found by `add` only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub docker_host: String,
}

/// The remote shell's answer to [`LOOK`]: its home, then whether rsync and docker
/// are there. Pure, tested on captured output.
pub fn parse_look(text: &str) -> (String, bool, bool) {
    let mut home = String::new();
    let (mut rsync, mut docker) = (false, false);
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("home=") {
            home = h.trim().to_string();
        } else if line.trim() == "rsync=yes" {
            rsync = true;
        } else if line.trim() == "docker=yes" {
            docker = true;
        }
    }
    (home, rsync, docker)
}

/// One remote shell command line, kinfra's own: where the home is and which tools
/// exist (and, at `add`, where Docker is: [`socket::FIND`]).
const LOOK: &str = "printf 'home=%s\\n' \"$HOME\"; command -v rsync >/dev/null 2>&1 && echo rsync=yes; command -v docker >/dev/null 2>&1 && echo docker=yes; true";

/// `docker info`'s version, memory and CPUs, tab-separated.
const INFO_FORMAT: &str = "{{.ServerVersion}}\t{{.MemTotal}}\t{{.NCPU}}";

pub fn parse_info(text: &str) -> Option<(String, u64, u64)> {
    let mut f = text.trim().split('\t');
    let version = f.next()?.trim().to_string();
    let mem = f.next()?.trim().parse().ok()?;
    let cpus = f.next()?.trim().parse().ok()?;
    (!version.is_empty()).then_some((version, mem, cpus))
}

/// Looks at an engine: its machine answers over SSH (fast, batch mode), Docker answers
/// through Docker's SSH transport, compose works through it, rsync is on both ends.
/// `strict` turns a missing tool into an error (for `add`); otherwise it is reported.
pub fn look(engine: &Engine, timeout: Duration, strict: bool) -> Result<Facts> {
    let remote = if strict {
        format!("{LOOK}; {}", socket::FIND)
    } else {
        LOOK.to_string()
    };
    let out = engine
        .ssh(&remote)
        .timeout(timeout)
        .run()
        .map_err(|e| engine.unreachable(e))?;
    let (remote_home, rsync, docker) = parse_look(&out);
    if strict && !docker {
        return Err(engine.unfit(Unfit::NoDocker));
    }
    if strict && !rsync {
        return Err(engine.unfit(Unfit::NoRsyncThere));
    }
    if strict && which::which("rsync").is_err() {
        return Err(engine.unfit(Unfit::NoRsyncHere));
    }
    if strict && remote::plain_remote_path(&remote_home).is_err() {
        return Err(engine.unfit(Unfit::BadHome { home: remote_home }));
    }
    let info = engine
        .docker()
        .args(["info", "--format", INFO_FORMAT])
        .timeout(timeout)
        .run()
        .map_err(|e| engine.unreachable(e))?;
    let Some((docker_version, memory_bytes, cpus)) = parse_info(&info) else {
        return Err(engine.unfit(Unfit::InfoUnreadable {
            answer: info.trim().to_string(),
        }));
    };
    if strict {
        engine
            .docker()
            .args(["compose", "ls", "--all", "--quiet"])
            .timeout(timeout)
            .run()
            .map_err(|e| engine.unfit(Unfit::NoCompose { why: e.to_string() }))?;
    }
    Ok(Facts {
        docker_version,
        memory_bytes,
        cpus,
        remote_home,
        rsync,
        docker_host: socket::parse_find(&out).unwrap_or_default(),
    })
}

/// The engines recorded, each checked again (a record kinfra will not use is an error
/// naming it).
pub fn recorded(ctx: &Context) -> Result<Vec<Engine>> {
    let contents = ctx.registry().load()?;
    contents
        .kinfra
        .engines
        .iter()
        .map(|(n, r)| Engine::from_record(n, r).map(|e| e.controlled(ctx)))
        .collect()
}

/// The engine of that name.
pub fn named(ctx: &Context, name: &str) -> Result<Engine> {
    engine_name(name).map_err(|why| EngineError::BadName { why })?;
    let contents = ctx.registry().load()?;
    match contents.kinfra.engines.get(name) {
        Some(r) => Engine::from_record(name, r).map(|e| e.controlled(ctx)),
        None => Err(EngineError::NoSuchEngine {
            name: name.into(),
            known: contents.kinfra.engines.keys().cloned().collect(),
        }),
    }
}

/// `engine add`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub engine: Engine,
    pub facts: Facts,
}

/// Checks an engine and records it. Nothing is recorded unless every check passed.
pub fn add(ctx: &Context, name: &str, url: &str) -> Result<Added> {
    engine_name(name).map_err(|why| EngineError::BadName { why })?;
    let target = SshTarget::parse(url).map_err(|why| EngineError::BadAddress { why })?;
    let registry = ctx.registry();
    if let Some(r) = registry.load()?.kinfra.engines.get(name) {
        return Err(EngineError::EngineExists {
            name: name.into(),
            url: r.url.clone(),
        });
    }
    let mut engine = Engine {
        name: name.into(),
        url: target.url(),
        target,
        remote_home: String::new(),
        control: None,
        docker_at: DockerAt::Unknown,
        socket: None,
    };
    ctx.reporter
        .step(&format!("Checking {} ({})", engine.name, engine.url));
    let facts = look(&engine, CALL, true)?;
    engine.remote_home = facts.remote_home.clone();
    // Where Docker is there, so that later calls go through a forward of its
    // socket; what kinfra will not forward is said once, here, and not recorded.
    engine.docker_at = match socket::docker_at(&facts.docker_host) {
        Ok(DockerAt::Elsewhere(h)) => {
            ctx.reporter.info(&format!(
                "Docker on {} listens at {h}, not on a socket kinfra can forward: its docker calls go over Docker's SSH transport (an SSH login each)",
                engine.name
            ));
            DockerAt::Elsewhere(h)
        }
        Ok(at) => at,
        Err(why) => {
            ctx.reporter.warn(&format!(
                "where Docker is on {}: {why}; its docker calls go over Docker's SSH transport (an SSH login each)",
                engine.name
            ));
            DockerAt::Unknown
        }
    };
    let record = EngineRecord {
        url: engine.url.clone(),
        added_at: jiff::Timestamp::now().to_string(),
        remote_home: engine.remote_home.clone(),
        docker_host: match &engine.docker_at {
            DockerAt::Socket(p) => format!("unix://{p}"),
            DockerAt::Elsewhere(h) => h.clone(),
            DockerAt::Unknown => String::new(),
        },
    };
    registry.update_with(|c| {
        if let Some(r) = c.kinfra.engines.get(name) {
            return Err(EngineError::EngineExists {
                name: name.into(),
                url: r.url.clone(),
            });
        }
        c.kinfra.engines.insert(name.into(), record);
        Ok(())
    })?;
    Ok(Added { engine, facts })
}

/// One row of `engine list`.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub url: String,
    pub reachable: bool,
    /// Why it could not be looked at, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// The instances placed on it.
    pub instances: Vec<String>,
    /// kinfra's footprint there: its instances' containers and code mirrors.
    pub footprint: Footprint,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Footprint {
    pub containers: usize,
    /// Bytes under the mirrors directory (None: not measured, the engine was not reachable).
    pub mirror_bytes: Option<u64>,
}

/// `engine list --json`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub engines: Vec<Row>,
}

/// The directory under the remote home where every instance's code mirror lives.
pub const MIRRORS_DIR: &str = ".kinfra/mirrors";

/// Every engine with what a look at it (in parallel, bounded) found.
pub fn list(ctx: &Context) -> Result<Listing> {
    let contents = ctx.registry().load()?;
    let engines = recorded(ctx)?;
    let rows = std::thread::scope(|s| {
        let handles: Vec<_> = engines
            .iter()
            .map(|e| {
                let instances: Vec<String> = contents
                    .kinfra
                    .placements
                    .iter()
                    .filter(|(_, n)| **n == e.name)
                    .map(|(i, _)| i.clone())
                    .collect();
                // An instance's id is its compose project's name.
                s.spawn(move || {
                    let projects = instances.clone();
                    row(e, instances, &projects)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an engine probe thread panicked"))
            .collect::<Vec<_>>()
    });
    Ok(Listing { engines: rows })
}

fn row(e: &Engine, instances: Vec<String>, projects: &[String]) -> Row {
    let mut r = Row {
        name: e.name.clone(),
        url: e.url.clone(),
        reachable: false,
        error: None,
        docker_version: None,
        memory_bytes: None,
        instances,
        footprint: Footprint::default(),
    };
    match look(e, PROBE, false) {
        Ok(f) => {
            r.reachable = true;
            r.docker_version = Some(f.docker_version);
            r.memory_bytes = Some(f.memory_bytes);
        }
        Err(err) => {
            r.error = Some(err.to_string());
            return r;
        }
    }
    // The containers of kinfra's instances there (by their compose project label).
    if !projects.is_empty()
        && let Ok(out) = e
            .docker()
            .args(["ps", "-a", "--filter", "label=com.docker.compose.project"])
            .args(["--format", "{{.Label \"com.docker.compose.project\"}}"])
            .timeout(PROBE)
            .run()
    {
        r.footprint.containers = out
            .lines()
            .filter(|l| projects.iter().any(|p| p == l.trim()))
            .count();
    }
    let du = format!("du -sk \"$HOME\"/{MIRRORS_DIR} 2>/dev/null || echo 0");
    if let Ok(out) = e.ssh(&du).timeout(PROBE).run() {
        r.footprint.mirror_bytes = out
            .split_whitespace()
            .next()
            .and_then(|k| k.parse::<u64>().ok())
            .map(|k| k * 1024);
    }
    r
}

/// Forgets an engine; refused while an instance is placed on it. Nothing on its
/// machine is touched; kinfra's own connection to it (a command on a sandbox that
/// was there may have made one) ends.
pub fn remove(ctx: &Context, name: &str) -> Result<Engine> {
    engine_name(name).map_err(|why| EngineError::BadName { why })?;
    let gone = forget(ctx, name)?;
    if !gone.target.host.is_empty() {
        remote::disconnect(ctx, &gone);
    }
    Ok(gone)
}

fn forget(ctx: &Context, name: &str) -> Result<Engine> {
    ctx.registry().update_with(|c| {
        let Some(r) = c.kinfra.engines.get(name).cloned() else {
            return Err(EngineError::NoSuchEngine {
                name: name.into(),
                known: c.kinfra.engines.keys().cloned().collect(),
            });
        };
        // Its snapshots too: their volumes live there, and their records would
        // name an engine kinfra no longer knows.
        let instances: Vec<String> = c
            .kinfra
            .placements
            .iter()
            .filter(|(_, n)| *n == name)
            .map(|(i, _)| i.clone())
            .chain(
                c.kinfra
                    .snapshots
                    .iter()
                    .filter(|(_, r)| r.engine.as_deref() == Some(name))
                    .map(|(k, _)| format!("snapshot {k}")),
            )
            .collect();
        if !instances.is_empty() {
            return Err(EngineError::EngineInUse {
                name: name.into(),
                instances,
            });
        }
        c.kinfra.engines.remove(name);
        // A record kinfra will not use can still be removed.
        Ok(Engine::from_record(name, &r).unwrap_or(Engine {
            name: name.into(),
            url: r.url.clone(),
            target: SshTarget {
                user: String::new(),
                host: String::new(),
                port: None,
            },
            remote_home: r.remote_home.clone(),
            control: None,
            docker_at: DockerAt::Unknown,
            socket: None,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_look_is_parsed() {
        let (h, r, d) = parse_look("home=/home/dev\nrsync=yes\ndocker=yes\n");
        assert_eq!((h.as_str(), r, d), ("/home/dev", true, true));
        let (h, r, d) = parse_look("Welcome!\nhome=/Users/me\n");
        assert_eq!((h.as_str(), r, d), ("/Users/me", false, false));
    }

    #[test]
    fn docker_info_is_parsed() {
        assert_eq!(
            parse_info("20.10.24+dfsg1\t25276149760\t2\n"),
            Some(("20.10.24+dfsg1".into(), 25_276_149_760, 2))
        );
        assert_eq!(parse_info("\t1\t2"), None);
        assert_eq!(parse_info("garbage"), None);
    }

    #[test]
    fn ssh_options_end_before_the_host() {
        let e = Engine::from_record(
            "box",
            &EngineRecord {
                url: "ssh://dev@box.lan:2222".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let s = e.ssh("true").summary();
        assert!(s.ends_with("-p 2222 -- box.lan true"), "{s}");
        assert!(s.contains("BatchMode=yes"), "{s}");
        assert_eq!(e.docker().summary(), "docker -H ssh://dev@box.lan:2222");
    }

    #[test]
    fn only_plain_control_paths_are_used() {
        assert!(plain_local_path(Path::new(
            "/home/me/.kinfra/engines/box.ctl"
        )));
        for bad in [
            "relative/box.ctl",
            "/home/a b/box.ctl",
            "/home/%h/box.ctl",
            "/home/~x/box.ctl",
            "/home/'x/box.ctl",
            "/home/x\"/box.ctl",
        ] {
            assert!(!plain_local_path(Path::new(bad)), "{bad}");
        }
    }

    #[test]
    fn a_tampered_record_is_refused() {
        let r = EngineRecord {
            url: "ssh://-oProxyCommand=sh@x".into(),
            ..Default::default()
        };
        assert!(Engine::from_record("box", &r).is_err());
        let ok = EngineRecord {
            url: "ssh://u@x".into(),
            ..Default::default()
        };
        assert!(Engine::from_record("../x", &ok).is_err());
    }
}
