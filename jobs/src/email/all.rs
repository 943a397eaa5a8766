//! `daily_summary_all`: the `daily-summary` cron's job (07:00 UTC). Enqueues one
//! `daily_summary` per active tenant for that tenant's yesterday in its own time zone; each
//! job's idempotency key (`daily_summary:<date>`) makes a rerun enqueue nothing new.

use findash_engine::{Job, JobContext, JobResult, Queue};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::DailySummary;

/// Enqueues every active tenant's daily summary of its yesterday.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailySummaryAll {}

impl Job for DailySummaryAll {
    const KIND: &'static str = "daily_summary_all";
    const QUEUE: Queue = Queue::Email;

    async fn run(self, ctx: JobContext) -> JobResult {
        let enqueued = ctx
            .enqueue_per_tenant(|_, today| DailySummary {
                date: today.pred_opt().unwrap_or(today),
            })
            .await?;
        Ok(json!({ "tenants": enqueued }))
    }
}
