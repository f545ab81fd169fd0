//! The isolation of one instance's copy of the model: its own networks, volumes
//! and container names, so two instances of a project never share one.

use super::*;

/// What [`isolate`] changed in a resolved copy, and what it left shared, so the
/// person is told (`create`, `up`, `stack check`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Isolation {
    /// `container_name`s dropped (service, name): each stays resolvable inside the
    /// instance as a network alias of its service.
    #[serde(default)]
    pub container_names: Vec<(String, String)>,
    /// Networks whose fixed `name:` became the instance's own (from, to).
    #[serde(default)]
    pub networks: Vec<(String, String)>,
    /// Volumes whose fixed `name:` became the instance's own (from, to).
    #[serde(default)]
    pub volumes: Vec<(String, String)>,
    /// External volumes this instance gets its own empty copy of (from, to).
    #[serde(default)]
    pub external_volumes: Vec<(String, String)>,
    /// External volumes the repository shares between instances (`shared_volumes`).
    #[serde(default)]
    pub shared_volumes: Vec<String>,
    /// External networks: shared by every instance, as `external` means.
    #[serde(default)]
    pub external_networks: Vec<String>,
    /// Services on the host's network (`network_mode: host`): not isolatable.
    #[serde(default)]
    pub host_network: Vec<String>,
    /// Networks whose fixed subnet became the instance's own (network, from, to).
    #[serde(default)]
    pub subnets: Vec<(String, String, String)>,
    /// Networks whose fixed IPv6 subnet became the instance's own (network, from, to).
    #[serde(default)]
    pub subnets6: Vec<(String, String, String)>,
    /// Networks whose fixed bridge device name became the instance's own
    /// (network, from, to).
    #[serde(default)]
    pub bridges: Vec<(String, String, String)>,
    /// What the engine and the host share ([`super::isolate_engine`]).
    #[serde(default)]
    pub engine: super::EngineIsolation,
}

impl Isolation {
    /// One line per rewrite or shared object, for the person.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (svc, name) in &self.container_names {
            out.push(format!(
                "service {svc}: container_name {name:?} dropped (one name cannot serve two instances); {name} still resolves inside the instance"
            ));
        }
        for (what, list) in [("network", &self.networks), ("volume", &self.volumes)] {
            for (from, to) in list {
                out.push(format!("{what} {from:?} is this instance's own {to:?}"));
            }
        }
        for (from, to) in &self.external_volumes {
            out.push(format!(
                "external volume {from:?}: this instance gets its own {to:?} (created empty; {from} is left untouched); share it with `shared_volumes = [{from:?}]` in kinfra.toml"
            ));
        }
        for v in &self.shared_volumes {
            out.push(format!(
                "external volume {v:?} is shared by every instance (kinfra.toml's shared_volumes)"
            ));
        }
        for (net, from, to) in &self.subnets {
            out.push(format!(
                "network {net}: subnet {from} is this instance's own {to} (static addresses moved with it)"
            ));
        }
        for (net, from, to) in &self.subnets6 {
            out.push(format!(
                "network {net}: IPv6 subnet {from} is this instance's own {to} (static addresses moved with it)"
            ));
        }
        for (net, from, to) in &self.bridges {
            out.push(format!(
                "network {net}: bridge device {from} is this instance's own {to} (one device name cannot serve two networks)"
            ));
        }
        for n in &self.external_networks {
            out.push(format!(
                "external network {n:?} is shared by every instance"
            ));
        }
        for svc in &self.host_network {
            out.push(format!(
                "service {svc} uses network_mode: host: it binds the host's own ports, so only one instance of this project can run it at a time"
            ));
        }
        out.extend(self.engine.lines());
        out
    }
}

/// Pure: makes a resolved document the instance's own. Every instance: a
/// `container_name` goes (added as an alias of its service on each of its networks,
/// so `postgres` or `fastapi-db` still resolves). A sandbox also: networks and
/// volumes with a fixed `name:` get the instance's (`<project>_<name>`), and an
/// external volume becomes the instance's own empty one unless `shared_volumes`
/// names it; external networks stay shared. local-prod keeps the project's own
/// names, as it keeps the project's own ports.
pub fn isolate(
    doc: &mut Value,
    project: &str,
    sandbox: bool,
    shared_volumes: &[String],
) -> Isolation {
    let mut iso = Isolation::default();
    isolate_networks(doc, project, sandbox, &mut iso);
    isolate_volumes(doc, project, sandbox, shared_volumes, &mut iso);
    isolate_services(doc, &mut iso);
    iso
}

