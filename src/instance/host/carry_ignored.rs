//! The git-ignored files compose reads, carried from the main clone into a new
//! worktree as a developer would copy them before `docker compose up` there: git
//! carries no ignored file, and compose fails on the missing one with a message
//! about something else (or, for an override file, kinfra cannot even make the
//! instance's copy). Read by default or by name: the stack's compose files (an
//! override made from an `.example`), `.env`, and what they name (`env_file:`,
//! `secrets:`/`configs:` files, `include:`d and `extends:` files, followed into
//! those). Never over a file the worktree has; only files inside the repository
//! (links followed), regular, and of a sane size; each carried or refused file is
//! said.

use std::path::Path;

use crate::stack::Stack;
use crate::stack::referenced::{Ref, from_top, referenced};
use crate::state::context::Context;
use crate::tools::git;

/// The largest file carried: a secret or an env file is small; anything bigger is
/// no file compose reads by default, and copying it would fill the disk.
pub const MAX_CARRIED: u64 = 16 << 20;

/// The most files followed (a chain of includes ends somewhere).
const MAX_FILES: usize = 256;

/// One file to look at: its path from the top, the directory its own references
/// are taken from (`None`: it names none), and why compose reads it.
struct Wanted {
    path: String,
    refs_from: Option<String>,
    why: String,
}

/// Carries every ignored file compose reads into `worktree` (see the module).
pub(in crate::instance) fn carry_ignored(
    ctx: &Context,
    stack: &Stack,
    repo: &Path,
    worktree: &Path,
) {
    // Compose runs with the repository's top as its project directory: the stack's
    // files name theirs from there.
    let mut queue: Vec<Wanted> = stack
        .compose_files
        .iter()
        .map(|f| Wanted {
            path: f.trim_start_matches("./").to_string(),
            refs_from: Some(String::new()),
            why: "a compose file of the stack".into(),
        })
        .collect();
    queue.push(Wanted {
        path: ".env".into(),
        refs_from: None,
        why: "compose reads its variables".into(),
    });
    let mut seen: Vec<String> = Vec::new();
    while let Some(w) = (!queue.is_empty()).then(|| queue.remove(0)) {
        if seen.contains(&w.path) || seen.len() >= MAX_FILES {
            continue;
        }
        seen.push(w.path.clone());
        let Some(here) = carry_one(ctx, repo, worktree, &w) else {
            continue;
        };
        let Some(dir) = w.refs_from else { continue };
        // A compose file: what it names is wanted too.
        let text = std::fs::read_to_string(&here).unwrap_or_default();
        for Ref { path, compose } in referenced(&text) {
            match from_top(&dir, &path) {
                Ok(p) => queue.push(Wanted {
                    refs_from: compose.then(|| parent_of(&p)),
                    path: p,
                    why: format!("{} names it", w.path),
                }),
                Err(why) => ctx.reporter.warn(&format!(
                    "not carried: {path:?}, which {} names ({why}); kinfra carries only files inside the repository",
                    w.path
                )),
            }
        }
    }
}

fn parent_of(p: &str) -> String {
    p.rsplit_once('/')
        .map_or(String::new(), |(d, _)| d.to_string())
}

/// Carries one file when the worktree lacks it and the main clone has it ignored;
/// returns where the worktree's copy is (carried or already there), `None` when it
/// has none.
fn carry_one(
    ctx: &Context,
    repo: &Path,
    worktree: &Path,
    w: &Wanted,
) -> Option<std::path::PathBuf> {
    let f = &w.path;
    if let Some(c) = f.chars().find(|c| c.is_control()) {
        ctx.reporter.warn(&format!(
            "not carried: {f:?} ({c:?} in its name; no file compose reads is named so)"
        ));
        return None;
    }
    let rel = Path::new(f);
    let dest = match crate::support::fsutil::resolve_inside(worktree, rel) {
        Ok(d) => d,
        Err(why) => {
            ctx.reporter.warn(&format!("not carried: {f} ({why})"));
            return None;
        }
    };
    if std::fs::symlink_metadata(worktree.join(rel)).is_ok() || dest.exists() {
        return Some(dest);
    }
    if std::fs::symlink_metadata(repo.join(rel)).is_err() {
        missing(ctx, worktree, f);
        return None;
    }
    let src = match crate::support::fsutil::resolve_inside(repo, rel) {
        Ok(s) => s,
        Err(why) => {
            ctx.reporter.warn(&format!(
                "not carried: {f} ({why}); kinfra carries only files inside the repository: copy it into {} yourself if compose needs it",
                worktree.display()
            ));
            return None;
        }
    };
    if let Err(why) = carriable(&src) {
        ctx.reporter.warn(&format!(
            "not carried: {f} ({why}); copy it into {} yourself if compose needs it",
            worktree.display()
        ));
        return None;
    }
    if !git::is_ignored(worktree, f) {
        return None; // the worktree's own business, not the main clone's
    }
    match crate::support::fsutil::copy_into_place(&src, &dest) {
        Ok(()) => {
            ctx.reporter.info(&format!(
                "carried {f} from the main clone (git ignores it; {})",
                w.why
            ));
            Some(dest)
        }
        Err(e) => {
            ctx.reporter
                .warn(&format!("could not carry {f} into the worktree: {e}"));
            None
        }
    }
}

/// Whether a file (links already followed) may be copied: a regular file (never a
/// FIFO, which would block the copy, a device or a directory) of at most
/// [`MAX_CARRIED`] bytes.
fn carriable(src: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(src).map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err("not a regular file: a FIFO, socket, device or directory".into());
    }
    if meta.len() > MAX_CARRIED {
        return Err(format!(
            "{} bytes, over the {} MiB kinfra carries",
            meta.len(),
            MAX_CARRIED >> 20
        ));
    }
    Ok(())
}

/// A file compose reads that neither checkout has: named with where it could come
/// from (`.env` is optional for compose).
fn missing(ctx: &Context, worktree: &Path, f: &str) {
    if f == ".env" {
        return;
    }
    let example = [".example", ".sample", ".dist", ".template"]
        .iter()
        .map(|x| format!("{f}{x}"))
        .find(|e| worktree.join(e).is_file());
    let how = match example {
        Some(e) => format!("make it from {e} (`cp {e} {f}` in {})", worktree.display()),
        None => "create it, or add it to the repository".into(),
    };
    ctx.reporter.warn(&format!(
        "the compose file reads {f}, which neither the main clone nor the worktree has: {how}"
    ));
}
