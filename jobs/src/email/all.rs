//! `daily_summary_all`: the `daily-summary` cron's job (07:00 UTC). Enqueues one
//! `daily_summary` per active tenant for that tenant's yesterday in its own time zone; each
//! job's idempotency key (`daily_summary:<date>`) makes a rerun enqueue nothing new.

use std::collections::HashMap;

use findash_engine::{Job, JobContext, JobResult, Queue};
use findash_schema::SystemTask;
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
        let yesterdays: HashMap<_, _> = ctx
            .system_db(SystemTask::Jobs, |sys| {
                Ok(findash_schema::tenants::active_yesterdays(sys)?)
            })
            .await?
            .into_iter()
            .collect();
        // A tenant activated since the read above gets the UTC calendar's yesterday.
        let fallback = chrono::Utc::now()
            .date_naive()
            .pred_opt()
            .unwrap_or_default();
        let enqueued = ctx
            .enqueue_per_tenant(move |tenant| DailySummary {
                date: yesterdays.get(&tenant).copied().unwrap_or(fallback),
            })
            .await?;
        Ok(json!({ "tenants": enqueued }))
    }
}
