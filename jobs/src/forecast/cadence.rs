//! Calendars of recurring flows: which days a cadence falls on. Pure date arithmetic, no money.

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// How often a recurring flow happens, and on which days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    Weekly(Weekday),
    /// Every other week; `anchor` is one of its days (it fixes which weeks).
    Biweekly {
        anchor: NaiveDate,
    },
    /// On `day` of every month (the month's last day when shorter), moved to the Friday before
    /// when it falls on a weekend if `business_day`.
    Monthly {
        day: u32,
        business_day: bool,
    },
    /// On the last day of every month.
    MonthEnd,
    /// Once a year on `month`/`day` (28 February in years without a 29th).
    Yearly {
        month: u32,
        day: u32,
    },
}

impl Cadence {
    /// The name stored with a flow (`forecast_flows.cadence`).
    pub fn name(self) -> &'static str {
        match self {
            Cadence::Weekly(_) => "weekly",
            Cadence::Biweekly { .. } => "biweekly",
            Cadence::Monthly { .. } => "monthly",
            Cadence::MonthEnd => "month_end",
            Cadence::Yearly { .. } => "yearly",
        }
    }

    /// About how many days apart two occurrences are.
    pub fn period_days(self) -> i64 {
        match self {
            Cadence::Weekly(_) => 7,
            Cadence::Biweekly { .. } => 14,
            Cadence::Monthly { .. } | Cadence::MonthEnd => 30,
            Cadence::Yearly { .. } => 365,
        }
    }

    /// How far (days) an occurrence may land from its calendar day and still belong to it:
    /// banks post a day late, bills move with holidays.
    pub fn tolerance_days(self) -> i64 {
        match self {
            Cadence::Weekly(_) => 1,
            Cadence::Biweekly { .. } => 2,
            Cadence::Monthly { .. } | Cadence::MonthEnd => 3,
            Cadence::Yearly { .. } => 5,
        }
    }

    /// Every day of the cadence from `from` to `to`, both included, in order.
    pub fn dates(self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        if from > to {
            return Vec::new();
        }
        match self {
            Cadence::Weekly(weekday) => every(first_on(from, weekday), to, 7),
            Cadence::Biweekly { anchor } => {
                let offset = (from - anchor).num_days().rem_euclid(14);
                let first = if offset == 0 {
                    from
                } else {
                    from + Days::new(u64::try_from(14 - offset).unwrap_or(0))
                };
                every(first, to, 14)
            }
            Cadence::Monthly { .. } | Cadence::MonthEnd => {
                months(from, to, |y, m| self.in_month(y, m).unwrap_or(from))
            }
            Cadence::Yearly { month, day } => (from.year()..=to.year())
                .filter_map(|y| clamped(y, month, day))
                .filter(|d| (from..=to).contains(d))
                .collect(),
        }
    }

    /// A monthly cadence's day in month `m` of year `y`.
    fn in_month(self, y: i32, m: u32) -> Option<NaiveDate> {
        match self {
            Cadence::Monthly { day, business_day } => {
                let date = clamped(y, m, day)?;
                Some(if business_day {
                    friday_before_weekend(date)
                } else {
                    date
                })
            }
            Cadence::MonthEnd => last_of_month(y, m),
            _ => None,
        }
    }
}

/// Every `step` days from `first` to `to`.
fn every(first: NaiveDate, to: NaiveDate, step: u64) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut day = first;
    while day <= to {
        out.push(day);
        match day.checked_add_days(Days::new(step)) {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

/// The day a monthly calendar gives in each month touching `from..=to`, kept when inside it.
fn months(
    from: NaiveDate,
    to: NaiveDate,
    day_in: impl Fn(i32, u32) -> NaiveDate,
) -> Vec<NaiveDate> {
    let (mut y, mut m) = (from.year(), from.month());
    let mut out = Vec::new();
    while (y, m) <= (to.year(), to.month()) {
        let date = day_in(y, m);
        if (from..=to).contains(&date) {
            out.push(date);
        }
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    out
}

/// The first `weekday` on or after `day`.
fn first_on(day: NaiveDate, weekday: Weekday) -> NaiveDate {
    let ahead = (7 + weekday.num_days_from_monday() - day.weekday().num_days_from_monday()) % 7;
    day + Days::new(u64::from(ahead))
}

/// `day` of month `m`, or the month's last day when the month is shorter.
pub fn clamped(y: i32, m: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, day).or_else(|| last_of_month(y, m))
}

/// The last day of month `m` of year `y`.
pub fn last_of_month(y: i32, m: u32) -> Option<NaiveDate> {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    NaiveDate::from_ymd_opt(ny, nm, 1)?.pred_opt()
}

/// Whether `day` is the last of its month.
pub fn is_month_end(day: NaiveDate) -> bool {
    day.succ_opt()
        .is_some_and(|next| next.month() != day.month())
}

/// `day`, or the Friday before it when it falls on a weekend.
pub fn friday_before_weekend(day: NaiveDate) -> NaiveDate {
    match day.weekday() {
        Weekday::Sat => day - Days::new(1),
        Weekday::Sun => day - Days::new(2),
        _ => day,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn calendars() {
        let (from, to) = (d("2026-01-01"), d("2026-04-30"));
        assert_eq!(
            Cadence::Monthly {
                day: 31,
                business_day: false
            }
            .dates(from, to),
            [
                d("2026-01-31"),
                d("2026-02-28"),
                d("2026-03-31"),
                d("2026-04-30")
            ]
        );
        // 2026-04-05 is a Sunday, 2026-01-03 a Saturday.
        assert_eq!(
            Cadence::Monthly {
                day: 5,
                business_day: true
            }
            .dates(from, to),
            [
                d("2026-01-05"),
                d("2026-02-05"),
                d("2026-03-05"),
                d("2026-04-03")
            ]
        );
        assert_eq!(
            Cadence::MonthEnd.dates(d("2026-02-01"), d("2026-03-30")),
            [d("2026-02-28")]
        );
        assert_eq!(
            Cadence::Weekly(Weekday::Sat).dates(from, d("2026-01-20")),
            [d("2026-01-03"), d("2026-01-10"), d("2026-01-17")]
        );
        assert_eq!(
            Cadence::Biweekly {
                anchor: d("2025-12-26")
            }
            .dates(from, d("2026-01-31")),
            [d("2026-01-09"), d("2026-01-23")]
        );
        assert_eq!(
            Cadence::Yearly { month: 2, day: 29 }.dates(d("2027-01-01"), d("2028-12-31")),
            [d("2027-02-28"), d("2028-02-29")]
        );
    }
}
