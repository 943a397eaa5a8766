//! The sandbox's books: every account's transactions of one day as a pure function of the
//! connection (name, seed), the day and the sandbox's "today" (which decides what is still
//! pending and which late corrections have happened). Amounts are integer cents of BRL.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use findash_schema::sync::TransactionStatus;
use rust_decimal::Decimal;
use serde_json::Value;

use super::random::{between, chance, hash, hash_from};
use super::{brl, month_end};
use crate::providers::Transaction;

/// The card's credit limit: BRL 10,000.00.
pub const CARD_LIMIT: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 2);
/// Days, counting today, whose transactions are still pending.
const PENDING_DAYS: u64 = 2;
/// Days after which a utility bill's late correction appears.
const CORRECTION_AFTER: u64 = 5;
/// The card's statement closes on this day of the month and is due `DUE_AFTER` days later.
const STATEMENT_CLOSES: u32 = 3;
const DUE_AFTER: u64 = 9;
/// Opening balances (cents) at the end of [`origin`].
const OPENING: [(&str, i64); 2] = [("checking", 500_000), ("savings", 2_000_000)];

/// The day the opening balances are of, whatever history the books show. A first of the month:
/// the card's statement (closing on the 3rd) of the month before is paid by then.
fn origin() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or(NaiveDate::MIN)
}

#[derive(Debug, Clone)]
pub(super) struct Books {
    pub name: String,
    pub seed: u64,
    /// `hash(seed, name)`, the start of every draw.
    pub key: u64,
    pub as_of: NaiveDate,
    pub first_day: NaiveDate,
    pub daily_purchases: u32,
}

/// How often a series recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    Weekly(Weekday),
    /// Every other week on this weekday.
    Biweekly(Weekday),
    /// On this day of every month (moved to the Friday before when it falls on a weekend, if
    /// `business_day`).
    Monthly {
        day: u32,
        business_day: bool,
    },
    /// On the last day of every month.
    MonthEnd,
    Yearly {
        month: u32,
        day: u32,
    },
}

/// A recurring series of the books: ground truth for the forecast's detector.
#[derive(Debug, Clone, PartialEq)]
pub struct RecurringSeries {
    /// The account's external id.
    pub account: String,
    pub description: String,
    pub cadence: Cadence,
    /// The amount of every occurrence, or `None` when it varies (utilities, interest, the card
    /// bill).
    pub amount: Option<Decimal>,
}

/// One generated transaction.
#[derive(Debug, Clone)]
pub(super) struct Generated {
    slot: String,
    day: NaiveDate,
    cents: i64,
    description: String,
    counterparty: Option<&'static str>,
    category: Option<&'static str>,
    original_usd_cents: Option<i64>,
    pending: bool,
    /// Checking debits post under a new id: the pending one disappears.
    new_id_when_posted: bool,
}

impl Generated {
    pub(super) fn into_transaction(self, connection: &str, suffix: &str) -> Transaction {
        let mut external_id = format!("{connection}-{suffix}-{}-{}", self.day, self.slot);
        if self.pending && self.new_id_when_posted {
            external_id.push_str("-pending");
        }
        Transaction {
            external_id,
            booked_date: self.day,
            value_date: Some(self.day),
            amount: brl(self.cents),
            currency: Some("BRL".to_owned()),
            original: self.original_usd_cents.map(|c| (brl(c), "USD".to_owned())),
            description: self.description,
            counterparty: self.counterparty.map(str::to_owned),
            provider_category: self.category.map(str::to_owned),
            status: if self.pending {
                TransactionStatus::Pending
            } else {
                TransactionStatus::Posted
            },
            raw: Value::Object(serde_json::Map::new()),
        }
    }
}

/// A fixed monthly series: (account, slot, day, cents, description, counterparty, category).
type Fixed = (
    &'static str,
    &'static str,
    u32,
    i64,
    &'static str,
    &'static str,
    Option<&'static str>,
);

