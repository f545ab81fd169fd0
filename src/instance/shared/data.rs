//! Shared data (`$KINFRA_HOME/shared/{data,models,strategies}`), mounted into every
//! instance. Copies never overwrite a file that is already there.

use std::path::{Path, PathBuf};

use crate::instance::error::{Error, Result};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, Clone)]
pub enum Mode {
    /// Create the empty structure.
    Minimal,
    /// Copy the three directories from an existing checkout.
    From(PathBuf),
    /// Report what is there; change nothing.
    Report,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub dirs: Vec<(String, u64, u64)>, // (name, files, bytes)
    pub copied_files: u64,
    pub copied_bytes: u64,
    pub skipped_existing: u64,
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let ft = e.file_type()?;
        if ft.is_dir() {
            walk(&e.path(), out)?;
        } else if ft.is_file() {
            out.push((e.path(), e.metadata()?.len()));
        }
        // Symlinks are not followed: a copy must not pull in what lies outside.
    }
    Ok(())
}

fn tally(dir: &Path) -> (u64, u64) {
    let mut files = Vec::new();
    let _ = walk(dir, &mut files);
    (files.len() as u64, files.iter().map(|f| f.1).sum())
}

pub fn init(ctx: &Context, stack: &Stack, mode: &Mode) -> Result<Summary> {
    let root = ctx.shared_dir();
    let mut summary = Summary::default();
    match mode {
        Mode::Report => {}
        Mode::Minimal => {
            for sub in &stack.shared_subdirs {
                let d = root.join(sub);
                std::fs::create_dir_all(&d).map_err(|e| Error::io("could not create", &d, e))?;
            }
        }
        Mode::From(src) => {
            let src = std::fs::canonicalize(src)
                .map_err(|e| Error::io("cannot read the source checkout", src, e))?;
            let present: Vec<&str> = stack
                .shared_subdirs
                .iter()
                .map(String::as_str)
                .filter(|s| src.join(s).is_dir())
                .collect();
            if present.is_empty() {
                return Err(Error::NothingToCopy {
                    from: src.clone(),
                    subdirs: stack.shared_subdirs.clone(),
                });
            }
            if same_or_inside(&src, &root) {
                return Err(Error::CopyFromShared { from: src.clone() });
            }
            let mut files = Vec::new();
            for sub in &present {
                walk(&src.join(sub), &mut files)
                    .map_err(|e| Error::io("cannot read", src.join(sub), e))?;
            }
            let total: u64 = files.iter().map(|f| f.1).sum();
            ctx.reporter.step(&format!(
                "Copying {} files ({}) from {}",
                files.len(),
                crate::support::units::human_bytes(total),
                src.display()
            ));
            let bar = ctx.reporter.bytes(total, "copying shared data");
            for (path, len) in &files {
                let rel = path.strip_prefix(&src).unwrap_or(path);
                let dest = root.join(rel);
                if dest.exists() {
                    summary.skipped_existing += 1;
                    bar.inc(*len);
                    continue;
                }
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| Error::io("could not create", parent, e))?;
                }
                std::fs::copy(path, &dest).map_err(|e| Error::io("could not copy to", &dest, e))?;
                summary.copied_files += 1;
                summary.copied_bytes += len;
                bar.inc(*len);
            }
            bar.finish();
            for sub in &stack.shared_subdirs {
                let d = root.join(sub);
                std::fs::create_dir_all(&d).map_err(|e| Error::io("could not create", &d, e))?;
            }
        }
    }
    for sub in &stack.shared_subdirs {
        let d = root.join(sub);
        if d.is_dir() {
            let (n, b) = tally(&d);
            summary.dirs.push((sub.clone(), n, b));
        }
    }
    Ok(summary)
}

/// Is `a` the directory `b` or inside it? (`a` is already canonical.)
fn same_or_inside(a: &Path, b: &Path) -> bool {
    let b = std::fs::canonicalize(b).unwrap_or_else(|_| b.to_path_buf());
    a.starts_with(&b)
}
