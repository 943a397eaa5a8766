//! The reconciler: repairs what crashes and Redis data loss leave behind, from the ledger.
//!
//! - `running` jobs whose lease expired (worker killed): back to `queued`, the attempt given
//!   back, or `quarantined` after too many such deaths — a poison pill must not take the fleet
//!   down one worker at a time;
//! - dispatched jobs Redis no longer holds (restart, flush, eviction): dispatched again;
//! - pending jobs of kinds no worker knows: reported, never dropped.
//!
//! Safe on several replicas: each pass holds an advisory lock, and every repair is a
//! conditional update.

use std::collections::BTreeMap;
use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Double, Int4, Text, Uuid as SqlUuid};
use findash_schema::SystemTask;
use uuid::Uuid;

use crate::engine::Services;
use crate::error::EngineError;
use crate::ledger::Finished;
use crate::queue::Queue;
use crate::transport;

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct Dispatched {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = Text)]
    dispatch_token: String,
}

#[derive(QueryableByName)]
struct KindCount {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// What one pass repaired.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Repairs {
    pub requeued: usize,
    pub quarantined: usize,
    pub redispatched: usize,
}

/// One reconciliation pass.
pub(crate) async fn reconcile_once(services: &Arc<Services>) -> Result<Repairs, EngineError> {
    let db = services.db.clone();
    let quarantine_after = i32::try_from(services.config.quarantine_after).unwrap_or(3);
    let registry = services.registry.clone();
    let expired = tokio::task::spawn_blocking(move || {
        db.system(SystemTask::Jobs, |sys| {
            let expired = expire_leases(sys.conn(), quarantine_after)?;
            // Quarantined and cancelled jobs end their workflow steps too.
            crate::workflow::jobs_finished(sys, &registry, &expired)?;
            Ok::<_, EngineError>(expired)
        })
    })
    .await??;
    // Every expired job left its queue's window, whatever became of it.
    let mut freed: std::collections::HashMap<Queue, usize> = std::collections::HashMap::new();
    for row in &expired {
        if let Ok(queue) = row.queue.parse() {
            *freed.entry(queue).or_default() += 1;
        }
    }
    services.report_freed(&freed).await;
    let mut repairs = Repairs::default();
    for row in &expired {
        if row.state == "quarantined" {
            repairs.quarantined += 1;
        } else if row.state == "queued" {
            repairs.requeued += 1;
        }
    }
    repairs.redispatched = redispatch_lost(services).await?;
    report_unknown_kinds(services).await?;
    report_queues(services).await?;
    let metrics = crate::metrics::get();
    metrics
        .reconciler
        .with_label_values(&["lease_requeued"])
        .inc_by(repairs.requeued as u64);
    metrics
        .reconciler
        .with_label_values(&["quarantined"])
        .inc_by(repairs.quarantined as u64);
    metrics
        .reconciler
        .with_label_values(&["redispatched"])
        .inc_by(repairs.redispatched as u64);
    if repairs != Repairs::default() {
        tracing::warn!(?repairs, "reconciler repaired jobs");
        services.wake_dispatchers().await;
    }
    Ok(repairs)
}

fn expire_leases(
    conn: &mut PgConnection,
    quarantine_after: i32,
) -> Result<Vec<Finished>, EngineError> {
    let lock: Locked = diesel::sql_query(
        "SELECT pg_try_advisory_xact_lock(hashtext('findash:reconcile')) AS locked",
    )
    .get_result(conn)?;
    if !lock.locked {
        return Ok(Vec::new());
    }
    Ok(diesel::sql_query(
        "WITH expired AS ( \
             UPDATE jobs SET \
                 state = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled' \
                              WHEN lease_losses + 1 >= $1 THEN 'quarantined' ELSE 'queued' END, \
                 finished_at = CASE WHEN cancel_requested_at IS NOT NULL \
                                      OR lease_losses + 1 >= $1 THEN now() END, \
                 lease_losses = lease_losses + 1, attempts = greatest(attempts - 1, 0), \
                 last_error = 'the worker running it stopped heartbeating (lease expired)', \
                 lease_owner = NULL, lease_expires_at = NULL, dispatched_at = NULL, \
                 dispatch_token = NULL, run_at = now() \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND dispatched_at IS NOT NULL \
                            AND lease_expires_at < now() LIMIT 1000 FOR UPDATE SKIP LOCKED) \
             RETURNING id, tenant_id, queue, runs, started_at, state, workflow_run_id, \
                       workflow_step, (SELECT lease_owner FROM jobs j2 WHERE j2.id = jobs.id) AS owner \
         ), attempts AS ( \
             INSERT INTO job_attempts (job_id, tenant_id, attempt, worker, started_at, finished_at, \
                                       outcome, error) \
             SELECT id, tenant_id, runs, coalesce(owner, 'unknown'), started_at, \
                    greatest(now(), started_at), 'lease_expired', \
                    'the worker stopped heartbeating mid-run' \
             FROM expired WHERE started_at IS NOT NULL \
             ON CONFLICT (job_id, attempt) DO NOTHING \
         ) SELECT id, tenant_id, queue, state, 'lease_expired' AS attempt_outcome, \
                  'the worker stopped heartbeating mid-run' AS attempt_error, workflow_run_id, \
                  workflow_step FROM expired",
    )
    .bind::<Int4, _>(quarantine_after)
    .load(conn)?)
}

