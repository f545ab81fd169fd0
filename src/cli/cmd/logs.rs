use crate::instance::{self, Kind};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this service (default: all).
    #[arg(add = crate::cli::complete::services())]
    pub service: Option<String>,
    /// A registered sandbox by name (default: the one containing the current directory).
    #[arg(long, value_name = "NAME", add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
    /// Keep following new output.
    #[arg(long, short)]
    pub follow: bool,
    /// Lines to show from the end of each log.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub lines: usize,
}

pub fn run(ctx: &Context, stack: &Stack, kind: Kind, a: Args) -> crate::cli::error::CliResult<i32> {
    let inst = instance::find(ctx, stack, kind, a.name.as_deref())?;
    Ok(instance::logs(
        ctx,
        stack,
        &inst,
        a.service.as_deref(),
        a.follow,
        a.lines,
    )?)
}
