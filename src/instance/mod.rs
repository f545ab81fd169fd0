//! Instances: one implementation for sandboxes and local-prod, which differ only in
//! the data of [`Kind`]. A folder per subject:
//!
//! | module | what it holds |
//! |---|---|
//! | [`model`] | what an instance is: [`Instance`], its `.env.sandbox`, its identity, its lock |
//! | [`lookup`] | which instance a command acts on (here, named, local-prod from anywhere) |
//! | [`placement`] | where a start goes and whether it fits: the engine, the budget, making room, ports and subnets |
//! | [`lifecycle`] | the commands, one file each: create, init, up, down/logs/shell, status, sync, destroy, the workflow |
//! | [`gate`] | the startability gate: its probes (pure: what is healthy) and its engine (polling) |
//! | [`leftovers`] | what kinfra left behind, reconciled with the registry and Docker: `release`, `prune` |
//! | [`host`] | what an instance takes from this machine: host services, consent, prepare steps, carried files, kept secrets |
//! | [`shared`] | what every instance of a project shares: shared services, shared data |

pub mod error;
pub mod gate;
pub mod host;
pub mod leftovers;
pub mod lifecycle;
pub mod lookup;
pub mod model;
pub mod placement;
pub mod shared;

pub use leftovers::ProjectObjects;
pub use leftovers::prune::{PruneItem, prune, release};
pub use lifecycle::create::{CreateOptions, create};
pub use lifecycle::destroy::{DestroyOptions, Destroyed, destroy, destroy_local_prod};
pub use lifecycle::init::{InitOptions, check_local_prod_free, init};
pub use lifecycle::ops::{ExecOutput, down, exec, log_tails, logs, shell, wait};
pub use lifecycle::passthrough::compose;
pub use lifecycle::status::{
    ListRow, Listing, ServiceState, Status, StatusReport, list, report, status,
};
pub use lifecycle::up::{UpOptions, UpReport, print_gate, show_failing_logs, up};
pub use lookup::{find, find_root, here_or_named, locate, sandbox_entry};
pub use model::Instance;
pub use model::lock::{InstanceLock, held_by, lock};

use crate::instance::error::Error;
pub use crate::stack::Kind;
use crate::tools::error::ToolsError;

/// Current time as ISO-8601 UTC, seconds precision.
pub fn now_iso() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A failed compose run: "Docker unreachable" when the engine no longer answers
/// (compose's own message for that is a Python traceback), else "compose failed".
pub(crate) fn compose_error(project: &str, e: crate::support::exec::ExecError) -> Error {
    if crate::tools::docker::precheck().is_err() {
        return crate::tools::docker::unavailable(e).into();
    }
    match crate::tools::docker::classify(e) {
        ToolsError::Support(crate::support::error::SupportError::Exec(source)) => {
            Error::ComposeFailed {
                project: project.into(),
                source,
            }
        }
        other => other.into(),
    }
}
