//! The `kinfra` command line: clap types and dispatch. Each subcommand lives in
//! `cmd/<name>.rs`; the library does the work. Errors are printed here, once, with
//! their cause chain and a hint, and turned into the stable exit code.

pub mod cmd;
pub mod complete;
pub mod error;
pub mod hints;
pub mod setup;
pub mod ui;

use std::io::IsTerminal;
use std::sync::Arc;

use clap::{CommandFactory, Parser, Subcommand};

use crate::cli::error::CliError;
use crate::stack::Stack;
use crate::state::context::Context;

/// Parallel, isolated copies of a Docker Compose stack (any compose project, as its
/// compose file or its kinfra.toml describes it; KTRDR's built in): one sandbox per
/// git worktree, each with its own ports, and one local-prod (slot 0).
#[derive(Debug, Parser)]
#[command(
    name = "kinfra",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Exit codes: 0 ok, 1 failure, 2 invalid input / wrong place / gate failed, \
3 port conflict, 4 no such instance, 5 refused: would lose work, 6 corrupt state, \
7 Docker or a required tool unavailable, or the machine budget full; 130 interrupted (Ctrl-C).\n\nState lives in $KINFRA_HOME (default ~/.ktrdr)."
)]
pub struct Cli {
    /// When to use colours (NO_COLOR and CLICOLOR are honoured under auto).
    #[arg(long, global = true, value_enum, default_value_t)]
    pub color: ui::ColorChoice,
    /// Print only warnings and errors (results still go to stdout).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sandboxes: one isolated stack per worktree, each on its own slot.
    #[command(subcommand)]
    Sandbox(SandboxCmd),
    /// The single local-prod instance (a clone, slot 0, standard ports); every command
    /// acts on the registered one, from any directory.
    #[command(subcommand, name = "local-prod")]
    LocalProd(LocalProdCmd),
    /// A worktree for writing a feature's design: branch spec/FEATURE, no stack.
    Spec(cmd::spec::Args),
    /// Implement a milestone: branch impl/F-M, worktree, sandbox, start (its plan
    /// under the design folder must exist).
    #[command(name = "impl")]
    Impl(cmd::implement::Args),
    /// Finish a spec or impl worktree (`genome/M1` or `genome-m1`): its sandbox and
    /// worktree go, with destroy's safety; the branch stays.
    Done(cmd::done::Args),
    /// The repository's worktrees: spec, impl, sandbox, local-prod, the main clone.
    Worktrees(cmd::worktrees::Args),
    /// Snapshots of an instance's data volumes: save, list, remove (sandboxes start
    /// from one with `sandbox create --data`).
    #[command(subcommand)]
    Snapshot(cmd::snapshot::SnapshotCmd),
    /// Docker engines on other machines, reached over SSH: add, list, remove
    /// (sandboxes go there with `sandbox create --on ENGINE`).
    #[command(subcommand)]
    Engine(cmd::engine::EngineCmd),
    /// Services shared by every instance (an observability stack): start, stop, show.
    #[command(subcommand)]
    Shared(cmd::shared::SharedCmd),
    /// Run the embedded demo end to end: local-prod and a sandbox, then teardown.
    Demo(cmd::demo::Args),
    /// Check the prerequisites (git, Docker engine and compose, uv, 1Password CLI) and
    /// kinfra's own state.
    Doctor(cmd::doctor::Args),
    /// Print a shell completion script.
    Completions(cmd::completions::Args),
    /// The front door: one local process that reaches every instance by name
    /// (`http://SERVICE.INSTANCE.localhost:7355/`) and shows them all on a page.
    #[command(subcommand)]
    Router(cmd::router::RouterCmd),
    /// The project's own ports (its compose file's: localhost:3000, :5432 …) on one
    /// instance, through the router; `--none` releases them.
    Checkout(cmd::checkout::Args),
    /// Print this instance's URLs and ports, or one of them (for scripts and agents).
    Url(cmd::url::Args),
    /// Print this instance's variables as `export` lines (for `eval`) or JSON.
    Env(cmd::env::Args),
    /// Secrets given by reference: what is kept for an instance (never a value).
    #[command(subcommand)]
    Secrets(cmd::secrets::SecretsCmd),
    /// Wait until this instance passes its startability gate (starts nothing).
    Wait(cmd::wait::Args),
    /// Serve the Model Context Protocol on stdio, for coding agents.
    Mcp(cmd::mcp::Args),
    /// The stack's description (kinfra.toml): check it against the compose file, or
    /// write a first one.
    #[command(subcommand)]
    Stack(cmd::stack::StackCmd),
    /// Claude Code worktree hooks: a sandbox per agent worktree.
    #[command(subcommand)]
    Hook(cmd::hook::HookCmd),
    /// Steps kinfra runs itself.
    #[command(subcommand, hide = true)]
    Internal(cmd::internal::InternalCmd),
}

