use crate::instance::{self, CreateOptions};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The worktree goes to <parent of the repository>/<project>--<name> (ktrdr--<name> \
for KTRDR). An existing branch is checked out; otherwise a new one is created from HEAD (or --base). \
Host ports: from the stack's [[ports]] table, or (a project without one, or with no kinfra.toml at \
all) chosen per published port and kept in .env.sandbox. If any step fails, the steps already done \
are undone.\n\nExamples:\n  kinfra sandbox create login-fix --branch fix/login\n  \
kinfra sandbox create a && kinfra sandbox create b    two of any compose project, side by side"
)]
pub struct Args {
    /// Name of the sandbox (made into a slug: lowercase letters, digits, dashes).
    pub name: String,
    /// Branch to check out or create (default: the slug of NAME).
    #[arg(long, short)]
    pub branch: Option<String>,
    /// Commit or ref a new branch starts from (default: HEAD).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Slot to use (1-10; default: the lowest free one).
    #[arg(long, allow_hyphen_values = true, add = crate::cli::complete::free_slots())]
    pub slot: Option<String>,
    /// Start it at once (as `kinfra sandbox up` inside it).
    #[arg(long)]
    pub up: bool,
    /// Start its data volumes as a copy of another's: `local-prod`, a sandbox, or a
    /// snapshot (`kinfra snapshot list`). The source is never modified.
    #[arg(long, value_name = "SOURCE")]
    pub data: Option<String>,
    /// With --data from a running instance: copy its Postgres volumes from the
    /// running server with `pg_basebackup` instead of pausing it (docs/DATA.md).
    #[arg(long, requires = "data")]
    pub online: bool,
    /// Place it on a Docker engine on another machine (`kinfra engine add`): its
    /// code is mirrored there, its ports forwarded to this machine's 127.0.0.1.
    /// `auto`: the engine with the most memory room, this machine's included.
    #[arg(long, value_name = "ENGINE")]
    pub on: Option<String>,
    /// With --up: skip 1Password (the stack's insecure defaults).
    #[arg(long, requires = "up")]
    pub no_secrets: bool,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    // The slot and the source are checked before anything is made.
    let slot = super::slot_arg(stack, a.slot.as_deref())?;
    let source = match &a.data {
        Some(d) => Some(crate::data::resolve_source(ctx, stack, d, true)?),
        None => None,
    };
    // With --data the sandbox goes where the data is (`--on auto` follows it; any
    // other engine is refused, before anything is made).
    let on = match &source {
        Some(src) => crate::data::placement_for(ctx, stack, src, a.on.as_deref())?,
        None => crate::instance::placement::resolve_on(ctx, stack, a.on.as_deref())?,
    };
    let opts = CreateOptions {
        name: a.name,
        branch: a.branch,
        base: a.base,
        slot,
        on,
        ..Default::default()
    };
    let inst = match &source {
        Some(src) => {
            let (inst, copied) = crate::data::create(
                ctx,
                stack,
                &opts,
                src,
                crate::data::How { online: a.online },
            )?;
            ctx.reporter
                .success(&format!("Created sandbox {}", inst.id()));
            ctx.reporter.success(&crate::data::describe(
                &copied,
                "Copied its data",
                &src.label(),
            ));
            inst
        }
        None => {
            let inst = instance::create(ctx, stack, &opts)?;
            ctx.reporter
                .success(&format!("Created sandbox {}", inst.id()));
            inst
        }
    };
    ctx.reporter.info(&format!("described by {}", stack.origin));
    if a.up {
        // The new worktree's own description (its branch may carry another one).
        let stack = &crate::stack::for_dir(&inst.dir, Some(&ctx.home))?;
        let inst = instance::Instance::read(ctx, stack, &inst.dir)?;
        return super::up::start(
            ctx,
            stack,
            &inst,
            instance::UpOptions {
                secrets: !a.no_secrets,
                ..Default::default()
            },
        );
    }
    super::print_ports(stack, &inst);
    ctx.reporter.info(&format!(
        "next: cd {} && kinfra sandbox up",
        inst.dir.display()
    ));
    Ok(0)
}
