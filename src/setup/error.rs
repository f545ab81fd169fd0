//! The installer's and the demo's errors: where local-prod's clone goes, cloning it,
//! the demo's project. [`SetupError`] carries them, and whatever the layers below
//! said arrives whole in [`SetupError::Instance`] (instance's [`Error`], itself
//! flattened), so each failure has one place to be matched. Its exit kind is its own
//! ([`SetupError::exit_kind`]); its messages say what to do themselves.

use std::path::PathBuf;

use crate::instance::error::Error;
use crate::stack::error::StackError;
use crate::state::error::StateError;
use crate::support::error::{ExitKind, SupportError};
use crate::support::exec::ExecError;
use crate::tools::error::ToolsError;

pub type Result<T, E = SetupError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A failure of the layers below (boxed: a setup result stays small).
    #[error(transparent)]
    Instance(Box<Error>),
    #[error(
        "a required tool is missing (see the fixes above); setup stopped before changing anything"
    )]
    MissingTools,
    /// A destination for local-prod's clone that cannot be used; `from_flag`: it
    /// was given with --path (else answered at a prompt, and asked again).
    #[error("{problem}{}", if *from_flag { ". Choose another --path" } else { "" })]
    BadDestination {
        problem: DestinationProblem,
        from_flag: bool,
    },
    #[error("no destination: pass --path=PATH (for example --path=~/Documents/dev/ktrdr-prod)")]
    NoDestination,
    #[error("HOME is not set; cannot expand ~")]
    NoHomeForTilde,
    #[error(
        "{url} is an SSH URL; kinfra-setup clones over HTTPS or from a local path. Use the https URL (for KTRDR: {default}), or `git clone` it yourself into --path and rerun setup: it resumes from an existing clone"
    )]
    SshUrl { url: String, default: &'static str },
    /// A step's result asked for before the step ran.
    #[error("{what} has not run")]
    NotYet { what: &'static str },
    /// A thread doing part of the work panicked.
    #[error("{what} crashed")]
    Crashed { what: &'static str },
    #[error("cloning {url} failed: {why}")]
    CloneFailed { url: String, why: String },
    #[error(
        "the demo's local-prod needs the compose project name {project}, and Docker already has {what}: probably your real local-prod, which the demo never touches. Nothing was changed; run the demo on a machine (or at a time) without a {project} project"
    )]
    DemoProjectInUse { project: String, what: String },
}

/// Why a directory cannot hold local-prod's clone.
#[derive(Debug, thiserror::Error)]
pub enum DestinationProblem {
    #[error("{} exists and is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{} is not empty and is not a clone of {url}; it was left untouched", path.display())]
    NotEmpty { path: PathBuf, url: String },
    #[error("{} has no existing parent", path.display())]
    NoParent { path: PathBuf },
    #[error("{} is a file, so {} cannot be made under it", file.display(), path.display())]
    UnderAFile { file: PathBuf, path: PathBuf },
    #[error("{} is not writable by you, so nothing can be made there", path.display())]
    NotWritable { path: PathBuf },
}

impl SetupError {
    pub fn exit_kind(&self) -> ExitKind {
        use ExitKind::*;
        match self {
            SetupError::Instance(e) => e.exit_kind(),
            SetupError::NotYet { .. }
            | SetupError::Crashed { .. }
            | SetupError::CloneFailed { .. } => Failure,
            SetupError::BadDestination { .. }
            | SetupError::NoDestination
            | SetupError::NoHomeForTilde
            | SetupError::SshUrl { .. }
            | SetupError::DemoProjectInUse { .. } => Invalid,
            SetupError::MissingTools => Environment,
        }
    }
}

crate::instance::error::wraps_instance!(SetupError: SupportError, ExecError, StateError, ToolsError, StackError);

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds the variants had in instance's `Error` before they moved here.
    #[test]
    fn setup_errors_keep_their_kinds_and_messages() {
        assert_eq!(SetupError::MissingTools.exit_kind(), ExitKind::Environment);
        assert_eq!(SetupError::NoDestination.exit_kind(), ExitKind::Invalid);
        let e = SetupError::Crashed { what: "the clone" };
        assert_eq!(e.exit_kind(), ExitKind::Failure);
        assert_eq!(e.to_string(), "the clone crashed");
        let flat = SetupError::from(ToolsError::from(SupportError::Interrupted));
        assert!(matches!(flat, SetupError::Instance(ref i) if i.is_interrupted()));
        assert_eq!(flat.exit_code(), 130);
    }
}
