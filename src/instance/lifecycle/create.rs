//! `sandbox create NAME`: a worktree beside the repository, a slot, `.env.sandbox`
//! and a registry entry. A failure undoes the steps already done.

use std::path::{Path, PathBuf};

use super::init::{check_slot, stack_top, take_slot};
use crate::instance::error::{Error, Result};
use crate::instance::leftovers::check_leftovers;
use crate::instance::model::env::SandboxEnv;
use crate::instance::{Instance, Kind, now_iso};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::state::envfile;
use crate::state::registry::Entry;
use crate::support::slug::slugify;
use crate::tools::git;

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: String,
    pub branch: Option<String>,
    /// Where a new branch starts (a commit or ref); default HEAD.
    pub base: Option<String>,
    pub slot: Option<u8>,
    /// Instead of the stack's `worktree_prefix` (the workflow's `impl_prefix`).
    pub prefix: Option<String>,
    /// The engine on another machine to place it on (`kinfra engine add`); `None`:
    /// this machine's.
    pub on: Option<String>,
}

pub fn create(ctx: &Context, stack: &Stack, opts: &CreateOptions) -> Result<Instance> {
    let Target {
        repo,
        id,
        path,
        branch,
    } = target(ctx, stack, opts)?;
    let now = now_iso();
    let path_s = path.display().to_string();
    // Its engine answers before anything is made (and the leftovers looked for are there).
    let engine = engine_of(ctx, opts)?;
    if !ctx.registry().load()?.instances.contains_key(&id) {
        check_leftovers(ctx, &id, None, Kind::Sandbox)?;
    }

    // 1. Reserve the slot and name (under the lock; git work happens outside it).
    let entry = Entry {
        instance_id: id.clone(),
        slot: 0,
        path: path_s.clone(),
        created_at: now.clone(),
        is_worktree: true,
        parent_repo: Some(repo.display().to_string()),
    };
    let slot = reserve(ctx, stack, entry, opts.slot)?;
    ctx.reporter.step(&format!(
        "Creating worktree {} (branch {branch}, slot {slot})",
        path.display()
    ));

    crate::state::context::pause_point("create:reserved");
    let undo_registry = || {
        let _ = ctx.registry().update(|c| {
            c.instances.remove(&id);
            c.kinfra.created_worktrees.retain(|p| p != &path_s);
            c.kinfra.forget(&id);
            Ok(())
        });
    };

    if let Some(e) = &engine
        && let Err(err) = place(ctx, &id, e)
    {
        undo_registry();
        return Err(err);
    }

    // 2. The worktree.
    let git_lock = ctx.registry().worktree_lock()?;
    let added = git::worktree_add(&repo, &path, &branch, opts.base.as_deref());
    drop(git_lock);
    let created_branch = match added {
        Ok(b) => b,
        Err(e) => {
            if path.exists() {
                let _lock = ctx.registry().worktree_lock();
                let _ = git::worktree_remove(&repo, &path);
            }
            undo_registry();
            return Err(e.into());
        }
    };

    // 3. `.env.sandbox`.
    crate::state::context::pause_point("create:worktree");
    let env = SandboxEnv::new(stack, slot, &id, &ctx.shared_dir(), &now);
    let undo_all = || {
        let _lock = ctx.registry().worktree_lock();
        let _ = git::worktree_remove(&repo, &path);
        if created_branch {
            let _ = git::delete_branch(&repo, &branch);
        }
        crate::tools::model::remove_copy(&ctx.home, &id);
        undo_registry();
    };
    if let Err(e) = env.write(&path.join(envfile::FILE_NAME)) {
        undo_all();
        return Err(e);
    }
    carry(ctx, stack, &repo, &path);
    crate::instance::host::carry_ignored::carry_ignored(ctx, stack, &repo, &path);
    let inst = Instance {
        kind: Kind::Sandbox,
        dir: path.clone(),
        env,
    };
    let inst = crate::instance::placement::resolve::choose_ports(ctx, stack, inst);
    // Under the auto scheme the model decides the port keys: a gate check naming
    // one it lacks would fail every `up`, so the sandbox is not made (when the
    // model could not be read yet, `up` checks it).
    if stack.auto_ports
        && ctx.home.model_copy_file(&id).is_file()
        && let Err(e) = super::up::gate_ports_exist(stack, &inst)
    {
        undo_all();
        return Err(e);
    }
    Ok(inst)
}

/// The engine `--on` names, after a fast check that it answers (every docker call of
/// this command then goes there).
fn engine_of(ctx: &Context, opts: &CreateOptions) -> Result<Option<crate::engine::Engine>> {
    let Some(name) = &opts.on else {
        return Ok(None);
    };
    let e = crate::engine::named(ctx, name)?;
    crate::engine::remote::connect(ctx, &e)?;
    Ok(Some(e))
}

