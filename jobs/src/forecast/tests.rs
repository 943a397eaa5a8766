//! The forecast's pure core on sandbox books, whose recurring series are known.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde_json::json;

use super::books;
use super::cadence::Cadence;
use super::model::{self, FlowSource, Role};
use super::recurring::{self, Txn};
use crate::providers::sandbox::{self, Sandbox};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Books of about 400 days ending so that 14 March (the yearly series) falls twice in them.
fn sandbox(seed: u64) -> Sandbox {
    Sandbox::from_settings(
        "fc",
        &json!({ "seed": seed, "history_days": 400, "as_of": "2026-04-10" }),
    )
    .unwrap()
}

/// Whether a detected cadence is the generator's.
fn same_cadence(found: Cadence, truth: sandbox::Cadence) -> bool {
    match (found, truth) {
        (Cadence::Weekly(a), sandbox::Cadence::Weekly(b)) => a == b,
        (Cadence::Biweekly { anchor }, sandbox::Cadence::Biweekly(b)) => anchor.weekday() == b,
        (
            Cadence::Monthly { day, business_day },
            sandbox::Cadence::Monthly {
                day: d,
                business_day: b,
            },
        ) => day == d && business_day == b,
        (Cadence::MonthEnd, sandbox::Cadence::MonthEnd) => true,
        (Cadence::Yearly { month, day }, sandbox::Cadence::Yearly { month: m, day: d }) => {
            (month, day) == (m, d)
        }
        _ => false,
    }
}

/// What the books buy every day, and their refunds: never a series.
const EVERYDAY: [&str; 7] = [
    "SUPERMERCADO PAO DE ACUCAR",
    "CARREFOUR",
    "IFOOD *RESTAURANTE",
    "UBER *TRIP",
    "POSTO SHELL",
    "MERCADOLIVRE*VENDEDOR",
    "DROGASIL",
];

#[test]
fn the_detector_finds_every_sandbox_series_and_nothing_everyday() {
    for seed in [1, 7, 42] {
        let books = sandbox(seed);
        let inputs = books::inputs(&books);
        let found: Vec<(String, recurring::Series)> = inputs
            .iter()
            .flat_map(|(account, input)| {
                recurring::detect(&input.transactions, books.as_of())
                    .into_iter()
                    .map(move |s| (account.clone(), s))
            })
            .collect();
        let truth = books.recurring_series();
        assert_eq!(truth.len(), 14);
        for series in &truth {
            let hit = found
                .iter()
                .find(|(account, s)| *account == series.account && s.label == series.description)
                .unwrap_or_else(|| panic!("seed {seed}: {series:?} not found in {found:#?}"));
            assert!(
                same_cadence(hit.1.cadence, series.cadence),
                "seed {seed}: {:?} found as {:?}",
                series,
                hit.1.cadence
            );
            match series.amount {
                Some(amount) => {
                    let minor =
                        i64::try_from(amount.mantissa()).unwrap() * 10_i64.pow(2 - amount.scale());
                    assert_eq!(
                        (hit.1.amount_minor, hit.1.estimated),
                        (minor, false),
                        "seed {seed}: {series:?}"
                    );
                }
                None => assert!(hit.1.estimated, "seed {seed}: {series:?}"),
            }
        }
        // Everything else found is the books' monthly purchase in dollars (on the 22nd,
        // amount varying with the dollar): recurring too, though not listed as a series.
        for (account, series) in &found {
            let listed = truth
                .iter()
                .any(|t| t.account == *account && t.description == series.label);
            assert!(
                !EVERYDAY.iter().any(|m| series.label.contains(m))
                    && !series.label.starts_with("ESTORNO"),
                "seed {seed}: an everyday purchase taken for a series: {series:?}"
            );
            if !listed {
                assert_eq!(series.label, "AMAZON.COM US", "seed {seed}: {series:?}");
                assert_eq!(
                    series.cadence,
                    Cadence::Monthly {
                        day: 22,
                        business_day: false
                    }
                );
                assert!(series.estimated);
            }
        }
    }
}

#[test]
fn one_offs_in_real_books_are_ignored() {
    let books = sandbox(3);
    let (_, mut checking) = books::inputs(&books).swap_remove(0);
    let one_offs = [
        ("2025-08-19", -250_000, "IPVA 2025 PARCELA UNICA"),
        ("2025-12-20", 150_000, "TED RECEBIDA 0341 JOAO"),
        ("2026-02-02", -89_900, "LOJA DE MOVEIS 22/02"),
        ("2026-03-27", -12_000, "CONSULTA DR SILVA"),
    ];
    for (day, amount_minor, description) in one_offs {
        checking.transactions.push(Txn {
            day: d(day),
            amount_minor,
            description: description.to_owned(),
            counterparty: None,
        });
    }
    let found = recurring::detect(&checking.transactions, books.as_of());
    for (_, _, description) in one_offs {
        assert!(
            found.iter().all(|s| s.label != description),
            "{description} taken for a series"
        );
    }
    assert!(found.iter().any(|s| s.label == "SALARIO ACME LTDA"));
}

