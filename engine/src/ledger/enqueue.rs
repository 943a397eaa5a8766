//! Durable enqueue: ledger rows written in the caller's transaction (transactional outbox).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use findash_schema::{JobId, SystemConn, TenantConn, TenantId, WorkflowRunId};
use serde_json::Value;
use uuid::Uuid;

use crate::error::EngineError;
use crate::job::Job;

/// A transaction jobs can be enqueued in: a tenant scope (jobs of that tenant) or the system
/// path (system jobs, or any tenant's on the engine's behalf).
pub trait LedgerScope {
    /// The connection, inside the caller's transaction.
    fn pg(&mut self) -> &mut PgConnection;
    /// The tenant every job enqueued here belongs to; `None` on the system path.
    fn scope_tenant(&self) -> Option<TenantId>;
}

impl LedgerScope for TenantConn<'_> {
    fn pg(&mut self) -> &mut PgConnection {
        self.conn()
    }
    fn scope_tenant(&self) -> Option<TenantId> {
        Some(self.tenant_id())
    }
}

impl LedgerScope for SystemConn<'_> {
    fn pg(&mut self) -> &mut PgConnection {
        self.conn()
    }
    fn scope_tenant(&self) -> Option<TenantId> {
        None
    }
}

/// What caused a job: shown in the admin UI's lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// `api`, `cli`, `cron`, `webhook`, `workflow`, `job` or `system`.
    pub kind: &'static str,
    /// The id of the cause: user, webhook inbox row, cron tick, workflow run, parent job, or
    /// the operator of a console action (`console:<email>`).
    pub reference: Option<String>,
}

impl Trigger {
    pub fn new(kind: &'static str, reference: impl Into<Option<String>>) -> Trigger {
        Trigger {
            kind,
            reference: reference.into(),
        }
    }

    /// Started by hand by `operator` (their email) in the admin console: a `system` job whose
    /// reference says so, `console:<email>`.
    pub fn console(operator: &str) -> Trigger {
        Trigger::new("system", Some(format!("{CONSOLE_PREFIX}{operator}")))
    }

    /// The operator, when an operator started the job in the console.
    pub fn console_operator(kind: &str, reference: Option<&str>) -> Option<String> {
        (kind == "system")
            .then(|| reference?.strip_prefix(CONSOLE_PREFIX).map(str::to_owned))
            .flatten()
    }
}

const CONSOLE_PREFIX: &str = "console:";

/// How to enqueue.
#[derive(Debug, Clone)]
pub struct EnqueueOptions {
    /// Not before this instant (delayed job); default now.
    pub run_at: Option<DateTime<Utc>>,
    /// Overrides the key the job type derives from its payload.
    pub idempotency_key: Option<String>,
    pub trigger: Trigger,
    /// The job that spawned this one (same tenant).
    pub parent: Option<JobId>,
    /// On the system path: the tenant the job belongs to (`None`: a system job). Ignored in a
    /// tenant scope, whose tenant always wins.
    pub tenant: Option<TenantId>,
    /// The workflow run and step the job executes.
    pub workflow: Option<(WorkflowRunId, String)>,
}

impl EnqueueOptions {
    pub fn new(trigger: Trigger) -> EnqueueOptions {
        EnqueueOptions {
            run_at: None,
            idempotency_key: None,
            trigger,
            parent: None,
            tenant: None,
            workflow: None,
        }
    }
}

/// The outcome of an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: JobId,
    /// A job with the same tenant, kind and idempotency key existed: `id` is that job's.
    pub duplicate: bool,
}

/// A ledger row to insert; built from a [`Job`] or, for kinds known only by name (CLI, API,
/// workflow steps), from raw parts.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub queue: String,
    pub payload: Value,
    pub max_attempts: i32,
    pub idempotency_key: Option<String>,
}

impl NewJob {
    /// The row for a typed job.
    pub fn of<J: Job>(job: &J) -> Result<NewJob, EngineError> {
        Ok(NewJob {
            kind: J::KIND.to_owned(),
            queue: J::QUEUE.as_str().to_owned(),
            payload: serde_json::to_value(job).map_err(EngineError::Payload)?,
            max_attempts: i32::try_from(J::MAX_ATTEMPTS).unwrap_or(i32::MAX),
            idempotency_key: job.idempotency_key(),
        })
    }
}

