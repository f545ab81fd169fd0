//! What an instance placed on another machine's engine needs there: every docker call
//! sent to it, its code mirrored under the remote user's home, its published ports
//! forwarded to this machine's 127.0.0.1 over one multiplexed SSH connection per
//! engine, and on destroy its mirror removed. Nothing on the remote machine is ever
//! removed outside `~/.kinfra/mirrors/<instance>` (and the compose project, which
//! goes through Docker like a local one's).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::socket::{self, DockerAt, Ping};
use super::{CONNECT_SECS, Engine, MIRRORS_DIR};
use crate::engine::error::{EngineError, Result};
use crate::state::context::Context;
use crate::support::exec::Cmd;

/// The engine an instance is placed on (`None`: this machine's).
pub fn placement(ctx: &Context, id: &str) -> Result<Option<Engine>> {
    let c = ctx.registry().load()?;
    let Some(name) = c.kinfra.placements.get(id) else {
        return Ok(None);
    };
    match c.kinfra.engines.get(name) {
        Some(r) => Engine::from_record(name, r).map(|e| Some(e.controlled(ctx))),
        None => Err(EngineError::NoSuchEngine {
            name: name.clone(),
            known: c.kinfra.engines.keys().cloned().collect(),
        }),
    }
}

/// One round trip: the machine answers and so does its Docker engine (what Docker's
/// SSH transport reaches: `docker` in an SSH session there).
const ANSWERS: &str = "docker version --format '{{.Server.Version}}'";

/// Sends this call's docker and compose calls (those of its thread,
/// [`crate::tools::docker::EngineScope`]) to the engine, after a fast check that its
/// machine and its Docker engine answer (seconds, not the kernel's minutes: exit 7
/// naming it): through its Docker socket forwarded over the engine's one SSH
/// connection (made when it is not up), else over Docker's SSH transport.
pub fn connect(ctx: &Context, e: &Engine) -> Result<()> {
    if crate::tools::docker::engine_in_use().is_some_and(|(n, _)| n == e.name) {
        return Ok(());
    }
    let host = docker_host(ctx, e)?;
    Ok(crate::tools::docker::use_engine(&e.name, &host)?)
}

/// As [`connect`], for a look at an engine outside a command on one of its
/// sandboxes (another engine's snapshots): its forwarded socket when that answers
/// now, else Docker's SSH transport; no connection is made for it.
pub fn enter(e: &Engine) -> Result<()> {
    if crate::tools::docker::engine_in_use().is_some_and(|(n, _)| n == e.name) {
        return Ok(());
    }
    let host = e.live_host();
    if host == e.url {
        answers(e)?;
    }
    Ok(crate::tools::docker::use_engine(&e.name, &host)?)
}

/// After this command's connection may have dropped (a failed start, before it
/// undoes what it did): the engine's connection and socket made again if need be,
/// and this thread's calls sent where that leaves them. `false`: the engine does
/// not answer now.
pub fn reenter(ctx: &Context, e: &Engine) -> bool {
    match docker_host(ctx, e) {
        Ok(host) => crate::tools::docker::use_engine(&e.name, &host).is_ok(),
        Err(_) => false,
    }
}

/// How long a ping through the forwarded socket may take: Docker answers `/_ping`
/// in milliseconds; a connection that says nothing for this long is stuck.
const PING: Duration = Duration::from_secs(5);

/// Where this command's docker calls to the engine go, once it answers there:
/// `unix://` of its forwarded socket (its connection and the forward made when
/// missing), or its `ssh://` address when its Docker is not on a socket kinfra can
/// forward, or the forward does not carry (said, and the calls still work).
fn docker_host(ctx: &Context, e: &Engine) -> Result<String> {
    let Some(local) = e.socket.clone() else {
        answers(e)?;
        return Ok(e.url.clone());
    };
    // The forward is there and Docker answers through it: no login at all.
    let ours = e.connection_is_to_this_address();
    match socket::ping(&local, PING).and_then(|()| {
        if ours {
            Ok(())
        } else {
            Err(Ping::NoAnswer("made for another address".into()))
        }
    }) {
        Ok(()) => return Ok(socket::unix_host(&local)),
        // Its connection went silent: Docker's own transport says what is wrong.
        Err(Ping::Silent) => {
            answers(e)?;
            return fallback(ctx, e, &Ping::Silent);
        }
        Err(_) => {}
    }
    ensure_connection(ctx, e)?;
    let Some(remote) = remote_socket(ctx, e)? else {
        answers(e)?;
        return Ok(e.url.clone());
    };
    if let Err(err) = forward_socket(ctx, e, &local, &remote) {
        answers(e)?;
        return fallback(ctx, e, &Ping::NoAnswer(err.to_string()));
    }
    match socket::ping(&local, PING) {
        Ok(()) => Ok(socket::unix_host(&local)),
        // The engine stopped (exit 7, Docker's own words), or the forward does not
        // reach it though the engine answers: the calls go the slow way.
        Err(why) => {
            answers(e)?;
            fallback(ctx, e, &why)
        }
    }
}

