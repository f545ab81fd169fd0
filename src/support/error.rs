//! The library's error type. Each variant says what went wrong; [`Error::hint`] says
//! what to do, and [`Error::exit_code`] gives the stable exit code the CLI uses.

use std::path::PathBuf;

use crate::support::exec::ExecError;
use crate::support::slug::SlugError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The stable exit codes (documented in the README): what kind of failure ended a
/// command, for scripts and agents that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Something failed: compose, an already-initialized instance, a taken singleton.
    Failure = 1,
    /// Bad input or wrong place: not a clone, not a KTRDR repo, invalid name or slot;
    /// also: the startability gate failed.
    Invalid = 2,
    /// A host port the instance needs is held by something else.
    PortConflict = 3,
    /// No such instance (nothing registered by that name, or here).
    NotFound = 4,
    /// Refused because it would lose work (uncommitted / unpushed); `--force` overrides.
    WouldLoseWork = 5,
    /// State on disk is corrupt or of an unknown version; it was left untouched.
    CorruptState = 6,
    /// A required tool is missing or the Docker engine is unreachable.
    Environment = 7,
    /// Ctrl-C (128 + SIGINT, as shells report it).
    Interrupted = 130,
}

impl ExitKind {
    const ALL: [ExitKind; 8] = [
        ExitKind::Failure,
        ExitKind::Invalid,
        ExitKind::PortConflict,
        ExitKind::NotFound,
        ExitKind::WouldLoseWork,
        ExitKind::CorruptState,
        ExitKind::Environment,
        ExitKind::Interrupted,
    ];

