use crate::instance::{self, InitOptions, Kind};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 1 already initialized, 2 not a repository kinfra can run (no kinfra.toml, \
no compose file, and not KTRDR)."
)]
pub struct Args {
    /// Slot to use (1-10; default: the lowest free one).
    #[arg(long, allow_hyphen_values = true, add = crate::cli::complete::free_slots())]
    pub slot: Option<String>,
    /// Instance name (default: the directory's name).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "local-prod must be a clone (not a worktree), and there is only one. A project \
whose ports kinfra chooses gets the compose file's own ports for local-prod where they are free.\n\n\
Exit codes: 1 already initialized or another local-prod exists, 2 not a clone or not a \
repository kinfra can run."
)]
pub struct LocalProdArgs {}

fn done(
    ctx: &Context,
    stack: &Stack,
    inst: &instance::Instance,
    up: &str,
) -> crate::cli::error::CliResult<i32> {
    ctx.reporter
        .success(&format!("Initialized {} {}", inst.kind.label(), inst.id()));
    ctx.reporter.info(&format!("described by {}", stack.origin));
    super::print_ports(stack, inst);
    ctx.reporter.info(&format!("next: {up}"));
    Ok(0)
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let slot = super::slot_arg(stack, a.slot.as_deref())?;
    let inst = instance::init(
        ctx,
        stack,
        Kind::Sandbox,
        InitOptions {
            slot,
            name: a.name,
            docker: None,
        },
    )?;
    done(ctx, stack, &inst, "kinfra sandbox up")
}

pub fn run_local_prod(
    ctx: &Context,
    stack: &Stack,
    _: LocalProdArgs,
) -> crate::cli::error::CliResult<i32> {
    let inst = instance::init(ctx, stack, Kind::LocalProd, InitOptions::default())?;
    done(ctx, stack, &inst, "kinfra local-prod up")
}