#[derive(QueryableByName)]
struct InsertedId {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct Existing {
    #[diesel(sql_type = Int4)]
    ord: i32,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Inserts `jobs` (one statement for the whole batch) in the caller's transaction and returns,
/// in order, each job's id and whether it was a duplicate. Nothing reaches Redis here: the
/// dispatcher feeds committed rows to the workers (see `Engine::notify`).
pub fn insert_jobs(
    scope: &mut impl LedgerScope,
    jobs: Vec<NewJob>,
    options: &EnqueueOptions,
) -> Result<Vec<Enqueued>, EngineError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let tenant = scope.scope_tenant().or(options.tenant).map(|t| t.0);
    let run_at = options.run_at.unwrap_or_else(Utc::now);
    let n = jobs.len();
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let mut kinds = Vec::with_capacity(n);
    let mut queues = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    let mut max_attempts = Vec::with_capacity(n);
    for job in jobs {
        kinds.push(job.kind);
        queues.push(job.queue);
        payloads.push(job.payload);
        keys.push(options.idempotency_key.clone().or(job.idempotency_key));
        max_attempts.push(job.max_attempts);
    }
    let (run_id, step) = match &options.workflow {
        Some((run, step)) => (Some(run.0), Some(step.clone())),
        None => (None, None),
    };
    let inserted: Vec<InsertedId> = diesel::sql_query(
        "INSERT INTO jobs (id, tenant_id, kind, queue, payload, idempotency_key, max_attempts, \
                           run_at, priority, trigger_kind, trigger_ref, workflow_run_id, \
                           workflow_step, parent_job_id) \
         SELECT u.id, $2, u.kind, u.queue, u.payload, u.key, u.max_attempts, $8, 0, $9, $10, \
                $11, $12, $13 \
         FROM unnest($1::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::int4[]) \
              AS u(id, kind, queue, payload, key, max_attempts) \
         ON CONFLICT (tenant_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL \
         DO NOTHING \
         RETURNING id",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Nullable<SqlUuid>, _>(tenant)
    .bind::<Array<Text>, _>(&kinds)
    .bind::<Array<Text>, _>(&queues)
    .bind::<Array<Jsonb>, _>(&payloads)
    .bind::<Array<Nullable<Text>>, _>(&keys)
    .bind::<Array<Int4>, _>(&max_attempts)
    .bind::<Timestamptz, _>(run_at)
    .bind::<Text, _>(options.trigger.kind)
    .bind::<Nullable<Text>, _>(options.trigger.reference.as_deref())
    .bind::<Nullable<SqlUuid>, _>(run_id)
    .bind::<Nullable<Text>, _>(step.as_deref())
    .bind::<Nullable<SqlUuid>, _>(options.parent.map(|p| p.0))
    .load(scope.pg())?;

    let mut result: Vec<Enqueued> = ids
        .iter()
        .map(|id| Enqueued {
            id: JobId(*id),
            duplicate: true,
        })
        .collect();
    let fresh: std::collections::HashSet<Uuid> = inserted.into_iter().map(|r| r.id).collect();
    for (slot, id) in result.iter_mut().zip(&ids) {
        slot.duplicate = !fresh.contains(id);
    }
    if fresh.len() < n {
        // The rows that lost to an existing key: answer with the existing job's id.
        let lost: Vec<usize> = (0..n).filter(|i| result[*i].duplicate).collect();
        let lost_kinds: Vec<&str> = lost.iter().map(|i| kinds[*i].as_str()).collect();
        let lost_keys: Vec<Option<&str>> = lost.iter().map(|i| keys[*i].as_deref()).collect();
        let existing: Vec<Existing> = diesel::sql_query(
            "SELECT (u.ord - 1)::int4 AS ord, j.id FROM unnest($2::text[], $3::text[]) \
                 WITH ORDINALITY AS u(kind, key, ord) \
             JOIN jobs j ON j.tenant_id IS NOT DISTINCT FROM $1 AND j.kind = u.kind \
                        AND j.idempotency_key = u.key",
        )
        .bind::<Nullable<SqlUuid>, _>(tenant)
        .bind::<Array<Text>, _>(&lost_kinds)
        .bind::<Array<Nullable<Text>>, _>(&lost_keys)
        .load(scope.pg())?;
        for row in existing {
            if let Some(i) = usize::try_from(row.ord).ok().and_then(|o| lost.get(o)) {
                result[*i].id = JobId(row.id);
            }
        }
    }
    crate::metrics::get().record_enqueued(&kinds, &result);
    Ok(result)
}
