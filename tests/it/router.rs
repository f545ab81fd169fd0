//! `kinfra router`: one per kinfra home, a held port named, every instance by
//! name (`SERVICE.INSTANCE.localhost`) with keep-alive, upgrades, streamed bodies
//! and `X-Forwarded-*`, a 404 that lists the names, the page's `/api/instances`
//! as `sandbox list --json`; and `up` starting it for two real sandboxes.

use std::io::{Read, Write};
use std::time::Duration;

use crate::docker_env;
use crate::harness::{
    Backend, Env, RouterGuard, fake_model_meta, project, raw_http, register_fake, routed_get,
};

// Ports of this file's tests (rtr-): the routers and the fake services.
const ROUTER: u16 = 16151;
const ROUTER_UP: u16 = 16152;
const WEB_A: u16 = 16161;
const API_A: u16 = 16162;
const WEB_B: u16 = 16163;
const WEB_C: u16 = 16164;

/// Reads one HTTP/1.1 response with a Content-Length from `s` (keep-alive).
fn read_response(s: &mut std::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("read"), 1, "closed early: {buf:?}");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().expect("length"))
        })
        .expect("content-length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("body");
    head + &String::from_utf8_lossy(&body)
}

#[test]
fn router_runs_once_per_home_names_a_holder_and_routes_by_name() {
    let env = Env::new();
    let other = Env::new();
    let _a = Backend::start("a-web", WEB_A);
    let _api = Backend::start("a-api", API_A);
    let _b = Backend::start("b-web", WEB_B);
    register_fake(
        &env,
        &[
            (
                "rtr-a",
                1,
                &[("PORT_WEB_80", WEB_A), ("PORT_API_8000", API_A)],
            ),
            (
                "rtr_b",
                2,
                &[("PORT_WEB_80", WEB_B), ("PORT_DNS_53_UDP", WEB_C)],
            ),
        ],
    );
    let r = RouterGuard::start(&env, ROUTER);
    let st = r.run(&["router", "status", "--json"]).json();
    assert_eq!(st["running"], true, "{st}");
    assert_eq!(st["port"], ROUTER, "{st}");
    let pid = r.pid().expect("pid");

    // One per home: a second start says where the first listens; a second `run` is refused.
    r.run(&["router", "start"])
        .success()
        .stdout_has(&format!("already running (pid {pid})"));
    r.run(&["router", "run"]).code(1).stderr_has(&format!(
        "a router already runs for this kinfra home: pid {pid}, on http://127.0.0.1:{ROUTER}/"
    ));
    // Another home wanting the same port: refused naming the holder, nothing started.
    let o = RouterGuard::adopt(&other, ROUTER);
    o.run(&["router", "start"])
        .code(3)
        .stderr_has(&format!("port {ROUTER} on 127.0.0.1"))
        .stderr_has(&format!("process {pid}"));
    assert_eq!(o.pid(), None);

    // A service by name, with the path, the client's Host and X-Forwarded-*.
    let host = format!("web.rtr-a.localhost:{ROUTER}");
    let got = routed_get(ROUTER, &host, "/x/y?z=1");
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        got.contains(&format!(
            "a-web path=/x/y?z=1 host={host} xfh={host} xfp=http"
        )),
        "{got}"
    );
    assert!(routed_get(ROUTER, "api.rtr-a.localhost", "/").contains("a-api path=/"));
    // The instance's own name reaches its front end; `_` in a name is `-` in a host.
    assert!(routed_get(ROUTER, "rtr-b.localhost", "/").contains("b-web path=/"));
    assert!(routed_get(ROUTER, "WEB.RTR-B.localhost.", "/").contains("b-web"));

    // Keep-alive: two requests on one client connection reach one service connection.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", ROUTER)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let ask = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    s.write_all(ask("/1").as_bytes()).expect("write");
    let first = read_response(&mut s);
    s.write_all(ask("/2").as_bytes()).expect("write");
    let second = read_response(&mut s);
    let conn = |t: &str| t.rsplit_once("conn=").map(|(_, n)| n.trim().to_string());
    assert!(
        first.contains("path=/1") && second.contains("path=/2"),
        "{first}\n{second}"
    );
    assert_eq!(conn(&first), conn(&second), "{first}\n{second}");

    // A streamed (chunked) body arrives whole.
    let post = format!(
        "POST /up HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    );
    let got = raw_http(ROUTER, post.as_bytes(), Duration::from_secs(10));
    assert!(got.contains("path=/up") && got.contains("len=11"), "{got}");

    // An upgrade (a dev server's hot-reload socket): 101, then bytes both ways.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", ROUTER)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(
        format!("GET /ws HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
            .as_bytes(),
    )
    .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("read"), 1);
        head.push(byte[0]);
    }
    assert!(
        String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"),
        "{head:?}"
    );
    s.write_all(b"hot reload").expect("write");
    let mut back = [0u8; 10];
    s.read_exact(&mut back).expect("echo");
    assert_eq!(&back, b"HOT RELOAD");

    // An unknown name: a 404 that lists the names there are (udp ports are not routed).
    let got = routed_get(ROUTER, "nosuch.localhost", "/");
    assert!(got.starts_with("HTTP/1.1 404"), "{got}");
    for name in [
        format!("http://web.rtr-a.localhost:{ROUTER}/"),
        format!("http://api.rtr-a.localhost:{ROUTER}/"),
        format!("http://rtr-b.localhost:{ROUTER}/"),
    ] {
        assert!(got.contains(&name), "{name} in {got}");
    }
    assert!(!got.contains("dns."), "{got}");
    let got = routed_get(ROUTER, "db.rtr-a.localhost", "/");
    assert!(
        got.starts_with("HTTP/1.1 404") && got.contains("service db of instance rtr-a"),
        "{got}"
    );
    // Another site's name is refused (DNS rebinding).
    let got = routed_get(ROUTER, "attacker.example", "/");
    assert!(got.starts_with("HTTP/1.1 421"), "{got}");

    // The page's live updates: a first event with the listing, another when an
    // instance comes.
    let mut events = std::net::TcpStream::connect(("127.0.0.1", ROUTER)).expect("connect");
    events
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    events
        .write_all(
            format!("GET /api/events HTTP/1.1\r\nHost: kinfra.localhost:{ROUTER}\r\n\r\n")
                .as_bytes(),
        )
        .expect("write");
    let mut next_event = || {
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = events.read(&mut buf).expect("an event");
            assert!(n > 0, "events ended: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some(at) = seen.find("data: ")
                && let Some(end) = seen[at..].find("\n\n")
            {
                let doc: serde_json::Value =
                    serde_json::from_str(&seen[at + 6..at + end]).expect("event json");
                return doc;
            }
        }
    };
    let first = next_event();
    assert_eq!(
        first["instances"].as_array().map(Vec::len),
        Some(2),
        "{first}"
    );
    assert!(
        routed_get(ROUTER, "kinfra.localhost", "/").contains("kinfra-token"),
        "the page carries its token"
    );

    // It follows the registry: a new instance is reachable without a restart.
    let _c = Backend::start("c-web", WEB_C);
    register_fake(
        &env,
        &[
            (
                "rtr-a",
                1,
                &[("PORT_WEB_80", WEB_A), ("PORT_API_8000", API_A)],
            ),
            ("rtr_b", 2, &[("PORT_WEB_80", WEB_B)]),
            ("rtr-c", 3, &[("PORT_WEB_80", WEB_C)]),
        ],
    );
    crate::harness::eventually("rtr-c is routed", || {
        routed_get(ROUTER, "web.rtr-c.localhost", "/").contains("c-web")
    });
    let second = next_event();
    assert_eq!(
        second["instances"].as_array().map(Vec::len),
        Some(3),
        "{second}"
    );

    // The page's API is `sandbox list --json`'s document.
    let api = routed_get(
        ROUTER,
        &format!("kinfra.localhost:{ROUTER}"),
        "/api/instances",
    );
    let (head, body) = api.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{api}");
    let api: serde_json::Value = serde_json::from_str(body).expect("json");
    let list = env.kinfra(&env.work, &["sandbox", "list", "--json"]).json();
    assert_eq!(api, list);
    assert_eq!(
        list["instances"].as_array().map(Vec::len),
        Some(3),
        "{list}"
    );

    // stop: the process ends, its files go, status says so.
    r.run(&["router", "stop"])
        .success()
        .stdout_has(&format!("router stopped (pid {pid})"));
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let st = r.run(&["router", "status", "--json"]).json();
    assert_eq!(st["running"], false, "{st}");
    assert!(!env.kinfra_home.join("router/router.pid").exists());
    r.run(&["router", "stop"])
        .success()
        .stdout_has("no router is running");
}

