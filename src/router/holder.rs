//! Who holds a port, for a refusal that names it: a container (Docker's view),
//! else the process listening on it (Linux: `/proc/net/tcp` and the processes'
//! open sockets), else "another process".

/// "container shop-web-1", "process 4242 (python3 -m http.server)" or "another process".
pub fn describe(port: u16) -> String {
    if let Ok(held) = crate::tools::docker::port_holders()
        && let Some(name) = held.get(&port)
    {
        return format!("container {name}");
    }
    match listener(port) {
        Some((pid, cmd)) => format!("process {pid} ({cmd})"),
        None => "another process".into(),
    }
}

/// The process listening on 127.0.0.1/0.0.0.0:`port`, when the system says.
fn listener(port: u16) -> Option<(u32, String)> {
    let mut inodes = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(f) {
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else {
            continue;
        };
        let owns = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|l| {
                let l = l.to_string_lossy();
                inodes.iter().any(|i| l == format!("socket:[{i}]"))
            })
        });
        if owns {
            let cmd = crate::support::process::observe(pid)
                .map(|i| i.command.join(" "))
                .unwrap_or_default();
            let cmd: String = cmd.chars().take(120).collect();
            return Some((pid, cmd));
        }
    }
    None
}

/// Pure: the inodes of sockets listening (state 0A) on `port`, from `/proc/net/tcp`.
pub fn listening_inodes(text: &str, port: u16) -> Vec<String> {
    let want = format!("{port:04X}");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = f.get(1)?;
            let (_, p) = local.rsplit_once(':')?;
            (p == want && *f.get(3)? == "0A").then(|| f.get(9).map(|s| (*s).to_string()))?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_listening_socket() {
        // Captured from /proc/net/tcp: a listener on 127.0.0.1:7355, a client of it.
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1CBB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 991234 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:9C40 0100007F:1CBB 01 00000000:00000000 00:00000000 00000000  1000        0 991240 1 0000000000000000 20 4 30 10 -1\n";
        assert_eq!(listening_inodes(text, 7355), vec!["991234"]);
        assert!(listening_inodes(text, 40000).is_empty());
        assert!(listening_inodes("garbage\nmore garbage", 7355).is_empty());
    }

    #[test]
    fn names_a_listener_of_this_process() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if cfg!(target_os = "linux") {
            let (pid, _) = listener(port).expect("found");
            assert_eq!(pid, std::process::id());
        }
    }
}
