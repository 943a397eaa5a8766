//! Delays between attempts: exponential with jitter, capped, from the `backoff` crate.

use std::time::Duration;

use backoff::ExponentialBackoff;
use backoff::backoff::Backoff;

/// How long to wait before attempt `n + 1` after attempt `n` failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failure (before jitter).
    pub initial: Duration,
    /// Growth per attempt.
    pub multiplier: f64,
    /// Upper bound of any delay (before jitter).
    pub max: Duration,
    /// Spread: the delay is drawn from `d × [1 − jitter, 1 + jitter]`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 5 s, 10 s, 20 s … capped at 1 h, ±25 %.
    fn default() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_secs(5),
            multiplier: 2.0,
            max: Duration::from_secs(3600),
            jitter: 0.25,
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut backoff = ExponentialBackoff {
            current_interval: self.initial,
            initial_interval: self.initial,
            randomization_factor: self.jitter,
            multiplier: self.multiplier,
            max_interval: self.max,
            // The engine decides when to stop (max attempts); without this the crate gives up
            // 15 minutes after the policy object was created.
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        };
        let mut delay = self.initial;
        for _ in 0..attempt.max(1) {
            delay = backoff.next_backoff().unwrap_or(self.max);
        }
        delay
    }
}
