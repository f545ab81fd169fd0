//! What the router answers itself: refusals, the unknown-name page that lists
//! the instances, and `http://kinfra.localhost:PORT/` with `GET /api/instances`
//! (the same document as `kinfra sandbox list --json`).

use std::sync::Arc;

use hyper::{Method, Request, StatusCode};

use super::names::{Refused, Route, Target};
use super::proxy::{Body, plain};
use super::shared::Shared;

const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// Pure: text safe inside HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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

/// `http://kinfra.localhost:PORT/…`.
pub async fn serve<B>(shared: Arc<Shared>, req: Request<B>) -> hyper::Response<Body> {
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/api/instances") => api_instances(shared).await,
        (&Method::GET, "/") => {
            let table = shared.table();
            let body = format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>kinfra</title></head><body><h1>kinfra</h1>{}</body></html>\n",
                instance_list(&table, shared.port)
            );
            plain(StatusCode::OK, HTML, body)
        }
        (&Method::GET, _) => plain(StatusCode::NOT_FOUND, TEXT, "kinfra router: no such page\n"),
        _ => plain(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "kinfra router: the page only answers GET\n",
        ),
    }
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
    fn escapes_and_lists() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let r = Route {
            instance: "shop-a".into(),
            kind: "sandbox",
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
