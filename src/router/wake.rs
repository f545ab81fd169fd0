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
                Cmd::new(&exe)
                    .args(["-q", "sandbox", "up"])
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
