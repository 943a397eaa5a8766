//! The CSV export of 100,000 transactions streams in bounded memory: the process's peak resident
//! memory while the whole export is read grows by a fraction of the export's size; and an export
//! whose client leaves stops. Tests of the export only, so no other test's allocations blur the
//! memory measurement.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use findash_schema::users::Role;
use findash_web::http::app;

const ROWS: i64 = 100_000;

/// The process's peak resident set since the last reset, in bytes (Linux).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kb * 1024
}

/// Makes the peak resident set start again from the current one.
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5")
        .expect("this test measures memory through /proc/self/clear_refs (Linux)");
}

/// A checking account of `tenant` with `rows` transactions of ~200-character descriptions.
fn seed(conn: &mut diesel::PgConnection, tenant: findash_schema::TenantId, rows: i64) {
    common::exec(
        conn,
        &format!(
            "INSERT INTO provider_connections (tenant_id, provider, external_id, display_name) \
               VALUES ('{tenant}', 'sandbox', 'bank', 'Bank'); \
             INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency) \
               SELECT '{tenant}', id, 'main', 'checking', 'Main', 'Banco', 'BRL' FROM provider_connections; \
             INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, \
                                       description, counterparty, status) \
               SELECT '{tenant}', acc.id, 't' || i, date '2020-01-01' + (i % 1500), -(i % 100000), 'BRL', \
                      'Purchase ' || i || ' ' || repeat('x', 200 - length(i::text) - 10), 'Shop ' || (i % 97), 'posted' \
               FROM accounts acc, generate_series(1, {rows}) AS i;"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_rows_stream_in_bounded_memory() {
    let t = common::engine().await;
    let a = common::tenant(&t, "a");
    let mut conn = t.db.admin_conn();
    // Descriptions of 200 characters make the export about 35 MB.
    seed(&mut conn, a, ROWS);
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    reset_peak_rss();
    let before = peak_rss();

    let res = test::call_service(
        &service,
        common::get_as("/api/v1/export/transactions.csv", a, Role::User),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(
        res.headers().get("content-length").is_none(),
        "the export must stream, not be sized up front"
    );
    let mut body = Box::pin(res.into_body());
    let (mut bytes, mut chunks, mut lines) = (0_usize, 0_usize, 0_i64);
    let mut previous: Option<(String, String)> = None;
    let mut partial = Vec::new();
    while let Some(chunk) = std::future::poll_fn(|cx| Pin::as_mut(&mut body).poll_next(cx)).await {
        let Ok(chunk) = chunk else {
            panic!("the export broke off after {bytes} bytes");
        };
        bytes += chunk.len();
        chunks += 1;
        partial.extend_from_slice(&chunk);
        let complete = partial
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        for line in std::str::from_utf8(&partial[..complete])
            .unwrap()
            .split_terminator("\r\n")
        {
            lines += 1;
            if lines == 1 {
                assert!(
                    line.starts_with("id,account_id,account,booked_date"),
                    "{line}"
                );
                continue;
            }
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 14, "{line}");
            let key = (fields[3].to_owned(), fields[0].to_owned());
            if let Some(previous) = &previous {
                assert!(
                    *previous > key,
                    "rows out of order or repeated: {previous:?} then {key:?}"
                );
            }
            let minor: i64 = fields[8].parse().unwrap();
            let sign = if minor < 0 { "-" } else { "" };
            let exact = format!("{sign}{}.{:02}", minor.abs() / 100, minor.abs() % 100);
            assert_eq!(fields[6], exact, "{line}");
            previous = Some(key);
        }
        partial.drain(..complete);
    }
    let grown = peak_rss().saturating_sub(before);
    assert!(partial.is_empty(), "the export ends with a full line");
    assert_eq!(lines, ROWS + 1, "a header and every row");
    assert!(bytes > 30 << 20, "the export is {bytes} bytes");
    assert!(chunks > 40, "the export came in {chunks} chunks");
    // Buffering the export would take more than its size; streaming takes a few batches.
    assert!(
        grown < (bytes / 3) as u64,
        "peak memory grew by {grown} bytes while streaming {bytes} bytes"
    );
    eprintln!("streamed {bytes} bytes in {chunks} chunks; peak memory grew by {grown} bytes");
    findash_engine::testing::delete_namespace(&t.namespace).await;
}

/// `findash_http_export_rows_total` as `/metrics` shows it.
async fn exported_rows<S, B>(service: &S) -> u64
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: MessageBody,
{
    let res = test::call_service(service, TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("findash_http_export_rows_total "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_stops_the_export() {
    let t = common::engine().await;
    let a = common::tenant(&t, "a");
    let mut conn = t.db.admin_conn();
    seed(&mut conn, a, 40_000);
    let service = test::init_service(app(common::state(&t, common::config()))).await;
    let res = test::call_service(
        &service,
        common::get_as("/api/v1/export/transactions.csv", a, Role::User),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = Box::pin(res.into_body());
    // The header line, then the first batch of rows.
    for _ in 0..2 {
        let chunk = std::future::poll_fn(|cx| Pin::as_mut(&mut body).poll_next(cx)).await;
        assert!(
            matches!(chunk, Some(Ok(_))),
            "the export sends its first chunks"
        );
    }
    drop(body);
    // The producer notices at its next send and stops; give it time to do whatever it would.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let stopped_at = exported_rows(&service).await;
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let later = exported_rows(&service).await;
    assert_eq!(
        later, stopped_at,
        "the export went on after its client left"
    );
    // At most the batches already rendered or waiting in the channel, never all 40,000.
    let batch = u64::try_from(findash_web::http::dashboard::export::BATCH_ROWS).unwrap();
    assert!(
        stopped_at <= 4 * batch,
        "{stopped_at} rows exported for a client that read one batch"
    );
    findash_engine::testing::delete_namespace(&t.namespace).await;
}
