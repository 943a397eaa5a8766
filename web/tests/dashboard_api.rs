//! The dashboard's aggregates on seeded books: summary (balances and flows converted to the base
//! currency, top categories, freshness), revenue, expenses, cards, forecast and data-quality
//! findings, each inside the caller's tenant; and their cache (hits, invalidation by a job,
//! never across tenants).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test;
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::{Job, JobContext, JobResult, Registry};
use findash_schema::TenantId;
use findash_schema::testing::sql;
use findash_schema::users::Role;
use findash_web::http::app;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Books for `t`: BRL checking, a USD savings account, a BRL credit card; this month's salary,
/// rent, groceries, a transfer, an uncategorized expense and a USD purchase; last month's rent;
/// ECB-style rates (EUR→BRL 6, EUR→USD 1.2, so USD→BRL is exactly 5); revenue events;
/// two forecasts; findings. Returns the checking account's id.
fn books(conn: &mut diesel::PgConnection, t: TenantId, stale_connection: bool) -> String {
    let synced = if stale_connection {
        "now() - interval '30 hours'"
    } else {
        "now() - interval '1 hour'"
    };
    common::exec(
        conn,
        &format!(
            "INSERT INTO fx_rates (source, base_currency, quote_currency, rate_date, rate) VALUES \
               ('ecb', 'EUR', 'BRL', (now() AT TIME ZONE 'UTC')::date - 1, 6), ('ecb', 'EUR', 'USD', (now() AT TIME ZONE 'UTC')::date - 1, 1.2) \
               ON CONFLICT DO NOTHING; \
             INSERT INTO categories (tenant_id, slug, name, kind) VALUES \
               ('{t}', 'salary', 'Salary', 'income'), ('{t}', 'housing', 'Housing', 'expense'), \
               ('{t}', 'groceries', 'Groceries', 'expense'), ('{t}', 'travel', 'Travel', 'expense'), \
               ('{t}', 'transfer', 'Transfer', 'transfer'); \
             INSERT INTO provider_connections (tenant_id, provider, external_id, display_name, last_successful_sync_at) \
               VALUES ('{t}', 'sandbox', 'bank', 'Sandbox Bank', {synced}); \
             INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency, \
                                   current_balance_minor, balance_as_of, credit_limit_minor, statement_balance_minor, \
                                   statement_closing_date, statement_due_date) \
             SELECT '{t}', c.id, a.ext, a.kind, a.name, 'Banco Sandbox', a.currency, a.balance, now(), \
                    a.credit_limit, a.statement, a.closing, a.due \
             FROM provider_connections c, (VALUES \
                 ('checking', 'checking', 'Checking', 'BRL', 1000000::bigint, NULL::bigint, NULL::bigint, NULL::date, NULL::date), \
                 ('savings', 'savings', 'Dollar savings', 'USD', 50000, NULL, NULL, NULL, NULL), \
                 ('card', 'credit_card', 'Card', 'BRL', -120000, 500000, -100000, (now() AT TIME ZONE 'UTC')::date - 5, (now() AT TIME ZONE 'UTC')::date + 10) \
             ) AS a (ext, kind, name, currency, balance, credit_limit, statement, closing, due) \
             WHERE c.tenant_id = '{t}'; \
             INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, \
                                       description, category_id, status) \
             SELECT '{t}', a.id, x.ext, x.day, x.amount, a.currency, x.description, \
                    (SELECT id FROM categories WHERE tenant_id = '{t}' AND slug = x.category), 'posted' \
             FROM (VALUES \
                 ('checking', 's1', (now() AT TIME ZONE 'UTC')::date, 500000::bigint, 'Salary', 'salary'), \
                 ('checking', 'r1', (now() AT TIME ZONE 'UTC')::date, -150000, 'Rent', 'housing'), \
                 ('checking', 'g1', (now() AT TIME ZONE 'UTC')::date, -25000, 'Groceries', 'groceries'), \
                 ('checking', 'm1', (now() AT TIME ZONE 'UTC')::date, -1000, 'Mystery', NULL), \
                 ('checking', 'x1', (now() AT TIME ZONE 'UTC')::date, -50000, 'To savings', 'transfer'), \
                 ('savings', 'u1', (now() AT TIME ZONE 'UTC')::date, -2000, 'Hotel', 'travel'), \
                 ('checking', 'r0', date_trunc('month', now() AT TIME ZONE 'UTC')::date - 1, -150000, 'Rent', 'housing') \
             ) AS x (account, ext, day, amount, description, category) \
             JOIN accounts a ON a.tenant_id = '{t}' AND a.external_id = x.account; \
             INSERT INTO revenue_events (tenant_id, source, kind, external_id, status, amount_minor, fee_minor, currency, occurred_at) \
             VALUES ('{t}', 'stripe', 'payment', 'ch_1', 'succeeded', 10000, 300, 'BRL', now()), \
                    ('{t}', 'stripe', 'payment', 'ch_2', 'pending', 5000, 0, 'BRL', now()), \
                    ('{t}', 'stripe', 'refund', 're_1', 'succeeded', 2000, 0, 'BRL', now()), \
                    ('{t}', 'stripe', 'dispute', 'dp_1', 'lost', 1000, 0, 'BRL', now()), \
                    ('{t}', 'stripe', 'payout', 'po_1', 'paid', 7000, 0, 'BRL', now()); \
             INSERT INTO forecasts (id, tenant_id, currency, method_version, starts_on, horizon_days, \
                                    starting_balance_minor, data_as_of, generated_at) \
             VALUES (gen_random_uuid(), '{t}', 'BRL', 'v0', (now() AT TIME ZONE 'UTC')::date, 3, 1, now() - interval '2 days', now() - interval '1 day'); \
             WITH f AS (INSERT INTO forecasts (tenant_id, currency, method_version, starts_on, horizon_days, \
                                               starting_balance_minor, data_as_of, generated_at) \
                        VALUES ('{t}', 'BRL', 'v1', (now() AT TIME ZONE 'UTC')::date, 3, 1130000, now() - interval '2 hours', now() - interval '1 hour') \
                        RETURNING id) \
             INSERT INTO forecast_points (forecast_id, tenant_id, day, p10_minor, p50_minor, p90_minor) \
             SELECT f.id, '{t}', (now() AT TIME ZONE 'UTC')::date + d, 1000000 - d * 1000, p50, 1200000 \
             FROM f, (VALUES (1, 1100000), (2, 1050000), (3, 1090000)) AS p (d, p50); \
             INSERT INTO dq_findings (tenant_id, check_name, severity, subject_type, fingerprint, message, \
                                      first_seen_at, last_seen_at, status, resolved_at) VALUES \
               ('{t}', 'stale_sync', 'warning', 'connection', 'f1', 'Stale', now() - interval '3 hours', now() - interval '3 hours', 'open', NULL), \
               ('{t}', 'duplicates', 'critical', 'account', 'f2', 'Dupes', now() - interval '2 hours', now() - interval '2 hours', 'open', NULL), \
               ('{t}', 'gaps', 'warning', 'account', 'f3', 'Gap', now() - interval '1 hour', now() - interval '1 hour', 'open', NULL), \
               ('{t}', 'gaps', 'warning', 'account', 'f4', 'Old gap', now() - interval '9 hours', now() - interval '8 hours', 'resolved', now());"
        ),
    );
    sql::text(
        conn,
        &format!(
            "SELECT id::text AS value FROM accounts WHERE tenant_id = '{t}' AND external_id = 'checking'"
        ),
    )
}

