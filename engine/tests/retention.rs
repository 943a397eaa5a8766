//! Retention: the `prune` job deletes final ledger rows past their age (30 days succeeded, 90
//! days dead, cancelled or quarantined), with their attempts, in batches, and old cron ticks;
//! everything else stays.

mod common;

use std::time::Duration;

use common::{registry, run, tenant, wait_count};
use findash_engine::builtin::Prune;
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::{TestEngine, delete_namespace};
use findash_schema::testing::sql;

/// Inserts `n` jobs of `state` created `created` ago and finished `finished` ago (SQL
/// intervals), with `label` in their payload and one attempt row each.
fn jobs(
    conn: &mut diesel::PgConnection,
    tenant: Option<&str>,
    label: &str,
    n: usize,
    state: &str,
    created: &str,
    finished: Option<&str>,
) {
    let tenant = tenant.map_or("NULL".to_owned(), |t| format!("'{t}'"));
    let finished = finished.map_or("NULL".to_owned(), |f| format!("now() - interval '{f}'"));
    sql::count(
        conn,
        &format!(
            "WITH i AS (INSERT INTO jobs (id, tenant_id, kind, queue, payload, state, attempts, runs, \
                                         max_attempts, run_at, created_at, started_at, finished_at) \
                 SELECT findash_uuid_v7(now() - interval '{created}'), {tenant}, 'noop', 'default', \
                        jsonb_build_object('label', '{label}'), '{state}', 1, 1, 5, \
                        now() - interval '{created}', now() - interval '{created}', \
                        now() - interval '{created}', {finished} \
                 FROM generate_series(1, {n}) RETURNING id, tenant_id, started_at, finished_at), \
                  a AS (INSERT INTO job_attempts (job_id, tenant_id, attempt, worker, started_at, \
                                                 finished_at, outcome) \
                 SELECT id, tenant_id, 1, 'w', started_at, coalesce(finished_at, started_at), 'failed' \
                 FROM i RETURNING 1) \
             SELECT count(*) AS n FROM a"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prune_deletes_final_jobs_past_their_retention_and_keeps_the_rest() {
    // The harness turns the hourly schedule off, so this prune is the only one.
    let t = TestEngine::start(registry(), |_| {}).await;
    let mut conn = t.db.admin_conn();
    let a = tenant(&mut conn, "a").to_string();
    // Gone: past retention. More than one batch of a thousand.
    jobs(
        &mut conn,
        None,
        "old-ok",
        1_500,
        "succeeded",
        "31 days",
        Some("31 days"),
    );
    jobs(
        &mut conn,
        Some(&a),
        "old-ok-tenant",
        3,
        "succeeded",
        "40 days",
        Some("31 days"),
    );
    jobs(
        &mut conn,
        None,
        "old-dead",
        2,
        "dead",
        "95 days",
        Some("91 days"),
    );
    jobs(
        &mut conn,
        None,
        "old-cancelled",
        1,
        "cancelled",
        "95 days",
        Some("91 days"),
    );
    jobs(
        &mut conn,
        Some(&a),
        "old-quarantined",
        1,
        "quarantined",
        "95 days",
        Some("91 days"),
    );
    // Kept: young enough, not final, or finished recently after an old start.
    jobs(
        &mut conn,
        None,
        "recent-ok",
        4,
        "succeeded",
        "10 days",
        Some("10 days"),
    );
    jobs(
        &mut conn,
        None,
        "long-retried",
        1,
        "succeeded",
        "45 days",
        Some("20 days"),
    );
    jobs(
        &mut conn,
        None,
        "dead-60",
        2,
        "dead",
        "60 days",
        Some("60 days"),
    );
    jobs(&mut conn, None, "pending", 1, "retrying", "100 days", None);
    sql::count(
        &mut conn,
        "WITH u AS (UPDATE jobs SET run_at = now() + interval '1 day' \
                    WHERE payload->>'label' = 'pending' RETURNING 1) SELECT count(*) AS n FROM u",
    );
    sql::count(
        &mut conn,
        "WITH t AS (INSERT INTO cron_ticks (schedule, fire_at, claimed_by) \
                    VALUES ('prune', now() - interval '91 days', 'old'), \
                           ('prune', now() - interval '1 day', 'new') RETURNING 1) \
         SELECT count(*) AS n FROM t",
    );

    let running = run(&t, 4);
    let job = t
        .engine
        .enqueue(
            None,
            &Prune::default(),
            EnqueueOptions::new(Trigger::new("cli", None)),
        )
        .await
        .unwrap();
    wait_count(
        &t,
        &format!(
            "SELECT count(*) AS n FROM jobs WHERE id = '{}' AND state = 'succeeded'",
            job.id
        ),
        1,
        Duration::from_secs(30),
    )
    .await;
    running.shutdown().await;

    assert_eq!(
        sql::text(
            &mut conn,
            &format!(
                "SELECT result::text AS value FROM jobs WHERE id = '{}'",
                job.id
            )
        ),
        r#"{"jobs_deleted": 1507, "ticks_deleted": 1}"#
    );
    let left = sql::texts(
        &mut conn,
        "SELECT label || ' ' || n AS value FROM ( \
             SELECT payload->>'label' AS label, count(*) AS n FROM jobs \
             WHERE payload ? 'label' GROUP BY 1) kept ORDER BY 1",
    );
    assert_eq!(
        left,
        ["dead-60 2", "long-retried 1", "pending 1", "recent-ok 4"]
    );
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM job_attempts a WHERE NOT EXISTS \
             (SELECT FROM jobs j WHERE j.id = a.job_id)"
        ),
        0
    );
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM job_attempts a JOIN jobs j ON j.id = a.job_id \
             WHERE j.payload ? 'label'"
        ),
        8,
        "the attempts of the jobs kept stay"
    );
    assert_eq!(
        sql::texts(&mut conn, "SELECT claimed_by AS value FROM cron_ticks"),
        ["new"]
    );
    delete_namespace(&t.namespace).await;
}
