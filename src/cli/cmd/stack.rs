use crate::stack::Stack;
use crate::stack::check::{self as stack_check, Severity};
use crate::state::context::Context;

#[derive(Debug, clap::Subcommand)]
pub enum StackCmd {
    /// Check the compose file against the stack's description: fixed host ports,
    /// container_name, variables nothing sets, secrets never read, missing external
    /// networks and volumes. Exit 2 when an instance could not start side by side.
    Check(CheckArgs),
    /// Write a commented kinfra.toml for this repository from its compose file.
    Init(InitArgs),
    /// Allow the commands this description runs on the machine (prepare commands,
    /// host services) for this clone; asked again whenever they change.
    Allow(AllowArgs),
}

#[derive(Debug, clap::Args)]
pub struct AllowArgs {
    /// Only show the commands and whether they are allowed.
    #[arg(long)]
    pub show: bool,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Print the findings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Create missing external networks and volumes without asking.
    #[arg(long)]
    pub create: bool,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The compose file (default: the first of compose.yaml, compose.yml,
    /// docker-compose.yaml, docker-compose.yml that exists).
    #[arg(long, value_name = "FILE")]
    pub compose_file: Option<String>,
    /// The project's name (default: the repository directory's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Print the description on stdout instead of writing kinfra.toml.
    #[arg(long)]
    pub stdout: bool,
}

pub fn run(ctx: &Context, stack: &Stack, c: StackCmd) -> crate::cli::error::CliResult<i32> {
    let top = crate::tools::git::toplevel(&ctx.cwd)?;
    match c {
        StackCmd::Check(a) => check(ctx, stack, &top, a),
        StackCmd::Init(a) => init(ctx, &top, a),
        StackCmd::Allow(a) => allow(ctx, stack, &top, a),
    }
}

fn allow(
    ctx: &Context,
    stack: &Stack,
    top: &std::path::Path,
    a: AllowArgs,
) -> crate::cli::error::CliResult<i32> {
    use crate::instance::host::allow;
    let clone = crate::tools::git::read_main_clone(top);
    let text = allow::commands_text(stack);
    if text.is_empty() {
        crate::outln!("{} runs no commands on this machine", stack.origin);
        return Ok(0);
    }
    crate::outln!(
        "{} runs on this machine:\n{}",
        stack.origin,
        text.trim_end()
    );
    let allowed = allow::is_allowed(&ctx.home, &clone, stack);
    if a.show {
        crate::outln!("{}", if allowed { "allowed" } else { "not allowed" });
        return Ok(0);
    }
    if !allowed {
        allow::allow(&ctx.home, &clone, stack)?;
    }
    ctx.reporter
        .success(&format!("allowed for {}", clone.display()));
    Ok(0)
}

fn check(
    ctx: &Context,
    stack: &Stack,
    top: &std::path::Path,
    a: CheckArgs,
) -> crate::cli::error::CliResult<i32> {
    let mut findings = stack_check::check_repo(stack, top)?;
    if let Ok(compose) = crate::tools::compose::Compose::detect(&ctx.home) {
        findings.extend(stack_check::gate_ports(stack, top, &compose));
    }
    // Offer to create what is missing (asked at a terminal, or --create).
    let mut created = Vec::new();
    for f in &findings {
        if let Some((kind, name)) = &f.create {
            let go = a.create
                || (ctx.interactive
                    && ctx
                        .prompter
                        .confirm(&format!("Create the external {kind} {name} now?"), true)?);
            if go {
                crate::tools::docker::create_object(kind, name)?;
                ctx.reporter.success(&format!("created {kind} {name}"));
                created.push(name.clone());
            }
        }
    }
    findings.retain(|f| !f.create.as_ref().is_some_and(|(_, n)| created.contains(n)));
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if a.json {
        let list: Vec<serde_json::Value> = findings
            .iter()
            .map(|f| {
                serde_json::json!({
                    "severity": if f.severity == Severity::Error { "error" } else { "warning" },
                    "message": f.message,
                })
            })
            .collect();
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
    } else {
        for line in render_check(stack, &findings) {
            crate::outln!("{line}");
        }
    }
    Ok(if errors > 0 {
        crate::support::error::ExitKind::Invalid.code()
    } else {
        0
    })
}

/// The human rendering of `stack check` (stdout lines): the description, what is
/// shared on purpose, one line a finding, and the tally.
pub(crate) fn render_check(stack: &Stack, findings: &[stack_check::Finding]) -> Vec<String> {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let mut out = vec![format!("description: {}", stack.origin)];
    for (what, names) in [
        ("networks", &stack.shared_networks),
        ("volumes", &stack.shared_volumes),
    ] {
        if !names.is_empty() {
            out.push(format!(
                "shared by every instance on purpose: {what} {}",
                names.join(", ")
            ));
        }
    }
    for f in findings {
        let mark = if f.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        out.push(format!("{mark}: {}", f.message));
    }
    out.push(format!(
        "{}: {} error(s), {} warning(s)",
        stack.compose_file,
        errors,
        findings.len() - errors
    ));
    out
}

fn init(ctx: &Context, top: &std::path::Path, a: InitArgs) -> crate::cli::error::CliResult<i32> {
    let compose_file = match a.compose_file {
        Some(f) => f,
        None => crate::tools::compose::FILE_NAMES
            .iter()
            .find(|c| top.join(c).is_file())
            .map(|c| c.to_string())
            .ok_or_else(|| crate::cli::error::CliError::NoComposeFileToDescribe {
                top: top.to_path_buf(),
                names: crate::tools::compose::FILE_NAMES.to_vec(),
            })?,
    };
    let path = top.join(&compose_file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| crate::Error::io("could not read the compose file", &path, e))?;
    let name = a.name.unwrap_or_else(|| {
        top.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".into())
    });
    let draft = stack_check::draft(&name, &compose_file, &stack_check::read(&text));
    if a.stdout {
        crate::outln!("{}", draft.trim_end());
        return Ok(0);
    }
    let dest = top.join(crate::stack::FILE_NAME);
    if dest.exists() {
        return Err(crate::cli::error::CliError::DescriptionExists { path: dest });
    }
    crate::support::fsutil::write_atomic(&dest, draft.as_bytes(), Some(0o644))
        .map_err(|e| crate::Error::io("could not write", &dest, e))?;
    ctx.reporter.success(&format!(
        "wrote {}: review it, then `kinfra stack check`",
        dest.display()
    ));
    Ok(0)
}
