use crate::instance::{self, Kind};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sandbox (default: the one containing the current directory).
    #[arg(long)]
    pub name: Option<String>,
}

/// A full pass of the code mirror of a sandbox on another machine's engine (`up`
/// mirrors, and keeps it mirrored while it is up; this forces a pass now).
pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let inst = instance::find(ctx, stack, Kind::Sandbox, a.name.as_deref())?;
    match crate::engine::remote::placement(ctx, inst.id())? {
        Some(e) => {
            ctx.reporter
                .step(&format!("Mirroring the code to {} ({})", e.name, e.url));
            let remote = crate::engine::remote::mirror(
                ctx,
                &e,
                inst.id(),
                &inst.dir,
                &crate::engine::remote::kept(ctx, inst.id()),
            )?;
            ctx.reporter
                .success(&format!("{} mirrored to {}:{remote}", inst.id(), e.name));
        }
        None => ctx.reporter.info(&format!(
            "{} runs on this machine's engine, which reads the worktree itself: nothing to mirror",
            inst.id()
        )),
    }
    Ok(0)
}
