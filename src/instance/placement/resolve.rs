//! A project whose host ports kinfra chooses (`port_scheme = "auto"`, the default
//! without `[[ports]]`): compose's model of the instance, its ports, and the resolved
//! copy compose runs.
//!
//! Ports are chosen under the registry lock and recorded there (`kinfra.json`) and in
//! `.env.sandbox`; a port once given stays the instance's. The copy is rebuilt only
//! when what `config` read changed (its cache key): an unchanged project starts
//! without asking compose for its model again, and read commands never do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::instance::Instance;
use crate::instance::error::{Error, Result};
use crate::instance::model::env::SandboxEnv;
use crate::stack::Stack;
use crate::state::context::Context;
use crate::state::envfile;
use crate::tools::compose::{Compose, Project};
use crate::tools::model::{self, Model, Published};

mod net6;

/// What a resolved copy was made from, beside it (`<id>.meta.json`).
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    key: String,
    services: Vec<String>,
    /// Each published port: key and the project's own port.
    bases: Vec<(String, u16)>,
    /// The instance's ports written into the copy.
    ports: BTreeMap<String, u16>,
    /// What the copy changed to make the instance its own.
    #[serde(default)]
    isolation: model::Isolation,
}

/// The copy to run, the model it came from, and the instance with its ports.
pub struct Resolved {
    pub file: PathBuf,
    pub model: Model,
    pub instance: Instance,
    pub isolation: model::Isolation,
}

/// The services of an instance's last resolved model, when there is one (no compose
/// call: `wait` and the agents' verbs read it).
pub fn cached_services(ctx: &Context, id: &str) -> Option<Vec<String>> {
    let m: Meta =
        serde_json::from_slice(&std::fs::read(ctx.home.model_meta_file(id)).ok()?).ok()?;
    Some(m.services)
}

/// The project's own host port of each published port (key → the port its
/// compose file gives), from the instance's last resolved model: what `kinfra
/// checkout` serves. `None`: never resolved (never started).
pub fn cached_bases(ctx: &Context, id: &str) -> Option<Vec<(String, u16)>> {
    let m: Meta =
        serde_json::from_slice(&std::fs::read(ctx.home.model_meta_file(id)).ok()?).ok()?;
    Some(m.bases)
}

/// What the instance's last resolved copy shares with other instances (external
/// networks, shared volumes, host-network services), one line each; empty when it
/// has none or no copy (a plain read, for `status`).
pub fn cached_shared(ctx: &Context, id: &str) -> Vec<String> {
    let Some(m) = std::fs::read(ctx.home.model_meta_file(id))
        .ok()
        .and_then(|b| serde_json::from_slice::<Meta>(&b).ok())
    else {
        return Vec::new();
    };
    let iso = m.isolation;
    let mut out: Vec<String> = iso
        .external_networks
        .iter()
        .map(|n| format!("external network {n} (every instance of the project joins it)"))
        .collect();
    out.extend(
        iso.shared_volumes
            .iter()
            .map(|v| format!("external volume {v} (shared_volumes)")),
    );
    out.extend(
        iso.host_network
            .iter()
            .map(|s| format!("service {s} on the host's network (one instance at a time)")),
    );
    out.extend(
        iso.engine
            .watchers
            .iter()
            .map(|(s, _)| format!("service {s} sees every instance's containers (Docker socket)")),
    );
    out.extend(
        iso.engine
            .host_paths
            .iter()
            .map(|(s, p)| format!("host path {p} (service {s}; [isolate] host_paths)")),
    );
    out
}

/// Makes (or reuses) the instance's resolved copy, choosing ports for any published
/// port that has none yet.
/// [`prepare`] from the instance's own compose files, then `project` pointed at the
/// copy with the instance's variables: how `up` and `compose` run an instance whose
/// ports kinfra chooses.
pub fn into_project(
    ctx: &Context,
    compose: &Compose,
    stack: &Stack,
    inst: &Instance,
    project: &mut Project,
) -> Result<Resolved> {
    project.files = stack.compose_files_in(&inst.dir)?;
    let res = prepare(ctx, compose, stack, inst, project)?;
    project.files = vec![res.file.clone()];
    project.env = res.instance.env.compose_vars(stack, &ctx.shared_dir());
    Ok(res)
}

