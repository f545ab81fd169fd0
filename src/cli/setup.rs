//! The `kinfra-setup` command line: its arguments, the terminal it talks to, and the
//! closing summary. The steps themselves are library calls in [`crate::setup`].

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use console::style;

use super::ui::{self, ColorChoice, TermReporter};
use crate::setup::{self, DEFAULT_REPO, Options, Outcome, Report, SharedChoice, Started};
use crate::stack::KTRDR;
use crate::state::context::Context;
use crate::support::prompt::{NoPrompter, Prompter};

/// Sets up local-prod on this machine (KTRDR's by default, or any repository with
/// --repo-url): checks prerequisites, explains (and can create) the 1Password item,
/// clones the repository, runs `uv sync`, initializes local-prod, seeds shared data
/// and offers to start it.
#[derive(Debug, Parser)]
#[command(name = "kinfra-setup", version, max_term_width = 100)]
#[command(after_help = "Examples:
  kinfra-setup                                  interactive: questions, a plan, then the work
  kinfra-setup 2>&1 | tee setup.log             the same, with a log
  kinfra-setup --check-only                     audit prerequisites only (exit 7 if one is missing)
  kinfra-setup --check-only --json              the same, as JSON on stdout
  kinfra-setup --non-interactive --path=~/dev/ktrdr-prod --shared-minimal --start
  kinfra-setup --non-interactive --demo --path=/tmp/ktrdr-demo --shared-minimal --start
  kinfra-setup --repo-url https://github.com/acme/shop.git --path=~/dev/shop-prod --start
                                                any compose project: its kinfra.toml, or
                                                its compose file alone, read after the clone

Re-running is safe: an existing clone of the same repository at --path is resumed, and
the questions default to the registered local-prod.
Without a terminal on stdin, setup runs non-interactively (and says so).
Exit codes: 0 done, 1 a step failed or cancelled, 2 invalid input (for example a missing
flag in non-interactive mode), 7 Docker unreachable or a required tool missing.")]
pub struct Args {
    /// Only check prerequisites (and explain 1Password), then exit.
    #[arg(long)]
    pub check_only: bool,
    /// With --check-only: print one JSON object per check on stdout.
    #[arg(long, requires = "check_only")]
    pub json: bool,
    /// Never prompt; every choice comes from a flag or a safe default.
    #[arg(long)]
    pub non_interactive: bool,
    /// Where to clone local-prod (interactive default: ~/Documents/dev/ktrdr-prod, or
    /// the registered local-prod on a rerun).
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// Repository to clone (https or a local path). KTRDR's by default; another one
    /// describes its stack itself (kinfra.toml, or its compose file), read after the
    /// clone.
    #[arg(long, value_name = "URL", default_value = DEFAULT_REPO)]
    pub repo_url: String,
    /// Branch to check out (default: the repository's default branch).
    #[arg(long)]
    pub branch: Option<String>,
    /// Use the embedded demo stack as the repository (a local git repository), offline.
    #[arg(long)]
    pub demo: bool,
    /// Copy shared data from an existing checkout.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["shared_minimal", "skip_shared"])]
    pub shared_from: Option<PathBuf>,
    /// Create the empty shared data structure.
    #[arg(long, conflicts_with = "skip_shared")]
    pub shared_minimal: bool,
    /// Leave shared data alone.
    #[arg(long)]
    pub skip_shared: bool,
    /// Start local-prod at the end (non-interactive mode).
    #[arg(long)]
    pub start: bool,
    /// Create the 1Password item if it is missing (non-interactive mode).
    #[arg(long)]
    pub create_item: bool,
    /// Start without 1Password secrets (insecure defaults).
    #[arg(long)]
    pub no_secrets: bool,
    /// When to use colours (NO_COLOR and CLICOLOR are honoured under auto).
    #[arg(long, value_enum, default_value_t)]
    pub color: ColorChoice,
}

