//! The errors of a stack's description: `kinfra.toml`, the built-in and inferred
//! descriptions, the compose files they name. Lower layers' errors arrive whole.

use std::path::PathBuf;

use crate::engine::error::EngineError;
use crate::state::error::StateError;
use crate::support::error::{ExitKind, SupportError};
use crate::support::exec::ExecError;
use crate::tools::error::ToolsError;

pub type Result<T, E = StackError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Support(SupportError),
    #[error(transparent)]
    State(StateError),
    #[error(transparent)]
    Tools(ToolsError),
    #[error(transparent)]
    Engine(EngineError),
    #[error("{origin}: {message}")]
    StackInvalid { origin: String, message: String },
    /// A compose file the description names resolves outside the repository.
    #[error(
        "refused the compose file {file}: {why}; kinfra reads only files inside the repository"
    )]
    ComposeFileOutside { file: String, why: String },
    /// A description file (`kinfra.toml`, devops-ai's `infra.toml`) kinfra will not
    /// read: a link out of the checkout (its text would be echoed in a parse
    /// error: another file's secrets), a FIFO or device (`/dev/zero` would be read
    /// until memory ran out), or one too large.
    #[error(
        "refused the stack description {}: {why}; kinfra reads a description only from a regular file of at most {} KiB inside the checkout",
        path.display(),
        crate::stack::MAX_DESCRIPTION / 1024
    )]
    DescriptionRefused { path: PathBuf, why: String },
    /// The checkout lacks a compose file the description names.
    #[error(
        "{} has no {file} (the stack's compose_file); kinfra runs the repository's own compose file: check out a branch that has it, or name the right file in kinfra.toml",
        dir.display()
    )]
    ComposeFileMissing { dir: PathBuf, file: String },
}

impl StackError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StackError::Support(SupportError::io(what, path, source))
    }

    pub fn exit_kind(&self) -> ExitKind {
        match self {
            StackError::Support(e) => e.exit_kind(),
            StackError::State(e) => e.exit_kind(),
            StackError::Tools(e) => e.exit_kind(),
            StackError::Engine(e) => e.exit_kind(),
            StackError::StackInvalid { .. }
            | StackError::ComposeFileOutside { .. }
            | StackError::DescriptionRefused { .. }
            | StackError::ComposeFileMissing { .. } => ExitKind::Invalid,
        }
    }
}

impl From<SupportError> for StackError {
    fn from(e: SupportError) -> Self {
        StackError::Support(e)
    }
}

impl From<ExecError> for StackError {
    fn from(e: ExecError) -> Self {
        StackError::Support(SupportError::Exec(e))
    }
}

impl From<StateError> for StackError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Support(e) => StackError::Support(e),
            e => StackError::State(e),
        }
    }
}

impl From<ToolsError> for StackError {
    fn from(e: ToolsError) -> Self {
        match e {
            ToolsError::Support(e) => StackError::Support(e),
            ToolsError::State(e) => StackError::State(e),
            e => StackError::Tools(e),
        }
    }
}

impl From<EngineError> for StackError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Support(e) => StackError::Support(e),
            EngineError::State(e) => StackError::State(e),
            EngineError::Tools(e) => StackError::Tools(e),
            e => StackError::Engine(e),
        }
    }
}
