//! Job types every deployment has: `noop` (smoke tests, benchmarks, fault drills) and `prune`
//! (ledger retention).

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Double, Text};
use findash_schema::SystemTask;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::JobContext;
use crate::job::{Job, JobError, JobResult};
use crate::queue::Queue;
use crate::registry::Registry;
use crate::retry::RetryPolicy;

/// Does nothing, slowly or badly on request: `sleep_ms` before finishing, fail the first
/// `fail_times` attempts, or panic.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noop {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_times: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panic: Option<bool>,
    /// Jobs sharing a key share a rate limit (drills of the limiter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_key: Option<String>,
}

impl Job for Noop {
    const KIND: &'static str = "noop";
    const QUEUE: Queue = Queue::Default;
    const MAX_ATTEMPTS: u32 = 5;
    const TIMEOUT: Duration = Duration::from_secs(600);

    fn retry_policy() -> RetryPolicy {
        // Drills should finish in seconds, not hours.
        RetryPolicy {
            initial: Duration::from_millis(500),
            multiplier: 2.0,
            max: Duration::from_secs(30),
            jitter: 0.2,
        }
    }

    fn rate_limit_key(&self) -> Option<String> {
        self.rate_limit_key.clone()
    }

    async fn run(self, ctx: JobContext) -> JobResult {
        if let Some(ms) = self.sleep_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if self.panic == Some(true) {
            panic!("noop asked to panic");
        }
        if let Some(times) = self.fail_times
            && ctx.attempt() <= times
        {
            return Err(JobError::retryable(anyhow::anyhow!(
                "noop asked to fail {times} time(s); this is attempt {}",
                ctx.attempt()
            )));
        }
        Ok(json!({ "attempt": ctx.attempt() }))
    }
}

/// Deletes final ledger rows older than the retention (`JOB_RETENTION_SUCCEEDED`,
/// `JOB_RETENTION_FAILED`) and old cron ticks, a thousand rows per statement so no statement
/// holds locks for long. A job that finished before the cutoff was created before it too, and
/// job ids are UUIDv7, so each statement walks a range of the primary key rather than the table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prune {}

impl Job for Prune {
    const KIND: &'static str = "prune";
    const QUEUE: Queue = Queue::Default;
    const MAX_ATTEMPTS: u32 = 3;

    async fn run(self, ctx: JobContext) -> JobResult {
        let succeeded = ctx.retention().0.as_secs_f64();
        let failed = ctx.retention().1.as_secs_f64();
        let mut deleted = 0_usize;
        for (states, age) in [
            ("{succeeded}", succeeded),
            ("{dead,cancelled,quarantined}", failed),
        ] {
            loop {
                if ctx.is_cancelled() {
                    return Err(JobError::retryable(anyhow::anyhow!("cancelled mid-prune")));
                }
                let created_before = id_floor(age);
                let n = ctx
                    .system_db(SystemTask::Prune, move |sys| {
                        Ok(diesel::sql_query(
                            "DELETE FROM jobs WHERE id IN ( \
                                 SELECT id FROM jobs WHERE id < $3 AND state = ANY($1::text[]) \
                                   AND finished_at < now() - make_interval(secs => $2) \
                                 ORDER BY id LIMIT 1000)",
                        )
                        .bind::<Text, _>(states)
                        .bind::<Double, _>(age)
                        .bind::<diesel::sql_types::Uuid, _>(created_before)
                        .execute(sys.conn())?)
                    })
                    .await?;
                deleted += n;
                if n < 1000 {
                    break;
                }
            }
        }
        let ticks = ctx
            .system_db(SystemTask::Prune, move |sys| {
                Ok(diesel::sql_query(
                    "DELETE FROM cron_ticks WHERE fire_at < now() - make_interval(secs => $1)",
                )
                .bind::<Double, _>(failed)
                .execute(sys.conn())?)
            })
            .await?;
        Ok(json!({ "jobs_deleted": deleted, "ticks_deleted": ticks }))
    }
}

/// The smallest UUIDv7 of the millisecond `age` seconds ago: every job created earlier has a
/// smaller id.
fn id_floor(age: f64) -> uuid::Uuid {
    let cutoff = chrono::Utc::now().timestamp_millis() - (age * 1000.0) as i64;
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(cutoff).unwrap_or(0), &[0; 10])
        .into_uuid()
}

/// Registers the built-in job types.
pub fn register(registry: Registry) -> Registry {
    registry.register::<Noop>().register::<Prune>()
}
