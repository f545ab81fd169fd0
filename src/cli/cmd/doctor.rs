use console::style;

use crate::context::Context;
use crate::prereq::{self, Check, Status};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit code 0 when every required tool is usable, 1 otherwise. \
The 1Password CLI is optional: without it the stack uses insecure default secrets."
)]
pub struct Args {
    /// Print one JSON object per check on stdout (a JSON array).
    #[arg(long)]
    pub json: bool,
}

/// Prints the audit, one line a check, to stderr (or JSON to stdout).
pub fn print_checks(checks: &[Check], json: bool) {
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(checks).unwrap_or_default()
        );
        return;
    }
    for c in checks {
        let mark = match c.status {
            Status::Ok => style("✓").green().bold(),
            Status::Warn => style("!").yellow().bold(),
            Status::Missing => style("✗").red().bold(),
        };
        let version = c.version.as_deref().unwrap_or("-");
        let path = c
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let what = match c.status {
            Status::Ok => "found",
            Status::Warn => "warning",
            Status::Missing => "missing",
        };
        eprintln!("  {mark} {:<15} {:<8} {:<10} {path}", c.name, what, version);
        if let Some(d) = &c.detail {
            eprintln!("      {d}");
        }
        if let Some(h) = &c.hint {
            eprintln!("      fix: {h}");
        }
    }
}

pub fn run(_ctx: &Context, a: Args) -> crate::Result<i32> {
    let checks = prereq::audit();
    print_checks(&checks, a.json);
    Ok(if prereq::all_required_ok(&checks) {
        0
    } else {
        1
    })
}
