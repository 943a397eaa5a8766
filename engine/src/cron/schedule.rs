//! Owns the cron schedules defined in code, their operator overrides, and the catch-up rule that
//! decides which single fire time is due.
//!
//! Expressions are 5-field crontab in UTC (minute granularity). Every expression must be accepted
//! both by croner (which computes fire times) and by Sentry's crontab validator (so the monitor
//! config sent with check-ins is never rejected). This module never reads the clock: callers pass
//! `now`, which keeps the rule testable and identical on every replica.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use sentry::protocol::MonitorSchedule;

/// Why a schedule could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The name is not a lowercase slug (`^[a-z][a-z0-9-]*$`); it doubles as the Sentry monitor slug.
    #[error("schedule name {name:?} must match ^[a-z][a-z0-9-]*$")]
    InvalidName { name: String },
    /// The expression is not a 5-field crontab both croner and Sentry accept, or it never fires.
    #[error("schedule {name:?}: expression {expression:?} is invalid: {reason}")]
    InvalidExpression {
        name: String,
        expression: String,
        reason: String,
    },
}

/// A schedule defined in code: its name (the `cron_ticks.schedule` value), 5-field crontab
/// expression in UTC, and the job kind it enqueues.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub expression: String,
    pub job_kind: String,
    /// The parsed `expression`; built once so `due` never re-parses.
    cron: Cron,
}

impl Schedule {
    /// Builds a schedule after validating its name (`^[a-z][a-z0-9-]*$`) and its expression
    /// (exactly 5 fields: no seconds, no year, no `@daily`-style nicknames).
    pub fn new(name: &str, expression: &str, job_kind: &str) -> Result<Schedule, ScheduleError> {
        if !is_slug(name) {
            return Err(ScheduleError::InvalidName {
                name: name.to_owned(),
            });
        }
        let expression = expression.split_whitespace().collect::<Vec<_>>().join(" ");
        let invalid = |reason: String| ScheduleError::InvalidExpression {
            name: name.to_owned(),
            expression: expression.clone(),
            reason,
        };
        let fields = expression.split(' ').count();
        if fields != 5 {
            return Err(invalid(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {fields}"
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&expression)
            .map_err(|err| invalid(err.to_string()))?;
        MonitorSchedule::from_crontab(&expression)
            .map_err(|_| invalid("Sentry Crons does not accept it".to_owned()))?;
        // A pattern such as `0 0 30 2 *` parses but never fires; reject it at startup rather than
        // have the ticker silently never enqueue.
        let reference = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
        if reference.is_none_or(|t| cron.find_next_occurrence(&t, false).is_err()) {
            return Err(invalid("it never fires".to_owned()));
        }
        Ok(Schedule {
            name: name.to_owned(),
            expression,
            job_kind: job_kind.to_owned(),
            cron,
        })
    }

    /// The most recent fire time at or before `now` that is strictly after `after` (the last tick
    /// already recorded), or None.
    ///
    /// After downtime with several missed fire times this returns only the LATEST one: missed
    /// ticks are caught up once, not replayed one by one.
    ///
    /// With `after == None` (the schedule never ticked) the latest fire time at or before `now` is
    /// returned only if `now - fire_time <= grace`, so a fresh deployment does not run yesterday's
    /// daily job at startup; it waits for the next fire time instead. Returned times are whole
    /// minutes (no sub-second part), so every replica computes the same `(schedule, fire_at)` key.
    pub fn due(
        &self,
        after: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Option<DateTime<Utc>> {
        let latest = self.latest_at_or_before(now)?;
        let is_due = match after {
            Some(recorded) => latest > recorded,
            None => now - latest <= grace,
        };
        is_due.then_some(latest)
    }

    /// The first fire time strictly after `t`, or None if the schedule never fires again.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }

    fn latest_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&now, true).ok()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) -> {}",
            self.name, self.expression, self.job_kind
        )
    }
}

/// The schedules of DESIGN.md ("Job lifecycle", item 6), all in UTC.
pub fn default_schedules() -> Vec<Schedule> {
    const DEFAULTS: [(&str, &str, &str); 6] = [
        ("daily-sync", "0 2 * * *", "daily_pipeline"),
        ("refresh-rates", "*/30 * * * *", "refresh_rates"),
        ("forecast", "0 3 * * *", "forecast_all"),
        ("dq", "0 4 * * *", "dq_all"),
        ("daily-summary", "0 7 * * *", "daily_summary_all"),
        ("prune", "0 * * * *", "prune"),
    ];
    DEFAULTS
        .iter()
        // The constants above are valid, and a test proves that every one of them survives this
        // filter; filtering instead of unwrapping keeps the binary panic-free regardless.
        .filter_map(|(name, expression, kind)| Schedule::new(name, expression, kind).ok())
        .collect()
}

/// Applies operator overrides from the `CRON_SCHEDULES` environment variable, e.g.
/// `"daily-sync=0 5 * * *;prune=off"`: `name=<5-field expression>` moves a schedule, `name=off`
/// disables it. Entries are separated by `;`; blank entries are ignored.
///
/// Unknown names, entries without `=`, names given twice and bad expressions are errors; every
/// problem is reported, not only the first, so one deploy attempt shows them all.
pub fn apply_overrides(schedules: Vec<Schedule>, spec: &str) -> Result<Vec<Schedule>, Vec<String>> {
    let mut schedules = schedules;
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    let mut disabled = HashSet::new();

    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((name, value)) = entry.split_once('=') else {
            problems.push(format!(
                "CRON_SCHEDULES entry {entry:?} is not name=expression|off"
            ));
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if !seen.insert(name.to_owned()) {
            problems.push(format!("CRON_SCHEDULES names {name:?} more than once"));
            continue;
        }
        let Some(schedule) = schedules.iter_mut().find(|s| s.name == name) else {
            problems.push(format!("CRON_SCHEDULES names unknown schedule {name:?}"));
            continue;
        };
        if value.eq_ignore_ascii_case("off") {
            disabled.insert(name.to_owned());
            continue;
        }
        match Schedule::new(name, value, &schedule.job_kind) {
            Ok(replacement) => *schedule = replacement,
            Err(err) => problems.push(format!("CRON_SCHEDULES: {err}")),
        }
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    schedules.retain(|s| !disabled.contains(&s.name));
    Ok(schedules)
}

fn is_slug(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
