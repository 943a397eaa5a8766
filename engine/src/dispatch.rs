//! Bounded, fair dispatch: feeds due ledger jobs to Redis so that Redis never holds more than
//! the window per queue, taking an equal share from every tenant with due work.
//!
//! Runs in every scheduler (and `findash up`); a per-queue advisory lock makes one replica at a
//! time dispatch a queue. A job enqueued behind another tenant's backlog waits for at most the
//! window's worth of that queue's jobs, never for the backlog.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Text, Timestamptz, Uuid as SqlUuid};
use findash_schema::{JobId, SystemTask};
use tokio::time::Instant;
use uuid::Uuid;

use crate::engine::Services;
use crate::error::EngineError;
use crate::queue::Queue;
use crate::transport;

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct TenantRow {
    #[diesel(sql_type = SqlUuid)]
    tid: Uuid,
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = SqlUuid)]
    tid: Uuid,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

const NIL: &str = "'00000000-0000-0000-0000-000000000000'::uuid";

/// What one dispatch pass over a queue found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// No worker type of this process uses the queue.
    Idle,
    /// Another dispatcher holds the queue right now.
    Busy,
    /// The window had `room` free slots; `pushed` jobs went to Redis.
    Counted { room: i64, pushed: usize },
}

impl Pass {
    /// How many of the queue's jobs must finish before another look can dispatch a refill:
    /// 0 to look again at once (it pushed jobs and a refill's worth of room is still free: the
    /// per-tenant shares may have left due work behind), `i64::MAX` when only new work can
    /// change anything.
    pub fn slots_to_wait_for(self, window: i64) -> i64 {
        let refill = refill_threshold(window);
        match self {
            Pass::Idle => i64::MAX,
            Pass::Busy => refill,
            Pass::Counted { room, pushed: 0 } if room >= refill => i64::MAX,
            Pass::Counted { room, pushed } => (refill - (room - pushed as i64)).max(0),
        }
    }
}

/// Refills come in chunks of at least a quarter window: with three quarters of a window still
/// waiting in Redis, topping up a handful at a time would only cost statements.
fn refill_threshold(window: i64) -> i64 {
    (window / 4).max(1)
}

/// Hands up to the free part of `queue`'s window to Redis.
pub(crate) async fn dispatch_once(
    services: &Arc<Services>,
    queue: Queue,
) -> Result<Pass, EngineError> {
    let kinds: Vec<String> = services
        .registry
        .kinds_of(queue)
        .into_iter()
        .map(str::to_owned)
        .collect();
    if kinds.is_empty() {
        return Ok(Pass::Idle);
    }
    let window = i64::from(services.config.dispatch_window);
    let db = services.db.clone();
    let picked = tokio::task::spawn_blocking(move || {
        db.system(SystemTask::Jobs, |sys| {
            pick(sys.conn(), queue, window, &kinds)
        })
    })
    .await??;
    let Some((room, picked)) = picked else {
        return Ok(Pass::Busy);
    };
    if picked.is_empty() {
        return Ok(Pass::Counted { room, pushed: 0 });
    }
    // The token stored in the ledger is the Redis task id, so the reconciler can look it up.
    let tasks: Vec<_> = picked
        .iter()
        .map(|(id, token, run_at)| transport::task_with_token(*id, token, *run_at))
        .collect::<Result<_, _>>()
        .map_err(EngineError::Payload)?;
    let mut redis = services.redis.clone();
    if let Err(e) = transport::push(&mut redis, &services.ns, queue, &tasks).await {
        // Give the jobs back at once rather than waiting for the reconciler to notice.
        let ids: Vec<Uuid> = picked.iter().map(|(id, _, _)| id.0).collect();
        let db = services.db.clone();
        let _ = tokio::task::spawn_blocking(move || {
            db.system(SystemTask::Jobs, |sys| {
                diesel::sql_query(
                    "UPDATE jobs SET dispatched_at = NULL, dispatch_token = NULL \
                     WHERE id = ANY($1) AND state IN ('queued', 'retrying')",
                )
                .bind::<Array<SqlUuid>, _>(&ids)
                .execute(sys.conn())
                .map_err(EngineError::from)
            })
        })
        .await;
        return Err(EngineError::Invalid(format!(
            "pushing to Redis failed: {e}"
        )));
    }
    crate::metrics::get()
        .dispatched
        .with_label_values(&[queue.as_str()])
        .inc_by(picked.len() as u64);
    Ok(Pass::Counted {
        room,
        pushed: picked.len(),
    })
}

type Picked = Vec<(JobId, String, chrono::DateTime<chrono::Utc>)>;

