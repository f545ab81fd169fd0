//! Container state straight from `docker ps`, filtered on the compose labels: it works
//! with every compose variant and answers for all instances in one call.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::exec::{Cmd, ExecError};

pub const PROJECT_LABEL: &str = "com.docker.compose.project";
pub const SERVICE_LABEL: &str = "com.docker.compose.service";

/// `docker ps` format: one container a line, tab-separated, no ambiguous label lists.
const PS_FORMAT: &str = "{{.ID}}\t{{.Label \"com.docker.compose.project\"}}\t{{.Label \"com.docker.compose.service\"}}\t{{.State}}\t{{.Status}}\t{{.Names}}\t{{.Ports}}\t{{.Label \"com.docker.compose.project.working_dir\"}}";

#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub id: String,
    pub project: String,
    pub service: String,
    /// running, exited, restarting, created, paused, dead
    pub state: String,
    /// "Up 5 seconds (healthy)" …
    pub status: String,
    pub name: String,
    /// Host ports this container publishes.
    pub host_ports: Vec<u16>,
    /// The directory compose ran from (empty when the label is missing).
    pub working_dir: String,
}

impl Container {
    pub fn running(&self) -> bool {
        self.state == "running"
    }
    pub fn health(&self) -> Option<&'static str> {
        if self.status.contains("(healthy)") {
            Some("healthy")
        } else if self.status.contains("(unhealthy)") {
            Some("unhealthy")
        } else if self.status.contains("health: starting") {
            Some("starting")
        } else {
            None
        }
    }
}

