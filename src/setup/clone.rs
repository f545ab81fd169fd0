//! Cloning with git2, all or nothing: the clone goes to a hidden sibling directory and
//! is renamed into place only when complete, so a failed or interrupted clone leaves
//! no partial directory behind.

use std::path::{Path, PathBuf};

use crate::setup::error::{Result, SetupError};

/// Transfer progress, as git2 reports it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Transfer {
    pub received_objects: usize,
    pub total_objects: usize,
    pub received_bytes: usize,
    pub indexed_deltas: usize,
    pub total_deltas: usize,
}

/// Clones `url` (optionally `branch`) to `dest`, which must not exist or be an empty
/// directory. `progress` is called as objects arrive.
pub fn clone(
    url: &str,
    branch: Option<&str>,
    dest: &Path,
    mut progress: impl FnMut(Transfer),
) -> Result<()> {
    let parent = dest.parent().ok_or_else(|| crate::Error::NoParent {
        path: dest.to_path_buf(),
    })?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "clone".into());
    // A clone killed earlier (kill -9 skips cleanup) left its staging directory.
    let prefix = format!(".{name}.kinfra-partial-");
    if let Ok(entries) = std::fs::read_dir(parent) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let staging = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(parent)
        .map_err(|e| SetupError::io("could not create a staging directory in", parent, e))?;
    let target: PathBuf = staging.path().join("repo");

    super::transport::register();
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.transfer_progress(|p| {
        progress(Transfer {
            received_objects: p.received_objects(),
            total_objects: p.total_objects(),
            received_bytes: p.received_bytes(),
            indexed_deltas: p.indexed_deltas(),
            total_deltas: p.total_deltas(),
        });
        true
    });
    let mut fetch = git2::FetchOptions::new();
    fetch.remote_callbacks(callbacks);
    let mut builder = git2::build::RepoBuilder::new();
    builder.fetch_options(fetch);
    if let Some(b) = branch {
        builder.branch(b);
    }
    crate::state::context::pause_point("setup:cloning");
    builder
        .clone(url, &target)
        .map_err(|e| SetupError::CloneFailed {
            url: url.into(),
            why: e.message().into(),
        })?;

    crate::state::context::pause_point("setup:cloned");
    // An existing empty directory is replaced by the rename (POSIX allows it).
    std::fs::rename(&target, dest)
        .map_err(|e| SetupError::io("could not move the clone to", dest, e))?;
    drop(staging); // removes the (now empty) staging directory
    Ok(())
}