    /// The process's exit code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The kind an exit code stands for (`None`: 0, or a child's own code).
    pub fn from_code(code: i32) -> Option<ExitKind> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Its name for agents (MCP's error class).
    pub fn class(self) -> &'static str {
        match self {
            ExitKind::Failure => "failure",
            ExitKind::Invalid => "invalid_input",
            ExitKind::PortConflict => "port_conflict",
            ExitKind::NotFound => "not_found",
            ExitKind::WouldLoseWork => "would_lose_work",
            ExitKind::CorruptState => "corrupt_state",
            ExitKind::Environment => "environment",
            ExitKind::Interrupted => "interrupted",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PortConflict {
    pub key: String,
    pub port: u16,
    /// The container that publishes it, when docker knows one.
    pub container: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    #[error(transparent)]
    EnvFile(#[from] LoadError),
    #[error("{} was not written: {source}", path.display())]
    EnvUnwritable {
        path: PathBuf,
        #[source]
        source: EnvFileError,
    },
    #[error("{} is not inside a git repository", dir.display())]
    NotInRepo { dir: PathBuf },
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
    #[error("all {max} sandbox slots are in use: {}", holders.iter().map(|(s, id)| format!("{s}={id}")).collect::<Vec<_>>().join(", "))]
    SlotsFull { max: u8, holders: Vec<(u8, String)> },
    #[error("slot {slot} is already used by {by}")]
    SlotTaken { slot: u8, by: String },
    #[error("invalid slot {value:?}: sandboxes use slots 1 to {max} (slot 0 is local-prod's)")]
    BadSlot { value: String, max: u8 },
    #[error("invalid name")]
    BadName(#[from] SlugError),
    #[error("an instance named {id} is already registered at {}", path.display())]
    NameTaken { id: String, path: PathBuf },
    #[error("{} already exists", path.display())]
    DirExists { path: PathBuf },
    #[error("branch {branch:?} is already checked out in another worktree")]
    BranchCheckedOut {
        branch: String,
        #[source]
        source: ExecError,
    },
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
    /// (or one registered elsewhere): see `instance::identity::check`.
    #[error("{} disagrees with the registry: {}; the file was left as it is", path.display(), describe_differences(differences))]
    IdentityMismatch {
        path: PathBuf,
        differences: Vec<IdentityDifference>,
    },
    /// A compose option that would choose another project, file set or engine than
    /// the instance's: see `instance::passthrough::check_args`.
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
    #[error("compose could not read {}", file.display())]
    ComposeConfig {
        file: PathBuf,
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
    #[error("refused to remove {}: {why}; it was left as it is", path.display())]
    NotKinfraWorktree { path: PathBuf, why: String },
    #[error("the Docker engine is not reachable")]
    DockerUnavailable {
        /// The endpoint the docker CLI talks to (as the docker module's `endpoint()` found
        /// it when the error was made) and what chose it; boxed to keep `Error` small.
        endpoint: Box<(String, String)>,
        #[source]
        source: ExecError,
    },
    #[error("no Docker Compose found (tried `docker compose` and `docker-compose`)")]
    NoCompose,
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
    #[error("{origin}: {message}")]
    StackInvalid { origin: String, message: String },
    #[error("no room to start {id}: {why}; running: {}", if running.is_empty() { "none".to_string() } else { running.join(", ") })]
    OverBudget {
        id: String,
        why: String,
        running: Vec<String>,
    },
    #[error(
        "the Docker endpoint {endpoint} ({via}) is not this machine; kinfra starts stacks only on a local engine"
    )]
    RemoteDocker { endpoint: String, via: String },
    #[error("the engine {name} ({}) is not reachable", at.0)]
    EngineUnreachable {
        name: String,
        /// Its address and the ssh command line that logs in there (for the hint);
        /// boxed to keep `Error` small.
        at: Box<(String, String)>,
        #[source]
        source: ExecError,
    },
    #[error("the engine {name} ({}) cannot host sandboxes: {}", why.0, why.1)]
    EngineUnfit {
        name: String,
        /// Its address, what is wrong and what to do about it.
        why: Box<(String, String, String)>,
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
    #[error("interrupted")]
    Interrupted,
    #[error(
        "a required tool is missing (see the fixes above); setup stopped before changing anything"
    )]
    MissingTools,
    #[error("local-prod's secrets could not be read from 1Password item {item}")]
    SecretsRequired {
        item: String,
        #[source]
        source: SecretsError,
    },
    /// A secret given by reference could not be resolved (every one named).
    #[error(transparent)]
    SecretRefs(SecretsError),
    #[error("{0}")]
    Invalid(String),
    #[error("the stack description asks to run commands on this machine that have not been allowed for {}:\n{commands}", clone.display())]
    NotAllowed { clone: PathBuf, commands: String },
    #[error("prepare step {name:?} failed: {detail}")]
    PrepareFailed { name: String, detail: String },
    #[error("host service {name} needs port {port}, which something else holds")]
    HostPortHeld { name: String, port: u16 },
    #[error("port {port} on 127.0.0.1, which the router needs, is held by {holder}")]
    RouterPortHeld { port: u16, holder: String },
    #[error("checkout refused: {detail}")]
    CheckoutHeld { detail: String },
    #[error("a router already runs for this kinfra home{}", match (pid, port) { (Some(pid), Some(port)) => format!(": pid {pid}, on http://127.0.0.1:{port}/"), _ => " (it is starting)".into() })]
    RouterRunning { pid: Option<u32>, port: Option<u16> },
    #[error("host service records kinfra did not write, nothing was signalled:\n  {}", records.join("\n  "))]
    HostRecordUntrusted { records: Vec<String> },
    #[error("no snapshot {name:?} of {project}{}", if known.is_empty() { String::new() } else { format!(" (there are: {})", known.join(", ")) })]
    NoSuchSnapshot {
        name: String,
        project: String,
        known: Vec<String>,
    },
    #[error("snapshot {name:?} belongs to project {other}, not {project}")]
    SnapshotOfOtherProject {
        name: String,
        project: String,
        other: String,
    },
    #[error("a snapshot {name:?} of {project} already exists")]
    SnapshotExists { name: String, project: String },
    #[error("{instance} has no data volumes to copy: {why}")]
    NoData { instance: String, why: String },
    #[error("not enough free space for the copy: it writes {}, the engine's volume filesystem has {} free", crate::support::units::human_bytes(*need), crate::support::units::human_bytes(*free))]
    NoSpace { need: u64, free: u64 },
    #[error("no image present can run the data copy (it needs sh, cp, du, df and sleep): {tried}")]
    NoCopyImage { tried: String },
    #[error("{0}")]
    Other(String),
}

fn describe_conflicts(c: &[PortConflict]) -> String {
    let parts: Vec<String> = c
        .iter()
        .map(|p| match &p.container {
            Some(name) => format!("{} ({}) is held by container {name}", p.port, p.key),
            None => format!("{} ({}) is in use by another process", p.port, p.key),
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
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// The stable exit code of this error.
    pub fn exit_code(&self) -> i32 {
        self.exit_kind().code()
    }

    pub fn exit_kind(&self) -> ExitKind {
        use ExitKind::*;
        match self {
            Error::AlreadyInitialized { .. }
            | Error::RouterRunning { .. }
            | Error::LocalProdExists { .. }
            | Error::SlotsFull { .. }
            | Error::SlotTaken { .. }
            | Error::NameTaken { .. }
            | Error::DirExists { .. }
            | Error::ComposeFailed { .. }
            | Error::BranchCheckedOut { .. }
            | Error::ProjectInUse { .. }
            | Error::Busy { .. }
            | Error::Io { .. }
            | Error::PrepareFailed { .. }
            | Error::SnapshotExists { .. }
            | Error::EngineExists { .. }
            | Error::EngineInUse { .. }
            | Error::NoSpace { .. }
            | Error::Other(_) => Failure,
            Error::NotInRepo { .. }
            | Error::NotStackRepo { .. }
            | Error::NoComposeFile { .. }
            | Error::NotAClone { .. }
            | Error::BadSlot { .. }
            | Error::BadName(_)
            | Error::WrongKind { .. }
            | Error::TargetOption { .. }
            | Error::Invalid(_)
            | Error::EnvUnwritable { .. }
            | Error::NotAllowed { .. }
            | Error::StackInvalid { .. }
            | Error::SnapshotOfOtherProject { .. }
            | Error::NoData { .. }
            | Error::ComposeConfig { .. }
            | Error::GateFailed { .. } => Invalid,
            Error::PortConflict { .. }
            | Error::HostPortHeld { .. }
            | Error::RouterPortHeld { .. }
            | Error::CheckoutHeld { .. } => PortConflict,
            Error::Interrupted => Interrupted,
            Error::NoInstanceHere { .. }
            | Error::NoSuchInstance { .. }
            | Error::NoLocalProd
            | Error::NoSuchSnapshot { .. }
            | Error::NoSuchEngine { .. } => NotFound,
            Error::WouldLoseWork { .. } | Error::NotKinfraWorktree { .. } => WouldLoseWork,
            Error::RegistryCorrupt { .. }
            | Error::RegistryVersion { .. }
            | Error::RegistrySymlink { .. }
            | Error::IdentityMismatch { .. }
            | Error::EnvFile(_)
            | Error::HostRecordUntrusted { .. } => CorruptState,
            Error::DockerUnavailable { .. }
            | Error::NoCompose
            | Error::RemoteDocker { .. }
            | Error::EngineUnreachable { .. }
            | Error::EngineUnfit { .. }
            | Error::MissingTools
            | Error::NoCopyImage { .. }
            | Error::OverBudget { .. }
            | Error::SecretsRequired { .. }
            | Error::SecretRefs(_) => Environment,
            Error::Exec(e) if e.not_found().is_some() => Environment,
            Error::Exec(_) => Failure,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        self.setup_hint().or_else(|| self.run_hint())
    }

    /// Hints for state, input and place: the registry, the repository, names, slots.
    fn setup_hint(&self) -> Option<String> {
        Some(match self {
            Error::RegistryVersion { path, version, reads } => format!(
                "kinfra reads registry versions {} and {} (the Python sandbox tool's, with its slot pool); \
                 version {version} comes from a newer tool. Keep using that tool for this home, or point \
                 KINFRA_HOME at another directory for kinfra. {} was not changed",
                reads[0],
                reads[1],
                path.display()
            ),
            Error::RegistryCorrupt { path, .. } => format!(
                "inspect or repair {} by hand (a backup copy is wise); kinfra will not overwrite it",
                path.display()
            ),
            Error::RegistrySymlink { path, .. } => format!(
                "replace the link {} with a regular file, or point KINFRA_HOME elsewhere",
                path.display()
            ),
            Error::HostRecordUntrusted { .. } => "kinfra neither signals nor removes such a file: look at it, stop the process it names yourself if it is yours to stop, then remove the file".into(),
            Error::EnvFile(_) => "fix the file by hand, or run `kinfra sandbox destroy --keep-worktree` and `init` again to regenerate it".into(),
            Error::NotInRepo { .. } => "run this inside a clone of the project's repository (or one of its worktrees)".into(),
            Error::NotStackRepo { stack, marker, .. } => format!(
                "kinfra manages {stack} checkouts here: the `origin` remote URL must contain {marker:?}. \
                 Another project describes its stack in a kinfra.toml at its root (docs/STACKS.md)"
            ),
            Error::NoComposeFile { .. } => "name your compose file with COMPOSE_FILE (in the environment or the repository's .env, as for compose), or in a kinfra.toml at the repository's root: compose_file = \"deploy/stack.yml\" (docs/STACKS.md)".into(),
            Error::NotAClone { .. } => "clone the repository (git clone <url> <dir>) and run `kinfra local-prod init` in the clone; use `kinfra sandbox init` for worktrees".into(),
            Error::AlreadyInitialized { .. } => "use `kinfra sandbox up` (or `local-prod up`) to start it".into(),
            Error::LocalProdExists { .. } => "there can be only one local-prod; `kinfra local-prod destroy` removes its registration (the clone stays)".into(),
            Error::SlotsFull { .. } => "destroy a sandbox you no longer need, or run `kinfra sandbox prune` to free slots whose directories are gone".into(),
            Error::SlotTaken { .. } => "leave out --slot to take the lowest free slot".into(),
            Error::BadSlot { .. } => "leave out --slot to take the lowest free slot".into(),
            Error::BadName(_) => "use a short name of letters, digits and dashes, such as `feature-login`".into(),
            Error::NameTaken { .. } => "choose another name, or destroy the existing instance first".into(),
            Error::BranchCheckedOut { branch, .. } => format!(
                "git allows a branch in one worktree at a time: leave out --branch for a new branch, \
                 or start one from it with `--branch my-{branch}` (`git worktree list` shows where {branch} is)"
            ),
            Error::DirExists { .. } => "choose another name, or remove that directory yourself if it is not needed".into(),
            Error::NoInstanceHere { .. } => "cd into a sandbox (created by `kinfra sandbox create` or `init`), or name one".into(),
            Error::WrongKind { expected, .. } => format!("run this from a {expected} directory"),
            Error::NoSuchInstance { .. } => "`kinfra sandbox list` shows the registered sandboxes".into(),
            Error::IdentityMismatch { path, differences } => {
                let fixes: Vec<String> = differences.iter().filter_map(|d| d.fix.clone()).collect();
                if fixes.is_empty() {
                    format!(
                        "this directory is not registered, and its file names an instance registered elsewhere. \
                         If that instance moved here, `kinfra sandbox prune` frees its old registration and `init` \
                         registers this directory; otherwise remove {} and run `init` here. \
                         `kinfra sandbox list` shows every registered instance",
                        path.display()
                    )
                } else {
                    format!(
                        "an instance's name, compose project and slot are its registry entry's, never the file's: \
                         put the registry's values back in {} ({}), then run the command again; \
                         `kinfra sandbox list` shows every registered instance",
                        path.display(),
                        fixes.join(", ")
                    )
                }
            }
            Error::TargetOption { .. } => "kinfra already gives compose the instance's project name, files, directory and engine; \
                 run the command without that option (`kinfra sandbox compose -- config` shows what compose reads), \
                 or cd into the other instance and use its own `kinfra … compose`".into(),
            Error::NoLocalProd => "clone the repository and run `kinfra local-prod init` in the clone".into(),
            _ => return None,
        })
    }

    /// Hints for running: ports, compose, the gate, secrets, data, the engine.
    fn run_hint(&self) -> Option<String> {
        Some(match self {
            Error::PortConflict { conflicts } => {
                match conflicts.iter().find(|c| c.container.is_none()) {
                    Some(c) => format!(
                        "stop what holds the port, then run up again; `lsof -iTCP:{} -sTCP:LISTEN` names the process",
                        c.port
                    ),
                    None => "stop the container that holds the port (`docker stop NAME`), then run up again".into(),
                }
            }
            Error::ProjectInUse { project, .. } => format!(
                "another kinfra home, the Python tool or a manual `docker compose -p {project}` uses that name; \
                 stop it there, or remove stale objects with `docker rm -f` / `docker volume rm`, then retry"
            ),
            Error::ComposeFailed { .. } => "compose's message is in the cause above, the failing services' last log lines above that; volumes that held data were kept. Fix it and run `up` again; `up --keep-on-failure` leaves the containers for `logs SERVICE`".into(),
            Error::ComposeConfig { .. } => "compose's own message is the cause above (`docker compose config` shows the same); fix the compose file or the variables it reads, then run the command again".into(),
            Error::GateFailed { .. } => "see the failing check and its service's last log lines above; volumes that held data were kept. Run `up` again once fixed; `up --keep-on-failure` leaves the containers for `logs SERVICE` and `shell SERVICE`".into(),
            Error::WouldLoseWork { .. } => "commit it (on a branch: the branch stays when the worktree goes), or pass --force to destroy anyway".into(),
            Error::NotKinfraWorktree { .. } => "the worktree hook removes only sandboxes kinfra created; remove anything else yourself (`kinfra sandbox destroy NAME` for a registered sandbox, `git worktree remove` for a plain worktree)".into(),
            Error::SecretsRequired { item, source } => format!(
                "{}. local-prod does not start on insecure defaults by itself (a new database would keep them); \
                 pass --no-secrets to do so on purpose",
                source.hint(item).trim_end_matches(", or pass --no-secrets")
            ),
            Error::SecretRefs(e) => e.hint(""),
            Error::Interrupted => "what this start created was removed and what it started was stopped; volumes that held data were kept. Run `up` again to start".into(),
            Error::NotAllowed { .. } => "read them in kinfra.toml; to let them run, `kinfra stack allow` (asked again whenever they change)".into(),
            Error::PrepareFailed { .. } => "nothing was started; fix the step (its output is above) and run `up` again".into(),
            Error::RouterPortHeld { port, .. } => format!("stop what holds it, or give the router another port: KINFRA_ROUTER_PORT=N (now {port})"),
            Error::CheckoutHeld { .. } => "stop what holds the port (`docker compose down` of your own run), then check out again".into(),
            Error::RouterRunning { .. } => "`kinfra router status` shows it; `kinfra router stop` stops a router `start` started".into(),
            Error::HostPortHeld { port, .. } => format!("see what holds it (`lsof -i :{port}`), stop it, and start again"),
            Error::NoSuchSnapshot { .. } => "`kinfra snapshot list` shows this project's snapshots; `kinfra snapshot save NAME` makes one".into(),
            Error::SnapshotOfOtherProject { .. } => "a snapshot is for the project it was taken from; `kinfra snapshot list` shows this project's".into(),
            Error::SnapshotExists { .. } => "choose another name, or remove the old one first (`kinfra snapshot rm NAME`)".into(),
            Error::NoData { .. } => "start the source once (`up`) so compose creates its volumes, or choose another source; [data] volumes in kinfra.toml says which volumes are data".into(),
            Error::NoSpace { .. } => "free space in the engine (`docker system df`; Docker Desktop: Settings > Resources > disk), or remove old snapshots (`kinfra snapshot rm`); nothing was changed".into(),
            Error::NoCopyImage { .. } => "the copy runs inside the engine from an image already present (the service's own, or busybox): `docker pull busybox` once, or start the source once so its images are there".into(),
            Error::StackInvalid { .. } => "fix the stack description and run the command again; docs/STACKS.md lists every key".into(),
            Error::OverBudget { .. } => format!(
                "pass --make-room to stop the least recently used idle sandbox instead, --wait to start when there is room, or stop a stack (`kinfra sandbox down NAME`); limits: {} and {} (default: the engine's memory)",
                crate::support::env_vars::EnvVars::KINFRA_MAX_RUNNING,
                crate::support::env_vars::EnvVars::KINFRA_MEMORY_BUDGET
            ),
            Error::Busy { .. } => format!(
                "wait for it to finish and try again (or raise {} seconds); `kinfra sandbox list` shows the instances",
                crate::support::env_vars::EnvVars::KINFRA_LOCK_WAIT
            ),
            Error::EngineUnreachable { at, .. } => format!(
                "check that the machine is up and that `{login} true` logs in without a password prompt \
                 (your keys or agent); instances on other engines are unaffected",
                login = at.1
            ),
            Error::EngineUnfit { why, .. } => why.2.clone(),
            Error::NoSuchEngine { .. } => {
                "`kinfra engine list` shows the engines; `kinfra engine add NAME ssh://USER@HOST` adds one".into()
            }
            Error::EngineExists { .. } => {
                "choose another name, or `kinfra engine rm NAME` first".into()
            }
            Error::EngineInUse { .. } => {
                "destroy those sandboxes first (`kinfra sandbox destroy NAME`; `--force` forgets one whose engine is gone)".into()
            }
            Error::RemoteDocker { .. } => "ports are probed on this machine and the gate dials localhost, so kinfra does not start a stack on an engine it did not place it on. \
                 For another machine's engine: `kinfra engine add NAME ssh://USER@HOST`, then `kinfra sandbox create SANDBOX --on NAME` \
                 (the code is mirrored there, the ports forwarded here). Otherwise use the local engine (unset DOCKER_HOST, or `docker context use default`). \
                 Read-only commands (`list`, `status`, `logs`) still work".into(),
            Error::DockerUnavailable { endpoint, .. } => {
                let (host, via) = &**endpoint;
                if via == "the default socket" {
                    "start the Docker engine (Docker Desktop, or `sudo systemctl start docker`) and try again".into()
                } else {
                    format!(
                        "the docker CLI talks to {} (set by {via}): start that engine, or point DOCKER_HOST / `docker context use` at a running one",
                        if host.is_empty() { "an unknown endpoint" } else { host.as_str() },
                    )
                }
            }
            Error::NoCompose => if cfg!(target_os = "macos") {
                "Docker Desktop includes Compose (check it is running and up to date); with Homebrew's docker CLI: `brew install docker-compose`".into()
            } else {
                "install the Compose plugin (`sudo apt-get install docker-compose-plugin` from Docker's packages, or `docker-compose` from Debian's)".into()
            },
            Error::Exec(e) => match e.not_found() {
                Some(p) => format!("install `{p}` and make sure it is on PATH (`kinfra doctor` checks everything)"),
                None => return None,
            },
            _ => return None,
        })
    }
}

/// The innermost cause of an error: the one line that says what really failed
/// (reqwest's own message is only "error sending request").
/// Where a JSON text failed to parse and what kind of failure, never serde's
/// message: it quotes the offending value (`invalid type: string "…"`), which in
/// an answer from a secret store may be a secret.
pub fn json_where(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "not the expected shape",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{what} at line {}, column {}", e.line(), e.column())
}

pub fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string()
}

/// The message of a thread's panic, for reporting it as a failure.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
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

impl SecretsError {
    pub fn hint(&self, item: &str) -> String {
        match self {
            SecretsError::NotInstalled => "install the 1Password CLI (https://developer.1password.com/docs/cli/get-started/), or pass --no-secrets".into(),
            SecretsError::NotSignedIn => "run `eval $(op signin)` or set OP_SERVICE_ACCOUNT_TOKEN, or pass --no-secrets".into(),
            SecretsError::HostVarMissing { var } => format!("export {var} in the shell that runs kinfra, or map the secret to a 1Password reference in kinfra.toml"),
            SecretsError::Unresolved { .. } => "fix each reference named (sign in to `op`, export the variable, set BAO_ADDR and BAO_TOKEN), or pass --no-secrets to leave the secret stores out".into(),
            _ => format!("check that the item {item:?} exists in your vault (`op item get {item}`), or pass --no-secrets"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_kinds_are_distinct_codes_that_read_back() {
        let codes: std::collections::BTreeSet<i32> =
            ExitKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), ExitKind::ALL.len());
        for k in ExitKind::ALL {
            assert_eq!(ExitKind::from_code(k.code()), Some(k));
        }
        assert_eq!(ExitKind::from_code(0), None);
        assert_eq!(ExitKind::from_code(42), None);
        assert_eq!(Error::Interrupted.exit_code(), 130);
        assert_eq!(Error::NoLocalProd.exit_kind().class(), "not_found");
    }
}
