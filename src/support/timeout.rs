//! Time limits that come from input (`--timeout`, an MCP call's `timeout_secs`,
//! `KINFRA_LOCK_WAIT`): any number of seconds is accepted, and a huge one means
//! "as long as it takes" instead of overflowing `Instant + Duration` (a panic in
//! the middle of `up` would leave a started stack behind).

use std::time::{Duration, Instant};

/// Longer than anything kinfra waits for: ten years.
pub const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// `d`, at most [`FOREVER`].
pub fn bounded(d: Duration) -> Duration {
    d.min(FOREVER)
}

/// The moment `d` after `from`, never overflowing.
pub fn deadline(from: Instant, d: Duration) -> Instant {
    from.checked_add(bounded(d))
        .or_else(|| from.checked_add(Duration::from_secs(24 * 3600)))
        .unwrap_or(from)
}

/// How long to sleep before polling again: `poll`, but never past `deadline`.
pub fn nap(poll: Duration, deadline: Instant) -> Duration {
    poll.min(deadline.saturating_duration_since(Instant::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_limits_do_not_overflow() {
        let now = Instant::now();
        let d = deadline(now, Duration::from_secs(u64::MAX));
        assert!(d > now + Duration::from_secs(3600));
        assert_eq!(bounded(Duration::MAX), FOREVER);
        assert_eq!(
            deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(nap(Duration::from_secs(3600), soon) <= Duration::from_millis(50));
        assert_eq!(nap(Duration::from_secs(1), now), Duration::ZERO);
    }
}
