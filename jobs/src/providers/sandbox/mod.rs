//! The built-in sandbox provider: realistic, deterministic books generated from a connection's
//! settings, with no network. `findash up` and demos use it; tests and benchmarks use it because
//! its ground truth is known (which series recur, on what calendar, for how much).
//!
//! Settings (`provider_connections.settings`): `seed` (books differ per seed), `history_days`
//! (default 730), `daily_purchases` (average everyday purchases per day, default 3; raise it for
//! benchmarks: ~270 gives a million transactions over ten years), `as_of` (`YYYY-MM-DD`, the
//! sandbox's "today"; default the real date), `page_size` (default 500).
//!
//! What the books hold, per connection: a checking account (salary, rent, utilities with a
//! late correction, internet, a biweekly cleaner, groceries, a monthly transfer to savings, the
//! card bill), a savings account (the transfers and monthly interest), and a credit card
//! (subscriptions, a yearly plan, everyday purchases, refunds, a purchase in US dollars). The last
//! two days are pending: card purchases keep their id when they post, checking debits post under
//! a new id (the pending one disappears, as with real banks).

mod books;
mod random;

use chrono::{Datelike, NaiveDate, Utc};
use findash_schema::sync::AccountKind;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use super::{Account, Item, Page, ProviderError, Window};
pub use books::{Cadence, RecurringSeries};

const PROVIDER: &str = "sandbox";

/// The sandbox accounts of every connection: (suffix, kind, name).
const ACCOUNTS: [(&str, AccountKind, &str); 3] = [
    ("checking", AccountKind::Checking, "Conta Corrente"),
    ("savings", AccountKind::Savings, "Poupança"),
    ("card", AccountKind::CreditCard, "Cartão Platinum"),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    seed: u64,
    #[serde(default = "default_history_days")]
    history_days: u32,
    #[serde(default = "default_daily_purchases")]
    daily_purchases: u32,
    #[serde(default)]
    as_of: Option<NaiveDate>,
    #[serde(default = "default_page_size")]
    page_size: usize,
}

fn default_history_days() -> u32 {
    730
}
fn default_daily_purchases() -> u32 {
    3
}
fn default_page_size() -> usize {
    500
}

/// A sandbox connection's books.
#[derive(Debug, Clone)]
pub struct Sandbox {
    books: books::Books,
    page_size: usize,
}

impl Sandbox {
    /// The books of connection `name` with these settings.
    pub fn from_settings(name: &str, settings: &Value) -> Result<Sandbox, ProviderError> {
        let settings: Settings =
            serde_json::from_value(settings.clone()).map_err(|e| ProviderError::NotConfigured {
                provider: PROVIDER,
                detail: format!("connection settings: {e}"),
            })?;
        if settings.page_size == 0 || settings.history_days == 0 {
            return Err(ProviderError::NotConfigured {
                provider: PROVIDER,
                detail: "page_size and history_days must be positive".to_owned(),
            });
        }
        let as_of = settings.as_of.unwrap_or_else(|| Utc::now().date_naive());
        Ok(Sandbox {
            books: books::Books {
                name: name.to_owned(),
                seed: settings.seed,
                key: random::hash(&[settings.seed, random::of_str(name)]),
                as_of,
                first_day: as_of - chrono::Days::new(u64::from(settings.history_days)),
                daily_purchases: settings.daily_purchases,
            },
            page_size: settings.page_size,
        })
    }

    /// The sandbox's today.
    pub fn as_of(&self) -> NaiveDate {
        self.books.as_of
    }

    /// The first day of history.
    pub fn first_day(&self) -> NaiveDate {
        self.books.first_day
    }

    /// The recurring series these books contain (ground truth for the forecast's detector).
    pub fn recurring_series(&self) -> Vec<RecurringSeries> {
        books::recurring_series(&self.books)
    }