/// Docker's SSH transport for this command, said once (a warning: the calls work,
/// each an SSH login).
fn fallback(ctx: &Context, e: &Engine, why: &Ping) -> Result<String> {
    ctx.reporter.warn(&format!(
        "could not reach Docker on {} through its forwarded socket ({why}): this command's docker calls go over Docker's SSH transport (an SSH login each)",
        e.name
    ));
    Ok(e.url.clone())
}

/// Docker's socket on the engine's machine: as recorded, else found now (through
/// the engine's connection, which must be up) and recorded. `None`: its Docker is
/// not on a socket kinfra forwards.
fn remote_socket(ctx: &Context, e: &Engine) -> Result<Option<String>> {
    match &e.docker_at {
        DockerAt::Socket(p) => return Ok(Some(p.clone())),
        DockerAt::Elsewhere(_) => return Ok(None),
        DockerAt::Unknown => {}
    }
    let out = e
        .ssh(socket::FIND)
        .timeout(Duration::from_secs(CONNECT_SECS + 10))
        .run()
        .map_err(|err| e.unreachable(err))?;
    let found = socket::parse_find(&out).unwrap_or_default();
    let at = match socket::docker_at(&found) {
        Ok(at) => at,
        Err(why) => {
            ctx.reporter.warn(&format!(
                "where Docker is on {}: {why}; its docker calls go over Docker's SSH transport (an SSH login each)",
                e.name
            ));
            return Ok(None);
        }
    };
    // Recorded for the next commands, unless the record changed meanwhile.
    let (name, url) = (e.name.clone(), e.url.clone());
    ctx.registry().update(|c| {
        if let Some(r) = c.kinfra.engines.get_mut(&name)
            && r.url == url
            && r.docker_host.is_empty()
        {
            r.docker_host = found.clone();
        }
        Ok(())
    })?;
    Ok(match at {
        DockerAt::Socket(p) => Some(p),
        _ => None,
    })
}

/// Forwards the local socket to Docker's socket there over the engine's
/// connection (a forward it already has is fine: ssh answers yes again). The remote
/// path was checked plain ([`socket::docker_at`]); it is only ever this far end.
fn forward_socket(ctx: &Context, e: &Engine, local: &Path, remote: &str) -> Result<()> {
    mux_forward(ctx, e, "forward", &format!("{}:{remote}", local.display()))
        .run()
        .map_err(|err| e.unreachable(err))?;
    Ok(())
}

fn answers(e: &Engine) -> Result<()> {
    e.ssh(ANSWERS)
        .timeout(Duration::from_secs(CONNECT_SECS + 10))
        .run()
        .map_err(|err| e.unreachable(err))?;
    Ok(())
}

/// For a command on the instance `id`: sends its docker calls to the engine it is
/// placed on, if any.
pub fn route(ctx: &Context, id: &str) -> Result<Option<Engine>> {
    let placed = placement(ctx, id)?;
    if let Some(e) = &placed {
        connect(ctx, e)?;
    } else if let Some((name, _)) = crate::tools::docker::engine_in_use() {
        return Err(EngineError::OnAnotherEngine {
            engine: name.clone(),
            id: id.into(),
        });
    }
    Ok(placed)
}

/// The compose-labelled containers on the engine, after a fast check that its
/// machine answers (for `list`, which shows every engine's instances): through its
/// forwarded socket when that answers now (the ping is the check), else over
/// Docker's SSH transport. Starts no connection.
pub fn containers(e: &Engine) -> Result<Vec<crate::tools::docker::Container>> {
    let host = e.live_host();
    if host == e.url {
        answers(e)?;
    }
    crate::tools::docker::containers_at(&host).map_err(|err| e.unreachable(err))
}

/// One remote shell command line, kinfra's own: the kernel's tables of TCP
/// sockets, or `noproc` where there are none to read (not Linux).
const LISTENING: &str = "if [ -r /proc/net/tcp ]; then cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true; else echo noproc; fi";

/// The TCP ports something listens on at the engine's machine (any address), in
/// one SSH round trip: a port kinfra gives an instance there must be free there as
/// well as here, where it is forwarded. `None`: that machine has no
/// `/proc/net/tcp` to read (a Mac), so only its containers' ports are known.
pub fn listening(e: &Engine) -> Result<Option<std::collections::BTreeSet<u16>>> {
    let out = e
        .ssh(LISTENING)
        .timeout(Duration::from_secs(CONNECT_SECS + 10))
        .run()
        .map_err(|err| e.unreachable(err))?;
    Ok(parse_listening(&out))
}

