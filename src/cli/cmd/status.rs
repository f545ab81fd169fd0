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

pub fn run(ctx: &Context, stack: &Stack, kind: Kind, a: Args) -> crate::cli::error::CliResult<i32> {
    let inst = instance::find(ctx, stack, kind, a.name.as_deref())?;
    let report = instance::report(ctx, stack, &inst)?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(0);
    }
    for line in render(&report, &inst.links(stack)) {
        crate::outln!("{line}");
    }
    Ok(0)
}

/// The human rendering of `status` (stdout lines): the report and the instance's
/// links, nothing read here, so a snapshot test pins it on fixed values.
pub(crate) fn render(report: &instance::StatusReport, links: &[(String, String)]) -> Vec<String> {
    let (s, shared, host) = (
        &report.status,
        &report.shared_services,
        &report.host_services,
    );
    let mut out = vec![format!(
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
    )];
    for dir in &s.foreign {
        out.push(format!(
            "  note: {} also has containers from {dir} (not this instance's)",
            s.instance_id
        ));
    }
    for what in &s.shared {
        out.push(format!("  shared: {what}"));
    }
    if !s.registered {
        out.push("  note: not in the registry (run init again or check $KINFRA_HOME)".into());
    }
    out.extend(super::port_lines(&s.instance_id, s.slot, &s.path, links));
    if !s.services.is_empty() {
        out.push("  services:".into());
        for svc in &s.services {
            let health = svc
                .health
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            out.push(format!("    {:<20} {}{health}", svc.service, svc.state));
        }
    }
    if !shared.is_empty() {
        out.push("  shared services (one for every instance):".into());
        for st in shared {
            out.push(format!("    {:<20} {}", st.name, st.label()));
        }
    }
    if !host.is_empty() {
        out.push("  host services:".into());
        for h in host {
            out.push(format!(
                "    {:<20} port {:<6} {}",
                h.name,
                h.port,
                h.label()
            ));
        }
    }
    out
}
