//! Owns the schedules as this deployment runs them and what operators did to them: the built-in
//! list with the `CRON_SCHEDULES` overrides and this build's job types applied ([`configured`]),
//! the pause state of each (`cron_schedules`), the ticks the scheduler recorded (`cron_ticks`),
//! and enqueueing a schedule's job — for a tick and for an operator's "run now" alike
//! ([`enqueue_job`]).
//!
//! It never decides when a schedule is due (that is [`Schedule::due`]) and never ticks: the
//! scheduler's loop does, and skips a paused schedule by recording its tick `skipped_paused`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use findash_schema::{JobId, SystemConn};

use super::{Schedule, apply_overrides, default_schedules};
use crate::error::EngineError;
use crate::ledger::{EnqueueOptions, Enqueued, Trigger, insert_jobs};
use crate::registry::Registry;

/// Why a built-in schedule does not run in this deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Off {
    /// `CRON_SCHEDULES` names it `off`.
    ByConfig,
    /// No job type of its kind is registered in this build.
    UnknownKind,
}

impl Off {
    /// In words, for logs and the console.
    pub fn describe(self) -> &'static str {
        match self {
            Off::ByConfig => "off in CRON_SCHEDULES",
            Off::UnknownKind => "no job type for its kind in this build",
        }
    }
}

/// A built-in schedule as this deployment configures it (its expression possibly moved by
/// `CRON_SCHEDULES`), and whether it is off.
#[derive(Debug, Clone)]
pub struct Configured {
    pub schedule: Schedule,
    pub off: Option<Off>,
}

/// Every built-in schedule, in the built-in order, with the operator's overrides (`spec`, the
/// `CRON_SCHEDULES` value) applied and those whose kind `registry` does not know marked off.
/// The scheduler ticks exactly those that are not off. Errors: every problem of `spec`.
pub fn configured(spec: &str, registry: &Registry) -> Result<Vec<Configured>, Vec<String>> {
    let defaults = default_schedules();
    let mut enabled = apply_overrides(defaults.clone(), spec)?;
    Ok(defaults
        .into_iter()
        .map(
            |default| match enabled.iter().position(|s| s.name == default.name) {
                Some(i) => {
                    let schedule = enabled.swap_remove(i);
                    let off = registry
                        .get(&schedule.job_kind)
                        .is_none()
                        .then_some(Off::UnknownKind);
                    Configured { schedule, off }
                }
                None => Configured {
                    schedule: default,
                    off: Some(Off::ByConfig),
                },
            },
        )
        .collect())
}

/// Enqueues `schedule`'s job (payload `{}`) as a system job in the caller's transaction, under
/// `idempotency_key`, caused by `trigger`: a tick (`cron`, the tick's id) or an operator. The
/// caller wakes the dispatchers after commit.
pub fn enqueue_job(
    sys: &mut SystemConn<'_>,
    registry: &Registry,
    schedule: &Schedule,
    idempotency_key: String,
    trigger: Trigger,
) -> Result<Enqueued, EngineError> {
    let mut row = registry.new_job(&schedule.job_kind, serde_json::json!({}))?;
    row.idempotency_key = Some(idempotency_key);
    insert_jobs(sys, vec![row], &EnqueueOptions::new(trigger))?
        .pop()
        .ok_or_else(|| EngineError::Invalid("enqueue returned no row".to_owned()))
}

/// An operator's pause of a schedule (`cron_schedules`); a schedule without a row runs.
#[derive(Debug, Clone, QueryableByName)]
pub struct Pause {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Bool)]
    pub paused: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub paused_at: Option<DateTime<Utc>>,
    /// Who paused it (the operator's email).
    #[diesel(sql_type = Nullable<Text>)]
    pub paused_by: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

