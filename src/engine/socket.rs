//! An engine's Docker socket, forwarded to a socket under kinfra's home over the
//! engine's one multiplexed SSH connection, so that kinfra's docker and compose calls
//! there cost no SSH login each. Docker's own `ssh://` transport runs `ssh … docker
//! system dial-stdio` for every connection it opens and takes no control path: each
//! of `up`'s docker calls (preflight, compose's own connections, the gate's polls)
//! was a new login, most of what `up` on another engine cost beyond compose's work.
//!
//! Where Docker is on that machine is what its docker CLI says (`docker context
//! inspect` in an SSH session there: what `dial-stdio` reaches), found once and
//! recorded with the engine. That record is input like the rest of the file: the
//! path is held to an absolute path of plain characters ([`docker_at`]) and only ever
//! named as the far end of `ssh -O forward -L LOCAL:REMOTE` (never dialled here).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where Docker is on the engine's machine, as its docker CLI reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DockerAt {
    /// Not found yet (an engine recorded before kinfra looked): found at the next
    /// connection, then recorded.
    #[default]
    Unknown,
    /// A socket there (its absolute path): forwarded here over the engine's connection.
    Socket(String),
    /// An endpoint a socket forward does not carry (`tcp://…`, a context of its own
    /// over `ssh://`): kinfra's docker calls go over Docker's SSH transport.
    Elsewhere(String),
}

/// The remote command that says where Docker is there: the current context's
/// endpoint (what `dial-stdio` reaches: `DOCKER_HOST`, a selected context, else the
/// default socket), or, for a docker CLI older than contexts, `DOCKER_HOST` or the
/// default socket. Kinfra's own words, nothing a caller gave.
pub const FIND: &str = "printf 'docker_host=%s\\n' \"$(docker context inspect --format '{{.Endpoints.docker.Host}}' 2>/dev/null || printf %s \"${DOCKER_HOST:-unix:///var/run/docker.sock}\")\"";

/// The `docker_host=` line of [`FIND`]'s answer (the first one), trimmed.
pub fn parse_find(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("docker_host="))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// Reads a docker host as found there or recorded (empty: not found yet). A
/// `unix://` socket must be an absolute path of letters, digits and `/ . _ -`, no
/// `..` part: it goes on an ssh command line (`-L LOCAL:REMOTE`, where a `:` would
/// split it) and names a file on that machine. Another endpoint is kept to show,
/// never dialled, so it only needs to be one of Docker's schemes in plain
/// characters. Anything else is refused with the reason. Pure.
pub fn docker_at(host: &str) -> Result<DockerAt, String> {
    let shown = || format!("{:?}", host.chars().take(80).collect::<String>());
    if host.is_empty() {
        return Ok(DockerAt::Unknown);
    }
    if let Some(path) = host.strip_prefix("unix://") {
        let plain = path.starts_with('/')
            && path.len() <= 200
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
            && !path.split('/').any(|part| part == "..");
        return if plain {
            Ok(DockerAt::Socket(path.to_string()))
        } else {
            Err(format!(
                "{} is not a socket kinfra forwards: an absolute path of letters, digits and / . _ - (no ..)",
                shown()
            ))
        };
    }
    let known = [
        "tcp://", "ssh://", "npipe://", "fd://", "http://", "https://",
    ]
    .iter()
    .any(|s| host.starts_with(s));
    let plain = host.len() <= 200
        && host.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | ':' | '@' | '[' | ']')
        });
    if known && plain {
        Ok(DockerAt::Elsewhere(host.to_string()))
    } else {
        Err(format!(
            "{} is not a Docker endpoint kinfra reads (unix://PATH, tcp://HOST:PORT, ssh://…)",
            shown()
        ))
    }
}

/// The local end of the engine's forwarded Docker socket: beside its control
/// socket, in kinfra's engines directory (only its owner may enter; ssh makes the
/// socket 0600). `None` for a path ssh's `-L` or a socket address cannot take (a
/// `:` or space in kinfra's home, or longer than a socket address holds): the calls
/// then go over Docker's SSH transport.
pub fn local_path(engines_dir: &Path, engine: &str) -> Option<PathBuf> {
    let p = engines_dir.join(format!("{engine}.docker.sock"));
    (super::plain_local_path(&p) && p.as_os_str().len() <= 100).then_some(p)
}

/// `unix://PATH`, for `DOCKER_HOST`.
pub fn unix_host(p: &Path) -> String {
    format!("unix://{}", p.display())
}

/// Why a ping through the forwarded socket got no answer.
#[derive(Debug)]
pub enum Ping {
    /// Nothing forwards here (no socket, or one whose connection is gone).
    NotForwarded(std::io::Error),
    /// The forward took the connection but no Docker answered at its far end (the
    /// engine stopped, the path is not its socket).
    NoAnswer(String),
    /// Nothing came back in time: the connection went silent.
    Silent,
}

impl std::fmt::Display for Ping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ping::NotForwarded(e) => write!(f, "nothing forwards here ({e})"),
            Ping::NoAnswer(why) => write!(f, "no Docker answered through it ({why})"),
            Ping::Silent => write!(f, "nothing answered through it in time"),
        }
    }
}

