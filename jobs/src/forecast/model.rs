//! The forecast itself, history in, daily bands out: detect each account's recurring series,
//! pair card payments, fit the day-to-day model on what is left, place recurring flows and card
//! bills on the calendar, and turn it all into p10/p50/p90 balances per day.
//!
//! The median path of an account is its balance at the end of `as_of` plus, day by day, the
//! flows placed that day and the weekday's expected residual, plus the median of the summed
//! residual deviations of the horizon. The bands add, to the residual's empirical quantiles
//! ([`super::residual`]), normal variances of what is estimated, each independent of the
//! others so widths add in quadrature:
//! - the weekday means' error, shared by all future days: `h²` times its daily variance;
//! - estimated recurring amounts: each occurrence's own spread, plus the estimate's error,
//!   shared by all occurrences of the series (`k²` times it after `k` occurrences);
//! - estimated card bills, on the paying account: the card's spending spread over the days each
//!   bill projects (independent between bills) and the card's weekday means' error over all of
//!   them (shared).
//!
//! A card's own band restarts at each closing whose bill is paid (paid in full, what was spent
//! before no longer matters). The tenant's total sums the accounts' daily deviations day by
//! day (their co-movement kept, bills cancelling), and the accounts' estimate errors as
//! independent ones, over the whole horizon.
//!
//! Money is integer minor units in and out; floats live only inside the statistics and every
//! output is rounded once.

use std::collections::HashSet;

use chrono::{Days, NaiveDate};
use findash_schema::sync::AccountKind;

use super::card::{self, Bill, Statement};
use super::recurring::{self, Series, Txn};
use super::residual::{self, Residual, Spread, Z90};

/// Stored with every run: what computed it. Change it whenever the method changes.
pub const METHOD_VERSION: &str = "recurring-residual-v2";

/// One account's history as of the forecast's day.
#[derive(Debug, Clone)]
pub struct AccountInput {
    pub kind: AccountKind,
    /// The balance at the end of `as_of`, signed minor units (negative: owed).
    pub balance_minor: i64,
    /// Posted transactions booked on or before `as_of`, in any order.
    pub transactions: Vec<Txn>,
    /// A card's latest statement.
    pub statement: Option<Statement>,
}

/// Where a placed flow comes from (`forecast_flows.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowSource {
    Recurring,
    CardBill,
}

impl FlowSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowSource::Recurring => "recurring",
            FlowSource::CardBill => "card_bill",
        }
    }
}

/// A flow placed on the calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub day: NaiveDate,
    pub source: FlowSource,
    /// The cadence's name, `statement` for a card bill.
    pub cadence: &'static str,
    pub label: String,
    /// The account (index into the inputs) the flow belongs to.
    pub account: usize,
    /// Signed minor units of the account's currency.
    pub amount_minor: i64,
    pub estimated: bool,
}

/// One projected day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub day: NaiveDate,
    pub p10_minor: i64,
    pub p50_minor: i64,
    pub p90_minor: i64,
}

/// What a series is to the forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Placed on its calendar.
    Recurring,
    /// One side of a card's bill payments: the bills are placed instead.
    CardPayment { card: usize },
}

/// An account's forecast.
#[derive(Debug, Clone)]
pub struct AccountForecast {
    pub points: Vec<Point>,
    /// Flows of this account in the horizon, by day.
    pub flows: Vec<Flow>,
    pub series: Vec<(Series, Role)>,
    /// Bills of this card (for a card) in the horizon.
    pub bills: Vec<Bill>,
    /// Transactions the day-to-day model was fitted on.
    pub residual_transactions: usize,
    /// What a tenant total needs: the expected change of each horizon day (flows and residual
    /// means), the residual's deviations (ending on `as_of`), the variance of its expected
    /// daily change, and the cumulative variance of recurring flows with estimated amounts,
    /// card bills excluded (they cancel in a total).
    expected: Vec<f64>,
    deviations: Vec<f64>,
    level_variance: f64,
    recurring_variance: Vec<f64>,
}

/// The tenant's total.
#[derive(Debug, Clone)]
pub struct TotalForecast {
    pub points: Vec<Point>,
}

