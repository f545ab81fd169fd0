//! What compose itself says a project is (`config`: JSON on v2, YAML on v1), and the
//! resolved copy kinfra runs for a project whose host ports it allocates.
//!
//! Zero configuration rests on compose's own resolved model, not on reading the
//! file: interpolation, `extends`, anchors, profiles and `include` are compose's
//! business. A project whose ports kinfra allocates runs from a copy of that model
//! with every published host port replaced by the instance's own, kept under
//! kinfra's home (never in the tracked tree). It works on both compose variants:
//! an override file cannot remove a base port on v1 (ports are concatenated).
//!
//! Secrets never reach the copy: compose is asked with a placeholder for each secret
//! variable, and the copy gets `${VAR}` back in its place, which compose fills in
//! from the environment when it runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::home::Home;
use crate::tools::compose::{Compose, Project, Variant};
use crate::tools::error::{Result, ToolsError};

mod engine;
mod isolate;
mod subnets;
mod subnets6;

pub use engine::{
    EngineIsolation, EngineOptions, PROJECT_LABEL, combine_constraint, isolate_engine,
};
use isolate::is_external;
pub use isolate::{Isolation, isolate};
pub use subnets::{Cidr, choose_subnet, fixed_subnets, rewrite_subnets};
pub use subnets6::{
    Cidr6, POOL6, bridge_name, choose_subnet6, fixed_subnets6, rewrite_bridge_names,
    rewrite_subnets6,
};

/// One published host port of a service, as compose resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub service: String,
    /// The service's part of the key, unique among the project's services
    /// ([`service_forms`]).
    pub form: String,
    pub target: u16,
    pub protocol: String,
    /// The host port the project's own file gives it.
    pub base: u16,
    /// How many earlier entries of the service publish the same target and protocol
    /// (`8080:80` and `8081:80`): the second gets its own key.
    pub nth: usize,
}

impl Published {
    /// The `.env.sandbox` key holding this port for an instance: `PORT_<SERVICE>_<TARGET>`
    /// (`_UDP` appended for udp, `_N2` for the second entry publishing the same
    /// target), stable across starts whatever else the file changes.
    pub fn key(&self) -> String {
        let mut k = format!("{}{}_{}", PORT_PREFIX, self.form, self.target);
        if self.protocol != "tcp" {
            k.push('_');
            k.push_str(&plain_form(&self.protocol));
        }
        if self.nth > 0 {
            k.push_str(&format!("_N{}", self.nth + 1));
        }
        k
    }
}

/// A name as it goes into a variable name: uppercase, every other character `_`.
fn plain_form(name: &str) -> String {
    name.to_uppercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
}

/// Pure: each service's part of its port keys. Names that differ only where a
/// variable name cannot (`web.app`, `web-app`, `web_app`, `Web_App`) would share
/// one key and one port: then each gets its plain form plus a short hash of its
/// own name, except a name that is exactly its plain form in lowercase (`web_app`),
/// which keeps it. The result depends only on the names, not on their order.
pub fn service_forms<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, String> {
    let mut by_form: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for n in names {
        by_form.entry(plain_form(n)).or_default().push(n);
    }
    let mut out = BTreeMap::new();
    for (form, names) in by_form {
        for n in &names {
            let keeps = names.len() == 1 || **n == form.to_lowercase();
            let f = if keeps {
                form.clone()
            } else {
                format!(
                    "{form}_{:06X}",
                    crate::support::units::fnv1a(n.as_bytes()) & 0xFF_FFFF
                )
            };
            out.insert(n.to_string(), f);
        }
    }
    out
}

/// Pure: the services that share a plain form, for `stack check` (each group sorted).
pub fn shared_forms<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Vec<String>> {
    let mut by_form: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in names {
        by_form
            .entry(plain_form(n))
            .or_default()
            .push(n.to_string());
    }
    by_form
        .into_values()
        .filter(|v| v.len() > 1)
        .map(|mut v| {
            v.sort();
            v
        })
        .collect()
}

/// Prefix of the allocated port keys in `.env.sandbox`.
pub const PORT_PREFIX: &str = "PORT_";

/// The parts of the model kinfra decides with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    /// Services that run with the active profiles, sorted.
    pub services: Vec<String>,
    /// Their fixed published host ports (ephemeral ones need nothing).
    pub ports: Vec<Published>,
}

