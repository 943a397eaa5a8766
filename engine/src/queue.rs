//! The worker pools. Each queue has its own apalis queue in Redis, its own dispatch window
//! and its own concurrency, so slow email never holds up a bank sync.

use std::fmt;
use std::str::FromStr;

/// A worker pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    Sync,
    Rates,
    Forecast,
    Dq,
    Email,
    Webhooks,
    Default,
}

impl Queue {
    pub const ALL: [Queue; 7] = [
        Queue::Sync,
        Queue::Rates,
        Queue::Forecast,
        Queue::Dq,
        Queue::Email,
        Queue::Webhooks,
        Queue::Default,
    ];

    /// The name in the ledger (`jobs.queue`) and in Redis keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            Queue::Sync => "sync",
            Queue::Rates => "rates",
            Queue::Forecast => "forecast",
            Queue::Dq => "dq",
            Queue::Email => "email",
            Queue::Webhooks => "webhooks",
            Queue::Default => "default",
        }
    }

    /// Concurrent jobs per worker process unless `--concurrency` says otherwise: I/O-bound
    /// pools run wide, CPU-bound ones (forecast) narrow.
    pub const fn default_concurrency(self) -> usize {
        match self {
            Queue::Sync => 16,
            Queue::Rates => 4,
            Queue::Forecast => 2,
            Queue::Dq => 4,
            Queue::Email => 8,
            Queue::Webhooks => 16,
            Queue::Default => 16,
        }
    }
}

impl fmt::Display for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Queue {
    type Err = String;

    fn from_str(s: &str) -> Result<Queue, String> {
        Queue::ALL
            .into_iter()
            .find(|q| q.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Queue::ALL.iter().map(|q| q.as_str()).collect();
                format!("unknown queue `{s}` (queues: {})", names.join(", "))
            })
    }
}
