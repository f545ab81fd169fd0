//! The startability gate: after `up`, checks run concurrently and poll quickly until
//! each passes, the time runs out, or a container of the instance dies (then the
//! gate stops at once and names the service instead of waiting out the timeout).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::instance::model::env::SandboxEnv;
use crate::stack::{Check, GateCheck, Stack};
use crate::tools::docker::Health;

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

/// Tries a check once: Ok on success, Err(reason) otherwise.
pub fn probe(
    client: &reqwest::blocking::Client,
    check: &Check,
    env: &SandboxEnv,
) -> Result<(), String> {
    let port_of = |key: &str| env.port(key).ok_or_else(|| format!("{key} is not set"));
    match check {
        Check::Tcp { port_key } => {
            let port = port_of(port_key)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                .map(|_| ())
                .map_err(|e| format!("127.0.0.1:{port}: {e}"))
        }
        Check::Http { port_key, path, ok } => {
            let (url, resp) = get(client, port_of(port_key)?, path)?;
            let code = resp.status().as_u16();
            if ok.contains(&code) {
                Ok(())
            } else {
                Err(format!("GET {url} answered {code}"))
            }
        }
        Check::JsonLength {
            port_key,
            path,
            pointer,
            min,
        } => {
            let (url, resp) = get(client, port_of(port_key)?, path)?;
            let code = resp.status().as_u16();
            if code != 200 {
                return Err(format!("GET {url} answered {code}"));
            }
            let body = resp.text().map_err(|e| format!("GET {url}: {e}"))?;
            let n = json_length(&body, pointer)
                .ok_or_else(|| format!("GET {url}: no JSON array at {pointer:?}"))?;
            if n >= *min {
                Ok(())
            } else {
                Err(format!("{n} item(s) at {url}, expected at least {min}"))
            }
        }
    }
}

/// Whether `GET http://127.0.0.1:<port><path>` answers 2xx within 3 s (a host
/// service's health URL).
pub fn http_ok(port: u16, path: &str) -> bool {
    let Ok(client) = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(3))
        .no_proxy()
        .tls_built_in_root_certs(false)
        .build()
    else {
        return false;
    };
    get(&client, port, path).is_ok_and(|(_, r)| r.status().is_success())
}

/// `GET http://127.0.0.1:<port><path>`; the error names the URL and the root cause.
fn get(
    client: &reqwest::blocking::Client,
    port: u16,
    path: &str,
) -> Result<(String, reqwest::blocking::Response), String> {
    let url = local_url(port, path)?;
    match client.get(url.as_str()).send() {
        Ok(resp) => Ok((url.to_string(), resp)),
        Err(e) => Err(format!(
            "GET {url}: {}",
            crate::support::error::root_cause(&e)
        )),
    }
}

/// Pure: `http://127.0.0.1:<port>` with `path` (and its query) set as parts, so no
/// path can name another host, port or user (`@127.0.0.1:9999/x`).
pub fn local_url(port: u16, path: &str) -> Result<reqwest::Url, String> {
    crate::support::validate::http_path(path)?;
    let mut url = reqwest::Url::parse("http://127.0.0.1/").map_err(|e| e.to_string())?;
    url.set_port(Some(port))
        .map_err(|()| format!("port {port} cannot be used"))?;
    let (p, q) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    url.set_path(p);
    url.set_query(q);
    if url.host_str() != Some("127.0.0.1") || url.port() != Some(port) {
        return Err(format!("{path:?} would leave 127.0.0.1:{port}"));
    }
    Ok(url)
}

/// Pure: the length of the array at `pointer` (RFC 6901) in a JSON body, or of
/// the body itself when it is an array.
pub fn json_length(body: &str, pointer: &str) -> Option<usize> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    match &v {
        serde_json::Value::Array(a) => Some(a.len()),
        _ => v.pointer(pointer)?.as_array().map(Vec::len),
    }
}

/// A container of the project that has died: exited non-zero, restarting, dead.
pub fn dead_container(cs: &[crate::tools::docker::Container]) -> Option<(String, String)> {
    cs.iter()
        .find(|c| c.died())
        .map(|c| (c.service.clone(), c.status.clone()))
}

