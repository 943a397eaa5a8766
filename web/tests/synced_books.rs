//! The dashboard on books stored by the real sync job (the sandbox provider through the engine),
//! not on seeded rows: what the API shows is what the provider said.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test;
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::TestEngine;
use findash_jobs::providers::sandbox::Sandbox;
use findash_jobs::sync::SyncConnection;
use findash_schema::testing::sql;
use findash_schema::users::Role;
use findash_web::http::app;
use rust_decimal::Decimal;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_summary_and_accounts_show_what_the_sync_stored() {
    let registry =
        findash_jobs::registry(&findash_jobs::testing::config("http://127.0.0.1:9/")).unwrap();
    let t = TestEngine::start(registry, |_| {}).await;
    let running = t.run(2);
    let tenant = findash_jobs::testing::tenant(&t, "synced");
    // Today's books, so the summary's "this month" has flows.
    let today = chrono::Utc::now().date_naive();
    let settings = json!({ "seed": 9, "history_days": 60, "as_of": today.to_string() });
    let mut conn = t.db.admin_conn();
    let connection = findash_jobs::testing::connection(&t, tenant, "sandbox", "sbx", &settings);
    let job = t
        .engine
        .enqueue(
            Some(tenant),
            &SyncConnection {
                connection_id: connection,
            },
            EnqueueOptions::new(Trigger::new("cli", None)),
        )
        .await
        .unwrap();
    let started = Instant::now();
    while sql::text(
        &mut conn,
        &format!("SELECT state AS value FROM jobs WHERE id = '{}'", job.id),
    ) != "succeeded"
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "sync did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let get = async |uri: &str| {
        let res = test::call_service(&service, common::get_as(uri, tenant, Role::User)).await;
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        serde_json::from_slice::<Value>(&test::read_body(res).await).unwrap()
    };

    // Balances: the provider's, in minor units, and their sum (all BRL, the base currency).
    let sandbox = Sandbox::from_settings("sbx", &settings).unwrap();
    let minor = |d: Decimal| i64::try_from(d * Decimal::from(100)).unwrap();
    let expected: i64 = sandbox
        .accounts()
        .iter()
        .map(|a| minor(a.current_balance.unwrap()))
        .sum();
    let summary = get("/api/v1/summary").await;
    assert_eq!(summary["total_balance_minor"], expected, "{summary}");
    assert_eq!(summary["unconverted_currencies"], json!([]), "{summary}");
    let freshness = &summary["connections"][0];
    assert_eq!(freshness["stale"], false, "{summary}");

    let accounts = get("/api/v1/accounts").await;
    assert_eq!(
        accounts["accounts"].as_array().unwrap().len(),
        3,
        "{accounts}"
    );
    let card = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "credit_card")
        .unwrap();
    assert!(
        card["current_balance_minor"].as_i64().unwrap() < 0,
        "a card owes: {card}"
    );
    // Just synced: the data is seconds old.
    for account in accounts["accounts"].as_array().unwrap() {
        let age = account["data_age_seconds"].as_i64().unwrap();
        assert!((0..600).contains(&age), "{account}");
    }

    // The newest page of the checking account is the provider's newest day.
    let checking = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "checking")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = get(&format!("/api/v1/accounts/{checking}/transactions?limit=5")).await;
    let newest = page["transactions"][0]["booked_date"].as_str().unwrap();
    let stored_newest = sql::text(
        &mut conn,
        &format!(
            "SELECT max(booked_date)::text AS value FROM transactions WHERE account_id = '{checking}'"
        ),
    );
    assert_eq!(newest, stored_newest);
    running.shutdown().await;
    findash_engine::testing::delete_namespace(&t.namespace).await;
}
