//! Container state straight from `docker ps`, filtered on the compose labels: it works
//! with every compose variant and answers for all instances in one call.

use std::collections::BTreeMap;

use crate::support::env_vars::EnvVars;
use crate::support::exec::{Cmd, ExecError};
use crate::tools::error::{Result, ToolsError};

mod endpoint;
mod owned;

pub use endpoint::{
    Endpoint, EngineScope, ScopeGuard, classify, config_dir, endpoint, engine_in_use,
    ensure_local_endpoint, precheck, unavailable, use_engine,
};
pub use owned::{OP_LABEL, Object, Removal, remove_if_labelled};

pub const PROJECT_LABEL: &str = "com.docker.compose.project";

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

/// A container's healthcheck result, as `docker ps` shows it in the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Unhealthy,
    Starting,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Starting => "starting",
        }
    }
}

impl Container {
    pub fn running(&self) -> bool {
        self.state == "running"
    }

    /// Its healthcheck's result; `None` without a healthcheck.
    pub fn health(&self) -> Option<Health> {
        if self.status.contains("(healthy)") {
            Some(Health::Healthy)
        } else if self.status.contains("(unhealthy)") {
            Some(Health::Unhealthy)
        } else if self.status.contains("health: starting") {
            Some(Health::Starting)
        } else {
            None
        }
    }

    /// Finished with exit 0 (a one-shot job that did its work).
    pub fn exited_cleanly(&self) -> bool {
        self.state == "exited" && self.status.starts_with("Exited (0)")
    }

