//! The agents layer's errors: the worktree hooks' input and settings file, the MCP
//! server's runtime and session, and the MCP tools' refusals of their arguments.
//! [`AgentsError`] carries them; what the layers below said arrives whole in
//! [`AgentsError::Instance`] or [`AgentsError::Data`] (a data error that carries an
//! instance error is `Instance`), so each failure has one place to be matched. Its
//! exit kind is its own ([`AgentsError::exit_kind`]); what to do about it is the
//! CLI's (`cli::hints::agents_hint`), handed to the MCP server as [`AgentsHint`].

use std::path::PathBuf;

use crate::data::error::DataError;
use crate::engine::error::EngineError;
use crate::instance::error::Error;
use crate::stack::error::StackError;
use crate::state::error::StateError;
use crate::support::error::{ExitKind, SupportError};
use crate::support::exec::ExecError;
use crate::tools::error::ToolsError;

pub type Result<T, E = AgentsError> = std::result::Result<T, E>;

/// What to do about an agents error (or a lower one it carries), decided at the
/// edge that talks to the user (`cli::hints::agents_hint`) and handed to MCP.
pub type AgentsHint = fn(&AgentsError) -> Option<String>;

#[derive(Debug, thiserror::Error)]
pub enum AgentsError {
    /// A failure of the layers below the data layer (boxed: a result stays small).
    #[error(transparent)]
    Instance(Box<Error>),
    /// What the data layer said (snapshots, copies).
    #[error(transparent)]
    Data(Box<DataError>),
    #[error("the hook's input is not valid JSON: {source}")]
    HookInputNotJson { source: serde_json::Error },
    #[error("the hook's input is not a JSON object: {value}")]
    HookInputNotObject { value: String },
    #[error("the hook's input was empty: expected one JSON object on stdin")]
    HookInputEmpty,
    /// The hook's payload lacks a field the hook needs (its spellings).
    #[error("the hook's input has no {field}")]
    HookInputLacks { field: &'static str },
    /// `WorktreeRemove` named a path that is not a worktree kinfra made: left as it is.
    #[error("refused to remove {}: {why}; it was left as it is", path.display())]
    NotKinfraWorktree { path: PathBuf, why: NotOurs },
    #[error("{what} is not {expected}")]
    BadSettings {
        what: String,
        expected: &'static str,
    },
    #[error("{} is not valid JSON ({source}); it was left as it is", path.display())]
    SettingsNotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The merged settings could not be turned into JSON (a bug; nothing was written).
    #[error("{source}")]
    SettingsUnencodable { source: serde_json::Error },
    #[error("could not start the MCP runtime")]
    McpRuntime {
        #[source]
        source: std::io::Error,
    },
    #[error("the MCP session failed to start")]
    McpStart {
        /// Boxed: the SDK's error is large.
        #[source]
        source: Box<rmcp::service::ServerInitializeError>,
    },
    #[error("the MCP session ended with an error")]
    McpEnded {
        #[source]
        source: tokio::task::JoinError,
    },
    /// MCP's `up` with `on` for local-prod.
    #[error("`on` places a sandbox, not local-prod")]
    OnForLocalProd,
    /// MCP's `create` with `online` but no `data`.
    #[error("`online` says how to copy `data`: name the source in `data`")]
    OnlineWithoutData,
}

/// Why `WorktreeRemove` will not remove a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotOurs {
    #[error("it is local-prod's clone")]
    LocalProd,
    #[error("no kinfra sandbox is registered there")]
    Unregistered,
    #[error(
        "{id} is registered there, but it is not a git worktree kinfra created (a main clone registered with `sandbox init` is never removed by the hook)"
    )]
    NotCreated { id: String },
}

impl AgentsError {
    /// One exhaustive match: a new variant must choose its kind here.
    pub fn exit_kind(&self) -> ExitKind {
        use ExitKind::*;
        match self {
            AgentsError::Instance(e) => e.exit_kind(),
            AgentsError::Data(e) => e.exit_kind(),
            AgentsError::SettingsUnencodable { .. }
            | AgentsError::McpRuntime { .. }
            | AgentsError::McpStart { .. }
            | AgentsError::McpEnded { .. } => Failure,
            AgentsError::HookInputNotJson { .. }
            | AgentsError::HookInputNotObject { .. }
            | AgentsError::HookInputEmpty
            | AgentsError::HookInputLacks { .. }
            | AgentsError::BadSettings { .. }
            | AgentsError::SettingsNotJson { .. }
            | AgentsError::OnForLocalProd
            | AgentsError::OnlineWithoutData => Invalid,
            AgentsError::NotKinfraWorktree { .. } => WouldLoseWork,
        }
    }
}

crate::instance::error::wraps_instance!(AgentsError: SupportError, ExecError, StateError, ToolsError, EngineError, StackError);

/// A data error that carries an instance error lands in [`AgentsError::Instance`].
impl From<DataError> for AgentsError {
    fn from(e: DataError) -> Self {
        match e {
            DataError::Instance(e) => AgentsError::Instance(e),
            e => AgentsError::Data(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds the variants had in instance's `Error` before they moved here, and
    /// a lower error found in one place however it came.
    #[test]
    fn agents_errors_keep_their_kinds_and_flatten_what_they_carry() {
        let refused = AgentsError::NotKinfraWorktree {
            path: PathBuf::from("/w"),
            why: NotOurs::Unregistered,
        };
        assert_eq!(refused.exit_code(), 5);
        assert_eq!(
            refused.to_string(),
            "refused to remove /w: no kinfra sandbox is registered there; it was left as it is"
        );
        assert_eq!(AgentsError::HookInputEmpty.exit_kind(), ExitKind::Invalid);
        let via_data = AgentsError::from(DataError::from(Error::NoLocalProd));
        assert!(
            matches!(via_data, AgentsError::Instance(ref e) if matches!(**e, Error::NoLocalProd))
        );
        let stopped = AgentsError::from(ToolsError::from(SupportError::Interrupted));
        assert_eq!(stopped.exit_code(), 130);
        assert!(!stopped.exit_kind().is_failure());
    }
}
