//! `kinfra checkout NAME`: the project's own host ports (the base compose
//! model's, e.g. 3000 and 5432) served on 127.0.0.1 by the router and forwarded
//! as plain TCP to one instance's ports. Switching changes where new connections
//! go at once (a shared target per port); open connections finish where they
//! are. Every port to bind is bound before anything changes, so a port held by
//! something else refuses the whole switch, naming it. A connection to a
//! stopped sandbox wakes it and waits; bytes through a port count as use of the
//! instance (idle stop).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::names;
use crate::state::context::Context;

/// One canonical port and the instance port it reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    /// The project's own port (its compose file's), served by the router.
    pub port: u16,
    /// The instance's port on 127.0.0.1.
    pub to: u16,
    /// The port's key (`PORT_WEB_80`).
    pub key: String,
}

/// Which instance holds the canonical ports: the answer of `kinfra checkout`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    pub instance: Option<String>,
    pub ports: Vec<Forward>,
}

/// Pure: the forwards of an instance from its model's bases (key → the project's
/// own port) and its ports (key → its port): tcp only, each canonical port once.
pub fn plan(bases: &[(String, u16)], ports: &BTreeMap<String, u16>) -> Vec<Forward> {
    plan_of(bases, ports, is_tcp_key)
}

/// Pure: [`plan`] for a port table's keys (KTRDR's `KTRDR_API_PORT`: every port of
/// a table is TCP).
pub fn plan_table(keys: &[(String, u16, u16)]) -> Vec<Forward> {
    let bases: Vec<(String, u16)> = keys.iter().map(|(k, base, _)| (k.clone(), *base)).collect();
    let ports: BTreeMap<String, u16> = keys.iter().map(|(k, _, p)| (k.clone(), *p)).collect();
    plan_of(&bases, &ports, |_| true)
}

fn plan_of(
    bases: &[(String, u16)],
    ports: &BTreeMap<String, u16>,
    is_tcp: fn(&str) -> bool,
) -> Vec<Forward> {
    let mut out: Vec<Forward> = Vec::new();
    for (key, base) in bases {
        let tcp = is_tcp(key);
        if let (true, Some(to)) = (tcp, ports.get(key))
            && *base != 0
            && *to != 0
            && !out.iter().any(|f| f.port == *base)
        {
            out.push(Forward {
                port: *base,
                to: *to,
                key: key.clone(),
            });
        }
    }
    // A forward to a port the checkout serves itself (local-prod's own ports are
    // the project's; a tampered record) would have the router connect to itself,
    // each connection opening another until no descriptor is left.
    let served: Vec<u16> = out.iter().map(|f| f.port).collect();
    out.retain(|f| !served.contains(&f.to));
    out.sort_by_key(|f| f.port);
    out
}

/// Pure: a published port's key names a tcp port (`PORT_WEB_80`, `PORT_WEB_80_N2`;
/// not `PORT_DNS_53_UDP`).
fn is_tcp_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix(crate::tools::model::PORT_PREFIX) else {
        return false;
    };
    let rest = match rest.rsplit_once("_N") {
        Some((r, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => r,
        _ => rest,
    };
    rest.rsplit_once('_')
        .is_some_and(|(svc, t)| !svc.is_empty() && t.parse::<u16>().is_ok())
}

/// Why a checkout cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoSuchInstance(String, Vec<String>),
    NeverStarted(String),
    Held { port: u16, holder: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoSuchInstance(n, known) => write!(
                f,
                "no registered instance {n:?} (there are: {})",
                known.join(", ")
            ),
            Refusal::NeverStarted(n) => write!(
                f,
                "{n} has not been started yet, so its ports are not known: `up` it once"
            ),
            Refusal::Held { port, holder } => {
                write!(f, "port {port} is held by {holder}; nothing was changed")
            }
        }
    }
}

