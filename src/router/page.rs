//! What the router answers itself: refusals, the unknown-name page that lists
//! the instances, and `http://kinfra.localhost:PORT/` with `GET /api/instances`
//! (the same document as `kinfra sandbox list --json`).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use super::html::escape;
use super::names::{Refused, Route, Target};
use super::proxy::{Body, plain};
use super::shared::Shared;

const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// A `Host` the router does not serve.
pub fn refused(r: &Refused) -> hyper::Response<Body> {
    match r {
        Refused::Missing => plain(
            StatusCode::BAD_REQUEST,
            TEXT,
            "kinfra router: a request needs a Host header\n",
        ),
        Refused::Malformed(h) => plain(
            StatusCode::BAD_REQUEST,
            TEXT,
            format!("kinfra router: {h:?} is not a host name\n"),
        ),
        Refused::Foreign(h) => plain(
            StatusCode::MISDIRECTED_REQUEST,
            TEXT,
            format!(
                "kinfra router: {h:?} is not served: only *.localhost and 127.0.0.1 names reach this router\n"
            ),
        ),
    }
}

/// Pure: each instance's routed URLs, as the 404 page and the page list them.
pub fn routed_urls(route: &Route, port: u16) -> Vec<String> {
    let mut out = Vec::new();
    // Host names have no `_`: the name is written as the router matches it.
    let instance = super::names::form(&route.instance);
    if route.front.is_some() {
        out.push(format!("http://{instance}.localhost:{port}/"));
    }
    let mut seen: Vec<&str> = Vec::new();
    for s in &route.services {
        if !seen.contains(&s.service.as_str()) {
            seen.push(&s.service);
            out.push(format!("http://{}.{instance}.localhost:{port}/", s.service));
        }
    }
    out
}

/// Pure: the HTML list of instances and their names.
fn instance_list(table: &[Route], port: u16) -> String {
    if table.is_empty() {
        return "<p>No instances are registered.</p>".into();
    }
    let mut html = String::from("<ul>");
    for r in table {
        html.push_str(&format!(
            "<li><b>{}</b> ({})<ul>",
            escape(&r.instance),
            escape(r.kind)
        ));
        let urls = routed_urls(r, port);
        if urls.is_empty() {
            html.push_str("<li>no port kinfra chose (nothing to route)</li>");
        }
        for u in urls {
            let u = escape(&u);
            html.push_str(&format!("<li><a href=\"{u}\">{u}</a></li>"));
        }
        html.push_str("</ul></li>");
    }
    html.push_str("</ul>");
    html
}

/// The page: the list as plain HTML (readable without scripts), then a script
/// that keeps it live from `/api/events` and offers checkout. The token is in
/// the page: only a page of the router's own origin can read it.
fn front_page(table: &[Route], port: u16, token: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>kinfra</title>\
<meta name=\"kinfra-token\" content=\"{}\"><meta name=\"kinfra-port\" content=\"{port}\">\
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}</style>\
</head><body><h1>kinfra</h1><p id=\"checkout\"></p><p id=\"note\"></p><div id=\"list\">{}</div><script>{}</script></body></html>\n",
        escape(token),
        instance_list(table, port),
        PAGE_SCRIPT
    )
}

