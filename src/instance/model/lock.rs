//! One operation per instance at a time. `up`, `down`, `destroy`, `release` and
//! `prune` hold an exclusive lock on `$KINFRA_HOME/sandbox/locks/<id>.lock` while they
//! act: two `up`s on one sandbox otherwise race inside compose ("container name
//! already in use") and the loser's failure path tore down the winner's stack.
//!
//! The lock is the OS's file lock, so a `kill -9` releases it. The holder writes its
//! pid and operation into the file, so a waiter can say whom it waits for. A waiter
//! gives up after [`EnvVars::KINFRA_LOCK_WAIT`] seconds (default 600) with exit 1. Read commands
//! (`status`, `list`, `logs`) never take it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::instance::error::{Error, Result};
use crate::state::context::Context;
use crate::support::env_vars::EnvVars;

/// Held while an operation acts on one instance; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

fn wait_limit() -> Duration {
    crate::support::env_vars::number(EnvVars::KINFRA_LOCK_WAIT, 0)
        .ok()
        .flatten()
        .map(|s| crate::support::timeout::bounded(Duration::from_secs(s)))
        .unwrap_or(Duration::from_secs(600))
}

fn path(ctx: &Context, id: &str) -> PathBuf {
    ctx.home.lock_file(id)
}

/// Takes the lock of instance `id` for `operation` ("up", "destroy" …), waiting
/// (with one message naming the holder) up to the configured bound.
pub fn lock(ctx: &Context, id: &str, operation: &str) -> Result<InstanceLock> {
    lock_within(ctx, id, operation, wait_limit())
}

fn lock_within(ctx: &Context, id: &str, operation: &str, limit: Duration) -> Result<InstanceLock> {
    // The id names a file: one that is no project name could name another place.
    crate::support::validate::project_name(id)
        .map_err(|why| Error::Unlockable { id: id.into(), why })?;
    let p = path(ctx, id);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io("could not create the lock directory", dir, e))?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&p)
        .map_err(|e| Error::io("could not open the lock file", &p, e))?;
    let started = Instant::now();
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                let holder = holder(&mut file);
                if started.elapsed() >= limit {
                    return Err(Error::Busy {
                        instance: id.to_string(),
                        holder,
                        waited: limit.as_secs(),
                    });
                }
                if !told {
                    ctx.reporter.info(&format!(
                        "waiting for {holder} to finish with {id} (up to {} s)",
                        limit.as_secs()
                    ));
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TryLockError::Error(e)) => {
                return Err(Error::io("could not take the lock", &p, e));
            }
        }
    }
    // Who holds it, for the next waiter's message. Best effort: the lock is what counts.
    let _ = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| write!(file, "{}\t{operation}", std::process::id()));
    Ok(InstanceLock { _file: file })
}

/// The operation ("up", "destroy" …) holding instance `id`'s lock now, when one
/// does; never waits. The router asks it before waking a sandbox: one being
/// destroyed must not be started again under the destroy.
pub fn held_by(ctx: &Context, id: &str) -> Option<String> {
    crate::support::validate::project_name(id).ok()?;
    let mut file = OpenOptions::new().read(true).open(path(ctx, id)).ok()?;
    // A shared probe: commands take the lock exclusively, so it is refused only
    // while one acts; probes never refuse each other (an exclusive probe seen
    // by another would make it read the last holder's stale words).
    match file.try_lock_shared() {
        // Free: released at once (dropping the file), a command waits at most its 100 ms.
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Some(operation_of(&text).unwrap_or_default())
        }
        Err(TryLockError::Error(_)) => None,
    }
}

/// Pure: the operation in what a holder wrote (`4242\tdestroy`).
fn operation_of(text: &str) -> Option<String> {
    match text.trim().split_once('\t') {
        Some((pid, op)) if pid.parse::<u32>().is_ok() => Some(op.to_string()),
        _ => None,
    }
}

/// Whether a kinfra command holds `id`'s lock now (making room never stops an
/// instance something is working on). No lock file: none does. A name that is
/// not an instance's counts as held: nothing is stopped on its word.
pub fn held(ctx: &Context, id: &str) -> bool {
    if crate::support::validate::project_name(id).is_err() {
        return true;
    }
    held_by(ctx, id).is_some()
}

/// "`up` (pid 1234)", from what the holder wrote; vague if it has not written yet.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
    describe_holder(&text)
}

fn describe_holder(text: &str) -> String {
    match text.trim().split_once('\t') {
        Some((pid, op)) if pid.parse::<u32>().is_ok() => format!("kinfra `{op}` (pid {pid})"),
        _ => "another kinfra command".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_holder_when_it_can() {
        assert_eq!(describe_holder("4242\tup"), "kinfra `up` (pid 4242)");
        assert_eq!(describe_holder(""), "another kinfra command");
        assert_eq!(describe_holder("junk"), "another kinfra command");
        assert_eq!(operation_of("4242\tdestroy").as_deref(), Some("destroy"));
        assert_eq!(operation_of("x\tdestroy"), None);
    }

    #[test]
    fn held_by_names_the_operation_holding_the_lock() {
        let home = tempfile::tempdir().unwrap();
        let ctx = Context::new(
            home.path(),
            home.path(),
            std::sync::Arc::new(crate::state::context::Recorder::default()),
        );
        assert_eq!(held_by(&ctx, "p"), None, "no lock file");
        let held = lock(&ctx, "p", "destroy").unwrap();
        assert_eq!(held_by(&ctx, "p").as_deref(), Some("destroy"));
        drop(held);
        assert_eq!(held_by(&ctx, "p"), None);
        // Probes at once never see each other as a holder (the file still says
        // `destroy`, the last holder's words).
        let probe = OpenOptions::new().read(true).open(path(&ctx, "p")).unwrap();
        probe.try_lock_shared().unwrap();
        assert_eq!(held_by(&ctx, "p"), None);
        drop(probe);
        assert_eq!(held_by(&ctx, "../x"), None, "a name that is no project");
    }

    #[test]
    fn a_second_taker_waits_then_gives_up_naming_the_first() {
        let home = tempfile::tempdir().unwrap();
        let ctx = Context::new(
            home.path(),
            home.path(),
            std::sync::Arc::new(crate::state::context::Recorder::default()),
        );
        let first = lock(&ctx, "p", "up").unwrap();
        let e = lock_within(&ctx, "p", "down", Duration::ZERO).unwrap_err();
        assert!(matches!(e, Error::Busy { .. }), "{e}");
        assert!(e.to_string().contains("`up`"), "{e}");
        assert_eq!(
            e.exit_code(),
            crate::support::error::ExitKind::Failure.code()
        );
        assert!(held(&ctx, "p"), "held while taken");
        drop(first);
        assert!(!held(&ctx, "p"), "free once dropped");
        assert!(!held(&ctx, "never-locked"), "no lock file: free");
        assert!(lock_within(&ctx, "p", "down", Duration::ZERO).is_ok());
        // Another instance is never blocked by this one.
        let _a = lock(&ctx, "a", "up").unwrap();
        assert!(lock_within(&ctx, "b", "up", Duration::ZERO).is_ok());
    }
}
