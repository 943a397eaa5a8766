//! What the daily summary email and the alerts read, besides the dashboard's read models
//! (balances, connection freshness, the latest forecast) which they reuse: the tenant's
//! profile, a day's flows, the bills coming up, open findings and unusually large expenses.
//!
//! Every function runs in a tenant scope; row-level security does the filtering.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Uuid as SqlUuid};
use uuid::Uuid;

use crate::TenantConn;

/// Who the tenant is and how it writes money and dates.
#[derive(Debug, Clone, QueryableByName)]
pub struct Profile {
    #[diesel(sql_type = Text)]
    pub name: String,
    /// BCP 47 (`pt-BR`, `en-US`, `es-419`).
    #[diesel(sql_type = Text)]
    pub locale: String,
    #[diesel(sql_type = Text)]
    pub time_zone: String,
    #[diesel(sql_type = Text)]
    pub base_currency: String,
}

/// The scope's tenant.
pub fn profile(scope: &mut TenantConn<'_>) -> QueryResult<Profile> {
    diesel::sql_query(
        "SELECT name, locale, time_zone, base_currency::text AS base_currency \
         FROM tenants WHERE id = current_tenant_id()",
    )
    .get_result(scope.conn())
}

/// Money in and out on one day, in one currency.
#[derive(Debug, Clone, QueryableByName)]
pub struct DayFlow {
    #[diesel(sql_type = Text)]
    pub currency: String,
    /// Sum of positive amounts, minor units.
    #[diesel(sql_type = BigInt)]
    pub inflow_minor: i64,
    /// Sum of negative amounts, negated (so positive), minor units.
    #[diesel(sql_type = BigInt)]
    pub outflow_minor: i64,
    #[diesel(sql_type = BigInt)]
    pub transactions: i64,
}

/// `day`'s flows per currency (pending transactions included), from the day totals.
pub fn day_flows(scope: &mut TenantConn<'_>, day: NaiveDate) -> QueryResult<Vec<DayFlow>> {
    diesel::sql_query(
        "SELECT currency::text AS currency, sum(inflow_minor)::bigint AS inflow_minor, \
                sum(outflow_minor)::bigint AS outflow_minor, sum(transactions)::bigint AS transactions \
         FROM transaction_day_totals WHERE day = $1 GROUP BY currency ORDER BY currency",
    )
    .bind::<Date, _>(day)
    .load(scope.conn())
}

/// A payment a forecast expects.
#[derive(Debug, Clone, QueryableByName)]
pub struct UpcomingBill {
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    #[diesel(sql_type = Text)]
    pub label: String,
    /// Negative, minor units of `currency`.
    #[diesel(sql_type = BigInt)]
    pub amount_minor: i64,
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub account_name: Option<String>,
}

/// The outflows (recurring payments, card bills) that each account's latest forecast placed
/// after `after` and up to `days` days later, by day.
pub fn upcoming_bills(
    scope: &mut TenantConn<'_>,
    after: NaiveDate,
    days: i32,
) -> QueryResult<Vec<UpcomingBill>> {
    diesel::sql_query(
        "WITH latest AS ( \
             SELECT DISTINCT ON (f.account_id) f.id, f.account_id, f.currency \
             FROM forecasts f JOIN accounts a ON a.id = f.account_id AND a.status = 'active' \
             ORDER BY f.account_id, f.starts_on DESC, f.generated_at DESC, f.id DESC) \
         SELECT f.day, f.label, f.amount_minor, l.currency::text AS currency, a.name AS account_name \
         FROM forecast_flows f JOIN latest l ON l.id = f.forecast_id \
         LEFT JOIN accounts a ON a.id = l.account_id \
         WHERE f.day > $1 AND f.day <= $1 + $2 AND f.amount_minor < 0 \
         ORDER BY f.day, a.name, f.seq",
    )
    .bind::<Date, _>(after)
    .bind::<Integer, _>(days)
    .load(scope.conn())
}

/// A posted debit far above what its account usually pays.
#[derive(Debug, Clone, QueryableByName)]
pub struct LargeExpense {
    #[diesel(sql_type = SqlUuid)]
    pub transaction_id: Uuid,
    #[diesel(sql_type = Text)]
    pub account_name: String,
    /// Negative, minor units of `currency`.
    #[diesel(sql_type = BigInt)]
    pub amount_minor: i64,
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = Text)]
    pub description: String,
    /// The median absolute debit of the account over the 90 days before, minor units.
    #[diesel(sql_type = BigInt)]
    pub usual_minor: i64,
}

/// What makes a debit unusually large: more than `factor` times the account's median absolute
/// posted debit of the 90 days before, and more than `floor_major` whole units of its currency,
/// on an account with at least `min_history` such debits.
#[derive(Debug, Clone, Copy)]
pub struct LargeExpenseRule {
    pub factor: i64,
    pub floor_major: i64,
    pub min_history: i64,
}

/// `day`'s posted debits that `rule` calls unusually large, largest first.
pub fn large_expenses(
    scope: &mut TenantConn<'_>,
    day: NaiveDate,
    rule: LargeExpenseRule,
) -> QueryResult<Vec<LargeExpense>> {
    diesel::sql_query(
        "SELECT t.id AS transaction_id, a.name AS account_name, t.amount_minor, \
                t.currency::text AS currency, \
                COALESCE(NULLIF(t.description, ''), t.counterparty, '') AS description, \
                h.median_minor AS usual_minor \
         FROM transactions t \
         JOIN accounts a ON a.id = t.account_id \
         JOIN currencies c ON c.code = t.currency \
         CROSS JOIN LATERAL ( \
             SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY -x.amount_minor) AS median_minor, \
                    count(*) AS n \
             FROM transactions x \
             WHERE x.account_id = t.account_id AND x.status = 'posted' AND x.amount_minor < 0 \
               AND x.booked_date >= $1 - 90 AND x.booked_date < $1) h \
         WHERE t.booked_date = $1 AND t.status = 'posted' AND t.amount_minor < 0 \
           AND h.n >= $4 \
           AND -t.amount_minor > GREATEST($2 * h.median_minor, $3 * (10 ^ c.minor_units)::bigint) \
         ORDER BY t.amount_minor, t.id",
    )
    .bind::<Date, _>(day)
    .bind::<BigInt, _>(rule.factor)
    .bind::<BigInt, _>(rule.floor_major)
    .bind::<BigInt, _>(rule.min_history)
    .load(scope.conn())
}
