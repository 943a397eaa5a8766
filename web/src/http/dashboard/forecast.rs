//! `GET /api/v1/forecast`: the latest cash-flow projection with its bands and its age.

// utoipa's expansion of `params(ForecastQuery)` spells out a path the lint calls unnecessary.
#![allow(unused_qualifications)]

use actix_web::{HttpResponse, web};
use findash_schema::dashboard::{self, Forecast, ForecastPoint};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::cached;
use crate::http::caller::Caller;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState};

#[derive(Debug, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// One account's forecast; the tenant's total (base currency) when absent.
    account_id: Option<Uuid>,
}

/// The latest forecast, how old it and its data are, and its lowest point.
#[derive(Debug, Serialize, ToSchema)]
pub struct LatestForecast {
    #[serde(flatten)]
    forecast: Forecast,
    /// Seconds since it was computed.
    age_seconds: i64,
    /// Seconds since its oldest input was synced; null if unknown.
    data_age_seconds: Option<i64>,
    /// The day with the lowest median balance.
    low_point: Option<ForecastPoint>,
}

/// The caller's tenant's latest forecast: daily p10/p50/p90 balances.
#[utoipa::path(get, path = "/api/v1/forecast", tag = "dashboard", params(ForecastQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The latest forecast (header X-Cache)", body = LatestForecast),
        (status = 400, description = "Unreadable query", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No forecast has been computed (for this account)", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn forecast(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ForecastQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let params = Some(serde_json::to_string(&query).map_err(|e| ApiError::internal(&e))?);
    let account = query.account_id;
    cached(&state, &caller, "forecast", params, move |scope| {
        let now = dashboard::calendar(scope)?.now;
        let Some(forecast) = dashboard::latest_forecast(scope, account)? else {
            return Ok(Err(ApiError::not_found(match account {
                Some(account) => format!("no forecast has been computed for account {account}"),
                None => "no forecast has been computed yet".to_owned(),
            })));
        };
        let low_point = forecast
            .points
            .iter()
            .min_by_key(|p| (p.p50_minor, p.day))
            .cloned();
        Ok(Ok(LatestForecast {
            age_seconds: (now - forecast.run.generated_at).num_seconds().max(0),
            data_age_seconds: forecast
                .run
                .data_as_of
                .map(|at| (now - at).num_seconds().max(0)),
            low_point,
            forecast,
        }))
    })
    .await
}
