//! Host services: processes local-prod runs natively beside its containers (KTRDR's
//! training host on 5002 uses the Mac's GPU; its IB gateway host on 5001). Started
//! from the clone in a process group of their own, so they outlive kinfra and a
//! stop ends their children too; pid files under kinfra's home, output appended to
//! the service's log file in the clone. They run only once allowed (`kinfra stack
//! allow`): the commands come from the repository.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::instance::Instance;
use crate::instance::error::{Error, Result};
use crate::stack::{HostService, Stack};
use crate::state::context::Context;
use crate::support::exec::Cmd;
use crate::support::process::{Identity, MARK_VAR, observe};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostState {
    pub name: String,
    pub port: u16,
    /// The process group kinfra started, when it still runs (its record matches).
    pub pid: Option<u32>,
    /// Something answers on the port (the health URL where there is one).
    pub healthy: bool,
    pub log: PathBuf,
    /// Why the service's record is not trusted (stale or unreadable), when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

impl HostState {
    pub fn label(&self) -> String {
        let base = match (self.pid, self.healthy) {
            (Some(p), true) => format!("running (pid {p})"),
            (Some(p), false) => format!("started, not answering yet (pid {p})"),
            (None, true) => "port answers, not started by kinfra".into(),
            (None, false) => "stopped".into(),
        };
        match &self.record {
            Some(why) => format!("{base}; its record is not trusted: {why}"),
            None => base,
        }
    }
}

fn pid_file(ctx: &Context, instance_id: &str, name: &str) -> PathBuf {
    ctx.home.host_dir(instance_id).join(format!("{name}.pid"))
}

/// Whether the process group `pid` still exists (signal 0 checks, sends nothing).
/// Only asked of a group kinfra started and verified ([`our_process`]): while a
/// group exists the system gives its number to no new process.
pub(crate) fn alive(pid: u32) -> bool {
    use nix::sys::signal::killpg;
    use nix::unistd::Pid;
    i32::try_from(pid).is_ok_and(|p| p > 1 && killpg(Pid::from_raw(p), None).is_ok())
}

/// What kinfra writes when it starts a host service: the process it started,
/// as the system showed it then.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    pid: i64,
    start: String,
    command: Vec<String>,
    /// The value of [`MARK_VAR`] kinfra gave the process.
    #[serde(default)]
    mark: String,
}

/// What a host service's record says about its process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No record: kinfra runs nothing for it.
    Absent,
    /// The process kinfra started, still running: the only case it is signalled.
    Ours(u32),
    /// The record names a process that is gone or is another one now: never
    /// signalled; the record is removed.
    Stale(String),
    /// The record is not one kinfra writes (garbage, a pid that cannot be its
    /// own): never signalled, kept and reported.
    Corrupt(String),
}

/// More than any record kinfra writes: a bigger file is not read whole.
const MAX_RECORD: u64 = 64 * 1024;

/// The one place that decides whether a record still names the process kinfra
/// started: its pid, start time and command line must all match the system's
/// view now, and it must still lead its own group (what `stop` signals).
pub fn our_process(path: &Path) -> Verdict {
    use std::io::Read;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Verdict::Absent,
        Err(e) => return Verdict::Corrupt(format!("it cannot be read ({e})")),
        Ok(m) if !m.is_file() => return Verdict::Corrupt("it is not a regular file".into()),
        Ok(_) => {}
    }
    let mut bytes = Vec::new();
    let read =
        std::fs::File::open(path).and_then(|f| f.take(MAX_RECORD + 1).read_to_end(&mut bytes));
    if let Err(e) = read {
        return Verdict::Corrupt(format!("it cannot be read ({e})"));
    }
    if bytes.len() as u64 > MAX_RECORD {
        return Verdict::Corrupt("it is larger than any record kinfra writes".into());
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return Verdict::Corrupt("it is not text".into());
    };
    match parse_record(&text, std::process::id()) {
        Ok((pid, recorded)) => judge(pid, &recorded, observe(pid).as_ref()),
        Err(v) => v,
    }
}

