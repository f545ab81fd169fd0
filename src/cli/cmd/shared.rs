use crate::instance::shared;
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Subcommand)]
pub enum SharedCmd {
    /// Start the repository's shared services (all, or those named) that are not
    /// running: one stack for every instance.
    Up(NamesArgs),
    /// Stop them (their volumes stay). Instances keep running without them.
    Down(NamesArgs),
    /// Show each shared service and whether it runs.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct NamesArgs {
    /// Shared services by name (default: every one the description declares).
    pub names: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, stack: &Stack, c: SharedCmd) -> crate::cli::error::CliResult<i32> {
    let top = crate::tools::git::toplevel(&ctx.cwd)?;
    match c {
        SharedCmd::Up(a) => {
            let started = shared::services::up(ctx, stack, &top, &a.names)?;
            if started.is_empty() {
                ctx.reporter.info(if stack.shared.is_empty() {
                    "this stack declares no shared services"
                } else {
                    "already running: nothing to start"
                });
            } else {
                ctx.reporter
                    .success(&format!("started {}", started.join(", ")));
            }
            Ok(0)
        }
        SharedCmd::Down(a) => {
            let stopped = shared::services::down(ctx, stack, &top, &a.names)?;
            if stopped.is_empty() {
                ctx.reporter.info("nothing to stop");
            } else {
                ctx.reporter
                    .success(&format!("stopped {}", stopped.join(", ")));
            }
            Ok(0)
        }
        SharedCmd::Status(a) => {
            let states = shared::services::status(stack)?;
            if a.json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&states).unwrap_or_default()
                );
            } else if states.is_empty() {
                crate::outln!("this stack declares no shared services");
            } else {
                for s in &states {
                    crate::outln!("{:<20} {:<24} {}", s.name, s.project, s.label());
                }
            }
            Ok(0)
        }
    }
}
