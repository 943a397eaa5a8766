//! `/metrics`: request counts and latency per route (the route's pattern, never the raw path,
//! so ids do not explode the label set), plus every metric of the engine.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use super::{ApiError, AppState};

pub struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    cache: IntCounterVec,
    exported: prometheus::IntCounter,
    webhooks: IntCounterVec,
}

impl HttpMetrics {
    pub fn new() -> Result<HttpMetrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "findash_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "findash_http_request_duration_seconds",
                "HTTP request latency by route and method",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route", "method"],
        )?;
        let cache = IntCounterVec::new(
            Opts::new(
                "findash_http_cache_total",
                "Cached dashboard views by view and result (hit, miss, bypass: Redis unavailable)",
            ),
            &["view", "result"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        let exported = prometheus::IntCounter::new(
            "findash_http_export_rows_total",
            "Transactions written to CSV exports",
        )?;
        registry.register(Box::new(cache.clone()))?;
        registry.register(Box::new(exported.clone()))?;
        let webhooks = IntCounterVec::new(
            Opts::new(
                "findash_webhooks_total",
                "Webhook deliveries by provider and outcome (accepted, duplicate, \
                 invalid_signature, malformed, too_large, rate_limited, disabled, unknown_kind, \
                 non_retryable, error)",
            ),
            &["provider", "outcome"],
        )?;
        registry.register(Box::new(webhooks.clone()))?;
        Ok(HttpMetrics {
            webhooks,
            registry,
            requests,
            duration,
            cache,
            exported,
        })
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.duration
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }

    pub fn exported_rows(&self, rows: usize) {
        self.exported
            .inc_by(u64::try_from(rows).unwrap_or(u64::MAX));
    }

    /// One webhook delivery's outcome.
    pub fn webhook(&self, provider: &str, outcome: &str) {
        self.webhooks.with_label_values(&[provider, outcome]).inc();
    }

    pub fn cache_result(&self, view: &str, result: &str) {
        self.cache.with_label_values(&[view, result]).inc();
    }
}

/// Prometheus text: HTTP requests per route, the engine's metrics, and the age of the FX rates.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
))]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut families = state.metrics.registry.gather();
    families.extend(state.engine.gather());
    families.extend(fx_rate_ages(&state).await);
    families.extend(account_data_ages(&state).await);
    // A labelled metric nothing has touched yet has no series; the text format rejects it.
    families.retain(|family| !family.get_metric().is_empty());
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    encoder
        .encode(&families, &mut body)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok()
        .content_type(encoder.format_type())
        .body(body))
}

/// How long ago each rate source published (`findash_fx_rates_age_days{source}`), read from the
/// database at scrape time so every replica reports it whatever process refreshed the rates. A
/// scrape does not wait for an unreachable database: the gauge is then left out.
async fn fx_rate_ages(state: &AppState) -> Vec<prometheus::proto::MetricFamily> {
    let db = state.db.clone();
    let today = chrono::Utc::now().date_naive();
    let read = web::block(
        move || -> Result<Vec<(String, i64)>, findash_schema::DbError> {
            let mut conn = db.conn()?;
            Ok(findash_schema::rates::ages(&mut conn, today)?)
        },
    );
    let ages = match tokio::time::timeout(Duration::from_secs(1), read).await {
        Ok(Ok(Ok(ages))) => ages,
        other => {
            tracing::debug!(outcome = ?other.map(|r| r.map(|r| r.err())), "FX rate ages not read");
            return Vec::new();
        }
    };
    let registry = Registry::new();
    let gauge = match prometheus::IntGaugeVec::new(
        Opts::new(
            "findash_fx_rates_age_days",
            "Days since the newest rate of each source (the ECB publishes on TARGET working days; over 4 is stale)",
        ),
        &["source"],
    ) {
        Ok(gauge) => gauge,
        Err(_) => return Vec::new(),
    };
    for (source, days) in ages {
        gauge.with_label_values(&[&source]).set(days);
    }
    if registry.register(Box::new(gauge)).is_err() {
        return Vec::new();
    }
    registry.gather()
}

/// Each active account's data age (`findash_account_data_age_seconds{tenant,account}`: seconds
/// since its last successful sync) and how many accounts are past the 24-hour freshness
/// objective (`findash_accounts_stale`), read at scrape time like the rate ages.
async fn account_data_ages(state: &AppState) -> Vec<prometheus::proto::MetricFamily> {
    let db = state.db.clone();
    let read = web::block(move || {
        db.system(findash_schema::SystemTask::Metrics, |sys| {
            Ok::<_, findash_schema::DbError>(findash_schema::sync::data_ages(sys)?)
        })
    });
    let ages = match tokio::time::timeout(Duration::from_secs(1), read).await {
        Ok(Ok(Ok(ages))) => ages,
        other => {
            tracing::debug!(outcome = ?other.map(|r| r.map(|r| r.err())), "account data ages not read");
            return Vec::new();
        }
    };
    let registry = Registry::new();
    let built = (|| -> Result<(), prometheus::Error> {
        let age = prometheus::IntGaugeVec::new(
            Opts::new(
                "findash_account_data_age_seconds",
                "Seconds since each active account's last successful sync (since it was created when it never synced)",
            ),
            &["tenant", "account"],
        )?;
        let stale = prometheus::IntGauge::new(
            "findash_accounts_stale",
            "Active accounts whose data is older than the 24-hour freshness objective",
        )?;
        for row in &ages {
            age.with_label_values(&[&row.tenant_id.to_string(), &row.account_id.to_string()])
                .set(row.seconds);
        }
        stale.set(
            i64::try_from(ages.iter().filter(|a| a.seconds > 24 * 3600).count())
                .unwrap_or(i64::MAX),
        );
        registry.register(Box::new(age))?;
        registry.register(Box::new(stale))?;
        Ok(())
    })();
    match built {
        Ok(()) => registry.gather(),
        Err(_) => Vec::new(),
    }
}
