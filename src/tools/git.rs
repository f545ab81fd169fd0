//! Git inspection and worktree management, through the `git` CLI (the user's own
//! git, config and credentials), with output parsed by small pure functions.

use std::path::{Path, PathBuf};

use crate::support::exec::Cmd;
use crate::tools::error::{Result, ToolsError};

fn git(dir: &Path) -> Cmd {
    Cmd::new("git")
        .arg("-C")
        .arg(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
}

/// The top of the work tree containing `dir`.
pub fn toplevel(dir: &Path) -> Result<PathBuf> {
    match git(dir).args(["rev-parse", "--show-toplevel"]).output() {
        Ok(out) if out.status.success() => Ok(PathBuf::from(out.stdout.trim())),
        Ok(_) => Err(ToolsError::NotInRepo {
            dir: dir.to_owned(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The URL of the `origin` remote, if there is one.
pub fn origin_url(repo: &Path) -> Result<Option<String>> {
    let out = git(repo)
        .args(["config", "--get", "remote.origin.url"])
        .output()?;
    Ok(out
        .status
        .success()
        .then(|| out.stdout.trim().to_string())
        .filter(|s| !s.is_empty()))
}

/// Pure: the `origin` remote's URL in the text of a `.git/config`.
pub fn origin_in_config(text: &str) -> Option<String> {
    let mut in_origin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_origin = line.replace(' ', "") == "[remote\"origin\"]";
        } else if in_origin
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == "url"
        {
            return Some(v.trim().to_string());
        }
    }
    None
}

/// The `origin` URL of a clone, read from its config file: no git process, for the
/// paths every command pays for (inferring a stack); [`origin_url`] asks git.
pub fn read_origin_url(clone: &Path) -> Option<String> {
    let text = std::fs::read_to_string(clone.join(".git").join("config")).ok()?;
    origin_in_config(&text)
}

/// The main clone of a checkout, read from its `.git`: itself, or for a worktree
/// (whose `.git` is a file `gitdir: <clone>/.git/worktrees/<name>`) the clone that
/// holds it. No git process; [`common_repo`] asks git (and fails outside a repository).
pub fn read_main_clone(top: &Path) -> PathBuf {
    let git = top.join(".git");
    if git.is_file()
        && let Ok(text) = std::fs::read_to_string(&git)
        && let Some(dir) = text.trim().strip_prefix("gitdir:")
    {
        // Absolute as git writes it; relative under worktree.useRelativePaths.
        let dir = top.join(dir.trim());
        if let Some(clone) = dir
            .ancestors()
            .find(|a| a.file_name().is_some_and(|n| n == ".git"))
            .and_then(Path::parent)
        {
            return clone.to_path_buf();
        }
    }
    top.to_path_buf()
}

/// A clone has a `.git` directory; a worktree has a `.git` file.
pub fn is_clone(top: &Path) -> bool {
    top.join(".git").is_dir()
}

/// The main repository of a worktree (the clone its `.git` file points into).
pub fn common_repo(top: &Path) -> Result<PathBuf> {
    let out = git(top)
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .run()?;
    let common = PathBuf::from(out.trim());
    Ok(if common.file_name().is_some_and(|n| n == ".git") {
        common.parent().map(Path::to_path_buf).unwrap_or(common)
    } else {
        common
    })
}

/// Adds `pattern` to the repository's own `info/exclude` (shared by its worktrees,
/// never committed), unless it is there: kinfra's files in a checkout must not show
/// up in `git status` or be committed by mistake.
pub fn exclude_locally(top: &Path, pattern: &str) -> Result<()> {
    let out = git(top)
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .run()?;
    let file = PathBuf::from(out.trim()).join("info").join("exclude");
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    if text.lines().any(|l| l.trim() == pattern) {
        return Ok(());
    }
    let mut new = text;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(pattern);
    new.push('\n');
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ToolsError::io("could not create", dir, e))?;
    }
    crate::support::fsutil::write_atomic(&file, new.as_bytes(), Some(0o644))
        .map_err(|e| ToolsError::io("could not write", &file, e))
}

fn ref_exists(repo: &Path, refname: &str) -> Result<bool> {
    let out = git(repo)
        .args(["rev-parse", "--verify", "--quiet", refname])
        .output()?;
    Ok(out.status.success())
}

pub fn local_branch_exists(repo: &Path, branch: &str) -> Result<bool> {
    ref_exists(repo, &format!("refs/heads/{branch}"))
}

pub fn remote_branch_exists(repo: &Path, branch: &str) -> Result<bool> {
    ref_exists(repo, &format!("refs/remotes/origin/{branch}"))
}

/// Is `branch` a name git accepts for a branch?
pub fn valid_branch_name(repo: &Path, branch: &str) -> Result<bool> {
    let out = git(repo)
        .args(["check-ref-format", "--branch", branch])
        .output()?;
    Ok(out.status.success())
}

/// `git worktree add`: checks out `branch` if it exists (locally or on origin),
/// otherwise creates it from `base` (default HEAD). Returns whether the branch was
/// created.
pub fn worktree_add(repo: &Path, path: &Path, branch: &str, base: Option<&str>) -> Result<bool> {
    let exists = local_branch_exists(repo, branch)? || remote_branch_exists(repo, branch)?;
    // The base is data, never an option (`--base=--no-checkout`): git resolves it
    // as a revision first, and the worktree starts from the commit it names.
    let base = match base {
        Some(b) if !exists => Some(resolve_commit(repo, b)?),
        _ => None,
    };
    let cmd = git(repo).args(["worktree", "add"]);
    let cmd = if exists {
        cmd.arg(path).arg(branch)
    } else {
        let cmd = cmd.args(["-b", branch]).arg(path);
        match &base {
            Some(b) => cmd.arg(b),
            None => cmd,
        }
    };
    if let Err(e) = cmd.run() {
        let stderr = e.stderr();
        if stderr.contains("is already checked out")
            || stderr.contains("is already used by worktree")
        {
            return Err(ToolsError::BranchCheckedOut {
                branch: branch.to_string(),
                source: e,
            });
        }
        return Err(e.into());
    }
    Ok(!exists)
}

/// The commit a revision (`main`, `abc123`, `v1.2`) names in `repo`, as its full
/// hash. Anything git cannot resolve to a commit, an option included, is refused.
pub fn resolve_commit(repo: &Path, rev: &str) -> Result<String> {
    let refused = || ToolsError::NotACommit {
        rev: rev.to_string(),
        repo: repo.to_path_buf(),
    };
    if rev.trim().is_empty() || rev.starts_with('-') || rev.chars().any(char::is_control) {
        return Err(refused());
    }
    let out = git(repo)
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"))
        .output()?;
    let hash = out.stdout.trim().to_string();
    if out.status.success() && hash.len() >= 40 && hash.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hash)
    } else {
        Err(refused())
    }
}

