//! Credit-card bills: the next one from the statement, later ones from the card's projected
//! spending, and which transactions of the tenant's other accounts pay them.
//!
//! Paying the bill books twice: the card's balance goes up (`PAGAMENTO RECEBIDO`, positive) and
//! the paying account's goes down by the same amount within a few days. Those pairs are found by
//! amount and date ([`pair_payments`]); the recurring series they form on either side are not
//! placed as recurring flows, and the transactions stay out of the day-to-day model. Bills are
//! placed instead, once, on both accounts, so a tenant total sees them cancel out.
//!
//! The next bill is the statement's balance on its due date, less what was paid since it
//! closed. A later bill assumes the card is paid in full: on each later closing day (the
//! statement's day of the month) the projected balance is what is owed, due as many days
//! after closing as the last statement was.

use chrono::{Datelike, Days, NaiveDate};

use super::cadence::Cadence;
use super::recurring::Txn;

/// The latest statement of a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    /// Signed like the card's balance: negative is owed.
    pub balance_minor: i64,
    pub closing: NaiveDate,
    pub due: NaiveDate,
}

/// A bill placed on the calendar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bill {
    /// The due date: the day the paying account pays it.
    pub day: NaiveDate,
    /// The statement's closing day.
    pub closing: NaiveDate,
    /// What is paid (positive minor units).
    pub amount_minor: i64,
    /// Projected from spending rather than read from a statement.
    pub estimated: bool,
}

/// Days apart a payment's two sides may be booked.
pub const PAIR_DAYS: i64 = 3;

/// Pairs a card's incoming payments with equal outgoing amounts of another account: the
/// indexes on the card side and on each other account's side (one account per slot of
/// `others`), each transaction used at most once.
pub fn pair_payments(card: &[Txn], others: &[&[Txn]]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut card_side = Vec::new();
    let mut other_side: Vec<Vec<usize>> = vec![Vec::new(); others.len()];
    let mut used: Vec<Vec<bool>> = others.iter().map(|t| vec![false; t.len()]).collect();
    for (i, payment) in card.iter().enumerate() {
        if payment.amount_minor <= 0 {
            continue;
        }
        let found = others.iter().enumerate().find_map(|(a, txns)| {
            txns.iter()
                .enumerate()
                .filter(|&(j, t)| {
                    !used[a][j]
                        && t.amount_minor == -payment.amount_minor
                        && (t.day - payment.day).num_days().abs() <= PAIR_DAYS
                })
                .min_by_key(|&(j, t)| ((t.day - payment.day).num_days().abs(), j))
                .map(|(j, _)| (a, j))
        });
        if let Some((a, j)) = found {
            used[a][j] = true;
            card_side.push(i);
            other_side[a].push(j);
        }
    }
    (card_side, other_side)
}

/// The bills due after `as_of` through `end`.
///
/// `balance_minor` is the card's balance at the end of `as_of`; `paid_since_closing` what the
/// card received in bill payments after the statement closed (through `as_of`);
/// `change_on(day)` the card's expected change on a day without bills (spending, refunds,
/// subscriptions).
pub fn bills(
    statement: Statement,
    balance_minor: i64,
    paid_since_closing: i64,
    as_of: NaiveDate,
    end: NaiveDate,
    change_on: impl Fn(NaiveDate) -> f64,
) -> Vec<Bill> {
    let mut bills = Vec::new();
    let owed = -statement.balance_minor - paid_since_closing;
    if statement.due > as_of && statement.due <= end && owed > 0 {
        bills.push(Bill {
            day: statement.due,
            closing: statement.closing,
            amount_minor: owed,
            estimated: false,
        });
    }
    let gap = Days::new(u64::try_from((statement.due - statement.closing).num_days()).unwrap_or(0));
    let closings = Cadence::Monthly {
        day: statement.closing.day(),
        business_day: false,
    }
    .dates(
        (statement.closing + Days::new(1)).max(as_of + Days::new(1)),
        end,
    );
    let mut balance = balance_minor as f64;
    let mut day = as_of + Days::new(1);
    while day <= end {
        balance += change_on(day);
        balance += bills
            .iter()
            .filter(|b| b.day == day)
            .map(|b| b.amount_minor as f64)
            .sum::<f64>();
        if closings.contains(&day) {
            let owed = (-balance).round() as i64;
            let due = day + gap;
            if owed > 0 && due <= end {
                bills.push(Bill {
                    day: due,
                    closing: day,
                    amount_minor: owed,
                    estimated: true,
                });
            }
        }
        day = day + Days::new(1);
    }
    bills
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or(NaiveDate::MIN)
    }

    fn txn(day: &str, amount_minor: i64) -> Txn {
        Txn {
            day: d(day),
            amount_minor,
            description: "PAGAMENTO".to_owned(),
            counterparty: None,
        }
    }

    #[test]
    fn the_statement_then_projected_spending() {
        let statement = Statement {
            balance_minor: -150_000,
            closing: d("2026-03-03"),
            due: d("2026-03-12"),
        };
        // 2026-03-05: 40,000 spent since closing; 1,000 a day from now on.
        let bills = bills(
            statement,
            -190_000,
            0,
            d("2026-03-05"),
            d("2026-05-31"),
            |_| -1_000.0,
        );
        assert_eq!(
            bills,
            [
                Bill {
                    day: d("2026-03-12"),
                    closing: d("2026-03-03"),
                    amount_minor: 150_000,
                    estimated: false
                },
                // 40,000 + 29 days (6 March to 3 April).
                Bill {
                    day: d("2026-04-12"),
                    closing: d("2026-04-03"),
                    amount_minor: 69_000,
                    estimated: true
                },
                Bill {
                    day: d("2026-05-12"),
                    closing: d("2026-05-03"),
                    amount_minor: 30_000,
                    estimated: true
                },
            ]
        );
        // Already paid in part since closing: the rest is due.
        let rest = super::bills(
            statement,
            -90_000,
            100_000,
            d("2026-03-05"),
            d("2026-03-31"),
            |_| 0.0,
        );
        assert_eq!(rest.first().map(|b| b.amount_minor), Some(50_000));
    }

    #[test]
    fn payments_pair_by_amount_and_date_once() {
        let card = [txn("2026-03-12", 150_000), txn("2026-03-12", -5_000)];
        let checking = [
            txn("2026-03-01", -150_000),
            txn("2026-03-11", -150_000),
            txn("2026-03-12", -5_000),
        ];
        let (card_side, other) = pair_payments(&card, &[&checking]);
        assert_eq!(card_side, [0]);
        assert_eq!(other, [vec![1]]);
    }
}