/// Pure: the model's document from `config` output (v2 JSON or v1 YAML; JSON is
/// YAML, so one parser reads both).
pub fn parse(text: &str) -> std::result::Result<Value, String> {
    yaml_serde::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Pure: services and published ports of a resolved document. v1 lists services of
/// inactive profiles (with their `profiles`); v2 leaves them out.
pub fn read(doc: &Value, profiles: &[String]) -> Model {
    let mut m = Model::default();
    let Some(services) = doc.get("services").and_then(Value::as_object) else {
        return m;
    };
    let forms = service_forms(services.keys().map(String::as_str));
    for (name, svc) in services {
        if !active(svc, profiles) {
            continue;
        }
        m.services.push(name.clone());
        let list = svc.get("ports").and_then(Value::as_array);
        m.ports.extend(
            fixed_ports(
                name,
                forms.get(name).map_or("", String::as_str),
                list.map_or(&[][..], Vec::as_slice),
            )
            .into_iter()
            .map(|(_, p)| p),
        );
    }
    m.services.sort();
    m
}

/// Pure: a service's fixed published ports with their index in its `ports` list,
/// each numbered among those with the same target and protocol (one rule for
/// reading and for rewriting, so keys always match).
fn fixed_ports(service: &str, form: &str, ports: &[Value]) -> Vec<(usize, Published)> {
    let mut out: Vec<(usize, Published)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let Some(spec) = PortSpec::of(p) else {
            continue;
        };
        let Some(base) = spec.published else { continue };
        let nth = out
            .iter()
            .filter(|(_, q)| q.target == spec.target && q.protocol == spec.protocol)
            .count();
        out.push((
            i,
            Published {
                service: service.to_string(),
                form: form.to_string(),
                target: spec.target,
                protocol: spec.protocol,
                base,
                nth,
            },
        ));
    }
    out
}

fn active(svc: &Value, profiles: &[String]) -> bool {
    match svc.get("profiles").and_then(Value::as_array) {
        Some(ps) if !ps.is_empty() => ps
            .iter()
            .filter_map(Value::as_str)
            .any(|p| profiles.iter().any(|a| a == p)),
        _ => true,
    }
}

/// One entry of a service's `ports`, in either shape compose prints: the long form
/// (`{target, published, protocol, host_ip}`) or the short string v1 keeps for a
/// port bound to an address (`127.0.0.1:8443:443/tcp`).
#[derive(Debug, Clone, PartialEq)]
struct PortSpec {
    target: u16,
    published: Option<u16>,
    protocol: String,
}

impl PortSpec {
    fn of(v: &Value) -> Option<PortSpec> {
        match v {
            Value::Object(o) => {
                let num = |v: &Value| match v {
                    Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                };
                Some(PortSpec {
                    target: o.get("target").and_then(num)?,
                    published: o.get("published").and_then(num).filter(|p| *p > 0),
                    protocol: o
                        .get("protocol")
                        .and_then(Value::as_str)
                        .unwrap_or("tcp")
                        .to_string(),
                })
            }
            Value::String(s) => {
                let (spec, _) = split_short(s)?;
                Some(spec)
            }
            Value::Number(n) => Some(PortSpec {
                target: u16::try_from(n.as_u64()?).ok()?,
                published: None,
                protocol: "tcp".into(),
            }),
            _ => None,
        }
    }
}

/// Pure: `[ip:][published:]target[/proto]` → the spec and the address part
/// (`None` without one). Ranges give `None`: they are left as written.
fn split_short(s: &str) -> Option<(PortSpec, Option<String>)> {
    let (body, protocol) = match s.rsplit_once('/') {
        Some((b, p)) => (b, p.to_string()),
        None => (s, "tcp".to_string()),
    };
    let (rest, target) = match body.rsplit_once(':') {
        Some((r, t)) => (Some(r), t),
        None => (None, body),
    };
    let target: u16 = target.parse().ok()?;
    let (ip, published) = match rest {
        None => (None, ""),
        Some(r) => match r.rsplit_once(':') {
            // An IPv6 address is bracketed; its colons are inside the brackets.
            Some((ip, p)) if !p.ends_with(']') => (Some(ip.to_string()), p),
            _ if r.starts_with('[') || r.contains('.') => (Some(r.to_string()), ""),
            _ => (None, r),
        },
    };
    let published = if published.is_empty() {
        None
    } else {
        Some(published.parse::<u16>().ok()?)
    };
    Some((
        PortSpec {
            target,
            published,
            protocol,
        },
        ip,
    ))
}

/// Pure: replaces each published host port found in `ports` (key → instance port)
/// in the document, keeping each entry's shape. Returns the keys replaced.
pub fn rewrite_ports(doc: &mut Value, ports: &BTreeMap<String, u16>) -> BTreeSet<String> {
    let mut done = BTreeSet::new();
    let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) else {
        return done;
    };
    let forms = service_forms(services.keys().map(String::as_str));
    for (name, svc) in services.iter_mut() {
        let Some(list) = svc.get_mut("ports").and_then(Value::as_array_mut) else {
            continue;
        };
        for (i, published) in fixed_ports(name, forms.get(name).map_or("", String::as_str), list) {
            let key = published.key();
            let Some(port) = ports.get(&key) else {
                continue;
            };
            let p = &mut list[i];
            match p {
                Value::Object(o) => {
                    let new = match o.get("published") {
                        Some(Value::String(_)) => Value::String(port.to_string()),
                        _ => Value::from(*port),
                    };
                    o.insert("published".into(), new);
                }
                Value::String(s) => {
                    let Some((_, ip)) = split_short(s) else {
                        continue;
                    };
                    let mut out = String::new();
                    if let Some(ip) = ip {
                        out.push_str(&ip);
                        out.push(':');
                    }
                    out.push_str(&format!(
                        "{port}:{}/{}",
                        published.target, published.protocol
                    ));
                    *s = out;
                }
                _ => continue,
            }
            done.insert(key);
        }
    }
    done
}

