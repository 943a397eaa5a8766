//! `refresh_rates`: the ECB's daily reference rates into `fx_rates` (source `ecb`, base EUR),
//! every 30 minutes by the `refresh-rates` schedule. The feed changes once per TARGET working
//! day around 16:00 CET, so most runs find the day they already stored and write nothing. A
//! feed more than [`STALE_AFTER_DAYS`] old is reported (result `stale: true`, a warning in the
//! log); the dashboard shows each rate's date, and conversions use the newest rate on or
//! before a day (`fx_rate`, migration `000008`).

pub mod ecb;

use std::time::Duration;

use chrono::Utc;
use findash_engine::{Job, JobContext, JobError, JobResult, Queue, RetryPolicy};
use findash_schema::{SystemTask, rates};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::providers::{Providers, REQUEST_TIMEOUT};

/// The source name of ECB rates in `fx_rates`.
pub const SOURCE: &str = "ecb";
/// A feed date older than this many days means the feed (or this job) is stuck.
pub const STALE_AFTER_DAYS: i64 = 4;

/// Fetches the ECB's daily rates and stores a new day.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRates {}

impl Job for RefreshRates {
    const KIND: &'static str = "refresh_rates";
    const QUEUE: Queue = Queue::Rates;
    const MAX_ATTEMPTS: u32 = 3;
    const TIMEOUT: Duration = Duration::from_secs(120);
    const CHANGES_DASHBOARD: bool = true;

    fn retry_policy() -> RetryPolicy {
        // The next scheduled run is 30 minutes away; retries fit well inside that.
        RetryPolicy {
            initial: Duration::from_secs(30),
            multiplier: 2.0,
            max: Duration::from_secs(300),
            jitter: 0.2,
        }
    }

    async fn run(self, ctx: JobContext) -> JobResult {
        let providers = ctx.state::<Providers>()?;
        let url = crate::providers::endpoint(
            "ecb",
            &providers.config.ecb_base_url,
            "eurofxref-daily.xml",
        )
        .map_err(JobError::permanent)?;
        let response = ctx
            .http()
            .get(url)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| JobError::retryable(anyhow::anyhow!("ECB feed: {}", e.without_url())))?;
        let text = response
            .text()
            .await
            .map_err(|e| JobError::retryable(anyhow::anyhow!("ECB feed: {}", e.without_url())))?;
        let feed =
            ecb::parse(&text).map_err(|e| JobError::retryable(anyhow::anyhow!("ECB feed: {e}")))?;

        let age_days = (Utc::now().date_naive() - feed.day).num_days();
        let stale = age_days > STALE_AFTER_DAYS;
        if stale {
            tracing::warn!(day = %feed.day, age_days, "the ECB feed is stale");
        }
        let day = feed.day;
        let written = ctx
            .system_db(SystemTask::Rates, move |sys| {
                if rates::latest_day(sys, SOURCE)?.is_some_and(|latest| latest >= day) {
                    return Ok(None);
                }
                Ok(Some(rates::upsert_day(
                    sys,
                    SOURCE,
                    "EUR",
                    day,
                    &feed.rates,
                )?))
            })
            .await?;
        Ok(match written {
            None => json!({ "day": day, "updated": false, "age_days": age_days, "stale": stale }),
            Some(w) => {
                if !w.unknown.is_empty() {
                    tracing::warn!(currencies = ?w.unknown, "ECB rates for unknown currencies skipped");
                }
                json!({
                    "day": day, "updated": true, "written": w.written,
                    "unknown_currencies": w.unknown, "age_days": age_days, "stale": stale,
                })
            }
        })
    }
}
