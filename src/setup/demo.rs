//! The embedded demo stack: a small KTRDR-shaped repository made of busybox
//! services, materialized as a git repository with a local bare `origin` whose path
//! contains "ktrdr", so everything runs offline.

use std::path::{Path, PathBuf};

use crate::setup::error::{Result, SetupError};
use crate::support::assets::Stacks;
use crate::support::exec::Cmd;

/// The image the demo compose file names (built locally by `scripts/demo-image.sh`).
pub const IMAGE: &str = "busybox:1.35";

/// Which KTRDR tree the demo repository is shaped like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// M6's (January): per-instance Jaeger, Grafana, Prometheus; carries a
    /// kinfra.toml (KTRDR's M6 description).
    M6,
    /// Today's (2c5c7173): shared observability, agents, the newer secret names;
    /// no kinfra.toml, so kinfra's built-in description for it applies.
    Today,
}

/// Writes the demo files into `dir` (which must not exist or be empty).
pub fn write_files(dir: &Path) -> Result<()> {
    write_tree(dir, Tree::M6)
}

/// Writes the demo files of `tree` into `dir`.
pub fn write_tree(dir: &Path, tree: Tree) -> Result<()> {
    write_prefixed(dir, "demo/")?;
    if tree == Tree::M6 {
        return write_kinfra_toml(dir);
    }
    write_prefixed(dir, "demo-2026/")
}

fn write_prefixed(dir: &Path, prefix: &str) -> Result<()> {
    for name in Stacks::iter() {
        let Some(rel) = name.strip_prefix(prefix) else {
            continue;
        };
        // Stored without the dot so packaging tools never treat it as ours.
        let rel = if rel == "gitignore" {
            ".gitignore"
        } else {
            rel
        };
        let dest = dir.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| SetupError::io("could not create", parent, e))?;
        }
        let data = Stacks::get(&name)
            .map(|f| f.data.into_owned())
            .unwrap_or_default();
        std::fs::write(&dest, data).map_err(|e| SetupError::io("could not write", &dest, e))?;
        if rel.contains("/bin/") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| SetupError::io("could not chmod", &dest, e))?;
        }
    }
    Ok(())
}

fn write_kinfra_toml(dir: &Path) -> Result<()> {
    // The example of a repository describing its stack: KTRDR's description, from
    // the one copy compiled in (the demo is KTRDR-shaped, so they must not drift).
    let dest = dir.join(crate::stack::FILE_NAME);
    let text = format!(
        "# The demo repository's stack description: KTRDR's own (kinfra's\n\
         # embedded/stacks/ktrdr.toml). Every key: docs/STACKS.md.\n\n{}",
        crate::support::assets::text::<crate::support::assets::Scripts>("stacks/ktrdr.toml")
    );
    std::fs::write(&dest, text).map_err(|e| SetupError::io("could not write", &dest, e))?;
    Ok(())
}

fn git(dir: &Path) -> Cmd {
    Cmd::new("git").arg("-C").arg(dir).args([
        "-c",
        "user.name=kinfra demo",
        "-c",
        "user.email=demo@kinfra.invalid",
        "-c",
        "init.defaultBranch=main",
        "-c",
        "commit.gpgsign=false",
    ])
}

/// The bare origin's directory name under the root given to [`make_origin`].
pub const ORIGIN_NAME: &str = "ktrdr-demo-origin.git";

/// Creates `<root>/ktrdr-demo-origin.git` (bare) holding one commit of the demo
/// files on `main`, and returns its path. Used as the `origin` of demo clones.
pub fn make_origin(root: &Path) -> Result<PathBuf> {
    make_origin_of(root, Tree::M6)
}

/// [`make_origin`] for the demo shaped like `tree`.
pub fn make_origin_of(root: &Path, tree: Tree) -> Result<PathBuf> {
    let origin = root.join(ORIGIN_NAME);
    let seed = root.join(".ktrdr-demo-seed");
    std::fs::create_dir_all(&seed).map_err(|e| SetupError::io("could not create", &seed, e))?;
    write_tree(&seed, tree)?;
    git(&seed).args(["init", "-q", "-b", "main"]).run()?;
    git(&seed).args(["add", "-A"]).run()?;
    git(&seed)
        .args(["commit", "-q", "-m", "KTRDR demo stack"])
        .run()?;
    git(root)
        .args(["clone", "-q", "--bare"])
        .arg(&seed)
        .arg(&origin)
        .run()?;
    let _ = std::fs::remove_dir_all(&seed);
    Ok(origin)
}

/// Clones `origin` into `dest` with the git CLI.
pub fn clone(origin: &Path, dest: &Path) -> Result<()> {
    Cmd::new("git")
        .args(["clone", "-q"])
        .arg(origin)
        .arg(dest)
        .run()?;
    Ok(())
}

/// Is the demo image present?
pub fn image_present() -> bool {
    Cmd::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_carries_ktrdrs_description_as_its_kinfra_toml() {
        let dir = tempfile::tempdir().unwrap();
        super::write_files(dir.path()).unwrap();
        let mut s = crate::stack::Stack::from_dir(dir.path()).unwrap().unwrap();
        assert!(s.origin.ends_with("kinfra.toml"), "{}", s.origin);
        s.origin = crate::stack::KTRDR.origin.clone();
        s.builtin = true;
        assert_eq!(s, *crate::stack::KTRDR);
    }
}
