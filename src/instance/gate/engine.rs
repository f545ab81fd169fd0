//! The gate's engine: the waiting. A stack's checks each poll their probe on a
//! thread of their own (a check that `requires` another waits for it), one watcher
//! ends them all when a container dies, and the deadline and Ctrl-C end the rest. A
//! stack without checks gets the default gate: one `docker ps` per poll, each
//! service judged by [`super::probes::service_state`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::probes::{self, ServiceState, dead_container, probe, service_state};
use super::{CheckResult, Options, Outcome, Report};
use crate::instance::model::env::SandboxEnv;
use crate::stack::{GateCheck, Stack};

/// The gate of a stack that names no checks: every service running, and healthy
/// where it has a healthcheck; one result per service, a failed one as soon as a
/// container dies or turns unhealthy. One `docker ps` per poll serves them all.
fn run_services(project: &str, opts: &Options) -> Report {
    let start = Instant::now();
    let deadline = crate::support::timeout::deadline(start, opts.timeout);
    let poll = opts.poll.max(Duration::from_millis(200));
    let mut done: BTreeMap<String, CheckResult> = BTreeMap::new();
    let result = |svc: &str, outcome: Outcome| CheckResult {
        name: svc.to_string(),
        service: svc.to_string(),
        outcome,
        elapsed_ms: start.elapsed().as_millis(),
    };
    let mut died = None;
    // A service without a healthcheck is up once compose started it and it runs
    // (as for `compose up --wait`); one that has exited by then fails. Waiting for
    // it to "keep running" cost every such stack a second.
    loop {
        let (cs, err) = match crate::tools::docker::containers(Some(project)) {
            Ok(cs) => (cs, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let services: Vec<String> = match &opts.services {
            Some(s) => s.clone(),
            None => cs
                .iter()
                .map(|c| c.service.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        let mut pending = Vec::new();
        for svc in &services {
            if done.contains_key(svc) {
                continue;
            }
            let mine: Vec<&crate::tools::docker::Container> =
                cs.iter().filter(|c| &c.service == svc).collect();
            match service_state(&mine) {
                ServiceState::Ready => {
                    done.insert(svc.clone(), result(svc, Outcome::Passed));
                }
                ServiceState::Failed(why) => {
                    died.get_or_insert((svc.clone(), why.clone()));
                    done.insert(
                        svc.clone(),
                        result(svc, Outcome::Failed(format!("container {why}"))),
                    );
                }
                ServiceState::Pending(why) => pending.push((svc.clone(), why)),
            }
        }
        let over = Instant::now() >= deadline;
        let interrupted = crate::state::context::interrupted();
        let give_up = died.is_some() || over || interrupted;
        if (pending.is_empty() && !services.is_empty()) || give_up {
            for (svc, why) in pending {
                let why = match (&err, interrupted, &died) {
                    (_, true, _) => "interrupted (Ctrl-C)".to_string(),
                    (_, _, Some((d, _))) => format!("not ready when {d} failed: {why}"),
                    (Some(e), _, _) => format!("not ready: {why} ({e})"),
                    _ => format!("not ready after {} s: {why}", opts.timeout.as_secs()),
                };
                done.insert(svc.clone(), result(&svc, Outcome::Failed(why)));
            }
            if services.is_empty() {
                done.insert(
                    "services".into(),
                    result(
                        "services",
                        Outcome::Failed(
                            err.unwrap_or_else(|| "the instance has no containers".into()),
                        ),
                    ),
                );
            }
            break;
        }
        std::thread::sleep(crate::support::timeout::nap(poll, deadline));
    }
    Report {
        results: done.into_values().collect(),
        died,
    }
}

/// Runs every check of the stack for one instance; a stack that names none gets the
/// default gate (every service up, healthy where it has a healthcheck).
pub fn run(stack: &Stack, env: &SandboxEnv, project: &str, opts: &Options) -> Report {
    if stack.gate.is_empty() {
        return run_services(project, opts);
    }
    let start = Instant::now();
    let w = Watch {
        start,
        deadline: crate::support::timeout::deadline(start, opts.timeout),
        stop: Arc::new(AtomicBool::new(false)),
        died: Arc::new(Mutex::new(None)),
        done: Arc::new(Mutex::new(BTreeMap::new())),
    };
    let client = match probes::client() {
        Ok(c) => c,
        Err(e) => {
            return Report {
                results: stack
                    .gate
                    .iter()
                    .map(|g| CheckResult {
                        name: g.name.clone(),
                        service: g.service.clone(),
                        outcome: Outcome::Failed(format!("no HTTP client: {e}")),
                        elapsed_ms: 0,
                    })
                    .collect(),
                died: None,
            };
        }
    };
    let watcher = watch_containers(project, &w);
    let handles: Vec<_> = stack
        .gate
        .iter()
        .map(|g: &GateCheck| {
            let (g, env, client, w, poll) =
                (g.clone(), env.clone(), client.clone(), w.clone(), opts.poll);
            let engine = crate::tools::docker::EngineScope::current();
            std::thread::spawn(move || {
                let _engine = engine.enter();
                poll_check(&g, &env, &client, &w, poll)
            })
        })
        .collect();
    let results = join_checks(stack.gate.iter().zip(handles).map(|(g, h)| (g, h.join())));
    w.stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let died = w.died.lock().ok().and_then(|d| d.clone());
    Report { results, died }
}

/// What the gate's threads share: when it started and must end, whether to stop, the
/// container that died, and which checks passed (for `requires`).
#[derive(Clone)]
struct Watch {
    start: Instant,
    deadline: Instant,
    stop: Arc<AtomicBool>,
    died: Arc<Mutex<Option<(String, String)>>>,
    done: Arc<Mutex<BTreeMap<String, bool>>>,
}

/// Watches the instance's containers so a crash ends the gate early.
fn watch_containers(project: &str, w: &Watch) -> std::thread::JoinHandle<()> {
    let (stop, died, deadline) = (w.stop.clone(), w.died.clone(), w.deadline);
    let project = project.to_string();
    let engine = crate::tools::docker::EngineScope::current();
    std::thread::spawn(move || {
        let _engine = engine.enter();
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            if let Ok(cs) = crate::tools::docker::containers(Some(&project))
                && let Some(d) = dead_container(&cs)
            {
                if let Ok(mut slot) = died.lock() {
                    *slot = Some(d);
                }
                stop.store(true, Ordering::Relaxed);
                return;
            }
            sleep_unless(&stop, Duration::from_millis(1000));
        }
    })
}

/// One check, polled until it passes, the check it requires fails, a container
/// dies, Ctrl-C, or the time runs out.
fn poll_check(
    g: &GateCheck,
    env: &SandboxEnv,
    client: &reqwest::blocking::Client,
    w: &Watch,
    poll: Duration,
) -> CheckResult {
    let finish = |outcome: Outcome| {
        if let Ok(mut d) = w.done.lock() {
            d.insert(g.name.clone(), outcome == Outcome::Passed);
        }
        CheckResult {
            name: g.name.clone(),
            service: g.service.clone(),
            outcome,
            elapsed_ms: w.start.elapsed().as_millis(),
        }
    };
    let mut last;
    loop {
        if let Some(req) = &g.requires {
            let state = w.done.lock().ok().and_then(|d| d.get(req).copied());
            match state {
                Some(false) => {
                    return finish(Outcome::Skipped(format!("{req} failed")));
                }
                None => {
                    if Instant::now() >= w.deadline || w.stop.load(Ordering::Relaxed) {
                        return finish(Outcome::Skipped(format!("{req} did not pass")));
                    }
                    // Waiting on another check in memory: cheap, so react fast.
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                Some(true) => {}
            }
        }
        match probe(client, &g.check, env) {
            Ok(()) => return finish(Outcome::Passed),
            Err(e) => last = e,
        }
        if crate::state::context::interrupted() {
            return finish(Outcome::Failed("interrupted (Ctrl-C)".into()));
        }
        if w.stop.load(Ordering::Relaxed) {
            let why = w
                .died
                .lock()
                .ok()
                .and_then(|d| d.clone())
                .map(|(s, st)| format!("container {s} died ({st}); last error: {last}"))
                .unwrap_or(last);
            return finish(Outcome::Failed(why));
        }
        if Instant::now() >= w.deadline {
            return finish(Outcome::Failed(format!(
                "not ready after {} s: {last}",
                opts_secs(w.deadline, w.start)
            )));
        }
        std::thread::sleep(crate::support::timeout::nap(poll, w.deadline));
    }
}

/// The checks' results in order; a check whose thread panicked has failed (it must
/// never vanish from the report and let the gate pass).
fn join_checks<'a>(
    joined: impl Iterator<Item = (&'a GateCheck, std::thread::Result<CheckResult>)>,
) -> Vec<CheckResult> {
    joined
        .map(|(g, r)| {
            r.unwrap_or_else(|p| CheckResult {
                name: g.name.clone(),
                service: g.service.clone(),
                outcome: Outcome::Failed(format!(
                    "the check crashed: {}",
                    crate::support::error::panic_message(p.as_ref())
                )),
                elapsed_ms: 0,
            })
        })
        .collect()
}

fn opts_secs(deadline: Instant, start: Instant) -> u64 {
    deadline.duration_since(start).as_secs()
}

fn sleep_unless(stop: &AtomicBool, total: Duration) {
    let step = Duration::from_millis(50);
    let end = crate::support::timeout::deadline(Instant::now(), total);
    while Instant::now() < end
        && !stop.load(Ordering::Relaxed)
        && !crate::state::context::interrupted()
    {
        std::thread::sleep(step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_that_panics_fails_the_gate() {
        let checks = &crate::stack::KTRDR.gate;
        let passed = |g: &GateCheck| CheckResult {
            name: g.name.clone(),
            service: g.service.clone(),
            outcome: Outcome::Passed,
            elapsed_ms: 1,
        };
        let joined = checks.iter().enumerate().map(|(i, g)| {
            let r = if i == 1 {
                std::thread::spawn(|| -> CheckResult { panic!("probe exploded") }).join()
            } else {
                Ok(passed(g))
            };
            (g, r)
        });
        let report = Report {
            results: join_checks(joined),
            died: None,
        };
        assert_eq!(report.results.len(), checks.len());
        assert!(!report.passed());
        let failed = report.failed();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].name, checks[1].name);
        assert!(matches!(&failed[0].outcome, Outcome::Failed(m) if m.contains("probe exploded")));
    }
}