#[derive(Debug, Subcommand)]
pub enum SandboxCmd {
    /// Create a worktree beside the repository and register it as a sandbox.
    Create(cmd::create::Args),
    /// Register the current clone or worktree as a sandbox.
    Init(cmd::init::Args),
    /// Start the sandbox containing the current directory and wait until it is ready.
    Up(cmd::up::Args),
    /// Stop the sandbox containing the current directory.
    Down(cmd::down::Args),
    /// Show the state, services and ports of the current sandbox.
    Status(cmd::status::Args),
    /// Show container logs of the current sandbox.
    Logs(cmd::logs::Args),
    /// Open a shell inside a service container of the current sandbox.
    Shell(cmd::shell::Args),
    /// Run compose for the current sandbox as `up` does (project, files, ports,
    /// secrets): `kinfra sandbox compose -- config`.
    Compose(cmd::compose::Args),
    /// Bring .env.sandbox in line with the stack's description without starting
    /// (ports kept, new keys added, dropped ones removed); `up` does it too.
    Sync(cmd::sync::Args),
    /// Mirror the sandbox's code to its engine on another machine now (a full pass;
    /// `up` mirrors it and keeps it mirrored while it is up).
    SyncCode(cmd::sync_code::Args),
    /// Put the sandbox's data back as its source had it (asks first; --yes).
    Reset(cmd::reset::Args),
    /// List every registered instance with its state (one Docker query).
    List(cmd::list::Args),
    /// Destroy a sandbox: containers, volumes, registration and its worktree.
    Destroy(cmd::destroy::Args),
    /// Set up the shared data directories mounted into every instance.
    InitShared(cmd::init_shared::Args),
    /// Free one slot: remove its containers, volumes and registration.
    Release(cmd::release::Args),
    /// Reconcile: free entries whose directory is gone and remove orphaned projects.
    Prune(cmd::prune::Args),
}

#[derive(Debug, Subcommand)]
pub enum LocalProdCmd {
    /// Register the current clone as local-prod (slot 0).
    Init(cmd::init::LocalProdArgs),
    /// Start local-prod (with the local-prod profile) and wait until it is ready.
    Up(cmd::up::Args),
    /// Stop local-prod, profile services included.
    Down(cmd::down::Args),
    /// Show local-prod's state, services and ports.
    Status(cmd::status::Args),
    /// Show local-prod's container logs.
    Logs(cmd::logs::Args),
    /// Run compose for local-prod as `up` does (project, files, profile, secrets):
    /// `kinfra local-prod compose -- config`.
    Compose(cmd::compose::Args),
    /// Bring local-prod's .env.sandbox in line with the description without starting.
    Sync(cmd::sync::Args),
    /// Host services: processes local-prod runs natively beside its containers.
    #[command(subcommand)]
    Host(cmd::host::HostCmd),
    /// Destroy the registered local-prod (found in the registry, never from the
    /// current directory): containers, volumes, registration, .env.sandbox. The clone stays.
    Destroy(cmd::destroy::LocalProdArgs),
}

/// Parses the process's arguments; on `--help`/`--version` (exit 0) or a usage
/// error (exit 2) clap's text is printed and the exit code returned.
pub fn parse<T: Parser>() -> Result<T, i32> {
    T::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() { 2 } else { 0 }
    })
}

