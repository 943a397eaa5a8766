//! `/api/v1/jobs` through the whole app on a real PostgreSQL and Redis: bearer auth and its
//! failures, roles, tenant isolation, validation errors, pagination, cancel and retry.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use common::call;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use base64::Engine as _;
use chrono::{Duration, Utc};
use findash_engine::Registry;
use findash_engine::testing::{TestEngine, delete_namespace};
use findash_schema::testing::sql;
use findash_schema::users::Role;
use findash_web::auth::{self, Claims};
use findash_web::http::{AppState, app};
use serde_json::{Value, json};

use common::{SECRET, keys, tenant};

fn state(t: &TestEngine) -> web::Data<AppState> {
    common::state(t, common::config())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_valid_bearer_token_is_refused() {
    let t = TestEngine::start(findash_engine::builtin::register(Registry::new()), |_| {}).await;
    let a = tenant(&t, "a");
    let service = test::init_service(app(state(&t))).await;

    let res = test::call_service(
        &service,
        TestRequest::get().uri("/api/v1/jobs").to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers().get("www-authenticate").unwrap(),
        r#"Bearer realm="findash""#
    );

    let expired = auth::mint(
        &keys(SECRET),
        &Claims::new(
            "u",
            a,
            Role::Admin,
            Utc::now() - Duration::hours(2),
            Duration::hours(1),
        ),
    )
    .unwrap();
    let foreign = auth::mint(
        &keys("another-secret-of-at-least-32-bytes!!"),
        &Claims::new("u", a, Role::Admin, Utc::now(), Duration::hours(1)),
    )
    .unwrap();
    // The same claims, unsigned (`alg: none`).
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = serde_json::to_value(Claims::new(
        "u",
        a,
        Role::Admin,
        Utc::now(),
        Duration::hours(1),
    ))
    .unwrap();
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    );
    for (authorization, message) in [
        ("Basic dXNlcjpwYXNz".to_owned(), "is not `Bearer <token>`"),
        ("Bearer ".to_owned(), "is not `Bearer <token>`"),
        ("Bearer not.a.jwt".to_owned(), "not valid"),
        (format!("Bearer {expired}"), "expired"),
        (format!("Bearer {foreign}"), "not valid"),
        (format!("Bearer {unsigned}"), "not valid"),
    ] {
        let (status, body) = call(
            &service,
            TestRequest::get()
                .uri("/api/v1/jobs")
                .insert_header(("authorization", authorization.as_str())),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(message),
            "{authorization}: {body}"
        );
    }
    let (status, _) = call(
        &service,
        TestRequest::get()
            .uri("/api/v1/jobs")
            .insert_header(("authorization", common::bearer(a, Role::User))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_checks_role_kind_payload_and_body_and_is_idempotent() {
    let t = TestEngine::start(findash_engine::builtin::register(Registry::new()), |_| {}).await;
    let a = tenant(&t, "a");
    let service = test::init_service(app(state(&t))).await;
    let admin = common::bearer(a, Role::Admin);
    let post = |body: &str, auth: &str| {
        TestRequest::post()
            .uri("/api/v1/jobs")
            .insert_header(("authorization", auth.to_owned()))
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_owned())
    };

    let (status, created) = call(
        &service,
        post(r#"{"kind":"noop","idempotency_key":"k1"}"#, &admin),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["duplicate"], false);
    let (status, again) = call(
        &service,
        post(r#"{"kind":"noop","idempotency_key":"k1"}"#, &admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], created["id"]);
    assert_eq!(
        sql::text(
            &mut t.db.admin_conn(),
            &format!(
                "SELECT tenant_id::text || ' ' || trigger_kind || ' ' || trigger_ref AS value FROM jobs WHERE id = '{}'",
                created["id"].as_str().unwrap()
            )
        ),
        format!("{a} api user-1"),
        "the job belongs to the token's tenant and records who started it"
    );

    for (body, auth, status, code) in [
        (
            r#"{"kind":"noop"}"#,
            common::bearer(a, Role::User),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            r#"{"kind":"prune"}"#,
            admin.clone(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            r#"{"kind":"teleport"}"#,
            admin.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            r#"{"kind":"noop","payload":{"bogus":1}}"#,
            admin.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            r#"{"kind":"noop","payload":{"sleep_ms":"\u0000"}}"#,
            admin.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            r#"{"kind":"noop","idempotency_key":"a\u0000b"}"#,
            admin.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            r#"{"kind":"noop","payload":[null, null]}"#,
            admin.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            r#"{"kind":"noop","tenant_id":"x"}"#,
            admin.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            r#"{"kind":"noop","idempotency_key":""}"#,
            admin.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            r#"{"kind":"noop","run_at":"tomorrow"}"#,
            admin.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            r#"{"kind": "noop""#,
            admin.clone(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ] {
        let (got, body_out) = call(&service, post(body, &auth)).await;
        assert_eq!(got, status, "{body}: {body_out}");
        assert_eq!(body_out["error"]["code"], code, "{body}: {body_out}");
    }
    let (status, body) = call(
        &service,
        TestRequest::post()
            .uri("/api/v1/jobs")
            .insert_header(("authorization", admin.clone()))
            .insert_header(("content-type", "text/plain"))
            .set_payload(r#"{"kind":"noop"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let huge = format!(
        r#"{{"kind":"noop","payload":{{"x":"{}"}}}}"#,
        "x".repeat(300 * 1024)
    );
    let (status, body) = call(&service, post(&huge, &admin)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(
        sql::count(&mut t.db.admin_conn(), "SELECT count(*) AS n FROM jobs"),
        1,
        "nothing but the first job was stored"
    );
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_see_and_act_on_their_own_jobs_only_with_stable_pages() {
    let t = TestEngine::start(findash_engine::builtin::register(Registry::new()), |_| {}).await;
    let (a, b) = (tenant(&t, "a"), tenant(&t, "b"));
    let service = test::init_service(app(state(&t))).await;
    let (admin_a, user_a, admin_b) = (
        common::bearer(a, Role::Admin),
        common::bearer(a, Role::User),
        common::bearer(b, Role::Admin),
    );
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (status, created) = call(
            &service,
            TestRequest::post()
                .uri("/api/v1/jobs")
                .insert_header(("authorization", admin_a.clone()))
                .set_json(json!({"kind": "noop"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    // Newest first, two at a time, each job exactly once, also with a job inserted meanwhile.
    let mut seen = Vec::new();
    let mut uri = "/api/v1/jobs?limit=2".to_owned();
    loop {
        let (status, page) = call(
            &service,
            TestRequest::get()
                .uri(&uri)
                .insert_header(("authorization", user_a.clone())),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for job in page["jobs"].as_array().unwrap() {
            seen.push(job["id"].as_str().unwrap().to_owned());
        }
        if seen.len() == 2 {
            call(
                &service,
                TestRequest::post()
                    .uri("/api/v1/jobs")
                    .insert_header(("authorization", admin_a.clone()))
                    .set_json(json!({"kind": "noop"})),
            )
            .await;
        }
        match page["next_before"].as_str() {
            Some(before) => uri = format!("/api/v1/jobs?limit=2&before={before}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    // Tenant B sees none of it and can touch none of it.
    let (_, page) = call(
        &service,
        TestRequest::get()
            .uri("/api/v1/jobs")
            .insert_header(("authorization", admin_b.clone())),
    )
    .await;
    assert_eq!(page["jobs"], json!([]), "{page}");
    for request in [
        TestRequest::get().uri(&format!("/api/v1/jobs/{}", ids[0])),
        TestRequest::post().uri(&format!("/api/v1/jobs/{}/cancel", ids[0])),
        TestRequest::post().uri(&format!("/api/v1/jobs/{}/retry", ids[0])),
    ] {
        let (status, body) = call(
            &service,
            request.insert_header(("authorization", admin_b.clone())),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }

    // A's user cancels its job (no workers run here), cannot retry it; A's admin can.
    let job = &ids[0];
    let with = |r: TestRequest, auth: &String| r.insert_header(("authorization", auth.clone()));
    let (status, body) = call(
        &service,
        with(
            TestRequest::post().uri(&format!("/api/v1/jobs/{job}/cancel")),
            &user_a,
        ),
    )
    .await;
    assert_eq!(
        (status, body["state"].clone()),
        (StatusCode::OK, json!("cancelled")),
        "{body}"
    );
    let (status, body) = call(
        &service,
        with(
            TestRequest::post().uri(&format!("/api/v1/jobs/{job}/cancel")),
            &user_a,
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("conflict")),
        "{body}"
    );
    let (status, _) = call(
        &service,
        with(
            TestRequest::post().uri(&format!("/api/v1/jobs/{job}/retry")),
            &user_a,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(
        &service,
        with(
            TestRequest::post().uri(&format!("/api/v1/jobs/{job}/retry")),
            &admin_a,
        ),
    )
    .await;
    assert_eq!(
        (status, body["state"].clone()),
        (StatusCode::OK, json!("queued")),
        "{body}"
    );
    let (status, body) = call(
        &service,
        with(
            TestRequest::get().uri(&format!("/api/v1/jobs/{job}")),
            &user_a,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["job"]["id"], json!(job));
    assert_eq!(body["job"]["state"], "queued");
    assert_eq!(body["attempts"], json!([]));

    // Bad queries are the caller's to fix.
    for (uri, status) in [
        ("/api/v1/jobs?limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "/api/v1/jobs?state=exploded",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/api/v1/jobs?before=yesterday", StatusCode::BAD_REQUEST),
        ("/api/v1/jobs?colour=red", StatusCode::BAD_REQUEST),
        ("/api/v1/jobs/not-a-uuid", StatusCode::BAD_REQUEST),
    ] {
        let (got, body) = call(&service, with(TestRequest::get().uri(uri), &user_a)).await;
        assert_eq!(got, status, "{uri}: {body}");
    }
    delete_namespace(&t.namespace).await;
}
