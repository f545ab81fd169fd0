//! Errors that know nothing of kinfra's domain, and the exit kinds every error maps to.
//!
//! # How kinfra's errors are laid out
//!
//! Each layer owns the errors of its own failures and carries their data (paths,
//! names, ports), never a preformatted sentence:
//!
//! | layer | error | what fails there |
//! |---|---|---|
//! | `support` | [`SupportError`] | running a program ([`ExecError`]), a file, a name ([`SlugError`]), a question without a terminal, a variable kinfra reads, Ctrl-C |
//! | `state` | `state::error::StateError` | the registry, `.env.sandbox`, kinfra's home |
//! | `tools` | `tools::error::ToolsError` (and `SecretsError`) | Docker, Compose, git, the secret stores |
//! | `engine` | `engine::error::EngineError` | engines on other machines: records, reaching them, fitness |
//! | `stack` | `stack::error::StackError` | the stack's description and the compose files it names |
//! | `instance` | `instance::error::Error` (= `crate::Error`) | instances: finding, placing, starting, stopping, destroying them |
//! | `data` | `data::error::DataError` | snapshots, copies, where a copy's data comes from; instance's error (boxed) for the rest |
//! | `router` | `router::error::RouterError` | starting, stopping and asking the router, checkouts; instance's error (boxed) for the rest |
//! | `agents` | `agents::error::AgentsError` | the worktree hooks' input and settings file, the MCP server's session, the MCP tools' refusals of their arguments; instance's and data's errors (boxed) for the rest |
//! | `setup` | `setup::error::SetupError` | the installer and the demo: local-prod's destination, the clone, the demo's project, missing tools; instance's error (boxed) for the rest |
//! | `cli` | `cli::error::CliError` | the CLI's refusals of its own flags and arguments; the library's errors, boxed |
//!
//! An upper layer wraps a lower layer's error whole (a wrapper variant per lower
//! layer, the source kept), so the CLI prints the cause chain; it never turns it into
//! a string. The `From` impls flatten: an error carried up through several layers
//! lands in its own layer's wrapper of `crate::Error` (a data, router or setup
//! error carries it whole in its `Instance` variant), so one match finds it. MCP's
//! tools answer with the agents layer's error, which carries the data layer's.
//!
//! What an error *is* for scripts (its [`ExitKind`], the process's exit code and
//! MCP's `class`) is decided by the layer that owns it (`exit_kind()` on each error).
//! What the user should *do* about it (hints, which name CLI commands and flags) is
//! decided at the edge that talks to the user: `cli::hints`. The library says what
//! and why; the CLI says what to do, and hands its words to the library's other
//! edges (MCP's errors, `doctor`'s findings, and through the context's `Hinter` the
//! warnings the library reports and goes on after).
//!
//! Ctrl-C is not a failure: [`ExitKind::Interrupted`] (130, as shells report it) is
//! its own kind, reported as such by the CLI and by MCP.

use std::path::PathBuf;

use crate::support::exec::ExecError;
use crate::support::slug::SlugError;

/// The stable exit codes (documented in the README): what kind of failure ended a
/// command, for scripts and agents that branch on it. Domain-free on purpose: each
/// layer maps its own errors onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Something failed that was neither bad input nor the environment.
    Failure = 1,
    /// Bad input or the wrong place (also: a readiness check failed).
    Invalid = 2,
    /// A port that is needed is held by something else.
    PortConflict = 3,
    /// What was named does not exist.
    NotFound = 4,
    /// Refused because it would lose work; `--force` overrides.
    WouldLoseWork = 5,
    /// State on disk is corrupt or of an unknown version; it was left untouched.
    CorruptState = 6,
    /// A required tool or service is missing or unreachable.
    Environment = 7,
    /// Ctrl-C (128 + SIGINT, as shells report it): a cancellation, not a failure.
    Interrupted = 130,
}

impl ExitKind {
    pub const ALL: [ExitKind; 8] = [
        ExitKind::Failure,
        ExitKind::Invalid,
        ExitKind::PortConflict,
        ExitKind::NotFound,
        ExitKind::WouldLoseWork,
        ExitKind::CorruptState,
        ExitKind::Environment,
        ExitKind::Interrupted,
    ];

    /// The process's exit code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The kind an exit code stands for (`None`: 0, or a child's own code).
    pub fn from_code(code: i32) -> Option<ExitKind> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Its name for agents (MCP's error class).
    pub fn class(self) -> &'static str {
        match self {
            ExitKind::Failure => "failure",
            ExitKind::Invalid => "invalid_input",
            ExitKind::PortConflict => "port_conflict",
            ExitKind::NotFound => "not_found",
            ExitKind::WouldLoseWork => "would_lose_work",
            ExitKind::CorruptState => "corrupt_state",
            ExitKind::Environment => "environment",
            ExitKind::Interrupted => "interrupted",
        }
    }

