//! The router's hostile input: a `Host` is only ever compared with the registry's
//! names (never a path, a command or an address), other sites' names and
//! malformed ones are refused, header and body sizes and a slow client are
//! bounded, and a forged record of the router's process is never signalled.

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::Tally;
use crate::harness::{
    Backend, Env, RouterGuard, fake_model_meta, raw_http, register_fake, routed_get,
};

const ROUTER: u16 = 17471;
const WEB: u16 = 17472;
const ROUTER_LIMITS: u16 = 17473;
const WEB_LIMITS: u16 = 17474;
const ROUTER_FORGED: u16 = 17475;
const ROUTER_CSRF: u16 = 17491;
const WEB_CSRF: u16 = 17492;
/// Nothing listens here: the sandbox it names is stopped (a request wakes it).
const DOWN_CSRF: u16 = 17493;
const ROUTER_ACT: u16 = 17476;
/// rel-d's port: stopped (nothing listens) until the test starts a service there.
const DOWN_ACT: u16 = 17478;
/// rel-d's project port, served by the router once rel-d is checked out.
const CANON_ACT: u16 = 17479;
const LP_ACT: u16 = 17470;
const GONE_ACT: u16 = 17496;

fn status_of(answer: &str) -> &str {
    answer.split_whitespace().nth(1).unwrap_or("(none)")
}

