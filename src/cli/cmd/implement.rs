use crate::instance::UpOptions;
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// FEATURE/MILESTONE (`genome/M1`): its plan must exist at
    /// `<design_dir>/<feature>/implementation/<MILESTONE>_*.md`.
    pub target: String,
    /// Where the branch starts (a commit or ref; default HEAD).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Create the sandbox without starting it.
    #[arg(long)]
    pub no_up: bool,
    /// Skip 1Password when starting (the stack's insecure defaults).
    #[arg(long)]
    pub no_secrets: bool,
    /// Place the sandbox on a Docker engine on another machine (`kinfra engine
    /// add`), as `sandbox create --on`: its code is mirrored there, its ports
    /// forwarded to this machine's 127.0.0.1. `auto`: the engine with the most
    /// memory room, this machine's included.
    #[arg(long, value_name = "ENGINE")]
    pub on: Option<String>,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    // Checked (and `auto` weighed) before the plan is looked for or anything made.
    let on = crate::instance::placement::resolve_on(ctx, stack, a.on.as_deref())?;
    let (inst, plan) = crate::instance::lifecycle::workflow::implement(
        ctx,
        stack,
        &a.target,
        a.base.as_deref(),
        on,
    )?;
    ctx.reporter.success(&format!(
        "Created sandbox {} at {} for {}",
        inst.id(),
        inst.dir.display(),
        plan.display()
    ));
    if a.no_up {
        super::print_ports(stack, &inst);
        return Ok(0);
    }
    let stack = &crate::stack::for_dir(&inst.dir, Some(&ctx.home))?;
    let inst = crate::instance::Instance::read(ctx, stack, &inst.dir)?;
    super::up::start(
        ctx,
        stack,
        &inst,
        UpOptions {
            secrets: !a.no_secrets,
            ..Default::default()
        },
    )
}
