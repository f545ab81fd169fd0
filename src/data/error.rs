//! The data layer's errors: snapshots, copies and where their data comes from.
//! [`DataError`] carries them, and whatever the layers below said arrives whole in
//! [`DataError::Instance`] (instance's [`Error`], itself flattened: a support error
//! carried through tools is `Instance(Error::Support(..))`), so each failure has one
//! place to be matched. Its exit kind is its own ([`DataError::exit_kind`]); what to
//! do about it is the CLI's (`cli::hints`).

use crate::engine::error::EngineError;
use crate::instance::error::Error;
use crate::stack::error::StackError;
use crate::state::error::StateError;
use crate::support::error::{ExitKind, SupportError};
use crate::support::exec::ExecError;
use crate::support::slug::SlugError;
use crate::tools::error::ToolsError;

pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// What to do about a data layer's error (or a lower one it carries), decided at
/// the edge that talks to the user (`cli::hints::data_hint`) and handed to MCP.
pub type DataHint = fn(&DataError) -> Option<String>;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A failure of the layers below: instances, stacks, engines, tools, state,
    /// support (boxed: a data result stays small).
    #[error(transparent)]
    Instance(Box<Error>),
    #[error("the copy helper did not finish {what}")]
    HelperUnfinished { what: &'static str },
    #[error(
        "snapshot name {name:?} is refused: {why}, so `--data {name}` would be ambiguous; choose another name"
    )]
    SnapshotNameClash { name: String, why: String },
    /// Not a name a snapshot can have (the validator's reason).
    #[error("{why}")]
    BadSnapshotName { why: String },
    /// Volumes of the snapshot that could not be removed (each with its reason).
    #[error("{}", why.join("; "))]
    SnapshotNotRemoved { why: Vec<String> },
    #[error(
        "--data {spec:?} names both snapshot {spec} and sandbox {sandbox}: rename one (`kinfra snapshot save` the data under another name, then `kinfra snapshot rm {spec}`)"
    )]
    SourceAmbiguous { spec: String, sandbox: String },
    #[error("{spec:?} is neither local-prod, a snapshot of {project} ({}), nor a registered sandbox", if snapshots.is_empty() { "it has none".to_string() } else { snapshots.join(", ") })]
    NoSuchSource {
        spec: String,
        project: String,
        snapshots: Vec<String>,
    },
    #[error(
        "--data {id}: which project this sandbox belongs to could not be read ({why}); it is not used"
    )]
    SourceProjectUnknown { id: String, why: String },
    #[error(
        "--data {id}: that sandbox belongs to project {theirs}, not {project}; a sandbox's data comes from its own project's local-prod, sandboxes or snapshots"
    )]
    SourceOfOtherProject {
        id: String,
        theirs: String,
        project: String,
    },
    #[error(
        "--online streams a running Postgres; snapshot {name} is copied as it was saved, with no pause: drop --online"
    )]
    OnlineSnapshot { name: String },
    #[error("--online cannot copy {id}: {why}; drop --online to copy with a short pause")]
    OnlineRefused { id: String, why: String },
    #[error("{id} cannot take its data from itself")]
    DataFromItself { id: String },
    /// A copy whose source is on one engine and whose target on another (`None`:
    /// this machine's); what to do is the CLI's hint.
    #[error(
        "{source_label} is on {}, and {target} {} on {}: a data copy runs inside one engine, and copying between engines is not supported yet",
        engine_words(from.as_deref()),
        if *new { "would be" } else { "is" },
        engine_words(to.as_deref())
    )]
    DataAcrossEngines {
        source_label: String,
        target: String,
        /// Whether the target is a sandbox still to be made (`create --data`).
        new: bool,
        from: Option<String>,
        to: Option<String>,
    },
    /// A snapshot's record names an engine kinfra will not dial: not an engine's
    /// name (an address, say) or one not recorded. The file was edited, or the
    /// engine was forgotten.
    #[error(
        "the record of snapshot {name:?} says it lives on the engine {engine:?}, which kinfra will not use: {why}"
    )]
    SnapshotEngineRefused {
        name: String,
        engine: String,
        why: String,
    },
    /// Data would be replaced and no one said yes (the question, when there was
    /// no terminal to ask it).
    #[error("{}", match question { Some(q) => format!("{q}: pass --yes to confirm (there is no terminal to ask)"), None => "not confirmed; nothing was changed".into() })]
    Unconfirmed { question: Option<String> },
    #[error("local-prod's data is its own: --data is for sandboxes")]
    LocalProdData,
    #[error(
        "{id} is running: `kinfra sandbox reset --data {spec}` replaces a running sandbox's data (or stop it first)"
    )]
    DataTargetRunning { id: String, spec: String },
    #[error(
        "{id} was not made from data (no `create --data`): name a source with --data local-prod|SANDBOX|SNAPSHOT"
    )]
    NoDataSource { id: String },
    #[error(
        "the registry's record of {id}'s data source ({record:?}) is not one kinfra writes; it was left as it is: pass --data"
    )]
    DataRecordUnknown { id: String, record: String },
    #[error("no snapshot {name:?} of {project}{}", if known.is_empty() { String::new() } else { format!(" (there are: {})", known.join(", ")) })]
    NoSuchSnapshot {
        name: String,
        project: String,
        known: Vec<String>,
    },
    #[error(
        "snapshot {name:?} is on this machine's engine: `kinfra snapshot rm {name}` removes it with its volumes (--forget is for a snapshot whose engine is gone)"
    )]
    ForgetLocal { name: String },
    #[error("snapshot {name:?} belongs to project {other}, not {project}")]
    SnapshotOfOtherProject {
        name: String,
        project: String,
        other: String,
    },
    #[error("a snapshot {name:?} of {project} already exists{}", engine.as_ref().map(|e| format!(" (on the engine {e})")).unwrap_or_default())]
    SnapshotExists {
        name: String,
        project: String,
        /// The engine on another machine it lives on (`None`: this machine's).
        engine: Option<String>,
    },
    #[error("{instance} has no data volumes to copy: {why}")]
    NoData { instance: String, why: String },
    #[error("not enough free space for the copy: it writes {}, the engine's volume filesystem has {} free", crate::support::units::human_bytes(*need), crate::support::units::human_bytes(*free))]
    NoSpace { need: u64, free: u64 },
    #[error("no image present can run the data copy (it needs sh, cp, du, df and sleep): {tried}")]
    NoCopyImage { tried: String },
}

