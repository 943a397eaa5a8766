//! Forecast backtest for `ops/bench/forecast`: on sandbox books, train on the history up to 60
//! days before the sandbox's today, forecast those 60 days, and compare with what the books
//! actually did: MAPE of the median path and how often the actual balance fell inside p10–p90,
//! per account and for the total, for several seeds, next to two naive baselines (the last
//! balance held flat; the last 90 days' mean daily change carried on). Then the time the
//! forecast takes on a five-year history, next to generating that history and to the
//! baselines.
//!
//! Pure computation: no database, no Redis. Prints a table on stderr and one JSON line on
//! stdout.

use std::time::Instant;

use chrono::{Days, NaiveDate};
use findash_jobs::forecast::books;
use findash_jobs::forecast::model::{self, AccountInput, Point};
use findash_jobs::providers::sandbox::Sandbox;
use serde_json::json;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Days held out and forecast.
const HOLD_OUT: u64 = 60;
/// The sandbox's today in every run (fixed: the same books every time).
const TODAY: &str = "2026-11-20";

fn arg(name: &str, default: usize) -> Result<usize, BoxError> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

fn books_of(seed: u64, history_days: u64, as_of: NaiveDate) -> Result<Sandbox, BoxError> {
    Ok(Sandbox::from_settings(
        "bench",
        &json!({ "seed": seed, "history_days": history_days, "as_of": as_of }),
    )?)
}

/// Errors of one path against the actual one.
#[derive(Debug, Default, Clone, Copy)]
struct Score {
    /// Sum of |p50 - actual| / |actual| and how many days it covers (actual ≠ 0).
    ape: f64,
    ape_days: usize,
    /// Days inside p10..=p90, of all days.
    inside: usize,
    days: usize,
}

impl Score {
    fn add(&mut self, p10: i64, p50: i64, p90: i64, actual: i64) {
        if actual != 0 {
            self.ape += (p50 - actual).abs() as f64 / actual.abs() as f64;
            self.ape_days += 1;
        }
        self.inside += usize::from((p10..=p90).contains(&actual));
        self.days += 1;
    }

    fn merge(&mut self, other: Score) {
        self.ape += other.ape;
        self.ape_days += other.ape_days;
        self.inside += other.inside;
        self.days += other.days;
    }

    fn mape(self) -> f64 {
        100.0 * self.ape / self.ape_days.max(1) as f64
    }

    fn coverage(self) -> f64 {
        100.0 * self.inside as f64 / self.days.max(1) as f64
    }
}

/// The scores (model, flat, drift) of one path.
#[derive(Debug, Default, Clone, Copy)]
struct Scores {
    model: Score,
    flat: Score,
    drift: Score,
}

impl Scores {
    fn merge(&mut self, other: Scores) {
        self.model.merge(other.model);
        self.flat.merge(other.flat);
        self.drift.merge(other.drift);
    }
}

/// The mean daily change of the last 90 days of `input`'s history ending on `as_of`.
fn drift(input: &AccountInput, as_of: NaiveDate) -> f64 {
    let from = as_of - Days::new(89);
    let sum: i64 = input
        .transactions
        .iter()
        .filter(|t| t.day >= from && t.day <= as_of)
        .map(|t| t.amount_minor)
        .sum();
    sum as f64 / 90.0
}

fn score(points: &[Point], start: i64, drift: f64, actual: &[i64]) -> Scores {
    let mut s = Scores::default();
    for (i, (p, &a)) in points.iter().zip(actual).enumerate() {
        s.model.add(p.p10_minor, p.p50_minor, p.p90_minor, a);
        s.flat.add(start, start, start, a);
        let d = start + (drift * (i + 1) as f64).round() as i64;
        s.drift.add(d, d, d, a);
    }
    s
}

