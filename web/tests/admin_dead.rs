//! The console's dead and quarantined jobs: what it lists, its kind filter, and retrying
//! everything shown through the bulk confirmation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test;
use common::console::{self, get, post, send};
use common::ledger::{self, Job, audit, insert, link, listed};

const OPS: &str = "ops@example.test";

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[actix_web::test]
async fn dead_and_quarantined_jobs_wait_here_by_kind() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;

    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/dead")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No dead or quarantined jobs: nothing has failed for good."));
    assert!(!html.contains("Retry all"), "nothing to retry");

    let acme = common::tenant(&t, "acme");
    let long_error = format!("Belvo refused the request: {}", "x".repeat(400));
    let dead_noop = insert(
        &t,
        Job {
            tenant: Some(acme),
            state: "dead",
            last_error: Some(&long_error),
            ..Job::default()
        },
    );
    let dead_sync = insert(
        &t,
        Job {
            kind: "sync_account",
            queue: "sync",
            state: "dead",
            ..Job::default()
        },
    );
    let quarantined_sync = insert(
        &t,
        Job {
            tenant: Some(acme),
            kind: "sync_account",
            queue: "sync",
            state: "quarantined",
            ..Job::default()
        },
    );
    let cancelled = insert(
        &t,
        Job {
            state: "cancelled",
            ..Job::default()
        },
    );
    let queued = insert(&t, Job::default());

    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/dead")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed(&html),
        [
            quarantined_sync.clone(),
            dead_sync.clone(),
            dead_noop.clone()
        ],
        "newest first, neither the cancelled nor the queued one"
    );
    assert!(html.contains("aria-current=\"page\">Dead &#38; quarantined"));
    assert!(html.contains("Belvo refused the request: xxx"));
    assert!(!html.contains(&long_error), "errors are cut short");
    assert!(html.contains("<option value=\"sync_account\">sync_account (2)</option>"));
    assert!(html.contains("every kind (3)"));
    assert!(html.contains(&format!("href=\"/admin/jobs/{dead_noop}/retry\"")));
    assert!(html.contains("<td>acme</td>") && html.contains("<td>system</td>"));

    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/dead?kind=sync_account")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sorted(listed(&html)),
        sorted(vec![dead_sync.clone(), quarantined_sync.clone()])
    );
    assert!(html.contains("<option value=\"sync_account\" selected>"));
    let retry_all = link(&html, "Retry all 2 sync_account…").expect("a retry-all link");
    assert_eq!(
        retry_all,
        "/admin/jobs/bulk/retry?state=dead&state=quarantined&kind=sync_account"
    );

    // Retry all shown: the same confirmation, then exactly those two run again.
    let (status, _, html) = send(&app, get(&browser.cookie, &retry_all)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Retry 2 jobs?</h1>"), "{html}");
    let (status, _, _) = send(&app, post(&browser, &retry_all, &[])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(ledger::state(&t, &dead_sync), "queued");
    assert_eq!(ledger::state(&t, &quarantined_sync), "queued");
    assert_eq!(ledger::state(&t, &dead_noop), "dead");
    assert_eq!(ledger::state(&t, &cancelled), "cancelled");
    assert_eq!(ledger::state(&t, &queued), "queued");
    assert_eq!(audit(&t), ["console.jobs.retry -"]);

    let (_, _, html) = send(&app, get(&browser.cookie, "/admin/dead?kind=sync_account")).await;
    assert!(
        html.contains("No dead or quarantined sync_account jobs."),
        "{html}"
    );
    let (_, _, html) = send(&app, get(&browser.cookie, "/admin/dead")).await;
    assert_eq!(listed(&html), [dead_noop]);

    let (status, _, _) = send(&app, get(&browser.cookie, "/admin/dead?before=nope")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn the_dead_list_pages_newest_first() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    common::exec(
        &mut t.db.admin_conn(),
        "INSERT INTO jobs (kind, queue, state, max_attempts, attempts, finished_at, last_error) \
         SELECT 'noop', 'default', CASE WHEN i % 2 = 0 THEN 'dead' ELSE 'quarantined' END, 3, 3, \
                now(), 'boom ' || i FROM generate_series(1, 60) AS i",
    );
    let (_, _, first) = send(&app, get(&browser.cookie, "/admin/dead?kind=noop")).await;
    let older = link(&first, "Older →").expect("a second page");
    assert!(
        older.starts_with("/admin/dead?kind=noop&before="),
        "{older}"
    );
    let (_, _, second) = send(&app, get(&browser.cookie, &older)).await;
    assert_eq!(
        link(&second, "← Newest").as_deref(),
        Some("/admin/dead?kind=noop")
    );
    assert!(link(&second, "Older →").is_none());
    let (first, second) = (listed(&first), listed(&second));
    assert_eq!((first.len(), second.len()), (50, 10));
    let mut all = first;
    all.extend(second);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 60, "disjoint pages");
}