/// Pure: the ports in state LISTEN (`0A`) of `/proc/net/tcp` and `tcp6` text;
/// `None` for the `noproc` answer.
pub fn parse_listening(text: &str) -> Option<std::collections::BTreeSet<u16>> {
    if text.lines().any(|l| l.trim() == "noproc") {
        return None;
    }
    let mut ports = std::collections::BTreeSet::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(_sl), Some(local), Some(_remote), Some(state)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        if state != "0A" {
            continue;
        }
        if let Some((_, port)) = local.rsplit_once(':')
            && let Ok(p) = u16::from_str_radix(port, 16)
        {
            ports.insert(p);
        }
    }
    Some(ports)
}

/// A remote path kinfra writes into a remote shell's command line: absolute, of
/// characters no shell reads specially.
pub(crate) fn plain_remote_path(p: &str) -> Result<()> {
    let ok = p.starts_with('/')
        && !p.contains("/../")
        && !p.ends_with("/..")
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::UnsafeRemotePath { path: p.into() })
    }
}

/// `~/.kinfra/mirrors/<id>` on the engine's machine.
pub fn mirror_dir(e: &Engine, id: &str) -> Result<String> {
    if !crate::support::slug::is_valid_project_name(id) {
        return Err(EngineError::NotMirrorable { id: id.into() });
    }
    let d = format!("{}/{MIRRORS_DIR}/{id}", e.remote_home.trim_end_matches('/'));
    plain_remote_path(&d)?;
    Ok(d)
}

/// `ssh` as rsync's `-e` runs it: rsync splits that string on whitespace and reads
/// quotes, so it is made of words that have neither (the user and port checked by
/// [`super::SshTarget::parse`], the control path by [`super::plain_local_path`]),
/// through the engine's connection while that is up (no new login per pass).
fn rsync_shell(e: &Engine) -> String {
    let mut words: Vec<String> = [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        &format!("ConnectTimeout={CONNECT_SECS}"),
        "-l",
        &e.target.user,
    ]
    .map(String::from)
    .to_vec();
    if let Some(p) = e.target.port {
        words.extend(["-p".to_string(), p.to_string()]);
    }
    words.extend(e.control_options());
    words.join(" ")
}

/// Mirrors the worktree to the instance's directory on the engine's machine:
/// one-way, deletions included, `.git` left out. `kept` (paths under the worktree a
/// container writes to, see [`writable_binds`]) get no deletions and no file a
/// container changed there is replaced (they hold the containers' data).
/// Returns the mirror's path there.
pub fn mirror(ctx: &Context, e: &Engine, id: &str, dir: &Path, kept: &[String]) -> Result<String> {
    let remote = mirror_dir(e, id)?;
    // Not beside a pass of the keeper: each rsync's --delete would remove the
    // other's files in flight (their temporary names are not in the worktree).
    let _pass = pass_lock(ctx, id);
    // The directory is made by the same remote command that runs rsync there (one
    // round trip, not a login for `mkdir` and another for rsync), and only the
    // engine's user may look in: the worktree's untracked files (`.env` files, keys)
    // travel with it, and that machine may have other users.
    let mirrors = format!("{}/{MIRRORS_DIR}", e.remote_home.trim_end_matches('/'));
    let make = format!("umask 077 && mkdir -p -- '{remote}' && chmod 700 -- '{mirrors}' && rsync");
    rsync(e, dir, &remote, Some(&make), kept)?;
    update_kept(e, dir, &remote, kept)?;
    Ok(remote)
}

/// The kept paths' pass: what is missing there or older there than here is sent;
/// nothing there is deleted, and a file a container changed since (newer there) is
/// left alone. An edit here still reaches the engine; a container's data stays.
pub(crate) fn update_kept(e: &Engine, dir: &Path, remote: &str, kept: &[String]) -> Result<()> {
    // `-R` with `DIR/./PATH`: each is sent to the same PATH under the mirror.
    let sources: Vec<PathBuf> = kept
        .iter()
        .map(|k| dir.join(".").join(k))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect();
    if sources.is_empty() {
        return Ok(());
    }
    Cmd::new("rsync")
        .args(["-a", "-R", "--update", "--exclude=.git", NANOSECONDS, "-e"])
        .arg(rsync_shell(e))
        .arg("--")
        .args(&sources)
        .arg(format!("{}:{remote}/", e.target.user_at_host()))
        .timeout(Duration::from_secs(1800))
        .run()
        .map_err(|err| mirror_failed(e, err))?;
    Ok(())
}

