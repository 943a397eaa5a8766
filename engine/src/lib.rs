//! The FinDash job engine.
//!
//! Owns how work runs: the job trait, durable enqueue into the PostgreSQL ledger (transactional
//! outbox), bounded fair dispatch to apalis queues on Redis, worker pools, retries with backoff,
//! rate limits, timeouts, cancellation, crash and Redis-loss recovery, cron, workflows, metrics
//! and Sentry. It knows nothing of banks or payments: job types live in `findash-jobs`.
//!
//! PostgreSQL is the source of truth; Redis carries job ids within a bounded window. apalis
//! runs the workers but never decides a job's fate: it only ever sees finished deliveries.

mod batch;
pub mod builtin;
mod bulk;
pub mod cache;
mod config;
mod context;
pub mod cron;
mod dispatch;
mod engine;
mod error;
mod executor;
mod job;
pub mod ledger;
pub mod metrics;
mod queue;
pub mod ratelimit;
mod reconcile;
mod registry;
mod retry;
mod scheduler;
pub mod tls;
mod transport;
mod wake;
mod worker;
pub mod workflow;

#[cfg(feature = "testing")]
pub mod testing;

pub use bulk::{BulkOutcome, act_on_filter, actionable};
pub use config::EngineConfig;
pub use context::{JobContext, WorkflowsStarted};
pub use engine::{Engine, RATE_LIMIT_BUCKETS_LISTED, RateLimitBuckets, act_in};
pub use error::EngineError;
pub use job::{Job, JobError, JobResult, MAX_DEFERRALS};
pub use queue::Queue;
pub use reconcile::Repairs;
pub use registry::{JobType, Registry};
pub use retry::RetryPolicy;
pub use worker::{WorkerOptions, process_name};
