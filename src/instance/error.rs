//! The errors of instances: one enum, [`Error`] (`crate::Error`). The layers above
//! have their own, each carrying this one: the data layer's
//! `data::error::DataError`, the router's `router::error::RouterError`, the agents'
//! `agents::error::AgentsError`, setup's `setup::error::SetupError`.
//!
//! Lower layers' errors arrive whole in its wrapper variants ([`Error::Support`],
//! [`Error::State`], [`Error::Tools`], [`Error::Engine`], [`Error::Stack`]); the
//! `From` impls flatten them (a tools error that carries a support error becomes
//! `Error::Support`), so each failure has one place to be matched. The layout, the
//! exit kinds and where hints live: see `support::error`.

use std::path::PathBuf;

use crate::engine::error::EngineError;
use crate::stack::error::StackError;
use crate::state::error::StateError;
use crate::support::error::{ExitKind, SupportError};
use crate::support::exec::ExecError;
use crate::support::slug::SlugError;
use crate::tools::error::{SecretsError, ToolsError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to do about an error, decided at the edge that talks to the user
/// (`cli::hints::hint`) and handed to the library's other edges (MCP, `doctor`).
pub type Hint = fn(&Error) -> Option<String>;

#[derive(Debug, Clone)]
pub struct PortConflict {
    pub key: String,
    pub port: u16,
    /// The container that publishes it, when docker knows one.
    pub container: Option<String>,
    /// For an instance on another machine's engine, which of the two machines
    /// holds it (its ports must be free on both); `None`: a local instance's.
    pub machine: Option<PortMachine>,
}

/// Where a remote instance's port is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortMachine {
    /// This machine, where the engine's ports are forwarded.
    Here { engine: String },
    /// The engine's machine.
    There { engine: String },
}

