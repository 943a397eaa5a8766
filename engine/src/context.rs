//! What a running job gets from the engine.

use std::sync::Arc;

use findash_schema::{DbError, JobId, SystemConn, SystemTask, TenantConn, TenantId, WorkflowRunId};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::Job;
use crate::engine::Services;
use crate::job::JobError;
use crate::ledger::{EnqueueOptions, Enqueued, NewJob, Trigger, insert_jobs};
use crate::ratelimit::{Decision, RateLimiter};

/// The handle a job's `run` receives: who it runs for, which attempt this is, and the
/// services it may use. Cheap to clone.
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<Inner>,
}

struct Inner {
    job_id: JobId,
    kind: &'static str,
    tenant: Option<TenantId>,
    attempt: u32,
    max_attempts: u32,
    workflow: Option<(WorkflowRunId, String)>,
    cancel: CancellationToken,
    services: Arc<Services>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.inner.job_id)
            .field("kind", &self.inner.kind)
            .field("attempt", &self.inner.attempt)
            .finish_non_exhaustive()
    }
}

pub(crate) struct ContextParts {
    pub job_id: JobId,
    pub kind: &'static str,
    pub tenant: Option<TenantId>,
    pub attempt: u32,
    pub max_attempts: u32,
    pub workflow: Option<(WorkflowRunId, String)>,
    pub cancel: CancellationToken,
    pub services: Arc<Services>,
}

impl JobContext {
    pub(crate) fn new(parts: ContextParts) -> JobContext {
        JobContext {
            inner: Arc::new(Inner {
                job_id: parts.job_id,
                kind: parts.kind,
                tenant: parts.tenant,
                attempt: parts.attempt,
                max_attempts: parts.max_attempts,
                workflow: parts.workflow,
                cancel: parts.cancel,
                services: parts.services,
            }),
        }
    }

    pub fn job_id(&self) -> JobId {
        self.inner.job_id
    }