/// Pure: a record's text → the pid and the process it names; or, when the text
/// already decides, the verdict.
fn parse_record(text: &str, own_pid: u32) -> std::result::Result<(u32, Identity), Verdict> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Verdict::Stale(format!(
            "an old-format record (the pid {t} alone): kinfra cannot tell whether that process is the one it started"
        )));
    }
    let r: Record = serde_json::from_str(t)
        .map_err(|e| Verdict::Corrupt(format!("it is not a record kinfra writes ({e})")))?;
    let pid = match u32::try_from(r.pid) {
        _ if r.pid <= 0 => return Err(Verdict::Corrupt(format!("pid {} is no process's", r.pid))),
        Ok(1) => return Err(Verdict::Corrupt("pid 1 is the system's own process".into())),
        Ok(p) if i32::try_from(p).is_ok() && p != own_pid => p,
        Ok(p) if p == own_pid => {
            return Err(Verdict::Corrupt(format!("pid {p} is kinfra's own process")));
        }
        _ => return Err(Verdict::Corrupt(format!("pid {} is out of range", r.pid))),
    };
    if r.start.trim().is_empty() || r.command.is_empty() {
        return Err(Verdict::Corrupt(
            "it has no start time or no command line".into(),
        ));
    }
    if r.mark.is_empty() {
        return Err(Verdict::Stale(format!(
            "a record without kinfra's mark (pid {pid}): kinfra cannot tell whether that process is the one it started"
        )));
    }
    Ok((
        pid,
        Identity {
            start: r.start,
            command: r.command,
            group_leader: true,
            mark: Some(r.mark),
        },
    ))
}

/// Pure: the recorded process against what the system shows under its pid now.
fn judge(pid: u32, recorded: &Identity, now: Option<&Identity>) -> Verdict {
    let Some(now) = now else {
        return Verdict::Stale(format!("process {pid} has ended"));
    };
    if now.start != recorded.start {
        Verdict::Stale(format!(
            "pid {pid} is another process now (it started at another time)"
        ))
    } else if now.command != recorded.command {
        Verdict::Stale(format!(
            "pid {pid} runs another command line now ({})",
            now.command.join(" ")
        ))
    } else if now
        .mark
        .as_ref()
        .is_some_and(|m| Some(m) != recorded.mark.as_ref())
    {
        Verdict::Stale(format!(
            "process {pid} was not started by kinfra (its environment lacks kinfra's mark)"
        ))
    } else if !now.group_leader {
        Verdict::Stale(format!(
            "process {pid} no longer leads its own process group"
        ))
    } else {
        Verdict::Ours(pid)
    }
}

/// Writes the record of the process `pid` as observed.
pub(crate) fn write_record(pf: &Path, pid: u32, id: &Identity, mark: &str) -> Result<()> {
    let r = Record {
        pid: i64::from(pid),
        start: id.start.clone(),
        command: id.command.clone(),
        mark: mark.to_string(),
    };
    if let Some(parent) = pf.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("could not create", parent, e))?;
    }
    let text = serde_json::to_string(&r).unwrap_or_default();
    crate::support::fsutil::write_atomic(pf, text.as_bytes(), Some(0o600))
        .map_err(|e| Error::io("could not write", pf, e))
}

