//! `kinfra-setup`: takes a machine from nothing to a running local-prod. Every step
//! is a library call (prerequisites, clone, `uv sync`, local-prod init, shared data,
//! up), so it doubles as a scripted CI step and as a prerequisite audit.

pub mod clone;
pub mod onepassword;
pub mod transport;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use console::style;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::cmd::doctor::print_checks;
use crate::cli::ui::{self, ColorChoice, TermReporter};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::instance::{self, InitOptions, Kind, ProjectObjects, UpOptions};
use crate::shared::{self, Mode};
use crate::stack::{KTRDR, Stack};

pub const DEFAULT_REPO: &str = "https://github.com/kpiteira/ktrdr.git";
pub const DEFAULT_PATH: &str = "~/Documents/dev/ktrdr-prod";

/// Sets up KTRDR local-prod on this machine: checks prerequisites, explains (and can
/// create) the 1Password item, clones the repository, runs `uv sync`, initializes
/// local-prod, seeds shared data and offers to start it.
#[derive(Debug, Parser)]
#[command(name = "kinfra-setup", version, max_term_width = 100)]
#[command(after_help = "Examples:
  kinfra-setup                                  interactive, step by step
  kinfra-setup --check-only                     audit prerequisites only (exit 1 if one is missing)
  kinfra-setup --check-only --json              the same, as JSON on stdout
  kinfra-setup --non-interactive --path=~/dev/ktrdr-prod --shared-minimal --start
  kinfra-setup --non-interactive --demo --path=/tmp/ktrdr-demo --shared-minimal --start

Re-running is safe: an existing clone of the same repository at --path is resumed.
Without a terminal on stdin, setup runs non-interactively (and says so).
Exit codes: 0 done, 1 a step failed, 2 invalid input (for example a missing flag in
non-interactive mode), 7 Docker unreachable or a required tool missing.")]
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
    /// Where to clone local-prod (interactive default: ~/Documents/dev/ktrdr-prod).
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// Repository to clone.
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

pub fn main() -> i32 {
    let args = match crate::cli::parse::<Args>() {
        Ok(a) => a,
        Err(code) => return code,
    };
    ui::configure_colors(args.color);
    let tty = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let interactive = tty && !args.non_interactive;
    let reporter = Arc::new(TermReporter { quiet: false });
    let ctx = match Context::from_process(interactive, reporter) {
        Ok(c) => c,
        Err(e) => return crate::cli::report_error(&e),
    };
    if !args.non_interactive && !tty && !args.check_only {
        ctx.reporter
            .info("stdin is not a terminal: running non-interactively (as with --non-interactive)");
    }
    let code = match run(&ctx, &KTRDR, &args) {
        Ok(code) => code,
        Err(e) => crate::cli::report_error(&e),
    };
    crate::cli::report_timing();
    code
}

/// What was done and skipped, for the closing summary.
#[derive(Default)]
struct Summary {
    done: Vec<String>,
    skipped: Vec<String>,
}

/// With `KINFRA_TIMING` set, milliseconds since start at each mark (profiling).
fn timing(mark: &str) {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    if std::env::var_os(crate::context::ENV_TIMING).is_some() {
        eprintln!(
            "kinfra-timing: {mark} at {} ms",
            start.elapsed().as_millis()
        );
    }
}

fn header(n: u8, title: &str) {
    timing(&format!("step {n}"));
    eprintln!(
        "\n{} {}",
        style(format!("[{n}/8]")).cyan().bold(),
        style(title).bold()
    );
}

fn expand(path: &str, cwd: &Path) -> Result<PathBuf> {
    let p = if path == "~" || path.starts_with("~/") {
        let home = std::env::var_os("HOME")
            .ok_or_else(|| Error::Invalid("HOME is not set; cannot expand ~".into()))?;
        PathBuf::from(home).join(path.trim_start_matches('~').trim_start_matches('/'))
    } else {
        PathBuf::from(path)
    };
    Ok(if p.is_absolute() { p } else { cwd.join(p) })
}

