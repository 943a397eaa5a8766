//! What the forecast job reads and writes: its inputs (accounts with their balances, statements,
//! freshness and rates into the base currency; posted history; open data-quality findings) and
//! its runs (a `forecasts` row per account and one for the tenant's total, with their
//! `forecast_points` and `forecast_flows`). The dashboard reads runs back through
//! [`crate::dashboard::latest_forecast`]. Every function runs in a tenant scope.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use crate::TenantConn;
use crate::schema::{forecast_flows, forecast_points, forecasts};

/// Runs kept per (tenant, account) and for the total; older ones go when a new one is stored.
pub const RUNS_KEPT: i64 = 30;

/// An active account as the forecast starts from it.
#[derive(Debug, Clone, QueryableByName)]
pub struct ForecastAccount {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    /// checking, savings or credit_card.
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub currency: String,
    /// The balance at the end of the forecast's day: the current balance less what was booked
    /// after that day. Null before the first sync.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub balance_minor: Option<i64>,
    /// `balance_minor` in the base currency at the newest rate on or before the day
    /// (`fx_rate`, `fx_apply`); null without a rate.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub base_balance_minor: Option<i64>,
    /// The rate as an exact decimal string (base units per unit of `currency`); null when none.
    #[diesel(sql_type = Nullable<Text>)]
    pub rate: Option<String>,
    #[diesel(sql_type = Nullable<Date>)]
    pub rate_date: Option<NaiveDate>,
    /// The base currency's minor-unit exponent minus this currency's.
    #[diesel(sql_type = Integer)]
    pub scale: i32,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub statement_balance_minor: Option<i64>,
    #[diesel(sql_type = Nullable<Date>)]
    pub statement_closing_date: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Date>)]
    pub statement_due_date: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_successful_sync_at: Option<DateTime<Utc>>,
}

/// The tenant's active accounts with their balances at the end of `as_of`, converted into
/// `base` at the newest rate on or before `as_of`.
pub fn accounts(
    scope: &mut TenantConn<'_>,
    base: &str,
    as_of: NaiveDate,
) -> QueryResult<Vec<ForecastAccount>> {
    diesel::sql_query(
        "SELECT a.id, a.name, a.kind, a.currency::text AS currency, b.balance_minor, \
                fx_apply(b.balance_minor, r.rate, bc.minor_units - c.minor_units) AS base_balance_minor, \
                r.rate::text AS rate, r.rate_date, (bc.minor_units - c.minor_units)::integer AS scale, \
                a.statement_balance_minor, a.statement_closing_date, a.statement_due_date, \
                a.last_successful_sync_at \
         FROM accounts a \
         JOIN currencies c ON c.code = a.currency \
         JOIN currencies bc ON bc.code = $1::bpchar \
         CROSS JOIN LATERAL ( \
             SELECT a.current_balance_minor - COALESCE(( \
                 SELECT sum(t.amount_minor) FROM transactions t \
                 WHERE t.account_id = a.id AND t.booked_date > $2), 0)::bigint AS balance_minor \
         ) b \
         LEFT JOIN LATERAL fx_rate(a.currency::text, $1, $2) r ON true \
         WHERE a.status = 'active' \
         ORDER BY a.institution, a.name, a.id",
    )
    .bind::<Text, _>(base)
    .bind::<Date, _>(as_of)
    .load(scope.conn())
}

/// A posted transaction of the history.
#[derive(Debug, Clone, QueryableByName)]
pub struct HistoryTransaction {
    #[diesel(sql_type = SqlUuid)]
    pub account_id: Uuid,
    #[diesel(sql_type = Date)]
    pub booked_date: NaiveDate,
    #[diesel(sql_type = BigInt)]
    pub amount_minor: i64,
    #[diesel(sql_type = Text)]
    pub description: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub counterparty: Option<String>,
}

/// Posted transactions of active accounts booked from `from` to `to`, by account and day.
pub fn history(
    scope: &mut TenantConn<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<HistoryTransaction>> {
    diesel::sql_query(
        "SELECT t.account_id, t.booked_date, t.amount_minor, t.description, t.counterparty \
         FROM transactions t JOIN accounts a ON a.id = t.account_id AND a.status = 'active' \
         WHERE t.status = 'posted' AND t.booked_date BETWEEN $1 AND $2 \
         ORDER BY t.account_id, t.booked_date, t.id",
    )
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .load(scope.conn())
}

/// A run to store.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// `None`: the tenant's total.
    pub account_id: Option<Uuid>,
    pub currency: String,
    pub method_version: String,
    pub starts_on: NaiveDate,
    pub horizon_days: i32,
    pub starting_balance_minor: i64,
    pub data_as_of: Option<DateTime<Utc>>,
    pub inputs: serde_json::Value,
    pub points: Vec<NewPoint>,
    pub flows: Vec<NewFlow>,
}

