//! The console's webhook inbox: every tenant's deliveries (and those of none) with filters and
//! keyset pages, one delivery's raw event and headers (never a signature), and replay with
//! confirmation, CSRF and audit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use common::console::{self, get, post, post_with, send};
use findash_engine::builtin::Noop;
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::TestEngine;
use findash_schema::testing::sql;

const OPS: &str = "ops@example.test";

/// The inbox's deliveries by event id.
struct Inbox {
    paid: String,
    failed: String,
    unlinked: String,
    /// The job of `paid`.
    paid_job: String,
}

/// Three deliveries: a processed Stripe payment of acme (with its job, and a signature header
/// that must never show), a failed Stripe invoice of beta, and a Mercado Pago notification of
/// an account nobody linked, whose body is not JSON nor even UTF-8.
async fn inbox(t: &TestEngine) -> Inbox {
    let acme = common::tenant(t, "acme");
    let beta = common::tenant(t, "beta");
    let paid_job = t
        .engine
        .enqueue(
            Some(acme),
            &Noop::default(),
            EnqueueOptions::new(Trigger::new("webhook", None)),
        )
        .await
        .unwrap()
        .id
        .to_string();
    let mut conn = t.db.admin_conn();
    let insert = |conn: &mut diesel::PgConnection, values: &str| {
        sql::text(
            conn,
            &format!(
                "INSERT INTO webhook_inbox (provider, event_id, event_type, tenant_id, account_ref, \
                     raw_body, headers, status, processed_at, processing_error, job_id, received_at) \
                 VALUES ({values}) RETURNING id::text AS value"
            ),
        )
    };
    let paid = insert(
        &mut conn,
        &format!(
            "'stripe', 'evt_paid', 'charge.succeeded', '{acme}', 'acct_acme', \
             convert_to('{{\"id\":\"evt_paid\",\"type\":\"charge.succeeded\",\"data\":{{\"object\":{{\"amount\":4200}}}}}}', 'UTF8'), \
             '{{\"user-agent\": \"Stripe/1.0 (+https://stripe.com/docs/webhooks)\", \"content-type\": \"application/json\", \"stripe-signature\": \"t=1,v1=deadbeefcafe\"}}', \
             'processed', now(), NULL, '{paid_job}', now() - interval '3 minutes'"
        ),
    );
    let failed = insert(
        &mut conn,
        &format!(
            "'stripe', 'evt_failed', 'invoice.paid', '{beta}', 'acct_beta', \
             convert_to('{{\"id\":\"evt_failed\",\"type\":\"invoice.paid\"}}', 'UTF8'), \
             '{{\"user-agent\": \"Stripe/1.0\"}}', \
             'failed', NULL, 'unknown currency XYZ', NULL, now() - interval '2 minutes'"
        ),
    );
    let unlinked = insert(
        &mut conn,
        "'mercadopago', 'mp_req_1', 'payment', NULL, '12345', \
         '\\x646174612e69643d3126747970653d7061796d656e74ff'::bytea, \
         '{\"x-request-id\": \"mp_req_1\"}', \
         'ignored', now(), 'no tenant linked account 12345', NULL, now() - interval '1 minute'",
    );
    Inbox {
        paid,
        failed,
        unlinked,
        paid_job,
    }
}

fn count(t: &TestEngine, query: &str) -> i64 {
    sql::count(&mut t.db.admin_conn(), query)
}

/// Whether the list shows delivery `event_id`.
fn lists(html: &str, event_id: &str) -> bool {
    html.contains(&format!("class=\"mono\">{event_id}</a>"))
}

#[actix_web::test]
async fn every_page_and_the_replay_need_a_session() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    let inbox = inbox(&t).await;
    for uri in [
        "/admin/webhooks".to_owned(),
        "/admin/webhooks?provider=stripe".to_owned(),
        format!("/admin/webhooks/{}", inbox.failed),
        format!("/admin/webhooks/{}/replay", inbox.failed),
    ] {
        let (status, location, _) = send(&app, TestRequest::get().uri(&uri)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        assert!(location.unwrap().starts_with("/admin/login?next="), "{uri}");
    }
    let (status, location, _) = send(
        &app,
        post_with(
            "",
            &format!("/admin/webhooks/{}/replay", inbox.failed),
            &[("csrf_token", "x")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().starts_with("/admin/login"));
    assert_eq!(
        count(
            &t,
            "SELECT count(*) AS n FROM webhook_inbox WHERE replay_count > 0"
        ),
        0
    );
}

#[actix_web::test]
async fn a_replay_without_the_csrf_token_changes_nothing() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let inbox = inbox(&t).await;
    let uri = format!("/admin/webhooks/{}/replay", inbox.failed);
    for fields in [vec![], vec![("csrf_token", "x".repeat(43))]] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, _) = send(&app, post_with(&browser.cookie, &uri, &fields)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{fields:?}");
    }
    assert_eq!(
        sql::text(
            &mut t.db.admin_conn(),
            &format!(
                "SELECT replay_count || ' ' || status || ' ' || coalesce(job_id::text, '-') AS value \
                 FROM webhook_inbox WHERE id = '{}'",
                inbox.failed
            )
        ),
        "0 failed -"
    );
    assert_eq!(
        count(&t, "SELECT count(*) AS n FROM jobs"),
        1,
        "only the seeded job"
    );
    assert_eq!(
        count(
            &t,
            "SELECT count(*) AS n FROM audit_log WHERE action LIKE 'console.webhook.%'"
        ),
        0
    );
}

