use crate::instance;
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only show what would be removed.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let items = instance::prune(ctx, stack, a.dry_run)?;
    if a.json {
        let out = serde_json::json!({ "dry_run": a.dry_run, "items": items });
        crate::outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(0);
    }
    if items.is_empty() {
        crate::outln!("Nothing to prune.");
        return Ok(0);
    }
    let verb = if a.dry_run { "would remove" } else { "removed" };
    for it in &items {
        crate::outln!(
            "{verb} {} ({}): {} container(s), {} volume(s){}",
            it.project,
            it.reason,
            it.containers,
            it.volumes,
            it.slot
                .map(|s| format!(", slot {s} freed"))
                .unwrap_or_default()
        );
    }
    Ok(0)
}
