//! Running one delivered job: claim it in the ledger, run its handler under a timeout, a
//! cancellation token and a panic guard, decide the outcome (retries are the engine's, never
//! apalis's), and record it. Claims and outcomes of all of a process's jobs go through two
//! group-commit loops.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use findash_schema::{JobId, SystemTask};
use futures::FutureExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::batch::Batcher;
use crate::context::{ContextParts, JobContext};
use crate::engine::Services;
use crate::error::EngineError;
use crate::job::{JobError, MAX_DEFERRALS};
use crate::ledger::{AttemptEnd, Claimed, Finished, Outcome, claim, record_outcomes};
use crate::ratelimit::Decision;

/// Why a running job's token was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    Cancelled,
    Shutdown,
    /// The reconciler gave the job to another worker: stop; this attempt's outcome is void.
    LeaseLost,
}

pub(crate) struct Running {
    pub token: CancellationToken,
    pub reason: Arc<Mutex<Option<StopReason>>>,
}

/// A worker process's shared state.
pub(crate) struct WorkerState {
    /// Unique per process start: the ledger's lease owner.
    pub name: String,
    pub services: Arc<Services>,
    claims: Batcher<JobId, Result<Option<Claimed>, String>>,
    outcomes: Batcher<(JobId, Outcome), Result<Option<Finished>, String>>,
    pub running: Mutex<HashMap<JobId, Running>>,
    /// Per queue: how many jobs may run at once (`--concurrency`). apalis is given more slots
    /// than this, so deliveries waiting for their claim or outcome batch never hold a running
    /// slot and the batches fill up.
    slots: Mutex<HashMap<crate::Queue, Arc<tokio::sync::Semaphore>>>,
    /// Set once shutdown releases running jobs: a claim that lands afterwards is released at
    /// once instead of starting.
    pub shutting_down: std::sync::atomic::AtomicBool,
}

/// apalis slots per running slot: deliveries in the claim and outcome batches.
pub(crate) const DELIVERIES_PER_SLOT: usize = 8;

impl WorkerState {
    pub fn new(name: String, services: Arc<Services>) -> Arc<WorkerState> {
        let claims = {
            let (services, name) = (services.clone(), name.clone());
            Batcher::spawn(512, 2, move |ids: Vec<JobId>| {
                let (services, name) = (services.clone(), name.clone());
                async move {
                    let n = ids.len();
                    crate::metrics::get()
                        .batch_size
                        .with_label_values(&["claim"])
                        .observe(n as f64);
                    let db = services.db.clone();
                    let lease = services.config.lease;
                    let wanted = ids.clone();
                    let result = tokio::task::spawn_blocking(move || {
                        db.system(SystemTask::Jobs, |sys| {
                            claim(sys.conn(), &name, lease, &wanted).map_err(EngineError::from)
                        })
                    })
                    .await;
                    match result {
                        Ok(Ok(claimed)) => {
                            let mut by_id: HashMap<JobId, Claimed> =
                                claimed.into_iter().map(|c| (c.id(), c)).collect();
                            ids.iter().map(|id| Ok(by_id.remove(id))).collect()
                        }
                        Ok(Err(e)) => vec![Err(format!("{e:#}")); n],
                        Err(e) => vec![Err(e.to_string()); n],
                    }
                }
            })
        };
        let outcomes = {
            let (services, name) = (services.clone(), name.clone());
            Batcher::spawn(512, 2, move |batch: Vec<(JobId, Outcome)>| {
                let (services, name) = (services.clone(), name.clone());
                async move { record_batch(&services, &name, batch).await }
            })
        };
        Arc::new(WorkerState {
            name,
            services,
            claims,
            outcomes,
            running: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Sets how many of `queue`'s jobs may run at once in this process.
    pub fn set_concurrency(&self, queue: crate::Queue, concurrency: usize) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.insert(
                queue,
                Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            );
        }
    }

    fn slots_for(&self, queue: crate::Queue) -> Option<Arc<tokio::sync::Semaphore>> {
        self.slots
            .lock()
            .ok()
            .and_then(|slots| slots.get(&queue).cloned())
    }
}

async fn record_batch(
    services: &Arc<Services>,
    worker: &str,
    batch: Vec<(JobId, Outcome)>,
) -> Vec<Result<Option<Finished>, String>> {
    let ids: Vec<JobId> = batch.iter().map(|(id, _)| *id).collect();
    crate::metrics::get()
        .batch_size
        .with_label_values(&["outcome"])
        .observe(ids.len() as f64);
    // A deadlock or a dropped connection fails the whole batch; try again before leaving the
    // jobs to lease expiry.
    let mut result = None;
    for attempt in 1..=3 {
        let db = services.db.clone();
        let registry = services.registry.clone();
        let worker = worker.to_owned();
        let batch = batch.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            db.system(SystemTask::Jobs, |sys| {
                let finished = record_outcomes(sys.conn(), &worker, batch)?;
                crate::workflow::jobs_finished(sys, &registry, &finished)?;
                Ok::<_, EngineError>(finished)
            })
        })
        .await;
        let failed = !matches!(outcome, Ok(Ok(_)));
        result = Some(outcome);
        if !failed {
            break;
        }
        tracing::warn!(attempt, "recording a batch of outcomes failed; retrying");
        tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
    }
    let Some(result) = result else {
        return Vec::new();
    };
    let n = ids.len();
    match result {
        Ok(Ok(finished)) => {
            // Finished jobs free window space; jobs back in the queue or workflow steps they
            // started are new work for the dispatchers.
            let mut freed: HashMap<crate::Queue, usize> = HashMap::new();
            let mut new_work = false;
            for f in &finished {
                if let Ok(queue) = f.queue.parse() {
                    *freed.entry(queue).or_default() += 1;
                }
                new_work |=
                    f.workflow_run().is_some() || matches!(f.state.as_str(), "queued" | "retrying");
            }
            services.report_freed(&freed).await;
            if new_work {
                services.wake_dispatchers().await;
            }
            let mut by_id: HashMap<JobId, Finished> =
                finished.into_iter().map(|f| (f.id(), f)).collect();
            ids.iter().map(|id| Ok(by_id.remove(id))).collect()
        }
        Ok(Err(e)) => vec![Err(format!("{e:#}")); n],
        Err(e) => vec![Err(e.to_string()); n],
    }
}