/// The process `pid` kinfra just spawned, once it runs its own program (until
/// then it shows kinfra's command line); `None` when it ended first.
pub(crate) fn settled(pid: u32) -> Option<Identity> {
    let own = observe(std::process::id()).map(|i| i.command);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        // While it execs, the system may show no command line for a moment.
        match observe(pid) {
            Some(now) if Some(&now.command) != own.as_ref() => return Some(now),
            Some(now) if Instant::now() >= deadline => return Some(now),
            None if !alive(pid) || Instant::now() >= deadline => return None,
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// The warning for a stale record, which is then removed.
fn stale_note(name: &str, pf: &Path, why: &str) -> String {
    format!(
        "host service {name}: its record {} is stale ({why}); nothing was signalled and the record is removed",
        pf.display()
    )
}

/// Refuses (exit 6, naming each) when any of the records is not one kinfra
/// wrote; nothing is signalled or removed then.
fn refuse_corrupt(verdicts: &[(String, PathBuf, Verdict)]) -> Result<()> {
    let bad: Vec<String> = verdicts
        .iter()
        .filter_map(|(n, p, v)| match v {
            Verdict::Corrupt(why) => Some(format!("{n}: {}: {why}", p.display())),
            _ => None,
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Error::HostRecordUntrusted { records: bad })
    }
}

fn healthy(h: &HostService) -> bool {
    match &h.health {
        Some(path) => crate::instance::gate::probes::http_ok(h.port, path),
        None => crate::stack::ports::in_use(h.port),
    }
}

/// The host services named (all when `names` is empty).
fn select<'s>(stack: &'s Stack, names: &[String]) -> Result<Vec<&'s HostService>> {
    crate::instance::lookup::pick(
        &stack.host,
        names,
        |s| s.name.as_str(),
        "host service",
        &stack.origin,
    )
}

pub fn status(ctx: &Context, stack: &Stack, inst: &Instance) -> Vec<HostState> {
    stack
        .host
        .iter()
        .map(|h| {
            let (pid, record) = match our_process(&pid_file(ctx, inst.id(), &h.name)) {
                Verdict::Ours(p) => (Some(p), None),
                Verdict::Absent => (None, None),
                Verdict::Stale(why) => (None, Some(format!("stale: {why}"))),
                Verdict::Corrupt(why) => (None, Some(format!("unreadable: {why}"))),
            };
            HostState {
                name: h.name.clone(),
                port: h.port,
                pid,
                healthy: healthy(h),
                log: inst.dir.join(&h.log),
                record,
            }
        })
        .collect()
}

/// Starts the named host services that are not running and waits up to `timeout`
/// for each to answer. Returns the names it started.
pub fn start(
    ctx: &Context,
    stack: &Stack,
    inst: &Instance,
    names: &[String],
    secrets: bool,
    timeout: Duration,
) -> Result<Vec<String>> {
    let chosen = select(stack, names)?;
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let secrets_plan = crate::instance::lifecycle::up::SecretsPlan::of(stack, inst);
    super::allow::require(ctx, &secrets_plan.main_clone, stack)?;
    let verdicts: Vec<(String, PathBuf, Verdict)> = chosen
        .iter()
        .map(|h| {
            let pf = pid_file(ctx, inst.id(), &h.name);
            let v = our_process(&pf);
            (h.name.clone(), pf, v)
        })
        .collect();
    refuse_corrupt(&verdicts)?;
    // Their environment: local-prod's variables and secrets, then their own.
    let mut env: Vec<(String, String)> = inst.env.compose_vars(stack, &ctx.shared_dir());
    let opts = crate::instance::UpOptions {
        secrets,
        ..Default::default()
    };
    env.extend(crate::instance::lifecycle::up::load_secrets(
        ctx,
        &secrets_plan,
        &opts,
    )?);
    let mut started = Vec::new();
    for (h, (_, pf, verdict)) in chosen.into_iter().zip(verdicts) {
        match verdict {
            Verdict::Ours(pid) => {
                ctx.reporter
                    .info(&format!("{} is running already (pid {pid})", h.name));
                continue;
            }
            Verdict::Stale(why) => {
                ctx.reporter.warn(&stale_note(&h.name, &pf, &why));
                let _ = std::fs::remove_file(&pf);
            }
            Verdict::Absent | Verdict::Corrupt(_) => {}
        }
        if crate::stack::ports::in_use(h.port) {
            return Err(Error::HostPortHeld {
                name: h.name.clone(),
                port: h.port,
            });
        }
        launch_and_wait(ctx, inst, h, &env, &pf, timeout)?;
        started.push(h.name.clone());
    }
    Ok(started)
}

