//! The engine's shared services and its public face: enqueue, notify, operator actions, and the
//! long-running roles (worker pools, dispatcher, scheduler).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use findash_schema::{Db, JobId, SystemConn, SystemTask, TenantId};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use secrecy::ExposeSecret;

use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::job::Job;
use crate::ledger::{self, Action, ActionResult, EnqueueOptions, Enqueued, NewJob};
use crate::ratelimit::{RateLimiter, RateLimits};
use crate::registry::Registry;
use crate::transport::Namespace;

/// Everything jobs, workers and loops share. One per process.
pub struct Services {
    pub(crate) db: Db,
    pub(crate) redis: ConnectionManager,
    pub(crate) redis_client: redis::Client,
    pub(crate) ns: Namespace,
    pub(crate) registry: Registry,
    pub(crate) http: reqwest::Client,
    pub(crate) limiter: RateLimiter,
    pub(crate) config: EngineConfig,
    pub(crate) sentry: Option<Arc<sentry::Client>>,
    /// News for this process's dispatcher (`crate::wake`).
    pub(crate) wakes: Arc<crate::wake::Board>,
    pub(crate) limiter_metrics: prometheus::Registry,
    /// apalis workers alive in this process, for readiness probes.
    pub(crate) live_workers: AtomicUsize,
    pub(crate) cache: crate::cache::TenantCache,
}

impl Services {
    /// Tells every dispatcher that there is new work. This process's dispatcher hears it over
    /// pub/sub like the others, or directly when Redis cannot be reached.
    pub(crate) async fn wake_dispatchers(&self) {
        let mut redis = self.redis.clone();
        if let Err(e) = redis
            .publish::<_, _, ()>(self.ns.dispatch_wake(), crate::wake::NEW_WORK)
            .await
        {
            tracing::debug!(error = %e, "dispatch wake-up not published; dispatchers will poll");
            self.wakes.new_work();
        }
    }

    /// Tells every dispatcher how many jobs of each queue just finished (window space freed).
    pub(crate) async fn report_freed(&self, freed: &HashMap<crate::Queue, usize>) {
        if freed.is_empty() {
            return;
        }
        // One round trip whatever the number of queues.
        let mut pipe = redis::pipe();
        for (queue, n) in freed {
            pipe.publish(
                self.ns.dispatch_wake(),
                crate::wake::freed_message(*queue, *n),
            )
            .ignore();
        }
        let mut redis = self.redis.clone();
        if let Err(e) = pipe.query_async::<()>(&mut redis).await {
            tracing::debug!(error = %e, "dispatch wake-up not published; dispatchers will poll");
        }
    }

    /// A Sentry event for a failed attempt, on a hub of its own: tags of one job never leak
    /// into another's events.
    pub(crate) fn report_failure(&self, job: &ledger::Claimed, error: &str, outcome: &str) {
        let Some(client) = &self.sentry else { return };
        let hub = sentry::Hub::new(Some(client.clone()), Arc::new(sentry::Scope::default()));
        hub.configure_scope(|scope| {
            scope.set_tag("job.kind", &job.kind);
            scope.set_tag("job.id", job.id());
            scope.set_tag("job.attempt", job.attempts);
            scope.set_tag("job.outcome", outcome);
            if let Some(tenant) = job.tenant() {
                scope.set_tag("tenant", tenant);
            }
        });
        hub.capture_message(&format!("{}: {error}", job.kind), sentry::Level::Error);
    }
}

/// How many rate-limit buckets [`Engine::rate_limit_buckets`] lists at most.
pub const RATE_LIMIT_BUCKETS_LISTED: usize = 500;

/// What [`Engine::rate_limit_buckets`] found.
#[derive(Debug, Clone)]
pub struct RateLimitBuckets {
    /// `RATE_LIMITS`: prefix → quota, by prefix.
    pub limits: Vec<(String, crate::ratelimit::Quota)>,
    pub in_use: crate::ratelimit::BucketsInUse,
}