fn same_repo(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

/// Pure: refuses what this build of libgit2 cannot clone, before anything is made.
/// SSH needs libssh2 and the user's keys and agent, which kinfra does not link; git
/// spells SSH as `ssh://…` or scp-like `user@host:path` (a colon before any slash).
fn check_repo_url(url: &str) -> Result<()> {
    let lower = url.trim().to_ascii_lowercase();
    let ssh = ["ssh://", "git+ssh://", "ssh+git://"]
        .iter()
        .any(|p| lower.starts_with(p))
        || (!lower.contains("://")
            && lower
                .split_once(':')
                .is_some_and(|(host, _)| !host.is_empty() && !host.contains('/')));
    if ssh {
        return Err(Error::Invalid(format!(
            "{url} is an SSH URL; kinfra-setup clones over HTTPS or from a local path. Use the https URL (for KTRDR: {DEFAULT_REPO}), or `git clone` it yourself into --path and rerun setup: it resumes from an existing clone"
        )));
    }
    Ok(())
}

pub fn run(ctx: &Context, stack: &Stack, a: &Args) -> Result<i32> {
    let mut summary = Summary::default();
    if !a.demo && !a.check_only {
        check_repo_url(&a.repo_url)?;
    }

    // 1. Prerequisites. In scripted mode the destination, clone and `uv sync` go
    // ahead while the audit runs (it takes as long as the slowest tool's --version);
    // if a required tool turns out missing, what they made is removed again.
    timing("start");
    let audit = std::thread::spawn(|| {
        let checks = crate::prereq::audit();
        timing("audit done");
        checks
    });
    let scripted = !a.check_only && !ctx.interactive && a.path.is_some();
    // local-prod init's docker queries (objects already named like local-prod) need
    // only the project name: started now, they overlap the clone instead of following
    // `uv sync`.
    let project = stack.local_prod_id;
    let docker_seen = scripted.then(|| std::thread::spawn(move || ProjectObjects::query(project)));
    let early = scripted.then(|| prepare(ctx, a));
    timing("prepared");
    let checks = audit
        .join()
        .map_err(|_| Error::Other("the prerequisite audit crashed".into()))?;
    header(1, "Prerequisites");
    print_checks(&checks, a.json, false);
    let ok = crate::prereq::all_required_ok(&checks);
    if a.check_only {
        if !a.json {
            header(2, "1Password");
            eprintln!("{}", onepassword::explain(stack));
        }
        return Ok(if ok {
            0
        } else {
            crate::error::exit::ENVIRONMENT
        });
    }
    if !ok {
        if let Some(Ok(p)) = &early {
            p.undo();
        }
        return Err(Error::MissingTools);
    }

    // 2. 1Password.
    header(2, "1Password");
    eprintln!("{}", onepassword::explain(stack));
    // Whether `up` can read local-prod's secrets; otherwise setup has said aloud that
    // the stack will use insecure defaults, and starts it so on purpose.
    let mut secrets_ready = false;
    match onepassword::item_state(stack) {
        onepassword::ItemState::Present => {
            secrets_ready = true;
            ctx.reporter
                .success(&format!("item {} found", stack.local_prod_item));
        }
        onepassword::ItemState::Missing => {
            let create = if ctx.interactive {
                confirm(
                    &format!(
                        "Create {} now with generated values?",
                        stack.local_prod_item
                    ),
                    true,
                )
            } else {
                a.create_item
            };
            if create {
                match onepassword::create_item(stack) {
                    Ok(generated) => {
                        ctx.reporter.success(&format!(
                            "created {} with generated {} (values not shown); add your anthropic_api_key in 1Password",
                            stack.local_prod_item,
                            generated.join(", ")
                        ));
                        summary
                            .done
                            .push(format!("1Password item {} created", stack.local_prod_item));
                        secrets_ready = true;
                    }
                    Err(e) => ctx
                        .reporter
                        .warn(&format!("could not create the item: {e}")),
                }
            } else {
                ctx.reporter.warn(&format!(
                    "item {} does not exist; the stack will use insecure defaults",
                    stack.local_prod_item
                ));
                summary.skipped.push(
                    "1Password item: create it later (kinfra-setup --create-item, or in 1Password) with the fields above".to_string(),
                );
            }
        }
        onepassword::ItemState::Unavailable(why) => {
            ctx.reporter
                .warn(&format!("{why}; the stack will use insecure defaults"));
            summary.skipped.push(
                "1Password: install and sign in to `op`, then restart with `kinfra local-prod up`"
                    .into(),
            );
        }
    }

    // 3-5. Destination, clone, uv sync (already done in scripted mode).
    // Interactively the headers come before the prompt and the progress bar.
    let p = match early {
        Some(p) => p?,
        None => {
            header(3, "Destination");
            let p = prepare_destination(ctx, a)?;
            header(4, "Clone");
            p.clone_and_sync(a)?
        }
    };
    if scripted {
        header(3, "Destination");
    }
    if let Some(origin) = &p.demo_origin {
        ctx.reporter.info(&format!(
            "demo mode: the repository is {}",
            origin.display()
        ));
    }
    ctx.reporter
        .info(&format!("local-prod goes to {}", p.dest.display()));
    if scripted {
        header(4, "Clone");
    }
    if p.resume {
        ctx.reporter.info(&format!(
            "{} is already a clone of {}: resuming from the next step",
            p.dest.display(),
            p.repo_url
        ));
        summary.skipped.push("clone (already there)".into());
    } else {
        ctx.reporter
            .success(&format!("cloned {} into {}", p.repo_url, p.dest.display()));
        summary
            .done
            .push(format!("cloned into {}", p.dest.display()));
    }
    header(5, "Python environment (uv sync)");
    p.uv?;
    ctx.reporter.success("uv sync done");
    summary.done.push("uv sync".into());
    let dest = p.dest;
    let already_registered = p.already_registered;

    // 6. local-prod init.
    header(6, "local-prod init");
    let prod_ctx = ctx.with_cwd(&dest);
    let inst = if already_registered && dest.join(crate::envfile::FILE_NAME).is_file() {
        ctx.reporter.info("local-prod is already initialized here");
        instance::Instance::at(stack, &dest)?
    } else {
        let opts = InitOptions {
            docker: docker_seen.and_then(|h| h.join().ok()),
            ..Default::default()
        };
        let i = instance::init(&prod_ctx, stack, Kind::LocalProd, opts)?;
        ctx.reporter
            .success(&format!("initialized local-prod {} (slot 0)", i.id()));
        summary
            .done
            .push("local-prod initialized (slot 0, standard ports)".into());
        i
    };

    // 7. Shared data.
    header(7, "Shared data");
    let mode = if let Some(p) = &a.shared_from {
        Some(Mode::From(p.clone()))
    } else if a.shared_minimal {
        Some(Mode::Minimal)
    } else if a.skip_shared || !ctx.interactive {
        None
    } else {
        ask_shared_mode()?
    };
    match mode {
        Some(m) => {
            let s = shared::init(ctx, stack, &m)?;
            for (name, files, bytes) in &s.dirs {
                ctx.reporter.info(&format!(
                    "  {name:<11} {files} file(s), {}",
                    shared::human_bytes(*bytes)
                ));
            }
            summary
                .done
                .push(format!("shared data at {}", ctx.shared_dir().display()));
        }
        None => {
            ctx.reporter.info("shared data left as it is");
            summary.skipped.push(
                "shared data: `kinfra sandbox init-shared --minimal` or `--from PATH`".into(),
            );
        }
    }

    // 8. Start.
    header(8, "Start");
    let start = if ctx.interactive {
        confirm("Start local-prod now?", true)
    } else {
        a.start
    };
    if start {
        instance::up(
            &prod_ctx,
            stack,
            &inst,
            &UpOptions {
                secrets: !a.no_secrets && secrets_ready,
                ..Default::default()
            },
        )?;
        ctx.reporter.success("local-prod is up and ready");
        summary.done.push("local-prod started (gate passed)".into());
    } else {
        summary.skipped.push(format!(
            "start: cd {} && kinfra local-prod up",
            dest.display()
        ));
    }

    // Summary.
    timing("done");
    eprintln!("\n{}", style("Summary").bold());
    eprintln!("  local-prod: {}", dest.display());
    for d in &summary.done {
        eprintln!("  {} {d}", style("✓").green());
    }
    for s in &summary.skipped {
        eprintln!("  {} skipped: {s}", style("-").dim());
    }
    eprintln!("  daily use (in {}):", dest.display());
    eprintln!("    kinfra local-prod up | down | status | logs [-f]");
    Ok(0)
}

/// The destination decided and checked, then (by [`Prepared::clone_and_sync`]) the
/// clone and `uv sync` done.
struct Prepared {
    repo_url: String,
    demo_origin: Option<PathBuf>,
    dest: PathBuf,
    already_registered: bool,
    resume: bool,
    /// The highest directory this run created (parents and clone), for undo.
    created: Option<PathBuf>,
    uv: Result<()>,
}

impl Prepared {
    /// Removes what this run created (used when a required tool is missing).
    fn undo(&self) {
        if let Some(top) = &self.created {
            let _ = std::fs::remove_dir_all(top);
        }
    }

    fn clone_and_sync(mut self, a: &Args) -> Result<Prepared> {
        if !self.resume {
            let existed = self.dest.exists();
            clone_with_progress(&self.repo_url, a.branch.as_deref(), &self.dest)?;
            if !existed && self.created.is_none() {
                self.created = Some(self.dest.clone());
            }
        }
        timing("cloned");
        self.uv = uv_sync(&self.dest);
        timing("uv synced");
        Ok(self)
    }
}

/// Scripted mode: everything up to and including `uv sync`, without output.
fn prepare(ctx: &Context, a: &Args) -> Result<Prepared> {
    prepare_destination(ctx, a)?.clone_and_sync(a)
}

fn prepare_destination(ctx: &Context, a: &Args) -> Result<Prepared> {
    let (repo_url, demo_origin) = if a.demo {
        let dir = ctx.home.join("demo");
        let origin = dir.join(crate::demo::ORIGIN_NAME);
        if !origin.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("could not create", &dir, e))?;
            crate::demo::make_origin(&dir)?;
        }
        (origin.display().to_string(), Some(origin))
    } else {
        (a.repo_url.clone(), None)
    };
    let raw_path = match (&a.path, ctx.interactive) {
        (Some(p), _) => p.clone(),
        (None, true) => dialoguer::Input::<String>::new()
            .with_prompt("Where should local-prod live?")
            .default(DEFAULT_PATH.to_string())
            .interact_text()
            .map_err(|e| Error::Other(format!("prompt failed: {e}")))?,
        (None, false) => {
            return Err(Error::Invalid(
                "no destination: pass --path=PATH (for example --path=~/Documents/dev/ktrdr-prod)"
                    .into(),
            ));
        }
    };
    let dest = expand(&raw_path, &ctx.cwd)?;
    // The singleton is checked before anything is cloned.
    let already_registered = match ctx.registry().load()?.local_prod {
        Some(e) if crate::registry::same_path(Path::new(&e.path), &dest) => true,
        Some(e) => {
            return Err(Error::LocalProdExists {
                path: PathBuf::from(&e.path),
            });
        }
        None => false,
    };
    let (resume, created) = check_destination(ctx, &dest, &repo_url)?;
    Ok(Prepared {
        repo_url,
        demo_origin,
        dest,
        already_registered,
        resume,
        created,
        uv: Ok(()),
    })
}

