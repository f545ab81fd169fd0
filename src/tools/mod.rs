//! The external programs kinfra drives, each behind one wrapper that runs it,
//! parses its output with pure functions and turns its failures into typed errors:
//! Docker, Compose (and the resolved model it reports), git, 1Password's `op`, and the
//! prerequisite audit over them.

pub mod compose;
pub mod docker;
pub mod error;
pub mod git;
pub mod model;
pub mod prereq;
pub mod secrets;
