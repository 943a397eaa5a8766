//! Rate limits per client IP and per tenant (429 with Retry-After and RateLimit-*, then
//! recovery), which `X-Forwarded-For` is believed, and CORS for the dashboard's origin only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use findash_schema::users::Role;
use findash_web::WebConfig;
use findash_web::http::app;
use serde_json::Value;

fn from(ip: &str) -> TestRequest {
    let peer: SocketAddr = format!("{ip}:40000").parse().unwrap();
    TestRequest::get().uri("/nowhere").peer_addr(peer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_ip_quota_waits_then_recovers_and_probes_are_never_limited() {
    let t = common::engine().await;
    let config = WebConfig {
        ip_quota: "2/s".parse().unwrap(),
        trusted_proxies: "10.0.0.0/8".parse().unwrap(),
        ..common::config()
    };
    let service = test::init_service(app(common::state(&t, config))).await;

    for left in [1, 0] {
        let res = test::call_service(&service, from("203.0.113.7").to_request()).await;
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "admitted (and not found)"
        );
        assert_eq!(res.headers().get("ratelimit-limit").unwrap(), "2");
        assert_eq!(
            res.headers().get("ratelimit-remaining").unwrap(),
            &left.to_string()
        );
    }
    let res = test::call_service(&service, from("203.0.113.7").to_request()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers().get("retry-after").unwrap(), "1");
    assert_eq!(res.headers().get("ratelimit-remaining").unwrap(), "0");
    assert!(res.headers().get("x-request-id").is_some());
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");

    // Another client is not affected; probes are never limited.
    let res = test::call_service(&service, from("198.51.100.1").to_request()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    for _ in 0..5 {
        let res = test::call_service(
            &service,
            TestRequest::get()
                .uri("/healthz")
                .peer_addr("203.0.113.7:1".parse().unwrap())
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    // After Retry-After, the client is served again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = test::call_service(&service, from("203.0.113.7").to_request()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Behind a trusted proxy, the client is the right-most untrusted X-Forwarded-For entry:
    // what the client wrote further left cannot buy it a fresh quota.
    let via_proxy = |claimed: &str| {
        from("10.1.2.3").insert_header((
            "x-forwarded-for",
            format!("{claimed}, 192.0.2.50, 10.9.9.9"),
        ))
    };
    for claimed in ["1.1.1.1", "2.2.2.2"] {
        let res = test::call_service(&service, via_proxy(claimed).to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{claimed}");
    }
    let res = test::call_service(&service, via_proxy("3.3.3.3").to_request()).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "192.0.2.50 spent its quota"
    );
    // From an untrusted peer the header is ignored: the peer is the client.
    let res = test::call_service(
        &service,
        from("198.51.100.9")
            .insert_header(("x-forwarded-for", "192.0.2.50"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    findash_engine::testing::delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_quota_is_refused_whatever_ip_it_comes_from() {
    let t = common::engine().await;
    let (a, b) = (common::tenant(&t, "a"), common::tenant(&t, "b"));
    let config = WebConfig {
        tenant_quota: "3/m".parse().unwrap(),
        ..common::config()
    };
    let service = test::init_service(app(common::state(&t, config))).await;
    let jobs = |ip: &str, token: &str| {
        TestRequest::get()
            .uri("/api/v1/jobs")
            .peer_addr(format!("{ip}:1").parse().unwrap())
            .insert_header(("authorization", token.to_owned()))
            .to_request()
    };
    let token_a = common::bearer(a, Role::User);
    for ip in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        let res = test::call_service(&service, jobs(ip, &token_a)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = test::call_service(&service, jobs("192.0.2.4", &token_a)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=20).contains(&wait),
        "one request per 20 s comes back: {wait}"
    );
    assert_eq!(res.headers().get("ratelimit-limit").unwrap(), "3");
    // Tenant B has its own quota.
    let res = test::call_service(&service, jobs("192.0.2.4", &common::bearer(b, Role::User))).await;
    assert_eq!(res.status(), StatusCode::OK);
    findash_engine::testing::delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_dashboard_origin_may_call_cross_origin() {
    let t = common::engine().await;
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let preflight = |origin: &str| {
        TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/api/v1/jobs")
            .insert_header(("origin", origin.to_owned()))
            .insert_header(("access-control-request-method", "POST"))
            .insert_header((
                "access-control-request-headers",
                "authorization, content-type",
            ))
            .to_request()
    };
    let res = test::call_service(&service, preflight("http://localhost:3000")).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        res.headers().get("access-control-allow-origin").unwrap(),
        "http://localhost:3000"
    );
    let allowed = res
        .headers()
        .get("access-control-allow-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );

    let res = test::call_service(&service, preflight("https://evil.example")).await;
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "another origin is not allowed: {:?}",
        res.headers()
    );
    let res = test::call_service(
        &service,
        TestRequest::get()
            .uri("/healthz")
            .insert_header(("origin", "http://localhost:3000"))
            .to_request(),
    )
    .await;
    assert_eq!(
        res.headers().get("access-control-allow-origin").unwrap(),
        "http://localhost:3000"
    );
    let exposed = res
        .headers()
        .get("access-control-expose-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("retry-after"),
        "{exposed}"
    );
    findash_engine::testing::delete_namespace(&t.namespace).await;
}
