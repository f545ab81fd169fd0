use crate::instance::{self, Kind};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A registered sandbox (default: the one containing the current directory).
    #[arg(value_name = "NAME", add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
    /// Also remove the instance's volumes (its database!). For local-prod this asks
    /// at a terminal and needs --yes otherwise.
    #[arg(long, short)]
    pub volumes: bool,
    /// Confirm --volumes without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub fn run(ctx: &Context, stack: &Stack, kind: Kind, a: Args) -> crate::cli::error::CliResult<i32> {
    let inst = instance::find(ctx, stack, kind, a.name.as_deref())?;
    if a.volumes && kind == Kind::LocalProd && !a.yes {
        let confirmed = super::confirm_data_loss(
            ctx,
            &format!(
                "Stop local-prod at {} and remove its volumes (its database)?",
                inst.dir.display()
            ),
            &format!(
                "`down --volumes` removes local-prod's database volumes ({}); pass --yes to confirm, or leave out --volumes to only stop it",
                inst.dir.display()
            ),
        )?;
        if !confirmed {
            return Ok(1);
        }
    }
    instance::down(ctx, stack, &inst, a.volumes)?;
    ctx.reporter.success(&format!("{} stopped", inst.id()));
    Ok(0)
}
