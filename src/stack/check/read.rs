//! The compose file's facts, read from its text by a small indentation walk over
//! the YAML compose files are written in (no `compose config`: instant, no engine).

use std::collections::BTreeSet;

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
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches('"').trim_matches('\'')
}

/// Pure: reads the facts from a compose file's text.
pub fn read(text: &str) -> Facts {
    let mut r = Reader {
        f: Facts {
            variables: variable_refs(text),
            ..Default::default()
        },
        ..Default::default()
    };
    for raw in text.lines() {
        r.line(raw);
    }
    r.finish()
}

/// A line-by-line reader of the compose file's YAML, enough for the facts: where it
/// is (top-level key, entry, key within the entry) and what it found so far.
#[derive(Default)]
struct Reader {
    f: Facts,
    top: String,
    entry_indent: Option<usize>,
    entry: String,
    key: String,
    key_indent: usize,
    images: Vec<(String, String)>,
    built: BTreeSet<String>,
    /// Top-level networks and volumes: (kind, entry, external, `name:`).
    objects: Vec<(String, String, bool, Option<String>)>,
}

impl Reader {
    fn line(&mut self, raw: &str) {
        let line = raw.split(" #").next().unwrap_or("").trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            return;
        }
        let ind = indent(line);
        let t = line.trim();
        if ind == 0 {
            self.top = t.trim_end_matches(':').to_string();
            self.entry_indent = None;
            return;
        }
        // The first indented line under a top-level key sets the entries' indent.
        let ei = *self.entry_indent.get_or_insert(ind);
        if ind == ei {
            self.entry = t.trim_end_matches(':').trim().to_string();
            self.key.clear();
            if self.top == "services"
                && !self.entry.starts_with('<')
                && !self.entry.starts_with('-')
            {
                self.f.services.push(self.entry.clone());
            }
            if self.top == "networks" || self.top == "volumes" {
                self.objects
                    .push((self.top.clone(), self.entry.clone(), false, None));
            }
            return;
        }
        if ind < ei {
            return;
        }
        // Inside an entry: a key of its own, or a line of the key's value.
        if let Some((k, v)) = t.split_once(':')
            && !t.starts_with('-')
            && (self.key.is_empty() || ind <= self.key_indent)
        {
            self.key = k.trim().to_string();
            self.key_indent = ind;
            self.key_value(v.trim());
        } else {
            self.value_line(t);
        }
    }

    /// A key of a service, network or volume, with what follows its colon.
    fn key_value(&mut self, v: &str) {
        match (self.top.as_str(), self.key.as_str()) {
            ("services", "container_name") => self
                .f
                .container_names
                .push((self.entry.clone(), unquote(v).to_string())),
            ("services", "healthcheck") => self.f.healthchecks.push(self.entry.clone()),
            ("services", "image") if !v.is_empty() => {
                self.images
                    .push((self.entry.clone(), unquote(v).to_string()));
            }
            ("services", "build") => {
                self.built.insert(self.entry.clone());
            }
            ("services", "network_mode") if unquote(v) == "host" => {
                self.f.host_network.push(self.entry.clone());
            }
            ("services", "env_file") if !v.is_empty() => {
                for e in v.trim_matches(['[', ']']).split(',') {
                    let e = unquote(e);
                    if !e.is_empty() {
                        self.f.env_files.push(e.to_string());
                    }
                }
            }
            ("services", "ports") if v.starts_with('[') => {
                for p in v
                    .trim_matches(['[', ']'])
                    .split(',')
                    .filter(|p| !p.trim().is_empty())
                {
                    self.f.ports.push(port_entry(&self.entry, p));
                }
            }
            ("networks" | "volumes", "external") if v == "true" => {
                if let Some(o) = self.objects.last_mut() {
                    o.2 = true;
                }
            }
            ("networks" | "volumes", "name") => {
                if let Some(o) = self.objects.last_mut() {
                    o.3 = Some(unquote(v).to_string());
                }
            }
            _ => {}
        }
    }

    /// A line under the current key (a list item, or a nested mapping's line).
    fn value_line(&mut self, t: &str) {
        if self.top == "services" && self.key == "environment" {
            let item = t.trim_start_matches('-').trim();
            let kv = if t.starts_with('-') {
                unquote(item).split_once('=')
            } else {
                item.split_once(':')
            };
            if let Some((k, v)) = kv {
                self.f.environment.push((
                    self.entry.clone(),
                    k.trim().to_string(),
                    unquote(v).to_string(),
                ));
            }
            return;
        }
        if self.top == "services" && self.key == "env_file" && t.starts_with('-') {
            let item = t.trim_start_matches('-').trim();
            let path = item.strip_prefix("path:").unwrap_or(item);
            if !path.contains(": ") {
                self.f.env_files.push(unquote(path).to_string());
            }
            return;
        }
        if self.top == "services" && self.key == "env_file" {
            if let Some(path) = t.strip_prefix("path:") {
                self.f.env_files.push(unquote(path).to_string());
            }
            return;
        }
        if self.top == "services" && self.key == "ports" {
            let item = t.trim_start_matches('-').trim();
            if t.starts_with('-') && !item.contains(": ") && !item.ends_with(':') {
                self.f.ports.push(port_entry(&self.entry, item));
            } else if let Some(v) = item.strip_prefix("published:") {
                self.f.ports.push(port_entry(&self.entry, v));
            }
        }
    }

    fn finish(self) -> Facts {
        let mut f = self.f;
        for (kind, entry, external, name) in self.objects {
            if external {
                let n = name.unwrap_or(entry);
                if kind == "networks" {
                    f.external_networks.push(n);
                } else {
                    f.external_volumes.push(n);
                }
            }
        }
        let built = self.built;
        f.images_without_build = self
            .images
            .into_iter()
            .filter(|(svc, _)| !built.contains(svc))
            .collect();
        f
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
