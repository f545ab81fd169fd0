//! `up`: port check, secrets, `compose up -d`, the post-start step, the gate.
//! The one start path for sandboxes and local-prod.
//!
//! Failure policy: a failed or interrupted start undoes only what this command did.
//! Docker's state of the project is taken before compose runs; on failure the
//! containers this command created are removed and those it started are stopped,
//! and of the volumes and networks only those that did not exist before are removed.
//! A volume that existed before the command (a database) is never removed here:
//! volumes go only through `destroy`, `release` and `down --volumes`.

use std::time::Duration;

use crate::instance::Instance;
use crate::instance::error::{Error, PortConflict, PortMachine, Result};
use crate::instance::gate::{self, Outcome, Report};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::tools::compose::Compose;
use crate::tools::docker;
use crate::tools::secrets;

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub wait: bool,
    pub build: bool,
    pub timeout: Duration,
    pub secrets: bool,
    /// Resolve the secrets given by reference again instead of reusing kept values.
    pub refresh_secrets: bool,
    pub keep_on_failure: bool,
    /// Over the machine budget: wait in line for room instead of refusing.
    pub wait_for_room: bool,
    /// Over the machine budget: stop the least recently used idle sandbox(es)
    /// instead of refusing (at a terminal, `up` asks instead).
    pub make_room: bool,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            wait: true,
            build: false,
            timeout: Duration::from_secs(gate::DEFAULT_TIMEOUT_SECS),
            secrets: true,
            refresh_secrets: false,
            keep_on_failure: false,
            wait_for_room: false,
            make_room: false,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct UpReport {
    /// The instance as it was started: `up` may sync its file and choose ports for
    /// services the compose file gained, so what is printed comes from here.
    #[serde(skip)]
    pub instance: Instance,
    pub compose: String,
    pub secrets_loaded: usize,
    /// What the post-start step did, when the stack has one.
    pub post_start: Option<PostStartResult>,
    pub gate: Option<Report>,
}

/// The post-start step's end: its output, or why it failed (the stack stays up).
#[derive(Debug, Clone, PartialEq)]
pub enum PostStartResult {
    Ran { output: String },
    Failed { error: String },
}

/// `{"ok": true, "output": …}` or `{"ok": false, "error": …}`.
impl serde::Serialize for PostStartResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            PostStartResult::Ran { output } => serde_json::json!({"ok": true, "output": output}),
            PostStartResult::Failed { error } => serde_json::json!({"ok": false, "error": error}),
        }
        .serialize(s)
    }
}

/// The instance's secrets for compose's environment: the 1Password item's fields
/// its kind reads, then the secrets given by reference. A field of the item that
/// cannot be had is a warning for a sandbox (the stack runs on its insecure
/// defaults) and an error for local-prod, whose database would otherwise keep the
/// default password it was created with. A reference that cannot be had is an
/// error for both: the description asked for it by name.
pub(in crate::instance) fn load_secrets(
    ctx: &Context,
    plan: &SecretsPlan,
    opts: &UpOptions,
) -> Result<Vec<(String, String)>> {
    let r = &ctx.reporter;
    let mut env = Vec::new();
    let fail = |what: &str, e: secrets::SecretsError| -> Result<()> {
        if plan.kind == crate::instance::Kind::LocalProd {
            return Err(Error::SecretsRequired {
                item: what.to_string(),
                source: e,
            });
        }
        r.warn(&format!("{e}; the stack will use its insecure defaults"));
        if let Some(h) = ctx.hint(&e) {
            r.info(&format!("hint: {h}"));
        }
        Ok(())
    };
    // A stack that maps no fields has no 1Password item to read.
    if let Some(item) = plan.item.as_ref().filter(|_| opts.secrets) {
        r.step(&format!(
            "Reading secrets from 1Password item {}",
            item.name
        ));
        let fields: Vec<&secrets::SecretField> = item.fields.iter().collect();
        match secrets::fetch(&fields, &item.name) {
            Ok(vars) => {
                r.info(&format!(
                    "{} secret(s) loaded (kept in memory only)",
                    vars.len()
                ));
                env.extend(vars);
            }
            Err(e) => fail(&item.name, e)?,
        }
    }
    // The secrets given by reference: kept values reused, the rest resolved now;
    // one that cannot be had stops the start for either kind (its kept value, if
    // any, belongs to another reference).
    let got = crate::instance::host::kept_secrets::obtain(
        ctx,
        &plan.id,
        &plan.refs,
        &plan.main_clone,
        crate::instance::host::kept_secrets::How {
            stores: opts.secrets,
            refresh: opts.refresh_secrets,
        },
    )?;
    if got.reused > 0 {
        r.info(&format!(
            "{} secret(s) reused from the kept values (`up --refresh-secrets` resolves them again)",
            got.reused
        ));
    }
    env.extend(got.env);
    Ok(env)
}