const MONTHLY: [Fixed; 5] = [
    (
        "checking",
        "rent",
        10,
        -280_000,
        "ALUGUEL IMOBILIARIA SOL",
        "IMOBILIARIA SOL LTDA",
        Some("Rent"),
    ),
    (
        "checking",
        "internet",
        20,
        -11_990,
        "VIVO FIBRA",
        "TELEFONICA BRASIL SA",
        None,
    ),
    (
        "checking",
        "to-savings",
        6,
        -100_000,
        "TRANSFERENCIA PARA POUPANCA",
        "SANDBOX BANK",
        Some("Transfer"),
    ),
    (
        "savings",
        "from-checking",
        6,
        100_000,
        "TRANSFERENCIA DA CONTA CORRENTE",
        "SANDBOX BANK",
        Some("Transfer"),
    ),
    (
        "card",
        "netflix",
        8,
        -5_590,
        "NETFLIX.COM",
        "NETFLIX ENTRETENIMENTO",
        Some("Subscriptions"),
    ),
];
const SPOTIFY: Fixed = (
    "card",
    "spotify",
    17,
    -2_190,
    "SPOTIFY",
    "SPOTIFY BRASIL",
    Some("Digital services"),
);
const YEARLY: (u32, u32, i64, &str) = (3, 14, -11_900, "AMAZON PRIME ANUAL");
const WEEKLY: (Weekday, i64, &str) = (Weekday::Sat, -6_500, "FEIRA ORGANICA");
const CLEANER: (Weekday, i64, &str) = (Weekday::Fri, -18_000, "PIX ENVIADO MARIA DA SILVA");

/// Everyday purchases: (account, merchant, category, min cents, max cents).
const MERCHANTS: [(&str, &str, Option<&str>, i64, i64); 7] = [
    (
        "checking",
        "SUPERMERCADO PAO DE ACUCAR",
        Some("Groceries"),
        4_500,
        48_000,
    ),
    ("checking", "CARREFOUR", Some("Groceries"), 3_000, 36_000),
    (
        "card",
        "IFOOD *RESTAURANTE",
        Some("Food delivery"),
        2_500,
        14_000,
    ),
    (
        "card",
        "UBER *TRIP",
        Some("Taxi and ride-hailing"),
        900,
        7_500,
    ),
    ("card", "POSTO SHELL", None, 8_000, 32_000),
    (
        "card",
        "MERCADOLIVRE*VENDEDOR",
        Some("Online shopping"),
        2_000,
        60_000,
    ),
    ("card", "DROGASIL", Some("Pharmacy"), 1_500, 22_000),
];

impl Books {
    /// A draw for `parts` of these books (the connection's seed and name are mixed in).
    fn h(&self, parts: &[u64]) -> u64 {
        hash_from(self.key, parts)
    }

    fn pending(&self, day: NaiveDate) -> bool {
        day + Days::new(PENDING_DAYS) > self.as_of
    }

    fn salary_cents(&self) -> i64 {
        600_000 + i64::try_from(self.seed % 5).unwrap_or(0) * 100_000
    }

    /// The transactions of `account` (its suffix) on `day`, in a stable order.
    pub(super) fn day(&self, account: &str, day: NaiveDate) -> Vec<Generated> {
        self.day_of(account, day, true)
    }

    /// [`Books::day`]; without the card bill's payment when `bills` is false (what a statement
    /// sums, so a statement never needs the one before it).
    fn day_of(&self, account: &str, day: NaiveDate, bills: bool) -> Vec<Generated> {
        if day < self.first_day {
            return Vec::new();
        }
        self.any_day_of(account, day, bills)
    }

