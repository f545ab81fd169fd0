//! `kinfra checkout NAME|--none`: the project's own ports on one instance
//! (docs/ROUTER.md).

use crate::router;
use crate::router::checkout::Checkout;
use crate::router::error::RouterError;
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  kinfra checkout a          localhost:3000, :5432 … (the compose file's ports) reach sandbox a
  kinfra checkout local-prod the same ports reach local-prod
  kinfra checkout            which instance holds them
  kinfra checkout --none     release them

The router serves the ports on 127.0.0.1 and forwards plain TCP (HTTP, Postgres,
Redis …); switching moves new connections at once, open ones finish. A port held by
something else (your own `docker compose up`) refuses the switch, naming it; nothing
changes then.

Exit codes: 0 ok, 2 never started (ports unknown), 3 a port is held, 4 no such instance.")]
pub struct Args {
    /// A registered sandbox, or `local-prod`.
    #[arg(value_name = "NAME", add = crate::cli::complete::sandboxes(), conflicts_with = "none")]
    pub name: Option<String>,
    /// Release the ports.
    #[arg(long)]
    pub none: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    ctx: &Context,
    stack: crate::Result<Stack>,
    a: Args,
) -> crate::cli::error::CliResult<i32> {
    if a.name.is_none() && !a.none {
        let now = if router::status(ctx).running {
            let (_, body) = router::client::call(ctx, "GET", "/api/checkout", None)?;
            serde_json::from_str(&body).unwrap_or_default()
        } else {
            Checkout::default()
        };
        show(&now, a.json);
        return Ok(0);
    }
    let id = match &a.name {
        None => None,
        Some(n) if n == "local-prod" => Some(n.clone()),
        // A sandbox's name as `up NAME` takes it; else the registry's id itself.
        Some(n) => Some(
            stack
                .ok()
                .and_then(|st| {
                    crate::instance::find(ctx, &st, crate::instance::Kind::Sandbox, Some(n)).ok()
                })
                .map_or_else(|| n.clone(), |i| i.id().to_string()),
        ),
    };
    router::start(ctx, router::wanted_port())?;
    let body = serde_json::json!({ "instance": id }).to_string();
    let (status, answer) = router::client::call(ctx, "POST", "/api/checkout", Some(&body))?;
    if status != 200 {
        let why = serde_json::from_str::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or(answer);
        return Err(match status {
            409 => RouterError::CheckoutHeld { detail: why }.into(),
            404 => crate::Error::NoSuchInstance {
                name: a.name.unwrap_or_default(),
            }
            .into(),
            status => RouterError::RouterRefused { status, why }.into(),
        });
    }
    let now: Checkout = serde_json::from_str(&answer).unwrap_or_default();
    show(&now, a.json);
    Ok(0)
}

fn show(now: &Checkout, json: bool) {
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(now).unwrap_or_default());
        return;
    }
    match &now.instance {
        None => crate::outln!("no instance is checked out (`kinfra checkout NAME`)"),
        Some(i) => {
            crate::outln!("{i} is checked out:");
            for f in &now.ports {
                crate::outln!("  localhost:{:<6} -> its port {} ({})", f.port, f.to, f.key);
            }
        }
    }
}
