//! Pacing: the rate limit every connection of a mailer shares, and the jittered backoff wait.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Spaces messages evenly: each takes the next free slot, `interval` after the previous one.
/// Even spacing keeps any window of `per_secs` to at most `messages` messages, which is what a
/// server's rate limit (Postfix's anvil, a provider's quota) counts.
pub(super) struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub(super) fn new(interval: Duration) -> RateLimiter {
        RateLimiter { interval, next: Mutex::new(None) }
    }

    /// Waits for this message's slot.
    pub(super) async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// `delay` with "equal jitter": a wait drawn between half of it and all of it.
pub(super) fn jittered(delay: Duration) -> Duration {
    let mut b = [0u8; 4];
    // Without randomness the wait is the whole delay: still bounded, only less spread out.
    let fraction = match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX),
        Err(_) => 1.0,
    };
    delay / 2 + delay.mul_f64(fraction / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_all() {
        let d = Duration::from_secs(1);
        for _ in 0..200 {
            let j = jittered(d);
            assert!(j >= d / 2 && j <= d, "{j:?}");
        }
    }

    #[tokio::test]
    async fn slots_are_spaced_by_the_interval() {
        // A lower bound only: the slots can come later on a busy machine, never sooner.
        let r = RateLimiter::new(Duration::from_millis(20));
        let t0 = Instant::now();
        let mut at = Vec::new();
        for _ in 0..4 {
            r.acquire().await;
            at.push(Instant::now() - t0);
        }
        for (i, t) in at.iter().enumerate() {
            assert!(*t >= Duration::from_millis(20) * u32::try_from(i).unwrap(), "slot {i} at {t:?}");
        }
    }
}