/// The forwards of the registered instance `name` (its id, matched as the router
/// matches names), from kinfra's own records.
pub fn forwards_of(ctx: &Context, name: &str) -> Result<(String, Vec<Forward>), Refusal> {
    let reg = ctx
        .registry()
        .load()
        .map_err(|_| Refusal::NoSuchInstance(name.into(), Vec::new()))?;
    let ids: Vec<String> = reg
        .local_prod
        .iter()
        .chain(reg.instances.values())
        .map(|e| e.instance_id.clone())
        .collect();
    let wanted = if name == "local-prod" {
        reg.local_prod.as_ref().map(|e| e.instance_id.clone())
    } else {
        names::the_one(&ids, name).cloned()
    };
    let Some(id) = wanted else {
        return Err(Refusal::NoSuchInstance(name.into(), ids));
    };
    if let Some(bases) = crate::instance::placement::resolve::cached_bases(ctx, &id) {
        let ports = reg.kinfra.ports.get(&id).cloned().unwrap_or_default();
        return Ok((id, plan(&bases, &ports)));
    }
    // A port table (KTRDR's): the project's own ports are the table's slot 0, the
    // instance's its slot's.
    let entry = reg
        .local_prod
        .iter()
        .chain(reg.instances.values())
        .find(|e| e.instance_id == id);
    let Some(d) = entry.and_then(|e| super::declared::of(ctx, e)) else {
        return Err(Refusal::NeverStarted(id));
    };
    Ok((id, plan_table(&d.keys)))
}

/// What a checked-out connection asks of the router (its `Shared`, which holds
/// the checkout: a trait keeps this module below it).
pub trait Instances: Send + Sync {
    /// Bytes went to or from instance `id` (idle stop).
    fn used(&self, id: &str);
    /// `id`'s port answered a connection: a start under way is over, so the
    /// next time it is found stopped a connection starts it again.
    fn answered(&self, id: &str);
    /// Starts `id` as a request by name wakes it (blocking); why not.
    fn wake(&self, id: &str) -> Result<(), String>;
    /// Whether waiting for `id` still makes sense (registered, not being
    /// removed; blocking); why not.
    fn still_wanted(&self, id: &str) -> Result<(), String>;

    /// Whether the registry still gives `id` the port `port` (no blocking): a
    /// checkout outlives nothing it was made for (a destroyed sandbox's port may
    /// be another instance's by now).
    fn still_serves(&self, id: &str, port: u16) -> bool;
}

/// Where a canonical port's new connections go: the instance and its port.
#[derive(Debug, Clone, Default)]
struct Dest {
    instance: String,
    port: u16,
}

/// A canonical port the router listens on, and where its new connections go.
struct Listening {
    target: Arc<Mutex<Dest>>,
    task: tokio::task::JoinHandle<()>,
}

/// The router's checkout: what it serves now.
#[derive(Default)]
pub struct State {
    now: Checkout,
    listening: BTreeMap<u16, Listening>,
}

impl State {
    pub fn current(&self) -> Checkout {
        self.now.clone()
    }

