//! Cash-flow forecast: per account and for the tenant's total, the daily projected balance
//! of the next days with p10/p50/p90 bands.
//!
//! - [`recurring`] finds the recurring series of each account (salary, rent, subscriptions,
//!   utilities, transfers) and [`cadence`] places them on their calendar;
//! - [`card`] turns card statements into bills on their due dates, on the card and on the
//!   account that pays them, and keeps the payments from being counted twice;
//! - [`residual`] models what is left, day to day, and makes the bands;
//! - [`model`] assembles them: pure functions, history in and forecast out, which the
//!   benchmark (`ops/bench/forecast`) and the tests call directly;
//! - [`run`] is the `forecast` job's database side: it reads the inputs, refuses to forecast
//!   over an open critical data-quality finding, and stores the runs.
//!
//! Jobs: `forecast` (one tenant) and `forecast_all` (the cron's: one `forecast` per active
//! tenant). This module never sends anything; the daily summary reads the stored runs.

#[cfg(any(test, feature = "testing"))]
pub mod books;
pub mod cadence;
pub mod card;
pub mod model;
pub mod recurring;
pub mod residual;
mod run;
#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::NaiveDate;
use findash_engine::{Job, JobContext, JobResult, Queue};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use model::METHOD_VERSION;

/// The longest horizon a forecast may have, days (`forecasts.horizon_days` allows no more).
pub const MAX_HORIZON_DAYS: u32 = 730;
/// The horizon when neither the job nor the configuration names one.
pub const DEFAULT_HORIZON_DAYS: u32 = 90;
/// Days of history a forecast reads: two years and a month, so a yearly series shows twice.
pub const HISTORY_DAYS: u64 = 760;

/// How the forecast jobs are set up (`FORECAST_HORIZON_DAYS`), given to the registry.
#[derive(Debug, Clone, Copy)]
pub struct ForecastSettings {
    pub horizon_days: u32,
}

/// A horizon in days, 1 to [`MAX_HORIZON_DAYS`]; anything else is refused when the payload is
/// read (at enqueue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct HorizonDays(u32);

impl HorizonDays {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for HorizonDays {
    type Error = String;

    fn try_from(days: u32) -> Result<HorizonDays, String> {
        if (1..=MAX_HORIZON_DAYS).contains(&days) {
            Ok(HorizonDays(days))
        } else {
            Err(format!(
                "horizon_days must be 1 to {MAX_HORIZON_DAYS}, not {days}"
            ))
        }
    }
}

impl From<HorizonDays> for u32 {
    fn from(days: HorizonDays) -> u32 {
        days.0
    }
}

/// Forecasts one tenant: `{"as_of": "YYYY-MM-DD", "horizon_days": N}`, both optional (the
/// tenant's today; the configured horizon). The daily pipeline enqueues it with `as_of`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forecast {
    /// The last day of history; the forecast starts the day after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_days: Option<HorizonDays>,
}

impl Job for Forecast {
    const KIND: &'static str = "forecast";
    const QUEUE: Queue = Queue::Forecast;
    const TIMEOUT: Duration = Duration::from_secs(10 * 60);
    const CHANGES_DASHBOARD: bool = true;

    /// One forecast per tenant and day when the day is named (the pipeline and the cron name
    /// it); an unnamed day is "now" and always runs.
    fn idempotency_key(&self) -> Option<String> {
        self.as_of.map(|day| format!("forecast:{day}"))
    }

    async fn run(self, ctx: JobContext) -> JobResult {
        let configured = ctx.state::<ForecastSettings>()?.horizon_days;
        let horizon = self.horizon_days.map_or(configured, HorizonDays::get);
        let as_of = match self.as_of {
            Some(day) => day,
            None => {
                ctx.tenant_db(|scope| Ok(findash_schema::tenants::local_today_in(scope)?))
                    .await?
            }
        };
        run::forecast(&ctx, as_of, horizon).await
    }
}

/// From the `forecast` schedule: a `forecast` of today (UTC) for every active tenant. Payload
/// `{}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastAll {}

impl Job for ForecastAll {
    const KIND: &'static str = "forecast_all";
    const QUEUE: Queue = Queue::Forecast;
    const CHANGES_DASHBOARD: bool = false;

    async fn run(self, ctx: JobContext) -> JobResult {
        let enqueued = ctx
            .enqueue_per_tenant(|_, today| Forecast {
                as_of: Some(today),
                horizon_days: None,
            })
            .await?;
        Ok(json!({ "tenants": enqueued }))
    }
}
