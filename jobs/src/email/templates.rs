//! The email templates (`jobs/templates/email/`, askama): a plain-text and an HTML body per
//! email. HTML templates escape every value; the views hold text that is already formatted
//! for the tenant's locale, so templates decide layout only.

use askama::Template;

/// One currency's flows of the day.
#[derive(Debug, Clone)]
pub struct FlowLine {
    pub currency: String,
    pub inflow: String,
    pub outflow: String,
    pub transactions: i64,
}

/// An account and its balance (`—` before its first sync).
#[derive(Debug, Clone)]
pub struct BalanceLine {
    pub name: String,
    pub institution: String,
    pub amount: String,
}

/// A payment expected soon.
#[derive(Debug, Clone)]
pub struct BillLine {
    pub day: String,
    pub label: String,
    pub account: String,
    pub amount: String,
}

/// The forecast's lowest projected balance.
#[derive(Debug, Clone)]
pub struct LowPoint {
    pub day: String,
    pub p50: String,
    pub p10: String,
    /// How old the forecast's data is (`unknown` without a date).
    pub data_as_of: String,
}

/// An open data-quality finding.
#[derive(Debug, Clone)]
pub struct FindingLine {
    pub severity: String,
    pub message: String,
}

/// A connection that needs attention and why.
#[derive(Debug, Clone)]
pub struct ConnectionLine {
    pub name: String,
    pub detail: String,
}

/// Everything the daily summary shows, formatted.
#[derive(Debug, Clone)]
pub struct SummaryView {
    pub tenant_name: String,
    pub date: String,
    pub flows: Vec<FlowLine>,
    pub balances: Vec<BalanceLine>,
    pub bills: Vec<BillLine>,
    pub low_point: Option<LowPoint>,
    /// A critical finding is open: the forecast waits until it is resolved.
    pub forecast_on_hold: bool,
    pub findings: Vec<FindingLine>,
    pub failed: Vec<ConnectionLine>,
    pub stale: Vec<ConnectionLine>,
}

#[derive(Template)]
#[template(path = "email/daily_summary.txt")]
pub struct SummaryText<'a> {
    pub view: &'a SummaryView,
    pub greeting: &'a str,
    pub unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/daily_summary.html")]
pub struct SummaryHtml<'a> {
    pub view: &'a SummaryView,
    pub greeting: &'a str,
    pub unsubscribe_url: &'a str,
}

/// One alert: a headline and the facts behind it.
#[derive(Debug, Clone)]
pub struct AlertView {
    pub tenant_name: String,
    pub headline: String,
    pub lines: Vec<String>,
}

#[derive(Template)]
#[template(path = "email/alert.txt")]
pub struct AlertText<'a> {
    pub view: &'a AlertView,
    pub greeting: &'a str,
    pub unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/alert.html")]
pub struct AlertHtml<'a> {
    pub view: &'a AlertView,
    pub greeting: &'a str,
    pub unsubscribe_url: &'a str,
}
