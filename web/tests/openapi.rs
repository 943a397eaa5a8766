//! The OpenAPI document: version 3.1, exactly the app's routes (each documented operation is
//! routed, and the list below is the route table's), bearer security and the error shape on
//! every API operation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use actix_web::test::{self, TestRequest};
use findash_web::http::app;
use serde_json::Value;

/// The route table (`findash_web::http::routes`), as (method, path template).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/docs"),
    ("get", "/api/v1/docs/swagger-ui-bundle.js"),
    ("get", "/api/v1/docs/swagger-ui.css"),
    ("get", "/api/v1/docs/init.js"),
    ("get", "/api/v1/summary"),
    ("get", "/api/v1/accounts"),
    ("get", "/api/v1/accounts/{id}/transactions"),
    ("get", "/api/v1/revenue"),
    ("get", "/api/v1/expenses"),
    ("get", "/api/v1/cards"),
    ("get", "/api/v1/forecast"),
    ("get", "/api/v1/dq/findings"),
    ("get", "/api/v1/export/transactions.csv"),
    ("get", "/api/v1/jobs"),
    ("post", "/api/v1/jobs"),
    ("get", "/api/v1/jobs/{id}"),
    ("post", "/api/v1/jobs/{id}/cancel"),
    ("post", "/api/v1/jobs/{id}/retry"),
    ("get", "/api/v1/notifications"),
    ("put", "/api/v1/notifications"),
    ("get", "/api/v1/webhooks"),
    ("post", "/api/v1/webhooks/{id}/replay"),
    ("post", "/webhooks/stripe"),
    ("post", "/webhooks/qstash/{kind}"),
    ("post", "/webhooks/mercadopago"),
    ("get", "/email/unsubscribe"),
    ("post", "/email/unsubscribe"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_exactly_the_routes_with_security_and_errors() {
    let t = common::engine().await;
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let res = test::call_service(
        &service,
        TestRequest::get().uri("/api/v1/openapi.json").to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = test::read_body_json(res).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented, routed,
        "the document and the route table differ"
    );

    // Every documented operation reaches a handler (whatever it answers without credentials).
    for (method, path) in &routed {
        let uri = path
            .replace("{id}", "01a21110-0000-7000-8000-000000000000")
            .replace("{kind}", "refresh-rates");
        let res = test::call_service(
            &service,
            TestRequest::default()
                .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
                .uri(&uri)
                .to_request(),
        )
        .await;
        let status = res.status();
        let body: Value =
            serde_json::from_slice(&test::read_body(res).await).unwrap_or(Value::Null);
        let unrouted = status == StatusCode::NOT_FOUND
            && body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no route"));
        assert!(
            !unrouted && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}: {status}"
        );
    }

    let schemes = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(schemes["type"], "http");
    assert_eq!(schemes["scheme"], "bearer");
    for (method, path) in ROUTES.iter().filter(|(_, p)| {
        p.starts_with("/api/v1/") && !p.starts_with("/api/v1/docs") && *p != "/api/v1/openapi.json"
    }) {
        let operation = &doc["paths"][path][method];
        assert_eq!(
            operation["security"][0]["bearer"],
            Value::Array(vec![]),
            "{method} {path}"
        );
        for status in ["401", "429"] {
            assert_eq!(
                operation["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path} {status}"
            );
        }
    }
    // Webhook receivers take no bearer token: the sender's signature is their credential.
    for (method, path) in ROUTES.iter().filter(|(_, p)| p.starts_with("/webhooks/")) {
        let operation = &doc["paths"][path][method];
        assert!(operation.get("security").is_none(), "{method} {path}");
        for status in ["400", "413", "429", "500", "503"] {
            assert_eq!(
                operation["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path} {status}"
            );
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Job",
        "Attempt",
        "ErrorBody",
        "NewJobBody",
        "Page",
        "Detail",
        "Readiness",
        "Summary",
        "Revenue",
        "Expenses",
        "Cards",
        "LatestForecast",
        "FindingsPage",
        "Transaction",
        "Received",
        "DeliveryPage",
        "Replayed",
        "WebhookDelivery",
    ] {
        assert!(
            schemas.contains_key(name),
            "no schema {name}: {:?}",
            schemas.keys()
        );
    }
    findash_engine::testing::delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_runs_swagger_ui_from_this_origin_only() {
    let t = common::engine().await;
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let res = test::call_service(
        &service,
        TestRequest::get().uri("/api/v1/docs").to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("http"), "no other origin: {csp}");
    let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let url = part.split('"').next().unwrap();
            assert!(
                url.starts_with("/api/v1/docs/"),
                "an asset from elsewhere: {url}"
            );
            assets.push(url.to_owned());
        }
    }
    assert_eq!(assets.len(), 3, "{assets:?}");
    for (url, content_type, needle) in [
        (
            "/api/v1/docs/swagger-ui-bundle.js",
            "text/javascript",
            "SwaggerUIBundle",
        ),
        ("/api/v1/docs/swagger-ui.css", "text/css", ".swagger-ui"),
        (
            "/api/v1/docs/init.js",
            "text/javascript",
            "/api/v1/openapi.json",
        ),
    ] {
        assert!(
            assets.iter().any(|a| a == url),
            "{url} not used by the page"
        );
        let res = test::call_service(&service, TestRequest::get().uri(url).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        assert!(
            res.headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{url}"
        );
        let body = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
        assert!(body.contains(needle), "{url}");
    }
    findash_engine::testing::delete_namespace(&t.namespace).await;
}
