//! Sandbox books as forecast inputs, for the tests and the benchmark: what the `forecast` job
//! would read after syncing a sandbox connection, without a database. Panics on books it
//! cannot read: they are generated, so that is a defect of the generator.
#![allow(clippy::expect_used)]

use chrono::NaiveDate;

use super::card::Statement;
use super::model::AccountInput;
use super::recurring::Txn;
use crate::money::to_minor;
use crate::providers::sandbox::Sandbox;
use crate::providers::{Item, Window};

/// BRL minor units (the sandbox's only currency).
fn minor(amount: rust_decimal::Decimal) -> i64 {
    to_minor(amount, "BRL", 2).expect("sandbox amounts are in cents")
}

/// Every account of the books at the sandbox's "today": (external id, inputs), history from
/// the first day.
pub fn inputs(sandbox: &Sandbox) -> Vec<(String, AccountInput)> {
    sandbox
        .accounts()
        .into_iter()
        .map(|account| {
            let statement = match (
                account.statement_balance,
                account.statement_closing_date,
                account.statement_due_date,
            ) {
                (Some(balance), Some(closing), Some(due)) => Some(Statement {
                    balance_minor: minor(balance),
                    closing,
                    due,
                }),
                _ => None,
            };
            let input = AccountInput {
                kind: account.kind,
                balance_minor: minor(account.current_balance.expect("sandbox balances")),
                transactions: transactions(
                    sandbox,
                    &account.external_id,
                    sandbox.first_day(),
                    sandbox.as_of(),
                ),
                statement,
            };
            (account.external_id, input)
        })
        .collect()
}

/// The transactions of `account` booked from `from` to `to`, in book order.
pub fn transactions(sandbox: &Sandbox, account: &str, from: NaiveDate, to: NaiveDate) -> Vec<Txn> {
    let window = Window {
        since: from,
        until: to,
    };
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = sandbox
            .transactions(account, window, cursor.as_deref())
            .expect("a sandbox page");
        for item in page.items {
            if let Item::Transaction(t) = item {
                out.push(Txn {
                    day: t.booked_date,
                    amount_minor: minor(t.amount),
                    description: t.description,
                    counterparty: t.counterparty,
                });
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}
