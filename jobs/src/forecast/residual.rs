//! The day-to-day model: what is left of an account's history once recurring series and card
//! bills are taken out (groceries, fuel, delivery, refunds, one-offs).
//!
//! - The expected change of a future day is the mean residual of its weekday over the last
//!   [`RECENT_DAYS`] days: weekday seasonality, smoothed over twelve weeks so it follows a
//!   change of habits within a quarter.
//! - The bands come from empirical quantiles of the history itself: every day of the last
//!   [`WINDOW_DAYS`] gets its deviation from its weekday's mean over that window, and the p10,
//!   p50 and p90 of an `h`-day horizon are the quantiles of the sums of `h` consecutive
//!   deviations (every such window of the history). Runs of heavy spending, quiet weeks and
//!   skew (a few large purchases) are kept as they happened, with no assumption of normality.
//!   Empirical quantiles are used up to a twenty-fourth of the window ([`EMPIRICAL_SHARE`],
//!   two weeks of a year: longer windows are too few apart to say how far a path strays);
//!   beyond it the spread of the longest empirical horizon grows with the square root of time
//!   (independent stretches) and its median stays. With almost no history, a normal
//!   approximation of the daily deviations does the same.
//! - The weekday means are estimates from twelve weeks: their error is common to every future
//!   day, so it grows with the horizon itself, not its square root. [`Residual::level_variance`]
//!   is that error's variance per day (the daily variance over the recent days); the model
//!   adds it to the bands.

use chrono::{Datelike, NaiveDate};

/// Days whose weekday means make the expected change.
pub const RECENT_DAYS: usize = 84;
/// Days whose deviations make the bands.
pub const WINDOW_DAYS: usize = 365;
/// Windows a horizon's empirical quantiles need.
pub const MIN_WINDOWS: usize = 30;
/// The longest horizon with empirical quantiles is this fraction of the window (about two
/// weeks of a year, two dozen separate windows): the tails of longer windows rest on a handful
/// of separate stretches and say little about how far a path strays.
pub const EMPIRICAL_SHARE: usize = 24;
/// The standard normal's 90th percentile.
pub const Z90: f64 = 1.281_551_565_545;

/// A fitted day-to-day model of one series of daily residual sums.
#[derive(Debug, Clone, PartialEq)]
pub struct Residual {
    /// Mean residual per weekday (Monday first) over the recent days, minor units.
    weekday_mean: [f64; 7],
    /// Variance of the expected daily change as an estimate (minor units squared): the error
    /// every future day shares, so over `h` days it grows with `h²`.
    level_variance: f64,
    /// Each day's deviation from its weekday's mean over the window, oldest first, ending on
    /// the last day of history.
    deviations: Vec<f64>,
}

/// The p10, p50 and p90 of the summed deviations over one horizon, minor units.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spread {
    pub q10: f64,
    pub q50: f64,
    pub q90: f64,
}

impl Spread {
    /// The variance of a normal with this spread's p10–p90 width.
    pub fn variance(self) -> f64 {
        ((self.q90 - self.q10) / (2.0 * Z90)).powi(2)
    }
}

impl Residual {
    /// Fits the model to `daily` (residual sums per day, oldest first) whose last day is
    /// `last_day`.
    pub fn fit(daily: &[i64], last_day: NaiveDate) -> Residual {
        let weekday_of = |i: usize, len: usize| -> usize {
            let back = i64::try_from(len - 1 - i).unwrap_or(0);
            let day = last_day - chrono::Days::new(u64::try_from(back).unwrap_or(0));
            day.weekday().num_days_from_monday() as usize
        };
        let means = |days: &[i64]| -> [f64; 7] {
            let (mut sum, mut n) = ([0.0; 7], [0_u32; 7]);
            for (i, &v) in days.iter().enumerate() {
                let w = weekday_of(i, days.len());
                sum[w] += v as f64;
                n[w] += 1;
            }
            let mut out = [0.0; 7];
            for w in 0..7 {
                if n[w] > 0 {
                    out[w] = sum[w] / f64::from(n[w]);
                }
            }
            out
        };
        let window = &daily[daily.len().saturating_sub(WINDOW_DAYS)..];
        let recent = &daily[daily.len().saturating_sub(RECENT_DAYS)..];
        let long_means = means(window);
        let deviations: Vec<f64> = window
            .iter()
            .enumerate()
            .map(|(i, &v)| v as f64 - long_means[weekday_of(i, window.len())])
            .collect();
        // The daily variance around the weekday means (seven means fitted), and what it makes
        // of means of the recent days: over `h` future days, `h` days' worth of weekday means
        // of about `recent / 7` days each, an error of variance `h² σ² / recent`.
        let fitted = window.len().saturating_sub(7).max(1) as f64;
        let daily_variance = deviations.iter().map(|d| d * d).sum::<f64>() / fitted;
        let level_variance = if recent.is_empty() {
            0.0
        } else {
            daily_variance / recent.len() as f64
        };
        Residual {
            weekday_mean: means(recent),
            level_variance,
            deviations,
        }
    }

    /// The variance of the expected daily change as an estimate, minor units squared.
    pub fn level_variance(&self) -> f64 {
        self.level_variance
    }

    /// The expected residual change on `day`.
    pub fn mean_on(&self, day: NaiveDate) -> f64 {
        self.weekday_mean[day.weekday().num_days_from_monday() as usize]
    }

    /// The deviations the bands are made of, oldest first, ending on the last day of history.
    pub fn deviations(&self) -> &[f64] {
        &self.deviations
    }
}