    /// Died: exited non-zero, restarting, or dead.
    pub fn died(&self) -> bool {
        self.state == "restarting"
            || self.state == "dead"
            || (self.state == "exited" && !self.exited_cleanly())
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

pub(crate) fn docker() -> Cmd {
    Cmd::new("docker")
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

/// All compose-labelled containers on the engine at `host` (an engine on another
/// machine, for `list`), whatever engine this process otherwise works on.
pub fn containers_at(host: &str) -> std::result::Result<Vec<Container>, ExecError> {
    let out = Cmd::new("docker")
        .env(EnvVars::DOCKER_HOST, host)
        .args(["ps", "-a", "--no-trunc", "--filter"])
        .arg(format!("label={PROJECT_LABEL}"))
        .args(["--format", PS_FORMAT])
        .timeout(std::time::Duration::from_secs(30))
        .run()?;
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

pub fn networks(project: &str) -> Result<Vec<String>> {
    labelled("network", project)
}

/// Every subnet the engine's networks use, IPv4 (`a.b.c.d/len`) and IPv6.
pub fn network_subnets() -> Result<Vec<String>> {
    let ids = docker()
        .args(["network", "ls", "-q"])
        .timeout(std::time::Duration::from_secs(30))
        .run()
        .map_err(classify)?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = docker()
        .args([
            "network",
            "inspect",
            "--format",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
        ])
        .args(ids)
        .timeout(std::time::Duration::from_secs(30))
        .run()
        .map_err(classify)?;
    // v4 and v6 alike: each caller parses the family it chooses in.
    Ok(out.split_whitespace().map(String::from).collect())
}

/// `docker <args…> NAMES…`, nothing done for an empty list.
fn on_each(args: &[&str], names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    docker().args(args).args(names).run().map_err(classify)?;
    Ok(())
}

/// Removes containers, leaving every volume alone (no `-v`: a recreated container
/// can hold an anonymous volume it inherited from the one before it).
pub fn remove_containers(ids: &[String]) -> Result<()> {
    on_each(&["rm", "-f"], ids)
}

pub fn stop_containers(ids: &[String]) -> Result<()> {
    on_each(&["stop"], ids)
}

pub fn remove_volumes(names: &[String]) -> Result<()> {
    on_each(&["volume", "rm"], names)
}

pub fn remove_networks(names: &[String]) -> Result<()> {
    on_each(&["network", "rm"], names)
}

/// Removes a project's networks once no container of it is left, waiting up to
/// ten seconds for the engine to release endpoints of containers just removed, and
/// then disconnecting endpoints whose container no longer exists. `false`: a
/// container still uses one (it stays), or Docker did not answer.
pub fn remove_networks_settling(project: &str) -> bool {
    let Ok(left) = containers(Some(project)) else {
        return false;
    };
    if !left.is_empty() {
        return false;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let Ok(nets) = networks(project) else {
            return false;
        };
        if nets.is_empty() || remove_networks(&nets).is_ok() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // Endpoints the engine kept for containers that are gone.
    let Ok(nets) = networks(project) else {
        return false;
    };
    for n in &nets {
        let attached = docker()
            .args([
                "network",
                "inspect",
                "--format",
                "{{range .Containers}}{{.Name}} {{end}}",
                n,
            ])
            .timeout(std::time::Duration::from_secs(30))
            .run()
            .unwrap_or_default();
        for endpoint in attached.split_whitespace() {
            // A container that exists (another project's, on this network) keeps it.
            let exists = docker()
                .args(["container", "inspect", "--format", "{{.Id}}", endpoint])
                .timeout(std::time::Duration::from_secs(30))
                .output()
                .is_ok_and(|o| o.status.success());
            if exists {
                return false;
            }
            let _ = docker()
                .args(["network", "disconnect", "--force", n, endpoint])
                .timeout(std::time::Duration::from_secs(30))
                .output();
        }
    }
    remove_networks(&nets).is_ok()
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
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct Removed {
    pub containers: usize,
    pub volumes: usize,
    pub networks: usize,
    /// Images compose built for the instance (`<project>-<service>`), removed when
    /// no other container uses them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub images: usize,
    /// Containers of the same project name started from another directory (another
    /// kinfra home, or by hand): left alone, and with them the volumes.
    pub foreign: Vec<String>,
}

/// Is this container compose's from `dir`? (No label: assume so.)
pub fn started_from(c: &Container, dir: &std::path::Path) -> bool {
    c.working_dir.is_empty()
        || crate::support::fsutil::same_path(std::path::Path::new(&c.working_dir), dir)
}

/// Removes the containers, volumes (with `volumes`) and network labelled with
/// `project`. Needs no compose file, so it also cleans up after instances whose
/// directory is gone. With `dir`, containers compose started from another directory
/// are not ours: they are left, and so are the volumes and network they use.
pub fn remove_project(
    project: &str,
    dir: Option<&std::path::Path>,
    volumes: bool,
) -> Result<Removed> {
    let mut removed = Removed::default();
    let (ours, foreign): (Vec<Container>, Vec<Container>) = containers(Some(project))?
        .into_iter()
        .partition(|c| dir.is_none_or(|d| started_from(c, d)));
    let ids: Vec<String> = ours.into_iter().map(|c| c.id).collect();
    on_each(&["rm", "-f", "-v"], &ids)?;
    removed.containers = ids.len();
    if !foreign.is_empty() {
        removed.foreign = foreign
            .into_iter()
            .map(|c| format!("{} (from {})", c.name, c.working_dir))
            .collect();
        return Ok(removed);
    }
    if volumes {
        let vols = self::volumes(project)?;
        on_each(&["volume", "rm", "-f"], &vols)?;
        removed.volumes = vols.len();
    }
    let nets = networks(project)?;
    remove_networks(&nets)?;
    removed.networks = nets.len();
    Ok(removed)
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Removes the images among `names` that exist and that no container uses (an
/// image another container uses is refused by the engine and kept). Returns how
/// many went.
pub fn remove_images(names: &[String], instance: &str) -> ImagesRemoved {
    let mut done = ImagesRemoved::default();
    let Ok(have) = docker()
        .args(["images", "--format", "{{.Repository}}"])
        .timeout(std::time::Duration::from_secs(30))
        .run()
    else {
        return done;
    };
    let present: std::collections::BTreeSet<&str> = have.lines().map(str::trim).collect();
    for n in names.iter().filter(|n| present.contains(n.as_str())) {
        // A name proves nothing: an image tagged by hand could carry it. Only
        // one the instance's build labelled is its own.
        let labels = docker()
            .args([
                "image",
                "inspect",
                "--format",
                "{{json .Config.Labels}}",
                "--",
            ])
            .arg(n.as_str())
            .timeout(std::time::Duration::from_secs(30))
            .run()
            .ok()
            .and_then(|t| owned::parse_labels(&t))
            .unwrap_or_default();
        if !built_by(&labels, instance) {
            done.refused.push(n.clone());
            continue;
        }
        let removed = docker()
            .args(["image", "rm", "--"])
            .arg(n.as_str())
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .is_ok_and(|o| o.status.success());
        done.removed += usize::from(removed);
    }
    done
}

/// What [`remove_images`] did: how many it removed, and which images of the
/// instance's names it left because no label says the instance built them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagesRemoved {
    pub removed: usize,
    pub refused: Vec<String>,
}

/// The label kinfra's copy puts on every image an instance builds (compose v1
/// labels built images with nothing of its own).
pub const BUILT_FOR_LABEL: &str = "dev.kinfra.instance";

/// Pure: whether an image's labels say `instance` built it: compose v2's project
/// label, or the label kinfra's copy adds to every build.
pub fn built_by(labels: &BTreeMap<String, String>, instance: &str) -> bool {
    [PROJECT_LABEL, BUILT_FOR_LABEL]
        .iter()
        .any(|k| labels.get(*k).is_some_and(|v| v == instance))
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

/// Every `repository:tag` the engine has; `None` when it does not answer.
pub fn image_names() -> Option<std::collections::BTreeSet<String>> {
    let out = docker()
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .timeout(std::time::Duration::from_secs(30))
        .run()
        .ok()?;
    Some(out.lines().map(|l| l.trim().to_string()).collect())
}

/// Whether a network or volume of that name exists; `None` when the engine does not
/// answer.
pub fn object_exists(kind: &str, name: &str) -> Option<bool> {
    match docker()
        .args([kind, "inspect", name])
        .timeout(std::time::Duration::from_secs(10))
        .output()
    {
        Ok(o) if o.status.success() => Some(true),
        // "No such network", "no such volume", or (older engines) "network X not found".
        Ok(o)
            if {
                let e = o.stderr.to_lowercase();
                e.contains("no such") || e.contains("not found")
            } =>
        {
            Some(false)
        }
        _ => None,
    }
}

/// Creates a network or volume (`docker network create NAME`).
pub fn create_object(kind: &str, name: &str) -> Result<()> {
    docker()
        .args([kind, "create", name])
        .timeout(std::time::Duration::from_secs(30))
        .run()
        .map(|_| ())
        .map_err(classify)
}

/// The engine's memory in bytes (`docker info`), for the machine budget.
pub fn engine_memory() -> Option<u64> {
    docker()
        .args(["info", "--format", "{{.MemTotal}}"])
        .timeout(std::time::Duration::from_secs(10))
        .run()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Memory the containers use now, as `docker stats` counts it (usage less the page
/// cache), summed. Asked of the engine's API with `one-shot` (`docker stats` waits a
/// second or more for a CPU sample nobody needs here), one container per thread.
/// `None` when the engine is not on a local socket or does not answer.
pub fn memory_usage(ids: &[String]) -> Option<u64> {
    let host = endpoint().host;
    let socket = host.strip_prefix("unix://")?.to_string();
    if ids.is_empty() {
        return None;
    }
    let handles: Vec<_> = ids
        .iter()
        .map(|id| {
            let (socket, id) = (socket.clone(), id.clone());
            std::thread::spawn(move || container_memory(&socket, &id))
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.join().ok().flatten()?;
    }
    Some(total)
}

fn container_memory(socket: &str, id: &str) -> Option<u64> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    // HTTP/1.0: the engine closes the connection after the body, so reading to the
    // end needs no chunked decoding.
    write!(
        s,
        "GET /containers/{id}/stats?stream=false&one-shot=true HTTP/1.0\r\nHost: docker\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    parse_memory_stats(text.split_once("\r\n\r\n")?.1)
}

/// Pure: bytes in use from the engine's stats JSON, less the page cache
/// (`inactive_file` on cgroup v2, `cache` on v1), as the docker CLI shows it.
pub fn parse_memory_stats(json: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let m = &v["memory_stats"];
    let usage = m["usage"].as_u64()?;
    let cache = m["stats"]["inactive_file"]
        .as_u64()
        .or_else(|| m["stats"]["cache"].as_u64())
        .unwrap_or(0);
    Some(usage.saturating_sub(cache))
}

#[cfg(test)]
mod tests;
