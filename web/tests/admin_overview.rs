//! The console's overview: throughput per minute from the ledger's attempts, queues, live
//! workers, rate-limit waits, critical findings and stale connections, and its live fragment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use common::console::{self, get, send};
use findash_engine::builtin::Noop;
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::{TestEngine, delete_namespace};
use findash_engine::{Queue, Registry};
use findash_schema::TenantId;
use findash_schema::testing::sql;

fn ts(t: DateTime<Utc>) -> String {
    format!("'{}'::timestamptz", t.to_rfc3339())
}

/// Inserts a job of `tenant` in `state`, with more `(column, SQL value)` pairs; its id.
fn job(
    t: &TestEngine,
    tenant: TenantId,
    kind: &str,
    queue: &str,
    state: &str,
    extra: &[(&str, String)],
) -> String {
    let mut columns = vec!["tenant_id", "kind", "queue", "state", "max_attempts"];
    let mut values = vec![
        format!("'{tenant}'"),
        format!("'{kind}'"),
        format!("'{queue}'"),
        format!("'{state}'"),
        "5".to_owned(),
    ];
    if matches!(state, "succeeded" | "dead" | "cancelled" | "quarantined") {
        columns.push("finished_at");
        values.push("now()".to_owned());
    }
    for (column, value) in extra {
        columns.push(column);
        values.push(value.clone());
    }
    sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO jobs ({}) VALUES ({}) RETURNING id::text AS value",
            columns.join(", "),
            values.join(", ")
        ),
    )
}

/// Attempt rows of `job`, numbered from `first`: (outcome, finished at, error).
fn attempts(
    t: &TestEngine,
    tenant: TenantId,
    job: &str,
    first: i32,
    rows: &[(&str, DateTime<Utc>, &str)],
) {
    let values: Vec<String> = rows
        .iter()
        .zip(first..)
        .map(|((outcome, at, error), n)| {
            format!(
                "('{job}', '{tenant}', {n}, 'worker-1', {}, {}, '{outcome}', {})",
                ts(*at - TimeDelta::seconds(1)),
                ts(*at),
                if error.is_empty() {
                    "NULL".to_owned()
                } else {
                    format!("'{error}'")
                }
            )
        })
        .collect();
    common::exec(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO job_attempts (job_id, tenant_id, attempt, worker, started_at, finished_at, outcome, error) VALUES {}",
            values.join(", ")
        ),
    );
}

/// The figures row of `name` under the charts: total, peak per minute, peak at.
fn figures(html: &str, name: &str) -> (String, String, String) {
    let marker = format!("<th scope=\"row\">{name}</th>");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no row {name}"))
        + marker.len();
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    let cells: Vec<String> = row
        .split("</td>")
        .filter_map(|c| c.split_once('>').map(|(_, v)| v.trim().to_owned()))
        .collect();
    (cells[0].clone(), cells[1].clone(), cells[2].clone())
}

/// The cells of the queue table's row for `queue`.
fn queue_row(html: &str, queue: &str) -> Vec<String> {
    let marker = format!("<tr><td><a href=\"/admin/jobs?queue={queue}\">{queue}</a></td>");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no queue {queue}"))
        + marker.len();
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    row.split("</td>")
        .filter_map(|c| c.split_once('>').map(|(_, v)| v.trim().to_owned()))
        .collect()
}

/// The figure of the card titled `title`.
fn card(html: &str, title: &str) -> String {
    let marker = format!(">{title}</a></h2>");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no card {title}"))
        + marker.len();
    let rest = &html[start..];
    let figure = rest.find("<p class=\"figure\">").unwrap() + "<p class=\"figure\">".len();
    rest[figure..figure + rest[figure..].find("</p>").unwrap()].to_owned()
}

