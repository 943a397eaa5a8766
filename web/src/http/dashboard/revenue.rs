//! `GET /api/v1/revenue`: payments, refunds, lost disputes, fees and net by day, week or month.

// utoipa's expansion of `params(RevenueQuery)` spells out a path the lint calls unnecessary.
#![allow(unused_qualifications)]

use actix_web::{HttpResponse, web};
use chrono::{Datelike, Months, NaiveDate, TimeDelta};
use findash_schema::dashboard::{self, Interval, RevenuePeriod};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cached;
use crate::http::caller::Caller;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState};

/// Most periods one answer holds.
const MAX_PERIODS: i64 = 366;

#[derive(Debug, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RevenueQuery {
    /// day, week (from Monday) or month; day when absent.
    #[param(value_type = Option<String>, pattern = "^(day|week|month)$")]
    interval: Option<String>,
    /// First day (YYYY-MM-DD, tenant time); by default 30 days, 12 weeks or 12 months before `to`.
    #[param(value_type = Option<String>, format = Date)]
    from: Option<NaiveDate>,
    /// Last day (YYYY-MM-DD, tenant time); today when absent.
    #[param(value_type = Option<String>, format = Date)]
    to: Option<NaiveDate>,
}

/// Revenue per period and currency, every period present (zero when empty), with totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revenue {
    /// day, week or month.
    interval: String,
    from: NaiveDate,
    to: NaiveDate,
    periods: Vec<RevenuePeriod>,
    /// The whole range per currency (`period_start` is `from`).
    totals: Vec<RevenuePeriod>,
}

/// The caller's tenant's revenue from Stripe and Mercado Pago. A payment or refund counts once
/// it succeeded, a dispute once it is lost; net = payments − refunds − lost disputes.
#[utoipa::path(get, path = "/api/v1/revenue", tag = "dashboard", params(RevenueQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revenue by period (header X-Cache)", body = Revenue),
        (status = 400, description = "Unreadable query", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 422, description = "A range out of bounds", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn revenue(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<RevenueQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let interval: Interval = query
        .interval
        .as_deref()
        .unwrap_or("day")
        .parse()
        .map_err(|_| ApiError::invalid("interval must be day, week or month"))?;
    if let (Some(from), Some(to)) = (query.from, query.to) {
        check_range(interval, from, to)?;
    }
    // Only the default ranges are cached (one entry per interval).
    let params = (query.from.is_none() && query.to.is_none())
        .then(|| serde_json::to_string(&query))
        .transpose()
        .map_err(|e| ApiError::internal(&e))?;
    let (from, to) = (query.from, query.to);
    cached(&state, &caller, "revenue", params, move |scope| {
        // The defaults depend on the tenant's today; a range built from them is checked here.
        let cal = dashboard::calendar(scope)?;
        let to = to.unwrap_or(cal.today);
        let from = from.unwrap_or_else(|| default_from(interval, to));
        if let Err(e) = check_range(interval, from, to) {
            return Ok(Err(e));
        }
        let periods = dashboard::revenue_by_period(scope, interval, from, to, &cal.time_zone)?;
        let totals = totals(&periods, from);
        Ok(Ok(Revenue {
            interval: interval.as_str().to_owned(),
            from,
            to,
            periods,
            totals,
        }))
    })
    .await
}

fn default_from(interval: Interval, to: NaiveDate) -> NaiveDate {
    match interval {
        Interval::Day => to - TimeDelta::days(29),
        Interval::Week => {
            to - TimeDelta::weeks(11)
                - TimeDelta::days(i64::from(to.weekday().num_days_from_monday()))
        }
        Interval::Month => dashboard::month_start(to)
            .checked_sub_months(Months::new(11))
            .unwrap_or(to),
    }
}

fn check_range(interval: Interval, from: NaiveDate, to: NaiveDate) -> Result<(), ApiError> {
    if !(1900..=9999).contains(&from.year()) || !(1900..=9999).contains(&to.year()) {
        return Err(ApiError::invalid(
            "dates must be between 1900-01-01 and 9999-12-31",
        ));
    }
    if from > to {
        return Err(ApiError::invalid("`from` is after `to`"));
    }
    let days = (to - from).num_days() + 1;
    let periods = match interval {
        Interval::Day => days,
        Interval::Week => days / 7 + 2,
        Interval::Month => {
            i64::from(to.year() - from.year()) * 12 + i64::from(to.month())
                - i64::from(from.month())
                + 1
        }
    };
    if periods > MAX_PERIODS {
        return Err(ApiError::invalid(format!(
            "the range holds more than {MAX_PERIODS} periods; narrow it or use a longer interval"
        )));
    }
    Ok(())
}

fn totals(periods: &[RevenuePeriod], from: NaiveDate) -> Vec<RevenuePeriod> {
    let mut totals: Vec<RevenuePeriod> = Vec::new();
    for p in periods {
        let total = match totals.iter_mut().find(|t| t.currency == p.currency) {
            Some(t) => t,
            None => {
                totals.push(RevenuePeriod {
                    period_start: from,
                    currency: p.currency.clone(),
                    payments_minor: 0,
                    payments_count: 0,
                    refunds_minor: 0,
                    refunds_count: 0,
                    disputes_lost_minor: 0,
                    fees_minor: 0,
                    net_minor: 0,
                });
                let last = totals.len() - 1;
                &mut totals[last]
            }
        };
        total.payments_minor = total.payments_minor.saturating_add(p.payments_minor);
        total.payments_count += p.payments_count;
        total.refunds_minor = total.refunds_minor.saturating_add(p.refunds_minor);
        total.refunds_count += p.refunds_count;
        total.disputes_lost_minor = total
            .disputes_lost_minor
            .saturating_add(p.disputes_lost_minor);
        total.fees_minor = total.fees_minor.saturating_add(p.fees_minor);
        total.net_minor = total.net_minor.saturating_add(p.net_minor);
    }
    totals
}