impl std::fmt::Display for PortMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortMachine::Here { engine } => write!(
                f,
                "on this machine (where the ports of the engine {engine} are forwarded)"
            ),
            PortMachine::There { engine } => write!(f, "on the machine of the engine {engine}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A domain-free failure: a program, a file, a name, a question, Ctrl-C.
    #[error(transparent)]
    Support(SupportError),
    /// The registry, `.env.sandbox`, kinfra's home.
    #[error(transparent)]
    State(StateError),
    /// Docker, Compose, git, the secret stores.
    #[error(transparent)]
    Tools(ToolsError),
    /// Docker engines on other machines.
    #[error(transparent)]
    Engine(EngineError),
    /// The stack's description.
    #[error(transparent)]
    Stack(StackError),
    #[error("{} is not a {stack} repository (origin: {})", dir.display(), origin.as_deref().unwrap_or("none"))]
    NotStackRepo {
        dir: PathBuf,
        origin: Option<String>,
        stack: String,
        marker: String,
    },
    #[error("{} has no compose file (compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml) and no kinfra.toml", dir.display())]
    NoComposeFile { dir: PathBuf },
    #[error("local-prod must be a clone, and {} is a git worktree", dir.display())]
    NotAClone { dir: PathBuf },
    #[error("{} is already initialized as {id}", dir.display())]
    AlreadyInitialized { dir: PathBuf, id: String },
    #[error("a local-prod instance already exists at {}", path.display())]
    LocalProdExists { path: PathBuf },
    #[error("slot {slot} is already used by {by}")]
    SlotTaken { slot: u8, by: String },
    #[error("invalid slot {value:?}: sandboxes use slots 1 to {max} (slot 0 is local-prod's)")]
    BadSlot { value: String, max: u8 },
    #[error("an instance named {id} is already registered at {}", path.display())]
    NameTaken { id: String, path: PathBuf },
    #[error("{} already exists", path.display())]
    DirExists { path: PathBuf },
    #[error("no kinfra instance contains {} (no .env.sandbox here or in a parent directory)", dir.display())]
    NoInstanceHere { dir: PathBuf },
    #[error("{} belongs to {found}, not to {expected}", dir.display())]
    WrongKind {
        dir: PathBuf,
        expected: &'static str,
        found: String,
    },
    #[error("no sandbox named {name:?} is registered")]
    NoSuchInstance { name: String },
    /// An instance's `.env.sandbox` names another identity than its registry entry
    /// (or one registered elsewhere): see `instance::model::identity::check`.
    #[error("{} disagrees with the registry: {}; the file was left as it is", path.display(), describe_differences(differences))]
    IdentityMismatch {
        path: PathBuf,
        differences: Vec<IdentityDifference>,
    },
    /// A compose option that would choose another project, file set or engine than
    /// the instance's: see `instance::lifecycle::passthrough::check_args`.
    #[error("refused `{option}`: {why}; nothing was run")]
    TargetOption { option: String, why: &'static str },
    #[error("no local-prod instance is registered")]
    NoLocalProd,
    #[error("{}", describe_conflicts(conflicts))]
    PortConflict { conflicts: Vec<PortConflict> },
    #[error("docker compose failed for {project}")]
    ComposeFailed {
        project: String,
        #[source]
        source: ExecError,
    },
    #[error("the startability gate failed: {failed}")]
    GateFailed { failed: String },
    #[error("{} holds work that would be lost:\n{}", path.display(), describe_work(uncommitted, unpushed))]
    WouldLoseWork {
        path: PathBuf,
        uncommitted: Vec<String>,
        unpushed: Vec<String>,
    },
    #[error(
        "Docker already has {what} for the compose project {project}, which this registry does not own"
    )]
    ProjectInUse { project: String, what: String },
    #[error("{instance} is busy: {holder} is still working on it after {waited} s")]
    Busy {
        instance: String,
        holder: String,
        waited: u64,
    },
    #[error("{id} cannot be stopped to make room: its directory {dir} is gone")]
    RoomDirGone { id: String, dir: String },
    #[error("{id} could not be stopped to make room for {for_id}")]
    RoomNotMade {
        id: String,
        for_id: String,
        /// Boxed to keep `Error` small.
        #[source]
        source: Box<ExecError>,
    },
    #[error("no room to start {id}: {why}; running: {}", if running.is_empty() { "none".to_string() } else { running.join(", ") })]
    OverBudget {
        id: String,
        why: String,
        running: Vec<String>,
        /// Room was asked for (`--make-room`, or the router's wake) and no idle
        /// sandbox could give it: the hint must not offer the same flag again.
        room_asked: bool,
    },
    #[error("local-prod's secrets could not be read from 1Password item {item}")]
    SecretsRequired {
        item: String,
        #[source]
        source: SecretsError,
    },
    /// A secret given by reference could not be resolved (every one named).
    #[error(transparent)]
    SecretRefs(SecretsError),
    // Instances: their names, places, services and ports.
    /// The id cannot name an instance lock file (the validator's reason).
    #[error("cannot lock instance {id:?}: {why}")]
    Unlockable { id: String, why: String },
    /// What kinfra was about to write could not be turned into JSON (a bug;
    /// nothing was written).
    #[error("{source}")]
    Unencodable { source: serde_json::Error },
    /// The resolved compose model kinfra wrote does not read back.
    #[error("{source}")]
    ModelUnreadable { source: serde_json::Error },
    #[error("no free /{len} subnet in {pool} for network {network} (the project fixes {fixed}){}", narrowest.as_ref().map(|n| format!("; a sandbox's IPv6 subnet must be /{n} or narrower")).unwrap_or_default())]
    NoFreeSubnet {
        /// The prefix length wanted (`24`, `64 IPv6`).
        len: String,
        pool: String,
        network: String,
        /// The subnet the project's compose file fixes.
        fixed: String,
        /// For IPv6: the narrowest prefix the pool can give.
        narrowest: Option<String>,
    },
    #[error(
        "no free host port for {key} (the project's own port {base}): every candidate is taken"
    )]
    NoFreePort { key: String, base: String },
    /// Internal: a stack whose ports kinfra chooses runs one resolved copy.
    #[error(
        "{id} is placed on the engine {engine}, which runs kinfra's resolved copy of the compose model, and there is none: run `up` again"
    )]
    RemoteNoCopy { id: String, engine: String },
    #[error("the stack is up, but its post-start step failed: {why}")]
    PostStartFailed { why: String },
    /// The gate names ports the instance's environment lacks (the stack's reason).
    #[error("{why}")]
    GatePortsMissing { why: String },
    #[error("service {} uses network_mode: host, and {other} (another instance of {stack}) is running: two instances would bind the same host ports; stop it first (`kinfra sandbox down {other}`), or give the service its own network in the compose file", services.join(", "))]
    HostNetworkTaken {
        services: Vec<String>,
        other: String,
        stack: String,
    },
    #[error(
        "{id:?} is how the Python tools name their pooled slots (slot-N, <project>-slot-N); kinfra leaves those to them: choose another name"
    )]
    PoolName { id: String },
    #[error("{} has no parent directory", path.display())]
    NoParent { path: PathBuf },
    #[error("{branch:?} is not a valid git branch name")]
    BadBranchName { branch: String },
    #[error("service {service} of {id} is not running{}", running.as_ref().map(|r| format!(" (running: {})", if r.is_empty() { "none".to_string() } else { r.join(", ") })).unwrap_or_default())]
    ServiceNotRunning {
        service: String,
        id: String,
        /// The services that run, when they were looked at.
        running: Option<Vec<String>>,
    },
    #[error("{id} has no service {service:?} (services: {})", known.join(", "))]
    NoSuchService {
        id: String,
        service: String,
        known: Vec<String>,
    },
    #[error("exec needs a command (argv is empty)")]
    EmptyCommand,
    /// A shared service's name clashes with an instance's (the reason, naming both).
    #[error("{why}")]
    SharedServiceClash { why: String },
    #[error("shared service {name}: refused the compose file {file}: {why}")]
    SharedComposeOutside {
        name: String,
        file: String,
        why: String,
    },
    #[error("shared service {name}: {} has no {file}; check out a branch that has it, or fix kinfra.toml", dir.display())]
    SharedComposeMissing {
        name: String,
        dir: PathBuf,
        file: String,
    },
    #[error("{} has none of {} to copy from", from.display(), subdirs.join(", "))]
    NothingToCopy { from: PathBuf, subdirs: Vec<String> },
    #[error("{} is the shared directory itself", from.display())]
    CopyFromShared { from: PathBuf },
    #[error("host service {name} exited at start; its log: {}", log.display())]
    HostExited { name: String, log: PathBuf },
    #[error("host service {name} (pid {pid}) does not answer on port {port} after {secs} s; it is left running: see {}, or stop it with `kinfra local-prod host stop {name}`", log.display())]
    HostSilent {
        name: String,
        pid: u32,
        port: u16,
        secs: u64,
        log: PathBuf,
    },
    #[error("host service {name}: {what} {path}: {why}")]
    HostPath {
        name: String,
        what: &'static str,
        path: String,
        why: String,
    },
    /// Where an instance runs cannot change now (the reason).
    #[error("{why}")]
    PlacementRefused { why: String },
    #[error("{id} was placed on {engine} meanwhile")]
    PlacedMeanwhile { id: String, engine: String },
    #[error(
        "slot 0 is local-prod's, which `release` never touches (its database is real data); `kinfra local-prod destroy` removes it on purpose, the clone stays"
    )]
    ReleaseSlotZero,
    #[error("no {what} {name:?} in {origin}; it declares: {}", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    NotDeclared {
        what: String,
        name: String,
        origin: String,
        known: Vec<String>,
    },
    #[error("there is one local-prod, so `kinfra local-prod` commands take no name (got {name:?})")]
    LocalProdNamed { name: String },
    #[error(
        "{id} is registered at {path}, which no longer exists; `kinfra sandbox prune` frees it"
    )]
    InstanceDirGone { id: String, path: String },
    #[error("{spec:?} {why} FEATURE/MILESTONE (for example genome/M1)")]
    NotFeatureMilestone { spec: String, why: &'static str },
    #[error("no plan for milestone {milestone} of {feature}: {} has no {milestone}_*.md{}", dir.display(), if others.is_empty() { String::new() } else { format!(" (it has {})", others.join(", ")) })]
    NoPlan {
        milestone: String,
        feature: String,
        dir: PathBuf,
        others: Vec<String>,
    },
    #[error("the stack description asks to run commands on this machine that have not been allowed for {}:\n{commands}", clone.display())]
    NotAllowed { clone: PathBuf, commands: String },
    #[error("prepare step {name:?} failed: {detail}")]
    PrepareFailed { name: String, detail: String },
    #[error("host service {name} needs port {port}, which something else holds")]
    HostPortHeld { name: String, port: u16 },
    #[error("host service records kinfra did not write, nothing was signalled:\n  {}", records.join("\n  "))]
    HostRecordUntrusted { records: Vec<String> },
}