/// rsync's quick check compares modification times in whole seconds by default: an
/// edit of the same size within the second of the one before (a save, then
/// another) looked unchanged and never reached the engine, however many passes
/// ran. A negative window compares nanoseconds too (rsync 3.1.3 or later on the
/// engine's machine; an older one sends such files every pass, never too few).
const NANOSECONDS: &str = "--modify-window=-1";

fn mirror_failed(e: &Engine, err: crate::support::exec::ExecError) -> EngineError {
    EngineError::EngineUnfit {
        name: e.name.clone(),
        why: Box::new((
            e.url.clone(),
            super::error::Unfit::NotMirrored {
                why: err.to_string(),
            },
        )),
    }
}

/// The worktree-relative paths a service mounts writable (a bind without
/// `read_only` under the worktree, not the worktree itself): the containers' data
/// lives there on the engine, so the mirror must not delete it or replace what a
/// container changed. A path
/// rsync would read as a pattern is left out (it is then mirrored like the rest).
/// Pure.
pub fn writable_binds(doc: &serde_json::Value, worktree: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Some(services) = doc.get("services").and_then(|s| s.as_object()) else {
        return out;
    };
    for svc in services.values() {
        let Some(vols) = svc.get("volumes").and_then(|v| v.as_array()) else {
            continue;
        };
        for v in vols {
            if v.get("type").and_then(|t| t.as_str()) != Some("bind")
                || v.get("read_only").and_then(|r| r.as_bool()) == Some(true)
            {
                continue;
            }
            let Some(rel) = v
                .get("source")
                .and_then(|s| s.as_str())
                .and_then(|s| s.strip_prefix(worktree))
                .and_then(|r| r.strip_prefix('/'))
                .map(|r| r.trim_end_matches('/'))
            else {
                continue;
            };
            if plain_relative(rel) && !out.iter().any(|o| o == rel) {
                out.push(rel.to_string());
            }
        }
    }
    out
}

/// A path under the worktree rsync takes literally and that stays under it (and
/// under the mirror): no pattern characters, no empty, `.` or `..` part.
fn plain_relative(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.contains(['*', '?', '[', '\\', '\n', '\r'])
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Where `up` leaves the instance's kept paths for its keeper and `sync-code`.
fn kept_file(ctx: &Context, id: &str) -> PathBuf {
    ctx.home.engine_dir().join(format!("{id}.kept"))
}

/// Records the instance's kept paths (see [`writable_binds`]).
pub fn record_kept(ctx: &Context, id: &str, kept: &[String]) -> Result<()> {
    let f = kept_file(ctx, id);
    if let Some(d) = f.parent() {
        std::fs::create_dir_all(d).map_err(|err| EngineError::io("could not create", d, err))?;
    }
    let text: String = kept.iter().map(|k| format!("{k}\n")).collect();
    crate::support::fsutil::write_atomic(&f, text.as_bytes(), Some(0o600))
        .map_err(|err| EngineError::io("could not write", &f, err))
}

/// Forgets the instance's kept paths (on destroy; `down` keeps them: the data stays
/// in the mirror and a later `sync-code` must leave it alone).
pub fn forget_kept(ctx: &Context, id: &str) {
    let _ = std::fs::remove_file(kept_file(ctx, id));
}

/// The instance's kept paths as `up` recorded them (none when it never ran), each
/// checked again: the file is read back, and a `..` in it would send files from
/// outside the worktree to outside the mirror.
pub fn kept(ctx: &Context, id: &str) -> Vec<String> {
    parse_kept(&std::fs::read_to_string(kept_file(ctx, id)).unwrap_or_default())
}

fn parse_kept(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| plain_relative(l))
        .map(String::from)
        .collect()
}

/// One rsync pass of the worktree into the mirror, the kept paths left alone (an
/// excluded path is neither sent nor deleted there); `rsync_path` is the remote
/// command that runs rsync there (kinfra's own, its path checked plain).
pub(crate) fn rsync(
    e: &Engine,
    dir: &Path,
    remote: &str,
    rsync_path: Option<&str>,
    kept: &[String],
) -> Result<()> {
    let mut src = dir.as_os_str().to_owned();
    src.push("/");
    let mut cmd = Cmd::new("rsync")
        .args(["-a", "--delete", "--exclude=.git", NANOSECONDS])
        .args(kept.iter().map(|k| format!("--exclude=/{k}")))
        .arg("-e")
        .arg(rsync_shell(e));
    if let Some(p) = rsync_path {
        cmd = cmd.arg(format!("--rsync-path={p}"));
    }
    cmd.arg("--")
        .arg(src)
        .arg(format!("{}:{remote}/", e.target.user_at_host()))
        .timeout(Duration::from_secs(1800))
        .run()
        .map_err(|err| mirror_failed(e, err))?;
    Ok(())
}