/// A projected day of a run.
#[derive(Debug, Clone, Copy)]
pub struct NewPoint {
    pub day: NaiveDate,
    pub p10_minor: i64,
    pub p50_minor: i64,
    pub p90_minor: i64,
}

/// A flow a run placed on its calendar.
#[derive(Debug, Clone)]
pub struct NewFlow {
    pub day: NaiveDate,
    /// recurring or card_bill.
    pub source: String,
    pub cadence: String,
    pub label: String,
    pub account_id: Option<Uuid>,
    pub amount_minor: i64,
}

#[derive(Insertable)]
#[diesel(table_name = forecasts)]
struct RunRow<'a> {
    tenant_id: Uuid,
    account_id: Option<Uuid>,
    currency: &'a str,
    method_version: &'a str,
    starts_on: NaiveDate,
    horizon_days: i32,
    starting_balance_minor: i64,
    data_as_of: Option<DateTime<Utc>>,
    inputs: &'a serde_json::Value,
    job_id: Option<Uuid>,
}

#[derive(Insertable)]
#[diesel(table_name = forecast_points)]
struct PointRow {
    forecast_id: Uuid,
    tenant_id: Uuid,
    day: NaiveDate,
    p10_minor: i64,
    p50_minor: i64,
    p90_minor: i64,
}

#[derive(Insertable)]
#[diesel(table_name = forecast_flows)]
struct FlowRow<'a> {
    forecast_id: Uuid,
    tenant_id: Uuid,
    day: NaiveDate,
    seq: i32,
    source: &'a str,
    cadence: &'a str,
    label: &'a str,
    account_id: Option<Uuid>,
    amount_minor: i64,
}

/// Stores `runs` as computed by job `job_id`, in the scope's transaction: a run an earlier
/// attempt of the same job stored is replaced (so a redelivered job leaves one set of runs), and
/// only the newest [`RUNS_KEPT`] runs of each account and of the total are kept. Returns the new
/// runs' ids, in order.
pub fn store(
    scope: &mut TenantConn<'_>,
    job_id: Option<Uuid>,
    runs: &[NewRun],
) -> QueryResult<Vec<Uuid>> {
    let tenant = scope.tenant_id().0;
    if let Some(job) = job_id {
        diesel::delete(forecasts::table.filter(forecasts::job_id.eq(job))).execute(scope.conn())?;
    }
    let mut ids = Vec::with_capacity(runs.len());
    for run in runs {
        let id: Uuid = diesel::insert_into(forecasts::table)
            .values(RunRow {
                tenant_id: tenant,
                account_id: run.account_id,
                currency: &run.currency,
                method_version: &run.method_version,
                starts_on: run.starts_on,
                horizon_days: run.horizon_days,
                starting_balance_minor: run.starting_balance_minor,
                data_as_of: run.data_as_of,
                inputs: &run.inputs,
                job_id,
            })
            .returning(forecasts::id)
            .get_result(scope.conn())?;
        let points: Vec<PointRow> = run
            .points
            .iter()
            .map(|p| PointRow {
                forecast_id: id,
                tenant_id: tenant,
                day: p.day,
                p10_minor: p.p10_minor,
                p50_minor: p.p50_minor,
                p90_minor: p.p90_minor,
            })
            .collect();
        for chunk in points.chunks(5_000) {
            diesel::insert_into(forecast_points::table)
                .values(chunk)
                .execute(scope.conn())?;
        }
        let mut seq_of_day: std::collections::HashMap<NaiveDate, i32> = Default::default();
        let flows: Vec<FlowRow<'_>> = run
            .flows
            .iter()
            .map(|f| {
                let seq = seq_of_day.entry(f.day).or_insert(0);
                *seq += 1;
                FlowRow {
                    forecast_id: id,
                    tenant_id: tenant,
                    day: f.day,
                    seq: *seq - 1,
                    source: &f.source,
                    cadence: &f.cadence,
                    label: &f.label,
                    account_id: f.account_id,
                    amount_minor: f.amount_minor,
                }
            })
            .collect();
        for chunk in flows.chunks(5_000) {
            diesel::insert_into(forecast_flows::table)
                .values(chunk)
                .execute(scope.conn())?;
        }
        prune(scope, run.account_id)?;
        ids.push(id);
    }
    Ok(ids)
}

/// Deletes all but the newest [`RUNS_KEPT`] runs of `account` (`None`: the total); their
/// points and flows go with them.
fn prune(scope: &mut TenantConn<'_>, account: Option<Uuid>) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM forecasts WHERE account_id IS NOT DISTINCT FROM $1 AND id NOT IN ( \
             SELECT id FROM forecasts WHERE account_id IS NOT DISTINCT FROM $1 \
             ORDER BY starts_on DESC, generated_at DESC, id DESC LIMIT $2)",
    )
    .bind::<Nullable<SqlUuid>, _>(account)
    .bind::<BigInt, _>(RUNS_KEPT)
    .execute(scope.conn())
}
