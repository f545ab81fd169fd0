//! Wake on request: a request (or a connection to a checked-out port, or the
//! page's start button) for a sandbox whose port does not answer starts it as
//! `up` does (`kinfra sandbox up` in its directory, gate included); a request
//! gets a small page that refreshes until it serves. Never local-prod, never one
//! a `destroy` holds, never twice at once for one sandbox; the directory and the
//! name come from the registry, the command is kinfra's own.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::{Response, StatusCode};

use super::names::Route;
use super::proxy::{Body, plain};
use crate::state::context::Context;
use crate::support::exec::Cmd;

/// A start in progress is not started again for this long.
const RESTART_AFTER: Duration = Duration::from_secs(300);

/// The sandboxes being woken, since when.
#[derive(Default)]
pub struct Waking(Mutex<BTreeMap<String, Instant>>);

impl Waking {
    /// Whether this request should start `id` (none started it lately).
    fn claim(&self, id: &str) -> bool {
        let Ok(mut m) = self.0.lock() else {
            return false;
        };
        match m.get(id) {
            Some(t) if t.elapsed() < RESTART_AFTER => false,
            _ => {
                m.insert(id.to_string(), Instant::now());
                true
            }
        }
    }

    /// Forgets a start: the sandbox was stopped, or its start could not run.
    pub fn release(&self, id: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(id);
        }
    }

    /// Whether a start of `id` is under way (started lately).
    pub fn under_way(&self, id: &str) -> bool {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(id).copied())
            .is_some_and(|t| t.elapsed() < RESTART_AFTER)
    }
}

/// Pure: whether a request may start a sandbox. A browser says where a request
/// comes from (`Sec-Fetch-*`): another site's page can make it send requests by
/// name (an `<img>`, a `no-cors` fetch, a hidden frame, a script's navigation),
/// which must not run `sandbox up` (the gate, compose) on the user's machine. A
/// link the user follows (a top-level navigation with user activation), the
/// address bar, the router's page or the sandbox's own pages, and clients that
/// are no browser (no such header) do.
pub fn may_wake(h: &hyper::HeaderMap) -> bool {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok());
    match get("sec-fetch-site") {
        None | Some("none" | "same-origin" | "same-site") => true,
        Some(_) => {
            get("sec-fetch-mode") == Some("navigate")
                && get("sec-fetch-dest") == Some("document")
                && get("sec-fetch-user") == Some("?1")
        }
    }
}

/// Why a sandbox is not started for a request, a connection or the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotWoken {
    /// local-prod (its secrets and host services need the person) or no kind kinfra starts.
    NotASandbox,
    /// Its registered directory is gone.
    NoDirectory,
    /// A `destroy` (or `release`, `prune`) holds its lock: starting it again would
    /// race the removal.
    Removing(String),
    /// kinfra's own program could not be run.
    Failed,
}

impl std::fmt::Display for NotWoken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotWoken::NotASandbox => write!(
                f,
                "only sandboxes are started and stopped here: local-prod with `kinfra local-prod up` / `down`"
            ),
            NotWoken::NoDirectory => write!(f, "its registered directory is gone"),
            NotWoken::Removing(op) => write!(
                f,
                "it is being removed (kinfra `{op}` holds it); it is not started again"
            ),
            NotWoken::Failed => write!(f, "kinfra's own program could not be run"),
        }
    }
}

/// Operations after which the sandbox is gone: never woken under one.
const REMOVING: &[&str] = &["destroy", "release", "prune"];

/// Whether `route`'s sandbox may be started or stopped by the router now.
pub fn check(ctx: &Context, route: &Route) -> Result<(), NotWoken> {
    if route.kind != "sandbox" {
        return Err(NotWoken::NotASandbox);
    }
    if !Path::new(&route.path).is_dir() {
        return Err(NotWoken::NoDirectory);
    }
    match crate::instance::held_by(ctx, &route.instance) {
        Some(op) if REMOVING.contains(&op.as_str()) => Err(NotWoken::Removing(op)),
        _ => Ok(()),
    }
}

/// Starts `route`'s sandbox as `up` does unless a start is under way: true when
/// this call started it. `why` goes to the log.
pub fn start(ctx: &Context, waking: &Waking, route: &Route, why: &str) -> Result<bool, NotWoken> {
    check(ctx, route)?;
    let dir = Path::new(&route.path);
    if waking.claim(&route.instance) {
        let log_path = ctx.home.router_dir().join("wake.log");
        let started = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .ok()
            .and_then(|log| {
                let exe = std::env::current_exe().ok()?;
                Cmd::new(&exe)
                    .args(["-q", "sandbox", "up"])
                    .current_dir(dir)
                    .spawn_service(log)
                    .ok()
            });
        if started.is_none() {
            waking.release(&route.instance);
            return Err(NotWoken::Failed);
        }
        crate::errln!("kinfra router: waking {} ({why})", route.instance);
        return Ok(true);
    }
    Ok(false)
}

/// Starts `route`'s sandbox (when no start is under way) and answers the
/// starting page; one being removed gets a page that says so; local-prod and
/// missing directories get the 502 as it was.
pub fn wake(
    ctx: &Context,
    waking: &Waking,
    route: &Route,
    unreachable: Response<Body>,
) -> Response<Body> {
    match start(ctx, waking, route, "a request came") {
        Ok(_) => starting_page(&route.instance),
        Err(why @ NotWoken::Removing(_)) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/html; charset=utf-8",
            format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>{0} is being removed</title></head><body><p>kinfra does not start {0}: {1}.</p></body></html>\n",
                super::html::escape(&route.instance),
                super::html::escape(&why.to_string())
            ),
        ),
        Err(_) => unreachable,
    }
}

/// The page a browser sees while its sandbox starts: it asks again every 2 s.
pub fn starting_page(instance: &str) -> Response<Body> {
    let mut r = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/html; charset=utf-8",
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\"><title>starting {0}</title></head><body><p>kinfra is starting {0}; this page reloads until it answers.</p></body></html>\n",
            super::html::escape(instance)
        ),
    );
    r.headers_mut().insert(
        hyper::header::RETRY_AFTER,
        hyper::header::HeaderValue::from_static("2"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::may_wake;

    fn headers(pairs: &[(&'static str, &'static str)]) -> hyper::HeaderMap {
        let mut h = hyper::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, hyper::header::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_the_users_own_requests_wake() {
        assert!(may_wake(&headers(&[])), "curl, a script of the user's");
        assert!(may_wake(&headers(&[("sec-fetch-site", "none")])));
        assert!(may_wake(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(may_wake(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
            ("sec-fetch-user", "?1"),
        ])));
        // Another site's page: an image, a no-cors fetch, a frame, a script's navigation.
        for (mode, dest, user) in [
            ("no-cors", "image", "?1"),
            ("no-cors", "empty", "?1"),
            ("cors", "empty", "?1"),
            ("navigate", "iframe", "?1"),
            ("navigate", "document", "?0"),
        ] {
            let h = headers(&[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", mode),
                ("sec-fetch-dest", dest),
                ("sec-fetch-user", user),
            ]);
            assert!(!may_wake(&h), "{mode} {dest} {user}");
        }
        let mut h = headers(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
        ]);
        h.insert(
            "sec-fetch-dest",
            hyper::header::HeaderValue::from_static("document"),
        );
        assert!(!may_wake(&h), "no user activation");
    }
}
