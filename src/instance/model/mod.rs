//! What an instance is: [`Instance`], read from its `.env.sandbox` as kinfra means it
//! ([`mod@env`]), its identity, which is its registry entry's ([`identity`]), and the
//! lock that lets one operation act on it at a time (`lock`).

pub mod env;
pub mod identity;
pub(super) mod lock;

use std::path::{Path, PathBuf};

use crate::instance::error::Result;
use crate::stack::{Kind, Stack};
use crate::state::context::Context;
use crate::state::envfile;
use crate::tools::compose::Project;
use env::SandboxEnv;

/// An instance found on disk: its directory and validated `.env.sandbox`.
#[derive(Debug, Clone)]
pub struct Instance {
    pub kind: Kind,
    pub dir: PathBuf,
    pub env: SandboxEnv,
}

impl Instance {
    pub fn id(&self) -> &str {
        &self.env.instance_id
    }

    /// The stack's links (URLs, ports) with this instance's ports.
    pub fn links(&self, stack: &Stack) -> Vec<(String, String)> {
        if stack.auto_ports && stack.links.is_empty() {
            return crate::stack::ports::auto_links(&self.env.ports);
        }
        let ports: Vec<(&str, u16)> = self
            .env
            .ports
            .iter()
            .map(|(k, p)| (k.as_str(), *p))
            .collect();
        crate::stack::ports::links(stack, &ports)
            .into_iter()
            .map(|(l, t)| (l.to_string(), t))
            .collect()
    }

    /// Each link by its lowercase label (MCP's instance descriptions; `kinfra url`
    /// adds the routed URL beside each: `router::urls`).
    pub fn urls(&self, stack: &Stack) -> std::collections::BTreeMap<String, String> {
        self.links(stack)
            .into_iter()
            .map(|(l, u)| (l.to_lowercase(), u))
            .collect()
    }

    /// Reads the instance at `dir` for a command: as [`Instance::at`], except that a
    /// port key missing from a file written under another description (the
    /// registry's record of the instance's description differs, or there is none:
    /// the Python tools made it) is new, not corruption: it takes the slot's value,
    /// and `up` or `sync` write it.
    ///
    /// This is where every command loads an instance's `.env.sandbox`, so the file's
    /// identity keys are checked against the registry here ([`identity::check`]):
    /// the name, and so the compose project, of what the command acts on is the
    /// registry's.
    ///
    /// And so it is where a command on an instance placed on another machine's engine
    /// is sent there ([`crate::engine::remote::route`]).
    pub fn read(ctx: &Context, stack: &Stack, dir: &Path) -> Result<Instance> {
        let inst = Self::read_unchecked(ctx, stack, dir)?;
        identity::check(&ctx.registry().load()?, dir, &inst.env)?;
        crate::engine::remote::route(ctx, inst.id())?;
        Ok(inst)
    }

    fn read_unchecked(ctx: &Context, stack: &Stack, dir: &Path) -> Result<Instance> {
        match env::load(stack, dir) {
            Err(envfile::LoadError::Invalid {
                source: envfile::EnvFileError::Missing { key },
                ..
            }) if crate::stack::ports::for_slot(stack, 0)
                .iter()
                .chain(crate::stack::ports::for_slot(stack, 1).iter())
                .any(|(k, _)| *k == key)
                && description_moved(ctx, stack, dir) =>
            {
                let env = env::load_filling(stack, dir)?;
                Ok(Instance {
                    kind: Kind::of_slot(env.slot),
                    dir: dir.to_path_buf(),
                    env,
                })
            }
            other => {
                let env = other?;
                Ok(Instance {
                    kind: Kind::of_slot(env.slot),
                    dir: dir.to_path_buf(),
                    env,
                })
            }
        }
    }

    /// Reads the instance at `dir` as it is (no port filled), its identity checked
    /// against the registry as in [`Instance::read`].
    pub fn at(ctx: &Context, stack: &Stack, dir: &Path) -> Result<Instance> {
        let env = env::load(stack, dir)?;
        identity::check(&ctx.registry().load()?, dir, &env)?;
        crate::engine::remote::route(ctx, &env.instance_id)?;
        Ok(Instance {
            kind: Kind::of_slot(env.slot),
            dir: dir.to_path_buf(),
            env,
        })
    }

    /// The compose project: the instance's own compose file if it has one, else the
    /// embedded one; env from `.env.sandbox` (overriding the process environment).
    pub fn project(&self, ctx: &Context, stack: &Stack) -> Result<Project> {
        let mut files = stack.compose_files_in(&self.dir)?;
        // Chosen ports live in the resolved copy that the last `up` ran.
        let copy = ctx.home.model_copy_file(self.id());
        if stack.auto_ports && copy.is_file() {
            files = vec![copy];
        }
        let mut p = Project::new(self.id(), &files[0], &self.dir);
        p.files = files;
        // COMPOSE_PROFILES (environment or `.env`) switches profiles on as it does
        // for compose: their services and ports are the instance's too.
        p.profiles = crate::tools::compose::merge_profiles(
            stack.profiles_for(self.kind),
            crate::tools::compose::env_profiles(&self.dir),
        );
        p.env = self.env.compose_vars(stack, &ctx.shared_dir());
        Ok(p)
    }
}

/// Whether the instance at `dir` was made (or last synced) under another
/// description than `stack`, or under none kinfra recorded.
fn description_moved(ctx: &Context, stack: &Stack, dir: &Path) -> bool {
    let id = std::fs::read_to_string(dir.join(envfile::FILE_NAME))
        .ok()
        .and_then(|t| envfile::parse(&t).ok())
        .and_then(|m| m.get("INSTANCE_ID").cloned());
    let Some(id) = id else { return false };
    let Ok(reg) = ctx.registry().load() else {
        return false;
    };
    reg.kinfra
        .descriptions
        .get(&id)
        .is_none_or(|d| d.fingerprint != stack.fingerprint())
}
