//! The schedules as a deployment runs them and their operator state: which are off and why, a
//! paused schedule's ticks skipped by the real scheduler, and a schedule's job enqueued by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use findash_engine::cron::{self, Off};
use findash_engine::ledger::Trigger;
use findash_engine::testing::TestEngine;
use findash_schema::testing::sql;
use findash_schema::{DbError, SystemTask};

#[test]
fn configured_schedules_say_which_are_off_and_why() {
    let registry = common::registry(); // noop and prune only
    let all = cron::configured("prune=15 * * * *;dq=off", &registry).unwrap();
    let seen: Vec<(&str, &str, Option<Off>)> = all
        .iter()
        .map(|c| {
            (
                c.schedule.name.as_str(),
                c.schedule.expression.as_str(),
                c.off,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("daily-sync", "0 2 * * *", Some(Off::UnknownKind)),
            ("refresh-rates", "*/30 * * * *", Some(Off::UnknownKind)),
            ("forecast", "0 3 * * *", Some(Off::UnknownKind)),
            ("dq", "0 4 * * *", Some(Off::ByConfig)),
            ("daily-summary", "0 7 * * *", Some(Off::UnknownKind)),
            ("prune", "15 * * * *", None),
        ]
    );
    assert!(cron::configured("nope=off", &registry).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_schedule_ticks_without_a_job_and_runs_by_hand() {
    // Every minute: the current minute's tick is due as soon as the scheduler starts.
    let t = TestEngine::start(common::registry(), |config| {
        config.cron_overrides = "prune=* * * * *;refresh-rates=off".to_owned();
    })
    .await;
    let db = t.engine.db().clone();
    let pause = db
        .system(SystemTask::Cron, |sys| {
            cron::set_paused(sys, "prune", true, "ops@example.test").map_err(DbError::from)
        })
        .unwrap()
        .expect("prune was running");
    assert!(pause.paused && pause.paused_at.is_some());
    let again = db
        .system(SystemTask::Cron, |sys| {
            cron::set_paused(sys, "prune", true, "other@example.test").map_err(DbError::from)
        })
        .unwrap();
    assert!(again.is_none(), "pausing a paused schedule writes nothing");
    assert_eq!(pause.paused_by.as_deref(), Some("ops@example.test"));

    let running = common::run(&t, 1);
    common::wait_count(
        &t,
        "SELECT count(*) AS n FROM cron_ticks WHERE schedule = 'prune'",
        1,
        Duration::from_secs(30),
    )
    .await;
    running.shutdown().await;
    let names = vec!["prune".to_owned(), "dq".to_owned()];
    let ticks = db
        .system(SystemTask::Cron, |sys| {
            cron::last_ticks(sys, &names).map_err(DbError::from)
        })
        .unwrap();
    assert_eq!(
        ticks.len(),
        1,
        "a schedule that never ticked has no last tick"
    );
    assert_eq!(ticks[0].outcome, "skipped_paused");
    assert_eq!(ticks[0].job_id, None);
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::count(&mut conn, "SELECT count(*) AS n FROM jobs"),
        0,
        "a paused schedule enqueues nothing"
    );

    // Resumed: the row says so. By hand: one system job, keyed, caused by the operator.
    let (resumed, first, again) = db
        .system(SystemTask::Cron, |sys| {
            let resumed = cron::set_paused(sys, "prune", false, "ops@example.test")?
                .expect("prune was paused");
            let prune = t
                .engine
                .schedules()?
                .into_iter()
                .find(|c| c.schedule.name == "prune")
                .unwrap()
                .schedule;
            let registry = t.engine.registry();
            let key = || "console:prune:n1".to_owned();
            let first = cron::enqueue_job(sys, registry, &prune, key(), Trigger::console("ops@x"))?;
            let again = cron::enqueue_job(sys, registry, &prune, key(), Trigger::console("ops@x"))?;
            Ok::<_, findash_engine::EngineError>((resumed, first, again))
        })
        .unwrap();
    assert!(!resumed.paused && resumed.paused_at.is_none() && resumed.paused_by.is_none());
    let resumed_again = db
        .system(SystemTask::Cron, |sys| {
            cron::set_paused(sys, "prune", false, "ops@example.test").map_err(DbError::from)
        })
        .unwrap();
    assert!(
        resumed_again.is_none(),
        "resuming a running schedule writes nothing"
    );
    let never_paused = db
        .system(SystemTask::Cron, |sys| {
            cron::set_paused(sys, "dq", false, "ops@example.test").map_err(DbError::from)
        })
        .unwrap();
    assert!(never_paused.is_none());
    assert!(!first.duplicate && again.duplicate && again.id == first.id);
    assert_eq!(
        sql::text(
            &mut conn,
            "SELECT kind || ' ' || coalesce(tenant_id::text, 'system') || ' ' || trigger_kind || ' ' \
                    || trigger_ref || ' ' || idempotency_key AS value FROM jobs"
        ),
        "prune system system console:ops@x console:prune:n1"
    );
    assert_eq!(
        Trigger::console_operator("system", Some("console:ops@x")).as_deref(),
        Some("ops@x")
    );
    assert_eq!(
        Trigger::console_operator("api", Some("console:ops@x")),
        None
    );
}
