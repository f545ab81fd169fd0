use crate::context::Context;
use crate::instance::{self, Kind};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also remove the instance's volumes (its database!).
    #[arg(long, short)]
    pub volumes: bool,
}

pub fn run(ctx: &Context, kind: Kind, a: Args) -> crate::Result<i32> {
    let stack = super::stack();
    let inst = instance::locate(ctx, stack, kind)?;
    instance::down(ctx, stack, &inst, a.volumes)?;
    ctx.reporter.success(&format!("{} stopped", inst.id()));
    Ok(0)
}
