//! Owns the pure parts of cron: which schedules exist, when each is due, and how a run reports to
//! Sentry Crons.
//!
//! It never touches the database or the queues: the scheduler's ticker records a tick
//! `(schedule, fire_at)` with `ON CONFLICT DO NOTHING` and enqueues only when it won. This module
//! only answers "which fire time is due now?" and sends check-ins.

mod checkin;
mod schedule;

pub use checkin::{CheckIn, CheckInStatus, CronMonitor, CronMonitorError};
pub use schedule::{Schedule, ScheduleError, apply_overrides, default_schedules};
