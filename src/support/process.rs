//! What a running process is, as the operating system tells it: when it started,
//! its command line, and whether it leads its own process group. A pid alone names
//! nothing for long (the system hands it out again, and anyone can write one into a
//! file), so kinfra signals a process it recorded only while all of these still
//! match what it recorded. The parsers are pure and tested on captured text.

use serde::{Deserialize, Serialize};

/// A process as observed: what kinfra records at start and compares before signalling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// When it started, in the system's own terms: on Linux the ticks since boot
    /// (`/proc/PID/stat` field 22), on macOS `ps`'s `lstart`.
    pub start: String,
    /// Its command line as the system shows it: each argument on Linux
    /// (`/proc/PID/cmdline`), one string on macOS (`ps -o command=`).
    pub command: Vec<String>,
    /// Whether its process group is its own (pgid = pid): the group kinfra
    /// started and would signal.
    #[serde(skip)]
    pub group_leader: bool,
    /// The value of [`MARK_VAR`] in its environment, as far as the system lets it
    /// be read: `Some("")` when it has none, `None` when it cannot be told (macOS
    /// keeps another process's environment to itself).
    #[serde(skip)]
    pub mark: Option<String>,
}

/// The variable kinfra puts in a host service's environment, with a value new at
/// every start: a process that lacks it (one the user started for something
/// else, whatever a record says) is never kinfra's, and survives a shim's exec.
pub const MARK_VAR: &str = "KINFRA_HOST_MARK";

/// Pure: `/proc/PID/environ` (NUL-separated `KEY=value`) → the value of `key`,
/// empty when it has none.
pub fn environ_value(environ: &[u8], key: &str) -> String {
    environ
        .split(|b| *b == 0)
        .filter_map(|e| std::str::from_utf8(e).ok())
        .find_map(|e| e.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_default()
        .to_string()
}

/// The process `pid` as the system shows it now; `None` when there is none (or
/// it is a zombie, or the system will not say).
pub fn observe(pid: u32) -> Option<Identity> {
    if pid == 0 || i32::try_from(pid).is_err() {
        return None;
    }
    observe_os(pid)
}

#[cfg(target_os = "linux")]
fn observe_os(pid: u32) -> Option<Identity> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let (pgrp, start) = parse_stat(&stat)?;
    let command = parse_cmdline(&cmdline);
    if command.is_empty() {
        // A zombie or a kernel thread: nothing kinfra started and could stop.
        return None;
    }
    // Unreadable (another user's process) reads as no mark: never kinfra's.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    Some(Identity {
        start,
        command,
        group_leader: pgrp == i64::from(pid),
        mark: Some(environ_value(&environ, MARK_VAR)),
    })
}

#[cfg(target_os = "macos")]
fn observe_os(pid: u32) -> Option<Identity> {
    let out = crate::support::exec::Cmd::new("ps")
        .args(["-o", "pgid=", "-o", "lstart=", "-o", "command=", "-p"])
        .arg(pid.to_string())
        .timeout(std::time::Duration::from_secs(10))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_ps(&out.stdout, pid)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn observe_os(_pid: u32) -> Option<Identity> {
    None
}

/// Pure: `/proc/PID/stat` → (process group, start time). The command name (field
/// 2) is in parentheses and may hold spaces and `)`, so fields are counted after
/// the last `)`: field 3 (state) is the first there, 5 (pgrp) the third, 22
/// (starttime) the twentieth. A zombie (`Z`) or dead (`X`) process is none.
pub fn parse_stat(text: &str) -> Option<(i64, String)> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = *fields.first()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let pgrp: i64 = fields.get(2)?.parse().ok()?;
    let start = fields.get(19)?;
    start.parse::<u64>().ok()?;
    Some((pgrp, (*start).to_string()))
}