/// The file whose content names the keeper that may run for an instance: a keeper
/// whose token is no longer there ends (a new `up`, `down` or `destroy` replaced or
/// removed it), so stopping one needs no signal.
pub(crate) fn keeper_file(ctx: &Context, id: &str) -> PathBuf {
    ctx.home.engine_dir().join(format!("{id}.keeper"))
}

/// Starts the keeper of a remote instance (detached `kinfra internal keep-mirrored`),
/// replacing any earlier one.
pub fn start_keeper(ctx: &Context, id: &str) -> Result<()> {
    let token = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let f = keeper_file(ctx, id);
    if let Some(d) = f.parent() {
        std::fs::create_dir_all(d).map_err(|err| EngineError::io("could not create", d, err))?;
    }
    crate::support::fsutil::write_atomic(&f, token.as_bytes(), Some(0o600))
        .map_err(|err| EngineError::io("could not write", &f, err))?;
    let exe = std::env::current_exe()
        .map_err(|err| EngineError::io("could not find kinfra's own program", "kinfra", err))?;
    Cmd::new(exe)
        .args(["internal", "keep-mirrored", id, &token])
        .spawn_detached()
        .map_err(EngineError::from)?;
    Ok(())
}

/// Held by the keeper during each pass, so that stopping it can wait for a pass in
/// flight (an rsync would make the mirror again after `destroy` removed it).
pub(crate) fn pass_lock(ctx: &Context, id: &str) -> Option<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(keeper_file(ctx, id).with_extension("lock"))
        .ok()?;
    f.lock().ok()?;
    Some(f)
}

/// Stops the instance's keeper: its token goes, then a pass in flight is waited for.
pub fn stop_keeper(ctx: &Context, id: &str) {
    let f = keeper_file(ctx, id);
    if std::fs::remove_file(&f).is_ok() {
        drop(pass_lock(ctx, id));
    }
    let _ = std::fs::remove_file(f.with_extension("lock"));
}

/// Whether the engine's connection is up, to the address it has now (one up to
/// an address the record no longer names is ended: it reaches another place).
pub(crate) fn connected(ctx: &Context, e: &Engine) -> bool {
    let up = mux(ctx, e, "check")
        .arg("--")
        .arg(&e.target.host)
        .timeout(Duration::from_secs(5))
        .run()
        .is_ok();
    let made_for = std::fs::read_to_string(control_path(ctx, e).with_extension("url"));
    if up && !made_for.is_ok_and(|u| u == e.url) {
        disconnect(ctx, e);
        return false;
    }
    up
}

/// Removes the instance's mirror on the engine's machine (and nothing else).
pub fn remove_mirror(e: &Engine, id: &str) -> Result<()> {
    let remote = mirror_dir(e, id)?;
    e.ssh(&format!("rm -rf -- '{remote}'"))
        .timeout(Duration::from_secs(120))
        .run()
        .map_err(|err| e.unreachable(err))?;
    Ok(())
}

pub(crate) fn control_path(ctx: &Context, e: &Engine) -> PathBuf {
    ctx.home.engine_dir().join(format!("{}.ctl", e.name))
}

fn mux(ctx: &Context, e: &Engine, op: &str) -> Cmd {
    super::ssh_base(&e.target)
        .arg("-o")
        .arg(format!("ControlPath={}", control_path(ctx, e).display()))
        .args(["-O", op])
}

/// `ssh -O forward|cancel -L SPEC` on the engine's connection: a port forward
/// and the Docker socket's are made and ended alike.
fn mux_forward(ctx: &Context, e: &Engine, op: &str, spec: &str) -> Cmd {
    mux(ctx, e, op)
        .arg("-L")
        .arg(spec)
        .arg("--")
        .arg(&e.target.host)
        .timeout(Duration::from_secs(10))
}

/// A port forwarded to the same port on the engine's machine, on 127.0.0.1 at both ends.
fn port_spec(p: u16) -> String {
    format!("127.0.0.1:{p}:127.0.0.1:{p}")
}

