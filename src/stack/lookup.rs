//! Which description holds for a directory: its `kinfra.toml`, its main clone's,
//! devops-ai's `infra.toml`, KTRDR's built-in one, or one inferred from compose.

use std::path::{Path, PathBuf};

use super::Stack;
use super::builtin::{KTRDR, KTRDR_COMPOSE_FILE, ktrdr_for};
use crate::stack::error::{Result, StackError};
use crate::state::home::Home;
use crate::tools::git;

/// The stack for work in `cwd`, one rule for every command: the `kinfra.toml` of
/// the checkout holding `cwd`, else its main clone's (an untracked one there serves
/// every worktree), else KTRDR's built-in description for a KTRDR checkout (the one
/// that fits its compose file), else what its compose file says. A description that
/// does not parse is an error, never silently replaced.
pub fn for_dir(cwd: &Path, home: Option<&Home>) -> Result<Stack> {
    let top = cwd
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf);
    let Some(top) = top else {
        return Ok(KTRDR.clone());
    };
    if let Some(s) = Stack::from_dir(&top)? {
        return Ok(s);
    }
    let main = git::read_main_clone(&top);
    if main != top
        && let Some(s) = Stack::from_dir(&main)?
    {
        return Ok(s);
    }
    for dir in [&top, &main] {
        if let Some(s) = from_infra_toml(dir)? {
            return Ok(s);
        }
    }
    if top.join(KTRDR_COMPOSE_FILE).is_file() {
        return Ok(ktrdr_for(&top).clone());
    }
    if let Some(s) = infer(&top, home)? {
        return Ok(s);
    }
    Ok(KTRDR.clone())
}

/// devops-ai's `.devops-ai/infra.toml` in `dir`, translated, when there is one.
fn from_infra_toml(dir: &Path) -> Result<Option<Stack>> {
    let path = dir.join(crate::stack::infra_toml::PATH);
    let Some(text) =
        crate::stack::read_description(dir, Path::new(crate::stack::infra_toml::PATH))?
    else {
        return Ok(None);
    };
    let origin = format!("{} (devops-ai's, read as kinfra's)", path.display());
    let (kinfra, notes) =
        crate::stack::infra_toml::translate(&text).map_err(|message| StackError::StackInvalid {
            origin: origin.clone(),
            message,
        })?;
    let mut s = Stack::parse(&kinfra, &origin)?;
    s.notes = notes;
    // The health check's service: the one publishing its port.
    if let Ok(text) = std::fs::read_to_string(dir.join(&s.compose_file)) {
        let facts = crate::stack::check::read(&text);
        for g in &mut s.gate {
            let crate::stack::Check::Http { port_key, .. } = &g.check else {
                continue;
            };
            if let Some(p) = facts
                .ports
                .iter()
                .find(|p| p.var.as_ref().is_some_and(|(v, _)| v == port_key))
            {
                g.service = p.service.clone();
            }
        }
    }
    Ok(Some(s))
}

