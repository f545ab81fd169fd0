//! The errors of kinfra's own state: the registry, `.env.sandbox`, kinfra's home.
//! `support`'s domain-free errors arrive whole in [`StateError::Support`].

use std::path::PathBuf;

use crate::support::error::{ExitKind, SupportError};
use crate::support::exec::ExecError;

pub type Result<T, E = StateError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A domain-free failure: a program, a file, a name, a question, Ctrl-C.
    #[error(transparent)]
    Support(#[from] SupportError),
    #[error("the registry {} is not valid; it was left as it is", path.display())]
    RegistryCorrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the registry {} has version {version}, which this kinfra does not know; it was left as it is", path.display())]
    RegistryVersion {
        path: PathBuf,
        version: String,
        /// The versions this kinfra reads.
        reads: [u64; 2],
    },
    #[error("the registry {} is a symbolic link (to {}); kinfra does not read or write through links", path.display(), target.display())]
    RegistrySymlink { path: PathBuf, target: PathBuf },
    /// The registry's contents could not be turned into JSON (a bug: nothing was written).
    #[error("could not encode {}: {source}", path.display())]
    RegistryUnencodable {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(transparent)]
    EnvFile(#[from] LoadError),
    #[error("{} was not written: {source}", path.display())]
    EnvUnwritable {
        path: PathBuf,
        #[source]
        source: EnvFileError,
    },
    #[error("all {max} sandbox slots are in use: {}", holders.iter().map(|(s, id)| format!("{s}={id}")).collect::<Vec<_>>().join(", "))]
    SlotsFull { max: u8, holders: Vec<(u8, String)> },
    /// Neither variable that says where kinfra's home is was set.
    #[error("neither {home_var} nor HOME is set")]
    NoHome { home_var: &'static str },
}

impl StateError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StateError::Support(SupportError::io(what, path, source))
    }

    pub fn exit_kind(&self) -> ExitKind {
        match self {
            StateError::Support(e) => e.exit_kind(),
            StateError::RegistryCorrupt { .. }
            | StateError::RegistryVersion { .. }
            | StateError::RegistrySymlink { .. }
            | StateError::EnvFile(_) => ExitKind::CorruptState,
            StateError::RegistryUnencodable { .. } | StateError::SlotsFull { .. } => {
                ExitKind::Failure
            }
            StateError::EnvUnwritable { .. } | StateError::NoHome { .. } => ExitKind::Invalid,
        }
    }
}

impl From<ExecError> for StateError {
    fn from(e: ExecError) -> Self {
        StateError::Support(SupportError::Exec(e))
    }
}

/// What is wrong with the text of an env file.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnvFileError {
    #[error("line {line}: expected KEY=VALUE, found {text:?}")]
    NoEquals { line: usize, text: String },
    #[error("line {line}: {key:?} is not a valid key (letters, digits and _ only)")]
    BadKey { line: usize, key: String },
    #[error("line {line}: {key} is set twice (first on line {first})")]
    Duplicate {
        line: usize,
        first: usize,
        key: String,
    },
    #[error("{key} is missing")]
    Missing { key: String },
    #[error("{key}={value:?} is not {expected}")]
    BadValue {
        key: String,
        value: String,
        expected: String,
    },
    /// A value holding a CR or NUL: no writer of this file puts one there.
    #[error("line {line}: {key}: {reason}")]
    BadLineValue {
        line: usize,
        key: String,
        reason: String,
    },
    /// Refused by the writer: the line would not read back as this key and value.
    #[error("{key:?} cannot be written: {reason}")]
    Unwritable { key: String, reason: String },
}

/// Why an instance's `.env.sandbox` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("could not read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid env file", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: EnvFileError,
    },
}