#[actix_web::test]
async fn the_inbox_lists_every_tenant_and_filters() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let inbox = inbox(&t).await;

    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/webhooks")).await;
    assert_eq!(status, StatusCode::OK);
    for event in ["evt_paid", "evt_failed", "mp_req_1"] {
        assert!(lists(&html, event), "{event}");
    }
    assert!(
        html.find("mp_req_1").unwrap() < html.find("evt_failed").unwrap()
            && html.find("evt_failed").unwrap() < html.find("evt_paid").unwrap(),
        "newest first"
    );
    assert!(html.contains(&format!("href=\"/admin/webhooks/{}\"", inbox.paid)));
    assert!(
        html.contains(&format!("href=\"/admin/jobs/{}\"", inbox.paid_job)),
        "the job"
    );
    assert!(html.contains("badge failed") && html.contains("unknown currency XYZ"));
    assert!(html.contains(">acme<") && html.contains(">beta<"));

    for (query, shown) in [
        ("provider=stripe", &["evt_paid", "evt_failed"][..]),
        ("provider=mercadopago", &["mp_req_1"][..]),
        ("status=failed", &["evt_failed"][..]),
        ("type=invoice.paid", &["evt_failed"][..]),
        ("tenant=acme", &["evt_paid"][..]),
        ("tenant=-", &["mp_req_1"][..]),
        (
            "provider=stripe&status=processed&tenant=acme",
            &["evt_paid"][..],
        ),
        ("tenant=nobody", &[][..]),
        (
            "provider=&status=&type=&tenant=",
            &["evt_paid", "evt_failed", "mp_req_1"][..],
        ),
    ] {
        let (status, _, html) = send(
            &app,
            get(&browser.cookie, &format!("/admin/webhooks?{query}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{query}");
        for event in ["evt_paid", "evt_failed", "mp_req_1"] {
            assert_eq!(
                lists(&html, event),
                shown.contains(&event),
                "{query}: {event}"
            );
        }
    }
    for bad in [
        "provider=paypal",
        "status=done",
        "tenant=Not%20a%20slug",
        "before=yesterday",
    ] {
        let (status, _, _) = send(
            &app,
            get(&browser.cookie, &format!("/admin/webhooks?{bad}")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // Fifty a page, by keyset: evt_bulk_001 is the newest of the bulk.
    common::exec(
        &mut t.db.admin_conn(),
        "INSERT INTO webhook_inbox (provider, event_id, event_type, raw_body, received_at) \
         SELECT 'stripe', 'evt_bulk_' || lpad(g::text, 3, '0'), 'ping', '\\x7b7d'::bytea, \
                now() - interval '1 hour' - g * interval '1 second' FROM generate_series(1, 52) g",
    );
    let (_, _, html) = send(&app, get(&browser.cookie, "/admin/webhooks?type=ping")).await;
    assert!(lists(&html, "evt_bulk_001") && lists(&html, "evt_bulk_050"));
    assert!(!lists(&html, "evt_bulk_051"));
    let older = next_page(&html).expect("a link to older deliveries");
    assert!(older.contains("type=ping"), "{older}");
    let (status, _, html) = send(&app, get(&browser.cookie, &older)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(lists(&html, "evt_bulk_051") && lists(&html, "evt_bulk_052"));
    assert!(!lists(&html, "evt_bulk_050"));
    assert!(next_page(&html).is_none());
}

#[actix_web::test]
async fn a_delivery_shows_its_raw_event_and_never_a_signature() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let inbox = inbox(&t).await;

    let (status, _, html) = send(
        &app,
        get(&browser.cookie, &format!("/admin/webhooks/{}", inbox.paid)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("&#34;amount&#34;: 4200"),
        "pretty JSON: {html}"
    );
    assert!(html.contains("JSON shown pretty-printed"));
    assert!(html.contains("77 bytes"), "its size: {html}");
    assert!(
        html.contains("Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
        "headers"
    );
    assert!(
        !html.to_lowercase().contains("stripe-signature"),
        "no signature header"
    );
    assert!(!html.contains("deadbeefcafe"), "no signature value");
    assert!(html.contains(">acme<"));
    assert!(html.contains(&format!("href=\"/admin/jobs/{}\"", inbox.paid_job)));
    assert!(
        html.contains("badge succeeded") || html.contains("badge queued"),
        "the job's state"
    );

    let (_, _, html) = send(
        &app,
        get(
            &browser.cookie,
            &format!("/admin/webhooks/{}", inbox.unlinked),
        ),
    )
    .await;
    assert!(
        html.contains("data.id=1&#38;type=payment\u{fffd}"),
        "lossy text: {html}"
    );
    assert!(html.contains("shown as text"));
    assert!(
        html.contains("account <code>12345</code> is not linked"),
        "{html}"
    );
    assert!(
        html.contains("no tenant linked account 12345"),
        "the processing error"
    );

    for unknown in [
        "/admin/webhooks/0190f1e2-0000-7000-8000-000000000001",
        "/admin/webhooks/not-a-delivery",
        "/admin/webhooks/0190f1e2-0000-7000-8000-000000000001/replay",
    ] {
        let (status, _, _) = send(&app, get(&browser.cookie, unknown)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    }
}

/// The nonce of a confirmation page's form.
fn nonce_of(html: &str) -> String {
    let start = html
        .find("name=\"nonce\" value=\"")
        .expect("a nonce in the form")
        + "name=\"nonce\" value=\"".len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

#[actix_web::test]
async fn a_replay_asks_first_then_queues_a_new_job_and_says_which() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let inbox = inbox(&t).await;
    let state = |t: &TestEngine| {
        sql::text(
            &mut t.db.admin_conn(),
            &format!(
                "SELECT replay_count || ' ' || status || ' ' || coalesce(job_id::text, '-') AS value \
                 FROM webhook_inbox WHERE id = '{}'",
                inbox.failed
            ),
        )
    };
    let audited = |t: &TestEngine| {
        count(
            t,
            "SELECT count(*) AS n FROM audit_log WHERE action = 'console.webhook.replay'",
        )
    };

    let uri = format!("/admin/webhooks/{}/replay", inbox.failed);
    let (status, _, html) = send(&app, get(&browser.cookie, &uri)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Replay stripe event"), "{html}");
    assert!(html.contains(&format!(
        "action=\"/admin/webhooks/{}/replay\"",
        inbox.failed
    )));
    assert!(
        html.contains("keyed by the provider&#39;s objects")
            || html.contains("keyed by the provider&#x27;s objects"),
        "{html}"
    );
    assert!(html.contains("nothing is counted twice"), "{html}");
    assert!(!html.contains("runs again"), "{html}");
    let nonce = nonce_of(&html);
    assert_eq!(state(&t), "0 failed -", "asking changes nothing");

    let (status, location, _) = send(&app, post(&browser, &uri, &[("nonce", &nonce)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    let prefix = format!("/admin/webhooks/{}?notice=replayed&job=", inbox.failed);
    let job = location
        .strip_prefix(&prefix)
        .expect("back to the delivery")
        .to_owned();
    assert_eq!(state(&t), format!("1 received {job}"));
    assert_eq!(
        sql::text(
            &mut t.db.admin_conn(),
            &format!(
                "SELECT kind || ' ' || state || ' ' || trigger_kind || ' ' || trigger_ref || ' ' \
                        || idempotency_key AS value FROM jobs WHERE id = '{job}'"
            )
        ),
        format!(
            "process_webhook queued webhook {} webhook:{}:once:{nonce}",
            inbox.failed, inbox.failed
        )
    );
    assert_eq!(
        count(
            &t,
            &format!(
                "SELECT count(*) AS n FROM audit_log WHERE action = 'console.webhook.replay' \
                 AND subject_type = 'webhook' AND subject_id = '{0}' AND details ->> 'job_id' = '{job}' \
                 AND tenant_id = (SELECT tenant_id FROM webhook_inbox WHERE id = '{0}')",
                inbox.failed
            )
        ),
        1
    );

    let (status, _, html) = send(&app, get(&browser.cookie, &location)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("role=\"status\">Replay queued"), "the notice");
    assert!(
        html.contains(&format!("href=\"/admin/jobs/{job}\"")),
        "the new job"
    );

    // The same form again (a double click): the replay it started, nothing more.
    let (status, again, _) = send(&app, post(&browser, &uri, &[("nonce", &nonce)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let again = again.unwrap();
    assert_eq!(
        again,
        location.replace("notice=replayed", "notice=already-replayed"),
        "says it was sent before, with the job it started"
    );
    let (_, _, html) = send(&app, get(&browser.cookie, &again)).await;
    assert!(html.contains("nothing new was queued"), "{html}");
    assert_eq!(state(&t), format!("1 received {job}"));
    assert_eq!(
        count(&t, "SELECT count(*) AS n FROM jobs"),
        2,
        "the seeded job and one replay"
    );
    assert_eq!(audited(&t), 1);

    // Another replay while that one has not run: refused, and the page says why.
    let (status, _, html) = send(&app, get(&browser.cookie, &uri)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Not yet: its last run is still under way"),
        "{html}"
    );
    assert!(html.contains(&format!("job {job} is queued")), "{html}");
    assert!(
        !html.contains("name=\"nonce\""),
        "no form to submit: {html}"
    );
    let second = "second-confirmation-0123456789";
    let (status, _, html) = send(&app, post(&browser, &uri, &[("nonce", second)])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("cannot be replayed yet"), "{html}");
    assert!(html.contains(&format!("job {job} is queued")), "{html}");
    assert_eq!(state(&t), format!("1 received {job}"));
    assert_eq!(audited(&t), 1);

    // Once it ended, a new confirmation replays again, under a key of its own.
    common::exec(
        &mut t.db.admin_conn(),
        &format!(
            "UPDATE jobs SET state = 'dead', finished_at = now(), last_error = 'boom' \
             WHERE id = '{job}'"
        ),
    );
    let (status, location, _) = send(&app, post(&browser, &uri, &[("nonce", second)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let next = location
        .unwrap()
        .strip_prefix(&prefix)
        .expect("back to the delivery")
        .to_owned();
    assert_ne!(next, job);
    assert_eq!(state(&t), format!("2 received {next}"));
    assert_eq!(audited(&t), 2);

    let (status, _, _) = send(
        &app,
        post(
            &browser,
            "/admin/webhooks/0190f1e2-0000-7000-8000-000000000001/replay",
            &[],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A QStash delivery is a job's payload: its page hides the payload's secrets, and replaying it
/// says truly that the job runs again.
#[actix_web::test]
async fn a_qstash_replay_says_its_job_runs_again_and_its_payload_shows_redacted() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let mut conn = t.db.admin_conn();
    let insert = |conn: &mut diesel::PgConnection, event: &str, kind: &str, body: &str| {
        sql::text(
            conn,
            &format!(
                "INSERT INTO webhook_inbox (provider, event_id, event_type, raw_body, status, processed_at) \
                 VALUES ('qstash', '{event}', '{kind}', convert_to('{body}', 'UTF8'), 'processed', now()) \
                 RETURNING id::text AS value"
            ),
        )
    };
    let secret = insert(
        &mut conn,
        "msg_secret",
        "sync_connection",
        r#"{"connection_id": "c-1", "access_token": "tok-live-123", "nested": {"api_key": "sk_live_456"}}"#,
    );
    let runnable = insert(&mut conn, "msg_run", "noop", r#"{"sleep_ms": 1}"#);

    let (status, _, html) = send(
        &app,
        get(&browser.cookie, &format!("/admin/webhooks/{secret}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for leaked in ["tok-live-123", "sk_live_456"] {
        assert!(!html.contains(leaked), "{leaked} shown: {html}");
    }
    assert!(html.contains("[redacted]"), "{html}");
    assert!(
        html.contains("&#34;connection_id&#34;: &#34;c-1&#34;"),
        "{html}"
    );
    assert!(html.contains("values of secret keys hidden"), "{html}");

    let uri = format!("/admin/webhooks/{runnable}/replay");
    let (status, _, html) = send(&app, get(&browser.cookie, &uri)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("enqueued again as a new noop job, under a new key"),
        "{html}"
    );
    assert!(html.contains("the noop job runs again"), "{html}");
    assert!(!html.contains("nothing is counted twice"), "{html}");

    let nonce = nonce_of(&html);
    let (status, location, _) = send(&app, post(&browser, &uri, &[("nonce", &nonce)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let job = location
        .unwrap()
        .strip_prefix(&format!("/admin/webhooks/{runnable}?notice=replayed&job="))
        .expect("back to the delivery")
        .to_owned();
    assert_eq!(
        sql::text(
            &mut conn,
            &format!(
                "SELECT j.kind || ' ' || coalesce(j.tenant_id::text, 'system') || ' ' || j.idempotency_key \
                        || ' ' || w.status || ' ' || w.replay_count AS value \
                 FROM jobs j JOIN webhook_inbox w ON w.job_id = j.id WHERE j.id = '{job}'"
            )
        ),
        format!("noop system qstash:msg_run:replay:once:{nonce} processed 1")
    );
}

/// The `Older →` link of a page, unescaped.
fn next_page(html: &str) -> Option<String> {
    let end = html.find("\" rel=\"next\"")?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(html[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}