/// Checks the ports; returns the instance's containers as they were before `up`.
fn check_ports(
    ctx: &Context,
    inst: &Instance,
    engine: Option<&crate::engine::Engine>,
    keys: Vec<(String, u16)>,
) -> Result<Vec<docker::Container>> {
    let before = crate::instance::leftovers::ensure_not_foreign(inst)?;
    let own: Vec<u16> = before
        .iter()
        .filter(|c| c.running())
        .flat_map(|c| c.host_ports.clone())
        .collect();
    // The engine says which ports its containers publish (whether or not anything
    // answers on them yet); a connection finds every other listener.
    let holders = docker::port_holders().unwrap_or_default();
    // On another machine's engine each port is published there and forwarded
    // here, so it must be free on both: what listens on that machine is asked too
    // (through the engine's one connection, which the mirror and the forwards use
    // next anyway).
    let there = match engine {
        Some(e) => {
            crate::engine::remote::ensure_connection(ctx, e)?;
            crate::engine::remote::listening(e)?.unwrap_or_else(|| {
                ctx.reporter.warn(&format!(
                    "the machine of the engine {} has no /proc/net/tcp to read: of what holds ports there, only its containers were looked at",
                    e.name
                ));
                Default::default()
            })
        }
        None => Default::default(),
    };
    let machine = |here: bool| {
        engine.map(|e| {
            let engine = e.name.clone();
            if here {
                PortMachine::Here { engine }
            } else {
                PortMachine::There { engine }
            }
        })
    };
    let busy: Vec<PortConflict> = keys
        .into_iter()
        .filter(|(_, p)| !own.contains(p))
        .filter_map(|(key, port)| {
            let (container, here) = if let Some(c) = holders.get(&port) {
                (Some(c.clone()), false)
            } else if there.contains(&port) {
                (None, false)
            } else if crate::stack::ports::in_use(port) {
                (None, true)
            } else {
                return None;
            };
            Some(PortConflict {
                key,
                port,
                container,
                // `None` for a local instance: its one machine, said as before.
                machine: machine(here),
            })
        })
        .collect();
    if busy.is_empty() {
        return Ok(before);
    }
    Err(Error::PortConflict { conflicts: busy })
}

