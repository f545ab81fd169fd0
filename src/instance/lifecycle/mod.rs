//! The commands on one instance, one file per operation: `create`, `init`, `up`,
//! `down`/`logs`/`shell`/`exec`/`wait` (`ops`), `status`/`list`, `sync`, the
//! compose passthrough, `destroy`, and the worktree workflow built on them.

pub(super) mod create;
pub(super) mod destroy;
pub(super) mod init;
pub(super) mod ops;
pub(super) mod passthrough;
pub(super) mod status;
pub mod sync;
pub(crate) mod up;
pub mod workflow;