/// The engine's one multiplexed SSH connection, started when it is not running. It
/// outlives this command (the forwards live in it); a later command finds it by its
/// control socket under kinfra's home, and starts it again when it dropped.
pub fn ensure_connection(ctx: &Context, e: &Engine) -> Result<()> {
    let check = || connected(ctx, e);
    if check() {
        return Ok(());
    }
    let dir = engines_dir(ctx)?;
    // One maker at a time (a command and the keeper may both find it down): a
    // second master could not bind the control socket and would stay on as a
    // plain connection nobody ends.
    let _making = make_lock(&dir, e);
    if check() {
        return Ok(());
    }
    let sock = control_path(ctx, e);
    // A socket whose master is gone (`check` failed) is only in the way.
    let _ = std::fs::remove_file(&sock);
    let log_path = dir.join(format!("{}.log", e.name));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|err| EngineError::io("could not open", &log_path, err))?;
    let logged = log.metadata().map(|m| m.len()).unwrap_or(0);
    let pid = super::ssh_base(&e.target)
        .args(["-M", "-N", "-o", "ControlPersist=no"])
        .arg("-o")
        .arg(format!("ControlPath={}", sock.display()))
        // The forwarded Docker socket: only its owner may use it (whatever the
        // user's ssh config says), and one a dropped connection left behind is
        // replaced, not a reason to fail.
        .args([
            "-o",
            "StreamLocalBindMask=0177",
            "-o",
            "StreamLocalBindUnlink=yes",
        ])
        .arg("--")
        .arg(&e.target.host)
        .spawn_service(log)
        .map_err(|err| e.unreachable(err))?;
    let deadline = Instant::now() + Duration::from_secs(CONNECT_SECS + 10);
    // The address it is made to, beside it: a later record with another one does
    // not use it ([`Engine::connection_is_to_this_address`]).
    let made_for = sock.with_extension("url");
    crate::support::fsutil::write_atomic(&made_for, e.url.as_bytes(), Some(0o600))
        .map_err(|err| EngineError::io("could not write", &made_for, err))?;
    while Instant::now() < deadline {
        if check() {
            // Its Docker socket comes with every connection (the keeper's too).
            if let (Some(local), DockerAt::Socket(remote)) = (&e.socket, &e.docker_at) {
                let _ = forward_socket(ctx, e, local, remote);
            }
            return Ok(());
        }
        // A machine that refuses or drops the login fails now, not at the deadline.
        if !alive(pid) {
            return Err(e.unreachable(crate::support::exec::ExecError::Failed {
                summary: format!("ssh -M (the connection to {})", e.name),
                status: "exited".into(),
                code: None,
                stderr: log_since(&log_path, logged),
            }));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(e.unreachable(crate::support::exec::ExecError::TimedOut {
        summary: format!("ssh -M (the connection to {})", e.name),
        secs: CONNECT_SECS + 10,
    }))
}

/// kinfra's engines directory (control sockets, forwarded Docker sockets, logs),
/// made when missing; only its owner may enter (a Docker socket there is that
/// machine's Docker).
fn engines_dir(ctx: &Context) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = ctx.home.engine_dir();
    std::fs::create_dir_all(&dir).map_err(|err| EngineError::io("could not create", &dir, err))?;
    let mode = std::fs::metadata(&dir)
        .map_err(|err| EngineError::io("could not read", &dir, err))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|err| EngineError::io("could not restrict", &dir, err))?;
    }
    Ok(dir)
}

/// Held while a connection is made (see [`ensure_connection`]); `None` when the
/// lock cannot be had (then nothing is serialized, as before).
fn make_lock(dir: &Path, e: &Engine) -> Option<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{}.connecting", e.name)))
        .ok()?;
    f.lock().ok()?;
    Some(f)
}

/// Whether the process is still there (a master that could not log in has exited).
fn alive(pid: u32) -> bool {
    i32::try_from(pid)
        .is_ok_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok())
}

/// What this connection's ssh wrote to the log (its own words on why it ended),
/// from `from` bytes on, at most its last 2,000 characters.
fn log_since(p: &Path, from: u64) -> String {
    let bytes = std::fs::read(p).unwrap_or_default();
    let start = usize::try_from(from).unwrap_or(0).min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[start..]);
    let skip = text.chars().count().saturating_sub(2000);
    text.chars()
        .skip(skip)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Forwards each port to the same port on the engine's machine, over its one
/// connection, on this machine's 127.0.0.1.
pub fn forward(ctx: &Context, e: &Engine, ports: &[u16]) -> Result<()> {
    ensure_connection(ctx, e)?;
    for p in ports {
        mux_forward(ctx, e, "forward", &port_spec(*p))
            .run()
            .map_err(|err| e.unreachable(err))?;
    }
    Ok(())
}

/// Stops forwarding the ports (nothing then accepts on them here). Best effort: a
/// connection that is gone forwards nothing.
pub fn unforward(ctx: &Context, e: &Engine, ports: &[u16]) {
    for p in ports {
        let _ = mux_forward(ctx, e, "cancel", &port_spec(*p)).run();
    }
}

/// Ends the engine's connection (when no instance there is up any more).
pub fn disconnect(ctx: &Context, e: &Engine) {
    let _ = mux(ctx, e, "exit")
        .arg("--")
        .arg(&e.target.host)
        .timeout(Duration::from_secs(10))
        .run();
}

