//! The values every command runs against: kinfra home, current directory, whether a
//! person is at a terminal, and where progress and messages go. The CLI builds one
//! from the process; tests build their own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::state::error::{Result, StateError};
use crate::state::home::Home;
use crate::state::registry::Registry;
use crate::support::prompt::Prompter;

use crate::support::env_vars::EnvVars;

/// A long piece of work with a known size.
pub trait Progress: Send + Sync {
    fn inc(&self, n: u64);
    fn finish(&self);
    fn set_length(&self, _n: u64) {}
    fn set_position(&self, _n: u64) {}
    fn set_message(&self, _msg: &str) {}
    /// Keep moving without updates (a spinner).
    fn tick_steadily(&self) {}
    /// Lines given to `set_message` are not kept on screen: show what matters again.
    fn compact(&self) -> bool {
        false
    }
}

/// Every message as a line of its own.
pub struct Lines<'a>(pub Box<dyn Fn(&str) + Send + Sync + 'a>);
impl Progress for Lines<'_> {
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
    fn set_message(&self, msg: &str) {
        (self.0)(msg);
    }
}

/// How one item of a checklist ended (a prerequisite, a gate check). The library
/// says which; the front end draws it (the CLI's coloured ✓/!/✗ in `cli/ui.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Ok,
    Warn,
    Failed,
    Skipped,
}

/// How the library talks to the person running it. All output goes to stderr;
/// stdout is kept for results (`--json`, lists).
pub trait Reporter: Send + Sync {
    /// A step starts ("Starting containers").
    fn step(&self, msg: &str);
    /// Detail or a result line.
    fn info(&self, msg: &str);
    fn warn(&self, msg: &str);
    fn success(&self, msg: &str);
    /// One item of a checklist with how it ended. Without a front end's marks the
    /// line goes out as a result, a warning or a detail.
    fn check(&self, mark: Mark, line: &str) {
        match mark {
            Mark::Ok => self.success(line),
            Mark::Warn | Mark::Failed => self.warn(line),
            Mark::Skipped => self.info(line),
        }
    }
    fn bytes(&self, total: u64, label: &str) -> Box<dyn Progress>;
    /// A numbered part of a longer run ("[3/8] Destination").
    fn section(&self, title: &str) {
        self.step(title);
    }
    /// A count of things of unknown total at first (objects received), with a message.
    fn counter(&self, _label: &str) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
    /// Work without a measure (`uv sync`).
    fn spinner(&self, _label: &str) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
    /// Another program's progress lines (compose): on a terminal one line redrawn in
    /// place ([`Progress::compact`]), elsewhere each line as it comes.
    fn live(&self, _label: &str) -> Box<dyn Progress + '_> {
        Box::new(Lines(Box::new(move |l| self.info(&format!("  {l}")))))
    }
}

/// Collects messages (tests, embedding), and hands each to a sink as it comes
/// (the MCP server forwards them as progress).
#[derive(Default)]
pub struct Recorder {
    pub lines: std::sync::Mutex<Vec<String>>,
    sink: Option<Sink>,
}

/// Where a [`Recorder`] sends each message as it comes.
type Sink = Box<dyn Fn(&str) + Send + Sync>;

struct NoProgress;
impl Progress for NoProgress {
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

impl Reporter for Recorder {
    fn step(&self, msg: &str) {
        self.push(format!("step: {msg}"));
    }
    fn info(&self, msg: &str) {
        self.push(msg.to_string());
    }
    fn warn(&self, msg: &str) {
        self.push(format!("warning: {msg}"));
    }
    fn success(&self, msg: &str) {
        self.push(msg.to_string());
    }
    fn bytes(&self, _: u64, _: &str) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
}

impl Recorder {
    pub fn with_sink(sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Recorder {
            lines: Default::default(),
            sink: Some(Box::new(sink)),
        }
    }

