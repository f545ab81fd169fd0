//! `sandbox destroy` and `local-prod destroy`.
//!
//! Targets come from the registry (local-prod: always; sandboxes: by name, or the
//! registered instance containing the current directory). A directory is deleted
//! only when it is that instance's registered path, a git worktree, created by
//! kinfra, and holds no uncommitted work and no commits on no branch (unless
//! forced; commits on the worktree's branch stay with the branch). The files
//! kinfra itself put there do not count as work: `.env.sandbox`, and a carried file
//! (`[[carry]]`) still identical to its source; a carried file the user changed does.
//! The local-prod clone is never deleted.

use std::path::{Path, PathBuf};

use crate::engine::error::EngineError;
use crate::instance::error::{Error, Result};
use crate::instance::{Instance, Kind};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::state::envfile;
use crate::state::registry::Entry;
use crate::support::fsutil::same_path;
use crate::tools::compose::{Compose, Project};
use crate::tools::docker;
use crate::tools::git;

#[derive(Debug, Clone, Default)]
pub struct DestroyOptions {
    /// A registered sandbox name; `None` = the one containing the current directory.
    pub name: Option<String>,
    pub keep_worktree: bool,
    pub force: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Destroyed {
    pub instance_id: String,
    pub path: PathBuf,
    pub removed: docker::Removed,
    pub directory_deleted: bool,
    /// Why the directory stayed, when it did.
    pub kept_because: Option<String>,
    /// The branch the worktree was on keeps commits no remote has: said, not lost.
    pub branch_note: Option<String>,
    /// The engine on another machine it was placed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// With `--force` and its engine unreachable: what may be left there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_on_engine: Option<String>,
}

/// The engine on another machine the instance is on, which must answer, unless
/// `force`: then it is forgotten here and the second value says what may be left there.
fn remote_of(
    ctx: &Context,
    entry: &Entry,
    force: bool,
) -> Result<(Option<crate::engine::Engine>, Option<String>)> {
    let id = &entry.instance_id;
    let e = match crate::engine::remote::placement(ctx, id) {
        Ok(Some(e)) => e,
        Ok(None) => return Ok((None, None)),
        // Its engine's record is gone or one kinfra will not use: with `--force` the
        // sandbox is still forgotten here (else nothing could remove it: `engine rm`
        // refuses while it is placed there); nothing is sent anywhere.
        Err(
            err @ (EngineError::NoSuchEngine { .. }
            | EngineError::BadRecordName { .. }
            | EngineError::BadRecordAddress { .. }
            | EngineError::BadRecordDockerHost { .. }),
        ) if force => {
            let name = ctx
                .registry()
                .load()?
                .kinfra
                .placements
                .get(id)
                .cloned()
                .unwrap_or_default();
            let left = format!(
                "its engine {name} cannot be used ({err}); left there, if it still exists: the compose \
                 project {id} (containers, volumes, networks) and its code mirror ~/{}/{id}",
                crate::engine::MIRRORS_DIR
            );
            return Ok((None, Some(left)));
        }
        Err(err) => return Err(err.into()),
    };
    let Err(err) = crate::engine::remote::connect(ctx, &e) else {
        return Ok((Some(e), None));
    };
    if !force {
        return Err(err.into());
    }
    let mirror = crate::engine::remote::mirror_dir(&e, id)
        .unwrap_or_else(|_| format!("~/{}/…", crate::engine::MIRRORS_DIR));
    let left = format!(
        "{} ({}) did not answer ({err}); left there, if it still exists: the compose project {id} \
         (containers, volumes, networks) and the code mirror {mirror}. When it is back: \
         `docker -H {} compose -p {id} down --volumes` and `rm -rf {mirror}` there",
        e.name, e.url, e.url
    );
    Ok((Some(e), Some(left)))
}

/// [`teardown`] on another machine's engine, then its forwards and code mirror (and
/// the engine's connection with its last instance).
fn teardown_remote(
    ctx: &Context,
    stack: &Stack,
    entry: &Entry,
    e: &crate::engine::Engine,
) -> Result<docker::Removed> {
    // Its keeper first: a pass in flight would make the mirror again.
    crate::engine::remote::stop_keeper(ctx, &entry.instance_id);
    let removed = teardown(ctx, stack, entry)?;
    ctx.reporter
        .step(&format!("Removing the code mirror on {}", e.name));
    crate::engine::remote::remove_mirror(e, &entry.instance_id)?;
    forget_forwards(ctx, entry, e)?;
    Ok(removed)
}

/// Stops forwarding the instance's ports here, and ends the engine's connection
/// with its last instance.
fn forget_forwards(ctx: &Context, entry: &Entry, e: &crate::engine::Engine) -> Result<()> {
    crate::engine::remote::stop_keeper(ctx, &entry.instance_id);
    crate::engine::remote::forget_kept(ctx, &entry.instance_id);
    let reg = ctx.registry().load()?;
    let ports: Vec<u16> = reg
        .kinfra
        .ports
        .get(&entry.instance_id)
        .map(|m| m.values().copied().collect())
        .unwrap_or_default();
    crate::engine::remote::unforward(ctx, e, &ports);
    let others = reg
        .kinfra
        .placements
        .iter()
        .any(|(i, n)| *n == e.name && *i != entry.instance_id);
    if !others {
        crate::engine::remote::disconnect(ctx, e);
    }
    Ok(())
}

/// Stops and removes everything docker holds for the instance.
fn teardown(ctx: &Context, stack: &Stack, entry: &Entry) -> Result<docker::Removed> {
    let dir = Path::new(&entry.path);
    // Counted first: compose may remove most of it before the sweep below.
    let cs = docker::containers(Some(&entry.instance_id))?;
    let foreign = cs.iter().any(|c| !docker::started_from(c, dir));
    let before = docker::Removed {
        containers: cs.iter().filter(|c| docker::started_from(c, dir)).count(),
        volumes: if foreign {
            0
        } else {
            docker::volumes(&entry.instance_id)?.len()
        },
        ..Default::default()
    };
    // Through compose when we can (with the profile), then a label sweep that needs
    // no compose file and catches whatever is left. Compose would also remove another
    // directory's containers of the same name, so then only the sweep runs.
    if dir.is_dir() && !foreign {
        if let (Ok(compose), Ok(inst)) = (Compose::detect(&ctx.home), Instance::at(ctx, stack, dir))
        {
            if let Ok(project) = inst.project(ctx, stack) {
                let _ = compose
                    .cmd(&project)
                    .args(["down", "--volumes", "--remove-orphans"])
                    .run();
            }
        } else if let (Ok(compose), Ok(files)) =
            (Compose::detect(&ctx.home), stack.compose_files_in(dir))
        {
            // No compose file (or no .env.sandbox): the label sweep below does it all.
            let mut p = Project::new(&entry.instance_id, &files[0], dir);
            p.files = files;
            p.profiles = crate::tools::compose::merge_profiles(
                stack.profiles_for(Kind::of_slot(entry.slot)),
                crate::tools::compose::env_profiles(dir),
            );
            let _ = compose
                .cmd(&p)
                .args(["down", "--volumes", "--remove-orphans"])
                .run();
        }
    }
    let swept = docker::remove_project(&entry.instance_id, Some(dir), true)?;
    if !swept.foreign.is_empty() {
        ctx.reporter.warn(&format!(
            "left alone (not this instance's): {}; and with them the project's volumes",
            swept.foreign.join(", ")
        ));
    }
    // The images compose built for this instance alone (hundreds of MB each):
    // their names are exact (`<id>-<service>` on v2, `<id>_<service>` on v1), so no
    // other instance's image can match.
    let images = if swept.foreign.is_empty() {
        let services =
            crate::instance::placement::resolve::cached_services(ctx, &entry.instance_id)
                .or_else(|| {
                    stack
                        .compose_text_in(dir)
                        .ok()
                        .map(|t| crate::stack::check::read(&t).services)
                })
                .unwrap_or_default();
        let names: Vec<String> = services
            .iter()
            .flat_map(|s| {
                [
                    format!("{}-{s}", entry.instance_id),
                    format!("{}_{s}", entry.instance_id),
                ]
            })
            .collect();
        let done = docker::remove_images(&names, &entry.instance_id);
        if !done.refused.is_empty() {
            ctx.reporter.warn(&format!(
                "left alone: image(s) {} carry this sandbox's name but no label saying it built them",
                done.refused.join(", ")
            ));
        }
        done.removed
    } else {
        0
    };
    Ok(docker::Removed {
        containers: before.containers.max(swept.containers),
        volumes: before.volumes.max(swept.volumes),
        networks: swept.networks,
        images,
        foreign: swept.foreign,
    })
}

fn forget(ctx: &Context, entry: &Entry) -> Result<()> {
    ctx.registry().update_with(|c| {
        if entry.slot == 0 {
            if c.local_prod.as_ref().is_some_and(|e| e.path == entry.path) {
                c.local_prod = None;
            }
        } else if c
            .instances
            .get(&entry.instance_id)
            .is_some_and(|e| e.path == entry.path)
        {
            c.instances.remove(&entry.instance_id);
        }
        crate::instance::leftovers::forget_records(ctx, &mut c.kinfra, &entry.instance_id);
        c.kinfra.created_worktrees.retain(|p| p != &entry.path);
        Ok(())
    })
}

/// The carried files in a worktree that are still what kinfra copied (identical to
/// their source in the main clone, or in the worktree's own checkout).
fn unchanged_carried(stack: &Stack, repo: Option<&Path>, worktree: &Path) -> Vec<String> {
    stack
        .carry
        .iter()
        .filter(|c| {
            let Ok(have) = std::fs::read(worktree.join(c.dest())) else {
                return false;
            };
            repo.map(|r| r.join(&c.from))
                .into_iter()
                .chain([worktree.join(&c.from)])
                .filter(|src| src != &worktree.join(c.dest()))
                .any(|src| std::fs::read(src).is_ok_and(|s| s == have))
        })
        .map(|c| c.dest().to_string())
        .collect()
}

pub fn destroy(ctx: &Context, stack: &Stack, opts: &DestroyOptions) -> Result<Destroyed> {
    let entry = crate::instance::sandbox_entry(ctx, stack, opts.name.as_deref())?;
    let _lock = crate::instance::lock(ctx, &entry.instance_id, "destroy")?;
    let (remote, left_on_engine) = remote_of(ctx, &entry, opts.force)?;
    let path = PathBuf::from(&entry.path);
    let created_by_kinfra = ctx
        .registry()
        .load()?
        .kinfra
        .created_worktrees
        .contains(&entry.path);
    let meta = std::fs::symlink_metadata(&path).ok();
    let exists = meta.is_some();
    let is_link = meta.is_some_and(|m| m.file_type().is_symlink());

    // Decide about the directory before touching anything.
    let kept_because = if !exists {
        Some("it no longer exists".to_string())
    } else if opts.keep_worktree {
        Some("--keep-worktree".to_string())
    } else if is_link {
        Some("the registered path is a symbolic link".to_string())
    } else if !entry.is_worktree || git::is_clone(&path) {
        Some("it is a clone, not a worktree".to_string())
    } else if !created_by_kinfra {
        Some("kinfra did not create it (remove it with `git worktree remove`)".to_string())
    } else {
        None
    };
    let delete_dir = kept_because.is_none();
    if delete_dir && !opts.force {
        let repo = entry.parent_repo.as_deref().map(Path::new);
        let unchanged = unchanged_carried(stack, repo, &path);
        let mut ignore: Vec<&str> = vec![envfile::FILE_NAME];
        ignore.extend(unchanged.iter().map(String::as_str));
        // The branch stays when the worktree goes (`git worktree remove`), so its
        // commits are not lost: only uncommitted work and commits on no branch are.
        let uncommitted = git::uncommitted(&path, &ignore)?;
        let orphaned = git::on_no_branch(&path)?;
        if !uncommitted.is_empty() || !orphaned.is_empty() {
            return Err(Error::WouldLoseWork {
                path,
                uncommitted,
                unpushed: orphaned,
            });
        }
    }
    let branch_note = if delete_dir {
        git::branch_at(&path).and_then(|b| {
            let n = git::unpushed(&path).map(|c| c.len()).unwrap_or(0);
            (n > 0).then(|| format!("branch {b} keeps {n} commit(s) that are on no remote"))
        })
    } else {
        None
    };

    ctx.reporter.step(&format!(
        "Removing containers and volumes of {}",
        entry.instance_id
    ));
    crate::state::context::pause_point("destroy:checked");
    let removed = match (&remote, &left_on_engine) {
        (Some(e), Some(left)) => {
            ctx.reporter.warn(left);
            // Its forwards here go (they are this machine's, in the connection).
            forget_forwards(ctx, &entry, e)?;
            docker::Removed::default()
        }
        (None, Some(left)) => {
            ctx.reporter.warn(left);
            docker::Removed::default()
        }
        (Some(e), None) => teardown_remote(ctx, stack, &entry, e)?,
        (None, None) => teardown(ctx, stack, &entry)?,
    };
    crate::state::context::pause_point("destroy:torn-down");
    let mut directory_deleted = false;
    if delete_dir {
        ctx.reporter
            .step(&format!("Removing worktree {}", path.display()));
        let repo = entry
            .parent_repo
            .clone()
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .map(Ok)
            .unwrap_or_else(|| git::common_repo(&path))?;
        crate::instance::leftovers::remove_env_file(&path);
        let git_lock = ctx.registry().worktree_lock()?;
        git::worktree_remove(&repo, &path)?;
        drop(git_lock);
        directory_deleted = true;
    } else if exists && !is_link {
        crate::instance::leftovers::remove_env_file(&path);
    }
    crate::state::context::pause_point("destroy:removed");
    forget(ctx, &entry)?;
    Ok(Destroyed {
        instance_id: entry.instance_id,
        path,
        removed,
        directory_deleted,
        kept_because,
        branch_note,
        engine: remote.map(|e| e.name),
        left_on_engine,
    })
}

/// Destroys the *registered* local-prod, wherever the command runs from. Removes
/// containers, volumes, its `.env.sandbox` and the registration; the clone stays.
pub fn destroy_local_prod(ctx: &Context, stack: &Stack) -> Result<Destroyed> {
    let entry = ctx
        .registry()
        .load()?
        .local_prod
        .ok_or(Error::NoLocalProd)?;
    let _lock = crate::instance::lock(ctx, &entry.instance_id, "destroy")?;
    let path = PathBuf::from(&entry.path);
    if !ctx.cwd.starts_with(&path) && !same_path(&ctx.cwd, &path) {
        ctx.reporter.info(&format!(
            "Destroying local-prod at {} (the current directory is {})",
            path.display(),
            ctx.cwd.display()
        ));
    }
    // Its host services first, each only while its record still names the
    // process kinfra started (an untrusted record refuses before anything goes).
    crate::instance::host::services::stop_all(ctx, stack, &entry.instance_id)?;
    ctx.reporter.step(&format!(
        "Removing containers and volumes of {}",
        entry.instance_id
    ));
    let removed = teardown(ctx, stack, &entry)?;
    if path.is_dir() && !std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
    {
        crate::instance::leftovers::remove_env_file(&path);
    }
    forget(ctx, &entry)?;
    Ok(Destroyed {
        instance_id: entry.instance_id,
        path,
        removed,
        directory_deleted: false,
        kept_because: Some("local-prod's clone is never deleted".into()),
        branch_note: None,
        engine: None,
        left_on_engine: None,
    })
}
