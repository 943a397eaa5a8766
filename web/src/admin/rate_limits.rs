//! Rate limits (`GET /admin/rate-limits`): the limits `RATE_LIMITS` configures (prefix → quota)
//! and the usage of every bucket in use, read from Redis without taking a token
//! (`Engine::rate_limit_buckets`). A bucket exists only while it is not full, so a limit with no
//! bucket listed is idle. Keys name a credential by fingerprint, never the credential itself.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use askama::Template;
use findash_engine::RATE_LIMIT_BUCKETS_LISTED;
use findash_engine::ratelimit::{Quota, Usage, prefix_of};

use super::AdminError;
use super::session::Operator;
use super::view::{self, Chrome};
use crate::http::AppState;

/// How long the page waits for Redis.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// `10 per 1 s`, `600 per 1 min`, `5 per 500 ms`.
fn quota_text(quota: &Quota) -> String {
    let period = if quota.period < Duration::from_secs(1) {
        format!("{} ms", quota.period.as_millis())
    } else {
        view::span(i64::try_from(quota.period.as_secs()).unwrap_or(i64::MAX))
    };
    format!("{} per {period}", quota.rate)
}

/// A wait shorter than a second, in milliseconds; longer ones as [`view::span`] does.
fn wait_text(wait: Duration) -> String {
    if wait.is_zero() {
        "now".to_owned()
    } else if wait < Duration::from_secs(1) {
        format!("in {} ms", wait.as_millis())
    } else {
        format!(
            "in {}",
            view::span(i64::try_from(wait.as_secs()).unwrap_or(i64::MAX))
        )
    }
}

pub struct LimitRow {
    pub prefix: String,
    pub quota: String,
    pub burst: u32,
    /// Buckets of this limit listed below.
    pub in_use: usize,
    /// Of those, how many have no request left right now.
    pub exhausted: usize,
}

pub struct BucketRow {
    pub key: String,
    pub prefix: String,
    pub available: u32,
    pub burst: u32,
    pub used: u32,
    pub badge: &'static str,
    pub full_in: String,
}

#[derive(Template)]
#[template(path = "admin/rate_limits.html")]
struct RateLimitsPage {
    chrome: Chrome,
    limits: Vec<LimitRow>,
    buckets: Vec<BucketRow>,
    truncated: bool,
    listed_max: usize,
    /// Why bucket usage is unknown (Redis did not answer).
    error: Option<String>,
}

fn bucket_row(usage: &Usage) -> BucketRow {
    let burst = usage.quota.burst.max(1);
    let available = usage.available.min(burst);
    BucketRow {
        key: usage.key.clone(),
        prefix: prefix_of(&usage.key).to_owned(),
        available,
        burst,
        used: burst - available,
        badge: if available == 0 { "limited" } else { "ok" },
        full_in: wait_text(usage.full_in),
    }
}

fn limit_rows(limits: &[(String, Quota)], buckets: &[BucketRow]) -> Vec<LimitRow> {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for bucket in buckets {
        let entry = counts.entry(bucket.prefix.as_str()).or_default();
        entry.0 += 1;
        if bucket.available == 0 {
            entry.1 += 1;
        }
    }
    limits
        .iter()
        .map(|(prefix, quota)| {
            let (in_use, exhausted) = counts.get(prefix.as_str()).copied().unwrap_or_default();
            LimitRow {
                prefix: prefix.clone(),
                quota: quota_text(quota),
                burst: quota.burst,
                in_use,
                exhausted,
            }
        })
        .collect()
}

/// `GET /admin/rate-limits`.
pub async fn page(
    operator: Operator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let read = tokio::time::timeout(REDIS_TIMEOUT, state.engine.rate_limit_buckets()).await;
    let (limits, in_use, error) = match read {
        Ok(Ok(found)) => (found.limits, found.in_use, None),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "rate-limit buckets not read");
            (
                state.engine.rate_limiter().limits(),
                Default::default(),
                Some("Redis did not answer: bucket usage is unknown.".to_owned()),
            )
        }
        Err(_) => (
            state.engine.rate_limiter().limits(),
            Default::default(),
            Some("Redis did not answer within 2 s: bucket usage is unknown.".to_owned()),
        ),
    };
    let buckets: Vec<BucketRow> = in_use.buckets.iter().map(bucket_row).collect();
    view::render(&RateLimitsPage {
        chrome: Chrome::new(&operator, "rate-limits"),
        limits: limit_rows(&limits, &buckets),
        buckets,
        truncated: in_use.truncated,
        listed_max: RATE_LIMIT_BUCKETS_LISTED,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(s: &str) -> Quota {
        match Quota::parse(s) {
            Ok(q) => q,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn quotas_and_waits_read_plainly() {
        assert_eq!(quota_text(&quota("10/1s")), "10 per 1 s");
        assert_eq!(quota_text(&quota("600/1m:20")), "600 per 1 min");
        assert_eq!(quota_text(&quota("5/500ms")), "5 per 500 ms");
        assert_eq!(wait_text(Duration::ZERO), "now");
        assert_eq!(wait_text(Duration::from_millis(250)), "in 250 ms");
        assert_eq!(wait_text(Duration::from_secs(90)), "in 1 min");
    }

    #[test]
    fn limits_count_their_buckets() {
        let q = quota("5/1s");
        let usage = |key: &str, available| Usage {
            key: key.to_owned(),
            available,
            quota: q,
            full_in: Duration::from_millis(600),
        };
        let buckets: Vec<BucketRow> = [usage("pluggy:a", 0), usage("pluggy:b", 3)]
            .iter()
            .map(bucket_row)
            .collect();
        assert_eq!(buckets[0].used, 5);
        assert_eq!(buckets[0].badge, "limited");
        assert_eq!(buckets[1].used, 2);
        let rows = limit_rows(
            &[("belvo".to_owned(), q), ("pluggy".to_owned(), q)],
            &buckets,
        );
        assert_eq!((rows[0].in_use, rows[0].exhausted), (0, 0));
        assert_eq!((rows[1].in_use, rows[1].exhausted), (2, 1));
    }
}