pub fn up(ctx: &Context, stack: &Stack, inst: &Instance, opts: &UpOptions) -> Result<UpReport> {
    let r = &ctx.reporter;
    // On another machine's engine: every docker call goes there (a machine that
    // does not answer fails here, fast); the code and ports follow below.
    let engine = crate::engine::remote::placement(ctx, inst.id())?;
    match &engine {
        Some(e) => crate::engine::remote::connect(ctx, e)?,
        None => docker::ensure_local_endpoint()?,
    }
    let compose = Compose::detect(&ctx.home)?;
    let _lock = crate::instance::lock(ctx, inst.id(), "up")?;
    // The plan, once: the steps below take it, and those that change the instance
    // return it, the plan made again from it.
    let sources = Sources::read(ctx, stack, &inst.dir)?;
    let plan = UpPlan::new(stack, inst.clone(), sources, None, engine);
    // The file follows the description first: keys it gained, keys it dropped.
    let (synced, changes) = super::sync::sync(ctx, stack, &plan.instance)?;
    super::sync::report(ctx, stack, &changes);
    let plan = plan.with_instance(stack, synced, None);
    // Ports kinfra chooses: compose's model, the instance's ports, the copy to run.
    let plan = if stack.auto_ports {
        let res = crate::instance::placement::resolve::prepare(
            ctx,
            &compose,
            stack,
            &plan.instance,
            &plan.project,
        )?;
        let resolution = Resolution {
            file: res.file,
            services: res.model.services,
            host_network: res.isolation.host_network,
        };
        let plan = plan.with_instance(stack, res.instance, Some(resolution));
        gate_ports_exist(stack, &plan.instance)?;
        host_network_alone(ctx, stack, &plan)?;
        plan
    } else {
        plan
    };
    let inst = &plan.instance;

    // Before anything starts (and before waiting for room): a secret that cannot be
    // had stops here.
    let secret_env = load_secrets(ctx, &plan.secrets, opts)?;
    let secrets_loaded = secret_env.len();
    let (containers_before, _ticket) = preflight(ctx, stack, &plan, opts)?;
    // Before anything starts: what the compose file needs and no build section
    // makes (a failure stops here), then the shared services it joins.
    crate::instance::host::prepare::run(ctx, stack, &inst.dir, &plan.sources.main_clone)?;
    for name in crate::instance::shared::services::up(ctx, stack, &inst.dir, &[])? {
        r.info(&format!(
            "shared service {name} was not running: started it (it stays up for every instance; `kinfra shared down` stops it)"
        ));
    }
    // What compose runs: the plan's project with the secrets (never kept in the
    // plan) and, on another machine's engine, the copy pointing at the mirror.
    let mut project = plan.project.clone();
    project.env.extend(secret_env);
    if let Some(e) = &plan.engine {
        project.files = vec![mirror_code(ctx, &compose, stack, e, inst, &plan.project)?];
    }

    // Recorded before starting, so `prune` can find the project if we are killed.
    let dir_s = inst.dir.display().to_string();
    ctx.registry().update(|c| {
        c.kinfra
            .projects
            .insert(inst.id().to_string(), dir_s.clone());
        Ok(())
    })?;

    // What exists now is not this command's to remove if the start fails.
    let before = Before::take(containers_before, inst.id());
    crate::state::context::pause_point("up:recorded");
    r.step(&format!("Starting containers ({})", compose.describe()));
    start_containers(ctx, &compose, &project, inst, opts, &before)?;
    crate::state::context::pause_point("up:started");
    if let Some(e) = &plan.engine {
        let ports: Vec<u16> = inst.env.ports.iter().map(|(_, p)| *p).collect();
        r.step(&format!(
            "Forwarding {} port(s) from {} to 127.0.0.1",
            ports.len(),
            e.name
        ));
        if let Err(err) = crate::engine::remote::forward(ctx, e, &ports) {
            undo_failed_start(ctx, inst, opts, &before);
            return Err(err.into());
        }
        // While it is up: the code kept mirrored, the connection kept up.
        crate::engine::remote::start_keeper(ctx, inst.id())?;
    }
    let post_start = stack
        .post_start
        .as_ref()
        .map(|ps| post_start_step(ctx, inst, ps));
    let mut report = UpReport {
        instance: inst.clone(),
        compose: compose.describe(),
        secrets_loaded,
        post_start,
        gate: None,
    };
    crate::state::context::pause_point("up:gate");
    if crate::state::context::interrupted() {
        // During the post-start step, or before the gate.
        undo_failed_start(ctx, inst, opts, &before);
        return Err(Error::interrupted());
    }
    if !opts.wait {
        return fail_on_post_start(report);
    }
    let g = wait_for_gate(ctx, stack, inst, opts, plan.services(), &before)?;
    report.gate = Some(g);
    crate::instance::placement::budget::record_soon(ctx, inst.id());
    fail_on_post_start(report)
}

