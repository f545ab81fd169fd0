use crate::instance;
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let listing = instance::list(ctx, stack)?;
    if let Some(e) = &listing.docker_error {
        ctx.reporter.warn(&format!(
            "Docker could not be asked ({e}); states are unknown"
        ));
    }
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&listing).unwrap_or_default()
        );
        return Ok(0);
    }
    for line in render(&listing) {
        crate::outln!("{line}");
    }
    Ok(0)
}

/// The human rendering of `list` (stdout lines): one table, or one per project.
pub(crate) fn render(listing: &instance::Listing) -> Vec<String> {
    let rows = &listing.instances;
    if rows.is_empty() {
        return vec![
            "No instances registered. Create one with `kinfra sandbox create NAME`.".into(),
        ];
    }
    // Columns as wide as the longest name and state (at least the headers').
    let id_w = rows
        .iter()
        .map(|r| r.instance_id.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let shown = |r: &instance::ListRow| {
        let state = match &r.engine {
            Some(e) => format!("{} @{e}", r.state),
            None => r.state.clone(),
        };
        if r.foreign.is_empty() {
            state
        } else {
            format!("{state} +foreign")
        }
    };
    let state_w = rows
        .iter()
        .map(|r| shown(r).len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = Vec::new();
    let header = |out: &mut Vec<String>| {
        out.push(format!(
            "{:<4} {:<id_w$} {:<state_w$} {:<6} {:<5} {:<9} PATH",
            "SLOT", "INSTANCE", "STATE", "PORT", "AGE", "MEMORY"
        ));
    };
    // One table, or one per project when instances of several are registered.
    let several = rows.iter().any(|r| r.project != rows[0].project);
    if !several {
        header(&mut out);
    }
    let mut current: Option<String> = None;
    for r in rows {
        if several && current.as_ref() != Some(&r.project) {
            if current.is_some() {
                out.push(String::new());
            }
            out.push(console::style(&r.project).bold().to_string());
            header(&mut out);
            current = Some(r.project.clone());
        }
        let state = shown(r);
        out.push(format!(
            "{:<4} {:<id_w$} {:<state_w$} {:<6} {:<5} {:<9} {}",
            r.slot,
            r.instance_id,
            state,
            r.api_port.map(|p| p.to_string()).unwrap_or_default(),
            r.age,
            r.memory
                .map(crate::support::units::human_bytes)
                .unwrap_or_else(|| "-".into()),
            r.path
        ));
        for dir in &r.foreign {
            out.push(format!("     {}: containers from {dir}", r.instance_id));
        }
    }
    out
}
