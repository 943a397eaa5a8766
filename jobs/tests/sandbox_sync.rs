//! The sync job on the sandbox provider, through the real engine, PostgreSQL and Redis: a first
//! sync stores the books, a second changes nothing, and a later one follows pending → posted
//! (in place, or under a new id with the pending one resolved) and a late correction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use findash_jobs::categorize::Categorize;
use findash_jobs::providers::sandbox::Sandbox;
use findash_jobs::sync::{SyncAccountJob, SyncConnection};
use findash_schema::testing::sql;
use serde_json::json;

/// Every stored fact of the tenant's books, with each row's version (`xmin`): equal snapshots
/// mean nothing was written, not only that the values match.
fn snapshot(conn: &mut diesel::PgConnection) -> Vec<String> {
    let mut rows = sql::texts(
        conn,
        "SELECT concat_ws('|', t.xmin, t.external_id, t.booked_date, t.amount_minor, t.status, \
                t.description, t.category_id, t.original_amount_minor, t.original_currency) AS value \
         FROM transactions t ORDER BY t.external_id",
    );
    rows.extend(sql::texts(
        conn,
        // An account's row changes with every pass (its sync position and freshness); its
        // facts must not.
        "SELECT concat_ws('|', external_id, kind, current_balance_minor, available_balance_minor, \
                credit_limit_minor, statement_balance_minor, statement_due_date, balance_as_of) AS value \
         FROM accounts ORDER BY external_id",
    ));
    rows.extend(sql::texts(
        conn,
        "SELECT concat_ws('|', xmin, day, category_id, inflow_minor, outflow_minor, transactions) AS value \
         FROM transaction_day_totals ORDER BY day, category_id",
    ));
    rows
}

/// The rows in one snapshot and not the other (a readable failure).
fn differences(a: &[String], b: &[String]) -> Vec<String> {
    let only = |x: &[String], y: &[String], sign: &str| {
        x.iter()
            .filter(|r| !y.contains(r))
            .map(|r| format!("{sign} {r}"))
            .collect::<Vec<_>>()
    };
    let mut d = only(a, b, "-");
    d.extend(only(b, a, "+"));
    d.truncate(20);
    d
}

