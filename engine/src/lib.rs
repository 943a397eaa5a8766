//! The FinDash job engine.
//!
//! Owns how work runs: the job trait, durable enqueue into the PostgreSQL ledger (transactional
//! outbox), bounded dispatch to apalis queues on Redis, worker pools, retries with backoff,
//! rate limits, timeouts, cancellation, crash and Redis-loss recovery, cron, workflows, metrics
//! and Sentry. It knows nothing of banks or payments: job types live in `findash-jobs`.
//!
//! So far it holds its configuration section; the engine itself arrives with its own issue.

mod config;

pub use config::EngineConfig;
