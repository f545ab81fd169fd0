use crate::stack::Stack;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Speaks the Model Context Protocol on stdin/stdout for coding agents. \
Tools: list, status, create, up, down, logs, urls, wait_healthy, exec, destroy. Without a \
name they act on the instance containing the directory the server was started in.

Claude Code, in the repository (see docs/AGENTS.md):
  claude mcp add kinfra -- kinfra mcp"
)]
pub struct Args {}

pub fn run(
    ctx: &crate::state::context::Context,
    stack: &Stack,
    _a: Args,
) -> crate::cli::error::CliResult<i32> {
    crate::agents::mcp::serve(
        stack.clone(),
        ctx.home.clone(),
        ctx.cwd.clone(),
        crate::cli::hints::agents_hint,
        crate::cli::hints::warning_hint,
    )?;
    Ok(0)
}
