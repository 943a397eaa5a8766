//! Tenant isolation end to end, route by route: with two tenants holding the same kinds of data,
//! every operation of the API document is called with tenant A's token, aimed at B's rows where
//! it takes an id, and no answer contains any id of B's, and nothing of B's changes. A new route
//! without a probe here fails the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_schema::TenantId;
use findash_schema::testing::sql;
use findash_schema::users::Role;
use findash_web::http::app;
use serde_json::{Value, json};

/// Accounts, transactions, categories, a forecast, findings and revenue for `t`; the names carry
/// the tenant's slug so a leak would also show in text.
fn books(conn: &mut diesel::PgConnection, t: TenantId, slug: &str) {
    common::exec(
        conn,
        &format!(
            "INSERT INTO categories (tenant_id, slug, name, kind) VALUES ('{t}', 'food', 'Food {slug}', 'expense'); \
             WITH u AS (INSERT INTO users (tenant_id, email, role) VALUES ('{t}', '{slug}@isolation.test', 'admin') RETURNING id) \
               INSERT INTO notification_preferences (tenant_id, user_id, alerts) SELECT '{t}', id, true FROM u; \
             INSERT INTO provider_connections (tenant_id, provider, external_id, display_name, last_successful_sync_at) \
               VALUES ('{t}', 'sandbox', 'bank', 'Bank {slug}', now()); \
             INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency, \
                                   current_balance_minor, balance_as_of, credit_limit_minor) \
               SELECT '{t}', id, x.ext, x.kind, x.ext || ' {slug}', 'Banco', 'BRL', -100, now(), x.lim \
               FROM provider_connections, (VALUES ('checking', 'checking', NULL::bigint), ('card', 'credit_card', 1000)) AS x (ext, kind, lim) \
               WHERE tenant_id = '{t}'; \
             INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, \
                                       description, category_id, status) \
               SELECT '{t}', a.id, 't' || i, current_date - i, -100 * i, 'BRL', 'Spent {slug}', c.id, 'posted' \
               FROM accounts a, categories c, generate_series(0, 20) AS i \
               WHERE a.tenant_id = '{t}' AND c.tenant_id = '{t}' AND a.external_id = 'checking'; \
             INSERT INTO revenue_events (tenant_id, source, kind, external_id, status, amount_minor, currency, occurred_at) \
               VALUES ('{t}', 'stripe', 'payment', 'ch_{slug}', 'succeeded', 500, 'BRL', now()); \
             INSERT INTO webhook_inbox (tenant_id, provider, event_id, event_type, account_ref, raw_body, status, processed_at) \
               VALUES ('{t}', 'stripe', 'evt_{slug}', 'charge.succeeded', 'acct_{slug}', '\\x7b7d', 'processed', now()); \
             WITH f AS (INSERT INTO forecasts (tenant_id, account_id, currency, method_version, starts_on, horizon_days, starting_balance_minor) \
                        SELECT '{t}'::uuid, id, 'BRL', 'v1', current_date, 1, 0 FROM accounts WHERE tenant_id = '{t}' AND external_id = 'checking' \
                        UNION ALL SELECT '{t}', NULL, 'BRL', 'v1', current_date, 1, 0 \
                        RETURNING id) \
             INSERT INTO forecast_points (forecast_id, tenant_id, day, p10_minor, p50_minor, p90_minor) \
               SELECT id, '{t}', current_date + 1, 0, 0, 0 FROM f; \
             INSERT INTO dq_findings (tenant_id, check_name, severity, subject_type, fingerprint, message, status, resolved_at) \
               VALUES ('{t}', 'gaps', 'warning', 'account', 'open-{slug}', 'Gap {slug}', 'open', NULL), \
                      ('{t}', 'gaps', 'warning', 'account', 'done-{slug}', 'Gap {slug}', 'resolved', now());"
        ),
    );
}

