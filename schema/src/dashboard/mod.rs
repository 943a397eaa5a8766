//! What the dashboard reads besides accounts and transactions: the tenant's calendar and base
//! currency, exchange rates, month flows and expenses by category, connection freshness,
//! revenue by period, the latest forecast and data-quality findings.
//!
//! Aggregates are computed by PostgreSQL and converted to the tenant's base currency with
//! `fx_rate` and `fx_apply` (exact decimals, rounded once per currency and group, never per row). Amounts
//! in a currency without a known rate are left out of converted totals and reported instead.
//! Every function runs in a tenant scope; row-level security does the filtering.

mod balances;
mod findings;
mod flows;
mod forecast;
mod freshness;
mod revenue;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Date, Nullable, Text, Timestamptz};
use serde::Serialize;

use crate::TenantConn;

pub use balances::{AccountBalance, balances};
pub use findings::{Finding, FindingFilter, FindingsCursor, findings_page};
pub use flows::{CategorySpend, CurrencyFlows, MonthExpenses, expenses_by_month, month_flows};
pub use forecast::{Forecast, ForecastPoint, ForecastRun, latest_forecast};
pub use freshness::{ConnectionFreshness, connections_freshness};
pub use revenue::{Interval, RevenuePeriod, revenue_by_period};

/// The tenant's base currency and where "today" is for it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Calendar {
    #[diesel(sql_type = Text)]
    pub base_currency: String,
    #[diesel(sql_type = Text)]
    pub time_zone: String,
    /// Today in the tenant's time zone.
    #[diesel(sql_type = Date)]
    pub today: NaiveDate,
    /// The transaction's clock: what ages are measured against.
    #[diesel(sql_type = Timestamptz)]
    pub now: DateTime<Utc>,
}

/// The scope's tenant's calendar.
pub fn calendar(scope: &mut TenantConn<'_>) -> QueryResult<Calendar> {
    diesel::sql_query(
        "SELECT base_currency::text AS base_currency, time_zone, \
                (now() AT TIME ZONE time_zone)::date AS today, now() AS now \
         FROM tenants WHERE id = current_tenant_id()",
    )
    .get_result(scope.conn())
}

/// The rate used to convert one currency into the base currency.
#[derive(Debug, Clone, Serialize, QueryableByName)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = FxRate))]
pub struct Rate {
    #[diesel(sql_type = Text)]
    pub currency: String,
    /// Units of the base currency per unit of `currency`, as an exact decimal string; null when
    /// no rate is known (amounts in this currency are left out of converted totals).
    #[diesel(sql_type = Nullable<Text>)]
    pub rate: Option<String>,
    /// The day the rate was published for: how stale it is.
    #[diesel(sql_type = Nullable<Date>)]
    pub rate_date: Option<NaiveDate>,
}

/// The rates from every currency the tenant holds into `base` on `on`. A transaction is always
/// in its account's currency (a foreign key pins it), so the accounts name every currency the
/// totals convert.
pub fn rates(scope: &mut TenantConn<'_>, base: &str, on: NaiveDate) -> QueryResult<Vec<Rate>> {
    diesel::sql_query("SELECT * FROM findash_rates($1, $2)")
        .bind::<Text, _>(base)
        .bind::<Date, _>(on)
        .load(scope.conn())
}

/// The first day of `day`'s month.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day0(0).unwrap_or(day)
}

/// How old a connection's data may get before it counts as stale: the freshness objective.
pub const FRESHNESS_OBJECTIVE: chrono::TimeDelta = chrono::TimeDelta::hours(24);