    /// The tenant the job works for; `None` for system jobs.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.inner.tenant
    }

    /// This attempt's number, from 1.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// Whether a failure now makes the job `dead`.
    pub fn is_last_attempt(&self) -> bool {
        self.inner.attempt >= self.inner.max_attempts
    }

    /// The workflow run and step this job executes, if any.
    pub fn workflow(&self) -> Option<&(WorkflowRunId, String)> {
        self.inner.workflow.as_ref()
    }

    /// How long final jobs stay in the ledger: (succeeded, dead/cancelled/quarantined).
    pub fn retention(&self) -> (std::time::Duration, std::time::Duration) {
        let config = &self.inner.services.config;
        (config.retention_succeeded, config.retention_failed)
    }

    /// The shared HTTP client (connection pooling, timeouts set per request by the caller).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.services.http
    }

    /// What the registry was given for the job types (see [`crate::Registry::provide`]). A
    /// missing value is a wiring mistake of the binary, reported as a permanent failure.
    pub fn state<T: Send + Sync + 'static>(&self) -> Result<&T, JobError> {
        self.inner.services.registry.state::<T>().ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!(
                "`{}` needs {} and this process's registry has none",
                self.inner.kind,
                std::any::type_name::<T>()
            ))
        })
    }

    /// The rate limiter shared by every replica.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.inner.services.limiter
    }

    /// Takes a token for `key`, or tells the engine to run the job again once the limit allows
    /// (without using an attempt): `ctx.throttle("pluggy:..").await?;`.
    pub async fn throttle(&self, key: &str) -> Result<(), JobError> {
        match self.inner.services.limiter.acquire(key).await {
            Ok(Decision::Allowed) => Ok(()),
            Ok(Decision::Limited { retry_after }) => Err(JobError::RateLimited { retry_after }),
            Err(e) => Err(JobError::retryable(e)),
        }
    }

    /// Set when an operator cancels the job or the worker must stop; long jobs check it between
    /// steps. The engine also stops a cancelled job at its next `.await`.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Resolves when the job is cancelled.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.inner.cancel.cancelled()
    }

    /// Runs `f` in a transaction scoped to the job's tenant (row-level security applies), on a
    /// blocking thread. A system job has no tenant: that is a programming error, reported as a
    /// permanent failure.
    pub async fn tenant_db<T, F>(&self, f: F) -> Result<T, JobError>
    where
        T: Send + 'static,
        F: FnOnce(&mut TenantConn<'_>) -> anyhow::Result<T> + Send + 'static,
    {
        let Some(tenant) = self.inner.tenant else {
            return Err(JobError::permanent(anyhow::anyhow!(
                "`{}` runs without a tenant and cannot open a tenant scope",
                self.inner.kind
            )));
        };
        let db = self.inner.services.db.clone();
        let after = self.after_scope();
        blocking(move || {
            let result = db.tenant(tenant, |conn| f(conn).map_err(ScopeError::Job));
            after();
            result
        })
        .await
    }

    /// Runs `f` on the system path (every tenant visible), on a blocking thread.
    pub async fn system_db<T, F>(&self, task: SystemTask, f: F) -> Result<T, JobError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SystemConn<'_>) -> anyhow::Result<T> + Send + 'static,
    {
        let db = self.inner.services.db.clone();
        let after = self.after_scope();
        blocking(move || {
            let result = db.system(task, |conn| f(conn).map_err(ScopeError::Job));
            after();
            result
        })
        .await
    }

    /// What runs on the blocking thread once a scope of this job ended: for a job that changes
    /// dashboard data, dropping the cached answers its transaction may have made stale. Done
    /// there, after the commit, it also covers a scope that outlives its job (a timed-out or
    /// cancelled attempt stops awaiting, but the blocking work runs to its end). The executor
    /// drops them once more when the attempt ends.
    fn after_scope(&self) -> impl FnOnce() + Send + 'static {
        let services = self.inner.services.clone();
        let changes = services
            .registry
            .get(self.inner.kind)
            .is_some_and(|t| t.changes_dashboard);
        let tenant = self.inner.tenant;
        let runtime = tokio::runtime::Handle::try_current().ok();
        move || {
            let (true, Some(runtime)) = (changes, runtime) else {
                return;
            };
            runtime.spawn(async move {
                match tenant {
                    Some(tenant) => services.cache.invalidate(tenant).await,
                    None => services.cache.invalidate_all().await,
                }
            });
        }
    }

    /// Fan-out: enqueues `children` as steps `<this step>:<subject>` of this job's workflow run.
    /// Steps that depend on this one wait for every child to finish, and start exactly once.
    pub async fn fan_out<J: Job>(
        &self,
        children: Vec<(String, J)>,
    ) -> Result<Vec<Enqueued>, JobError> {
        let Some((run, step)) = self.inner.workflow.clone() else {
            return Err(JobError::permanent(anyhow::anyhow!(
                "fan_out outside a workflow step"
            )));
        };
        let mut rows = Vec::with_capacity(children.len());
        for (subject, child) in children {
            rows.push((
                format!("{}:{subject}", base_step(&step)),
                NewJob::of(&child).map_err(JobError::permanent)?,
            ));
        }
        let parent = self.inner.job_id;
        let services = self.inner.services.clone();
        let enqueued = self
            .system_db(SystemTask::Jobs, move |sys| {
                crate::workflow::add_children(sys, run, parent, rows).map_err(anyhow::Error::from)
            })
            .await?;
        services.wake_dispatchers().await;
        Ok(enqueued)
    }

    /// Enqueues a follow-up job for the same tenant, caused by this one.
    pub async fn enqueue<J: Job>(&self, job: &J) -> Result<Enqueued, JobError> {
        let row = NewJob::of(job).map_err(JobError::permanent)?;
        let mut options =
            EnqueueOptions::new(Trigger::new("job", Some(self.inner.job_id.to_string())));
        options.parent = Some(self.inner.job_id);
        options.tenant = self.inner.tenant;
        let enqueued = self
            .system_db(SystemTask::Jobs, move |sys| {
                let mut rows = insert_jobs(sys, vec![row], &options)?;
                rows.pop()
                    .ok_or_else(|| anyhow::anyhow!("enqueue returned no row"))
            })
            .await?;
        self.inner.services.wake_dispatchers().await;
        Ok(enqueued)
    }
}

