//! The errors of the external tools kinfra drives: Docker, Compose, git, the
//! secret stores. Lower layers' errors arrive whole ([`ToolsError::Support`],
//! [`ToolsError::State`]).

use std::path::PathBuf;

use crate::state::error::StateError;
use crate::support::error::{ExitKind, SupportError};
use crate::support::exec::ExecError;

pub type Result<T, E = ToolsError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    #[error(transparent)]
    Support(SupportError),
    #[error(transparent)]
    State(StateError),
    #[error("{} is not inside a git repository", dir.display())]
    NotInRepo { dir: PathBuf },
    #[error("branch {branch:?} is already checked out in another worktree")]
    BranchCheckedOut {
        branch: String,
        #[source]
        source: ExecError,
    },
    #[error("compose could not read {}", file.display())]
    ComposeConfig {
        file: PathBuf,
        #[source]
        source: ExecError,
    },
    #[error("the Docker engine is not reachable")]
    DockerUnavailable {
        /// The endpoint the docker CLI talks to (as the docker module's `endpoint()` found
        /// it when the error was made) and what chose it; boxed to keep errors small.
        endpoint: Box<(String, String)>,
        #[source]
        source: ExecError,
    },
    /// `git rev-parse` does not resolve it to a commit (or it looks like an option).
    #[error("the base {rev:?} is not a commit of {}: name a branch, tag or commit", repo.display())]
    NotACommit { rev: String, repo: PathBuf },
    /// What `compose config` printed is not a compose model kinfra can read.
    #[error("could not read what `{tool} config` printed for {}: {why}", file.display())]
    ComposeOutput {
        /// The compose tool and version (`docker compose 2.24.1`).
        tool: String,
        file: PathBuf,
        why: String,
    },
    /// A process drives one engine; a second engine was asked for.
    #[error("one command acts on one engine: this one already works on {working_on}, not {asked}")]
    SecondEngine { working_on: String, asked: String },
    /// The thread running a query panicked.
    #[error("{what} crashed")]
    QueryCrashed { what: &'static str },
    #[error("no Docker Compose found (tried `docker compose` and `docker-compose`)")]
    NoCompose,
    #[error(
        "the Docker endpoint {endpoint} ({via}) is not this machine; kinfra starts stacks only on a local engine"
    )]
    RemoteDocker { endpoint: String, via: String },
}

impl ToolsError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ToolsError::Support(SupportError::io(what, path, source))
    }

    pub fn exit_kind(&self) -> ExitKind {
        match self {
            ToolsError::Support(e) => e.exit_kind(),
            ToolsError::State(e) => e.exit_kind(),
            ToolsError::BranchCheckedOut { .. }
            | ToolsError::ComposeOutput { .. }
            | ToolsError::QueryCrashed { .. } => ExitKind::Failure,
            ToolsError::NotInRepo { .. }
            | ToolsError::ComposeConfig { .. }
            | ToolsError::NotACommit { .. }
            | ToolsError::SecondEngine { .. } => ExitKind::Invalid,
            ToolsError::DockerUnavailable { .. }
            | ToolsError::NoCompose
            | ToolsError::RemoteDocker { .. } => ExitKind::Environment,
        }
    }
}

impl From<SupportError> for ToolsError {
    fn from(e: SupportError) -> Self {
        ToolsError::Support(e)
    }
}

impl From<StateError> for ToolsError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Support(e) => ToolsError::Support(e),
            e => ToolsError::State(e),
        }
    }
}

impl From<ExecError> for ToolsError {
    fn from(e: ExecError) -> Self {
        ToolsError::Support(SupportError::Exec(e))
    }
}

/// Why secrets could not be loaded. Each is a warning: the stack then runs on its
/// insecure defaults.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the 1Password CLI `op` is not installed")]
    NotInstalled,
    #[error("the 1Password CLI is not signed in")]
    NotSignedIn,
    #[error("1Password has no item {item:?}")]
    ItemMissing { item: String },
    #[error("1Password item {item:?} could not be read: {reason}")]
    ItemUnavailable { item: String, reason: String },
    #[error("1Password returned something that is not an item for {item:?}: {reason}")]
    Garbage { item: String, reason: String },
    #[error("the 1Password CLI did not answer within {secs} s")]
    TimedOut { secs: u64 },
    #[error("the host variable {var} is not set")]
    HostVarMissing { var: String },
    #[error("{} secret reference(s) could not be resolved; nothing was started and the kept values are unchanged:\n  {}", failures.len(), failures.join("\n  "))]
    Unresolved { failures: Vec<String> },
}
