//! The scheduler role: the dispatcher, the reconciler and cron, each a loop that is correct
//! with any number of replicas running it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use findash_schema::{JobId, SystemTask};
use tokio_util::sync::CancellationToken;

use crate::cron::{Configured, CronMonitor, Off, Schedule, configured, enqueue_job};
use crate::engine::Services;
use crate::error::EngineError;
use crate::ledger::Trigger;

/// Runs dispatcher, reconciler and cron until `stop`.
pub async fn run(services: Arc<Services>, stop: CancellationToken) -> Result<(), EngineError> {
    let schedules = enabled_schedules(&services)?;
    let monitor = CronMonitor::new(
        services
            .config
            .sentry_dsn
            .as_ref()
            .map(secrecy::ExposeSecret::expose_secret),
        &services.config.environment,
    )
    .map_err(|e| EngineError::Invalid(format!("SENTRY_DSN: {e}")))?;
    let dispatcher = tokio::spawn(crate::dispatch::run(services.clone(), stop.clone()));
    let reconciler = tokio::spawn(reconcile_loop(services.clone(), stop.clone()));
    let cron = tokio::spawn(cron_loop(
        services.clone(),
        schedules,
        monitor,
        stop.clone(),
    ));
    let _ = tokio::join!(dispatcher, reconciler, cron);
    Ok(())
}

async fn reconcile_loop(services: Arc<Services>, stop: CancellationToken) {
    loop {
        if let Err(e) = crate::reconcile::reconcile_once(&services).await {
            tracing::warn!(error = %e, "reconciler pass failed");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(services.config.reconcile_every) => {}
        }
    }
}

/// Every built-in schedule as this deployment configures it (see [`configured`]).
pub(crate) fn configured_schedules(services: &Services) -> Result<Vec<Configured>, EngineError> {
    configured(&services.config.cron_overrides, &services.registry).map_err(|problems| {
        EngineError::Invalid(format!("CRON_SCHEDULES: {}", problems.join("; ")))
    })
}

/// The built-in schedules with the operator's overrides, minus those whose job kind has no
/// worker in this build (their ticks would pile up as jobs nobody runs).
fn enabled_schedules(services: &Services) -> Result<Vec<Schedule>, EngineError> {
    Ok(configured_schedules(services)?
        .into_iter()
        .filter_map(|Configured { schedule, off }| match off {
            None => Some(schedule),
            Some(Off::ByConfig) => None,
            Some(off @ Off::UnknownKind) => {
                tracing::info!(schedule = %schedule.name, kind = %schedule.job_kind, "schedule disabled: {}", off.describe());
                None
            }
        })
        .collect())
}

async fn cron_loop(
    services: Arc<Services>,
    schedules: Vec<Schedule>,
    monitor: CronMonitor,
    stop: CancellationToken,
) {
    let replica = crate::worker::process_name();
    loop {
        for schedule in &schedules {
            match tick(&services, schedule, &replica).await {
                Ok(Some(job)) => {
                    let (services, schedule, monitor) =
                        (services.clone(), schedule.clone(), monitor.clone());
                    tokio::spawn(async move { follow(services, schedule, monitor, job).await });
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(schedule = %schedule.name, error = %e, "cron tick failed"),
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

#[derive(QueryableByName)]
struct LastTick {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    fire_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct TickRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Bool)]
    paused: bool,
}

/// Records the schedule's due tick if this replica is the first to; returns the job it
/// enqueued. Every replica calls this; the unique `(schedule, fire_at)` picks one winner.
pub(crate) async fn tick(
    services: &Arc<Services>,
    schedule: &Schedule,
    replica: &str,
) -> Result<Option<JobId>, EngineError> {
    let db = services.db.clone();
    let registry = services.registry.clone();
    let schedule = schedule.clone();
    let replica = replica.to_owned();
    let job = tokio::task::spawn_blocking(move || {
        db.system(SystemTask::Cron, |sys| {
            let last: LastTick =
                diesel::sql_query("SELECT max(fire_at) AS fire_at FROM cron_ticks WHERE schedule = $1")
                    .bind::<Text, _>(&schedule.name)
                    .get_result(sys.conn())?;
            let Some(fire_at) = schedule.due(last.fire_at, Utc::now(), chrono::Duration::seconds(60)) else {
                return Ok(None);
            };
            let won: Option<TickRow> = diesel::sql_query(
                "INSERT INTO cron_ticks (schedule, fire_at, claimed_by, outcome) \
                 VALUES ($1, $2, $3, CASE WHEN EXISTS ( \
                     SELECT 1 FROM cron_schedules WHERE name = $1 AND paused) \
                     THEN 'skipped_paused' ELSE 'enqueued' END) \
                 ON CONFLICT (schedule, fire_at) DO NOTHING \
                 RETURNING id, outcome = 'skipped_paused' AS paused",
            )
            .bind::<Text, _>(&schedule.name)
            .bind::<Timestamptz, _>(fire_at)
            .bind::<Text, _>(&replica)
            .get_result(sys.conn())
            .optional()?;
            let Some(won) = won else { return Ok(None) };
            if won.paused {
                tracing::info!(schedule = %schedule.name, %fire_at, "tick skipped: schedule paused");
                return Ok(None);
            }
            let enqueued = enqueue_job(
                sys,
                &registry,
                &schedule,
                format!("cron:{}:{}", schedule.name, fire_at.to_rfc3339()),
                Trigger::new("cron", Some(won.id.to_string())),
            )?;
            diesel::sql_query("UPDATE cron_ticks SET job_id = $2 WHERE id = $1")
                .bind::<BigInt, _>(won.id)
                .bind::<SqlUuid, _>(enqueued.id.0)
                .execute(sys.conn())?;
            tracing::info!(schedule = %schedule.name, %fire_at, job_id = %enqueued.id, "cron tick enqueued");
            Ok::<_, EngineError>(Some(enqueued.id))
        })
    })
    .await??;
    if job.is_some() {
        services.wake_dispatchers().await;
    }
    Ok(job)
}

#[derive(QueryableByName)]
struct JobState {
    #[diesel(sql_type = Text)]
    state: String,
}

/// Sentry Crons: `in_progress` now, `ok`/`error` when the tick's job is final.
async fn follow(services: Arc<Services>, schedule: Schedule, monitor: CronMonitor, job: JobId) {
    let Some(check_in) = monitor.start(&schedule).await else {
        return;
    };
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let db = services.db.clone();
        let state = tokio::task::spawn_blocking(move || {
            db.system(SystemTask::Cron, |sys| {
                diesel::sql_query("SELECT state FROM jobs WHERE id = $1")
                    .bind::<SqlUuid, _>(job.0)
                    .get_result::<JobState>(sys.conn())
                    .optional()
                    .map_err(EngineError::from)
            })
        })
        .await;
        let state = match state {
            Ok(Ok(Some(row))) => row.state,
            Ok(Ok(None)) => "dead".to_owned(),
            _ => continue,
        };
        match state.as_str() {
            "succeeded" => return monitor.finish(check_in, true).await,
            "dead" | "cancelled" | "quarantined" => return monitor.finish(check_in, false).await,
            _ => {}
        }
    }
}