impl Args {
    fn options(&self) -> Options {
        let shared = match (&self.shared_from, self.shared_minimal, self.skip_shared) {
            (Some(p), _, _) => SharedChoice::From(p.clone()),
            (None, true, _) => SharedChoice::Minimal,
            (None, false, true) => SharedChoice::Skip,
            (None, false, false) => SharedChoice::Ask,
        };
        Options {
            path: self.path.clone(),
            repo_url: self.repo_url.clone(),
            branch: self.branch.clone(),
            demo: self.demo,
            shared,
            start: self.start,
            create_item: self.create_item,
            no_secrets: self.no_secrets,
        }
    }
}

pub fn main() -> i32 {
    let args = match super::parse::<Args>() {
        Ok(a) => a,
        Err(code) => return code,
    };
    ui::configure_colors(args.color);
    // Interactive follows stdin alone: `kinfra-setup 2>&1 | tee setup.log` still asks
    // (in plain lines), while bars and colours follow stderr.
    let stdin_tty = std::io::stdin().is_terminal();
    let interactive = stdin_tty && !args.non_interactive && !args.check_only;
    let reporter = Arc::new(TermReporter { quiet: false });
    let prompter: Arc<dyn Prompter> = if interactive {
        crate::state::context::handle_interrupts();
        Arc::new(ui::TermPrompter::new())
    } else {
        Arc::new(NoPrompter)
    };
    let ctx = match Context::from_process(interactive, reporter, prompter) {
        Ok(c) => c.with_hinter(super::hints::warning_hint),
        Err(e) => return super::report_error(&e.into()),
    };
    let code = if args.check_only {
        check_only(&ctx, &args)
    } else {
        if !args.non_interactive && !stdin_tty {
            ctx.reporter.info(
                "stdin is not a terminal: running non-interactively (as with --non-interactive)",
            );
        }
        match setup::run(&ctx, &KTRDR, &args.options()) {
            Ok(Outcome::Done(report)) => {
                print_summary(&report);
                0
            }
            Ok(Outcome::Cancelled) => {
                ctx.reporter.info("Cancelled: nothing was changed.");
                crate::support::error::ExitKind::Failure.code()
            }
            Err(e) => super::report_error(&e.into()),
        }
    };
    super::report_timing();
    code
}

/// `--check-only`: the audit (text on stderr, or JSON on stdout) and 1Password.
fn check_only(ctx: &Context, args: &Args) -> i32 {
    let checks = crate::tools::prereq::audit(&ctx.home);
    if args.json {
        super::cmd::doctor::print_checks(&checks, true);
    } else {
        ctx.reporter.section("[1/2] Prerequisites");
        crate::setup::show_checks(ctx, &checks);
        ctx.reporter.section("[2/2] 1Password");
        ctx.reporter.info(&setup::onepassword::explain(&KTRDR));
    }
    if crate::tools::prereq::all_required_ok(&checks) {
        0
    } else {
        crate::support::error::ExitKind::Environment.code()
    }
}

fn print_summary(r: &Report) {
    crate::errln!("\n{}", style("Summary").bold());
    crate::errln!("  local-prod: {}", r.dest.display());
    for d in &r.done {
        crate::errln!("  {} {d}", style("✓").green());
    }
    for s in &r.skipped {
        crate::errln!("  {} skipped: {s}", style("-").dim());
    }
    let state = match r.started {
        Started::Now => "local-prod is running:",
        Started::AlreadyRunning => "local-prod was already running (left as it was):",
        Started::No => "local-prod is not running; when started it serves:",
    };
    crate::errln!("\n  {state}");
    for (label, text) in &r.links {
        crate::errln!("    {label:<11} {text}");
    }
    crate::errln!("\n  next (from any directory unless shown):");
    if r.started == Started::No {
        crate::errln!("    kinfra local-prod up                     start it");
    }
    crate::errln!("    kinfra local-prod status | logs -f | down");
    crate::errln!(
        "    cd {} && kinfra sandbox create my-feature   a sandbox for a branch",
        r.dest.display()
    );
    if r.demo {
        crate::errln!("\n  demo teardown:");
        crate::errln!(
            "    kinfra local-prod destroy -y && rm -rf {}",
            r.dest.display()
        );
    }
}
