//! The daily pipeline through the real engine, PostgreSQL and Redis: one run per tenant and day,
//! every step a job in the ledger, fan-in exactly once, a failing connection that does not hold
//! the others back and is named in the summary, and a critical finding that blocks the forecast
//! while the summary still goes out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use findash_jobs::pipeline::DailyPipeline;
use findash_schema::TenantId;
use findash_schema::testing::sql;
use serde_json::json;

fn exec(conn: &mut diesel::PgConnection, statement: &str) {
    sql::count(
        conn,
        &format!("WITH w AS ({statement} RETURNING 1) SELECT count(*) AS n FROM w"),
    );
}

fn user(conn: &mut diesel::PgConnection, tenant: TenantId, email: &str) {
    exec(
        conn,
        &format!(
            "INSERT INTO users (tenant_id, email, role) VALUES ('{tenant}', '{email}', 'admin')"
        ),
    );
}

/// Steps of the tenant's run as `step state`, fan-out children named by their connection.
fn steps(conn: &mut diesel::PgConnection, tenant: TenantId) -> Vec<String> {
    sql::texts(
        conn,
        &format!(
            "SELECT CASE WHEN c.id IS NULL THEN s.step ELSE 'sync:' || c.display_name END || ' ' || s.state AS value \
             FROM workflow_steps s JOIN workflow_runs r ON r.id = s.run_id \
             LEFT JOIN provider_connections c ON s.step = 'sync:' || c.id \
             WHERE r.tenant_id = '{tenant}' ORDER BY 1"
        ),
    )
}

