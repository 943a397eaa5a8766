//! The overview (`GET /admin`): what is failing, since when, and where the queues stand.
//!
//! The page wraps its live panels in an element htmx refreshes from `GET /admin/overview/live`
//! (the same panels without the frame) — every 5 s for the last hour, less often for the longer
//! windows, whose slices move slowly and whose reads cost more; without script the page shows
//! them as of its loading. The ledger reads live in the engine (`ledger::throughput`, which
//! says what counts as processed and as failed, `ledger::queue_depths`,
//! `ledger::rate_limit_waits`), findings and data ages in the schema crate; this module only
//! turns them into figures, words and charts.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, TimeDelta, Utc};
use findash_engine::ledger::{self, Buckets, QueueDepth, RateLimitWait, Throughput};
use findash_schema::dashboard::FRESHNESS_OBJECTIVE;
use findash_schema::dq::TenantFinding;
use findash_schema::sync::{ConnectionFreshness, FreshnessCounts};

use super::chart::{self, Caption, Chart, Point};
use super::overview_panels::{
    self as panels, Card, FindingRow, QueueRow, StaleRow, Totals, WaitRow, Workers,
};
use super::session::Operator;
use super::view::{self, Chrome};
use super::{AdminError, in_console};
use crate::http::AppState;

/// Rows of critical findings and of stale connections the overview lists (the counts are whole).
const LISTED: i64 = 10;

/// The span the throughput charts cover (`?window=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    Hour,
    Day,
    Week,
}

impl Window {
    const ALL: [Window; 3] = [Window::Hour, Window::Day, Window::Week];

    fn param(self) -> &'static str {
        match self {
            Window::Hour => "1h",
            Window::Day => "24h",
            Window::Week => "7d",
        }
    }

    fn tab(self) -> &'static str {
        match self {
            Window::Hour => "Last hour",
            Window::Day => "24 hours",
            Window::Week => "7 days",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Window::Hour => "the last hour",
            Window::Day => "the last 24 hours",
            Window::Week => "the last 7 days",
        }
    }

    /// How often the live panels refresh: a 1-minute slice moves every few seconds, a 2-hour
    /// one hardly within a minute, and a week of attempts is the most expensive read.
    fn refresh_seconds(self) -> u32 {
        match self {
            Window::Hour => 5,
            Window::Day => 30,
            Window::Week => 60,
        }
    }

    /// Slices of 1 minute, 15 minutes and 2 hours: about a hundred bars at most.
    fn buckets(self, now: DateTime<Utc>) -> Buckets {
        let (width, count) = match self {
            Window::Hour => (TimeDelta::minutes(1), 60),
            Window::Day => (TimeDelta::minutes(15), 96),
            Window::Week => (TimeDelta::hours(2), 84),
        };
        Buckets::ending_at(now, width, count)
    }

    fn slice_label(self, t: DateTime<Utc>) -> String {
        match self {
            Window::Week => t.format("%a %H:%M").to_string(),
            Window::Hour | Window::Day => t.format("%H:%M").to_string(),
        }
    }

    /// The `window` of a query string: absent means the last hour; anything unknown is a 400.
    fn from_query(query: &str) -> Result<Window, AdminError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| AdminError::BadRequest(format!("the address cannot be read: {e}")))?;
        let Some((_, value)) = pairs.iter().find(|(k, _)| k == "window") else {
            return Ok(Window::Hour);
        };
        Window::ALL
            .into_iter()
            .find(|w| w.param() == value)
            .ok_or_else(|| {
                AdminError::BadRequest(format!(
                    "there is no chart window {value:?}; choose 1h, 24h or 7d"
                ))
            })
    }
}

/// Attempts per minute in each slice: its count over the minutes it covers, which for the slice
/// still under way is the time elapsed so far (at least a minute, so a few seconds' worth is not
/// blown up into a rate).
fn per_minute(counts: &[i64], buckets: Buckets, now: DateTime<Utc>) -> Vec<f64> {
    let width = buckets.width.as_seconds_f64() / 60.0;
    counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let elapsed = (now - buckets.start(i)).as_seconds_f64() / 60.0;
            let minutes = elapsed.clamp(1.0_f64.min(width), width);
            // Exact: a count stays far below 2^53.
            n as f64 / minutes
        })
        .collect()
}