/// Starts one host service and waits up to `timeout` for it to answer; once it
/// answers, its record is taken again (a script may have become its program).
fn launch_and_wait(
    ctx: &Context,
    inst: &Instance,
    h: &HostService,
    env: &[(String, String)],
    pf: &Path,
    timeout: Duration,
) -> Result<()> {
    let (pid, log_path, first, mark) = launch(ctx, inst, h, env, pf)?;
    let deadline = crate::support::timeout::deadline(Instant::now(), timeout);
    while !healthy(h) {
        if !alive(pid) {
            let _ = std::fs::remove_file(pf);
            return Err(Error::HostExited {
                name: h.name.clone(),
                log: log_path.clone(),
            });
        }
        if Instant::now() >= deadline {
            return Err(Error::HostSilent {
                name: h.name.clone(),
                pid,
                port: h.port,
                secs: timeout.as_secs(),
                log: log_path.clone(),
            });
        }
        std::thread::sleep(crate::support::timeout::nap(
            Duration::from_millis(200),
            deadline,
        ));
    }
    if let (Some(first), Some(now)) = (first, observe(pid))
        && now.start == first.start
        && now.group_leader
        && now.command != first.command
    {
        write_record(pf, pid, &now, &mark)?;
    }
    Ok(())
}

/// Starts one host service in its own process group, its output appended to its
/// log, and records the process (pid, start time, command line) in `pf`. Returns
/// the pid, the log's path and the process as recorded.
fn launch(
    ctx: &Context,
    inst: &Instance,
    h: &HostService,
    env: &[(String, String)],
    pf: &Path,
) -> Result<(u32, PathBuf, Option<Identity>, String)> {
    let clone = inst.dir.display().to_string();
    let dir =
        crate::support::fsutil::resolve_inside(&inst.dir, Path::new(&h.dir)).map_err(|why| {
            Error::HostPath {
                name: h.name.clone(),
                what: "dir",
                path: h.dir.clone(),
                why,
            }
        })?;
    let log_path =
        crate::support::fsutil::resolve_inside(&inst.dir, Path::new(&h.log)).map_err(|why| {
            Error::HostPath {
                name: h.name.clone(),
                what: "log",
                path: h.log.clone(),
                why,
            }
        })?;
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("could not create", parent, e))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io("could not open the log", &log_path, e))?;
    let own: Vec<(String, String)> = h
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.replace("{clone}", &clone)))
        .collect();
    ctx.reporter.step(&format!(
        "Starting host service {} on port {} (log {})",
        h.name,
        h.port,
        log_path.display()
    ));
    let mark = new_mark();
    let pid = Cmd::new(&h.command[0])
        .args(&h.command[1..])
        .current_dir(&dir)
        .envs(
            env.iter()
                .chain(own.iter())
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain([(MARK_VAR, mark.as_str())]),
        )
        .spawn_service(log)?;
    let first = settled(pid);
    if let Some(id) = &first {
        write_record(pf, pid, id, &mark)?;
    }
    Ok((pid, log_path, first, mark))
}

/// A value no other process has in its environment: 128 bits from the system's
/// random source (a clock-and-hash mix where it cannot be read).
pub(crate) fn new_mark() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        bytes[..8].copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stops the named host services kinfra started: SIGTERM to the process group,
/// SIGKILL after 10 s. Returns the names it stopped.
pub fn stop(
    ctx: &Context,
    stack: &Stack,
    inst: &Instance,
    names: &[String],
) -> Result<Vec<String>> {
    let records = select(stack, names)?
        .into_iter()
        .map(|h| (h.name.clone(), pid_file(ctx, inst.id(), &h.name)))
        .collect();
    stop_records(ctx, records)
}

/// Stops every host service recorded for the instance `instance_id` (those the
/// description declares and any other record left in its directory), for
/// `local-prod destroy`; the directory goes when nothing is left in it.
pub fn stop_all(ctx: &Context, stack: &Stack, instance_id: &str) -> Result<Vec<String>> {
    let dir = ctx.home.host_dir(instance_id);
    let mut records: Vec<(String, PathBuf)> = stack
        .host
        .iter()
        .map(|h| (h.name.clone(), pid_file(ctx, instance_id, &h.name)))
        .collect();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "pid") && !records.iter().any(|(_, r)| r == &p) {
                let name = p.file_stem().map(|s| s.to_string_lossy().into_owned());
                records.push((name.unwrap_or_default(), p));
            }
        }
    }
    let stopped = stop_records(ctx, records)?;
    let _ = std::fs::remove_dir(&dir);
    Ok(stopped)
}

