//! Email preferences through the whole app: the calling user's own preferences (`GET`/`PUT
//! /api/v1/notifications`) and the public unsubscribe page an email's link opens, on the real
//! database with row-level security.

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
use findash_engine::testing::{TestEngine, delete_namespace};
use findash_jobs::email::{Unsubscribe, UnsubscribeKey};
use findash_schema::email::Topic;
use findash_schema::testing::sql;
use findash_schema::users::Role;
use findash_schema::{TenantId, UserId};
use findash_web::auth::{self, Claims};
use findash_web::http::{AppState, app};
use serde_json::{Value, json};

async fn harness() -> (TestEngine, web::Data<AppState>) {
    let registry =
        findash_jobs::registry(&findash_jobs::testing::config("http://127.0.0.1:9")).unwrap();
    let t = TestEngine::start(registry, |_| {}).await;
    let state = common::state(&t, common::config());
    (t, state)
}

fn user(t: &TestEngine, tenant: TenantId, email: &str) -> UserId {
    sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO users (tenant_id, email, display_name, role) \
             VALUES ('{tenant}', '{email}', 'Someone', 'user') RETURNING id::text AS value"
        ),
    )
    .parse()
    .unwrap()
}

/// `Bearer <token>` naming `sub` of `tenant`.
fn bearer(sub: &str, tenant: TenantId) -> String {
    let claims = Claims::new(
        sub,
        tenant,
        Role::User,
        chrono::Utc::now(),
        chrono::Duration::hours(1),
    );
    format!(
        "Bearer {}",
        auth::mint(&common::keys(common::SECRET), &claims).unwrap()
    )
}

/// What is stored for `user`: `daily_summary|alerts`, or `none` without a row.
fn stored(t: &TestEngine, user: UserId) -> String {
    sql::texts(
        &mut t.db.admin_conn(),
        &format!(
            "SELECT concat_ws('|', daily_summary::text, alerts::text) AS value FROM notification_preferences \
             WHERE user_id = '{user}'"
        ),
    )
    .pop()
    .unwrap_or_else(|| "none".to_owned())
}

fn token(t: &TestEngine, tenant: TenantId, user: UserId, topic: Topic) -> String {
    t.engine
        .registry()
        .state::<UnsubscribeKey>()
        .unwrap()
        .sign(Unsubscribe {
            user,
            tenant,
            topic,
        })
}

fn put(auth: &str, body: &str) -> TestRequest {
    TestRequest::put()
        .uri("/api/v1/notifications")
        .insert_header(("authorization", auth.to_owned()))
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned())
}

fn get(auth: &str) -> TestRequest {
    TestRequest::get()
        .uri("/api/v1/notifications")
        .insert_header(("authorization", auth.to_owned()))
}

