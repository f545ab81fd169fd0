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

/// The engine on another machine this process's docker and compose calls go to
/// (its name, its `ssh://` address), once [`use_engine`] chose it.
static ENGINE: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

/// Sends every later docker and compose call of this process to the engine at `url`
/// (`DOCKER_HOST` for every child, which the docker CLI prefers to a selected context). One
/// command acts on one engine: a second, different one is refused.
pub fn use_engine(name: &str, url: &str) -> Result<()> {
    let have = ENGINE.get_or_init(|| {
        crate::support::exec::set_child_env(EnvVars::DOCKER_HOST, url);
        (name.to_string(), url.to_string())
    });
    if have.0 != name {
        return Err(ToolsError::SecondEngine {
            working_on: have.0.clone(),
            asked: name.to_string(),
        });
    }
    Ok(())
}

/// The engine on another machine this process works on, if [`use_engine`] chose one.
pub fn engine_in_use() -> Option<&'static (String, String)> {
    ENGINE.get()
}

pub fn endpoint() -> Endpoint {
    if let Some((name, url)) = ENGINE.get() {
        return Endpoint {
            host: url.clone(),
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
    if ENGINE.get().is_some() {
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
