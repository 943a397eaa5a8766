//! Data freshness (`GET /admin/freshness`): how old each connection's and each account's data
//! is against the 24-hour objective (`dashboard::FRESHNESS_OBJECTIVE`, the one the dashboard's
//! `stale` flag and the `findash_accounts_stale` metric use), stalest first, with the last error
//! that explains it. The ages come from `schema::sync` (the same rule as the metrics).

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use findash_schema::dashboard::FRESHNESS_OBJECTIVE;
use findash_schema::sync::{self, AccountFreshness, ConnectionFreshness, FreshnessCounts};

use super::session::Operator;
use super::view::{self, Chrome, When};
use super::{AdminError, in_console};
use crate::http::AppState;

/// Rows per table at most; the counts above them are whole.
const LISTED: i64 = 500;

/// `stale` past the objective, else `fresh` (also the badge's class).
fn badge(age_seconds: i64) -> &'static str {
    if age_seconds > FRESHNESS_OBJECTIVE.num_seconds() {
        "stale"
    } else {
        "fresh"
    }
}

pub struct ConnectionRow {
    pub anchor: String,
    pub href: String,
    pub tenant: String,
    pub provider: String,
    pub name: String,
    pub status: String,
    pub last_sync: Option<When>,
    pub age: String,
    pub badge: &'static str,
    pub last_error: String,
    pub last_error_at: Option<When>,
    pub failures: i32,
}

pub struct AccountRow {
    pub tenant: String,
    pub connection_href: String,
    pub connection: String,
    pub provider: String,
    pub account: String,
    pub institution: String,
    pub last_sync: Option<When>,
    pub age: String,
    pub badge: &'static str,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "admin/freshness.html")]
struct FreshnessPage {
    chrome: Chrome,
    objective: String,
    counts: FreshnessCounts,
    connections: Vec<ConnectionRow>,
    accounts: Vec<AccountRow>,
    connections_truncated: bool,
    accounts_truncated: bool,
}

fn connection_row(c: ConnectionFreshness, now: DateTime<Utc>) -> ConnectionRow {
    let href = format!(
        "/admin/jobs?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("kind", "sync_connection")
            .append_pair("tenant", &c.tenant_slug)
            .finish()
    );
    ConnectionRow {
        anchor: format!("connection-{}", c.connection_id),
        href,
        tenant: c.tenant_slug,
        provider: c.provider,
        name: c.connection_name,
        status: c.status,
        last_sync: c
            .last_successful_sync_at
            .as_ref()
            .map(|t| When::new(t, now)),
        age: view::span(c.age_seconds),
        badge: badge(c.age_seconds),
        last_error: c.last_error.unwrap_or_default(),
        last_error_at: c.last_error_at.as_ref().map(|t| When::new(t, now)),
        failures: c.consecutive_failures,
    }
}

fn account_row(a: AccountFreshness, now: DateTime<Utc>) -> AccountRow {
    AccountRow {
        tenant: a.tenant_slug,
        connection_href: format!("#connection-{}", a.connection_id),
        connection: a.connection_name,
        provider: a.provider,
        account: a.account_name,
        institution: a.institution,
        last_sync: a
            .last_successful_sync_at
            .as_ref()
            .map(|t| When::new(t, now)),
        age: view::span(a.age_seconds),
        badge: badge(a.age_seconds),
        last_error: a.last_error.unwrap_or_default(),
    }
}

/// `GET /admin/freshness`.
pub async fn page(
    operator: Operator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let objective = FRESHNESS_OBJECTIVE.num_seconds();
    let (connections, accounts, counts) = in_console(&state, move |sys| {
        Ok((
            sync::connection_freshness(sys, None, LISTED)?,
            sync::account_freshness(sys, LISTED)?,
            sync::freshness_counts(sys, objective)?,
        ))
    })
    .await?;
    let now = Utc::now();
    view::render(&FreshnessPage {
        chrome: Chrome::new(&operator, "freshness"),
        objective: view::span(objective),
        counts,
        connections_truncated: counts.connections > i64::try_from(connections.len()).unwrap_or(0),
        accounts_truncated: counts.accounts > i64::try_from(accounts.len()).unwrap_or(0),
        connections: connections
            .into_iter()
            .map(|c| connection_row(c, now))
            .collect(),
        accounts: accounts.into_iter().map(|a| account_row(a, now)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_means_older_than_the_objective() {
        assert_eq!(badge(0), "fresh");
        assert_eq!(badge(24 * 3600), "fresh");
        assert_eq!(badge(24 * 3600 + 1), "stale");
    }
}