/// Records the instance on its engine, under the registry's lock (where `engine rm`
/// looks), the engine still recorded.
fn place(ctx: &Context, id: &str, e: &crate::engine::Engine) -> Result<()> {
    ctx.registry().update_with(|c| {
        if !c.kinfra.engines.contains_key(&e.name) {
            return Err(Error::Engine(
                crate::engine::error::EngineError::NoSuchEngine {
                    name: e.name.clone(),
                    known: c.kinfra.engines.keys().cloned().collect(),
                },
            ));
        }
        c.kinfra.placements.insert(id.to_string(), e.name.clone());
        Ok(())
    })
}

/// Where a new sandbox goes, checked before anything is changed.
struct Target {
    /// The main clone: worktrees hang off it.
    repo: PathBuf,
    id: String,
    path: PathBuf,
    branch: String,
}

/// The new sandbox's name, directory and branch, each refused with the reason when
/// it cannot be used.
fn target(ctx: &Context, stack: &Stack, opts: &CreateOptions) -> Result<Target> {
    if let Some(s) = opts.slot {
        check_slot(stack, s)?;
    }
    let slug = slugify(&opts.name)?;
    if slug != opts.name {
        ctx.reporter
            .info(&format!("name made safe: {:?} -> {slug}", opts.name));
    }
    let top = stack_top(stack, &ctx.cwd)?;
    // Worktrees hang off the main clone, also when run from inside another worktree.
    let repo = if git::is_clone(&top) {
        top.clone()
    } else {
        git::common_repo(&top)?
    };
    let parent = repo
        .parent()
        .ok_or_else(|| Error::NoParent { path: repo.clone() })?;
    let prefix = opts.prefix.as_deref().unwrap_or(&stack.worktree_prefix);
    let id = format!("{prefix}{slug}");
    super::init::refuse_pool_name(&id)?;
    let path: PathBuf = parent.join(&id);
    let branch = opts.branch.clone().unwrap_or_else(|| slug.clone());
    if !git::valid_branch_name(&repo, &branch)? {
        return Err(Error::BadBranchName { branch });
    }
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(Error::DirExists { path });
    }
    Ok(Target {
        repo,
        id,
        path,
        branch,
    })
}

/// Records the sandbox (its slot, the worktree as kinfra's, its description) in the
/// registry, under its lock; the name must still be free.
fn reserve(ctx: &Context, stack: &Stack, mut entry: Entry, wanted: Option<u8>) -> Result<u8> {
    let id = entry.instance_id.clone();
    let path_s = entry.path.clone();
    ctx.registry().update_with(|c| {
        // local-prod's id too: the two would share a compose project and records.
        let local_prod = c.local_prod.as_ref().filter(|e| e.instance_id == id);
        if let Some(e) = c.instances.get(&id).or(local_prod) {
            return Err(Error::NameTaken {
                id: id.clone(),
                path: PathBuf::from(&e.path),
            });
        }
        let slot = take_slot(c, stack, wanted)?;
        entry.slot = slot;
        c.instances.insert(id.clone(), entry.clone());
        c.kinfra.created_worktrees.push(path_s.clone());
        c.kinfra.stacks.insert(id.clone(), stack.name.clone());
        c.kinfra.descriptions.insert(id.clone(), stack.described());
        Ok(slot)
    })
}

/// Copies the stack's carried files into the new worktree: from the main clone (an
/// untracked `.env.local`), else from the worktree's own checkout (a tracked
/// example). Never over a file that is there; a failure is said, not fatal.
fn carry(ctx: &Context, stack: &Stack, repo: &Path, worktree: &Path) {
    for c in &stack.carry {
        // Links are followed before anything is read or written: a tracked symlink
        // (as `to`, or a directory on its way) must not write outside the worktree,
        // and one as `from` must not copy a file from elsewhere (a secret in $HOME).
        let dest = match crate::support::fsutil::resolve_inside(worktree, Path::new(c.dest())) {
            Ok(d) => d,
            Err(why) => {
                ctx.reporter
                    .warn(&format!("not carried: {} ({why})", c.dest()));
                continue;
            }
        };
        if std::fs::symlink_metadata(worktree.join(c.dest())).is_ok()
            || std::fs::symlink_metadata(&dest).is_ok()
        {
            continue;
        }
        let mut refused = None;
        let src = [repo, worktree].into_iter().find_map(|root| {
            if std::fs::symlink_metadata(root.join(&c.from)).is_err() {
                return None;
            }
            match crate::support::fsutil::resolve_inside(root, Path::new(&c.from)) {
                Ok(p) if p.is_file() => Some(p),
                Ok(_) => None,
                Err(why) => {
                    refused = Some(why);
                    None
                }
            }
        });
        if let Some(why) = refused {
            ctx.reporter
                .warn(&format!("not carried: {} ({why})", c.from));
            continue;
        }
        let Some(src) = src else {
            continue;
        };
        let copied = crate::support::fsutil::copy_into_place(&src, &dest);
        match copied {
            Ok(_) => ctx
                .reporter
                .info(&format!("carried {} into the worktree", c.dest())),
            Err(e) => ctx.reporter.warn(&format!(
                "could not carry {} into the worktree: {e}",
                c.from
            )),
        }
    }
}