fn describe_conflicts(c: &[PortConflict]) -> String {
    let parts: Vec<String> = c
        .iter()
        .map(|p| {
            let held = match &p.container {
                Some(name) => format!("{} ({}) is held by container {name}", p.port, p.key),
                None => format!("{} ({}) is in use by another process", p.port, p.key),
            };
            match &p.machine {
                Some(m) => format!("{held} {m}"),
                None => held,
            }
        })
        .collect();
    format!("port conflict: {}", parts.join("; "))
}

/// One identity key on which an instance's `.env.sandbox` and the registry disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityDifference {
    pub key: String,
    /// What the file says.
    pub file: String,
    /// What the registry says (its value, or where the named instance is registered).
    pub registry: String,
    /// The line that restores the registry's value, when there is one.
    pub fix: Option<String>,
}

impl std::fmt::Display for IdentityDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {:?} in the file, but the registry says {}",
            self.key, self.file, self.registry
        )
    }
}

fn describe_differences(d: &[IdentityDifference]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_work(uncommitted: &[String], unpushed: &[String]) -> String {
    let mut s = String::new();
    for (title, lines) in [
        ("uncommitted changes", uncommitted),
        ("commits on no branch", unpushed),
    ] {
        if lines.is_empty() {
            continue;
        }
        s.push_str(&format!("  {title} ({}):\n", lines.len()));
        for l in lines.iter().take(20) {
            s.push_str(&format!("    {l}\n"));
        }
        if lines.len() > 20 {
            s.push_str(&format!("    … and {} more\n", lines.len() - 20));
        }
    }
    s.trim_end().to_string()
}

impl Error {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Support(SupportError::io(what, path, source))
    }

    /// Ctrl-C: the command was cancelled (its own kind, not a failure).
    pub fn interrupted() -> Self {
        Error::Support(SupportError::Interrupted)
    }

    /// Whether this is a cancellation rather than a failure.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Support(SupportError::Interrupted))
    }

    /// The stable exit code of this error.
    pub fn exit_code(&self) -> i32 {
        self.exit_kind().code()
    }

    /// One exhaustive match: a new variant must choose its kind here.
    pub fn exit_kind(&self) -> ExitKind {
        use ExitKind::*;
        match self {
            Error::Support(e) => e.exit_kind(),
            Error::State(e) => e.exit_kind(),
            Error::Tools(e) => e.exit_kind(),
            Error::Engine(e) => e.exit_kind(),
            Error::Stack(e) => e.exit_kind(),
            Error::AlreadyInitialized { .. }
            | Error::LocalProdExists { .. }
            | Error::SlotTaken { .. }
            | Error::NameTaken { .. }
            | Error::DirExists { .. }
            | Error::ComposeFailed { .. }
            | Error::ProjectInUse { .. }
            | Error::Busy { .. }
            | Error::RoomNotMade { .. }
            | Error::RoomDirGone { .. }
            | Error::PrepareFailed { .. }
            | Error::Unencodable { .. }
            | Error::ModelUnreadable { .. }
            | Error::NoFreeSubnet { .. }
            | Error::NoFreePort { .. }
            | Error::PostStartFailed { .. } => Failure,
            Error::NotStackRepo { .. }
            | Error::NoComposeFile { .. }
            | Error::NotAClone { .. }
            | Error::BadSlot { .. }
            | Error::WrongKind { .. }
            | Error::TargetOption { .. }
            | Error::NotAllowed { .. }
            | Error::GateFailed { .. }
            | Error::Unlockable { .. }
            | Error::RemoteNoCopy { .. }
            | Error::GatePortsMissing { .. }
            | Error::HostNetworkTaken { .. }
            | Error::PoolName { .. }
            | Error::NoParent { .. }
            | Error::BadBranchName { .. }
            | Error::ServiceNotRunning { .. }
            | Error::NoSuchService { .. }
            | Error::EmptyCommand
            | Error::SharedServiceClash { .. }
            | Error::SharedComposeOutside { .. }
            | Error::SharedComposeMissing { .. }
            | Error::NothingToCopy { .. }
            | Error::CopyFromShared { .. }
            | Error::HostExited { .. }
            | Error::HostSilent { .. }
            | Error::HostPath { .. }
            | Error::PlacementRefused { .. }
            | Error::PlacedMeanwhile { .. }
            | Error::ReleaseSlotZero
            | Error::NotDeclared { .. }
            | Error::LocalProdNamed { .. }
            | Error::InstanceDirGone { .. }
            | Error::NotFeatureMilestone { .. }
            | Error::NoPlan { .. } => Invalid,
            Error::PortConflict { .. } | Error::HostPortHeld { .. } => PortConflict,
            Error::NoInstanceHere { .. } | Error::NoSuchInstance { .. } | Error::NoLocalProd => {
                NotFound
            }
            Error::WouldLoseWork { .. } => WouldLoseWork,
            Error::IdentityMismatch { .. } | Error::HostRecordUntrusted { .. } => CorruptState,
            Error::OverBudget { .. } | Error::SecretsRequired { .. } | Error::SecretRefs(_) => {
                Environment
            }
        }
    }
}

