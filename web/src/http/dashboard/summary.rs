//! `GET /api/v1/summary`: the dashboard's front page in one answer.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use findash_schema::dashboard::{
    self, AccountBalance, Calendar, CategorySpend, ConnectionFreshness, CurrencyFlows, Rate,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::cached;
use crate::http::caller::Caller;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState};

/// How many categories `top_categories` lists.
const TOP_CATEGORIES: usize = 5;

/// Balances, this month's flows, where the money went and how fresh the data is, in the
/// tenant's base currency. Amounts are integer minor units.
#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    /// ISO 4217 code every `base_*`, `total_*` and month amount is in.
    base_currency: String,
    /// When this answer was computed: ages and "this month" are as of then.
    as_of: DateTime<Utc>,
    /// Today in the tenant's time zone.
    today: NaiveDate,
    /// Active accounts with their balances, own currency and converted.
    accounts: Vec<AccountBalance>,
    /// The sum of the converted balances.
    total_balance_minor: i64,
    month: MonthFlows,
    /// This month's largest expense categories, net of refunds.
    top_categories: Vec<CategorySpend>,
    /// Each connection's sync freshness against the 24-hour objective.
    connections: Vec<ConnectionStatus>,
    /// The rates used, with the day each was published.
    rates: Vec<Rate>,
    /// Currencies left out of converted totals because no rate is known.
    unconverted_currencies: Vec<String>,
}

/// Money in and out this month (transfers between own accounts excluded).
#[derive(Debug, Serialize, ToSchema)]
pub struct MonthFlows {
    /// The first day of the month.
    start: NaiveDate,
    income_minor: i64,
    expenses_minor: i64,
    /// income − expenses.
    net_minor: i64,
    by_currency: Vec<CurrencyFlows>,
}

/// A connection and how old its data is.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionStatus {
    #[serde(flatten)]
    connection: ConnectionFreshness,
    /// Seconds since the last successful sync; null if it never synced.
    age_seconds: Option<i64>,
    /// Older than the 24-hour freshness objective, or never synced.
    stale: bool,
}

/// The summary of the caller's tenant.
#[utoipa::path(get, path = "/api/v1/summary", tag = "dashboard", security(("bearer" = [])),
    responses(
        (status = 200, description = "The summary (header X-Cache: hit, miss or bypass)", body = Summary),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn summary(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    cached(&state, &caller, "summary", Some(String::new()), |scope| {
        let cal = dashboard::calendar(scope)?;
        let base = cal.base_currency.as_str();
        let start = dashboard::month_start(cal.today);
        let accounts = dashboard::balances(scope, base, cal.today)?;
        let flows = dashboard::month_flows(scope, base, start, cal.today, cal.today)?;
        let spending = dashboard::expenses_by_month(scope, base, start, start, cal.today)?;
        let connections = dashboard::connections_freshness(scope)?;
        let rates = dashboard::rates(scope, base, cal.today)?;
        Ok(Ok(assemble(
            cal,
            accounts,
            flows,
            spending
                .into_iter()
                .next()
                .map(|m| m.categories)
                .unwrap_or_default(),
            connections,
            rates,
        )))
    })
    .await
}

fn assemble(
    cal: Calendar,
    accounts: Vec<AccountBalance>,
    flows: Vec<CurrencyFlows>,
    mut categories: Vec<CategorySpend>,
    connections: Vec<ConnectionFreshness>,
    rates: Vec<Rate>,
) -> Summary {
    let Calendar {
        base_currency,
        now,
        today,
        ..
    } = cal;
    let start = dashboard::month_start(today);
    let total_balance_minor = accounts
        .iter()
        .filter_map(|a| a.base_balance_minor)
        .fold(0_i64, i64::saturating_add);
    let income_minor = flows
        .iter()
        .filter_map(|f| f.base_income_minor)
        .fold(0_i64, i64::saturating_add);
    let expenses_minor = flows
        .iter()
        .filter_map(|f| f.base_expenses_minor)
        .fold(0_i64, i64::saturating_add);
    categories.truncate(TOP_CATEGORIES);
    let objective = dashboard::FRESHNESS_OBJECTIVE.num_seconds();
    let connections = connections
        .into_iter()
        .map(|connection| {
            let age_seconds = connection
                .last_successful_sync_at
                .map(|at| (now - at).num_seconds().max(0));
            ConnectionStatus {
                stale: age_seconds.is_none_or(|age| age > objective),
                age_seconds,
                connection,
            }
        })
        .collect();
    let unconverted_currencies = rates
        .iter()
        .filter(|r| r.rate.is_none())
        .map(|r| r.currency.clone())
        .collect();
    Summary {
        base_currency,
        as_of: now,
        today,
        accounts,
        total_balance_minor,
        month: MonthFlows {
            start,
            income_minor,
            expenses_minor,
            net_minor: income_minor.saturating_sub(expenses_minor),
            by_currency: flows,
        },
        top_categories: categories,
        connections,
        rates,
        unconverted_currencies,
    }
}