/// Runs the job a Redis task carried. Never fails towards apalis: whatever happens is recorded
/// in the ledger, and the reconciler repairs what could not be recorded.
pub(crate) async fn execute(state: Arc<WorkerState>, id: JobId) {
    let claimed = match state.claims.submit(id).await {
        Some(Ok(Some(claimed))) => claimed,
        Some(Ok(None)) => {
            tracing::debug!(job_id = %id, "delivery skipped: job not claimable");
            return;
        }
        Some(Err(e)) => {
            tracing::warn!(job_id = %id, error = %e, "claim failed; the reconciler will redeliver");
            return;
        }
        None => return,
    };
    let span = tracing::info_span!(
        "job",
        job_id = %claimed.id(),
        kind = %claimed.kind,
        tenant = claimed.tenant().map(|t| t.to_string()).unwrap_or_default(),
        attempt = claimed.attempts,
        workflow = claimed.workflow_run().map(|w| w.to_string()).unwrap_or_default(),
    );
    run_claimed(state, claimed).instrument(span).await;
}

async fn run_claimed(state: Arc<WorkerState>, claimed: Claimed) {
    let metrics = crate::metrics::get();
    let id = claimed.id();
    metrics
        .started
        .with_label_values(&[claimed.kind.as_str()])
        .inc();
    let started = Instant::now();
    let token = CancellationToken::new();
    let reason = Arc::new(Mutex::new(None));
    if let Ok(mut running) = state.running.lock() {
        running.insert(
            id,
            Running {
                token: token.clone(),
                reason: reason.clone(),
            },
        );
        // Checked under the lock `release_all` takes after setting the flag: a claim that
        // lands after shutdown released everything is released too, never started.
        if state
            .shutting_down
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            if let Ok(mut reason) = reason.lock() {
                reason.get_or_insert(StopReason::Shutdown);
            }
            token.cancel();
        }
    }
    let queue = state.services.registry.get(&claimed.kind).map(|t| t.queue);
    // Waiting for a running slot still answers cancel and shutdown.
    let slot = match queue.and_then(|q| state.slots_for(q)) {
        Some(slots) => tokio::select! {
            biased;
            () = token.cancelled() => None,
            permit = slots.acquire_owned() => permit.ok(),
        },
        None => None,
    };
    let (outcome, label) = decide(&state, &claimed, token, &reason).await;
    drop(slot);
    if state
        .services
        .registry
        .get(&claimed.kind)
        .is_some_and(|t| t.changes_dashboard)
    {
        // The attempt's own transactions have committed (or rolled back) by now.
        match claimed.tenant() {
            Some(tenant) => state.services.cache.invalidate(tenant).await,
            None => state.services.cache.invalidate_all().await,
        }
    }
    if let Outcome::Retry { error, .. } | Outcome::Dead { error, .. } = &outcome {
        tracing::warn!(error = %error, outcome = label, "job attempt failed");
        state.services.report_failure(&claimed, error, label);
    } else {
        tracing::info!(outcome = label, "job attempt finished");
    }
    metrics
        .outcomes
        .with_label_values(&[claimed.kind.as_str(), label])
        .inc();
    metrics
        .duration
        .with_label_values(&[claimed.kind.as_str(), label])
        .observe(started.elapsed().as_secs_f64());
    match state.outcomes.submit((id, outcome)).await {
        Some(Ok(Some(_))) => {}
        Some(Ok(None)) => tracing::warn!("outcome discarded: the lease was lost meanwhile"),
        Some(Err(e)) => {
            tracing::error!(error = %e, "recording the outcome failed; the lease will expire and the job run again");
        }
        None => {}
    }
    if let Ok(mut running) = state.running.lock() {
        running.remove(&id);
    }
}

