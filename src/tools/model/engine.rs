//! What one instance of a project shares with every other through the engine and
//! the host rather than through compose's own objects: containers that watch the
//! engine through its socket (a reverse proxy with Docker discovery serves every
//! stack's routers), a built image with a fixed tag (each build retags the one
//! image, so a sandbox runs another's code), and host paths outside the repository
//! that every instance writes. Each is made the instance's own in its copy where
//! that can be done without guessing, and named where it cannot.

use super::*;
use crate::tools::docker::BUILT_FOR_LABEL;

/// The label compose puts on every container of a project (its value is the
/// instance's id): one constant, the docker module's.
pub use crate::tools::docker::PROJECT_LABEL;

/// What [`isolate_engine`] changed and what it left shared, for the person.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineIsolation {
    /// Traefik services whose Docker provider now sees only this instance
    /// (service, constraint written).
    #[serde(default)]
    pub limited: Vec<(String, String)>,
    /// Services that see every instance's containers and that kinfra could not
    /// limit (service, why and what to do).
    #[serde(default)]
    pub watchers: Vec<(String, String)>,
    /// Built images whose fixed name became the instance's own (service, from, to).
    #[serde(default)]
    pub images: Vec<(String, String, String)>,
    /// Host paths outside the repository that every instance writes (service, path).
    #[serde(default)]
    pub host_paths: Vec<(String, String)>,
    /// Host paths made the instance's own by `[isolate] host_paths`
    /// (service, from, to).
    #[serde(default)]
    pub own_host_paths: Vec<(String, String, String)>,
}

impl EngineIsolation {
    /// One line per rewrite or shared thing.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (svc, c) in &self.limited {
            out.push(format!(
                "service {svc}: its Docker provider sees only this instance's containers (constraint {c})"
            ));
        }
        for (svc, why) in &self.watchers {
            out.push(format!("service {svc} {why}"));
        }
        for (svc, from, to) in &self.images {
            out.push(format!(
                "service {svc}: built image {from:?} is this instance's own {to:?} (one tag rebuilt by each instance would run another's code)"
            ));
        }
        for (svc, path) in &self.host_paths {
            out.push(format!(
                "service {svc} writes the host path {path}, outside the repository: every instance shares it; give each instance its own with `[isolate] host_paths = [{path:?}]` in kinfra.toml"
            ));
        }
        for (svc, from, to) in &self.own_host_paths {
            out.push(format!(
                "service {svc}: host path {from} is this instance's own {to} ({from} is left untouched)"
            ));
        }
        out
    }
}

/// What [`isolate_engine`] needs besides the document.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions<'a> {
    /// The compose project name (the instance's id).
    pub project: &'a str,
    /// A sandbox gets the rewrites; local-prod keeps the project's own names.
    pub sandbox: bool,
    /// Paths under which a host path is the instance's own or kinfra's (the
    /// instance's directory, kinfra's home).
    pub own_dirs: Vec<String>,
    /// `[isolate] host_paths`, `~` already expanded: (path, instance's own dir).
    pub host_paths: Vec<(String, String)>,
}

/// Pure: makes what the engine and the host share the instance's own where it can
/// ([`EngineIsolation`]), and names the rest.
pub fn isolate_engine(doc: &mut Value, o: &EngineOptions) -> EngineIsolation {
    let mut iso = EngineIsolation::default();
    if o.sandbox {
        scope_images(doc, o.project, &mut iso);
    }
    label_builds(doc, o.project);
    let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) else {
        return iso;
    };
    for (svc, s) in services.iter_mut() {
        let Some(s) = s.as_object_mut() else { continue };
        let mounts = bind_mounts(s);
        let socket = mounts.iter().any(|m| is_socket(&m.source));
        match watcher_kind(s) {
            Watcher::Traefik => match limit_traefik(s, o.project) {
                Ok(c) => iso.limited.push((svc.clone(), c)),
                Err(why) => iso.watchers.push((svc.clone(), why)),
            },
            Watcher::Known(what) => iso.watchers.push((svc.clone(), format!(
                "is {what} with Docker discovery: it sees every instance's containers, so one instance's proxy serves another's; kinfra cannot limit it (recent docker-gen takes -container-filter label={PROJECT_LABEL}=<project>)"
            ))),
            Watcher::None if socket => iso.watchers.push((svc.clone(), format!(
                "mounts the Docker socket: it sees every instance's containers (and local-prod's), not only this instance's ({PROJECT_LABEL} tells them apart)"
            ))),
            Watcher::None => {}
        }
        host_paths(svc, s, &mounts, o, &mut iso);
    }
    iso
}