/// The resolved compose model with every bind-mount source under the worktree moved
/// to the same place under the mirror (and the same for file-based secrets and
/// configs); returns the sources that lie elsewhere (they name paths on the engine's
/// machine). Pure.
pub fn point_binds_at_mirror(
    doc: &mut serde_json::Value,
    worktree: &str,
    mirror: &str,
) -> Vec<String> {
    let mut elsewhere = Vec::new();
    let moved = |p: &str| -> Option<String> {
        if p == worktree {
            Some(mirror.to_string())
        } else {
            p.strip_prefix(worktree)
                .filter(|rest| rest.starts_with('/'))
                .map(|rest| format!("{mirror}{rest}"))
        }
    };
    if let Some(services) = doc.get_mut("services").and_then(|s| s.as_object_mut()) {
        for svc in services.values_mut() {
            let Some(vols) = svc.get_mut("volumes").and_then(|v| v.as_array_mut()) else {
                continue;
            };
            for v in vols {
                if v.get("type").and_then(|t| t.as_str()) != Some("bind") {
                    continue;
                }
                let Some(src) = v.get("source").and_then(|s| s.as_str()).map(String::from) else {
                    continue;
                };
                match moved(&src) {
                    Some(m) => v["source"] = serde_json::Value::String(m),
                    None => elsewhere.push(src),
                }
            }
        }
    }
    for top in ["secrets", "configs"] {
        if let Some(items) = doc.get_mut(top).and_then(|s| s.as_object_mut()) {
            for item in items.values_mut() {
                let Some(f) = item.get("file").and_then(|s| s.as_str()).map(String::from) else {
                    continue;
                };
                match moved(&f) {
                    Some(m) => item["file"] = serde_json::Value::String(m),
                    None => elsewhere.push(f),
                }
            }
        }
    }
    elsewhere
}