    /// Moves the canonical ports to `forwards` of `instance` (none: releases
    /// them). New ports are bound first; one that cannot be refuses all.
    pub async fn switch(
        &mut self,
        uses: Arc<dyn Instances>,
        instance: Option<String>,
        forwards: Vec<Forward>,
    ) -> Result<(), Refusal> {
        let mut bound = Vec::new();
        for f in &forwards {
            if self.listening.contains_key(&f.port) {
                continue;
            }
            match std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, f.port))
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .and_then(tokio::net::TcpListener::from_std)
            {
                Ok(l) => bound.push((f.port, l)),
                Err(_) => {
                    return Err(Refusal::Held {
                        port: f.port,
                        holder: super::holder::describe(f.port),
                    });
                }
            }
        }
        // Ports no longer served: closed to new connections; open ones finish.
        let keep: Vec<u16> = forwards.iter().map(|f| f.port).collect();
        let gone: Vec<u16> = self
            .listening
            .keys()
            .filter(|p| !keep.contains(p))
            .copied()
            .collect();
        for p in gone {
            if let Some(l) = self.listening.remove(&p) {
                // Awaited: the port is closed before the answer says so.
                l.task.abort();
                let _ = l.task.await;
            }
        }
        let id = instance.clone().unwrap_or_default();
        let dest = |to: u16| Dest {
            instance: id.clone(),
            port: to,
        };
        for f in &forwards {
            if let Some(l) = self.listening.get(&f.port)
                && let Ok(mut t) = l.target.lock()
            {
                *t = dest(f.to);
            }
        }
        for (port, listener) in bound {
            let to = forwards.iter().find(|f| f.port == port).map_or(0, |f| f.to);
            let target = Arc::new(Mutex::new(dest(to)));
            let task = tokio::spawn(serve(listener, target.clone(), uses.clone()));
            self.listening.insert(port, Listening { target, task });
        }
        self.now = Checkout {
            instance,
            ports: forwards,
        };
        Ok(())
    }
}

/// Accepts on a canonical port; each connection goes, as plain TCP, to the
/// instance port the target says at the moment it arrives.
async fn serve(
    listener: tokio::net::TcpListener,
    target: Arc<Mutex<Dest>>,
    uses: Arc<dyn Instances>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let dest = target.lock().map(|d| d.clone()).unwrap_or_default();
        tokio::spawn(pass(uses.clone(), client, dest));
    }
}

/// One connection: to the instance's port (woken first when it is stopped),
/// its bytes counted as use of the instance (idle stop).
async fn pass(uses: Arc<dyn Instances>, client: tokio::net::TcpStream, dest: Dest) {
    let _ = client.set_nodelay(true);
    // The checkout was made for this instance's port: once the registry says
    // otherwise (destroyed, released, its ports chosen again), nothing is
    // forwarded there; the connection is closed, never sent to whoever holds
    // the port now.
    if !uses.still_serves(&dest.instance, dest.port) {
        super::note::connection("no longer its port", || {
            format!(
                "kinfra router: a connection is closed: {} no longer has port {} in the registry (check out again)",
                dest.instance, dest.port
            )
        });
        return;
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, dest.port));
    let mut server = match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(_) => {
            let Some(_waits) = Waiting::take() else {
                super::note::connection("too many waiting", || {
                    format!(
                        "kinfra router: a connection to {} is closed: {MAX_WAITING} connections wait for sandboxes already",
                        dest.instance
                    )
                });
                return;
            };
            // A client that leaves while its sandbox wakes frees its place at once:
            // a port that keeps closing connections at once is waited for until
            // the deadline, and 64 clients long gone would otherwise hold every
            // place, for every checkout, for two minutes.
            tokio::select! {
                s = woken(&uses, &dest) => match s {
                    Some(s) => s,
                    None => return,
                },
                () = left(&client) => return,
            }
        }
    };
    let _ = server.set_nodelay(true);
    // As a request by name does: without it, a sandbox woken here and stopped
    // (`sandbox down`) within the wake's five minutes was not started by the next
    // connection, which waited two minutes and was closed.
    uses.answered(&dest.instance);
    uses.used(&dest.instance);
    let id = dest.instance;
    let mut client = super::counted::Counted::new(client, Arc::new(move || uses.used(&id)));
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// Ends when the client of a waiting connection has closed it (or it failed)
/// with nothing sent; one that sends is still there (what it sent is only
/// peeked, it is forwarded once the sandbox answers) and is never ended here. A
/// client that half-closes having sent nothing counts as gone.
async fn left(client: &tokio::net::TcpStream) {
    let mut byte = [0u8; 1];
    if let Ok(n) = client.peek(&mut byte).await
        && n > 0
    {
        std::future::pending::<()>().await;
    }
}