/// Every schedule's row of `cron_schedules`, by name.
pub fn pauses(sys: &mut SystemConn<'_>) -> QueryResult<Vec<Pause>> {
    diesel::sql_query(
        "SELECT name, paused, paused_at, paused_by, updated_at FROM cron_schedules ORDER BY name",
    )
    .load(sys.conn())
}

/// Pauses (`by`: who) or resumes schedule `name`: the scheduler records its ticks as
/// `skipped_paused` while it is paused. Returns the row as written, or `None` when the schedule
/// already was paused (or running), in which case nothing is written. Of two operators pausing
/// at once, one pauses and the other gets `None`.
pub fn set_paused(
    sys: &mut SystemConn<'_>,
    name: &str,
    paused: bool,
    by: &str,
) -> QueryResult<Option<Pause>> {
    if paused {
        diesel::sql_query(
            "INSERT INTO cron_schedules (name, paused, paused_at, paused_by) \
             VALUES ($1, true, now(), $2) \
             ON CONFLICT (name) DO UPDATE \
                 SET paused = true, paused_at = now(), paused_by = EXCLUDED.paused_by \
                 WHERE NOT cron_schedules.paused \
             RETURNING name, paused, paused_at, paused_by, updated_at",
        )
        .bind::<Text, _>(name)
        .bind::<Text, _>(by)
        .get_result(sys.conn())
        .optional()
    } else {
        // A schedule without a row runs: there is nothing to resume.
        diesel::sql_query(
            "UPDATE cron_schedules SET paused = false, paused_at = NULL, paused_by = NULL \
             WHERE name = $1 AND paused \
             RETURNING name, paused, paused_at, paused_by, updated_at",
        )
        .bind::<Text, _>(name)
        .get_result(sys.conn())
        .optional()
    }
}

/// A recorded tick and how its job stands.
#[derive(Debug, Clone, QueryableByName)]
pub struct Tick {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub schedule: String,
    #[diesel(sql_type = Timestamptz)]
    pub fire_at: DateTime<Utc>,
    /// The scheduler replica that recorded it.
    #[diesel(sql_type = Text)]
    pub claimed_by: String,
    /// `enqueued`, `skipped_paused` or `failed`.
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub job_id: Option<JobId>,
    /// The tick's job's state, while the ledger keeps the job.
    #[diesel(sql_type = Nullable<Text>)]
    pub job_state: Option<String>,
    /// Why the tick failed, else why its job last failed.
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

const TICK_COLUMNS: &str = "t.id, t.schedule, t.fire_at, t.claimed_by, t.outcome, t.job_id, \
     j.state AS job_state, coalesce(t.error, j.last_error) AS error";

/// The latest tick of each schedule of `names` that ever ticked.
pub fn last_ticks(sys: &mut SystemConn<'_>, names: &[String]) -> QueryResult<Vec<Tick>> {
    // One probe of `cron_ticks_recent_idx` per name, however many ticks are kept.
    diesel::sql_query(format!(
        "SELECT {TICK_COLUMNS} FROM unnest($1::text[]) AS s(schedule) \
         CROSS JOIN LATERAL (SELECT * FROM cron_ticks c WHERE c.schedule = s.schedule \
                             ORDER BY c.fire_at DESC LIMIT 1) t \
         LEFT JOIN jobs j ON j.id = t.job_id \
         ORDER BY t.schedule"
    ))
    .bind::<Array<Text>, _>(names)
    .load(sys.conn())
}

/// The newest `limit` ticks of schedule `name`, newest first.
pub fn ticks(sys: &mut SystemConn<'_>, name: &str, limit: i64) -> QueryResult<Vec<Tick>> {
    diesel::sql_query(format!(
        "SELECT {TICK_COLUMNS} FROM cron_ticks t LEFT JOIN jobs j ON j.id = t.job_id \
         WHERE t.schedule = $1 ORDER BY t.fire_at DESC LIMIT $2"
    ))
    .bind::<Text, _>(name)
    .bind::<BigInt, _>(limit)
    .load(sys.conn())
}