fn set_as_of(conn: &mut diesel::PgConnection, as_of: &str) {
    sql::count(
        conn,
        &format!(
            "WITH u AS (UPDATE provider_connections SET settings = settings || '{{\"as_of\": \"{as_of}\"}}' RETURNING 1) \
             SELECT count(*) AS n FROM u"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sandbox_books_sync_idempotently_and_follow_pending_and_corrections() {
    let t = common::engine("http://127.0.0.1:9/").await;
    let running = t.run(4);
    let tenant = common::tenant(&t, "books");
    let settings = json!({ "seed": 7, "history_days": 120, "as_of": "2026-04-17" });
    let connection = common::connection(&t, tenant, "sandbox", "sbx", &settings);
    let sync = SyncConnection {
        connection_id: connection,
    };
    let mut conn = t.db.admin_conn();

    // First sync: the whole history.
    let first = common::run_once(&t, Some(tenant), &sync).await;
    assert_eq!(first.state, "succeeded", "{first:?}");
    let result = first.result.unwrap();
    let inserted = result["inserted"].as_i64().unwrap();
    assert_eq!(result["accounts"], 3);
    assert_eq!(result["updated"], 0);
    assert_eq!(
        inserted,
        sql::count(&mut conn, "SELECT count(*) AS n FROM transactions"),
        "{result}"
    );
    assert!(inserted > 300, "120 days of three accounts: {inserted}");

    // What the provider says is what is stored: balances (signed; the card owes), the card's
    // statement, every transaction's amount.
    let sandbox = Sandbox::from_settings("sbx", &settings).unwrap();
    for account in sandbox.accounts() {
        let stored = sql::text(
            &mut conn,
            &format!(
                "SELECT concat_ws('|', current_balance_minor, statement_balance_minor, credit_limit_minor) AS value \
                 FROM accounts WHERE external_id = '{}'",
                account.external_id
            ),
        );
        let minor = |d: Option<rust_decimal::Decimal>| {
            d.map(|d| {
                (d * rust_decimal::Decimal::from(100))
                    .to_string()
                    .replace(".00", "")
            })
        };
        let expected = [
            minor(account.current_balance),
            minor(account.statement_balance),
            minor(account.credit_limit),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("|");
        assert_eq!(stored, expected, "{}", account.external_id);
    }
    assert!(sql::flag(
        &mut conn,
        "SELECT current_balance_minor < 0 AND statement_balance_minor < 0 AS flag FROM accounts WHERE kind = 'credit_card'"
    ));
    assert_eq!(
        sql::text(
            &mut conn,
            "SELECT concat_ws('|', status, consecutive_failures, last_error IS NULL, last_successful_sync_at IS NOT NULL) AS value FROM provider_connections"
        ),
        "active|0|t|t"
    );
    // Pending: the last two days. A purchase in dollars keeps its original amount.
    assert!(sql::flag(
        &mut conn,
        "SELECT bool_and(booked_date >= DATE '2026-04-16') AS flag FROM transactions WHERE status = 'pending'"
    ));
    assert!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM transactions WHERE status = 'pending'"
        ) > 0
    );
    assert!(sql::flag(
        &mut conn,
        "SELECT count(*) >= 4 AND bool_and(original_currency = 'USD' AND original_amount_minor < 0 AND amount_minor < original_amount_minor) AS flag \
         FROM transactions WHERE description = 'AMAZON.COM US'"
    ));
    // Categorized as it was stored.
    for (description, slug) in [
        ("SALARIO ACME LTDA", "salary"),
        ("ALUGUEL IMOBILIARIA SOL", "rent"),
        ("VIVO FIBRA", "utilities"),
        ("PAGAMENTO FATURA CARTAO", "card_payment"),
        ("NETFLIX.COM", "subscriptions"),
    ] {
        assert_eq!(
            sql::texts(
                &mut conn,
                &format!(
                    "SELECT DISTINCT coalesce(c.slug, '-') AS value FROM transactions t \
                     LEFT JOIN categories c ON c.id = t.category_id WHERE t.description = '{description}'"
                )
            ),
            vec![slug.to_owned()],
            "{description}"
        );
    }

    // Second sync, same provider state: nothing is written.
    let before = snapshot(&mut conn);
    let second = common::run_once(&t, Some(tenant), &sync).await;
    assert_eq!(second.state, "succeeded", "{second:?}");
    let result = second.result.unwrap();
    assert_eq!(
        (result["inserted"].as_i64(), result["updated"].as_i64()),
        (Some(0), Some(0)),
        "{result}"
    );
    assert_eq!(result["resolved_pending"], 0);
    assert!(
        result["read"].as_i64().unwrap() > 0,
        "the overlap window is read again: {result}"
    );
    assert_eq!(
        differences(&before, &snapshot(&mut conn)),
        Vec::<String>::new(),
        "a second sync wrote something"
    );

    // A week later: yesterday's card purchases posted under the same id, checking debits under
    // a new one (their pending rows are resolved away), April's electricity bill was re-rated.
    let pending_card: Vec<String> = sql::texts(
        &mut conn,
        "SELECT t.external_id AS value FROM transactions t JOIN accounts a ON a.id = t.account_id \
         WHERE t.status = 'pending' AND a.kind = 'credit_card' ORDER BY 1",
    );
    let pending_checking = sql::count(
        &mut conn,
        "SELECT count(*) AS n FROM transactions t JOIN accounts a ON a.id = t.account_id \
         WHERE t.status = 'pending' AND a.kind = 'checking' AND t.amount_minor < 0",
    );
    let bill_before = sql::count(
        &mut conn,
        "SELECT amount_minor AS n FROM transactions WHERE description = 'ENEL DISTRIBUICAO SP' AND booked_date = DATE '2026-04-15'",
    );
    let bill_id = sql::text(
        &mut conn,
        "SELECT id::text AS value FROM transactions WHERE description = 'ENEL DISTRIBUICAO SP' AND booked_date = DATE '2026-04-15'",
    );
    set_as_of(&mut conn, "2026-04-24");
    let third = common::run_once(&t, Some(tenant), &sync).await;
    assert_eq!(third.state, "succeeded", "{third:?}");
    let result = third.result.unwrap();
    assert_eq!(
        result["resolved_pending"].as_i64().unwrap(),
        pending_checking,
        "{result}"
    );
    assert!(
        // The posted card purchases and the corrected bill, at least.
        result["updated"].as_i64().unwrap() > i64::try_from(pending_card.len()).unwrap(),
        "{result}"
    );
    for id in &pending_card {
        assert_eq!(
            sql::text(
                &mut conn,
                &format!("SELECT status AS value FROM transactions WHERE external_id = '{id}'")
            ),
            "posted"
        );
    }
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM transactions WHERE external_id LIKE '%-pending' AND booked_date < DATE '2026-04-23'"
        ),
        0
    );
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT amount_minor AS n FROM transactions WHERE description = 'ENEL DISTRIBUICAO SP' AND booked_date = DATE '2026-04-15'"
        ),
        bill_before + 1_234,
        "the correction updates the same row"
    );
    assert_eq!(
        sql::text(
            &mut conn,
            "SELECT id::text AS value FROM transactions WHERE description = 'ENEL DISTRIBUICAO SP' AND booked_date = DATE '2026-04-15'"
        ),
        bill_id
    );
    // The dashboard's day totals still equal the transactions they sum.
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM ( \
               (SELECT day, category_id, inflow_minor, outflow_minor, transactions FROM transaction_day_totals \
                EXCEPT SELECT booked_date, category_id, sum(greatest(amount_minor, 0)), sum(greatest(-amount_minor, 0)), count(*) \
                FROM transactions GROUP BY 1, 2) \
               UNION ALL \
               (SELECT booked_date, category_id, sum(greatest(amount_minor, 0)), sum(greatest(-amount_minor, 0)), count(*) \
                FROM transactions GROUP BY 1, 2 \
                EXCEPT SELECT day, category_id, inflow_minor, outflow_minor, transactions FROM transaction_day_totals)) d"
        ),
        0
    );

    // One account alone, and categorization again: nothing new to do.
    let checking: findash_schema::AccountId = sql::text(
        &mut conn,
        "SELECT id::text AS value FROM accounts WHERE kind = 'checking'",
    )
    .parse()
    .unwrap();
    let before = snapshot(&mut conn);
    let one = common::run_once(
        &t,
        Some(tenant),
        &SyncAccountJob {
            account_id: checking,
        },
    )
    .await;
    assert_eq!(one.state, "succeeded", "{one:?}");
    assert_eq!(one.result.as_ref().unwrap()["accounts"], 1);
    let categorized = common::run_once(&t, Some(tenant), &Categorize::default()).await;
    assert_eq!(categorized.state, "succeeded", "{categorized:?}");
    assert_eq!(
        categorized.result.as_ref().unwrap()["changed"],
        0,
        "{categorized:?}"
    );
    assert_eq!(
        differences(&before, &snapshot(&mut conn)),
        Vec::<String>::new()
    );

    common::finish(t, running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sandbox_is_deterministic_and_knows_its_recurring_series() {
    let settings = json!({ "seed": 3, "history_days": 400, "as_of": "2026-06-30" });
    let a = Sandbox::from_settings("x", &settings).unwrap();
    let b = Sandbox::from_settings("x", &settings).unwrap();
    let window = findash_jobs::providers::Window {
        since: a.first_day(),
        until: a.as_of(),
    };
    let page = |s: &Sandbox| s.transactions("x-card", window, None).unwrap();
    assert_eq!(page(&a), page(&b));
    // Another seed, other books.
    let other = Sandbox::from_settings(
        "x",
        &json!({ "seed": 4, "history_days": 400, "as_of": "2026-06-30" }),
    )
    .unwrap();
    assert_ne!(page(&a), page(&other));

    // Every series of the ground truth occurs on its calendar with its amount.
    let series = a.recurring_series();
    assert!(series.len() >= 12);
    let mut all = Vec::new();
    for account in ["x-checking", "x-savings", "x-card"] {
        let mut cursor = None;
        loop {
            let page = a.transactions(account, window, cursor.as_deref()).unwrap();
            for item in page.items {
                if let findash_jobs::providers::Item::Transaction(t) = item {
                    all.push((account.to_owned(), t));
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    for s in &series {
        let hits: Vec<_> = all
            .iter()
            .filter(|(account, t)| *account == s.account && t.description == s.description)
            .collect();
        let expected_min = match s.cadence {
            findash_jobs::providers::sandbox::Cadence::Weekly(_) => 50,
            findash_jobs::providers::sandbox::Cadence::Biweekly(_) => 25,
            findash_jobs::providers::sandbox::Cadence::Yearly { .. } => 1,
            _ => 12,
        };
        assert!(
            hits.len() >= expected_min,
            "{} occurs {} times",
            s.description,
            hits.len()
        );
        if let Some(amount) = s.amount {
            assert!(
                hits.iter().all(|(_, t)| t.amount == amount),
                "{}",
                s.description
            );
        }
    }
}

/// The tenant's books as facts only (no ids or row versions), to compare two tenants.
fn facts(conn: &mut diesel::PgConnection, tenant: findash_schema::TenantId) -> Vec<String> {
    sql::texts(
        conn,
        &format!(
            "SELECT concat_ws('|', a.external_id, t.external_id, t.booked_date, t.amount_minor, t.status, c.slug) AS value \
             FROM transactions t JOIN accounts a ON a.id = t.account_id LEFT JOIN categories c ON c.id = t.category_id \
             WHERE t.tenant_id = '{tenant}' ORDER BY 1"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_syncs_of_one_connection_at_once_store_the_books_once() {
    let t = common::engine("http://127.0.0.1:9/").await;
    let running = t.run(8);
    // Small pages: each pass takes many transactions, so the two overlap.
    let settings = json!({ "seed": 5, "history_days": 90, "as_of": "2026-02-10", "page_size": 7 });
    let alone = common::tenant(&t, "alone");
    let racing = common::tenant(&t, "racing");
    let reference = common::connection(&t, alone, "sandbox", "sbx", &settings);
    let contested = common::connection(&t, racing, "sandbox", "sbx", &settings);

    let once = common::run_once(
        &t,
        Some(alone),
        &SyncConnection {
            connection_id: reference,
        },
    )
    .await;
    assert_eq!(once.state, "succeeded", "{once:?}");
    let first = common::enqueue(
        &t,
        Some(racing),
        &SyncConnection {
            connection_id: contested,
        },
    )
    .await;
    let second = common::enqueue(
        &t,
        Some(racing),
        &SyncConnection {
            connection_id: contested,
        },
    )
    .await;
    let (a, b) = (
        common::attempts(&t, first, 1).await,
        common::attempts(&t, second, 1).await,
    );
    assert_eq!(
        (a.state.as_str(), b.state.as_str()),
        ("succeeded", "succeeded"),
        "{a:?} {b:?}"
    );
    let superseded = a.result.unwrap()["superseded"].as_i64().unwrap()
        + b.result.unwrap()["superseded"].as_i64().unwrap();
    eprintln!("passes superseded by the other sync: {superseded}");

    let mut conn = t.db.admin_conn();
    let expected = facts(&mut conn, alone);
    assert!(expected.len() > 100);
    assert_eq!(facts(&mut conn, racing), expected);
    common::finish(t, running).await;
}
