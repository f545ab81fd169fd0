use crate::stack::Stack;
use crate::state::context::Context;
use crate::tools::prereq::{self, Check};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Checks the tools, then kinfra's own state (registry, stale entries, orphaned \
projects, local-prod's ports, the install directory on PATH). Results go to stdout, closed by \
a verdict line. Exit code 0 when every \
required tool is usable, 7 otherwise (as for every command that finds Docker or a tool \
missing), 6 when the registry does not parse (first), 2 when the stack's description (kinfra.toml) \
does not (it is then one of the findings). The 1Password CLI is optional: without it the \
stack uses insecure default secrets."
)]
pub struct Args {
    /// Print one JSON object per check on stdout (a JSON array).
    #[arg(long)]
    pub json: bool,
}

/// Prints the audit, one line a check (or JSON), to stdout.
pub fn print_checks(checks: &[Check], json: bool) {
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(checks).unwrap_or_default()
        );
        return;
    }
    for (mark, l) in prereq::render(checks) {
        crate::outln!("{}", crate::cli::ui::checklist_line(mark, &l));
    }
}

/// The human rendering of `doctor` (stdout lines): a line a check, closed by the
/// verdict.
pub(crate) fn render(checks: &[Check]) -> Vec<String> {
    let mut out: Vec<String> = prereq::render(checks)
        .into_iter()
        .map(|(mark, l)| crate::cli::ui::checklist_line(mark, &l))
        .collect();
    out.push(prereq::verdict(checks));
    out
}

/// `stack` is the description as it loaded, or why it did not: one of the findings.
pub fn run(
    ctx: &Context,
    stack: std::result::Result<&Stack, &crate::Error>,
    a: Args,
) -> crate::cli::error::CliResult<i32> {
    let mut checks = prereq::audit(&ctx.home);
    let docker_ok = checks
        .iter()
        .any(|c| c.name == "docker engine" && c.status == prereq::Status::Ok);
    let own = crate::setup::checkup::own_state(
        ctx,
        stack,
        docker_ok,
        crate::cli::hints::hint,
        crate::cli::hints::doctor_fix,
    );
    let description_ok = stack.is_ok();
    let registry_ok = own
        .iter()
        .all(|c| !c.required || c.status == prereq::Status::Ok);
    let tools_ok = prereq::all_required_ok(&checks);
    checks.extend(own);
    if a.json {
        print_checks(&checks, true);
    } else {
        for line in render(&checks) {
            crate::outln!("{line}");
        }
    }
    // A registry that does not parse needs repair by hand before anything else.
    Ok(match (tools_ok, registry_ok, description_ok) {
        (_, false, _) => crate::support::error::ExitKind::CorruptState.code(),
        (false, true, _) => crate::support::error::ExitKind::Environment.code(),
        // The description's own code: a usage error (2), as every command says it.
        (true, true, false) => crate::support::error::ExitKind::Invalid.code(),
        (true, true, true) => 0,
    })
}
