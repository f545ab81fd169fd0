use console::style;

use crate::context::Context;
use crate::prereq::{self, Check, Status};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Results go to stdout, closed by a verdict line. Exit code 0 when every \
required tool is usable, 7 otherwise (as for every command that finds Docker or a tool \
missing). The 1Password CLI is optional: without it the stack uses insecure default secrets."
)]
pub struct Args {
    /// Print one JSON object per check on stdout (a JSON array).
    #[arg(long)]
    pub json: bool,
}

/// Prints the audit, one line a check (or JSON), to stdout (`doctor`: results) or
/// stderr (setup: progress of a longer run).
pub fn print_checks(checks: &[Check], json: bool, to_stdout: bool) {
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(checks).unwrap_or_default()
        );
        return;
    }
    // Wide enough for the longest version ("20.10.24+dfsg1").
    let version_width = checks
        .iter()
        .filter_map(|c| c.version.as_deref().map(str::len))
        .max()
        .unwrap_or(1)
        .max(10);
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
        let mut lines = vec![format!(
            "  {mark} {:<15} {:<8} {:<width$} {path}",
            c.name,
            what,
            version,
            width = version_width
        )];
        lines.extend(c.detail.iter().map(|d| format!("      {d}")));
        lines.extend(c.hint.iter().map(|h| format!("      fix: {h}")));
        for l in lines {
            if to_stdout {
                crate::outln!("{l}");
            } else {
                eprintln!("{l}");
            }
        }
    }
}

/// "ready", or how many problems (required checks failing) and warnings.
pub fn verdict(checks: &[Check]) -> String {
    let problems = checks
        .iter()
        .filter(|c| c.required && c.status != Status::Ok)
        .count();
    let warnings = checks.iter().filter(|c| c.status == Status::Warn).count();
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (problems, warnings) {
        (0, 0) => "ready".into(),
        (0, w) => format!("ready ({})", plural(w, "warning")),
        (p, 0) => plural(p, "problem"),
        (p, w) => format!("{}, {}", plural(p, "problem"), plural(w, "warning")),
    }
}

pub fn run(_ctx: &Context, a: Args) -> crate::Result<i32> {
    let checks = prereq::audit();
    print_checks(&checks, a.json, true);
    if !a.json {
        crate::outln!("{}", verdict(&checks));
    }
    Ok(if prereq::all_required_ok(&checks) {
        0
    } else {
        crate::error::exit::ENVIRONMENT
    })
}