/// Signals each recorded process that [`our_process`] says is still kinfra's;
/// a stale record is said and removed, an untrusted one refuses the whole
/// command before anything is signalled.
fn stop_records(ctx: &Context, records: Vec<(String, PathBuf)>) -> Result<Vec<String>> {
    let verdicts: Vec<(String, PathBuf, Verdict)> = records
        .into_iter()
        .map(|(n, p)| {
            let v = our_process(&p);
            (n, p, v)
        })
        .collect();
    refuse_corrupt(&verdicts)?;
    let mut stopped = Vec::new();
    for (name, pf, verdict) in verdicts {
        match verdict {
            Verdict::Ours(pid) => {
                ctx.reporter
                    .step(&format!("Stopping host service {name} (pid {pid})"));
                end_group(pid);
                let _ = std::fs::remove_file(&pf);
                stopped.push(name);
            }
            Verdict::Stale(why) => {
                ctx.reporter.warn(&stale_note(&name, &pf, &why));
                let _ = std::fs::remove_file(&pf);
            }
            Verdict::Absent | Verdict::Corrupt(_) => {}
        }
    }
    Ok(stopped)
}

/// SIGTERM to the process group `pid` (verified as kinfra's), SIGKILL to what is
/// left of it after 10 s. Checking the group, not the leader, is safe here: the
/// number of a group that still exists is given to no new process.
pub(crate) fn end_group(pid: u32) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(pid) else {
        return;
    };
    let group = Pid::from_raw(raw);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = crate::support::timeout::deadline(Instant::now(), Duration::from_secs(10));
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(crate::support::timeout::nap(
            Duration::from_millis(100),
            deadline,
        ));
    }
    if alive(pid) {
        let _ = killpg(group, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(start: &str, command: &[&str], leader: bool) -> Identity {
        Identity {
            mark: Some("m".into()),
            start: start.into(),
            command: command.iter().map(|s| (*s).to_string()).collect(),
            group_leader: leader,
        }
    }

    const GOOD: &str =
        r#"{"pid":4242,"start":"8871234","command":["python3","-m","http.server"],"mark":"m"}"#;

    #[test]
    fn a_record_names_a_pid_and_a_process() {
        let (pid, rec) = parse_record(GOOD, 99).expect("a record");
        assert_eq!(pid, 4242);
        assert_eq!(rec, id("8871234", &["python3", "-m", "http.server"], true));
    }

    #[test]
    fn a_record_without_kinfras_mark_is_stale_never_signalled() {
        for text in [
            GOOD.replace(r#","mark":"m""#, ""),
            GOOD.replace(r#""mark":"m""#, r#""mark":"""#),
        ] {
            assert!(
                matches!(parse_record(&text, 99), Err(Verdict::Stale(w)) if w.contains("mark")),
                "{text}"
            );
        }
        let environ = b"PATH=/bin\0KINFRA_HOST_MARK=abc\0KINFRA_HOST_MARKX=no\0";
        assert_eq!(
            crate::support::process::environ_value(environ, MARK_VAR),
            "abc"
        );
        assert_eq!(
            crate::support::process::environ_value(b"PATH=/bin\0", MARK_VAR),
            ""
        );
    }

    #[test]
    fn an_old_pid_file_is_stale_never_signalled() {
        for old in ["4242", "4242\n", " 1 "] {
            assert!(
                matches!(parse_record(old, 99), Err(Verdict::Stale(w)) if w.contains("old-format")),
                "{old:?}"
            );
        }
    }

    #[test]
    fn forged_or_garbage_records_are_corrupt() {
        let with_pid = |p: &str| GOOD.replace("4242", p);
        let cases = [
            (String::new(), "not a record"),
            ("garbage".into(), "not a record"),
            ("-5".into(), "not a record"),
            ("\u{0}\n4242".into(), "not a record"),
            (with_pid("1"), "system's own"),
            (with_pid("0"), "no process"),
            (with_pid("-42"), "no process"),
            (with_pid("99"), "kinfra's own"),
            (with_pid("2147483648"), "out of range"),
            (with_pid("99999999999999999999999"), "not a record"),
            (GOOD.replace("\"8871234\"", "\"\""), "no start time"),
            (
                GOOD.replace(r#"["python3","-m","http.server"]"#, "[]"),
                "no command",
            ),
            (GOOD.replace('}', r#","extra":1}"#), "not a record"),
        ];
        for (text, says) in cases {
            match parse_record(&text, 99) {
                Err(Verdict::Corrupt(w)) => assert!(w.contains(says), "{text:?}: {w}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn only_the_same_process_is_ours() {
        let rec = id("100", &["srv", "--port", "5002"], true);
        assert_eq!(judge(7, &rec, Some(&rec.clone())), Verdict::Ours(7));
        let stale = |now: Option<&Identity>, says: &str| match judge(7, &rec, now) {
            Verdict::Stale(w) => assert!(w.contains(says), "{w}"),
            v => panic!("{v:?}"),
        };
        stale(None, "has ended");
        // The pid reused: same number, another start.
        stale(
            Some(&id("101", &["srv", "--port", "5002"], true)),
            "another process",
        );
        stale(
            Some(&id("100", &["sleep", "1000"], true)),
            "another command line",
        );
        stale(
            Some(&id("100", &["srv", "--port", "5002"], false)),
            "process group",
        );
    }

    #[test]
    fn a_missing_or_odd_record_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(our_process(&dir.path().join("none.pid")), Verdict::Absent);
        assert!(
            matches!(our_process(dir.path()), Verdict::Corrupt(w) if w.contains("regular file"))
        );
        let big = dir.path().join("big.pid");
        std::fs::write(&big, vec![b'1'; 70_000]).expect("write");
        assert!(matches!(our_process(&big), Verdict::Corrupt(w) if w.contains("larger")));
        let bin = dir.path().join("bin.pid");
        std::fs::write(&bin, [0xff, 0xfe]).expect("write");
        assert!(matches!(our_process(&bin), Verdict::Corrupt(w) if w.contains("not text")));
    }

    #[test]
    fn a_record_of_a_live_child_is_ours_until_it_ends() {
        // Started as kinfra starts a service (its own group), through the one wrapper.
        let dir = tempfile::tempdir().expect("tempdir");
        let log = || std::fs::File::create(dir.path().join("log")).expect("log");
        let pid = Cmd::new("sleep")
            .arg("30")
            .env(MARK_VAR, "m1")
            .spawn_service(log())
            .expect("sleep");
        // A process like it that kinfra did not start: the same command line, its
        // own group, no mark (a record can name it with its true start time).
        let other = Cmd::new("sleep")
            .arg("30")
            .spawn_service(log())
            .expect("sleep");
        let now = settled(pid).expect("running");
        let pf = dir.path().join("s.pid");
        write_record(&pf, pid, &now, "m1").expect("record");
        if cfg!(target_os = "linux") {
            assert_eq!(our_process(&pf), Verdict::Ours(pid));
            write_record(&pf, pid, &now, "m2").expect("record");
            assert!(matches!(our_process(&pf), Verdict::Stale(w) if w.contains("mark")));
            let theirs = settled(other).expect("running");
            write_record(&pf, other, &theirs, "m1").expect("record");
            assert!(
                matches!(our_process(&pf), Verdict::Stale(w) if w.contains("not started by kinfra"))
            );
        }
        let forged = Record {
            pid: i64::from(pid),
            start: format!("{}1", now.start),
            command: now.command.clone(),
            mark: "m1".into(),
        };
        std::fs::write(&pf, serde_json::to_string(&forged).expect("json")).expect("write");
        assert!(matches!(our_process(&pf), Verdict::Stale(_)));
        for p in [pid, other] {
            let _ = Cmd::new("kill").arg(p.to_string()).run();
        }
    }
}