/// The page's script: renders `/api/instances` (with the routes) as a table,
/// again on each server-sent event, and posts checkouts with the token.
const PAGE_SCRIPT: &str = r#"
const token = document.querySelector('meta[name=kinfra-token]').content;
const port = document.querySelector('meta[name=kinfra-port]').content;
const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const form = s => s.toLowerCase().replace(/_/g, '-');
async function render(listing) {
  const routes = await (await fetch('/api/routes')).json();
  const co = await (await fetch('/api/checkout')).json();
  document.getElementById('checkout').textContent = co.instance ? `checked out: ${co.instance}` : 'nothing checked out';
  const rows = listing.instances.map(r => {
    const route = routes.find(x => form(x.instance) === form(r.instance_id));
    const names = route ? [...new Set(route.services.map(s => s.service))].map(s => `http://${s}.${form(r.instance_id)}.localhost:${port}/`) : [];
    const links = names.map(u => `<a href="${esc(u)}">${esc(u)}</a>`).join('<br>');
    const direct = route ? route.services.map(s => `${esc(s.service)}:${s.target} → ${s.port}`).join('<br>') : '';
    const mem = r.memory ? (r.memory / 1048576).toFixed(0) + ' MiB' : '-';
    const id = esc(r.instance_id);
    const act = a => `<button data-act="${a}" data-id="${id}">${a}</button>`;
    // local-prod is started and stopped with its own commands (its secrets need the person).
    const power = r.kind !== 'sandbox' || r.state === 'directory missing' ? ''
      : r.state === 'running' ? act('stop')
      : String(r.state).startsWith('partial') ? act('start') + ' ' + act('stop')
      : act('start');
    const btn = `<button data-co="${id}">checkout</button> ${power}`;
    return `<tr data-instance="${esc(r.instance_id)}"><td>${esc(r.instance_id)}</td><td>${esc(r.project)}</td><td>${esc(r.kind)}</td><td class="state">${esc(r.state)}</td><td>${links}</td><td>${direct}</td><td>${mem}</td><td>${btn}</td></tr>`;
  }).join('');
  document.getElementById('list').innerHTML = listing.instances.length
    ? `<table><tr><th>instance</th><th>project</th><th>kind</th><th>state</th><th>routed</th><th>direct</th><th>memory</th><th></th></tr>${rows}</table>`
    : '<p>No instances are registered.</p>';
  document.querySelectorAll('button[data-co]').forEach(b => b.onclick = async () => {
    const r = await fetch('/api/checkout', {method: 'POST', headers: {'X-Kinfra-Token': token, 'Content-Type': 'application/json'}, body: JSON.stringify({instance: b.dataset.co})});
    if (!r.ok) alert((await r.json()).error); else render(listing);
  });
  document.querySelectorAll('button[data-act]').forEach(b => b.onclick = async () => {
    const r = await fetch('/api/' + b.dataset.act, {method: 'POST', headers: {'X-Kinfra-Token': token, 'Content-Type': 'application/json'}, body: JSON.stringify({instance: b.dataset.id})});
    const answer = await r.json();
    const note = document.getElementById('note');
    note.textContent = r.ok ? `${answer.action === 'stop' ? 'stopping' : 'starting'} ${answer.instance}…` : answer.error;
    note.dataset.status = r.status;
    b.disabled = true;
  });
}
fetch('/api/instances').then(r => r.json()).then(render);
new EventSource('/api/events').onmessage = e => render(JSON.parse(e.data));
"#;

/// A name no instance or service has: a 404 that lists what there is.
pub fn not_found(table: &[Route], target: &Target, port: u16) -> hyper::Response<Body> {
    let asked = match target {
        Target::Instance(i) => format!("instance {i}"),
        Target::Service { service, instance } => {
            format!("service {service} of instance {instance}")
        }
        Target::Unknown(n) => format!("{n}.localhost"),
        Target::Page => "the page".into(),
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>kinfra: no such name</title></head><body><h1>No {}</h1><p>The names this router serves:</p>{}</body></html>\n",
        escape(&asked),
        instance_list(table, port)
    );
    plain(StatusCode::NOT_FOUND, HTML, body)
}

/// `http://kinfra.localhost:PORT/…`: never in another site's frame (a framed
/// page's buttons carry the token: a click-jacking page could make the user
/// press them), never sniffed as another type.
pub async fn serve(shared: Arc<Shared>, req: Request<Incoming>) -> hyper::Response<Body> {
    let mut r = answer(shared, req).await;
    let h = r.headers_mut();
    h.insert(
        hyper::header::X_FRAME_OPTIONS,
        hyper::header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        hyper::header::CONTENT_SECURITY_POLICY,
        hyper::header::HeaderValue::from_static("frame-ancestors 'none'"),
    );
    h.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        hyper::header::HeaderValue::from_static("nosniff"),
    );
    r
}

async fn answer(shared: Arc<Shared>, req: Request<Incoming>) -> hyper::Response<Body> {
    let path = req.uri().path().to_string();
    if path.starts_with("/api/") && !from_the_page(req.headers()) {
        return plain(
            StatusCode::FORBIDDEN,
            TEXT,
            "kinfra router: the API answers the router's own page only\n",
        );
    }
    match (req.method(), path.as_str()) {
        (&Method::GET, "/api/instances") => api_instances(shared).await,
        (&Method::GET, "/api/checkout") => {
            let now = shared.checkout.lock().await.current();
            plain(
                StatusCode::OK,
                JSON,
                serde_json::to_string(&now).unwrap_or_default(),
            )
        }
        (&Method::POST, "/api/checkout") => match allowed(&shared, &req) {
            Err(why) => plain(
                StatusCode::FORBIDDEN,
                TEXT,
                format!("kinfra router: {why}\n"),
            ),
            Ok(()) => checkout(shared, req).await,
        },
        (&Method::POST, "/api/start" | "/api/stop") => match allowed(&shared, &req) {
            Err(why) => plain(
                StatusCode::FORBIDDEN,
                TEXT,
                format!("kinfra router: {why}\n"),
            ),
            Ok(()) => {
                let stop = path == "/api/stop";
                start_or_stop(shared, req, stop).await
            }
        },
        (&Method::GET, "/") => {
            let table = shared.table();
            plain(
                StatusCode::OK,
                HTML,
                front_page(&table, shared.port, &shared.token),
            )
        }
        (&Method::GET, "/api/routes") => {
            let table = shared.table();
            plain(
                StatusCode::OK,
                JSON,
                serde_json::to_string(&*table).unwrap_or_default(),
            )
        }
        (&Method::GET, "/api/events") => super::events::stream(shared),
        (&Method::GET, _) => plain(StatusCode::NOT_FOUND, TEXT, "kinfra router: no such page\n"),
        _ => plain(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "kinfra router: no such action\n",
        ),
    }
}