/// Asks Docker's `/_ping` through the socket, in-process (no program started): the
/// answer proves the connection, the machine and its engine answer, in one round
/// trip.
pub fn ping(sock: &Path, timeout: Duration) -> Result<(), Ping> {
    let mut s = UnixStream::connect(sock).map_err(Ping::NotForwarded)?;
    let no = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Ping::Silent,
        _ => Ping::NoAnswer(e.to_string()),
    };
    s.set_read_timeout(Some(timeout)).map_err(no)?;
    s.set_write_timeout(Some(timeout)).map_err(no)?;
    // HTTP/1.0: Docker closes the connection after its answer.
    s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(no)?;
    let mut answer = Vec::new();
    s.take(4096).read_to_end(&mut answer).map_err(no)?;
    if ping_ok(&answer) {
        Ok(())
    } else if answer.is_empty() {
        Err(Ping::NoAnswer(
            "the connection closed without an answer".into(),
        ))
    } else {
        let head = String::from_utf8_lossy(&answer);
        Err(Ping::NoAnswer(format!(
            "it answered {:?}",
            head.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(80)
                .collect::<String>()
        )))
    }
}

/// Pure: whether an HTTP answer is `200` (Docker's `/_ping` says `OK`).
pub fn ping_ok(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let mut status = text.lines().next().unwrap_or("").split_whitespace();
    status.next().is_some_and(|v| v.starts_with("HTTP/1.")) && status.next() == Some("200")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hosts_are_read_and_hostile_ones_refused() {
        assert_eq!(docker_at(""), Ok(DockerAt::Unknown));
        assert_eq!(
            docker_at("unix:///var/run/docker.sock"),
            Ok(DockerAt::Socket("/var/run/docker.sock".into()))
        );
        assert_eq!(
            docker_at("unix:///run/user/1000/docker.sock"),
            Ok(DockerAt::Socket("/run/user/1000/docker.sock".into()))
        );
        assert_eq!(
            docker_at("tcp://10.0.0.7:2376"),
            Ok(DockerAt::Elsewhere("tcp://10.0.0.7:2376".into()))
        );
        for bad in [
            "unix://",
            "unix://relative.sock",
            "unix://docker.sock",
            "unix:///a b/docker.sock",
            "unix:///tmp/x;rm -rf ~",
            "unix:///tmp/$(touch /tmp/pwned)",
            "unix:///tmp/`id`",
            "unix:///tmp/'x'",
            "unix:///var/run/../../etc/shadow",
            "unix:///var/run/..",
            "unix:///tmp/a:127.0.0.1:22",
            "unix:///tmp/x\n-oProxyCommand=sh",
            "unix:///tmp/%h.sock",
            "unix:///tmp/~x",
            "unix:///tmp/x\0",
            "unix:///-oProxyCommand=sh",
            "/var/run/docker.sock",
            "file:///var/run/docker.sock",
            "tcp://x y:1",
            "tcp://x;id",
            "ssh://u@h$(id)",
            "-oProxyCommand=sh",
        ] {
            assert!(docker_at(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(docker_at(&format!("unix:///{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn the_remote_answer_is_parsed() {
        assert_eq!(
            parse_find("docker_host=unix:///var/run/docker.sock\n").as_deref(),
            Some("unix:///var/run/docker.sock")
        );
        assert_eq!(
            parse_find("Welcome!\ndocker_host=tcp://x:2375 \ndocker_host=unix:///y\n").as_deref(),
            Some("tcp://x:2375")
        );
        assert_eq!(parse_find("docker_host=\n"), None);
        assert_eq!(parse_find("nothing"), None);
    }

    #[test]
    fn the_local_socket_is_plain_and_short() {
        let p = local_path(Path::new("/home/me/.kinfra/engines"), "box").unwrap();
        assert_eq!(p, Path::new("/home/me/.kinfra/engines/box.docker.sock"));
        assert_eq!(
            unix_host(&p),
            "unix:///home/me/.kinfra/engines/box.docker.sock"
        );
        assert!(local_path(Path::new("/home/a:b/engines"), "box").is_none());
        assert!(local_path(Path::new("/home/a b/engines"), "box").is_none());
        assert!(local_path(Path::new("relative/engines"), "box").is_none());
        assert!(local_path(&Path::new("/").join("d".repeat(100)), "box").is_none());
    }

    #[test]
    fn pings_are_read() {
        assert!(ping_ok(
            b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK"
        ));
        assert!(ping_ok(b"HTTP/1.1 200 OK\r\n\r\nOK"));
        assert!(!ping_ok(b"HTTP/1.0 500 Internal Server Error\r\n\r\n"));
        assert!(!ping_ok(b""));
        assert!(!ping_ok(b"SSH-2.0-OpenSSH_9.2\r\n"));
    }

    #[test]
    fn a_ping_tells_no_forward_from_no_answer() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
        // No socket: nothing forwards here.
        assert!(matches!(
            ping(&sock, Duration::from_secs(2)),
            Err(Ping::NotForwarded(_))
        ));
        // A listener that closes at once (ssh when the far end does not answer).
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let t = std::thread::spawn(move || {
            let (c, _) = l.accept().unwrap();
            drop(c);
            // One that answers as Docker does.
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = c.read(&mut buf);
            c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                .unwrap();
        });
        assert!(matches!(
            ping(&sock, Duration::from_secs(2)),
            Err(Ping::NoAnswer(_))
        ));
        ping(&sock, Duration::from_secs(2)).unwrap();
        t.join().unwrap();
    }
}