/// A bind mount of a service as the model gives it: long form (v2, or v1 long
/// syntax) or a short `source:target[:mode]` string (v1).
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    /// Index in the service's `volumes`.
    index: usize,
    source: String,
    read_only: bool,
}

fn bind_mounts(s: &serde_json::Map<String, Value>) -> Vec<Mount> {
    let Some(list) = s.get("volumes").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (index, v) in list.iter().enumerate() {
        match v {
            Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("bind") => {
                let Some(source) = m.get("source").and_then(Value::as_str) else {
                    continue;
                };
                out.push(Mount {
                    index,
                    source: source.to_string(),
                    read_only: m.get("read_only").and_then(Value::as_bool) == Some(true),
                });
            }
            Value::String(t) => {
                let parts: Vec<&str> = t.split(':').collect();
                let host = parts[0];
                // A named volume has no path: `data:/data`.
                if parts.len() < 2 || !(host.starts_with('/') || host.starts_with('~')) {
                    continue;
                }
                let mode = if parts.len() > 2 {
                    parts[parts.len() - 1]
                } else {
                    ""
                };
                out.push(Mount {
                    index,
                    source: host.to_string(),
                    read_only: mode.split(',').any(|m| m == "ro"),
                });
            }
            _ => {}
        }
    }
    out
}

fn is_socket(source: &str) -> bool {
    source.ends_with("/docker.sock") || source.ends_with("/podman.sock")
}

enum Watcher {
    None,
    Traefik,
    /// A discovering proxy kinfra knows but cannot limit.
    Known(&'static str),
}

/// The command's arguments, whichever shape compose gave them.
fn args(s: &serde_json::Map<String, Value>) -> Vec<String> {
    match s.get("command") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Some(Value::String(t)) => t.split_whitespace().map(String::from).collect(),
        _ => Vec::new(),
    }
}

/// The service's environment value for `key` (map or `K=V` list).
fn env_value(s: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match s.get("environment")? {
        Value::Object(m) => m.get(key).and_then(Value::as_str).map(String::from),
        Value::Array(a) => a.iter().filter_map(Value::as_str).find_map(|e| {
            e.split_once('=')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }),
        _ => None,
    }
}

fn env_keys(s: &serde_json::Map<String, Value>) -> Vec<String> {
    match s.get("environment") {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|e| e.split('=').next().unwrap_or("").to_string())
            .collect(),
        _ => Vec::new(),
    }
}

fn watcher_kind(s: &serde_json::Map<String, Value>) -> Watcher {
    let image = s.get("image").and_then(Value::as_str).unwrap_or("");
    let image = image.rsplit('/').next().unwrap_or(image);
    let image = image.split([':', '@']).next().unwrap_or(image);
    let traefik_args = args(s)
        .iter()
        .any(|a| a.to_ascii_lowercase().starts_with("--providers.docker"));
    let traefik_env = env_keys(s)
        .iter()
        .any(|k| k.starts_with("TRAEFIK_PROVIDERS_DOCKER"));
    if image == "traefik" || traefik_args || traefik_env {
        return Watcher::Traefik;
    }
    match image {
        "nginx-proxy" | "docker-gen" => Watcher::Known("nginx-proxy/docker-gen"),
        "acme-companion" | "letsencrypt-nginx-proxy-companion" => {
            Watcher::Known("nginx-proxy's acme-companion")
        }
        "caddy-docker-proxy" => Watcher::Known("caddy-docker-proxy"),
        _ => Watcher::None,
    }
}

/// Pure: `existing` limited to the project's containers as well (`&&`, so a limit
/// the project sets is kept). An expression whose parentheses or backquotes do not
/// balance could close the group and widen the limit (`a`) || (`true`): it is
/// dropped, and the project's own label is the whole constraint.
pub fn combine_constraint(existing: Option<&str>, project: &str) -> String {
    let own = format!("Label(`{PROJECT_LABEL}`,`{project}`)");
    match existing.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) if e == own || e.ends_with(&format!(") && {own}")) && balanced(e) => e.to_string(),
        Some(e) if balanced(e) => format!("({e}) && {own}"),
        _ => own,
    }
}

