//! Money in and out over a period, and spending by category and month.
//!
//! The rules: transactions in a `transfer` category (moving money between one's own accounts,
//! paying the card bill) are neither income nor expense. Income is what comes in, expenses what
//! goes out. Spending by category counts `expense` categories net of their refunds, plus
//! uncategorized money going out. Pending transactions count: they are what the user sees.
//!
//! They live in the PL/pgSQL functions of migration `000010` (`findash_month_flows`,
//! `findash_spending_by_month`), which keep their plans per connection and look each currency's
//! rate up once. They read `transaction_day_totals` (money in and out per day, category and
//! currency, kept by triggers on `transactions`), so their cost follows the days of the period,
//! not the number of transactions.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text, Uuid as SqlUuid};
use serde::Serialize;
use uuid::Uuid;

use crate::TenantConn;

/// Income and expenses of one currency over a period.
#[derive(Debug, Clone, Serialize, QueryableByName)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CurrencyFlows {
    #[diesel(sql_type = Text)]
    pub currency: String,
    /// Money in, minor units of `currency` (positive).
    #[diesel(sql_type = BigInt)]
    pub income_minor: i64,
    /// Money out, minor units of `currency` (positive).
    #[diesel(sql_type = BigInt)]
    pub expenses_minor: i64,
    /// The same in the base currency; null when no rate is known.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub base_income_minor: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub base_expenses_minor: Option<i64>,
}

/// Income and expenses per currency of transactions booked from `from` to `to`, converted into
/// `base` at the rates of `on`.
pub fn month_flows(
    scope: &mut TenantConn<'_>,
    base: &str,
    from: NaiveDate,
    to: NaiveDate,
    on: NaiveDate,
) -> QueryResult<Vec<CurrencyFlows>> {
    diesel::sql_query("SELECT * FROM findash_month_flows($1, $2, $3, $4)")
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .bind::<Text, _>(base)
        .bind::<Date, _>(on)
        .load(scope.conn())
}

/// One category's spending in one month, in the base currency.
#[derive(Debug, Clone, Serialize, QueryableByName)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategorySpend {
    /// Null: uncategorized.
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub category_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub slug: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    /// Spent, net of refunds, minor units of the base currency (negative when refunds exceed
    /// spending). Amounts in currencies without a rate are left out.
    #[diesel(sql_type = BigInt)]
    pub spent_minor: i64,
}

/// A month's spending by category, largest first.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonthExpenses {
    /// The first day of the month.
    pub month: NaiveDate,
    pub total_minor: i64,
    pub categories: Vec<CategorySpend>,
    /// Currencies spent in this month that could not be converted (no rate).
    pub unconverted_currencies: Vec<String>,
}

#[derive(QueryableByName)]
struct SpendRow {
    #[diesel(sql_type = Date)]
    month: NaiveDate,
    #[diesel(embed)]
    spend: CategorySpend,
    #[diesel(sql_type = Nullable<Text>)]
    unconverted: Option<String>,
}

/// Spending by category for the months from `from` to `to` (first days of months), up to `today`
/// (a transaction dated in the future is not spending yet), each month converted at the rates of
/// its last day (or of `today` for the current month): one rate lookup per currency and month,
/// applied to every category. Months without spending are included, empty.
pub fn expenses_by_month(
    scope: &mut TenantConn<'_>,
    base: &str,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> QueryResult<Vec<MonthExpenses>> {
    let rows: Vec<SpendRow> =
        diesel::sql_query("SELECT * FROM findash_spending_by_month($1, $2, $3, $4)")
            .bind::<Date, _>(from)
            .bind::<Date, _>(to)
            .bind::<Text, _>(base)
            .bind::<Date, _>(today)
            .load(scope.conn())?;

    let mut months = Vec::new();
    let mut month = from;
    while month <= to {
        months.push(MonthExpenses {
            month,
            total_minor: 0,
            categories: Vec::new(),
            unconverted_currencies: Vec::new(),
        });
        let Some(next) = month.checked_add_months(chrono::Months::new(1)) else {
            break;
        };
        month = next;
    }
    for row in rows {
        let Some(entry) = months.iter_mut().find(|m| m.month == row.month) else {
            continue;
        };
        for currency in row.unconverted.iter().flat_map(|u| u.split(',')) {
            if !entry.unconverted_currencies.iter().any(|c| c == currency) {
                entry.unconverted_currencies.push(currency.to_owned());
            }
        }
        entry.total_minor = entry.total_minor.saturating_add(row.spend.spent_minor);
        entry.categories.push(row.spend);
    }
    for entry in &mut months {
        entry.unconverted_currencies.sort();
    }
    Ok(months)
}