/// One series' figures: total, and the peak rate with the slice it happened in.
#[derive(Debug, Clone, PartialEq)]
struct Figures {
    total: i64,
    peak: f64,
    peak_at: Option<DateTime<Utc>>,
}

fn figures(counts: &[i64], rates: &[f64], buckets: Buckets) -> Figures {
    let peak = rates.iter().enumerate().filter(|(_, r)| **r > 0.0).fold(
        None,
        |best: Option<(usize, f64)>, (i, &r)| match best {
            Some((_, b)) if b >= r => best,
            _ => Some((i, r)),
        },
    );
    Figures {
        total: counts.iter().sum(),
        peak: peak.map_or(0.0, |(_, r)| r),
        peak_at: peak.map(|(i, _)| buckets.start(i)),
    }
}

/// One row of the figures table under the charts.
pub struct SeriesRow {
    pub name: &'static str,
    pub total: i64,
    pub peak: String,
    pub peak_at: String,
}

fn series(
    id: &'static str,
    name: &'static str,
    class: &'static str,
    counts: &[i64],
    window: Window,
    buckets: Buckets,
    now: DateTime<Utc>,
) -> (Chart, SeriesRow) {
    let rates = per_minute(counts, buckets, now);
    let f = figures(counts, &rates, buckets);
    let peak_at = f
        .peak_at
        .map(|t| format!("{} UTC", window.slice_label(t)))
        .unwrap_or_else(|| "—".to_owned());
    let desc = if f.total == 0 {
        format!("None in {}.", window.phrase())
    } else {
        format!(
            "{} in {}; peak {} per minute at {peak_at}.",
            f.total,
            window.phrase(),
            chart::number(f.peak),
        )
    };
    let points: Vec<Point> = rates
        .iter()
        .enumerate()
        .map(|(i, &value)| Point {
            value,
            label: format!("{} UTC", window.slice_label(buckets.start(i))),
        })
        .collect();
    let last = buckets.count.saturating_sub(1);
    let labels = [
        (0, window.slice_label(buckets.first)),
        (last / 2, window.slice_label(buckets.start(last / 2))),
        (last, "now".to_owned()),
    ];
    let chart = chart::bars(
        Caption {
            id,
            class,
            title: format!("{name} per minute over {}", window.phrase()),
            desc,
            unit: "per minute",
        },
        &points,
        &labels,
    );
    let row = SeriesRow {
        name,
        total: f.total,
        peak: chart::number(f.peak),
        peak_at,
    };
    (chart, row)
}

