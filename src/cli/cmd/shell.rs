use crate::stack::Stack;
use std::io::IsTerminal;

use crate::instance::{self, Kind};
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Service to open the shell in (default: the stack's shell_service; KTRDR's
    /// is backend).
    #[arg(add = crate::cli::complete::services())]
    pub service: Option<String>,
    /// A registered sandbox by name (default: the one containing the current directory).
    #[arg(long, value_name = "NAME", add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let inst = instance::find(ctx, stack, Kind::Sandbox, a.name.as_deref())?;
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let Some(service) = a.service.or_else(|| stack.shell_service.clone()) else {
        return Err(crate::cli::error::CliError::NoShellService);
    };
    Ok(instance::shell(stack, &inst, &service, tty)?)
}