impl JobContext {
    /// From a system job: enqueues one `job(tenant, today)` for every active tenant (`today` in
    /// the tenant's time zone), with this job as its trigger (the cron's `forecast_all`, `dq_all`, `daily_summary_all`). Each job's own idempotency key
    /// decides whether a rerun enqueues again. Returns how many jobs it enqueued or found.
    pub async fn enqueue_per_tenant<J, F>(&self, job: F) -> Result<usize, JobError>
    where
        J: Job,
        F: Fn(TenantId, chrono::NaiveDate) -> J + Send + 'static,
    {
        self.system_only()?;
        let parent = self.inner.job_id;
        let enqueued = self
            .system_db(SystemTask::Jobs, move |sys| {
                let mut total = 0;
                for tenant in findash_schema::tenants::active_ids(sys)? {
                    let today = findash_schema::tenants::local_today(sys, tenant)?;
                    let row = NewJob::of(&job(tenant, today))?;
                    // Caused by this job, named by the trigger: a tenant's job cannot have a
                    // system job as its parent (the ledger keeps lineage within a tenant).
                    let mut options =
                        EnqueueOptions::new(Trigger::new("job", Some(parent.to_string())));
                    options.tenant = Some(tenant);
                    total += insert_jobs(sys, vec![row], &options)?.len();
                }
                Ok(total)
            })
            .await?;
        self.inner.services.wake_dispatchers().await;
        Ok(enqueued)
    }
}

impl JobContext {
    /// From a system job: starts `spec(tenant)` as a workflow run of every active tenant that has
    /// one (a tenant for which `spec` returns `None` is skipped), caused by this job. A run whose
    /// (workflow, tenant, key) exists already is left as it is. Returns the runs started and
    /// those found.
    pub async fn start_workflows<F>(&self, spec: F) -> Result<WorkflowsStarted, JobError>
    where
        F: Fn(
                &mut SystemConn<'_>,
                TenantId,
            ) -> anyhow::Result<Option<crate::workflow::WorkflowSpec>>
            + Send
            + 'static,
    {
        self.system_only()?;
        let registry = self.inner.services.registry.clone();
        let started = self
            .system_db(SystemTask::Jobs, move |sys| {
                let mut out = WorkflowsStarted::default();
                for tenant in findash_schema::tenants::active_ids(sys)? {
                    let Some(spec) = spec(sys, tenant)? else {
                        continue;
                    };
                    let run = crate::workflow::start(sys, &registry, tenant, &spec)?;
                    if run.duplicate {
                        out.existing += 1;
                    } else {
                        out.started += 1;
                    }
                }
                Ok(out)
            })
            .await?;
        self.inner.services.wake_dispatchers().await;
        Ok(started)
    }
}

impl JobContext {
    /// Work that acts on every tenant runs only as a system job: a tenant's job (enqueued through
    /// a tenant's API, say) must not reach other tenants.
    fn system_only(&self) -> Result<(), JobError> {
        match self.inner.tenant {
            None => Ok(()),
            Some(_) => Err(JobError::permanent(anyhow::anyhow!(
                "`{}` acts on every tenant and runs only as a system job (without a tenant)",
                self.inner.kind
            ))),
        }
    }
}

/// What [`JobContext::start_workflows`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowsStarted {
    pub started: usize,
    /// Runs that existed already (the same day's pipeline, say).
    pub existing: usize,
}

/// The step name without a fan-out subject: children of `sync:abc` are still `sync:<subject>`.
fn base_step(step: &str) -> &str {
    step.split(':').next().unwrap_or(step)
}

#[derive(Debug, thiserror::Error)]
enum ScopeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("{0:#}")]
    Job(anyhow::Error),
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ScopeError> + Send + 'static,
) -> Result<T, JobError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(JobError::retryable(e)),
        Err(e) => Err(JobError::retryable(e)),
    }
}