impl From<SupportError> for Error {
    fn from(e: SupportError) -> Self {
        Error::Support(e)
    }
}

impl From<ExecError> for Error {
    fn from(e: ExecError) -> Self {
        Error::Support(SupportError::Exec(e))
    }
}

impl From<SlugError> for Error {
    fn from(e: SlugError) -> Self {
        Error::Support(SupportError::BadName(e))
    }
}

impl From<StateError> for Error {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Support(e) => Error::Support(e),
            e => Error::State(e),
        }
    }
}

impl From<crate::state::error::LoadError> for Error {
    fn from(e: crate::state::error::LoadError) -> Self {
        Error::State(StateError::EnvFile(e))
    }
}

impl From<ToolsError> for Error {
    fn from(e: ToolsError) -> Self {
        match e {
            ToolsError::Support(e) => Error::Support(e),
            ToolsError::State(e) => Error::State(e),
            e => Error::Tools(e),
        }
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Support(e) => Error::Support(e),
            EngineError::State(e) => Error::State(e),
            EngineError::Tools(e) => Error::Tools(e),
            e => Error::Engine(e),
        }
    }
}

impl From<StackError> for Error {
    fn from(e: StackError) -> Self {
        match e {
            StackError::Support(e) => Error::Support(e),
            StackError::State(e) => Error::State(e),
            StackError::Tools(e) => Error::Tools(e),
            StackError::Engine(e) => Error::Engine(e),
            e => Error::Stack(e),
        }
    }
}

