use crate::instance::{self, Kind};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A registered sandbox by name (default: the one containing the current directory).
    #[arg(long, value_name = "NAME", add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
    /// Print what changed as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, stack: &Stack, kind: Kind, a: Args) -> crate::cli::error::CliResult<i32> {
    let inst = instance::find(ctx, stack, kind, a.name.as_deref())?;
    let _lock = instance::lock(ctx, inst.id(), "sync")?;
    let (_, synced) = instance::lifecycle::sync::sync(ctx, stack, &inst)?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&synced).unwrap_or_default()
        );
        return Ok(0);
    }
    instance::lifecycle::sync::report(ctx, stack, &synced);
    if synced.changes.is_empty() {
        ctx.reporter.success(&format!(
            "{} follows {} (nothing to change)",
            inst.id(),
            stack.origin
        ));
    } else {
        ctx.reporter
            .success(&format!("{} follows {}", inst.id(), stack.origin));
    }
    Ok(0)
}