/// In the remote copy of the model: each published port with no host address given is
/// published on the engine machine's 127.0.0.1 only. The forward reaches it there, and
/// Docker's default (every address) would open the sandbox's services to that
/// machine's network, where a local sandbox's stay on this laptop. An address the
/// compose file names itself is kept. Pure.
pub fn publish_on_loopback(doc: &mut serde_json::Value) {
    let Some(services) = doc.get_mut("services").and_then(|s| s.as_object_mut()) else {
        return;
    };
    for svc in services.values_mut() {
        let Some(ports) = svc.get_mut("ports").and_then(|p| p.as_array_mut()) else {
            continue;
        };
        for p in ports {
            let Some(port) = p.as_object_mut() else {
                continue;
            };
            if port.get("published").is_none() {
                continue;
            }
            let given = port
                .get("host_ip")
                .and_then(|h| h.as_str())
                .is_some_and(|h| !h.is_empty());
            if !given {
                port.insert("host_ip".into(), "127.0.0.1".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_under_the_worktree_move_to_the_mirror_and_others_are_named() {
        let mut doc = serde_json::json!({
            "services": {
                "web": {"volumes": [
                    {"type": "bind", "source": "/w/shop--a/site", "target": "/www"},
                    {"type": "bind", "source": "/w/shop--a", "target": "/src"},
                    {"type": "bind", "source": "/w/shop--ab/x", "target": "/x"},
                    {"type": "volume", "source": "data", "target": "/data"},
                    {"type": "bind", "source": "/etc/hosts", "target": "/h"}
                ]},
                "db": {"image": "busybox"}
            },
            "secrets": {"s": {"file": "/w/shop--a/secret.txt"}}
        });
        let other = point_binds_at_mirror(&mut doc, "/w/shop--a", "/home/u/.kinfra/mirrors/a");
        let v = &doc["services"]["web"]["volumes"];
        assert_eq!(v[0]["source"], "/home/u/.kinfra/mirrors/a/site");
        assert_eq!(v[1]["source"], "/home/u/.kinfra/mirrors/a");
        assert_eq!(v[2]["source"], "/w/shop--ab/x");
        assert_eq!(v[3]["source"], "data");
        assert_eq!(
            doc["secrets"]["s"]["file"],
            "/home/u/.kinfra/mirrors/a/secret.txt"
        );
        assert_eq!(other, vec!["/w/shop--ab/x", "/etc/hosts"]);
    }

    #[test]
    fn rsyncs_ssh_goes_through_a_live_connection_in_plain_words() {
        let mut e = Engine::from_record(
            "box",
            &crate::state::registry::EngineRecord {
                url: "ssh://dev@box.lan:2222".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("box.ctl");
        e.control = Some(sock.clone());
        // No socket yet (no connection): a login of its own.
        let s = rsync_shell(&e);
        assert_eq!(
            s, "ssh -o BatchMode=yes -o ConnectTimeout=5 -l dev -p 2222",
            "{s}"
        );
        std::fs::write(&sock, "").unwrap();
        // A connection made to another address is not used.
        std::fs::write(sock.with_extension("url"), "ssh://dev@elsewhere").unwrap();
        assert!(!rsync_shell(&e).contains("ControlPath"));
        // One made to this address is.
        std::fs::write(sock.with_extension("url"), &e.url).unwrap();
        let s = rsync_shell(&e);
        assert!(
            s.ends_with(&format!(
                " -o ControlMaster=no -o ControlPath={}",
                sock.display()
            )),
            "{s}"
        );
        assert!(!s.contains(['\'', '"']), "{s}");
        let ssh = e.ssh("true").summary();
        assert!(ssh.contains("ControlMaster=no"), "{ssh}");
        assert!(ssh.ends_with("-- box.lan true"), "{ssh}");
    }

    #[test]
    fn listening_ports_are_read_from_the_kernels_tables() {
        // Captured from Debian 12 (`cat /proc/net/tcp /proc/net/tcp6`): sshd on
        // 10.253.0.2:2222, a published port on 127.0.0.1:17729, an established
        // connection (01) and a TIME_WAIT one (06), and IPv6 listeners.
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0200FD0A:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:4541 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41999 1 0000000000000000 100 0 0 10 0
   2: 0200FD0A:08AE 0100FD0A:D2F4 01 00000000:00000000 02:000A7B2C 00000000     0        0 42001 4 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:9C40 06 00000000:00000000 03:00000F5A 00000000     0        0 0 3 0000000000000000
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   105        0 30211 1 0000000000000000 100 0 0 10 0
";
        let ports = parse_listening(text).expect("a table");
        assert_eq!(
            ports.into_iter().collect::<Vec<_>>(),
            vec![2222, 5432, 17729]
        );
        assert_eq!(parse_listening("noproc\n"), None);
        assert_eq!(parse_listening(""), Some(Default::default()));
        assert_eq!(
            parse_listening("garbage\n0: x:zz y 0A\n"),
            Some(Default::default())
        );
    }

    #[test]
    fn remote_paths_are_plain() {
        plain_remote_path("/home/dev/.kinfra/mirrors/shop--a").unwrap();
        for bad in [
            "relative",
            "/a/../b",
            "/a/..",
            "/a b",
            "/a';rm -rf ~;'",
            "/a$(x)",
        ] {
            assert!(plain_remote_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn published_ports_stay_on_the_engine_machines_loopback() {
        let mut doc = serde_json::json!({"services": {
            "web": {"ports": [
                {"mode": "ingress", "target": 80, "published": "18031", "protocol": "tcp"},
                {"mode": "ingress", "host_ip": "", "target": 81, "published": "18032"},
                {"mode": "ingress", "host_ip": "10.0.0.5", "target": 82, "published": "18033"},
                {"mode": "ingress", "target": 83}
            ]},
            "db": {"image": "busybox"},
            "odd": {"ports": "not a list"}
        }});
        publish_on_loopback(&mut doc);
        let p = &doc["services"]["web"]["ports"];
        assert_eq!(p[0]["host_ip"], "127.0.0.1");
        assert_eq!(p[1]["host_ip"], "127.0.0.1");
        assert_eq!(p[2]["host_ip"], "10.0.0.5");
        assert!(p[3].get("host_ip").is_none());
        publish_on_loopback(&mut serde_json::json!({"services": 3}));
    }

    #[test]
    fn writable_binds_under_the_worktree_are_kept() {
        let doc = serde_json::json!({"services": {
            "db": {"volumes": [
                {"type": "bind", "source": "/w/a/data", "target": "/d"},
                {"type": "bind", "source": "/w/a/site", "target": "/s", "read_only": true},
                {"type": "bind", "source": "/w/a", "target": "/app"},
                {"type": "bind", "source": "/w/a/logs/", "target": "/l"},
                {"type": "bind", "source": "/w/ab/x", "target": "/x"},
                {"type": "bind", "source": "/w/a/../b", "target": "/b"},
                {"type": "bind", "source": "/w/a/we*rd", "target": "/y"},
                {"type": "volume", "source": "v", "target": "/v"},
                {"type": "bind", "source": "/etc", "target": "/e"}
            ]},
            "web": {"volumes": [{"type": "bind", "source": "/w/a/data", "target": "/d"}]}
        }});
        assert_eq!(writable_binds(&doc, "/w/a"), vec!["data", "logs"]);
        assert!(writable_binds(&serde_json::json!({}), "/w/a").is_empty());
        assert_eq!(
            parse_kept("data\n../../etc\na/../../x\n*\n\nlogs/app\n/abs\n"),
            vec!["data", "logs/app"]
        );
    }
}
