//! The recurring-flow detector: salary, rent, subscriptions, utilities, card bills, transfers.
//!
//! A series is a cluster of one account's transactions with the same normalized description and
//! counterparty (digits, dates and ids stripped) and the same direction, whose days follow one
//! calendar ([`Cadence`]): weekly, biweekly, monthly on a day (optionally moved to the Friday
//! before a weekend), month-end or yearly. A calendar fits when at least [`MIN_FIT`] of its
//! days in the cluster's span hold an occurrence (within the cadence's tolerance) and at least
//! [`MIN_FIT`] of the occurrences sit on those days; among the calendars that fit, the one with
//! the most occurrences exactly on its days wins. Everyday purchases fail the second test (a
//! merchant visited ten times a month has nine occurrences off any monthly calendar), one-offs
//! fail [`min_occurrences`]. A series must still be alive: its last occurrence no more than one
//! and a half periods before the day of the forecast.
//!
//! The amount is fixed when the last three occurrences (both, for a yearly series seen twice) are
//! equal (the latest amount is used, so
//! a raised rent is followed at once), otherwise estimated: the median of the last six, with the
//! spread of the last twelve (widened for how few they are) and the median's own error for the
//! forecast's bands. Pure: same transactions, same series.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};

use super::cadence::{Cadence, is_month_end};
use super::residual::Z90;

/// One posted transaction of an account, as the forecast reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub day: NaiveDate,
    /// Signed minor units of the account's currency: negative leaves the account.
    pub amount_minor: i64,
    pub description: String,
    pub counterparty: Option<String>,
}

/// A recurring series found in an account's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The latest occurrence's description, as the bank wrote it.
    pub label: String,
    /// The cluster key: normalized description and counterparty, and the direction.
    pub key: String,
    pub cadence: Cadence,
    /// Signed minor units: the amount of every occurrence, or the estimate when it varies.
    pub amount_minor: i64,
    /// Whether the amount varies (utilities, interest, card bills) and `amount_minor` is an
    /// estimate.
    pub estimated: bool,
    /// Variance of one future amount around its own mean (minor units squared): the recent
    /// occurrences' sample variance, widened for how few they are (Student's t instead of the
    /// normal at the 90th percentile); zero when fixed.
    pub amount_variance: f64,
    /// Variance of the estimate itself (the median of few amounts): an error every future
    /// occurrence shares, so it adds up linearly over occurrences rather than in quadrature.
    pub estimate_variance: f64,
    /// Occurrences on the series' calendar.
    pub occurrences: usize,
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// Indexes (into the detector's input) of the transactions that belong to the series.
    pub members: Vec<usize>,
}

impl Series {
    /// The series' days from `from` to `to`, both included.
    pub fn next_dates(&self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        self.cadence.dates(from, to)
    }
}

/// The share of calendar days with an occurrence, and of occurrences on calendar days, a series
/// needs.
pub const MIN_FIT: f64 = 0.75;

/// How many occurrences a cadence needs before it is believed.
pub fn min_occurrences(cadence: Cadence) -> usize {
    match cadence {
        Cadence::Weekly(_) => 6,
        Cadence::Biweekly { .. } => 4,
        Cadence::Monthly { .. } | Cadence::MonthEnd => 3,
        Cadence::Yearly { .. } => 2,
    }
}

/// The cluster key of a transaction: upper-case letters of its description and counterparty,
/// without digits, punctuation or single letters left over from ids, and its direction.
pub fn cluster_key(txn: &Txn) -> String {
    let description = normalize(&txn.description);
    let counterparty = txn
        .counterparty
        .as_deref()
        .map(normalize)
        .unwrap_or_default();
    let direction = if txn.amount_minor < 0 { "out" } else { "in" };
    format!("{description}|{counterparty}|{direction}")
}

