//! Balances per account, converted to the base currency.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use serde::Serialize;
use uuid::Uuid;

use crate::TenantConn;

/// An active account's balance, in its own currency and in the base currency.
#[derive(Debug, Clone, Serialize, QueryableByName)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountBalance {
    #[diesel(sql_type = SqlUuid)]
    pub account_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub connection_id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub institution: String,
    /// checking, savings or credit_card.
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub currency: String,
    /// Signed, minor units of `currency`: negative is owed (a card's spending). Null before the
    /// first sync.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub balance_minor: Option<i64>,
    /// `balance_minor` in minor units of the base currency; null without a balance or a rate.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub base_balance_minor: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub balance_as_of: Option<DateTime<Utc>>,
}

/// The tenant's active accounts with their balances converted into `base` at the rates of `on`.
pub fn balances(
    scope: &mut TenantConn<'_>,
    base: &str,
    on: NaiveDate,
) -> QueryResult<Vec<AccountBalance>> {
    diesel::sql_query("SELECT * FROM findash_account_balances($1, $2)")
        .bind::<Text, _>(base)
        .bind::<Date, _>(on)
        .load(scope.conn())
}