/// Whether git ignores `path` (relative to `top`) there.
pub fn is_ignored(top: &Path, path: &str) -> bool {
    git(top)
        .args(["check-ignore", "-q", "--"])
        .arg(path)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Removes a worktree registered in `repo` (its directory and git's bookkeeping).
pub fn worktree_remove(repo: &Path, path: &Path) -> Result<()> {
    git(repo)
        .args(["worktree", "remove", "--force"])
        .arg(path)
        .run()?;
    Ok(())
}

/// Drops git's records of worktrees whose directory is gone (`git worktree prune`).
pub fn worktree_prune(repo: &Path) -> Result<()> {
    git(repo).args(["worktree", "prune"]).run()?;
    Ok(())
}

/// Deletes a branch kinfra itself created (undo of a failed create).
pub fn delete_branch(repo: &Path, branch: &str) -> Result<()> {
    git(repo).args(["branch", "-D", branch]).run()?;
    Ok(())
}

/// Uncommitted changes (including untracked files), as `git status --short` lines.
/// `ignore` names paths kinfra itself writes (`.env.sandbox`).
pub fn uncommitted(top: &Path, ignore: &[&str]) -> Result<Vec<String>> {
    let out = git(top)
        .args(["status", "--porcelain=v1", "--untracked-files=all"])
        .run()?;
    Ok(parse_status(&out, ignore))
}

/// Pure parser for `git status --porcelain=v1`.
pub fn parse_status(text: &str, ignore: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| l.len() > 3)
        .filter(|l| !ignore.contains(&l[3..].trim_matches('"')))
        .map(str::to_string)
        .collect()
}

/// Commits reachable from HEAD that no remote-tracking branch contains.
pub fn unpushed(top: &Path) -> Result<Vec<String>> {
    let head = git(top)
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .output()?;
    if !head.status.success() {
        return Ok(Vec::new()); // no commits at all
    }
    let out = git(top)
        .args(["log", "--format=%h %s", "HEAD", "--not", "--remotes"])
        .run()?;
    Ok(out.lines().map(str::to_string).collect())
}

/// Commits reachable from HEAD that no branch and no remote-tracking branch holds:
/// what removing a worktree with a detached HEAD would lose.
pub fn on_no_branch(top: &Path) -> Result<Vec<String>> {
    let head = git(top)
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .output()?;
    if !head.status.success() {
        return Ok(Vec::new());
    }
    let out = git(top)
        .args([
            "log",
            "--format=%h %s",
            "HEAD",
            "--not",
            "--branches",
            "--remotes",
        ])
        .run()?;
    Ok(out.lines().map(str::to_string).collect())
}

/// `git worktree list --porcelain` of the repository.
pub fn worktree_list(repo: &Path) -> Result<String> {
    Ok(git(repo).args(["worktree", "list", "--porcelain"]).run()?)
}

/// The branch checked out at `top`, when HEAD is on one.
pub fn branch_at(top: &Path) -> Option<String> {
    git(top)
        .args(["symbolic-ref", "--quiet", "--short", "HEAD"])
        .run()
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parser_ignores_kinfra_files() {
        let text = " M src/lib.rs\n?? .env.sandbox\n?? notes.txt\nR  a -> b\n";
        assert_eq!(
            parse_status(text, &[".env.sandbox"]),
            vec![" M src/lib.rs", "?? notes.txt", "R  a -> b"]
        );
        assert!(parse_status("", &[]).is_empty());
    }
}