/// How one service stands in the default gate.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceState {
    Ready,
    /// Not yet: why.
    Pending(String),
    /// Will not be: exited non-zero, restarting, dead, unhealthy.
    Failed(String),
}

/// Pure: a service is ready when each of its containers runs (healthy, if it has a
/// healthcheck, its own or its image's) or has finished with exit 0 (a one-shot job).
pub fn service_state(containers: &[&crate::tools::docker::Container]) -> ServiceState {
    if containers.is_empty() {
        return ServiceState::Pending("no container yet".into());
    }
    for c in containers {
        if c.died() {
            return ServiceState::Failed(c.status.clone());
        }
        match c.health() {
            Some(Health::Unhealthy) => return ServiceState::Failed(c.status.clone()),
            Some(Health::Starting) => return ServiceState::Pending("health: starting".into()),
            _ => {}
        }
        if !c.running() && !c.exited_cleanly() {
            return ServiceState::Pending(c.status.clone());
        }
    }
    ServiceState::Ready
}

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
    let client = match http_client() {
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

fn http_client() -> reqwest::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(3))
        .no_proxy()
        // Plain http to localhost: no CA store to load.
        .tls_built_in_root_certs(false)
        .build()
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
    use crate::tools::docker::parse_ps;

    #[test]
    fn gate_urls_stay_on_the_instance_port() {
        assert_eq!(
            local_url(8001, "/api/v1/workers?x=1").unwrap().as_str(),
            "http://127.0.0.1:8001/api/v1/workers?x=1"
        );
        for bad in ["@127.0.0.1:9999/x", "//evil:1/x", "x", "/a@b:1"] {
            assert!(local_url(8001, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_both_worker_shapes() {
        assert_eq!(json_length(r#"[{"a":1},{"b":2}]"#, "/workers"), Some(2));
        assert_eq!(json_length(r#"{"workers":[1,2,3,4]}"#, "/workers"), Some(4));
        assert_eq!(
            json_length(r#"{"data":{"items":[1]}}"#, "/data/items"),
            Some(1)
        );
        assert_eq!(json_length(r#"{"other":[]}"#, "/workers"), None);
        assert_eq!(json_length("oops", "/workers"), None);
    }

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

    #[test]
    fn the_default_gate_wants_running_and_healthy() {
        let cs = parse_ps(
            "a\tp\tweb\trunning\tUp 3 seconds (healthy)\tp-web-1\t\n\
             b\tp\tdb\trunning\tUp 1 second (health: starting)\tp-db-1\t\n\
             c\tp\tjob\texited\tExited (0) 1 second ago\tp-job-1\t\n\
             d\tp\tapi\trunning\tUp 2 seconds (unhealthy)\tp-api-1\t\n\
             e\tp\tcache\tcreated\tCreated\tp-cache-1\t\n\
             f\tp\tbad\texited\tExited (3) 1 second ago\tp-bad-1\t\n\
             g\tp\tplain\trunning\tUp 4 seconds\tp-plain-1\t\n",
        );
        let of = |svc: &str| {
            let mine: Vec<&crate::tools::docker::Container> =
                cs.iter().filter(|c| c.service == svc).collect();
            service_state(&mine)
        };
        assert_eq!(of("web"), ServiceState::Ready);
        assert_eq!(of("plain"), ServiceState::Ready);
        assert_eq!(of("job"), ServiceState::Ready);
        assert_eq!(of("db"), ServiceState::Pending("health: starting".into()));
        assert_eq!(of("cache"), ServiceState::Pending("Created".into()));
        assert_eq!(of("none"), ServiceState::Pending("no container yet".into()));
        assert!(matches!(of("api"), ServiceState::Failed(s) if s.contains("unhealthy")));
        assert!(matches!(of("bad"), ServiceState::Failed(s) if s.contains("Exited (3)")));
    }

    #[test]
    fn dead_containers_are_noticed() {
        let cs = parse_ps(
            "a\tp\tbackend\trestarting\tRestarting (1) 2 seconds ago\tp-backend-1\t\nb\tp\tdb\trunning\tUp\tp-db-1\t\n",
        );
        assert_eq!(dead_container(&cs).unwrap().0, "backend");
        let ok = parse_ps("a\tp\tinit\texited\tExited (0) 1 second ago\tp-init-1\t\n");
        assert!(dead_container(&ok).is_none());
    }
}
