//! Worker pools: one supervised apalis worker per queue, a lease heartbeat, and graceful
//! shutdown that lets in-flight jobs finish and releases the rest.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{
    BackendExt, BoxDynError, Data, Strategy, WorkerBuilder, WorkerBuilderExt, WorkerError,
};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Double, Text, Uuid as SqlUuid};
use findash_schema::{JobId, SystemTask};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::engine::Services;
use crate::executor::{StopReason, WorkerState, execute};
use crate::queue::Queue;
use crate::transport::{self, Dispatch};

/// Which pools to run.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub queues: Vec<Queue>,
    /// Per-queue concurrency; `None`: each queue's default.
    pub concurrency: Option<usize>,
}

impl Default for WorkerOptions {
    fn default() -> WorkerOptions {
        WorkerOptions {
            queues: Queue::ALL.to_vec(),
            concurrency: None,
        }
    }
}

/// A unique name for this process start: apalis-redis refuses a worker name it saw recently,
/// and the ledger's leases must tell this process from its previous life.
pub fn process_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &ulid::Ulid::generate().to_string()[20..]
    )
}

async fn handle(dispatch: Dispatch, state: Data<Arc<WorkerState>>) -> Result<(), BoxDynError> {
    // The job runs on its own task: if apalis drops this future (shutdown), the job still ends
    // through the engine's own release path instead of vanishing mid-run.
    let state = Arc::clone(&state);
    let _ = tokio::spawn(execute(state, dispatch.id)).await;
    Ok(())
}

