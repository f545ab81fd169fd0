//! `up`: port check, secrets, `compose up -d`, the post-start step, the gate.
//! The one start path for sandboxes and local-prod. On failure the instance's
//! containers and volumes are removed unless asked to keep them.

use std::net::TcpListener;
use std::time::Duration;

use super::Instance;
use crate::compose::Compose;
use crate::context::Context;
use crate::docker;
use crate::error::{Error, PortConflict, Result};
use crate::gate::{self, Outcome, Report};
use crate::secrets;
use crate::stack::Stack;

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub wait: bool,
    pub build: bool,
    pub timeout: Duration,
    pub secrets: bool,
    pub keep_on_failure: bool,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            wait: true,
            build: false,
            timeout: Duration::from_secs(120),
            secrets: true,
            keep_on_failure: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UpReport {
    pub compose: String,
    pub secrets_loaded: usize,
    pub post_start: Option<std::result::Result<String, String>>,
    pub gate: Option<Report>,
}

/// Port keys the compose file really publishes (a key only in a comment is unused).
fn published_keys(compose_text: &str, keys: &[(String, u16)]) -> Vec<(String, u16)> {
    let live: String = compose_text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    keys.iter()
        .filter(|(k, _)| live.contains(&format!("${{{k}")) || live.contains(&format!("${k}")))
        .cloned()
        .collect()
}

/// True when nothing listens on the port (any address).
fn port_free(port: u16) -> bool {
    TcpListener::bind(("0.0.0.0", port)).is_ok() && TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn check_ports(inst: &Instance, compose_text: &str) -> Result<()> {
    let own: Vec<u16> = super::ensure_not_foreign(inst)?
        .iter()
        .filter(|c| c.running())
        .flat_map(|c| c.host_ports.clone())
        .collect();
    let busy: Vec<(String, u16)> = published_keys(compose_text, &inst.env.ports)
        .into_iter()
        .filter(|(_, p)| !own.contains(p) && !port_free(*p))
        .collect();
    if busy.is_empty() {
        return Ok(());
    }
    let holders = docker::port_holders().unwrap_or_default();
    Err(Error::PortConflict {
        conflicts: busy
            .into_iter()
            .map(|(key, port)| PortConflict {
                key,
                port,
                container: holders.get(&port).cloned(),
            })
            .collect(),
    })
}

pub fn up(ctx: &Context, stack: &Stack, inst: &Instance, opts: &UpOptions) -> Result<UpReport> {
    let r = &ctx.reporter;
    let compose = Compose::detect()?;
    let mut project = inst.project(ctx, stack)?;
    let compose_text = std::fs::read_to_string(&project.file)
        .map_err(|e| Error::io("could not read the compose file", &project.file, e))?;

    r.step(&format!(
        "Checking ports for {} (slot {})",
        inst.id(),
        inst.env.slot
    ));
    check_ports(inst, &compose_text)?;

    let mut secrets_loaded = 0;
    if opts.secrets {
        let item = stack.item_for(inst.kind == super::Kind::LocalProd);
        r.step(&format!("Reading secrets from 1Password item {item}"));
        match secrets::fetch(stack, item) {
            Ok(vars) => {
                secrets_loaded = vars.len();
                r.info(&format!(
                    "{} secret(s) loaded (kept in memory only)",
                    vars.len()
                ));
                project.env.extend(vars);
            }
            Err(e) => {
                r.warn(&format!("{e}; the stack will use its insecure defaults"));
                r.info(&format!("hint: {}", e.hint(item)));
            }
        }
    }

    // Recorded before starting, so `prune` can find the project if we are killed.
    let dir_s = inst.dir.display().to_string();
    ctx.registry().update(|c| {
        c.kinfra
            .projects
            .insert(inst.id().to_string(), dir_s.clone());
        Ok(())
    })?;

    crate::context::pause_point("up:recorded");
    r.step(&format!("Starting containers ({})", compose.describe()));
    let mut cmd = compose.cmd(&project).args(["up", "-d", "--remove-orphans"]);
    if opts.build {
        cmd = cmd.arg("--build");
    }
    if let Err(e) = cmd.run() {
        let err = super::compose_error(inst.id(), e);
        cleanup_after_failure(ctx, inst, opts);
        return Err(err);
    }

    crate::context::pause_point("up:started");
    let post_start = stack.post_start.map(|ps| {
        r.step(&format!(
            "Running post-start step: {} (in {})",
            ps.name, ps.service
        ));
        let res = run_post_start(inst, ps.service, ps.script);
        match &res {
            Ok(out) => {
                for l in out
                    .lines()
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    r.info(&format!("  {l}"));
                }
            }
            Err(e) => r.warn(&format!("post-start step {} failed: {e}", ps.name)),
        }
        res
    });

    let mut report = UpReport {
        compose: compose.describe(),
        secrets_loaded,
        post_start,
        gate: None,
    };
    if !opts.wait {
        return finish(report);
    }
    crate::context::pause_point("up:gate");
    r.step(&format!(
        "Waiting for the stack to be ready (up to {} s)",
        opts.timeout.as_secs()
    ));
    let g = gate::run(
        stack,
        &inst.env,
        inst.id(),
        &gate::Options {
            timeout: opts.timeout,
            ..Default::default()
        },
    );
    print_gate(ctx, &g);
    if !g.passed() {
        let cs = docker::containers(Some(inst.id())).unwrap_or_default();
        let mut services: Vec<String> = g.failed().iter().map(|f| f.service.clone()).collect();
        if let Some((s, _)) = &g.died {
            services.insert(0, s.clone());
        }
        services.dedup();
        for svc in services {
            if let Some(c) = cs.iter().find(|c| c.service == svc) {
                r.info(&format!("last log lines of {svc} ({}):", c.status));
                for l in docker::log_tail(&c.id, 15).lines() {
                    r.info(&format!("  | {l}"));
                }
            } else {
                r.info(&format!("service {svc} has no container"));
            }
        }
        let failed = g
            .failed()
            .iter()
            .map(|f| f.name.clone())
            .collect::<Vec<_>>()
            .join(", ");
        cleanup_after_failure(ctx, inst, opts);
        return Err(Error::GateFailed { failed });
    }
    report.gate = Some(g);
    finish(report)
}