/// Every id of tenant `t`'s rows, and the words only its rows hold.
fn secrets(conn: &mut diesel::PgConnection, t: TenantId, slug: &str) -> Vec<String> {
    let mut ids = sql::texts(
        conn,
        &format!(
            "SELECT id::text AS value FROM accounts WHERE tenant_id = '{t}' \
             UNION ALL SELECT id::text FROM transactions WHERE tenant_id = '{t}' \
             UNION ALL SELECT id::text FROM provider_connections WHERE tenant_id = '{t}' \
             UNION ALL SELECT id::text FROM categories WHERE tenant_id = '{t}' \
             UNION ALL SELECT id::text FROM forecasts WHERE tenant_id = '{t}' \
             UNION ALL SELECT id::text FROM dq_findings WHERE tenant_id = '{t}' \
             UNION ALL SELECT id::text FROM revenue_events WHERE tenant_id = '{t}' \
             UNION ALL SELECT id::text FROM webhook_inbox WHERE tenant_id = '{t}' \
             UNION ALL SELECT id::text FROM jobs WHERE tenant_id = '{t}'"
        ),
    );
    ids.push(format!(" {slug}"));
    ids.push(t.to_string());
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_shows_or_touches_another_tenants_data() {
    let t = common::engine().await;
    let (a, b) = (common::tenant(&t, "alpha"), common::tenant(&t, "bravo"));
    let mut conn = t.db.admin_conn();
    books(&mut conn, a, "alpha");
    books(&mut conn, b, "bravo");
    let noop = |tenant| {
        let registry = t.engine.registry().clone();
        let engine = t.engine.clone();
        async move {
            let row = registry.new_job("noop", json!({})).unwrap();
            engine
                .enqueue_rows(
                    Some(tenant),
                    vec![row],
                    EnqueueOptions::new(Trigger::new("api", None)),
                )
                .await
                .unwrap()[0]
                .id
        }
    };
    let our_job = noop(a).await.to_string();
    let their_job = noop(b).await.to_string();
    let their_delivery = sql::text(
        &mut conn,
        &format!("SELECT id::text AS value FROM webhook_inbox WHERE tenant_id = '{b}'"),
    );
    let their_account = sql::text(
        &mut conn,
        &format!(
            "SELECT id::text AS value FROM accounts WHERE tenant_id = '{b}' AND external_id = 'checking'"
        ),
    );
    let our_account = sql::text(
        &mut conn,
        &format!(
            "SELECT id::text AS value FROM accounts WHERE tenant_id = '{a}' AND external_id = 'checking'"
        ),
    );
    let theirs = secrets(&mut conn, b, "bravo");
    let fingerprint = |conn: &mut diesel::PgConnection| {
        sql::text(
            conn,
            &format!(
                "SELECT md5(string_agg(x, ',' ORDER BY x)) AS value FROM ( \
                   SELECT j::text AS x FROM jobs j WHERE tenant_id = '{b}' \
                   UNION ALL SELECT t::text FROM transactions t WHERE tenant_id = '{b}' \
                   UNION ALL SELECT a::text FROM accounts a WHERE tenant_id = '{b}' \
                   UNION ALL SELECT w::text FROM webhook_inbox w WHERE tenant_id = '{b}' \
                   UNION ALL SELECT n::text FROM notification_preferences n WHERE tenant_id = '{b}') s"
            ),
        )
    };
    let before = fingerprint(&mut conn);

    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let doc: Value = test::read_body_json(
        test::call_service(
            &service,
            TestRequest::get().uri("/api/v1/openapi.json").to_request(),
        )
        .await,
    )
    .await;

    // (method, path) → the requests that aim at B with A's token: the status each expects and,
    // for an answer, something of A's own it must show (so an empty answer cannot pass).
    type Probe = (String, Option<Value>, u16, &'static str);
    let get =
        |uri: String, status: u16, shows: &'static str| -> Probe { (uri, None, status, shows) };
    let post = |uri: String, body: Option<Value>, status: u16| -> Probe { (uri, body, status, "") };
    let ours = |uri: &str| {
        uri.replace("OUR_ACCOUNT", &our_account)
            .replace("OUR_JOB", &our_job)
    };
    let probes: Vec<(&str, &str, Vec<Probe>)> = vec![
        (
            "get",
            "/api/v1/summary",
            vec![get("/api/v1/summary".into(), 200, "Bank alpha")],
        ),
        (
            "get",
            "/api/v1/accounts",
            vec![get("/api/v1/accounts".into(), 200, "checking alpha")],
        ),
        (
            "get",
            "/api/v1/accounts/{id}/transactions",
            vec![
                get(
                    ours("/api/v1/accounts/OUR_ACCOUNT/transactions?limit=200"),
                    200,
                    "Spent alpha",
                ),
                get(
                    format!("/api/v1/accounts/{their_account}/transactions"),
                    404,
                    "",
                ),
            ],
        ),
        (
            "get",
            "/api/v1/revenue",
            vec![get(
                "/api/v1/revenue?interval=month".into(),
                200,
                "\"payments_minor\":500",
            )],
        ),
        (
            "get",
            "/api/v1/expenses",
            vec![get("/api/v1/expenses".into(), 200, "Food alpha")],
        ),
        (
            "get",
            "/api/v1/cards",
            vec![get("/api/v1/cards".into(), 200, "card alpha")],
        ),
        (
            "get",
            "/api/v1/forecast",
            vec![
                get("/api/v1/forecast".into(), 200, "\"account_id\":null"),
                get(
                    ours("/api/v1/forecast?account_id=OUR_ACCOUNT"),
                    200,
                    "\"method_version\":\"v1\"",
                ),
                get(
                    format!("/api/v1/forecast?account_id={their_account}"),
                    404,
                    "",
                ),
            ],
        ),
        (
            "get",
            "/api/v1/dq/findings",
            vec![
                get("/api/v1/dq/findings".into(), 200, "Gap alpha"),
                get(
                    "/api/v1/dq/findings?status=resolved".into(),
                    200,
                    "Gap alpha",
                ),
            ],
        ),
        (
            "get",
            "/api/v1/export/transactions.csv",
            vec![
                get("/api/v1/export/transactions.csv".into(), 200, "Spent alpha"),
                get(
                    format!("/api/v1/export/transactions.csv?account_id={their_account}"),
                    404,
                    "",
                ),
            ],
        ),
        (
            "get",
            "/api/v1/jobs",
            vec![get("/api/v1/jobs?limit=200".into(), 200, "noop")],
        ),
        (
            "post",
            "/api/v1/jobs",
            vec![post(
                "/api/v1/jobs".into(),
                Some(json!({"kind": "noop", "payload": {}, "tenant_id": b.to_string()})),
                422,
            )],
        ),
        (
            "get",
            "/api/v1/jobs/{id}",
            vec![
                get(ours("/api/v1/jobs/OUR_JOB"), 200, "noop"),
                get(format!("/api/v1/jobs/{their_job}"), 404, ""),
            ],
        ),
        (
            "post",
            "/api/v1/jobs/{id}/cancel",
            vec![post(format!("/api/v1/jobs/{their_job}/cancel"), None, 404)],
        ),
        (
            "post",
            "/api/v1/jobs/{id}/retry",
            vec![post(format!("/api/v1/jobs/{their_job}/retry"), None, 404)],
        ),
        (
            "get",
            "/api/v1/webhooks",
            vec![get("/api/v1/webhooks".into(), 200, "evt_alpha")],
        ),
        (
            "post",
            "/api/v1/webhooks/{id}/replay",
            vec![post(
                format!("/api/v1/webhooks/{their_delivery}/replay"),
                None,
                404,
            )],
        ),
    ];

    // The token's subject (`user-1`) is no user of A's: preferences are refused, and B's
    // users' preferences (the fingerprint) stay as they are.
    let mut probes = probes;
    probes.extend([
        (
            "get",
            "/api/v1/notifications",
            vec![get("/api/v1/notifications".into(), 403, "")],
        ),
        (
            "put",
            "/api/v1/notifications",
            vec![post(
                "/api/v1/notifications".into(),
                Some(json!({ "daily_summary": false, "alerts": false })),
                403,
            )],
        ),
    ]);
    let probed: BTreeSet<(String, String)> = probes
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/")
            || path.starts_with("/api/v1/docs")
            || path == "/api/v1/openapi.json"
        {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            assert!(
                probed.contains(&(method.clone(), path.clone())),
                "{method} {path} has no isolation probe"
            );
        }
    }

    // B asks first, so every cached view holds an entry of B's that A's requests could be served.
    for (_, _, requests) in &probes {
        for (uri, body, _, _) in requests {
            if body.is_none()
                && !uri.contains("/jobs")
                && !uri.ends_with("/replay")
                && !uri.ends_with("/notifications")
            {
                let uri = uri.replace(&our_account, &their_account);
                let res = test::call_service(&service, common::get_as(&uri, b, Role::Admin)).await;
                assert!(res.status().is_success(), "{uri} for B: {}", res.status());
            }
        }
    }

    let mut answered = 0;
    for (_, _, requests) in &probes {
        for (uri, body, expected, shows) in requests {
            let request = match body {
                Some(body) if uri.ends_with("/notifications") => {
                    TestRequest::put().uri(uri).set_json(body)
                }
                Some(body) => TestRequest::post().uri(uri).set_json(body),
                None if uri.ends_with("/cancel")
                    || uri.ends_with("/retry")
                    || uri.ends_with("/replay") =>
                {
                    TestRequest::post().uri(uri)
                }
                None => TestRequest::get().uri(uri),
            };
            let res = test::call_service(
                &service,
                request
                    .insert_header(("authorization", common::bearer(a, Role::Admin)))
                    .to_request(),
            )
            .await;
            let status = res.status();
            let text = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
            assert_eq!(status.as_u16(), *expected, "{uri}: {text}");
            if status == StatusCode::OK {
                assert!(
                    text.contains(shows),
                    "{uri} does not show A's own `{shows}`: {text}"
                );
            }
            // An id the request itself named may be echoed back ("no account <id>").
            let sent = format!(
                "{uri} {}",
                body.as_ref().map(Value::to_string).unwrap_or_default()
            );
            for secret in theirs.iter().filter(|s| !sent.contains(s.as_str())) {
                assert!(
                    !text.contains(secret.as_str()),
                    "{uri} shows B's `{secret}`: {text}"
                );
            }
            answered += 1;
        }
    }
    assert_eq!(answered, 24);
    assert_eq!(fingerprint(&mut conn), before, "B's rows changed");
    findash_engine::testing::delete_namespace(&t.namespace).await;
}
