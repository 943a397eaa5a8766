//! Claiming: the conditional `queued|retrying → running` transition, for a batch of jobs.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, Double, Int4, Jsonb, Nullable, Text, Uuid as SqlUuid};
use findash_schema::{JobId, TenantId, WorkflowRunId};
use serde_json::Value;
use uuid::Uuid;

/// A job this worker now runs, holding a lease.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    tenant_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Jsonb)]
    pub payload: Value,
    /// Counted attempts including this one.
    #[diesel(sql_type = Int4)]
    pub attempts: i32,
    #[diesel(sql_type = Int4)]
    pub max_attempts: i32,
    #[diesel(sql_type = Int4)]
    pub deferrals: i32,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    workflow_run_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub workflow_step: Option<String>,
    #[diesel(sql_type = Text)]
    pub trigger_kind: String,
}

impl Claimed {
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

/// Claims every job of `ids` that may run now for `worker`, with a lease of `lease`. Jobs that
/// are running elsewhere, finished, cancelled, or not due yet are left alone and simply missing
/// from the result: a redelivered message is harmless. A claimed job is in its queue's window
/// (`dispatched_at` set), even when the delivery was one the dispatcher had taken back.
pub fn claim(
    conn: &mut PgConnection,
    worker: &str,
    lease: Duration,
    ids: &[JobId],
) -> QueryResult<Vec<Claimed>> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    super::relax_commit(conn)?;
    // Rows are locked by id alone and filtered afterwards: a condition on `state` in the
    // locking scan would let the planner pick a state index (bloated by the very transitions
    // it serves) over the primary key.
    diesel::sql_query(
        "WITH locked AS ( \
             SELECT id, state, run_at, cancel_requested_at FROM jobs WHERE id = ANY($3) \
             ORDER BY id FOR UPDATE \
         ) \
         UPDATE jobs j SET state = 'running', attempts = LEAST(j.attempts + 1, j.max_attempts), \
                runs = j.runs + 1, lease_owner = $1, \
                lease_expires_at = now() + make_interval(secs => $2), started_at = now(), \
                dispatched_at = coalesce(j.dispatched_at, now()), \
                dispatch_token = coalesce(j.dispatch_token, 'claimed') \
         FROM locked l \
         WHERE j.id = l.id AND l.state IN ('queued', 'retrying') AND l.run_at <= now() \
           AND l.cancel_requested_at IS NULL \
         RETURNING j.id, j.tenant_id, j.kind, j.payload, j.attempts, j.max_attempts, j.deferrals, \
                   j.workflow_run_id, j.workflow_step, j.trigger_kind",
    )
    .bind::<Text, _>(worker)
    .bind::<Double, _>(lease.as_secs_f64())
    .bind::<Array<SqlUuid>, _>(&ids)
    .load(conn)
}
