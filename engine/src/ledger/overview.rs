//! The ledger as the console's overview reads it: how many attempts succeeded and failed over
//! time, where each queue's backlog stands, and which jobs a rate limit keeps waiting.
//!
//! Read-only, and bounded by the ledger's indexes so a page that polls every few seconds stays
//! cheap: throughput reads a time range of `job_attempts_finished_idx`, which carries each
//! attempt's outcome, so even a week of attempts is counted from the index alone (an index-only
//! scan, no table row per attempt: keep that query to `finished_at` and `outcome`); backlog and
//! waits read only unfinished jobs, through the dispatcher's two partial indexes (undispatched
//! backlog, the window); the dead and quarantined counts read the operators' index of those
//! states.
//!
//! What counts as what ([`Tally::of`]), by the attempt's `outcome`:
//! - *processed*: `succeeded`, and `blocked` (the job did its work and its verdict stopped a
//!   workflow, e.g. the data-quality gate; the job itself succeeded).
//! - *failed*: `failed`, `timed_out`, `panicked` (the job's run failed) and `lease_expired` (its
//!   worker died or lost the lease mid-run), whether or not a retry follows.
//! - *neither*: `deferred` (a rate limit or an unknown kind; no attempt used), `released` (the
//!   worker shut down first; no attempt used) and `cancelled` (an operator stopped it). The
//!   first migration's `retrying` and `rate_limited` are never written by this engine.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Nullable, Text, Timestamptz};

use super::enqueue::LedgerScope;
use crate::Queue;

/// How an attempt outcome counts on the throughput charts (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    Processed,
    Failed,
    Neither,
}

/// Attempt outcomes that count as processed.
pub const PROCESSED_OUTCOMES: [&str; 2] = ["succeeded", "blocked"];
/// Attempt outcomes that count as failed.
pub const FAILED_OUTCOMES: [&str; 4] = ["failed", "timed_out", "panicked", "lease_expired"];

impl Tally {
    pub fn of(outcome: &str) -> Tally {
        if PROCESSED_OUTCOMES.contains(&outcome) {
            Tally::Processed
        } else if FAILED_OUTCOMES.contains(&outcome) {
            Tally::Failed
        } else {
            Tally::Neither
        }
    }
}

/// Equal slices of time, `count` of them, the last one holding `now`; each starts at a multiple
/// of its width since the Unix epoch, so 1-minute slices start on the minute and 2-hour slices
/// on even UTC hours, and a slice keeps its place as the page refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub first: DateTime<Utc>,
    pub width: TimeDelta,
    pub count: usize,
}

impl Buckets {
    /// `count` slices of `width` (at least one second) ending with the one holding `now`.
    pub fn ending_at(now: DateTime<Utc>, width: TimeDelta, count: usize) -> Buckets {
        let width = width.max(TimeDelta::seconds(1));
        let count = count.max(1);
        let width_ms = width.num_milliseconds();
        let now_ms = now.timestamp_millis();
        let current = now_ms - now_ms.rem_euclid(width_ms);
        let back = width_ms.saturating_mul(i64::try_from(count - 1).unwrap_or(i64::MAX));
        let first = DateTime::from_timestamp_millis(current.saturating_sub(back)).unwrap_or(now);
        Buckets {
            first,
            width,
            count,
        }
    }

    /// Where slice `i` starts.
    pub fn start(&self, i: usize) -> DateTime<Utc> {
        self.first + self.width * i32::try_from(i).unwrap_or(i32::MAX)
    }

    /// Where the last slice ends.
    pub fn end(&self) -> DateTime<Utc> {
        self.start(self.count)
    }

    /// The slice holding `t`, if any.
    pub fn index_of(&self, t: DateTime<Utc>) -> Option<usize> {
        if t < self.first || t >= self.end() {
            return None;
        }
        let offset = (t - self.first).num_milliseconds() / self.width.num_milliseconds();
        usize::try_from(offset).ok()
    }
}

/// Attempts that finished in each slice of [`Buckets`], by [`Tally`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throughput {
    pub buckets: Buckets,
    /// One count per slice.
    pub processed: Vec<i64>,
    /// One count per slice.
    pub failed: Vec<i64>,
}

#[derive(QueryableByName)]
struct BucketRow {
    #[diesel(sql_type = BigInt)]
    bucket: i64,
    #[diesel(sql_type = BigInt)]
    processed: i64,
    #[diesel(sql_type = BigInt)]
    failed: i64,
}

