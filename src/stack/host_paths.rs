//! `[isolate] host_paths`: host paths outside the repository that each sandbox gets
//! its own empty directory for. The entries are untrusted input (a repository's
//! `kinfra.toml`): one naming the root, the home directory, kinfra's own home, the
//! repository, a symlink or `..` is refused before anything starts (exit 2).

use std::path::{Component, Path, PathBuf};

/// Pure: the syntax of an entry: an absolute path or one under `~/`, below the root
/// or the home directory, with no `.`/`..` component, no `:` (compose's separator)
/// and no control character.
pub fn host_path_syntax(p: &str) -> std::result::Result<(), String> {
    if p.chars().any(char::is_control) {
        return Err("has a control character (a newline, NUL, …)".into());
    }
    if p.contains(':') {
        return Err("has a `:`, which compose reads as the separator of a mount".into());
    }
    let rest = if let Some(r) = p.strip_prefix("~/") {
        r
    } else if let Some(r) = p.strip_prefix('/') {
        r
    } else {
        return Err("must be an absolute path or one under `~/`".into());
    };
    if rest.trim_matches('/').is_empty() {
        return Err("names the root or the home directory itself, not a directory below it".into());
    }
    if rest.split('/').any(|c| c == ".." || c == ".") {
        return Err("has a `.` or `..` component: write the path it means".into());
    }
    Ok(())
}

/// Pure: an entry with `~` expanded against the user's home directory.
pub fn expand(p: &str, user_home: &Path) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(r) => user_home.join(r),
        None => PathBuf::from(p),
    }
}

/// Why an entry cannot be given to each sandbox on this machine, if it cannot: it
/// is (or holds) the user's home, kinfra's home or the repository, or lies inside
/// one of them, or a component of it is a symlink (the engine would follow it to
/// somewhere else).
pub fn host_path_refusal(
    p: &str,
    user_home: &Path,
    kinfra_home: &Path,
    repo: &Path,
) -> Option<String> {
    if let Err(e) = host_path_syntax(p) {
        return Some(e);
    }
    let path = expand(p, user_home);
    let overlaps = |dir: &Path| path.starts_with(dir) || dir.starts_with(&path);
    if overlaps(kinfra_home) {
        return Some(format!(
            "overlaps kinfra's home {} (its records and instances' data)",
            kinfra_home.display()
        ));
    }
    if overlaps(repo) {
        return Some(format!(
            "overlaps the repository {} (a path in it is each worktree's own already)",
            repo.display()
        ));
    }
    if user_home.starts_with(&path) {
        return Some("holds the home directory".into());
    }
    let mut at = PathBuf::new();
    for c in path.components() {
        at.push(c);
        if matches!(c, Component::Normal(_))
            && std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink())
        {
            return Some(format!(
                "{} is a symlink: name the directory it leads to instead",
                at.display()
            ));
        }
    }
    None
}

/// [`host_path_refusal`] for every entry of a description on this machine (the
/// user's home, kinfra's home, the checkout it was read from): every command reads
/// the description through here, so a refused entry stops it before it does
/// anything (exit 2).
pub fn check_here(stack: &super::Stack, repo: &Path) -> crate::stack::error::Result<()> {
    use crate::support::env_vars::{EnvVars, get};
    let user_home = PathBuf::from(get(EnvVars::HOME).unwrap_or_default());
    let kinfra_home = crate::state::home::Home::from_env()
        .map(|h| h.path().to_path_buf())
        .unwrap_or_else(|_| user_home.join(".ktrdr"));
    for p in &stack.host_paths {
        if let Some(why) = host_path_refusal(p, &user_home, &kinfra_home, repo) {
            return Err(crate::stack::error::StackError::StackInvalid {
                origin: stack.origin.clone(),
                message: format!("isolate.host_paths entry {p:?} {why}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_entries_are_refused() {
        for bad in [
            "/",
            "~",
            "~/",
            "//",
            "relative",
            "./x",
            "/srv/../etc",
            "/srv/./x",
            "/a\nb",
            "/a\0b",
            "/a:/b",
            "",
        ] {
            assert!(host_path_syntax(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["/srv/data", "~/.app-config", "/srv/data/"] {
            assert_eq!(host_path_syntax(good), Ok(()), "{good:?}");
        }
        let (home, kh, repo) = (
            Path::new("/home/u"),
            Path::new("/home/u/.kinfra"),
            Path::new("/work/shop"),
        );
        assert!(
            host_path_refusal("~/.kinfra/x", home, kh, repo)
                .unwrap()
                .contains("kinfra's home")
        );
        assert!(host_path_refusal("/home", home, kh, repo).is_some());
        assert!(
            host_path_refusal("/work/shop/data", home, kh, repo)
                .unwrap()
                .contains("repository")
        );
        assert!(host_path_refusal("/srv/kinfra-test-none", home, kh, repo).is_none());
        let t = std::env::temp_dir().join(format!("kinfra-hp-{}", std::process::id()));
        std::fs::create_dir_all(&t).unwrap();
        let link = t.join("link");
        let _ = std::os::unix::fs::symlink("/etc", &link);
        let msg = host_path_refusal(&format!("{}/x", link.display()), home, kh, repo).unwrap();
        assert!(msg.contains("symlink"), "{msg}");
        std::fs::remove_dir_all(&t).unwrap();
    }
}