fn normalize(text: &str) -> String {
    let letters: String = text
        .chars()
        .map(|c| {
            if c.is_alphabetic() {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                ' '
            }
        })
        .collect();
    letters
        .split_whitespace()
        .filter(|word| word.chars().count() > 1)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The recurring series of one account's history, alive on `as_of`, ordered by key.
pub fn detect(txns: &[Txn], as_of: NaiveDate) -> Vec<Series> {
    let mut clusters: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, txn) in txns.iter().enumerate() {
        if txn.amount_minor != 0 {
            clusters.entry(cluster_key(txn)).or_default().push(i);
        }
    }
    clusters
        .into_iter()
        .filter_map(|(key, mut members)| {
            members.sort_by_key(|&i| (txns[i].day, i));
            series_of(key, &members, txns, as_of)
        })
        .collect()
}

/// A calendar's fit to a cluster.
#[derive(Debug, Clone)]
struct Fit {
    cadence: Cadence,
    /// Occurrences exactly on a calendar day.
    exact: usize,
    /// Members on (or near) a calendar day, one per day.
    members: Vec<usize>,
}

fn series_of(key: String, members: &[usize], txns: &[Txn], as_of: NaiveDate) -> Option<Series> {
    let (first, last) = (txns[*members.first()?].day, txns[*members.last()?].day);
    let span_days = (last - first).num_days();
    // More than one occurrence a week on average: everyday purchases, not a series.
    let weeks = span_days as f64 / 7.0;
    if members.len() < 2 || members.len() as f64 > weeks * 1.25 + 2.0 {
        return None;
    }
    let mut best: Option<Fit> = None;
    for cadence in candidates(members, txns) {
        let Some(fit) = fit(cadence, members, txns) else {
            continue;
        };
        if best.as_ref().is_none_or(|b| fit.exact > b.exact) {
            best = Some(fit);
        }
    }
    let fit = best?;
    let last_member = txns[*fit.members.last()?].day;
    let alive_until = fit.cadence.period_days() * 3 / 2 + fit.cadence.tolerance_days();
    if (as_of - last_member).num_days() > alive_until {
        return None;
    }
    let amounts: Vec<i64> = fit.members.iter().map(|&i| txns[i].amount_minor).collect();
    let (amount_minor, estimated, amount_variance, estimate_variance) = amount_of(&amounts);
    // Two yearly occurrences are believed only with the same amount: two purchases a year
    // apart are otherwise a coincidence.
    if matches!(fit.cadence, Cadence::Yearly { .. }) && fit.members.len() < 3 && estimated {
        return None;
    }
    Some(Series {
        label: txns[*fit.members.last()?].description.clone(),
        key,
        cadence: fit.cadence,
        amount_minor,
        estimated,
        amount_variance,
        estimate_variance,
        occurrences: fit.members.len(),
        first: txns[*fit.members.first()?].day,
        last: last_member,
        members: fit.members,
    })
}

/// The calendars worth trying for a cluster, simplest first (ties keep the earlier one).
fn candidates(members: &[usize], txns: &[Txn]) -> Vec<Cadence> {
    let days: Vec<NaiveDate> = members.iter().map(|&i| txns[i].day).collect();
    let mut out = Vec::new();
    let weekday = mode(days.iter().map(|d| d.weekday().num_days_from_monday()));
    if let Some(weekday) = weekday.and_then(|w| Weekday::try_from(u8::try_from(w).ok()?).ok()) {
        out.push(Cadence::Weekly(weekday));
        for &anchor in days.iter().filter(|d| d.weekday() == weekday).take(2) {
            out.push(Cadence::Biweekly { anchor });
        }
    }
    if days.iter().any(|&d| is_month_end(d)) {
        out.push(Cadence::MonthEnd);
    }
    let mut month_days: Vec<u32> = Vec::new();
    for d in &days {
        month_days.push(d.day());
        if d.weekday() == Weekday::Fri {
            month_days.extend([d.day() + 1, d.day() + 2]);
        }
    }
    month_days.sort_unstable();
    month_days.dedup();
    for business_day in [false, true] {
        for &day in month_days.iter().filter(|&&d| d <= 31) {
            out.push(Cadence::Monthly { day, business_day });
        }
    }
    if let Some((month, day)) = mode(days.iter().map(|d| (d.month(), d.day()))) {
        out.push(Cadence::Yearly { month, day });
    }
    out
}