/// A job that declares it changes dashboard data; it does nothing else.
#[derive(Serialize, Deserialize)]
struct Touch {}

impl Job for Touch {
    const KIND: &'static str = "test_touch";
    const CHANGES_DASHBOARD: bool = true;
    async fn run(self, _ctx: JobContext) -> JobResult {
        Ok(json!({}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_are_exact_converted_and_stay_inside_the_tenant() {
    let t = common::engine().await;
    let (a, b) = (common::tenant(&t, "a"), common::tenant(&t, "b"));
    let mut conn = t.db.admin_conn();
    books(&mut conn, a, false);
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let svc = &service;
    let get = move |uri: &'static str, tenant: TenantId| async move {
        let res = test::call_service(svc, common::get_as(uri, tenant, Role::User)).await;
        let status = res.status();
        let body: Value =
            serde_json::from_slice(&test::read_body(res).await).unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        body
    };

    let s = get("/api/v1/summary", a).await;
    assert_eq!(s["base_currency"], "BRL");
    // 1,000,000 BRL + 50,000 USD × 5 − 120,000 BRL owed on the card.
    assert_eq!(s["total_balance_minor"], 1_130_000, "{s}");
    let savings = s["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["currency"] == "USD")
        .unwrap();
    assert_eq!(savings["balance_minor"], 50_000);
    assert_eq!(savings["base_balance_minor"], 250_000);
    // Transfers are neither income nor expense; USD 20.00 is BRL 100.00; last month is out.
    assert_eq!(s["month"]["income_minor"], 500_000, "{s}");
    assert_eq!(
        s["month"]["expenses_minor"],
        150_000 + 25_000 + 1_000 + 10_000
    );
    assert_eq!(s["month"]["net_minor"], 500_000 - 186_000);
    let top: Vec<(Value, i64)> = s["top_categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["slug"].clone(), c["spent_minor"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        top,
        [
            (json!("housing"), 150_000),
            (json!("groceries"), 25_000),
            (json!("travel"), 10_000),
            (Value::Null, 1_000),
        ]
    );
    let connection = &s["connections"][0];
    assert_eq!(connection["display_name"], "Sandbox Bank");
    assert_eq!(connection["stale"], false);
    assert!(
        (3590..=3700).contains(&connection["age_seconds"].as_i64().unwrap()),
        "{connection}"
    );
    let usd = s["rates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["currency"] == "USD")
        .unwrap();
    assert_eq!(usd["rate"], "5", "{usd}");
    assert_eq!(s["unconverted_currencies"], json!([]));

    let r = get("/api/v1/revenue", a).await;
    assert_eq!(r["interval"], "day");
    assert_eq!(r["periods"].as_array().unwrap().len(), 30, "{r}");
    let total = &r["totals"][0];
    assert_eq!(
        (
            &total["payments_minor"],
            &total["payments_count"],
            &total["refunds_minor"],
            &total["disputes_lost_minor"],
            &total["fees_minor"],
            &total["net_minor"],
        ),
        (
            &json!(10_000),
            &json!(1),
            &json!(2_000),
            &json!(1_000),
            &json!(300),
            &json!(7_000)
        ),
        "{total}"
    );
    let months = get("/api/v1/revenue?interval=month", a).await;
    assert_eq!(months["periods"].as_array().unwrap().len(), 12);
    assert_eq!(months["periods"][11]["net_minor"], 7_000);

    let e = get("/api/v1/expenses", a).await;
    let months = e["months"].as_array().unwrap();
    assert_eq!(months.len(), 6);
    assert_eq!(months[5]["total_minor"], 186_000, "{e}");
    assert_eq!(months[4]["total_minor"], 150_000, "{e}");
    assert_eq!(months[4]["categories"][0]["slug"], "housing");
    assert_eq!(months[3]["categories"], json!([]));

    let c = get("/api/v1/cards", a).await;
    let card = &c["cards"][0];
    assert_eq!(c["cards"].as_array().unwrap().len(), 1);
    assert_eq!(card["owed_minor"], 120_000, "{card}");
    assert_eq!(card["available_credit_minor"], 380_000);
    assert_eq!(card["utilization_bps"], 2_400);
    assert_eq!(card["statement_owed_minor"], 100_000);
    assert_eq!(card["days_until_due"], 10);

    let f = get("/api/v1/forecast", a).await;
    assert_eq!(f["method_version"], "v1", "the newest forecast: {f}");
    assert_eq!(f["points"].as_array().unwrap().len(), 3);
    assert_eq!(f["low_point"]["p50_minor"], 1_050_000);
    assert!((3590..=3700).contains(&f["age_seconds"].as_i64().unwrap()));
    assert!((7190..=7300).contains(&f["data_age_seconds"].as_i64().unwrap()));

    let page = get("/api/v1/dq/findings?limit=2", a).await;
    let names: Vec<&str> = page["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Gap", "Dupes"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let next = test::call_service(
        svc,
        common::get_as(
            &format!("/api/v1/dq/findings?limit=2&cursor={cursor}"),
            a,
            Role::User,
        ),
    )
    .await;
    let next: Value = serde_json::from_slice(&test::read_body(next).await).unwrap();
    assert_eq!(next["findings"][0]["message"], "Stale");
    assert_eq!(next["findings"].as_array().unwrap().len(), 1);
    assert_eq!(next["next_cursor"], Value::Null);
    let critical = get("/api/v1/dq/findings?severity=critical", a).await;
    assert_eq!(critical["findings"].as_array().unwrap().len(), 1);
    let resolved = get("/api/v1/dq/findings?status=resolved", a).await;
    assert_eq!(resolved["findings"][0]["message"], "Old gap");

    // Tenant B sees its own, empty books through every aggregate.
    let s = get("/api/v1/summary", b).await;
    assert_eq!(s["accounts"], json!([]));
    assert_eq!(s["total_balance_minor"], 0);
    assert_eq!(s["month"]["expenses_minor"], 0);
    assert_eq!(s["connections"], json!([]));
    let r = get("/api/v1/revenue", b).await;
    assert_eq!(r["totals"], json!([]));
    let e = get("/api/v1/expenses", b).await;
    assert!(
        e["months"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["total_minor"] == 0)
    );
    assert_eq!(get("/api/v1/cards", b).await["cards"], json!([]));
    assert_eq!(get("/api/v1/dq/findings", b).await["findings"], json!([]));
    let none = test::call_service(svc, common::get_as("/api/v1/forecast", b, Role::User)).await;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);

    findash_engine::testing::delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_data_and_missing_rates_are_reported_not_hidden() {
    let t = common::engine().await;
    let a = common::tenant(&t, "a");
    let mut conn = t.db.admin_conn();
    books(&mut conn, a, true);
    // A GBP account with no GBP rate: left out of the total and named.
    common::exec(
        &mut conn,
        &format!(
            "INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency, \
                                   current_balance_minor, balance_as_of) \
             SELECT '{a}', id, 'gbp', 'checking', 'Pounds', 'Banco Sandbox', 'GBP', 999, now() \
             FROM provider_connections WHERE tenant_id = '{a}'"
        ),
    );
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let res = test::call_service(&service, common::get_as("/api/v1/summary", a, Role::User)).await;
    let s: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    assert_eq!(s["total_balance_minor"], 1_130_000, "{s}");
    assert_eq!(s["unconverted_currencies"], json!(["GBP"]));
    let pounds = s["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["currency"] == "GBP")
        .unwrap();
    assert_eq!(pounds["base_balance_minor"], Value::Null);
    assert_eq!(s["connections"][0]["stale"], true);
    findash_engine::testing::delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_are_cached_per_tenant_until_a_job_changes_the_data() {
    let t = findash_engine::testing::TestEngine::start(
        findash_engine::builtin::register(Registry::new()).register::<Touch>(),
        |_| {},
    )
    .await;
    let (a, b) = (common::tenant(&t, "a"), common::tenant(&t, "b"));
    let mut conn = t.db.admin_conn();
    let checking = books(&mut conn, a, false);
    let theirs = books(&mut conn, b, false);
    // B spends 7 more than A this month, so an answer shows whose books it came from.
    common::exec(
        &mut conn,
        &format!(
            "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, description, status) \
             VALUES ('{b}', '{theirs}', 'b-only', (now() AT TIME ZONE 'UTC')::date, -7, 'BRL', 'B only', 'posted')"
        ),
    );
    let running = t.run(2);
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let svc = &service;
    let summary = move |tenant: TenantId| async move {
        let res =
            test::call_service(svc, common::get_as("/api/v1/summary", tenant, Role::User)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let cache = res
            .headers()
            .get("x-cache")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
        (cache, body["month"]["expenses_minor"].as_i64().unwrap())
    };

    assert_eq!(summary(a).await, ("miss".to_owned(), 186_000));
    assert_eq!(summary(a).await, ("hit".to_owned(), 186_000));
    // B's answer is B's own, even though A's is cached under the same view and parameters.
    assert_eq!(summary(b).await, ("miss".to_owned(), 186_007));
    assert_eq!(summary(b).await, ("hit".to_owned(), 186_007));
    common::exec(
        &mut conn,
        &format!(
            "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, description, status) \
             VALUES ('{a}', '{checking}', 'late', (now() AT TIME ZONE 'UTC')::date, -4000, 'BRL', 'Late', 'pending')"
        ),
    );
    // Nothing said the data changed: still the cached answer.
    assert_eq!(summary(a).await, ("hit".to_owned(), 186_000));

    let job = t
        .engine
        .enqueue(
            Some(a),
            &Touch {},
            EnqueueOptions::new(Trigger::new("api", None)),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let state = sql::text(
            &mut conn,
            &format!("SELECT state AS value FROM jobs WHERE id = '{}'", job.id),
        );
        if state == "succeeded" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "job is {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(summary(a).await, ("miss".to_owned(), 190_000));
    assert_eq!(summary(a).await, ("hit".to_owned(), 190_000));
    // An account's newest page is cached like the aggregates; a page with a filter is not.
    for (uri, first, second) in [
        (
            format!("/api/v1/accounts/{checking}/transactions"),
            "miss",
            "hit",
        ),
        (
            format!("/api/v1/accounts/{checking}/transactions?status=posted"),
            "bypass",
            "bypass",
        ),
    ] {
        for expected in [first, second] {
            let res = test::call_service(svc, common::get_as(&uri, a, Role::User)).await;
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.headers().get("x-cache").unwrap(), expected, "{uri}");
        }
    }
    // B's entry was not touched by A's job.
    assert_eq!(summary(b).await, ("hit".to_owned(), 186_007));

    // Explicit ranges are computed, never stored: one entry per default view, not per range.
    for _ in 0..2 {
        let res = test::call_service(
            svc,
            common::get_as(
                "/api/v1/revenue?from=2026-01-01&to=2026-01-31",
                a,
                Role::User,
            ),
        )
        .await;
        assert_eq!(res.headers().get("x-cache").unwrap(), "bypass");
    }

    // With the cache switched off (API_CACHE=false) every answer is computed.
    let mut config = common::config();
    config.cache = false;
    let uncached = test::init_service(app(common::state(&t, config))).await;
    for _ in 0..2 {
        let res =
            test::call_service(&uncached, common::get_as("/api/v1/summary", a, Role::User)).await;
        assert_eq!(res.headers().get("x-cache").unwrap(), "bypass");
    }

    running.shutdown().await;
    findash_engine::testing::delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_is_the_tenants_filtered_csv() {
    let t = common::engine().await;
    let (a, b) = (common::tenant(&t, "a"), common::tenant(&t, "b"));
    let mut conn = t.db.admin_conn();
    let checking = books(&mut conn, a, false);
    books(&mut conn, b, false);
    common::exec(
        &mut conn,
        &format!(
            "UPDATE transactions SET description = '=HYPERLINK(\"http://x\")', counterparty = 'Acme, Inc.' \
             WHERE tenant_id = '{a}' AND external_id = 'm1'"
        ),
    );
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let svc = &service;
    let csv = move |uri: String| async move {
        let res = test::call_service(svc, common::get_as(&uri, a, Role::User)).await;
        let status = res.status();
        (
            status,
            String::from_utf8(test::read_body(res).await.to_vec()).unwrap(),
        )
    };

    let (status, all) = csv("/api/v1/export/transactions.csv".into()).await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = all.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 1 + 7, "{all}");
    let mystery = lines.iter().find(|l| l.contains("HYPERLINK")).unwrap();
    assert!(
        mystery.ends_with(",-10.00,BRL,-1000,,,\"'=HYPERLINK(\"\"http://x\"\")\",\"Acme, Inc.\","),
        "{mystery}"
    );
    let hotel = lines.iter().find(|l| l.contains("Hotel")).unwrap();
    assert!(hotel.contains(",posted,-20.00,USD,-2000,"), "{hotel}");
    assert!(hotel.ends_with(",travel"), "{hotel}");

    let (_, filtered) = csv(format!(
        "/api/v1/export/transactions.csv?account_id={checking}&category=uncategorized&max_amount_minor=-1"
    ))
    .await;
    assert_eq!(filtered.split_terminator("\r\n").count(), 2, "{filtered}");

    let (status, _) = csv(format!(
        "/api/v1/export/transactions.csv?account_id={}",
        uuid::Uuid::new_v4()
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // B's checking account is not A's to export.
    let theirs = sql::text(
        &mut conn,
        &format!(
            "SELECT id::text AS value FROM accounts WHERE tenant_id = '{b}' AND external_id = 'checking'"
        ),
    );
    let (status, _) = csv(format!(
        "/api/v1/export/transactions.csv?account_id={theirs}"
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    findash_engine::testing::delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_dashboard_queries_get_clear_errors() {
    let t = common::engine().await;
    let a = common::tenant(&t, "a");
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    for (uri, status, words) in [
        (
            "/api/v1/revenue?interval=year",
            422,
            "interval must be day, week or month",
        ),
        (
            "/api/v1/revenue?from=2026-02-01&to=2026-01-01",
            422,
            "`from` is after `to`",
        ),
        (
            "/api/v1/revenue?from=2020-01-01&to=2026-01-01",
            422,
            "more than 366 periods",
        ),
        (
            "/api/v1/revenue?from=yesterday",
            400,
            "query string is not valid",
        ),
        (
            "/api/v1/revenue?currency=BRL",
            400,
            "unknown field `currency`",
        ),
        (
            "/api/v1/expenses?from=2026-13",
            422,
            "`2026-13` is not a month",
        ),
        (
            "/api/v1/expenses?from=2026-1",
            422,
            "`2026-1` is not a month",
        ),
        (
            "/api/v1/expenses?from=2020-01&to=2026-01",
            422,
            "more than 36 months",
        ),
        (
            "/api/v1/forecast?account_id=42",
            400,
            "query string is not valid",
        ),
        (
            "/api/v1/dq/findings?status=closed",
            422,
            "status must be open or resolved",
        ),
        (
            "/api/v1/dq/findings?severity=fatal",
            422,
            "severity must be",
        ),
        (
            "/api/v1/dq/findings?cursor=abc",
            422,
            "the cursor is not valid",
        ),
        (
            "/api/v1/dq/findings?limit=0",
            422,
            "limit must be between 1 and 200",
        ),
        ("/api/v1/dq/findings?check=", 422, "check must be"),
        (
            "/api/v1/expenses?to=1899-12",
            422,
            "`1899-12` is not a month",
        ),
        (
            "/api/v1/revenue?from=1899-12-31&to=1900-01-02",
            422,
            "between 1900-01-01 and 9999-12-31",
        ),
        (
            "/api/v1/export/transactions.csv?q=a%00b",
            422,
            "q must not contain NUL",
        ),
        (
            "/api/v1/export/transactions.csv?from=-5000-01-01",
            422,
            "between 1900-01-01 and 9999-12-31",
        ),
        (
            "/api/v1/export/transactions.csv?status=void",
            422,
            "status must be pending or posted",
        ),
        (
            "/api/v1/export/transactions.csv?from=2026-02-01&to=2026-01-01",
            422,
            "`from` is after `to`",
        ),
        (
            "/api/v1/export/transactions.csv?category=food",
            422,
            "category must be",
        ),
    ] {
        let res = test::call_service(&service, common::get_as(uri, a, Role::User)).await;
        assert_eq!(res.status().as_u16(), status, "{uri}");
        let body: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{uri}: {message}");
        assert!(body["error"]["request_id"].is_string(), "{uri}: {body}");
    }
    findash_engine::testing::delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revenue_days_are_the_tenants_days() {
    let t = common::engine().await;
    let a = common::tenant(&t, "a");
    let mut conn = t.db.admin_conn();
    // 01:30 UTC on 10 March is 22:30 on 9 March in São Paulo (UTC−3).
    common::exec(
        &mut conn,
        &format!(
            "UPDATE tenants SET time_zone = 'America/Sao_Paulo' WHERE id = '{a}'; \
             INSERT INTO revenue_events (tenant_id, source, kind, external_id, status, amount_minor, currency, occurred_at) \
             VALUES ('{a}', 'stripe', 'payment', 'ch_late', 'succeeded', 4200, 'BRL', '2026-03-10 01:30:00+00'), \
                    ('{a}', 'stripe', 'payment', 'ch_next', 'succeeded', 100, 'BRL', '2026-03-11 02:59:59+00'), \
                    ('{a}', 'stripe', 'payment', 'ch_out', 'succeeded', 9, 'BRL', '2026-03-11 03:00:00+00')"
        ),
    );
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let res = test::call_service(
        &service,
        common::get_as(
            "/api/v1/revenue?from=2026-03-09&to=2026-03-10",
            a,
            Role::User,
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = test::read_body_json(res).await;
    let days: Vec<(&str, i64)> = r["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["period_start"].as_str().unwrap(),
                p["payments_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    // The payment just before midnight of the 10th (local) counts; the one at midnight does not.
    assert_eq!(days, [("2026-03-09", 4200), ("2026-03-10", 100)], "{r}");
    findash_engine::testing::delete_namespace(&t.namespace).await;
}
