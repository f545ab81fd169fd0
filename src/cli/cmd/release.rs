use crate::instance;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Slot number or instance name.
    #[arg(value_name = "SLOT|NAME", add = crate::cli::complete::release_targets())]
    pub target: String,
}

pub fn run(ctx: &Context, a: Args) -> crate::cli::error::CliResult<i32> {
    let it = instance::release(ctx, &a.target)?;
    ctx.reporter.success(&format!(
        "Released {} (slot {}): {} container(s), {} volume(s) removed; its directory was not touched",
        it.project,
        it.slot.map(|s| s.to_string()).unwrap_or_default(),
        it.containers,
        it.volumes
    ));
    Ok(0)
}
