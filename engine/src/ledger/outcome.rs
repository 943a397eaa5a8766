//! Recording how attempts ended: the job's next state and the attempt's history row, for a
//! batch of jobs in one statement, plus the workflow steps those jobs finish.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use findash_schema::{JobId, TenantId, WorkflowRunId};
use serde_json::Value;
use uuid::Uuid;

/// How an attempt ended, as the executor decided it.
#[derive(Debug, Clone)]
pub enum Outcome {
    Succeeded {
        result: Value,
    },
    /// The job succeeded and blocks its workflow step (and what depends on it).
    Blocked {
        result: Value,
        reason: String,
    },
    /// A failure with attempts left: `retrying`, next run at `run_at`.
    Retry {
        error: String,
        run_at: DateTime<Utc>,
        attempt: AttemptEnd,
    },
    /// A permanent failure, or the last attempt failed.
    Dead {
        error: String,
        attempt: AttemptEnd,
    },
    /// A rate limit said no: back to `queued` for `run_at`, the attempt given back. A `reason`
    /// that starts with [`RATE_LIMITED`] marks a wait for a rate limit (the other deferral is a
    /// kind no worker knows).
    Deferred {
        run_at: DateTime<Utc>,
        reason: String,
    },
    /// An operator cancelled it while it ran.
    Cancelled,
    /// The worker stopped before the job finished: back to `queued`, the attempt given back.
    Released,
}

/// How the attempt error of a deferral caused by a rate limit starts (the limiter's or the
/// provider's 429): the overview counts the jobs waiting on one by it.
pub const RATE_LIMITED: &str = "rate limited";

/// How a failed attempt ended (`job_attempts.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    Failed,
    TimedOut,
    Panicked,
}

impl AttemptEnd {
    fn as_str(self) -> &'static str {
        match self {
            AttemptEnd::Failed => "failed",
            AttemptEnd::TimedOut => "timed_out",
            AttemptEnd::Panicked => "panicked",
        }
    }
}

struct Row {
    state: &'static str,
    result: Option<Value>,
    job_error: Option<String>,
    run_at: Option<DateTime<Utc>>,
    refund: i32,
    deferral: i32,
    attempt_outcome: &'static str,
    attempt_error: Option<String>,
}

impl Outcome {
    fn row(self) -> Row {
        let base = |state, attempt_outcome| Row {
            state,
            result: None,
            job_error: None,
            run_at: None,
            refund: 0,
            deferral: 0,
            attempt_outcome,
            attempt_error: None,
        };
        match self {
            Outcome::Succeeded { result } => Row {
                result: Some(result),
                ..base("succeeded", "succeeded")
            },
            Outcome::Blocked { result, reason } => Row {
                result: Some(result),
                attempt_error: Some(reason),
                ..base("succeeded", "blocked")
            },
            Outcome::Retry {
                error,
                run_at,
                attempt,
            } => Row {
                job_error: Some(error.clone()),
                attempt_error: Some(error),
                run_at: Some(run_at),
                ..base("retrying", attempt.as_str())
            },
            Outcome::Dead { error, attempt } => Row {
                job_error: Some(error.clone()),
                attempt_error: Some(error),
                ..base("dead", attempt.as_str())
            },
            Outcome::Deferred { run_at, reason } => Row {
                attempt_error: Some(reason),
                run_at: Some(run_at),
                refund: 1,
                deferral: 1,
                ..base("queued", "deferred")
            },
            Outcome::Cancelled => Row {
                job_error: Some("cancelled by an operator while running".to_owned()),
                ..base("cancelled", "cancelled")
            },
            Outcome::Released => Row {
                run_at: Some(Utc::now()),
                refund: 1,
                attempt_error: Some("worker shut down before the job finished".to_owned()),
                ..base("queued", "released")
            },
        }
    }
}

/// A job whose attempt was recorded.
#[derive(Debug, Clone, QueryableByName)]
pub struct Finished {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    tenant_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub queue: String,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Text)]
    pub attempt_outcome: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub attempt_error: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    workflow_run_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub workflow_step: Option<String>,
}

impl Finished {
    pub fn id(&self) -> JobId {
        JobId(self.id)
    }
    pub fn tenant(&self) -> Option<TenantId> {
        self.tenant_id.map(TenantId)
    }
    pub fn workflow_run(&self) -> Option<WorkflowRunId> {
        self.workflow_run_id.map(WorkflowRunId)
    }
}

