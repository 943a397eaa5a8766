//! Where a job came from and what it caused, for the operator's view of one job: the workflow
//! run it is a step of, the cron tick that fired it, the job that caused or spawned it, and the
//! jobs it spawned. `trigger_kind`/`trigger_ref` name the cause (see [`super::Trigger`]); the
//! webhook inbox and users belong to other crates, so their references are left to the caller.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use super::enqueue::LedgerScope;
use super::read::{JOB_COLUMNS, JobRow};

/// The workflow run a job is a step of.
#[derive(Debug, Clone, QueryableByName)]
pub struct RunRef {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub workflow: String,
    #[diesel(sql_type = Text)]
    pub run_key: String,
    #[diesel(sql_type = Text)]
    pub state: String,
}

/// The cron tick that enqueued a job.
#[derive(Debug, Clone, QueryableByName)]
pub struct TickRef {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub schedule: String,
    #[diesel(sql_type = Timestamptz)]
    pub fire_at: DateTime<Utc>,
}

/// A job's lineage.
#[derive(Debug, Clone)]
pub struct Lineage {
    pub run: Option<RunRef>,
    pub tick: Option<TickRef>,
    /// The job whose `JobContext` enqueued this one across tenants (`trigger_kind = 'job'`).
    pub cause: Option<JobRow>,
    pub parent: Option<JobRow>,
    /// The newest of the jobs whose parent this is, newest first.
    pub children: Vec<JobRow>,
    /// How many children there are in all.
    pub children_total: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn job(scope: &mut impl LedgerScope, id: Uuid) -> QueryResult<Option<JobRow>> {
    super::read::find_job(scope, findash_schema::JobId(id))
}

/// The lineage of `job`, with at most `children_limit` of its children.
pub fn lineage(
    scope: &mut impl LedgerScope,
    job_row: &JobRow,
    children_limit: i64,
) -> QueryResult<Lineage> {
    let run = match job_row.workflow_run_id {
        Some(run) => diesel::sql_query(
            "SELECT id, workflow, run_key, state FROM workflow_runs WHERE id = $1",
        )
        .bind::<SqlUuid, _>(run)
        .get_result(scope.pg())
        .optional()?,
        None => None,
    };
    let reference = job_row.trigger_ref.as_deref();
    let tick = match (
        job_row.trigger_kind.as_str(),
        reference.map(str::parse::<i64>),
    ) {
        ("cron", Some(Ok(tick))) => {
            diesel::sql_query("SELECT id, schedule, fire_at FROM cron_ticks WHERE id = $1")
                .bind::<BigInt, _>(tick)
                .get_result(scope.pg())
                .optional()?
        }
        _ => None,
    };
    let cause = match (
        job_row.trigger_kind.as_str(),
        reference.map(Uuid::parse_str),
    ) {
        ("job", Some(Ok(cause))) => job(scope, cause)?,
        _ => None,
    };
    let parent = match job_row.parent_job_id {
        Some(parent) => job(scope, parent)?,
        None => None,
    };
    let children = diesel::sql_query(format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE parent_job_id = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind::<SqlUuid, _>(job_row.id)
    .bind::<BigInt, _>(children_limit.max(0))
    .load(scope.pg())?;
    let children_total =
        diesel::sql_query("SELECT count(*) AS n FROM jobs WHERE parent_job_id = $1")
            .bind::<SqlUuid, _>(job_row.id)
            .get_result::<Count>(scope.pg())?
            .n;
    Ok(Lineage {
        run,
        tick,
        cause,
        parent,
        children,
        children_total,
    })
}
