//! Shared helpers of the jobs' integration tests: an engine with this crate's job types on a
//! database of its own, providers pointed at local servers, tenants and connections, and a way
//! to run a job and see how its attempt ended.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use findash_engine::Job;
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::{Running, TestEngine, delete_namespace};
use findash_schema::testing::sql;
use findash_schema::{JobId, TenantId};
use serde_json::Value;

pub use findash_jobs::testing::{connection, tenant};

/// Providers at `base` (a local server) for every provider, with test credentials.
pub fn providers(base: &str) -> findash_jobs::ProvidersConfig {
    findash_jobs::testing::config(base).providers
}

/// An engine with every job type of this crate, its providers at `base`.
pub async fn engine(base: &str) -> TestEngine {
    let registry = findash_jobs::registry(&findash_jobs::testing::config(base)).unwrap();
    TestEngine::start(registry, |_| {}).await
}

/// How a job's latest attempt ended.
#[derive(Debug)]
pub struct Outcome {
    pub id: JobId,
    pub state: String,
    /// The latest attempt's outcome (`succeeded`, `retrying`, `deferred`, `failed`, ...).
    pub attempt: String,
    pub error: Option<String>,
    pub result: Option<Value>,
}

/// Enqueues `job` for `tenant` (a system job without one).
pub async fn enqueue<J: Job>(t: &TestEngine, tenant: Option<TenantId>, job: &J) -> JobId {
    t.engine
        .enqueue(tenant, job, EnqueueOptions::new(Trigger::new("cli", None)))
        .await
        .unwrap()
        .id
}

/// Waits until job `id` has `attempts` finished attempts (deferrals included).
pub async fn attempts(t: &TestEngine, id: JobId, attempts: i64) -> Outcome {
    let started = Instant::now();
    let mut conn = t.db.admin_conn();
    loop {
        let done = sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM job_attempts WHERE job_id = '{id}' AND outcome IS NOT NULL"
            ),
        );
        if done >= attempts {
            // The outcome transaction writes the attempt and the job together.
            let row = sql::text(
                &mut conn,
                &format!(
                    "SELECT json_build_object('state', j.state, 'attempt', a.outcome, 'error', a.error, 'result', j.result)::text AS value \
                     FROM jobs j JOIN job_attempts a ON a.job_id = j.id \
                     WHERE j.id = '{id}' AND a.outcome IS NOT NULL ORDER BY a.id DESC LIMIT 1"
                ),
            );
            let row: Value = serde_json::from_str(&row).unwrap();
            return Outcome {
                id,
                state: row["state"].as_str().unwrap().to_owned(),
                attempt: row["attempt"].as_str().unwrap().to_owned(),
                error: row["error"].as_str().map(str::to_owned),
                result: Some(row["result"].clone()).filter(|r| !r.is_null()),
            };
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "job {id} did not finish {attempts} attempt(s) in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `job` to the end of its first attempt.
pub async fn run_once<J: Job>(t: &TestEngine, tenant: Option<TenantId>, job: &J) -> Outcome {
    let id = enqueue(t, tenant, job).await;
    attempts(t, id, 1).await
}

/// Stops workers and deletes the test's Redis keys.
pub async fn finish(t: TestEngine, running: Running) {
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}