/// Runs the CLI with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    // A completion request from the shell is answered here and ends the process.
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(crate::support::env_vars::EnvVars::KINFRA_COMPLETE)
        .complete();
    let cli = match parse::<Cli>() {
        Ok(c) => c,
        Err(code) => return code,
    };
    ui::configure_colors(cli.color);
    let reporter = Arc::new(ui::TermReporter { quiet: cli.quiet });
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let prompter: Arc<dyn crate::support::prompt::Prompter> = if interactive {
        crate::state::context::handle_interrupts();
        Arc::new(ui::TermPrompter::new())
    } else {
        Arc::new(crate::support::prompt::NoPrompter)
    };
    let ctx = match Context::from_process(interactive, reporter, prompter) {
        Ok(c) => c.with_hinter(hints::warning_hint),
        Err(e) => return report_error(&e.into()),
    };
    let code = match run_command(&ctx, cli.command) {
        Ok(code) => code,
        Err(e) => report_error(&e),
    };
    report_timing();
    code
}

/// With `KINFRA_TIMING` set: this process's own peak memory (VmHWM), which the
/// benchmark reads (an outside measurement would include the docker CLI's).
pub fn report_timing() {
    if !crate::support::env_vars::is_set(crate::support::env_vars::EnvVars::KINFRA_TIMING) {
        return;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
        let kb = line.trim_start_matches("VmHWM:").trim();
        crate::errln!("kinfra-timing: peak RSS {kb}");
    }
}

/// Loads the stack for the command and runs it. The audit and shell completions
/// need no description: beside a broken one, doctor reports it as a finding and
/// completions still print.
fn run_command(ctx: &Context, command: Command) -> crate::cli::error::CliResult<i32> {
    let stack = cmd::load_stack(ctx, &command);
    match (command, stack) {
        (Command::Doctor(a), stack) => cmd::doctor::run(ctx, stack.as_ref(), a),
        (Command::Completions(a), _) => cmd::completions::run(a),
        // Engines belong to the machine, not to a project: no description needed.
        (Command::Engine(c), _) => cmd::engine::run(ctx, c),
        (Command::Router(c), stack) => cmd::router::run(ctx, stack, c),
        (Command::Checkout(a), stack) => cmd::checkout::run(ctx, stack, a),
        (command, stack) => dispatch(ctx, &stack?, command),
    }
}

