//! Which engine the docker CLI talks to (`DOCKER_HOST`, the docker context, the
//! default socket), whether it is this machine's, and what its failures mean.

use super::*;

/// The docker CLI's configuration directory: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir() -> Option<std::path::PathBuf> {
    std::env::var_os(EnvVars::DOCKER_CONFIG)
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os(EnvVars::HOME).map(|h| std::path::Path::new(&h).join(".docker"))
        })
}

/// Where the docker CLI will connect, as far as its environment and configuration
/// say: `DOCKER_HOST`, else the selected context (`DOCKER_CONTEXT`, else the config's
/// `currentContext`), else the default socket.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `unix:///var/run/docker.sock`, `tcp://…`, `ssh://…`; empty when a context's
    /// metadata could not be read.
    pub host: String,
    /// What chose it: "DOCKER_HOST", "docker context NAME", "the default socket".
    pub via: String,
}

impl Endpoint {
    /// `Some(true)` for this machine (a socket, or TCP/SSH to a loopback address),
    /// `Some(false)` for another one, `None` when unknown.
    pub fn is_local(&self) -> Option<bool> {
        let h = self.host.as_str();
        if ["unix://", "npipe://", "fd://"]
            .iter()
            .any(|s| h.starts_with(s))
        {
            return Some(true);
        }
        let rest = ["tcp://", "ssh://", "http://", "https://"]
            .iter()
            .find_map(|s| h.strip_prefix(s))?;
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let host = match rest.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => rest.split([':', '/']).next().unwrap_or(""),
        };
        Some(
            host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified()),
        )
    }
}

/// The context's docker host, from `contexts/meta/*/meta.json` under the config dir.
fn context_host(name: &str) -> Option<String> {
    let meta = config_dir()?.join("contexts").join("meta");
    std::fs::read_dir(meta).ok()?.flatten().find_map(|d| {
        let bytes = std::fs::read(d.path().join("meta.json")).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        (v.get("Name")?.as_str()? == name)
            .then(|| {
                v.pointer("/Endpoints/docker/Host")?
                    .as_str()
                    .map(String::from)
            })
            .flatten()
    })
}

thread_local! {
    /// The engine on another machine this thread's docker and compose calls go to
    /// (its name, its `ssh://` address), once [`use_engine`] chose it. Per thread,
    /// not per process: a command works on one engine, but one MCP server serves
    /// calls on different engines in turn (and at once), each call on a thread of its
    /// own ([`EngineScope`]), so no call's docker commands can reach another's engine.
    static ENGINE: std::cell::RefCell<Option<(String, String)>> =
        const { std::cell::RefCell::new(None) };
}

/// Sends every later docker and compose call of this thread to the engine at `url`
/// (`DOCKER_HOST` for every program it runs, which the docker CLI prefers to a
/// selected context): its `ssh://` address, or the local socket kinfra forwards to
/// it. One command acts on one engine: a second, different one is refused; the same
/// one at another address (its forward made again, or given up for `ssh://`) moves
/// the calls there.
pub fn use_engine(name: &str, url: &str) -> Result<()> {
    ENGINE.with_borrow_mut(|have| match have {
        Some((n, _)) if n != name => Err(ToolsError::SecondEngine {
            working_on: n.clone(),
            asked: name.to_string(),
        }),
        Some((_, u)) if u == url => Ok(()),
        _ => {
            crate::support::exec::set_thread_child_env(
                EnvVars::DOCKER_HOST,
                Some(std::ffi::OsStr::new(url)),
            );
            *have = Some((name.to_string(), url.to_string()));
            Ok(())
        }
    })
}

/// The engine on another machine this thread works on, if [`use_engine`] chose one.
pub fn engine_in_use() -> Option<(String, String)> {
    ENGINE.with_borrow(Clone::clone)
}

/// The engine a thread works on, as a value: taken where a call starts a thread of
/// its own (the gate's checks, parallel docker queries) and entered there, so that
/// thread's docker calls go where the call's do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineScope(Option<(String, String)>);

impl EngineScope {
    /// This thread's engine (`None` inside: this machine's).
    pub fn current() -> EngineScope {
        EngineScope(engine_in_use())
    }

