//! The engine end to end, in one process: real PostgreSQL (a database per test) and Redis (a
//! namespace per test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use findash_engine::builtin::Noop;
use findash_engine::ledger::{Action, ActionResult, EnqueueOptions, Trigger};
use findash_engine::testing::{TestEngine, delete_namespace};
use findash_schema::testing::sql;
use serde_json::json;

use common::{registry, run, tenant, wait_count};

fn cli() -> EnqueueOptions {
    EnqueueOptions::new(Trigger::new("cli", None))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_returns_the_existing_job() {
    let t = TestEngine::start(registry(), |_| {}).await;
    let a = tenant(&mut t.db.admin_conn(), "a");
    let b = tenant(&mut t.db.admin_conn(), "b");
    let mut options = cli();
    options.idempotency_key = Some("sync-2026-11-25".to_owned());
    let first = t
        .engine
        .enqueue(Some(a), &Noop::default(), options.clone())
        .await
        .unwrap();
    let again = t
        .engine
        .enqueue(Some(a), &Noop::default(), options.clone())
        .await
        .unwrap();
    let other_tenant = t
        .engine
        .enqueue(Some(b), &Noop::default(), options)
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.id, first.id);
    assert!(!other_tenant.duplicate, "keys are per tenant");
    assert_ne!(other_tenant.id, first.id);
    assert_eq!(
        sql::count(&mut t.db.admin_conn(), "SELECT count(*) AS n FROM jobs"),
        2
    );
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_run_to_success_and_every_attempt_is_recorded() {
    let t = TestEngine::start(registry(), |_| {}).await;
    let a = tenant(&mut t.db.admin_conn(), "a");
    let running = run(&t, 8);
    let rows = vec![t.engine.registry().new_job("noop", json!({})).unwrap(); 20];
    let jobs = t.engine.enqueue_rows(Some(a), rows, cli()).await.unwrap();
    assert_eq!(jobs.len(), 20);
    wait_count(
        &t,
        "SELECT count(*) AS n FROM jobs WHERE state = 'succeeded'",
        20,
        Duration::from_secs(20),
    )
    .await;
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM job_attempts WHERE outcome = 'succeeded' AND attempt = 1"
        ),
        20
    );
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM jobs WHERE result = '{\"attempt\": 1}' AND attempts = 1 AND finished_at IS NOT NULL AND lease_owner IS NULL"
        ),
        20
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_retry_with_backoff_and_exhaustion_is_dead() {
    let t = TestEngine::start(registry(), |_| {}).await;
    let running = run(&t, 4);
    let flaky = t
        .engine
        .enqueue(
            None,
            &Noop {
                fail_times: Some(2),
                ..Noop::default()
            },
            cli(),
        )
        .await
        .unwrap();
    let doomed = t
        .engine
        .enqueue(
            None,
            &Noop {
                fail_times: Some(99),
                ..Noop::default()
            },
            cli(),
        )
        .await
        .unwrap();
    wait_count(
        &t,
        &format!(
            "SELECT count(*) AS n FROM jobs WHERE id = '{}' AND state = 'succeeded'",
            flaky.id
        ),
        1,
        Duration::from_secs(20),
    )
    .await;
    wait_count(
        &t,
        &format!(
            "SELECT count(*) AS n FROM jobs WHERE id = '{}' AND state = 'dead'",
            doomed.id
        ),
        1,
        Duration::from_secs(40),
    )
    .await;
    let mut conn = t.db.admin_conn();
    // Noop's policy: 0.5 s, ×2, ±20 %: the gap before attempt n+1 is 0.5·2^(n-1) s ± 20 %
    // (plus dispatch latency, well under the tolerance of the upper bound).
    let gaps = sql::texts(
        &mut conn,
        &format!(
            "SELECT (extract(epoch FROM b.started_at - a.finished_at) * 1000)::bigint::text AS value \
         FROM job_attempts a JOIN job_attempts b ON b.job_id = a.job_id AND b.attempt = a.attempt + 1 \
         WHERE a.job_id = '{}' ORDER BY a.attempt",
            flaky.id
        ),
    );
    let gaps: Vec<i64> = gaps.iter().map(|g| g.parse().unwrap()).collect();
    assert_eq!(gaps.len(), 2, "two retries: {gaps:?}");
    assert!(
        (400..=1100).contains(&gaps[0]),
        "first retry after ~500 ms: {gaps:?}"
    );
    assert!(
        (800..=1700).contains(&gaps[1]),
        "second retry after ~1000 ms: {gaps:?}"
    );
    assert_eq!(
        sql::texts(
            &mut conn,
            &format!(
                "SELECT outcome AS value FROM job_attempts WHERE job_id = '{}' ORDER BY attempt",
                flaky.id
            )
        ),
        ["failed", "failed", "succeeded"]
    );
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM job_attempts WHERE job_id = '{}'",
                doomed.id
            )
        ),
        5,
        "max attempts 5"
    );
    assert!(
        sql::text(
            &mut conn,
            &format!(
                "SELECT last_error AS value FROM jobs WHERE id = '{}'",
                doomed.id
            )
        )
        .contains("asked to fail")
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_job_is_retried_and_does_not_kill_its_pool() {
    let t = TestEngine::start(registry(), |_| {}).await;
    let running = run(&t, 2);
    let bomb = t
        .engine
        .enqueue(
            None,
            &Noop {
                panic: Some(true),
                ..Noop::default()
            },
            cli(),
        )
        .await
        .unwrap();
    wait_count(
        &t,
        &format!(
            "SELECT count(*) AS n FROM job_attempts WHERE job_id = '{}' AND outcome = 'panicked'",
            bomb.id
        ),
        2,
        Duration::from_secs(20),
    )
    .await;
    let after = t
        .engine
        .enqueue(None, &Noop::default(), cli())
        .await
        .unwrap();
    wait_count(
        &t,
        &format!(
            "SELECT count(*) AS n FROM jobs WHERE id = '{}' AND state = 'succeeded'",
            after.id
        ),
        1,
        Duration::from_secs(10),
    )
    .await;
    assert!(t.engine.live_workers() >= 1);
    let error = sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "SELECT last_error AS value FROM jobs WHERE id = '{}'",
            bomb.id
        ),
    );
    assert!(error.contains("noop asked to panic"), "{error}");
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limited_job_is_deferred_without_using_an_attempt() {
    let t = TestEngine::start(registry(), |c| c.rate_limits = "drill=1/2s:1".to_owned()).await;
    let running = run(&t, 4);
    let job = Noop {
        rate_limit_key: Some("drill:credential-1".to_owned()),
        ..Noop::default()
    };
    let first = t.engine.enqueue(None, &job, cli()).await.unwrap();
    let mut keyed = cli();
    keyed.idempotency_key = Some("second".to_owned());
    let second = t.engine.enqueue(None, &job, keyed).await.unwrap();
    wait_count(
        &t,
        "SELECT count(*) AS n FROM jobs WHERE state = 'succeeded'",
        2,
        Duration::from_secs(20),
    )
    .await;
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM job_attempts WHERE outcome = 'deferred'"
        ),
        1,
        "exactly one of the two waited"
    );
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM jobs WHERE id IN ('{}', '{}') AND attempts = 1",
                first.id, second.id
            )
        ),
        2,
        "a deferral uses no attempt"
    );
    let spread = sql::count(
        &mut conn,
        "SELECT (extract(epoch FROM max(finished_at) - min(finished_at)) * 1000)::bigint AS n FROM job_attempts WHERE outcome = 'succeeded'",
    );
    assert!(
        spread >= 1500,
        "the second ran a rate-limit interval later ({spread} ms)"
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_stops_queued_and_running_jobs() {
    let t = TestEngine::start(registry(), |_| {}).await;
    let later = t
        .engine
        .enqueue(
            None,
            &Noop::default(),
            EnqueueOptions {
                run_at: Some(chrono::Utc::now() + chrono::Duration::seconds(3600)),
                ..cli()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        t.engine.act(later.id, Action::Cancel).await.unwrap(),
        ActionResult::Applied {
            state: "cancelled".to_owned()
        }
    );
    let running = run(&t, 2);
    let long = t
        .engine
        .enqueue(
            None,
            &Noop {
                sleep_ms: Some(60_000),
                ..Noop::default()
            },
            cli(),
        )
        .await
        .unwrap();
    wait_count(
        &t,
        &format!(
            "SELECT count(*) AS n FROM jobs WHERE id = '{}' AND state = 'running'",
            long.id
        ),
        1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        t.engine.act(long.id, Action::Cancel).await.unwrap(),
        ActionResult::CancelRequested
    );
    wait_count(
        &t,
        &format!(
            "SELECT count(*) AS n FROM jobs WHERE id = '{}' AND state = 'cancelled'",
            long.id
        ),
        1,
        Duration::from_secs(5),
    )
    .await;
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM job_attempts WHERE job_id = '{}'",
                later.id
            )
        ),
        0,
        "the queued job never ran"
    );
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM job_attempts WHERE job_id = '{}' AND outcome = 'cancelled'",
                long.id
            )
        ),
        1
    );
    // Retry brings a cancelled job back; discard deletes it.
    assert_eq!(
        t.engine.act(later.id, Action::Retry).await.unwrap(),
        ActionResult::Applied {
            state: "queued".to_owned()
        }
    );
    wait_count(
        &t,
        &format!(
            "SELECT count(*) AS n FROM jobs WHERE id = '{}' AND state = 'succeeded'",
            later.id
        ),
        1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        t.engine.act(long.id, Action::Discard).await.unwrap(),
        ActionResult::Applied {
            state: "discarded".to_owned()
        }
    );
    assert_eq!(
        t.engine.act(long.id, Action::Discard).await.unwrap(),
        ActionResult::NotFound
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_releases_jobs_still_running_at_the_deadline() {
    let t = TestEngine::start(registry(), |c| {
        c.shutdown_timeout = Duration::from_millis(500);
    })
    .await;
    let running = run(&t, 2);
    let long = t
        .engine
        .enqueue(
            None,
            &Noop {
                sleep_ms: Some(60_000),
                ..Noop::default()
            },
            cli(),
        )
        .await
        .unwrap();
    let short = t
        .engine
        .enqueue(
            None,
            &Noop {
                sleep_ms: Some(300),
                ..Noop::default()
            },
            cli(),
        )
        .await
        .unwrap();
    wait_count(
        &t,
        "SELECT count(*) AS n FROM jobs WHERE state = 'running'",
        2,
        Duration::from_secs(10),
    )
    .await;
    running.shutdown().await;
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::text(
            &mut conn,
            &format!("SELECT state AS value FROM jobs WHERE id = '{}'", short.id)
        ),
        "succeeded",
        "in-flight work finishes"
    );
    assert_eq!(
        sql::text(
            &mut conn,
            &format!(
                "SELECT state || ' ' || attempts AS value FROM jobs WHERE id = '{}'",
                long.id
            )
        ),
        "queued 0",
        "released, attempt given back"
    );
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM job_attempts WHERE job_id = '{}' AND outcome = 'released'",
                long.id
            )
        ),
        1
    );
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_lease_requeues_and_repeated_losses_quarantine() {
    let t = TestEngine::start(registry(), |c| c.quarantine_after = 3).await;
    let job = t
        .engine
        .enqueue(None, &Noop::default(), cli())
        .await
        .unwrap();
    let mut conn = t.db.admin_conn();
    for loss in 1..=3 {
        // What a worker killed mid-run leaves: running, leased, lease in the past.
        sql::count(
            &mut conn,
            &format!(
                "WITH u AS (UPDATE jobs SET state = 'running', attempts = attempts + 1, runs = runs + 1, \
                 lease_owner = 'ghost', lease_expires_at = now() - interval '1 second', started_at = now() - interval '5 seconds', \
                 dispatched_at = now() - interval '6 seconds', dispatch_token = 'ghost-{loss}' \
             WHERE id = '{}' RETURNING 1) SELECT count(*) AS n FROM u",
                job.id
            ),
        );
        let repairs = t.engine.reconcile_once().await.unwrap();
        if loss < 3 {
            assert_eq!(repairs.requeued, 1);
            assert_eq!(
                sql::text(
                    &mut conn,
                    &format!(
                        "SELECT state || ' ' || attempts || ' ' || lease_losses AS value FROM jobs WHERE id = '{}'",
                        job.id
                    )
                ),
                format!("queued 0 {loss}")
            );
        } else {
            assert_eq!(repairs.quarantined, 1);
        }
    }
    assert_eq!(
        sql::text(
            &mut conn,
            &format!("SELECT state AS value FROM jobs WHERE id = '{}'", job.id)
        ),
        "quarantined"
    );
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM job_attempts WHERE job_id = '{}' AND outcome = 'lease_expired'",
                job.id
            )
        ),
        3
    );
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_whose_lease_went_to_another_worker_is_stopped() {
    let t = TestEngine::start(registry(), |_| {}).await;
    let running = run(&t, 2);
    let job = t
        .engine
        .enqueue(
            None,
            &Noop {
                sleep_ms: Some(60_000),
                ..Noop::default()
            },
            cli(),
        )
        .await
        .unwrap();
    wait_count(
        &t,
        &format!(
            "SELECT count(*) AS n FROM jobs WHERE id = '{}' AND state = 'running'",
            job.id
        ),
        1,
        Duration::from_secs(10),
    )
    .await;
    let lost = findash_engine::metrics::get()
        .outcomes
        .with_label_values(&["noop", "lease_lost"]);
    let before = lost.get();
    // What the reconciler does after a whole lease without renewals, and another worker's claim.
    sql::count(
        &mut t.db.admin_conn(),
        &format!(
            "WITH u AS (UPDATE jobs SET lease_owner = 'another-worker' WHERE id = '{}' RETURNING 1) \
         SELECT count(*) AS n FROM u",
            job.id
        ),
    );
    let started = std::time::Instant::now();
    while lost.get() == before {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the first run kept going"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::text(
            &mut conn,
            &format!(
                "SELECT state || ' ' || lease_owner AS value FROM jobs WHERE id = '{}'",
                job.id
            )
        ),
        "running another-worker",
        "the stopped run wrote nothing over the new owner's"
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}
