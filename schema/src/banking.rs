//! Reading a tenant's accounts and transactions: the account list, and pages of an account's
//! transactions, newest first, by keyset (`booked_date`, `id`) so a page never shifts when
//! transactions arrive. Every function runs in a tenant scope; row-level security does the rest.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use crate::TenantConn;
use crate::schema::{accounts, transactions};

/// An account as the dashboard shows it. Money is in minor units of `currency`.
#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = accounts, check_for_backend(diesel::pg::Pg))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Account))]
pub struct AccountRow {
    pub id: Uuid,
    pub connection_id: Uuid,
    /// checking, savings or credit_card.
    pub kind: String,
    pub name: String,
    pub institution: String,
    pub currency: String,
    /// active or closed.
    pub status: String,
    pub current_balance_minor: Option<i64>,
    pub available_balance_minor: Option<i64>,
    pub balance_as_of: Option<DateTime<Utc>>,
    pub credit_limit_minor: Option<i64>,
    pub statement_balance_minor: Option<i64>,
    pub statement_closing_date: Option<NaiveDate>,
    pub statement_due_date: Option<NaiveDate>,
    pub last_successful_sync_at: Option<DateTime<Utc>>,
    /// Whole seconds since the last successful sync, as of the answer (null: never synced): how
    /// old the account's data is. The freshness objective is 24 hours.
    #[diesel(select_expression = data_age_seconds())]
    #[diesel(select_expression_type = DataAge)]
    pub data_age_seconds: Option<i64>,
}

type DataAge =
    diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>;

fn data_age_seconds() -> DataAge {
    diesel::dsl::sql("floor(extract(epoch FROM now() - accounts.last_successful_sync_at))::bigint")
}

/// The tenant's accounts, by institution and name.
pub fn accounts(scope: &mut TenantConn<'_>) -> QueryResult<Vec<AccountRow>> {
    accounts::table
        .select(AccountRow::as_select())
        .order((accounts::institution, accounts::name, accounts::id))
        .load(scope.conn())
}

/// Whether the tenant has account `id`.
pub fn account_exists(scope: &mut TenantConn<'_>, id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(accounts::table.find(id))).get_result(scope.conn())
}

/// A transaction as the dashboard shows it. `amount_minor` is signed (negative leaves the
/// account), in the account's currency.
#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = transactions, check_for_backend(diesel::pg::Pg))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Transaction))]
pub struct TransactionRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub booked_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub amount_minor: i64,
    pub currency: String,
    pub original_amount_minor: Option<i64>,
    pub original_currency: Option<String>,
    pub description: String,
    pub counterparty: Option<String>,
    pub category_id: Option<Uuid>,
    /// pending or posted.
    pub status: String,
}

/// What a page of transactions is restricted to; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    pub account: Option<Uuid>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// `Some(None)`: uncategorized only.
    pub category: Option<Option<Uuid>>,
    /// Case-insensitive, in the description or the counterparty.
    pub text: Option<String>,
    pub min_amount_minor: Option<i64>,
    pub max_amount_minor: Option<i64>,
    pub status: Option<String>,
}

/// Where the previous page ended: its last transaction's `(booked_date, id)`.
pub type Cursor = (NaiveDate, Uuid);

/// Up to `limit` transactions matching `filter` after `after`, newest first.
pub fn transactions_page(
    scope: &mut TenantConn<'_>,
    filter: &TransactionFilter,
    after: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<TransactionRow>> {
    use transactions::dsl as t;
    let mut query = t::transactions
        .select(TransactionRow::as_select())
        .order((t::booked_date.desc(), t::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(account) = filter.account {
        query = query.filter(t::account_id.eq(account));
    }
    if let Some(from) = filter.from {
        query = query.filter(t::booked_date.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(t::booked_date.le(to));
    }
    match filter.category {
        Some(Some(category)) => query = query.filter(t::category_id.eq(category)),
        Some(None) => query = query.filter(t::category_id.is_null()),
        None => {}
    }
    if let Some(text) = &filter.text {
        let pattern = format!("%{}%", escape_like(text));
        query = query.filter(
            t::description
                .ilike(pattern.clone())
                .or(t::counterparty.ilike(pattern)),
        );
    }
    if let Some(min) = filter.min_amount_minor {
        query = query.filter(t::amount_minor.ge(min));
    }
    if let Some(max) = filter.max_amount_minor {
        query = query.filter(t::amount_minor.le(max));
    }
    if let Some(status) = &filter.status {
        query = query.filter(t::status.eq(status.clone()));
    }
    if let Some((date, id)) = after {
        query = query.filter(
            t::booked_date
                .lt(date)
                .or(t::booked_date.eq(date).and(t::id.lt(id))),
        );
    }
    query.load(scope.conn())
}

/// The tenant's category slugs by id (to label transactions in exports).
pub fn category_slugs(scope: &mut TenantConn<'_>) -> QueryResult<HashMap<Uuid, String>> {
    use crate::schema::categories;
    categories::table
        .select((categories::id, categories::slug))
        .load::<(Uuid, String)>(scope.conn())
        .map(|rows| rows.into_iter().collect())
}

/// Each currency's minor-unit exponent (BRL 2, JPY 0, KWD 3).
pub fn currency_exponents(scope: &mut TenantConn<'_>) -> QueryResult<HashMap<String, u32>> {
    use crate::schema::currencies;
    currencies::table
        .select((currencies::code, currencies::minor_units))
        .load::<(String, i16)>(scope.conn())
        .map(|rows| {
            rows.into_iter()
                .map(|(code, units)| (code, u32::try_from(units).unwrap_or(0)))
                .collect()
        })
}

/// `text` matched literally by `ILIKE` (its `%`, `_` and `\` lose their meaning).
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_taken_literally() {
        assert_eq!(super::escape_like(r"50%_off\now"), r"50\%\_off\\now");
    }
}
