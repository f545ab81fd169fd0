//! `kinfra-setup`'s steps: takes a machine from nothing to a running local-prod.
//! Every step is a library call (prerequisites, clone, `uv sync`, local-prod init,
//! shared data, up); questions go through the context's prompter and bars through
//! its reporter, so the CLI owns the terminal and tests answer with
//! [`crate::support::prompt::Scripted`]. Interactively every choice is made first and shown
//! as a plan (proceed / change / cancel) before anything is changed; a bad answer is
//! asked again with the reason.

pub mod checkup;
mod choose;
pub mod clone;
pub mod demo;
pub mod error;
pub mod onepassword;
mod run;
pub mod tour;
pub mod transport;

pub use run::run;

use choose::choose;
#[cfg(test)]
use choose::{ask_destination, ask_shared};

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::setup::error::{DestinationProblem, Result, SetupError};
use crate::stack::Stack;
use crate::state::context::Context;

/// The prerequisite audit as checklist lines through the reporter (the front end
/// draws the marks).
pub fn show_checks(ctx: &Context, checks: &[crate::tools::prereq::Check]) {
    for (mark, line) in crate::tools::prereq::render(checks) {
        match mark {
            Some(m) => ctx.reporter.check(m, &line),
            None => ctx.reporter.info(&line),
        }
    }
}

pub const DEFAULT_REPO: &str = "https://github.com/kpiteira/ktrdr.git";
pub const DEFAULT_PATH: &str = "~/Documents/dev/ktrdr-prod";
/// The demo's default destination: never the real local-prod's.
pub const DEMO_PATH: &str = "~/kinfra-demo/ktrdr-prod";

