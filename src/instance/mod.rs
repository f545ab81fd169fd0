//! Instance lifecycle: one implementation for sandboxes and local-prod, which differ
//! only in the data of [`Kind`]. One file per operation.

mod create;
mod destroy;
mod init;
mod ops;
mod prune;
mod status;
mod up;

pub use create::{CreateOptions, create};
pub use destroy::{DestroyOptions, Destroyed, destroy, destroy_local_prod};
pub use init::{InitOptions, check_local_prod_free, init};
pub use ops::{down, logs, shell};
pub use prune::{PruneItem, prune, release};
pub use status::{ListRow, ServiceState, Status, list, status};
pub use up::{UpOptions, UpReport, up};

use std::path::{Path, PathBuf};

use crate::compose::Project;
use crate::context::Context;
use crate::envfile::{self, SandboxEnv};
use crate::error::{Error, Result};
use crate::stack::Stack;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sandbox,
    LocalProd,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Sandbox => "sandbox",
            Kind::LocalProd => "local-prod",
        }
    }
    pub fn of_slot(slot: u8) -> Kind {
        if slot == 0 {
            Kind::LocalProd
        } else {
            Kind::Sandbox
        }
    }
    pub fn profile(self, stack: &Stack) -> Option<&'static str> {
        match self {
            Kind::Sandbox => None,
            Kind::LocalProd => Some(stack.local_prod_profile),
        }
    }
}

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

    /// Reads the instance at `dir`.
    pub fn at(stack: &Stack, dir: &Path) -> Result<Instance> {
        let env = envfile::load(stack, dir)?;
        Ok(Instance {
            kind: Kind::of_slot(env.slot),
            dir: dir.to_path_buf(),
            env,
        })
    }

    /// The compose project: the instance's own compose file if it has one, else the
    /// embedded one; env from `.env.sandbox` (overriding the process environment).
    pub fn project(&self, ctx: &Context, stack: &Stack) -> Result<Project> {
        let file = compose_file(ctx, stack, &self.dir)?;
        let mut p = Project::new(self.id(), &file, &self.dir);
        p.profile = self.kind.profile(stack).map(String::from);
        p.env = self
            .env
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(p)
    }
}

/// The compose file for an instance directory.
pub fn compose_file(ctx: &Context, stack: &Stack, dir: &Path) -> Result<PathBuf> {
    let own = dir.join(stack.compose_file);
    if own.is_file() {
        return Ok(own);
    }
    // Materialize the embedded stack under kinfra home (rewritten only if changed).
    let text = crate::assets::text::<crate::assets::Stacks>(stack.compose_file);
    let path = ctx.home.join("compose").join(stack.compose_file);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io("could not create", parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| Error::io("could not write", &path, e))?;
    }
    Ok(path)
}

/// Walks up from `start` to the directory holding `.env.sandbox`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(envfile::FILE_NAME).is_file())
        .map(Path::to_path_buf)
}

/// The instance containing the current directory, which must be of `kind`.
pub fn locate(ctx: &Context, stack: &Stack, kind: Kind) -> Result<Instance> {
    let root = find_root(&ctx.cwd).ok_or_else(|| Error::NoInstanceHere {
        dir: ctx.cwd.clone(),
    })?;
    let inst = Instance::at(stack, &root)?;
    if inst.kind != kind {
        return Err(Error::WrongKind {
            dir: root,
            expected: kind.label(),
            found: format!("{} {}", inst.kind.label(), inst.id()),
        });
    }
    Ok(inst)
}

/// Current time as ISO-8601 UTC, seconds precision.
pub fn now_iso() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Removes what docker holds for a project name that nothing registered owns
/// (volumes of an earlier instance with the same name: stale passwords).
pub(crate) fn clear_leftovers(ctx: &Context, project: &str) {
    match crate::docker::remove_project(project) {
        Ok(r) if r.containers + r.volumes > 0 => ctx.reporter.warn(&format!(
            "removed {} container(s) and {} volume(s) left over from an earlier instance named {project}",
            r.containers, r.volumes
        )),
        Ok(_) => {}
        Err(e) => ctx.reporter.warn(&format!(
            "could not check Docker for leftovers of {project}: {e}"
        )),
    }
}