/// Status, `Content-Type` and body text.
async fn page(
    service: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    request: TestRequest,
) -> (StatusCode, String, String) {
    let res = test::call_service(service, request.to_request()).await;
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    (status, content_type, body)
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["request_id"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_reads_and_replaces_only_their_own_preferences() {
    let (t, state) = harness().await;
    let service = test::init_service(app(state)).await;
    let acme = common::tenant(&t, "acme");
    let other = common::tenant(&t, "other");
    let alice = user(&t, acme, "alice@acme.example");
    let bob = user(&t, other, "bob@other.example");
    let as_alice = bearer(&alice.to_string(), acme);

    let (status, body) = call(&service, TestRequest::get().uri("/api/v1/notifications")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = call(
        &service,
        put("", r#"{"daily_summary":false,"alerts":false}"#),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    let (status, body) = call(&service, get(&as_alice)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"daily_summary": true, "alerts": true}));

    let (status, body) = call(
        &service,
        put(&as_alice, r#"{"daily_summary": false, "alerts": true}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"daily_summary": false, "alerts": true}));
    let (_, body) = call(&service, get(&as_alice)).await;
    assert_eq!(body, json!({"daily_summary": false, "alerts": true}));
    assert_eq!(stored(&t, alice), "false|true");

    // Unknown fields, wrong types, missing fields: 422; malformed JSON: 400; nothing changes.
    for (bad, expected) in [
        (
            r#"{"daily_summary": true, "alerts": true, "weekly": true}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            r#"{"daily_summary": "yes", "alerts": true}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            r#"{"daily_summary": true}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (r#"[true, true]"#, StatusCode::UNPROCESSABLE_ENTITY),
        (r#"{"daily_summary": true,"#, StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = call(&service, put(&as_alice, bad)).await;
        assert_error(status, &body, expected);
        assert_eq!(stored(&t, alice), "false|true", "{bad}");
    }
    let (status, body) = call(
        &service,
        put(&as_alice, r#"{"daily_summary":true,"alerts":true}"#)
            .insert_header(("content-type", "text/plain")),
    )
    .await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(stored(&t, alice), "false|true");

    // Bob's token with Alice's id as its subject is still Bob's tenant's: Alice is not found.
    let alice_in_other = bearer(&alice.to_string(), other);
    let (status, body) = call(&service, get(&alice_in_other)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = call(
        &service,
        put(
            &alice_in_other,
            r#"{"daily_summary": true, "alerts": false}"#,
        ),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    assert_eq!(stored(&t, alice), "false|true");
    // Bob changes his own, which leaves Alice's alone.
    let as_bob = bearer(&bob.to_string(), other);
    let (status, _) = call(
        &service,
        put(&as_bob, r#"{"daily_summary": true, "alerts": false}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored(&t, bob), "true|false");
    assert_eq!(stored(&t, alice), "false|true");

    // A token that names no user (a service's) has no preferences.
    let (status, body) = call(&service, get(&bearer("ci-pipeline", acme))).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no user"),
        "{body}"
    );
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unsubscribe_link_turns_off_exactly_its_topic_and_only_on_post() {
    let (t, state) = harness().await;
    let service = test::init_service(app(state)).await;
    let acme = common::tenant(&t, "acme");
    let alice = user(&t, acme, "alice@acme.example");
    let summary = token(&t, acme, alice, Topic::DailySummary);
    let alerts = token(&t, acme, alice, Topic::Alerts);

    // Opening the link (a mail scanner does too) only shows the form.
    let (status, content_type, body) = page(
        &service,
        TestRequest::get().uri(&format!("/email/unsubscribe?token={summary}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(body.contains("<form method=\"post\""), "{body}");
    assert!(body.contains(&format!("value=\"{summary}\"")), "{body}");
    assert!(body.contains("daily summary"), "{body}");
    assert!(!body.contains("acme") && !body.contains("alice"), "{body}");
    assert_eq!(stored(&t, alice), "none");

    // A tampered token: 400, a page, nothing changed, on GET and POST alike.
    let mut tampered = summary.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for request in [
        TestRequest::get().uri(&format!("/email/unsubscribe?token={tampered}")),
        TestRequest::get().uri("/email/unsubscribe?token=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        TestRequest::get().uri("/email/unsubscribe"),
        TestRequest::post()
            .uri("/email/unsubscribe")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(format!("token={tampered}")),
        TestRequest::post()
            .uri(&format!("/email/unsubscribe?token={tampered}"))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload("List-Unsubscribe=One-Click"),
        // The query's token counts only with the one-click body.
        TestRequest::post()
            .uri(&format!("/email/unsubscribe?token={summary}"))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(""),
    ] {
        let (status, content_type, body) = page(&service, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(content_type.starts_with("text/html"), "{content_type}");
        assert!(!body.contains("<script>"), "{body}");
        assert_eq!(stored(&t, alice), "none");
    }

    // The alerts link turns alerts off and leaves the summary on.
    let (status, _, body) = page(
        &service,
        TestRequest::post()
            .uri("/email/unsubscribe")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(format!("token={alerts}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("no longer receive alert email"), "{body}");
    assert_eq!(stored(&t, alice), "true|false");

    // The form turns the summary off; doing it again changes nothing and still says so.
    for _ in 0..2 {
        let (status, _, body) = page(
            &service,
            TestRequest::post()
                .uri("/email/unsubscribe")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(format!("token={summary}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(stored(&t, alice), "false|false");
    }
    let (_, body) = call(&service, get(&bearer(&alice.to_string(), acme))).await;
    assert_eq!(body, json!({"daily_summary": false, "alerts": false}));
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_unsubscribe_works_with_the_token_in_the_query() {
    let (t, state) = harness().await;
    let service = test::init_service(app(state)).await;
    let acme = common::tenant(&t, "acme");
    let alice = user(&t, acme, "alice@acme.example");
    let bob = user(&t, acme, "bob@acme.example");
    let summary = token(&t, acme, alice, Topic::DailySummary);

    let (status, _, body) = page(
        &service,
        TestRequest::post()
            .uri(&format!("/email/unsubscribe?token={summary}"))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload("List-Unsubscribe=One-Click"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stored(&t, alice), "false|true");
    assert_eq!(stored(&t, bob), "none", "only the link's user");
    delete_namespace(&t.namespace).await;
}
