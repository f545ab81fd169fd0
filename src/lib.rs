//! kinfra: parallel, isolated copies of a Docker Compose application, one per git
//! worktree ("sandboxes", slots 1–10), plus one production-like local-prod (slot 0).
//!
//! The library holds everything; the `kinfra` and `kinfra-setup` binaries are thin
//! shells over [`cli`].

pub mod assets;
pub mod budget;
pub mod checkup;
pub mod cli;
pub mod compose;
pub mod context;
pub mod data;
pub mod demo;
pub mod docker;
pub mod env_vars;
pub mod envfile;
pub mod error;
pub mod exec;
pub mod fsutil;
pub mod gate;
pub mod git;
pub mod hook;
pub mod infra_toml;
pub mod instance;
pub mod mcp;
pub mod model;
pub mod ports;
pub mod prereq;
pub mod prompt;
pub mod registry;
pub mod secrets;
pub mod setup;
pub mod shared;
pub mod slug;
pub mod stack;
pub mod stack_check;
pub mod stdio;
pub mod timeout;
pub mod units;
pub mod validate;
pub mod workflow;

pub use error::{Error, Result};