/// Pure: whether an expression's parentheses balance outside its backquoted
/// strings, and its backquotes pair up.
fn balanced(e: &str) -> bool {
    let (mut depth, mut quoted) = (0i32, false);
    for c in e.chars() {
        match c {
            '`' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0 && !quoted
}

const CONSTRAINT_FLAG: &str = "--providers.docker.constraints";
const CONSTRAINT_ENV: &str = "TRAEFIK_PROVIDERS_DOCKER_CONSTRAINTS";

/// Traefik's Docker provider limited to the project's containers: in its command
/// (the flag, combined with one it has) when it is configured by flags, else in its
/// environment. Traefik reads one source of static configuration: one configured
/// by a file (`traefik.yml`) ignores flags and environment, so it is named instead.
fn limit_traefik(
    s: &mut serde_json::Map<String, Value>,
    project: &str,
) -> std::result::Result<String, String> {
    let unlimited = |why: &str| {
        format!(
            "is Traefik with Docker discovery {why}: it serves every instance's routers; limit it with {CONSTRAINT_FLAG}=Label(`{PROJECT_LABEL}`,`<project>`) (the project name is the instance's id)"
        )
    };
    let a = args(s);
    if a.iter()
        .any(|x| x.to_ascii_lowercase().starts_with("--providers.docker"))
    {
        let Some(Value::Array(list)) = s.get_mut("command") else {
            return Err(unlimited(
                "configured in a one-line command kinfra does not rewrite",
            ));
        };
        // Each constraint flag is limited (Traefik takes one; which is its business).
        let mut c = String::new();
        let mut found = false;
        for x in list.iter_mut() {
            // Traefik reads its flags' names whatever their case.
            let Some(t) = x
                .as_str()
                .filter(|t| t.to_ascii_lowercase().starts_with(CONSTRAINT_FLAG))
            else {
                continue;
            };
            let existing = match t.split_once('=') {
                Some((flag, v)) if flag.eq_ignore_ascii_case(CONSTRAINT_FLAG) => v.to_string(),
                _ => return Err(unlimited("whose constraint flag has no `=`")),
            };
            c = combine_constraint(Some(&existing), project);
            *x = Value::String(format!("{CONSTRAINT_FLAG}={c}"));
            found = true;
        }
        if !found {
            c = combine_constraint(None, project);
            list.push(Value::String(format!("{CONSTRAINT_FLAG}={c}")));
        }
        return Ok(c);
    }
    if env_keys(s)
        .iter()
        .any(|k| k.starts_with("TRAEFIK_PROVIDERS_DOCKER"))
    {
        let c = combine_constraint(env_value(s, CONSTRAINT_ENV).as_deref(), project);
        match s.get_mut("environment") {
            Some(Value::Object(m)) => {
                m.insert(CONSTRAINT_ENV.into(), Value::String(c.clone()));
            }
            Some(Value::Array(list)) => {
                list.retain(|e| {
                    e.as_str()
                        .is_none_or(|t| t.split('=').next() != Some(CONSTRAINT_ENV))
                });
                list.push(Value::String(format!("{CONSTRAINT_ENV}={c}")));
            }
            _ => return Err(unlimited("configured in a shape kinfra does not rewrite")),
        }
        return Ok(c);
    }
    if bind_mounts(s).iter().any(|m| is_socket(&m.source)) {
        return Err(unlimited(
            "configured in its own file (traefik.yml), which kinfra does not rewrite",
        ));
    }
    Err(unlimited("configured where kinfra cannot see"))
}

/// A sandbox's built images with a fixed `image:` get the instance's own name,
/// `<project>-<service>` (what compose names a built image without one, so
/// `destroy` finds it); a service that runs the same image without building it
/// follows.
fn scope_images(doc: &mut Value, project: &str, iso: &mut EngineIsolation) {
    let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) else {
        return;
    };
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    for (svc, s) in services.iter() {
        if s.get("build").is_none() {
            continue;
        }
        if let Some(image) = s.get("image").and_then(Value::as_str)
            && !owned_image(project, image)
        {
            renamed
                .entry(image.to_string())
                .or_insert_with(|| format!("{project}-{svc}"));
        }
    }
    for (svc, s) in services.iter_mut() {
        let Some(o) = s.as_object_mut() else { continue };
        let Some(to) = o
            .get("image")
            .and_then(Value::as_str)
            .and_then(|i| renamed.get(i))
            .cloned()
        else {
            continue;
        };
        let from = o.insert("image".into(), Value::String(to.clone()));
        let from = from
            .and_then(|f| f.as_str().map(String::from))
            .unwrap_or_default();
        iso.images.push((svc.clone(), from, to));
    }
}

/// Adds `dev.kinfra.instance=<project>` to the labels of every service's build,
/// as a map or a list, whichever the model uses: `destroy` removes an image only
/// when its build says the instance made it ([`BUILT_FOR_LABEL`]).
fn label_builds(doc: &mut Value, project: &str) {
    let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) else {
        return;
    };
    for s in services.values_mut() {
        let Some(build) = s.get_mut("build") else {
            continue;
        };
        if let Some(ctx) = build.as_str().map(String::from) {
            *build = serde_json::json!({ "context": ctx });
        }
        let Some(b) = build.as_object_mut() else {
            continue;
        };
        let labels = b
            .entry("labels")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        match labels {
            Value::Object(m) => {
                m.insert(BUILT_FOR_LABEL.into(), Value::String(project.into()));
            }
            Value::Array(a) => {
                a.retain(|l| {
                    !l.as_str()
                        .is_some_and(|l| l.starts_with(&format!("{BUILT_FOR_LABEL}=")))
                });
                a.push(Value::String(format!("{BUILT_FOR_LABEL}={project}")));
            }
            _ => {}
        }
    }
}