    /// [`Books::day_of`] before the first day of history too: what the account did before the
    /// window the provider shows (its balance and statements include it).
    fn any_day_of(&self, account: &str, day: NaiveDate, bills: bool) -> Vec<Generated> {
        if day > self.as_of {
            return Vec::new();
        }
        let mut out = Vec::new();
        let pending = self.pending(day);
        let mut push = |slot: String,
                        cents: i64,
                        description: String,
                        counterparty: Option<&'static str>,
                        category: Option<&'static str>,
                        original_usd_cents: Option<i64>| {
            out.push(Generated {
                slot,
                day,
                cents,
                description,
                counterparty,
                category,
                original_usd_cents,
                pending,
                new_id_when_posted: account == "checking" && cents < 0,
            });
        };
        let day_no = u64::try_from(day.num_days_from_ce()).unwrap_or(0);

        for &(acct, slot, dom, cents, description, counterparty, category) in
            MONTHLY.iter().chain([&SPOTIFY])
        {
            if acct == account && day.day() == dom {
                push(
                    slot.to_owned(),
                    cents,
                    description.to_owned(),
                    Some(counterparty),
                    category,
                    None,
                );
            }
        }
        match account {
            "checking" => {
                if day == business_day(day.with_day(5).unwrap_or(day)) {
                    push(
                        "salary".into(),
                        self.salary_cents(),
                        "SALARIO ACME LTDA".into(),
                        Some("ACME LTDA"),
                        Some("Salary"),
                        None,
                    );
                }
                if day.day() == 15 {
                    let month_no =
                        u64::try_from(day.year() * 12).unwrap_or(0) + u64::from(day.month());
                    let mut cents = -between(self.h(&[1, month_no]), 15_000, 32_000);
                    // Every fourth bill is re-rated a few days later: the provider updates
                    // the same transaction in place.
                    if month_no.is_multiple_of(4) && day + Days::new(CORRECTION_AFTER) <= self.as_of
                    {
                        cents += 1_234;
                    }
                    push(
                        "electricity".into(),
                        cents,
                        "ENEL DISTRIBUICAO SP".into(),
                        Some("ENEL BRASIL SA"),
                        Some("Electricity"),
                        None,
                    );
                }
                if day.weekday() == CLEANER.0 && (day_no / 7).is_multiple_of(2) {
                    push(
                        "cleaner".into(),
                        CLEANER.1,
                        CLEANER.2.into(),
                        Some("MARIA DA SILVA"),
                        Some("Transfer - PIX"),
                        None,
                    );
                }
                if bills && day.day() == 12 {
                    let owed = self.statement_owed(day - Days::new(DUE_AFTER));
                    if owed > 0 {
                        push(
                            "card-bill".into(),
                            -owed,
                            "PAGAMENTO FATURA CARTAO".into(),
                            Some("SANDBOX BANK"),
                            Some("Credit card payment"),
                            None,
                        );
                    }
                }
            }
            "savings" if day == month_end(day) => {
                let month_no = u64::try_from(day.year() * 12).unwrap_or(0) + u64::from(day.month());
                push(
                    "interest".into(),
                    between(self.h(&[2, month_no]), 3_000, 6_000),
                    "RENDIMENTO POUPANCA".into(),
                    Some("SANDBOX BANK"),
                    Some("Interest"),
                    None,
                );
            }
            "card" => {
                if (day.month(), day.day()) == (YEARLY.0, YEARLY.1) {
                    push(
                        "prime".into(),
                        YEARLY.2,
                        YEARLY.3.into(),
                        Some("AMAZON SERVICOS"),
                        Some("Shopping"),
                        None,
                    );
                }
                if day.weekday() == WEEKLY.0 {
                    push(
                        "feira".into(),
                        WEEKLY.1,
                        WEEKLY.2.into(),
                        Some("FEIRA ORGANICA LTDA"),
                        Some("Groceries"),
                        None,
                    );
                }
                if bills && day.day() == 12 {
                    let owed = self.statement_owed(day - Days::new(DUE_AFTER));
                    if owed > 0 {
                        push(
                            "payment".into(),
                            owed,
                            "PAGAMENTO RECEBIDO".into(),
                            Some("SANDBOX BANK"),
                            Some("Credit card payment"),
                            None,
                        );
                    }
                }
                if day.day() == 22 {
                    // A purchase in US dollars, charged in reais at that day's card rate.
                    let usd = between(self.h(&[3, day_no]), 1_000, 8_000);
                    let rate_bp = 50_000 + between(self.h(&[4, day_no]), 0, 5_000);
                    let cents = (usd * rate_bp + 5_000) / 10_000;
                    push(
                        "usd".into(),
                        -cents,
                        "AMAZON.COM US".into(),
                        Some("AMAZON.COM"),
                        Some("Online shopping"),
                        Some(-usd),
                    );
                }
            }
            _ => {}
        }
        for (n, (merchant, category, cents)) in
            self.purchases(account, day_no).into_iter().enumerate()
        {
            push(
                format!("p{n}"),
                -cents,
                merchant.to_owned(),
                None,
                category,
                None,
            );
        }
        if account == "card" {
            // Refunds of purchases made three days earlier (before the history shown too: the
            // books do not depend on how much of them a provider shows).
            {
                let earlier_no = day_no - 3;
                for (n, (merchant, _, cents)) in
                    self.purchases("card", earlier_no).into_iter().enumerate()
                {
                    if chance(self.h(&[5, earlier_no, n as u64]), 20) {
                        push(
                            format!("r{n}"),
                            cents,
                            format!("ESTORNO {merchant}"),
                            None,
                            Some("Refund"),
                            None,
                        );
                    }
                }
            }
        }
        out
    }