/// The forecast of every account for the `horizon` days after `as_of`.
pub fn forecast(
    accounts: &[AccountInput],
    as_of: NaiveDate,
    horizon: usize,
) -> Vec<AccountForecast> {
    let end = as_of + Days::new(horizon as u64);
    let detected: Vec<Vec<Series>> = accounts
        .iter()
        .map(|a| recurring::detect(&a.transactions, as_of))
        .collect();
    let mut roles: Vec<Vec<Role>> = detected
        .iter()
        .map(|s| vec![Role::Recurring; s.len()])
        .collect();
    // Transactions that are a card bill payment on either side.
    let mut payments: Vec<HashSet<usize>> = vec![HashSet::new(); accounts.len()];
    let mut payer_of: Vec<Option<usize>> = vec![None; accounts.len()];
    for (c, card) in accounts.iter().enumerate() {
        if card.kind != AccountKind::CreditCard || card.statement.is_none() {
            continue;
        }
        let others: Vec<usize> = (0..accounts.len())
            .filter(|&a| accounts[a].kind != AccountKind::CreditCard)
            .collect();
        let slices: Vec<&[Txn]> = others
            .iter()
            .map(|&a| accounts[a].transactions.as_slice())
            .collect();
        let (card_side, other_side) = card::pair_payments(&card.transactions, &slices);
        payments[c].extend(card_side);
        let mut most = 0;
        for (slot, paired) in other_side.into_iter().enumerate() {
            let a = others[slot];
            if paired.len() > most {
                most = paired.len();
                payer_of[c] = Some(a);
            }
            payments[a].extend(paired);
        }
        for a in std::iter::once(c).chain(others.iter().copied()) {
            for (s, series) in detected[a].iter().enumerate() {
                let paired = series
                    .members
                    .iter()
                    .filter(|i| payments[a].contains(i))
                    .count();
                if paired * 2 >= series.members.len() && paired > 0 {
                    roles[a][s] = Role::CardPayment { card: c };
                }
            }
        }
    }

    let residuals: Vec<(Residual, usize)> = accounts
        .iter()
        .enumerate()
        .map(|(a, account)| {
            let mut explained: HashSet<usize> = payments[a].clone();
            for series in &detected[a] {
                explained.extend(series.members.iter().copied());
            }
            residual_of(&account.transactions, &explained, as_of)
        })
        .collect();

    // Recurring flows of each account.
    let mut flows: Vec<Vec<Flow>> = vec![Vec::new(); accounts.len()];
    let mut variance_on: Vec<Vec<(NaiveDate, f64)>> = vec![Vec::new(); accounts.len()];
    // Per series with an estimated amount: its days and the variance of the estimate, an error
    // all its occurrences share.
    let mut shared_on: Vec<Vec<(Vec<NaiveDate>, f64)>> = vec![Vec::new(); accounts.len()];
    for (a, series) in detected.iter().enumerate() {
        for (s, series) in series.iter().enumerate() {
            if roles[a][s] != Role::Recurring {
                continue;
            }
            let dates = series.next_dates(as_of + Days::new(1), end);
            if series.estimated {
                shared_on[a].push((dates.clone(), series.estimate_variance));
            }
            for day in dates {
                flows[a].push(Flow {
                    day,
                    source: FlowSource::Recurring,
                    cadence: series.cadence.name(),
                    label: series.label.clone(),
                    account: a,
                    amount_minor: series.amount_minor,
                    estimated: series.estimated,
                });
                if series.estimated {
                    variance_on[a].push((day, series.amount_variance));
                }
            }
        }
    }

    // Card bills, on the card and on the account that pays it.
    let mut bills: Vec<Vec<Bill>> = vec![Vec::new(); accounts.len()];
    let mut bill_variance_on: Vec<Vec<(NaiveDate, f64)>> = vec![Vec::new(); accounts.len()];
    // Per paying account: the days of the card's expected spending each estimated bill adds up
    // (by due date), and the card's level variance; that error is shared by every bill.
    let mut bill_level_on: Vec<Vec<(NaiveDate, f64, f64)>> = vec![Vec::new(); accounts.len()];
    for (c, card) in accounts.iter().enumerate() {
        let Some(statement) = card
            .statement
            .filter(|_| card.kind == AccountKind::CreditCard)
        else {
            continue;
        };
        let paid_since_closing: i64 = payments[c]
            .iter()
            .map(|&i| &card.transactions[i])
            .filter(|t| t.day > statement.closing && t.day <= as_of)
            .map(|t| t.amount_minor)
            .sum();
        let (model, _) = &residuals[c];
        let own = &flows[c];
        let card_bills = card::bills(
            statement,
            card.balance_minor,
            paid_since_closing,
            as_of,
            end,
            |day| {
                model.mean_on(day)
                    + own
                        .iter()
                        .filter(|f| f.day == day)
                        .map(|f| f.amount_minor as f64)
                        .sum::<f64>()
            },
        );
        // An estimated bill is the known balance plus the card's projected spending from the
        // later of `as_of` and the previous closing to its own closing: that stretch's spread
        // (independent between bills) and its share of the level's error (common to all).
        let card_spreads = residual::spreads(model.deviations(), horizon.max(1));
        let mut previous_closing = statement.closing;
        for bill in &card_bills {
            flows[c].push(bill_flow(bill, c, bill.amount_minor));
            let projected =
                usize::try_from((bill.closing - previous_closing.max(as_of)).num_days())
                    .unwrap_or(0);
            previous_closing = previous_closing.max(bill.closing);
            if let Some(p) = payer_of[c] {
                flows[p].push(bill_flow(bill, p, -bill.amount_minor));
                if bill.estimated && projected > 0 {
                    let spread = card_spreads
                        .get(projected.min(card_spreads.len()) - 1)
                        .copied()
                        .unwrap_or_default();
                    bill_variance_on[p].push((bill.day, spread.variance()));
                    bill_level_on[p].push((bill.day, projected as f64, model.level_variance()));
                }
            }
        }
        bills[c] = card_bills;
    }

    accounts
        .iter()
        .enumerate()
        .map(|(a, account)| {
            let (model, residual_transactions) = &residuals[a];
            let mut account_flows = std::mem::take(&mut flows[a]);
            account_flows.sort_by(|x, y| {
                (x.day, x.source.as_str(), &x.label).cmp(&(y.day, y.source.as_str(), &y.label))
            });
            let days: Vec<NaiveDate> = (1..=horizon as u64).map(|i| as_of + Days::new(i)).collect();
            let expected: Vec<f64> = days
                .iter()
                .map(|&day| {
                    model.mean_on(day)
                        + account_flows
                            .iter()
                            .filter(|f| f.day == day)
                            .map(|f| f.amount_minor as f64)
                            .sum::<f64>()
                })
                .collect();
            let recurring_variance: Vec<f64> = cumulative(&days, &variance_on[a])
                .iter()
                .zip(shared(&days, &shared_on[a]))
                .map(|(x, y)| x + y)
                .collect();
            let spreads = residual::spreads(model.deviations(), horizon);
            // A card paid in full forgets its spending at each paid closing.
            let window_start: Vec<NaiveDate> = days
                .iter()
                .map(|&day| {
                    bills[a]
                        .iter()
                        .filter(|b| b.day <= day)
                        .map(|b| b.closing.max(as_of))
                        .max()
                        .unwrap_or(as_of)
                })
                .collect();
            // The flows' variance, the card bills' (their spending's spread and the card's
            // level error, common to all bills) and this account's own level error over the
            // days its band counts.
            let bill_variance = cumulative(&days, &bill_variance_on[a]);
            let all_variance: Vec<f64> = days
                .iter()
                .enumerate()
                .map(|(i, &day)| {
                    let (bill_days, bill_level) = bill_level_on[a]
                        .iter()
                        .filter(|(due, ..)| *due <= day)
                        .fold((0.0, 0.0_f64), |(n, v), (_, d, lv)| (n + d, v.max(*lv)));
                    let h = (day - window_start[i]).num_days() as f64;
                    recurring_variance[i]
                        + bill_variance[i]
                        + bill_days * bill_days * bill_level
                        + h * h * model.level_variance()
                })
                .collect();
            let points = points(
                account.balance_minor as f64,
                &days,
                &expected,
                &spreads,
                &window_start,
                &all_variance,
            );
            let series = detected[a]
                .iter()
                .cloned()
                .zip(roles[a].iter().copied())
                .collect();
            AccountForecast {
                points,
                flows: account_flows,
                series,
                bills: std::mem::take(&mut bills[a]),
                residual_transactions: *residual_transactions,
                expected,
                deviations: model.deviations().to_vec(),
                level_variance: model.level_variance(),
                recurring_variance,
            }
        })
        .collect()
}