/// Runs the pools until `stop`, then shuts down gracefully.
pub async fn run(services: Arc<Services>, options: WorkerOptions, stop: CancellationToken) {
    let name = process_name();
    tracing::info!(worker = %name, queues = ?options.queues, "worker starting");
    let state = WorkerState::new(name.clone(), services.clone());
    let pools_stop = CancellationToken::new();
    let heartbeat = tokio::spawn(heartbeat(state.clone(), pools_stop.clone()));
    let mut pools = Vec::new();
    for queue in options.queues.iter().copied() {
        let concurrency = options.concurrency.unwrap_or(queue.default_concurrency());
        state.set_concurrency(queue, concurrency);
        pools.push(tokio::spawn(supervise(
            state.clone(),
            queue,
            concurrency,
            pools_stop.clone(),
        )));
    }
    stop.cancelled().await;
    tracing::info!("worker stopping: no new jobs; waiting for running ones");
    pools_stop.cancel();
    // apalis stops fetching at once; in-flight jobs run on their own tasks until they finish
    // or the deadline releases them.
    let deadline = tokio::time::Instant::now() + services.config.shutdown_timeout;
    while running_count(&state) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = release_all(&state);
    if left > 0 {
        tracing::warn!(
            jobs = left,
            "releasing jobs still running at the shutdown deadline"
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while running_count(&state) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for pool in pools {
        if tokio::time::timeout(Duration::from_secs(5), pool)
            .await
            .is_err()
        {
            tracing::warn!("an apalis worker did not stop within 5 s");
        }
    }
    heartbeat.abort();
    tracing::info!("worker stopped");
}

fn running_count(state: &WorkerState) -> usize {
    state.running.lock().map(|r| r.len()).unwrap_or(0)
}

fn release_all(state: &WorkerState) -> usize {
    state
        .shutting_down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let Ok(running) = state.running.lock() else {
        return 0;
    };
    for job in running.values() {
        if let Ok(mut reason) = job.reason.lock() {
            reason.get_or_insert(StopReason::Shutdown);
        }
        job.token.cancel();
    }
    running.len()
}

/// Keeps one queue's apalis worker alive: a worker that dies (Redis flushed, connection lost,
/// a registration conflict) is replaced under a new name.
async fn supervise(
    state: Arc<WorkerState>,
    queue: Queue,
    concurrency: usize,
    stop: CancellationToken,
) {
    let live = crate::metrics::get()
        .live_workers
        .with_label_values(&[queue.as_str()]);
    let mut generation = 0_u32;
    while !stop.is_cancelled() {
        generation += 1;
        let name = format!("{}:{}:{generation}", state.name, queue.as_str());
        live.inc();
        state
            .services
            .live_workers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = run_pool(&state, queue, concurrency, &name, stop.clone()).await;
        live.dec();
        state
            .services
            .live_workers
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if stop.is_cancelled() {
            break;
        }
        crate::metrics::get()
            .worker_restarts
            .with_label_values(&[queue.as_str()])
            .inc();
        match result {
            Ok(()) => tracing::warn!(worker = %name, "apalis worker ended; restarting"),
            Err(e) => tracing::error!(worker = %name, error = %e, "apalis worker died; restarting"),
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn run_pool(
    state: &Arc<WorkerState>,
    queue: Queue,
    concurrency: usize,
    name: &str,
    stop: CancellationToken,
) -> Result<(), WorkerError> {
    let services = &state.services;
    let redis = services.redis.clone();
    let storage = apalis_redis::RedisStorage::<Dispatch>::new(redis)
        .with_config(services.ns.apalis_config(queue));
    let wake = transport::wake_stream(
        services.redis_client.clone(),
        services.ns.worker_wake(queue),
    );
    let strategy = Strategy::new()
        .interval(Duration::from_millis(200))
        .stream(wake);
    let backend = storage.poll_with_strategy(strategy);
    let worker = WorkerBuilder::new(name)
        .backend(backend)
        .data(state.clone())
        .concurrency(concurrency * crate::executor::DELIVERIES_PER_SLOT)
        .build(handle);
    worker
        .run_until(async move {
            stop.cancelled().await;
            Ok::<(), WorkerError>(())
        })
        .await
}

#[derive(QueryableByName)]
struct Renewed {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Bool)]
    cancel: bool,
}

/// Renews the leases of this process's running jobs and stops the ones an operator cancelled.
async fn heartbeat(state: Arc<WorkerState>, stop: CancellationToken) {
    loop {
        // After stop, leases of jobs still finishing keep being renewed at the same pace.
        tokio::time::sleep(state.services.config.heartbeat).await;
        let ids: Vec<Uuid> = match state.running.lock() {
            Ok(running) => running.keys().map(|id| id.0).collect(),
            Err(_) => Vec::new(),
        };
        let db = state.services.db.clone();
        let name = state.name.clone();
        let lease = state.services.config.lease;
        let wanted = ids.clone();
        // Only this process's jobs, by primary key; rows an outcome is being written for are
        // locked by that transaction and skipped (they are finishing), so renewal never waits
        // on, or deadlocks with, the outcome batches.
        let renewed = tokio::task::spawn_blocking(move || {
            db.system(SystemTask::Jobs, |sys| {
                diesel::sql_query(
                    "WITH locked AS ( \
                         SELECT id, state, lease_owner FROM jobs WHERE id = ANY($3) \
                         ORDER BY id FOR UPDATE SKIP LOCKED \
                     ) \
                     UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => $2) \
                     FROM locked l \
                     WHERE j.id = l.id AND l.lease_owner = $1 AND l.state = 'running' \
                     RETURNING j.id, j.cancel_requested_at IS NOT NULL AS cancel",
                )
                .bind::<Text, _>(&name)
                .bind::<Double, _>(lease.as_secs_f64())
                .bind::<diesel::sql_types::Array<SqlUuid>, _>(&wanted)
                .load::<Renewed>(sys.conn())
                .map_err(crate::error::EngineError::from)
            })
        })
        .await;
        match renewed {
            Ok(Ok(rows)) => {
                lost_leases(&state, &ids, &rows).await;
                if let Ok(running) = state.running.lock() {
                    for row in rows.iter().filter(|r| r.cancel) {
                        if let Some(job) = running.get(&JobId(row.id)) {
                            if let Ok(mut reason) = job.reason.lock() {
                                reason.get_or_insert(StopReason::Cancelled);
                            }
                            job.token.cancel();
                        }
                    }
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "lease renewal failed"),
            Err(e) => tracing::warn!(error = %e, "lease renewal task failed"),
        }
        if stop.is_cancelled() && running_count(&state) == 0 {
            return;
        }
    }
}

#[derive(QueryableByName)]
struct NotOurs {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Fencing: jobs this process runs whose lease the reconciler gave away (renewals failed for a
/// whole lease) are stopped, so the same job never runs on two workers for longer than one
/// heartbeat.
async fn lost_leases(state: &Arc<WorkerState>, ids: &[Uuid], renewed: &[Renewed]) {
    let renewed: std::collections::HashSet<Uuid> = renewed.iter().map(|r| r.id).collect();
    let unrenewed: Vec<Uuid> = ids
        .iter()
        .filter(|id| !renewed.contains(id))
        .copied()
        .collect();
    if unrenewed.is_empty() {
        return;
    }
    let db = state.services.db.clone();
    let name = state.name.clone();
    let lost = tokio::task::spawn_blocking(move || {
        db.system(SystemTask::Jobs, |sys| {
            diesel::sql_query(
                "SELECT id FROM jobs WHERE id = ANY($1) \
                   AND NOT (state = 'running' AND lease_owner = $2)",
            )
            .bind::<diesel::sql_types::Array<SqlUuid>, _>(&unrenewed)
            .bind::<Text, _>(&name)
            .load::<NotOurs>(sys.conn())
            .map_err(crate::error::EngineError::from)
        })
    })
    .await;
    let Ok(Ok(lost)) = lost else { return };
    let Ok(running) = state.running.lock() else {
        return;
    };
    for row in lost {
        if let Some(job) = running.get(&JobId(row.id)) {
            tracing::warn!(job_id = %row.id, "lease no longer ours; stopping this run");
            if let Ok(mut reason) = job.reason.lock() {
                reason.get_or_insert(StopReason::LeaseLost);
            }
            job.token.cancel();
        }
    }
}