fn dispatch(ctx: &Context, stack: &Stack, command: Command) -> crate::cli::error::CliResult<i32> {
    use crate::instance::Kind::{LocalProd, Sandbox};
    match command {
        Command::Sandbox(c) => match c {
            SandboxCmd::Create(a) => cmd::create::run(ctx, stack, a),
            SandboxCmd::Init(a) => cmd::init::run(ctx, stack, a),
            SandboxCmd::Up(a) => cmd::up::run(ctx, stack, Sandbox, a),
            SandboxCmd::Down(a) => cmd::down::run(ctx, stack, Sandbox, a),
            SandboxCmd::Status(a) => cmd::status::run(ctx, stack, Sandbox, a),
            SandboxCmd::Logs(a) => cmd::logs::run(ctx, stack, Sandbox, a),
            SandboxCmd::Shell(a) => cmd::shell::run(ctx, stack, a),
            SandboxCmd::Compose(a) => cmd::compose::run(ctx, stack, Sandbox, a),
            SandboxCmd::Sync(a) => cmd::sync::run(ctx, stack, Sandbox, a),
            SandboxCmd::SyncCode(a) => cmd::sync_code::run(ctx, stack, a),
            SandboxCmd::Reset(a) => cmd::reset::run(ctx, stack, a),
            SandboxCmd::List(a) => cmd::list::run(ctx, stack, a),
            SandboxCmd::Destroy(a) => cmd::destroy::run(ctx, stack, a),
            SandboxCmd::InitShared(a) => cmd::init_shared::run(ctx, stack, a),
            SandboxCmd::Release(a) => cmd::release::run(ctx, a),
            SandboxCmd::Prune(a) => cmd::prune::run(ctx, stack, a),
        },
        Command::LocalProd(c) => match c {
            LocalProdCmd::Init(a) => cmd::init::run_local_prod(ctx, stack, a),
            LocalProdCmd::Up(a) => cmd::up::run(ctx, stack, LocalProd, a),
            LocalProdCmd::Down(a) => cmd::down::run(ctx, stack, LocalProd, a),
            LocalProdCmd::Status(a) => cmd::status::run(ctx, stack, LocalProd, a),
            LocalProdCmd::Logs(a) => cmd::logs::run(ctx, stack, LocalProd, a),
            LocalProdCmd::Compose(a) => cmd::compose::run(ctx, stack, LocalProd, a),
            LocalProdCmd::Host(c) => cmd::host::run(ctx, stack, c),
            LocalProdCmd::Sync(a) => cmd::sync::run(ctx, stack, LocalProd, a),
            LocalProdCmd::Destroy(a) => cmd::destroy::run_local_prod(ctx, stack, a),
        },
        Command::Shared(c) => cmd::shared::run(ctx, stack, c),
        Command::Snapshot(c) => cmd::snapshot::run(ctx, stack, c),
        Command::Spec(a) => cmd::spec::run(ctx, stack, a),
        Command::Impl(a) => cmd::implement::run(ctx, stack, a),
        Command::Done(a) => cmd::done::run(ctx, stack, a),
        Command::Worktrees(a) => cmd::worktrees::run(ctx, stack, a),
        Command::Demo(a) => cmd::demo::run(ctx, a),
        Command::Doctor(a) => cmd::doctor::run(ctx, Ok(stack), a),
        Command::Completions(a) => cmd::completions::run(a),
        Command::Engine(c) => cmd::engine::run(ctx, c),
        Command::Router(c) => cmd::router::run(ctx, Ok(stack.clone()), c),
        Command::Checkout(a) => cmd::checkout::run(ctx, Ok(stack.clone()), a),
        Command::Url(a) => cmd::url::run(ctx, stack, a),
        Command::Env(a) => cmd::env::run(ctx, stack, a),
        Command::Wait(a) => cmd::wait::run(ctx, stack, a),
        Command::Secrets(c) => cmd::secrets::run(ctx, stack, c),
        Command::Mcp(a) => cmd::mcp::run(ctx, stack, a),
        Command::Hook(c) => cmd::hook::run(ctx, stack, c),
        Command::Stack(c) => cmd::stack::run(ctx, stack, c),
        Command::Internal(c) => cmd::internal::run(ctx, c),
    }
}

/// Prints `error: …` (or `stopped: interrupted` for Ctrl-C, which is not a
/// failure), the cause chain and a hint; returns the exit code.
pub fn report_error(e: &CliError) -> i32 {
    use console::style;
    if e.exit_kind().is_failure() {
        crate::errln!("{} {e}", style("error:").red().bold());
    } else {
        crate::errln!("{} {e}", style("stopped:").yellow().bold());
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        // Transparent wrappers repeat their inner message; print each cause once.
        if !e.to_string().contains(&text) {
            crate::errln!("  {} {text}", style("caused by:").dim());
        }
        source = s.source();
    }
    if let Some(h) = e.hint() {
        crate::errln!("{} {h}", style("hint:").cyan().bold());
    }
    e.exit_kind().code()
}

/// Writes a line of results to stdout. A closed pipe (`kinfra … | head`) is not an
/// error: the process ends quietly with success.
pub fn write_out(args: std::fmt::Arguments) {
    use std::io::Write;
    let text = crate::support::stdio::redact(&args.to_string());
    let mut o = std::io::stdout().lock();
    if let Err(e) = o
        .write_all(text.as_bytes())
        .and_then(|_| o.write_all(b"\n"))
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// `println!` for results, through [`write_out`].
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => { $crate::cli::write_out(format_args!($($t)*)) };
}
