use std::time::Duration;

use secrecy::SecretString;

/// The engine's section of the configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `REDIS_URL`: apalis queues, rate-limit buckets, cache. May carry a password.
    pub redis_url: SecretString,
    /// `REDIS_NAMESPACE`: prefix of every key and channel the engine uses in Redis, so several
    /// deployments (or test runs) can share one Redis.
    pub redis_namespace: String,
    /// `SENTRY_DSN`: where errors, panics and cron check-ins go; unset disables Sentry.
    pub sentry_dsn: Option<SecretString>,
    /// The deployment's name in Sentry events and check-ins (`FINDASH_ENV`).
    pub environment: String,
    /// `DISPATCH_WINDOW`: how many dispatched-but-unfinished jobs Redis holds per queue. The
    /// backlog beyond it stays in PostgreSQL; a job enqueued behind a backlog waits for at most
    /// this many jobs of its queue.
    pub dispatch_window: u32,
    /// `RATE_LIMITS`: limits per key prefix, e.g. `pluggy=10/1s,belvo=600/1m:20`.
    pub rate_limits: String,
    /// `CRON_SCHEDULES`: overrides of the built-in schedules, e.g. `daily-sync=0 5 * * *;prune=off`.
    pub cron_overrides: String,
    /// `JOB_RETENTION_SUCCEEDED`: how long succeeded jobs stay in the ledger.
    pub retention_succeeded: Duration,
    /// `JOB_RETENTION_FAILED`: how long dead, cancelled and quarantined jobs stay.
    pub retention_failed: Duration,
    /// `WORKER_SHUTDOWN_TIMEOUT`: how long a stopping worker lets in-flight jobs finish before
    /// it releases them back to the queue.
    pub shutdown_timeout: Duration,
    /// How long a claimed job's lease lasts without a heartbeat.
    pub lease: Duration,
    /// How often a worker renews its leases and looks for cancel requests.
    pub heartbeat: Duration,
    /// Lease losses (worker deaths mid-run) after which a job is quarantined.
    pub quarantine_after: u32,
    /// How often the dispatcher looks for due work without being woken.
    pub dispatch_poll: Duration,
    /// How often the reconciler runs.
    pub reconcile_every: Duration,
    /// How long a dispatched job may sit unclaimed before the reconciler checks Redis still holds it.
    pub lost_dispatch_after: Duration,
}

impl EngineConfig {
    /// Defaults for everything but the Redis URL: what development and tests start from.
    pub fn new(redis_url: SecretString) -> EngineConfig {
        EngineConfig {
            redis_url,
            redis_namespace: "findash".to_owned(),
            sentry_dsn: None,
            environment: "development".to_owned(),
            dispatch_window: 256,
            rate_limits: String::new(),
            cron_overrides: String::new(),
            retention_succeeded: Duration::from_secs(30 * 86_400),
            retention_failed: Duration::from_secs(90 * 86_400),
            shutdown_timeout: Duration::from_secs(30),
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(5),
            quarantine_after: 3,
            dispatch_poll: Duration::from_millis(250),
            reconcile_every: Duration::from_secs(5),
            lost_dispatch_after: Duration::from_secs(30),
        }
    }
}
