//! How a sync ends when its provider misbehaves, through the real engine (Belvo on a local
//! server): a rate limit defers the job and the retry resumes from the saved page; an outage or
//! an unreadable answer retries and is recorded on the connection; refused credentials stop the
//! connection until it is reconnected. An amount with more places than its currency is refused
//! and recorded, never rounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use findash_jobs::sync::SyncConnection;
use findash_schema::testing::sql;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const LINK: &str = "link-1";

fn item(id: &str, day: &str, amount: &str, direction: &str) -> Value {
    json!({"id": id, "value_date": day, "amount": format!("@@{amount}@@"), "currency": "BRL",
           "description": format!("Item {id}"), "category": null, "type": direction, "status": "PROCESSED"})
}

fn page(server: &MockServer, results: Vec<Value>, next: Option<u32>) -> ResponseTemplate {
    let body = json!({
        "count": 9,
        "next": next.map(|p| format!("{}/api/transactions/?link={LINK}&page={p}", server.uri())),
        "previous": null,
        "results": Value::Array(results),
    });
    let text = body.to_string().replace("\"@@", "").replace("@@\"", "");
    ResponseTemplate::new(200).set_body_raw(text, "application/json")
}

async fn server_with_account() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/accounts/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 1, "next": null, "previous": null,
            "results": [{"id": "acc-1", "link": LINK, "category": "CHECKING_ACCOUNT", "currency": "BRL",
                         "name": "Conta", "balance": {"current": "1500.10", "available": 1400}}]
        })))
        .mount(&server)
        .await;
    server
}