/// The most connections that wait for a sandbox to wake at once: each asks its
/// port four times a second, so a flood of them is closed, not kept.
pub const MAX_WAITING: usize = 64;

static WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One of the [`MAX_WAITING`] places, given back when dropped.
struct Waiting;

impl Waiting {
    fn take() -> Option<Waiting> {
        use std::sync::atomic::Ordering::SeqCst;
        WAITING
            .fetch_update(SeqCst, SeqCst, |n| (n < MAX_WAITING).then_some(n + 1))
            .ok()
            .map(|_| Waiting)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How long a connection to a stopped sandbox waits for it: the gate's own
/// timeout (`up`'s default), counted from the connection.
pub const WAKE_WAIT: Duration = Duration::from_secs(crate::instance::gate::DEFAULT_TIMEOUT_SECS);

/// A connection to a checked-out sandbox whose port does not answer (stopped by
/// `down` or idle stop): starts it as `up` does and waits, up to [`WAKE_WAIT`],
/// until its port answers. Closed at once for local-prod, a sandbox being
/// destroyed (also when a destroy begins while it waits) or one gone from the
/// registry.
async fn woken(uses: &Arc<dyn Instances>, dest: &Dest) -> Option<tokio::net::TcpStream> {
    let gone = |why: &str| {
        super::note::connection("not woken", || {
            format!(
                "kinfra router: a connection to {} (port {}) is closed: {why}",
                dest.instance, dest.port
            )
        });
    };
    let ask = |f: fn(&dyn Instances, &str) -> Result<(), String>| {
        let (u, id) = (uses.clone(), dest.instance.clone());
        tokio::task::spawn_blocking(move || f(&*u, &id))
    };
    match ask(|u, id| u.wake(id)).await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            gone(&why);
            return None;
        }
        Err(_) => return None,
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, dest.port));
    let deadline = Instant::now() + WAKE_WAIT;
    // Its port accepted and closed at once with nothing said: the sandbox runs
    // (wake.log shows a good start) but nothing listens behind the port, which
    // the log line at the deadline says rather than "did not answer".
    let mut closing = false;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
            if !closed_at_once(&s).await {
                return Some(s);
            }
            closing = true;
        }
        if Instant::now() >= deadline {
            gone(&if closing {
                format!(
                    "within {} s of waking its port closed every connection at once with nothing said (does its service listen on that port inside the container?)",
                    WAKE_WAIT.as_secs()
                )
            } else {
                format!(
                    "it did not answer within {} s of waking (router/wake.log says why)",
                    WAKE_WAIT.as_secs()
                )
            });
            return None;
        }
        if let Ok(Err(why)) = ask(|u, id| u.still_wanted(id)).await {
            gone(&why);
            return None;
        }
    }
}

/// How long a woken port's first connection is watched for the engine closing it.
/// Longer than a second: on the real engine the first connections after a start
/// are accepted by Docker's port proxy and held ~1.0 s (its dial into the
/// container waits for a SYN retransmission, Linux's 1 s initial timeout) before
/// being closed with nothing said; a 150 ms watch took such a connection for a
/// quiet, ready server and the woken client got an empty answer.
const CLOSE_WATCH: Duration = Duration::from_millis(1500);

