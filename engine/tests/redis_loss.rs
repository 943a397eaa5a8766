//! Redis loses everything mid-run (FLUSHALL): every job still completes, from the ledger.
//! Alone in its test binary, because it flushes the whole Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::{TestEngine, delete_namespace, redis_url};
use serde_json::json;

use common::{registry, run, wait_count};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_job_completes_after_redis_is_flushed_mid_run() {
    let t = TestEngine::start(registry(), |c| c.dispatch_window = 64).await;
    let running = run(&t, 4);
    let rows = vec![
        t.engine
            .registry()
            .new_job("noop", json!({ "sleep_ms": 20 }))
            .unwrap();
        300
    ];
    t.engine
        .enqueue_rows(None, rows, EnqueueOptions::new(Trigger::new("cli", None)))
        .await
        .unwrap();
    wait_count(
        &t,
        "SELECT least(count(*), 50) AS n FROM jobs WHERE state = 'succeeded'",
        50,
        Duration::from_secs(30),
    )
    .await;
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    wait_count(
        &t,
        "SELECT count(*) AS n FROM jobs WHERE state = 'succeeded'",
        300,
        Duration::from_secs(90),
    )
    .await;
    assert!(
        t.engine.live_workers() >= 1,
        "the pools came back under new names"
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}