    pub fn accounts(&self) -> Vec<Account> {
        ACCOUNTS
            .iter()
            .map(|&(suffix, kind, name)| {
                let balance = self.books.balance(suffix);
                let card = kind == AccountKind::CreditCard;
                let statement = card.then(|| self.books.latest_statement());
                Account {
                    external_id: self.account_id(suffix),
                    kind,
                    name: name.to_owned(),
                    institution: "Sandbox Bank".to_owned(),
                    currency: "BRL".to_owned(),
                    current_balance: Some(balance),
                    available_balance: Some(if card {
                        books::CARD_LIMIT + balance
                    } else {
                        balance
                    }),
                    credit_limit: card.then_some(books::CARD_LIMIT),
                    statement_balance: statement.map(|s| s.balance),
                    statement_closing_date: statement.map(|s| s.closing),
                    statement_due_date: statement.map(|s| s.due),
                    balance_as_of: self.books.as_of.and_hms_opt(12, 0, 0).map(|t| t.and_utc()),
                }
            })
            .collect()
    }

    /// Whole days of transactions from `cursor` (a day) until the page holds `page_size` items.
    pub fn transactions(
        &self,
        account: &str,
        window: Window,
        cursor: Option<&str>,
    ) -> Result<Page, ProviderError> {
        let suffix = ACCOUNTS
            .iter()
            .map(|(suffix, ..)| *suffix)
            .find(|suffix| self.account_id(suffix) == account)
            .ok_or_else(|| ProviderError::BadData {
                provider: PROVIDER,
                detail: format!("no account {account}"),
            })?;
        let since = window.since.max(self.books.first_day);
        let until = window.until.min(self.books.as_of);
        let mut day = match cursor {
            None => since,
            Some(c) => {
                NaiveDate::parse_from_str(c, "%Y-%m-%d").map_err(|_| ProviderError::BadData {
                    provider: PROVIDER,
                    detail: format!("cursor {c:?} is not a day"),
                })?
            }
        };
        let mut items = Vec::new();
        while day <= until && items.len() < self.page_size {
            items.extend(
                self.books
                    .day(suffix, day)
                    .into_iter()
                    .map(|t| Item::Transaction(t.into_transaction(&self.books.name, suffix))),
            );
            day = day.succ_opt().unwrap_or(day);
            if day == NaiveDate::MAX {
                break;
            }
        }
        Ok(Page {
            items,
            next: (day <= until).then(|| day.format("%Y-%m-%d").to_string()),
        })
    }

    fn account_id(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.books.name)
    }
}

/// `cents` hundredths as a decimal.
fn brl(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

/// The last day of `day`'s month.
fn month_end(day: NaiveDate) -> NaiveDate {
    let (y, m) = if day.month() == 12 {
        (day.year() + 1, 1)
    } else {
        (day.year(), day.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .unwrap_or(day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{Item, Window};
    use rust_decimal::Decimal;

    fn books(as_of: &str, history_days: u32) -> Sandbox {
        Sandbox::from_settings(
            "continuity",
            &serde_json::json!({ "seed": 3, "as_of": as_of, "history_days": history_days }),
        )
        .expect("valid settings")
    }

    fn booked(sandbox: &Sandbox, account: &str, since: NaiveDate, until: NaiveDate) -> Decimal {
        let window = Window { since, until };
        let mut cursor = None;
        let mut total = Decimal::ZERO;
        loop {
            let page = sandbox
                .transactions(account, window, cursor.as_deref())
                .expect("a page");
            for item in page.items {
                if let Item::Transaction(t) = item {
                    total += t.amount;
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return total,
            }
        }
    }

    #[test]
    fn balances_differ_by_exactly_the_transactions_between_them_however_the_window_moves() {
        // Before and after the origin, across statement closings and month ends, with histories
        // of different lengths.
        for (from, to, history) in [
            ("2026-04-10", "2026-04-14", 200),
            ("2026-01-28", "2026-03-05", 30),
            ("2023-11-20", "2024-02-15", 90),
            ("2023-06-01", "2023-06-02", 730),
        ] {
            let (a, b) = (books(from, history), books(to, history + 7));
            for (ea, eb) in a.accounts().iter().zip(b.accounts()) {
                let suffix = eb.external_id.rsplit('-').next().expect("a suffix");
                let between = booked(
                    &b,
                    &eb.external_id,
                    a.as_of() + chrono::Days::new(1),
                    b.as_of(),
                );
                assert_eq!(
                    eb.current_balance.expect("a balance") - ea.current_balance.expect("a balance"),
                    between,
                    "{suffix} from {from} to {to}"
                );
            }
        }
    }
}