pub struct Tab {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// The live panels (`admin/overview_live.html`), everything precomputed.
pub struct Live {
    pub window_phrase: &'static str,
    /// `every 5 s`.
    pub refresh_phrase: String,
    pub updated: String,
    pub updated_at: String,
    /// One line of what needs attention: what the page announces to screen readers when it
    /// changes.
    pub summary: String,
    pub cards: Vec<Card>,
    pub charts: Vec<Chart>,
    pub series: Vec<SeriesRow>,
    pub queues: Vec<QueueRow>,
    pub workers_note: Option<String>,
    pub waits: Vec<WaitRow>,
    pub findings: Vec<FindingRow>,
    pub findings_open: i64,
    /// More are open than listed.
    pub findings_truncated: bool,
    pub stale: Vec<StaleRow>,
    pub stale_total: i64,
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    live_url: String,
    /// The htmx trigger that refreshes the live panels: `every 5s`.
    live_trigger: String,
    live: Live,
}

#[derive(Template)]
#[template(path = "admin/overview_live.html")]
struct LivePanels {
    live: Live,
}

/// What the overview reads from PostgreSQL, in one transaction.
struct Reading {
    throughput: Throughput,
    depths: Vec<QueueDepth>,
    waits: Vec<RateLimitWait>,
    findings: Vec<TenantFinding>,
    findings_open: i64,
    stale: Vec<ConnectionFreshness>,
    freshness: FreshnessCounts,
}

async fn read(state: &AppState, buckets: Buckets) -> Result<Reading, AdminError> {
    let objective = FRESHNESS_OBJECTIVE.num_seconds();
    in_console(state, move |sys| {
        let throughput = ledger::throughput(sys, buckets)?;
        let depths = ledger::queue_depths(sys)?;
        let waits = ledger::rate_limit_waits(sys)?;
        let (findings, findings_open) =
            findash_schema::dq::open_findings_everywhere(sys, "critical", LISTED)?;
        let stale = findash_schema::sync::connection_freshness(sys, Some(objective), LISTED)?;
        let freshness = findash_schema::sync::freshness_counts(sys, objective)?;
        Ok(Reading {
            throughput,
            depths,
            waits,
            findings,
            findings_open,
            stale,
            freshness,
        })
    })
    .await
}

/// Live workers per queue, or why they are unknown (Redis did not answer).
async fn workers(state: &AppState) -> Result<Vec<(String, usize)>, String> {
    match tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state
            .engine
            .live_workers_by_queue(crate::http::WORKER_SEEN_WITHIN),
    )
    .await
    {
        Ok(Ok(counts)) => Ok(counts
            .into_iter()
            .map(|(q, n)| (q.as_str().to_owned(), n))
            .collect()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "overview: live workers unknown");
            Err("unknown: Redis did not answer".to_owned())
        }
        Err(_) => Err("unknown: Redis did not answer within 2 s".to_owned()),
    }
}

fn live(reading: &Reading, workers: Workers, window: Window, now: DateTime<Utc>) -> Live {
    let buckets = reading.throughput.buckets;
    let (processed_chart, processed) = series(
        "chart-processed",
        "Processed",
        "bar-ok",
        &reading.throughput.processed,
        window,
        buckets,
        now,
    );
    let (failed_chart, failed) = series(
        "chart-failed",
        "Failed",
        "bar-fail",
        &reading.throughput.failed,
        window,
        buckets,
        now,
    );
    let depths = &reading.depths;
    let totals = Totals {
        window: window.phrase(),
        processed: processed.total,
        failed: failed.total,
        dead: depths.iter().map(|d| d.dead + d.quarantined).sum(),
        ready: depths.iter().map(|d| d.ready).sum(),
        running: depths.iter().map(|d| d.running).sum(),
        oldest_ready: depths.iter().filter_map(|d| d.oldest_ready_at).min(),
        workers: &workers,
        waiting: reading.waits.iter().map(|w| w.jobs).sum(),
        longest_wait: reading.waits.iter().map(|w| w.waiting_since).min(),
        findings_open: reading.findings_open,
        freshness: reading.freshness,
    };
    let findings = panels::finding_rows(&reading.findings, now);
    Live {
        window_phrase: window.phrase(),
        refresh_phrase: format!("every {} s", window.refresh_seconds()),
        updated: now.format("%H:%M:%S UTC").to_string(),
        updated_at: now.to_rfc3339(),
        summary: panels::summary(&totals),
        cards: panels::cards(&totals, now),
        charts: vec![processed_chart, failed_chart],
        series: vec![processed, failed],
        queues: panels::queue_rows(depths, &workers, now),
        waits: panels::wait_rows(&reading.waits, now),
        findings_truncated: reading.findings_open > i64::try_from(findings.len()).unwrap_or(0),
        findings,
        findings_open: reading.findings_open,
        stale: panels::stale_rows(&reading.stale, now),
        stale_total: reading.freshness.stale_connections,
        workers_note: workers.err(),
    }
}

async fn build(state: &AppState, window: Window) -> Result<Live, AdminError> {
    let now = Utc::now();
    let reading = read(state, window.buckets(now)).await?;
    let workers = workers(state).await;
    Ok(live(&reading, workers, window, now))
}

