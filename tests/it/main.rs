//! Integration tests: the built `kinfra` binary against real git, a real Docker
//! engine and compose; the only stand-in is a fake `op` on PATH.

// A scenario reads as one story, step by step against the real parts: the
// length limit is for kinfra's own functions, not for these.
#![allow(clippy::too_many_lines)]

mod harness;

mod agents;
mod bad_input;
mod beside;
mod clone_http;
mod commands;
mod compose_file;
mod data;
mod devops_ai;
mod fake_docker;
mod installer;
mod isolation;
mod isolation_engine;
mod isolation_files;
mod ktrdr_today;
mod local_prod;
mod mcp;
mod registry;
mod remote;
mod router;
mod sandbox;
mod secrets;
mod setup;
mod stacks;
mod trust;
mod workflow;
mod zero_config;
