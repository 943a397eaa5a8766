//! Data-quality checks through the real engine, PostgreSQL and Redis, on synced sandbox books:
//! clean books give no critical finding (balance continuity holds across syncs), every kind of
//! problem is found once with its evidence, a rerun refreshes instead of duplicating, fixed
//! problems are resolved, and the gate blocks on critical findings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::NaiveDate;
use findash_jobs::categorize::Categorize;
use findash_jobs::dq::{DqAll, DqCheck};
use findash_jobs::sync::SyncConnection;
use findash_schema::testing::sql;
use serde_json::{Value, json};

fn day(s: &str) -> Option<NaiveDate> {
    Some(s.parse().unwrap())
}

fn exec(conn: &mut diesel::PgConnection, statement: &str) {
    sql::count(
        conn,
        &format!("WITH w AS ({statement} RETURNING 1) SELECT count(*) AS n FROM w"),
    );
}

/// Open findings as `check severity subject_type`, sorted.
fn open(conn: &mut diesel::PgConnection) -> Vec<String> {
    sql::texts(
        conn,
        "SELECT check_name || ' ' || severity || ' ' || subject_type AS value FROM dq_findings \
         WHERE status = 'open' ORDER BY 1",
    )
}

fn evidence(conn: &mut diesel::PgConnection, check: &str) -> Value {
    serde_json::from_str(&sql::text(
        conn,
        &format!(
            "SELECT evidence::text AS value FROM dq_findings WHERE status = 'open' AND check_name = '{check}'"
        ),
    ))
    .unwrap()
}

