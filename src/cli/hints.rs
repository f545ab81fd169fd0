//! What to do about an error: the hints the CLI prints under it (and hands to MCP
//! and `doctor`). They name CLI commands and flags, so they live here, at the edge
//! that talks to the user; the library's errors say only what failed and why.

use crate::agents::error::AgentsError;
use crate::data::error::DataError;
use crate::engine::error::{EngineError, Unfit};
use crate::instance::error::Error;
use crate::router::error::RouterError;
use crate::setup::error::SetupError;
use crate::stack::error::StackError;
use crate::state::error::StateError;
use crate::support::error::SupportError;
use crate::tools::error::{SecretsError, ToolsError};

/// What the user can do about it.
pub fn hint(e: &Error) -> Option<String> {
    setup_hint(e).or_else(|| run_hint(e))
}

/// What the user can do about a data layer's failure: its own, or the layers' below.
pub fn data_hint(e: &DataError) -> Option<String> {
    Some(match e {
        DataError::Instance(e) => return hint(e),
        DataError::NoSuchSnapshot { .. } => "`kinfra snapshot list` shows this project's snapshots; `kinfra snapshot save NAME` makes one".into(),
        DataError::SnapshotOfOtherProject { .. } => "a snapshot is for the project it was taken from; `kinfra snapshot list` shows this project's".into(),
        DataError::SnapshotExists { .. } => "choose another name, or remove the old one first (`kinfra snapshot rm NAME`)".into(),
        DataError::DataAcrossEngines { from, new: true, .. } => match from {
            Some(f) => format!("make the copy where the data is: `--on {f}` (or `--on auto`, which follows the data); streaming data between engines comes later"),
            None => "make the copy where the data is, on this machine's engine: drop --on (or `--on auto`, which follows the data); streaming data between engines comes later".into(),
        },
        DataError::DataAcrossEngines { from, .. } => format!(
            "take the data from a source on the same engine (`kinfra snapshot list` shows each snapshot's engine){}; streaming data between engines comes later",
            from.as_ref().map(|f| format!(", or create a sandbox on {f} with `--data … --on {f}`")).unwrap_or_default()
        ),
        DataError::SnapshotEngineRefused { .. } => "nothing was dialled: `kinfra engine list` shows the engines kinfra knows; put the engine's name back in kinfra.json's `snapshots` record, or `kinfra engine add` it again under that name".into(),
        DataError::NoData { .. } => "start the source once (`up`) so compose creates its volumes, or choose another source; [data] volumes in kinfra.toml says which volumes are data".into(),
        DataError::NoSpace { .. } => "free space in the engine (`docker system df`; Docker Desktop: Settings > Resources > disk), or remove old snapshots (`kinfra snapshot rm`); nothing was changed".into(),
        DataError::NoCopyImage { .. } => "the copy runs inside the engine from an image already present (the service's own, or busybox): `docker pull busybox` once, or start the source once so its images are there".into(),
        _ => return None,
    })
}

/// What the user can do about a hook's or the MCP server's failure: its own, or the
/// layers' below.
pub fn agents_hint(e: &AgentsError) -> Option<String> {
    Some(match e {
        AgentsError::Instance(e) => return hint(e),
        AgentsError::Data(e) => return data_hint(e),
        AgentsError::NotKinfraWorktree { .. } => "the worktree hook removes only sandboxes kinfra created; remove anything else yourself (`kinfra sandbox destroy NAME` for a registered sandbox, `git worktree remove` for a plain worktree)".into(),
        AgentsError::SettingsNotJson { .. } => "fix it, then run `kinfra hook install` again".into(),
        _ => return None,
    })
}

/// What the user can do about the router's failure: its own, or the layers' below.
pub fn router_hint(e: &RouterError) -> Option<String> {
    Some(match e {
        RouterError::Instance(e) => return hint(e),
        RouterError::RouterPortHeld { port, .. } => format!(
            "stop what holds it, or give the router another port: KINFRA_ROUTER_PORT=N (now {port})"
        ),
        RouterError::CheckoutHeld { .. } => {
            "stop what holds the port (`docker compose down` of your own run), then check out again"
                .into()
        }
        RouterError::RouterRunning { .. } => {
            "`kinfra router status` shows it; `kinfra router stop` stops a router `start` started"
                .into()
        }
        _ => return None,
    })
}

