//! `GET /api/v1/cards`: credit cards with what is owed, the statement and its due date.
//!
//! A card's balances are signed like any account's: negative is owed to the issuer.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use findash_schema::banking::{self, AccountRow};
use findash_schema::dashboard;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::cached;
use crate::http::caller::Caller;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState};

/// The tenant's credit cards.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cards {
    /// Today in the tenant's time zone (what `days_until_due` counts from).
    today: NaiveDate,
    cards: Vec<Card>,
}

/// One credit card. Amounts are minor units of `currency`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Card {
    account_id: Uuid,
    name: String,
    institution: String,
    currency: String,
    /// active or closed.
    status: String,
    credit_limit_minor: Option<i64>,
    /// Owed now (positive), from the current balance; null before the first sync.
    owed_minor: Option<i64>,
    /// Limit − owed.
    available_credit_minor: Option<i64>,
    /// owed / limit in basis points (10,000 = the whole limit; above it when over the limit).
    utilization_bps: Option<i64>,
    /// Owed on the last statement (positive).
    statement_owed_minor: Option<i64>,
    statement_closing_date: Option<NaiveDate>,
    statement_due_date: Option<NaiveDate>,
    /// Days from today to the due date; negative when past due.
    days_until_due: Option<i64>,
    balance_as_of: Option<DateTime<Utc>>,
}

/// The caller's tenant's credit cards.
#[utoipa::path(get, path = "/api/v1/cards", tag = "dashboard", security(("bearer" = [])),
    responses(
        (status = 200, description = "The cards (header X-Cache)", body = Cards),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn cards(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    cached(&state, &caller, "cards", Some(String::new()), |scope| {
        let today = dashboard::calendar(scope)?.today;
        let cards = banking::accounts(scope)?
            .into_iter()
            .filter(|a| a.kind == "credit_card")
            .map(|a| card(a, today))
            .collect();
        Ok(Ok(Cards { today, cards }))
    })
    .await
}

fn card(a: AccountRow, today: NaiveDate) -> Card {
    let owed = a.current_balance_minor.map(|b| b.saturating_neg().max(0));
    let utilization_bps = match (owed, a.credit_limit_minor) {
        (Some(owed), Some(limit)) if limit > 0 => {
            i64::try_from(i128::from(owed) * 10_000 / i128::from(limit)).ok()
        }
        _ => None,
    };
    Card {
        account_id: a.id,
        name: a.name,
        institution: a.institution,
        currency: a.currency,
        status: a.status,
        credit_limit_minor: a.credit_limit_minor,
        available_credit_minor: owed
            .zip(a.credit_limit_minor)
            .map(|(owed, limit)| limit.saturating_sub(owed)),
        owed_minor: owed,
        utilization_bps,
        statement_owed_minor: a.statement_balance_minor.map(|b| b.saturating_neg().max(0)),
        statement_closing_date: a.statement_closing_date,
        statement_due_date: a.statement_due_date,
        days_until_due: a.statement_due_date.map(|due| (due - today).num_days()),
        balance_as_of: a.balance_as_of,
    }
}
