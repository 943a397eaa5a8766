//! Bulk ingest for `ops/bench/ingest`: N sandbox transactions loaded by the real `sync_connection`
//! job (provider pages → exact conversion → categorization → multi-row upserts, with the
//! dashboard's day-totals triggers and row-level security), next to the same rows loaded with
//! `COPY` in the same run: into a bare scratch table (the physical floor) and into a scratch copy
//! of `transactions` with its indexes and checks (what the table's shape costs by itself).
//!
//! Prints a table on stderr and one JSON line on stdout. Uses a database of its own (cloned from
//! the migrated template) and a Redis namespace, both removed at the end.

use std::time::Instant;

use diesel::prelude::*;
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::{TestEngine, delete_namespace};
use findash_jobs::providers::sandbox::Sandbox;
use findash_jobs::providers::{Item, Window};
use findash_jobs::sync::SyncConnection;
use findash_schema::TenantId;
use findash_schema::testing::sql;
use serde_json::json;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Ten years of history; `daily_purchases` sets the volume.
const HISTORY_DAYS: u32 = 3_650;

diesel::table! {
    bench_copy (external_id) {
        tenant_id -> Uuid,
        account_id -> Uuid,
        external_id -> Text,
        booked_date -> Date,
        value_date -> Nullable<Date>,
        amount_minor -> Int8,
        currency -> Bpchar,
        original_amount_minor -> Nullable<Int8>,
        original_currency -> Nullable<Bpchar>,
        description -> Text,
        counterparty -> Nullable<Text>,
        provider_category -> Nullable<Text>,
        status -> Text,
        raw -> Jsonb,
    }
}

#[derive(Insertable)]
#[diesel(table_name = bench_copy, treat_none_as_default_value = false)]
struct Row {
    tenant_id: uuid::Uuid,
    account_id: uuid::Uuid,
    external_id: String,
    booked_date: chrono::NaiveDate,
    value_date: Option<chrono::NaiveDate>,
    amount_minor: i64,
    currency: String,
    original_amount_minor: Option<i64>,
    original_currency: Option<String>,
    description: String,
    counterparty: Option<String>,
    provider_category: Option<String>,
    status: String,
    raw: serde_json::Value,
}

fn arg(name: &str, default: usize) -> Result<usize, BoxError> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