    /// This machine's engine: where each MCP call starts.
    pub fn this_machine() -> EngineScope {
        EngineScope(None)
    }

    /// Makes it this thread's engine, whatever the thread worked on before (a
    /// thread of a pool serves one call after another). Returns a guard that puts
    /// this machine's back when dropped, a panic included.
    pub fn enter(&self) -> ScopeGuard {
        set_engine(self.0.clone());
        ScopeGuard(())
    }
}

/// Puts this machine's engine back on its thread when dropped ([`EngineScope::enter`]).
#[must_use = "the scope ends when the guard is dropped"]
pub struct ScopeGuard(());

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        set_engine(None);
    }
}

fn set_engine(e: Option<(String, String)>) {
    crate::support::exec::set_thread_child_env(
        EnvVars::DOCKER_HOST,
        e.as_ref()
            .map(|(_, url)| std::ffi::OsStr::new(url.as_str())),
    );
    ENGINE.with_borrow_mut(|have| *have = e);
}

pub fn endpoint() -> Endpoint {
    if let Some((name, url)) = engine_in_use() {
        return Endpoint {
            host: url,
            via: format!("kinfra engine {name}"),
        };
    }
    let env = crate::support::env_vars::get;
    if let Some(h) = env(EnvVars::DOCKER_HOST) {
        return Endpoint {
            host: h,
            via: "DOCKER_HOST".into(),
        };
    }
    let context = env(EnvVars::DOCKER_CONTEXT).or_else(|| {
        // A selected context (Docker Desktop's, say) may point anywhere.
        let config = config_dir()?.join("config.json");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(config).ok()?).ok()?;
        v.get("currentContext")?.as_str().map(String::from)
    });
    match context.as_deref() {
        None | Some("") | Some("default") => Endpoint {
            host: "unix:///var/run/docker.sock".into(),
            via: "the default socket".into(),
        },
        Some(name) => Endpoint {
            host: context_host(name).unwrap_or_default(),
            via: format!("docker context {name}"),
        },
    }
}

/// Refuses an engine on another machine: ports are probed here and the gate dials
/// localhost, so a start there could never pass.
pub fn ensure_local_endpoint() -> Result<()> {
    // An engine kinfra placed the instance on: its ports are forwarded here.
    if engine_in_use().is_some() {
        return Ok(());
    }
    let e = endpoint();
    if e.is_local() == Some(false) {
        return Err(ToolsError::RemoteDocker {
            endpoint: e.host,
            via: e.via,
        });
    }
    Ok(())
}

/// Where the engine's socket is, when that can be known without asking the CLI.
fn local_socket() -> Option<std::path::PathBuf> {
    endpoint()
        .host
        .strip_prefix("unix://")
        .map(std::path::PathBuf::from)
}

/// Fails fast, without starting the docker CLI, when the engine's local socket
/// does not answer: `list` with Docker stopped then costs microseconds, not a spawn.
pub fn precheck() -> Result<()> {
    let Some(sock) = local_socket() else {
        return Ok(());
    };
    match std::os::unix::net::UnixStream::connect(&sock) {
        Ok(_) => Ok(()),
        Err(source) => Err(unavailable(ExecError::Spawn {
            summary: format!("connect to the Docker socket {}", sock.display()),
            source,
        })),
    }
}

/// "The engine is unreachable", with the endpoint it was looked for at (the hint
/// names it; reading it here keeps the error's printing free of I/O).
pub fn unavailable(source: ExecError) -> ToolsError {
    let Endpoint { host, via } = endpoint();
    ToolsError::DockerUnavailable {
        endpoint: Box::new((host, via)),
        source,
    }
}

/// Maps a failed docker call to "engine unreachable" when that is what it was.
pub fn classify(e: ExecError) -> ToolsError {
    let stderr = e.stderr();
    if stderr.contains("Cannot connect to the Docker daemon")
        || stderr.contains("error during connect")
        || stderr.contains("Is the docker daemon running")
        || matches!(e, ExecError::TimedOut { .. })
    {
        unavailable(e)
    } else {
        ToolsError::from(e)
    }
}
