//! The tools' parameters: each struct's doc comments are the schema an agent reads.

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct Target {
    /// A registered sandbox by name. Default: the instance containing the server's
    /// working directory (the agent's worktree).
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateParams {
    /// The sandbox's name (also its branch unless `branch` is given); made safe for
    /// paths and compose.
    pub name: String,
    /// The branch to check out (created from HEAD when it does not exist).
    #[serde(default)]
    pub branch: Option<String>,
    /// The commit or ref a new branch starts from (default HEAD).
    #[serde(default)]
    pub base: Option<String>,
    /// A slot from 1 to the stack's maximum; default: the first free one.
    #[serde(default)]
    pub slot: Option<u8>,
    /// Start its data volumes as a consistent copy of `local-prod`'s, a sandbox's,
    /// or a snapshot's (see `snapshot_list`). The source is never modified.
    #[serde(default)]
    pub data: Option<String>,
    /// Copy Postgres volumes from the running source server with pg_basebackup
    /// instead of pausing it (for databases too large to pause).
    #[serde(default)]
    pub online: bool,
    /// Place it on a Docker engine on another machine, by the name it was recorded
    /// under (`kinfra engine list`), or `auto` (the engine with the most memory room,
    /// this machine's included). Its code is mirrored there and its ports forwarded
    /// to this machine's 127.0.0.1. Default: this machine's engine.
    #[serde(default)]
    pub on: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SnapshotSaveParams {
    /// The snapshot's name (a-z, 0-9 and -).
    pub name: String,
    /// `local-prod` or a sandbox's name; default: the instance containing the
    /// server's directory.
    #[serde(default)]
    pub from: Option<String>,
    /// Copy Postgres volumes from the running source server with pg_basebackup
    /// instead of pausing it (for databases too large to pause).
    #[serde(default)]
    pub online: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SnapshotNameParams {
    pub name: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ResetParams {
    /// The sandbox; default: the one containing the server's directory.
    #[serde(default)]
    pub name: Option<String>,
    /// Another source than the one it came from: `local-prod`, a sandbox, a snapshot.
    #[serde(default)]
    pub data: Option<String>,
    /// Must be true: the sandbox's own writes to its data are lost. Only with the
    /// user's consent when they matter.
    #[serde(default)]
    pub confirm: bool,
    /// Copy Postgres volumes from the running source server with pg_basebackup
    /// instead of pausing it (for databases too large to pause).
    #[serde(default)]
    pub online: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct UpParams {
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds to wait for the startability gate (default 120).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Start without 1Password secrets (the stack's insecure development defaults).
    #[serde(default)]
    pub no_secrets: bool,
    /// Resolve the secrets given by reference again instead of reusing the values
    /// kept from an earlier start.
    #[serde(default)]
    pub refresh_secrets: bool,
    /// Build images before starting.
    #[serde(default)]
    pub build: bool,
    /// When the machine budget is full, wait in line for room instead of failing.
    #[serde(default)]
    pub wait_for_room: bool,
    /// A sandbox not placed yet and never started here: place it on this engine (a
    /// recorded engine's name, or `auto`) first. One already placed there is simply
    /// started; one placed elsewhere is refused (a sandbox stays where its volumes are).
    #[serde(default)]
    pub on: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct LogsParams {
    #[serde(default)]
    pub name: Option<String>,
    /// Only this service (default: every service).
    #[serde(default)]
    pub service: Option<String>,
    /// Lines from the end of each log (default 100).
    #[serde(default)]
    pub tail: Option<usize>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct WaitParams {
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds to wait (default 120).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExecParams {
    #[serde(default)]
    pub name: Option<String>,
    /// The compose service to run in (its running container).
    pub service: String,
    /// The program and its arguments, run directly (no shell).
    pub argv: Vec<String>,
    /// Seconds before the command is stopped (default 60).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DestroyParams {
    /// The sandbox to destroy.
    pub name: String,
    /// DANGER: also delete a worktree with uncommitted changes or commits on no branch.
    /// That work is lost for good. Only with the user's explicit consent.
    #[serde(default)]
    pub force: bool,
    /// Keep the worktree directory (remove only containers, volumes, registration).
    #[serde(default)]
    pub keep_worktree: bool,
}