async fn wait_finished(conn: &mut diesel::PgConnection, runs: i64) {
    let started = Instant::now();
    while sql::count(
        conn,
        "SELECT count(*) AS n FROM workflow_runs WHERE workflow = 'daily_pipeline' AND finished_at IS NOT NULL",
    ) < runs
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "runs did not finish: {:?}",
            sql::texts(
                conn,
                "SELECT step || ' ' || state AS value FROM workflow_steps ORDER BY 1"
            )
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_run_per_tenant_goes_past_a_failed_connection_and_stops_at_critical_findings() {
    let t = common::engine("http://127.0.0.1:9/").await;
    let running = t.run(8);
    let mut conn = t.db.admin_conn();

    // A: the sandbox's books, and an Open Finance connection without a token (its sync fails
    // for good at once).
    let a = common::tenant(&t, "alpha");
    user(&mut conn, a, "ana@alpha.test");
    common::connection(
        &t,
        a,
        "sandbox",
        "books",
        &json!({ "seed": 5, "history_days": 120 }),
    );
    common::connection(&t, a, "openfinance", "bank-a", &json!({}));
    exec(
        &mut conn,
        &format!(
            "UPDATE provider_connections SET display_name = CASE provider WHEN 'sandbox' THEN 'Sandbox' ELSE 'Banco Aberto' END \
             WHERE tenant_id = '{a}'"
        ),
    );
    // B: one connection whose earlier sync refused items in another currency than their
    // account's (critical: the account's flows miss them).
    let b = common::tenant(&t, "beta");
    user(&mut conn, b, "bob@beta.test");
    let old_bank = common::connection(&t, b, "openfinance", "bank-b", &json!({}));
    exec(
        &mut conn,
        &format!(
            "UPDATE provider_connections SET display_name = 'Old Bank' WHERE tenant_id = '{b}'"
        ),
    );
    exec(
        &mut conn,
        &format!(
            "INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency) \
             VALUES ('{b}', '{old_bank}', 'b-1', 'checking', 'Old Checking', 'Old Bank', 'BRL')"
        ),
    );
    exec(
        &mut conn,
        &format!(
            "INSERT INTO sync_rejections (tenant_id, account_id, external_id, reason, detail, raw) \
             SELECT '{b}', id, 'x-1', 'currency', 'USD on a BRL account', '{{}}' FROM accounts \
             WHERE external_id = 'b-1'"
        ),
    );

    let first = common::run_once(&t, None, &DailyPipeline {}).await;
    assert_eq!(first.state, "succeeded", "{first:?}");
    assert_eq!(
        first.result.unwrap(),
        json!({ "started": 2, "existing": 0 })
    );
    wait_finished(&mut conn, 2).await;

    // A: the failed connection is failed, everything else ran, once.
    assert_eq!(
        steps(&mut conn, a),
        [
            "categorize succeeded",
            "dq succeeded",
            "forecast succeeded",
            "summary succeeded",
            "sync succeeded",
            "sync:Banco Aberto failed",
            "sync:Sandbox succeeded",
        ]
    );
    assert_eq!(
        sql::text(
            &mut conn,
            &format!("SELECT state AS value FROM workflow_runs WHERE tenant_id = '{a}'")
        ),
        "failed",
        "a failed connection shows on the run"
    );
    for step in ["categorize", "dq", "forecast", "summary"] {
        assert_eq!(
            sql::count(
                &mut conn,
                &format!(
                    "SELECT count(*) AS n FROM jobs WHERE tenant_id = '{a}' AND workflow_step = '{step}'"
                )
            ),
            1,
            "{step} enqueued once"
        );
    }
    // The categorize step started after both syncs finished.
    assert!(sql::flag(
        &mut conn,
        &format!(
            "SELECT (SELECT created_at FROM jobs WHERE tenant_id = '{a}' AND workflow_step = 'categorize') \
                    >= (SELECT max(finished_at) FROM workflow_steps WHERE tenant_id = '{a}' AND step LIKE 'sync:%') AS flag"
        )
    ));
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM forecasts WHERE tenant_id = '{a}' AND account_id IS NULL"
            )
        ),
        1
    );
    let summary = sql::text(
        &mut conn,
        &format!(
            "SELECT body_text AS value FROM email_outbox WHERE tenant_id = '{a}' AND kind = 'daily_summary'"
        ),
    );
    assert!(summary.contains("Banco Aberto"), "{summary}");

    // B: the gate blocked the forecast; the summary still went out and says why.
    assert_eq!(
        steps(&mut conn, b),
        [
            "categorize succeeded",
            "dq blocked",
            "forecast blocked",
            "summary succeeded",
            "sync succeeded",
            "sync:Old Bank failed",
        ]
    );
    let reason = sql::text(
        &mut conn,
        &format!(
            "SELECT s.reason AS value FROM workflow_steps s JOIN workflow_runs r ON r.id = s.run_id \
             WHERE r.tenant_id = '{b}' AND s.step = 'dq'"
        ),
    );
    assert!(
        reason.starts_with("1 critical data-quality finding open: currency_mismatch (Old Checking"),
        "{reason}"
    );
    assert_eq!(
        sql::count(
            &mut conn,
            &format!("SELECT count(*) AS n FROM forecasts WHERE tenant_id = '{b}'")
        ),
        0
    );
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM jobs WHERE tenant_id = '{b}' AND kind = 'forecast'"
            )
        ),
        0,
        "a blocked step never runs"
    );
    let summary = sql::text(
        &mut conn,
        &format!(
            "SELECT body_text AS value FROM email_outbox WHERE tenant_id = '{b}' AND kind = 'daily_summary'"
        ),
    );
    assert!(summary.contains("forecast is on hold"), "{summary}");

    // Fixed, the gate is retried: it passes, and the run resumes with the forecast.
    exec(
        &mut conn,
        &format!("DELETE FROM sync_rejections WHERE tenant_id = '{b}'"),
    );
    let gate: findash_schema::JobId = sql::text(
        &mut conn,
        &format!(
            "SELECT j.id::text AS value FROM jobs j WHERE j.tenant_id = '{b}' AND j.workflow_step = 'dq'"
        ),
    )
    .parse()
    .unwrap();
    let retried = t
        .engine
        .act(gate, findash_engine::ledger::Action::Retry)
        .await
        .unwrap();
    assert!(
        matches!(
            retried,
            findash_engine::ledger::ActionResult::Applied { .. }
        ),
        "{retried:?}"
    );
    t.engine.notify().await;
    let started = Instant::now();
    while steps(&mut conn, b)
        .iter()
        .any(|s| s.starts_with("forecast ") && !s.ends_with("succeeded"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?}",
            steps(&mut conn, b)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        steps(&mut conn, b),
        [
            "categorize succeeded",
            "dq succeeded",
            "forecast succeeded",
            "summary succeeded",
            "sync succeeded",
            "sync:Old Bank failed",
        ]
    );
    wait_finished(&mut conn, 2).await;
    // A gate that passed is not retried: only a blocked one.
    assert!(matches!(
        t.engine
            .act(gate, findash_engine::ledger::Action::Retry)
            .await
            .unwrap(),
        findash_engine::ledger::ActionResult::NotApplicable { .. }
    ));

    // As a tenant's job it refuses: it would reach every tenant.
    let refused = common::run_once(&t, Some(a), &DailyPipeline {}).await;
    assert_eq!(refused.state, "dead", "{refused:?}");
    assert!(refused.error.unwrap().contains("runs only as a system job"));

    // The same day again: both runs exist, nothing new starts.
    let again = common::run_once(&t, None, &DailyPipeline {}).await;
    assert_eq!(
        again.result.unwrap(),
        json!({ "started": 0, "existing": 2 })
    );
    assert_eq!(
        sql::count(&mut conn, "SELECT count(*) AS n FROM workflow_runs"),
        2
    );
    common::finish(t, running).await;
}

#[test]
fn every_built_in_schedule_has_its_job_type_in_this_build() {
    let registry =
        findash_jobs::registry(&findash_jobs::testing::config("http://127.0.0.1:9/")).unwrap();
    let schedules = findash_engine::cron::default_schedules();
    assert_eq!(schedules.len(), 6);
    for schedule in schedules {
        assert!(
            registry.get(&schedule.job_kind).is_some(),
            "{schedule}: no job type, so the scheduler would leave it off"
        );
    }
}