/// For an instance on another machine's engine: the worktree mirrored under the
/// remote user's home, and a copy of the resolved model whose bind mounts point at
/// the mirror (never at this machine's worktree). Returns that copy.
///
/// A stack whose ports kinfra chooses runs its resolved copy already; one with a
/// fixed port table (KTRDR's) runs its own compose files, so its model is resolved
/// here the same way (`config`, its secrets left as `${VAR}` for compose to fill
/// from the environment at `up`: never a value on disk), from `project`, which holds
/// no secret.
fn mirror_code(
    ctx: &Context,
    compose: &Compose,
    stack: &Stack,
    e: &crate::engine::Engine,
    inst: &Instance,
    project: &crate::tools::compose::Project,
) -> Result<std::path::PathBuf> {
    let mut doc = if stack.auto_ports {
        let [copy] = project.files.as_slice() else {
            return Err(Error::RemoteNoCopy {
                id: inst.id().into(),
                engine: e.name.clone(),
            });
        };
        let text = std::fs::read(copy).map_err(|err| Error::io("could not read", copy, err))?;
        serde_json::from_slice(&text).map_err(|source| Error::ModelUnreadable { source })?
    } else {
        crate::tools::model::config(compose, project, &stack.secret_vars())?
    };
    // The engine's one connection first (its forwards need it anyway): the mirror's
    // ssh then goes through it instead of logging in again.
    crate::engine::remote::ensure_connection(ctx, e)?;
    ctx.reporter
        .step(&format!("Mirroring the code to {} ({})", e.name, e.url));
    let worktree = inst.dir.display().to_string();
    // What containers write under the worktree stays theirs on the engine: the
    // mirror (and its keeper) sends edits there but deletes nothing, replaces nothing newer.
    let kept = crate::engine::remote::writable_binds(&doc, &worktree);
    crate::engine::remote::record_kept(ctx, inst.id(), &kept)?;
    let mirror = crate::engine::remote::mirror(ctx, e, inst.id(), &inst.dir, &kept)?;
    for p in crate::engine::remote::point_binds_at_mirror(&mut doc, &worktree, &mirror) {
        ctx.reporter.warn(&format!(
            "bind mount {p} is outside the worktree: on {} it names that machine's path",
            e.name
        ));
    }
    crate::engine::remote::publish_on_loopback(&mut doc);
    let out = ctx
        .home
        .model_copy_file(inst.id())
        .with_extension("remote.json");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|err| Error::io("could not create", dir, err))?;
    }
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|source| Error::Unencodable { source })?;
    crate::support::fsutil::write_atomic(&out, &bytes, Some(0o600))
        .map_err(|err| Error::io("could not write", &out, err))?;
    Ok(out)
}

/// Before anything is created: the ports are free, `stack check`'s findings said,
/// and the machine has room (a queued start's ticket is held until `up` ends).
/// Returns the instance's containers as they were.
fn preflight(
    ctx: &Context,
    stack: &Stack,
    plan: &UpPlan,
    opts: &UpOptions,
) -> Result<(
    Vec<docker::Container>,
    Option<crate::instance::placement::budget::Ticket>,
)> {
    let r = &ctx.reporter;
    let inst = &plan.instance;
    r.step(&format!(
        "Checking ports for {} (slot {})",
        inst.id(),
        inst.env.slot
    ));
    // A shared service's fixed port is held by that service, not a conflict: the
    // plan's ports leave them out.
    let containers_before = check_ports(ctx, inst, plan.engine.as_ref(), plan.ports.clone())?;
    // `kinfra stack check`'s findings, said before compose meets them.
    for f in crate::stack::check::check_text(stack, &inst.dir, &plan.sources.text) {
        r.warn(&f.message);
    }
    // The machine budget, for a stack that is not running yet. A queued start keeps
    // its ticket until it is over, so the next in line sees it running.
    let ticket = if containers_before.iter().any(|c| c.running()) {
        None
    } else if opts.wait_for_room {
        let room = || {
            if opts.make_room {
                crate::instance::placement::room::make(ctx, stack, inst.id())
            } else {
                Ok(false)
            }
        };
        Some(crate::instance::placement::budget::wait_turn(
            ctx,
            stack,
            inst.id(),
            &room,
        )?)
    } else {
        crate::instance::placement::room::check_or_make(ctx, stack, inst.id(), opts.make_room)?;
        None
    };
    Ok((containers_before, ticket))
}

