//! The team's worktree workflow on top of create/up/destroy, as devops-ai's and
//! KTRDR's Python tools have it: `spec FEATURE` (a worktree to write the design in,
//! no stack), `impl FEATURE/MILESTONE` (branch, worktree, sandbox, start; the
//! milestone's plan must exist), `done NAME` (with destroy's safety), `worktrees`.
//! Names and branches follow `[workflow]` in `kinfra.toml`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::instance::error::{Error, Result};
use crate::instance::{self, CreateOptions, Instance};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::support::slug::slugify;
use crate::tools::git;

/// Pure: `FEATURE/MILESTONE` (what `impl` takes), each part made a slug.
pub fn parse_target(s: &str) -> Result<(String, String)> {
    let (f, m) = s
        .split_once('/')
        .ok_or_else(|| Error::NotFeatureMilestone {
            spec: s.into(),
            why: "names no milestone: write",
        })?;
    if f.trim().is_empty() || m.trim().is_empty() || m.contains('/') {
        return Err(Error::NotFeatureMilestone {
            spec: s.into(),
            why: "is not",
        });
    }
    Ok((slugify(f)?, slugify(m)?))
}

/// Pure: a branch from a template.
pub fn branch(template: &str, feature: &str, milestone: &str) -> String {
    template
        .replace("{feature}", feature)
        .replace("{milestone}", milestone)
}

/// The milestone's plan: `<design_dir>/<feature>/implementation/<M>_*.md` in the
/// checkout `top` (the milestone as written, e.g. `M1`), the first by name.
pub fn milestone_file(
    top: &Path,
    design_dir: &str,
    feature: &str,
    milestone: &str,
) -> Result<PathBuf> {
    let dir = top.join(design_dir).join(feature).join("implementation");
    let mut found: Vec<PathBuf> = Vec::new();
    let mut others: Vec<String> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".md") {
                continue;
            }
            let stem = name.split('_').next().unwrap_or("");
            if stem.eq_ignore_ascii_case(milestone) && name.contains('_') {
                found.push(e.path());
            } else if name.contains('_') {
                others.push(stem.to_string());
            }
        }
    }
    found.sort();
    others.sort();
    others.dedup();
    found.into_iter().next().ok_or_else(|| Error::NoPlan {
        milestone: milestone.to_string(),
        feature: feature.to_string(),
        dir: dir.clone(),
        others,
    })
}

/// The main clone of the repository holding `cwd`.
fn repo_of(ctx: &Context) -> Result<PathBuf> {
    let top = git::toplevel(&ctx.cwd)?;
    Ok(if git::is_clone(&top) {
        top
    } else {
        git::common_repo(&top)?
    })
}

/// `kinfra spec FEATURE`: a worktree beside the repository on a new branch, no
/// stack. Returns its path.
pub fn spec(ctx: &Context, stack: &Stack, feature: &str, base: Option<&str>) -> Result<PathBuf> {
    let f = slugify(feature)?;
    let repo = repo_of(ctx)?;
    let parent = repo
        .parent()
        .ok_or_else(|| Error::NoParent { path: repo.clone() })?;
    let path = parent.join(format!("{}{f}", stack.workflow.spec_prefix));
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(Error::DirExists { path });
    }
    let b = branch(&stack.workflow.spec_branch, &f, "");
    if !git::valid_branch_name(&repo, &b)? {
        return Err(Error::BadBranchName { branch: b });
    }
    let base = match base {
        Some(r) => Some(git::resolve_commit(&repo, r)?),
        None => None,
    };
    let lock = ctx.registry().worktree_lock()?;
    git::worktree_add(&repo, &path, &b, base.as_deref())?;
    drop(lock);
    let p = path.display().to_string();
    ctx.registry().update(|c| {
        if !c.kinfra.created_worktrees.contains(&p) {
            c.kinfra.created_worktrees.push(p.clone());
        }
        c.kinfra.specs.insert(p.clone(), f.clone());
        Ok(())
    })?;
    Ok(path)
}

