//! `/api/v1/accounts` and an account's transactions: tenant isolation, keyset pages (stable,
//! ties on the same day included), filters, and validation errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use findash_schema::TenantId;
use findash_schema::testing::sql;
use findash_schema::users::Role;
use findash_web::http::app;
use serde_json::Value;

/// A connection and one checking account for `tenant`; returns the account id.
fn account(conn: &mut diesel::PgConnection, tenant: TenantId, name: &str) -> String {
    sql::text(
        conn,
        &format!(
            "WITH c AS (INSERT INTO provider_connections (tenant_id, provider, external_id, display_name) \
                        VALUES ('{tenant}', 'sandbox', '{name}', '{name}') RETURNING id) \
             INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency, \
                                   current_balance_minor, balance_as_of) \
             SELECT '{tenant}', id, '{name}', 'checking', '{name}', 'Banco Sandbox', 'BRL', 123456, now() FROM c \
             RETURNING id::text AS value"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_come_in_stable_pages_with_filters_inside_the_tenant() {
    let t = common::engine().await;
    let (a, b) = (common::tenant(&t, "a"), common::tenant(&t, "b"));
    let mut conn = t.db.admin_conn();
    let acc = account(&mut conn, a, "main");
    account(&mut conn, b, "other");
    // Seven transactions; three share a day, so ties are broken by id.
    sql::count(
        &mut conn,
        &format!(
            "WITH i AS (INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, \
                                              currency, description, counterparty, status) \
             VALUES ('{a}', '{acc}', 't1', '2026-11-01', -1000, 'BRL', 'Rent', 'Landlord', 'posted'), \
                    ('{a}', '{acc}', 't2', '2026-11-02', 500000, 'BRL', 'Salary', 'ACME', 'posted'), \
                    ('{a}', '{acc}', 't3', '2026-11-03', -2599, 'BRL', 'Groceries 50% off', 'Market', 'posted'), \
                    ('{a}', '{acc}', 't4', '2026-11-03', -3000, 'BRL', 'Groceries', 'Market', 'posted'), \
                    ('{a}', '{acc}', 't5', '2026-11-03', -100, 'BRL', 'Coffee', 'Cafe', 'pending'), \
                    ('{a}', '{acc}', 't6', '2026-11-04', -4500, 'BRL', 'Internet', 'ISP', 'posted'), \
                    ('{a}', '{acc}', 't7', '2026-11-05', -999, 'BRL', 'Streaming', 'Films', 'posted') \
             RETURNING 1) SELECT count(*) AS n FROM i"
        ),
    );
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let svc = &service;
    let get = move |uri: String, token: String| async move {
        let res = test::call_service(
            svc,
            TestRequest::get()
                .uri(&uri)
                .insert_header(("authorization", token))
                .to_request(),
        )
        .await;
        let status = res.status();
        let body: Value =
            serde_json::from_slice(&test::read_body(res).await).unwrap_or(Value::Null);
        (status, body)
    };

    let (status, body) = get("/api/v1/accounts".into(), common::bearer(a, Role::User)).await;
    assert_eq!(status, StatusCode::OK);
    let accounts = body["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1, "{body}");
    assert_eq!(accounts[0]["id"], acc.as_str());
    assert_eq!(accounts[0]["current_balance_minor"], 123456);
    assert_eq!(accounts[0]["currency"], "BRL");

    // Pages of three, newest first, each transaction once, while a new one arrives mid-way.
    let mut seen = Vec::new();
    let mut uri = format!("/api/v1/accounts/{acc}/transactions?limit=3");
    loop {
        let (status, page) = get(uri.clone(), common::bearer(a, Role::User)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for tx in page["transactions"].as_array().unwrap() {
            seen.push((
                tx["booked_date"].as_str().unwrap().to_owned(),
                tx["description"].as_str().unwrap().to_owned(),
            ));
        }
        if seen.len() == 3 {
            sql::count(
                &mut conn,
                &format!(
                    "WITH i AS (INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, description, status) \
                     VALUES ('{a}', '{acc}', 't8', '2026-11-06', -1, 'BRL', 'Late arrival', 'posted') RETURNING 1) \
                     SELECT count(*) AS n FROM i"
                ),
            );
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                uri = format!("/api/v1/accounts/{acc}/transactions?limit=3&cursor={cursor}");
            }
            None => break,
        }
    }
    let dates: Vec<&str> = seen.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(
        dates,
        [
            "2026-11-05",
            "2026-11-04",
            "2026-11-03",
            "2026-11-03",
            "2026-11-03",
            "2026-11-02",
            "2026-11-01"
        ]
    );
    let mut names: Vec<&str> = seen.iter().map(|(_, n)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 7, "each transaction once: {seen:?}");

    // Filters: literal text (the % is not a wildcard), amounts, status, dates.
    for (query, expected) in [
        ("q=50%25", vec!["Groceries 50% off"]),
        ("q=market", vec!["Groceries 50% off", "Groceries"]),
        ("min_amount_minor=0", vec!["Salary"]),
        ("max_amount_minor=-3000", vec!["Internet", "Groceries"]),
        ("status=pending", vec!["Coffee"]),
        ("from=2026-11-02&to=2026-11-02", vec!["Salary"]),
    ] {
        let (status, page) = get(
            format!("/api/v1/accounts/{acc}/transactions?{query}"),
            common::bearer(a, Role::User),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        let mut got: Vec<&str> = page["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["description"].as_str().unwrap())
            .collect();
        let mut want = expected.clone();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{query}");
    }

    // Another tenant sees no account and cannot page this one.
    let (_, body) = get("/api/v1/accounts".into(), common::bearer(b, Role::User)).await;
    assert!(
        body["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["id"] != acc.as_str()),
        "{body}"
    );
    let (status, _) = get(
        format!("/api/v1/accounts/{acc}/transactions"),
        common::bearer(b, Role::User),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for (query, status) in [
        ("limit=500", StatusCode::UNPROCESSABLE_ENTITY),
        ("cursor=garbage", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "from=2026-11-05&to=2026-11-01",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("category=food", StatusCode::UNPROCESSABLE_ENTITY),
        ("status=lost", StatusCode::UNPROCESSABLE_ENTITY),
        ("from=yesterday", StatusCode::BAD_REQUEST),
        ("colour=red", StatusCode::BAD_REQUEST),
    ] {
        let (got, body) = get(
            format!("/api/v1/accounts/{acc}/transactions?{query}"),
            common::bearer(a, Role::User),
        )
        .await;
        assert_eq!(got, status, "{query}: {body}");
    }
    findash_engine::testing::delete_namespace(&t.namespace).await;
}