async fn decide(
    state: &Arc<WorkerState>,
    claimed: &Claimed,
    token: CancellationToken,
    reason: &Arc<Mutex<Option<StopReason>>>,
) -> (Outcome, &'static str) {
    let services = &state.services;
    let Some(job_type) = services.registry.get(&claimed.kind).copied() else {
        crate::metrics::get()
            .unknown_kinds
            .with_label_values(&[claimed.kind.as_str()])
            .set(1);
        tracing::error!(kind = %claimed.kind, "no job type registered for this kind; deferring");
        return (
            Outcome::Deferred {
                run_at: Utc::now() + chrono::Duration::seconds(60),
                reason: format!("no worker knows kind `{}`", claimed.kind),
            },
            "unknown_kind",
        );
    };
    if let Some(key) = job_type.rate_limit_key(&claimed.payload) {
        match services.limiter.acquire(&key).await {
            Ok(Decision::Allowed) => {}
            Ok(Decision::Limited { retry_after }) if claimed.deferrals < MAX_DEFERRALS => {
                return deferred(claimed, retry_after);
            }
            Ok(Decision::Limited { .. }) => {
                tracing::warn!("deferral limit reached; running despite the rate limit");
            }
            Err(e) => tracing::warn!(error = %e, "rate limiter unavailable; running unthrottled"),
        }
    }
    let attempt = u32::try_from(claimed.attempts).unwrap_or(1);
    let ctx = JobContext::new(ContextParts {
        job_id: claimed.id(),
        kind: job_type.kind,
        tenant: claimed.tenant(),
        attempt,
        max_attempts: u32::try_from(claimed.max_attempts).unwrap_or(1),
        workflow: claimed.workflow_run().zip(claimed.workflow_step.clone()),
        cancel: token.clone(),
        services: services.clone(),
    });
    let run = AssertUnwindSafe(job_type.run(claimed.payload.clone(), ctx)).catch_unwind();
    // A job stopped before it started (shutdown, cancel) never starts.
    let result = tokio::select! {
        biased;
        () = token.cancelled() => None,
        r = tokio::time::timeout(job_type.timeout, run) => Some(r),
    };
    let retry_or_dead = |error: String, end: AttemptEnd| {
        if claimed.attempts < claimed.max_attempts {
            let delay = job_type.retry.delay(attempt);
            let run_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            Outcome::Retry {
                error,
                run_at,
                attempt: end,
            }
        } else {
            Outcome::Dead {
                error,
                attempt: end,
            }
        }
    };
    match result {
        None => match reason.lock().ok().and_then(|r| *r) {
            Some(StopReason::Shutdown) => (Outcome::Released, "released"),
            // Recorded nowhere: the lease is someone else's now, and the write would be refused.
            Some(StopReason::LeaseLost) => (Outcome::Released, "lease_lost"),
            _ => (Outcome::Cancelled, "cancelled"),
        },
        Some(Err(_elapsed)) => (
            retry_or_dead(
                format!("timed out after {:?}", job_type.timeout),
                AttemptEnd::TimedOut,
            ),
            "timed_out",
        ),
        Some(Ok(Err(panic))) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            (
                retry_or_dead(format!("panicked: {message}"), AttemptEnd::Panicked),
                "panicked",
            )
        }
        Some(Ok(Ok(Ok(result)))) => (Outcome::Succeeded { result }, "succeeded"),
        Some(Ok(Ok(Err(JobError::Retryable(e))))) => {
            let outcome = retry_or_dead(format!("{e:#}"), AttemptEnd::Failed);
            let label = if matches!(outcome, Outcome::Dead { .. }) {
                "dead"
            } else {
                "retrying"
            };
            (outcome, label)
        }
        Some(Ok(Ok(Err(JobError::Permanent(e))))) => (
            Outcome::Dead {
                error: format!("{e:#}"),
                attempt: AttemptEnd::Failed,
            },
            "dead",
        ),
        Some(Ok(Ok(Err(JobError::RateLimited { retry_after })))) => {
            if claimed.deferrals < MAX_DEFERRALS {
                deferred(claimed, retry_after)
            } else {
                let outcome = retry_or_dead(
                    format!("still rate limited after {MAX_DEFERRALS} deferrals"),
                    AttemptEnd::Failed,
                );
                let label = if matches!(outcome, Outcome::Dead { .. }) {
                    "dead"
                } else {
                    "retrying"
                };
                (outcome, label)
            }
        }
        Some(Ok(Ok(Err(JobError::Blocked { reason })))) => (
            Outcome::Blocked {
                result: json!({ "blocked": reason }),
                reason,
            },
            "blocked",
        ),
    }
}

fn deferred(claimed: &Claimed, retry_after: std::time::Duration) -> (Outcome, &'static str) {
    crate::metrics::get()
        .rate_limit_waits
        .with_label_values(&[claimed.kind.as_str()])
        .inc();
    let run_at = Utc::now() + chrono::Duration::from_std(retry_after).unwrap_or_default();
    (
        Outcome::Deferred {
            run_at,
            reason: format!(
                "{}; next try in {retry_after:?}",
                crate::ledger::RATE_LIMITED
            ),
        },
        "deferred",
    )
}