impl DataError {
    /// Ctrl-C: the command was cancelled (its own kind, not a failure).
    pub fn interrupted() -> Self {
        Error::interrupted().into()
    }

    /// Whether this is a cancellation rather than a failure.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, DataError::Instance(e) if e.is_interrupted())
    }

    pub fn exit_kind(&self) -> ExitKind {
        use ExitKind::*;
        match self {
            DataError::Instance(e) => e.exit_kind(),
            DataError::SnapshotExists { .. }
            | DataError::NoSpace { .. }
            | DataError::HelperUnfinished { .. }
            | DataError::SnapshotNotRemoved { .. } => Failure,
            DataError::NoSuchSource { .. }
            | DataError::SnapshotOfOtherProject { .. }
            | DataError::NoData { .. }
            | DataError::SnapshotNameClash { .. }
            | DataError::BadSnapshotName { .. }
            | DataError::SourceAmbiguous { .. }
            | DataError::SourceProjectUnknown { .. }
            | DataError::SourceOfOtherProject { .. }
            | DataError::OnlineSnapshot { .. }
            | DataError::OnlineRefused { .. }
            | DataError::DataFromItself { .. }
            | DataError::DataAcrossEngines { .. }
            | DataError::Unconfirmed { .. }
            | DataError::LocalProdData
            | DataError::DataTargetRunning { .. }
            | DataError::NoDataSource { .. }
            | DataError::DataRecordUnknown { .. }
            | DataError::ForgetLocal { .. } => Invalid,
            DataError::NoSuchSnapshot { .. } => NotFound,
            DataError::SnapshotEngineRefused { .. } => CorruptState,
            DataError::NoCopyImage { .. } => Environment,
        }
    }
}

/// "the engine NAME", or "this machine's engine".
pub fn engine_words(e: Option<&str>) -> String {
    e.map_or("this machine's engine".to_string(), |n| {
        format!("the engine {n}")
    })
}

crate::instance::error::wraps_instance!(DataError: SupportError, ExecError, SlugError, StateError, crate::state::error::LoadError, ToolsError, EngineError, StackError);

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds the variants had in instance's `Error` before they moved here.
    #[test]
    fn data_errors_keep_their_kinds_and_messages() {
        let e = DataError::NoSuchSnapshot {
            name: "a".into(),
            project: "p".into(),
            known: vec!["b".into()],
        };
        assert_eq!(e.exit_kind(), ExitKind::NotFound);
        assert_eq!(e.to_string(), "no snapshot \"a\" of p (there are: b)");
        assert_eq!(
            DataError::NoCopyImage { tried: "x".into() }.exit_kind(),
            ExitKind::Environment
        );
        assert_eq!(
            DataError::NoSpace { need: 1, free: 0 }.exit_kind(),
            ExitKind::Failure
        );
        assert_eq!(DataError::LocalProdData.exit_kind(), ExitKind::Invalid);
    }

    /// A copy across engines names both, says which is new, and is bad input; a
    /// snapshot record naming an engine kinfra will not use is corrupt state.
    #[test]
    fn engine_refusals_name_both_engines() {
        let e = DataError::DataAcrossEngines {
            source_label: "snapshot base".into(),
            target: "the new sandbox x".into(),
            new: true,
            from: Some("rem".into()),
            to: None,
        };
        assert_eq!(
            e.to_string(),
            "snapshot base is on the engine rem, and the new sandbox x would be on this \
             machine's engine: a data copy runs inside one engine, and copying between engines \
             is not supported yet"
        );
        assert_eq!(e.exit_kind(), ExitKind::Invalid);
        let e = DataError::DataAcrossEngines {
            source_label: "local-prod shop-prod".into(),
            target: "shop--b".into(),
            new: false,
            from: None,
            to: Some("rem".into()),
        };
        assert!(
            e.to_string().starts_with(
                "local-prod shop-prod is on this machine's engine, and shop--b is on the engine rem"
            ),
            "{e}"
        );
        let e = DataError::SnapshotEngineRefused {
            name: "base".into(),
            engine: "ssh://u@h".into(),
            why: "not an engine name".into(),
        };
        assert_eq!(e.exit_kind(), ExitKind::CorruptState);
        let e = DataError::SnapshotExists {
            name: "base".into(),
            project: "shop".into(),
            engine: Some("rem".into()),
        };
        assert_eq!(
            e.to_string(),
            "a snapshot \"base\" of shop already exists (on the engine rem)"
        );
    }

    /// A lower layer's error lands in instance's own variant for it.
    #[test]
    fn lower_errors_are_flattened_through_instance() {
        let e = DataError::from(ToolsError::from(StateError::from(
            SupportError::Interrupted,
        )));
        assert!(e.is_interrupted());
        assert_eq!(e.exit_code(), 130);
        assert!(matches!(e, DataError::Instance(ref i) if matches!(**i, Error::Support(_))));
        assert_eq!(
            DataError::from(Error::NoLocalProd).to_string(),
            Error::NoLocalProd.to_string()
        );
    }
}
