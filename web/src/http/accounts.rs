//! `/api/v1/accounts` and `/api/v1/accounts/{id}/transactions`: the tenant's accounts, and an
//! account's transactions newest first, a keyset page at a time with filters. Money is integer
//! minor units with its currency.
// utoipa's expansion of `params(TransactionQuery)` spells out a path the lint calls unnecessary.
#![allow(unused_qualifications)]

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use findash_schema::banking::{self, AccountRow, TransactionFilter, TransactionRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::caller::Caller;
use super::error::ErrorBody;
use super::{ApiError, AppState, in_tenant, page_limit};

/// The tenant's accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accounts {
    accounts: Vec<AccountRow>,
}

/// The caller's tenant's accounts with balances (minor units) and sync freshness.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "dashboard", security(("bearer" = [])),
    responses(
        (status = 200, description = "The accounts", body = Accounts),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let accounts = in_tenant(&state, &caller, banking::accounts).await?;
    Ok(HttpResponse::Ok().json(Accounts { accounts }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransactionQuery {
    /// Booked on or after (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    from: Option<NaiveDate>,
    /// Booked on or before (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    to: Option<NaiveDate>,
    /// A category id, or `uncategorized`.
    #[param(
        pattern = r"^(uncategorized|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    category: Option<String>,
    /// Text in the description or counterparty (case-insensitive).
    q: Option<String>,
    /// Signed amount bounds, minor units.
    min_amount_minor: Option<i64>,
    max_amount_minor: Option<i64>,
    /// pending or posted.
    #[param(pattern = "^(pending|posted)$")]
    status: Option<String>,
    /// 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page (opaque).
    #[param(pattern = "^[A-Za-z0-9_-]{27}$")]
    cursor: Option<String>,
}

/// A page of transactions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionPage {
    transactions: Vec<TransactionRow>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    next_cursor: Option<String>,
}

/// One account's transactions, newest first; pages never shift as new transactions arrive.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/transactions", tag = "dashboard",
    params(("id" = Uuid, Path, description = "The account's id"), TransactionQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page (header X-Cache: the newest unfiltered page of 50 is cached)", body = TransactionPage),
        (status = 400, description = "Unreadable query or path", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such account in this tenant", body = ErrorBody),
        (status = 422, description = "A filter out of range", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn transactions(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    query: web::Query<TransactionQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let after = match query.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            super::cursor::decode_day(c)
                .ok_or_else(|| ApiError::invalid("the cursor is not valid"))?,
        ),
    };
    let account = id.into_inner();
    // The newest page at the default size, unfiltered, is what the dashboard shows for an
    // account: that one is cached (one entry per account); any other page is read each time.
    let first_page = after.is_none()
        && limit == 50
        && query.from.is_none()
        && query.to.is_none()
        && query.category.is_none()
        && query.q.is_none()
        && query.min_amount_minor.is_none()
        && query.max_amount_minor.is_none()
        && query.status.is_none();
    let filter = FilterFields {
        from: query.from,
        to: query.to,
        category: query.category,
        q: query.q,
        min_amount_minor: query.min_amount_minor,
        max_amount_minor: query.max_amount_minor,
        status: query.status,
    }
    .into_filter(Some(account))?;
    let params = first_page.then(|| account.to_string());
    super::dashboard::cached(&state, &caller, "transactions", params, move |scope| {
        let page = banking::transactions_page(scope, &filter, after, limit)?;
        // Rows prove the account is the tenant's; only an empty page needs the question asked.
        if page.is_empty() && !banking::account_exists(scope, account)? {
            return Ok(Err(ApiError::not_found(format!("no account {account}"))));
        }
        let next_cursor = (page.len() as i64 == limit)
            .then(|| {
                page.last()
                    .map(|t| super::cursor::encode_day(t.booked_date, t.id))
            })
            .flatten();
        Ok(Ok(TransactionPage {
            transactions: page,
            next_cursor,
        }))
    })
    .await
}

/// The transaction filters the page and the CSV export share, as the query gave them.
#[derive(Debug, Default)]
pub(crate) struct FilterFields {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub category: Option<String>,
    pub q: Option<String>,
    pub min_amount_minor: Option<i64>,
    pub max_amount_minor: Option<i64>,
    pub status: Option<String>,
}

impl FilterFields {
    /// The checked filter, restricted to `account` when given.
    pub(crate) fn into_filter(self, account: Option<Uuid>) -> Result<TransactionFilter, ApiError> {
        for day in [self.from, self.to].into_iter().flatten() {
            if !(1900..=9999).contains(&chrono::Datelike::year(&day)) {
                return Err(ApiError::invalid(
                    "dates must be between 1900-01-01 and 9999-12-31",
                ));
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(ApiError::invalid("`from` is after `to`"));
        }
        if let (Some(min), Some(max)) = (self.min_amount_minor, self.max_amount_minor)
            && min > max
        {
            return Err(ApiError::invalid(
                "min_amount_minor is above max_amount_minor",
            ));
        }
        if let Some(q) = &self.q {
            super::reject_nul("q", q)?;
        }
        if let Some(status) = &self.status
            && !matches!(status.as_str(), "pending" | "posted")
        {
            return Err(ApiError::invalid("status must be pending or posted"));
        }
        let category = match self.category.as_deref() {
            None => None,
            Some("uncategorized") => Some(None),
            Some(c) => Some(Some(c.parse::<Uuid>().map_err(|_| {
                ApiError::invalid("category must be a category id or `uncategorized`")
            })?)),
        };
        Ok(TransactionFilter {
            account,
            from: self.from,
            to: self.to,
            category,
            text: self.q.filter(|q| !q.is_empty()),
            min_amount_minor: self.min_amount_minor,
            max_amount_minor: self.max_amount_minor,
            status: self.status,
        })
    }
}
