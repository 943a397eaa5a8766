//! The console's jobs: the filtered list and its pages, bulk retry and cancel, one job's page
//! (secrets hidden, attempts, lineage) and its retry, cancel and discard — signed in, with the
//! CSRF token, each action changing the ledger and written to the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use common::console::{self, get, post, post_with, send};
use common::ledger::{self, Job, attempt, audit, insert, link, listed};
use findash_schema::testing::sql;
use serde_json::json;

const OPS: &str = "ops@example.test";

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[actix_web::test]
async fn every_page_and_action_needs_a_session() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    let dead = insert(
        &t,
        Job {
            state: "dead",
            ..Job::default()
        },
    );
    for uri in [
        "/admin/jobs".to_owned(),
        "/admin/jobs?state=dead&q=x".to_owned(),
        format!("/admin/jobs/{dead}"),
        format!("/admin/jobs/{dead}/retry"),
        format!("/admin/jobs/{dead}/discard"),
        "/admin/jobs/bulk/retry?state=dead".to_owned(),
        "/admin/dead".to_owned(),
    ] {
        let (status, location, _) = send(&app, TestRequest::get().uri(&uri)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        assert!(location.unwrap().starts_with("/admin/login?next="), "{uri}");
    }
    for uri in [
        format!("/admin/jobs/{dead}/retry"),
        format!("/admin/jobs/{dead}/discard"),
        "/admin/jobs/bulk/retry?state=dead".to_owned(),
        "/admin/jobs/bulk/cancel".to_owned(),
    ] {
        let (status, location, _) = send(&app, post_with("", &uri, &[("csrf_token", "x")])).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        assert!(location.unwrap().starts_with("/admin/login"), "{uri}");
    }
    assert_eq!(ledger::state(&t, &dead), "dead");
    assert!(audit(&t).is_empty());
}

#[actix_web::test]
async fn actions_without_the_csrf_token_change_nothing() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let dead = insert(
        &t,
        Job {
            state: "dead",
            ..Job::default()
        },
    );
    let queued = insert(&t, Job::default());
    let wrong = "x".repeat(43);
    for uri in [
        format!("/admin/jobs/{dead}/retry"),
        format!("/admin/jobs/{dead}/discard"),
        format!("/admin/jobs/{queued}/cancel"),
        "/admin/jobs/bulk/retry?state=dead".to_owned(),
        "/admin/jobs/bulk/cancel".to_owned(),
    ] {
        for fields in [vec![], vec![("csrf_token", wrong.as_str())]] {
            let (status, _, html) = send(&app, post_with(&browser.cookie, &uri, &fields)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri} {fields:?}");
            assert!(html.contains("did not come from the console"), "{uri}");
        }
    }
    assert_eq!(ledger::state(&t, &dead), "dead");
    assert_eq!(ledger::state(&t, &queued), "queued");
    assert!(audit(&t).is_empty());
}