/// Processed and failed attempts per slice of `buckets` (every slice present, zero or not).
/// Reads only `finished_at` and `outcome`, both in `job_attempts_finished_idx`.
pub fn throughput(scope: &mut impl LedgerScope, buckets: Buckets) -> QueryResult<Throughput> {
    let rows: Vec<BucketRow> = diesel::sql_query(
        "SELECT floor(extract(epoch FROM finished_at - $1) / $2)::bigint AS bucket, \
                count(*) FILTER (WHERE outcome = ANY($4)) AS processed, \
                count(*) FILTER (WHERE outcome = ANY($5)) AS failed \
         FROM job_attempts WHERE finished_at >= $1 AND finished_at < $3 \
         GROUP BY 1",
    )
    .bind::<Timestamptz, _>(buckets.first)
    .bind::<Double, _>(buckets.width.as_seconds_f64())
    .bind::<Timestamptz, _>(buckets.end())
    .bind::<Array<Text>, _>(PROCESSED_OUTCOMES.as_slice())
    .bind::<Array<Text>, _>(FAILED_OUTCOMES.as_slice())
    .load(scope.pg())?;
    let mut throughput = Throughput {
        buckets,
        processed: vec![0; buckets.count],
        failed: vec![0; buckets.count],
    };
    for row in rows {
        let Some(i) = usize::try_from(row.bucket)
            .ok()
            .filter(|i| *i < buckets.count)
        else {
            continue;
        };
        throughput.processed[i] = row.processed;
        throughput.failed[i] = row.failed;
    }
    Ok(throughput)
}

/// Where one queue stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub queue: String,
    /// Queued or retrying and due: waiting for a worker.
    pub ready: i64,
    /// When the longest-waiting ready job became due (its `run_at`): how long the queue's
    /// oldest job has waited.
    pub oldest_ready_at: Option<DateTime<Utc>>,
    /// Queued or retrying with a `run_at` still ahead (backoff, deferral, delayed enqueue).
    pub scheduled: i64,
    pub running: i64,
    /// Of `ready` and `scheduled`: jobs waiting for a retry after a failed attempt.
    pub retrying: i64,
    pub dead: i64,
    pub quarantined: i64,
}

#[derive(QueryableByName)]
struct DepthRow {
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = BigInt)]
    ready: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    oldest_ready_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    scheduled: i64,
    #[diesel(sql_type = BigInt)]
    running: i64,
    #[diesel(sql_type = BigInt)]
    retrying: i64,
    #[diesel(sql_type = BigInt)]
    dead: i64,
    #[diesel(sql_type = BigInt)]
    quarantined: i64,
}

/// The unfinished jobs, as two scans whose conditions are exactly those of the dispatcher's
/// partial indexes (the backlog not handed to Redis yet; the window), so neither reads a row
/// of a finished job.
const UNFINISHED: &str = "(SELECT id, queue, kind, state, run_at, deferrals FROM jobs \
       WHERE state IN ('queued', 'retrying') AND dispatched_at IS NULL \
     UNION ALL \
     SELECT id, queue, kind, state, run_at, deferrals FROM jobs \
       WHERE state IN ('queued', 'retrying', 'running') AND dispatched_at IS NOT NULL)";

/// Every queue of [`Queue::ALL`] in that order (zeros included), then any other queue the
/// ledger still names.
pub fn queue_depths(scope: &mut impl LedgerScope) -> QueryResult<Vec<QueueDepth>> {
    let rows: Vec<DepthRow> = diesel::sql_query(format!(
        "WITH pending AS ( \
             SELECT queue, \
                    count(*) FILTER (WHERE state <> 'running' AND run_at <= now()) AS ready, \
                    min(run_at) FILTER (WHERE state <> 'running' AND run_at <= now()) \
                        AS oldest_ready_at, \
                    count(*) FILTER (WHERE state <> 'running' AND run_at > now()) AS scheduled, \
                    count(*) FILTER (WHERE state = 'running') AS running, \
                    count(*) FILTER (WHERE state = 'retrying') AS retrying \
             FROM {UNFINISHED} u GROUP BY queue \
         ), ended AS ( \
             SELECT queue, count(*) FILTER (WHERE state = 'dead') AS dead, \
                    count(*) FILTER (WHERE state = 'quarantined') AS quarantined \
             FROM jobs WHERE state IN ('dead', 'quarantined') GROUP BY queue \
         ) \
         SELECT coalesce(p.queue, e.queue) AS queue, coalesce(p.ready, 0) AS ready, \
                p.oldest_ready_at, coalesce(p.scheduled, 0) AS scheduled, \
                coalesce(p.running, 0) AS running, coalesce(p.retrying, 0) AS retrying, \
                coalesce(e.dead, 0) AS dead, coalesce(e.quarantined, 0) AS quarantined \
         FROM pending p FULL JOIN ended e ON e.queue = p.queue"
    ))
    .load(scope.pg())?;
    let mut by_name: BTreeMap<String, QueueDepth> = rows
        .into_iter()
        .map(|r| {
            let depth = QueueDepth {
                queue: r.queue.clone(),
                ready: r.ready,
                oldest_ready_at: r.oldest_ready_at,
                scheduled: r.scheduled,
                running: r.running,
                retrying: r.retrying,
                dead: r.dead,
                quarantined: r.quarantined,
            };
            (r.queue, depth)
        })
        .collect();
    let mut depths: Vec<QueueDepth> = Queue::ALL
        .iter()
        .map(|q| {
            by_name.remove(q.as_str()).unwrap_or_else(|| QueueDepth {
                queue: q.as_str().to_owned(),
                ..QueueDepth::default()
            })
        })
        .collect();
    depths.extend(by_name.into_values());
    Ok(depths)
}

