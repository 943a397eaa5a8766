//! The queue gauges an operator reads first. Alone in its binary: the engine's metrics are
//! per process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use findash_engine::builtin::Noop;
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::{TestEngine, delete_namespace};

use common::registry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_depth_and_the_oldest_due_age_are_reported() {
    let t = TestEngine::start(registry(), |_| {}).await;
    let mut overdue = EnqueueOptions::new(Trigger::new("cli", None));
    overdue.run_at = Some(chrono::Utc::now() - chrono::Duration::seconds(3600));
    for key in ["a", "b", "c"] {
        overdue.idempotency_key = Some(key.to_owned());
        t.engine
            .enqueue(None, &Noop::default(), overdue.clone())
            .await
            .unwrap();
    }
    let mut later = EnqueueOptions::new(Trigger::new("cli", None));
    later.run_at = Some(chrono::Utc::now() + chrono::Duration::seconds(3600));
    t.engine
        .enqueue(None, &Noop::default(), later)
        .await
        .unwrap();
    // No workers run: the reconciler pass only reports.
    t.engine.reconcile_once().await.unwrap();
    let metrics = findash_engine::metrics::get();
    assert_eq!(
        metrics
            .queue_depth
            .with_label_values(&["default", "queued"])
            .get(),
        4
    );
    let oldest = metrics
        .oldest_queued_seconds
        .with_label_values(&["default"])
        .get();
    assert!(
        (3600..3700).contains(&oldest),
        "oldest due job waited {oldest} s"
    );
    assert_eq!(
        metrics
            .oldest_queued_seconds
            .with_label_values(&["sync"])
            .get(),
        0
    );
    delete_namespace(&t.namespace).await;
}
