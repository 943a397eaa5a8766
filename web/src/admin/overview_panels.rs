//! The overview's panels: the figures at the top, the rows of each table and the one-line
//! summary, each built from what the overview read. Pure functions of their inputs and `now`.

use chrono::{DateTime, Utc};
use findash_engine::ledger::{QueueDepth, RateLimitWait};
use findash_schema::dashboard::FRESHNESS_OBJECTIVE;
use findash_schema::dq::TenantFinding;
use findash_schema::sync::{ConnectionFreshness, FreshnessCounts};

use super::view;

/// A figure at the top of the overview, linking to where to look next.
pub struct Card {
    pub title: &'static str,
    pub figure: String,
    pub detail: String,
    pub href: String,
    /// Drawn with the alert border: something needs a person.
    pub alert: bool,
}

pub struct QueueRow {
    pub name: String,
    pub href: String,
    pub ready: i64,
    pub oldest: String,
    pub scheduled: i64,
    pub running: i64,
    pub retrying: i64,
    pub dead: i64,
    pub quarantined: i64,
    pub workers: String,
}

pub struct WaitRow {
    pub queue: String,
    pub kind: String,
    pub href: String,
    pub jobs: i64,
    pub waiting_for: String,
    pub since: String,
    pub since_at: String,
    pub next_try: String,
    pub most_deferrals: i64,
}

pub struct FindingRow {
    pub tenant: String,
    pub href: String,
    pub check: String,
    pub subject: String,
    pub message: String,
    pub open_for: String,
    pub first_seen: String,
    pub first_seen_at: String,
}

pub struct StaleRow {
    pub tenant: String,
    pub href: String,
    pub provider: String,
    pub connection: String,
    pub status: String,
    pub last_sync: String,
    pub last_sync_at: String,
    pub age: String,
    pub last_error: String,
}

pub(super) fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(super) fn jobs_href(pairs: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/admin/jobs?{query}")
}

/// The live workers per queue, or why they are unknown.
pub type Workers = Result<Vec<(String, usize)>, String>;

/// One row per queue, with its live workers.
pub fn queue_rows(depths: &[QueueDepth], workers: &Workers, now: DateTime<Utc>) -> Vec<QueueRow> {
    let workers_of = |queue: &str| -> Option<usize> {
        workers
            .as_ref()
            .ok()
            .and_then(|w| w.iter().find(|(q, _)| q == queue).map(|(_, n)| *n))
    };
    depths
        .iter()
        .map(|d| QueueRow {
            name: d.queue.clone(),
            href: jobs_href(&[("queue", &d.queue)]),
            ready: d.ready,
            oldest: d
                .oldest_ready_at
                .map(|t| view::span((now - t).num_seconds()))
                .unwrap_or_else(|| "—".to_owned()),
            scheduled: d.scheduled,
            running: d.running,
            retrying: d.retrying,
            dead: d.dead,
            quarantined: d.quarantined,
            workers: workers_of(&d.queue).map_or_else(|| "?".to_owned(), |n| n.to_string()),
        })
        .collect()
}

/// Jobs waiting on a rate limit, by queue and kind.
pub fn wait_rows(waits: &[RateLimitWait], now: DateTime<Utc>) -> Vec<WaitRow> {
    waits
        .iter()
        .map(|w| WaitRow {
            queue: w.queue.clone(),
            kind: w.kind.clone(),
            href: jobs_href(&[("state", "queued"), ("queue", &w.queue), ("kind", &w.kind)]),
            jobs: w.jobs,
            waiting_for: view::span((now - w.waiting_since).num_seconds()),
            since: view::timestamp(&w.waiting_since),
            since_at: w.waiting_since.to_rfc3339(),
            next_try: view::relative(&w.next_try_at, now),
            most_deferrals: w.most_deferrals,
        })
        .collect()
}

/// Open critical findings, each linking to its tenant's checks.
pub fn finding_rows(findings: &[TenantFinding], now: DateTime<Utc>) -> Vec<FindingRow> {
    findings
        .iter()
        .map(|f| FindingRow {
            tenant: f.tenant_slug.clone(),
            href: jobs_href(&[("kind", "dq_check"), ("tenant", &f.tenant_slug)]),
            check: f.finding.check_name.clone(),
            subject: match &f.finding.subject_id {
                Some(id) => format!("{} {id}", f.finding.subject_type),
                None => f.finding.subject_type.clone(),
            },
            message: f.finding.message.clone(),
            open_for: view::span((now - f.first_seen_at).num_seconds()),
            first_seen: view::timestamp(&f.first_seen_at),
            first_seen_at: f.first_seen_at.to_rfc3339(),
        })
        .collect()
}

/// Connections past the freshness objective.
pub fn stale_rows(stale: &[ConnectionFreshness], now: DateTime<Utc>) -> Vec<StaleRow> {
    stale
        .iter()
        .map(|c| StaleRow {
            tenant: c.tenant_slug.clone(),
            href: format!("/admin/freshness#connection-{}", c.connection_id),
            provider: c.provider.clone(),
            connection: c.connection_name.clone(),
            status: c.status.clone(),
            last_sync: c
                .last_successful_sync_at
                .map_or_else(|| "never".to_owned(), |t| view::relative(&t, now)),
            last_sync_at: c
                .last_successful_sync_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            age: view::span(c.age_seconds),
            last_error: c.last_error.clone().unwrap_or_default(),
        })
        .collect()
}

