//! Alerts, evaluated by `daily_summary` over the same day it summarizes, each an outbox email
//! with a stable dedupe key so it is sent once however often the job reruns:
//!
//! - `alert_low_balance`: the latest tenant-total forecast's pessimistic band (p10) goes below
//!   zero within its horizon. One per forecast run (`alert_low_balance:<forecast>:<user>`).
//! - `alert_sync_failing`: a connection's latest sync failed and its last success is more than
//!   24 hours old (or it never had one). One per connection per day
//!   (`alert_sync_failing:<connection>:<date>:<user>`).
//! - `alert_large_expense`: a posted debit of the day above both 5× the account's median
//!   absolute debit of the 90 days before and 500 whole units of its currency, on an account
//!   with at least 10 such debits. One per transaction
//!   (`alert_large_expense:<transaction>:<user>`).
//!
//! Alerts go to enabled users with `alerts` on; while a critical data-quality finding is open
//! the forecast is on hold, and no low-balance alert is raised from it.

use findash_schema::email::{NewEmail, Topic, recipients};
use findash_schema::summary::LargeExpenseRule;
use findash_schema::{JobId, TenantConn};

use super::summary::{Day, STALE_AFTER, greeting};
use super::templates::{AlertHtml, AlertText, AlertView};
use super::{Mailer, outbox};

/// What makes an expense unusually large.
pub const LARGE_EXPENSE: LargeExpenseRule = LargeExpenseRule {
    factor: 5,
    floor_major: 500,
    min_history: 10,
};

/// One alert to send to every recipient.
struct Alert {
    kind: &'static str,
    /// The alert's identity, without the recipient.
    subject_key: String,
    subject: String,
    view: AlertView,
}

fn alerts(day: &Day) -> Vec<Alert> {
    let tenant_name = day.profile.name.clone();
    let mut out = Vec::new();
    let on_hold = day.findings.iter().any(|f| f.severity == "critical");
    if let Some(forecast) = day.forecast.as_ref().filter(|_| !on_hold)
        && let Some(first) = forecast.points.iter().find(|p| p.p10_minor < 0)
    {
        let low = forecast
            .points
            .iter()
            .min_by_key(|p| (p.p10_minor, p.day))
            .unwrap_or(first);
        let currency = &forecast.run.currency;
        out.push(Alert {
            kind: "alert_low_balance",
            // One per forecast day: a redelivered forecast job stores its runs again under new ids.
            subject_key: forecast.run.starts_on.to_string(),
            subject: format!("FinDash alert: projected low balance — {tenant_name}"),
            view: AlertView {
                tenant_name: tenant_name.clone(),
                headline: if forecast.run.starting_balance_minor < 0 {
                    format!(
                        "Your balance is already below zero ({}).",
                        day.money(forecast.run.starting_balance_minor, currency)
                    )
                } else {
                    format!("Your balance may go below zero on {}.", day.day(first.day))
                },
                lines: vec![
                    format!(
                        "Pessimistic case (p10) on {}: {}",
                        day.day(first.day),
                        day.money(first.p10_minor, currency)
                    ),
                    format!(
                        "Lowest pessimistic balance: {} on {}",
                        day.money(low.p10_minor, currency),
                        day.day(low.day)
                    ),
                    format!(
                        "Forecast data as of {}",
                        forecast
                            .run
                            .data_as_of
                            .map_or_else(|| "unknown".to_owned(), |at| day.instant(at))
                    ),
                ],
            },
        });
    }
    for connection in day.failed_connections() {
        let failing_long = connection
            .last_successful_sync_at
            .is_none_or(|at| day.now - at > STALE_AFTER);
        if !failing_long {
            continue;
        }
        let mut lines = vec![format!(
            "Last error: {}",
            connection
                .last_error
                .as_deref()
                .unwrap_or(&connection.status)
        )];
        lines.push(match connection.last_successful_sync_at {
            Some(at) => format!("Last successful sync: {}", day.instant(at)),
            None => "It has never synced successfully.".to_owned(),
        });
        lines.push(format!(
            "Failed attempts in a row: {}",
            connection.consecutive_failures
        ));
        out.push(Alert {
            kind: "alert_sync_failing",
            subject_key: format!("{}:{}", connection.connection_id, day.date),
            subject: format!(
                "FinDash alert: {} is failing to sync — {tenant_name}",
                connection.display_name
            ),
            view: AlertView {
                tenant_name: tenant_name.clone(),
                headline: format!(
                    "{} has not synced for more than 24 hours.",
                    connection.display_name
                ),
                lines,
            },
        });
    }
    for expense in &day.large_expenses {
        out.push(Alert {
            kind: "alert_large_expense",
            subject_key: expense.transaction_id.to_string(),
            subject: format!("FinDash alert: unusually large expense — {tenant_name}"),
            view: AlertView {
                tenant_name: tenant_name.clone(),
                headline: format!(
                    "An unusually large expense was posted on {}.",
                    day.day(day.date)
                ),
                lines: vec![
                    format!(
                        "{}: {}",
                        expense.account_name,
                        day.money(expense.amount_minor, &expense.currency)
                    ),
                    format!("Description: {}", expense.description),
                    format!(
                        "Usual expense on this account: {}",
                        day.money(expense.usual_minor, &expense.currency)
                    ),
                ],
            },
        });
    }
    out
}

/// Queues every alert `day` raises for every recipient; how many emails were new.
pub(super) fn queue_alerts(
    scope: &mut TenantConn<'_>,
    day: &Day,
    mailer: &Mailer,
    cause: JobId,
) -> anyhow::Result<usize> {
    let alerts = alerts(day);
    if alerts.is_empty() {
        return Ok(0);
    }
    let tenant = scope.tenant_id();
    let mut queued = 0;
    for recipient in recipients(scope, Topic::Alerts)? {
        let unsubscribe_url = mailer.unsubscribe_url(tenant, recipient.user_id, Topic::Alerts);
        let greeting = greeting(&recipient);
        for alert in &alerts {
            let text = AlertText {
                view: &alert.view,
                greeting: &greeting,
                unsubscribe_url: &unsubscribe_url,
            };
            let html = AlertHtml {
                view: &alert.view,
                greeting: &greeting,
                unsubscribe_url: &unsubscribe_url,
            };
            let email = NewEmail {
                user_id: recipient.user_id,
                kind: alert.kind.to_owned(),
                dedupe_key: format!("{}:{}:{}", alert.kind, alert.subject_key, recipient.user_id),
                to_address: recipient.email.clone(),
                subject: alert.subject.clone(),
                body_text: askama::Template::render(&text)?,
                body_html: askama::Template::render(&html)?,
            };
            if outbox::queue(scope, &email, cause)?.is_some() {
                queued += 1;
            }
        }
    }
    Ok(queued)
}
