//! A large backlog stays in PostgreSQL and drains without hurting anyone: no worker dies of it,
//! and another tenant's job waits for at most the window, not for the backlog.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::{TestEngine, delete_namespace};
use findash_schema::testing::sql;
use serde_json::json;

use common::{registry, run, tenant, wait_count};

fn cli() -> EnqueueOptions {
    EnqueueOptions::new(Trigger::new("cli", None))
}

/// A production-like lease: these tests are about volume, not recovery, and a 3 s lease on a
/// busy CI machine turns slow renewals into needless re-runs.
fn steady(c: &mut findash_engine::EngineConfig) {
    c.lease = Duration::from_secs(30);
    c.heartbeat = Duration::from_secs(2);
    c.reconcile_every = Duration::from_secs(2);
    c.lost_dispatch_after = Duration::from_secs(10);
}

/// What the engine did, for a failure message.
fn diagnostics(conn: &mut diesel::PgConnection) -> String {
    let metrics = findash_engine::metrics::get();
    let states = sql::texts(
        conn,
        "SELECT state || ' ' || (dispatched_at IS NOT NULL)::text || ' ' || count(*) AS value FROM jobs GROUP BY state, dispatched_at IS NOT NULL",
    );
    let reconciler: Vec<String> = ["lease_requeued", "quarantined", "redispatched"]
        .iter()
        .map(|a| format!("{a}={}", metrics.reconciler.with_label_values(&[a]).get()))
        .collect();
    let restarts: u64 = findash_engine::Queue::ALL
        .iter()
        .map(|q| {
            metrics
                .worker_restarts
                .with_label_values(&[q.as_str()])
                .get()
        })
        .sum();
    format!("jobs {states:?}; reconciler {reconciler:?}; worker restarts {restarts}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backlog_of_50000_jobs_drains_without_a_worker_crash() {
    let t = TestEngine::start(registry(), steady).await;
    let a = tenant(&mut t.db.admin_conn(), "a");
    let row = t.engine.registry().new_job("noop", json!({})).unwrap();
    for _ in 0..10 {
        t.engine
            .enqueue_rows(Some(a), vec![row.clone(); 5_000], cli())
            .await
            .unwrap();
    }
    let running = run(&t, 32);
    // Redis never holds more than the window: sample it while the backlog drains.
    let key = format!("{}:q:default", t.namespace);
    let client = redis::Client::open(findash_engine::testing::redis_url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let mut conn = t.db.admin_conn();
    let mut max_in_redis = 0_usize;
    let started = std::time::Instant::now();
    loop {
        // One transaction: the dispatcher's sweep removes finished tasks from both at once, so
        // reading them apart could count swept tasks as held and unfinished.
        let (held, done): (usize, usize) = redis::pipe()
            .atomic()
            .cmd("HLEN")
            .arg(format!("{key}:data"))
            .cmd("SCARD")
            .arg(format!("{key}:done"))
            .query_async(&mut redis)
            .await
            .unwrap();
        max_in_redis = max_in_redis.max(held.saturating_sub(done));
        if sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM jobs WHERE state = 'succeeded'",
        ) == 50_000
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the backlog did not drain in 10 minutes: {}",
            diagnostics(&mut conn)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let restarts: u64 = findash_engine::Queue::ALL
        .iter()
        .map(|q| {
            findash_engine::metrics::get()
                .worker_restarts
                .with_label_values(&[q.as_str()])
                .get()
        })
        .sum();
    assert_eq!(restarts, 0, "no apalis worker died");
    assert!(
        max_in_redis <= 256 + 100,
        "Redis held {max_in_redis} unfinished tasks (window 256)"
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_tenants_job_waits_for_the_window_not_for_the_backlog() {
    let window = 16;
    let t = TestEngine::start(registry(), |c| {
        steady(c);
        c.dispatch_window = window;
    })
    .await;
    let a = tenant(&mut t.db.admin_conn(), "a");
    let b = tenant(&mut t.db.admin_conn(), "b");
    let row = t
        .engine
        .registry()
        .new_job("noop", json!({ "sleep_ms": 5 }))
        .unwrap();
    t.engine
        .enqueue_rows(Some(a), vec![row.clone(); 3_000], cli())
        .await
        .unwrap();
    let running = run(&t, 4);
    wait_count(
        &t,
        "SELECT least(count(*), 200) AS n FROM jobs WHERE state = 'succeeded'",
        200,
        Duration::from_secs(60),
    )
    .await;
    let sync = t
        .engine
        .enqueue_rows(Some(b), vec![row], cli())
        .await
        .unwrap()[0];
    // From when the job exists for everyone (its transaction committed), not from when that
    // transaction began: on a loaded machine the insert itself can take a while.
    let committed = sql::text(
        &mut t.db.admin_conn(),
        "SELECT clock_timestamp()::text AS value",
    );
    wait_count(
        &t,
        &format!(
            "SELECT count(*) AS n FROM jobs WHERE id = '{}' AND state = 'succeeded'",
            sync.id
        ),
        1,
        Duration::from_secs(30),
    )
    .await;
    let mut conn = t.db.admin_conn();
    let overtaken = sql::count(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM jobs a, jobs b WHERE b.id = '{}' AND a.tenant_id = '{a}' \
           AND a.started_at > '{committed}'::timestamptz AND a.started_at < b.started_at",
            sync.id
        ),
    );
    eprintln!("tenant b's job waited behind {overtaken} of tenant a's jobs (window {window})");
    let backlog_left = sql::count(
        &mut conn,
        "SELECT count(*) AS n FROM jobs WHERE state = 'queued'",
    );
    assert!(
        backlog_left > 1_000,
        "the test needs a backlog still waiting ({backlog_left})"
    );
    assert!(
        overtaken <= i64::from(window) + 4,
        "tenant b's job waited behind {overtaken} of tenant a's jobs (window {window}); {}",
        diagnostics(&mut conn)
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}
