//! The CLI's own refusals (of its flags and arguments) and what every command
//! returns: [`CliError`], the library's error or one of these. The edge turns it into
//! one report: its kind (the exit code), the error with its causes, and the hints.

use std::path::PathBuf;

use crate::support::error::ExitKind;

pub type CliResult<T> = std::result::Result<T, CliError>;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// What the library said; its kind and hints are its own (boxed: the CLI's
    /// result stays small).
    #[error(transparent)]
    Lib(Box<crate::Error>),
    /// What the data layer said (snapshots, copies); its kind and hints are its own.
    #[error(transparent)]
    Data(Box<crate::data::error::DataError>),
    /// What the router said (starting, stopping, asking it); its kind and hints are its own.
    #[error(transparent)]
    Router(Box<crate::router::error::RouterError>),
    /// What the hooks or the MCP server said; its kind and hints are its own.
    #[error(transparent)]
    Agents(Box<crate::agents::error::AgentsError>),
    /// What the installer or the demo said; its kind and hints are its own.
    #[error(transparent)]
    Setup(Box<crate::setup::error::SetupError>),
    #[error("invalid value {value} for '--slot': {why}; sandboxes use slots 1 to {max}")]
    BadSlot {
        /// As given, quoted the way clap quotes it.
        value: String,
        why: String,
        max: u8,
    },
    /// A command that would lose data, run where no one can be asked (the refusal
    /// names the flag that confirms).
    #[error("{refusal}")]
    Unconfirmed { refusal: String },
    #[error(
        "the demo image {image} is not present; build it with scripts/demo-image.sh (or docker pull {image})"
    )]
    DemoImageMissing { image: &'static str },
    #[error("name the service to open a shell in (this stack sets no shell_service)")]
    NoShellService,
    #[error("{label} of {id} has no routed URL (the router routes each service's web port)")]
    NoRoutedUrl { label: String, id: String },
    #[error("{id} has no URL called {what:?} (known: {})", known.join(", "))]
    NoSuchUrl {
        id: String,
        what: String,
        known: Vec<String>,
    },
    #[error(
        "--on places a sandbox (not local-prod), and not in the same `up` as --data: create it with `kinfra sandbox create NAME --data SOURCE --on ENGINE` (the copy is made inside that engine)"
    )]
    OnNotHere,
    #[error("no completion script for {shell}")]
    NoCompletionScript { shell: String },
    #[error("could not write the script: {source}")]
    ScriptUnwritable { source: std::io::Error },
    #[error("{} has no compose file ({}); name one with --compose-file", top.display(), names.join(", "))]
    NoComposeFileToDescribe {
        top: PathBuf,
        names: Vec<&'static str>,
    },
    #[error("{} exists and was left as it is; `kinfra stack init --stdout` prints a draft to compare", path.display())]
    DescriptionExists { path: PathBuf },
    /// An internal command's instance id that names no project (the validator's reason).
    #[error("{why}")]
    BadInstanceId { why: String },
    #[error("{} is not a data journal of this kinfra home", path.display())]
    NotAJournal { path: PathBuf },
}

impl CliError {
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            CliError::Lib(e) => e.exit_kind(),
            CliError::Data(e) => e.exit_kind(),
            CliError::Router(e) => e.exit_kind(),
            CliError::Agents(e) => e.exit_kind(),
            CliError::Setup(e) => e.exit_kind(),
            CliError::ScriptUnwritable { .. } => ExitKind::Failure,
            CliError::BadSlot { .. }
            | CliError::Unconfirmed { .. }
            | CliError::DemoImageMissing { .. }
            | CliError::NoShellService
            | CliError::NoRoutedUrl { .. }
            | CliError::NoSuchUrl { .. }
            | CliError::OnNotHere
            | CliError::NoCompletionScript { .. }
            | CliError::NoComposeFileToDescribe { .. }
            | CliError::DescriptionExists { .. }
            | CliError::BadInstanceId { .. }
            | CliError::NotAJournal { .. } => ExitKind::Invalid,
        }
    }

    /// What to do about it: the library's errors get [`super::hints::hint`]; the
    /// CLI's own say it in their message.
    pub fn hint(&self) -> Option<String> {
        match self {
            CliError::Lib(e) => super::hints::hint(e),
            CliError::Data(e) => super::hints::data_hint(e),
            CliError::Router(e) => super::hints::router_hint(e),
            CliError::Agents(e) => super::hints::agents_hint(e),
            CliError::Setup(e) => super::hints::setup_error_hint(e),
            _ => None,
        }
    }
}

impl From<crate::Error> for CliError {
    fn from(e: crate::Error) -> Self {
        CliError::Lib(Box::new(e))
    }
}

impl From<crate::data::error::DataError> for CliError {
    fn from(e: crate::data::error::DataError) -> Self {
        CliError::Data(Box::new(e))
    }
}

impl From<crate::router::error::RouterError> for CliError {
    fn from(e: crate::router::error::RouterError) -> Self {
        CliError::Router(Box::new(e))
    }
}

impl From<crate::agents::error::AgentsError> for CliError {
    fn from(e: crate::agents::error::AgentsError) -> Self {
        CliError::Agents(Box::new(e))
    }
}

impl From<crate::setup::error::SetupError> for CliError {
    fn from(e: crate::setup::error::SetupError) -> Self {
        CliError::Setup(Box::new(e))
    }
}

impl From<crate::support::error::SupportError> for CliError {
    fn from(e: crate::support::error::SupportError) -> Self {
        CliError::Lib(Box::new(e.into()))
    }
}

impl From<crate::state::error::StateError> for CliError {
    fn from(e: crate::state::error::StateError) -> Self {
        CliError::Lib(Box::new(e.into()))
    }
}

impl From<crate::tools::error::ToolsError> for CliError {
    fn from(e: crate::tools::error::ToolsError) -> Self {
        CliError::Lib(Box::new(e.into()))
    }
}

impl From<crate::engine::error::EngineError> for CliError {
    fn from(e: crate::engine::error::EngineError) -> Self {
        CliError::Lib(Box::new(e.into()))
    }
}

impl From<crate::stack::error::StackError> for CliError {
    fn from(e: crate::stack::error::StackError) -> Self {
        CliError::Lib(Box::new(e.into()))
    }
}

impl From<crate::support::exec::ExecError> for CliError {
    fn from(e: crate::support::exec::ExecError) -> Self {
        CliError::Lib(Box::new(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_keeps_the_library_kinds_and_its_own_messages() {
        let e = CliError::BadSlot {
            value: "'0'".into(),
            why: "slot 0 is local-prod's".into(),
            max: 10,
        };
        assert_eq!(
            e.to_string(),
            "invalid value '0' for '--slot': slot 0 is local-prod's; sandboxes use slots 1 to 10"
        );
        assert_eq!(e.exit_kind(), ExitKind::Invalid);
        assert_eq!(e.hint(), None);
        let lib = CliError::from(crate::Error::NoLocalProd);
        assert_eq!(lib.exit_kind(), ExitKind::NotFound);
        assert!(lib.hint().is_some());
        let stopped = CliError::from(crate::Error::interrupted());
        assert_eq!(stopped.exit_kind().code(), 130);
        assert!(!stopped.exit_kind().is_failure());
    }
}