/// `kinfra impl FEATURE/MILESTONE`: checks the milestone's plan, then creates the
/// sandbox `<impl_prefix><f>-<m>` on branch `impl/<f>-<m>`, on the engine `on`
/// names (`None`: this machine's; `auto` is resolved by the caller, as for
/// `create`). Returns it and the plan.
pub fn implement(
    ctx: &Context,
    stack: &Stack,
    target: &str,
    base: Option<&str>,
    on: Option<String>,
) -> Result<(Instance, PathBuf)> {
    let (f, m) = parse_target(target)?;
    let repo = repo_of(ctx)?;
    let milestone = target.split_once('/').map_or("", |(_, m)| m.trim());
    let plan = milestone_file(&repo, &stack.workflow.design_dir, &f, milestone)?;
    let inst = instance::create(
        ctx,
        stack,
        &CreateOptions {
            name: format!("{f}-{m}"),
            branch: Some(branch(&stack.workflow.impl_branch, &f, &m)),
            base: base.map(str::to_string),
            slot: None,
            prefix: Some(stack.workflow.impl_prefix.clone()),
            on,
        },
    )?;
    Ok((inst, plan))
}

/// What `done NAME` found NAME to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// A registered sandbox (an `impl` one, or any): destroyed as `destroy` does.
    Sandbox(String),
    /// A worktree `spec` made.
    Spec(PathBuf),
}

/// Pure: the names `done` tries for NAME, in order: as given, `f/m` as `f-m`, with
/// the impl prefix, with the spec prefix.
pub fn candidates(stack: &Stack, name: &str) -> Vec<String> {
    let flat = name.trim().replace('/', "-");
    let slug = slugify(&flat).unwrap_or_else(|_| flat.clone());
    let mut v = vec![
        name.trim().to_string(),
        slug.clone(),
        format!("{}{slug}", stack.workflow.impl_prefix),
        format!("{}{slug}", stack.worktree_prefix),
        format!("{}{slug}", stack.workflow.spec_prefix),
    ];
    v.dedup();
    v
}

/// Resolves NAME for `done`.
pub fn find_done(ctx: &Context, stack: &Stack, name: &str) -> Result<Done> {
    let reg = ctx.registry().load()?;
    let names = candidates(stack, name);
    for n in &names {
        if reg.instances.contains_key(n) {
            return Ok(Done::Sandbox(n.clone()));
        }
    }
    for path in reg.kinfra.specs.keys() {
        let p = PathBuf::from(path);
        let base = p.file_name().map(|b| b.to_string_lossy().into_owned());
        if base.is_some_and(|b| names.contains(&b)) || names.iter().any(|n| n == path) {
            return Ok(Done::Spec(p));
        }
    }
    let known: Vec<String> = reg
        .instances
        .keys()
        .cloned()
        .chain(reg.kinfra.specs.keys().filter_map(|p| {
            Path::new(p)
                .file_name()
                .map(|b| b.to_string_lossy().into_owned())
        }))
        .collect();
    Err(Error::NoSuchInstance {
        name: if known.is_empty() {
            name.to_string()
        } else {
            format!("{name} (known: {})", known.join(", "))
        },
    })
}

/// Removes a `spec` worktree with destroy's rules: uncommitted work and commits on
/// no branch are refused unless forced; the branch stays.
pub fn remove_spec(ctx: &Context, path: &Path, force: bool) -> Result<()> {
    if path.is_dir() {
        if !force {
            let uncommitted = git::uncommitted(path, &[])?;
            let orphaned = git::on_no_branch(path)?;
            if !uncommitted.is_empty() || !orphaned.is_empty() {
                return Err(Error::WouldLoseWork {
                    path: path.to_path_buf(),
                    uncommitted,
                    unpushed: orphaned,
                });
            }
        }
        let repo = git::common_repo(path)?;
        let lock = ctx.registry().worktree_lock()?;
        git::worktree_remove(&repo, path)?;
        drop(lock);
    }
    let p = path.display().to_string();
    ctx.registry().update(|c| {
        c.kinfra.specs.remove(&p);
        c.kinfra.created_worktrees.retain(|w| w != &p);
        Ok(())
    })?;
    Ok(())
}

/// One worktree of the repository, for `kinfra worktrees`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Worktree {
    pub path: String,
    pub branch: Option<String>,
    /// `spec`, `impl`, `sandbox`, `local-prod`, `main` or `other`.
    pub kind: String,
    /// The registered instance living there, if any.
    pub instance: Option<String>,
}

