use crate::stack::Stack;
use std::time::Duration;

use crate::instance::{self, Kind, UpOptions};
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Secrets come from 1Password (item ktrdr-sandbox-dev for sandboxes, \
ktrdr-local-prod for local-prod) and from the references of [sandbox.secrets] / \
[local_prod.secrets]; they reach only the compose process's environment. Resolved \
references are kept (mode 0600, under $KINFRA_HOME) and reused while unchanged: \
--refresh-secrets resolves them again.\n\n\
Exit codes: 1 compose failed, 2 startability gate failed, 3 port conflict."
)]
pub struct Args {
    /// A registered sandbox (default: the one containing the current directory).
    #[arg(value_name = "NAME", add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
    /// Do not wait for the startability gate.
    #[arg(long)]
    pub no_wait: bool,
    /// Build images before starting.
    #[arg(long)]
    pub build: bool,
    /// Seconds to wait for the startability gate, counted once compose has started
    /// the containers (compose's own wait for dependencies comes before).
    #[arg(long, default_value_t = crate::instance::gate::DEFAULT_TIMEOUT_SECS, value_name = "SECONDS")]
    pub timeout: u64,
    /// Skip the secret stores (1Password, OpenBao): the stack uses its insecure defaults.
    #[arg(long)]
    pub no_secrets: bool,
    /// Resolve the secrets given by reference again instead of reusing the values
    /// kept from an earlier start (`kinfra secrets status` shows what is kept).
    #[arg(long, conflicts_with = "no_secrets")]
    pub refresh_secrets: bool,
    /// Keep containers and volumes when the start fails (for debugging).
    #[arg(long)]
    pub keep_on_failure: bool,
    /// Over the machine budget (KINFRA_MAX_RUNNING, KINFRA_MEMORY_BUDGET): wait in
    /// line until there is room, instead of refusing.
    #[arg(long)]
    pub wait: bool,
    /// A stopped sandbox: start its data volumes as a copy of `local-prod`'s, a
    /// sandbox's or a snapshot's first (asks when it has data already; --yes).
    #[arg(long, value_name = "SOURCE")]
    pub data: Option<String>,
    /// With --data: replace the sandbox's data without asking.
    #[arg(long, short, requires = "data")]
    pub yes: bool,
    /// With --data from a running instance: copy its Postgres volumes from the
    /// running server with `pg_basebackup` instead of pausing it (docs/DATA.md).
    #[arg(long, requires = "data")]
    pub online: bool,
    /// A sandbox not placed yet and never started here: place it on that engine
    /// (`kinfra engine add`) first, its code mirrored there and its ports forwarded
    /// here; `auto`: the engine with the most memory room, this machine's included.
    /// A sandbox placed on another engine is refused.
    #[arg(long, value_name = "ENGINE")]
    pub on: Option<String>,
}

pub fn run(ctx: &Context, stack: &Stack, kind: Kind, a: Args) -> crate::cli::error::CliResult<i32> {
    let inst = instance::find(ctx, stack, kind, a.name.as_deref())?;
    if let Some(on) = &a.on {
        if kind != Kind::Sandbox || a.data.is_some() {
            return Err(crate::cli::error::CliError::OnNotHere);
        }
        crate::instance::placement::place_for_up(ctx, stack, inst.id(), on)?;
    }
    if let Some(spec) = &a.data {
        let (source, copied) = crate::data::seed(
            ctx,
            stack,
            &inst,
            spec,
            a.yes,
            crate::data::How { online: a.online },
        )?;
        ctx.reporter.success(&crate::data::describe(
            &copied,
            "Copied its data",
            &source.label(),
        ));
    }
    let opts = UpOptions {
        wait: !a.no_wait,
        build: a.build,
        timeout: Duration::from_secs(a.timeout),
        secrets: !a.no_secrets,
        refresh_secrets: a.refresh_secrets,
        keep_on_failure: a.keep_on_failure,
        wait_for_room: a.wait,
    };
    start(ctx, stack, &inst, opts)
}

/// Starts `inst` and says how it went (`up`, and `create --up`).
pub(crate) fn start(
    ctx: &Context,
    stack: &crate::stack::Stack,
    inst: &instance::Instance,
    mut opts: UpOptions,
) -> crate::cli::error::CliResult<i32> {
    crate::state::context::catch_interrupts();
    let inst = inst.clone();
    let report = match instance::up(ctx, stack, &inst, &opts) {
        // local-prod without its secrets: only with the person's say-so.
        Err(e @ crate::Error::SecretsRequired { .. }) if ctx.interactive => {
            ctx.reporter.warn(&e.to_string());
            if let Some(h) = crate::cli::hints::hint(&e) {
                ctx.reporter.info(&format!("hint: {h}"));
            }
            let go = super::confirm_data_loss(
                ctx,
                "Start local-prod on the stack's insecure default secrets anyway?",
                "",
            )?;
            if !go {
                return Ok(crate::support::error::ExitKind::Environment.code());
            }
            opts.secrets = false;
            instance::up(ctx, stack, &inst, &opts)?
        }
        r => r?,
    };
    if report.gate.is_some() {
        ctx.reporter
            .success(&format!("{} is up and ready", inst.id()));
    } else {
        ctx.reporter
            .success(&format!("{} started (gate not awaited)", inst.id()));
    }
    super::print_ports(stack, &report.instance);
    ensure_router(ctx, stack);
    Ok(0)
}

/// Starts the router when none runs (KINFRA_ROUTER=off or the description's
/// `[router] auto_start = false`: not); its failure is a warning, never `up`'s
/// (the instance answers on its own ports anyway).
fn ensure_router(ctx: &Context, stack: &crate::stack::Stack) {
    if !crate::router::auto_start(stack) {
        return;
    }
    match crate::router::start(ctx, crate::router::wanted_port()) {
        Ok(s) if s.started => ctx
            .reporter
            .info(&format!("router started (pid {}): {}", s.pid, s.url)),
        Ok(_) => {}
        Err(e) => ctx.reporter.warn(&format!(
            "the router did not start ({e}); `kinfra router start` says more, KINFRA_ROUTER=off (or `[router] auto_start = false` in kinfra.toml) stops trying"
        )),
    }
}
