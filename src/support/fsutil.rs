//! The one way kinfra writes a file it may need to read back: a temporary file in
//! the same directory, written, flushed to disk, renamed over the target, and the
//! directory flushed too. A reader sees the old contents or the new, never half; a
//! crash or a full disk leaves the old file and no stray temporary one.

use std::fs::File;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Replaces `path` with `bytes` atomically and durably. `mode` sets the permission
/// bits (the temporary file's 0600 otherwise).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".kinfra-write.")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if let Some(m) = mode {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(m))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Make the rename itself durable.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Why [`read_bounded`] gave no bytes.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    #[error("it does not exist")]
    NotFound,
    #[error("it is not a regular file")]
    NotRegular,
    #[error("it is larger than {max} bytes")]
    TooLarge { max: u64 },
    #[error("it could not be read: {0}")]
    Io(std::io::Error),
}

/// A small regular file's bytes, at most `max`: never a FIFO, which would block the
/// reader until some writer came, nor a device or a directory (a link is not
/// followed). The bound holds while reading too: a file that grows is refused.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, BoundedReadError> {
    use std::io::Read;
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => BoundedReadError::NotFound,
        _ => BoundedReadError::Io(e),
    };
    let m = std::fs::symlink_metadata(path).map_err(io)?;
    if !m.is_file() {
        return Err(BoundedReadError::NotRegular);
    }
    if m.len() > max {
        return Err(BoundedReadError::TooLarge { max });
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(BoundedReadError::TooLarge { max });
    }
    Ok(bytes)
}

/// [`read_bounded`] where the reason does not matter (state files kinfra wrote).
pub fn read_regular(path: &Path, max: u64) -> Option<Vec<u8>> {
    read_bounded(path, max).ok()
}

/// Copies `src` to `dest`, making `dest`'s directory first (a carried file whose
/// place does not exist yet in a new worktree).
pub fn copy_into_place(src: &Path, dest: &Path) -> std::io::Result<()> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::copy(src, dest).map(|_| ())
}

/// Where `rel` (a path the repository names, already checked to hold no `..`)
/// really is under `root`, links followed: the canonical path of its longest
/// existing part, with the rest appended. `Err` says why when that place is not
/// inside `root` (a tracked symlink pointing out of the repository, on the path or
/// at its end). Checked at use time, because a link can appear in any checkout.
pub fn resolve_inside(root: &Path, rel: &Path) -> Result<PathBuf, String> {
    let root_c = root
        .canonicalize()
        .map_err(|e| format!("{}: {e}", root.display()))?;
    let mut here = root_c.clone();
    let mut parts = rel.components().peekable();
    while let Some(c) = parts.next() {
        match c {
            Component::Normal(n) => here.push(n),
            Component::CurDir => continue,
            _ => return Err(format!("{} is not a relative path", rel.display())),
        }
        match std::fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                // A link: where it leads must exist and be inside.
                let target = here.canonicalize().map_err(|_| {
                    format!(
                        "{} is a symbolic link to a place that does not exist or cannot be reached",
                        rel.display()
                    )
                })?;
                if !target.starts_with(&root_c) {
                    return Err(format!(
                        "{} leads through a symbolic link to {}, outside {}",
                        rel.display(),
                        target.display(),
                        root.display()
                    ));
                }
                here = target;
            }
            Ok(_) => {}
            Err(_) => {
                // Nothing there yet: what follows cannot be a link either.
                here.extend(parts);
                return Ok(here);
            }
        }
    }
    Ok(here)
}

/// Compares paths after resolving links where they exist.
pub fn same_path(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    a == b || canon(a) == canon(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_are_read() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"{}").unwrap();
        assert_eq!(read_regular(&f, 2), Some(b"{}".to_vec()));
        assert_eq!(read_regular(&f, 1), None, "over the bound");
        // A FIFO would block the read until a writer came: never opened.
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(read_regular(&fifo, 4096), None);
        assert_eq!(read_regular(d.path(), 4096), None, "a directory");
        assert_eq!(read_regular(&d.path().join("none"), 4096), None);
    }

    #[test]
    fn links_out_of_the_root_are_refused_wherever_they_are() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("repo");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "s").unwrap();
        std::fs::write(root.join("sub/own"), "o").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), root.join("file-link")).unwrap();
        std::os::unix::fs::symlink("sub/own", root.join("inner-link")).unwrap();
        std::os::unix::fs::symlink("/no/such/place", root.join("dangling")).unwrap();
        let ok = |p: &str| resolve_inside(&root, Path::new(p));
        let rc = root.canonicalize().unwrap();
        assert_eq!(ok("sub/own").unwrap(), rc.join("sub/own"));
        assert_eq!(ok("inner-link").unwrap(), rc.join("sub/own"));
        assert_eq!(ok("new/dir/file").unwrap(), rc.join("new/dir/file"));
        for bad in ["out/x", "out", "file-link", "dangling", "dangling/x"] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        assert!(ok("../x").is_err());
    }

    #[test]
    fn replaces_whole_with_the_mode_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x.json");
        std::fs::write(&f, "old").unwrap();
        write_atomic(&f, b"new", Some(0o644)).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o644
        );
        write_atomic(&f, b"newer", None).unwrap();
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.json")]);
    }

    #[test]
    fn a_missing_directory_is_an_error_and_creates_nothing() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("no/such/x");
        assert!(write_atomic(&f, b"x", None).is_err());
        assert!(!d.path().join("no").exists());
    }
}