/// The most frequent value (the smallest among equals).
fn mode<T: Ord + Copy>(values: impl Iterator<Item = T>) -> Option<T> {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let top = counts.values().copied().max()?;
    counts.into_iter().find(|&(_, n)| n == top).map(|(v, _)| v)
}

/// How well `cadence` explains the cluster, if well enough.
fn fit(cadence: Cadence, members: &[usize], txns: &[Txn]) -> Option<Fit> {
    let tolerance = cadence.tolerance_days();
    let first = txns[*members.first()?].day;
    let last = txns[*members.last()?].day;
    let calendar = cadence.dates(
        first - chrono::Days::new(u64::try_from(tolerance).ok()?),
        last + chrono::Days::new(u64::try_from(tolerance).ok()?),
    );
    if calendar.len() < min_occurrences(cadence) {
        return None;
    }
    // Each calendar day takes its nearest unclaimed occurrence within the tolerance.
    let mut claimed = vec![false; members.len()];
    let mut on_calendar = Vec::new();
    let mut exact = 0;
    let mut start = 0;
    for &day in &calendar {
        while start < members.len() && (day - txns[members[start]].day).num_days() > tolerance {
            start += 1;
        }
        let nearest = (start..members.len())
            .take_while(|&k| (txns[members[k]].day - day).num_days() <= tolerance)
            .filter(|&k| !claimed[k])
            .min_by_key(|&k| ((txns[members[k]].day - day).num_days().abs(), k));
        if let Some(k) = nearest {
            claimed[k] = true;
            on_calendar.push(members[k]);
            if txns[members[k]].day == day {
                exact += 1;
            }
        }
    }
    let hits = on_calendar.len();
    let covers = hits as f64 >= MIN_FIT * calendar.len() as f64;
    let explains = hits as f64 >= MIN_FIT * members.len() as f64;
    if !covers || !explains || hits < min_occurrences(cadence) {
        return None;
    }
    on_calendar.sort_by_key(|&i| (txns[i].day, i));
    Some(Fit {
        cadence,
        exact,
        members: on_calendar,
    })
}

/// Student's t 90th percentiles for 1 to 12 degrees of freedom.
const T90: [f64; 12] = [
    3.078, 1.886, 1.638, 1.533, 1.476, 1.440, 1.415, 1.397, 1.383, 1.372, 1.363, 1.356,
];

/// (amount, estimated, variance of one amount, variance of the estimate) of a series from its
/// amounts in date order.
fn amount_of(amounts: &[i64]) -> (i64, bool, f64, f64) {
    let n = amounts.len();
    let latest = amounts.last().copied().unwrap_or(0);
    if n >= 2 && amounts[n.saturating_sub(3)..].iter().all(|&a| a == latest) {
        return (latest, false, 0.0, 0.0);
    }
    let mut recent: Vec<i64> = amounts[n.saturating_sub(6)..].to_vec();
    recent.sort_unstable();
    let median = if recent.is_empty() {
        0
    } else if recent.len() % 2 == 1 {
        recent[recent.len() / 2]
    } else {
        // The mean of the two middle amounts, in integer arithmetic (rounded toward zero).
        (recent[recent.len() / 2 - 1] + recent[recent.len() / 2]) / 2
    };
    let spread: Vec<f64> = amounts[n.saturating_sub(12)..]
        .iter()
        .map(|&a| a as f64)
        .collect();
    let mean = spread.iter().sum::<f64>() / spread.len().max(1) as f64;
    let sample = if spread.len() > 1 {
        spread.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (spread.len() - 1) as f64
    } else {
        0.0
    };
    // Few amounts understate the spread: the t quantile of their degrees of freedom, as a
    // normal's variance.
    let t = T90[(spread.len().max(2) - 2).min(T90.len() - 1)];
    let variance = sample * (t / Z90).powi(2);
    // A median of k amounts strays about √(π/2) times as far as their mean would.
    let of_estimate = sample * std::f64::consts::FRAC_PI_2 / recent.len().max(1) as f64;
    (median, true, variance, of_estimate)
}

#[cfg(test)]
mod tests {
    use chrono::Days;