/// The figures the cards and the summary line are made of.
pub struct Totals<'a> {
    /// `the last hour`.
    pub window: &'static str,
    pub processed: i64,
    pub failed: i64,
    /// Dead and quarantined.
    pub dead: i64,
    pub ready: i64,
    pub running: i64,
    pub oldest_ready: Option<DateTime<Utc>>,
    pub workers: &'a Workers,
    pub waiting: i64,
    pub longest_wait: Option<DateTime<Utc>>,
    pub findings_open: i64,
    pub freshness: FreshnessCounts,
}

impl Totals<'_> {
    fn live_workers(&self) -> Option<usize> {
        self.workers
            .as_ref()
            .ok()
            .map(|w| w.iter().map(|(_, n)| n).sum())
    }
}

/// The figures at the top, each linking to where to look next.
pub fn cards(t: &Totals<'_>, now: DateTime<Utc>) -> Vec<Card> {
    let since = |at: DateTime<Utc>| view::span((now - at).num_seconds());
    let live_workers = t.live_workers();
    vec![
        Card {
            title: "Processed",
            figure: t.processed.to_string(),
            detail: format!("attempts that succeeded in {}", t.window),
            href: jobs_href(&[("state", "succeeded")]),
            alert: false,
        },
        Card {
            title: "Failed",
            figure: t.failed.to_string(),
            detail: format!("failed attempts in {}", t.window),
            href: jobs_href(&[("state", "retrying")]),
            alert: t.failed > 0,
        },
        Card {
            title: "Dead & quarantined",
            figure: t.dead.to_string(),
            detail: "jobs that will not run again by themselves".to_owned(),
            href: "/admin/dead".to_owned(),
            alert: t.dead > 0,
        },
        Card {
            title: "Backlog",
            figure: t.ready.to_string(),
            detail: match t.oldest_ready {
                Some(at) => format!(
                    "ready to run, oldest waiting {}; {} running",
                    since(at),
                    t.running
                ),
                None => format!("ready to run; {} running", t.running),
            },
            href: jobs_href(&[("state", "queued")]),
            alert: false,
        },
        Card {
            title: "Live workers",
            figure: live_workers.map_or_else(|| "?".to_owned(), |n| n.to_string()),
            detail: match t.workers {
                Ok(_) => "heartbeated in the last 30 s, all queues".to_owned(),
                Err(why) => why.clone(),
            },
            href: "#queues".to_owned(),
            alert: live_workers.is_none_or(|n| n == 0),
        },
        Card {
            title: "Rate-limit waits",
            figure: t.waiting.to_string(),
            detail: match t.longest_wait {
                Some(at) => format!(
                    "jobs deferred by a rate limit, longest waiting {}",
                    since(at)
                ),
                None => "jobs deferred by a rate limit".to_owned(),
            },
            href: "/admin/rate-limits".to_owned(),
            alert: t.waiting > 0,
        },
        Card {
            title: "Critical findings",
            figure: t.findings_open.to_string(),
            detail: "open data-quality findings; they block forecasts".to_owned(),
            href: "#findings".to_owned(),
            alert: t.findings_open > 0,
        },
        Card {
            title: "Stale connections",
            figure: t.freshness.stale_connections.to_string(),
            detail: format!(
                "of {} not synced within {}",
                t.freshness.connections,
                view::span(FRESHNESS_OBJECTIVE.num_seconds())
            ),
            href: "/admin/freshness".to_owned(),
            alert: t.freshness.stale_connections > 0,
        },
    ]
}

/// One line of what needs attention (what screen readers hear when it changes).
pub fn summary(t: &Totals<'_>) -> String {
    let mut attention = Vec::new();
    if t.failed > 0 {
        attention.push(format!(
            "{} in {}",
            plural(t.failed, "failed attempt", "failed attempts"),
            t.window
        ));
    }
    if t.dead > 0 {
        attention.push(format!("{} dead or quarantined", t.dead));
    }
    match t.live_workers() {
        Some(0) => attention.push("no live workers".to_owned()),
        None => attention.push("live workers unknown".to_owned()),
        Some(_) => {}
    }
    if t.waiting > 0 {
        attention.push(format!(
            "{} waiting on a rate limit",
            plural(t.waiting, "job", "jobs")
        ));
    }
    if t.findings_open > 0 {
        attention.push(plural(
            t.findings_open,
            "critical finding",
            "critical findings",
        ));
    }
    if t.freshness.stale_connections > 0 {
        attention.push(plural(
            t.freshness.stale_connections,
            "stale connection",
            "stale connections",
        ));
    }
    if attention.is_empty() {
        format!(
            "All clear: no failed attempts in {}, nothing dead, no critical findings, no stale connections.",
            t.window
        )
    } else {
        format!("Needs attention: {}.", attention.join(", "))
    }
}