/// Pure: `/proc/PID/cmdline` (arguments ended by NUL) → the arguments.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Pure: the line `ps -o pgid= -o lstart= -o command= -p PID` prints (C locale):
/// the group, the start as five words (`Mon Dec  7 06:02:36 2026`), then the
/// command as one string.
pub fn parse_ps(text: &str, pid: u32) -> Option<Identity> {
    let line = text.lines().find(|l| !l.trim().is_empty())?.trim_start();
    let (pgid, rest) = line.split_once(char::is_whitespace)?;
    let pgid: i64 = pgid.parse().ok()?;
    let mut rest = rest.trim_start();
    let mut start = Vec::new();
    for _ in 0..5 {
        let (word, after) = rest.split_once(char::is_whitespace)?;
        start.push(word);
        rest = after.trim_start();
    }
    let command = rest.trim_end();
    if command.is_empty() {
        return None;
    }
    Some(Identity {
        start: start.join(" "),
        command: vec![command.to_string()],
        group_leader: pgid == i64::from(pid),
        mark: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured on Linux 6.x: a python http.server started by kinfra (its own group).
    const STAT: &str = "48213 (python3) S 1 48213 48213 0 -1 4194560 2311 0 0 0 12 3 0 0 20 0 1 0 8871234 27873280 4309 18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn stat_gives_group_and_start_time() {
        assert_eq!(parse_stat(STAT), Some((48213, "8871234".into())));
        // A command name with spaces and parentheses cannot shift the fields.
        let odd = STAT.replace("(python3)", "(a) b ) S 9 9)");
        assert_eq!(parse_stat(&odd), Some((48213, "8871234".into())));
        // Another group: the caller sees it is not a leader.
        let member = STAT.replacen("1 48213 48213", "1 40000 40000", 1);
        assert_eq!(parse_stat(&member), Some((40000, "8871234".into())));
    }

    #[test]
    fn stat_of_zombies_and_garbage_is_none() {
        assert_eq!(parse_stat(&STAT.replace(") S ", ") Z ")), None);
        for bad in ["", "garbage", "1 (x)", "1 (x) S 1 2", "1 (x) S 1 abc 3"] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
        let bad_start = STAT.replace(" 8871234 ", " -5 ");
        assert_eq!(parse_stat(&bad_start), None);
    }

    #[test]
    fn cmdline_splits_on_nul() {
        assert_eq!(
            parse_cmdline(b"python3\0-m\0http.server\0\0"),
            vec!["python3", "-m", "http.server", ""]
        );
        assert_eq!(parse_cmdline(b"python3\0-m\0"), vec!["python3", "-m"]);
        assert!(parse_cmdline(b"").is_empty());
        assert_eq!(parse_cmdline(b"a b\0\xff\0"), vec!["a b", "\u{fffd}"]);
    }

    #[test]
    fn ps_line_gives_group_start_and_command() {
        // Captured on macOS 14: `ps -o pgid= -o lstart= -o command= -p 7421`.
        let out = "  7421 Mon Dec  7 06:02:36 2026     uv run python main.py --port 5002\n";
        let id = parse_ps(out, 7421).expect("parsed");
        assert_eq!(id.start, "Mon Dec 7 06:02:36 2026");
        assert_eq!(id.command, vec!["uv run python main.py --port 5002"]);
        assert!(id.group_leader);
        assert!(!parse_ps(out, 7422).expect("parsed").group_leader);
        for bad in [
            "",
            "\n",
            "7421",
            "x Mon Dec 7 06:02:36 2026 cmd",
            "7421 Mon Dec 7 06:02:36 2026",
        ] {
            assert_eq!(parse_ps(bad, 7421), None, "{bad:?}");
        }
    }

    #[test]
    fn own_process_is_observed() {
        let me = observe(std::process::id());
        if cfg!(target_os = "linux") {
            let me = me.expect("/proc/self");
            assert!(!me.command.is_empty() && !me.start.is_empty());
        }
        assert_eq!(observe(0), None);
        assert_eq!(observe(u32::MAX), None);
    }
}
