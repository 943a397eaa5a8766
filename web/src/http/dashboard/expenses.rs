//! `GET /api/v1/expenses`: spending by category and month in the base currency.

// utoipa's expansion of `params(ExpensesQuery)` spells out a path the lint calls unnecessary.
#![allow(unused_qualifications)]

use actix_web::{HttpResponse, web};
use chrono::{Datelike, Months, NaiveDate};
use findash_schema::dashboard::{self, MonthExpenses};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cached;
use crate::http::caller::Caller;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState};

/// Most months one answer holds.
const MAX_MONTHS: u32 = 36;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExpensesQuery {
    /// First month (YYYY-MM, from 1900); five months before `to` when absent.
    #[param(pattern = "^(19|[2-9][0-9])[0-9]{2}-(0[1-9]|1[0-2])$")]
    from: Option<String>,
    /// Last month (YYYY-MM); the current month when absent.
    #[param(pattern = "^(19|[2-9][0-9])[0-9]{2}-(0[1-9]|1[0-2])$")]
    to: Option<String>,
}

/// Spending by category for each month of the range (months without spending included).
#[derive(Debug, Serialize, ToSchema)]
pub struct Expenses {
    base_currency: String,
    months: Vec<MonthExpenses>,
}

/// Where the caller's tenant's money went, month by month: `expense` categories net of refunds
/// plus uncategorized money going out, converted at each month's last rates.
#[utoipa::path(get, path = "/api/v1/expenses", tag = "dashboard", params(ExpensesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Expenses by month and category (header X-Cache)", body = Expenses),
        (status = 400, description = "Unreadable query", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 422, description = "A month not valid or a range out of bounds", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn expenses(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ExpensesQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let from = query.from.as_deref().map(month).transpose()?;
    let to = query.to.as_deref().map(month).transpose()?;
    if let (Some(from), Some(to)) = (from, to) {
        check_range(from, to)?;
    }
    // Only the default range is cached.
    let params = (query.from.is_none() && query.to.is_none()).then(String::new);
    cached(&state, &caller, "expenses", params, move |scope| {
        let cal = dashboard::calendar(scope)?;
        let to = to.unwrap_or_else(|| dashboard::month_start(cal.today));
        let from = from.unwrap_or_else(|| to.checked_sub_months(Months::new(5)).unwrap_or(to));
        if let Err(e) = check_range(from, to) {
            return Ok(Err(e));
        }
        let months = dashboard::expenses_by_month(scope, &cal.base_currency, from, to, cal.today)?;
        Ok(Ok(Expenses {
            base_currency: cal.base_currency,
            months,
        }))
    })
    .await
}

/// The first day of a `YYYY-MM` month.
fn month(text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .ok()
        .filter(|m| text.len() == 7 && m.year() >= 1900)
        .ok_or_else(|| ApiError::invalid(format!("`{text}` is not a month (YYYY-MM)")))
}

fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), ApiError> {
    if from > to {
        return Err(ApiError::invalid("`from` is after `to`"));
    }
    if from
        .checked_add_months(Months::new(MAX_MONTHS))
        .is_none_or(|limit| to >= limit)
    {
        return Err(ApiError::invalid(format!(
            "the range holds more than {MAX_MONTHS} months"
        )));
    }
    Ok(())
}
