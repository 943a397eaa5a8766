//! Reading the ledger: one job with its attempts, and counts for `jobs stats` (lists are
//! [`super::search`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int4, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::enqueue::LedgerScope;
use findash_schema::JobId;

/// Every state a job can be in (`jobs.state`).
pub const JOB_STATES: [&str; 7] = [
    "queued",
    "running",
    "retrying",
    "succeeded",
    "dead",
    "cancelled",
    "quarantined",
];

/// The states of a job that has not ended: it waits, runs, or waits to run again.
pub const UNFINISHED_STATES: [&str; 3] = ["queued", "running", "retrying"];

/// A job as operators see it.
#[derive(Debug, Clone, Serialize, QueryableByName)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Job))]
pub struct JobRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub tenant_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub queue: String,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Jsonb)]
    pub payload: Value,
    #[diesel(sql_type = Nullable<Text>)]
    pub idempotency_key: Option<String>,
    #[diesel(sql_type = Int4)]
    pub attempts: i32,
    #[diesel(sql_type = Int4)]
    pub max_attempts: i32,
    #[diesel(sql_type = Int4)]
    pub deferrals: i32,
    #[diesel(sql_type = Int4)]
    pub lease_losses: i32,
    #[diesel(sql_type = Timestamptz)]
    pub run_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub result: Option<Value>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub workflow_run_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub workflow_step: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub parent_job_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub trigger_kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub trigger_ref: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// One attempt in a job's history.
#[derive(Debug, Clone, Serialize, QueryableByName)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Attempt))]
pub struct AttemptRow {
    #[diesel(sql_type = Int4)]
    pub attempt: i32,
    #[diesel(sql_type = Text)]
    pub worker: String,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub outcome: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

pub(super) const JOB_COLUMNS: &str = "id, tenant_id, kind, queue, state, payload, \
     idempotency_key, attempts, max_attempts, deferrals, lease_losses, run_at, last_error, result, \
     workflow_run_id, workflow_step, parent_job_id, trigger_kind, trigger_ref, created_at, \
     started_at, finished_at";

/// One job, without its attempts.
pub fn find_job(scope: &mut impl LedgerScope, id: JobId) -> QueryResult<Option<JobRow>> {
    diesel::sql_query(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
        .bind::<SqlUuid, _>(id.0)
        .get_result(scope.pg())
        .optional()
}

/// One job and its attempts, oldest first.
pub fn get_job(
    scope: &mut impl LedgerScope,
    id: JobId,
) -> QueryResult<Option<(JobRow, Vec<AttemptRow>)>> {
    let Some(job) = find_job(scope, id)? else {
        return Ok(None);
    };
    let conn = scope.pg();
    let attempts = diesel::sql_query(
        "SELECT attempt, worker, started_at, finished_at, outcome, error FROM job_attempts \
         WHERE job_id = $1 ORDER BY attempt",
    )
    .bind::<SqlUuid, _>(id.0)
    .load(conn)?;
    Ok(Some((job, attempts)))
}

/// Counts for `findash jobs stats --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub total: i64,
    pub by_state: BTreeMap<String, i64>,
    pub by_kind: BTreeMap<String, i64>,
    pub by_queue: BTreeMap<String, BTreeMap<String, i64>>,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Job counts by state, kind and queue (every state present, zero or not).
pub fn stats(scope: &mut impl LedgerScope) -> QueryResult<Stats> {
    let rows: Vec<CountRow> = diesel::sql_query(
        "SELECT queue, kind, state, count(*) AS n FROM jobs GROUP BY queue, kind, state",
    )
    .load(scope.pg())?;
    let mut stats = Stats {
        total: 0,
        by_state: JOB_STATES.into_iter().map(|s| (s.to_owned(), 0)).collect(),
        by_kind: BTreeMap::new(),
        by_queue: BTreeMap::new(),
    };
    for row in rows {
        stats.total += row.n;
        *stats.by_state.entry(row.state.clone()).or_default() += row.n;
        *stats.by_kind.entry(row.kind).or_default() += row.n;
        *stats
            .by_queue
            .entry(row.queue)
            .or_default()
            .entry(row.state)
            .or_default() += row.n;
    }
    Ok(stats)
}

#[derive(QueryableByName)]
struct KindCount {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many jobs of each kind are in any of `states`, by kind.
pub fn count_by_kind(
    scope: &mut impl LedgerScope,
    states: &[&str],
) -> QueryResult<BTreeMap<String, i64>> {
    let rows: Vec<KindCount> = diesel::sql_query(
        "SELECT kind, count(*) AS n FROM jobs WHERE state = ANY($1::text[]) GROUP BY kind",
    )
    .bind::<Array<Text>, _>(states)
    .load(scope.pg())?;
    Ok(rows.into_iter().map(|r| (r.kind, r.n)).collect())
}
