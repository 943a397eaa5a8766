//! The latest cash-flow forecast with its daily bands.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use serde::Serialize;
use uuid::Uuid;

use crate::TenantConn;

/// A forecast run: what it started from and how fresh its inputs were.
#[derive(Debug, Clone, Serialize, QueryableByName)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForecastRun {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// Null: the tenant's total across accounts, in the base currency.
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub account_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = Text)]
    pub method_version: String,
    #[diesel(sql_type = Date)]
    pub starts_on: NaiveDate,
    #[diesel(sql_type = Integer)]
    pub horizon_days: i32,
    #[diesel(sql_type = BigInt)]
    pub starting_balance_minor: i64,
    /// The oldest last successful sync among the accounts it used: how old its data is.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub data_as_of: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    pub generated_at: DateTime<Utc>,
}

/// One projected day: the balance at the 10th, 50th and 90th percentile, minor units.
#[derive(Debug, Clone, Serialize, QueryableByName)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForecastPoint {
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    pub p10_minor: i64,
    #[diesel(sql_type = BigInt)]
    pub p50_minor: i64,
    #[diesel(sql_type = BigInt)]
    pub p90_minor: i64,
}

/// A forecast run and its days, in order.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Forecast {
    #[serde(flatten)]
    pub run: ForecastRun,
    pub points: Vec<ForecastPoint>,
}

/// The newest forecast of `account` (`None`: the tenant's total), if one was ever computed.
pub fn latest_forecast(
    scope: &mut TenantConn<'_>,
    account: Option<Uuid>,
) -> QueryResult<Option<Forecast>> {
    let run: Option<ForecastRun> = diesel::sql_query(
        "SELECT id, account_id, currency::text AS currency, method_version, starts_on, horizon_days, \
                starting_balance_minor, data_as_of, generated_at \
         FROM forecasts WHERE account_id IS NOT DISTINCT FROM $1 \
         ORDER BY starts_on DESC, generated_at DESC, id DESC LIMIT 1",
    )
    .bind::<Nullable<SqlUuid>, _>(account)
    .get_result(scope.conn())
    .optional()?;
    let Some(run) = run else { return Ok(None) };
    let points = diesel::sql_query(
        "SELECT day, p10_minor, p50_minor, p90_minor FROM forecast_points \
         WHERE forecast_id = $1 ORDER BY day",
    )
    .bind::<SqlUuid, _>(run.id)
    .load(scope.conn())?;
    Ok(Some(Forecast { run, points }))
}