pub fn prepare(
    ctx: &Context,
    compose: &Compose,
    stack: &Stack,
    inst: &Instance,
    project: &Project,
) -> Result<Resolved> {
    let secrets: Vec<String> = stack.secret_vars();
    // The allocated ports are the copy's output, not `config`'s input.
    let mut keyed = project.clone();
    keyed
        .env
        .retain(|(k, _)| !k.starts_with(model::PORT_PREFIX));
    // The rewrites of `model::isolate` are part of what the copy is made from.
    let key = format!(
        "{}-iso2-{}-{}",
        model::cache_key(compose, &keyed, &secrets),
        stack.shared_volumes.join(","),
        stack.host_paths.join(",")
    );
    let copy = ctx.home.model_copy_file(inst.id());
    let meta_path = ctx.home.model_meta_file(inst.id());
    let have: BTreeMap<String, u16> = inst.env.ports.iter().cloned().collect();

    let cached = std::fs::read(&meta_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Meta>(&b).ok())
        .filter(|m| m.key == key && copy.is_file())
        .filter(|m| m.bases.iter().all(|(k, _)| have.get(k) == m.ports.get(k)));
    if let Some(m) = cached {
        return Ok(Resolved {
            file: copy,
            model: Model {
                services: m.services,
                ports: Vec::new(),
            },
            instance: inst.clone(),
            isolation: m.isolation,
        });
    }

    let mut doc = model::config(compose, &keyed, &secrets)?;
    let m = model::read(&doc, &project.profiles);
    let instance = allocate(ctx, stack, inst, &m.ports)?;
    let ports: BTreeMap<String, u16> = instance.env.ports.iter().cloned().collect();
    model::rewrite_ports(&mut doc, &ports);
    let sandbox = inst.kind == crate::instance::Kind::Sandbox;
    let mut isolation = model::isolate(&mut doc, inst.id(), sandbox, &stack.shared_volumes);
    // A fixed subnet: a second instance would fail with "Pool overlaps".
    let fixed = model::fixed_subnets(&doc);
    if sandbox && !fixed.is_empty() {
        let chosen = subnets(ctx, inst.id(), &fixed)?;
        isolation.subnets = model::rewrite_subnets(&mut doc, &chosen);
    }
    if sandbox {
        net6::isolate(ctx, inst.id(), &mut doc, &mut isolation)?;
    }
    isolation.engine = isolate_engine(ctx, stack, inst, &mut doc)?;
    // Said whenever the copy is made (create, and an `up` after a change).
    for line in isolation.lines() {
        ctx.reporter.info(&line);
    }

    if let Some(dir) = copy.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("could not create", dir, e))?;
    }
    let text = serde_json::to_vec_pretty(&doc).map_err(|source| Error::Unencodable { source })?;
    // The model holds the project's own environment values: the user's alone.
    crate::support::fsutil::write_atomic(&copy, &text, Some(0o600))
        .map_err(|e| Error::io("could not write", &copy, e))?;
    let meta = Meta {
        key,
        services: m.services.clone(),
        bases: m.ports.iter().map(|p| (p.key(), p.base)).collect(),
        ports,
        isolation: isolation.clone(),
    };
    let meta_text =
        serde_json::to_vec_pretty(&meta).map_err(|source| Error::Unencodable { source })?;
    crate::support::fsutil::write_atomic(&meta_path, &meta_text, Some(0o600))
        .map_err(|e| Error::io("could not write", &meta_path, e))?;
    Ok(Resolved {
        file: copy,
        model: m,
        instance,
        isolation,
    })
}

