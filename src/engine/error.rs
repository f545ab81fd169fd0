//! The errors of Docker engines on other machines: their records, reaching them,
//! whether they can host sandboxes. Lower layers' errors arrive whole.

use std::path::PathBuf;

use crate::state::error::StateError;
use crate::support::error::{ExitKind, SupportError};
use crate::support::exec::ExecError;
use crate::tools::error::ToolsError;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Support(SupportError),
    #[error(transparent)]
    State(StateError),
    #[error(transparent)]
    Tools(ToolsError),
    #[error("the engine {name} ({}) is not reachable", at.0)]
    EngineUnreachable {
        name: String,
        /// Its address and the ssh command line that logs in there (for the hint);
        /// boxed to keep errors small.
        at: Box<(String, String)>,
        #[source]
        source: ExecError,
    },
    #[error("the engine {name} ({}) cannot host sandboxes: {}", why.0, why.1)]
    EngineUnfit {
        name: String,
        /// Its address and what is wrong (what to do about it is the CLI's hint).
        why: Box<(String, Unfit)>,
    },
    #[error("no engine {name:?}{}", if known.is_empty() { " (none added)".to_string() } else { format!(" (there are: {})", known.join(", ")) })]
    NoSuchEngine { name: String, known: Vec<String> },
    #[error("an engine named {name} already exists ({url})")]
    EngineExists { name: String, url: String },
    #[error("the engine {name} still hosts: {}", instances.join(", "))]
    EngineInUse {
        name: String,
        instances: Vec<String>,
    },
    /// A name given for an engine is not one (the validator's reason).
    #[error("{why}")]
    BadName { why: String },
    /// An address given for an engine is not one kinfra uses (the parser's reason).
    #[error("{why}")]
    BadAddress { why: String },
    /// The registry's record of an engine has a name kinfra would not have written.
    #[error("the registry's engine {why}")]
    BadRecordName { why: String },
    /// The registry's record of an engine has an address kinfra would not have written.
    #[error("the registry's engine {name} has an address kinfra will not use: {why}")]
    BadRecordAddress { name: String, why: String },
    /// The registry's record of where Docker is on an engine's machine is not one
    /// kinfra would have written (nothing is forwarded or dialled).
    #[error("the registry's engine {name} records Docker at a place kinfra will not use: {why}")]
    BadRecordDockerHost { name: String, why: String },
    /// One process works on one engine; the instance is on this machine's.
    #[error(
        "one command acts on one engine: this one works on {engine}, and {id} is on this machine's"
    )]
    OnAnotherEngine { engine: String, id: String },
    #[error(
        "the remote path {path:?} is not one kinfra writes into a remote command (letters, digits, / . _ - only)"
    )]
    UnsafeRemotePath { path: String },
    #[error("{id:?} is not an instance name kinfra mirrors")]
    NotMirrorable { id: String },
}

/// Why an engine cannot host sandboxes. What to do about each names commands to
/// install or run, so it is the CLI's (`cli::hints`), not the library's.
#[derive(Debug, thiserror::Error)]
pub enum Unfit {
    #[error("its machine has no `docker` command on the PATH of an SSH session")]
    NoDocker,
    #[error("its machine has no rsync (kinfra mirrors the code there with it)")]
    NoRsyncThere,
    #[error("this machine has no rsync (kinfra mirrors the code with it)")]
    NoRsyncHere,
    #[error("its user's home is {home:?}, not an absolute path of plain characters")]
    BadHome { home: String },
    /// `docker info`'s answer, trimmed, when it cannot be read.
    #[error("`docker info` answered {answer:?}")]
    InfoUnreadable { answer: String },
    /// Compose's failure through the engine (its message).
    #[error("compose does not work through it: {why}")]
    NoCompose { why: String },
    /// rsync's failure (its message).
    #[error("the code could not be mirrored there: {why}")]
    NotMirrored { why: String },
}

impl EngineError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Support(SupportError::io(what, path, source))
    }

    pub fn exit_kind(&self) -> ExitKind {
        use EngineError::*;
        match self {
            Support(e) => e.exit_kind(),
            State(e) => e.exit_kind(),
            Tools(e) => e.exit_kind(),
            EngineUnreachable { .. } | EngineUnfit { .. } => ExitKind::Environment,
            NoSuchEngine { .. } => ExitKind::NotFound,
            EngineExists { .. } | EngineInUse { .. } => ExitKind::Failure,
            BadName { .. }
            | BadAddress { .. }
            | BadRecordName { .. }
            | BadRecordAddress { .. }
            | BadRecordDockerHost { .. }
            | OnAnotherEngine { .. }
            | UnsafeRemotePath { .. }
            | NotMirrorable { .. } => ExitKind::Invalid,
        }
    }
}

impl From<SupportError> for EngineError {
    fn from(e: SupportError) -> Self {
        EngineError::Support(e)
    }
}

impl From<ExecError> for EngineError {
    fn from(e: ExecError) -> Self {
        EngineError::Support(SupportError::Exec(e))
    }
}

impl From<StateError> for EngineError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Support(e) => EngineError::Support(e),
            e => EngineError::State(e),
        }
    }
}

impl From<ToolsError> for EngineError {
    fn from(e: ToolsError) -> Self {
        match e {
            ToolsError::Support(e) => EngineError::Support(e),
            ToolsError::State(e) => EngineError::State(e),
            e => EngineError::Tools(e),
        }
    }
}
