//! The keeper of a remote instance that is up (`kinfra internal keep-mirrored`,
//! started detached by `up`): the code mirrored on the engine's machine within a
//! moment of each change, and the engine's connection (with its port forwards and
//! its forwarded Docker socket) kept up.
//!
//! It waits on the file system's own events (inotify, FSEvents, kqueue: the
//! `notify` crate) instead of rescanning the whole worktree every fraction of a
//! second: an idle sandbox then costs nothing, and an edit starts a pass at once.
//! Events can be lost (a full kernel queue, a watch limit reached, a directory
//! made and filled before its watch is set), so a slow full pass runs anyway as a
//! safety net, and a keeper that cannot watch at all falls back to passes on a
//! short timer, as before.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use super::Engine;
use super::remote::{
    connected, ensure_connection, forward, keeper_file, kept, mirror_dir, pass_lock, rsync,
    update_kept,
};
use crate::state::context::Context;

type Events = Receiver<notify::Result<notify::Event>>;

/// How often the keeper looks at the connection (a local `ssh -O check`, cheap)
/// and at its token: a dropped connection comes back, with its forwards, within
/// about this.
const CHECK_EVERY: Duration = Duration::from_millis(700);
/// The safety net: a full pass this often even when no event came.
const FULL_PASS_EVERY: Duration = Duration::from_secs(30);
/// Without a watcher: a pass this often (well inside the 2 s from a change to its
/// being visible on the engine).
const POLL_EVERY: Duration = Duration::from_millis(700);
/// After the first event of a burst (an editor's save, a `git checkout`), how long
/// more are gathered into the same pass.
const SETTLE: Duration = Duration::from_millis(40);

/// Keeps the instance's mirror and connection until its token is gone, the
/// instance is no longer placed on an engine, or its worktree is gone.
pub fn keep_mirrored(ctx: &Context, id: &str, token: &str) {
    let Some((_, dir)) = current(ctx, id, token) else {
        return;
    };
    let (tx, rx) = channel();
    // The watcher lives as long as the loop; `None`: passes on a timer instead.
    let watcher = notify::recommended_watcher(tx)
        .and_then(|mut w| w.watch(&dir, RecursiveMode::Recursive).map(|()| w))
        .ok();
    let watching = watcher.is_some();
    let mut last_pass: Option<Instant> = None;
    let mut changed = true; // the first pass
    loop {
        let Some((e, dir)) = current(ctx, id, token) else {
            return;
        };
        // A dropped connection comes back with its forwards (the Docker socket
        // comes with the connection itself); a machine that does not answer is
        // tried again next time.
        if !connected(ctx, &e) && ensure_connection(ctx, &e).is_ok() {
            let _ = forward(ctx, &e, &ports(ctx, id));
        }
        let due = last_pass.is_none_or(|t| {
            t.elapsed()
                >= if watching {
                    FULL_PASS_EVERY
                } else {
                    POLL_EVERY
                }
        });
        if changed || due {
            if !pass(ctx, id, &e, &dir) {
                return;
            }
            last_pass = Some(Instant::now());
        }
        changed = if watching {
            wait_for_change(&rx, &dir, CHECK_EVERY)
        } else {
            std::thread::sleep(CHECK_EVERY.min(POLL_EVERY));
            false
        };
    }
}

/// The engine and worktree of the instance while this keeper is still its keeper
/// (its token is in place, the instance still placed there, the worktree there).
fn current(ctx: &Context, id: &str, token: &str) -> Option<(Engine, PathBuf)> {
    if std::fs::read_to_string(keeper_file(ctx, id))
        .ok()
        .as_deref()
        != Some(token)
    {
        return None;
    }
    let reg = ctx.registry().load().ok()?;
    let (entry, name) = (reg.instances.get(id)?, reg.kinfra.placements.get(id)?);
    let e = reg
        .kinfra
        .engines
        .get(name)
        .and_then(|r| Engine::from_record(name, r).ok())?
        .controlled(ctx);
    let dir = PathBuf::from(&entry.path);
    dir.is_dir().then_some((e, dir))
}

fn ports(ctx: &Context, id: &str) -> Vec<u16> {
    ctx.registry()
        .load()
        .ok()
        .and_then(|reg| {
            reg.kinfra
                .ports
                .get(id)
                .map(|m| m.values().copied().collect())
        })
        .unwrap_or_default()
}