/// The placeholder compose is given for a secret variable while it prints the model.
pub fn placeholder(var: &str) -> String {
    format!("KINFRA-SECRET-{var}-PLACEHOLDER")
}

/// Pure: puts `${VAR}` back wherever a secret's placeholder ended up, so the copy
/// holds references, never values.
pub fn restore_placeholders(doc: &mut Value, vars: &[String]) {
    match doc {
        Value::String(s) => {
            for v in vars {
                let ph = placeholder(v);
                if s.contains(&ph) {
                    *s = s.replace(&ph, &format!("${{{v}}}"));
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| restore_placeholders(x, vars)),
        Value::Object(o) => o.values_mut().for_each(|x| restore_placeholders(x, vars)),
        _ => {}
    }
}

/// Runs `config` for the project (with a placeholder for each secret variable).
pub fn config(compose: &Compose, project: &Project, secret_vars: &[String]) -> Result<Value> {
    let mut p = project.clone();
    p.env
        .extend(secret_vars.iter().map(|v| (v.clone(), placeholder(v))));
    let mut cmd = compose.cmd(&p).arg("config");
    if compose.variant == Variant::Plugin || compose.has_v2_features() {
        cmd = cmd.args(["--format", "json"]);
    }
    let out = cmd
        .timeout(std::time::Duration::from_secs(60))
        .run()
        .map_err(|e| ToolsError::ComposeConfig {
            file: project.file().to_path_buf(),
            source: e,
        })?;
    let mut doc = parse(&out).map_err(|m| ToolsError::ComposeOutput {
        tool: compose.describe(),
        file: project.file().to_path_buf(),
        why: m,
    })?;
    restore_placeholders(&mut doc, secret_vars);
    Ok(doc)
}

/// Removes an instance's resolved copy and its record (the instance is gone), and
/// its own copies of `[isolate] host_paths`.
pub fn remove_copy(home: &Home, instance_id: &str) {
    // Absent already is fine: nothing else refers to these files.
    let _ = std::fs::remove_file(home.model_meta_file(instance_id));
    let _ = std::fs::remove_file(home.model_copy_file(instance_id));
    // The copy a remote engine runs (bind mounts at the code mirror).
    let _ = std::fs::remove_file(
        home.model_copy_file(instance_id)
            .with_extension("remote.json"),
    );
    // Files a container wrote as root may stay; they are under kinfra's home only.
    // An id that is not one plain name never names a directory to remove.
    if !instance_id.is_empty() && !instance_id.contains(['/', '.']) {
        let _ = std::fs::remove_dir_all(host_paths_dir(home, instance_id));
    }
}

/// Where a sandbox's own directories for `[isolate] host_paths` live.
pub fn host_paths_dir(home: &Home, instance_id: &str) -> PathBuf {
    home.path().join("sandbox").join("paths").join(instance_id)
}

/// The cache key of a resolved copy: what `config` read (the compose files, and the
/// files beside them it may pull in: every `*.yml`/`*.yaml` and `.env*`/`*.env` of
/// the project directory, for `include`, `extends: file:` and `env_file`), the
/// environment it was given, the project name, profiles and compose version. Same
/// key, same copy: `up` skips `config` then. kinfra's own `.env.sandbox` is left out
/// (its values that matter are in the environment).
pub fn cache_key(compose: &Compose, project: &Project, secret_vars: &[String]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = crate::support::units::Fnv64::default();
    compose.describe().hash(&mut h);
    project.name.hash(&mut h);
    project.profiles.hash(&mut h);
    project.dir.hash(&mut h);
    for f in &project.files {
        f.hash(&mut h);
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    let mut beside: Vec<PathBuf> = std::fs::read_dir(&project.dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    beside.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name != crate::state::envfile::FILE_NAME
            && p.is_file()
            && (name.ends_with(".yml")
                || name.ends_with(".yaml")
                || name.starts_with(".env")
                || name.ends_with(".env"))
    });
    beside.sort();
    for f in beside {
        f.hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    let mut env = project.env.clone();
    env.sort();
    env.hash(&mut h);
    secret_vars.hash(&mut h);
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests;
