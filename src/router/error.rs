//! The router's errors: starting, stopping and asking the router (and checkouts).
//! [`RouterError`] carries them, and whatever the layers below said arrives whole in
//! [`RouterError::Instance`] (instance's [`Error`], itself flattened), so each
//! failure has one place to be matched. Its exit kind is its own
//! ([`RouterError::exit_kind`]); what to do about it is the CLI's (`cli::hints`).

use std::path::PathBuf;

use crate::instance::error::Error;
use crate::state::error::StateError;
use crate::support::error::{ExitKind, SupportError};
use crate::support::exec::ExecError;
use crate::tools::error::ToolsError;

pub type Result<T, E = RouterError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// A failure of the layers below: instances, tools, state, support (boxed: a
    /// router result stays small).
    #[error(transparent)]
    Instance(Box<Error>),
    #[error("no router is running: `kinfra router start`")]
    NoRouter,
    #[error("the router's answer could not be read")]
    RouterAnswerUnreadable,
    /// The router refused a request (its own message).
    #[error("{why}")]
    RouterRefused { status: u16, why: String },
    #[error("the router did not start{}; its log: {}", tail.as_ref().map(|t| format!(" ({t})")).unwrap_or_default(), log.display())]
    RouterDidNotStart { tail: Option<String>, log: PathBuf },
    #[error("port {port} on 127.0.0.1, which the router needs, is held by {holder}")]
    RouterPortHeld { port: u16, holder: String },
    #[error("checkout refused: {detail}")]
    CheckoutHeld { detail: String },
    #[error("a router already runs for this kinfra home{}", match (pid, port) { (Some(pid), Some(port)) => format!(": pid {pid}, on http://127.0.0.1:{port}/"), _ => " (it is starting)".into() })]
    RouterRunning { pid: Option<u32>, port: Option<u16> },
}

impl RouterError {
    pub fn exit_kind(&self) -> ExitKind {
        use ExitKind::*;
        match self {
            RouterError::Instance(e) => e.exit_kind(),
            RouterError::RouterRunning { .. } | RouterError::RouterAnswerUnreadable => Failure,
            RouterError::NoRouter
            | RouterError::RouterRefused { .. }
            | RouterError::RouterDidNotStart { .. } => Invalid,
            RouterError::RouterPortHeld { .. } | RouterError::CheckoutHeld { .. } => PortConflict,
        }
    }
}

crate::instance::error::wraps_instance!(RouterError: SupportError, ExecError, StateError, ToolsError);

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds the variants had in instance's `Error` before they moved here.
    #[test]
    fn router_errors_keep_their_kinds_and_messages() {
        let e = RouterError::RouterRunning {
            pid: Some(7),
            port: Some(8080),
        };
        assert_eq!(e.exit_kind(), ExitKind::Failure);
        assert_eq!(
            e.to_string(),
            "a router already runs for this kinfra home: pid 7, on http://127.0.0.1:8080/"
        );
        assert_eq!(RouterError::NoRouter.exit_kind(), ExitKind::Invalid);
        let held = RouterError::CheckoutHeld { detail: "x".into() };
        assert_eq!(held.exit_kind(), ExitKind::PortConflict);
        let flat = RouterError::from(ToolsError::from(SupportError::Interrupted));
        assert!(matches!(flat, RouterError::Instance(ref i) if i.is_interrupted()));
        assert_eq!(flat.exit_code(), 130);
    }
}