/// [`model::isolate_engine`] for the instance: each `[isolate] host_paths` entry is
/// checked against this machine first (refused, exit 2, before anything is made or
/// started), and a sandbox's own directory for it is made empty (a file the
/// original is gets a copy), the original never touched.
fn isolate_engine(
    ctx: &Context,
    stack: &Stack,
    inst: &Instance,
    doc: &mut serde_json::Value,
) -> Result<model::EngineIsolation> {
    let user_home = PathBuf::from(
        crate::support::env_vars::get(crate::support::env_vars::EnvVars::HOME).unwrap_or_default(),
    );
    let sandbox = inst.kind == crate::instance::Kind::Sandbox;
    let own_root = model::host_paths_dir(&ctx.home, inst.id());
    let mut host_paths = Vec::new();
    for p in &stack.host_paths {
        if let Some(why) =
            crate::stack::host_path_refusal(p, &user_home, ctx.home.path(), &inst.dir)
        {
            return Err(Error::Stack(
                crate::stack::error::StackError::StackInvalid {
                    origin: stack.origin.clone(),
                    message: format!("isolate.host_paths entry {p:?} {why}"),
                },
            ));
        }
        let from = crate::stack::expand_host_path(p, &user_home);
        let rel = from.strip_prefix("/").unwrap_or(&from);
        host_paths.push((
            from.display().to_string(),
            own_root.join(rel).display().to_string(),
        ));
    }
    let opts = model::EngineOptions {
        project: inst.id(),
        sandbox,
        own_dirs: vec![
            inst.dir.display().to_string(),
            ctx.home.path().display().to_string(),
        ],
        host_paths,
    };
    let iso = model::isolate_engine(doc, &opts);
    for (_, from, to) in &iso.own_host_paths {
        let to = PathBuf::from(to);
        if to.exists() {
            continue; // kept across starts: it is the instance's data
        }
        let made = if std::path::Path::new(from).is_file() {
            to.parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::copy(from, &to).map(|_| ()))
        } else {
            std::fs::create_dir_all(&to)
        };
        made.map_err(|e| Error::io("could not create", &to, e))?;
    }
    Ok(iso)
}

/// Subnets for the networks that fix one: kept when recorded, else the first in
/// kinfra's range that no engine network and no other instance uses; recorded
/// under the registry lock like ports.
fn subnets(
    ctx: &Context,
    id: &str,
    fixed: &[(String, model::Cidr)],
) -> Result<BTreeMap<String, model::Cidr>> {
    let engine: Vec<model::Cidr> = crate::tools::docker::network_subnets()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| model::Cidr::parse(s))
        .collect();
    ctx.registry().update_with(|c| {
        let kept: BTreeMap<String, model::Cidr> = c
            .kinfra
            .subnets
            .get(id)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), model::Cidr::parse(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut taken: Vec<model::Cidr> = c
            .kinfra
            .subnets
            .iter()
            .filter(|(other, _)| other.as_str() != id)
            .flat_map(|(_, m)| m.values().filter_map(|v| model::Cidr::parse(v)))
            .collect();
        // The engine's, except this instance's own networks (already on its subnets).
        taken.extend(engine.iter().filter(|e| !kept.values().any(|k| k == *e)));
        let mut chosen = BTreeMap::new();
        for (net, original) in fixed {
            let pick = match kept.get(net) {
                Some(k) if k.len == original.len => *k,
                _ => model::choose_subnet(original.len, &taken).ok_or_else(|| {
                    Error::NoFreeSubnet {
                        len: original.len.to_string(),
                        pool: "10.200.0.0/13".into(),
                        network: net.clone(),
                        fixed: original.to_string(),
                        narrowest: None,
                    }
                })?,
            };
            taken.push(pick);
            chosen.insert(net.clone(), pick);
        }
        // Replaces this family's records only: the IPv6 ones (net6) stay.
        let own = c.kinfra.subnets.entry(id.to_string()).or_default();
        own.retain(|_, v| model::Cidr::parse(v).is_none());
        own.extend(chosen.iter().map(|(k, v)| (k.clone(), v.to_string())));
        Ok(chosen)
    })
}

/// After `create` or `init`: the new instance's ports, chosen now so they can be
/// shown. A project compose cannot read yet (a variable set later, say) gets them
/// at its first `up` instead; that is said, and is no failure.
pub fn choose_ports(ctx: &Context, stack: &Stack, inst: Instance) -> Instance {
    if !stack.auto_ports {
        return inst;
    }
    let res = Compose::detect(&ctx.home)
        .map_err(Error::from)
        .and_then(|compose| {
            let project = inst.project(ctx, stack)?;
            prepare(ctx, &compose, stack, &inst, &project)
        })
        .map(|r| r.instance);
    match res {
        Ok(i) => i,
        Err(e) => {
            ctx.reporter
                .warn(&format!("host ports are chosen at the first `up` ({e})"));
            inst
        }
    }
}

