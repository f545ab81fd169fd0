//! Consent for the repository's host commands. A `kinfra.toml` is input anyone can
//! write (a branch, a pull request): a command it names runs on this machine only
//! after the person allowed exactly those commands for that clone, as direnv's
//! `allow` does. Any change to them asks again. Built-in descriptions are kinfra's
//! own and need none.

use std::collections::BTreeMap;
use std::path::Path;

use crate::stack::{PrepareAction, Stack};
use crate::state::context::Context;
use crate::state::home::Home;
use crate::support::error::{Error, Result};

/// Pure: the host commands a description runs, one per line, as a person reviews
/// them; empty when it runs none.
pub fn commands_text(stack: &Stack) -> String {
    let mut s = String::new();
    for p in &stack.prepare {
        if let PrepareAction::Command(argv) = &p.action {
            s.push_str(&format!("  prepare {:?}: {}\n", p.name, shown(argv)));
        }
    }
    for h in &stack.host {
        s.push_str(&format!(
            "  host service {} (in {}, port {}): {}\n",
            h.name,
            h.dir,
            h.port,
            shown(&h.command)
        ));
        for (k, v) in &h.env {
            s.push_str(&format!("    with {k}={v}\n"));
        }
    }
    s
}

fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:@".contains(c))
            {
                a.clone()
            } else {
                format!("{a:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn load(home: &Home) -> BTreeMap<String, String> {
    std::fs::read_to_string(home.allowed_file())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Whether `stack`'s host commands may run for the clone `clone`.
pub fn is_allowed(home: &Home, clone: &Path, stack: &Stack) -> bool {
    let text = commands_text(stack);
    stack.builtin || text.is_empty() || load(home).get(&clone.display().to_string()) == Some(&text)
}

/// Records that `stack`'s host commands may run for `clone`.
pub fn allow(home: &Home, clone: &Path, stack: &Stack) -> Result<()> {
    let mut all = load(home);
    all.insert(clone.display().to_string(), commands_text(stack));
    let text = serde_json::to_string_pretty(&all).unwrap_or_default();
    let path = home.allowed_file();
    crate::support::fsutil::write_atomic(&path, text.as_bytes(), Some(0o600))
        .map_err(|e| Error::io("could not record the allowed commands in", &path, e))
}

/// Refuses (exit 2, naming the commands) unless they are allowed; at a terminal,
/// asks first and records a yes.
pub fn require(ctx: &Context, clone: &Path, stack: &Stack) -> Result<()> {
    if is_allowed(&ctx.home, clone, stack) {
        return Ok(());
    }
    let commands = commands_text(stack);
    if ctx.interactive {
        ctx.reporter.warn(&format!(
            "{} asks to run on this machine:\n{}",
            stack.origin,
            commands.trim_end()
        ));
        if ctx
            .prompter
            .confirm("Allow these commands for this clone?", false)?
        {
            return allow(&ctx.home, clone, stack);
        }
    }
    Err(Error::NotAllowed {
        clone: clone.to_path_buf(),
        commands: commands.trim_end().to_string(),
    })
}