/// What the user can do about setup's failure: its own say it in their message; the
/// layers' below have theirs.
pub fn setup_error_hint(e: &SetupError) -> Option<String> {
    match e {
        SetupError::Instance(e) => hint(e),
        _ => None,
    }
}

/// The engine the docker CLI talks to does not answer: what to do depends on what
/// chose it (the default socket, an engine kinfra forwards, the user's setting).
fn docker_unavailable_hint(host: &str, via: &str) -> String {
    if via == "the default socket" {
        "start the Docker engine (Docker Desktop, or `sudo systemctl start docker`) and try again"
            .into()
    } else if let Some(engine) = via.strip_prefix("kinfra engine ") {
        format!(
            "the connection to the engine {engine} dropped or its Docker stopped: run the command again (kinfra connects again; `kinfra engine list` says whether it answers)"
        )
    } else {
        format!(
            "the docker CLI talks to {} (set by {via}): start that engine, or point DOCKER_HOST / `docker context use` at a running one",
            if host.is_empty() {
                "an unknown endpoint"
            } else {
                host
            },
        )
    }
}

/// What to do about a failure the library reported as a warning and went on
/// ([`crate::state::context::Hinter`]): a sandbox's secrets that could not be read.
pub fn warning_hint(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    e.downcast_ref::<SecretsError>().map(secrets_hint)
}

/// What to do about secrets that could not be had (the item or reference each
/// variant names is its own).
pub fn secrets_hint(e: &SecretsError) -> String {
    match e {
        SecretsError::NotInstalled => "install the 1Password CLI (https://developer.1password.com/docs/cli/get-started/), or pass --no-secrets".into(),
        SecretsError::NotSignedIn => "run `eval $(op signin)` or set OP_SERVICE_ACCOUNT_TOKEN, or pass --no-secrets".into(),
        SecretsError::HostVarMissing { var } => format!("export {var} in the shell that runs kinfra, or map the secret to a 1Password reference in kinfra.toml"),
        SecretsError::Unresolved { .. } => "fix each reference named (sign in to `op`, export the variable, set BAO_ADDR and BAO_TOKEN), or pass --no-secrets to leave the secret stores out".into(),
        SecretsError::TimedOut { .. } => "check that the 1Password CLI answers (`op whoami`; the desktop app may be waiting for approval), or pass --no-secrets".into(),
        SecretsError::ItemMissing { item }
        | SecretsError::ItemUnavailable { item, .. }
        | SecretsError::Garbage { item, .. } => format!("check that the item {item:?} exists in your vault (`op item get {item}`), or pass --no-secrets"),
    }
}

/// What to do about one of `doctor`'s findings in kinfra's own state.
pub fn doctor_fix(f: &crate::setup::checkup::Fix) -> String {
    use crate::setup::checkup::Fix;
    match f {
        Fix::Description => "fix the file it names (`kinfra stack check` says more)".into(),
        Fix::StaleEntries | Fix::OrphanedProjects => "kinfra sandbox prune".into(),
        Fix::LocalProdPortsHeld { port } => format!(
            "stop what holds them before `kinfra local-prod up`; `lsof -iTCP:{port} -sTCP:LISTEN` names a process"
        ),
    }
}

/// What to do about an engine that cannot host sandboxes.
fn unfit_hint(why: &Unfit) -> &'static str {
    match why {
        Unfit::NoDocker => {
            "install Docker Engine there (Docker's SSH transport runs `docker system dial-stdio` on that machine)"
        }
        Unfit::NoRsyncThere => {
            "install rsync there (`sudo apt-get install rsync`, `sudo dnf install rsync`; macOS has it)"
        }
        Unfit::NoRsyncHere => "install rsync here (`sudo apt-get install rsync`; macOS has it)",
        Unfit::BadHome { .. } => {
            "give the engine's user a home directory whose path has only letters, digits, / . _ - (the code mirrors live under it)"
        }
        Unfit::InfoUnreadable { .. } => "check `docker -H URL info` by hand",
        Unfit::NoCompose { .. } => {
            "install the Docker Compose v2 plugin on this machine (`docker compose version`)"
        }
        Unfit::NotMirrored { .. } => {
            "check the disk space in the remote user's home and that rsync runs there"
        }
    }
}

