//! Bounded, fair dispatch: feeds due ledger jobs to Redis so that Redis never holds more than
//! the window per queue, taking an equal share from every tenant with due work.
//!
//! Runs in every scheduler (and `findash up`); a per-queue advisory lock makes one replica at a
//! time dispatch a queue. A job enqueued behind another tenant's backlog waits for at most the
//! window's worth of that queue's jobs, never for the backlog.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Text, Timestamptz, Uuid as SqlUuid};
use findash_schema::{JobId, SystemTask};
use futures::StreamExt;
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

/// Hands up to the free part of `queue`'s window to Redis; returns how many jobs it pushed.
pub(crate) async fn dispatch_once(
    services: &Arc<Services>,
    queue: Queue,
) -> Result<usize, EngineError> {
    let kinds: Vec<String> = services
        .registry
        .kinds_of(queue)
        .into_iter()
        .map(str::to_owned)
        .collect();
    if kinds.is_empty() {
        return Ok(0);
    }
    let window = i64::from(services.config.dispatch_window);
    let db = services.db.clone();
    let picked = tokio::task::spawn_blocking(move || {
        db.system(SystemTask::Jobs, |sys| {
            pick(sys.conn(), queue, window, &kinds)
        })
    })
    .await??;
    if picked.is_empty() {
        return Ok(0);
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
    Ok(picked.len())
}

/// Chooses and marks the jobs to dispatch, in one transaction holding the queue's lock.
fn pick(
    conn: &mut PgConnection,
    queue: Queue,
    window: i64,
    kinds: &[String],
) -> Result<Vec<(JobId, String, chrono::DateTime<chrono::Utc>)>, EngineError> {
    let lock: Locked = diesel::sql_query(
        "SELECT pg_try_advisory_xact_lock(hashtext('findash:dispatch:' || $1)) AS locked",
    )
    .bind::<Text, _>(queue.as_str())
    .get_result(conn)?;
    if !lock.locked {
        return Ok(Vec::new());
    }
    let in_window: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM jobs WHERE queue = $1 \
           AND state IN ('queued', 'retrying', 'running') AND dispatched_at IS NOT NULL",
    )
    .bind::<Text, _>(queue.as_str())
    .get_result(conn)?;
    let room = window - in_window.n;
    // Refill in chunks of at least a quarter window: with three quarters of a window still
    // waiting in Redis, topping up a handful at a time would only cost statements.
    if room <= 0 || (room < window / 4 && in_window.n > 0) {
        return Ok(Vec::new());
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
        return Ok(Vec::new());
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
        return Ok(Vec::new());
    }
    // Losing this mark in a crash only means a job is dispatched twice; the claim runs it once.
    crate::ledger::relax_commit(conn)?;
    let ids: Vec<Uuid> = chosen.iter().map(|r| r.id).collect();
    let tokens: Vec<String> = chosen
        .iter()
        .map(|_| ulid::Ulid::generate().to_string())
        .collect();
    let marked: Vec<Marked> = diesel::sql_query(
        "UPDATE jobs j SET dispatched_at = now(), dispatch_token = u.token \
         FROM unnest($1::uuid[], $2::text[]) AS u(id, token) \
         WHERE j.id = u.id AND j.id IN ( \
             SELECT id FROM jobs WHERE id = ANY($1) AND state IN ('queued', 'retrying') \
               AND dispatched_at IS NULL ORDER BY id FOR UPDATE) \
         RETURNING j.id, u.token, j.run_at",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Text>, _>(&tokens)
    .load(conn)?;
    Ok(marked
        .into_iter()
        .map(|m| (JobId(m.id), m.token, m.run_at))
        .collect())
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

/// The dispatcher loop of one process: every queue, whenever woken (enqueue, completion) or
/// every poll interval, until `stop`.
pub async fn run(services: Arc<Services>, stop: tokio_util::sync::CancellationToken) {
    let mut wake =
        transport::wake_stream(services.redis_client.clone(), services.ns.dispatch_wake());
    let local = services.local_wake.clone();
    let mut sweep_at = tokio::time::Instant::now();
    loop {
        let mut busy = false;
        for queue in Queue::ALL {
            match dispatch_once(&services, queue).await {
                Ok(n) => busy |= n > 0,
                Err(e) => tracing::warn!(queue = queue.as_str(), error = %e, "dispatch failed"),
            }
        }
        if sweep_at.elapsed() > Duration::from_secs(1) {
            sweep_at = tokio::time::Instant::now();
            for queue in Queue::ALL {
                let mut redis = services.redis.clone();
                if let Err(e) = transport::sweep_finished(&mut redis, &services.ns, queue).await {
                    tracing::debug!(error = %e, "sweeping finished tasks failed");
                }
            }
        }
        if busy {
            // More may fit as soon as workers finish; yield, then look again.
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            _ = wake.next() => {}
            () = local.notified() => {}
            () = tokio::time::sleep(services.config.dispatch_poll) => {}
        }
    }
}