/// The spreads of horizons 1 to `horizon` days (index `h - 1`) of the deviation series
/// `deviations`.
pub fn spreads(deviations: &[f64], horizon: usize) -> Vec<Spread> {
    let n = deviations.len();
    if n < MIN_WINDOWS {
        return normal_spreads(deviations, horizon);
    }
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0);
    for d in deviations {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + d);
    }
    let longest = (n / EMPIRICAL_SHARE).clamp(1, n + 1 - MIN_WINDOWS);
    let mut out = Vec::with_capacity(horizon);
    let mut sums = Vec::with_capacity(n);
    for h in 1..=horizon.min(longest) {
        sums.clear();
        sums.extend((0..=n - h).map(|i| prefix[i + h] - prefix[i]));
        sums.sort_by(f64::total_cmp);
        // The deviations sum to zero over the window, so windows of a good part of it vary
        // less than independent stretches would: undo that (finite-population correction).
        let widen = 1.0 / (1.0 - h as f64 / n as f64).sqrt();
        let q50 = quantile(&sums, 0.5);
        out.push(Spread {
            q10: q50 + (quantile(&sums, 0.1) - q50) * widen,
            q50,
            q90: q50 + (quantile(&sums, 0.9) - q50) * widen,
        });
    }
    let anchor = out.last().copied().unwrap_or_default();
    for h in out.len() + 1..=horizon {
        out.push(scaled(anchor, h as f64 / longest as f64));
    }
    out
}

/// A spread grown by the square root of `ratio` (a horizon that many times longer). The
/// median's offset from zero (the skew of the sums) stays: a sum of `k` times as many
/// independent days has `√k` times the spread and `1 / √k` times the skewness, so the gap
/// between its median and its mean stays about the same.
fn scaled(spread: Spread, ratio: f64) -> Spread {
    let k = ratio.sqrt();
    Spread {
        q10: spread.q50 + (spread.q10 - spread.q50) * k,
        q50: spread.q50,
        q90: spread.q50 + (spread.q90 - spread.q50) * k,
    }
}

/// Spreads of a normal approximation: too little history for empirical ones.
fn normal_spreads(deviations: &[f64], horizon: usize) -> Vec<Spread> {
    let n = deviations.len();
    let variance = if n > 1 {
        let mean = deviations.iter().sum::<f64>() / n as f64;
        deviations.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    (1..=horizon)
        .map(|h| {
            let half = Z90 * (variance * h as f64).sqrt();
            Spread {
                q10: -half,
                q50: 0.0,
                q90: half,
            }
        })
        .collect()
}

/// The `p` quantile of `sorted` (linear between the nearest ranks).
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let rank = p * (n - 1) as f64;
            let below = rank.floor();
            let i = below as usize;
            let above = sorted[(i + 1).min(n - 1)];
            sorted[i] + (above - sorted[i]) * (rank - below)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekday_means_follow_recent_days() {
        // A Saturday (2026-01-31) ends the history: -100 on Saturdays, -10 on other days.
        let last = "2026-01-31".parse().unwrap_or(NaiveDate::MIN);
        let daily: Vec<i64> = (0..140)
            .map(|i| if (139 - i) % 7 == 0 { -100 } else { -10 })
            .collect();
        let model = Residual::fit(&daily, last);
        assert!((model.mean_on(last) + 100.0).abs() < 1e-9);
        assert!((model.mean_on(last.pred_opt().unwrap_or(last)) + 10.0).abs() < 1e-9);
        assert!(model.deviations().iter().all(|d| d.abs() < 1e-9));
        assert!(model.level_variance().abs() < 1e-9);
    }

    #[test]
    fn the_level_is_uncertain_by_the_recent_days_worth() {
        // Alternating -100 and +100 around -50, a Saturday last: 84 recent days of a
        // variance of about 100² around their weekday means.
        let last = "2026-01-31".parse().unwrap_or(NaiveDate::MIN);
        let daily: Vec<i64> = (0..365)
            .map(|i: i64| if (i / 7) % 2 == 0 { -150 } else { 50 })
            .collect();
        let model = Residual::fit(&daily, last);
        let expected = 100.0_f64.powi(2) / RECENT_DAYS as f64;
        assert!(
            (model.level_variance() / expected - 1.0).abs() < 0.05,
            "{} vs {expected}",
            model.level_variance()
        );
    }

    #[test]
    fn spreads_are_ordered_and_widen() {
        // A linear congruential sequence: noise without a pattern the windows could cancel.
        let mut state = 12_345_u64;
        let deviations: Vec<f64> = (0..365)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 33) % 1_000) as f64 - 500.0
            })
            .collect();
        let spreads = spreads(&deviations, 730);
        assert_eq!(spreads.len(), 730);
        for s in &spreads {
            assert!(s.q10 <= s.q50 && s.q50 <= s.q90, "{s:?}");
        }
        let width = |s: &Spread| s.q90 - s.q10;
        assert!(width(&spreads[729]) > width(&spreads[29]));
        assert!(width(&spreads[29]) > 0.0);
        // Beyond the empirical horizons the width grows with √h and the median stays.
        let longest = 365 / EMPIRICAL_SHARE;
        let (anchor, far) = (spreads[longest - 1], spreads[4 * longest - 1]);
        assert!((far.q50 - anchor.q50).abs() < 1e-9);
        assert!(((far.q90 - far.q10) / (anchor.q90 - anchor.q10) - 2.0).abs() < 1e-9);
        let short = super::spreads(&deviations[..10], 5);
        assert!(short.iter().all(|s| s.q10 <= s.q50 && s.q50 <= s.q90));
    }

    #[test]
    fn quantiles_interpolate() {
        assert!((quantile(&[0.0, 10.0], 0.5) - 5.0).abs() < 1e-12);
        assert!((quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.1) - 1.4).abs() < 1e-12);
    }
}