#[actix_web::test]
async fn every_page_needs_a_session() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    for uri in [
        "/admin?window=24h",
        "/admin/overview/live?window=1h",
        "/admin/freshness",
        "/admin/rate-limits",
    ] {
        let (status, location, _) = send(&app, TestRequest::get().uri(uri)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        let location = location.unwrap();
        assert!(
            location.starts_with("/admin/login?next="),
            "{uri}: {location}"
        );
    }
    // The live fragment's refresh, once signed out, sends htmx to the sign-in page (a header
    // htmx follows: the request itself would follow a redirect, into the panel).
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/admin/overview/live")
            .insert_header(("hx-request", "true"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("location").is_none());
    assert!(
        res.headers()
            .get("hx-redirect")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("/admin/login")
    );
    delete_namespace(&t.namespace).await;
}

#[actix_web::test]
async fn an_unknown_window_is_a_bad_request() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);
    let browser = console::sign_in(&app, "ops@example.test").await;
    for uri in ["/admin?window=bogus", "/admin/overview/live?window=30d"] {
        let (status, _, html) = send(&app, get(&browser.cookie, uri)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(html.contains("choose 1h, 24h or 7d"), "{uri}: {html}");
    }
    // The longer windows, whose slices move slowly, refresh less often.
    for (window, seconds) in [("1h", 5), ("24h", 30), ("7d", 60)] {
        let (status, _, html) = send(
            &app,
            get(&browser.cookie, &format!("/admin?window={window}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{window}");
        assert!(
            html.contains(&format!(
                "<a href=\"/admin?window={window}\" aria-current=\"page\">"
            )),
            "the chosen window is the current tab"
        );
        assert!(html.contains(&format!(
            "hx-get=\"/admin/overview/live?window={window}\" hx-trigger=\"every {seconds}s\" hx-swap=\"innerHTML\""
        )));
        assert!(
            html.contains(&format!("refreshes every {seconds} s")),
            "{window}"
        );
        let (_, _, panels) = send(
            &app,
            get(
                &browser.cookie,
                &format!("/admin/overview/live?window={window}"),
            ),
        )
        .await;
        assert!(
            panels.contains(&format!("refreshes every {seconds} s")),
            "{window}"
        );
    }
    delete_namespace(&t.namespace).await;
}

#[actix_web::test]
async fn the_overview_counts_what_happened_and_what_needs_attention() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);
    let acme = common::tenant(&t, "acme");
    let now = Utc::now();
    let minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap();
    let at = |minutes_ago: i64| minute - TimeDelta::minutes(minutes_ago) + TimeDelta::seconds(10);

    // History: one finished job carries the attempts (they are what the charts count).
    let history = job(&t, acme, "noop", "default", "succeeded", &[]);
    attempts(
        &t,
        acme,
        &history,
        1,
        &[
            // Three minutes ago: 5 processed (a blocked gate succeeded too), 2 failed, and
            // three attempts that count as neither.
            ("succeeded", at(3), ""),
            ("succeeded", at(3), ""),
            ("succeeded", at(3), ""),
            ("succeeded", at(3), ""),
            ("blocked", at(3), "1 critical finding open"),
            ("failed", at(3), "boom"),
            ("timed_out", at(3), "timed out"),
            ("deferred", at(3), "rate limited; next try in 1s"),
            (
                "released",
                at(3),
                "worker shut down before the job finished",
            ),
            ("cancelled", at(3), ""),
            // Ten minutes ago: 2 processed, 1 failed; twenty minutes ago, 1 failed.
            ("succeeded", at(10), ""),
            ("succeeded", at(10), ""),
            ("panicked", at(10), "panic"),
            ("lease_expired", at(20), "lease expired"),
            // Two hours ago (24 h and 7 d only): 7 processed.
            ("succeeded", at(120), ""),
            ("succeeded", at(120), ""),
            ("succeeded", at(120), ""),
            ("succeeded", at(120), ""),
            ("succeeded", at(120), ""),
            ("succeeded", at(120), ""),
            ("succeeded", at(120), ""),
            // Three days ago (7 d only): 1 failed.
            ("failed", at(3 * 24 * 60), "old"),
        ],
    );

    // Queues: sync has 3 ready (the oldest due 7 minutes ago), 1 scheduled, 1 running and a
    // job waiting on a rate limit (scheduled too); default has 2 dead and 1 quarantined.
    for minutes in [7, 2, 1] {
        job(
            &t,
            acme,
            "sync_connection",
            "sync",
            "queued",
            &[("run_at", ts(now - TimeDelta::minutes(minutes)))],
        );
    }
    job(
        &t,
        acme,
        "sync_connection",
        "sync",
        "retrying",
        &[("run_at", ts(now + TimeDelta::minutes(5)))],
    );
    job(
        &t,
        acme,
        "sync_connection",
        "sync",
        "running",
        &[
            ("lease_owner", "'worker-1'".to_owned()),
            ("lease_expires_at", "now() + interval '1 minute'".to_owned()),
            ("dispatched_at", "now()".to_owned()),
            ("dispatch_token", "'t-1'".to_owned()),
            ("started_at", "now()".to_owned()),
        ],
    );
    for state in ["dead", "dead", "quarantined"] {
        job(&t, acme, "noop", "default", state, &[]);
    }
    // Waiting on a rate limit: failed once two hours ago, then deferred 8 and 1 minutes ago.
    let waiting = job(
        &t,
        acme,
        "sync_connection",
        "sync",
        "queued",
        &[
            ("run_at", ts(now + TimeDelta::seconds(40))),
            ("deferrals", "2".to_owned()),
            ("attempts", "1".to_owned()),
            ("runs", "3".to_owned()),
        ],
    );
    attempts(
        &t,
        acme,
        &waiting,
        1,
        &[
            ("failed", at(121), "provider down"),
            (
                "deferred",
                now - TimeDelta::minutes(8),
                "rate limited; next try in 30s",
            ),
            (
                "deferred",
                now - TimeDelta::minutes(1),
                "rate limited; next try in 40s",
            ),
        ],
    );
    // Deferred because no worker knows its kind: not a rate-limit wait (but ready in default).
    let unknown = job(
        &t,
        acme,
        "mystery",
        "default",
        "queued",
        &[("deferrals", "1".to_owned()), ("runs", "1".to_owned())],
    );
    attempts(
        &t,
        acme,
        &unknown,
        1,
        &[(
            "deferred",
            now - TimeDelta::minutes(2),
            "no worker knows kind `mystery`",
        )],
    );

    // A critical finding (shown), a warning and a resolved critical one (not shown).
    common::exec(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO dq_findings (tenant_id, check_name, severity, subject_type, subject_id, fingerprint, message, first_seen_at) VALUES \
             ('{acme}', 'balance_continuity', 'critical', 'account', 'acct-1', 'f1', 'Balance jumps by 120.00 on 2026-11-20', now() - interval '3 hours'), \
             ('{acme}', 'stale_sync', 'warning', 'connection', 'c-1', 'f2', 'A warning only', now()); \
             INSERT INTO dq_findings (tenant_id, check_name, severity, subject_type, fingerprint, status, message, resolved_at) VALUES \
             ('{acme}', 'balance_continuity', 'critical', 'tenant', 'f3', 'resolved', 'Fixed long ago', now());"
        ),
    );
    // Connections: one stale for 30 h, one fresh, one disabled long ago (not counted).
    common::exec(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO provider_connections (tenant_id, provider, external_id, display_name, status, last_successful_sync_at, last_error, last_error_at) VALUES \
             ('{acme}', 'pluggy', 'item-1', 'Banco Lento', 'error', now() - interval '30 hours', 'provider answered 503', now() - interval '1 hour'), \
             ('{acme}', 'sandbox', 'fresh', 'Fresh Bank', 'active', now() - interval '1 hour', NULL, NULL), \
             ('{acme}', 'belvo', 'gone', 'Closed Bank', 'disabled', now() - interval '90 days', NULL, NULL)"
        ),
    );

    let browser = console::sign_in(&app, "ops@example.test").await;
    let (status, _, html) = send(&app, get(&browser.cookie, "/admin")).await;
    assert_eq!(status, StatusCode::OK);

    // The last hour, by the minute.
    let three_ago = (minute - TimeDelta::minutes(3)).format("%H:%M").to_string();
    assert_eq!(
        figures(&html, "Processed"),
        ("7".to_owned(), "5".to_owned(), format!("{three_ago} UTC"))
    );
    assert_eq!(
        figures(&html, "Failed"),
        ("4".to_owned(), "2".to_owned(), format!("{three_ago} UTC"))
    );
    assert!(html.contains(&format!(
        "<desc id=\"chart-processed-desc\">7 in the last hour; peak 5 per minute at {three_ago} UTC.</desc>"
    )));
    assert!(html.contains("aria-labelledby=\"chart-failed-title chart-failed-desc\""));
    assert!(html.contains("<rect class=\"bar-fail\""));
    assert!(html.contains(&format!("<title>{three_ago} UTC: 2 per minute</title>")));
    assert_eq!(card(&html, "Processed"), "7");
    assert_eq!(card(&html, "Failed"), "4");

    // Queues, in the engine's order, every one present.
    let sync = queue_row(&html, "sync");
    assert_eq!(
        sync,
        ["3", "7 min", "2", "1", "1", "0", "0", "0"],
        "ready, oldest waiting, scheduled, running, retrying, dead, quarantined, workers"
    );
    let default = queue_row(&html, "default");
    assert_eq!(default[0], "1", "the unknown kind's job is ready");
    assert_eq!(&default[2..], ["0", "0", "0", "2", "1", "0"]);
    for queue in Queue::ALL {
        assert!(
            html.contains(&format!("/admin/jobs?queue={queue}\"")),
            "{queue}"
        );
    }
    assert_eq!(card(&html, "Dead &#38; quarantined"), "3");
    assert_eq!(card(&html, "Backlog"), "4");
    assert_eq!(card(&html, "Live workers"), "0");

    // Rate-limit waits: the sync job, waiting 8 minutes, not the unknown kind.
    assert_eq!(card(&html, "Rate-limit waits"), "1");
    assert!(
        html.contains(
            "<a href=\"/admin/jobs?state=queued&#38;queue=sync&#38;kind=sync_connection\">sync_connection</a></td><td>sync</td><td class=\"num\">1</td><td>8 min"
        ),
        "{html}"
    );
    assert!(!html.contains(">mystery</a>"));

    // The open critical finding with its tenant; not the warning or the resolved one.
    assert_eq!(card(&html, "Critical findings"), "1");
    assert!(html.contains("Balance jumps by 120.00 on 2026-11-20"));
    assert!(html.contains("/admin/jobs?kind=dq_check&#38;tenant=acme\">acme</a>"));
    assert!(html.contains("<td class=\"mono\">account acct-1</td>"));
    assert!(!html.contains("A warning only") && !html.contains("Fixed long ago"));

    // The stale connection with its tenant and error; not the fresh or disabled one.
    assert_eq!(card(&html, "Stale connections"), "1");
    assert!(html.contains("Banco Lento</a></td><td>acme</td><td>pluggy</td>"));
    assert!(html.contains("provider answered 503"));
    assert!(html.contains("of 2 not synced within 1 d"));
    assert!(!html.contains("Fresh Bank") && !html.contains("Closed Bank"));

    // One line says what needs attention; only the announcer is a live region.
    assert!(html.contains(
        "<p class=\"summary\" data-live-summary>Needs attention: 4 failed attempts in the last hour, 3 dead or quarantined, no live workers, 1 job waiting on a rate limit, 1 critical finding, 1 stale connection.</p>"
    ));
    assert_eq!(html.matches("aria-live=").count(), 1);
    assert!(html.contains(
        "id=\"overview-announcer\" class=\"visually-hidden\" role=\"status\" aria-live=\"polite\""
    ));
    assert!(!html.contains(" style="), "no inline styles (CSP)");

    // Wider windows add the older attempts: 24 h the ones of two hours ago, 7 d the failure of
    // three days ago too (the wait's own failure two hours ago counts in both).
    let (_, _, day) = send(&app, get(&browser.cookie, "/admin?window=24h")).await;
    assert_eq!(figures(&day, "Processed").0, "14");
    assert_eq!(figures(&day, "Failed").0, "5");
    assert!(day.contains("14 in the last 24 hours; peak"));
    let (_, _, week) = send(&app, get(&browser.cookie, "/admin?window=7d")).await;
    assert_eq!(figures(&week, "Processed").0, "14");
    assert_eq!(figures(&week, "Failed").0, "6");

    // The live fragment: the same panels, no frame.
    let (status, _, live) = send(
        &app,
        get(&browser.cookie, "/admin/overview/live?window=24h")
            .insert_header(("hx-request", "true")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!live.contains("<html") && !live.contains("Sign out"));
    assert!(live.contains("Updated <time datetime="));
    assert_eq!(figures(&live, "Failed").0, "5");
    assert_eq!(queue_row(&live, "sync")[0], "3");
    delete_namespace(&t.namespace).await;
}