/// Chooses and marks the jobs to dispatch, in one transaction holding the queue's lock; with
/// the window's free room. `None` when another dispatcher holds the lock.
fn pick(
    conn: &mut PgConnection,
    queue: Queue,
    window: i64,
    kinds: &[String],
) -> Result<Option<(i64, Picked)>, EngineError> {
    let lock: Locked = diesel::sql_query(
        "SELECT pg_try_advisory_xact_lock(hashtext('findash:dispatch:' || $1)) AS locked",
    )
    .bind::<Text, _>(queue.as_str())
    .get_result(conn)?;
    if !lock.locked {
        return Ok(None);
    }
    let in_window: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM jobs WHERE queue = $1 \
           AND state IN ('queued', 'retrying', 'running') AND dispatched_at IS NOT NULL",
    )
    .bind::<Text, _>(queue.as_str())
    .get_result(conn)?;
    let room = window - in_window.n;
    if room <= 0 || (room < refill_threshold(window) && in_window.n > 0) {
        return Ok(Some((room, Vec::new())));
    }
    // The tenants with undispatched work: a skip scan, one index probe per tenant.
    let tenants: Vec<TenantRow> = diesel::sql_query(format!(
        "WITH RECURSIVE t(tid) AS ( \
             (SELECT coalesce(tenant_id, {NIL}) FROM jobs \
              WHERE queue = $1 AND state IN ('queued', 'retrying') AND dispatched_at IS NULL \
                AND run_at <= now() AND kind = ANY($2) \
              ORDER BY coalesce(tenant_id, {NIL}) LIMIT 1) \
             UNION ALL \
             SELECT (SELECT coalesce(tenant_id, {NIL}) FROM jobs \
                     WHERE queue = $1 AND state IN ('queued', 'retrying') \
                       AND dispatched_at IS NULL AND coalesce(tenant_id, {NIL}) > t.tid \
                       AND run_at <= now() AND kind = ANY($2) \
                     ORDER BY coalesce(tenant_id, {NIL}) LIMIT 1) \
             FROM t WHERE t.tid IS NOT NULL) \
         SELECT tid FROM t WHERE tid IS NOT NULL LIMIT 100000"
    ))
    .bind::<Text, _>(queue.as_str())
    .bind::<Array<Text>, _>(kinds)
    .load(conn)?;
    if tenants.is_empty() {
        return Ok(Some((room, Vec::new())));
    }
    let share = (room + tenants.len() as i64 - 1) / tenants.len() as i64;
    let tids: Vec<Uuid> = tenants.into_iter().map(|t| t.tid).collect();
    let due: Vec<DueRow> = diesel::sql_query(format!(
        "SELECT t.tid, j.id FROM unnest($2::uuid[]) AS t(tid) CROSS JOIN LATERAL ( \
             SELECT id, run_at FROM jobs \
             WHERE queue = $1 AND state IN ('queued', 'retrying') AND dispatched_at IS NULL \
               AND coalesce(tenant_id, {NIL}) = t.tid AND run_at <= now() AND kind = ANY($3) \
             ORDER BY run_at LIMIT $4) j"
    ))
    .bind::<Text, _>(queue.as_str())
    .bind::<Array<SqlUuid>, _>(&tids)
    .bind::<Array<Text>, _>(kinds)
    .bind::<BigInt, _>(share)
    .load(conn)?;
    let chosen = round_robin(due, usize::try_from(room).unwrap_or(0));
    if chosen.is_empty() {
        return Ok(Some((room, Vec::new())));
    }
    // Losing this mark in a crash only means a job is dispatched twice; the claim runs it once.
    // Rows are locked by id alone and checked afterwards (see `ledger::claim`).
    crate::ledger::relax_commit(conn)?;
    let ids: Vec<Uuid> = chosen.iter().map(|r| r.id).collect();
    let tokens: Vec<String> = chosen
        .iter()
        .map(|_| ulid::Ulid::generate().to_string())
        .collect();
    let marked: Vec<Marked> = diesel::sql_query(
        "WITH locked AS ( \
             SELECT id, state, dispatched_at FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE \
         ) \
         UPDATE jobs j SET dispatched_at = now(), dispatch_token = u.token \
         FROM unnest($1::uuid[], $2::text[]) AS u(id, token) JOIN locked l USING (id) \
         WHERE j.id = l.id AND l.state IN ('queued', 'retrying') AND l.dispatched_at IS NULL \
         RETURNING j.id, u.token, j.run_at",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Text>, _>(&tokens)
    .load(conn)?;
    Ok(Some((
        room,
        marked
            .into_iter()
            .map(|m| (JobId(m.id), m.token, m.run_at))
            .collect(),
    )))
}

