//! One file per subcommand: its arguments (whose doc comments are the help) and
//! `run`, which calls the library and prints the result.

pub mod checkout;
pub mod completions;
pub mod compose;
pub mod create;
pub mod demo;
pub mod destroy;
pub mod doctor;
pub mod done;
pub mod down;
pub mod engine;
pub mod env;
pub mod hook;
pub mod host;
pub mod implement;
pub mod init;
pub mod init_shared;
pub mod internal;
pub mod list;
pub mod logs;
pub mod mcp;
pub mod prune;
pub mod release;
pub mod reset;
pub mod router;
pub mod secrets;
pub mod shared;
pub mod shell;
pub mod snapshot;
pub mod spec;
pub mod stack;
pub mod status;
pub mod sync;
pub mod sync_code;
pub mod up;
pub mod url;
pub mod wait;
pub mod worktrees;

use crate::cli::error::CliError;
use crate::stack::Stack;
use crate::state::context::Context;

/// Decides the stack for this process: the repository's `kinfra.toml`, else KTRDR's
/// built-in description for a KTRDR clone, else what its compose file says. A
/// description that does not parse is an error here. The CLI passes it to every
/// command that needs it, as ripgrep passes its validated settings.
///
/// A local-prod command (other than `init`, which makes one) acts on the registered
/// local-prod wherever it is run, so its description is that clone's, never the
/// current directory's: from outside any repository the built-in one would otherwise
/// apply, and `sync` would rewrite local-prod's `.env.sandbox` under it.
pub(crate) fn load_stack(ctx: &Context, command: &crate::cli::Command) -> crate::Result<Stack> {
    use crate::cli::{Command, LocalProdCmd, cmd};
    let local_prod = match command {
        Command::LocalProd(c) => !matches!(c, LocalProdCmd::Init(_)),
        Command::Secrets(cmd::secrets::SecretsCmd::Status(a)) => a.local_prod,
        _ => false,
    };
    if local_prod && let Some(dir) = local_prod_dir(ctx)? {
        return Ok(crate::stack::for_dir(&dir, Some(&ctx.home))?);
    }
    let here = crate::stack::for_dir(&ctx.cwd, Some(&ctx.home))?;
    // A sandbox named on the command line is described by its own worktree, as
    // local-prod by its clone: from outside the project (or from another one) the
    // current directory's description would read it with the wrong services and
    // ports. The name is looked up as the command would (the worktree prefix of
    // the description here); one not found is the command's own error to report.
    if let Some(name) = named_sandbox(command)
        && let Ok(entry) = crate::instance::sandbox_entry(ctx, &here, Some(name))
    {
        let dir = std::path::PathBuf::from(&entry.path);
        if dir.is_dir() {
            return Ok(crate::stack::for_dir(&dir, Some(&ctx.home))?);
        }
    }
    Ok(here)
}

/// The sandbox a command names (`sandbox status NAME`, `url --name NAME`, ...).
fn named_sandbox(command: &crate::cli::Command) -> Option<&str> {
    use crate::cli::{Command, SandboxCmd};
    let name = match command {
        Command::Sandbox(c) => match c {
            SandboxCmd::Up(a) => &a.name,
            SandboxCmd::Down(a) => &a.name,
            SandboxCmd::Status(a) => &a.name,
            SandboxCmd::Logs(a) => &a.name,
            SandboxCmd::Shell(a) => &a.name,
            SandboxCmd::Compose(a) => &a.name,
            SandboxCmd::Sync(a) => &a.name,
            SandboxCmd::SyncCode(a) => &a.name,
            SandboxCmd::Reset(a) => &a.name,
            SandboxCmd::Destroy(a) => &a.name,
            _ => return None,
        },
        Command::Url(a) => &a.name,
        Command::Env(a) => &a.name,
        Command::Wait(a) => &a.name,
        _ => return None,
    };
    name.as_deref()
}

/// The registered local-prod's clone, when there is one and it exists.
fn local_prod_dir(ctx: &Context) -> crate::Result<Option<std::path::PathBuf>> {
    Ok(ctx
        .registry()
        .load()?
        .local_prod
        .map(|e| std::path::PathBuf::from(e.path))
        .filter(|d| d.is_dir()))
}

/// `--slot`, when given, checked against the stack (see [`parse_slot`]).
pub(crate) fn slot_arg(
    stack: &Stack,
    given: Option<&str>,
) -> crate::cli::error::CliResult<Option<u8>> {
    given.map(|s| parse_slot(stack, s)).transpose()
}

/// Checks `--slot` against the stack, with a message that says what slots exist
/// (a usage error, exit 2, before anything is changed).
fn parse_slot(stack: &Stack, s: &str) -> crate::cli::error::CliResult<u8> {
    let max = stack.max_slot;
    match s.trim().parse::<i64>() {
        Ok(n) if (1..=i64::from(max)).contains(&n) => Ok(n as u8),
        Ok(0) => Err(CliError::BadSlot {
            value: "'0'".into(),
            why: "slot 0 is local-prod's".into(),
            max,
        }),
        Ok(n) => Err(CliError::BadSlot {
            value: format!("'{n}'"),
            why: format!("{n} is out of range"),
            max,
        }),
        Err(_) => Err(CliError::BadSlot {
            value: format!("{s:?}"),
            why: format!("{s:?} is not a number"),
            max,
        }),
    }
}

/// Asks before an act that loses data: at a terminal a question (default no);
/// elsewhere a refusal naming the flag that confirms. `Ok(false)`: the person said no.
pub(crate) fn confirm_data_loss(
    ctx: &Context,
    question: &str,
    refusal: &str,
) -> crate::cli::error::CliResult<bool> {
    if !ctx.interactive {
        return Err(CliError::Unconfirmed {
            refusal: refusal.to_string(),
        });
    }
    let ok = ctx.prompter.confirm(question, false)?;
    if !ok {
        ctx.reporter.info("Nothing was changed.");
    }
    Ok(ok)
}

/// Prints an instance's URLs and ports after init/create/up.
pub(crate) fn print_ports(stack: &Stack, inst: &crate::instance::Instance) {
    for line in port_lines(inst.id(), inst.env.slot, &inst.dir, &inst.links(stack)) {
        crate::outln!("{line}");
    }
}

/// An instance's identity, path and links as `status`, `up` and `create` print them.
pub(crate) fn port_lines(
    id: &str,
    slot: u8,
    dir: &std::path::Path,
    links: &[(String, String)],
) -> Vec<String> {
    let mut out = vec![
        format!("  instance   {id} (slot {slot})"),
        format!("  path       {}", dir.display()),
    ];
    for (label, text) in links {
        out.push(format!("  {label:<10} {text}"));
    }
    out
}

#[cfg(test)]
mod render_tests;