/// Pure: a request the router's own page (or no browser) made. Another site's
/// page can send requests it cannot read (a `no-cors` fetch, an `<img>`): each
/// `/api/` request asks Docker, an events stream holds a slot, so none is served.
pub fn from_the_page(h: &hyper::HeaderMap) -> bool {
    h.get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|s| s == "same-origin" || s == "none")
}

/// The header an action carries the router's token in (from `router.json`,
/// readable by its owner only; the page gets it embedded).
pub const TOKEN_HEADER: &str = "x-kinfra-token";

/// An action needs the router's token, and a browser's request must come from
/// the router's own page (another site's page can send a POST, not read the
/// token, and its Origin says where it comes from).
fn allowed<B>(shared: &Shared, req: &Request<B>) -> Result<(), &'static str> {
    let h = req.headers();
    let origin_ok = match h
        .get(hyper::header::ORIGIN)
        .map(|v| v.to_str().unwrap_or(""))
    {
        None => true,
        Some(o) => same_origin(o, shared.port),
    };
    let site_ok = h
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|s| s == "same-origin" || s == "none");
    if !origin_ok || !site_ok {
        return Err("actions come only from the router's own page");
    }
    let token_ok = h
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| !shared.token.is_empty() && t == shared.token);
    if !token_ok {
        return Err("an action needs this router's token");
    }
    Ok(())
}

/// Pure: an Origin that is the router's own page.
pub fn same_origin(origin: &str, port: u16) -> bool {
    ["kinfra.localhost", "localhost", "127.0.0.1"]
        .iter()
        .any(|h| origin.eq_ignore_ascii_case(&format!("http://{h}:{port}")))
}

/// The most an action's body may be.
const MAX_ACTION: usize = 4096;

/// How long an action's body may take to arrive: a client that declares a body
/// and sends it a byte at a time must not hold one of the router's connections.
const ACTION_BODY_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// An action's body: at most [`MAX_ACTION`] bytes within [`ACTION_BODY_TIME`].
async fn action_body(req: Request<Incoming>) -> Result<hyper::body::Bytes, hyper::Response<Body>> {
    use http_body_util::BodyExt;
    let body = http_body_util::Limited::new(req.into_body(), MAX_ACTION).collect();
    match tokio::time::timeout(ACTION_BODY_TIME, body).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(_)) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request is too large",
        )),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "the request's body did not arrive in time",
        )),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckoutAsk {
    instance: Option<String>,
}