/// One rsync pass (one-way, deletions included; the kept paths updated, never
/// pruned), under the pass lock `destroy` waits on. `false`: the keeper must end
/// (the lock cannot be had).
fn pass(ctx: &Context, id: &str, e: &Engine, dir: &Path) -> bool {
    let Some(_pass) = pass_lock(ctx, id) else {
        return false;
    };
    if let Ok(remote) = mirror_dir(e, id) {
        let kept = kept(ctx, id);
        if rsync(e, dir, &remote, None, &kept).is_ok() {
            let _ = update_kept(e, dir, &remote, &kept);
        }
    }
    true
}

/// Waits up to `timeout` for a change under the worktree that the mirror carries;
/// once one comes, gathers the rest of its burst. `true`: a pass is due.
fn wait_for_change(rx: &Events, dir: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(ev) if counts(&ev, dir) => {
                gather(rx);
                return true;
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => return false,
            // The watcher is gone: passes on the timer from now on.
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(timeout);
                return true;
            }
        }
    }
}

/// Drains the rest of a burst (until no event came for [`SETTLE`]); a stream that
/// never pauses (a build writing under the worktree) still gets a pass each second.
fn gather(rx: &Events) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) && rx.recv_timeout(SETTLE).is_ok() {}
}

/// Pure: whether an event is a change the mirror carries. Reads (opening a file
/// or listing a directory: rsync's own pass makes them) are not; nor is anything
/// under `.git`, which is not mirrored. An error (the kernel's queue overflowed)
/// or an event that says to rescan is.
pub(crate) fn counts(ev: &notify::Result<notify::Event>, dir: &Path) -> bool {
    let Ok(ev) = ev else {
        return true;
    };
    if ev.need_rescan() {
        return true;
    }
    if matches!(ev.kind, EventKind::Access(_)) {
        return false;
    }
    let git = dir.join(".git");
    ev.paths.is_empty() || ev.paths.iter().any(|p| !p.starts_with(&git))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, DataChange, Flag, ModifyKind};

    fn ev(kind: EventKind, paths: &[&str]) -> notify::Result<notify::Event> {
        let mut e = notify::Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        Ok(e)
    }

    #[test]
    fn changes_count_and_reads_and_git_do_not() {
        let dir = Path::new("/w/shop--a");
        assert!(counts(
            &ev(
                EventKind::Modify(ModifyKind::Data(DataChange::Any)),
                &["/w/shop--a/site/x.html"]
            ),
            dir
        ));
        assert!(counts(
            &ev(EventKind::Create(CreateKind::File), &["/w/shop--a/new"]),
            dir
        ));
        assert!(counts(
            &ev(
                EventKind::Remove(notify::event::RemoveKind::Any),
                &["/w/shop--a/gone"]
            ),
            dir
        ));
        // rsync's own reads, and git's work, start no pass.
        assert!(!counts(
            &ev(
                EventKind::Access(AccessKind::Any),
                &["/w/shop--a/site/x.html"]
            ),
            dir
        ));
        assert!(!counts(
            &ev(
                EventKind::Modify(ModifyKind::Any),
                &["/w/shop--a/.git/index"]
            ),
            dir
        ));
        // `.gitignore` is not under `.git`.
        assert!(counts(
            &ev(
                EventKind::Modify(ModifyKind::Any),
                &["/w/shop--a/.gitignore"]
            ),
            dir
        ));
        // Lost events: a full pass.
        let rescan = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert!(counts(&Ok(rescan), dir));
        assert!(counts(&Err(notify::Error::generic("queue overflow")), dir));
    }

    #[test]
    fn a_change_under_a_watched_worktree_is_seen_and_a_read_is_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("site")).unwrap();
        std::fs::write(dir.path().join("site/a.html"), "a").unwrap();
        let (tx, rx) = channel();
        let mut w = notify::recommended_watcher(tx).unwrap();
        w.watch(dir.path(), RecursiveMode::Recursive).unwrap();
        // A read (what rsync's pass does) is no change.
        let _ = std::fs::read(dir.path().join("site/a.html")).unwrap();
        let _ = std::fs::read_dir(dir.path().join("site")).unwrap().count();
        assert!(!wait_for_change(
            &rx,
            dir.path(),
            Duration::from_millis(300)
        ));
        std::fs::write(dir.path().join("site/a.html"), "b").unwrap();
        assert!(wait_for_change(&rx, dir.path(), Duration::from_secs(5)));
        // A directory made after the watch began is watched too.
        std::fs::create_dir(dir.path().join("new")).unwrap();
        assert!(wait_for_change(&rx, dir.path(), Duration::from_secs(5)));
        std::fs::write(dir.path().join("new/f"), "x").unwrap();
        assert!(wait_for_change(&rx, dir.path(), Duration::from_secs(5)));
    }
}