    use super::super::cadence::friday_before_weekend;
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or(NaiveDate::MIN)
    }

    fn txn(day: NaiveDate, amount_minor: i64, description: &str) -> Txn {
        Txn {
            day,
            amount_minor,
            description: description.to_owned(),
            counterparty: None,
        }
    }

    #[test]
    fn keys_ignore_digits_dates_and_ids() {
        let a = txn(d("2026-01-05"), -100, "NETFLIX.COM 0123 05/01");
        let b = txn(d("2026-02-05"), -100, "netflix com #99812");
        assert_eq!(cluster_key(&a), cluster_key(&b));
        let refund = txn(d("2026-02-05"), 100, "NETFLIX.COM");
        assert_ne!(cluster_key(&a), cluster_key(&refund));
    }

    #[test]
    fn month_end_business_day_and_yearly_calendars() {
        let as_of = d("2026-06-30");
        let mut txns = Vec::new();
        for m in 1..=6 {
            let end = super::super::cadence::last_of_month(2026, m).unwrap_or(as_of);
            txns.push(txn(end, 4_321 + i64::from(m), "RENDIMENTO 123"));
            // Salary on the 5th, the Friday before when the 5th is a weekend (April 5th is a
            // Sunday).
            let fifth = NaiveDate::from_ymd_opt(2026, m, 5).unwrap_or(as_of);
            txns.push(txn(friday_before_weekend(fifth), 700_000, "SALARIO"));
        }
        for y in [2024, 2025, 2026] {
            txns.push(txn(
                NaiveDate::from_ymd_opt(y, 3, 14).unwrap_or(as_of),
                -11_900,
                "ANUIDADE",
            ));
        }
        let found = detect(&txns, as_of);
        let by_label = |label: &str| found.iter().find(|s| s.label.starts_with(label)).cloned();
        let interest = by_label("RENDIMENTO").expect("month-end series");
        assert_eq!(interest.cadence, Cadence::MonthEnd);
        assert!(interest.estimated);
        let salary = by_label("SALARIO").expect("salary");
        assert_eq!(
            salary.cadence,
            Cadence::Monthly {
                day: 5,
                business_day: true
            }
        );
        assert_eq!((salary.amount_minor, salary.estimated), (700_000, false));
        assert_eq!(
            salary.next_dates(d("2026-07-01"), d("2026-09-30")),
            [d("2026-07-03"), d("2026-08-05"), d("2026-09-04")]
        );
        let yearly = by_label("ANUIDADE").expect("yearly");
        assert_eq!(yearly.cadence, Cadence::Yearly { month: 3, day: 14 });
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn one_offs_irregular_and_ended_series_are_not_series() {
        let as_of = d("2026-06-30");
        let start = d("2025-07-01");
        let mut txns = vec![
            txn(d("2026-02-11"), -250_000, "IPVA 2026"),
            txn(d("2026-05-20"), 90_000, "TED RECEBIDA JOAO 4411"),
        ];
        // A gym paid monthly until January: ended.
        for m in 1..=7 {
            let y = if m <= 6 { 2025 } else { 2026 };
            let month = if m <= 6 { m + 6 } else { 1 };
            txns.push(txn(
                NaiveDate::from_ymd_opt(y, month, 2).unwrap_or(as_of),
                -9_990,
                "ACADEMIA",
            ));
        }
        // A cafe on irregular days, about twice a week.
        let mut day = start;
        let mut step = 1;
        while day < as_of {
            txns.push(txn(day, -1_800 - step, "CAFE DO PONTO"));
            step = step % 6 + 1;
            day = day + Days::new(u64::try_from(step).unwrap_or(1));
        }
        assert_eq!(detect(&txns, as_of), Vec::new());
    }

    #[test]
    fn variable_amounts_are_estimates_with_a_spread() {
        let amounts = [-15_000, -18_000, -31_000, -22_000, -16_500];
        let (amount, estimated, variance, of_estimate) = amount_of(&amounts);
        assert_eq!((amount, estimated), (-18_000, true));
        assert!(variance > 0.0 && of_estimate > 0.0 && of_estimate < variance);
        assert_eq!(amount_of(&[-1, -5, -5, -5]), (-5, false, 0.0, 0.0));
    }
}