/// Whether a connection to a port that has just come up is closed at once with
/// nothing said: Docker's port proxy accepts as soon as the container starts and
/// closes the connection while nothing listens inside yet, so such a port is not
/// ready (handed over, the client got an empty answer). A server that speaks
/// first leaves its bytes to be read (peeked, not taken); one that waits for the
/// client is quiet until [`CLOSE_WATCH`] ends: both are ready.
async fn closed_at_once(s: &tokio::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(CLOSE_WATCH, s.peek(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// Where the router keeps which instance is checked out, so a restarted router
/// serves it again.
pub fn record_file(ctx: &Context) -> std::path::PathBuf {
    ctx.home.router_dir().join("checkout.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Instances that always wake and serve, counting the ports that answered.
    #[derive(Default)]
    struct Counts(std::sync::atomic::AtomicUsize);

    impl Instances for Counts {
        fn used(&self, _: &str) {}
        fn answered(&self, _: &str) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        fn wake(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn still_wanted(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn still_serves(&self, _: &str, _: u16) -> bool {
            true
        }
    }

    /// A woken port whose first connection is closed with nothing said is not
    /// ready (Docker's proxy with nothing listening behind it); a quiet server or
    /// one that speaks first is, and what it said is still there to read.
    #[tokio::test]
    async fn a_connection_closed_at_once_is_not_a_ready_port() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        async fn served(how: u8) -> tokio::net::TcpStream {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = l.local_addr().expect("addr");
            tokio::spawn(async move {
                let (mut s, _) = l.accept().await.expect("accept");
                match how {
                    0 => drop(s),
                    1 => tokio::time::sleep(Duration::from_secs(5)).await,
                    // Docker's proxy while the container's network comes up: the
                    // connection is held a second, then closed with nothing said.
                    3 => {
                        tokio::time::sleep(Duration::from_millis(1050)).await;
                        drop(s);
                    }
                    _ => {
                        s.write_all(b"hello").await.expect("write");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
            });
            tokio::net::TcpStream::connect(addr).await.expect("connect")
        }
        assert!(closed_at_once(&served(0).await).await, "closed at once");
        assert!(
            closed_at_once(&served(3).await).await,
            "held a second by the engine's proxy, then closed"
        );
        assert!(!closed_at_once(&served(1).await).await, "quiet: ready");
        let mut speaks = served(2).await;
        assert!(!closed_at_once(&speaks).await, "speaks first: ready");
        let mut said = [0u8; 5];
        speaks.read_exact(&mut said).await.expect("read");
        assert_eq!(&said, b"hello", "peeked, not taken");
    }

    /// A client that leaves while its sandbox wakes (a `nc -z` probe, a
    /// wait-for-port loop) gives its waiting place back at once, not at the wake
    /// deadline; one that sent its request is waited for, what it sent kept.
    #[tokio::test]
    async fn a_client_that_leaves_while_its_sandbox_wakes_frees_its_place() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // The sandbox's port: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let front = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let at = front.local_addr().expect("addr");
        let waiting = |client| {
            let dest = Dest {
                instance: "s".into(),
                port,
            };
            tokio::spawn(pass(Arc::new(Counts::default()), client, dest))
        };
        let probe = tokio::net::TcpStream::connect(at).await.expect("connect");
        let (c, _) = front.accept().await.expect("accept");
        let probed = waiting(c);
        let mut asks = tokio::net::TcpStream::connect(at).await.expect("connect");
        let (c, _) = front.accept().await.expect("accept");
        let asked = waiting(c);
        asks.write_all(b"GET /").await.expect("write");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!probed.is_finished(), "waits while the client is there");
        drop(probe);
        tokio::time::timeout(Duration::from_secs(5), probed)
            .await
            .expect("the client left: no longer waiting")
            .expect("no panic");
        assert!(!asked.is_finished(), "sent its request: still waited for");
        // The sandbox answers: the request sent while it woke reaches it.
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the sandbox's port");
        let (mut server, _) = tokio::time::timeout(Duration::from_secs(10), l.accept())
            .await
            .expect("woken")
            .expect("accept");
        let mut got = [0u8; 5];
        server.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"GET /");
        drop(server);
        asked.abort();
    }

    /// A connection its sandbox's port answers (at once, or once woken) ends
    /// the start under way, as a request by name does: a sandbox stopped after
    /// it is started again by the next connection.
    #[tokio::test]
    async fn an_answered_connection_ends_the_start_under_way() {
        use std::sync::atomic::Ordering::SeqCst;
        let server = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = server.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((s, _)) = server.accept().await {
                drop(s);
            }
        });
        let front = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let at = front.local_addr().expect("addr");
        let _client = tokio::net::TcpStream::connect(at).await.expect("connect");
        let (c, _) = front.accept().await.expect("accept");
        let counts = Arc::new(Counts::default());
        let dest = Dest {
            instance: "s".into(),
            port,
        };
        let passing = tokio::spawn(pass(counts.clone(), c, dest));
        for _ in 0..50 {
            if counts.0.load(SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(counts.0.load(SeqCst), 1, "its start is over");
        passing.abort();
    }

    /// A port table's sandbox: each of its own ports is served on the project's
    /// (slot 0) port; local-prod's ports are the project's, so it has none to serve.
    #[test]
    fn a_port_tables_sandbox_is_checked_out_on_the_tables_slot_0_ports() {
        let stack = &*crate::stack::KTRDR_2026;
        let at = |slot: u8| {
            let ports: Vec<(String, u16)> = crate::stack::ports::for_slot(stack, slot)
                .into_iter()
                .map(|(k, p)| (k.to_string(), p))
                .collect();
            plan_table(&super::super::names::declared(stack, &ports).keys)
        };
        let f = at(1);
        let api = f.iter().find(|f| f.key == "KTRDR_API_PORT").expect("api");
        assert_eq!((api.port, api.to), (8000, 8001));
        assert!(
            f.iter()
                .any(|f| f.key == "KTRDR_DB_PORT" && f.port == 5432 && f.to == 5433),
            "{f:?}"
        );
        assert!(
            !f.iter().any(|f| f.key == "KTRDR_GRAFANA_PORT"),
            "a shared port: {f:?}"
        );
        assert!(at(0).is_empty(), "{:?}", at(0));
    }

    #[test]
    fn plan_takes_tcp_ports_once_each() {
        let bases: Vec<(String, u16)> = [
            ("PORT_WEB_80", 3000),
            ("PORT_DB_5432", 5432),
            ("PORT_DNS_53_UDP", 53),
            ("PORT_WEB_80_N2", 3001),
            ("PORT_API_8000", 3000),
            ("PORT_GONE_9000", 9000),
        ]
        .iter()
        .map(|(k, p)| ((*k).to_string(), *p))
        .collect();
        let ports: BTreeMap<String, u16> = [
            ("PORT_WEB_80", 3100),
            ("PORT_DB_5432", 5532),
            ("PORT_DNS_53_UDP", 20531),
            ("PORT_WEB_80_N2", 3101),
            ("PORT_API_8000", 8100),
        ]
        .iter()
        .map(|(k, p)| ((*k).to_string(), *p))
        .collect();
        let p = plan(&bases, &ports);
        let got: Vec<(u16, u16)> = p.iter().map(|f| (f.port, f.to)).collect();
        assert_eq!(got, vec![(3000, 3100), (3001, 3101), (5432, 5532)]);
        assert!(is_tcp_key("PORT_WEB_80") && is_tcp_key("PORT_WEB_80_N2"));
        assert!(
            !is_tcp_key("PORT_DNS_53_UDP") && !is_tcp_key("API_PORT") && !is_tcp_key("PORT__80")
        );
        assert!(plan(&[], &ports).is_empty());
        // Never a forward to a port the checkout serves (itself, or each other).
        let own: BTreeMap<String, u16> = [("PORT_WEB_80", 3000), ("PORT_DB_5432", 3001)]
            .iter()
            .map(|(k, p)| ((*k).to_string(), *p))
            .collect();
        let crossed: Vec<(String, u16)> = [("PORT_WEB_80", 3001), ("PORT_DB_5432", 3000)]
            .iter()
            .map(|(k, p)| ((*k).to_string(), *p))
            .collect();
        assert!(plan(&crossed, &own).is_empty());
        let same: Vec<(String, u16)> = vec![("PORT_WEB_80".into(), 3000)];
        assert!(plan(&same, &own).is_empty());
    }
}