// The project's own ports (checkout) and the two instances' ports.
const ROUTER_CO: u16 = 16153;
const CANON_WEB: u16 = 16181;
const CANON_DB: u16 = 16182;
const CANON_CACHE: u16 = 16187;
const CA_WEB: u16 = 16183;
const CA_DB: u16 = 16184;
const CB_WEB: u16 = 16185;
const CB_DB: u16 = 16186;
const CB_CACHE: u16 = 16188;

/// `GET /` on 127.0.0.1:port with Host localhost (a canonical port), the answer.
fn canonical_get(port: u16) -> String {
    routed_get(port, &format!("localhost:{port}"), "/")
}

#[test]
fn checkout_moves_the_projects_ports_and_refuses_a_held_one() {
    let env = Env::new();
    let _s = [
        Backend::start("a-web", CA_WEB),
        Backend::start("a-db", CA_DB),
        Backend::start("b-web", CB_WEB),
        Backend::start("b-db", CB_DB),
        Backend::start("b-cache", CB_CACHE),
    ];
    register_fake(
        &env,
        &[
            (
                "rtr-ca",
                1,
                &[("PORT_WEB_80", CA_WEB), ("PORT_DB_5432", CA_DB)],
            ),
            (
                "rtr-cb",
                2,
                &[
                    ("PORT_WEB_80", CB_WEB),
                    ("PORT_DB_5432", CB_DB),
                    ("PORT_CACHE_6379", CB_CACHE),
                ],
            ),
            ("rtr-cnew", 3, &[("PORT_WEB_80", 16189)]),
        ],
    );
    fake_model_meta(
        &env,
        "rtr-ca",
        &[("PORT_WEB_80", CANON_WEB), ("PORT_DB_5432", CANON_DB)],
    );
    fake_model_meta(
        &env,
        "rtr-cb",
        &[
            ("PORT_WEB_80", CANON_WEB),
            ("PORT_DB_5432", CANON_DB),
            ("PORT_CACHE_6379", CANON_CACHE),
        ],
    );
    let r = RouterGuard::adopt(&env, ROUTER_CO);
    r.run(&["checkout"])
        .success()
        .stdout_has("no instance is checked out");

    // checkout starts the router when none runs.
    r.run(&["checkout", "rtr-ca"])
        .success()
        .stdout_has("rtr-ca is checked out")
        .stdout_has(&format!("localhost:{CANON_WEB}"));
    assert!(r.pid().is_some());
    assert!(canonical_get(CANON_WEB).contains("a-web"));
    assert!(canonical_get(CANON_DB).contains("a-db"));

    // A canonical port something else holds: refused naming it, nothing changes.
    let holder = std::net::TcpListener::bind(("127.0.0.1", CANON_CACHE)).expect("hold");
    r.run(&["checkout", "rtr-cb"])
        .code(3)
        .stderr_has(&format!(
            "port {CANON_CACHE} is held by process {}",
            std::process::id()
        ))
        .stderr_has("nothing was changed");
    assert!(canonical_get(CANON_WEB).contains("a-web"));
    r.run(&["checkout"])
        .success()
        .stdout_has("rtr-ca is checked out");
    drop(holder);

    // A connection open on a → b: it finishes on a; new ones reach b.
    let mut open = std::net::TcpStream::connect(("127.0.0.1", CANON_WEB)).expect("connect");
    open.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let ask = format!("GET /k HTTP/1.1\r\nHost: localhost:{CANON_WEB}\r\n\r\n");
    open.write_all(ask.as_bytes()).expect("write");
    assert!(read_response(&mut open).contains("a-web"));
    r.run(&["checkout", "rtr-cb"])
        .success()
        .stdout_has("rtr-cb is checked out");
    assert!(canonical_get(CANON_WEB).contains("b-web"));
    assert!(canonical_get(CANON_DB).contains("b-db"));
    assert!(canonical_get(CANON_CACHE).contains("b-cache"));
    open.write_all(ask.as_bytes()).expect("write");
    assert!(
        read_response(&mut open).contains("a-web"),
        "the open connection finishes on a"
    );

    // b → a: the port only b had is closed again.
    let co = r.run(&["checkout", "rtr-ca", "--json"]).json();
    assert_eq!(co["instance"], "rtr-ca", "{co}");
    assert_eq!(co["ports"].as_array().map(Vec::len), Some(2), "{co}");
    assert!(canonical_get(CANON_WEB).contains("a-web"));
    assert!(std::net::TcpStream::connect(("127.0.0.1", CANON_CACHE)).is_err());

    // Refusals: no such instance (4), never started (2); nothing changes.
    r.run(&["checkout", "nosuch"]).code(4);
    r.run(&["checkout", "rtr-cnew"])
        .code(2)
        .stderr_has("has not been started yet");
    assert!(canonical_get(CANON_WEB).contains("a-web"));
    // An action without the router's token, or from another site's page, is refused.
    let forged = |extra: &str| {
        let body = r#"{"instance":null}"#;
        raw_http(
            ROUTER_CO,
            format!(
                "POST /api/checkout HTTP/1.1\r\nHost: kinfra.localhost:{ROUTER_CO}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
            Duration::from_secs(10),
        )
    };
    assert!(forged("").starts_with("HTTP/1.1 403"));
    assert!(forged("X-Kinfra-Token: wrong\r\n").starts_with("HTTP/1.1 403"));
    let token = std::fs::read_to_string(env.kinfra_home.join("router/router.json")).expect("info");
    let token: serde_json::Value = serde_json::from_str(&token).expect("json");
    let token = token["token"].as_str().expect("token").to_string();
    let other_site = format!("X-Kinfra-Token: {token}\r\nOrigin: http://attacker.example\r\n");
    assert!(forged(&other_site).starts_with("HTTP/1.1 403"));
    // A body declared and never sent cannot hold the connection: 408 in 10 s.
    let began = std::time::Instant::now();
    let slow = raw_http(
        ROUTER_CO,
        format!(
            "POST /api/checkout HTTP/1.1\r\nHost: kinfra.localhost:{ROUTER_CO}\r\nX-Kinfra-Token: {token}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{"
        )
        .as_bytes(),
        Duration::from_secs(40),
    );
    assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "{:?}",
        began.elapsed()
    );
    assert!(
        canonical_get(CANON_WEB).contains("a-web"),
        "nothing changed"
    );

    // The instance leaves the registry (destroyed; its port may be another's
    // soon): the checkout forwards nothing more there. Back in the registry with
    // the same port, it is served again.
    let registered = |with_a: bool| {
        let a: (&str, u8, &[(&str, u16)]) = (
            "rtr-ca",
            1,
            &[("PORT_WEB_80", CA_WEB), ("PORT_DB_5432", CA_DB)],
        );
        let b: (&str, u8, &[(&str, u16)]) = (
            "rtr-cb",
            2,
            &[
                ("PORT_WEB_80", CB_WEB),
                ("PORT_DB_5432", CB_DB),
                ("PORT_CACHE_6379", CB_CACHE),
            ],
        );
        if with_a {
            register_fake(&env, &[a, b]);
        } else {
            register_fake(&env, &[b]);
        }
    };
    registered(false);
    crate::harness::eventually("a destroyed instance's checkout forwards nothing", || {
        !canonical_get(CANON_WEB).contains("a-web")
    });
    registered(true);
    crate::harness::eventually("served again once registered with that port", || {
        canonical_get(CANON_WEB).contains("a-web")
    });

    // A restarted router serves the checkout again; --none releases the ports.
    r.run(&["router", "stop"]).success();
    r.run(&["router", "start"]).success();
    // `start` returns once the router listens; it binds the checkout's ports again
    // just after (under load, a moment later).
    crate::harness::eventually("a restarted router serves the checkout again", || {
        std::net::TcpStream::connect(("127.0.0.1", CANON_WEB)).is_ok()
            && canonical_get(CANON_WEB).contains("a-web")
    });
    r.run(&["checkout", "--none"])
        .success()
        .stdout_has("no instance is checked out");
    assert!(std::net::TcpStream::connect(("127.0.0.1", CANON_WEB)).is_err());
}

