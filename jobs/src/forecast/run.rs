//! The `forecast` job's database side: read a tenant's inputs, stop on an open critical
//! finding, compute ([`super::model`]) and store every run in one transaction.

use std::collections::HashMap;
use std::str::FromStr as _;

use chrono::{DateTime, Days, NaiveDate, Utc};
use findash_engine::{JobContext, JobError, JobResult};
use findash_schema::dashboard;
use findash_schema::dq::{self, OpenFinding};
use findash_schema::forecasts::{
    self, ForecastAccount, HistoryTransaction, NewFlow, NewPoint, NewRun,
};
use findash_schema::sync::AccountKind;
use rust_decimal::prelude::ToPrimitive as _;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use uuid::Uuid;

use super::card::Statement;
use super::model::{self, AccountForecast, AccountInput, Flow, METHOD_VERSION, Point, Role};
use super::recurring::Txn;
use super::{HISTORY_DAYS, residual};

/// What the read found.
enum Read {
    Blocked(Vec<OpenFinding>),
    Inputs(Inputs),
}

struct Inputs {
    base_currency: String,
    accounts: Vec<ForecastAccount>,
    history: Vec<HistoryTransaction>,
    warnings: Vec<OpenFinding>,
}

/// Forecasts the job's tenant from the end of `as_of` for `horizon` days.
pub(super) async fn forecast(ctx: &JobContext, as_of: NaiveDate, horizon: u32) -> JobResult {
    let read = ctx
        .tenant_db(move |scope| {
            let (critical, warnings) = split(dq::open_findings(scope, None)?);
            if !critical.is_empty() {
                return Ok(Read::Blocked(critical));
            }
            let base_currency = dashboard::calendar(scope)?.base_currency;
            let accounts = forecasts::accounts(scope, &base_currency, as_of)?;
            let history = forecasts::history(scope, as_of - Days::new(HISTORY_DAYS), as_of)?;
            Ok(Read::Inputs(Inputs {
                base_currency,
                accounts,
                history,
                warnings,
            }))
        })
        .await?;
    let inputs = match read {
        Read::Blocked(critical) => return Err(crate::dq::blocked(&critical)),
        Read::Inputs(inputs) => inputs,
    };
    if inputs.accounts.is_empty() {
        return Ok(
            json!({ "as_of": as_of, "accounts": 0, "runs": 0, "skipped": "the tenant has no active accounts" }),
        );
    }
    let job_id = ctx.job_id().0;
    let runs = tokio::task::spawn_blocking(move || compute(&inputs, as_of, horizon))
        .await
        .map_err(JobError::retryable)?;
    let summary = json!({
        "as_of": as_of,
        "horizon_days": horizon,
        "accounts": runs.len() - 1,
        "method_version": METHOD_VERSION,
    });
    let stored = ctx
        .tenant_db(move |scope| {
            // A critical finding that opened while the forecast was computed still stops it.
            let (critical, _) = split(dq::open_findings(scope, None)?);
            if !critical.is_empty() {
                return Ok(Err(critical));
            }
            Ok(Ok(forecasts::store(scope, Some(job_id), &runs)?))
        })
        .await?;
    match stored {
        Err(critical) => Err(crate::dq::blocked(&critical)),
        Ok(ids) => {
            let mut result = summary;
            result["runs"] = json!(ids.len());
            Ok(result)
        }
    }
}

/// (critical, warnings).
fn split(findings: Vec<OpenFinding>) -> (Vec<OpenFinding>, Vec<OpenFinding>) {
    findings.into_iter().partition(OpenFinding::is_critical)
}