/// The description of a checkout without `kinfra.toml`: none for a KTRDR clone (its
/// compose file is KTRDR's `compose_file`) or a directory without a compose file;
/// otherwise inferred from the first compose file compose itself would take, named
/// after the main clone's directory (a worktree's own name is the instance's).
pub fn infer(top: &Path, home: Option<&Home>) -> Result<Option<Stack>> {
    if top.join(KTRDR_COMPOSE_FILE).is_file() {
        return Ok(None);
    }
    // COMPOSE_FILE (environment or `.env`) names the files, as for compose itself.
    let named = compose_file_setting(top)?;
    let file = match named.first() {
        Some(f) => f.clone(),
        None => match crate::tools::compose::FILE_NAMES
            .iter()
            .find(|f| top.join(f).is_file())
        {
            Some(f) => f.to_string(),
            None => return Ok(None),
        },
    };
    let file = file.as_str();
    let main = git::read_main_clone(top);
    // The repository's name (its origin's), else the clone's directory name: a
    // local-prod clone is often named `<project>-prod`.
    let name = git::read_origin_url(&main)
        .map(|u| repo_name(&u))
        .unwrap_or_else(|| {
            main.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    // A name may hold what a compose project name cannot; the slug is the name then,
    // and a name with nothing usable falls back to "project".
    let name = crate::support::slug::slugify(&name).unwrap_or_else(|_| "project".into());
    // Two repositories of one name (`github.com/a/app`, `github.com/b/app`) must not
    // share instance names: the registry tells them apart.
    let name = match home {
        Some(h) => distinct_name(h, &name, &main),
        None => name,
    };
    let mut s = Stack::inferred(&name, file)?;
    if !named.is_empty() {
        // Named files replace discovery (no override file is added).
        s.compose_files = named;
        return Ok(Some(s));
    }
    // Like a plain `docker compose up`: the override file beside it joins in.
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    for ext in ["yaml", "yml"] {
        let o = format!("{stem}.override.{ext}");
        if top.join(&o).is_file() {
            s.compose_files.push(o);
            break;
        }
    }
    Ok(Some(s))
}

/// The files `COMPOSE_FILE` names for a checkout (split on
/// `COMPOSE_PATH_SEPARATOR`, `:` by default), relative to it; empty when unset. A
/// file outside the repository is refused, naming the variable.
fn compose_file_setting(top: &Path) -> Result<Vec<String>> {
    let Some(v) = crate::tools::compose::setting(top, "COMPOSE_FILE") else {
        return Ok(Vec::new());
    };
    let sep =
        crate::tools::compose::setting(top, "COMPOSE_PATH_SEPARATOR").unwrap_or_else(|| ":".into());
    let mut files = Vec::new();
    for f in v
        .split(sep.as_str())
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        let rel = Path::new(f)
            .strip_prefix(top)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| f.trim_start_matches("./").to_string());
        crate::support::validate::repo_path(&rel).map_err(|message| StackError::StackInvalid {
            origin: "COMPOSE_FILE".into(),
            message,
        })?;
        if !top.join(&rel).is_file() {
            return Err(StackError::StackInvalid {
                origin: "COMPOSE_FILE".into(),
                message: format!("{rel} is not a file in {}", top.display()),
            });
        }
        files.push(rel);
    }
    Ok(files)
}

/// The project name for the clone `main`: the one its registered instances were
/// made under, when it has any (names stay stable); else `base`, unless instances
/// of another clone already go by it, then `base-<hash of this clone's path>`.
fn distinct_name(home: &Home, base: &str, main: &Path) -> String {
    let Ok(reg) = crate::state::registry::Registry::new(home).load() else {
        return base.to_string();
    };
    let clone_of = |e: &crate::state::registry::Entry| {
        PathBuf::from(e.parent_repo.clone().unwrap_or_else(|| e.path.clone()))
    };
    let entries: Vec<&crate::state::registry::Entry> = reg
        .local_prod
        .iter()
        .chain(reg.instances.values())
        .collect();
    let mine = entries.iter().find_map(|e| {
        crate::support::fsutil::same_path(&clone_of(e), main)
            .then(|| reg.kinfra.stacks.get(&e.instance_id).cloned())
            .flatten()
    });
    if let Some(name) = mine {
        return name;
    }
    let theirs = entries.iter().any(|e| {
        reg.kinfra
            .stacks
            .get(&e.instance_id)
            .is_some_and(|n| n == base)
            && !crate::support::fsutil::same_path(&clone_of(e), main)
    });
    if theirs {
        let h = crate::support::units::fnv1a(main.display().to_string().as_bytes());
        format!("{base}-{:04x}", h & 0xffff)
    } else {
        base.to_string()
    }
}

/// The repository's name from its URL or path (`https://…/acme/shop.git` → `shop`).
pub fn repo_name(url: &str) -> String {
    let last = url
        .trim()
        .trim_end_matches('/')
        .rsplit(['/', ':', '\\'])
        .next()
        .unwrap_or("");
    last.strip_suffix(".git").unwrap_or(last).to_string()
}