/// The tenant's total of `parts` (each an account's forecast and the rate that turns its minor
/// units into the base currency's), starting from `starting_balance_minor` (already converted).
pub fn total(
    parts: &[(&AccountForecast, f64)],
    starting_balance_minor: i64,
    as_of: NaiveDate,
    horizon: usize,
) -> TotalForecast {
    let days: Vec<NaiveDate> = (1..=horizon as u64).map(|i| as_of + Days::new(i)).collect();
    let mut expected = vec![0.0; horizon];
    let mut variance = vec![0.0; horizon];
    let longest = parts
        .iter()
        .map(|(f, _)| f.deviations.len())
        .max()
        .unwrap_or(0);
    let mut deviations = vec![0.0; longest];
    for (forecast, rate) in parts {
        for (i, e) in forecast.expected.iter().enumerate().take(horizon) {
            expected[i] += rate * e;
        }
        // Each account's level is estimated from its own history: their errors add as
        // independent ones, each growing with the horizon's length (no restart at a card's
        // closing: in the total, what the card spent stays spent).
        for (i, v) in forecast.recurring_variance.iter().enumerate().take(horizon) {
            let h = (i + 1) as f64;
            variance[i] += rate * rate * (v + h * h * forecast.level_variance);
        }
        // Aligned on the last day of history.
        let offset = longest - forecast.deviations.len();
        for (i, d) in forecast.deviations.iter().enumerate() {
            deviations[offset + i] += rate * d;
        }
    }
    let spreads = residual::spreads(&deviations, horizon);
    let window_start = vec![as_of; horizon];
    TotalForecast {
        points: points(
            starting_balance_minor as f64,
            &days,
            &expected,
            &spreads,
            &window_start,
            &variance,
        ),
    }
}