/// Jobs of one kind that a rate limit keeps waiting: queued again after a deferral whose
/// reason is a rate limit ([`super::RATE_LIMITED`]), with no attempt since.
///
/// The ledger does not record which key limited a job (a job may throttle on a key derived from
/// its credentials), so waits are grouped by queue and kind.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct RateLimitWait {
    #[diesel(sql_type = Text)]
    pub queue: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = BigInt)]
    pub jobs: i64,
    /// When the longest current wait began: the first deferral after the job's last attempt
    /// that was not deferred.
    #[diesel(sql_type = Timestamptz)]
    pub waiting_since: DateTime<Utc>,
    /// The soonest any of them runs again.
    #[diesel(sql_type = Timestamptz)]
    pub next_try_at: DateTime<Utc>,
    /// The most deferrals one of them has had (the engine runs a job regardless after
    /// `MAX_DEFERRALS`).
    #[diesel(sql_type = BigInt)]
    pub most_deferrals: i64,
}

/// The jobs waiting on a rate limit, by queue and kind, most jobs first.
pub fn rate_limit_waits(scope: &mut impl LedgerScope) -> QueryResult<Vec<RateLimitWait>> {
    diesel::sql_query(format!(
        "WITH waiting AS ( \
             SELECT u.id, u.queue, u.kind, u.run_at, u.deferrals FROM {UNFINISHED} u \
             CROSS JOIN LATERAL ( \
                 SELECT a.outcome, a.error FROM job_attempts a WHERE a.job_id = u.id \
                 ORDER BY a.attempt DESC LIMIT 1) latest \
             WHERE u.state = 'queued' AND u.deferrals > 0 AND latest.outcome = 'deferred' \
               AND starts_with(latest.error, $1) \
         ) \
         SELECT w.queue, w.kind, count(*) AS jobs, min(s.since) AS waiting_since, \
                min(w.run_at) AS next_try_at, max(w.deferrals)::bigint AS most_deferrals \
         FROM waiting w CROSS JOIN LATERAL ( \
             SELECT min(a.finished_at) AS since FROM job_attempts a \
             WHERE a.job_id = w.id AND a.attempt > coalesce( \
                 (SELECT max(b.attempt) FROM job_attempts b \
                  WHERE b.job_id = w.id AND b.outcome <> 'deferred'), 0) \
         ) s \
         GROUP BY w.queue, w.kind ORDER BY jobs DESC, waiting_since, w.queue, w.kind"
    ))
    .bind::<Text, _>(super::RATE_LIMITED)
    .load(scope.pg())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        match DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn slices_align_to_their_width_and_end_with_now() {
        let now = at("2026-11-25T14:03:27.500Z");
        let hour = Buckets::ending_at(now, TimeDelta::minutes(1), 60);
        assert_eq!(hour.first, at("2026-11-25T13:04:00Z"));
        assert_eq!(hour.start(59), at("2026-11-25T14:03:00Z"));
        assert_eq!(hour.end(), at("2026-11-25T14:04:00Z"));
        assert_eq!(hour.index_of(now), Some(59));
        assert_eq!(hour.index_of(at("2026-11-25T13:04:00Z")), Some(0));
        assert_eq!(hour.index_of(at("2026-11-25T13:03:59.999Z")), None);
        assert_eq!(hour.index_of(at("2026-11-25T14:04:00Z")), None);

        let day = Buckets::ending_at(now, TimeDelta::minutes(15), 96);
        assert_eq!(day.start(95), at("2026-11-25T14:00:00Z"));
        assert_eq!(day.first, at("2026-11-24T14:15:00Z"));

        // Two-hour slices start on even UTC hours.
        let week = Buckets::ending_at(now, TimeDelta::hours(2), 84);
        assert_eq!(week.start(83), at("2026-11-25T14:00:00Z"));
        assert_eq!(week.first, at("2026-11-18T16:00:00Z"));
        assert_eq!(
            week.index_of(at("2026-11-25T13:59:59Z")),
            Some(82),
            "the slice before"
        );
    }

    #[test]
    fn degenerate_slices_are_widened() {
        let now = at("2026-11-25T14:03:27Z");
        let b = Buckets::ending_at(now, TimeDelta::zero(), 0);
        assert_eq!(b.width, TimeDelta::seconds(1));
        assert_eq!(b.count, 1);
        assert_eq!(b.index_of(now), Some(0));
    }

    #[test]
    fn outcomes_tally_as_documented() {
        assert_eq!(Tally::of("succeeded"), Tally::Processed);
        assert_eq!(Tally::of("blocked"), Tally::Processed);
        for failed in ["failed", "timed_out", "panicked", "lease_expired"] {
            assert_eq!(Tally::of(failed), Tally::Failed, "{failed}");
        }
        for neither in [
            "deferred",
            "released",
            "cancelled",
            "retrying",
            "rate_limited",
        ] {
            assert_eq!(Tally::of(neither), Tally::Neither, "{neither}");
        }
    }
}
