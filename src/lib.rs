//! kinfra: parallel, isolated copies of a Docker Compose application, one per git
//! worktree ("sandboxes", slots 1–10), plus one production-like local-prod (slot 0).
//!
//! The library holds everything; the `kinfra` and `kinfra-setup` binaries are thin
//! shells over [`cli`]. The modules are layers, listed from the bottom: a module
//! imports only from its own layer or the ones above it in this list, and no two
//! modules import each other (`scripts/layers.py` checks both in CI).
//!
//! | layer | what it holds |
//! |---|---|
//! | [`support`] | running a program ([`support::exec`]), files, units, names, domain-free errors and exit kinds, prompts |
//! | [`state`] | kinfra's home, the registry, `.env.sandbox`, the command [`state::context::Context`] |
//! | [`tools`] | Docker, Compose and its resolved model, git, 1Password, the prerequisite audit |
//! | [`engine`] | Docker engines on other machines, reached over SSH: records, checks, ssh |
//! | [`stack`] | what a project is: `kinfra.toml`, the built-in and inferred descriptions, ports, `stack check` |
//! | [`instance`] | one sandbox or local-prod: create, up, the gate, the budget, destroy, prune |
//! | [`data`] | volumes that branch with the code: snapshots, copies, their journal |
//! | [`agents`], [`setup`] | the MCP server and hooks; the installer, `doctor`, the demo |
//! | [`cli`] | clap's types, one file per subcommand, the terminal [`cli::ui`] |
//!
//! Where the house rules (`../shared/STYLE.md`) live:
//! - two thin binaries (`src/main.rs`, `src/bin/kinfra-setup.rs`) over [`cli::main`]
//!   and [`cli::setup`];
//! - clap's types stay in [`cli`]; the library takes validated values
//!   ([`stack::Stack`], loaded once and passed to every command, [`instance::UpOptions`]);
//! - errors belong to their layer (`thiserror`, each carrying its data; the layout is
//!   in [`support::error`]); a command returns [`cli::error::CliError`], printed with
//!   its cause chain and hint ([`cli::hints`]) and mapped to its exit code in one
//!   place: [`cli::report_error`];
//! - every external program runs through [`support::exec`] (pinned locale, closed
//!   stdin, captured stderr in the error); their output is parsed by pure functions
//!   tested on captured text ([`tools::docker`], [`tools::compose`], [`tools::model`]);
//! - the values a command runs against are one [`state::context::Context`]; progress
//!   and questions go through its `Reporter` and [`support::prompt::Prompter`], which
//!   [`cli::ui`] implements for a terminal;
//! - one test harness (`tests/it/harness.rs`) runs the built binaries against real
//!   Docker, git and uv; lints live in `Cargo.toml`, the layers in `scripts/layers.py`.

pub mod support;

pub mod state;

pub mod tools;

pub mod engine;

pub mod stack;

pub mod instance;

pub mod data;

pub mod router;

pub mod agents;
pub mod setup;

pub mod cli;

pub use instance::error::{Error, Result};