    /// The messages so far.
    pub fn taken(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn push(&self, s: String) {
        if let Some(f) = &self.sink {
            f(&s);
        }
        if let Ok(mut l) = self.lines.lock() {
            l.push(s);
        }
    }
}

/// What to do about a failure the library reports without stopping (a warning with
/// its cause, as a sandbox's unreadable secrets): the edge that talks to the user
/// words it (`cli::hints::warning_hint`), since hints name its commands and flags.
/// Without one the warning goes out alone.
pub type Hinter = fn(&(dyn std::error::Error + 'static)) -> Option<String>;

#[derive(Clone)]
pub struct Context {
    pub home: Home,
    pub cwd: PathBuf,
    /// A person at a terminal: prompts allowed.
    pub interactive: bool,
    pub reporter: Arc<dyn Reporter>,
    /// Where questions go; [`crate::support::prompt::NoPrompter`] when not interactive.
    pub prompter: Arc<dyn Prompter>,
    /// The edge's words for a warning's cause ([`Hinter`]).
    pub hinter: Option<Hinter>,
}

impl Context {
    /// From the process: `KINFRA_HOME` or `~/.ktrdr`, the current directory.
    pub fn from_process(
        interactive: bool,
        reporter: Arc<dyn Reporter>,
        prompter: Arc<dyn Prompter>,
    ) -> Result<Self> {
        crate::support::env_vars::check()?;
        let home = Home::from_env()?;
        let cwd = std::env::current_dir()
            .map_err(|e| StateError::io("could not read the current directory", ".", e))?;
        Ok(Context {
            home,
            cwd,
            interactive,
            reporter,
            prompter,
            hinter: None,
        })
    }

    /// Non-interactive, in `home` and `cwd` (tests, embedding).
    pub fn new(home: &Path, cwd: &Path, reporter: Arc<dyn Reporter>) -> Self {
        Context {
            home: Home::at(home),
            cwd: cwd.to_path_buf(),
            interactive: false,
            reporter,
            prompter: Arc::new(crate::support::prompt::NoPrompter),
            hinter: None,
        }
    }

    /// The same context, its warnings' causes worded by `hinter`.
    pub fn with_hinter(self, hinter: Hinter) -> Self {
        Context {
            hinter: Some(hinter),
            ..self
        }
    }

    /// What to do about `e`, reported as a warning: the edge's words, if it gave any.
    pub fn hint(&self, e: &(dyn std::error::Error + 'static)) -> Option<String> {
        self.hinter.and_then(|h| h(e))
    }

    /// Interactive, asking `prompter` (tests answer questions with it).
    #[cfg(test)]
    pub(crate) fn with_prompter(&self, prompter: Arc<dyn Prompter>) -> Self {
        Context {
            interactive: true,
            prompter,
            ..self.clone()
        }
    }

    pub fn registry(&self) -> Registry {
        Registry::new(&self.home)
    }

    pub fn shared_dir(&self) -> PathBuf {
        self.home.shared_dir()
    }

    pub fn with_cwd(&self, cwd: &Path) -> Self {
        Context {
            cwd: cwd.to_path_buf(),
            ..self.clone()
        }
    }
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether Ctrl-C was pressed since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
}

static CATCHING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Installs the one Ctrl-C (SIGINT) handler (the process may have only one). Until
/// [`catch_interrupts`], Ctrl-C ends the process with 130 after showing the cursor
/// again: a menu hides it, and a killed menu would leave the shell without one.
pub fn handle_interrupts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            let term = console::Term::stderr();
            if term.is_term() {
                let _ = term.show_cursor();
            }
            let catching = CATCHING.load(std::sync::atomic::Ordering::SeqCst);
            if !catching || INTERRUPTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::process::exit(130);
            }
            crate::errln!(
                "\ninterrupted: undoing what this start did (Ctrl-C again to quit at once)"
            );
        });
    });
}

/// From now on the first Ctrl-C is noted instead of ending the process, so long work
/// can undo what it did and stop; a second one ends it at once (130). Children in the
/// same process group (compose) get the signal themselves.
pub fn catch_interrupts() {
    handle_interrupts();
    CATCHING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Test-only hook. With `KINFRA_TEST_PAUSE_AT=<step>` and `KINFRA_TEST_PAUSE_FILE=<path>`,
/// the process writes `<path>` on reaching `<step>` and waits until `<path>` is
/// removed. The reliability suite uses it to `kill -9` kinfra, or cut Docker off, at
/// a named point. Costs one environment lookup when unset.
pub fn pause_point(step: &str) {
    let Some(at) = std::env::var_os(EnvVars::KINFRA_TEST_PAUSE_AT) else {
        return;
    };
    if at != step {
        return;
    }
    let Some(file) = std::env::var_os(EnvVars::KINFRA_TEST_PAUSE_FILE) else {
        return;
    };
    let file = PathBuf::from(file);
    if std::fs::write(&file, step).is_err() {
        return;
    }
    while file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