/// Whether a name is already the instance's own (`<project>_…`, `<project>-…`).
fn owned_by(project: &str, name: &str) -> bool {
    name.starts_with(&format!("{project}_")) || name.starts_with(&format!("{project}-"))
}

/// Whether a network or volume of the model is `external` (`true`, or v1's
/// `{name: …}` form).
pub(super) fn is_external(obj: &serde_json::Map<String, Value>) -> bool {
    obj.get("external")
        .is_some_and(|e| e.as_bool() == Some(true) || e.is_object())
}

/// [`isolate`]'s networks: fixed names become the sandbox's; external ones are
/// noted as shared.
fn isolate_networks(doc: &mut Value, project: &str, sandbox: bool, iso: &mut Isolation) {
    if let Some(nets) = doc.get_mut("networks").and_then(Value::as_object_mut) {
        for (key, net) in nets.iter_mut() {
            let Some(n) = net.as_object_mut() else {
                continue;
            };
            let name = n.get("name").and_then(Value::as_str).map(str::to_string);
            if is_external(n) {
                iso.external_networks
                    .push(name.unwrap_or_else(|| key.clone()));
                continue;
            }
            if let Some(name) = name
                && sandbox
                && !owned_by(project, &name)
            {
                let to = format!("{project}_{name}");
                n.insert("name".into(), Value::String(to.clone()));
                // A fixed subnet stays as written: two instances would overlap.
                iso.networks.push((name, to));
            }
        }
    }
}

/// [`isolate`]'s volumes: fixed names become the sandbox's; an external one becomes
/// its own unless the repository shares it.
fn isolate_volumes(
    doc: &mut Value,
    project: &str,
    sandbox: bool,
    shared_volumes: &[String],
    iso: &mut Isolation,
) {
    if let Some(vols) = doc.get_mut("volumes").and_then(Value::as_object_mut) {
        for (key, vol) in vols.iter_mut() {
            let Some(v) = vol.as_object_mut() else {
                continue;
            };
            let name = v.get("name").and_then(Value::as_str).map(str::to_string);
            let external = is_external(v);
            let shown = name.clone().unwrap_or_else(|| key.clone());
            if external {
                if shared_volumes.iter().any(|s| s == &shown || s == key) {
                    iso.shared_volumes.push(shown);
                } else if sandbox {
                    let to = format!("{project}_{key}");
                    v.remove("external");
                    v.insert("name".into(), Value::String(to.clone()));
                    iso.external_volumes.push((shown, to));
                }
                continue;
            }
            if let Some(name) = name
                && sandbox
                && !owned_by(project, &name)
            {
                let to = format!("{project}_{name}");
                v.insert("name".into(), Value::String(to.clone()));
                iso.volumes.push((name, to));
            }
        }
    }
}

/// [`isolate`]'s services: `container_name` dropped and kept as an alias on each
/// network; host-network services noted.
fn isolate_services(doc: &mut Value, iso: &mut Isolation) {
    if let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) {
        for (svc, s) in services.iter_mut() {
            let Some(o) = s.as_object_mut() else { continue };
            if o.get("network_mode").and_then(Value::as_str) == Some("host") {
                iso.host_network.push(svc.clone());
            }
            let Some(Value::String(name)) = o.remove("container_name") else {
                continue;
            };
            iso.container_names.push((svc.clone(), name.clone()));
            if o.contains_key("network_mode") {
                continue; // no networks of its own to carry an alias
            }
            let nets = o
                .entry("networks")
                .or_insert_with(|| serde_json::json!({"default": null}));
            match nets {
                Value::Object(m) => {
                    if m.is_empty() {
                        m.insert("default".into(), Value::Null);
                    }
                    for (_, cfg) in m.iter_mut() {
                        if !cfg.is_object() {
                            *cfg = serde_json::json!({});
                        }
                        if let Some(c) = cfg.as_object_mut() {
                            let aliases = c
                                .entry("aliases")
                                .or_insert_with(|| Value::Array(Vec::new()));
                            if let Value::Array(a) = aliases
                                && !a.iter().any(|x| x.as_str() == Some(name.as_str()))
                            {
                                a.push(Value::String(name.clone()));
                            }
                        }
                    }
                }
                Value::Array(list) => {
                    // The short form: each name becomes an entry with the alias.
                    let names: Vec<String> = list
                        .iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect();
                    let mut m = serde_json::Map::new();
                    for n in names {
                        m.insert(n, serde_json::json!({"aliases": [name.clone()]}));
                    }
                    *nets = Value::Object(m);
                }
                _ => {}
            }
        }
    }
}