/// Gives every published port of the model an instance port (keeping those it has),
/// records them under the registry lock, and rewrites `.env.sandbox` when they
/// changed. Returns the instance with its ports.
pub fn allocate(
    ctx: &Context,
    stack: &Stack,
    inst: &Instance,
    published: &[Published],
) -> Result<Instance> {
    let mut wanted: Vec<(String, u16)> = Vec::new();
    for p in published {
        let k = p.key();
        if !wanted.iter().any(|(w, _)| *w == k) {
            wanted.push((k, p.base));
        }
    }
    let kept: BTreeMap<String, u16> = inst.env.ports.iter().cloned().collect();
    // Probed before the lock: what listens now, and what the engine publishes.
    let holders = crate::tools::docker::port_holders().unwrap_or_default();
    // On another machine's engine a port is published there and forwarded here:
    // chosen free on both machines (what listens there, not only its containers).
    let there = match crate::engine::remote::placement(ctx, inst.id()) {
        Ok(Some(e)) => crate::engine::remote::listening(&e)
            .ok()
            .flatten()
            .unwrap_or_default(),
        _ => Default::default(),
    };
    let held =
        |p: u16| holders.contains_key(&p) || there.contains(&p) || crate::stack::ports::in_use(p);
    let id = inst.id().to_string();
    let chosen = ctx.registry().update_with(|c| {
        let mut taken: BTreeSet<u16> = c
            .kinfra
            .ports
            .iter()
            .filter(|(other, _)| **other != id)
            .flat_map(|(_, m)| m.values().copied())
            .collect();
        // The Python tools' slot pool and devops-ai's slots hold theirs.
        taken.extend(crate::stack::compat::foreign_ports(c).into_keys());
        // Instances of env-driven projects: their ports are in their .env.sandbox.
        for e in c.local_prod.iter().chain(c.instances.values()) {
            if e.instance_id != id && !c.kinfra.ports.contains_key(&e.instance_id) {
                taken.extend(env_ports(&PathBuf::from(&e.path)));
            }
        }
        // A slot-numbered project's ports follow its slots: on a machine that runs
        // it, a slot not yet taken will want its ports too.
        taken.extend(crate::stack::compat::reserved_slot_ports(c));
        let chosen = crate::stack::ports::allocate(&wanted, inst.env.slot, &kept, &taken, &held);
        if let Some((k, base)) = wanted.iter().find(|(k, _)| !chosen.contains_key(k)) {
            return Err(Error::NoFreePort {
                key: k.clone(),
                base: base.to_string(),
            });
        }
        c.kinfra.ports.insert(id.clone(), chosen.clone());
        c.kinfra.stacks.insert(id.clone(), stack.name.clone());
        Ok(chosen)
    })?;

    let mut vars = inst.env.vars.clone();
    vars.retain(|k, _| !k.starts_with(model::PORT_PREFIX) || chosen.contains_key(k));
    for (k, p) in &chosen {
        vars.insert(k.clone(), p.to_string());
    }
    if vars == inst.env.vars {
        return Ok(inst.clone());
    }
    let env = SandboxEnv::from_map(stack, vars).map_err(|source| {
        Error::State(crate::state::error::StateError::EnvFile(
            envfile::LoadError::Invalid {
                path: inst.dir.join(envfile::FILE_NAME),
                source,
            },
        ))
    })?;
    env.write(&inst.dir.join(envfile::FILE_NAME))?;
    Ok(Instance {
        env,
        ..inst.clone()
    })
}

/// The port numbers in an instance's `.env.sandbox` (keys naming a port), or none.
pub(in crate::instance) fn env_ports(dir: &std::path::Path) -> Vec<u16> {
    let Ok(text) = std::fs::read_to_string(dir.join(envfile::FILE_NAME)) else {
        return Vec::new();
    };
    let Ok(map) = envfile::parse(&text) else {
        return Vec::new();
    };
    map.iter()
        .filter(|(k, _)| k.contains("PORT"))
        .filter_map(|(_, v)| v.trim().parse::<u16>().ok())
        .collect()
}