fn finish(report: UpReport) -> Result<UpReport> {
    if let Some(Err(e)) = &report.post_start {
        return Err(Error::Other(format!(
            "the stack is up, but its post-start step failed: {e}"
        )));
    }
    Ok(report)
}

pub(crate) fn print_gate(ctx: &Context, g: &Report) {
    for c in &g.results {
        let line = match &c.outcome {
            Outcome::Passed => format!("  ✓ {:<10} passed ({} ms)", c.name, c.elapsed_ms),
            Outcome::Failed(e) => format!("  ✗ {:<10} failed: {e}", c.name),
            Outcome::Skipped(why) => format!("  - {:<10} skipped: {why}", c.name),
        };
        match c.outcome {
            Outcome::Passed => ctx.reporter.success(&line),
            Outcome::Failed(_) => ctx.reporter.warn(&line),
            Outcome::Skipped(_) => ctx.reporter.info(&line),
        }
    }
}

fn cleanup_after_failure(ctx: &Context, inst: &Instance, opts: &UpOptions) {
    if opts.keep_on_failure {
        ctx.reporter.info(
            "containers kept for debugging (--keep-on-failure); `down --volumes` removes them",
        );
        return;
    }
    ctx.reporter
        .step("Removing the failed start's containers and volumes");
    if let Err(e) = docker::remove_project(inst.id(), Some(&inst.dir)) {
        ctx.reporter.warn(&format!("cleanup failed: {e}"));
    }
}

/// Runs an embedded script inside the service's container with `sh -c`.
fn run_post_start(
    inst: &Instance,
    service: &str,
    script: &str,
) -> std::result::Result<String, String> {
    let text = crate::assets::text::<crate::assets::Scripts>(script);
    let cs = docker::containers(Some(inst.id())).map_err(|e| e.to_string())?;
    let c = cs
        .iter()
        .find(|c| c.service == service && c.running())
        .ok_or_else(|| format!("service {service} is not running"))?;
    crate::exec::Cmd::new("docker")
        .args(["exec", &c.id, "sh", "-c", &text])
        .timeout(Duration::from_secs(600))
        .output()
        .map_err(|e| e.to_string())
        .and_then(|o| {
            if o.status.success() {
                Ok(o.stdout)
            } else {
                let all = format!("{}{}", o.stdout, o.stderr);
                Err(format!(
                    "exit {}: {}",
                    o.status.code().unwrap_or(-1),
                    all.trim().lines().last().unwrap_or("")
                ))
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commented_keys_are_not_published() {
        let text = "ports:\n  - \"${KTRDR_API_PORT:-8000}:8000\"\n#  - \"${KTRDR_WORKER_PORT_5:-5007}:5007\"\n";
        let keys = vec![
            ("KTRDR_API_PORT".to_string(), 8000),
            ("KTRDR_WORKER_PORT_5".to_string(), 5007),
        ];
        assert_eq!(
            published_keys(text, &keys),
            vec![("KTRDR_API_PORT".to_string(), 8000)]
        );
    }
}