/// Hints for state, input and place: the registry, the repository, names, slots.
fn setup_hint(e: &Error) -> Option<String> {
    Some(match e {
        Error::State(StateError::RegistryVersion { path, version, reads }) => format!(
            "kinfra reads registry versions {} and {} (the Python sandbox tool's, with its slot pool); \
             version {version} comes from a newer tool. Keep using that tool for this home, or point \
             KINFRA_HOME at another directory for kinfra. {} was not changed",
            reads[0],
            reads[1],
            path.display()
        ),
        Error::State(StateError::RegistryCorrupt { path, .. }) => format!(
            "inspect or repair {} by hand (a backup copy is wise); kinfra will not overwrite it",
            path.display()
        ),
        Error::State(StateError::RegistrySymlink { path, .. }) => format!(
            "replace the link {} with a regular file, or point KINFRA_HOME elsewhere",
            path.display()
        ),
        Error::HostRecordUntrusted { .. } => "kinfra neither signals nor removes such a file: look at it, stop the process it names yourself if it is yours to stop, then remove the file".into(),
        Error::State(StateError::EnvFile(_)) => "fix the file by hand, or run `kinfra sandbox destroy --keep-worktree` and `init` again to regenerate it".into(),
        Error::Tools(ToolsError::NotInRepo { .. }) => "run this inside a clone of the project's repository (or one of its worktrees)".into(),
        Error::NotStackRepo { stack, marker, .. } => format!(
            "kinfra manages {stack} checkouts here: the `origin` remote URL must contain {marker:?}. \
             Another project describes its stack in a kinfra.toml at its root (docs/STACKS.md)"
        ),
        Error::NoComposeFile { .. } => "name your compose file with COMPOSE_FILE (in the environment or the repository's .env, as for compose), or in a kinfra.toml at the repository's root: compose_file = \"deploy/stack.yml\" (docs/STACKS.md)".into(),
        Error::NotAClone { .. } => "clone the repository (git clone <url> <dir>) and run `kinfra local-prod init` in the clone; use `kinfra sandbox init` for worktrees".into(),
        Error::AlreadyInitialized { .. } => "use `kinfra sandbox up` (or `local-prod up`) to start it".into(),
        Error::LocalProdExists { .. } => "there can be only one local-prod; `kinfra local-prod destroy` removes its registration (the clone stays)".into(),
        Error::State(StateError::SlotsFull { .. }) => "destroy a sandbox you no longer need, or run `kinfra sandbox prune` to free slots whose directories are gone".into(),
        Error::SlotTaken { .. } => "leave out --slot to take the lowest free slot".into(),
        Error::BadSlot { .. } => "leave out --slot to take the lowest free slot".into(),
        Error::Support(SupportError::BadName(_)) => "use a short name of letters, digits and dashes, such as `feature-login`".into(),
        Error::NameTaken { .. } => "choose another name, or destroy the existing instance first".into(),
        Error::Tools(ToolsError::BranchCheckedOut { branch, .. }) => format!(
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
fn run_hint(e: &Error) -> Option<String> {
    Some(match e {
        Error::PortConflict { conflicts } => {
            let there = conflicts
                .iter()
                .find(|c| matches!(c.machine, Some(crate::instance::error::PortMachine::There { .. })));
            if let Some(c) = there {
                return Some(format!(
                    "a sandbox on another machine's engine needs each of its ports free on both machines: stop what holds {} there (`ss -ltnp 'sport = :{}'` on that machine names the process), or give the stack other ports, then run up again",
                    c.port, c.port
                ));
            }
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
        Error::Tools(ToolsError::ComposeConfig { .. }) => "compose's own message is the cause above (`docker compose config` shows the same); fix the compose file or the variables it reads, then run the command again".into(),
        Error::GateFailed { .. } => "see the failing check and its service's last log lines above; volumes that held data were kept. Run `up` again once fixed; `up --keep-on-failure` leaves the containers for `logs SERVICE` and `shell SERVICE`".into(),
        Error::WouldLoseWork { .. } => "commit it (on a branch: the branch stays when the worktree goes), or pass --force to destroy anyway".into(),
        Error::SecretsRequired { source, .. } => format!(
            "{}. local-prod does not start on insecure defaults by itself (a new database would keep them); \
             pass --no-secrets to do so on purpose",
            secrets_hint(source).trim_end_matches(", or pass --no-secrets")
        ),
        Error::SecretRefs(x) => secrets_hint(x),
        Error::Support(SupportError::Interrupted) => "what this start created was removed and what it started was stopped; volumes that held data were kept. Run `up` again to start".into(),
        Error::NotAllowed { .. } => "read them in kinfra.toml; to let them run, `kinfra stack allow` (asked again whenever they change)".into(),
        Error::PrepareFailed { .. } => "nothing was started; fix the step (its output is above) and run `up` again".into(),
        Error::HostPortHeld { port, .. } => format!("see what holds it (`lsof -i :{port}`), stop it, and start again"),
        Error::Stack(StackError::StackInvalid { .. }) => "fix the stack description and run the command again; docs/STACKS.md lists every key".into(),
        Error::Stack(StackError::DescriptionRefused { .. }) => "nothing was read from it and nothing changed: make it a plain file in the checkout (`git checkout -- kinfra.toml`, or replace the link with the file's text)".into(),
        Error::OverBudget { room_asked: true, .. } => format!(
            "no idle sandbox could make room (local-prod, a sandbox a command is working on, and one used in the last {} s are never stopped for another): \
             pass --wait to start when there is room, or stop a stack (`kinfra sandbox down NAME`); limits: {} and {} (default: the engine's memory)",
            crate::instance::placement::room::MIN_IDLE.as_secs(),
            crate::support::env_vars::EnvVars::KINFRA_MAX_RUNNING,
            crate::support::env_vars::EnvVars::KINFRA_MEMORY_BUDGET
        ),
        Error::OverBudget { .. } => format!(
            "pass --make-room to stop the least recently used idle sandbox instead, --wait to start when there is room, or stop a stack (`kinfra sandbox down NAME`); limits: {} and {} (default: the engine's memory)",
            crate::support::env_vars::EnvVars::KINFRA_MAX_RUNNING,
            crate::support::env_vars::EnvVars::KINFRA_MEMORY_BUDGET
        ),
        Error::RoomDirGone { .. } => "`kinfra prune` releases a sandbox whose directory is gone; or stop a stack yourself (`kinfra sandbox down NAME`)".into(),
        Error::RoomNotMade { id, .. } => format!("see why with `kinfra sandbox status {id}`; or stop a stack yourself (`kinfra sandbox down NAME`)"),
        Error::Busy { .. } => format!(
            "wait for it to finish and try again (or raise {} seconds); `kinfra sandbox list` shows the instances",
            crate::support::env_vars::EnvVars::KINFRA_LOCK_WAIT
        ),
        Error::Engine(EngineError::EngineUnreachable { at, .. }) => format!(
            "check that the machine is up and that `{login} true` logs in without a password prompt \
             (your keys or agent); instances on other engines are unaffected",
            login = at.1
        ),
        Error::Engine(EngineError::EngineUnfit { why, .. }) => unfit_hint(&why.1).into(),
        Error::Engine(EngineError::NoSuchEngine { .. }) => {
            "`kinfra engine list` shows the engines; `kinfra engine add NAME ssh://USER@HOST` adds one".into()
        }
        Error::Engine(EngineError::EngineExists { .. }) => {
            "choose another name, or `kinfra engine rm NAME` first".into()
        }
        Error::Engine(EngineError::BadRecordDockerHost { name, .. }) => format!(
            "kinfra records it at `engine add` from what docker says there: remove `docker_host` from engine {name} in $KINFRA_HOME/sandbox/kinfra.json and kinfra looks again at its next connection"
        ),
        Error::Engine(EngineError::EngineInUse { .. }) => {
            "destroy those sandboxes first (`kinfra sandbox destroy NAME`; `--force` forgets one whose engine is gone) and remove those snapshots (`kinfra snapshot rm NAME` in their project; `--forget` drops the record of one whose engine is gone)".into()
        }
        Error::Tools(ToolsError::RemoteDocker { .. }) => "ports are probed on this machine and the gate dials localhost, so kinfra does not start a stack on an engine it did not place it on. \
             For another machine's engine: `kinfra engine add NAME ssh://USER@HOST`, then `kinfra sandbox create SANDBOX --on NAME` \
             (the code is mirrored there, the ports forwarded here). Otherwise use the local engine (unset DOCKER_HOST, or `docker context use default`). \
             Read-only commands (`list`, `status`, `logs`) still work".into(),
        Error::Tools(ToolsError::DockerUnavailable { endpoint, .. }) => {
            docker_unavailable_hint(&endpoint.0, &endpoint.1)
        }
        Error::Tools(ToolsError::NoCompose) => if cfg!(target_os = "macos") {
            "Docker Desktop includes Compose (check it is running and up to date); with Homebrew's docker CLI: `brew install docker-compose`".into()
        } else {
            "install the Compose plugin (`sudo apt-get install docker-compose-plugin` from Docker's packages, or `docker-compose` from Debian's)".into()
        },
        Error::Support(SupportError::Exec(x)) => match x.not_found() {
            Some(p) => format!("install `{p}` and make sure it is on PATH (`kinfra doctor` checks everything)"),
            None => return None,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine says what is wrong; the CLI says what to do (the texts the
    /// library carried before).
    #[test]
    fn an_unfit_engine_is_explained_by_the_library_and_fixed_by_the_cli() {
        let e = Error::from(EngineError::EngineUnfit {
            name: "box".into(),
            why: Box::new(("ssh://u@h".into(), Unfit::NoRsyncHere)),
        });
        assert_eq!(
            e.to_string(),
            "the engine box (ssh://u@h) cannot host sandboxes: this machine has no rsync (kinfra mirrors the code with it)"
        );
        assert_eq!(
            hint(&e).as_deref(),
            Some("install rsync here (`sudo apt-get install rsync`; macOS has it)")
        );
    }

    /// A copy refused across engines says where to make it instead.
    #[test]
    fn a_copy_across_engines_says_where_to_make_it() {
        let e = |from: Option<&str>, new| DataError::DataAcrossEngines {
            source_label: "snapshot base".into(),
            target: "x".into(),
            new,
            from: from.map(String::from),
            to: None,
        };
        assert!(
            data_hint(&e(Some("rem"), true))
                .unwrap()
                .contains("`--on rem`")
        );
        assert!(data_hint(&e(None, true)).unwrap().contains("drop --on"));
        assert!(
            data_hint(&e(Some("rem"), false))
                .unwrap()
                .contains("--on rem")
        );
        let refused = DataError::SnapshotEngineRefused {
            name: "base".into(),
            engine: "ghost".into(),
            why: "no engine".into(),
        };
        assert!(data_hint(&refused).unwrap().contains("nothing was dialled"));
    }

    /// A data or router error's hint is its own, or the one of the error it carries.
    #[test]
    fn upper_layers_hints_reach_through_to_instance() {
        let snap = DataError::SnapshotExists {
            name: "s".into(),
            project: "p".into(),
            engine: None,
        };
        assert!(
            data_hint(&snap)
                .unwrap()
                .contains("kinfra snapshot rm NAME")
        );
        let lower = DataError::from(Error::NoLocalProd);
        assert_eq!(data_hint(&lower), hint(&Error::NoLocalProd));
        let held = RouterError::CheckoutHeld { detail: "x".into() };
        assert!(router_hint(&held).unwrap().contains("check out again"));
        assert_eq!(
            router_hint(&RouterError::from(Error::NoLocalProd)),
            hint(&Error::NoLocalProd)
        );
    }

    /// A warning's cause is worded here, not in the library: the secrets' hints
    /// name the CLI's flag, and reach a context only through the hinter the edge
    /// gives it (a context without one reports the warning alone).
    #[test]
    fn a_warnings_hint_is_the_edges() {
        let e = SecretsError::NotSignedIn;
        let ctx = crate::state::context::Context::new(
            std::path::Path::new("/nowhere"),
            std::path::Path::new("/nowhere"),
            std::sync::Arc::new(crate::state::context::Recorder::default()),
        );
        assert_eq!(ctx.hint(&e), None);
        let ctx = ctx.with_hinter(warning_hint);
        assert!(ctx.hint(&e).unwrap().contains("--no-secrets"));
        assert_eq!(ctx.hint(&std::io::Error::other("x")), None);
        let item = SecretsError::ItemMissing {
            item: "shop-dev".into(),
        };
        assert!(secrets_hint(&item).contains("op item get shop-dev"));
        let required = Error::SecretsRequired {
            item: "shop-prod".into(),
            source: SecretsError::NotSignedIn,
        };
        let h = hint(&required).unwrap();
        assert!(
            h.starts_with("run `eval $(op signin)`") && h.ends_with("to do so on purpose"),
            "{h}"
        );
    }
}