/// Dispatched jobs nobody claimed for a while: if Redis lost their task, dispatch them again.
async fn redispatch_lost(services: &Arc<Services>) -> Result<usize, EngineError> {
    let db = services.db.clone();
    let after = services.config.lost_dispatch_after.as_secs_f64();
    let candidates: Vec<Dispatched> = tokio::task::spawn_blocking(move || {
        db.system(SystemTask::Jobs, |sys| {
            diesel::sql_query(
                "SELECT id, queue, dispatch_token FROM jobs \
                 WHERE state IN ('queued', 'retrying') AND dispatched_at IS NOT NULL \
                   AND dispatched_at < now() - make_interval(secs => $1) LIMIT 5000",
            )
            .bind::<Double, _>(after)
            .load(sys.conn())
            .map_err(EngineError::from)
        })
    })
    .await??;
    let mut by_queue: BTreeMap<String, Vec<Dispatched>> = BTreeMap::new();
    for row in candidates {
        by_queue.entry(row.queue.clone()).or_default().push(row);
    }
    let mut lost: Vec<(Uuid, String)> = Vec::new();
    for (queue, rows) in by_queue {
        let Ok(queue) = queue.parse::<Queue>() else {
            continue;
        };
        let tokens: Vec<String> = rows.iter().map(|r| r.dispatch_token.clone()).collect();
        let mut redis = services.redis.clone();
        let held = transport::held(&mut redis, &services.ns, queue, &tokens).await?;
        lost.extend(
            rows.into_iter()
                .zip(held)
                .filter(|(_, h)| !h)
                .map(|(r, _)| (r.id, r.dispatch_token)),
        );
    }
    if lost.is_empty() {
        return Ok(0);
    }
    let (ids, tokens): (Vec<Uuid>, Vec<String>) = lost.into_iter().unzip();
    let db = services.db.clone();
    let n = tokio::task::spawn_blocking(move || {
        db.system(SystemTask::Jobs, |sys| {
            diesel::sql_query(
                "WITH locked AS ( \
                     SELECT id, state, dispatch_token FROM jobs WHERE id = ANY($1) \
                     ORDER BY id FOR UPDATE SKIP LOCKED \
                 ) \
                 UPDATE jobs j SET dispatched_at = NULL, dispatch_token = NULL \
                 FROM unnest($1::uuid[], $2::text[]) AS u(id, token) JOIN locked l USING (id) \
                 WHERE j.id = l.id AND l.dispatch_token = u.token \
                   AND l.state IN ('queued', 'retrying')",
            )
            .bind::<Array<SqlUuid>, _>(&ids)
            .bind::<Array<Text>, _>(&tokens)
            .execute(sys.conn())
            .map_err(EngineError::from)
        })
    })
    .await??;
    Ok(n)
}

async fn report_unknown_kinds(services: &Arc<Services>) -> Result<(), EngineError> {
    let known: Vec<String> = services.registry.kinds().map(str::to_owned).collect();
    let db = services.db.clone();
    let rows: Vec<KindCount> = tokio::task::spawn_blocking(move || {
        db.system(SystemTask::Jobs, |sys| {
            diesel::sql_query(
                // Never dispatched (the dispatcher skips unknown kinds): the backlog's index.
                "SELECT kind, count(*) AS n FROM jobs \
                 WHERE state IN ('queued', 'retrying') AND dispatched_at IS NULL \
                   AND kind <> ALL($1) GROUP BY kind",
            )
            .bind::<Array<Text>, _>(&known)
            .load(sys.conn())
            .map_err(EngineError::from)
        })
    })
    .await??;
    let gauge = &crate::metrics::get().unknown_kinds;
    gauge.reset();
    for row in rows {
        tracing::warn!(kind = %row.kind, jobs = row.n, "pending jobs of a kind no worker knows");
        gauge.with_label_values(&[row.kind.as_str()]).set(row.n);
    }
    Ok(())
}

#[derive(QueryableByName)]
struct QueueState {
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    /// Seconds since the oldest due job of this state became due (0 when none is due).
    #[diesel(sql_type = BigInt)]
    oldest_due: i64,
}

/// Queue depth per queue and state, and the age of the oldest due job that has not started:
/// the gauges an operator looks at first.
async fn report_queues(services: &Arc<Services>) -> Result<(), EngineError> {
    let db = services.db.clone();
    let rows: Vec<QueueState> = tokio::task::spawn_blocking(move || {
        db.system(SystemTask::Jobs, |sys| {
            diesel::sql_query(
                // Pending jobs are either in the backlog or in the window (a running job always
                // is): one index each.
                "SELECT queue, state, count(*) AS n, \
                        coalesce(extract(epoch FROM now() - min(run_at) \
                                 FILTER (WHERE run_at <= now())), 0)::bigint AS oldest_due \
                 FROM (SELECT queue, state, run_at FROM jobs \
                       WHERE state IN ('queued', 'retrying') AND dispatched_at IS NULL \
                       UNION ALL \
                       SELECT queue, state, run_at FROM jobs \
                       WHERE state IN ('queued', 'retrying', 'running') \
                         AND dispatched_at IS NOT NULL) pending \
                 GROUP BY queue, state",
            )
            .load(sys.conn())
            .map_err(EngineError::from)
        })
    })
    .await??;
    let metrics = crate::metrics::get();
    metrics.queue_depth.reset();
    metrics.oldest_queued_seconds.reset();
    for queue in Queue::ALL {
        let rows = rows.iter().filter(|r| r.queue == queue.as_str());
        let mut oldest = 0;
        for row in rows {
            metrics
                .queue_depth
                .with_label_values(&[queue.as_str(), row.state.as_str()])
                .set(row.n);
            if row.state != "running" {
                oldest = oldest.max(row.oldest_due);
            }
        }
        metrics
            .oldest_queued_seconds
            .with_label_values(&[queue.as_str()])
            .set(oldest);
    }
    Ok(())
}
