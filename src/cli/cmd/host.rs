use crate::stack::Stack;
use std::time::Duration;

use crate::instance::{self, Kind, host};
use crate::state::context::Context;

#[derive(Debug, clap::Subcommand)]
pub enum HostCmd {
    /// Start local-prod's host services (all, or those named) that are not running,
    /// and wait until each answers.
    Start(StartArgs),
    /// Stop the host services kinfra started (SIGTERM to each process group).
    Stop(NamesArgs),
    /// Show each host service: pid, whether it answers, its log file.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct NamesArgs {
    /// Host services by name (default: every one the description declares).
    pub names: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub names: NamesArgs,
    /// Seconds to wait for each to answer.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Do not read 1Password.
    #[arg(long)]
    pub no_secrets: bool,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, stack: &Stack, c: HostCmd) -> crate::cli::error::CliResult<i32> {
    let inst = instance::find(ctx, stack, Kind::LocalProd, None)?;
    if stack.host.is_empty() && !matches!(c, HostCmd::Status(_)) {
        ctx.reporter
            .info(&format!("{} declares no host services", stack.origin));
        return Ok(0);
    }
    match c {
        HostCmd::Start(a) => {
            let started = host::services::start(
                ctx,
                stack,
                &inst,
                &a.names.names,
                !a.no_secrets,
                Duration::from_secs(a.timeout),
            )?;
            if !started.is_empty() {
                ctx.reporter
                    .success(&format!("started {}", started.join(", ")));
            }
            Ok(0)
        }
        HostCmd::Stop(a) => {
            let stopped = host::services::stop(ctx, stack, &inst, &a.names)?;
            if stopped.is_empty() {
                ctx.reporter.info("none was running");
            } else {
                ctx.reporter
                    .success(&format!("stopped {}", stopped.join(", ")));
            }
            Ok(0)
        }
        HostCmd::Status(a) => {
            let states = host::services::status(ctx, stack, &inst);
            if a.json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&states).unwrap_or_default()
                );
            } else if states.is_empty() {
                crate::outln!("{} declares no host services", stack.origin);
            } else {
                for s in &states {
                    crate::outln!(
                        "{:<20} port {:<6} {:<40} {}",
                        s.name,
                        s.port,
                        s.label(),
                        s.log.display()
                    );
                }
            }
            Ok(0)
        }
    }
}
