//! The values every command runs against: kinfra home, current directory, whether a
//! person is at a terminal, and where progress and messages go. The CLI builds one
//! from the process; tests build their own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::registry::Registry;

/// Where the registry and shared data live (default `~/.ktrdr`).
pub const ENV_HOME: &str = "KINFRA_HOME";
/// Forces the compose variant: `plugin` or `standalone`.
pub const ENV_COMPOSE: &str = "KINFRA_COMPOSE";
/// Set (to anything) to print internal timings on stderr (`kinfra-timing: …`).
pub const ENV_TIMING: &str = "KINFRA_TIMING";
/// Seconds a command waits for another one working on the same instance (default 600).
pub const ENV_LOCK_WAIT: &str = "KINFRA_LOCK_WAIT";
/// Poll interval of the startability gate, in milliseconds (default 100).
pub const ENV_GATE_POLL_MS: &str = "KINFRA_GATE_POLL_MS";

/// A long piece of work with a known size.
pub trait Progress: Send + Sync {
    fn inc(&self, n: u64);
    fn finish(&self);
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
    fn bytes(&self, total: u64, label: &str) -> Box<dyn Progress>;
}

/// Collects messages (tests, embedding).
#[derive(Default)]
pub struct Recorder {
    pub lines: std::sync::Mutex<Vec<String>>,
}

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
    fn push(&self, s: String) {
        if let Ok(mut l) = self.lines.lock() {
            l.push(s);
        }
    }
}

#[derive(Clone)]
pub struct Context {
    pub home: PathBuf,
    pub cwd: PathBuf,
    /// A person at a terminal: prompts allowed.
    pub interactive: bool,
    pub reporter: Arc<dyn Reporter>,
}

impl Context {
    /// From the process: `KINFRA_HOME` or `~/.ktrdr`, the current directory.
    pub fn from_process(interactive: bool, reporter: Arc<dyn Reporter>) -> Result<Self> {
        let home = default_home()?;
        let cwd = std::env::current_dir()
            .map_err(|e| Error::io("could not read the current directory", ".", e))?;
        Ok(Context {
            home,
            cwd,
            interactive,
            reporter,
        })
    }

    pub fn registry(&self) -> Registry {
        Registry::new(&self.home)
    }

    pub fn shared_dir(&self) -> PathBuf {
        self.home.join("shared")
    }

    pub fn with_cwd(&self, cwd: &Path) -> Self {
        Context {
            cwd: cwd.to_path_buf(),
            ..self.clone()
        }
    }
}

/// `KINFRA_HOME`, made absolute, or `~/.ktrdr`.
pub fn default_home() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os(ENV_HOME).filter(|h| !h.is_empty()) {
        let p = PathBuf::from(h);
        return Ok(if p.is_absolute() {
            p
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("could not read the current directory", ".", e))?
                .join(p)
        });
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".ktrdr"))
        .ok_or_else(|| Error::Invalid("neither KINFRA_HOME nor HOME is set".into()))
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether Ctrl-C was pressed since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// From now on the first Ctrl-C (SIGINT) is noted instead of ending the process,
/// so long work can undo what it did and stop; a second one ends it at once (130).
/// Children in the same process group (compose) get the signal themselves.
pub fn catch_interrupts() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: undoing what this start did (Ctrl-C again to quit at once)");
    });
}

/// Test-only hook. With `KINFRA_TEST_PAUSE_AT=<step>` and `KINFRA_TEST_PAUSE_FILE=<path>`,
/// the process writes `<path>` on reaching `<step>` and waits until `<path>` is
/// removed. The reliability suite uses it to `kill -9` kinfra, or cut Docker off, at
/// a named point. Costs one environment lookup when unset.
pub fn pause_point(step: &str) {
    let Some(at) = std::env::var_os("KINFRA_TEST_PAUSE_AT") else {
        return;
    };
    if at != step {
        return;
    }
    let Some(file) = std::env::var_os("KINFRA_TEST_PAUSE_FILE") else {
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
