//! `down`, `logs` and `shell`: thin compose/docker calls on one instance.

use crate::instance::Instance;
use crate::instance::error::{Error, Result};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::tools::compose::Compose;

/// Stops the instance (with its profile, so profile-only services stop too).
pub fn down(ctx: &Context, stack: &Stack, inst: &Instance, volumes: bool) -> Result<()> {
    let _lock = crate::instance::lock(ctx, inst.id(), "down")?;
    // Compose would also stop another directory's containers of the same name.
    crate::instance::leftovers::ensure_not_foreign(inst)?;
    let compose = Compose::detect(&ctx.home)?;
    let project = inst.project(ctx, stack)?;
    ctx.reporter
        .step(&format!("Stopping {} ({})", inst.id(), compose.describe()));
    let mut cmd = compose.cmd(&project).args(["down", "--remove-orphans"]);
    if volumes {
        cmd = cmd.arg("--volumes");
    }
    // On another machine's engine: its ports stop being forwarded here (a forward
    // left behind would still accept connections and answer them with nothing).
    if let Some(e) = crate::engine::remote::placement(ctx, inst.id())? {
        crate::engine::remote::stop_keeper(ctx, inst.id());
        let ports: Vec<u16> = inst.env.ports.iter().map(|(_, p)| *p).collect();
        crate::engine::remote::unforward(ctx, &e, &ports);
    }
    match cmd.run() {
        Ok(_) => Ok(()),
        // The engine frees a removed container's network endpoint a moment after
        // the container is gone (seen with Docker 20.10 when an `up` has just run):
        // compose then fails to remove the network though nothing uses it. The
        // containers are gone; the network goes once its endpoints are released.
        Err(e) if e.stderr().contains("has active endpoints") => {
            if crate::tools::docker::remove_networks_settling(inst.id()) {
                Ok(())
            } else {
                Err(crate::instance::compose_error(inst.id(), e))
            }
        }
        Err(e) => Err(crate::instance::compose_error(inst.id(), e)),
    }
}

/// Streams logs to the terminal; returns compose's exit code.
pub fn logs(
    ctx: &Context,
    stack: &Stack,
    inst: &Instance,
    service: Option<&str>,
    follow: bool,
    lines: usize,
) -> Result<i32> {
    if let Some(s) = service {
        // The services Docker knows for this instance (no `compose config`: read
        // commands stay fast); none known yet, compose itself decides.
        let mut known = services_of(&crate::tools::docker::containers(Some(inst.id()))?);
        if known.is_empty() {
            // Not running: the services the compose file names (a plain read).
            known = file_services(stack, inst);
        }
        if !known.is_empty() && !known.iter().any(|k| k == s) {
            return Err(no_such_service(inst, s, &known));
        }
    }
    let compose = Compose::detect(&ctx.home)?;
    let project = inst.project(ctx, stack)?;
    let mut cmd = compose
        .cmd(&project)
        .args(["logs", "--tail", &lines.to_string()]);
    if follow {
        cmd = cmd.arg("--follow");
    }
    if let Some(s) = service {
        // A service name is data, never an option.
        cmd = cmd.arg("--").arg(s);
    }
    Ok(cmd.status_inherit()?.code().unwrap_or(1))
}

