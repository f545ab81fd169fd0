use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let list = crate::instance::lifecycle::workflow::worktrees(ctx, stack)?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return Ok(0);
    }
    for w in &list {
        crate::outln!(
            "{:<10} {:<28} {:<24} {}",
            w.kind,
            w.branch.as_deref().unwrap_or("(detached)"),
            w.instance.as_deref().unwrap_or("-"),
            w.path
        );
    }
    Ok(0)
}