/// Pure parser for [`PS_FORMAT`] lines.
pub fn parse_ps(text: &str) -> Vec<Container> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() < 6 {
                return None;
            }
            Some(Container {
                id: f[0].into(),
                project: f[1].into(),
                service: f[2].into(),
                state: f[3].into(),
                status: f[4].into(),
                name: f[5].into(),
                host_ports: f.get(6).map(|p| parse_host_ports(p)).unwrap_or_default(),
                working_dir: f.get(7).map(|w| w.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

/// Host ports from docker's Ports column:
/// `0.0.0.0:4317-4318->4317-4318/tcp, :::8000->8000/tcp, 5003/tcp`.
pub fn parse_host_ports(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.split(", ") {
        let Some((host, _)) = part.split_once("->") else {
            continue; // exposed, not published
        };
        let port = host.rsplit(':').next().unwrap_or("");
        let (lo, hi) = port.split_once('-').unwrap_or((port, port));
        if let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) {
            for p in lo..=hi {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

fn docker() -> Cmd {
    Cmd::new("docker")
}

/// The docker CLI's configuration directory: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))
}

/// Where the engine's socket is, when that can be known without asking the CLI:
/// `DOCKER_HOST=unix://…`, or the default socket when no context is selected.
fn local_socket() -> Option<std::path::PathBuf> {
    if std::env::var_os("DOCKER_CONTEXT").is_some_and(|c| !c.is_empty() && c != "default") {
        return None;
    }
    match std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        Some(h) => h.strip_prefix("unix://").map(std::path::PathBuf::from),
        None => {
            // A selected context (Docker Desktop's, say) points somewhere else.
            let config = config_dir().map(|d| d.join("config.json"));
            let context = config
                .and_then(|c| std::fs::read(c).ok())
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| {
                    v.get("currentContext")
                        .and_then(|c| c.as_str().map(String::from))
                });
            match context.as_deref() {
                None | Some("") | Some("default") => Some("/var/run/docker.sock".into()),
                Some(_) => None,
            }
        }
    }
}

/// Fails fast, without starting the docker CLI, when the engine's local socket
/// does not answer: `list` with Docker stopped then costs microseconds, not a spawn.
pub fn precheck() -> Result<()> {
    let Some(sock) = local_socket() else {
        return Ok(());
    };
    match std::os::unix::net::UnixStream::connect(&sock) {
        Ok(_) => Ok(()),
        Err(source) => Err(Error::DockerUnavailable {
            source: ExecError::Spawn {
                summary: format!("connect to the Docker socket {}", sock.display()),
                source,
            },
        }),
    }
}

/// Maps a failed docker call to "engine unreachable" when that is what it was.
pub fn classify(e: ExecError) -> Error {
    let stderr = e.stderr();
    if stderr.contains("Cannot connect to the Docker daemon")
        || stderr.contains("error during connect")
        || stderr.contains("Is the docker daemon running")
        || matches!(e, ExecError::TimedOut { .. })
    {
        Error::DockerUnavailable { source: e }
    } else {
        Error::Exec(e)
    }
}

/// All compose-labelled containers (any state), optionally of one project.
pub fn containers(project: Option<&str>) -> Result<Vec<Container>> {
    precheck()?;
    let filter = match project {
        Some(p) => format!("label={PROJECT_LABEL}={p}"),
        None => format!("label={PROJECT_LABEL}"),
    };
    let out = docker()
        .args(["ps", "-a", "--no-trunc", "--filter"])
        .arg(filter)
        .args(["--format", PS_FORMAT])
        .timeout(std::time::Duration::from_secs(30))
        .run()
        .map_err(classify)?;
    Ok(parse_ps(&out))
}

/// Every running container publishing a host port (for conflict reports).
pub fn port_holders() -> Result<BTreeMap<u16, String>> {
    let out = docker()
        .args(["ps", "--format", PS_FORMAT])
        .timeout(std::time::Duration::from_secs(30))
        .run()
        .map_err(classify)?;
    let mut m = BTreeMap::new();
    for c in parse_ps(&out) {
        for p in &c.host_ports {
            m.insert(*p, c.name.clone());
        }
    }
    Ok(m)
}

/// Groups containers by compose project.
pub fn by_project(cs: Vec<Container>) -> BTreeMap<String, Vec<Container>> {
    let mut m: BTreeMap<String, Vec<Container>> = BTreeMap::new();
    for c in cs {
        m.entry(c.project.clone()).or_default().push(c);
    }
    m
}

fn labelled(kind: &str, project: &str) -> Result<Vec<String>> {
    let out = docker()
        .args([kind, "ls", "-q", "--filter"])
        .arg(format!("label={PROJECT_LABEL}={project}"))
        .run()
        .map_err(classify)?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

pub fn volumes(project: &str) -> Result<Vec<String>> {
    labelled("volume", project)
}

/// Names of all volumes with a compose project label, by project.
pub fn all_volume_projects() -> Result<BTreeMap<String, Vec<String>>> {
    let out = docker()
        .args(["volume", "ls", "--filter"])
        .arg(format!("label={PROJECT_LABEL}"))
        .args([
            "--format",
            "{{.Name}}\t{{.Label \"com.docker.compose.project\"}}",
        ])
        .run()
        .map_err(classify)?;
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in out.lines() {
        if let Some((name, project)) = l.split_once('\t') {
            m.entry(project.to_string())
                .or_default()
                .push(name.to_string());
        }
    }
    Ok(m)
}

/// What [`remove_project`] removed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Removed {
    pub containers: usize,
    pub volumes: usize,
    pub networks: usize,
    /// Containers of the same project name started from another directory (another
    /// kinfra home, or by hand): left alone, and with them the volumes.
    pub foreign: Vec<String>,
}

/// Is this container compose's from `dir`? (No label: assume so.)
pub fn started_from(c: &Container, dir: &std::path::Path) -> bool {
    c.working_dir.is_empty()
        || crate::registry::same_path(std::path::Path::new(&c.working_dir), dir)
}

/// Removes the containers, volumes and network labelled with `project`. Needs no
/// compose file, so it also cleans up after instances whose directory is gone.
/// With `dir`, containers compose started from another directory are not ours: they
/// are left, and so are the volumes and network they use.
pub fn remove_project(project: &str, dir: Option<&std::path::Path>) -> Result<Removed> {
    let mut removed = Removed::default();
    let (ours, foreign): (Vec<Container>, Vec<Container>) = containers(Some(project))?
        .into_iter()
        .partition(|c| dir.is_none_or(|d| started_from(c, d)));
    let ids: Vec<String> = ours.into_iter().map(|c| c.id).collect();
    if !ids.is_empty() {
        docker()
            .args(["rm", "-f", "-v"])
            .args(&ids)
            .run()
            .map_err(classify)?;
        removed.containers = ids.len();
    }
    if !foreign.is_empty() {
        removed.foreign = foreign
            .into_iter()
            .map(|c| format!("{} (from {})", c.name, c.working_dir))
            .collect();
        return Ok(removed);
    }
    let vols = volumes(project)?;
    if !vols.is_empty() {
        docker()
            .args(["volume", "rm", "-f"])
            .args(&vols)
            .run()
            .map_err(classify)?;
        removed.volumes = vols.len();
    }
    let nets = labelled("network", project)?;
    if !nets.is_empty() {
        docker()
            .args(["network", "rm"])
            .args(&nets)
            .run()
            .map_err(classify)?;
        removed.networks = nets.len();
    }
    Ok(removed)
}

/// The last `n` log lines of a container (stdout and stderr together).
pub fn log_tail(container: &str, n: usize) -> String {
    match docker()
        .args(["logs", "--tail", &n.to_string(), container])
        .timeout(std::time::Duration::from_secs(10))
        .output()
    {
        Ok(o) => format!("{}{}", o.stdout, o.stderr),
        Err(e) => format!("(could not read logs: {e})"),
    }
}

/// Is the engine reachable? (`docker version` talks to it.)
pub fn ping() -> Result<String> {
    precheck()?;
    docker()
        .args(["version", "--format", "{{.Server.Version}}"])
        .timeout(std::time::Duration::from_secs(15))
        .run()
        .map(|s| s.trim().to_string())
        .map_err(classify)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from `docker ps -a --format PS_FORMAT` (docker 28 client, engine 20.10).
    const SAMPLE: &str = "3f1c0a\tktrdr-prod\tbackend\trunning\tUp 3 seconds (healthy)\tktrdr-prod_backend_1\t0.0.0.0:8000->8000/tcp, [::]:8000->8000/tcp\n\
9a2b11\tktrdr-prod\tjaeger\trunning\tUp 4 seconds\tktrdr-prod_jaeger_1\t0.0.0.0:4317-4318->4317-4318/tcp, [::]:4317-4318->4317-4318/tcp, 0.0.0.0:16686->16686/tcp, [::]:16686->16686/tcp\n\
77aa00\tktrdr--b\tmcp-local\texited\tExited (137) 2 minutes ago\tktrdr--b-mcp-local-1\t\n";

    #[test]
    fn parses_captured_ps() {
        let cs = parse_ps(SAMPLE);
        assert_eq!(cs.len(), 3);
        assert_eq!(cs[0].service, "backend");
        assert_eq!(cs[0].health(), Some("healthy"));
        assert_eq!(cs[0].host_ports, vec![8000]);
        assert_eq!(cs[1].host_ports, vec![4317, 4318, 16686]);
        assert!(!cs[2].running());
        assert!(cs[2].host_ports.is_empty());
        let groups = by_project(cs);
        assert_eq!(groups["ktrdr-prod"].len(), 2);
    }

    #[test]
    fn host_ports_ignore_unpublished() {
        assert_eq!(parse_host_ports("5003/tcp"), Vec::<u16>::new());
        assert_eq!(parse_host_ports("127.0.0.1:9090->9090/tcp"), vec![9090]);
    }
}