/// `compose up -d`, its progress under the step; on a failure the failing
/// services' last log lines, and the start undone (Ctrl-C reaches compose too).
fn start_containers(
    ctx: &Context,
    compose: &Compose,
    project: &crate::tools::compose::Project,
    inst: &Instance,
    opts: &UpOptions,
    before: &Before,
) -> Result<()> {
    let r = &ctx.reporter;
    let mut cmd = compose.cmd(project).args(["up", "-d", "--remove-orphans"]);
    if opts.build {
        cmd = cmd.arg("--build");
    }
    // Ctrl-C reaches compose too; whichever way compose ended, the start is undone.
    // Compose's own progress, as it happens, under the step.
    // On a terminal one line redrawn in place; the last lines are kept to be shown
    // again if compose fails.
    let live = r.live("compose");
    let mut last = std::collections::VecDeque::new();
    let progress = cmd.run_streaming(|line| {
        live.set_message(line);
        if last.len() == 8 {
            last.pop_front();
        }
        last.push_back(line.to_string());
    });
    live.finish();
    let compact = live.compact();
    drop(live);
    if progress.is_err() && !crate::state::context::interrupted() {
        if compact {
            for l in &last {
                r.info(&format!("  {l}"));
            }
        }
        // Before the undo removes them: what the failing containers said.
        let cs = docker::containers(Some(inst.id())).unwrap_or_default();
        let failing: Vec<String> = cs
            .iter()
            .filter(|c| !c.running() || c.health() == Some(crate::tools::docker::Health::Unhealthy))
            .map(|c| c.service.clone())
            .collect();
        show_log_tails(ctx, &cs, failing);
    }
    let started = match (progress, crate::state::context::interrupted()) {
        (_, true) => Err(Error::interrupted()),
        (Err(e), false) => Err(crate::instance::compose_error(inst.id(), e)),
        (Ok(_), false) => Ok(()),
    };
    if let Err(err) = started {
        let unreachable = matches!(
            err,
            Error::Tools(crate::tools::error::ToolsError::DockerUnavailable { .. })
        );
        // On another machine's engine, "unreachable" is most often its connection
        // dropping (the forwarded socket with it): once it is made again, what
        // compose started there can be undone like any failed start.
        if !unreachable || reconnected(ctx, inst) {
            undo_failed_start(ctx, inst, opts, before);
        }
        return Err(err);
    }
    Ok(())
}

/// Whether the instance is on another machine's engine that answers again (its
/// connection made again if it dropped, this command's calls sent there).
fn reconnected(ctx: &Context, inst: &Instance) -> bool {
    matches!(crate::engine::remote::placement(ctx, inst.id()), Ok(Some(e)) if crate::engine::remote::reenter(ctx, &e))
}

/// The description's post-start step, its last lines shown: its output, or why it
/// failed (the stack stays up either way).
fn post_start_step(
    ctx: &Context,
    inst: &Instance,
    ps: &crate::stack::PostStart,
) -> PostStartResult {
    let r = &ctx.reporter;
    r.step(&format!(
        "Running post-start step: {} (in {})",
        ps.name, ps.service
    ));
    let res = run_post_start(inst, &ps.service, &ps.script);
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
    match res {
        Ok(output) => PostStartResult::Ran { output },
        Err(error) => PostStartResult::Failed { error },
    }
}

/// The gate, its checks shown as they pass; a failed one shows the failing
/// services' logs and undoes the start.
fn wait_for_gate(
    ctx: &Context,
    stack: &Stack,
    inst: &Instance,
    opts: &UpOptions,
    services: Option<Vec<String>>,
    before: &Before,
) -> Result<Report> {
    let r = &ctx.reporter;
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
            services,
            ..Default::default()
        },
    );
    print_gate(ctx, &g);
    // A Ctrl-C noted while the gate ran still undoes the start, as the line printed
    // then promised: checks that all pass at their first probe never look at it.
    if !g.passed() || crate::state::context::interrupted() {
        if !g.passed() {
            show_failing_logs(ctx, inst, &g);
        }
        let failed = g
            .failed()
            .iter()
            .map(|f| f.name.clone())
            .collect::<Vec<_>>()
            .join(", ");
        undo_failed_start(ctx, inst, opts, before);
        if crate::state::context::interrupted() {
            return Err(Error::interrupted());
        }
        return Err(Error::GateFailed { failed });
    }
    Ok(g)
}

/// After a failed gate: the last log lines of the service that died and of each
/// failing check's service.
pub fn show_failing_logs(ctx: &Context, inst: &Instance, g: &Report) {
    let cs = docker::containers(Some(inst.id())).unwrap_or_default();
    let mut services: Vec<String> = g.failed().iter().map(|f| f.service.clone()).collect();
    if let Some((s, _)) = &g.died {
        services.insert(0, s.clone());
    }
    show_log_tails(ctx, &cs, services);
}