#[derive(QueryableByName)]
struct Marked {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    token: String,
    #[diesel(sql_type = Timestamptz)]
    run_at: chrono::DateTime<chrono::Utc>,
}

/// Up to `room` jobs taking one from each tenant in turn, oldest first within a tenant.
fn round_robin(due: Vec<DueRow>, room: usize) -> Vec<DueRow> {
    let mut by_tenant: BTreeMap<Uuid, VecDeque<DueRow>> = BTreeMap::new();
    for row in due {
        by_tenant.entry(row.tid).or_default().push_back(row);
    }
    let mut lanes: Vec<VecDeque<DueRow>> = by_tenant.into_values().collect();
    let mut chosen = Vec::with_capacity(room);
    while chosen.len() < room && !lanes.is_empty() {
        lanes.retain_mut(|lane| {
            if chosen.len() < room
                && let Some(row) = lane.pop_front()
            {
                chosen.push(row);
            }
            !lane.is_empty()
        });
    }
    chosen
}

/// The dispatcher loop of one process, until `stop`. A queue is looked at when there is new
/// work, when enough of its jobs finished to be worth a refill (`crate::wake`), and every poll
/// interval whatever happened.
pub async fn run(services: Arc<Services>, stop: tokio_util::sync::CancellationToken) {
    let board = services.wakes.clone();
    {
        let (board, stop) = (board.clone(), stop.clone());
        transport::subscribe(
            services.redis_client.clone(),
            services.ns.dispatch_wake(),
            move |message| {
                board.receive(message);
                !stop.is_cancelled()
            },
        );
    }
    let window = i64::from(services.config.dispatch_window);
    let mut waiting_for: HashMap<Queue, i64> = HashMap::new();
    let mut poll_at = Instant::now();
    let mut sweep_at = Instant::now();
    loop {
        let news = board.take();
        let poll = Instant::now() >= poll_at;
        if poll {
            poll_at = Instant::now() + services.config.dispatch_poll;
        }
        let mut again = false;
        for queue in Queue::ALL {
            let wait = waiting_for.entry(queue).or_insert(0);
            let freed = i64::try_from(news.freed(queue)).unwrap_or(i64::MAX);
            *wait = wait.saturating_sub(freed);
            if !(poll || news.new_work || *wait <= 0) {
                continue;
            }
            match dispatch_once(&services, queue).await {
                Ok(pass) => {
                    *wait = pass.slots_to_wait_for(window);
                    again |= *wait == 0;
                }
                Err(e) => {
                    tracing::warn!(queue = queue.as_str(), error = %e, "dispatch failed");
                    // The next poll tries again.
                    *wait = i64::MAX;
                }
            }
        }
        if sweep_at.elapsed() > Duration::from_secs(1) {
            sweep_at = Instant::now();
            for queue in Queue::ALL {
                let mut redis = services.redis.clone();
                if let Err(e) = transport::sweep_finished(&mut redis, &services.ns, queue).await {
                    tracing::debug!(error = %e, "sweeping finished tasks failed");
                }
            }
        }
        if again {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = board.notified() => {}
            () = tokio::time::sleep_until(poll_at) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_looked_at_again_once_a_refill_can_be_dispatched() {
        let window = 2048;
        // Another dispatcher has it: a quarter window of news, or the poll.
        assert_eq!(Pass::Busy.slots_to_wait_for(window), 512);
        assert_eq!(Pass::Idle.slots_to_wait_for(window), i64::MAX);
        // Nothing due: only new work helps.
        let empty = Pass::Counted {
            room: 2048,
            pushed: 0,
        };
        assert_eq!(empty.slots_to_wait_for(window), i64::MAX);
        // Too little room for a refill: wait until a quarter window is free.
        let full = Pass::Counted {
            room: 100,
            pushed: 0,
        };
        assert_eq!(full.slots_to_wait_for(window), 412);
        // Filled the window: a quarter window must finish first.
        let filled = Pass::Counted {
            room: 600,
            pushed: 600,
        };
        assert_eq!(filled.slots_to_wait_for(window), 512);
        // Pushed some and a refill's worth of room is left: look again at once.
        let partial = Pass::Counted {
            room: 600,
            pushed: 10,
        };
        assert_eq!(partial.slots_to_wait_for(window), 0);
        // Pushed some, and what is left is less than a refill: wait for the difference.
        let nearly = Pass::Counted {
            room: 600,
            pushed: 400,
        };
        assert_eq!(nearly.slots_to_wait_for(window), 312);
        // A tiny window still refills one job at a time.
        assert_eq!(Pass::Counted { room: 1, pushed: 1 }.slots_to_wait_for(1), 1);
    }
}