/// The engine of one process.
#[derive(Clone)]
pub struct Engine {
    pub(crate) services: Arc<Services>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("namespace", &self.services.ns)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Connects to Redis and assembles the services. `db` must be current (migrated).
    pub async fn connect(
        config: EngineConfig,
        db: Db,
        registry: Registry,
    ) -> Result<Engine, EngineError> {
        crate::tls::install_crypto_provider();
        let client = redis::Client::open(config.redis_url.expose_secret())?;
        let redis = client.get_connection_manager().await?;
        let limits = RateLimits::parse(&config.rate_limits).map_err(EngineError::Invalid)?;
        // The limiter's metrics live in a registry of this engine (a process may hold several
        // engines, e.g. in tests); `Engine::gather` serves both.
        let limiter_metrics = prometheus::Registry::new();
        let limiter = RateLimiter::new(
            redis.clone(),
            &config.redis_namespace,
            limits,
            &limiter_metrics,
        )
        .map_err(|e| EngineError::Invalid(format!("rate-limit metrics: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| EngineError::Invalid(format!("HTTP client: {e}")))?;
        let sentry = match &config.sentry_dsn {
            Some(dsn) => {
                let dsn: sentry::types::Dsn = dsn.expose_secret().parse().map_err(|_| {
                    EngineError::Invalid("SENTRY_DSN is not a valid DSN".to_owned())
                })?;
                let mut options = sentry::ClientOptions::default();
                options.dsn = Some(dsn);
                options.environment = Some(config.environment.clone().into());
                options.release = sentry::release_name!();
                // A client made by hand has no transport (events would vanish) and no
                // integrations; the panic integration stays off: the engine reports the panics
                // of jobs itself, on the job's own hub.
                options.transport = Some(Arc::new(sentry::transports::DefaultTransportFactory));
                options.integrations = vec![Arc::new(
                    sentry::integrations::contexts::ContextIntegration::default(),
                )];
                Some(Arc::new(sentry::Client::from(options)))
            }
            None => None,
        };
        let ns = Namespace::new(&config.redis_namespace);
        Ok(Engine {
            services: Arc::new(Services {
                db,
                cache: crate::cache::TenantCache::new(redis.clone(), &ns),
                redis,
                redis_client: client,
                ns,
                registry,
                http,
                limiter,
                config,
                sentry,
                wakes: Arc::default(),
                limiter_metrics,
                live_workers: AtomicUsize::new(0),
            }),
        })
    }

    pub fn db(&self) -> &Db {
        &self.services.db
    }

    pub fn registry(&self) -> &Registry {
        &self.services.registry
    }

    pub fn config(&self) -> &EngineConfig {
        &self.services.config
    }

    /// Every built-in schedule as this deployment runs it: `CRON_SCHEDULES` applied, those off
    /// (by it, or for want of a job type) marked so — the list the scheduler ticks.
    pub fn schedules(&self) -> Result<Vec<crate::cron::Configured>, EngineError> {
        crate::scheduler::configured_schedules(&self.services)
    }

    /// The per-tenant cache of read models (the dashboard's aggregates).
    pub fn cache(&self) -> &crate::cache::TenantCache {
        &self.services.cache
    }

    /// apalis workers alive in this process: 0 in a worker process means it cannot run jobs.
    pub fn live_workers(&self) -> usize {
        self.services
            .live_workers
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether Redis answers (readiness probes).
    pub async fn redis_ok(&self) -> Result<(), EngineError> {
        let mut redis = self.services.redis.clone();
        let _: String = redis::cmd("PING").query_async(&mut redis).await?;
        Ok(())
    }

    /// apalis workers of this deployment, in any process, that heartbeated within `within`
    /// (they do every 5 s): what a readiness probe of a process without workers of its own
    /// (`web`) reports.
    pub async fn live_workers_everywhere(
        &self,
        within: std::time::Duration,
    ) -> Result<usize, EngineError> {
        Ok(self
            .live_workers_by_queue(within)
            .await?
            .into_iter()
            .map(|(_, n)| n)
            .sum())
    }

    /// [`Engine::live_workers_everywhere`] per queue (every queue, in [`Queue::ALL`] order): a
    /// worker process runs one apalis worker per queue it serves.
    ///
    /// [`Queue::ALL`]: crate::Queue::ALL
    pub async fn live_workers_by_queue(
        &self,
        within: std::time::Duration,
    ) -> Result<Vec<(crate::Queue, usize)>, EngineError> {
        let since = chrono::Utc::now().timestamp() - i64::try_from(within.as_secs()).unwrap_or(0);
        let mut pipe = redis::pipe();
        for queue in crate::Queue::ALL {
            pipe.zcount(
                self.services.ns.apalis_config(queue).workers_set(),
                since,
                "+inf",
            );
        }
        let mut redis = self.services.redis.clone();
        let counts: Vec<usize> = pipe.query_async(&mut redis).await?;
        Ok(crate::Queue::ALL.into_iter().zip(counts).collect())
    }

    /// The rate limiter every replica shares (what jobs reach as `JobContext::rate_limiter`).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.services.limiter
    }

    /// The configured limits and the buckets in use now (at most
    /// [`RATE_LIMIT_BUCKETS_LISTED`]), for the console.
    pub async fn rate_limit_buckets(&self) -> Result<RateLimitBuckets, EngineError> {
        let limiter = &self.services.limiter;
        Ok(RateLimitBuckets {
            limits: limiter.limits(),
            in_use: limiter.buckets(RATE_LIMIT_BUCKETS_LISTED).await?,
        })
    }

    /// Wakes the dispatchers after a transaction that enqueued jobs committed. Optional (they
    /// also poll), but it is what makes an enqueue start within milliseconds.
    pub async fn notify(&self) {
        self.services.wake_dispatchers().await;
    }

    /// Enqueues `job` for `tenant` in a transaction of its own, then notifies.
    pub async fn enqueue<J: Job>(
        &self,
        tenant: Option<TenantId>,
        job: &J,
        options: EnqueueOptions,
    ) -> Result<Enqueued, EngineError> {
        let row = NewJob::of(job)?;
        let mut result = self.enqueue_rows(tenant, vec![row], options).await?;
        result
            .pop()
            .ok_or_else(|| EngineError::Invalid("enqueue returned no row".to_owned()))
    }

    /// Enqueues ledger rows (e.g. built by [`Registry::new_job`]) for `tenant` in one
    /// transaction and one statement, then notifies.
    pub async fn enqueue_rows(
        &self,
        tenant: Option<TenantId>,
        rows: Vec<NewJob>,
        options: EnqueueOptions,
    ) -> Result<Vec<Enqueued>, EngineError> {
        let db = self.services.db.clone();
        let result = tokio::task::spawn_blocking(move || match tenant {
            Some(tenant) => db.tenant(tenant, |scope| ledger::insert_jobs(scope, rows, &options)),
            None => db.system(SystemTask::Jobs, |scope| {
                ledger::insert_jobs(scope, rows, &options)
            }),
        })
        .await??;
        self.notify().await;
        Ok(result)
    }

    /// An operator action on the system path (any tenant's job).
    pub async fn act(&self, id: JobId, action: Action) -> Result<ActionResult, EngineError> {
        let db = self.services.db.clone();
        let registry = self.services.registry.clone();
        let result = tokio::task::spawn_blocking(move || {
            db.system(SystemTask::Jobs, |sys| act_in(sys, &registry, id, action))
        })
        .await??;
        if matches!(result, ActionResult::Applied { .. }) {
            self.notify().await;
        }
        Ok(result)
    }

    /// Every engine metric of this process, for `/metrics`.
    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut families = crate::metrics::get().registry.gather();
        families.extend(self.services.limiter_metrics.gather());
        families
    }

    /// One reconciler pass (the scheduler runs them periodically).
    pub async fn reconcile_once(&self) -> Result<crate::reconcile::Repairs, EngineError> {
        crate::reconcile::reconcile_once(&self.services).await
    }

    /// Runs worker pools until `stop`.
    pub async fn run_workers(
        &self,
        options: crate::worker::WorkerOptions,
        stop: tokio_util::sync::CancellationToken,
    ) {
        crate::worker::run(self.services.clone(), options, stop).await;
    }

    /// Runs the scheduler role (dispatcher, reconciler, cron) until `stop`.
    pub async fn run_scheduler(
        &self,
        stop: tokio_util::sync::CancellationToken,
    ) -> Result<(), EngineError> {
        crate::scheduler::run(self.services.clone(), stop).await
    }
}

/// An action plus what it means for the job's workflow, in the caller's transaction.
pub fn act_in(
    sys: &mut SystemConn<'_>,
    registry: &Registry,
    id: JobId,
    action: Action,
) -> Result<ActionResult, EngineError> {
    let result = ledger::apply_action(sys, id, action)?;
    if matches!(result, ActionResult::Applied { .. }) {
        match action {
            Action::Cancel => crate::workflow::job_cancelled(sys, registry, id)?,
            Action::Retry => crate::workflow::job_retried(sys, id)?,
            Action::Discard => {}
        }
    }
    Ok(result)
}
