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
/// from the result: a redelivered message is harmless.
pub fn claim(
    conn: &mut PgConnection,
    worker: &str,
    lease: Duration,
    ids: &[JobId],
) -> QueryResult<Vec<Claimed>> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    super::relax_commit(conn)?;
    diesel::sql_query(
        "UPDATE jobs SET state = 'running', attempts = LEAST(attempts + 1, max_attempts), \
                runs = runs + 1, lease_owner = $1, \
                lease_expires_at = now() + make_interval(secs => $2), started_at = now() \
         WHERE id IN (SELECT id FROM jobs WHERE id = ANY($3) AND state IN ('queued', 'retrying') \
                        AND run_at <= now() AND cancel_requested_at IS NULL \
                        ORDER BY id FOR UPDATE) \
         RETURNING id, tenant_id, kind, payload, attempts, max_attempts, deferrals, \
                   workflow_run_id, workflow_step, trigger_kind",
    )
    .bind::<Text, _>(worker)
    .bind::<Double, _>(lease.as_secs_f64())
    .bind::<Array<SqlUuid>, _>(&ids)
    .load(conn)
}