    /// The day's everyday purchases on `account`: (merchant, category, cents).
    fn purchases(
        &self,
        account: &str,
        day_no: u64,
    ) -> Vec<(&'static str, Option<&'static str>, i64)> {
        // About `daily_purchases` a day in all, split across the merchants of both accounts.
        let expected_milli = u64::from(self.daily_purchases) * 1000;
        let count = (expected_milli + self.h(&[6, day_no]) % 1000) / 1000;
        let count = if self.h(&[7, day_no]).is_multiple_of(2) {
            count + u64::from(chance(self.h(&[8, day_no]), 500))
        } else {
            count.saturating_sub(u64::from(chance(self.h(&[8, day_no]), 500)))
        };
        (0..count)
            .filter_map(|i| {
                let h = self.h(&[9, day_no, i]);
                let (acct, merchant, category, lo, hi) =
                    MERCHANTS[usize::try_from(h % MERCHANTS.len() as u64).unwrap_or(0)];
                (acct == account).then(|| (merchant, category, between(hash(&[h]), lo, hi)))
            })
            .collect()
    }

    /// What the card statement closing on or before `closing` left owed (positive cents).
    fn statement_owed(&self, closing: NaiveDate) -> i64 {
        let Some(closing) = statement_closing_on_or_before(closing) else {
            return 0;
        };
        let previous = statement_closing_on_or_before(closing - Days::new(1)).unwrap_or(closing);
        let mut day = previous + Days::new(1);
        let mut owed = 0;
        while day <= closing {
            owed -= self
                .any_day_of("card", day, false)
                .iter()
                .map(|t| t.cents)
                .sum::<i64>();
            day = day + Days::new(1);
        }
        owed
    }

    /// The latest statement: its closing and due dates and what it says is owed (negative).
    pub(super) fn latest_statement(&self) -> Statement {
        let closing = statement_closing_on_or_before(self.as_of).unwrap_or(self.as_of);
        Statement {
            closing,
            due: closing + Days::new(DUE_AFTER),
            balance: brl(-self.statement_owed(closing)),
        }
    }