fn owned_image(project: &str, image: &str) -> bool {
    image.starts_with(&format!("{project}-")) || image.starts_with(&format!("{project}_"))
}

/// Paths a service mounts from the host that nothing of the project owns and
/// that are not the engine's or the system's, written (not read-only): shared by
/// every instance, unless `[isolate] host_paths` gives each its own.
fn host_paths(
    svc: &str,
    s: &mut serde_json::Map<String, Value>,
    mounts: &[Mount],
    o: &EngineOptions,
    iso: &mut EngineIsolation,
) {
    const SYSTEM: [&str; 6] = ["/proc", "/sys", "/dev", "/etc", "/lib/modules", "/run"];
    let under = |p: &str, dir: &str| {
        let dir = dir.trim_end_matches('/');
        p == dir || p.starts_with(&format!("{dir}/"))
    };
    for m in mounts {
        let p = m.source.as_str();
        if m.read_only
            || is_socket(p)
            || !(p.starts_with('/') || p.starts_with("~/"))
            || SYSTEM.iter().any(|d| under(p, d))
            || o.own_dirs.iter().any(|d| under(p, d))
        {
            continue;
        }
        let own = o
            .host_paths
            .iter()
            .find(|(h, _)| under(p, h))
            .map(|(h, to)| {
                format!(
                    "{}{}",
                    to.trim_end_matches('/'),
                    &p[h.trim_end_matches('/').len()..]
                )
            });
        match own {
            Some(to) if o.sandbox => {
                set_source(s, m.index, &to);
                iso.own_host_paths
                    .push((svc.to_string(), p.to_string(), to));
            }
            // local-prod keeps the project's own path, as it keeps its names.
            Some(_) => {}
            None => iso.host_paths.push((svc.to_string(), p.to_string())),
        }
    }
}