fn confirm(prompt: &str, default: bool) -> bool {
    dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(default)
        .interact()
        .unwrap_or(false)
}

fn ask_shared_mode() -> Result<Option<Mode>> {
    let choice = dialoguer::Select::new()
        .with_prompt("Shared data (data/, models/, strategies/)")
        .items(&[
            "copy from an existing checkout",
            "create the empty structure",
            "skip",
        ])
        .default(1)
        .interact()
        .map_err(|e| Error::Other(format!("prompt failed: {e}")))?;
    Ok(match choice {
        0 => loop {
            let p: String = dialoguer::Input::new()
                .with_prompt("Path of the existing checkout")
                .interact_text()
                .map_err(|e| Error::Other(format!("prompt failed: {e}")))?;
            let p = PathBuf::from(p.trim());
            if KTRDR.shared_subdirs.iter().any(|s| p.join(s).is_dir()) {
                break Some(Mode::From(p));
            }
            eprintln!(
                "{} has none of data/, models/, strategies/; try again",
                p.display()
            );
        },
        1 => Some(Mode::Minimal),
        _ => None,
    })
}

/// Validates the destination; returns whether it already holds a clone of the same
/// repository (resume), and the highest directory created for it (missing parents).
fn check_destination(
    ctx: &Context,
    dest: &Path,
    repo_url: &str,
) -> Result<(bool, Option<PathBuf>)> {
    if let Ok(meta) = std::fs::symlink_metadata(dest) {
        if !meta.is_dir() {
            return Err(Error::Invalid(format!(
                "{} exists and is not a directory; choose another --path",
                dest.display()
            )));
        }
        let empty = std::fs::read_dir(dest)
            .map_err(|e| Error::io("cannot read", dest, e))?
            .next()
            .is_none();
        if empty {
            return Ok((false, None));
        }
        let origin = crate::git::origin_url(dest).ok().flatten();
        let is_top = crate::git::toplevel(dest).is_ok_and(|t| crate::registry::same_path(&t, dest));
        if is_top && origin.as_deref().is_some_and(|o| same_repo(o, repo_url)) {
            return Ok((true, None));
        }
        return Err(Error::Invalid(format!(
            "{} is not empty and is not a clone of {repo_url}; it was left untouched. Choose another --path",
            dest.display()
        )));
    }
    let parent = dest
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{} has no parent directory", dest.display())))?;
    let mut created = None;
    if !parent.is_dir() {
        created = parent
            .ancestors()
            .take_while(|p| !p.exists())
            .last()
            .map(Path::to_path_buf);
        if ctx.interactive && !confirm(&format!("Create {}?", parent.display()), true) {
            return Err(Error::Invalid(
                "destination's parent not created; nothing was changed".into(),
            ));
        }
        std::fs::create_dir_all(parent).map_err(|e| Error::io("could not create", parent, e))?;
        if ctx.interactive {
            ctx.reporter.info(&format!("created {}", parent.display()));
        }
    }
    Ok((false, created))
}

