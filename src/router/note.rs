//! The router's log lines about single connections, limited: each connection to a
//! checkout that cannot be served says why in the router's log, and a local
//! process opening thousands of them would otherwise fill the disk under
//! `KINFRA_HOME` with the same line. A few lines of a kind are written in each
//! window; the rest are counted and said as one line when the next is written.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of one kind written in a window before the rest are only counted.
pub const PER_WINDOW: u32 = 5;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// What to do with a line (pure: [`Limiter::admit`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Write it, after saying how many of its kind were left out before it.
    Write { left_out: u64 },
    /// Count it only.
    LeaveOut,
}

#[derive(Default)]
pub struct Limiter {
    kinds: Vec<Kind>,
}

struct Kind {
    kind: &'static str,
    since: Instant,
    written: u32,
    left_out: u64,
}

impl Limiter {
    pub fn admit(&mut self, kind: &'static str, now: Instant) -> Admit {
        let k = match self.kinds.iter().position(|k| k.kind == kind) {
            Some(i) => &mut self.kinds[i],
            None => {
                self.kinds.push(Kind {
                    kind,
                    since: now,
                    written: 0,
                    left_out: 0,
                });
                self.kinds.last_mut().expect("just pushed")
            }
        };
        if now.duration_since(k.since) >= WINDOW {
            k.since = now;
            k.written = 0;
        }
        if k.written >= PER_WINDOW {
            k.left_out += 1;
            return Admit::LeaveOut;
        }
        k.written += 1;
        Admit::Write {
            left_out: std::mem::take(&mut k.left_out),
        }
    }
}

static LIMITER: Mutex<Option<Limiter>> = Mutex::new(None);

/// Writes `line()` to the router's log unless lines of `kind` came too often.
pub fn connection(kind: &'static str, line: impl FnOnce() -> String) {
    let admit = LIMITER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_or_insert_with(Limiter::default)
        .admit(kind, Instant::now());
    if let Admit::Write { left_out } = admit {
        if left_out > 0 {
            crate::errln!(
                "kinfra router: {left_out} more line(s) like the next were left out (at most {PER_WINDOW} every {} s)",
                WINDOW.as_secs()
            );
        }
        crate::errln!("{}", line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_written_a_few_lines_a_window_and_the_rest_counted() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..PER_WINDOW {
            assert_eq!(l.admit("closed", t0), Admit::Write { left_out: 0 });
        }
        for _ in 0..1000 {
            assert_eq!(
                l.admit("closed", t0 + Duration::from_secs(1)),
                Admit::LeaveOut
            );
        }
        // Another kind has its own count.
        assert_eq!(l.admit("waiting", t0), Admit::Write { left_out: 0 });
        // The next window: written again, saying how many were left out.
        assert_eq!(
            l.admit("closed", t0 + WINDOW),
            Admit::Write { left_out: 1000 }
        );
        assert_eq!(l.admit("closed", t0 + WINDOW), Admit::Write { left_out: 0 });
    }
}
