//! `kinfra router start|stop|status|run`: the front door (docs/ROUTER.md).

use crate::router;
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Subcommand)]
pub enum RouterCmd {
    /// Start the router in the background unless one runs for this kinfra home
    /// (then say where it listens). `sandbox up` and `local-prod up` start it too
    /// (KINFRA_ROUTER=off, or `[router] auto_start = false` in the project's
    /// kinfra.toml: they do not).
    #[command(after_help = "Examples:
  kinfra router start                    on 127.0.0.1:7355 (KINFRA_ROUTER_PORT)
  curl http://web.shop-a.localhost:7355/ the service `web` of the instance shop-a

Exit codes: 0 started or running already, 3 the port is held (its holder named).")]
    Start(PortArgs),
    /// Stop the router `start` started (only the process kinfra recorded).
    Stop(JsonArgs),
    /// Whether a router runs for this kinfra home, its pid and port.
    Status(JsonArgs),
    /// Run the router in the foreground until Ctrl-C.
    Run(PortArgs),
}

#[derive(Debug, clap::Args)]
pub struct PortArgs {
    /// The port on 127.0.0.1 (default: KINFRA_ROUTER_PORT, else 7355).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1024..))]
    pub port: Option<u16>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct JsonArgs {
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn json(v: &impl serde::Serialize) {
    crate::outln!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `stack`: the one `sandbox list --json` would use here (the page's
/// `/api/instances` is that document); a description that does not load leaves
/// the built-in one.
pub fn run(
    ctx: &Context,
    stack: crate::Result<Stack>,
    c: RouterCmd,
) -> crate::cli::error::CliResult<i32> {
    match c {
        RouterCmd::Start(a) => {
            let s = router::start(ctx, a.port.unwrap_or_else(router::wanted_port))?;
            if a.json {
                json(&s);
            } else if s.started {
                crate::outln!("router started (pid {}): {}", s.pid, s.url);
            } else {
                crate::outln!("router already running (pid {}): {}", s.pid, s.url);
            }
        }
        RouterCmd::Stop(a) => {
            let s = router::stop(ctx)?;
            if a.json {
                json(&s);
            } else {
                match (s.stopped, s.foreground) {
                    (Some(pid), _) => crate::outln!("router stopped (pid {pid})"),
                    (None, Some(pid)) => crate::outln!(
                        "the router running (pid {pid}) was started by `kinfra router run`: stop it there (Ctrl-C)"
                    ),
                    (None, None) => crate::outln!("no router is running"),
                }
            }
        }
        RouterCmd::Status(a) => {
            let s = router::status(ctx);
            if a.json {
                json(&s);
            } else {
                match (s.pid, &s.url) {
                    (Some(pid), Some(url)) => crate::outln!("router running (pid {pid}): {url}"),
                    _ => {
                        crate::outln!(
                            "no router is running (start one with `kinfra router start`)"
                        );
                    }
                }
                if let Some(why) = &s.record {
                    ctx.reporter.warn(&format!("its record: {why}"));
                }
            }
        }
        RouterCmd::Run(a) => {
            let stack = stack.unwrap_or_else(|_| crate::stack::KTRDR.clone());
            router::run(ctx, stack, a.port.unwrap_or_else(router::wanted_port))?;
        }
    }
    Ok(0)
}