    /// The account's balance at the end of `as_of`: the opening balance at the end of
    /// [`origin`] plus everything booked since (minus everything booked after `as_of` up to the
    /// origin, for books that end before it). It does not depend on how much history the books
    /// show, so consecutive balances differ exactly by the transactions between them, however
    /// the window moves.
    pub(super) fn balance(&self, account: &str) -> Decimal {
        let origin = origin();
        // Books that end before the origin take what happened up to it as it was booked once
        // the origin came.
        let at_origin = Books {
            as_of: self.as_of.max(origin),
            ..self.clone()
        };
        let sum = |books: &Books, from: NaiveDate, to: NaiveDate, bills: bool| {
            let mut total = 0;
            let mut day = from;
            while day <= to {
                total += books
                    .any_day_of(account, day, bills)
                    .iter()
                    .map(|t| t.cents)
                    .sum::<i64>();
                day = day + Days::new(1);
            }
            total
        };
        let opening = match account {
            // The card owes, at the origin, what it bought since the last statement closed (the
            // origin falls after that statement's bill was paid).
            "card" => {
                let closing = statement_closing_on_or_before(origin).unwrap_or(origin);
                sum(&at_origin, closing + Days::new(1), origin, false)
            }
            _ => OPENING
                .iter()
                .find(|(a, _)| *a == account)
                .map_or(0, |(_, c)| *c),
        };
        let total = if self.as_of >= origin {
            opening + sum(self, origin + Days::new(1), self.as_of, true)
        } else {
            opening - sum(&at_origin, self.as_of + Days::new(1), origin, true)
        };
        brl(total)
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Statement {
    pub closing: NaiveDate,
    pub due: NaiveDate,
    pub balance: Decimal,
}

fn statement_closing_on_or_before(day: NaiveDate) -> Option<NaiveDate> {
    let this_month = day.with_day(STATEMENT_CLOSES)?;
    if this_month <= day {
        Some(this_month)
    } else {
        let previous = day.with_day(1)?.pred_opt()?;
        previous.with_day(STATEMENT_CLOSES)
    }
}

/// `day`, or the Friday before it when it falls on a weekend.
fn business_day(day: NaiveDate) -> NaiveDate {
    match day.weekday() {
        Weekday::Sat => day - Days::new(1),
        Weekday::Sun => day - Days::new(2),
        _ => day,
    }
}

/// The series every sandbox connection's books contain.
pub(super) fn recurring_series(books: &Books) -> Vec<RecurringSeries> {
    let account = |suffix: &str| format!("{}-{suffix}", books.name);
    let mut series: Vec<RecurringSeries> = MONTHLY
        .iter()
        .chain([&SPOTIFY])
        .map(|&(acct, _, day, cents, description, ..)| RecurringSeries {
            account: account(acct),
            description: description.to_owned(),
            cadence: Cadence::Monthly {
                day,
                business_day: false,
            },
            amount: Some(brl(cents)),
        })
        .collect();
    series.extend([
        RecurringSeries {
            account: account("checking"),
            description: "SALARIO ACME LTDA".to_owned(),
            cadence: Cadence::Monthly {
                day: 5,
                business_day: true,
            },
            amount: Some(brl(books.salary_cents())),
        },
        RecurringSeries {
            account: account("checking"),
            description: "ENEL DISTRIBUICAO SP".to_owned(),
            cadence: Cadence::Monthly {
                day: 15,
                business_day: false,
            },
            amount: None,
        },
        RecurringSeries {
            account: account("checking"),
            description: CLEANER.2.to_owned(),
            cadence: Cadence::Biweekly(CLEANER.0),
            amount: Some(brl(CLEANER.1)),
        },
        RecurringSeries {
            account: account("checking"),
            description: "PAGAMENTO FATURA CARTAO".to_owned(),
            cadence: Cadence::Monthly {
                day: 12,
                business_day: false,
            },
            amount: None,
        },
        RecurringSeries {
            account: account("savings"),
            description: "RENDIMENTO POUPANCA".to_owned(),
            cadence: Cadence::MonthEnd,
            amount: None,
        },
        RecurringSeries {
            account: account("card"),
            description: YEARLY.3.to_owned(),
            cadence: Cadence::Yearly {
                month: YEARLY.0,
                day: YEARLY.1,
            },
            amount: Some(brl(YEARLY.2)),
        },
        RecurringSeries {
            account: account("card"),
            description: WEEKLY.2.to_owned(),
            cadence: Cadence::Weekly(WEEKLY.0),
            amount: Some(brl(WEEKLY.1)),
        },
        RecurringSeries {
            account: account("card"),
            description: "PAGAMENTO RECEBIDO".to_owned(),
            cadence: Cadence::Monthly {
                day: 12,
                business_day: false,
            },
            amount: None,
        },
    ]);
    series
}
