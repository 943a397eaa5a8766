//! Sentry events for failed attempts, as they arrive at a local stand-in for Sentry: one event
//! per failed attempt, none for successes, each tagged with its own job only (a hub per job).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::sentry::{Captured, fake_sentry};
use common::{registry, run, tenant, wait_count};
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::{TestEngine, delete_namespace};
use serde_json::{Value, json};

/// The event a request carried (nothing else, such as sessions, is expected here).
fn event(request: &Captured) -> Value {
    let (_, item, payload) = request.envelope();
    assert_eq!(item["type"], "event", "{}", request.body);
    payload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_failed_attempt_is_one_event_tagged_with_its_own_job() {
    let (port, requests) = fake_sentry();
    let dsn = format!("http://public@127.0.0.1:{port}/7");
    let t = TestEngine::start(registry(), |c| {
        c.sentry_dsn = Some(secrecy::SecretString::from(dsn));
        c.environment = "staging".to_owned();
    })
    .await;
    let a = tenant(&mut t.db.admin_conn(), "a");
    let running = run(&t, 8);
    let options = || EnqueueOptions::new(Trigger::new("cli", None));
    let fails_once = t
        .engine
        .registry()
        .new_job("noop", json!({ "fail_times": 1 }))
        .unwrap();
    let succeeds = t.engine.registry().new_job("noop", json!({})).unwrap();
    let tenant_job = t
        .engine
        .enqueue_rows(
            Some(a),
            vec![fails_once.clone(), succeeds.clone()],
            options(),
        )
        .await
        .unwrap()[0]
        .id;
    let system_job = t
        .engine
        .enqueue_rows(None, vec![fails_once, succeeds], options())
        .await
        .unwrap()[0]
        .id;
    wait_count(
        &t,
        "SELECT count(*) AS n FROM jobs WHERE state = 'succeeded'",
        4,
        Duration::from_secs(30),
    )
    .await;

    let mut events = BTreeMap::new();
    for _ in 0..2 {
        let request = requests
            .recv_timeout(Duration::from_secs(10))
            .expect("an event for each failed attempt");
        assert_eq!(request.request_line, "POST /api/7/envelope/ HTTP/1.1");
        let event = event(&request);
        let id = event["tags"]["job.id"].as_str().unwrap().to_owned();
        events.insert(id, event);
    }
    let tenant_event = &events[&tenant_job.to_string()];
    let system_event = &events[&system_job.to_string()];
    for event in [tenant_event, system_event] {
        // Sentry reads a missing level as `error`, and the SDK leaves the default out.
        assert_eq!(
            event["level"].as_str().unwrap_or("error"),
            "error",
            "{event}"
        );
        assert_eq!(event["environment"], "staging", "{event}");
        assert_eq!(event["tags"]["job.kind"], "noop", "{event}");
        assert_eq!(event["tags"]["job.attempt"], "1", "{event}");
        assert_eq!(event["tags"]["job.outcome"], "retrying", "{event}");
        let message = event["message"]
            .as_str()
            .or_else(|| event["logentry"]["message"].as_str())
            .unwrap_or_default();
        assert!(message.starts_with("noop: "), "{event}");
    }
    assert_eq!(tenant_event["tags"]["tenant"], a.to_string());
    assert!(
        system_event["tags"].get("tenant").is_none(),
        "a tenant's tag leaked into a system job's event: {system_event}"
    );
    // Successful attempts (four of them) send nothing.
    assert!(
        requests.recv_timeout(Duration::from_secs(2)).is_err(),
        "an event for a successful attempt"
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}
