//! `kinfra router run`: the accept loop on 127.0.0.1 in a current-thread runtime
//! of its own (kinfra elsewhere stays blocking), each connection served by hyper
//! with header size and time limits, until SIGTERM or Ctrl-C.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::names::{self, Target};
use super::proxy::{self, Body, Pool};
use super::shared::Shared;
use crate::router::error::{Result, RouterError};
use crate::stack::Stack;
use crate::state::context::Context;

/// The most bytes of a request's line and headers (hyper answers 431 beyond).
pub const MAX_HEAD: usize = 64 * 1024;
/// How long a client may take to send a request's headers (a slow client is cut off).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most client connections served at once; more wait in the listen queue.
const MAX_CONNECTIONS: usize = 1024;

/// Serves until SIGTERM, SIGINT or (test harnesses) the parent's end; the
/// router's files go when it ends.
pub fn run(ctx: &Context, stack: Stack, port: u16) -> Result<()> {
    let held = super::lifecycle::take(ctx, port)?;
    let io = |e: std::io::Error| RouterError::io("the router could not listen", "127.0.0.1", e);
    held.listener.set_nonblocking(true).map_err(io)?;
    let std_listener = held.listener.try_clone().map_err(io)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    let shared = Arc::new(Shared::new(
        ctx.clone(),
        stack,
        port,
        held.info_now.token.clone(),
    ));
    crate::errln!(
        "kinfra router (pid {}) on http://127.0.0.1:{port}/: names SERVICE.INSTANCE.localhost:{port}, the page http://kinfra.localhost:{port}/",
        std::process::id()
    );
    let result = rt.block_on(accept_loop(std_listener, shared));
    drop(held);
    result.map_err(io)
}

async fn accept_loop(
    std_listener: std::net::TcpListener,
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // A closed terminal does not end a router started from it.
    let mut hup = signal(SignalKind::hangup())?;
    restore_checkout(&shared).await;
    tokio::spawn(super::shared::keep_seen(shared.clone()));
    // Always watched: a project's `[router] idle_stop` holds without the machine's default.
    let default_idle =
        crate::support::env_vars::get(super::idle::VAR).and_then(|v| super::idle::parse(&v));
    tokio::spawn(super::idle::watch(
        shared.clone(),
        default_idle,
        std::time::Instant::now(),
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p,
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        };
        let Ok(permit) = permit else { return Ok(()) };
        tokio::select! {
            a = listener.accept() => match a {
                Ok((stream, peer)) => {
                    let s = shared.clone();
                    tokio::spawn(async move {
                        connection(s, stream, peer).await;
                        drop(permit);
                    });
                }
                // Out of descriptors, a reset before accept: the next one may do.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = hup.recv() => {}
        }
    }
}

/// A restarted router serves the checkout it served before, when it still can.
async fn restore_checkout(shared: &Arc<Shared>) {
    let file = super::checkout::record_file(&shared.ctx);
    // Bounded, a regular file only: a FIFO there would hang the router before it serves.
    let Some(before) = crate::support::fsutil::read_regular(&file, 64 * 1024)
        .and_then(|b| serde_json::from_slice::<super::checkout::Checkout>(&b).ok())
    else {
        return;
    };
    let Some(name) = before.instance else { return };
    let again = match super::checkout::forwards_of(&shared.ctx, &name) {
        Ok((id, f)) => {
            shared
                .checkout
                .lock()
                .await
                .switch(shared.clone(), Some(id), f)
                .await
        }
        Err(why) => Err(why),
    };
    if let Err(why) = again {
        crate::errln!("kinfra router: the checkout of {name} is not served again: {why}");
        let _ = std::fs::remove_file(&file);
    }
}

async fn connection(shared: Arc<Shared>, stream: tokio::net::TcpStream, _peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let pool = Arc::new(Pool::default());
    let svc = hyper::service::service_fn(move |req| {
        let s = shared.clone();
        let p = pool.clone();
        async move { Ok::<_, Infallible>(handle(s, p, req).await) }
    });
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .max_header_size(MAX_HEAD)
        .keep_alive(true);
    let _ = b
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades()
        .await;
}

/// One request: refused, the page, a 404 listing the names, or forwarded.
async fn handle(shared: Arc<Shared>, pool: Arc<Pool>, req: Request<Incoming>) -> Response<Body> {
    // The router is no forward proxy: a tunnel would reach whatever the service
    // port relays to, and the service would get a request line it never expects.
    if req.method() == hyper::Method::CONNECT {
        return proxy::plain(
            hyper::StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "kinfra router: CONNECT is not served (this is no forward proxy)\n",
        );
    }
    // Two Hosts (RFC 9112 3.2: 400): the router would judge the first and the
    // service might believe the other (another site's name past the 421).
    if req.headers().get_all(hyper::header::HOST).iter().count() > 1 {
        return super::page::refused(&names::Refused::Malformed("several Host headers".into()));
    }
    // A request in the proxy form names its host in the target (RFC 9112 3.2.2).
    let host = match req.uri().authority() {
        Some(a) => Some(a.to_string()),
        None => req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let target = match names::parse_host(host.as_deref()) {
        Ok(t) => t,
        Err(r) => return super::page::refused(&r),
    };
    if target == Target::Page {
        return super::page::serve(shared, req).await;
    }
    let table = shared.table();
    let Some((route, port)) = names::resolve_route(&table, &target) else {
        return super::page::not_found(&table, &target, shared.port);
    };
    // A registry that records the router's own port (tampered, or chosen while
    // no router ran) would send each request back to the router, again and again.
    if port == shared.port {
        return proxy::plain(
            hyper::StatusCode::LOOP_DETECTED,
            "text/plain; charset=utf-8",
            format!("kinfra router: the registry gives this name the router's own port {port}\n"),
        );
    }
    // A request by name is use of its instance, and so are the bytes of an
    // upgraded connection (a WebSocket) for as long as they pass.
    shared.last_seen.touch(&route.instance);
    let on_use: super::counted::OnUse = {
        let (s, id) = (shared.clone(), route.instance.clone());
        Arc::new(move || s.last_seen.touch(&id))
    };
    // Another site's page (an <img>, a fetch, a frame) never starts a sandbox: only
    // a request of the user's own (see `wake::may_wake`).
    let may_wake = super::wake::may_wake(req.headers());
    let mut resp =
        proxy::forward(port, pool, host.as_deref().unwrap_or_default(), req, on_use).await;
    if resp.headers_mut().remove(proxy::UNREACHABLE).is_none() {
        shared.waking.answered(&route.instance);
    } else if may_wake {
        let (s, route) = (shared.clone(), route.clone());
        let woken =
            tokio::task::spawn_blocking(move || super::wake::wake(&s.ctx, &s.waking, &route, resp))
                .await;
        return woken.unwrap_or_else(|_| {
            proxy::plain(
                hyper::StatusCode::BAD_GATEWAY,
                "text/plain",
                "kinfra router: no answer\n",
            )
        });
    }
    resp
}