    /// False for a cancellation (Ctrl-C): the command stopped because it was asked
    /// to, which the CLI and MCP report as such rather than as an error.
    pub fn is_failure(self) -> bool {
        self != ExitKind::Interrupted
    }
}

/// The failures of the bottom layer: nothing here knows what kinfra manages.
#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid name")]
    BadName(#[from] SlugError),
    /// Ctrl-C: what the command started was undone as far as it goes.
    #[error("interrupted")]
    Interrupted,
    /// A question asked where no one can answer it (no terminal).
    #[error(
        "\"{prompt}\" needs an answer, and there is no terminal to ask; pass the matching flag"
    )]
    NoTerminal { prompt: String },
    /// Standard input ended before a question was answered.
    #[error("input ended before \"{prompt}\" was answered; nothing more was done")]
    InputEnded { prompt: String },
    /// The answer to a question could not be read.
    #[error("{what}: {source}")]
    AnswerUnread {
        what: &'static str,
        source: std::io::Error,
    },
    /// Scripted answers (tests, `Scripted`) ran out.
    #[error("no scripted answer for \"{prompt}\"")]
    NoScriptedAnswer { prompt: String },
    /// A scripted answer did not fit its question.
    #[error("scripted answer {answer} to \"{prompt}\" is not {expected}")]
    Unscripted {
        prompt: String,
        /// The answer as given, quoted.
        answer: String,
        expected: String,
    },
    /// A variable kinfra reads holds a value it cannot use (refused before any
    /// command acts, never a silent default).
    #[error("{name}={value:?}{why}")]
    BadVariable {
        name: &'static str,
        value: String,
        /// Why not and what to set instead, from its separator on (` is not a size …`).
        why: String,
    },
}

impl SupportError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SupportError::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub fn exit_kind(&self) -> ExitKind {
        match self {
            SupportError::Exec(e) if e.not_found().is_some() => ExitKind::Environment,
            SupportError::Exec(_)
            | SupportError::Io { .. }
            | SupportError::AnswerUnread { .. }
            | SupportError::NoScriptedAnswer { .. }
            | SupportError::Unscripted { .. } => ExitKind::Failure,
            SupportError::BadName(_)
            | SupportError::NoTerminal { .. }
            | SupportError::InputEnded { .. }
            | SupportError::BadVariable { .. } => ExitKind::Invalid,
            SupportError::Interrupted => ExitKind::Interrupted,
        }
    }
}

/// Where a JSON text failed to parse and what kind of failure, never serde's
/// message: it quotes the offending value (`invalid type: string "…"`), which in
/// an answer from a secret store may be a secret.
pub fn json_where(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "not the expected shape",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{what} at line {}, column {}", e.line(), e.column())
}

/// The innermost cause of an error: the one line that says what really failed
/// (reqwest's own message is only "error sending request").
pub fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string()
}

/// The message of a thread's panic, for reporting it as a failure.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind's code, class and failure-ness, pinned: scripts and agents branch
    /// on them (README's exit-code table, MCP's `class`), so a change here is a
    /// change of kinfra's interface.
    #[test]
    fn every_exit_kind_maps_to_its_pinned_code_and_class() {
        let pinned = [
            (ExitKind::Failure, 1, "failure", true),
            (ExitKind::Invalid, 2, "invalid_input", true),
            (ExitKind::PortConflict, 3, "port_conflict", true),
            (ExitKind::NotFound, 4, "not_found", true),
            (ExitKind::WouldLoseWork, 5, "would_lose_work", true),
            (ExitKind::CorruptState, 6, "corrupt_state", true),
            (ExitKind::Environment, 7, "environment", true),
            (ExitKind::Interrupted, 130, "interrupted", false),
        ];
        assert_eq!(pinned.len(), ExitKind::ALL.len());
        for (k, code, class, failure) in pinned {
            assert_eq!(k.code(), code, "{k:?}");
            assert_eq!(k.class(), class, "{k:?}");
            assert_eq!(k.is_failure(), failure, "{k:?}");
            assert_eq!(ExitKind::from_code(code), Some(k));
        }
        assert_eq!(ExitKind::from_code(0), None);
        assert_eq!(ExitKind::from_code(42), None);
    }

    #[test]
    fn support_errors_have_their_kinds() {
        assert_eq!(SupportError::Interrupted.exit_kind(), ExitKind::Interrupted);
        let missing = ExecError::NotFound {
            program: "docker".into(),
        };
        assert_eq!(
            SupportError::from(missing).exit_kind(),
            ExitKind::Environment
        );
        assert_eq!(
            SupportError::NoTerminal { prompt: "x".into() }.exit_kind(),
            ExitKind::Invalid
        );
    }
}
