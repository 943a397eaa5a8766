//! What a job is: a serde payload type with its metadata declared once, on the type, and the
//! verdicts a handler can return. The engine owns retries; a handler only says what happened.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::JobContext;
use crate::queue::Queue;
use crate::retry::RetryPolicy;

/// A kind of background work. Implement it on the payload struct:
///
/// ```text
/// #[derive(Serialize, Deserialize)]
/// struct RefreshRates { day: NaiveDate }
///
/// impl Job for RefreshRates {
///     const KIND: &'static str = "refresh_rates";
///     const QUEUE: Queue = Queue::Rates;
///     async fn run(self, ctx: JobContext) -> JobResult { .. }
/// }
/// ```
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name in the ledger (`jobs.kind`), in the CLI and in the API. Never renamed: rows
    /// written under the old name would belong to no worker.
    const KIND: &'static str;
    /// The worker pool that runs it.
    const QUEUE: Queue = Queue::Default;
    /// Attempts before the job is `dead`. Rate-limit deferrals, worker deaths and shutdown
    /// releases do not use attempts.
    const MAX_ATTEMPTS: u32 = 5;
    /// How long one attempt may run before it is abandoned as `timed_out` (a retryable failure).
    const TIMEOUT: Duration = Duration::from_secs(300);
    /// Whether the job changes what the dashboard shows (transactions, balances, revenue,
    /// forecasts, findings, rates). After each of its attempts, whatever the outcome, the engine
    /// drops the cached dashboard answers of the job's tenant, or of every tenant for a job
    /// without one.
    const CHANGES_DASHBOARD: bool = false;

    /// Delays between attempts.
    fn retry_policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    /// Jobs sharing a key share a rate limit (e.g. `pluggy:<credential id>`); the limit is the
    /// one configured for the key's prefix.
    fn rate_limit_key(&self) -> Option<String> {
        None
    }

    /// Jobs of one tenant and kind with the same key are one job: enqueueing again returns the
    /// existing job.
    fn idempotency_key(&self) -> Option<String> {
        None
    }

    /// Does the work. Must be idempotent: delivery is at least once.
    fn run(self, ctx: JobContext) -> impl Future<Output = JobResult> + Send;
}

/// What a handler returns: a small JSON result, or why it did not succeed.
pub type JobResult = Result<Value, JobError>;

/// Why an attempt did not succeed; the variant decides what the engine does next.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (network, provider down, lock timeout): `retrying` with backoff,
    /// `dead` once attempts are exhausted.
    #[error("{0:#}")]
    Retryable(anyhow::Error),
    /// Will fail the same way every time (bad payload, revoked credentials): `dead` now.
    #[error("{0:#}")]
    Permanent(anyhow::Error),
    /// A rate limit said no: run again after `retry_after` without using an attempt. Bounded:
    /// after [`MAX_DEFERRALS`] deferrals it counts as a retryable failure.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// The job worked and decided that its workflow must not go on (e.g. the data-quality gate
    /// found critical problems). The job succeeds; its workflow step ends `blocked`, and so do the
    /// steps that depend on it.
    #[error("blocked: {reason}")]
    Blocked { reason: String },
}

/// Deferrals (rate limited) a job may take before one counts as a failed attempt.
pub const MAX_DEFERRALS: i32 = 100;

impl JobError {
    /// A retryable error from anything that converts into `anyhow::Error`.
    pub fn retryable(error: impl Into<anyhow::Error>) -> JobError {
        JobError::Retryable(error.into())
    }

    /// A permanent error from anything that converts into `anyhow::Error`.
    pub fn permanent(error: impl Into<anyhow::Error>) -> JobError {
        JobError::Permanent(error.into())
    }
}