/// For an upper layer's error whose `Instance(Box<Error>)` variant carries
/// instance's errors: `From<Error>`, and `From` each lower layer's error listed,
/// through instance's own `From` impls (which flatten them); and the `io`
/// constructor and `exit_code` every such type had written out the same. One
/// definition for data, router, setup and agents.
macro_rules! wraps_instance {
    ($target:ident: $($t:ty),*) => {
        impl $target {
            /// An I/O failure on `path`, as the instance layer words it.
            pub fn io(
                what: &'static str,
                path: impl Into<std::path::PathBuf>,
                source: std::io::Error,
            ) -> Self {
                $crate::instance::error::Error::io(what, path, source).into()
            }

            /// The stable exit code of this error.
            pub fn exit_code(&self) -> i32 {
                self.exit_kind().code()
            }
        }
        impl From<$crate::instance::error::Error> for $target {
            fn from(e: $crate::instance::error::Error) -> Self {
                $target::Instance(Box::new(e))
            }
        }
        $(
            impl From<$t> for $target {
                fn from(e: $t) -> Self {
                    $target::Instance(Box::new($crate::instance::error::Error::from(e)))
                }
            }
        )*
    };
}
pub(crate) use wraps_instance;

#[cfg(test)]
mod tests {
    use super::*;

    /// A remote instance's port conflict names the machine; a local one's reads
    /// as it always did.
    #[test]
    fn port_conflicts_name_the_machine_of_a_remote_instance() {
        let c = |container: Option<&str>, machine| PortConflict {
            key: "RD_WEB_PORT".into(),
            port: 17762,
            container: container.map(String::from),
            machine,
        };
        let e = Error::PortConflict {
            conflicts: vec![
                c(
                    None,
                    Some(PortMachine::There {
                        engine: "rem".into(),
                    }),
                ),
                c(
                    Some("x-web-1"),
                    Some(PortMachine::Here {
                        engine: "rem".into(),
                    }),
                ),
            ],
        };
        assert_eq!(
            e.to_string(),
            "port conflict: 17762 (RD_WEB_PORT) is in use by another process on the machine of \
             the engine rem; 17762 (RD_WEB_PORT) is held by container x-web-1 on this machine \
             (where the ports of the engine rem are forwarded)"
        );
        assert_eq!(e.exit_code(), 3);
        let local = Error::PortConflict {
            conflicts: vec![c(None, None)],
        };
        assert_eq!(
            local.to_string(),
            "port conflict: 17762 (RD_WEB_PORT) is in use by another process"
        );
    }

    #[test]
    fn domain_errors_have_their_kinds() {
        assert_eq!(Error::interrupted().exit_code(), 130);
        assert!(Error::interrupted().is_interrupted());
        assert_eq!(Error::NoLocalProd.exit_kind().class(), "not_found");
    }

    /// A lower layer's error carried up through another layer lands in its own
    /// layer's variant, so one match finds it wherever it came from.
    #[test]
    fn lower_errors_are_flattened_into_their_own_variant() {
        let via_tools = ToolsError::from(StateError::from(SupportError::Interrupted));
        assert!(Error::from(via_tools).is_interrupted());
        let via_stack = StackError::from(ToolsError::NoCompose);
        assert!(matches!(
            Error::from(via_stack),
            Error::Tools(ToolsError::NoCompose)
        ));
    }
}
