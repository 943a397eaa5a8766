//! Sentry Crons check-ins as they arrive at an HTTP endpoint: a tiny local server stands in for
//! Sentry and records every request.

// Helpers outside #[test] fns panic on a broken fixture, which is what a test wants.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::sentry::fake_sentry;
use findash_engine::cron::{CronMonitor, Schedule, default_schedules};

fn refresh_rates() -> Schedule {
    default_schedules()
        .into_iter()
        .find(|s| s.name == "refresh-rates")
        .unwrap()
}

#[tokio::test]
async fn in_progress_then_ok_with_the_same_check_in_id() {
    let (port, requests) = fake_sentry();
    let dsn = format!("http://public@127.0.0.1:{port}/42");
    let monitor = CronMonitor::new(Some(&dsn), "production").unwrap();
    let schedule = refresh_rates();

    let check_in = monitor.start(&schedule).await.unwrap();
    monitor.finish(check_in.clone(), true).await;

    let first = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    let last = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    let id = check_in.check_in_id.simple().to_string();

    for request in [&first, &last] {
        assert_eq!(request.request_line, "POST /api/42/envelope/ HTTP/1.1");
        let auth = request.header("x-sentry-auth").unwrap();
        assert!(auth.starts_with("Sentry "), "{auth}");
        assert!(auth.contains("sentry_key=public,"), "{auth}");
        assert!(auth.contains("sentry_version=7"), "{auth}");
        assert!(auth.contains("sentry_client=sentry.rust/"), "{auth}");
        let (_, item, payload) = request.envelope();
        assert_eq!(item["type"], "check_in");
        assert_eq!(
            item["length"].as_u64().unwrap() as usize,
            request.body.lines().nth(2).unwrap().len()
        );
        assert_eq!(payload["check_in_id"], id.as_str());
        assert_eq!(payload["monitor_slug"], "refresh-rates");
        assert_eq!(payload["environment"], "production");
        assert_eq!(
            payload["monitor_config"],
            serde_json::json!({
                "schedule": {"type": "crontab", "value": "*/30 * * * *"},
                "checkin_margin": 5,
                "max_runtime": 30,
                "timezone": "UTC",
            })
        );
    }

    let (_, _, started) = first.envelope();
    assert_eq!(started["status"], "in_progress");
    assert!(started.get("duration").is_none(), "{started}");

    let (_, _, finished) = last.envelope();
    assert_eq!(finished["status"], "ok");
    let duration = finished["duration"].as_f64().unwrap();
    assert!((0.0..5.0).contains(&duration), "{duration}");
}

#[tokio::test]
async fn a_failed_run_finishes_with_error() {
    let (port, requests) = fake_sentry();
    let dsn = format!("http://public@127.0.0.1:{port}/42");
    let monitor = CronMonitor::new(Some(&dsn), "staging").unwrap();

    let check_in = monitor.start(&refresh_rates()).await.unwrap();
    monitor.finish(check_in, false).await;

    requests.recv_timeout(Duration::from_secs(5)).unwrap();
    let (_, _, finished) = requests
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .envelope();
    assert_eq!(finished["status"], "error");
    assert_eq!(finished["environment"], "staging");
    assert!(finished["duration"].is_f64(), "{finished}");
}

#[tokio::test]
async fn without_a_dsn_nothing_is_sent() {
    let monitor = CronMonitor::new(None, "production").unwrap();
    assert!(!monitor.is_enabled());
    assert!(monitor.start(&refresh_rates()).await.is_none());
}

#[tokio::test]
async fn an_unreachable_endpoint_is_survived_quickly() {
    // A port nobody listens on: the listener is dropped before anything connects.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dsn = format!("http://public@127.0.0.1:{port}/42");
    let monitor = CronMonitor::new(Some(&dsn), "production").unwrap();

    let began = Instant::now();
    let check_in = monitor.start(&refresh_rates()).await.unwrap();
    monitor.finish(check_in, true).await;
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_cut_off_by_the_timeout() {
    // Accepts connections (the OS backlog does) but never reads or replies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dsn = format!("http://public@127.0.0.1:{port}/42");
    let monitor = CronMonitor::new(Some(&dsn), "production")
        .unwrap()
        .with_timeout(Duration::from_millis(300));

    let began = Instant::now();
    let check_in = monitor.start(&refresh_rates()).await.unwrap();
    monitor.finish(check_in, true).await;
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    drop(silent);
}

#[test]
fn a_malformed_dsn_is_refused_without_echoing_it() {
    let err = CronMonitor::new(Some("https://sekrit@sentry.example.com/"), "production")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("sekrit"), "{err}");
}

#[test]
fn debug_output_hides_the_key() {
    let monitor =
        CronMonitor::new(Some("https://sekrit@sentry.example.com/42"), "production").unwrap();
    let shown = format!("{monitor:?}");
    assert!(!shown.contains("sekrit"), "{shown}");
    assert!(shown.contains("sentry.example.com"), "{shown}");
}
