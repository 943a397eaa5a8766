//! The webhook receivers through the whole app, with the job types of `findash-jobs` and real
//! workers on PostgreSQL and Redis: signatures over raw bytes, the inbox and its job in one
//! transaction, duplicates, processing into revenue in any delivery order, tenant mapping,
//! replay, hygiene, and a thousand concurrent deliveries.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use common::call;

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use findash_engine::testing::{Running, TestEngine, delete_namespace};
use findash_jobs::credentials::Sealer;
use findash_schema::testing::sql;
use findash_schema::users::Role;
use findash_schema::webhooks::PaymentProvider;
use findash_schema::{SystemTask, TenantId};
use findash_web::WebhookConfig;
use findash_web::http::{AppState, app};
use findash_web::webhooks::signatures::stripe;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const STRIPE_SECRET: &str = "whsec_test_secret";
const STRIPE_PREVIOUS: &str = "whsec_previous_secret_being_rolled";
const QSTASH_CURRENT: &str = "sig_current_test_key_0123456789abcdef";
const QSTASH_NEXT: &str = "sig_next_test_key_fedcba9876543210";
const MP_SECRET: &str = "mp_webhook_secret_test";
const PUBLIC: &str = "https://findash.example.com";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn webhook_config() -> WebhookConfig {
    WebhookConfig {
        stripe: Some(secret(STRIPE_SECRET)),
        stripe_previous: Some(secret(STRIPE_PREVIOUS)),
        qstash_current: Some(secret(QSTASH_CURRENT)),
        qstash_next: Some(secret(QSTASH_NEXT)),
        mercadopago: Some(secret(MP_SECRET)),
        ..WebhookConfig::default()
    }
}

/// An engine with every job type, providers at `base`, and the app's state with every receiver on.
async fn harness(base: &str) -> (TestEngine, web::Data<AppState>) {
    let registry = findash_jobs::registry(&findash_jobs::testing::config(base)).unwrap();
    let t = TestEngine::start(registry, |_| {}).await;
    let mut config = common::config();
    config.webhooks = webhook_config();
    config.public_base_url = PUBLIC.parse().unwrap();
    let state = common::state(&t, config);
    (t, state)
}

fn sealer() -> Sealer {
    let providers = findash_jobs::testing::config("http://127.0.0.1:9").providers;
    Sealer::new(
        &providers.encryption_key,
        &providers.encryption_keys_previous,
    )
    .unwrap()
}

