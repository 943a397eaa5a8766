//! `daily_summary`: one email per recipient about one day of the tenant's money, and the
//! alerts that day raises (see `alerts`).
//!
//! Payload (a contract: the daily pipeline enqueues it as its last step) `{"date":
//! "YYYY-MM-DD"}`, the day summarized; the cron's `daily_summary_all` passes each tenant's
//! yesterday in its own time zone. Idempotency key `daily_summary:<date>`; the emails' dedupe
//! keys (`daily_summary:<date>:<user>`) hold even for a second job of the same date under
//! another key: one summary per user per date.

use std::collections::HashMap;

use chrono::{DateTime, Duration as Span, NaiveDate, Utc};
use findash_engine::{Job, JobContext, JobResult, Queue};
use findash_schema::dashboard::{self, AccountBalance, ConnectionFreshness, Forecast};
use findash_schema::dq::{self, OpenFinding};
use findash_schema::email::{NewEmail, Recipient, Topic};
use findash_schema::summary::{self, DayFlow, LargeExpense, Profile, UpcomingBill};
use findash_schema::{JobId, TenantConn};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::locale::{format_date, format_money};
use super::templates::{
    BalanceLine, BillLine, ConnectionLine, FindingLine, FlowLine, LowPoint, SummaryHtml,
    SummaryText, SummaryView,
};
use super::{Mailer, alerts, outbox};

/// The outbox kind (and preference) of the summary.
pub const KIND: &str = "daily_summary";
/// How far ahead "upcoming bills" look.
const BILLS_DAYS: i32 = 14;
/// A connection whose last success is older than this is stale.
pub(super) const STALE_AFTER: Span = Span::hours(24);
/// Findings listed at most.
const FINDINGS_SHOWN: i64 = 20;

/// Summarizes `date` for the job's tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailySummary {
    pub date: NaiveDate,
}

impl Job for DailySummary {
    const KIND: &'static str = "daily_summary";
    const QUEUE: Queue = Queue::Email;

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("daily_summary:{}", self.date))
    }

    async fn run(self, ctx: JobContext) -> JobResult {
        let mailer = ctx.state::<Mailer>()?.clone();
        let cause = ctx.job_id();
        let date = self.date;
        let (summaries, alerts) = ctx
            .tenant_db(move |scope| {
                let day = Day::read(scope, date)?;
                let summaries = queue_summaries(scope, &day, &mailer, cause)?;
                let alerts = alerts::queue_alerts(scope, &day, &mailer, cause)?;
                Ok((summaries, alerts))
            })
            .await?;
        Ok(json!({ "date": date, "summaries_queued": summaries, "alerts_queued": alerts }))
    }
}

/// What one tenant's day looked like, read in one transaction.
pub(super) struct Day {
    pub profile: Profile,
    pub exponents: HashMap<String, u32>,
    pub date: NaiveDate,
    pub now: DateTime<Utc>,
    pub flows: Vec<DayFlow>,
    pub balances: Vec<AccountBalance>,
    pub bills: Vec<UpcomingBill>,
    pub forecast: Option<Forecast>,
    pub findings: Vec<OpenFinding>,
    pub connections: Vec<ConnectionFreshness>,
    pub large_expenses: Vec<LargeExpense>,
}

impl Day {
    fn read(scope: &mut TenantConn<'_>, date: NaiveDate) -> anyhow::Result<Day> {
        let profile = summary::profile(scope)?;
        let now = dashboard::calendar(scope)?.now;
        Ok(Day {
            exponents: findash_schema::banking::currency_exponents(scope)?,
            flows: summary::day_flows(scope, date)?,
            balances: dashboard::balances(scope, &profile.base_currency, date)?,
            bills: summary::upcoming_bills(scope, date, BILLS_DAYS)?,
            forecast: dashboard::latest_forecast(scope, None)?,
            findings: dq::open_findings(scope, Some(FINDINGS_SHOWN))?,
            connections: dashboard::connections_freshness(scope)?,
            large_expenses: summary::large_expenses(scope, date, alerts::LARGE_EXPENSE)?,
            profile,
            date,
            now,
        })
    }

    /// `minor` units of `currency` as the tenant writes them.
    pub fn money(&self, minor: i64, currency: &str) -> String {
        let exponent = self
            .exponents
            .get(currency)
            .and_then(|e| u8::try_from(*e).ok())
            .unwrap_or(2);
        format_money(minor, exponent, currency, &self.profile.locale)
    }

    pub fn day(&self, day: NaiveDate) -> String {
        format_date(day, &self.profile.locale)
    }

    pub fn instant(&self, at: DateTime<Utc>) -> String {
        format!("{} {} UTC", self.day(at.date_naive()), at.format("%H:%M"))
    }

    /// Connections whose latest sync failed, with their error.
    pub fn failed_connections(&self) -> impl Iterator<Item = &ConnectionFreshness> {
        self.connections.iter().filter(|c| latest_sync_failed(c))
    }

