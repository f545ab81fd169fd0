//! `kinfra doctor`'s look at kinfra's own state, beside the prerequisite audit: the
//! registry parses, no entry points at a missing directory, no recorded project is
//! orphaned, local-prod's ports are free for it, and this binary's directory is on
//! PATH. Read-only: what it finds is reported with the command that fixes it, in
//! the CLI's words ([`Fix`], worded by the edge as its errors' hints are).

use std::path::{Path, PathBuf};

use crate::stack::Stack;
use crate::state::context::Context;
use crate::tools::prereq::{Check, Status};

fn check(name: &str, status: Status) -> Check {
    Check {
        name: name.into(),
        status,
        required: false,
        version: None,
        path: None,
        detail: None,
        hint: None,
        state: true,
    }
}

/// A finding whose fix is one of kinfra's commands: the edge words it
/// (`cli::hints::doctor_fix`), since the commands and flags are the CLI's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// The stack description does not read, and its error has no hint of its own.
    Description,
    /// Registry entries whose directory is gone.
    StaleEntries,
    /// Compose projects kinfra started that no entry owns.
    OrphanedProjects,
    /// local-prod's ports held by something else (the first one held).
    LocalProdPortsHeld { port: String },
}

/// The edge's words for a [`Fix`].
pub type FixHint = fn(&Fix) -> String;

/// Every check of kinfra's own state; `docker_ok` says whether the engine answered
/// (ports are then attributed to containers). `hint` words an error's fix, `fix` a
/// finding's.
pub fn own_state(
    ctx: &Context,
    stack: std::result::Result<&Stack, &crate::Error>,
    docker_ok: bool,
    hint: crate::instance::error::Hint,
    fix: FixHint,
) -> Vec<Check> {
    let mut out = Vec::new();
    // A description that does not read is a finding, not the end of the audit:
    // `doctor` is what a person runs when something is broken.
    let mut description = check("stack description", Status::Ok);
    match stack {
        Ok(s) => description.detail = Some(s.name.clone()),
        Err(e) => {
            description.status = Status::Missing;
            description.required = true;
            description.detail = Some(e.to_string());
            description.hint = hint(e).or_else(|| Some(fix(&Fix::Description)));
        }
    }
    out.push(description);
    let stack = stack.ok();
    let reg = ctx.registry();
    let mut registry = check("registry", Status::Ok);
    registry.path = Some(reg.path().to_path_buf());
    match reg.load() {
        Err(e) => {
            registry.status = Status::Missing;
            registry.required = true;
            registry.detail = Some(e.to_string());
            registry.hint = hint(&e.into())
                .or_else(|| Some("kinfra left the file as it is: repair or move it".into()));
            out.push(registry);
        }
        Ok(c) => {
            registry.detail = Some(format!(
                "{} sandbox(es), local-prod {}",
                c.instances.len(),
                if c.local_prod.is_some() {
                    "registered"
                } else {
                    "not registered"
                }
            ));
            out.push(registry);
            let entries: Vec<&crate::state::registry::Entry> =
                c.local_prod.iter().chain(c.instances.values()).collect();
            let stale: Vec<String> = entries
                .iter()
                .filter(|e| !Path::new(&e.path).is_dir())
                .map(|e| format!("{} ({})", e.instance_id, e.path))
                .collect();
            let mut s = check("stale entries", Status::Ok);
            if !stale.is_empty() {
                s.status = Status::Warn;
                s.detail = Some(format!("directory gone: {}", stale.join(", ")));
                s.hint = Some(fix(&Fix::StaleEntries));
            }
            out.push(s);
            let owned: Vec<&str> = entries.iter().map(|e| e.instance_id.as_str()).collect();
            // local-prod's record is kept on purpose after a destroy: the next init
            // takes its volumes over.
            let orphans: Vec<&String> = c
                .kinfra
                .projects
                .keys()
                .filter(|p| {
                    !owned.contains(&p.as_str())
                        && stack.is_none_or(|s| p.as_str() != s.local_prod_id)
                })
                .collect();
            let mut o = check("orphaned projects", Status::Ok);
            if !orphans.is_empty() {
                o.status = Status::Warn;
                o.detail = Some(format!(
                    "no instance owns {}",
                    orphans
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                o.hint = Some(fix(&Fix::OrphanedProjects));
            }
            out.push(o);
        }
    }
    if let Some(stack) = stack {
        out.push(base_ports(stack, docker_ok, fix));
    }
    out.push(on_path(std::env::current_exe().ok().as_deref()));
    out
}

/// local-prod's ports (slot 0): held by anything but local-prod itself, its `up`
/// would fail.
fn base_ports(stack: &Stack, docker_ok: bool, fix: FixHint) -> Check {
    let holders = if docker_ok {
        crate::tools::docker::port_holders().unwrap_or_default()
    } else {
        Default::default()
    };
    let held: Vec<String> = crate::stack::ports::for_slot(stack, 0)
        .into_iter()
        .filter_map(|(_, port)| match holders.get(&port) {
            Some(c) if c.starts_with(stack.local_prod_id.as_str()) => None,
            Some(c) => Some(format!("{port} (container {c})")),
            None if crate::stack::ports::in_use(port) => Some(format!("{port} (a process)")),
            None => None,
        })
        .collect();
    let mut c = check("local-prod ports", Status::Ok);
    if held.is_empty() {
        c.detail = Some("free (or held by local-prod)".into());
    } else {
        c.status = Status::Warn;
        c.detail = Some(format!("held by something else: {}", held.join(", ")));
        c.hint = Some(fix(&Fix::LocalProdPortsHeld {
            port: held[0].split(' ').next().unwrap_or("PORT").to_string(),
        }));
    }
    c
}

/// Whether the directory holding `exe` is on PATH (else the shell finds another
/// kinfra, or none).
fn on_path(exe: Option<&Path>) -> Check {
    let mut c = check("install directory", Status::Ok);
    let Some(dir) = exe.and_then(Path::parent) else {
        c.status = Status::Warn;
        c.detail = Some("could not tell where this binary is".into());
        return c;
    };
    c.path = Some(dir.to_path_buf());
    let path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if path
        .iter()
        .any(|p| crate::support::fsutil::same_path(p, dir))
    {
        c.detail = Some("on PATH".into());
    } else {
        c.status = Status::Warn;
        c.detail = Some("not on PATH: the shell will not find this kinfra by name".into());
        c.hint = Some(format!(
            "add it to your shell profile: export PATH=\"{}:$PATH\"",
            dir.display()
        ));
    }
    c
}
