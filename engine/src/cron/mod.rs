//! Owns cron: which schedules exist and when each is due (`schedule`, pure), how a run reports
//! to Sentry Crons (`checkin`), and the schedules as this deployment runs them with their
//! operator state in PostgreSQL (`state`: pauses, recorded ticks, enqueueing a schedule's job).
//!
//! The ticking itself is the scheduler's: every replica records a tick `(schedule, fire_at)` with
//! `ON CONFLICT DO NOTHING` and enqueues only when it won.

mod checkin;
mod schedule;
mod state;

pub use checkin::{CheckIn, CheckInStatus, CronMonitor, CronMonitorError};
pub use schedule::{Schedule, ScheduleError, apply_overrides, default_schedules};
pub use state::{
    Configured, Off, Pause, Tick, configured, enqueue_job, last_ticks, pauses, set_paused, ticks,
};