/// Everything setup needs decided up front; `Ask` and `None` are asked at a terminal.
#[derive(Debug, Clone)]
pub struct Options {
    pub path: Option<String>,
    pub repo_url: String,
    pub branch: Option<String>,
    pub demo: bool,
    pub shared: SharedChoice,
    /// Start at the end (non-interactive; asked otherwise).
    pub start: bool,
    /// Create the 1Password item if missing (non-interactive; asked otherwise).
    pub create_item: bool,
    pub no_secrets: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            path: None,
            repo_url: DEFAULT_REPO.into(),
            branch: None,
            demo: false,
            shared: SharedChoice::Ask,
            start: false,
            create_item: false,
            no_secrets: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SharedChoice {
    /// Asked at a terminal; left alone otherwise.
    Ask,
    From(PathBuf),
    Minimal,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Started {
    Now,
    AlreadyRunning,
    No,
}

/// What setup did, for the closing summary.
#[derive(Debug)]
pub struct Report {
    pub dest: PathBuf,
    pub demo: bool,
    pub done: Vec<String>,
    pub skipped: Vec<String>,
    pub started: Started,
    /// The stack's URLs and ports at slot 0.
    pub links: Vec<(String, String)>,
}

pub enum Outcome {
    Done(Report),
    /// The person chose "cancel" at the plan: nothing was changed.
    Cancelled,
}

/// With `KINFRA_TIMING` set, milliseconds since start at each mark (profiling).
fn timing(mark: &str) {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    if crate::support::env_vars::is_set(crate::support::env_vars::EnvVars::KINFRA_TIMING) {
        crate::errln!(
            "kinfra-timing: {mark} at {} ms",
            start.elapsed().as_millis()
        );
    }
}

fn section(ctx: &Context, n: u8, title: &str) {
    timing(&format!("step {n}"));
    ctx.reporter.section(&format!("[{n}/8] {title}"));
}

fn expand(path: &str, cwd: &Path) -> Result<PathBuf> {
    let p = if path == "~" || path.starts_with("~/") {
        let home = std::env::var_os("HOME").ok_or(SetupError::NoHomeForTilde)?;
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
        return Err(SetupError::SshUrl {
            url: url.into(),
            default: DEFAULT_REPO,
        });
    }
    Ok(())
}

/// The repository's name from its URL or path (`…/shop.git` → `shop`), as a slug.
fn repo_name(url: &str) -> String {
    crate::support::slug::slugify(&crate::stack::repo_name(url))
        .unwrap_or_else(|_| "project".into())
}

/// The choices made before anything is changed.
struct Choices {
    create_item: bool,
    shared: SharedChoice,
    start: bool,
}

/// The repository to clone: the URL, or for `--demo` the local demo origin (made on
/// first use; it lives in kinfra's home, not in the user's tree).
struct Repo {
    url: String,
    demo_origin: Option<PathBuf>,
}

fn repository(ctx: &Context, o: &Options) -> Result<Repo> {
    if !o.demo {
        return Ok(Repo {
            url: o.repo_url.clone(),
            demo_origin: None,
        });
    }
    let dir = ctx.home.demo_dir();
    let origin = dir.join(crate::setup::demo::ORIGIN_NAME);
    if !origin.is_dir() {
        std::fs::create_dir_all(&dir).map_err(|e| SetupError::io("could not create", &dir, e))?;
        crate::setup::demo::make_origin(&dir)?;
    }
    Ok(Repo {
        url: origin.display().to_string(),
        demo_origin: Some(origin),
    })
}

/// A destination that passed [`check_destination`]: nothing has been changed yet.
#[derive(Debug)]
struct Destination {
    dest: PathBuf,
    repo_url: String,
    demo_origin: Option<PathBuf>,
    /// It is the registered local-prod's clone.
    already_registered: bool,
    /// ... and that local-prod is running.
    running: bool,
    /// Holds a clone of the same repository already.
    resume: bool,
    /// The highest directory that does not exist yet (created by the run, for undo).
    missing_top: Option<PathBuf>,
}

/// Non-interactive: `--path`, or an error saying to pass it; a bad path is an error
/// naming the flag.
fn destination_from_flag(ctx: &Context, o: &Options, repo: &Repo) -> Result<Destination> {
    let Some(raw) = &o.path else {
        return Err(SetupError::NoDestination);
    };
    let dest = expand(raw, &ctx.cwd)?;
    check_destination(ctx, &dest, repo).map_err(|e| match e {
        SetupError::BadDestination { problem, .. } => SetupError::BadDestination {
            problem,
            from_flag: true,
        },
        e => e,
    })
}

/// Free bytes on the filesystem that will hold `path` (its nearest existing ancestor).
fn free_space(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let s = nix::sys::statvfs::statvfs(existing).ok()?;
    #[allow(clippy::useless_conversion)] // the field types differ between platforms
    Some(u64::from(s.blocks_available()) * u64::from(s.fragment_size()))
}

/// Reads the filesystem and the registry, changes nothing: whether `dest` can hold
/// local-prod. `SetupError::BadDestination` / `SetupError::LocalProdExists` are bad answers (asked
/// again at a terminal); other errors stop setup.
fn check_destination(ctx: &Context, dest: &Path, repo: &Repo) -> Result<Destination> {
    let registered = ctx.registry().load()?.local_prod;
    let already_registered = match registered {
        Some(e) if crate::support::fsutil::same_path(Path::new(&e.path), dest) => true,
        Some(e) => {
            return Err(crate::Error::LocalProdExists {
                path: PathBuf::from(&e.path),
            }
            .into());
        }
        None => false,
    };
    let mut d = Destination {
        dest: dest.to_path_buf(),
        repo_url: repo.url.clone(),
        demo_origin: repo.demo_origin.clone(),
        already_registered,
        running: false,
        resume: false,
        missing_top: None,
    };
    if let Ok(meta) = std::fs::symlink_metadata(dest) {
        if !meta.is_dir() {
            return Err(SetupError::BadDestination {
                problem: DestinationProblem::NotADirectory {
                    path: dest.to_path_buf(),
                },
                from_flag: false,
            });
        }
        let empty = std::fs::read_dir(dest)
            .map_err(|e| SetupError::io("cannot read", dest, e))?
            .next()
            .is_none();
        if empty {
            writable(dest)?;
            return Ok(d);
        }
        let origin = crate::tools::git::origin_url(dest).ok().flatten();
        let is_top = crate::tools::git::toplevel(dest)
            .is_ok_and(|t| crate::support::fsutil::same_path(&t, dest));
        if is_top && origin.as_deref().is_some_and(|o| same_repo(o, &repo.url)) {
            d.resume = true;
            d.running = already_registered && running(dest);
            return Ok(d);
        }
        return Err(SetupError::BadDestination {
            problem: DestinationProblem::NotEmpty {
                path: dest.to_path_buf(),
                url: repo.url.clone(),
            },
            from_flag: false,
        });
    }
    // Nothing there: the nearest existing ancestor must be a writable directory.
    let existing = dest
        .ancestors()
        .find(|p| std::fs::symlink_metadata(p).is_ok())
        .ok_or_else(|| SetupError::BadDestination {
            problem: DestinationProblem::NoParent {
                path: dest.to_path_buf(),
            },
            from_flag: false,
        })?;
    if !existing.is_dir() {
        return Err(SetupError::BadDestination {
            problem: DestinationProblem::UnderAFile {
                file: existing.to_path_buf(),
                path: dest.to_path_buf(),
            },
            from_flag: false,
        });
    }
    writable(existing)?;
    d.missing_top = dest
        .ancestors()
        .take_while(|p| !p.exists())
        .last()
        .map(Path::to_path_buf);
    Ok(d)
}

fn writable(dir: &Path) -> Result<()> {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).map_err(|_| {
        SetupError::BadDestination {
            problem: DestinationProblem::NotWritable {
                path: dir.to_path_buf(),
            },
            from_flag: false,
        }
    })
}

/// Whether containers of the local-prod started from `dir` are running.
fn running(dir: &Path) -> bool {
    crate::tools::docker::containers(None).is_ok_and(|cs| {
        cs.iter()
            .any(|c| c.running() && crate::tools::docker::started_from(c, dir))
    })
}

/// The destination acted on: parents made, the clone and `uv sync` done.
struct Prepared {
    repo_url: String,
    demo_origin: Option<PathBuf>,
    dest: PathBuf,
    already_registered: bool,
    running: bool,
    resume: bool,
    /// The highest directory this run created (parents and clone), for undo.
    created: Option<PathBuf>,
    uv: Result<()>,
    synced: bool,
}

impl Prepared {
    /// Removes what this run created (used when a required tool is missing).
    fn undo(&self) {
        if let Some(top) = &self.created {
            let _ = std::fs::remove_dir_all(top);
        }
    }
}

impl Destination {
    /// Makes the missing parents, clones (unless resuming) and runs `uv sync`.
    fn prepare(self, ctx: &Context, o: &Options) -> Result<Prepared> {
        Ok(self.clone(ctx, o)?.sync(ctx))
    }

