//! `GET /api/v1/export/transactions.csv`: every matching transaction as CSV, streamed.
//!
//! Rows are read in keyset batches, each in its own short tenant transaction, and handed to the
//! response through a channel of two batches: memory stays bounded whatever the export's size, no
//! connection is held while the client reads, and a client that goes away stops the export.
//! Transactions that arrive during an export may or may not be in it; one whose booked date a
//! sync changes while the export runs may appear twice or not at all (each batch is its own
//! snapshot).

// utoipa's expansion of `params(ExportQuery)` spells out a path the lint calls unnecessary.
#![allow(unused_qualifications)]

use std::collections::HashMap;
use std::fmt::Write as _;

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use findash_schema::banking::{self, TransactionFilter, TransactionRow};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::http::accounts::FilterFields;
use crate::http::caller::Caller;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, in_tenant};

/// Rows per batch (one query, one chunk of the response).
pub const BATCH_ROWS: i64 = 2000;
/// Batches rendered ahead of the client.
const BATCHES_AHEAD: usize = 2;

const HEADER: &str = "id,account_id,account,booked_date,value_date,status,amount,currency,amount_minor,\
original_amount,original_currency,description,counterparty,category\r\n";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// One account only; every account when absent.
    account_id: Option<Uuid>,
    /// Booked on or after (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    from: Option<NaiveDate>,
    /// Booked on or before (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    to: Option<NaiveDate>,
    /// A category id, or `uncategorized`.
    #[param(
        pattern = r"^(uncategorized|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    category: Option<String>,
    /// Text in the description or counterparty (case-insensitive).
    q: Option<String>,
    /// Signed amount bounds, minor units.
    min_amount_minor: Option<i64>,
    max_amount_minor: Option<i64>,
    /// pending or posted.
    #[param(pattern = "^(pending|posted)$")]
    status: Option<String>,
}

/// What labels the rows: account names, category slugs, currency exponents.
struct Labels {
    accounts: HashMap<Uuid, String>,
    categories: HashMap<Uuid, String>,
    exponents: HashMap<String, u32>,
}

/// The caller's tenant's transactions as CSV (RFC 4180, UTF-8, CRLF), newest first: `amount`
/// is the exact decimal, `amount_minor` the integer minor units. Text that a spreadsheet would
/// run as a formula is prefixed with `'`.
#[utoipa::path(get, path = "/api/v1/export/transactions.csv", tag = "dashboard",
    params(ExportQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The CSV, streamed", content_type = "text/csv", body = String),
        (status = 400, description = "Unreadable query", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such account in this tenant", body = ErrorBody),
        (status = 422, description = "A filter out of range", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn transactions_csv(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let account = query.account_id;
    let filter = FilterFields {
        from: query.from,
        to: query.to,
        category: query.category,
        q: query.q,
        min_amount_minor: query.min_amount_minor,
        max_amount_minor: query.max_amount_minor,
        status: query.status,
    }
    .into_filter(account)?;
    let labels = in_tenant(&state, &caller, move |scope| {
        if let Some(account) = account
            && !banking::account_exists(scope, account)?
        {
            return Ok(None);
        }
        Ok(Some(Labels {
            accounts: banking::accounts(scope)?
                .into_iter()
                .map(|a| (a.id, a.name))
                .collect(),
            categories: banking::category_slugs(scope)?,
            exponents: banking::currency_exponents(scope)?,
        }))
    })
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no account {}", account.unwrap_or_default())))?;

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(BATCHES_AHEAD);
    tokio::spawn(produce(state.into_inner(), caller, filter, labels, tx));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename("transactions.csv".to_owned())],
        })
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .streaming(body))
}

/// Reads batches and sends them rendered until the last one, an error, or the client leaving.
async fn produce(
    state: std::sync::Arc<AppState>,
    caller: Caller,
    filter: TransactionFilter,
    labels: Labels,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    if tx
        .send(Ok(Bytes::from_static(HEADER.as_bytes())))
        .await
        .is_err()
    {
        return;
    }
    let filter = std::sync::Arc::new(filter);
    let mut after = None;
    loop {
        let batch_filter = filter.clone();
        let batch = in_tenant(&state, &caller, move |scope| {
            banking::transactions_page(scope, &batch_filter, after, BATCH_ROWS)
        })
        .await;
        let rows = match batch {
            Ok(rows) => rows,
            Err(e) => {
                // The status line is gone; aborting the body tells the client it is incomplete.
                tracing::error!(error = %e, "transaction export failed; response aborted");
                let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                return;
            }
        };
        let last = rows.len() < usize::try_from(BATCH_ROWS).unwrap_or(usize::MAX);
        after = rows.last().map(|t| (t.booked_date, t.id));
        let mut chunk = String::with_capacity(rows.len() * 160);
        for row in &rows {
            render(&mut chunk, row, &labels);
        }
        state.metrics.exported_rows(rows.len());
        drop(rows);
        if tx.send(Ok(Bytes::from(chunk))).await.is_err() || last {
            return;
        }
    }
}

fn render(out: &mut String, t: &TransactionRow, labels: &Labels) {
    let exponent = |currency: &str| labels.exponents.get(currency).copied().unwrap_or(2);
    let _ = write!(out, "{},{},", t.id, t.account_id);
    field(
        out,
        labels
            .accounts
            .get(&t.account_id)
            .map_or("", String::as_str),
    );
    let _ = write!(out, ",{},", t.booked_date);
    if let Some(value_date) = t.value_date {
        let _ = write!(out, "{value_date}");
    }
    let _ = write!(
        out,
        ",{},{},{},{},",
        t.status,
        decimal(t.amount_minor, exponent(&t.currency)),
        t.currency,
        t.amount_minor
    );
    if let (Some(amount), Some(currency)) = (t.original_amount_minor, &t.original_currency) {
        let _ = write!(out, "{},{currency}", decimal(amount, exponent(currency)));
    } else {
        out.push(',');
    }
    out.push(',');
    field(out, &t.description);
    out.push(',');
    field(out, t.counterparty.as_deref().unwrap_or(""));
    out.push(',');
    field(
        out,
        t.category_id
            .and_then(|c| labels.categories.get(&c))
            .map_or("", String::as_str),
    );
    out.push_str("\r\n");
}

/// A text cell: quoted when it holds a separator, quote or line break; prefixed with `'` when a
/// spreadsheet would read it as a formula.
fn field(out: &mut String, text: &str) {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || text.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

/// Minor units as an exact decimal: -12345 with exponent 2 is -123.45.
fn decimal(minor: i64, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10_u64.pow(exponent);
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = exponent as usize
    )
}

#[cfg(test)]
mod tests {
    use super::{decimal, field};

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(decimal(-12345, 2), "-123.45");
        assert_eq!(decimal(5, 2), "0.05");
        assert_eq!(decimal(-5, 3), "-0.005");
        assert_eq!(decimal(700, 0), "700");
        assert_eq!(decimal(i64::MIN, 2), "-92233720368547758.08");
    }

    #[test]
    fn text_cells_are_quoted_and_defused() {
        let cell = |text: &str| {
            let mut out = String::new();
            field(&mut out, text);
            out
        };
        assert_eq!(cell("Coffee"), "Coffee");
        assert_eq!(cell("Rent, May"), "\"Rent, May\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-2+3"), "\"'-2+3\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
    }
}
