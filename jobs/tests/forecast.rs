//! The forecast jobs through the real engine, PostgreSQL and Redis, on a synced sandbox
//! connection: runs stored per account and for the total with their points and flows, the
//! freshness of their data, what the dashboard reads back; a critical data-quality finding
//! blocks the step and writes nothing, a warning annotates; a day is forecast once; the cron's
//! `forecast_all` enqueues one forecast per active tenant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use findash_jobs::forecast::{Forecast, ForecastAll, METHOD_VERSION};
use findash_jobs::sync::SyncConnection;
use findash_schema::testing::sql;
use serde_json::{Value, json};

fn finding(conn: &mut diesel::PgConnection, tenant: &str, check: &str, severity: &str) {
    sql::count(
        conn,
        &format!(
            "WITH i AS (INSERT INTO dq_findings (tenant_id, check_name, severity, subject_type, fingerprint, message) \
             VALUES ('{tenant}', '{check}', '{severity}', 'tenant', '{check}:{severity}', '{check} found a problem') RETURNING 1) \
             SELECT count(*) AS n FROM i"
        ),
    );
}

fn forecast_of(day: &str) -> Forecast {
    serde_json::from_value(json!({ "as_of": day })).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forecast_runs_are_stored_blocked_by_critical_findings_and_fanned_out() {
    let t = common::engine("http://127.0.0.1:9/").await;
    let running = t.run(4);
    let tenant = common::tenant(&t, "forecast");
    let settings = json!({ "seed": 5, "history_days": 400, "as_of": "2026-04-10" });
    let connection = common::connection(&t, tenant, "sandbox", "fc", &settings);
    let mut conn = t.db.admin_conn();
    let synced = common::run_once(
        &t,
        Some(tenant),
        &SyncConnection {
            connection_id: connection,
        },
    )
    .await;
    assert_eq!(synced.state, "succeeded", "{synced:?}");

    // A forecast of the sandbox's today.
    let job = forecast_of("2026-04-10");
    let first = common::run_once(&t, Some(tenant), &job).await;
    assert_eq!(
        (first.state.as_str(), first.attempt.as_str()),
        ("succeeded", "succeeded"),
        "{first:?}"
    );
    let result = first.result.clone().unwrap();
    assert_eq!(
        (result["runs"].as_i64(), result["accounts"].as_i64()),
        (Some(4), Some(3)),
        "{result}"
    );

    // One run per account in its currency and one total in the base currency, 90 days each,
    // from the 11th, stamped with the job and the method.
    assert_eq!(
        sql::texts(
            &mut conn,
            "SELECT concat_ws('|', coalesce(a.kind, 'total'), f.currency, f.starts_on, f.horizon_days, \
                    f.method_version, f.job_id IS NOT NULL, (SELECT count(*) FROM forecast_points p WHERE p.forecast_id = f.id)) AS value \
             FROM forecasts f LEFT JOIN accounts a ON a.id = f.account_id ORDER BY 1"
        ),
        ["checking", "credit_card", "savings", "total"]
            .map(|k| format!("{k}|BRL|2026-04-11|90|{METHOD_VERSION}|t|90"))
    );
    assert!(sql::flag(
        &mut conn,
        "SELECT bool_and(p10_minor <= p50_minor AND p50_minor <= p90_minor) AS flag FROM forecast_points"
    ));
    // Uncertain by the end of the horizon, every one of them.
    assert!(sql::flag(
        &mut conn,
        "SELECT bool_and(p10_minor < p90_minor) AS flag FROM forecast_points WHERE day = '2026-07-09'"
    ));
    // Each account's run starts from its balance; the total from their sum.
    assert!(sql::flag(
        &mut conn,
        "SELECT bool_and(f.starting_balance_minor = a.current_balance_minor) AS flag \
         FROM forecasts f JOIN accounts a ON a.id = f.account_id"
    ));
    assert!(sql::flag(
        &mut conn,
        "SELECT (SELECT starting_balance_minor FROM forecasts WHERE account_id IS NULL) \
              = (SELECT sum(current_balance_minor) FROM accounts) AS flag"
    ));
    // Freshness: each account's last sync; the total's is the oldest of them.
    assert!(sql::flag(
        &mut conn,
        "SELECT bool_and(f.data_as_of = a.last_successful_sync_at) AS flag \
         FROM forecasts f JOIN accounts a ON a.id = f.account_id"
    ));
    assert!(sql::flag(
        &mut conn,
        "SELECT (SELECT data_as_of FROM forecasts WHERE account_id IS NULL) \
              = (SELECT min(last_successful_sync_at) FROM accounts) AS flag"
    ));

    // Salary on the 5th or the Friday before (3 July 2026), rent on the 10th, on the checking
    // account's run and on the total's.
    let flows_of = |conn: &mut diesel::PgConnection, run: &str, label: &str| {
        sql::texts(
            conn,
            &format!(
                "SELECT concat_ws('|', fl.day, fl.source, fl.cadence, fl.amount_minor) AS value \
                 FROM forecast_flows fl JOIN forecasts f ON f.id = fl.forecast_id \
                 LEFT JOIN accounts a ON a.id = f.account_id \
                 WHERE coalesce(a.kind, 'total') = '{run}' AND fl.label = '{label}' ORDER BY fl.day"
            ),
        )
    };
    let salary = sql::count(
        &mut conn,
        "SELECT amount_minor AS n FROM transactions WHERE description = 'SALARIO ACME LTDA' LIMIT 1",
    );
    for run in ["checking", "total"] {
        assert_eq!(
            flows_of(&mut conn, run, "SALARIO ACME LTDA"),
            ["2026-05-05", "2026-06-05", "2026-07-03"]
                .map(|d| format!("{d}|recurring|monthly|{salary}")),
            "{run}"
        );
        assert_eq!(
            flows_of(&mut conn, run, "ALUGUEL IMOBILIARIA SOL"),
            ["2026-04-10", "2026-05-10", "2026-06-10", "2026-07-10"]
                .iter()
                .filter(|d| **d > "2026-04-10" && **d <= "2026-07-09")
                .map(|d| format!("{d}|recurring|monthly|-280000"))
                .collect::<Vec<_>>(),
            "{run}"
        );
    }
    // The card's statement is paid on its due date: into the card, out of the checking account.
    let statement = sql::count(
        &mut conn,
        "SELECT -statement_balance_minor AS n FROM accounts WHERE kind = 'credit_card'",
    );
    assert!(statement > 0);
    assert_eq!(
        flows_of(&mut conn, "credit_card", "Credit card bill")
            .first()
            .cloned(),
        Some(format!("2026-04-12|card_bill|statement|{statement}"))
    );
    assert_eq!(
        flows_of(&mut conn, "checking", "Credit card bill")
            .first()
            .cloned(),
        Some(format!("2026-04-12|card_bill|statement|{}", -statement))
    );
    assert!(
        flows_of(&mut conn, "checking", "PAGAMENTO FATURA CARTAO").is_empty(),
        "the bill counted twice"
    );
    let inputs: Value = serde_json::from_str(&sql::text(
        &mut conn,
        "SELECT f.inputs::text AS value FROM forecasts f JOIN accounts a ON a.id = f.account_id WHERE a.kind = 'checking'",
    ))
    .unwrap();
    assert!(inputs["transactions"].as_i64().unwrap() > 300, "{inputs}");
    assert!(
        inputs["series"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["label"] == "SALARIO ACME LTDA"
                && s["cadence"] == "monthly"
                && s["estimated"] == false),
        "{inputs}"
    );

    // What the dashboard reads is this run.
    let latest = t
        .engine
        .db()
        .tenant(tenant, |scope| {
            Ok::<_, findash_schema::DbError>(findash_schema::dashboard::latest_forecast(
                scope, None,
            )?)
        })
        .unwrap()
        .unwrap();
    assert_eq!(latest.points.len(), 90);
    assert_eq!(latest.run.account_id, None);
    assert_eq!(
        latest.run.id.to_string(),
        sql::text(
            &mut conn,
            "SELECT id::text AS value FROM forecasts WHERE account_id IS NULL"
        )
    );

    // The same day again is the same job: nothing new is stored.
    let again = common::enqueue(&t, Some(tenant), &job).await;
    assert_eq!(again, first.id);
    assert_eq!(
        sql::count(&mut conn, "SELECT count(*) AS n FROM forecasts"),
        4
    );

    // A warning annotates the next run.
    finding(
        &mut conn,
        &tenant.to_string(),
        "stale_connection",
        "warning",
    );
    let warned = common::run_once(&t, Some(tenant), &forecast_of("2026-04-09")).await;
    assert_eq!(warned.state, "succeeded", "{warned:?}");
    assert_eq!(
        sql::count(&mut conn, "SELECT count(*) AS n FROM forecasts"),
        8
    );
    assert_eq!(
        sql::texts(
            &mut conn,
            "SELECT DISTINCT w->>'check_name' AS value FROM forecasts f, jsonb_array_elements(f.inputs->'warnings') w \
             WHERE f.starts_on = '2026-04-10'"
        ),
        ["stale_connection"]
    );
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM forecasts WHERE starts_on = '2026-04-10' AND jsonb_array_length(inputs->'warnings') = 1"
        ),
        4
    );

    // A critical finding blocks the step: nothing is written.
    finding(
        &mut conn,
        &tenant.to_string(),
        "balance_continuity",
        "critical",
    );
    let blocked = common::run_once(&t, Some(tenant), &forecast_of("2026-04-08")).await;
    assert_eq!(blocked.attempt, "blocked", "{blocked:?}");
    let reason = blocked.result.unwrap()["blocked"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.starts_with("1 critical data-quality finding open: balance_continuity ("),
        "{reason}"
    );
    assert_eq!(
        sql::count(&mut conn, "SELECT count(*) AS n FROM forecasts"),
        8
    );

    // The cron's job: one forecast of today per active tenant, once.
    let empty = common::tenant(&t, "forecast-empty");
    let active = sql::count(
        &mut conn,
        "SELECT count(*) AS n FROM tenants WHERE status = 'active'",
    );
    assert!(active >= 2);
    let all = common::run_once(&t, None, &ForecastAll {}).await;
    assert_eq!(all.state, "succeeded", "{all:?}");
    assert_eq!(all.result.unwrap()["tenants"].as_i64(), Some(active));
    let today = chrono::Utc::now().date_naive();
    let key = format!("forecast:{today}");
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(DISTINCT tenant_id) AS n FROM jobs WHERE kind = 'forecast' AND idempotency_key = '{key}' \
                 AND trigger_kind = 'job' AND trigger_ref = '{}'",
                all.id
            )
        ),
        active
    );
    // A tenant without accounts succeeds and says so.
    let empty_job = sql::text(
        &mut conn,
        &format!(
            "SELECT id::text AS value FROM jobs WHERE kind = 'forecast' AND tenant_id = '{empty}' AND idempotency_key = '{key}'"
        ),
    );
    let outcome = common::attempts(&t, empty_job.parse().unwrap(), 1).await;
    assert_eq!(outcome.state, "succeeded", "{outcome:?}");
    assert_eq!(outcome.result.unwrap()["accounts"], 0);
    // Run again (a caught-up tick): the same jobs.
    let rerun = common::run_once(&t, None, &ForecastAll {}).await;
    assert_eq!(rerun.state, "succeeded");
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM jobs WHERE kind = 'forecast' AND idempotency_key = '{key}'"
            )
        ),
        active
    );

    common::finish(t, running).await;
}

#[test]
fn a_horizon_beyond_two_years_is_refused_when_read() {
    assert!(serde_json::from_value::<Forecast>(json!({ "horizon_days": 731 })).is_err());
    assert!(serde_json::from_value::<Forecast>(json!({ "horizon_days": 0 })).is_err());
    assert!(serde_json::from_value::<Forecast>(json!({ "as_of": "2026-13-01" })).is_err());
    assert!(serde_json::from_value::<Forecast>(json!({ "other": 1 })).is_err());
    let job: Forecast =
        serde_json::from_value(json!({ "as_of": "2026-04-10", "horizon_days": 30 })).unwrap();
    assert_eq!(
        findash_engine::Job::idempotency_key(&job).as_deref(),
        Some("forecast:2026-04-10")
    );
    assert_eq!(
        findash_engine::Job::idempotency_key(&Forecast::default()),
        None
    );
}
