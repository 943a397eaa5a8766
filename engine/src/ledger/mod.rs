//! The job ledger in PostgreSQL: the source of truth for every job. Redis only carries job ids.
//!
//! Every transition is one conditional statement over a batch of jobs (`… WHERE state IN (…)`),
//! so concurrent workers, replicas and operators can never move a job twice, and throughput
//! comes from batching rather than from one commit per job.

mod claim;
mod enqueue;
mod lineage;
mod operate;
mod outcome;
mod overview;
mod read;
mod search;

pub use claim::{Claimed, claim};
pub use enqueue::{EnqueueOptions, Enqueued, LedgerScope, NewJob, Trigger, insert_jobs};
pub use lineage::{Lineage, RunRef, TickRef, lineage};
pub use operate::{Action, ActionResult, apply_action};
pub use outcome::{AttemptEnd, Finished, Outcome, RATE_LIMITED, record_outcomes};
pub use overview::{
    Buckets, FAILED_OUTCOMES, PROCESSED_OUTCOMES, QueueDepth, RateLimitWait, Tally, Throughput,
    queue_depths, rate_limit_waits, throughput,
};
pub use read::{
    AttemptRow, JOB_STATES, JobRow, Stats, UNFINISHED_STATES, count_by_kind, find_job, get_job,
    stats,
};
pub use search::{JobFilter, Owner, count_jobs, job_ids, list_jobs};

/// Lets this transaction commit without waiting for its WAL flush. Used for claims, outcomes
/// and lease renewals only: if PostgreSQL crashes, the last few milliseconds of those
/// transitions may be lost, and the affected jobs simply run again — delivery is at least once
/// and handlers are idempotent anyway. Enqueues (business transactions) stay fully durable.
pub fn relax_commit(conn: &mut diesel::PgConnection) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl;
    diesel::sql_query("SET LOCAL synchronous_commit = off")
        .execute(conn)
        .map(|_| ())
}
