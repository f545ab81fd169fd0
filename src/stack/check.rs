//! `kinfra stack check` and `stack init`: what a compose file says that matters for
//! running it several times side by side, read from the file's text (no `compose
//! config`: it stays instant and needs no engine), and checked against the stack's
//! description. `up` runs the same check first and prints what it finds.
//!
//! The reading is a small indentation walk over the YAML compose files are written
//! in: top-level `services`, `volumes`, `networks`; per service `ports`,
//! `container_name`, `healthcheck`; `external: true` objects.

use std::collections::{BTreeMap, BTreeSet};

use crate::stack::{Kind, Stack};

mod read;

pub use read::{Facts, PortEntry, read};

/// Pure: the ports of `localhost:N` and `127.0.0.1:N` in a value.
fn local_ports(v: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for host in ["localhost:", "127.0.0.1:"] {
        let mut rest = v;
        while let Some(i) = rest.find(host) {
            rest = &rest[i + host.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(p) = digits.parse() {
                out.push(p);
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Two instances cannot run side by side, or `up` would fail.
    Error,
    /// Worth fixing; instances still run.
    Warning,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
    /// A missing external object kinfra can create: (`network`|`volume`, name).
    pub create: Option<(String, String)>,
}

/// The variables kinfra writes into every `.env.sandbox` for `stack`.
pub fn kinfra_variables(stack: &Stack) -> BTreeSet<String> {
    stack.kinfra_keys()
}

/// Pure: the problems of running `facts` under `stack`. `env_keys` are the keys of
/// the repository's `.env` (compose reads it too); `exists(kind, name)` says whether
/// an external network or volume exists.
pub fn check(
    stack: &Stack,
    facts: &Facts,
    env_keys: &BTreeSet<String>,
    exists: &dyn Fn(&str, &str) -> bool,
) -> Vec<Finding> {
    check_in(stack, facts, env_keys, exists, &BTreeMap::new())
}

/// Pure: [`check`] run in an instance's checkout, whose `.env.sandbox` variables
/// are `instance` (its own ports are named in the hints).
pub fn check_in(
    stack: &Stack,
    facts: &Facts,
    env_keys: &BTreeSet<String>,
    exists: &dyn Fn(&str, &str) -> bool,
    instance: &BTreeMap<String, String>,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = stack.notes.iter().map(|n| warning(n.clone())).collect();
    if let Some(why) = &facts.unreadable {
        out.push(error(format!(
            "the compose file is not YAML compose can read: {why}"
        )));
    }
    fixed_ports(stack, facts, &mut out);
    shared_names(stack, facts, &mut out);
    own_urls(stack, facts, instance, &mut out);
    unset_variables(stack, facts, env_keys, &mut out);
    references(stack, facts, &mut out);
    unread_keys(stack, facts, &mut out);
    externals(stack, facts, exists, &mut out);
    out
}

fn error(message: String) -> Finding {
    Finding {
        severity: Severity::Error,
        message,
        create: None,
    }
}

fn warning(message: String) -> Finding {
    Finding {
        severity: Severity::Warning,
        message,
        create: None,
    }
}

/// A host port that is the same for every instance.
fn fixed_ports(stack: &Stack, facts: &Facts, out: &mut Vec<Finding>) {
    // Under the auto scheme kinfra chooses every published port: fixed ones are fine.
    for p in facts.ports.iter().filter(|_| !stack.auto_ports) {
        match &p.var {
            None => out.push(error(format!(
                "service {}: host port {:?} is fixed, so a second instance cannot start; write it as \"${{{}_PORT:-{}}}:…\" and add that key to [[ports]]",
                p.service,
                p.text,
                p.service.to_uppercase().replace('-', "_"),
                p.host
            ))),
            Some((var, _)) if !stack.ports.iter().any(|r| &r.key == var) => out.push(error(format!(
                "service {}: host port comes from {var}, which [[ports]] does not define, so every instance would get the same port",
                p.service
            ))),
            Some((var, _)) if crate::stack::ports::is_fixed(stack, var) => out.push(error(format!(
                "service {}: host port comes from {var}, a fixed port (the same for every instance, a shared service's), so a second instance cannot start: give it base and step in [[ports]]",
                p.service
            ))),
            Some(_) => {}
        }
    }
}

/// What one instance would take from another: container names, the host's network,
/// and the auto scheme's port keys that share a form.
fn shared_names(stack: &Stack, facts: &Facts, out: &mut Vec<Finding>) {
    if stack.auto_ports {
        for group in crate::tools::model::shared_forms(facts.services.iter().map(String::as_str)) {
            out.push(warning(format!(
                "services {} share one name form in port keys; kinfra tells them apart with a hash of each name (see `kinfra env`), and a rename keeps them apart",
                group.join(", ")
            )));
        }
    }
    for (svc, name) in &facts.container_names {
        if stack.auto_ports {
            out.push(warning(format!(
                "service {svc}: container_name {name:?} is dropped in each instance's copy (one name cannot serve two instances); {name} still resolves inside each instance as an alias"
            )));
        } else {
            out.push(error(format!(
                "service {svc}: container_name {name:?} is one name for every instance, so a second cannot start; remove it (compose names containers per project)"
            )));
        }
    }
    for svc in &facts.host_network {
        out.push(warning(format!(
            "service {svc} uses network_mode: host: it binds the host's own ports, so only one instance of this project can run at a time (a second `up` is refused); give it a network and published ports to run several"
        )));
    }
}

/// A URL to the project's own published port (`NEXTAUTH_URL=http://localhost:3000`)
/// leads a user of a sandbox to the base stack. The hint names the variable that
/// holds the instance's port (the auto scheme's key, or the `[[ports]]` key in
/// kinfra.toml) and, in an instance's checkout, that instance's port.
fn own_urls(
    stack: &Stack,
    facts: &Facts,
    instance: &BTreeMap<String, String>,
    out: &mut Vec<Finding>,
) {
    let host_port = |p: &PortEntry| -> Option<u16> {
        p.host
            .parse()
            .ok()
            .or_else(|| p.var.as_ref().and_then(|(_, d)| d.as_deref()?.parse().ok()))
    };
    let forms = crate::tools::model::service_forms(facts.services.iter().map(String::as_str));
    for (svc, k, v) in &facts.environment {
        for port in local_ports(v) {
            let Some(p) = facts.ports.iter().find(|p| host_port(p) == Some(port)) else {
                continue;
            };
            let key = own_port_key(stack, p, &forms);
            let (key, mapped) = match key {
                Some((key, mapped)) => (key, mapped),
                None => ("its port key".to_string(), String::new()),
            };
            let here = instance
                .get(&key)
                .map(|n| format!("; this instance's is {n}"))
                .unwrap_or_default();
            out.push(warning(format!(
                "service {svc}: {k}={v} names the project's own published port {port}; in a sandbox that port is the instance's own ({key} in `kinfra env`{mapped}{here}), so a user following it lands on the base stack: write it as ${{{key}:-{port}}}"
            )));
        }
    }
}

/// Pure: the variable holding an instance's port for a published entry, and where
/// it is mapped: the auto scheme's `PORT_<SERVICE>_<TARGET>` (kinfra's, from the
/// same rule as the copy's keys), or the `[[ports]]` key the entry reads.
fn own_port_key(
    stack: &Stack,
    p: &PortEntry,
    forms: &BTreeMap<String, String>,
) -> Option<(String, String)> {
    if !stack.auto_ports {
        let (var, _) = p.var.as_ref()?;
        let mapped = if stack.ports.iter().any(|r| &r.key == var) {
            format!(", mapped by kinfra.toml's [[ports]] key = {var:?}")
        } else {
            String::new()
        };
        return Some((var.clone(), mapped));
    }
    let last = p.text.rsplit(':').next().unwrap_or("");
    let (target, protocol) = last.split_once('/').unwrap_or((last, "tcp"));
    let published = crate::tools::model::Published {
        service: p.service.clone(),
        form: forms.get(&p.service)?.clone(),
        target: target.parse().ok()?,
        protocol: protocol.to_string(),
        base: 0,
        nth: 0,
    };
    Some((
        published.key(),
        ", chosen by kinfra (port_scheme = \"auto\")".to_string(),
    ))
}

/// Variables the compose file reads that nothing sets.
fn unset_variables(
    stack: &Stack,
    facts: &Facts,
    env_keys: &BTreeSet<String>,
    out: &mut Vec<Finding>,
) {
    let set = kinfra_variables(stack);
    let secret_vars = stack.secret_vars();
    let secrets: BTreeSet<&str> = secret_vars.iter().map(String::as_str).collect();
    let mut unset = BTreeSet::new();
    for (var, has_default) in &facts.variables {
        if !has_default
            && !set.contains(var)
            && !secrets.contains(var.as_str())
            && !env_keys.contains(var)
        {
            unset.insert(var.clone());
        }
    }
    for v in unset {
        out.push(warning(format!(
            "the compose file reads {v}, which nothing sets (not kinfra, not a secret, not .env) and which has no default"
        )));
    }
}

/// Services the description names that the compose file does not have.
fn references(stack: &Stack, facts: &Facts, out: &mut Vec<Finding>) {
    for g in &stack.gate {
        if !facts.services.is_empty() && !facts.services.contains(&g.service) {
            out.push(warning(format!(
                "gate check {:?} names service {}, which the compose file does not have: its logs cannot be shown, and the check may wait for something that never starts",
                g.name, g.service
            )));
        }
    }
    if let Some(ps) = &stack.post_start
        && !facts.services.is_empty()
        && !facts.services.contains(&ps.service)
    {
        out.push(error(format!(
            "post_start {:?} runs in service {}, which the compose file does not have: every `up` would fail there",
            ps.name, ps.service
        )));
    }
}

/// Port keys and secrets mapped to variables the compose file never reads.
fn unread_keys(stack: &Stack, facts: &Facts, out: &mut Vec<Finding>) {
    let read: BTreeSet<&str> = facts
        .variables
        .iter()
        .map(|(v, _)| v.as_str())
        .chain(facts.passed_through.iter().map(String::as_str))
        .collect();
    // A built-in description's spare keys (M6's local-prod-only workers 5-8) are
    // not the user's to remove.
    if !stack.auto_ports && !stack.builtin {
        for p in stack.ports.iter().filter(|p| !p.fixed) {
            if !facts.variables.iter().any(|(v, _)| v == &p.key) {
                out.push(warning(format!(
                    "port key {} is one the compose file never reads: it holds a port per instance for nothing (remove it, or publish it)",
                    p.key
                )));
            }
        }
    }
    // local-prod holds real data: a secret that misses its variable leaves the
    // stack on its insecure default while 1Password is signed in.
    let mapped = stack
        .secret_fields
        .iter()
        .map(|f| {
            (
                format!("secret field {}", f.field),
                &f.var,
                f.for_kind(Kind::LocalProd),
            )
        })
        .chain(
            stack
                .secret_refs_for(Kind::LocalProd)
                .iter()
                .map(|r| ("[local_prod.secrets]".to_string(), &r.var, true)),
        )
        .chain(
            stack
                .secret_refs_for(Kind::Sandbox)
                .iter()
                .map(|r| ("[sandbox.secrets]".to_string(), &r.var, false)),
        );
    for (what, var, local_prod) in mapped {
        if read.contains(var.as_str()) {
            continue;
        }
        if local_prod {
            out.push(error(format!(
                "{what} is mapped to {var}, which the compose file never reads: local-prod would start on the compose file's default; map it to the variable the compose file reads for it"
            )));
        } else {
            out.push(warning(format!(
                "{what} is mapped to {var}, which the compose file never reads"
            )));
        }
    }
}

/// External networks and volumes: shared by every instance, and they must exist.
fn externals(
    stack: &Stack,
    facts: &Facts,
    exists: &dyn Fn(&str, &str) -> bool,
    out: &mut Vec<Finding>,
) {
    for n in &facts.external_networks {
        // One the description shares on purpose is said by `stack check`'s header.
        if !stack.shared_networks.iter().any(|s| s == n) {
            out.push(warning(format!(
                "external network {n} is shared by every instance (that is what external means): their services can reach each other on it; say it is meant with shared_networks = [{n:?}] in kinfra.toml"
            )));
        }
        if !exists("network", n) {
            out.push(Finding {
                create: Some(("network".into(), n.clone())),
                ..error(format!(
                    "external network {n} does not exist: create it with `docker network create {n}`"
                ))
            });
        }
    }
    for v in &facts.external_volumes {
        if stack.shared_volumes.iter().any(|s| s == v) {
            // Shared on purpose: said by `stack check`'s header.
        } else if stack.auto_ports {
            out.push(warning(format!(
                "external volume {v}: each sandbox gets its own, created empty ({v} itself is left to local-prod); to share it, add shared_volumes = [{v:?}] to kinfra.toml"
            )));
        }
        if !exists("volume", v) {
            out.push(Finding {
                create: Some(("volume".into(), v.clone())),
                ..error(format!(
                    "external volume {v} does not exist: create it with `docker volume create {v}`"
                ))
            });
        }
    }
}

/// Pure: a commented `kinfra.toml` for a project, from its compose file's facts.
pub fn draft(name: &str, compose_file: &str, facts: &Facts) -> String {
    let mut s = format!(
        "# kinfra.toml: how kinfra runs this project's compose stack, once per worktree.\n\
         # Every key: docs/STACKS.md in kinfra's repository. Check it with `kinfra stack check`.\n\
         name = {name:?}\n\
         compose_file = {compose_file:?}\n\
         max_slot = 10\n"
    );
    let mut seen = BTreeSet::new();
    let mut next_base: u32 = 20000;
    for p in &facts.ports {
        match &p.var {
            Some((var, default)) if seen.insert(var.clone()) => {
                let d: u16 = default.as_deref().and_then(|d| d.parse().ok()).unwrap_or(0);
                let base = if d > 0 { u32::from(d) } else { next_base };
                next_base += 100;
                s.push_str(&format!(
                    "\n# service {} publishes {:?}\n[[ports]]\nkey = {var:?}\nlocal_prod = {}\nbase = {base}\nstep = 1\n",
                    p.service,
                    p.text,
                    if d > 0 { d as u32 } else { base }
                ));
            }
            Some(_) => {}
            None => s.push_str(&format!(
                "\n# service {} publishes the fixed host port {:?}: make it a variable\n# (\"${{NAME:-PORT}}:…\") and describe it here as [[ports]], or a second\n# instance cannot start. Or let kinfra choose every host port (no [[ports]]\n# at all): port_scheme = \"auto\".\n",
                p.service, p.text
            )),
        }
    }
    for svc in &facts.healthchecks {
        s.push_str(&format!(
            "\n# service {svc} has a healthcheck; a gate check makes `up` wait for it, e.g.\n# [[gate]]\n# name = {svc:?}\n# service = {svc:?}\n# tcp = {{ port = \"<one of the keys above>\" }}\n"
        ));
    }
    s
}

/// Checks the repository at `top` against `stack`: its compose file, its `.env`, and
/// (when the engine answers) its external networks and volumes.
pub fn check_repo(
    stack: &Stack,
    top: &std::path::Path,
) -> crate::stack::error::Result<Vec<Finding>> {
    let text = stack.compose_text_in(top)?;
    let mut out = check_text(stack, top, &text);
    // Only here, not at every `up`: one more engine query.
    if let Some(have) = crate::tools::docker::image_names() {
        out.extend(missing_images(stack, &read(&text), &have));
    }
    Ok(out)
}

/// Under the auto scheme the compose model decides the port keys: a gate check
/// naming one it lacks is an error, found through [`Stack::gate_ports_in`] (as
/// `create` and `up` find it). Nothing when compose cannot read the project: the
/// other findings and `up` say why.
pub fn gate_ports(
    stack: &Stack,
    top: &std::path::Path,
    compose: &crate::tools::compose::Compose,
) -> Option<Finding> {
    use crate::tools::model;
    if !stack.auto_ports || stack.gate.is_empty() {
        return None;
    }
    let files = stack.compose_files_in(top).ok()?;
    let mut project = crate::tools::compose::Project::new("kinfra-check", files.first()?, top);
    project.files = files;
    project.profiles = stack.profiles.clone();
    let doc = model::config(compose, &project, &stack.secret_vars()).ok()?;
    let keys: Vec<String> = model::read(&doc, &project.profiles)
        .ports
        .iter()
        .map(model::Published::key)
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    stack.gate_ports_in(&keys).err().map(error)
}

/// Pure: images services use without a build section that the engine does not have
/// and no prepare step builds: compose would try to pull them.
pub fn missing_images(stack: &Stack, facts: &Facts, have: &BTreeSet<String>) -> Vec<Finding> {
    let prepared = stack.prepared_images();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (svc, image) in &facts.images_without_build {
        let full = if image.contains(':') || image.contains('@') {
            image.clone()
        } else {
            format!("{image}:latest")
        };
        if image.contains("${")
            || have.contains(&full)
            || prepared.contains(&image.as_str())
            || !seen.insert(image.clone())
        {
            continue;
        }
        out.push(Finding {
            severity: Severity::Warning,
            message: format!(
                "service {svc} uses the image {image}, which has no build section and is not on this machine: compose will try to pull it; if it is built by hand, add a [[prepare]] step that builds it (image = {image:?}, dockerfile = \"…\")"
            ),
            create: None,
        });
    }
    out
}

/// What the engine and the host would share between instances, from the compose
/// file's own text (the same pure rules as the copy's, [`crate::tools::model::isolate_engine`]):
/// under the auto scheme, what each instance's copy changes and what stays shared;
/// otherwise every one of them is shared, as the file runs unchanged.
pub fn engine_findings(stack: &Stack, top: &std::path::Path, text: &str) -> Vec<Finding> {
    use crate::tools::model;
    let Ok(mut doc) = model::parse(text) else {
        return Vec::new();
    };
    let user_home = std::path::PathBuf::from(
        crate::support::env_vars::get(crate::support::env_vars::EnvVars::HOME).unwrap_or_default(),
    );
    let host_paths = stack
        .host_paths
        .iter()
        .flat_map(|p| {
            let e = crate::stack::expand_host_path(p, &user_home)
                .display()
                .to_string();
            [
                (e.clone(), "<the instance's own>".to_string()),
                (p.clone(), e),
            ]
        })
        .collect();
    let opts = model::EngineOptions {
        project: "<project>",
        sandbox: stack.auto_ports,
        own_dirs: vec![top.display().to_string()],
        host_paths,
    };
    let iso = model::isolate_engine(&mut doc, &opts);
    if stack.auto_ports {
        return iso.lines().into_iter().map(warning).collect();
    }
    let mut out: Vec<Finding> = iso
        .limited
        .iter()
        .map(|(svc, _)| warning(format!(
            "service {svc} is Traefik with Docker discovery: it serves every instance's routers (kinfra limits it only in the copy it runs under port_scheme = \"auto\"); limit it with --providers.docker.constraints=Label(`{}`,`<project>`)",
            model::PROJECT_LABEL
        )))
        .collect();
    out.extend(
        iso.watchers
            .iter()
            .map(|(svc, why)| warning(format!("service {svc} {why}"))),
    );
    out.extend(iso.host_paths.iter().map(|(svc, p)| warning(format!(
        "service {svc} writes the host path {p}, outside the repository: every instance shares it"
    ))));
    out
}

/// [`check_repo`] on compose text already read (`up` has it in hand).
pub fn check_text(stack: &Stack, top: &std::path::Path, text: &str) -> Vec<Finding> {
    let env_keys: BTreeSet<String> = crate::state::envfile::read(top, ".env")
        .ok()
        .and_then(|t| crate::state::envfile::parse(&t).ok())
        .map(|m| m.into_keys().collect())
        .unwrap_or_default();
    let facts = read(text);
    // Unknown (engine unreachable) counts as present: no false alarm.
    let exists =
        |kind: &str, name: &str| crate::tools::docker::object_exists(kind, name).unwrap_or(true);
    // In an instance's checkout its own ports are named in the hints.
    let instance: BTreeMap<String, String> =
        crate::state::envfile::read(top, crate::state::envfile::FILE_NAME)
            .ok()
            .and_then(|t| crate::state::envfile::parse(&t).ok())
            .map(|m| m.into_iter().collect())
            .unwrap_or_default();
    let mut out = check_in(stack, &facts, &env_keys, &exists, &instance);
    out.extend(engine_findings(stack, top, text));
    out
}

#[cfg(test)]
mod tests;
