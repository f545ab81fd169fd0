use crate::instance::lifecycle::workflow::{self, Done};
use crate::instance::{self, DestroyOptions};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sandbox or spec worktree: `genome/M1`, `genome-m1`, or its full name.
    pub name: String,
    /// Remove it even if uncommitted work or commits on no branch would be lost.
    #[arg(long)]
    pub force: bool,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    match workflow::find_done(ctx, stack, &a.name)? {
        Done::Sandbox(id) => {
            let d = instance::destroy(
                ctx,
                stack,
                &DestroyOptions {
                    name: Some(id),
                    force: a.force,
                    ..Default::default()
                },
            )?;
            super::destroy::summary(ctx, &d);
        }
        Done::Spec(path) => {
            workflow::remove_spec(ctx, &path, a.force)?;
            ctx.reporter.success(&format!(
                "Removed spec worktree {} (its branch stays)",
                path.display()
            ));
        }
    }
    Ok(0)
}
