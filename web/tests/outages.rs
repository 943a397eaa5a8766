//! The API through outages: with Redis gone, dashboard answers are computed uncached
//! (`X-Cache: bypass`), jobs are still accepted into the ledger, and `/readyz` says 503 with
//! Redis down, until Redis is back; with PostgreSQL refusing the app, `/readyz` says 503 with
//! PostgreSQL down, and 200 again once it accepts connections.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use findash_engine::Registry;
use findash_engine::testing::TestEngine;
use findash_schema::testing::sql;
use findash_schema::users::Role;
use findash_web::http::app;
use serde_json::{Value, json};

/// A Redis server of this test's own on `port`, so stopping it harms no other test.
fn redis_server(port: u16) -> Child {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("this test starts its own redis-server (Debian package redis-server)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_api_answers_uncached_and_readiness_says_so() {
    let port = free_port();
    let mut redis = redis_server(port);
    let t = TestEngine::start(findash_engine::builtin::register(Registry::new()), |c| {
        c.redis_url = secrecy::SecretString::from(format!("redis://127.0.0.1:{port}"));
    })
    .await;
    let a = common::tenant(&t, "a");
    let running = t.run(1);
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let svc = &service;
    let call = move |request: TestRequest| async move {
        let res = test::call_service(svc, request.to_request()).await;
        let status = res.status();
        let cache = res
            .headers()
            .get("x-cache")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value =
            serde_json::from_slice(&test::read_body(res).await).unwrap_or(Value::Null);
        (status, cache, body)
    };
    let summary = || {
        TestRequest::get()
            .uri("/api/v1/summary")
            .insert_header(("authorization", common::bearer(a, Role::User)))
    };
    let ready = |want: StatusCode| async move {
        let started = Instant::now();
        loop {
            let (status, _, body) = call(TestRequest::get().uri("/readyz")).await;
            if status == want {
                return body;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "/readyz is {status}, not {want}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };

    ready(StatusCode::OK).await;
    assert_eq!(call(summary()).await.1.as_deref(), Some("miss"));
    assert_eq!(call(summary()).await.1.as_deref(), Some("hit"));

    redis.kill().unwrap();
    redis.wait().unwrap();
    let body = ready(StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["components"]["redis"]["status"], "down", "{body}");
    assert_eq!(body["components"]["postgres"]["status"], "up", "{body}");
    let started = Instant::now();
    let (status, cache, body) = call(summary()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(cache.as_deref(), Some("bypass"));
    assert_eq!(body["base_currency"], "BRL");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "an unreachable cache must not stall answers: {:?}",
        started.elapsed()
    );
    // A job asked for now is kept in the ledger; it is dispatched once Redis is back.
    let (status, _, body) = call(
        TestRequest::post()
            .uri("/api/v1/jobs")
            .insert_header(("authorization", common::bearer(a, Role::Admin)))
            .set_json(json!({"kind": "noop", "payload": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let job = body["id"].as_str().unwrap().to_owned();

    let mut redis = redis_server(port);
    let body = ready(StatusCode::OK).await;
    assert_eq!(body["components"]["redis"]["status"], "up");
    let mut conn = t.db.admin_conn();
    let started = Instant::now();
    loop {
        let state = sql::text(
            &mut conn,
            &format!("SELECT state AS value FROM jobs WHERE id = '{job}'"),
        );
        if state == "succeeded" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job accepted during the outage is {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(call(summary()).await.1.as_deref(), Some("miss"));

    running.shutdown().await;
    redis.kill().unwrap();
    redis.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_postgres_readiness_says_so_until_it_is_back() {
    let t = common::engine().await;
    let a = common::tenant(&t, "a");
    let running = t.run(1);
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let svc = &service;
    let ready = |want: StatusCode| async move {
        let started = Instant::now();
        loop {
            let res = test::call_service(svc, TestRequest::get().uri("/readyz").to_request()).await;
            let status = res.status();
            let body: Value = test::read_body_json(res).await;
            if status == want {
                return body;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "/readyz is {status}, not {want}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    ready(StatusCode::OK).await;

    // The database stops accepting the app: new connections refused, open ones cut.
    let mut admin = findash_schema::testing::server_conn();
    let name = t.db.name().to_owned();
    common::exec(
        &mut admin,
        &format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        ),
    );
    let body = ready(StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["components"]["postgres"]["status"], "down", "{body}");
    assert!(
        !body.to_string().contains(&name),
        "the probe names no database internals: {body}"
    );
    let res = test::call_service(svc, common::get_as("/api/v1/accounts", a, Role::User)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get("retry-after").unwrap(), "5");
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(!body.to_string().contains(&name), "{body}");

    common::exec(
        &mut admin,
        &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"),
    );
    ready(StatusCode::OK).await;
    running.shutdown().await;
    findash_engine::testing::delete_namespace(&t.namespace).await;
}
