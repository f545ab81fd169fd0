//! The startability gate: after `up`, checks run concurrently and poll quickly until
//! each passes, the time runs out, or a container of the instance dies (then the
//! gate stops at once and names the service instead of waiting out the timeout).
//!
//! Two halves: [`probes`] tries a check once and judges what Docker said (pure
//! where it can be: a service's state from `docker ps`'s captured lines, a JSON
//! body's length, the URL a check may reach), tested on captured output; the engine
//! ([`run`]) is the waiting: a thread per check polling its probe, a watcher on the
//! containers, `requires` between checks, the deadline and Ctrl-C.

mod engine;
pub mod probes;

pub use engine::run;

use std::time::Duration;

use serde::Serialize;

/// How long `up`, `wait` and their MCP tools wait for a stack by default.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub service: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub elapsed_ms: u128,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub timeout: Duration,
    pub poll: Duration,
    /// For a stack without gate checks: the services that must be up (compose's
    /// model); `None` takes the services the instance has containers of.
    pub services: Option<Vec<String>>,
}

impl Default for Options {
    fn default() -> Self {
        let poll = crate::support::env_vars::number(
            crate::support::env_vars::EnvVars::KINFRA_GATE_POLL_MS,
            1,
        )
        .ok()
        .flatten()
        .unwrap_or(100);
        Options {
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            poll: Duration::from_millis(poll),
            services: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub results: Vec<CheckResult>,
    /// A container that died during the gate: (service, status).
    pub died: Option<(String, String)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.outcome == Outcome::Passed)
    }
    pub fn failed(&self) -> Vec<&CheckResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .collect()
    }
}