#[actix_web::test]
async fn filters_each_narrow_the_list() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let acme = common::tenant(&t, "acme");
    let globex = common::tenant(&t, "globex");

    let acme_dead = insert(
        &t,
        Job {
            tenant: Some(acme),
            state: "dead",
            last_error: Some("boom"),
            ..Job::default()
        },
    );
    let acme_sync = insert(
        &t,
        Job {
            tenant: Some(acme),
            kind: "sync_account",
            queue: "sync",
            state: "retrying",
            ..Job::default()
        },
    );
    let globex_quarantined = insert(
        &t,
        Job {
            tenant: Some(globex),
            kind: "sync_account",
            queue: "sync",
            state: "quarantined",
            ..Job::default()
        },
    );
    let globex_done = insert(
        &t,
        Job {
            tenant: Some(globex),
            state: "succeeded",
            ..Job::default()
        },
    );
    let system = insert(
        &t,
        Job {
            kind: "prune",
            state: "dead",
            ..Job::default()
        },
    );
    let old = insert(
        &t,
        Job {
            tenant: Some(acme),
            created_at: Some("2026-01-10T08:00:00Z"),
            ..Job::default()
        },
    );

    let everything = sorted(vec![
        acme_dead.clone(),
        acme_sync.clone(),
        globex_quarantined.clone(),
        globex_done.clone(),
        system.clone(),
        old.clone(),
    ]);
    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/jobs")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sorted(listed(&html)), everything);
    assert!(html.contains("<td>acme</td>") && html.contains("<td>globex</td>"));
    assert!(html.contains("<td>system</td>"), "no tenant reads system");
    assert!(html.contains("<span class=\"badge quarantined\">quarantined</span>"));

    for (query, expected) in [
        ("state=dead", vec![&acme_dead, &system]),
        (
            "state=dead&state=quarantined",
            vec![&acme_dead, &system, &globex_quarantined],
        ),
        ("kind=sync_account", vec![&acme_sync, &globex_quarantined]),
        ("queue=sync", vec![&acme_sync, &globex_quarantined]),
        ("tenant=acme", vec![&acme_dead, &acme_sync, &old]),
        (
            &format!("tenant={globex}"),
            vec![&globex_quarantined, &globex_done],
        ),
        ("tenant=system", vec![&system]),
        ("tenant=acme&state=dead&kind=noop", vec![&acme_dead]),
        ("from=2026-01-10T07:00&to=2026-01-10T09:00", vec![&old]),
        ("from=2026-01-10T08:00", everything.iter().collect()),
        ("to=2026-01-10T08:00", vec![]),
        (
            "from=2026-01-10T08:00:01",
            vec![
                &acme_dead,
                &acme_sync,
                &globex_quarantined,
                &globex_done,
                &system,
            ],
        ),
        ("kind=&queue=&state=&q=", everything.iter().collect()),
    ] {
        let (status, _, html) =
            send(&app, get(&browser.cookie, &format!("/admin/jobs?{query}"))).await;
        assert_eq!(status, StatusCode::OK, "{query}: {html}");
        let expected = sorted(expected.into_iter().cloned().collect());
        assert_eq!(sorted(listed(&html)), expected, "{query}");
        if expected.is_empty() {
            assert!(html.contains("No jobs match these filters"), "{query}");
        }
    }
    // The form shows what is filtered.
    let (_, _, html) = send(
        &app,
        get(
            &browser.cookie,
            "/admin/jobs?state=dead&kind=noop&tenant=acme",
        ),
    )
    .await;
    assert!(html.contains("value=\"dead\" checked"));
    assert!(!html.contains("value=\"queued\" checked"));
    assert!(html.contains("name=\"kind\" list=\"f-kinds\" value=\"noop\""));
    assert!(html.contains("Clear filters"));

    for (query, says) in [
        ("state=exploded", "there is no job state `exploded`"),
        ("from=yesterday", "`from` must be a date and time in UTC"),
        ("before=not-an-id", "`before` must be a job id"),
        (
            "tenant=nobody",
            "there is no tenant with the slug or id `nobody`",
        ),
        (
            "from=2026-01-10T09:00&to=2026-01-10T08:00",
            "the time range is empty",
        ),
    ] {
        let (status, _, html) =
            send(&app, get(&browser.cookie, &format!("/admin/jobs?{query}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        let message = ledger::unescape(&html);
        assert!(message.contains(says), "{query}: {message}");
    }
}

#[actix_web::test]
async fn search_finds_jobs_by_payload_and_by_error_text() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;

    let by_payload = insert(
        &t,
        Job {
            payload: json!({"connection_id": "conn-Needle-42", "nested": {"n": 1}}),
            ..Job::default()
        },
    );
    let by_error = insert(
        &t,
        Job {
            state: "dead",
            last_error: Some("Belvo answered HTTP 503 Service Unavailable"),
            ..Job::default()
        },
    );
    let by_attempt = insert(
        &t,
        Job {
            state: "retrying",
            ..Job::default()
        },
    );
    attempt(
        &t,
        &by_attempt,
        1,
        "retrying",
        Some("TLS handshake timed out after 30 s"),
    );
    let percent = insert(
        &t,
        Job {
            payload: json!({"note": "100% done", "code": "a_b"}),
            ..Job::default()
        },
    );
    let lookalike = insert(
        &t,
        Job {
            payload: json!({"note": "done", "code": "axb"}),
            ..Job::default()
        },
    );

    for (q, expected) in [
        ("needle-42", vec![&by_payload]),
        ("CONN-NEEDLE", vec![&by_payload]),
        ("belvo answered", vec![&by_error]),
        ("handshake", vec![&by_attempt]),
        ("%", vec![&percent]),
        ("a_b", vec![&percent]),
        ("done", vec![&percent, &lookalike]),
        ("nowhere-to-be-found", vec![]),
    ] {
        let uri = format!(
            "/admin/jobs?{}",
            serde_urlencoded::to_string([("q", q)]).unwrap()
        );
        let (status, _, html) = send(&app, get(&browser.cookie, &uri)).await;
        assert_eq!(status, StatusCode::OK, "{q}");
        let expected = sorted(expected.into_iter().cloned().collect());
        assert_eq!(sorted(listed(&html)), expected, "{q}");
    }
}

#[actix_web::test]
async fn pages_are_disjoint_newest_first_and_keep_the_filters() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let acme = common::tenant(&t, "acme");
    common::exec(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO jobs (tenant_id, kind, queue, max_attempts) \
             SELECT '{acme}', 'noop', 'default', 3 FROM generate_series(1, 120); \
             INSERT INTO jobs (tenant_id, kind, queue, max_attempts) \
             SELECT '{acme}', 'categorize', 'default', 3 FROM generate_series(1, 30);"
        ),
    );
    let newest_first = sql::texts(
        &mut t.db.admin_conn(),
        "SELECT id::text AS value FROM jobs WHERE kind = 'noop' ORDER BY id DESC",
    );

    let mut seen = Vec::new();
    let mut uri = "/admin/jobs?kind=noop".to_owned();
    let mut pages = 0;
    loop {
        let (status, _, html) = send(&app, get(&browser.cookie, &uri)).await;
        assert_eq!(status, StatusCode::OK);
        pages += 1;
        let ids = listed(&html);
        assert!(ids.len() <= 50);
        seen.extend(ids);
        if pages > 1 {
            assert_eq!(
                link(&html, "← Newest").as_deref(),
                Some("/admin/jobs?kind=noop")
            );
        } else {
            assert!(
                link(&html, "← Newest").is_none(),
                "the first page is the newest"
            );
        }
        match link(&html, "Older →") {
            Some(older) => {
                assert!(
                    older.starts_with("/admin/jobs?kind=noop&before="),
                    "{older}"
                );
                uri = older;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first, "each job once, newest first");

    // Past the last page.
    let last = newest_first.last().unwrap();
    let (status, _, html) = send(
        &app,
        get(
            &browser.cookie,
            &format!("/admin/jobs?kind=noop&before={last}"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(listed(&html).is_empty());
    assert!(html.contains("No older jobs match."));
}

#[actix_web::test]
async fn bulk_retry_queues_exactly_the_matching_dead_jobs() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let acme = common::tenant(&t, "acme");
    let globex = common::tenant(&t, "globex");
    let job = |tenant, kind, state| {
        insert(
            &t,
            Job {
                tenant: Some(tenant),
                kind,
                state,
                ..Job::default()
            },
        )
    };
    let targets: Vec<String> = (0..3).map(|_| job(acme, "noop", "dead")).collect();
    let others = [
        job(globex, "noop", "dead"),
        job(acme, "categorize", "dead"),
        job(acme, "noop", "cancelled"),
        job(acme, "noop", "queued"),
    ];

    // Without a state, retry reaches the dead and the cancelled one of the five that match.
    let (status, _, html) = send(
        &app,
        get(
            &browser.cookie,
            "/admin/jobs/bulk/retry?tenant=acme&kind=noop",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Retry 4 jobs?</h1>"), "{html}");
    assert!(html.contains("<dd>5 jobs</dd>"), "matching");

    let filter = "tenant=acme&kind=noop&state=dead";
    let (status, _, html) = send(
        &app,
        get(&browser.cookie, &format!("/admin/jobs/bulk/retry?{filter}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Retry 3 jobs?</h1>"), "{html}");
    assert!(
        html.contains("state dead, kind noop, tenant acme"),
        "{html}"
    );
    assert!(
        html.contains("action=\"/admin/jobs/bulk/retry?state=dead&#38;kind=noop&#38;tenant=acme\""),
        "{html}"
    );
    assert_eq!(
        ledger::state(&t, &targets[0]),
        "dead",
        "asking changes nothing"
    );

    let (status, location, _) = send(
        &app,
        post(
            &browser,
            "/admin/jobs/bulk/retry?state=dead&kind=noop&tenant=acme",
            &[],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert!(
        location.starts_with("/admin/jobs?state=dead&kind=noop&tenant=acme&notice=bulk_retried&applied=3&skipped=0&remaining=0"),
        "{location}"
    );
    for id in &targets {
        assert_eq!(ledger::state(&t, id), "queued");
    }
    for (id, state) in others.iter().zip(["dead", "dead", "cancelled", "queued"]) {
        assert_eq!(ledger::state(&t, id), state, "left alone");
    }
    assert_eq!(audit(&t), ["console.jobs.retry -"]);
    let details = sql::text(
        &mut t.db.admin_conn(),
        "SELECT details::text AS value FROM audit_log WHERE action = 'console.jobs.retry'",
    );
    let details: serde_json::Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["applied"], 3);
    assert_eq!(details["filter"]["tenant"], "acme");
    assert_eq!(
        sql::text(
            &mut t.db.admin_conn(),
            "SELECT coalesce(tenant_id::text, '-') AS value FROM audit_log \
             WHERE action = 'console.jobs.retry'",
        ),
        acme.to_string(),
        "a bulk action on one tenant's jobs is in its trail"
    );
    assert_eq!(details["filter"]["states"], json!(["dead"]));

    let (_, _, html) = send(&app, get(&browser.cookie, &location)).await;
    assert!(
        html.contains("<p class=\"notice\" role=\"status\">Retried 3 jobs.</p>"),
        "{html}"
    );
    assert!(listed(&html).is_empty(), "none of them is dead any more");

    // Nothing left to retry: the page says so and offers no button.
    let (_, _, html) = send(
        &app,
        get(&browser.cookie, &format!("/admin/jobs/bulk/retry?{filter}")),
    )
    .await;
    assert!(html.contains("Nothing to retry"), "{html}");
    assert!(!html.contains("method=\"post\" action=\"/admin/jobs/bulk"));

    // Not a bulk action.
    let (status, _, _) = send(&app, get(&browser.cookie, "/admin/jobs/bulk/discard")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(
        &app,
        get(&browser.cookie, "/admin/jobs/bulk/retry?state=nope"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn bulk_cancel_stops_pending_jobs_and_asks_running_ones() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let queued = insert(&t, Job::default());
    let retrying = insert(
        &t,
        Job {
            state: "retrying",
            ..Job::default()
        },
    );
    let running = insert(
        &t,
        Job {
            state: "running",
            ..Job::default()
        },
    );
    let other_kind = insert(
        &t,
        Job {
            kind: "prune",
            ..Job::default()
        },
    );
    let done = insert(
        &t,
        Job {
            state: "succeeded",
            ..Job::default()
        },
    );

    let (_, _, html) = send(
        &app,
        get(&browser.cookie, "/admin/jobs/bulk/cancel?kind=noop"),
    )
    .await;
    assert!(html.contains("<h1>Cancel 3 jobs?</h1>"), "{html}");
    let (status, location, _) = send(
        &app,
        post(&browser, "/admin/jobs/bulk/cancel?kind=noop", &[]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(ledger::state(&t, &queued), "cancelled");
    assert_eq!(ledger::state(&t, &retrying), "cancelled");
    assert_eq!(
        ledger::state(&t, &running),
        "running",
        "its worker stops it"
    );
    assert!(sql::flag(
        &mut t.db.admin_conn(),
        &format!("SELECT cancel_requested_at IS NOT NULL AS flag FROM jobs WHERE id = '{running}'")
    ));
    assert_eq!(ledger::state(&t, &other_kind), "queued");
    assert_eq!(ledger::state(&t, &done), "succeeded");
    let (_, _, html) = send(&app, get(&browser.cookie, &location.unwrap())).await;
    assert!(
        html.contains("Cancelled 2 jobs. 1 job running: asked to stop."),
        "{html}"
    );
    assert_eq!(audit(&t), ["console.jobs.cancel -"]);
}

#[actix_web::test]
async fn bulk_actions_stop_at_the_cap_and_say_how_many_remain() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    common::exec(
        &mut t.db.admin_conn(),
        "INSERT INTO jobs (kind, queue, state, max_attempts, attempts, finished_at, last_error) \
         SELECT 'noop', 'default', 'dead', 3, 3, now(), 'boom' FROM generate_series(1, 1003)",
    );
    let (_, _, html) = send(
        &app,
        get(&browser.cookie, "/admin/jobs/bulk/retry?state=dead"),
    )
    .await;
    assert!(html.contains("<h1>Retry 1003 jobs?</h1>"));
    assert!(html.contains("Only the newest 1000"), "{html}");
    let (status, location, _) = send(
        &app,
        post(&browser, "/admin/jobs/bulk/retry?state=dead", &[]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let count = |state: &str| {
        sql::count(
            &mut t.db.admin_conn(),
            &format!("SELECT count(*) AS n FROM jobs WHERE state = '{state}'"),
        )
    };
    assert_eq!((count("queued"), count("dead")), (1000, 3));
    let oldest_still_dead = sql::flag(
        &mut t.db.admin_conn(),
        "SELECT max(id::text COLLATE \"C\") FILTER (WHERE state = 'dead') \
                < min(id::text COLLATE \"C\") FILTER (WHERE state = 'queued') AS flag FROM jobs",
    );
    assert!(oldest_still_dead, "the newest go first");
    let (_, _, html) = send(&app, get(&browser.cookie, &location.unwrap())).await;
    assert!(
        html.contains("Retried 1000 jobs. 3 jobs more match: retry again to go on."),
        "{html}"
    );
}

#[actix_web::test]
async fn a_job_page_shows_everything_but_its_secrets() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let acme = common::tenant(&t, "acme");
    let run = sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO workflow_runs (tenant_id, workflow, run_key, trigger_kind) \
             VALUES ('{acme}', 'daily_pipeline', '2026-11-25', 'cron') RETURNING id::text AS value"
        ),
    );
    let parent = insert(
        &t,
        Job {
            tenant: Some(acme),
            kind: "sync_all",
            state: "succeeded",
            ..Job::default()
        },
    );
    let id = insert(
        &t,
        Job {
            tenant: Some(acme),
            kind: "sync_connection",
            queue: "sync",
            state: "dead",
            payload: json!({
                "connection_id": "conn-visible-7",
                "password": "hunter2-very-secret",
                "oauth": {"Client_Secret": "cs-live-999", "scope": "accounts"},
                "items": [{"api_key": "ak_live_123"}],
            }),
            result: Some(json!({"access_token": "tok-result-xyz", "rows": 17})),
            last_error: Some("second failure: Belvo 503"),
            ..Job::default()
        },
    );
    let inbox = uuid::Uuid::now_v7();
    common::exec(
        &mut t.db.admin_conn(),
        &format!(
            "UPDATE jobs SET parent_job_id = '{parent}', workflow_run_id = '{run}', \
                    workflow_step = 'sync:conn-visible-7', trigger_kind = 'webhook', \
                    trigger_ref = '{inbox}' \
             WHERE id = '{id}'"
        ),
    );
    attempt(
        &t,
        &id,
        1,
        "failed",
        Some("first failure: connection reset"),
    );
    attempt(&t, &id, 2, "failed", Some("second failure: Belvo 503"));
    let child = insert(
        &t,
        Job {
            tenant: Some(acme),
            kind: "sync_account",
            state: "quarantined",
            ..Job::default()
        },
    );
    common::exec(
        &mut t.db.admin_conn(),
        &format!("UPDATE jobs SET parent_job_id = '{id}' WHERE id = '{child}'"),
    );

    let (status, _, html) = send(&app, get(&browser.cookie, &format!("/admin/jobs/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    for secret in [
        "hunter2-very-secret",
        "cs-live-999",
        "ak_live_123",
        "tok-result-xyz",
    ] {
        assert!(!html.contains(secret), "{secret} is shown");
    }
    for shown in [
        "conn-visible-7",
        "[redacted]",
        "accounts",
        "&#34;rows&#34;: 17",
        "Attempt 1",
        "first failure: connection reset",
        "Attempt 2",
        "second failure: Belvo 503",
        "worker-2",
        "<dd>acme</dd>",
        "<span class=\"badge dead\">dead</span>",
        "<span class=\"badge failed\">failed</span>",
    ] {
        assert!(html.contains(shown), "{shown} missing: {html}");
    }
    assert!(html.contains(&format!("href=\"/admin/webhooks/{inbox}\"")));
    assert!(
        html.contains(&format!("href=\"/admin/jobs/{parent}\"")),
        "parent"
    );
    assert!(
        html.contains(&format!("href=\"/admin/workflows/{run}\"")),
        "run"
    );
    assert!(html.contains("<code>sync:conn-visible-7</code>"), "step");
    assert_eq!(listed(&html), [child], "children");
    assert!(html.contains("<span class=\"badge quarantined\">quarantined</span>"));
    // The actions of a dead job, and only those.
    assert!(html.contains(&format!("href=\"/admin/jobs/{id}/retry\"")));
    assert!(html.contains(&format!("href=\"/admin/jobs/{id}/discard\"")));
    assert!(!html.contains(&format!("href=\"/admin/jobs/{id}/cancel\"")));

    // A cron tick's job names its schedule; a queued one offers only cancel.
    let tick = sql::text(
        &mut t.db.admin_conn(),
        "INSERT INTO cron_ticks (schedule, fire_at, claimed_by) \
         VALUES ('daily-sync', '2026-11-25T02:00:00Z', 'test') RETURNING id::text AS value",
    );
    let cron = insert(&t, Job::default());
    common::exec(
        &mut t.db.admin_conn(),
        &format!(
            "UPDATE jobs SET trigger_kind = 'cron', trigger_ref = '{tick}' WHERE id = '{cron}'"
        ),
    );
    let (_, _, html) = send(&app, get(&browser.cookie, &format!("/admin/jobs/{cron}"))).await;
    assert!(
        html.contains("<a href=\"/admin/schedules\">daily-sync</a>"),
        "{html}"
    );
    assert!(html.contains("2026-11-25 02:00:00 UTC"));
    assert!(html.contains("<dd>system</dd>"));
    assert!(html.contains("No attempt yet."));
    assert!(html.contains(&format!("href=\"/admin/jobs/{cron}/cancel\"")));
    assert!(!html.contains(&format!("href=\"/admin/jobs/{cron}/retry\"")));

    for uri in [
        format!("/admin/jobs/{}", uuid::Uuid::now_v7()),
        "/admin/jobs/not-a-job".to_owned(),
        format!("/admin/jobs/{}/retry", uuid::Uuid::now_v7()),
        format!("/admin/jobs/{id}/explode"),
    ] {
        let (status, _, _) = send(&app, get(&browser.cookie, &uri)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
}

#[actix_web::test]
async fn retry_cancel_and_discard_change_the_ledger() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    let operator = console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let acme = common::tenant(&t, "acme");
    let dead = insert(
        &t,
        Job {
            tenant: Some(acme),
            state: "dead",
            ..Job::default()
        },
    );
    let queued = insert(&t, Job::default());
    let running = insert(
        &t,
        Job {
            state: "running",
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

    // Retry: asked first, then done.
    let (status, _, html) = send(
        &app,
        get(&browser.cookie, &format!("/admin/jobs/{dead}/retry")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Retry job noop?</h1>"), "{html}");
    assert!(html.contains(&format!("action=\"/admin/jobs/{dead}/retry\"")));
    assert_eq!(ledger::state(&t, &dead), "dead");
    let (status, location, _) = send(
        &app,
        post(&browser, &format!("/admin/jobs/{dead}/retry"), &[]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some(format!("/admin/jobs/{dead}?notice=retried").as_str())
    );
    assert_eq!(ledger::state(&t, &dead), "queued");
    assert_eq!(
        sql::count(
            &mut t.db.admin_conn(),
            &format!("SELECT attempts::int8 AS n FROM jobs WHERE id = '{dead}'")
        ),
        0
    );
    let (_, _, html) = send(&app, get(&browser.cookie, &location.unwrap())).await;
    assert!(html.contains("Retried: the job is queued again"), "{html}");

    // Cancel: a queued job never runs; a running one is asked to stop.
    let (status, location, _) = send(
        &app,
        post(&browser, &format!("/admin/jobs/{queued}/cancel"), &[]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some(format!("/admin/jobs/{queued}?notice=cancelled").as_str())
    );
    assert_eq!(ledger::state(&t, &queued), "cancelled");
    let (_, _, html) = send(
        &app,
        get(&browser.cookie, &format!("/admin/jobs/{running}/cancel")),
    )
    .await;
    assert!(
        html.contains("It is running: its worker is asked to stop"),
        "{html}"
    );
    let (_, location, _) = send(
        &app,
        post(&browser, &format!("/admin/jobs/{running}/cancel"), &[]),
    )
    .await;
    assert_eq!(
        location.as_deref(),
        Some(format!("/admin/jobs/{running}?notice=cancel_requested").as_str())
    );
    assert_eq!(ledger::state(&t, &running), "running");
    assert!(sql::flag(
        &mut t.db.admin_conn(),
        &format!("SELECT cancel_requested_at IS NOT NULL AS flag FROM jobs WHERE id = '{running}'")
    ));

    // Discard: gone, back to the list.
    let (status, location, _) = send(
        &app,
        post(&browser, &format!("/admin/jobs/{cancelled}/discard"), &[]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/admin/jobs?notice=discarded"));
    assert_eq!(ledger::state(&t, &cancelled), "gone");
    let (_, _, html) = send(&app, get(&browser.cookie, "/admin/jobs?notice=discarded")).await;
    assert!(html.contains("Discarded: the job and its history are deleted."));

    // An action the state does not allow is a conflict, asked or done, and changes nothing.
    for (id, action, state) in [
        (&queued, "cancel", "cancelled"),
        (&dead, "discard", "queued"),
        (&running, "retry", "running"),
    ] {
        let uri = format!("/admin/jobs/{id}/{action}");
        let (status, _, html) = send(&app, get(&browser.cookie, &uri)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{uri}");
        assert!(html.contains(&format!("this job is {state}")), "{html}");
        let (status, _, _) = send(&app, post(&browser, &uri, &[])).await;
        assert_eq!(status, StatusCode::CONFLICT, "{uri}");
        assert_eq!(ledger::state(&t, id), state);
    }

    // A job that went away meanwhile: back to the list, saying so.
    let (status, location, _) = send(
        &app,
        post(&browser, &format!("/admin/jobs/{cancelled}/retry"), &[]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/admin/jobs?notice=job_gone"));

    assert_eq!(
        audit(&t),
        [
            format!("console.job.retry {dead}"),
            format!("console.job.cancel {queued}"),
            format!("console.job.cancel {running}"),
            format!("console.job.discard {cancelled}"),
        ]
    );
    let actor = sql::text(
        &mut t.db.admin_conn(),
        "SELECT string_agg(DISTINCT actor_id, ',') AS value FROM audit_log \
         WHERE action LIKE 'console.job.%'",
    );
    assert_eq!(actor, operator.to_string());
    // The tenant's own trail shows what was done to its job; the others belong to none.
    assert_eq!(
        sql::text(
            &mut t.db.admin_conn(),
            "SELECT string_agg(action || ' ' || coalesce(tenant_id::text, '-'), ',' ORDER BY id) \
             AS value FROM audit_log WHERE action LIKE 'console.job.%'",
        ),
        format!(
            "console.job.retry {acme},console.job.cancel -,console.job.cancel -,\
             console.job.discard -"
        )
    );
}

#[actix_web::test]
async fn retrying_workflow_steps_resumes_their_run_one_or_in_bulk() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let acme = common::tenant(&t, "acme");
    let run = sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO workflow_runs (tenant_id, workflow, run_key, state, trigger_kind, \
                                        finished_at) \
             VALUES ('{acme}', 'daily_pipeline', '2026-11-25', 'failed', 'cron', now()) \
             RETURNING id::text AS value"
        ),
    );
    let step_job = |kind: &'static str, step: &str| {
        let id = insert(
            &t,
            Job {
                tenant: Some(acme),
                kind,
                state: "dead",
                ..Job::default()
            },
        );
        common::exec(
            &mut t.db.admin_conn(),
            &format!(
                "UPDATE jobs SET workflow_run_id = '{run}', workflow_step = '{step}' \
                 WHERE id = '{id}'; \
                 INSERT INTO workflow_steps (tenant_id, run_id, step, job_kind, state, job_id, \
                                             finished_at) \
                 VALUES ('{acme}', '{run}', '{step}', '{kind}', 'failed', '{id}', now());"
            ),
        );
        id
    };
    let forecast = step_job("noop", "forecast");
    let categorize = step_job("categorize", "categorize");
    let step_state = |step: &str| {
        sql::text(
            &mut t.db.admin_conn(),
            &format!(
                "SELECT state AS value FROM workflow_steps WHERE run_id = '{run}' \
                 AND step = '{step}'"
            ),
        )
    };
    let run_state = || {
        sql::text(
            &mut t.db.admin_conn(),
            &format!("SELECT state AS value FROM workflow_runs WHERE id = '{run}'"),
        )
    };

    let (status, _, _) = send(
        &app,
        post(&browser, &format!("/admin/jobs/{forecast}/retry"), &[]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(ledger::state(&t, &forecast), "queued");
    assert_eq!(step_state("forecast"), "queued");
    assert_eq!(run_state(), "running", "the run resumes");
    assert_eq!(step_state("categorize"), "failed");

    let (status, _, _) = send(
        &app,
        post(&browser, "/admin/jobs/bulk/retry?kind=categorize", &[]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(ledger::state(&t, &categorize), "queued");
    assert_eq!(step_state("categorize"), "queued");
}