    /// Makes the missing parents and clones (unless resuming).
    fn clone(self, ctx: &Context, o: &Options) -> Result<Prepared> {
        if !self.resume {
            if let Some(parent) = self.dest.parent().filter(|p| !p.is_dir()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| SetupError::io("could not create", parent, e))?;
            }
            clone_with_progress(ctx, &self.repo_url, o.branch.as_deref(), &self.dest)?;
        }
        timing("cloned");
        Ok(Prepared {
            repo_url: self.repo_url,
            demo_origin: self.demo_origin,
            dest: self.dest,
            already_registered: self.already_registered,
            running: self.running,
            resume: self.resume,
            created: self.missing_top,
            uv: Err(SetupError::NotYet { what: "uv sync" }),
            synced: false,
        })
    }
}

impl Prepared {
    /// Runs `uv sync` once; the result is kept for the step that reports it.
    fn sync(mut self, ctx: &Context) -> Prepared {
        if !self.synced {
            self.uv = uv_sync(ctx, &self.dest);
            self.synced = true;
            timing("uv synced");
        }
        self
    }
}

fn clone_with_progress(ctx: &Context, url: &str, branch: Option<&str>, dest: &Path) -> Result<()> {
    let bar = ctx.reporter.counter("cloning");
    let start = std::time::Instant::now();
    let res = clone::clone(url, branch, dest, |t| {
        // A local clone reports no transfer: no bar rather than an empty one.
        if t.total_objects == 0 {
            return;
        }
        bar.set_length(t.total_objects as u64);
        bar.set_position(t.received_objects as u64);
        let secs = start.elapsed().as_secs_f64().max(0.001);
        bar.set_message(&format!(
            "objects, {} ({}/s)",
            crate::support::units::human_bytes(t.received_bytes as u64),
            crate::support::units::human_bytes((t.received_bytes as f64 / secs) as u64)
        ));
    });
    bar.finish();
    res
}

fn uv_sync(ctx: &Context, dir: &Path) -> Result<()> {
    // Not a Python project: nothing to sync (said in step 5).
    if !dir.join("pyproject.toml").is_file() {
        return Ok(());
    }
    let spinner = ctx.reporter.spinner("uv sync");
    let res = crate::support::exec::Cmd::new("uv")
        .arg("sync")
        .current_dir(dir)
        .timeout(Duration::from_secs(1800))
        .run();
    spinner.finish();
    res.map(|_| ()).map_err(SetupError::from)
}

/// Explains the stack's 1Password item and looks it up, saying what it found.
fn lookup_item(ctx: &Context, stack: &Stack) -> onepassword::ItemState {
    ctx.reporter.info(&onepassword::explain(stack));
    let item = onepassword::item_state(stack);
    match &item {
        onepassword::ItemState::Present => ctx
            .reporter
            .success(&format!("item {} found", stack.local_prod_item)),
        onepassword::ItemState::Missing => {
            ctx.reporter.info(&format!(
                "item {} does not exist yet",
                stack.local_prod_item
            ));
        }
        onepassword::ItemState::Unavailable(why) => ctx
            .reporter
            .warn(&format!("{why}; the stack will use insecure defaults")),
        onepassword::ItemState::AfterClone => {}
    }
    item
}

#[cfg(test)]
mod tests;