fn connection_state(conn: &mut diesel::PgConnection) -> String {
    sql::text(
        conn,
        "SELECT concat_ws('|', status, consecutive_failures, coalesce(last_error, '-')) AS value FROM provider_connections",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limit_defers_and_the_retry_resumes_from_the_saved_page() {
    let server = server_with_account().await;
    Mock::given(method("GET"))
        .and(path("/api/transactions/"))
        .and(query_param_is_missing("page"))
        .respond_with(page(
            &server,
            vec![
                item("t1", "2026-11-01", "100.5", "INFLOW"),
                item("t2", "2026-11-02", "10.005", "OUTFLOW"),
            ],
            Some(2),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/transactions/"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/transactions/"))
        .and(query_param("page", "2"))
        .respond_with(page(
            &server,
            vec![item("t3", "2026-11-03", "7", "OUTFLOW")],
            Some(3),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/transactions/"))
        .and(query_param("page", "3"))
        .respond_with(page(&server, vec![], None))
        .mount(&server)
        .await;

    let t = common::engine(&server.uri()).await;
    let running = t.run(2);
    let tenant = common::tenant(&t, "limited");
    let connection = common::connection(&t, tenant, "belvo", LINK, &json!({}));
    let id = common::enqueue(
        &t,
        Some(tenant),
        &SyncConnection {
            connection_id: connection,
        },
    )
    .await;
    let mut conn = t.db.admin_conn();

    let first = common::attempts(&t, id, 1).await;
    assert_eq!(first.attempt, "deferred", "{first:?}");
    let saved = sql::text(&mut conn, "SELECT sync_cursor AS value FROM accounts");
    assert!(saved.contains("page=2"), "position saved: {saved}");
    assert_eq!(
        sql::count(&mut conn, "SELECT count(*) AS n FROM transactions"),
        1,
        "page 1 is stored"
    );

    let second = common::attempts(&t, id, 2).await;
    assert_eq!(
        (second.state.as_str(), second.attempt.as_str()),
        ("succeeded", "succeeded"),
        "{second:?}"
    );
    // The retry read pages 2 and 3 only: it resumed, it did not start over.
    assert_eq!(second.result.as_ref().unwrap()["pages"], 2, "{second:?}");
    assert_eq!(
        sql::texts(
            &mut conn,
            "SELECT concat_ws('|', external_id, amount_minor) AS value FROM transactions ORDER BY 1"
        ),
        vec!["t1|10050", "t3|-700"]
    );
    // The over-precise amount is recorded for the data-quality checks, not rounded.
    assert_eq!(
        sql::text(
            &mut conn,
            "SELECT concat_ws('|', external_id, reason, detail) AS value FROM sync_rejections"
        ),
        "t2|precision|-10.005 BRL has 3 decimal places; BRL has 2"
    );
    assert_eq!(
        sql::text(
            &mut conn,
            "SELECT concat_ws('|', current_balance_minor, available_balance_minor, sync_cursor IS NULL) AS value FROM accounts"
        ),
        "150010|140000|t"
    );
    assert_eq!(connection_state(&mut conn), "active|0|-");
    common::finish(t, running).await;
    // `expect(1)`: page 1 was read once, page 2 once after the 429.
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outages_retry_and_refused_credentials_stop_the_connection() {
    for (status, body, state, expected_error) in [
        (500, "{\"detail\": \"boom\"}", "retrying", "HTTP 500"),
        (200, "{\"results\": [", "retrying", "malformed JSON"),
        // The deployment's keys: an operator's problem, not this connection's.
        (
            401,
            "{\"detail\": \"Invalid credentials\"}",
            "dead",
            "deployment's credentials were refused",
        ),
        // The link needs its user (MFA token): the connection must be reconnected.
        (
            428,
            "{\"code\": \"token_required\"}",
            "dead",
            "refused the credentials",
        ),
    ] {
        let server = server_with_account().await;
        Mock::given(method("GET"))
            .and(path("/api/transactions/"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(body, "application/json"))
            .mount(&server)
            .await;
        let t = common::engine(&server.uri()).await;
        let running = t.run(2);
        let tenant = common::tenant(&t, "failing");
        let connection = common::connection(&t, tenant, "belvo", LINK, &json!({}));
        let sync = SyncConnection {
            connection_id: connection,
        };
        let outcome = common::run_once(&t, Some(tenant), &sync).await;
        assert_eq!(outcome.state, state, "HTTP {status}: {outcome:?}");
        assert!(
            outcome
                .error
                .as_deref()
                .unwrap_or_default()
                .contains(expected_error),
            "{outcome:?}"
        );
        let mut conn = t.db.admin_conn();
        let recorded = connection_state(&mut conn);
        let wanted_status = if status == 428 {
            "reauth_required"
        } else {
            "error"
        };
        assert!(
            recorded.starts_with(&format!("{wanted_status}|1|")),
            "{recorded}"
        );
        assert!(recorded.contains(expected_error), "{recorded}");
        assert!(!recorded.contains("belvo-secret"), "{recorded}");

        if status == 428 {
            // Until someone reconnects, syncs stop at once without calling the provider.
            let calls = server.received_requests().await.unwrap().len();
            let again = common::run_once(&t, Some(tenant), &sync).await;
            assert_eq!(again.state, "dead", "{again:?}");
            assert!(again.error.unwrap().contains("reconnected"));
            assert_eq!(server.received_requests().await.unwrap().len(), calls);
        }
        common::finish(t, running).await;
    }
}

/// Serves one page of `items` for the account's transactions, replacing what was served.
async fn serve_items(server: &MockServer, items: Vec<Value>) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/api/accounts/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 1, "next": null, "previous": null,
            "results": [{"id": "acc-1", "link": LINK, "category": "CHECKING_ACCOUNT", "currency": "BRL",
                         "name": "Conta", "balance": {"current": 10, "available": 10}}]
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/transactions/"))
        .respond_with(page(server, items, None))
        .mount(server)
        .await;
}

fn pending(id: &str, day: &str, amount: &str) -> Value {
    let mut item = item(id, day, amount, "OUTFLOW");
    item["status"] = json!("PENDING");
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_transaction_goes_only_when_the_provider_drops_it() {
    let server = MockServer::start().await;
    let day = (chrono::Utc::now().date_naive() - chrono::Days::new(3)).to_string();
    let t = common::engine(&server.uri()).await;
    let running = t.run(2);
    let tenant = common::tenant(&t, "pending");
    let connection = common::connection(&t, tenant, "belvo", LINK, &json!({}));
    let sync = SyncConnection {
        connection_id: connection,
    };
    let mut conn = t.db.admin_conn();
    let stored = |conn: &mut diesel::PgConnection| {
        sql::texts(
            conn,
            "SELECT concat_ws('|', external_id, status, amount_minor) AS value FROM transactions ORDER BY 1",
        )
    };

    serve_items(
        &server,
        vec![
            pending("hold", &day, "5.00"),
            item("done", &day, "1", "OUTFLOW"),
        ],
    )
    .await;
    assert_eq!(
        common::run_once(&t, Some(tenant), &sync).await.state,
        "succeeded"
    );
    assert_eq!(
        stored(&mut conn),
        vec!["done|posted|-100", "hold|pending|-500"]
    );

    // Listed again, but in a form the sync refuses: the stored row stays, the refusal is kept.
    serve_items(
        &server,
        vec![
            pending("hold", &day, "5.005"),
            item("done", &day, "1", "OUTFLOW"),
        ],
    )
    .await;
    let second = common::run_once(&t, Some(tenant), &sync).await;
    assert_eq!(
        second.result.as_ref().unwrap()["resolved_pending"],
        0,
        "{second:?}"
    );
    assert_eq!(
        stored(&mut conn),
        vec!["done|posted|-100", "hold|pending|-500"]
    );
    assert_eq!(
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM sync_rejections WHERE external_id = 'hold'"
        ),
        1
    );

    // No longer listed at all: resolved away; the posted one stays.
    serve_items(&server, vec![item("done", &day, "1", "OUTFLOW")]).await;
    let third = common::run_once(&t, Some(tenant), &sync).await;
    assert_eq!(
        third.result.as_ref().unwrap()["resolved_pending"],
        1,
        "{third:?}"
    );
    assert_eq!(stored(&mut conn), vec!["done|posted|-100"]);
    common::finish(t, running).await;
}