fn bill_flow(bill: &Bill, account: usize, amount_minor: i64) -> Flow {
    Flow {
        day: bill.day,
        source: FlowSource::CardBill,
        cadence: "statement",
        label: "Credit card bill".to_owned(),
        account,
        amount_minor,
        estimated: bill.estimated,
    }
}

/// The day-to-day model of the transactions not in `explained`, and how many it was fitted on.
fn residual_of(txns: &[Txn], explained: &HashSet<usize>, as_of: NaiveDate) -> (Residual, usize) {
    let from = as_of - Days::new(residual::WINDOW_DAYS as u64 - 1);
    let first = txns
        .iter()
        .map(|t| t.day)
        .filter(|d| *d >= from)
        .min()
        .unwrap_or(as_of)
        .max(from);
    let len = usize::try_from((as_of - first).num_days() + 1).unwrap_or(0);
    let mut daily = vec![0_i64; len];
    let mut used = 0;
    for (i, t) in txns.iter().enumerate() {
        if explained.contains(&i) || t.day < first || t.day > as_of {
            continue;
        }
        let k = usize::try_from((t.day - first).num_days()).unwrap_or(0);
        daily[k] += t.amount_minor;
        used += 1;
    }
    (Residual::fit(&daily, as_of), used)
}

/// The variance of series whose estimates' errors repeat on each of their days: for each day,
/// the square of how many of a series' days have passed times its variance, summed over
/// series.
fn shared(days: &[NaiveDate], series: &[(Vec<NaiveDate>, f64)]) -> Vec<f64> {
    days.iter()
        .map(|day| {
            series
                .iter()
                .map(|(dates, v)| (dates.iter().filter(|d| *d <= day).count() as f64).powi(2) * v)
                .sum()
        })
        .collect()
}

/// Running sums of `(day, variance)` over `days`.
fn cumulative(days: &[NaiveDate], at: &[(NaiveDate, f64)]) -> Vec<f64> {
    let mut total = 0.0;
    days.iter()
        .map(|day| {
            total += at
                .iter()
                .filter(|(d, _)| d == day)
                .map(|(_, v)| v)
                .sum::<f64>();
            total
        })
        .collect()
}

/// The banded balance path: `start` plus the running `expected` changes, the residual spread
/// of each day's horizon (counted from its window start) and the flows' variance.
fn points(
    start: f64,
    days: &[NaiveDate],
    expected: &[f64],
    spreads: &[Spread],
    window_start: &[NaiveDate],
    variance: &[f64],
) -> Vec<Point> {
    let mut path = start;
    days.iter()
        .enumerate()
        .map(|(i, &day)| {
            path += expected[i];
            let h = usize::try_from((day - window_start[i]).num_days()).unwrap_or(1);
            let spread = spreads
                .get(h.clamp(1, spreads.len().max(1)) - 1)
                .copied()
                .unwrap_or_default();
            let flows = Z90 * variance[i].max(0.0).sqrt();
            let p50 = path + spread.q50;
            let below = (spread.q50 - spread.q10).max(0.0).hypot(flows);
            let above = (spread.q90 - spread.q50).max(0.0).hypot(flows);
            let p50_minor = p50.round() as i64;
            Point {
                day,
                p10_minor: ((p50 - below).round() as i64).min(p50_minor),
                p50_minor,
                p90_minor: ((p50 + above).round() as i64).max(p50_minor),
            }
        })
        .collect()
}
