//! The router's hostile input: a `Host` is only ever compared with the registry's
//! names (never a path, a command or an address), other sites' names and
//! malformed ones are refused, header and body sizes and a slow client are
//! bounded, and a forged record of the router's process is never signalled.

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::Tally;
use crate::harness::{Backend, Env, RouterGuard, raw_http, register_fake, routed_get};

const ROUTER: u16 = 18671;
const WEB: u16 = 18672;
const ROUTER_LIMITS: u16 = 18673;
const WEB_LIMITS: u16 = 18674;
const ROUTER_FORGED: u16 = 18675;
const ROUTER_CSRF: u16 = 18691;
const WEB_CSRF: u16 = 18692;
/// Nothing listens here: the sandbox it names is stopped (a request wakes it).
const DOWN_CSRF: u16 = 18693;

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
            "web.rel-a.localhost:18672@attacker.example".to_string(),
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
