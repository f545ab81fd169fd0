//! Wake on request: a request for a sandbox whose port does not answer starts
//! it as `up` does (`kinfra sandbox up` in its directory, gate included) and
//! answers a small page that refreshes until it serves. Never local-prod, never
//! twice at once for one sandbox; the directory and the name come from the
//! registry, the command is kinfra's own.

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

    /// `id` answered: its start is over, and the next time it is found stopped
    /// (`sandbox down`, an idle stop, stopped to make room) a request wakes it again.
    pub fn answered(&self, id: &str) {
        if let Ok(mut m) = self.0.lock()
            && !m.is_empty()
        {
            m.remove(id);
        }
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

/// Starts `route`'s sandbox (when no start is under way) and answers the
/// starting page; local-prod and missing directories get the 502 as it was.
pub fn wake(
    ctx: &Context,
    waking: &Waking,
    route: &Route,
    unreachable: Response<Body>,
) -> Response<Body> {
    let dir = Path::new(&route.path);
    if route.kind != "sandbox" || !dir.is_dir() {
        return unreachable;
    }
    if waking.claim(&route.instance) {
        let log_path = ctx.home.router_dir().join("wake.log");
        let started = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .ok()
            .and_then(|log| {
                let exe = std::env::current_exe().ok()?;
                // Over the machine budget it stops the least recently used idle
                // sandbox, or waits for room: a wake never fails for the budget.
                Cmd::new(&exe)
                    .args(["-q", "sandbox", "up", "--make-room", "--wait"])
                    .current_dir(dir)
                    .spawn_service(log)
                    .ok()
            });
        if started.is_none() {
            return unreachable;
        }
        crate::errln!("kinfra router: waking {} (a request came)", route.instance);
    }
    starting_page(&route.instance)
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