/// The services the instance's compose files name, sorted (a plain read, no
/// `compose config`); empty when they cannot be read.
fn file_services(stack: &Stack, inst: &Instance) -> Vec<String> {
    let mut v = stack
        .compose_text_in(&inst.dir)
        .map(|t| crate::stack::check::read(&t).services)
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

/// Opens a shell in a running service container.
pub fn shell(stack: &Stack, inst: &Instance, service: &str, tty: bool) -> Result<i32> {
    let cs = crate::instance::leftovers::ensure_not_foreign(inst)?;
    let mut known = services_of(&cs);
    if known.is_empty() {
        known = file_services(stack, inst);
    }
    if !known.is_empty() && !known.iter().any(|k| k == service) {
        return Err(no_such_service(inst, service, &known));
    }
    let c = cs
        .iter()
        .find(|c| c.service == service && c.running())
        .ok_or_else(|| {
            let mut running: Vec<&str> = cs
                .iter()
                .filter(|c| c.running())
                .map(|c| c.service.as_str())
                .collect();
            running.sort_unstable();
            Error::ServiceNotRunning {
                service: service.to_string(),
                id: inst.id().into(),
                running: Some(running.iter().map(|s| s.to_string()).collect()),
            }
        })?;
    let flags = if tty { "-it" } else { "-i" };
    let status = crate::support::exec::Cmd::new("docker")
        .args([
            "exec",
            flags,
            &c.id,
            "sh",
            "-c",
            "command -v bash >/dev/null && exec bash || exec sh",
        ])
        .status_inherit()?;
    Ok(status.code().unwrap_or(1))
}

/// The instance's services Docker knows of, sorted, each once.
fn services_of(cs: &[crate::tools::docker::Container]) -> Vec<String> {
    let set: std::collections::BTreeSet<&str> = cs.iter().map(|c| c.service.as_str()).collect();
    set.into_iter().map(String::from).collect()
}

fn no_such_service(inst: &Instance, service: &str, known: &[String]) -> Error {
    Error::NoSuchService {
        id: inst.id().into(),
        service: service.to_string(),
        known: known.to_vec(),
    }
}

/// The last `lines` log lines of each service (or of one), as text per service:
/// what an agent reads when something failed.
pub fn log_tails(
    inst: &Instance,
    service: Option<&str>,
    lines: usize,
) -> Result<std::collections::BTreeMap<String, String>> {
    let cs = crate::tools::docker::containers(Some(inst.id()))?;
    let known = services_of(&cs);
    if let Some(s) = service
        && !known.iter().any(|k| k == s)
    {
        return Err(no_such_service(inst, s, &known));
    }
    Ok(cs
        .iter()
        .filter(|c| service.is_none_or(|s| c.service == s))
        .map(|c| {
            (
                c.service.clone(),
                crate::tools::docker::log_tail(&c.id, lines),
            )
        })
        .collect())
}

/// What a command run in a service printed, and how it ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExecOutput {
    pub service: String,
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `argv` (no shell) in the running container of `service`, with a time limit.
pub fn exec(
    inst: &Instance,
    service: &str,
    argv: &[String],
    timeout: std::time::Duration,
) -> Result<ExecOutput> {
    if argv.is_empty() {
        return Err(Error::EmptyCommand);
    }
    let cs = crate::instance::leftovers::ensure_not_foreign(inst)?;
    let known = services_of(&cs);
    let c = cs
        .iter()
        .find(|c| c.service == service && c.running())
        .ok_or_else(|| {
            if known.iter().any(|k| k == service) {
                Error::ServiceNotRunning {
                    service: service.to_string(),
                    id: inst.id().into(),
                    running: None,
                }
            } else {
                no_such_service(inst, service, &known)
            }
        })?;
    let out = crate::support::exec::Cmd::new("docker")
        .args(["exec", "-i", &c.id])
        .args(argv.iter().map(String::as_str))
        .timeout(timeout)
        .output()?;
    Ok(ExecOutput {
        service: service.to_string(),
        exit_code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
    })
}

/// Runs the startability gate on a started instance, without starting anything.
/// Not passing is [`Error::GateFailed`], after the failing services' log lines.
pub fn wait(
    ctx: &Context,
    stack: &Stack,
    inst: &Instance,
    timeout: std::time::Duration,
) -> Result<crate::instance::gate::Report> {
    let report = crate::instance::gate::run(
        stack,
        &inst.env,
        inst.id(),
        &crate::instance::gate::Options {
            timeout,
            // The services of the model `up` last resolved (a file read, no compose).
            services: crate::instance::placement::resolve::cached_services(ctx, inst.id()),
            ..Default::default()
        },
    );
    crate::instance::print_gate(ctx, &report);
    if report.passed() {
        return Ok(report);
    }
    crate::instance::show_failing_logs(ctx, inst, &report);
    Err(Error::GateFailed {
        failed: report
            .failed()
            .iter()
            .map(|f| f.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
    })
}
