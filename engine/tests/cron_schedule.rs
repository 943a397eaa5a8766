//! The pure cron rules: default schedules, fire times, the catch-up rule and operator overrides.

// Helpers outside #[test] fns panic on a broken fixture, which is what a test wants.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use findash_engine::cron::{Schedule, ScheduleError, apply_overrides, default_schedules};

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn schedule(name: &str) -> Schedule {
    default_schedules()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap()
}

fn names(schedules: &[Schedule]) -> Vec<&str> {
    schedules.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn every_default_schedule_parses_with_its_job_kind() {
    let all = default_schedules();
    let table: Vec<(&str, &str, &str)> = all
        .iter()
        .map(|s| (s.name.as_str(), s.expression.as_str(), s.job_kind.as_str()))
        .collect();
    assert_eq!(
        table,
        [
            ("daily-sync", "0 2 * * *", "daily_pipeline"),
            ("refresh-rates", "*/30 * * * *", "refresh_rates"),
            ("forecast", "0 3 * * *", "forecast_all"),
            ("dq", "0 4 * * *", "dq_all"),
            ("daily-summary", "0 7 * * *", "daily_summary_all"),
            ("prune", "0 * * * *", "prune"),
        ]
    );
}

#[test]
fn every_thirty_minutes_fires_on_the_hour_and_half_hour() {
    let rates = schedule("refresh-rates");
    let mut t = at(2025, 3, 10, 9, 7, 13);
    let mut fires = Vec::new();
    for _ in 0..4 {
        t = rates.next_after(t).unwrap();
        fires.push(t);
    }
    assert_eq!(
        fires,
        [
            at(2025, 3, 10, 9, 30, 0),
            at(2025, 3, 10, 10, 0, 0),
            at(2025, 3, 10, 10, 30, 0),
            at(2025, 3, 10, 11, 0, 0),
        ]
    );
}

#[test]
fn next_after_is_strictly_after() {
    let daily = schedule("daily-sync");
    assert_eq!(
        daily.next_after(at(2025, 3, 10, 2, 0, 0)),
        Some(at(2025, 3, 11, 2, 0, 0))
    );
}

#[test]
fn due_after_three_days_down_returns_only_the_latest_fire_time() {
    let daily = schedule("daily-sync");
    let last_tick = at(2025, 3, 7, 2, 0, 0);
    let now = at(2025, 3, 10, 9, 15, 0);
    assert_eq!(
        daily.due(Some(last_tick), now, Duration::minutes(5)),
        Some(at(2025, 3, 10, 2, 0, 0))
    );
}

#[test]
fn due_is_none_when_the_latest_fire_time_already_ticked() {
    let daily = schedule("daily-sync");
    let last_tick = at(2025, 3, 10, 2, 0, 0);
    for now in [
        last_tick,
        at(2025, 3, 10, 2, 0, 30),
        at(2025, 3, 11, 1, 59, 59),
    ] {
        assert_eq!(daily.due(Some(last_tick), now, Duration::minutes(5)), None);
    }
    assert_eq!(
        daily.due(
            Some(last_tick),
            at(2025, 3, 11, 2, 0, 0),
            Duration::minutes(5)
        ),
        Some(at(2025, 3, 11, 2, 0, 0))
    );
}

#[test]
fn due_fire_time_is_a_whole_minute_even_when_now_has_fractions() {
    let rates = schedule("refresh-rates");
    let now = at(2025, 3, 10, 9, 30, 0) + Duration::milliseconds(1_500);
    let fire = rates
        .due(Some(at(2025, 3, 10, 9, 0, 0)), now, Duration::zero())
        .unwrap();
    assert_eq!(fire, at(2025, 3, 10, 9, 30, 0));
    assert_eq!(fire.nanosecond(), 0);
}

#[test]
fn never_ticked_schedule_fires_only_within_grace() {
    let daily = schedule("daily-sync");
    let grace = Duration::minutes(5);
    // A fresh deployment at 09:15 does not run today's 02:00 job.
    assert_eq!(daily.due(None, at(2025, 3, 10, 9, 15, 0), grace), None);
    // Started shortly after the fire time: it runs.
    assert_eq!(
        daily.due(None, at(2025, 3, 10, 2, 4, 59), grace),
        Some(at(2025, 3, 10, 2, 0, 0))
    );
    assert_eq!(
        daily.due(None, at(2025, 3, 10, 2, 5, 0), grace),
        Some(at(2025, 3, 10, 2, 0, 0))
    );
    assert_eq!(daily.due(None, at(2025, 3, 10, 2, 5, 1), grace), None);
}

#[test]
fn overrides_change_and_disable_schedules() {
    let schedules =
        apply_overrides(default_schedules(), " daily-sync=0 5 * * * ; prune=off; ").unwrap();
    assert_eq!(
        names(&schedules),
        [
            "daily-sync",
            "refresh-rates",
            "forecast",
            "dq",
            "daily-summary"
        ]
    );
    let daily = &schedules[0];
    assert_eq!(daily.expression, "0 5 * * *");
    assert_eq!(daily.job_kind, "daily_pipeline");
    assert_eq!(
        daily.next_after(at(2025, 3, 10, 2, 0, 0)),
        Some(at(2025, 3, 10, 5, 0, 0))
    );
}

#[test]
fn empty_overrides_keep_the_defaults() {
    let schedules = apply_overrides(default_schedules(), "").unwrap();
    assert_eq!(names(&schedules), names(&default_schedules()));
}

#[test]
fn overrides_report_every_problem() {
    let problems = apply_overrides(
        default_schedules(),
        "nightly=0 1 * * *;forecast=61 * * * *;dq;prune=0 0 * * * *;prune=off",
    )
    .unwrap_err();
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(
        problems[0].contains("unknown schedule \"nightly\""),
        "{problems:#?}"
    );
    assert!(problems[1].contains("\"forecast\""), "{problems:#?}");
    assert!(problems[2].contains("\"dq\""), "{problems:#?}");
    assert!(problems[3].contains("expected 5 fields"), "{problems:#?}");
    assert!(problems[4].contains("more than once"), "{problems:#?}");
}

#[test]
fn six_field_expressions_with_seconds_are_rejected() {
    let err = Schedule::new("tick", "0 */5 * * * *", "noop").unwrap_err();
    assert!(
        matches!(err, ScheduleError::InvalidExpression { .. }),
        "{err}"
    );
}

#[test]
fn nicknames_and_never_firing_expressions_are_rejected() {
    for expression in ["@daily", "0 0 30 2 *", "not a cron", "0 0 L * *"] {
        assert!(
            Schedule::new("tick", expression, "noop").is_err(),
            "{expression} accepted"
        );
    }
}

#[test]
fn names_must_be_slugs() {
    for name in ["", "Daily", "1st", "daily_sync", "daily sync"] {
        assert!(
            matches!(
                Schedule::new(name, "0 2 * * *", "noop"),
                Err(ScheduleError::InvalidName { .. })
            ),
            "{name:?} accepted"
        );
    }
    assert!(Schedule::new("daily-sync-2", "0 2 * * *", "noop").is_ok());
}