fn compose() -> String {
    r#"services:
  web:
    image: busybox:1.35
    command: ["sh", "-c", "echo \"hi from $$(hostname)\" > /tmp/index.html && exec httpd -f -p 80 -h /tmp"]
    ports:
      - "16190:80"
    stop_grace_period: 1s
  db:
    image: busybox:1.35
    command: ["nc", "-ll", "-p", "5432", "-e", "hostname"]
    ports:
      - "16191:5432"
    stop_grace_period: 1s
"#
    .to_string()
}

#[test]
fn up_starts_the_router_and_two_sandboxes_answer_by_name() {
    let env = docker_env!();
    let repo = project(&env, "rtrshop", &[("compose.yaml", &compose())]);
    let r = RouterGuard::adopt(&env, ROUTER_UP);
    let vars = r.vars();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.kinfra(&repo, &["sandbox", "create", "a"]).success();
    env.kinfra(&repo, &["sandbox", "create", "b"]).success();
    let (a, b) = (env.work.join("rtrshop--a"), env.work.join("rtrshop--b"));
    env.kinfra_env(&a, &["sandbox", "up"], &vars)
        .success()
        .stderr_has("router started");
    let pid = r.pid().expect("up started the router");
    // The second `up` finds it running.
    let up_b = env.kinfra_env(&b, &["sandbox", "up"], &vars);
    up_b.success();
    assert!(!up_b.stderr.contains("router started"), "{}", up_b.stderr);
    assert_eq!(r.pid(), Some(pid));

    let list = env.kinfra(&repo, &["sandbox", "list", "--json"]).json();
    let ids: Vec<String> = list["instances"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["instance_id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
    let body = |t: &str| {
        t.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    };
    // What a raw TCP service on `port` says before it closes ("" when nothing does).
    let tcp_try = |port: u16| {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.trim().to_string()
    };
    let mut seen = Vec::new();
    for (id, dir) in ids.iter().zip([&a, &b]) {
        let text = std::fs::read_to_string(dir.join(".env.sandbox")).expect("env");
        let direct_port = crate::harness::port_of(&text, "PORT_WEB_80");
        let db_port = crate::harness::port_of(&text, "PORT_DB_5432");
        // No health checks: `up` is done once the containers run; httpd (after
        // writing its page) and nc listen a moment later (later still under load).
        crate::harness::eventually(&format!("{id}'s web serves its page"), || {
            crate::harness::http_get(direct_port, "/index.html").contains("hi from")
        });
        crate::harness::eventually(&format!("{id}'s db answers"), || {
            !tcp_try(db_port).is_empty()
        });
        let direct = crate::harness::http_get(direct_port, "/index.html");
        let routed = routed_get(
            ROUTER_UP,
            &format!("web.{id}.localhost:{ROUTER_UP}"),
            "/index.html",
        );
        assert!(routed.starts_with("HTTP/1.1 200"), "{routed}");
        assert!(body(&routed).starts_with("hi from"), "{routed}");
        assert_eq!(body(&routed), body(&direct), "{id}");
        let front = routed_get(ROUTER_UP, &format!("{id}.localhost"), "/index.html");
        assert_eq!(body(&front), body(&direct), "{id}'s front end");
        seen.push(body(&routed));
        // `kinfra url` gives the routed URL beside the direct one.
        let urls = env.kinfra_env(dir, &["url", "--json"], &vars).json();
        let name = format!("http://web.{id}.localhost:{ROUTER_UP}/");
        assert_eq!(urls["web:80"]["routed"], name.as_str(), "{urls}");
        assert_eq!(
            urls["web:80"]["direct"],
            format!("http://localhost:{direct_port}"),
            "{urls}"
        );
        env.kinfra_env(dir, &["url", "web", "--routed"], &vars)
            .success()
            .stdout_has(&name);
        env.kinfra_env(dir, &["url"], &vars)
            .success()
            .stdout_has(&name);
    }
    assert_ne!(seen[0], seen[1], "each name reaches its own sandbox");

    // checkout a -> b -> a: the project's own ports (16190 http, 16191 raw tcp)
    // reach the instance checked out, as its own ports do.
    let tcp_read = |port: u16| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.trim().to_string()
    };
    for (id, dir) in [(&ids[0], &a), (&ids[1], &b), (&ids[0], &a)] {
        let text = std::fs::read_to_string(dir.join(".env.sandbox")).expect("env");
        let web = crate::harness::port_of(&text, "PORT_WEB_80");
        let db = crate::harness::port_of(&text, "PORT_DB_5432");
        let name = dir.file_name().and_then(|n| n.to_str()).expect("name");
        env.kinfra_env(
            &repo,
            &["checkout", name.trim_start_matches("rtrshop--")],
            &vars,
        )
        .success()
        .stdout_has(&format!("{id} is checked out"));
        let canonical = crate::harness::http_get(16190, "/index.html");
        assert_eq!(
            body(&canonical),
            body(&crate::harness::http_get(web, "/index.html")),
            "{id}"
        );
        let from_db = tcp_read(16191);
        assert!(!from_db.is_empty(), "{id}'s db answered");
        assert_eq!(from_db, tcp_read(db), "{id}");
    }
    env.kinfra_env(&repo, &["checkout", "--none"], &vars)
        .success();

    // Wake on request: b stopped; a request for it answers a page that refreshes
    // and starts it as `up` does; it then serves.
    env.kinfra(&b, &["sandbox", "down"]).success();
    let host_b = format!("web.{}.localhost:{ROUTER_UP}", ids[1]);
    let first = routed_get(ROUTER_UP, &host_b, "/index.html");
    assert!(first.starts_with("HTTP/1.1 503"), "{first}");
    assert!(
        first.contains("http-equiv=\"refresh\"") && first.contains("starting"),
        "{first}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let got = routed_get(ROUTER_UP, &host_b, "/index.html");
        if got.starts_with("HTTP/1.1 200") {
            assert!(body(&got).starts_with("hi from"), "{got}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "b never woke: {got}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // Its web answering says web runs; db, started beside it, may be a moment behind.
    let state_b = || {
        let list = env.kinfra(&repo, &["sandbox", "list", "--json"]).json();
        list["instances"][1]["state"] == "running"
    };
    crate::harness::eventually("b runs once woken", state_b);
    let list = env.kinfra(&repo, &["sandbox", "list", "--json"]).json();
    assert_eq!(list["instances"][1]["state"], "running", "{list}");
    for wt in [&a, &b] {
        env.kinfra(wt, &["sandbox", "destroy", "-y", "--force"])
            .success();
    }
}

const ROUTER_IDLE: u16 = 16154;

#[test]
fn an_idle_sandbox_is_stopped_by_the_router_and_a_checked_out_connection_wakes_it() {
    let env = docker_env!();
    let compose = "services:\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports:\n      - \"16192:80\"\n    stop_grace_period: 1s\n";
    // The project's own settings: `up` does not start the router, and its
    // sandboxes stop after 3 s idle (over the machine's default of a day).
    let toml = "name = \"rtridle\"\ncompose_file = \"compose.yaml\"\n[router]\nauto_start = false\nidle_stop = \"3s\"\n";
    let repo = project(
        &env,
        "rtridle",
        &[("compose.yaml", compose), ("kinfra.toml", toml)],
    );
    let r = RouterGuard::adopt(&env, ROUTER_IDLE);
    let mut vars = r.vars();
    vars.push(("KINFRA_IDLE_STOP", "1d".to_string()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.kinfra(&repo, &["sandbox", "create", "a"]).success();
    let a = env.work.join("rtridle--a");
    // `[router] auto_start = false` holds even with KINFRA_ROUTER=on.
    let up = env.kinfra_env(&a, &["sandbox", "up"], &vars);
    up.success();
    assert!(!up.stderr.contains("router started"), "{}", up.stderr);
    assert_eq!(r.pid(), None, "up started the router");
    env.kinfra_env(&env.work, &["router", "start"], &vars)
        .success();
    let state = || {
        env.kinfra(&repo, &["sandbox", "list", "--json"]).json()["instances"][0]["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let log =
        || std::fs::read_to_string(env.kinfra_home.join("router/router.log")).unwrap_or_default();
    let stopped_within = |limit: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(limit);
        while state() != "stopped" {
            assert!(
                std::time::Instant::now() < deadline,
                "never stopped: {}\n{}",
                state(),
                log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    assert_eq!(state(), "running");
    // No traffic and no command for 3 s: stopped, nothing removed.
    stopped_within(60);
    assert!(log().contains("stopping rtridle"), "{}", log());

    // Checked out, stopped: a connection to the project's port wakes it, waits
    // while it starts, then reaches it.
    env.kinfra_env(&repo, &["checkout", "a"], &vars).success();
    let got = raw_http(
        16192,
        b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
        Duration::from_secs(150),
    );
    assert!(
        got.starts_with("HTTP/1."),
        "no answer after the wake: {got:?}\n{}",
        log()
    );
    assert!(
        log().contains("(a connection to a checked-out port came)"),
        "{}",
        log()
    );
    assert_eq!(state(), "running");
    // Traffic through the checked-out port is use: 8 s of it, still running.
    let stops = log().matches("stopping rtridle").count();
    for _ in 0..16 {
        let _ = raw_http(
            16192,
            b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
            Duration::from_secs(10),
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(state(), "running", "{}", log());
    assert_eq!(
        log().matches("stopping rtridle").count(),
        stops,
        "{}",
        log()
    );
    // Without it, stopped again.
    stopped_within(60);
    env.kinfra_env(&repo, &["checkout", "--none"], &vars)
        .success();
    env.kinfra(&a, &["sandbox", "destroy", "-y", "--force"])
        .success();
}

const ROUTER_WS: u16 = 16156;
const WS_WEB: u16 = 16157;

#[test]
fn bytes_on_an_upgraded_connection_by_name_count_as_use_for_idle_stop() {
    let env = Env::new();
    let _web = Backend::start("ws-web", WS_WEB);
    register_fake(&env, &[("rtr-ws", 1, &[("PORT_WEB_80", WS_WEB)])]);
    std::fs::create_dir_all(env.work.join("rtr-ws")).expect("its directory");
    let r = RouterGuard::adopt(&env, ROUTER_WS);
    let mut vars = r.vars();
    vars.push(("KINFRA_IDLE_STOP", "2s".to_string()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.kinfra_env(&env.work, &["router", "start"], &vars)
        .success();
    let log =
        || std::fs::read_to_string(env.kinfra_home.join("router/router.log")).unwrap_or_default();
    // One request (the upgrade), then 6 s of bytes both ways on its connection.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", ROUTER_WS)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: web.rtr-ws.localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
    )
    .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("read"), 1);
        head.push(byte[0]);
    }
    assert!(
        String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"),
        "{head:?}"
    );
    for _ in 0..20 {
        s.write_all(b"ping").expect("write");
        let mut back = [0u8; 4];
        s.read_exact(&mut back).expect("echo");
        assert_eq!(&back, b"PING");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        !log().contains("stopping rtr-ws"),
        "stopped under traffic: {}",
        log()
    );
    // Quiet (the connection still open): stopped after 2 s.
    crate::harness::eventually("rtr-ws is stopped once quiet", || {
        log().contains("stopping rtr-ws (idle")
    });
    drop(s);
}

// The page in a real browser (Debian's headless Chromium, from scripts/test-deps.sh).
const ROUTER_PAGE: u16 = 16155;
const PAGE_A_WEB: u16 = 16193;
const PAGE_A_API: u16 = 16194;
const PAGE_B_WEB: u16 = 16195;

/// Drives headless Chromium over its DevTools pipe (`--remote-debugging-pipe`):
/// opens the page, waits (up to 20 s) until its script has rendered the live table,
/// prints the DOM and writes a screenshot. Not `--dump-dom`: that dumps at the load
/// event, before the script's fetches, and `--virtual-time-budget` never ends while
/// the page's event stream is open.
const CDP: &str = r#"
import base64, json, os, subprocess, sys, time
url, shot, profile = sys.argv[1], sys.argv[2], sys.argv[3]
# Optionally: an expression that clicks, and one that says the page has answered it.
click, answered = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
to_r, to_w = os.pipe()
from_r, from_w = os.pipe()
def setup():
    os.dup2(to_r, 3); os.dup2(from_w, 4)
p = subprocess.Popen(['chromium', '--headless=new', '--no-sandbox', '--disable-gpu', '--no-proxy-server',
    '--no-first-run', '--hide-scrollbars', '--window-size=1280,480', '--user-data-dir=' + profile,
    '--remote-debugging-pipe', 'about:blank'], pass_fds=(3, 4), preexec_fn=setup,
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(to_r); os.close(from_w)
out = os.fdopen(to_w, 'wb'); inp = os.fdopen(from_r, 'rb')
n = [0]; buf = [b'']
def call(method, params=None, session=None):
    n[0] += 1
    m = {'id': n[0], 'method': method, 'params': params or {}}
    if session: m['sessionId'] = session
    out.write(json.dumps(m).encode() + b'\0'); out.flush()
    while True:
        while b'\0' not in buf[0]:
            d = inp.read1(65536)
            if not d: raise SystemExit('chromium closed the pipe')
            buf[0] += d
        msg, _, buf[0] = buf[0].partition(b'\0')
        r = json.loads(msg)
        if r.get('id') == n[0]:
            if 'error' in r: raise SystemExit('%s: %s' % (method, r['error']))
            return r['result']
try:
    t = call('Target.createTarget', {'url': url})['targetId']
    s = call('Target.attachToTarget', {'targetId': t, 'flatten': True})['sessionId']
    deadline = time.time() + 20
    ready = 'document.querySelector("table") !== null && document.getElementById("checkout").textContent !== ""'
    while not call('Runtime.evaluate', {'expression': ready}, s)['result'].get('value'):
        if time.time() > deadline: break
        time.sleep(0.1)
    dom = call('Runtime.evaluate', {'expression': 'document.documentElement.outerHTML'}, s)['result']['value']
    png = call('Page.captureScreenshot', {'format': 'png'}, s)['data']
    open(shot, 'wb').write(base64.b64decode(png))
    sys.stdout.write(dom)
    if click:
        # A real click: the page's own fetch, with the browser's Origin and Sec-Fetch-Site.
        call('Runtime.evaluate', {'expression': click, 'userGesture': True}, s)
        deadline = time.time() + 20
        while not call('Runtime.evaluate', {'expression': answered}, s)['result'].get('value'):
            if time.time() > deadline: break
            time.sleep(0.1)
        after = call('Runtime.evaluate', {'expression': 'document.documentElement.outerHTML'}, s)['result']['value']
        sys.stdout.write('\n<!--kinfra-after-click-->\n' + after)
finally:
    p.kill(); p.wait()
"#;

/// The page at `url` as headless Chromium shows it: the DOM after its script ran,
/// and a screenshot at `shot`; with `click` (an expression that clicks, one that
/// says the page answered), then the DOM after the click, after a marker. Chromium missing fails the test (scripts/test-deps.sh
/// installs it): a page never loaded must not pass. `timeout` bounds a hung
/// browser; its profile and HOME are the test's own; no proxy for a loopback page.
fn chromium_page(env: &Env, url: &str, shot: &std::path::Path, click: &[&str]) -> String {
    let out = std::process::Command::new("timeout")
        .args(["-k", "5", "60", "python3", "-c", CDP, url])
        .arg(shot)
        .arg(env.home.join("chromium"))
        .args(click)
        .env("HOME", &env.home)
        .output()
        .expect("timeout(1)");
    assert!(
        out.status.success(),
        "headless chromium failed ({}): is it installed? run scripts/test-deps.sh (Debian's `chromium` package)\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_page_in_headless_chromium_shows_every_instance() {
    let env = Env::new();
    let _a = Backend::start("pa-web", PAGE_A_WEB);
    let _api = Backend::start("pa-api", PAGE_A_API);
    let _b = Backend::start("pb-web", PAGE_B_WEB);
    register_fake(
        &env,
        &[
            (
                "rtr-pa",
                1,
                &[("PORT_WEB_80", PAGE_A_WEB), ("PORT_API_8000", PAGE_A_API)],
            ),
            ("rtr_pb", 2, &[("PORT_WEB_80", PAGE_B_WEB)]),
        ],
    );
    // rtr-pa's directory is there, so the page's start button may start it.
    std::fs::create_dir_all(env.work.join("rtr-pa")).expect("rtr-pa's directory");
    let _r = RouterGuard::start(&env, ROUTER_PAGE);
    let url = format!("http://kinfra.localhost:{ROUTER_PAGE}/");
    // What the page should show: the states `/api/instances` (= `sandbox list --json`) gives.
    let list = env.kinfra(&env.work, &["sandbox", "list", "--json"]).json();
    let state = |id: &str| {
        list["instances"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["instance_id"] == id))
            .and_then(|i| i["state"].as_str())
            .unwrap_or_else(|| panic!("{id} in {list}"))
            .to_string()
    };

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("router-page.png");
    let _ = std::fs::remove_file(&shot);
    let click = [
        r#"document.querySelector('tr[data-instance="rtr-pa"] button[data-act="start"]').click()"#,
        r#"document.getElementById("note").dataset.status !== undefined"#,
    ];
    let out = chromium_page(&env, &url, &shot, &click);
    let (dom, after) = out
        .split_once("<!--kinfra-after-click-->")
        .unwrap_or_else(|| panic!("no DOM after the click:\n{out}"));
    // The script ran: the static list became the live table, the checkout line is filled.
    assert!(
        dom.contains("<th>instance</th>") && dom.contains("nothing checked out"),
        "the page's script did not render:\n{dom}"
    );
    let row = |id: &str| {
        let at = dom
            .find(&format!("<tr data-instance=\"{id}\">"))
            .unwrap_or_else(|| panic!("a row for {id} in\n{dom}"));
        let end = dom[at..].find("</tr>").expect("row end") + at;
        dom[at..end].to_string()
    };
    let a = row("rtr-pa");
    for want in [
        "<td>rtr-pa</td>".to_string(),
        format!("<td class=\"state\">{}</td>", state("rtr-pa")),
        format!("http://web.rtr-pa.localhost:{ROUTER_PAGE}/"),
        format!("http://api.rtr-pa.localhost:{ROUTER_PAGE}/"),
        format!("web:80 → {PAGE_A_WEB}"),
        format!("api:8000 → {PAGE_A_API}"),
    ] {
        assert!(a.contains(&want), "{want} in {a}");
    }
    let b = row("rtr_pb");
    for want in [
        "<td>rtr_pb</td>".to_string(),
        format!("<td class=\"state\">{}</td>", state("rtr_pb")),
        // `_` in a name is `-` in a host.
        format!("http://web.rtr-pb.localhost:{ROUTER_PAGE}/"),
        format!("web:80 → {PAGE_B_WEB}"),
    ] {
        assert!(b.contains(&want), "{want} in {b}");
    }
    assert!(!b.contains("api."), "{b}");
    // Start and stop buttons by state (a sandbox not running: start; none
    // without its directory).
    let power = |row: &str, id: &str| {
        if state(id) == "directory missing" {
            !row.contains("data-act")
        } else if state(id) == "running" {
            row.contains(&format!(
                "<button data-act=\"stop\" data-id=\"{id}\">stop</button>"
            ))
        } else {
            row.contains(&format!(
                "<button data-act=\"start\" data-id=\"{id}\">start</button>"
            ))
        }
    };
    assert!(power(&a, "rtr-pa") && power(&b, "rtr_pb"), "{a}\n{b}");

    // The start button, clicked in the browser: its POST carries the page's token
    // and passes the origin check (202), the page says so, the router starts it.
    assert!(
        after.contains("<p id=\"note\" data-status=\"202\">starting rtr-pa…</p>"),
        "the click was not answered 202:\n{after}"
    );
    let log =
        std::fs::read_to_string(env.kinfra_home.join("router/router.log")).unwrap_or_default();
    assert!(log.contains("waking rtr-pa (asked from the page)"), "{log}");

    // The screenshot, kept as the test's artifact.
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5000,
        "a screenshot of the page at {}",
        shot.display()
    );
}

const ROUTER_TABLE: u16 = 16158;

/// A sandbox of a project with a port table (KTRDR's: its ports are in its
/// `.env.sandbox`, fixed by its slot, never chosen by kinfra) is reached by name
/// like any other: each port of its own by a name made from its key, its front end
/// by the instance's name, and `kinfra url --routed` gives the API link's path.
/// (Slot 9: no Docker test of KTRDR's shape takes it.)
#[test]
fn a_sandbox_with_a_port_table_is_reached_by_name() {
    let mut env = Env::new();
    let repo = env.clone_repo("ktrdr-table");
    env.fake_docker("", false);
    env.kinfra(&repo, &["sandbox", "init", "--slot", "9", "--name", "tbl"])
        .success();
    let text = std::fs::read_to_string(repo.join(".env.sandbox")).expect(".env.sandbox");
    let api = crate::harness::port_of(&text, "KTRDR_API_PORT");
    let _api = Backend::start("tbl-api", api);
    let r = RouterGuard::start(&env, ROUTER_TABLE);
    let id = r.run(&["sandbox", "list", "--json"]).json()["instances"][0]["instance_id"]
        .as_str()
        .expect("id")
        .to_string();
    let by_service = routed_get(
        ROUTER_TABLE,
        &format!("api.{id}.localhost:{ROUTER_TABLE}"),
        "/x",
    );
    assert!(by_service.contains("tbl-api path=/x"), "{by_service}");
    let front = routed_get(
        ROUTER_TABLE,
        &format!("{id}.localhost:{ROUTER_TABLE}"),
        "/y",
    );
    assert!(front.contains("tbl-api path=/y"), "{front}");
    let vars = r.vars();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.kinfra_env(&repo, &["url", "api", "--routed"], &vars)
        .success()
        .stdout_has(&format!("http://api.{id}.localhost:{ROUTER_TABLE}/api/v1"));
    // .env.sandbox is anyone's to edit: a port written there (another service's)
    // never becomes where the name goes; the table and the registry's slot decide.
    let _other = Backend::start("elsewhere", ROUTER_TABLE + 1);
    let edited = text.replace(
        &format!("KTRDR_API_PORT={api}"),
        &format!("KTRDR_API_PORT={}", ROUTER_TABLE + 1),
    );
    assert_ne!(edited, text, "the edit changes the file");
    std::fs::write(repo.join(".env.sandbox"), edited).expect("edit .env.sandbox");
    r.run(&["router", "stop"]).success();
    let r = RouterGuard::start(&env, ROUTER_TABLE);
    let again = routed_get(
        ROUTER_TABLE,
        &format!("api.{id}.localhost:{ROUTER_TABLE}"),
        "/z",
    );
    assert!(again.contains("tbl-api path=/z"), "{again}");
    drop(r);
}