/// Every transaction of the books, as `COPY` rows, and how long generating them took.
fn generate(sandbox: &Sandbox, name: &str, tenant: TenantId) -> Result<(Vec<Row>, f64), BoxError> {
    let started = Instant::now();
    let window = Window {
        since: sandbox.first_day(),
        until: sandbox.as_of(),
    };
    let mut rows = Vec::new();
    for suffix in ["checking", "savings", "card"] {
        let account = uuid::Uuid::now_v7();
        let mut cursor: Option<String> = None;
        loop {
            let page =
                sandbox.transactions(&format!("{name}-{suffix}"), window, cursor.as_deref())?;
            for item in page.items {
                let Item::Transaction(t) = item else { continue };
                rows.push(Row {
                    tenant_id: tenant.0,
                    account_id: account,
                    external_id: t.external_id,
                    booked_date: t.booked_date,
                    value_date: t.value_date,
                    amount_minor: i64::try_from(t.amount * rust_decimal::Decimal::from(100))?,
                    currency: "BRL".to_owned(),
                    original_amount_minor: t
                        .original
                        .as_ref()
                        .map(|(a, _)| i64::try_from(*a * rust_decimal::Decimal::from(100)))
                        .transpose()?,
                    original_currency: t.original.map(|(_, c)| c),
                    description: t.description,
                    counterparty: t.counterparty,
                    provider_category: t.provider_category,
                    status: t.status.as_str().to_owned(),
                    raw: t.raw,
                });
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok((rows, started.elapsed().as_secs_f64()))
}

/// Seconds to `COPY` `rows` (binary) into `bench_copy` made by `create`.
fn copy(conn: &mut PgConnection, create: &str, rows: &[Row]) -> Result<f64, BoxError> {
    diesel::sql_query("DROP TABLE IF EXISTS bench_copy").execute(conn)?;
    diesel::sql_query(create).execute(conn)?;
    diesel::sql_query("CHECKPOINT").execute(conn)?;
    let started = Instant::now();
    let n = diesel::copy_from(bench_copy::table)
        .from_insertable(rows)
        .execute(conn)?;
    let seconds = started.elapsed().as_secs_f64();
    if n != rows.len() {
        return Err(format!("COPY stored {n} of {} rows", rows.len()).into());
    }
    diesel::sql_query("DROP TABLE bench_copy").execute(conn)?;
    Ok(seconds)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let target = arg("--transactions", 1_000_000)?;
    let page_size = arg("--page-size", 2_000)?;
    // About one fixed or refund transaction a day besides the everyday purchases.
    let daily = (target / HISTORY_DAYS as usize).saturating_sub(1).max(1);
    let settings = json!({
        "seed": 42, "history_days": HISTORY_DAYS, "daily_purchases": daily,
        "as_of": "2026-11-01", "page_size": page_size,
    });

    // No provider is called: the sandbox generates the books.
    let registry = findash_jobs::registry(&findash_jobs::testing::config("http://127.0.0.1:9/"))?;
    let t = TestEngine::start(registry, |c| {
        c.redis_namespace = format!("findash-bench:ingest:{}", uuid::Uuid::new_v4().simple());
    })
    .await;
    let mut admin = t.db.admin_conn();
    let tenant = findash_jobs::testing::tenant(&t, "bench");
    let connection = findash_jobs::testing::connection(&t, tenant, "sandbox", "bench", &settings);

    let sandbox = Sandbox::from_settings("bench", &settings)?;
    let (rows, generate_seconds) = generate(&sandbox, "bench", tenant)?;
    let n = rows.len();
    eprintln!("bench: {n} sandbox transactions generated in {generate_seconds:.2} s");

    let bare = copy(
        &mut admin,
        "CREATE TABLE bench_copy (LIKE transactions INCLUDING DEFAULTS)",
        &rows,
    )?;
    let shaped = copy(
        &mut admin,
        "CREATE TABLE bench_copy (LIKE transactions INCLUDING ALL)",
        &rows,
    )?;
    drop(rows);
    eprintln!("bench: COPY {bare:.2} s bare, {shaped:.2} s with the table's indexes");

    diesel::sql_query("CHECKPOINT").execute(&mut admin)?;
    let running = t.run(4);
    let started = Instant::now();
    let job = t
        .engine
        .enqueue(
            Some(tenant),
            &SyncConnection {
                connection_id: connection,
            },
            EnqueueOptions::new(Trigger::new("cli", None)),
        )
        .await?;
    let state = loop {
        let state = sql::text(
            &mut admin,
            &format!("SELECT state AS value FROM jobs WHERE id = '{}'", job.id),
        );
        if !matches!(state.as_str(), "queued" | "running") {
            break state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let sync = started.elapsed().as_secs_f64();
    running.shutdown().await;
    let stored = sql::count(&mut admin, "SELECT count(*) AS n FROM transactions");
    if state != "succeeded" || usize::try_from(stored)? != n {
        return Err(format!("sync ended {state} with {stored} of {n} transactions").into());
    }
    let rate = |seconds: f64| n as f64 / seconds;
    eprintln!();
    eprintln!(
        "{:<44} {:>10} {:>14} {:>12}",
        "load", "seconds", "transactions/s", "vs COPY"
    );
    for (name, seconds) in [
        ("COPY into a bare scratch table", bare),
        ("COPY into a copy of transactions (indexes)", shaped),
        ("sync_connection (upserts, triggers, RLS)", sync),
    ] {
        eprintln!(
            "{:<44} {:>10.2} {:>14.0} {:>11.2}×",
            name,
            seconds,
            rate(seconds),
            rate(seconds) / rate(bare)
        );
    }
    println!(
        "{}",
        json!({
            "transactions": n,
            "page_size": page_size,
            "generate_seconds": generate_seconds,
            "copy_bare_per_sec": rate(bare).round(),
            "copy_indexed_per_sec": rate(shaped).round(),
            "sync_per_sec": rate(sync).round(),
            "ratio_vs_copy_bare": ((rate(sync) / rate(bare)) * 1000.0).round() / 1000.0,
            "ratio_vs_copy_indexed": ((rate(sync) / rate(shaped)) * 1000.0).round() / 1000.0,
        })
    );
    delete_namespace(&t.namespace).await;
    Ok(())
}