fn link(
    t: &TestEngine,
    tenant: TenantId,
    provider: PaymentProvider,
    account: &str,
    token: Option<&str>,
) {
    findash_jobs::webhooks::link_account(
        t.engine.db(),
        &sealer(),
        tenant,
        provider,
        account,
        token.map(secret).as_ref(),
    )
    .unwrap();
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A Stripe event of `account` (the platform's own without one).
fn event(id: &str, kind: &str, created: i64, account: Option<&str>, object: Value) -> String {
    let mut event = json!({
        "id": id, "object": "event", "api_version": "2026-10-28.endive", "created": created,
        "type": kind, "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
    });
    event["data"] = json!({});
    event["data"]["object"] = object;
    if let Some(account) = account {
        event["account"] = json!(account);
    }
    event.to_string()
}

fn stripe_post(body: &str, header: Option<String>) -> TestRequest {
    let mut req = TestRequest::post()
        .uri("/webhooks/stripe")
        .insert_header(("content-type", "application/json; charset=utf-8"))
        .insert_header((
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        ))
        .set_payload(body.to_owned());
    if let Some(header) = header {
        req = req.insert_header(("stripe-signature", header));
    }
    req
}

/// `body` signed now with `secret`, as Stripe sends it.
fn signed(body: &str, secret_text: &str) -> TestRequest {
    stripe_post(
        body,
        Some(stripe::sign(body.as_bytes(), &secret(secret_text), now())),
    )
}

fn count(t: &TestEngine, query: &str) -> i64 {
    sql::count(&mut t.db.admin_conn(), query)
}

/// Waits until `n` processing jobs have finished for good (succeeded or dead).
async fn processed(t: &TestEngine, n: i64) {
    let started = Instant::now();
    loop {
        let done = count(
            t,
            "SELECT count(*) AS n FROM jobs WHERE kind = 'process_webhook' AND state IN ('succeeded', 'dead')",
        );
        if done >= n {
            assert_eq!(done, n, "more processing jobs finished than expected");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{done} of {n} processing jobs finished in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn finish(t: TestEngine, running: Option<Running>) {
    if let Some(running) = running {
        running.shutdown().await;
    }
    delete_namespace(&t.namespace).await;
}

fn charge(id: &str, pi: &str, amount: i64, created: i64) -> Value {
    json!({"id": id, "object": "charge", "amount": amount, "amount_captured": amount, "captured": true,
           "currency": "brl", "created": created, "payment_intent": pi, "status": "succeeded"})
}

fn refund(id: &str, pi: &str, amount: i64, created: i64, status: &str) -> Value {
    json!({"id": id, "object": "refund", "amount": amount, "currency": "brl", "created": created,
           "status": status, "charge": "ch_1", "payment_intent": pi})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_deliveries_are_verified_stored_once_and_become_revenue() {
    let (t, state) = harness("http://127.0.0.1:9").await;
    let a = common::tenant(&t, "a");
    link(&t, a, PaymentProvider::Stripe, "acct_a", None);
    let service = test::init_service(app(state)).await;
    let running = t.run(4);

    // The spec's test vector: the same header the official SDKs produce.
    assert_eq!(
        stripe::sign(
            br#"{"id":"evt_test_webhook","object":"event","type":"payment_intent.succeeded"}"#,
            &secret(STRIPE_SECRET),
            1_700_000_000
        ),
        "t=1700000000,v1=130dc37d5a27b1b232a61e4f2ff00ed245f498112c11e8b747aff3d0fb754056"
    );

    let body = event(
        "evt_pay_1",
        "charge.succeeded",
        now(),
        Some("acct_a"),
        charge("ch_1", "pi_1", 5000, now()),
    );
    // Refused: no header, another secret, too old, a tampered body, only a v0 signature.
    let old = stripe::sign(body.as_bytes(), &secret(STRIPE_SECRET), now() - 301);
    let tampered = body.replace("5000", "9000");
    let v0 = format!("t={},v0=deadbeef", now());
    for (name, request) in [
        ("missing", stripe_post(&body, None)),
        ("other secret", signed(&body, "whsec_someone_else")),
        ("too old", stripe_post(&body, Some(old))),
        (
            "tampered",
            stripe_post(
                &tampered,
                Some(stripe::sign(body.as_bytes(), &secret(STRIPE_SECRET), now())),
            ),
        ),
        ("v0 only", stripe_post(&body, Some(v0))),
        (
            "garbage",
            stripe_post(&body, Some("t=abc,v1=zz".to_owned())),
        ),
    ] {
        let (status, error) = call(&service, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {error}");
        assert!(
            ["invalid_signature"].contains(&error["error"]["code"].as_str().unwrap()),
            "{name}: {error}"
        );
        assert!(!error.to_string().contains("whsec_"), "{name}: {error}");
    }
    assert_eq!(count(&t, "SELECT count(*) AS n FROM webhook_inbox"), 0);

    // At the edge of the tolerance; during a secret roll both secrets and several v1 verify.
    let edge = stripe::sign(body.as_bytes(), &secret(STRIPE_SECRET), now() - 295);
    let (status, first) = call(&service, stripe_post(&body, Some(edge))).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["duplicate"], false);
    let rolled = event(
        "evt_pay_2",
        "payment_intent.succeeded",
        now(),
        Some("acct_a"),
        json!({"id": "pi_2", "object": "payment_intent", "amount": 1200, "amount_received": 1200,
               "currency": "brl", "created": now(), "status": "succeeded"}),
    );
    let (status, _) = call(&service, signed(&rolled, STRIPE_PREVIOUS)).await;
    assert_eq!(status, StatusCode::OK);
    let both = format!(
        "t={},v1={},{}",
        now(),
        "0".repeat(64),
        stripe::sign(rolled.as_bytes(), &secret(STRIPE_SECRET), now())
            .split(',')
            .nth(1)
            .unwrap()
    );
    let (status, again) = call(&service, stripe_post(&rolled, Some(both))).await;
    assert_eq!(
        (status, again["duplicate"].as_bool()),
        (StatusCode::OK, Some(true))
    );

    // Five more deliveries of the first event: one inbox row, one job, one effect.
    for _ in 0..5 {
        let (status, dup) = call(&service, signed(&body, STRIPE_SECRET)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(dup["duplicate"], true);
        assert_eq!(dup["delivery_id"], first["delivery_id"]);
    }
    assert_eq!(count(&t, "SELECT count(*) AS n FROM webhook_inbox"), 2);
    assert_eq!(
        count(
            &t,
            "SELECT count(*) AS n FROM jobs WHERE kind = 'process_webhook'"
        ),
        2
    );
    processed(&t, 2).await;
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::texts(
            &mut conn,
            "SELECT external_id || ' ' || kind || ' ' || status || ' ' || amount_minor || ' ' || currency AS value \
             FROM revenue_events ORDER BY external_id"
        ),
        vec![
            "pi_1 payment succeeded 5000 BRL",
            "pi_2 payment succeeded 1200 BRL"
        ]
    );
    assert_eq!(
        count(
            &t,
            &format!("SELECT count(*) AS n FROM revenue_events WHERE tenant_id = '{a}'")
        ),
        2
    );
    // The useful headers are kept; the signature never is.
    let headers = sql::text(
        &mut conn,
        "SELECT headers::text AS value FROM webhook_inbox WHERE event_id = 'evt_pay_1'",
    );
    assert!(
        headers.contains("user-agent") && headers.contains("content-type"),
        "{headers}"
    );
    assert!(
        !headers.to_lowercase().contains("signature") && !headers.contains("v1="),
        "{headers}"
    );
    assert_eq!(
        sql::text(
            &mut conn,
            "SELECT status || ' ' || tenant_id AS value FROM webhook_inbox WHERE event_id = 'evt_pay_1'"
        ),
        format!("processed {a}")
    );
    // The raw body is immutable, even for the system role that writes the inbox.
    let denied = diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        "SET ROLE findash_system; UPDATE webhook_inbox SET raw_body = 'x'; RESET ROLE",
    );
    let denied = denied
        .expect_err("the raw body could be changed")
        .to_string();
    assert!(denied.contains("permission denied"), "{denied}");
    drop(conn);

    let res = test::call_service(&service, TestRequest::get().uri("/metrics").to_request()).await;
    let metrics = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    for line in [
        r#"findash_webhooks_total{outcome="accepted",provider="stripe"} 2"#,
        r#"findash_webhooks_total{outcome="duplicate",provider="stripe"} 6"#,
        r#"findash_webhooks_total{outcome="invalid_signature",provider="stripe"} 6"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    finish(t, Some(running)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_in_any_order_count_each_object_once_in_its_newest_state() {
    let (t, state) = harness("http://127.0.0.1:9").await;
    let a = common::tenant(&t, "a");
    link(&t, a, PaymentProvider::Stripe, "platform", None);
    let service = test::init_service(app(state)).await;
    let running = t.run(4);
    let t0 = now() - 3600;

    // The refund's final state first, its charge later, then the refund's older pending state,
    // then the payment intent of the same payment: sequentially processed, so every order
    // between deliveries is exercised as the worker sees it.
    let deliveries = [
        event(
            "evt_r2",
            "refund.updated",
            t0 + 20,
            None,
            refund("re_1", "pi_1", 1000, t0 + 10, "succeeded"),
        ),
        event(
            "evt_c",
            "charge.succeeded",
            t0 + 1,
            None,
            charge("ch_1", "pi_1", 5000, t0),
        ),
        event(
            "evt_r1",
            "refund.created",
            t0 + 10,
            None,
            refund("re_1", "pi_1", 1000, t0 + 10, "pending"),
        ),
        event(
            "evt_pi",
            "payment_intent.succeeded",
            t0 + 2,
            None,
            json!({"id": "pi_1", "object": "payment_intent", "amount": 5000, "amount_received": 5000,
                     "currency": "brl", "created": t0, "status": "succeeded"}),
        ),
    ];
    for (i, body) in deliveries.iter().enumerate() {
        for _ in 0..2 {
            let (status, _) = call(&service, signed(body, STRIPE_SECRET)).await;
            assert_eq!(status, StatusCode::OK);
        }
        processed(&t, i64::try_from(i).unwrap() + 1).await;
    }
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::texts(
            &mut conn,
            "SELECT kind || ' ' || external_id || ' ' || status || ' ' || amount_minor || ' ' || coalesce(related_external_id, '-') AS value \
             FROM revenue_events ORDER BY kind, external_id"
        ),
        vec![
            "payment pi_1 succeeded 5000 -",
            "refund re_1 succeeded 1000 pi_1"
        ]
    );
    // The payment's time is the earliest success its events reported (the charge event's),
    // whatever the order they were processed in.
    assert_eq!(
        count(
            &t,
            "SELECT extract(epoch FROM occurred_at)::bigint AS n FROM revenue_events WHERE kind = 'payment'"
        ),
        t0 + 1
    );
    // What the dashboard reports: 5000 paid, 1000 refunded, net 4000, counted once.
    let res = test::call_service(
        &service,
        common::get_as("/api/v1/revenue?interval=month", a, Role::User),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let revenue: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    let totals: (i64, i64, i64) =
        revenue["periods"]
            .as_array()
            .unwrap()
            .iter()
            .fold((0, 0, 0), |(p, r, n), period| {
                (
                    p + period["payments_minor"].as_i64().unwrap(),
                    r + period["refunds_minor"].as_i64().unwrap(),
                    n + period["net_minor"].as_i64().unwrap(),
                )
            });
    assert_eq!(totals, (5000, 1000, 4000), "{revenue}");

    // The other way round: the newer event first, then an older one that alone carries the
    // fee and the earlier time. Both are kept.
    let charge_with_fee = {
        let mut c = charge("ch_2", "pi_2", 3000, t0);
        c["balance_transaction"] = json!({"id": "txn_2", "fee": 219});
        c
    };
    let later = [
        event(
            "evt_pi2",
            "payment_intent.succeeded",
            t0 + 30,
            None,
            json!({"id": "pi_2", "object": "payment_intent", "amount": 3000, "amount_received": 3000,
                     "currency": "brl", "created": t0, "status": "succeeded"}),
        ),
        event("evt_c2", "charge.succeeded", t0 + 25, None, charge_with_fee),
    ];
    for (i, body) in later.iter().enumerate() {
        let (status, _) = call(&service, signed(body, STRIPE_SECRET)).await;
        assert_eq!(status, StatusCode::OK);
        processed(&t, 5 + i64::try_from(i).unwrap()).await;
    }
    assert_eq!(
        sql::text(
            &mut conn,
            "SELECT amount_minor || ' ' || fee_minor || ' ' || (extract(epoch FROM occurred_at)::bigint - extract(epoch FROM state_at)::bigint) AS value \
             FROM revenue_events WHERE external_id = 'pi_2'"
        ),
        "3000 219 -5",
        "fee and earliest time of the older event, state of the newer"
    );

    // A replay changes nothing: the rows keep their versions.
    let before = sql::texts(
        &mut conn,
        "SELECT xmin::text AS value FROM revenue_events ORDER BY id",
    );
    let pending = sql::text(
        &mut conn,
        "SELECT id::text AS value FROM webhook_inbox WHERE event_id = 'evt_r1'",
    );
    let (status, replayed) = call(
        &service,
        TestRequest::post()
            .uri(&format!("/api/v1/webhooks/{pending}/replay"))
            .insert_header(("authorization", common::bearer(a, Role::Admin))),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    processed(&t, 7).await;
    assert_eq!(
        sql::texts(
            &mut conn,
            "SELECT xmin::text AS value FROM revenue_events ORDER BY id"
        ),
        before
    );
    assert_eq!(
        sql::text(
            &mut conn,
            &format!(
                "SELECT replay_count || ' ' || status AS value FROM webhook_inbox WHERE id = '{pending}'"
            )
        ),
        "1 processed"
    );
    finish(t, Some(running)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlinked_account_waits_for_a_link_and_a_replay_and_tenants_stay_apart() {
    let (t, state) = harness("http://127.0.0.1:9").await;
    let (a, b) = (common::tenant(&t, "a"), common::tenant(&t, "b"));
    link(&t, a, PaymentProvider::Stripe, "acct_a", None);
    let service = test::init_service(app(state.clone())).await;
    let running = t.run(4);

    let body = event(
        "evt_b_1",
        "charge.succeeded",
        now(),
        Some("acct_b"),
        charge("ch_b", "pi_b", 700, now()),
    );
    let (status, received) = call(&service, signed(&body, STRIPE_SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    let id = received["delivery_id"].as_str().unwrap().to_owned();
    processed(&t, 1).await;
    let mut conn = t.db.admin_conn();
    let row = sql::text(
        &mut conn,
        &format!(
            "SELECT status || ' ' || coalesce(tenant_id::text, 'none') || ' ' || processing_error AS value FROM webhook_inbox WHERE id = '{id}'"
        ),
    );
    assert!(row.starts_with("ignored none "), "{row}");
    assert!(row.contains("acct_b"), "{row}");
    assert_eq!(count(&t, "SELECT count(*) AS n FROM revenue_events"), 0);

    // No tenant sees it; a tenant cannot replay what is not its own.
    let list = |tenant| {
        TestRequest::get()
            .uri("/api/v1/webhooks")
            .insert_header(("authorization", common::bearer(tenant, Role::Admin)))
    };
    let (_, page) = call(&service, list(a)).await;
    assert_eq!(page["deliveries"], json!([]), "{page}");
    let replay = |tenant, role| {
        TestRequest::post()
            .uri(&format!("/api/v1/webhooks/{id}/replay"))
            .insert_header(("authorization", common::bearer(tenant, role)))
    };
    let (status, _) = call(&service, replay(a, Role::Admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Linking the account to B and replaying (the operator's path) brings the event into B.
    link(&t, b, PaymentProvider::Stripe, "acct_b", None);
    let registry = state.engine.registry().clone();
    let delivery: findash_schema::WebhookId = id.parse().unwrap();
    t.engine
        .db()
        .system(SystemTask::Webhooks, |sys| {
            findash_jobs::webhooks::replay(sys, &registry, delivery, None)
        })
        .unwrap();
    state.engine.notify().await;
    processed(&t, 2).await;
    assert_eq!(
        sql::text(
            &mut conn,
            "SELECT tenant_id::text || ' ' || amount_minor AS value FROM revenue_events"
        ),
        format!("{b} 700")
    );
    // Now B lists and may replay it (admins only); A still may not; a user may not.
    let (_, page) = call(&service, list(b)).await;
    assert_eq!(page["deliveries"][0]["event_id"], "evt_b_1", "{page}");
    assert_eq!(page["deliveries"][0]["status"], "processed", "{page}");
    assert!(page["deliveries"][0].get("raw_body").is_none());
    let (status, _) = call(&service, replay(a, Role::Admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&service, replay(b, Role::User)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&service, replay(b, Role::Admin)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    processed(&t, 3).await;
    assert_eq!(count(&t, "SELECT count(*) AS n FROM revenue_events"), 1);

    // An account belongs to one tenant only.
    let taken = findash_jobs::webhooks::link_account(
        t.engine.db(),
        &sealer(),
        a,
        PaymentProvider::Stripe,
        "acct_b",
        None,
    );
    assert!(
        matches!(
            taken,
            Err(findash_jobs::webhooks::LinkError::OtherTenant { .. })
        ),
        "{taken:?}"
    );
    finish(t, Some(running)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_events_are_ignored_and_unreadable_ones_fail_visibly() {
    let (t, state) = harness("http://127.0.0.1:9").await;
    let a = common::tenant(&t, "a");
    link(&t, a, PaymentProvider::Stripe, "acct_a", None);
    let service = test::init_service(app(state)).await;
    let running = t.run(4);

    let ignored = event(
        "evt_cus",
        "customer.created",
        now(),
        Some("acct_a"),
        json!({"id": "cus_1", "object": "customer"}),
    );
    let unknown_currency = event(
        "evt_xxx",
        "charge.succeeded",
        now(),
        Some("acct_a"),
        json!({"id": "ch_9", "amount": 10, "currency": "xxx", "created": now(), "captured": true}),
    );
    let negative = event(
        "evt_neg",
        "refund.created",
        now(),
        Some("acct_a"),
        json!({"id": "re_9", "amount": -10, "currency": "brl", "created": now(), "status": "succeeded"}),
    );
    for body in [&ignored, &unknown_currency, &negative] {
        let (status, _) = call(&service, signed(body, STRIPE_SECRET)).await;
        assert_eq!(status, StatusCode::OK);
    }
    processed(&t, 3).await;
    let mut conn = t.db.admin_conn();
    let states = sql::texts(
        &mut conn,
        "SELECT w.event_id || ' ' || w.status || ' ' || j.state || ': ' || coalesce(w.processing_error, '') AS value \
         FROM webhook_inbox w JOIN jobs j ON j.id = w.job_id ORDER BY w.event_id",
    );
    assert_eq!(states.len(), 3);
    assert!(
        states[0]
            .starts_with("evt_cus ignored succeeded: `customer.created` events carry no revenue"),
        "{states:?}"
    );
    assert!(
        states[1].starts_with("evt_neg failed dead: ") && states[1].contains("amount"),
        "{states:?}"
    );
    assert!(
        states[2].starts_with("evt_xxx failed dead: ") && states[2].contains("XXX"),
        "{states:?}"
    );
    assert_eq!(count(&t, "SELECT count(*) AS n FROM revenue_events"), 0);

    // A verified body that is not an event is refused and not stored.
    let (status, error) = call(&service, signed("[1, 2]", STRIPE_SECRET)).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    assert_eq!(count(&t, "SELECT count(*) AS n FROM webhook_inbox"), 3);
    finish(t, Some(running)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_refuse_what_they_cannot_take() {
    let (t, state) = harness("http://127.0.0.1:9").await;
    drop(state);
    // Receivers without secrets are off; webhook routes have their own rate limit.
    let mut config = common::config();
    config.webhook_quota = "3/m".parse().unwrap();
    config.ip_quota = "100/m".parse().unwrap();
    let service = test::init_service(app(common::state(&t, config))).await;
    let from = |req: TestRequest| req.peer_addr("192.0.2.9:1".parse().unwrap());
    let body = event(
        "evt_1",
        "charge.succeeded",
        now(),
        None,
        charge("ch_1", "pi_1", 1, now()),
    );
    for uri in [
        "/webhooks/stripe",
        "/webhooks/mercadopago",
        "/webhooks/qstash/refresh-rates",
    ] {
        let (status, error) = call(
            &service,
            from(TestRequest::post().uri(uri).set_payload(body.clone())),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {error}");
        assert_eq!(error["error"]["code"], "receiver_disabled", "{uri}");
    }
    let (status, _) = call(&service, from(TestRequest::post().uri("/webhooks/stripe"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The API's own quota is untouched by webhook traffic.
    let (status, _) = call(
        &service,
        from(TestRequest::get().uri("/api/v1/openapi.json")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let res = test::call_service(&service, TestRequest::get().uri("/metrics").to_request()).await;
    let metrics = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    for line in [
        r#"findash_webhooks_total{outcome="disabled",provider="stripe"} 1"#,
        r#"findash_webhooks_total{outcome="disabled",provider="qstash"} 1"#,
        r#"findash_webhooks_total{outcome="rate_limited",provider="stripe"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }

    let (t2, state) = harness("http://127.0.0.1:9").await;
    let service = test::init_service(app(state)).await;
    let huge = format!(
        "{{\"id\":\"evt_big\",\"pad\":\"{}\"}}",
        "x".repeat(1024 * 1024 + 1)
    );
    let (status, error) = call(&service, signed(&huge, STRIPE_SECRET)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{error}");
    assert_eq!(error["error"]["code"], "payload_too_large");
    let (status, _) = call(&service, TestRequest::get().uri("/webhooks/stripe")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(count(&t2, "SELECT count(*) AS n FROM webhook_inbox"), 0);
    finish(t, None).await;
    finish(t2, None).await;
}

/// A QStash token as qstash-py 3.4.0 signs it, with `claims` merged in.
fn qstash_token(
    key: &str,
    url: &str,
    body: &[u8],
    claims: &Value,
    alg: jsonwebtoken::Algorithm,
) -> String {
    let now = now();
    let mut all = json!({
        "iss": "Upstash", "sub": url, "exp": now + 300, "nbf": now, "iat": now,
        "jti": format!("jwt_{}", uuid::Uuid::new_v4().simple()),
        "body": URL_SAFE_NO_PAD.encode(Sha256::digest(body)),
    });
    if let (Some(all), Some(extra)) = (all.as_object_mut(), claims.as_object()) {
        all.extend(extra.clone());
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        &all,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

fn qstash_post(kind: &str, body: &str, token: &str, message: Option<&str>) -> TestRequest {
    let mut req = TestRequest::post()
        .uri(&format!("/webhooks/qstash/{kind}"))
        .insert_header(("upstash-signature", token.to_owned()))
        .insert_header(("upstash-retried", "0"))
        .insert_header(("user-agent", "Upstash-QStash"))
        .set_payload(body.to_owned());
    if let Some(message) = message {
        req = req.insert_header(("upstash-message-id", message.to_owned()));
    }
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qstash_messages_start_allow_listed_jobs_once() {
    let (t, state) = harness("http://127.0.0.1:9").await;
    let service = test::init_service(app(state.clone())).await;
    let url = format!("{PUBLIC}/webhooks/qstash/refresh-rates");
    let body = "{}";
    let hs256 = jsonwebtoken::Algorithm::HS256;

    let ok = qstash_token(QSTASH_CURRENT, &url, body.as_bytes(), &json!({}), hs256);
    let (status, first) = call(
        &service,
        qstash_post("refresh-rates", body, &ok, Some("msg_1")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["duplicate"], false);
    let (status, dup) = call(
        &service,
        qstash_post("refresh-rates", body, &ok, Some("msg_1")),
    )
    .await;
    assert_eq!(
        (status, dup["duplicate"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    // After a key roll QStash signs with the next key; the body claim may be padded; an empty
    // body is an empty payload.
    let next = qstash_token(QSTASH_NEXT, &url, b"", &json!({}), hs256);
    let (status, _) = call(
        &service,
        qstash_post("refresh-rates", "", &next, Some("msg_2")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let padded_claim = format!(
        "{}=",
        URL_SAFE_NO_PAD.encode(Sha256::digest(body.as_bytes()))
    );
    let padded = qstash_token(
        QSTASH_CURRENT,
        &url,
        body.as_bytes(),
        &json!({"body": padded_claim}),
        hs256,
    );
    let (status, _) = call(
        &service,
        qstash_post("refresh-rates", body, &padded, Some("msg_3")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sql::texts(
            &mut t.db.admin_conn(),
            "SELECT kind || ' ' || idempotency_key || ' ' || trigger_kind || ' ' || coalesce(tenant_id::text, 'system') AS value \
             FROM jobs ORDER BY idempotency_key"
        ),
        vec![
            "refresh_rates qstash:msg_1 webhook system",
            "refresh_rates qstash:msg_2 webhook system",
            "refresh_rates qstash:msg_3 webhook system",
        ]
    );

    // Refused with 400 (QStash retries): other destination, expired, not yet valid, another
    // body, another algorithm, another issuer, an unknown key.
    let refused = [
        (
            "wrong sub",
            qstash_token(
                QSTASH_CURRENT,
                &format!("{url}x"),
                body.as_bytes(),
                &json!({}),
                hs256,
            ),
        ),
        (
            "expired",
            qstash_token(
                QSTASH_CURRENT,
                &url,
                body.as_bytes(),
                &json!({"exp": now() - 60}),
                hs256,
            ),
        ),
        (
            "not yet valid",
            qstash_token(
                QSTASH_CURRENT,
                &url,
                body.as_bytes(),
                &json!({"nbf": now() + 120}),
                hs256,
            ),
        ),
        (
            "tampered",
            qstash_token(QSTASH_CURRENT, &url, b"{\"other\":1}", &json!({}), hs256),
        ),
        (
            "HS384",
            qstash_token(
                QSTASH_CURRENT,
                &url,
                body.as_bytes(),
                &json!({}),
                jsonwebtoken::Algorithm::HS384,
            ),
        ),
        (
            "issuer",
            qstash_token(
                QSTASH_CURRENT,
                &url,
                body.as_bytes(),
                &json!({"iss": "Someone"}),
                hs256,
            ),
        ),
        (
            "unknown key",
            qstash_token("sig_unknown", &url, body.as_bytes(), &json!({}), hs256),
        ),
    ];
    for (name, token) in refused {
        let (status, error) = call(
            &service,
            qstash_post("refresh-rates", body, &token, Some("msg_x")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {error}");
        assert_eq!(error["error"]["code"], "invalid_signature", "{name}");
    }
    let (status, _) = call(
        &service,
        qstash_post("refresh-rates", body, "not.a.jwt", Some("msg_x")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Unknown kinds are 404 whatever the signature; messages that can never succeed are 489.
    let (status, _) = call(
        &service,
        qstash_post("sync-everything", body, &ok, Some("msg_y")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (name, payload, message) in [
        ("unknown field", r#"{"job":"refresh-rates"}"#, Some("msg_4")),
        ("not JSON", "refresh please", Some("msg_5")),
        ("not an object", "[1]", Some("msg_6")),
        ("no message id", "{}", None),
    ] {
        let token = qstash_token(QSTASH_CURRENT, &url, payload.as_bytes(), &json!({}), hs256);
        let res = test::call_service(
            &service,
            qstash_post("refresh-rates", payload, &token, message).to_request(),
        )
        .await;
        assert_eq!(res.status().as_u16(), 489, "{name}");
        assert_eq!(
            res.headers().get("upstash-nonretryable-error").unwrap(),
            "true",
            "{name}"
        );
        let error: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
        assert_eq!(error["error"]["code"], "non_retryable", "{name}");
    }
    assert_eq!(count(&t, "SELECT count(*) AS n FROM jobs"), 3);
    assert_eq!(
        count(
            &t,
            "SELECT count(*) AS n FROM webhook_inbox WHERE provider = 'qstash' AND status = 'processed'"
        ),
        3
    );

    // A replay starts the job again under a key of its own.
    let delivery: findash_schema::WebhookId =
        first["delivery_id"].as_str().unwrap().parse().unwrap();
    let registry = state.engine.registry().clone();
    t.engine
        .db()
        .system(SystemTask::Webhooks, |sys| {
            findash_jobs::webhooks::replay(sys, &registry, delivery, None)
        })
        .unwrap();
    assert_eq!(
        count(
            &t,
            "SELECT count(*) AS n FROM jobs WHERE idempotency_key = 'qstash:msg_1:replay:1' AND kind = 'refresh_rates'"
        ),
        1
    );
    finish(t, None).await;
}

/// Mercado Pago's `x-signature` for a notification.
fn mp_signature(data_id: Option<&str>, request_id: Option<&str>, ts: i64) -> String {
    use hmac::Mac as _;
    let manifest = findash_web::webhooks::signatures::mercadopago::manifest(
        data_id,
        request_id,
        &ts.to_string(),
    );
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(MP_SECRET.as_bytes()).unwrap();
    mac.update(manifest.as_bytes());
    format!("ts={ts},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn mp_post(
    data_id: &str,
    request_id: Option<&str>,
    signature: &str,
    notification_id: u64,
) -> TestRequest {
    let body = json!({"action": "payment.updated", "api_version": "v1", "data": {"id": data_id},
                      "date_created": "2026-11-25T10:00:00Z", "id": notification_id, "live_mode": false,
                      "type": "payment", "user_id": 777});
    let mut req = TestRequest::post()
        .uri(&format!(
            "/webhooks/mercadopago?data.id={data_id}&type=payment"
        ))
        .insert_header(("x-signature", signature.to_owned()))
        .set_payload(body.to_string());
    if let Some(request_id) = request_id {
        req = req.insert_header(("x-request-id", request_id.to_owned()));
    }
    req
}

const MP_PAYMENT: &str = r#"{"id": 123456789, "status": "approved", "status_detail": "accredited",
    "currency_id": "BRL", "transaction_amount": 150.75, "transaction_amount_refunded": 50.25,
    "date_created": "2026-11-20T17:20:38.000-04:00", "date_approved": "2026-11-20T17:20:40.000-04:00",
    "date_last_updated": "2026-11-22T10:00:00.000-04:00",
    "fee_details": [{"type": "mercadopago_fee", "amount": 7.54, "fee_payer": "collector"}],
    "refunds": [{"id": 991, "payment_id": 123456789, "amount": 50.25, "status": "approved",
                 "date_created": "2026-11-22T09:59:00.000-04:00"}],
    "collector_id": 777, "payer": {"id": "555"}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mercado_pago_notifications_fetch_and_store_the_payment() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/mercadopago/v1/payments/123456789"))
        .and(header("authorization", "Bearer APP_USR-seller-777"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(MP_PAYMENT, "application/json"))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/mercadopago/v1/payments/404404"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_raw(r#"{"message":"invalid_token"}"#, "application/json"),
        )
        .mount(&server)
        .await;
    let (t, state) = harness(&server.uri()).await;
    let a = common::tenant(&t, "a");
    link(
        &t,
        a,
        PaymentProvider::MercadoPago,
        "777",
        Some("APP_USR-seller-777"),
    );
    let service = test::init_service(app(state)).await;
    let running = t.run(4);

    // Refused: another data.id than signed, no signature, too old.
    let request_id = "bb56a2f1-6aae-46ac-982e-9dcd3581d08e";
    for (name, req) in [
        (
            "other id",
            mp_post(
                "123456789",
                Some(request_id),
                &mp_signature(Some("1"), Some(request_id), now()),
                1,
            ),
        ),
        (
            "unsigned",
            TestRequest::post()
                .uri("/webhooks/mercadopago?data.id=1&type=payment")
                .set_payload("{}"),
        ),
        (
            "old",
            mp_post(
                "123456789",
                Some(request_id),
                &mp_signature(Some("123456789"), Some(request_id), now() - 900),
                1,
            ),
        ),
    ] {
        let (status, error) = call(&service, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {error}");
    }
    // Accepted: `ts` in milliseconds, and without x-request-id (the manifest leaves it out).
    let (status, first) = call(
        &service,
        mp_post(
            "123456789",
            Some(request_id),
            &mp_signature(Some("123456789"), Some(request_id), now() * 1000),
            11,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let without_request_id = mp_signature(Some("123456789"), None, now());
    let (status, _) = call(
        &service,
        mp_post("123456789", None, &without_request_id, 12),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The same signed request again, even with another (unsigned) notification id in the body,
    // is the same delivery.
    for notification in [12, 99] {
        let (status, dup) = call(
            &service,
            mp_post("123456789", None, &without_request_id, notification),
        )
        .await;
        assert_eq!(
            (status, dup["duplicate"].as_bool()),
            (StatusCode::OK, Some(true))
        );
    }
    processed(&t, 2).await;
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::texts(
            &mut conn,
            "SELECT source || ' ' || kind || ' ' || external_id || ' ' || status || ' ' || amount_minor || ' ' || fee_minor AS value \
             FROM revenue_events ORDER BY kind"
        ),
        vec![
            "mercadopago payment 123456789 approved 15075 754",
            "mercadopago refund 991 approved 5025 0"
        ]
    );
    // A refused token fails the delivery for good, saying why (never the token).
    let (status, _) = call(
        &service,
        mp_post(
            "404404",
            Some("req-404"),
            &mp_signature(Some("404404"), Some("req-404"), now()),
            13,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    processed(&t, 3).await;
    let failed = sql::text(
        &mut conn,
        "SELECT status || ': ' || processing_error AS value FROM webhook_inbox WHERE event_id = 'req-404'",
    );
    assert!(
        failed.starts_with("failed: mercadopago refused the credentials"),
        "{failed}"
    );
    assert!(!failed.contains("APP_USR"), "{failed}");
    drop(conn);
    finish(t, Some(running)).await;
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_deliveries_of_a_hundred_events_have_a_hundred_effects() {
    let (t, state) = harness("http://127.0.0.1:9").await;
    let a = common::tenant(&t, "a");
    link(&t, a, PaymentProvider::Stripe, "acct_a", None);
    let service = test::init_service(app(state)).await;
    let running = t.run(8);

    let bodies: Vec<String> = (0..100)
        .map(|i| {
            event(
                &format!("evt_load_{i}"),
                "charge.succeeded",
                now(),
                Some("acct_a"),
                charge(&format!("ch_{i}"), &format!("pi_{i}"), 100 + i, now()),
            )
        })
        .collect();
    let requests = (0..1000).map(|n| {
        let body = &bodies[(n * 37) % 100];
        test::call_service(&service, signed(body, STRIPE_SECRET).to_request())
    });
    let responses = futures::future::join_all(requests).await;
    let mut fresh = 0;
    for res in responses {
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
        if body["duplicate"] == false {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 100, "exactly one delivery of each event is new");
    assert_eq!(count(&t, "SELECT count(*) AS n FROM webhook_inbox"), 100);
    assert_eq!(
        count(
            &t,
            "SELECT count(*) AS n FROM jobs WHERE kind = 'process_webhook'"
        ),
        100
    );
    processed(&t, 100).await;
    assert_eq!(
        count(
            &t,
            "SELECT count(*) AS n FROM webhook_inbox WHERE status = 'processed'"
        ),
        100
    );
    assert_eq!(count(&t, "SELECT count(*) AS n FROM revenue_events"), 100);
    assert_eq!(
        count(
            &t,
            "SELECT sum(amount_minor)::bigint AS n FROM revenue_events"
        ),
        (0..100).map(|i| 100 + i).sum::<i64>()
    );

    // The other event of each payment, three deliveries each, all at once and processed while
    // they arrive: still one row per payment.
    let intents: Vec<String> = (0..100)
        .map(|i| {
            event(
                &format!("evt_intent_{i}"),
                "payment_intent.succeeded",
                now(),
                Some("acct_a"),
                json!({"id": format!("pi_{i}"), "object": "payment_intent", "amount": 100 + i,
                       "amount_received": 100 + i, "currency": "brl", "created": now() - 60,
                       "status": "succeeded"}),
            )
        })
        .collect();
    let requests = (0..300).map(|n| {
        test::call_service(
            &service,
            signed(&intents[n % 100], STRIPE_SECRET).to_request(),
        )
    });
    for res in futures::future::join_all(requests).await {
        assert_eq!(res.status(), StatusCode::OK);
    }
    processed(&t, 200).await;
    assert_eq!(count(&t, "SELECT count(*) AS n FROM revenue_events"), 100);
    // The tenant's inbox pages through all 200 deliveries, newest first, each once.
    let mut seen = std::collections::BTreeSet::new();
    let mut before: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let uri = match &before {
            Some(b) => format!("/api/v1/webhooks?provider=stripe&limit=80&before={b}"),
            None => "/api/v1/webhooks?provider=stripe&limit=80".to_owned(),
        };
        let (status, page) = call(
            &service,
            TestRequest::get()
                .uri(&uri)
                .insert_header(("authorization", common::bearer(a, Role::Admin))),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let deliveries = page["deliveries"].as_array().unwrap();
        pages.push(deliveries.len());
        for d in deliveries {
            assert_eq!(d["status"], "processed");
            assert!(
                seen.insert(d["id"].as_str().unwrap().to_owned()),
                "{d} twice"
            );
        }
        match page["next_before"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (200, vec![80, 80, 40]));
    assert_eq!(
        count(
            &t,
            "SELECT sum(amount_minor)::bigint AS n FROM revenue_events"
        ),
        (0..100).map(|i| 100 + i).sum::<i64>()
    );
    finish(t, Some(running)).await;
}
