use crate::instance::{self, Kind};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A registered sandbox (default: the one containing the current directory).
    #[arg(value_name = "NAME", add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, stack: &Stack, kind: Kind, a: Args) -> crate::Result<i32> {
    let inst = instance::find(ctx, stack, kind, a.name.as_deref())?;
    let report = instance::report(ctx, stack, &inst)?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(0);
    }
    let (s, shared, host) = (
        &report.status,
        &report.shared_services,
        &report.host_services,
    );
    crate::outln!(
        "{} ({}, slot {}{}): {}",
        s.instance_id,
        s.kind,
        s.slot,
        report
            .engine
            .as_deref()
            .map(|e| format!(", on engine {e}"))
            .unwrap_or_default(),
        s.state
    );
    for dir in &s.foreign {
        crate::outln!(
            "  note: {} also has containers from {dir} (not this instance's)",
            s.instance_id
        );
    }
    for what in &s.shared {
        crate::outln!("  shared: {what}");
    }
    if !s.registered {
        crate::outln!("  note: not in the registry (run init again or check $KINFRA_HOME)");
    }
    super::print_ports(stack, &inst);
    if !s.services.is_empty() {
        crate::outln!("  services:");
        for svc in &s.services {
            let health = svc
                .health
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            crate::outln!("    {:<20} {}{health}", svc.service, svc.state);
        }
    }
    if !shared.is_empty() {
        crate::outln!("  shared services (one for every instance):");
        for st in shared {
            crate::outln!("    {:<20} {}", st.name, st.label());
        }
    }
    if !host.is_empty() {
        crate::outln!("  host services:");
        for h in host {
            crate::outln!("    {:<20} port {:<6} {}", h.name, h.port, h.label());
        }
    }
    Ok(0)
}
