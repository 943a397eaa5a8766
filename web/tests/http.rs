//! The app's shared behaviour through its real middleware stack, on a real PostgreSQL and
//! Redis: error shape, request ids, security headers, compression, health, readiness, metrics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use findash_engine::testing::{TestEngine, delete_namespace};
use findash_engine::{Queue, WorkerOptions};
use findash_web::WebConfig;
use findash_web::http::{AppState, app};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn state(t: &TestEngine, https_only: bool) -> web::Data<AppState> {
    common::state(
        t,
        WebConfig {
            https_only,
            ..common::config()
        },
    )
}

async fn engine() -> TestEngine {
    common::engine().await
}

fn header<B>(res: &actix_web::dev::ServiceResponse<B>, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_has_a_request_id_and_the_security_headers() {
    let t = engine().await;
    let service = test::init_service(app(state(&t, false))).await;

    let res = test::call_service(&service, TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let generated = header(&res, "x-request-id").unwrap();
    assert_eq!(generated.len(), 26, "a ULID: {generated}");
    assert_eq!(
        header(&res, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(header(&res, "x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        header(&res, "referrer-policy").as_deref(),
        Some("no-referrer")
    );
    assert!(
        header(&res, "content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(
        header(&res, "strict-transport-security"),
        None,
        "no HSTS in development"
    );
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body, serde_json::json!({ "status": "ok" }));

    // A client's id is kept; one that could forge log lines or headers is replaced.
    let res = test::call_service(
        &service,
        TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", "client-42.a:b_c"))
            .to_request(),
    )
    .await;
    assert_eq!(
        header(&res, "x-request-id").as_deref(),
        Some("client-42.a:b_c")
    );
    let res = test::call_service(
        &service,
        TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", "evil id; injected=1"))
            .to_request(),
    )
    .await;
    let replaced = header(&res, "x-request-id").unwrap();
    assert_ne!(replaced, "evil id; injected=1");
    assert_eq!(replaced.len(), 26);

    // Outside development, browsers are told to stay on HTTPS.
    let strict = test::init_service(app(state(&t, true))).await;
    let res = test::call_service(&strict, TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(
        header(&res, "strict-transport-security").as_deref(),
        Some("max-age=31536000; includeSubDomains")
    );
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_one_json_shape_carrying_the_request_id() {
    let t = engine().await;
    let service = test::init_service(app(state(&t, false))).await;
    for (request, status, code) in [
        (
            TestRequest::get().uri("/nowhere"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            TestRequest::post().uri("/healthz"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let res = test::call_service(
            &service,
            request
                .insert_header(("x-request-id", "trace-me"))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), status);
        assert_eq!(header(&res, "x-request-id").as_deref(), Some("trace-me"));
        assert!(
            header(&res, "content-type")
                .unwrap()
                .starts_with("application/json")
        );
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["error"]["code"], code, "{body}");
        assert_eq!(body["error"]["request_id"], "trace-me", "{body}");
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{body}"
        );
        assert_eq!(body.as_object().unwrap().len(), 1, "only `error`: {body}");
    }
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_each_component_and_fails_without_live_workers() {
    let t = engine().await;
    let service = test::init_service(app(state(&t, false))).await;

    let res = test::call_service(&service, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["components"]["postgres"]["status"], "up", "{body}");
    assert_eq!(body["components"]["redis"]["status"], "up", "{body}");
    assert_eq!(body["components"]["workers"]["status"], "down", "{body}");
    assert_eq!(
        body["components"]["workers"]["reason"], "no live workers",
        "{body}"
    );

    let stop = CancellationToken::new();
    let workers = {
        let (engine, stop) = (t.engine.clone(), stop.clone());
        tokio::spawn(async move {
            engine
                .run_workers(
                    WorkerOptions {
                        queues: vec![Queue::Default],
                        concurrency: Some(1),
                    },
                    stop,
                )
                .await;
        })
    };
    let started = Instant::now();
    let body = loop {
        let res =
            test::call_service(&service, TestRequest::get().uri("/readyz").to_request()).await;
        let status = res.status();
        let body: Value = test::read_body_json(res).await;
        if status == StatusCode::OK {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still not ready with a worker running: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["components"]["workers"]["live"], 1, "{body}");
    stop.cancel();
    let _ = workers.await;
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_per_route_pattern_next_to_the_engines() {
    let t = engine().await;
    common::exec(
        &mut t.db.admin_conn(),
        "INSERT INTO fx_rates (source, base_currency, quote_currency, rate_date, rate) \
         VALUES ('ecb', 'EUR', 'USD', current_date - 3, 1.08), ('ecb', 'EUR', 'BRL', current_date - 5, 6)",
    );
    // Two accounts: one synced two hours ago, one 30 hours ago (past the objective), and one of
    // a disabled connection (not reported).
    let tenant = common::tenant(&t, "ages");
    common::exec(
        &mut t.db.admin_conn(),
        &format!(
            "WITH c AS (INSERT INTO provider_connections (tenant_id, provider, external_id, display_name) \
                        VALUES ('{tenant}', 'sandbox', 'a', 'A'), ('{tenant}', 'sandbox', 'b', 'B') \
                        RETURNING id, external_id) \
             INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency, last_successful_sync_at) \
             SELECT '{tenant}', c.id, v.ext, 'checking', v.ext, 'Bank', 'BRL', now() - v.age \
             FROM c JOIN (VALUES ('a', 'fresh', interval '2 hours'), ('a', 'stale', interval '30 hours'), \
                                 ('b', 'off', interval '90 hours')) AS v(conn, ext, age) ON v.conn = c.external_id"
        ),
    );
    common::exec(
        &mut t.db.admin_conn(),
        "UPDATE provider_connections SET status = 'disabled' WHERE external_id = 'b'",
    );
    let service = test::init_service(app(state(&t, false))).await;
    t.engine
        .enqueue(
            None,
            &findash_engine::builtin::Noop::default(),
            findash_engine::ledger::EnqueueOptions::new(findash_engine::ledger::Trigger::new(
                "cli", None,
            )),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        test::call_service(&service, TestRequest::get().uri("/healthz").to_request()).await;
    }
    test::call_service(
        &service,
        TestRequest::get().uri("/no/such/123").to_request(),
    )
    .await;
    let res = test::call_service(
        &service,
        TestRequest::get()
            .uri("/metrics")
            .insert_header(("accept-encoding", "identity"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        header(&res, "content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(
        text.contains(
            r#"findash_http_requests_total{method="GET",route="/healthz",status="200"} 3"#
        ),
        "{text}"
    );
    // The newest ECB rate is three days old.
    assert!(
        text.contains(r#"findash_fx_rates_age_days{source="ecb"} 3"#),
        "{text}"
    );
    // Each active account's data age, and how many are past the 24-hour objective.
    let age = |name: &str| -> i64 {
        let id = findash_schema::testing::sql::text(
            &mut t.db.admin_conn(),
            &format!("SELECT id::text AS value FROM accounts WHERE external_id = '{name}'"),
        );
        let series =
            format!("findash_account_data_age_seconds{{account=\"{id}\",tenant=\"{tenant}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(-1, |v| v.parse().unwrap())
    };
    assert!((7200..7260).contains(&age("fresh")), "{text}");
    assert!((108_000..108_060).contains(&age("stale")), "{text}");
    assert_eq!(age("off"), -1, "{text}");
    assert!(text.contains("\nfindash_accounts_stale 1\n"), "{text}");
    // Unknown paths share one label, so random URLs cannot grow the series without bound.
    assert!(
        text.contains(
            r#"findash_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "findash_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\""
        ),
        "{text}"
    );
    assert!(
        text.contains("# TYPE findash_jobs_enqueued_total counter"),
        "{text}"
    );

    // Clients that accept gzip get it.
    let res = test::call_service(
        &service,
        TestRequest::get()
            .uri("/metrics")
            .insert_header(("accept-encoding", "gzip"))
            .to_request(),
    )
    .await;
    assert_eq!(header(&res, "content-encoding").as_deref(), Some("gzip"));
    delete_namespace(&t.namespace).await;
}
