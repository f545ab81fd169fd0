use crate::stack::Stack;
use std::time::Duration;

use crate::instance;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Runs the startability gate (the checks `up` waits for) on an instance \
that is already starting or running; starts nothing.

Exit codes: 0 ready, 2 not ready within the timeout (the failing checks and their \
services' log lines are shown), 4 no instance here."
)]
pub struct Args {
    /// A registered sandbox (default: the instance containing the current directory).
    #[arg(long, value_name = "NAME", add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
    /// Seconds to wait.
    #[arg(long, default_value_t = crate::instance::gate::DEFAULT_TIMEOUT_SECS, value_name = "SECONDS")]
    pub timeout: u64,
    /// Print the gate report as JSON on stdout (when it passes).
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let inst = instance::here_or_named(ctx, stack, a.name.as_deref())?;
    ctx.reporter.step(&format!(
        "Waiting for {} to be ready (up to {} s)",
        inst.id(),
        a.timeout
    ));
    let report = instance::wait(ctx, stack, &inst, Duration::from_secs(a.timeout))?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    }
    ctx.reporter.success(&format!("{} is ready", inst.id()));
    Ok(0)
}