fn main() -> Result<(), BoxError> {
    let seeds = arg("--seeds", 5)?;
    let history_days = arg("--history-days", 730)? as u64;
    let today: NaiveDate = TODAY.parse()?;
    let cutoff = today - Days::new(HOLD_OUT);
    let horizon = HOLD_OUT as usize;

    let names = ["checking", "savings", "card", "total"];
    let mut totals = [Scores::default(); 4];
    let mut per_seed = Vec::new();
    for seed in 1..=seeds as u64 {
        let train = books_of(seed, history_days - HOLD_OUT, cutoff)?;
        let full = books_of(seed, history_days, today)?;
        let named = books::inputs(&train);
        let inputs: Vec<AccountInput> = named.iter().map(|(_, i)| i.clone()).collect();
        let forecasts = model::forecast(&inputs, cutoff, horizon);
        let parts: Vec<(&model::AccountForecast, f64)> =
            forecasts.iter().map(|f| (f, 1.0)).collect();
        let start_total: i64 = inputs.iter().map(|i| i.balance_minor).sum();
        let total = model::total(&parts, start_total, cutoff, horizon);

        // The actual path: today's balance less what was booked after each day.
        let actual_of = |account: &str, balance_today: i64| -> Vec<i64> {
            let after = books::transactions(&full, account, cutoff + Days::new(1), today);
            (1..=HOLD_OUT)
                .map(|i| {
                    let day = cutoff + Days::new(i);
                    balance_today
                        - after
                            .iter()
                            .filter(|t| t.day > day)
                            .map(|t| t.amount_minor)
                            .sum::<i64>()
                })
                .collect()
        };
        let today_balances = books::inputs(&full);
        let mut actual_total = vec![0_i64; horizon];
        let mut seed_scores = Vec::new();
        for (i, (account, input)) in named.iter().enumerate() {
            let balance_today = today_balances
                .iter()
                .find(|(a, _)| a == account)
                .map_or(0, |(_, t)| t.balance_minor);
            let actual = actual_of(account, balance_today);
            for (t, a) in actual_total.iter_mut().zip(&actual) {
                *t += a;
            }
            let s = score(
                &forecasts[i].points,
                input.balance_minor,
                drift(input, cutoff),
                &actual,
            );
            let slot = names.iter().position(|n| account.ends_with(n)).unwrap_or(0);
            totals[slot].merge(s);
            seed_scores.push((names[slot], s));
        }
        let total_drift: f64 = inputs.iter().map(|i| drift(i, cutoff)).sum();
        let s = score(&total.points, start_total, total_drift, &actual_total);
        totals[3].merge(s);
        seed_scores.push(("total", s));
        eprintln!(
            "seed {seed}: {}",
            seed_scores
                .iter()
                .map(|(n, s)| format!(
                    "{n} MAPE {:.2}% (flat {:.2}%) cov {:.0}%",
                    s.model.mape(),
                    s.flat.mape(),
                    s.model.coverage()
                ))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        per_seed.push(json!({
            "seed": seed,
            "total_mape_p50": s.model.mape(),
            "total_coverage_p10_p90": s.model.coverage(),
            "total_mape_flat": s.flat.mape(),
        }));
    }

    eprintln!();
    eprintln!(
        "backtest: {seeds} seeds, {history_days} days of books, last {HOLD_OUT} held out (cut-off {cutoff})"
    );
    eprintln!(
        "| path | p50 MAPE | p10–p90 coverage | flat MAPE | drift MAPE | p50 vs flat | p50 vs drift |"
    );
    eprintln!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut rows = Vec::new();
    for (name, s) in names.iter().zip(&totals) {
        let ratio = |b: Score| s.model.mape() / b.mape().max(f64::MIN_POSITIVE);
        eprintln!(
            "| {name} | {:.2}% | {:.1}% | {:.2}% | {:.2}% | {:.2}× | {:.2}× |",
            s.model.mape(),
            s.model.coverage(),
            s.flat.mape(),
            s.drift.mape(),
            ratio(s.flat),
            ratio(s.drift),
        );
        rows.push(json!({
            "path": name,
            "mape_p50": s.model.mape(),
            "coverage_p10_p90": s.model.coverage(),
            "mape_flat": s.flat.mape(),
            "mape_drift": s.drift.mape(),
        }));
    }

    // Time on five years of history.
    let started = Instant::now();
    let long = books_of(1, 1_825, today)?;
    let named = books::inputs(&long);
    let generate_ms = started.elapsed().as_secs_f64() * 1e3;
    let inputs: Vec<AccountInput> = named.into_iter().map(|(_, i)| i).collect();
    let transactions: usize = inputs.iter().map(|i| i.transactions.len()).sum();
    let runs = 5;
    let mut forecast_ms = Vec::new();
    let mut naive_ms = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let forecasts = model::forecast(&inputs, today, 90);
        let parts: Vec<(&model::AccountForecast, f64)> =
            forecasts.iter().map(|f| (f, 1.0)).collect();
        let start: i64 = inputs.iter().map(|i| i.balance_minor).sum();
        std::hint::black_box(model::total(&parts, start, today, 90));
        forecast_ms.push(started.elapsed().as_secs_f64() * 1e3);
        let started = Instant::now();
        std::hint::black_box(inputs.iter().map(|i| drift(i, today)).sum::<f64>());
        naive_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    forecast_ms.sort_by(f64::total_cmp);
    naive_ms.sort_by(f64::total_cmp);
    let (forecast_ms, naive_ms) = (forecast_ms[runs / 2], naive_ms[runs / 2]);
    eprintln!();
    eprintln!(
        "five years ({transactions} transactions, 3 accounts, 90-day horizon, median of {runs}): \
         forecast {forecast_ms:.1} ms; generating the history {generate_ms:.1} ms \
         (forecast/history {:.2}×); drift baseline {naive_ms:.3} ms (forecast/baseline {:.0}×)",
        forecast_ms / generate_ms,
        forecast_ms / naive_ms.max(1e-6),
    );

    println!(
        "{}",
        json!({
            "bench": "forecast",
            "method_version": model::METHOD_VERSION,
            "seeds": seeds,
            "history_days": history_days,
            "hold_out_days": HOLD_OUT,
            "paths": rows,
            "per_seed": per_seed,
            "five_years": {
                "transactions": transactions,
                "forecast_ms": forecast_ms,
                "generate_history_ms": generate_ms,
                "drift_baseline_ms": naive_ms,
            },
        })
    );
    Ok(())
}
