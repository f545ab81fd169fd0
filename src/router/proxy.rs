//! Forwards one HTTP/1.1 request to a 127.0.0.1 port the routing table gave:
//! keep-alive to the service per client connection, WebSocket (any `Upgrade`)
//! spliced both ways after the service's 101, bodies streamed both ways,
//! `X-Forwarded-*` added. Only ports from the registry are ever connected to.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// A response body: the service's, streamed, or one the router made.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A request body as forwarded: the client's, streamed, at most [`MAX_BODY`].
type Forwarded = Limited<Incoming>;

/// The largest request body forwarded (uploads of a dev app fit; a client that
/// sends more is cut off).
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// Marks the router's own 502 when nothing listened on the port (the instance
/// may be stopped: the server wakes it); never sent to a client.
pub const UNREACHABLE: &str = "x-kinfra-unreachable";

/// How long connecting to a service may take (127.0.0.1: only a stuck listen queue).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The client connection's connection to its service, reused while it asks the
/// same port (keep-alive on both sides).
#[derive(Default)]
pub struct Pool(Mutex<Option<(u16, SendRequest<Forwarded>)>>);

impl Pool {
    fn take(&self, port: u16) -> Option<SendRequest<Forwarded>> {
        let mut slot = self.0.lock().ok()?;
        match slot.take() {
            Some((p, s)) if p == port && !s.is_closed() => Some(s),
            _ => None,
        }
    }
    fn put(&self, port: u16, s: SendRequest<Forwarded>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((port, s));
        }
    }
}

/// A response the router makes itself.
pub fn plain(status: StatusCode, content_type: &str, text: impl Into<Bytes>) -> Response<Body> {
    let body = http_body_util::Full::new(text.into())
        .map_err(|never| match never {})
        .boxed();
    let mut r = Response::new(body);
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Headers meaningful to one connection only (RFC 9110 7.6.1), never forwarded;
/// `Upgrade` and `Connection` stay on an upgrade, which needs them end to end.
const HOP_BY_HOP: [&str; 6] = [
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
];

fn strip_hop_by_hop(h: &mut HeaderMap, upgrade: bool) {
    for name in HOP_BY_HOP {
        h.remove(name);
    }
    if !upgrade {
        h.remove(header::CONNECTION);
        h.remove(header::UPGRADE);
    }
}

fn wants_upgrade<B>(req: &Request<B>) -> bool {
    req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Pure: the request's declared length, when it declares one.
fn declared_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn connect(port: u16) -> Result<SendRequest<Forwarded>, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream =
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("nothing answers on 127.0.0.1:{port} ({e})")),
            Err(_) => return Err(format!("127.0.0.1:{port} did not accept within 5 s")),
        };
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("127.0.0.1:{port}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

/// Forwards `req` to 127.0.0.1:`port`; `host` is the name the client asked for;
/// `on_use` is called as bytes pass on an upgraded connection (idle stop).
pub async fn forward(
    port: u16,
    pool: Arc<Pool>,
    host: &str,
    mut req: Request<Incoming>,
    on_use: super::counted::OnUse,
) -> Response<Body> {
    if declared_length(req.headers()).is_some_and(|n| n > MAX_BODY as u64) {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain; charset=utf-8",
            format!("kinfra router: a request body may be at most {MAX_BODY} bytes\n"),
        );
    }
    let upgrade = wants_upgrade(&req);
    let client_side = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers, upgrade);
    // The proxy form (`GET http://x/ …`) goes on as the origin form.
    if parts.uri.authority().is_some() {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        if let Ok(u) = path.parse() {
            parts.uri = u;
        }
    }
    let h = &mut parts.headers;
    // Set, not appended: every client is on 127.0.0.1, and a client's own
    // `X-Forwarded-For: 10.1.2.3` would pass for the address it came from.
    h.remove("forwarded");
    h.insert("x-forwarded-for", HeaderValue::from_static("127.0.0.1"));
    if let Ok(v) = HeaderValue::from_str(host) {
        h.insert("x-forwarded-host", v);
    }
    h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    let mut req = Request::from_parts(parts, Limited::new(body, MAX_BODY));
    // A kept connection the service closed meanwhile gives the request back: it
    // goes once more on a new one.
    if let Some(mut s) = pool.take(port) {
        match s.try_send_request(req).await {
            Ok(resp) => return finish(port, pool, s, resp, upgrade, client_side, on_use),
            Err(mut e) => match e.take_message() {
                Some(back) => req = back,
                None => return bad_gateway(port, &e.into_error().to_string()),
            },
        }
    }
    let mut s = match connect(port).await {
        Ok(s) => s,
        Err(why) => {
            let mut r = bad_gateway(port, &why);
            r.headers_mut()
                .insert(UNREACHABLE, HeaderValue::from_static("1"));
            return r;
        }
    };
    match s.send_request(req).await {
        Ok(resp) => finish(port, pool, s, resp, upgrade, client_side, on_use),
        Err(e) => bad_gateway(port, &e.to_string()),
    }
}

fn finish(
    port: u16,
    pool: Arc<Pool>,
    sender: SendRequest<Forwarded>,
    mut resp: Response<Incoming>,
    upgrade: bool,
    client_side: Option<hyper::upgrade::OnUpgrade>,
    on_use: super::counted::OnUse,
) -> Response<Body> {
    if upgrade && resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let server_side = hyper::upgrade::on(&mut resp);
        if let Some(client_side) = client_side {
            tokio::spawn(async move {
                if let (Ok(c), Ok(s)) = (client_side.await, server_side.await) {
                    let _ = tokio::io::copy_bidirectional(
                        &mut super::counted::Counted::new(TokioIo::new(c), on_use),
                        &mut TokioIo::new(s),
                    )
                    .await;
                }
            });
        }
    } else if !upgrade {
        pool.put(port, sender);
    }
    if !upgrade {
        resp.headers_mut().remove("keep-alive");
    }
    resp.map(|b| b.map_err(BoxError::from).boxed())
}

fn bad_gateway(port: u16, why: &str) -> Response<Body> {
    plain(
        StatusCode::BAD_GATEWAY,
        "text/plain; charset=utf-8",
        format!("kinfra router: the service on port {port} did not answer: {why}\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("x-app", "1"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        let mut up = h.clone();
        strip_hop_by_hop(&mut up, true);
        assert!(up.contains_key("upgrade") && up.contains_key("connection"));
        assert!(!up.contains_key("keep-alive") && !up.contains_key("te"));
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-app"));
    }

    #[test]
    fn declared_lengths() {
        let mut h = HeaderMap::new();
        assert_eq!(declared_length(&h), None);
        h.insert("content-length", HeaderValue::from_static(" 12 "));
        assert_eq!(declared_length(&h), Some(12));
        h.insert("content-length", HeaderValue::from_static("-1"));
        assert_eq!(declared_length(&h), None);
    }

    #[test]
    fn upgrades_need_both_headers() {
        let r = |c: &'static str| {
            Request::builder()
                .header("upgrade", "websocket")
                .header("connection", c)
                .body(())
                .unwrap()
        };
        assert!(wants_upgrade(&r("keep-alive, Upgrade")));
        assert!(!wants_upgrade(&r("keep-alive")));
        let plain_req = Request::builder().body(()).unwrap();
        assert!(!wants_upgrade(&plain_req));
    }
}