/// Pure: `git worktree list --porcelain` as (path, branch) pairs.
pub fn parse_worktrees(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut path = None;
        let mut branch = None;
        for l in block.lines() {
            if let Some(p) = l.strip_prefix("worktree ") {
                path = Some(p.to_string());
            } else if let Some(b) = l.strip_prefix("branch ") {
                branch = Some(b.trim_start_matches("refs/heads/").to_string());
            }
        }
        if let Some(p) = path {
            out.push((p, branch));
        }
    }
    out
}

/// Every worktree of the repository holding the current directory, with what
/// kinfra knows of it.
pub fn worktrees(ctx: &Context, stack: &Stack) -> Result<Vec<Worktree>> {
    let repo = repo_of(ctx)?;
    let text = git::worktree_list(&repo)?;
    let reg = ctx.registry().load()?;
    let entries: Vec<&crate::state::registry::Entry> = reg
        .local_prod
        .iter()
        .chain(reg.instances.values())
        .collect();
    Ok(parse_worktrees(&text)
        .into_iter()
        .map(|(path, branch)| {
            let inst = entries
                .iter()
                .find(|e| crate::support::fsutil::same_path(Path::new(&e.path), Path::new(&path)));
            let base = Path::new(&path)
                .file_name()
                .map(|b| b.to_string_lossy().into_owned())
                .unwrap_or_default();
            let kind = if reg.kinfra.specs.contains_key(&path) {
                "spec"
            } else if inst.is_some_and(|e| e.slot == 0) {
                "local-prod"
            } else if inst.is_some() && base.starts_with(&stack.workflow.impl_prefix) {
                "impl"
            } else if inst.is_some() {
                "sandbox"
            } else if crate::support::fsutil::same_path(Path::new(&path), &repo) {
                "main"
            } else {
                "other"
            };
            Worktree {
                path,
                branch,
                kind: kind.into(),
                instance: inst.map(|e| e.instance_id.clone()),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_branches() {
        assert_eq!(
            parse_target("Genome/M1").unwrap(),
            ("genome".to_string(), "m1".to_string())
        );
        assert!(parse_target("genome").is_err());
        assert!(parse_target("a/b/c").is_err());
        assert!(parse_target("/M1").is_err());
        assert_eq!(
            branch("impl/{feature}-{milestone}", "genome", "m1"),
            "impl/genome-m1"
        );
    }

    #[test]
    fn done_accepts_f_slash_m_and_f_dash_m() {
        let s = &*crate::stack::KTRDR_2026;
        let a = candidates(s, "genome/M1");
        assert!(a.contains(&"ktrdr-impl-genome-m1".to_string()), "{a:?}");
        let b = candidates(s, "genome-m1");
        assert!(b.contains(&"ktrdr-impl-genome-m1".to_string()), "{b:?}");
        assert!(b.contains(&"ktrdr-spec-genome-m1".to_string()), "{b:?}");
    }

    #[test]
    fn the_milestone_plan_is_found_as_the_python_tools_find_it() {
        let d = tempfile::tempdir().unwrap();
        let imp = d.path().join("docs/designs/genome/implementation");
        std::fs::create_dir_all(&imp).unwrap();
        std::fs::write(imp.join("M1_foundations.md"), "").unwrap();
        std::fs::write(imp.join("M2_search.md"), "").unwrap();
        std::fs::write(imp.join("README.md"), "").unwrap();
        let f = milestone_file(d.path(), "docs/designs", "genome", "M1").unwrap();
        assert!(f.ends_with("M1_foundations.md"));
        let e = milestone_file(d.path(), "docs/designs", "genome", "M3").unwrap_err();
        assert!(e.to_string().contains("it has M1, M2"), "{e}");
    }

    #[test]
    fn worktree_list_is_parsed() {
        let text = "worktree /r/ktrdr\nHEAD abc\nbranch refs/heads/main\n\nworktree /r/ktrdr-impl-g-m1\nHEAD def\nbranch refs/heads/impl/g-m1\n\nworktree /r/x\nHEAD 123\ndetached\n";
        assert_eq!(
            parse_worktrees(text),
            [
                ("/r/ktrdr".to_string(), Some("main".to_string())),
                (
                    "/r/ktrdr-impl-g-m1".to_string(),
                    Some("impl/g-m1".to_string())
                ),
                ("/r/x".to_string(), None)
            ]
        );
    }
}