/// The last log lines of each named service (once each, in order).
fn show_log_tails(ctx: &Context, cs: &[docker::Container], mut services: Vec<String>) {
    let r = &ctx.reporter;
    let mut seen = std::collections::BTreeSet::new();
    services.retain(|s| seen.insert(s.clone()));
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
}

fn fail_on_post_start(report: UpReport) -> Result<UpReport> {
    if let Some(PostStartResult::Failed { error: e }) = &report.post_start {
        return Err(Error::PostStartFailed { why: e.clone() });
    }
    Ok(report)
}

/// Each gate check as a checklist line; the front end draws the marks.
pub fn print_gate(ctx: &Context, g: &Report) {
    use crate::state::context::Mark;
    for c in &g.results {
        let (mark, line) = match &c.outcome {
            Outcome::Passed => (
                Mark::Ok,
                format!("{:<10} passed ({} ms)", c.name, c.elapsed_ms),
            ),
            Outcome::Failed(e) => (Mark::Failed, format!("{:<10} failed: {e}", c.name)),
            Outcome::Skipped(why) => (Mark::Skipped, format!("{:<10} skipped: {why}", c.name)),
        };
        ctx.reporter.check(mark, &line);
    }
}

/// Under the auto scheme a gate check names a chosen port (`PORT_WEB_80`): one the
/// compose model does not publish is refused before anything starts (by `up`) or
/// is made (by `create`), through [`Stack::gate_ports_in`].
pub(crate) fn gate_ports_exist(stack: &Stack, inst: &Instance) -> Result<()> {
    let have: Vec<&str> = inst.env.ports.iter().map(|(k, _)| k.as_str()).collect();
    stack
        .gate_ports_in(&have)
        .map_err(|why| Error::GatePortsMissing { why })
}

/// A service on the host's network binds the host's own ports: a second running
/// instance of the project cannot be isolated from the first, so it is refused
/// before anything starts, naming the service and the running instance.
fn host_network_alone(ctx: &Context, stack: &Stack, plan: &UpPlan) -> Result<()> {
    let services = match &plan.resolution {
        Some(r) if !r.host_network.is_empty() => &r.host_network,
        _ => return Ok(()),
    };
    let inst = &plan.instance;
    let reg = ctx.registry().load()?;
    for (id, name) in &reg.kinfra.stacks {
        if id == inst.id() || name != &stack.name {
            continue;
        }
        if docker::containers(Some(id))?.iter().any(|c| c.running()) {
            return Err(Error::HostNetworkTaken {
                services: services.clone(),
                other: id.clone(),
                stack: stack.name.clone(),
            });
        }
    }
    Ok(())
}

/// Runs an embedded script inside the service's container with `sh -c`.
fn run_post_start(
    inst: &Instance,
    service: &str,
    script: &crate::stack::Script,
) -> std::result::Result<String, String> {
    let text = match script {
        crate::stack::Script::Embedded(p) => {
            crate::support::assets::text::<crate::support::assets::Scripts>(p)
        }
        crate::stack::Script::Repo(p) => {
            // A tracked symlink must not run a script from outside the repository.
            let path = crate::support::fsutil::resolve_inside(&inst.dir, p)
                .map_err(|why| format!("refused to run {}: {why}", p.display()))?;
            std::fs::read_to_string(&path)
                .map_err(|e| format!("could not read {}: {e}", path.display()))?
        }
    };
    let cs = docker::containers(Some(inst.id())).map_err(|e| e.to_string())?;
    let c = cs
        .iter()
        .find(|c| c.service == service && c.running())
        .ok_or_else(|| format!("service {service} is not running"))?;
    crate::support::exec::Cmd::new("docker")
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

pub mod plan;
mod undo;

#[cfg(test)]
use plan::published_keys;
pub use plan::{Resolution, SecretsPlan, Sources, UpPlan};

#[cfg(test)]
use undo::plan_undo;
use undo::{Before, undo_failed_start};

#[cfg(test)]
mod tests;
