//! `refresh_rates` against a local server serving the ECB's documented feed: a new day is
//! stored exactly, the same day again writes nothing, a stale feed is reported, and the stored
//! rates convert exactly through the dashboard's `fx_rate`/`fx_apply`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use findash_jobs::rates::RefreshRates;
use findash_schema::testing::sql;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn feed(day: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
	<gesmes:subject>Reference rates</gesmes:subject>
	<gesmes:Sender>
		<gesmes:name>European Central Bank</gesmes:name>
	</gesmes:Sender>
	<Cube>
		<Cube time='{day}'>
			<Cube currency='USD' rate='1.0868'/>
			<Cube currency='JPY' rate='128.12'/>
			<Cube currency='BRL' rate='5.4340'/>
			<Cube currency='XQQ' rate='2.5'/>
		</Cube>
	</Cube>
</gesmes:Envelope>"#
    )
}

async fn serve(server: &MockServer, xml: String) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/ecb/eurofxref-daily.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(xml, "text/xml"))
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ecb_rates_are_stored_once_per_day_and_convert_exactly() {
    let server = MockServer::start().await;
    let today = chrono::Utc::now().date_naive();
    let day = today.to_string();
    serve(&server, feed(&day)).await;
    let t = common::engine(&server.uri()).await;
    let running = t.run(2);
    let mut conn = t.db.admin_conn();

    let first = common::run_once(&t, None, &RefreshRates {}).await;
    assert_eq!(first.state, "succeeded", "{first:?}");
    let result = first.result.unwrap();
    assert_eq!(result["updated"], true);
    assert_eq!(result["written"], 3);
    assert_eq!(result["unknown_currencies"], serde_json::json!(["XQQ"]));
    assert_eq!(result["stale"], false);
    assert_eq!(
        sql::texts(
            &mut conn,
            "SELECT concat_ws('|', source, base_currency, quote_currency, rate_date, rate) AS value FROM fx_rates ORDER BY quote_currency"
        ),
        vec![
            format!("ecb|EUR|BRL|{day}|5.434000000000"),
            format!("ecb|EUR|JPY|{day}|128.120000000000"),
            format!("ecb|EUR|USD|{day}|1.086800000000"),
        ]
    );
    // USD 100.00 in BRL across the euro: 100 × 5.4340 / 1.0868 = 500.00 exactly.
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT fx_apply(10000, r.rate, 0) AS n FROM fx_rate('USD', 'BRL', DATE '{day}') r"
            )
        ),
        50_000
    );

    // The same day again: nothing is written.
    let before = sql::texts(
        &mut conn,
        "SELECT xmin::text AS value FROM fx_rates ORDER BY quote_currency",
    );
    let second = common::run_once(&t, None, &RefreshRates {}).await;
    assert_eq!(second.result.unwrap()["updated"], false);
    assert_eq!(
        sql::texts(
            &mut conn,
            "SELECT xmin::text AS value FROM fx_rates ORDER BY quote_currency"
        ),
        before
    );

    // A feed stuck a week ago is stale (and older than what is stored: not written).
    serve(&server, feed(&(today - chrono::Days::new(7)).to_string())).await;
    let stale = common::run_once(&t, None, &RefreshRates {}).await;
    let result = stale.result.unwrap();
    assert_eq!(
        (result["stale"].as_bool(), result["updated"].as_bool()),
        (Some(true), Some(false)),
        "{result}"
    );

    // A broken feed fails the attempt (retried), and stores nothing.
    serve(
        &server,
        "<gesmes:Envelope><Cube><Cube time='2026-01-01'>".to_owned(),
    )
    .await;
    let broken = common::run_once(&t, None, &RefreshRates {}).await;
    assert_eq!(broken.state, "retrying", "{broken:?}");
    assert!(broken.error.unwrap().contains("ECB feed"));
    assert_eq!(
        sql::count(&mut conn, "SELECT count(*) AS n FROM fx_rates"),
        3
    );
    common::finish(t, running).await;
}