fn clone_with_progress(url: &str, branch: Option<&str>, dest: &Path) -> Result<()> {
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(0);
        if let Ok(s) = ProgressStyle::with_template("cloning [{bar:30}] {pos}/{len} objects, {msg}")
        {
            b.set_style(s.progress_chars("=> "));
        }
        b
    } else {
        ProgressBar::hidden()
    };
    let start = std::time::Instant::now();
    let res = clone::clone(url, branch, dest, |t| {
        bar.set_length(t.total_objects as u64);
        bar.set_position(t.received_objects as u64);
        let secs = start.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!(
            "{} ({}/s)",
            shared::human_bytes(t.received_bytes as u64),
            shared::human_bytes((t.received_bytes as f64 / secs) as u64)
        ));
    });
    bar.finish_and_clear();
    res
}

fn uv_sync(dir: &Path) -> Result<()> {
    let spinner = if std::io::stderr().is_terminal() {
        let s = ProgressBar::new_spinner();
        s.set_message("uv sync");
        s.enable_steady_tick(Duration::from_millis(100));
        s
    } else {
        ProgressBar::hidden()
    };
    let res = crate::exec::Cmd::new("uv")
        .arg("sync")
        .current_dir(dir)
        .timeout(Duration::from_secs(1800))
        .run();
    spinner.finish_and_clear();
    res.map(|_| ()).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_urls_are_refused_and_the_rest_pass() {
        for bad in [
            "git@github.com:kpiteira/ktrdr.git",
            "ssh://git@github.com/kpiteira/ktrdr.git",
            "git+ssh://git@github.com/kpiteira/ktrdr.git",
            "github.com:kpiteira/ktrdr",
        ] {
            let e = check_repo_url(bad).expect_err(bad).to_string();
            assert!(e.contains("SSH URL") && e.contains(DEFAULT_REPO), "{e}");
        }
        for good in [
            DEFAULT_REPO,
            "http://127.0.0.1:8080/ktrdr.git",
            "file:///srv/git/ktrdr.git",
            "git://example.org/ktrdr.git",
            "/srv/git/ktrdr.git",
            "./ktrdr.git",
            "../repos/ktrdr:v2.git",
        ] {
            assert!(check_repo_url(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn repo_urls_compare_loosely() {
        assert!(same_repo(
            "https://github.com/kpiteira/ktrdr.git",
            "https://github.com/kpiteira/ktrdr"
        ));
        assert!(same_repo(
            "/x/ktrdr-demo-origin.git/",
            "/x/ktrdr-demo-origin.git"
        ));
        assert!(!same_repo(
            "https://github.com/a/ktrdr",
            "https://github.com/b/ktrdr"
        ));
    }

    #[test]
    fn paths_expand() {
        let cwd = Path::new("/w");
        assert_eq!(expand("rel/x", cwd).unwrap(), PathBuf::from("/w/rel/x"));
        assert_eq!(expand("/abs", cwd).unwrap(), PathBuf::from("/abs"));
        if let Some(h) = std::env::var_os("HOME") {
            assert_eq!(expand("~/d", cwd).unwrap(), PathBuf::from(h).join("d"));
        }
    }
}