pub fn run(t: &mut Tally) {
    t.case("router", "Host tricks are refused; names never reach a path or a command", || {
        let env = Env::new();
        let _web = Backend::start("rel-web", WEB);
        register_fake(&env, &[("rel-a", 1, &[("PORT_WEB_80", WEB)])]);
        let r = RouterGuard::start(&env, ROUTER);
        let mut checked = 0;
        // Other sites (a DNS-rebinding page sends its own name): 421.
        for host in [
            "attacker.example",
            "web.rel-a.localhost.attacker.example",
            "localhost.attacker.example",
            "127.0.0.2",
            "0.0.0.0",
            "[::1]",
        ] {
            let got = routed_get(ROUTER, host, "/");
            assert!(
                ["421", "400"].contains(&status_of(&got)),
                "{host}: {got}"
            );
            assert!(!got.contains("rel-web"), "{host} reached the service: {got}");
            checked += 1;
        }
        // A proxy-form target names its own host: it decides, not the Host header.
        let got = raw_http(
            ROUTER,
            b"GET http://attacker.example/ HTTP/1.1\r\nHost: web.rel-a.localhost\r\nConnection: close\r\n\r\n",
            Duration::from_secs(10),
        );
        assert_eq!(status_of(&got), "421", "{got}");
        // Names with path and shell characters: refused or unknown, nothing run or made.
        let marker = env.base().join("pwned");
        for host in [
            format!("$(touch {}).localhost", marker.display()),
            "`id`.rel-a.localhost".to_string(),
            "../../etc/passwd.localhost".to_string(),
            "web.rel-a%2f..%2f.localhost".to_string(),
            "web;rm -rf ~.rel-a.localhost".to_string(),
            "web.rel-a.localhost:17472@attacker.example".to_string(),
            "web\\rel-a.localhost".to_string(),
        ] {
            let got = routed_get(ROUTER, &host, "/");
            assert!(
                ["400", "404", "421"].contains(&status_of(&got)),
                "{host}: {got}"
            );
            assert!(!got.contains("rel-web"), "{host} reached the service: {got}");
            checked += 1;
        }
        // A port in the Host never picks the port: the registry's does.
        let got = routed_get(ROUTER, "web.rel-a.localhost:22", "/");
        assert!(got.contains("rel-web"), "{got}");
        // An unknown name lists the names, escaped.
        let got = routed_get(ROUTER, "x-y.localhost", "/");
        assert_eq!(status_of(&got), "404", "{got}");
        assert!(!marker.exists(), "a name ran a command");
        assert!(r.pid().is_some(), "the router survived");
        format!("{checked} hostile hosts refused; a Host's port is not used; nothing ran")
    });

    t.case("router", "header and body limits; a slow client is cut off", || {
        let env = Env::new();
        let _web = Backend::start("rel-limits", WEB_LIMITS);
        register_fake(&env, &[("rel-b", 1, &[("PORT_WEB_80", WEB_LIMITS)])]);
        let r = RouterGuard::start(&env, ROUTER_LIMITS);
        // 100 KiB of headers: 431, the service never asked.
        let big = format!(
            "GET / HTTP/1.1\r\nHost: web.rel-b.localhost\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(100 * 1024)
        );
        let got = raw_http(ROUTER_LIMITS, big.as_bytes(), Duration::from_secs(10));
        assert_eq!(status_of(&got), "431", "{}", &got[..got.len().min(300)]);
        // A body declared over the limit: 413 before a byte is forwarded.
        let got = raw_http(
            ROUTER_LIMITS,
            b"POST / HTTP/1.1\r\nHost: web.rel-b.localhost\r\nContent-Length: 999999999999\r\nConnection: close\r\n\r\n",
            Duration::from_secs(10),
        );
        assert_eq!(status_of(&got), "413", "{got}");
        // A client that sends half its headers and stops is cut off (10 s), and
        // meanwhile others are served.
        let mut slow = std::net::TcpStream::connect(("127.0.0.1", ROUTER_LIMITS)).expect("connect");
        slow.write_all(b"GET / HTTP/1.1\r\nHost: web.rel-b.loc").expect("write");
        slow.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let began = Instant::now();
        assert!(routed_get(ROUTER_LIMITS, "web.rel-b.localhost", "/").contains("rel-limits"));
        let mut buf = Vec::new();
        let _ = slow.read_to_end(&mut buf);
        let held = began.elapsed();
        assert!(held < Duration::from_secs(20), "a slow client held on {held:?}");
        assert!(r.pid().is_some(), "the router survived");
        format!("431 for 100 KiB of headers, 413 for an oversize body, a slow client cut off after {} s", held.as_secs())
    });

    t.case("router", "another site's page wakes nothing nor reads the API; CONNECT, two Hosts, a loop, framing and stream floods refused", || {
        let env = Env::new();
        let _web = Backend::start("rel-csrf", WEB_CSRF);
        register_fake(
            &env,
            &[(
                "rel-c",
                1,
                &[
                    ("PORT_WEB_80", WEB_CSRF),
                    ("PORT_DOWN_80", DOWN_CSRF),
                    // The router's own port (a tampered registry): no request loop.
                    ("PORT_LOOP_80", ROUTER_CSRF),
                ],
            )],
        );
        std::fs::create_dir_all(env.work.join("rel-c")).expect("its directory");
        let r = RouterGuard::start(&env, ROUTER_CSRF);
        let log = env.kinfra_home.join("router").join("router.log");
        let woke = || std::fs::read_to_string(&log).unwrap_or_default().contains("waking rel-c");
        // Another site's <img>, no-cors fetch, frame or script navigation: not started.
        for (mode, dest, user) in [
            ("no-cors", "image", "?0"),
            ("no-cors", "empty", "?0"),
            ("navigate", "iframe", "?0"),
            ("navigate", "document", "?0"),
        ] {
            let got = raw_http(
                ROUTER_CSRF,
                format!("GET /x HTTP/1.1\r\nHost: down.rel-c.localhost\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: {mode}\r\nSec-Fetch-Dest: {dest}\r\nSec-Fetch-User: {user}\r\nConnection: close\r\n\r\n").as_bytes(),
                Duration::from_secs(10),
            );
            assert_eq!(status_of(&got), "502", "{mode} {dest}: {got}");
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(!woke(), "another site's request woke the sandbox");
        // The user's own request (no browser, or a link followed) does.
        let got = routed_get(ROUTER_CSRF, "down.rel-c.localhost", "/");
        assert_eq!(status_of(&got), "503", "{got}");
        crate::harness::eventually("the user's request wakes it", woke);
        // CONNECT: no tunnel; the service never asked.
        let got = raw_http(
            ROUTER_CSRF,
            b"CONNECT web.rel-c.localhost:22 HTTP/1.1\r\nHost: web.rel-c.localhost\r\nConnection: close\r\n\r\n",
            Duration::from_secs(10),
        );
        assert_eq!(status_of(&got), "405", "{got}");
        // Two Hosts: 400, never the service (it might believe the second).
        let got = raw_http(
            ROUTER_CSRF,
            b"GET / HTTP/1.1\r\nHost: web.rel-c.localhost\r\nHost: attacker.example\r\nConnection: close\r\n\r\n",
            Duration::from_secs(10),
        );
        assert_eq!(status_of(&got), "400", "{got}");
        assert!(!got.contains("rel-csrf"), "{got}");
        // The router's own port from the registry: refused at once, no loop.
        let got = routed_get(ROUTER_CSRF, "loop.rel-c.localhost", "/");
        assert_eq!(status_of(&got), "508", "{got}");
        // The page (its buttons carry the token) is never in another site's frame.
        let got = routed_get(ROUTER_CSRF, "kinfra.localhost", "/").to_ascii_lowercase();
        assert!(got.contains("x-frame-options: deny"), "{got}");
        assert!(got.contains("frame-ancestors 'none'"), "{got}");
        // A client's own X-Forwarded-For never passes for where it came from.
        let got = raw_http(
            ROUTER_CSRF,
            b"GET / HTTP/1.1\r\nHost: web.rel-c.localhost\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n\r\n",
            Duration::from_secs(10),
        );
        assert!(got.contains("xff=127.0.0.1") && !got.contains("10.1.2.3"), "{got}");
        // Another site's no-cors fetch of the API: refused (it would ask Docker).
        let got = raw_http(
            ROUTER_CSRF,
            b"GET /api/instances HTTP/1.1\r\nHost: kinfra.localhost\r\nSec-Fetch-Site: cross-site\r\nConnection: close\r\n\r\n",
            Duration::from_secs(10),
        );
        assert_eq!(status_of(&got), "403", "{got}");
        // Live streams hold a slot each for good: a few, not every slot.
        let streams: Vec<std::net::TcpStream> = (0..16)
            .map(|_| {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", ROUTER_CSRF)).expect("connect");
                s.write_all(b"GET /api/events HTTP/1.1\r\nHost: kinfra.localhost\r\n\r\n")
                    .expect("write");
                s
            })
            .collect();
        crate::harness::eventually("the 17th stream is refused", || {
            status_of(&routed_get(ROUTER_CSRF, "kinfra.localhost", "/api/events")) == "503"
        });
        drop(streams);
        assert!(routed_get(ROUTER_CSRF, "web.rel-c.localhost", "/").contains("rel-csrf"));
        assert!(r.pid().is_some(), "the router survived");
        "cross-site requests wake nothing (the user's own does) nor reach the API; CONNECT 405, two Hosts 400, own port 508, the page not frameable, 16 live streams at most".into()
    });

    t.case("router", "the page's start and stop need the token and the page's origin, and refuse unknown names, local-prod and a sandbox being destroyed; a checked-out connection waits for its sandbox", || {
        let env = Env::new();
        register_fake(
            &env,
            &[
                ("rel-lp", 0, &[("PORT_WEB_80", LP_ACT)]),
                ("rel-d", 1, &[("PORT_WEB_80", DOWN_ACT)]),
                ("rel-gone", 2, &[("PORT_WEB_80", GONE_ACT)]),
            ],
        );
        std::fs::create_dir_all(env.work.join("rel-d")).expect("rel-d's directory");
        fake_model_meta(&env, "rel-d", &[("PORT_WEB_80", CANON_ACT)]);
        let r = RouterGuard::start(&env, ROUTER_ACT);
        let info = std::fs::read_to_string(env.kinfra_home.join("router/router.json")).expect("info");
        let info: serde_json::Value = serde_json::from_str(&info).expect("json");
        let token = info["token"].as_str().expect("token").to_string();
        let log = env.kinfra_home.join("router").join("router.log");
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
        let post = |path: &str, body: &str, extra: &str| {
            raw_http(
                ROUTER_ACT,
                format!(
                    "POST {path} HTTP/1.1\r\nHost: kinfra.localhost:{ROUTER_ACT}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
                Duration::from_secs(10),
            )
        };
        let with_token = format!("X-Kinfra-Token: {token}\r\n");
        let d = r#"{"instance":"rel-d"}"#;
        let mut refused = 0;
        // Without the token, a wrong one, from another site's page: 403, nothing run.
        for (path, extra) in [
            ("/api/start", String::new()),
            ("/api/stop", String::new()),
            ("/api/start", "X-Kinfra-Token: wrong\r\n".to_string()),
            ("/api/start", "X-Kinfra-Token: \r\n".to_string()),
            ("/api/start", format!("{with_token}Origin: http://attacker.example\r\n")),
            ("/api/stop", format!("{with_token}Origin: null\r\n")),
            ("/api/start", format!("{with_token}Origin: http://web.rel-d.localhost:{ROUTER_ACT}\r\n")),
            ("/api/start", format!("{with_token}Sec-Fetch-Site: cross-site\r\n")),
            ("/api/stop", format!("{with_token}Sec-Fetch-Site: same-site\r\n")),
        ] {
            let got = post(path, d, &extra);
            assert_eq!(status_of(&got), "403", "{path} {extra:?}: {got}");
            refused += 1;
        }
        // With the token: names the registry does not have, bodies that are no ask.
        for (path, body, status, says) in [
            ("/api/start", r#"{"instance":"nosuch"}"#, "404", "no registered instance"),
            ("/api/start", r#"{"instance":"../../etc/passwd"}"#, "404", "no registered instance"),
            ("/api/stop", r#"{"instance":"$(touch x)"}"#, "404", "no registered instance"),
            ("/api/start", r#"{"instance":"rel-lp"}"#, "409", "local-prod"),
            ("/api/stop", r#"{"instance":"rel-lp"}"#, "409", "local-prod"),
            ("/api/start", r#"{"instance":"rel-gone"}"#, "409", "directory is gone"),
            ("/api/start", "{", "400", "expected"),
            ("/api/start", r#"{"instance":5}"#, "400", "expected"),
            ("/api/start", r#"{"instance":"rel-d","and":"more"}"#, "400", "expected"),
            ("/api/start", "", "400", "expected"),
        ] {
            let got = post(path, body, &with_token);
            assert_eq!(status_of(&got), status, "{path} {body}: {got}");
            assert!(got.contains(says), "{path} {body}: {got}");
            refused += 1;
        }
        let big = format!(r#"{{"instance":"{}"}}"#, "a".repeat(8000));
        assert_eq!(status_of(&post("/api/start", &big, &with_token)), "413");
        assert!(!log_text().contains("waking") && !log_text().contains("stopping"), "{}", log_text());

        // A destroy holds rel-d's lock: not started by the page, a request or a connection.
        let lock_path = env.kinfra_home.join("sandbox/locks/rel-d.lock");
        std::fs::create_dir_all(lock_path.parent().expect("dir")).expect("locks");
        let held = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&lock_path)
            .expect("lock file");
        held.try_lock().expect("the lock");
        std::fs::write(&lock_path, format!("{}\tdestroy", std::process::id())).expect("holder");
        for path in ["/api/start", "/api/stop"] {
            let got = post(path, d, &with_token);
            assert_eq!(status_of(&got), "409", "{path}: {got}");
            assert!(got.contains("being removed"), "{got}");
        }
        let got = routed_get(ROUTER_ACT, "web.rel-d.localhost", "/");
        assert_eq!(status_of(&got), "503", "{got}");
        assert!(got.contains("being removed") && !got.contains("refresh"), "{got}");
        r.run(&["checkout", "rel-d"]).success().stdout_has("rel-d is checked out");
        let began = Instant::now();
        let got = raw_http(CANON_ACT, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", Duration::from_secs(20));
        assert!(got.is_empty(), "{got}");
        assert!(began.elapsed() < Duration::from_secs(10), "closed at once, not after {:?}", began.elapsed());
        assert!(log_text().contains("a connection to rel-d (port 17478) is closed: it is being removed"), "{}", log_text());
        assert!(!log_text().contains("waking"), "{}", log_text());
        drop(held);

        // Stopped, nothing destroying it: a connection wakes it and waits, and is
        // forwarded once its port answers (here: a service the test starts).
        let mut waiting = std::net::TcpStream::connect(("127.0.0.1", CANON_ACT)).expect("connect");
        waiting.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        waiting.write_all(b"GET /waited HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("write");
        crate::harness::eventually("the connection wakes rel-d", || {
            log_text().contains("waking rel-d (a connection to a checked-out port came)")
        });
        // A flood of waiting connections: 64 wait at most, the rest are closed at once.
        let flood: Vec<std::net::TcpStream> = (0..70)
            .map(|_| {
                let s = std::net::TcpStream::connect(("127.0.0.1", CANON_ACT)).expect("connect");
                s.set_nonblocking(true).expect("nonblocking");
                s
            })
            .collect();
        // A closed one reads its end at once; a waiting one has nothing yet.
        let closed = || {
            flood
                .iter()
                .filter(|s| matches!((&**s).read(&mut [0u8; 1]), Ok(0)))
                .count()
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while closed() != 7 {
            assert!(Instant::now() < deadline, "{} of the flood closed; the log: {}", closed(), log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(closed(), 7, "1 + 63 wait, 7 closed");
        drop(flood);
        assert!(log_text().contains("64 connections wait for sandboxes already"), "{}", log_text());
        // The 7 closed ones are said in at most 5 lines (the log of a flood is limited).
        let said = log_text().matches("64 connections wait for sandboxes already").count();
        assert_eq!(said, kinfra::router::note::PER_WINDOW as usize, "{}", log_text());
        let _web = Backend::start("rel-d-web", DOWN_ACT);
        let mut got = String::new();
        let _ = waiting.read_to_string(&mut got);
        assert!(got.contains("rel-d-web path=/waited"), "{got}");

        // Browser-like (the page's own origin) with the token: accepted. The
        // connection's start ended once its port answered, so this one runs; a start
        // under way is not run twice; a stop forgets it, so the next start runs.
        let page = format!("{with_token}Origin: http://kinfra.localhost:{ROUTER_ACT}\r\nSec-Fetch-Site: same-origin\r\n");
        let got = post("/api/start", d, &page);
        assert_eq!(status_of(&got), "202", "{got}");
        assert!(got.contains(r#""started":true"#), "{got}");
        let got = post("/api/start", d, &page);
        assert_eq!(status_of(&got), "202", "{got}");
        assert!(got.contains(r#""started":false"#), "{got}");
        let got = post("/api/stop", d, &page);
        assert_eq!(status_of(&got), "202", "{got}");
        assert!(got.contains(r#""action":"stop""#), "{got}");
        assert!(log_text().contains("stopping rel-d (asked from the page)"), "{}", log_text());
        let got = post("/api/start", r#"{"instance":"REL-D"}"#, &with_token);
        assert_eq!(status_of(&got), "202", "{got}");
        assert!(got.contains(r#""started":true"#) && got.contains(r#""instance":"rel-d""#), "{got}");
        assert!(log_text().contains("waking rel-d (asked from the page)"), "{}", log_text());
        assert!(r.pid().is_some(), "the router survived");
        format!("{refused} forged or bad actions refused (403/404/409/400, 413 oversize); a destroy's lock refuses start, stop, a request (503) and a connection (closed); a connection to a stopped sandbox waits and is forwarded; 64 wait at most")
    });

    t.case("router", "a forged router record is never signalled", || {
        use std::os::unix::process::CommandExt;
        let env = Env::new();
        let mut bystander = Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .expect("sleep");
        let pid = bystander.id();
        crate::harness::eventually("the bystander runs sleep", || {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|b| b.starts_with(b"sleep\0"))
        });
        let dir = env.kinfra_home.join("router");
        std::fs::create_dir_all(&dir).expect("dir");
        // Its real start time and command line, but not kinfra's mark.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let start = stat[stat.rfind(')').expect(")") + 1..]
            .split_whitespace()
            .nth(19)
            .expect("start")
            .to_string();
        let forged = serde_json::json!({"pid": pid, "start": start, "command": ["sleep", "300"], "mark": "forged"});
        std::fs::write(dir.join("router.pid"), forged.to_string()).expect("forge");
        let r = RouterGuard::adopt(&env, ROUTER_FORGED);
        let stop = r.run(&["router", "stop"]);
        stop.success().stderr_has("stale");
        assert!(matches!(bystander.try_wait(), Ok(None)), "the bystander was signalled");
        // Garbage: refused, nothing signalled, the file kept.
        std::fs::write(dir.join("router.pid"), "{not json").expect("forge");
        r.run(&["router", "stop"]).code(6);
        r.run(&["router", "start"]).code(6);
        assert!(dir.join("router.pid").exists());
        assert!(matches!(bystander.try_wait(), Ok(None)), "the bystander was signalled");
        let _ = bystander.kill();
        let _ = bystander.wait();
        "a record without kinfra's mark is stale (removed, nothing signalled); garbage is refused (exit 6)".into()
    });
}