/// Jobs run through the engine count as the engine records them: a noop that fails once, then
/// succeeds, is one failed and one processed attempt; the workers show per queue; a job a rate
/// limit refused waits for it.
#[actix_web::test]
async fn attempts_the_engine_records_count_and_workers_show_per_queue() {
    let t = TestEngine::start(findash_engine::builtin::register(Registry::new()), |c| {
        c.rate_limits = "drill=1/1h:1".to_owned();
    })
    .await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);
    let acme = common::tenant(&t, "acme");
    let running = t.run(1);
    let options = || EnqueueOptions::new(Trigger::new("api", None));
    let flaky = t
        .engine
        .enqueue(
            Some(acme),
            &Noop {
                fail_times: Some(1),
                ..Noop::default()
            },
            options(),
        )
        .await
        .unwrap();
    for _ in 0..2 {
        t.engine
            .enqueue(
                Some(acme),
                &Noop {
                    rate_limit_key: Some("drill:one".to_owned()),
                    ..Noop::default()
                },
                options(),
            )
            .await
            .unwrap();
    }
    let started = std::time::Instant::now();
    loop {
        let done = sql::count(
            &mut t.db.admin_conn(),
            &format!(
                "SELECT count(*) AS n FROM jobs WHERE (id = '{}' AND state = 'succeeded') \
                 OR (payload ? 'rate_limit_key' AND (state = 'succeeded' OR deferrals > 0))",
                flaky.id
            ),
        );
        let workers = t
            .engine
            .live_workers_everywhere(Duration::from_secs(30))
            .await
            .unwrap();
        if done == 3 && workers == Queue::ALL.len() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "jobs did not finish: {done} of 3, {workers} workers"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let browser = console::sign_in(&app, "ops@example.test").await;
    let (_, _, live) = send(&app, get(&browser.cookie, "/admin/overview/live")).await;
    // The flaky noop failed once and succeeded; the drill that got the token succeeded.
    assert_eq!(figures(&live, "Processed").0, "2");
    assert_eq!(figures(&live, "Failed").0, "1");
    for queue in Queue::ALL {
        assert_eq!(
            queue_row(&live, queue.as_str()).last().unwrap(),
            "1",
            "one live worker on {queue}"
        );
    }
    assert_eq!(card(&live, "Live workers"), "7");
    assert_eq!(card(&live, "Rate-limit waits"), "1");
    assert!(live.contains("kind=noop\">noop</a></td><td>default</td><td class=\"num\">1</td>"));

    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}