/// Every run to store: one per account with a balance, then the total.
fn compute(inputs: &Inputs, as_of: NaiveDate, horizon: u32) -> Vec<NewRun> {
    let days = horizon as usize;
    let mut excluded: Vec<Value> = Vec::new();
    let used: Vec<&ForecastAccount> = inputs
        .accounts
        .iter()
        .filter(|a| {
            let has_balance = a.balance_minor.is_some();
            if !has_balance {
                excluded.push(json!({ "account_id": a.id, "reason": "no balance yet" }));
            }
            has_balance
        })
        .collect();
    let mut by_account: HashMap<Uuid, Vec<Txn>> = HashMap::new();
    for t in &inputs.history {
        by_account.entry(t.account_id).or_default().push(Txn {
            day: t.booked_date,
            amount_minor: t.amount_minor,
            description: t.description.clone(),
            counterparty: t.counterparty.clone(),
        });
    }
    let model_inputs: Vec<AccountInput> = used
        .iter()
        .map(|a| AccountInput {
            kind: AccountKind::from_str(&a.kind).unwrap_or(AccountKind::Checking),
            balance_minor: a.balance_minor.unwrap_or(0),
            transactions: by_account.remove(&a.id).unwrap_or_default(),
            statement: statement(a),
        })
        .collect();
    let forecasts = model::forecast(&model_inputs, as_of, days);
    let warnings: Vec<Value> = inputs
        .warnings
        .iter()
        .map(|f| {
            json!({ "id": f.id, "check_name": f.check_name, "subject_type": f.subject_type,
                    "subject_id": f.subject_id, "message": f.message })
        })
        .collect();
    let ids: Vec<Uuid> = used.iter().map(|a| a.id).collect();
    let common = |account_inputs: Value| -> Value {
        let mut v = json!({
            "as_of": as_of,
            "history_from": as_of - Days::new(HISTORY_DAYS),
            "residual": { "recent_days": residual::RECENT_DAYS, "window_days": residual::WINDOW_DAYS },
            "warnings": warnings,
        });
        if let (Value::Object(target), Value::Object(extra)) = (&mut v, account_inputs) {
            target.extend(extra);
        }
        v
    };

    let mut runs = Vec::with_capacity(used.len() + 1);
    for (i, (account, forecast)) in used.iter().zip(&forecasts).enumerate() {
        runs.push(NewRun {
            account_id: Some(account.id),
            currency: account.currency.clone(),
            method_version: METHOD_VERSION.to_owned(),
            starts_on: as_of + Days::new(1),
            horizon_days: i32::try_from(horizon).unwrap_or(i32::MAX),
            starting_balance_minor: model_inputs[i].balance_minor,
            data_as_of: account.last_successful_sync_at,
            inputs: common(json!({
                "transactions": model_inputs[i].transactions.len(),
                "residual_transactions": forecast.residual_transactions,
                "series": series_json(forecast, &ids),
                "card_bills": bills_json(forecast),
                "excluded": [],
            })),
            points: points(&forecast.points),
            flows: flows(&forecast.flows, &ids, None),
        });
    }

    // The total: every account with a rate into the base currency.
    let mut parts: Vec<(&AccountForecast, f64)> = Vec::new();
    let mut total_flows: Vec<NewFlow> = Vec::new();
    let mut starting = 0_i64;
    let mut freshness: Option<DateTime<Utc>> = None;
    let mut transactions = 0;
    for (i, (account, forecast)) in used.iter().zip(&forecasts).enumerate() {
        // Minor units of the account's currency to minor units of the base currency, exactly.
        let factor = account
            .rate
            .as_deref()
            .and_then(|r| r.parse::<Decimal>().ok())
            .and_then(|r| minor_unit_factor(r, account.scale));
        let rate = factor.and_then(|f| f.to_f64());
        let (Some(factor), Some(rate), Some(base_balance)) =
            (factor, rate, account.base_balance_minor)
        else {
            excluded.push(json!({
                "account_id": account.id,
                "reason": format!("no rate from {} to {}", account.currency, inputs.base_currency),
            }));
            continue;
        };
        parts.push((forecast, rate));
        total_flows.extend(flows(&forecast.flows, &ids, Some(factor)));
        starting = starting.saturating_add(base_balance);
        transactions += model_inputs[i].transactions.len();
        freshness = match (freshness, account.last_successful_sync_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    total_flows.sort_by(|a, b| (a.day, &a.label).cmp(&(b.day, &b.label)));
    let total = model::total(&parts, starting, as_of, days);
    let rates: Vec<Value> = used
        .iter()
        .filter(|a| a.currency != inputs.base_currency)
        .map(|a| json!({ "currency": a.currency, "rate": a.rate, "rate_date": a.rate_date }))
        .collect();
    runs.push(NewRun {
        account_id: None,
        currency: inputs.base_currency.clone(),
        method_version: METHOD_VERSION.to_owned(),
        starts_on: as_of + Days::new(1),
        horizon_days: i32::try_from(horizon).unwrap_or(i32::MAX),
        starting_balance_minor: starting,
        data_as_of: freshness,
        inputs: common(json!({
            "accounts": parts.len(),
            "transactions": transactions,
            "rates": rates,
            "excluded": excluded,
        })),
        points: points(&total.points),
        flows: total_flows,
    });
    runs
}

fn statement(account: &ForecastAccount) -> Option<Statement> {
    if account.kind != AccountKind::CreditCard.as_str() {
        return None;
    }
    Some(Statement {
        balance_minor: account.statement_balance_minor?,
        closing: account.statement_closing_date?,
        due: account.statement_due_date?,
    })
}

fn points(points: &[Point]) -> Vec<NewPoint> {
    points
        .iter()
        .map(|p| NewPoint {
            day: p.day,
            p10_minor: p.p10_minor,
            p50_minor: p.p50_minor,
            p90_minor: p.p90_minor,
        })
        .collect()
}

/// `rate` (base currency per unit of the account's) as a factor from the account's minor units to
/// the base currency's: `scale` is the base currency's minor-unit exponent minus the account's.
fn minor_unit_factor(rate: Decimal, scale: i32) -> Option<Decimal> {
    let ten = Decimal::from(10);
    let mut factor = rate;
    for _ in 0..scale.unsigned_abs() {
        factor = if scale > 0 {
            factor.checked_mul(ten)?
        } else {
            factor.checked_div(ten)?
        };
    }
    Some(factor)
}

/// Flows as stored: in the account's currency, or times `factor` (see [`minor_unit_factor`]) for
/// a total in the base currency, in exact decimals rounded once, half away from zero (as
/// `fx_apply` rounds).
fn flows(flows: &[Flow], ids: &[Uuid], factor: Option<Decimal>) -> Vec<NewFlow> {
    flows
        .iter()
        .map(|f| NewFlow {
            day: f.day,
            source: f.source.as_str().to_owned(),
            cadence: f.cadence.to_owned(),
            label: f.label.clone(),
            account_id: ids.get(f.account).copied(),
            amount_minor: match factor {
                None => f.amount_minor,
                Some(factor) => (Decimal::from(f.amount_minor) * factor)
                    .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
                    .to_i64()
                    .unwrap_or(if f.amount_minor < 0 {
                        i64::MIN
                    } else {
                        i64::MAX
                    }),
            },
        })
        .collect()
}

fn series_json(forecast: &AccountForecast, ids: &[Uuid]) -> Vec<Value> {
    forecast
        .series
        .iter()
        .map(|(s, role)| {
            json!({
                "label": s.label,
                "cadence": s.cadence.name(),
                "amount_minor": s.amount_minor,
                "estimated": s.estimated,
                "occurrences": s.occurrences,
                "first": s.first,
                "last": s.last,
                "role": match role {
                    Role::Recurring => json!("recurring"),
                    Role::CardPayment { card } => json!({ "pays_card": ids.get(*card) }),
                },
            })
        })
        .collect()
}

fn bills_json(forecast: &AccountForecast) -> Vec<Value> {
    forecast
        .bills
        .iter()
        .map(|b| {
            json!({ "due": b.day, "closing": b.closing, "amount_minor": b.amount_minor, "estimated": b.estimated })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::model::FlowSource;

    fn flow(amount_minor: i64) -> Flow {
        Flow {
            day: NaiveDate::from_ymd_opt(2026, 12, 5).expect("a date"),
            source: FlowSource::Recurring,
            cadence: "monthly",
            label: "Rent".to_owned(),
            account: 0,
            amount_minor,
            estimated: false,
        }
    }

    #[test]
    fn total_flows_convert_exactly_and_round_half_away_from_zero() {
        let id = [Uuid::nil()];
        let factor = |rate: &str, scale| {
            minor_unit_factor(rate.parse().expect("a decimal"), scale).expect("in range")
        };
        let amounts = |factor| -> Vec<i64> {
            flows(
                &[flow(-1000), flow(5), flow(-5), flow(1)],
                &id,
                Some(factor),
            )
            .iter()
            .map(|f| f.amount_minor)
            .collect()
        };
        // 0.5 exactly: ties go away from zero, never to even and never off by float error.
        assert_eq!(amounts(factor("0.5", 0)), [-500, 3, -3, 1]);
        // A rate of 5.4321 between two-decimal currencies.
        assert_eq!(amounts(factor("5.4321", 0)), [-5432, 27, -27, 5]);
        // Into a currency without minor units (scale -2) and one with three (scale 1).
        assert_eq!(amounts(factor("150", -2)), [-1500, 8, -8, 2]);
        assert_eq!(amounts(factor("0.1", 1)), [-1000, 5, -5, 1]);
        // The same currency: untouched.
        let same: Vec<i64> = flows(&[flow(-1000)], &id, None)
            .iter()
            .map(|f| f.amount_minor)
            .collect();
        assert_eq!(same, [-1000]);
    }
}
