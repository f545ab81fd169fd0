//! The compose file's facts, read from its text as YAML (no `compose config`:
//! instant, no engine; the file as written, before interpolation).

use serde_json::Value;

use crate::tools::compose::variable_refs;

/// A published port as written.
#[derive(Debug, Clone, PartialEq)]
pub struct PortEntry {
    pub service: String,
    /// The text of the entry (`"${WEB_PORT:-8080}:80"`, `8080:80`, `published: 8080`).
    pub text: String,
    /// The host part as written (`${WEB_PORT:-8080}`, `9000`).
    pub host: String,
    /// The variable giving the host port, when it is one, and its default.
    pub var: Option<(String, Option<String>)>,
}

/// What the compose file says, for the check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub services: Vec<String>,
    pub ports: Vec<PortEntry>,
    pub container_names: Vec<(String, String)>,
    pub healthchecks: Vec<String>,
    pub external_networks: Vec<String>,
    pub external_volumes: Vec<String>,
    /// Services with `network_mode: host`.
    pub host_network: Vec<String>,
    /// Files services read with `env_file`, as written (relative to the project).
    pub env_files: Vec<String>,
    /// `environment` entries of services: (service, key, value as written).
    pub environment: Vec<(String, String, String)>,
    /// (service, image) of services naming an image and no `build` section: compose
    /// pulls those, and an image built by hand is not pullable.
    pub images_without_build: Vec<(String, String)>,
    /// Variables read, with whether a default is given (`${X:-d}`, `${X-d}`).
    pub variables: Vec<(String, bool)>,
    /// `environment` entries with no value (`- KEY`, `KEY:`): compose hands on the
    /// variable of its own environment, verbatim.
    pub passed_through: Vec<String>,
    /// Why the text is not YAML, when it is not (the other facts are then empty).
    pub unreadable: Option<String>,
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches('"').trim_matches('\'')
}

/// A scalar as text (`8080`, `true`, `dev`); `None` for a mapping, a list or null.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Pure: reads the facts from a compose file's text, parsed as YAML (block or flow
/// style alike). A file that is not YAML gives only its variables and says why.
pub fn read(text: &str) -> Facts {
    let mut f = Facts {
        variables: variable_refs(text),
        ..Default::default()
    };
    let doc = match yaml_serde::from_str::<Value>(text) {
        Ok(d) => d,
        Err(e) => {
            f.unreadable = Some(e.to_string());
            return f;
        }
    };
    if let Some(services) = doc.get("services").and_then(Value::as_object) {
        for (name, svc) in services.iter().filter(|(n, _)| !n.starts_with('<')) {
            f.services.push(name.clone());
            if let Some(svc) = svc.as_object() {
                service(&mut f, name, svc);
            }
        }
    }
    for (kind, list) in [("networks", 0), ("volumes", 1)] {
        let Some(objects) = doc.get(kind).and_then(Value::as_object) else {
            continue;
        };
        for (key, o) in objects {
            // `external: true`, or compose's older `external: {name: …}`.
            let external = o.get("external");
            let named = external
                .and_then(|e| e.get("name"))
                .or_else(|| o.get("name"))
                .and_then(scalar);
            if external.is_some_and(|e| e.as_bool() == Some(true) || e.is_object()) {
                let n = named.unwrap_or_else(|| key.clone());
                if list == 0 {
                    f.external_networks.push(n);
                } else {
                    f.external_volumes.push(n);
                }
            }
        }
    }
    f
}

/// One service's facts.
fn service(f: &mut Facts, name: &str, svc: &serde_json::Map<String, Value>) {
    if let Some(c) = svc.get("container_name").and_then(scalar) {
        f.container_names.push((name.to_string(), c));
    }
    if svc.contains_key("healthcheck") {
        f.healthchecks.push(name.to_string());
    }
    if let Some(image) = svc.get("image").and_then(scalar)
        && !svc.contains_key("build")
    {
        f.images_without_build.push((name.to_string(), image));
    }
    if svc.get("network_mode").and_then(scalar).as_deref() == Some("host") {
        f.host_network.push(name.to_string());
    }
    match svc.get("env_file") {
        Some(Value::String(s)) => f.env_files.push(s.clone()),
        Some(Value::Array(items)) => {
            for i in items {
                if let Some(p) = scalar(i).or_else(|| i.get("path").and_then(scalar)) {
                    f.env_files.push(p);
                }
            }
        }
        _ => {}
    }
    if let Some(ports) = svc.get("ports").and_then(Value::as_array) {
        for p in ports {
            let text = scalar(p).or_else(|| p.get("published").and_then(scalar));
            if let Some(t) = text {
                f.ports.push(port_entry(name, &t));
            }
        }
    }
    match svc.get("environment") {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if v.is_null() {
                    f.passed_through.push(k.clone());
                }
                f.environment
                    .push((name.to_string(), k.clone(), scalar(v).unwrap_or_default()));
            }
        }
        Some(Value::Array(items)) => {
            let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            f.passed_through.extend(
                items
                    .iter()
                    .filter(|i| !i.contains('='))
                    .map(|i| i.trim().to_string()),
            );
            for (k, v) in items.iter().filter_map(|i| i.split_once('=')) {
                f.environment
                    .push((name.to_string(), k.trim().to_string(), v.to_string()));
            }
        }
        _ => {}
    }
}

fn port_entry(service: &str, text: &str) -> PortEntry {
    let text = unquote(text).to_string();
    // `[IP:]HOST:CONTAINER[/proto]`, or a lone port; colons inside `${…}` do not
    // split (a default is written `${VAR:-8080}`).
    let mut depth = 0;
    let mut cuts = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ':' if depth == 0 => cuts.push(i),
            _ => {}
        }
    }
    let host = match cuts.as_slice() {
        [] if text.contains('$') => text.as_str(),
        [] => "",
        [one] => &text[..*one],
        [.., a, b] => &text[a + 1..*b],
    };
    let var = variable_refs(host).into_iter().next().map(|(name, _)| {
        let default = host
            .find(&name)
            .map(|i| &host[i + name.len()..])
            .and_then(|rest| rest.strip_prefix(":-").or_else(|| rest.strip_prefix('-')))
            .map(|d| d.trim_end_matches('}').to_string());
        (name, default)
    });
    PortEntry {
        service: service.to_string(),
        host: host.to_string(),
        text: text.clone(),
        var,
    }
}