fn account(conn: &mut diesel::PgConnection, suffix: &str) -> String {
    sql::text(
        conn,
        &format!("SELECT id::text AS value FROM accounts WHERE external_id LIKE '%{suffix}'"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checks_find_each_problem_once_resolve_it_and_the_gate_blocks_on_critical_ones() {
    let t = common::engine("http://127.0.0.1:9/").await;
    let running = t.run(4);
    let tenant = common::tenant(&t, "dq");
    let settings = json!({ "seed": 11, "history_days": 200, "as_of": "2026-04-10" });
    let connection = common::connection(&t, tenant, "sandbox", "sbx", &settings);
    let sync = SyncConnection {
        connection_id: connection,
    };
    let mut conn = t.db.admin_conn();

    // Two syncs four days apart: every account has two balances, and the transactions between
    // them explain the difference, pending items and their posting included.
    assert_eq!(
        common::run_once(&t, Some(tenant), &sync).await.state,
        "succeeded"
    );
    exec(
        &mut conn,
        "UPDATE provider_connections SET settings = settings || '{\"as_of\": \"2026-04-14\"}'",
    );
    assert_eq!(
        common::run_once(&t, Some(tenant), &sync).await.state,
        "succeeded"
    );
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM account_balance_snapshots"
        ),
        6
    );
    let clean = common::run_once(
        &t,
        Some(tenant),
        &DqCheck {
            as_of: day("2026-04-14"),
            gate: true,
        },
    )
    .await;
    assert_eq!(
        (clean.state.as_str(), clean.attempt.as_str()),
        ("succeeded", "succeeded"),
        "{clean:?} {:?}",
        open(&mut conn)
    );
    assert!(
        !open(&mut conn).iter().any(|f| f.contains("critical")),
        "{:?}",
        open(&mut conn)
    );
    // Balances taken by a provider at the start of each (local) day, before that day's
    // bookings: consistent under that reading, so nothing is found.
    exec(
        &mut conn,
        &format!(
            "INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency) \
             VALUES ('{tenant}', '{connection}', 'early-1', 'checking', 'Early', 'Sandbox Bank', 'BRL'), \
                    ('{tenant}', '{connection}', 'quiet-1', 'checking', 'Quiet', 'Sandbox Bank', 'BRL')"
        ),
    );
    let early = account(&mut conn, "early-1");
    for (at, balance) in [
        ("2026-04-10 05:00Z", 10_000),
        ("2026-04-11 05:00Z", 9_500),
        ("2026-04-12 05:00Z", 9_200),
    ] {
        exec(
            &mut conn,
            &format!(
                "UPDATE accounts SET current_balance_minor = {balance}, balance_as_of = '{at}' WHERE id = '{early}'"
            ),
        );
    }
    exec(
        &mut conn,
        &format!(
            "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, description, status, raw) \
             VALUES ('{tenant}', '{early}', 'e-1', '2026-04-10', -500, 'BRL', 'Bakery', 'posted', '{{}}'), \
                    ('{tenant}', '{early}', 'e-2', '2026-04-11', -300, 'BRL', 'Bakery', 'posted', '{{}}')"
        ),
    );
    exec(
        &mut conn,
        &format!("UPDATE accounts SET last_successful_sync_at = now() WHERE id = '{early}'"),
    );
    let baseline = open(&mut conn);
    let again = common::run_once(
        &t,
        Some(tenant),
        &DqCheck {
            as_of: day("2026-04-13"),
            gate: true,
        },
    )
    .await;
    assert_eq!(again.attempt, "succeeded", "{again:?}");
    assert_eq!(open(&mut conn), baseline);
    // A balance stored by a pass that has not finished (its transactions are not in yet) is
    // not judged.
    exec(
        &mut conn,
        &format!(
            "UPDATE accounts SET current_balance_minor = 1, balance_as_of = '2026-04-13 05:00Z' WHERE id = '{early}'"
        ),
    );

    // Every kind of problem, once.
    let checking = account(&mut conn, "checking");
    let savings = account(&mut conn, "savings");
    let card = account(&mut conn, "card");
    // A transaction the provider's balance does not contain (continuity).
    exec(
        &mut conn,
        &format!(
            "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, description, status, raw) \
             VALUES ('{tenant}', '{checking}', 'injected-1', '2026-04-12', -12345, 'BRL', 'Injected', 'posted', '{{}}')"
        ),
    );
    // A copy of a posted card purchase under another id (duplicate), before the checked window.
    exec(
        &mut conn,
        &format!(
            "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, description, counterparty, status, raw) \
             SELECT tenant_id, account_id, external_id || '-copy', booked_date, amount_minor, currency, description, counterparty, status, raw \
             FROM transactions WHERE account_id = '{card}' AND status = 'posted' AND booked_date < '2026-04-01' \
             ORDER BY booked_date DESC, external_id LIMIT 1"
        ),
    );
    // Future-dated and absurd amounts on the savings account, outside the checked window.
    exec(
        &mut conn,
        &format!(
            "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, description, status, raw) \
             VALUES ('{tenant}', '{savings}', 'future-1', '2026-06-30', 500, 'BRL', 'Future', 'posted', '{{}}'), \
                    ('{tenant}', '{savings}', 'absurd-1', '2026-03-02', -100000000000, 'BRL', 'Absurd', 'posted', '{{}}')"
        ),
    );
    // Refusals recorded by the sync: a precision one and a currency one.
    exec(
        &mut conn,
        &format!(
            "INSERT INTO sync_rejections (tenant_id, account_id, external_id, reason, detail, raw) \
             VALUES ('{tenant}', '{card}', 'p-1', 'precision', 'amount 1.005 has more decimals than BRL', '{{}}'), \
                    ('{tenant}', '{card}', 'c-1', 'currency', 'USD on a BRL account', '{{}}')"
        ),
    );
    // A second connection that never synced, two days old, with a USD account and no rates.
    let stale = common::connection(&t, tenant, "pluggy", "item-1", &json!({}));
    exec(
        &mut conn,
        &format!(
            "UPDATE provider_connections SET created_at = now() - interval '2 days', status = 'error', \
             last_error = 'pluggy is down', last_error_at = now(), consecutive_failures = 3 WHERE id = '{stale}'"
        ),
    );
    exec(
        &mut conn,
        &format!(
            "INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency) \
             VALUES ('{tenant}', '{stale}', 'usd-1', 'checking', 'Dollars', 'Pluggy Bank', 'USD')"
        ),
    );
    // An account silent for 25 days that used to move every 3 days.
    let quiet = account(&mut conn, "quiet-1");
    exec(
        &mut conn,
        &format!(
            "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, description, status, raw) \
             SELECT '{tenant}', '{quiet}', 'q-' || d, d, -100, 'BRL', 'Fee ' || d, 'posted', '{{}}' \
             FROM generate_series(DATE '2026-01-01', DATE '2026-03-20', interval '3 days') AS d"
        ),
    );
    // Categories lost for the last month.
    exec(
        &mut conn,
        "UPDATE transactions SET category_id = NULL WHERE booked_date > '2026-03-14'",
    );

    let gate = DqCheck {
        as_of: day("2026-04-14"),
        gate: false,
    };
    let found = common::run_once(&t, Some(tenant), &gate).await;
    assert_eq!(found.state, "succeeded", "{found:?}");
    let mut expected: Vec<String> = baseline.clone();
    expected.extend(
        [
            "absurd_amount critical transaction",
            "account_gap warning account",
            "balance_continuity critical account",
            "currency_mismatch critical account",
            "future_dated warning account",
            "probable_duplicate warning transaction",
            "stale_fx_rates warning fx_rate",
            "stale_sync warning connection",
            "sync_rejections warning account",
            "uncategorized_share warning tenant",
        ]
        .map(str::to_owned),
    );
    expected.sort();
    assert_eq!(open(&mut conn), expected);
    let continuity = evidence(&mut conn, "balance_continuity");
    assert_eq!(continuity["from"], "2026-04-10");
    assert_eq!(continuity["to"], "2026-04-14");
    assert_eq!(continuity["difference_minor"], 12345);
    assert_eq!(
        continuity["expected_minor"].as_i64().unwrap() + 12345,
        continuity["reported_minor"].as_i64().unwrap()
    );
    assert!(
        sql::text(
            &mut conn,
            "SELECT message AS value FROM dq_findings WHERE check_name = 'balance_continuity'"
        )
        .contains("BRL"),
    );
    assert_eq!(
        evidence(&mut conn, "stale_fx_rates")["currency"],
        "USD",
        "no USD/BRL rate at all"
    );
    assert!(
        sql::text(
            &mut conn,
            "SELECT message AS value FROM dq_findings WHERE check_name = 'stale_sync'"
        )
        .contains("never synced successfully (error: pluggy is down)")
    );

    // The gate: the critical findings block, named in the reason.
    let blocked = common::run_once(
        &t,
        Some(tenant),
        &DqCheck {
            as_of: day("2026-04-15"),
            gate: true,
        },
    )
    .await;
    assert_eq!(
        (blocked.state.as_str(), blocked.attempt.as_str()),
        ("succeeded", "blocked")
    );
    let reason = blocked.error.unwrap();
    assert!(
        reason.starts_with("3 critical data-quality findings open: "),
        "{reason}"
    );
    assert!(reason.contains("absurd_amount"), "{reason}");

    // A rerun refreshes the same findings: no new rows.
    let rows = sql::count(&mut conn, "SELECT count(*) AS n FROM dq_findings");
    let again = common::run_once(
        &t,
        Some(tenant),
        &DqCheck {
            as_of: day("2026-04-14"),
            gate: false,
        },
    )
    .await;
    assert_eq!(again.state, "succeeded");
    assert_eq!(again.id, found.id, "one run per day and mode");
    let rerun = common::run_once(
        &t,
        Some(tenant),
        &DqCheck {
            as_of: day("2026-04-16"),
            gate: false,
        },
    )
    .await;
    let result = rerun.result.unwrap();
    assert_eq!(result["opened"], 0, "{result}");
    assert_eq!(
        sql::count(&mut conn, "SELECT count(*) AS n FROM dq_findings"),
        rows
    );

    // However stale, a connection is a warning: the other connections' data is still good.
    exec(
        &mut conn,
        &format!(
            "UPDATE provider_connections SET created_at = now() - interval '30 days' WHERE id = '{stale}'"
        ),
    );
    common::run_once(
        &t,
        Some(tenant),
        &DqCheck {
            as_of: day("2026-04-17"),
            gate: false,
        },
    )
    .await;
    assert!(open(&mut conn).contains(&"stale_sync warning connection".to_owned()));

    // Fixed: every problem goes away and its finding is resolved, not deleted.
    exec(
        &mut conn,
        "DELETE FROM transactions WHERE external_id IN ('injected-1', 'future-1', 'absurd-1') OR external_id LIKE '%-copy'",
    );
    exec(&mut conn, "DELETE FROM sync_rejections");
    exec(
        &mut conn,
        &format!("UPDATE provider_connections SET status = 'disabled' WHERE id = '{stale}'"),
    );
    exec(
        &mut conn,
        "UPDATE accounts SET status = 'closed' WHERE external_id IN ('usd-1', 'quiet-1')",
    );
    assert_eq!(
        common::run_once(&t, Some(tenant), &Categorize::default())
            .await
            .state,
        "succeeded"
    );
    let fixed = common::run_once(
        &t,
        Some(tenant),
        &DqCheck {
            as_of: day("2026-04-18"),
            gate: true,
        },
    )
    .await;
    assert_eq!(
        (fixed.state.as_str(), fixed.attempt.as_str()),
        ("succeeded", "succeeded"),
        "{:?}",
        open(&mut conn)
    );
    assert_eq!(open(&mut conn), baseline);
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM dq_findings WHERE status = 'resolved' AND resolved_at IS NOT NULL"
        ),
        10
    );

    // The cron's fan-out: one run per active tenant.
    common::tenant(&t, "other");
    let all = common::run_once(&t, None, &DqAll {}).await;
    assert_eq!(all.state, "succeeded", "{all:?}");
    assert_eq!(all.result.unwrap()["tenants"], 2);
    common::finish(t, running).await;
}