/// `POST /api/checkout {"instance": NAME|null}`: moves the canonical ports.
async fn checkout(shared: Arc<Shared>, req: Request<Incoming>) -> hyper::Response<Body> {
    let bytes = match action_body(req).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let Ok(ask) = serde_json::from_slice::<CheckoutAsk>(&bytes) else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected {\"instance\": NAME or null}",
        );
    };
    let (instance, forwards) = match ask.instance {
        None => (None, Vec::new()),
        Some(name) => {
            let s = shared.clone();
            let found =
                tokio::task::spawn_blocking(move || super::checkout::forwards_of(&s.ctx, &name))
                    .await;
            match found {
                Ok(Ok((id, f))) => (Some(id), f),
                Ok(Err(r)) => return refusal(&r),
                Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
    };
    let mut state = shared.checkout.lock().await;
    if let Err(r) = state.switch(shared.clone(), instance, forwards).await {
        return refusal(&r);
    }
    let now = state.current();
    drop(state);
    let text = serde_json::to_string(&now).unwrap_or_default();
    let file = super::checkout::record_file(&shared.ctx);
    let _ = crate::support::fsutil::write_atomic(&file, text.as_bytes(), Some(0o600));
    plain(StatusCode::OK, JSON, text)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceAsk {
    instance: String,
}

/// What the page's start and stop buttons are answered: the sandbox and what
/// the router did (`started`: false when a start was under way already).
#[derive(Debug, serde::Serialize)]
struct Acted {
    instance: String,
    action: &'static str,
    started: bool,
}

/// `POST /api/start` / `/api/stop {"instance": NAME}`: a sandbox started as
/// `up` does (as a request by name wakes it) or stopped as `sandbox down` does,
/// in the background; the page sees the state change through its events. The
/// name is matched against the registry only; local-prod (its secrets and host
/// services need the person), a sandbox being destroyed or without its
/// directory are refused (409), an unknown name is 404.
async fn start_or_stop(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    stop: bool,
) -> hyper::Response<Body> {
    let bytes = match action_body(req).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let Ok(ask) = serde_json::from_slice::<InstanceAsk>(&bytes) else {
        return error(StatusCode::BAD_REQUEST, "expected {\"instance\": NAME}");
    };
    let table = shared.table();
    let ids: Vec<&str> = table.iter().map(|r| r.instance.as_str()).collect();
    let Some(route) = super::names::the_one(&ids, &ask.instance)
        .and_then(|id| table.iter().find(|r| r.instance == *id))
        .cloned()
    else {
        let shown: String = ask.instance.chars().take(80).collect();
        return error(
            StatusCode::NOT_FOUND,
            &format!(
                "no registered instance {shown:?} (there are: {})",
                ids.join(", ")
            ),
        );
    };
    let s = shared.clone();
    let id = route.instance.clone();
    let done = tokio::task::spawn_blocking(move || {
        if stop {
            super::idle::stop(&s, &route).map(|()| false)
        } else {
            super::wake::start(&s.ctx, &s.waking, &route, "asked from the page")
        }
    })
    .await;
    match done {
        Ok(Ok(started)) => {
            if stop {
                crate::errln!("kinfra router: stopping {id} (asked from the page)");
            }
            let acted = Acted {
                instance: id,
                action: if stop { "stop" } else { "start" },
                started,
            };
            plain(
                StatusCode::ACCEPTED,
                JSON,
                serde_json::to_string(&acted).unwrap_or_default(),
            )
        }
        Ok(Err(why)) => error(StatusCode::CONFLICT, &format!("{id}: {why}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn refusal(r: &super::checkout::Refusal) -> hyper::Response<Body> {
    use super::checkout::Refusal;
    let status = match r {
        Refusal::NoSuchInstance(..) => StatusCode::NOT_FOUND,
        Refusal::NeverStarted(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Refusal::Held { .. } => StatusCode::CONFLICT,
    };
    error(status, &r.to_string())
}

fn error(status: StatusCode, why: &str) -> hyper::Response<Body> {
    plain(
        status,
        JSON,
        serde_json::json!({ "error": why }).to_string(),
    )
}

/// `sandbox list`'s document; Docker is asked off the serving thread.
async fn api_instances(shared: Arc<Shared>) -> hyper::Response<Body> {
    let s = shared.clone();
    let listing =
        tokio::task::spawn_blocking(move || crate::instance::list(&s.ctx, &s.stack)).await;
    match listing {
        Ok(Ok(l)) => plain(
            StatusCode::OK,
            JSON,
            serde_json::to_string_pretty(&l).unwrap_or_default(),
        ),
        Ok(Err(e)) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            JSON,
            serde_json::json!({ "error": e.to_string() }).to_string(),
        ),
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            JSON,
            serde_json::json!({ "error": e.to_string() }).to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::names::ServicePort;

    #[test]
    fn only_the_routers_own_page_is_same_origin() {
        assert!(same_origin("http://kinfra.localhost:7355", 7355));
        assert!(same_origin("http://127.0.0.1:7355", 7355));
        assert!(!same_origin("http://kinfra.localhost:7356", 7355));
        assert!(!same_origin("http://web.shop.localhost:7355", 7355));
        assert!(!same_origin("https://attacker.example", 7355));
        assert!(!same_origin("null", 7355));
    }

    #[test]
    fn the_api_answers_the_page_only() {
        let mut h = hyper::HeaderMap::new();
        assert!(from_the_page(&h), "no browser");
        for (site, ok) in [
            ("same-origin", true),
            ("none", true),
            ("same-site", false),
            ("cross-site", false),
        ] {
            h.insert(
                "sec-fetch-site",
                hyper::header::HeaderValue::from_static(site),
            );
            assert_eq!(from_the_page(&h), ok, "{site}");
        }
    }

    #[test]
    fn escapes_and_lists() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let r = Route {
            instance: "shop-a".into(),
            kind: "sandbox",
            path: String::new(),
            services: vec![
                ServicePort {
                    service: "api".into(),
                    target: 8000,
                    port: 8100,
                },
                ServicePort {
                    service: "api".into(),
                    target: 9000,
                    port: 9100,
                },
                ServicePort {
                    service: "web".into(),
                    target: 80,
                    port: 20801,
                },
            ],
            front: Some(20801),
        };
        assert_eq!(
            routed_urls(&r, 7355),
            vec![
                "http://shop-a.localhost:7355/",
                "http://api.shop-a.localhost:7355/",
                "http://web.shop-a.localhost:7355/"
            ]
        );
        let html = instance_list(&[r], 7355);
        assert!(
            html.contains("<a href=\"http://web.shop-a.localhost:7355/\">"),
            "{html}"
        );
        assert!(instance_list(&[], 1).contains("No instances"));
    }
}