    fn view(&self) -> SummaryView {
        let failed = self
            .failed_connections()
            .map(|c| ConnectionLine {
                name: c.display_name.clone(),
                detail: match (&c.last_error, c.last_error_at) {
                    (Some(error), Some(at)) => format!("{error} (since {})", self.instant(at)),
                    (Some(error), None) => error.clone(),
                    _ => c.status.clone(),
                },
            })
            .collect();
        let stale = self
            .connections
            .iter()
            .filter(|c| !latest_sync_failed(c) && c.status != "disabled")
            .filter_map(|c| match c.last_successful_sync_at {
                None => Some(ConnectionLine {
                    name: c.display_name.clone(),
                    detail: "has never synced".to_owned(),
                }),
                Some(at) if self.now - at > STALE_AFTER => Some(ConnectionLine {
                    name: c.display_name.clone(),
                    detail: format!("last synced {}", self.instant(at)),
                }),
                Some(_) => None,
            })
            .collect();
        SummaryView {
            tenant_name: self.profile.name.clone(),
            date: self.day(self.date),
            flows: self
                .flows
                .iter()
                .map(|f| FlowLine {
                    currency: f.currency.clone(),
                    inflow: self.money(f.inflow_minor, &f.currency),
                    outflow: self.money(f.outflow_minor, &f.currency),
                    transactions: f.transactions,
                })
                .collect(),
            balances: self
                .balances
                .iter()
                .map(|b| BalanceLine {
                    name: b.name.clone(),
                    institution: b.institution.clone(),
                    amount: b
                        .balance_minor
                        .map_or_else(|| "—".to_owned(), |m| self.money(m, &b.currency)),
                })
                .collect(),
            bills: self
                .bills
                .iter()
                .map(|b| BillLine {
                    day: self.day(b.day),
                    label: b.label.clone(),
                    account: b.account_name.clone().unwrap_or_else(|| "—".to_owned()),
                    amount: self.money(b.amount_minor, &b.currency),
                })
                .collect(),
            low_point: self.forecast.as_ref().and_then(|f| {
                let low = f.points.iter().min_by_key(|p| (p.p50_minor, p.day))?;
                Some(LowPoint {
                    day: self.day(low.day),
                    p50: self.money(low.p50_minor, &f.run.currency),
                    p10: self.money(low.p10_minor, &f.run.currency),
                    data_as_of: f
                        .run
                        .data_as_of
                        .map_or_else(|| "unknown".to_owned(), |at| self.instant(at)),
                })
            }),
            forecast_on_hold: self.findings.iter().any(|f| f.severity == "critical"),
            findings: self
                .findings
                .iter()
                .map(|f| FindingLine {
                    severity: f.severity.clone(),
                    message: f.message.clone(),
                })
                .collect(),
            failed,
            stale,
        }
    }
}

/// The latest sync of `c` failed: an error newer than its last success (or no success yet).
fn latest_sync_failed(c: &ConnectionFreshness) -> bool {
    c.status != "disabled"
        && match (c.last_error_at, c.last_successful_sync_at) {
            (Some(error), Some(success)) => error > success,
            (Some(_), None) => true,
            (None, _) => matches!(c.status.as_str(), "error" | "reauth_required"),
        }
}

/// How an email greets its recipient.
pub(super) fn greeting(recipient: &Recipient) -> String {
    format!(
        "Hello {}",
        recipient
            .display_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&recipient.email)
    )
}

fn queue_summaries(
    scope: &mut TenantConn<'_>,
    day: &Day,
    mailer: &Mailer,
    cause: JobId,
) -> anyhow::Result<usize> {
    let view = day.view();
    let tenant = scope.tenant_id();
    let subject = format!("FinDash daily summary: {} — {}", day.profile.name, day.date);
    let mut queued = 0;
    for recipient in findash_schema::email::recipients(scope, Topic::DailySummary)? {
        let unsubscribe_url =
            mailer.unsubscribe_url(tenant, recipient.user_id, Topic::DailySummary);
        let greeting = greeting(&recipient);
        let text = SummaryText {
            view: &view,
            greeting: &greeting,
            unsubscribe_url: &unsubscribe_url,
        };
        let html = SummaryHtml {
            view: &view,
            greeting: &greeting,
            unsubscribe_url: &unsubscribe_url,
        };
        let email = NewEmail {
            user_id: recipient.user_id,
            kind: KIND.to_owned(),
            dedupe_key: format!("{KIND}:{}:{}", day.date, recipient.user_id),
            to_address: recipient.email.clone(),
            subject: subject.clone(),
            body_text: askama::Template::render(&text)?,
            body_html: askama::Template::render(&html)?,
        };
        if outbox::queue(scope, &email, cause)?.is_some() {
            queued += 1;
        }
    }
    Ok(queued)
}