#[test]
fn sandbox_forecast_places_flows_and_card_bills_once_with_ordered_bands() {
    let books = sandbox(11);
    let as_of = books.as_of();
    let named = books::inputs(&books);
    let inputs: Vec<model::AccountInput> = named.iter().map(|(_, i)| i.clone()).collect();
    let forecasts = model::forecast(&inputs, as_of, 90);
    assert_eq!(forecasts.len(), 3);
    let again = model::forecast(&inputs, as_of, 90);
    for (a, b) in forecasts.iter().zip(&again) {
        assert_eq!(a.points, b.points, "deterministic");
        assert_eq!(a.flows, b.flows, "deterministic");
    }
    for forecast in &forecasts {
        assert_eq!(forecast.points.len(), 90);
        assert_eq!(forecast.points[0].day, as_of + Days::new(1));
        for p in &forecast.points {
            assert!(
                p.p10_minor <= p.p50_minor && p.p50_minor <= p.p90_minor,
                "{p:?}"
            );
        }
        let last = forecast.points.last().unwrap();
        assert!(
            last.p90_minor - last.p10_minor
                > forecast.points[0].p90_minor - forecast.points[0].p10_minor
        );
    }
    let position = |suffix: &str| {
        named
            .iter()
            .position(|(id, _)| id.ends_with(suffix))
            .unwrap()
    };
    let (checking, card) = (position("-checking"), position("-card"));

    // Salary on the 5th or the Friday before, rent on the 10th.
    let salary: Vec<NaiveDate> = forecasts[checking]
        .flows
        .iter()
        .filter(|f| f.label == "SALARIO ACME LTDA")
        .map(|f| f.day)
        .collect();
    assert_eq!(salary, [d("2026-05-05"), d("2026-06-05"), d("2026-07-03")]);
    assert!(
        forecasts[checking]
            .flows
            .iter()
            .any(|f| f.label == "ALUGUEL IMOBILIARIA SOL"
                && f.day == d("2026-05-10")
                && f.amount_minor == -280_000)
    );

    // The statement (closed 3 April, due the 12th) is the next bill: the card's balance goes
    // up by it and the checking account's goes down, once each; the payment series on either
    // side is not placed as well.
    let statement = inputs[card].statement.unwrap();
    assert_eq!(statement.due, d("2026-04-12"));
    let bill = |account: usize, day: NaiveDate| -> Vec<i64> {
        forecasts[account]
            .flows
            .iter()
            .filter(|f| f.source == FlowSource::CardBill && f.day == day)
            .map(|f| f.amount_minor)
            .collect()
    };
    assert_eq!(bill(card, statement.due), [-statement.balance_minor]);
    assert_eq!(bill(checking, statement.due), [statement.balance_minor]);
    for account in [checking, card] {
        assert!(
            forecasts[account]
                .series
                .iter()
                .any(|(s, role)| s.label.starts_with("PAGAMENTO")
                    && matches!(role, Role::CardPayment { .. }))
        );
        assert!(
            forecasts[account]
                .flows
                .iter()
                .all(|f| !(f.source == FlowSource::Recurring && f.label.starts_with("PAGAMENTO")))
        );
    }
    // Later bills are estimates on the 12th of each month.
    assert!(
        forecasts[card]
            .bills
            .iter()
            .skip(1)
            .all(|b| b.estimated && b.day.day() == 12)
    );
    assert_eq!(forecasts[card].bills.len(), 3);

    // The total of accounts in one currency: the bills cancel, the bands stay ordered.
    let start: i64 = inputs.iter().map(|i| i.balance_minor).sum();
    let parts: Vec<(&model::AccountForecast, f64)> = forecasts.iter().map(|f| (f, 1.0)).collect();
    let total = model::total(&parts, start, as_of, 90);
    assert_eq!(total.points.len(), 90);
    for p in &total.points {
        assert!(
            p.p10_minor <= p.p50_minor && p.p50_minor <= p.p90_minor,
            "{p:?}"
        );
    }
    let by_hand: i64 = forecasts.iter().map(|f| f.points[0].p50_minor).sum();
    // Medians do not add exactly (each account's residual median is its own), but closely.
    assert!(
        (total.points[0].p50_minor - by_hand).abs() < 50_000,
        "{} vs {by_hand}",
        total.points[0].p50_minor
    );
    assert_eq!(Weekday::Fri, d("2026-07-03").weekday());
}
