//! The admin console in a real headless Chromium, against the real app on a local port with
//! workers and the scheduler running: sign in, find a failed job by searching its payload, retry
//! it and watch it succeed, replay a webhook, pause and resume a schedule. A screenshot of every
//! page is saved under `var/screenshots/admin/` for review.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use findash_engine::ledger::{EnqueueOptions, NewJob, Trigger};
use findash_engine::testing::TestEngine;
use findash_engine::{Job, JobContext, JobError, JobResult, Queue, Registry};
use findash_schema::testing::sql;
use serde::{Deserialize, Serialize};

/// Whether the pretend bank still refuses invoice INV-2026-4242: its export fails for good until
/// an operator has "fixed" it, then succeeds when retried. Other invoices always export.
static BANK_REFUSES: AtomicBool = AtomicBool::new(true);
/// Once fixed, the export of that invoice holds until the test lets it finish, so the browser can
/// be seen following a running job.
static RELEASE: AtomicBool = AtomicBool::new(false);
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
        if self.invoice == REFUSED {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while !RELEASE.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
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
    driver
        .assert_clean_console(&client, "sign-in and overview")
        .await;

    // Find the failed job by searching its payload.
    client.goto(&format!("{base}/admin/jobs")).await.unwrap();
    let search = client.find(Locator::Css("input[name=q]")).await.unwrap();
    search.send_keys(REFUSED).await.unwrap();
    search.send_keys(&Key::Enter.to_string()).await.unwrap();
    browser::eventually("the search results", 10, || async {
        client
            .current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or("")
            .contains("q=INV-2026-4242")
    })
    .await;
    let rows = client
        .find_all(Locator::Css("table.rows tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one job carries that invoice");
    assert!(rows[0].text().await.unwrap().contains("dead"));
    browser::screenshot(&client, "03-jobs-search").await;

    // Keyboard: j focuses the first row, Enter opens it.
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("j")
        .await
        .unwrap();
    client
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    browser::eventually("the job's page", 10, || async {
        client.current_url().await.unwrap().path() == format!("/admin/jobs/{dead_id}")
    })
    .await;
    let text = browser::main_text(&client).await;
    assert!(
        text.contains("account locked"),
        "the error is shown: {text}"
    );
    browser::screenshot(&client, "04-job-dead").await;

    // The bank is fixed; retry, confirm, and watch it succeed.
    BANK_REFUSES.store(false, Ordering::SeqCst);
    click_text(&client, "main", "Retry…").await;
    browser::eventually("the confirmation", 10, || async {
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/retry")
    })
    .await;
    browser::screenshot(&client, "05-job-retry-confirm").await;
    click_text(&client, "main//form", "Retry job").await;
    browser::eventually("the job's page, following the running job", 15, || async {
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with(&dead_id)
            && browser::main_text(&client).await.contains("running")
    })
    .await;
    browser::screenshot(&client, "06-job-running").await;
    // Let it finish; the page updates itself (no reload).
    RELEASE.store(true, Ordering::SeqCst);
    browser::eventually("the page shows it succeeded", 20, || async {
        let text = browser::main_text(&client).await;
        text.contains("succeeded")
            && text.contains("exported")
            && text.contains("Error of an earlier attempt")
    })
    .await;
    assert_eq!(
        sql::text(
            &mut t.db.admin_conn(),
            &format!("SELECT state AS value FROM jobs WHERE id = '{dead_id}'")
        ),
        "succeeded"
    );
    browser::screenshot(&client, "07-job-succeeded").await;
    driver
        .assert_clean_console(&client, "jobs, job, retry")
        .await;

    // Pause and resume a schedule.
    client
        .goto(&format!("{base}/admin/schedules"))
        .await
        .unwrap();
    click(&client, "button[aria-label='Pause daily-sync']").await;
    browser::eventually("daily-sync paused", 10, || async {
        client
            .find(Locator::Css("button[aria-label='Resume daily-sync']"))
            .await
            .is_ok()
    })
    .await;
    let paused = || {
        sql::text(
            &mut t.db.admin_conn(),
            "SELECT coalesce((SELECT paused::text FROM cron_schedules WHERE name = 'daily-sync'), 'none') AS value",
        )
    };
    assert_eq!(paused(), "true");
    browser::screenshot(&client, "08-schedules-paused").await;
    click(&client, "button[aria-label='Resume daily-sync']").await;
    browser::eventually("daily-sync resumed", 10, || async {
        client
            .find(Locator::Css("button[aria-label='Pause daily-sync']"))
            .await
            .is_ok()
    })
    .await;
    assert_eq!(paused(), "false");

    // Replay a webhook delivery.
    let delivery = sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO webhook_inbox (provider, event_id, event_type, tenant_id, raw_body, headers, status, processing_error) \
             VALUES ('stripe', 'evt_e2e_1', 'invoice.paid', '{tenant}', convert_to('{{\"id\":\"evt_e2e_1\",\"type\":\"invoice.paid\"}}', 'UTF8'), \
                     '{{\"content-type\":\"application/json\"}}', 'failed', 'no payment account for acct_x') \
             RETURNING id::text AS value"
        ),
    );
    client
        .goto(&format!("{base}/admin/webhooks"))
        .await
        .unwrap();
    browser::screenshot(&client, "09-webhooks").await;
    client
        .find(Locator::Css(&format!(
            "a[href='/admin/webhooks/{delivery}']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser::eventually("the delivery's page", 10, || async {
        browser::main_text(&client).await.contains("evt_e2e_1")
    })
    .await;
    browser::screenshot(&client, "10-webhook").await;
    click_text(&client, "main", "Replay…").await;
    browser::eventually("the replay confirmation", 10, || async {
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/replay")
    })
    .await;
    click_text(&client, "main//form", "Replay").await;
    browser::eventually("the replay notice", 10, || async {
        client.find(Locator::Css("p.notice")).await.is_ok()
    })
    .await;
    assert_eq!(
        sql::text(
            &mut t.db.admin_conn(),
            &format!(
                "SELECT replay_count::text AS value FROM webhook_inbox WHERE id = '{delivery}'"
            )
        ),
        "1"
    );

    // A workflow run, then a screenshot of every remaining page.
    let run = start_workflow(&t, tenant);
    for (path, name) in [
        ("/admin/dead".to_owned(), "11-dead"),
        ("/admin/workflows".to_owned(), "12-workflows"),
        (format!("/admin/workflows/{run}"), "13-workflow"),
        ("/admin/schedules/daily-sync".to_owned(), "14-schedule"),
        ("/admin/freshness".to_owned(), "15-freshness"),
        ("/admin/rate-limits".to_owned(), "16-rate-limits"),
        ("/admin?window=24h".to_owned(), "17-overview-24h"),
    ] {
        client.goto(&format!("{base}{path}")).await.unwrap();
        let h1 = client
            .find(Locator::Css("main h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!h1.is_empty(), "{path} has a heading");
        browser::screenshot(&client, name).await;
        driver.assert_clean_console(&client, &path).await;
    }

    // Sign out: the pages are closed again.
    click_text(&client, "header", "Sign out").await;
    browser::eventually("the sign-in page", 10, || async {
        client.current_url().await.unwrap().path() == "/admin/login"
    })
    .await;
    client.goto(&format!("{base}/admin/jobs")).await.unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/admin/login");
    client.close().await.unwrap();

    // The same pages in the dark theme.
    let dark = driver.dark_browser().await;
    dark.goto(&format!("{base}/admin/login")).await.unwrap();
    fill(&dark, "#email", "ops@example.test").await;
    fill(&dark, "#password", common::console::PASSWORD).await;
    click(&dark, "form button[type=submit]").await;
    browser::eventually("the overview after signing in", 10, || async {
        dark.current_url().await.unwrap().path() == "/admin"
    })
    .await;
    let background = dark
        .execute(
            "return getComputedStyle(document.body).backgroundColor",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        background,
        serde_json::json!("rgb(18, 21, 28)"),
        "the dark theme follows the system"
    );
    browser::screenshot(&dark, "18-overview-dark").await;
    dark.goto(&format!("{base}/admin/jobs/{dead_id}"))
        .await
        .unwrap();
    browser::screenshot(&dark, "19-job-dark").await;

    // The session ends while the overview is open: its next live refresh takes the page to the
    // sign-in page (htmx follows the app's HX-Redirect), to come back to the overview.
    dark.goto(&format!("{base}/admin")).await.unwrap();
    common::exec(&mut t.db.admin_conn(), "DELETE FROM console_sessions");
    browser::eventually("the sign-in page once the session ended", 15, || async {
        let url = dark.current_url().await.unwrap();
        url.path() == "/admin/login" && url.query() == Some("next=%2Fadmin")
    })
    .await;
    dark.close().await.unwrap();
    running.shutdown().await;
}

/// A small run: sync → categorize → export, on noop and the invoice job.
fn start_workflow(t: &TestEngine, tenant: findash_schema::TenantId) -> String {
    use findash_engine::workflow::{StepSpec, WorkflowSpec, start};
    let step = |name: &str, kind: &str, payload: serde_json::Value, depends: &[&str]| StepSpec {
        name: name.to_owned(),
        kind: kind.to_owned(),
        payload,
        depends_on: depends.iter().map(|d| (*d).to_owned()).collect(),
        waits_for: vec![],
    };
    let spec = WorkflowSpec {
        name: "month_close".to_owned(),
        run_key: "2026-11".to_owned(),
        trigger: Trigger::new("cli", None),
        steps: vec![
            step("sync", "noop", serde_json::json!({}), &[]),
            step("categorize", "noop", serde_json::json!({}), &["sync"]),
            step(
                "export",
                "export_invoice",
                serde_json::json!({ "invoice": "INV-CLOSE-11" }),
                &["categorize"],
            ),
        ],
    };
    let registry = t.engine.registry().clone();
    t.engine
        .db()
        .system(findash_schema::SystemTask::Jobs, |sys| {
            start(sys, &registry, tenant, &spec)
        })
        .unwrap()
        .run_id
        .to_string()
}