fn set_source(s: &mut serde_json::Map<String, Value>, index: usize, to: &str) {
    let Some(v) = s
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .and_then(|l| l.get_mut(index))
    else {
        return;
    };
    match v {
        Value::Object(m) => {
            m.insert("source".into(), Value::String(to.to_string()));
        }
        Value::String(t) => {
            let rest = t
                .split_once(':')
                .map(|(_, r)| r.to_string())
                .unwrap_or_default();
            *t = format!("{to}:{rest}");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(sandbox: bool) -> EngineOptions<'static> {
        EngineOptions {
            project: "p--a",
            sandbox,
            own_dirs: vec!["/work/p--a".into(), "/home/u/.ktrdr".into()],
            host_paths: vec![(
                "/srv/data".into(),
                "/home/u/.ktrdr/sandbox/paths/p--a/srv/data".into(),
            )],
        }
    }

    #[test]
    fn traefik_by_flags_keeps_its_constraint_and_adds_the_projects() {
        // `docker compose config --format json` 2.26 shape.
        let mut doc = serde_json::json!({"services": {
            "proxy": {"image": "traefik:v2.11", "command": ["--providers.docker=true",
                "--providers.docker.constraints=Label(`team`,`shop`)"],
                "volumes": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock", "read_only": true}]},
            "bare": {"image": "traefik", "command": ["--providers.docker"]}
        }});
        let iso = isolate_engine(&mut doc, &opts(true));
        assert_eq!(
            doc["services"]["proxy"]["command"][1],
            "--providers.docker.constraints=(Label(`team`,`shop`)) && Label(`com.docker.compose.project`,`p--a`)"
        );
        assert_eq!(
            doc["services"]["bare"]["command"][1],
            "--providers.docker.constraints=Label(`com.docker.compose.project`,`p--a`)"
        );
        assert_eq!(iso.limited.len(), 2);
        assert!(iso.watchers.is_empty(), "{iso:?}");
        // A hostile expression cannot widen the limit, nor name another instance alone.
        assert_eq!(
            combine_constraint(Some("Label(`a`,`b`)) || (Label(`c`,`d`)"), "p--a"),
            "Label(`com.docker.compose.project`,`p--a`)"
        );
        assert_eq!(
            combine_constraint(Some("Label(`com.docker.compose.project`,`p--b`)"), "p--a"),
            "(Label(`com.docker.compose.project`,`p--b`)) && Label(`com.docker.compose.project`,`p--a`)"
        );
        assert_eq!(
            combine_constraint(Some("Label(`a`,`b)`"), "p--a"),
            "Label(`com.docker.compose.project`,`p--a`)"
        );
        // Idempotent: the copy is made again from compose's model, but twice is harmless.
        assert_eq!(
            combine_constraint(Some("Label(`com.docker.compose.project`,`p--a`)"), "p--a"),
            "Label(`com.docker.compose.project`,`p--a`)"
        );
    }

    #[test]
    fn traefik_by_environment_and_by_file() {
        // `docker-compose config` 1.29 shape: environment as a map, short volumes.
        let mut doc = serde_json::json!({"services": {
            "env": {"image": "traefik:2.10", "environment": {"TRAEFIK_PROVIDERS_DOCKER": "true",
                "TRAEFIK_PROVIDERS_DOCKER_CONSTRAINTS": "Label(`a`,`b`)"}},
            "list": {"image": "busybox", "environment": ["TRAEFIK_PROVIDERS_DOCKER=true"]},
            "file": {"image": "traefik:2.10", "volumes": ["/var/run/docker.sock:/var/run/docker.sock:ro",
                "/work/p--a/traefik.yml:/etc/traefik/traefik.yml:ro"]}
        }});
        let iso = isolate_engine(&mut doc, &opts(true));
        assert_eq!(
            doc["services"]["env"]["environment"][CONSTRAINT_ENV],
            "(Label(`a`,`b`)) && Label(`com.docker.compose.project`,`p--a`)"
        );
        assert_eq!(
            doc["services"]["list"]["environment"][1],
            "TRAEFIK_PROVIDERS_DOCKER_CONSTRAINTS=Label(`com.docker.compose.project`,`p--a`)"
        );
        assert_eq!(iso.limited.len(), 2);
        assert_eq!(iso.watchers.len(), 1);
        assert!(iso.watchers[0].0 == "file" && iso.watchers[0].1.contains("traefik.yml"));
    }

    #[test]
    fn socket_mounters_and_known_proxies_are_named() {
        let mut doc = serde_json::json!({"services": {
            "portainer": {"image": "portainer/portainer-ce", "volumes": [
                {"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}]},
            "proxy": {"image": "nginxproxy/nginx-proxy:1.5", "volumes": ["/var/run/docker.sock:/tmp/docker.sock:ro"]},
            "web": {"image": "busybox", "volumes": [{"type": "volume", "source": "data", "target": "/d"}]}
        }});
        let before = doc.clone();
        let iso = isolate_engine(&mut doc, &opts(true));
        assert_eq!(doc, before, "nothing rewritten");
        let names: Vec<&str> = iso.watchers.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(names, ["portainer", "proxy"]);
        assert!(iso.watchers[0].1.contains("Docker socket"));
        assert!(iso.watchers[1].1.contains("nginx-proxy"));
        assert!(
            iso.lines()
                .iter()
                .any(|l| l.starts_with("service portainer mounts the Docker socket"))
        );
    }

    #[test]
    fn built_images_with_a_fixed_tag_become_the_sandboxs_own() {
        let doc = serde_json::json!({"services": {
            "app": {"build": {"context": "/work/p--a"}, "image": "app:latest"},
            "worker": {"image": "app:latest"},
            "db": {"image": "postgres:16"},
            "own": {"build": {"context": "."}, "image": "p--a-own"}
        }});
        let mut d = doc.clone();
        let iso = isolate_engine(&mut d, &opts(true));
        assert_eq!(d["services"]["app"]["image"], "p--a-app");
        assert_eq!(
            d["services"]["worker"]["image"], "p--a-app",
            "follows the build"
        );
        assert_eq!(d["services"]["db"]["image"], "postgres:16");
        assert_eq!(d["services"]["own"]["image"], "p--a-own");
        assert_eq!(iso.images.len(), 2);
        let mut lp = doc.clone();
        assert!(isolate_engine(&mut lp, &opts(false)).images.is_empty());
        for svc in ["app", "worker", "db", "own"] {
            assert_eq!(
                lp["services"][svc]["image"], doc["services"][svc]["image"],
                "local-prod keeps the project's tag"
            );
        }
    }

    #[test]
    fn every_build_is_labelled_with_the_instance_that_made_it() {
        // v2 gives build as a map with a labels map; v1 may keep a list or a string.
        let mut d = serde_json::json!({"services": {
            "map": {"build": {"context": ".", "labels": {"team": "shop"}}},
            "list": {"build": {"context": ".", "labels": ["team=shop", "dev.kinfra.instance=forged"]}},
            "bare": {"build": "./app"},
            "pulled": {"image": "postgres:16"}
        }});
        isolate_engine(&mut d, &opts(false));
        let s = &d["services"];
        assert_eq!(s["map"]["build"]["labels"]["dev.kinfra.instance"], "p--a");
        assert_eq!(s["map"]["build"]["labels"]["team"], "shop");
        assert_eq!(
            s["list"]["build"]["labels"],
            serde_json::json!(["team=shop", "dev.kinfra.instance=p--a"]),
            "a label the project set is replaced, not kept beside"
        );
        assert_eq!(s["bare"]["build"]["context"], "./app");
        assert_eq!(s["bare"]["build"]["labels"]["dev.kinfra.instance"], "p--a");
        assert!(s["pulled"].get("build").is_none());
    }

    #[test]
    fn host_paths_outside_the_repository_are_named_or_made_the_sandboxs_own() {
        let doc = serde_json::json!({"services": {
            "app": {"image": "busybox", "volumes": [
                {"type": "bind", "source": "/home/u/.app-config", "target": "/config"},
                {"type": "bind", "source": "/srv/data/db", "target": "/data"},
                {"type": "bind", "source": "/work/p--a/src", "target": "/src"},
                {"type": "bind", "source": "/etc/localtime", "target": "/etc/localtime"},
                {"type": "bind", "source": "/opt/ro", "target": "/ro", "read_only": true}]},
            "v1": {"image": "busybox", "volumes": ["/srv/data:/d:rw", "/home/u/.ktrdr/shared:/s"]}
        }});
        let mut d = doc.clone();
        let iso = isolate_engine(&mut d, &opts(true));
        assert_eq!(
            iso.host_paths,
            [("app".to_string(), "/home/u/.app-config".to_string())]
        );
        let to = "/home/u/.ktrdr/sandbox/paths/p--a/srv/data";
        assert_eq!(
            d["services"]["app"]["volumes"][1]["source"],
            format!("{to}/db")
        );
        assert_eq!(d["services"]["v1"]["volumes"][0], format!("{to}:/d:rw"));
        assert_eq!(iso.own_host_paths.len(), 2);
        let mut lp = doc.clone();
        let iso = isolate_engine(&mut lp, &opts(false));
        assert_eq!(lp, doc, "local-prod keeps the project's paths");
        assert!(iso.own_host_paths.is_empty());
    }
}