/// `GET /admin?window=1h|24h|7d`.
pub async fn page(
    operator: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let window = Window::from_query(req.query_string())?;
    let live = build(&state, window).await?;
    view::render(&OverviewPage {
        chrome: Chrome::new(&operator, "overview"),
        tabs: Window::ALL
            .into_iter()
            .map(|w| Tab {
                href: format!("/admin?window={}", w.param()),
                label: w.tab(),
                current: w == window,
            })
            .collect(),
        live_url: format!("/admin/overview/live?window={}", window.param()),
        live_trigger: format!("every {}s", window.refresh_seconds()),
        live,
    })
}

/// `GET /admin/overview/live?window=…`: the live panels alone, for htmx to swap in.
pub async fn live_panels(
    _: Operator,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let window = Window::from_query(req.query_string())?;
    let live = build(&state, window).await?;
    view::render(&LivePanels { live })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        match DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn windows_come_from_the_query() {
        assert_eq!(Window::from_query("").ok(), Some(Window::Hour));
        assert_eq!(Window::from_query("window=24h").ok(), Some(Window::Day));
        assert_eq!(Window::from_query("a=b&window=7d").ok(), Some(Window::Week));
        assert!(matches!(
            Window::from_query("window=bogus"),
            Err(AdminError::BadRequest(_))
        ));
        assert!(matches!(
            Window::from_query("window="),
            Err(AdminError::BadRequest(_))
        ));
    }

    #[test]
    fn rates_are_per_minute_of_the_time_each_slice_covers() {
        let now = at("2026-11-25T14:07:30Z");
        // Three 15-minute slices: two whole ones and the current one, 7.5 minutes in.
        let buckets = Buckets::ending_at(now, TimeDelta::minutes(15), 3);
        assert_eq!(buckets.first, at("2026-11-25T13:30:00Z"));
        let rates = per_minute(&[30, 0, 15], buckets, now);
        assert_eq!(rates, vec![2.0, 0.0, 2.0]);
        // Seconds into a slice count as a minute.
        let early = at("2026-11-25T14:00:10Z");
        let buckets = Buckets::ending_at(early, TimeDelta::minutes(15), 1);
        assert_eq!(per_minute(&[3], buckets, early), vec![3.0]);
        // One-minute slices are plain counts.
        let buckets = Buckets::ending_at(now, TimeDelta::minutes(1), 2);
        assert_eq!(per_minute(&[4, 1], buckets, now), vec![4.0, 1.0]);
    }

    #[test]
    fn the_peak_is_the_first_highest_slice() {
        let now = at("2026-11-25T14:07:30Z");
        let buckets = Buckets::ending_at(now, TimeDelta::minutes(1), 4);
        let counts = [1, 5, 5, 2];
        let f = figures(&counts, &per_minute(&counts, buckets, now), buckets);
        assert_eq!(f.total, 13);
        assert_eq!(f.peak, 5.0);
        assert_eq!(f.peak_at, Some(at("2026-11-25T14:05:00Z")));
        let none = figures(&[0, 0], &[0.0, 0.0], buckets);
        assert_eq!(none.peak_at, None);
    }

    #[test]
    fn the_failed_chart_says_what_it_shows() {
        let now = at("2026-11-25T14:07:30Z");
        let buckets = Window::Hour.buckets(now);
        let mut counts = vec![0; 60];
        counts[57] = 2;
        counts[59] = 1;
        let (chart, row) = series(
            "f",
            "Failed",
            "bar-fail",
            &counts,
            Window::Hour,
            buckets,
            now,
        );
        assert_eq!(chart.title, "Failed per minute over the last hour");
        assert_eq!(
            chart.desc,
            "3 in the last hour; peak 2 per minute at 14:05 UTC."
        );
        assert_eq!(chart.bars.len(), 2);
        assert_eq!(chart.bars[0].label, "14:05 UTC: 2 per minute");
        assert_eq!(row.total, 3);
        assert_eq!(row.peak_at, "14:05 UTC");
    }
}