/// Records `outcomes` of attempts `worker` ran. A job whose lease this worker no longer holds
/// (the reconciler gave it to someone else) is skipped and missing from the result.
pub fn record_outcomes(
    conn: &mut PgConnection,
    worker: &str,
    outcomes: Vec<(JobId, Outcome)>,
) -> QueryResult<Vec<Finished>> {
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let n = outcomes.len();
    let mut ids = Vec::with_capacity(n);
    let mut states = Vec::with_capacity(n);
    let mut results = Vec::with_capacity(n);
    let mut job_errors = Vec::with_capacity(n);
    let mut run_ats = Vec::with_capacity(n);
    let mut refunds = Vec::with_capacity(n);
    let mut deferrals = Vec::with_capacity(n);
    let mut attempt_outcomes = Vec::with_capacity(n);
    let mut attempt_errors = Vec::with_capacity(n);
    for (id, outcome) in outcomes {
        let row = outcome.row();
        ids.push(id.0);
        states.push(row.state);
        results.push(row.result);
        job_errors.push(row.job_error);
        run_ats.push(row.run_at);
        refunds.push(row.refund);
        deferrals.push(row.deferral);
        attempt_outcomes.push(row.attempt_outcome);
        attempt_errors.push(row.attempt_error);
    }
    super::relax_commit(conn)?;
    // Rows are locked by id alone and checked afterwards (see `claim`).
    // A job an operator cancelled while it ran does not go back to the queue.
    let sql = RECORD_OUTCOMES.replace(
        "{EFFECTIVE}",
        "(CASE WHEN j.cancel_requested_at IS NOT NULL AND o.state IN ('queued', 'retrying') \
          THEN 'cancelled' ELSE o.state END)",
    );
    diesel::sql_query(sql)
        .bind::<Array<SqlUuid>, _>(&ids)
        .bind::<Array<Text>, _>(&states)
        .bind::<Array<Nullable<Jsonb>>, _>(&results)
        .bind::<Array<Nullable<Text>>, _>(&job_errors)
        .bind::<Array<Nullable<Timestamptz>>, _>(&run_ats)
        .bind::<Array<Int4>, _>(&refunds)
        .bind::<Array<Int4>, _>(&deferrals)
        .bind::<Array<Text>, _>(&attempt_outcomes)
        .bind::<Array<Nullable<Text>>, _>(&attempt_errors)
        .bind::<Text, _>(worker)
        .load(conn)
}

const RECORD_OUTCOMES: &str = "WITH o AS ( \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::text[], \
                                  $5::timestamptz[], $6::int4[], $7::int4[], $8::text[], $9::text[]) \
                 AS o(id, state, result, job_error, run_at, refund, deferral, attempt_outcome, \
                      attempt_error) \
         ), locked AS ( \
             SELECT id, state, lease_owner FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE \
         ), done AS ( \
             UPDATE jobs j SET state = {EFFECTIVE}, result = o.result, \
                    last_error = coalesce(o.job_error, j.last_error), \
                    run_at = coalesce(o.run_at, j.run_at), attempts = j.attempts - o.refund, \
                    deferrals = j.deferrals + o.deferral, \
                    finished_at = CASE WHEN {EFFECTIVE} IN ('succeeded', 'dead', 'cancelled', \
                                                         'quarantined') THEN now() END, \
                    lease_owner = NULL, lease_expires_at = NULL, dispatched_at = NULL, \
                    dispatch_token = NULL \
             FROM o JOIN locked l USING (id) \
             WHERE j.id = l.id AND l.state = 'running' AND l.lease_owner = $10 \
             RETURNING j.id, j.tenant_id, j.queue, j.runs, j.started_at, j.state, o.attempt_outcome, \
                       o.attempt_error, j.workflow_run_id, j.workflow_step \
         ), attempts AS ( \
             INSERT INTO job_attempts (job_id, tenant_id, attempt, worker, started_at, \
                                       finished_at, outcome, error) \
             SELECT id, tenant_id, runs, $10, started_at, greatest(now(), started_at), \
                    attempt_outcome, attempt_error \
             FROM done \
         ) \
         SELECT id, tenant_id, queue, state, attempt_outcome, attempt_error, workflow_run_id, \
                workflow_step FROM done";
