//! The console's schedules: every schedule the deployment runs with its overrides, next fire
//! time, pause state and last tick; pause and resume; run now. Sign-in and CSRF on every page
//! and action, and the ledger after each action.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use common::console::{self, get, post, post_with, send};
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::TestEngine;
use findash_schema::testing::sql;
use serde_json::json;

const OPS: &str = "ops@example.test";

/// An engine with every job type of the deployment and `CRON_SCHEDULES` moving `daily-sync`
/// and turning `refresh-rates` off (nothing runs: no workers, no scheduler).
async fn engine() -> TestEngine {
    let registry = findash_jobs::registry(&findash_jobs::testing::config("http://127.0.0.1:9/"))
        .expect("the job types register");
    TestEngine::start(registry, |config| {
        config.cron_overrides = "daily-sync=0 5 * * *;refresh-rates=off".to_owned();
    })
    .await
}

/// The table row of schedule `name` in the list.
fn row<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("<tr id=\"schedule-{name}\">"))
        .unwrap_or_else(|| panic!("no row for {name}"));
    let end = html[start..].find("</tr>").unwrap() + start;
    &html[start..end]
}

fn count(t: &TestEngine, query: &str) -> i64 {
    sql::count(&mut t.db.admin_conn(), query)
}

#[actix_web::test]
async fn every_page_and_action_needs_a_session() {
    let t = engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);

    for uri in [
        "/admin/schedules",
        "/admin/schedules/prune",
        "/admin/schedules/prune/run",
    ] {
        let (status, location, _) = send(&app, TestRequest::get().uri(uri)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        assert!(location.unwrap().starts_with("/admin/login?next="), "{uri}");
    }
    for uri in [
        "/admin/schedules/prune/pause",
        "/admin/schedules/prune/resume",
        "/admin/schedules/prune/run",
    ] {
        let (status, location, _) = send(&app, post_with("", uri, &[("csrf_token", "x")])).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        assert!(location.unwrap().starts_with("/admin/login"), "{uri}");
    }
    assert_eq!(count(&t, "SELECT count(*) AS n FROM cron_schedules"), 0);
    assert_eq!(count(&t, "SELECT count(*) AS n FROM jobs"), 0);
}

#[actix_web::test]
async fn actions_without_the_csrf_token_change_nothing() {
    let t = engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    common::exec(
        &mut t.db.admin_conn(),
        "INSERT INTO cron_schedules (name, paused, paused_at, paused_by) \
         VALUES ('dq', true, now(), 'someone@example.test')",
    );

    for uri in [
        "/admin/schedules/prune/pause",
        "/admin/schedules/dq/resume",
        "/admin/schedules/forecast/run",
    ] {
        for fields in [vec![], vec![("csrf_token", "x".repeat(43))]] {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, _, html) = send(&app, post_with(&browser.cookie, uri, &fields)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri} {fields:?}");
            assert!(html.contains("did not come from the console"), "{uri}");
        }
    }
    assert_eq!(
        sql::texts(
            &mut t.db.admin_conn(),
            "SELECT name || ' ' || paused AS value FROM cron_schedules ORDER BY name"
        ),
        vec!["dq true"],
        "nothing paused or resumed"
    );
    assert_eq!(
        count(&t, "SELECT count(*) AS n FROM jobs"),
        0,
        "nothing ran"
    );
    assert_eq!(
        count(
            &t,
            "SELECT count(*) AS n FROM audit_log WHERE action LIKE 'console.schedule.%'"
        ),
        0
    );
}

#[actix_web::test]
async fn the_list_shows_overrides_next_fire_times_and_the_last_tick() {
    let t = engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;

    // dq's last tick enqueued a job that died; an older tick of it is not the last one.
    let row_of_job = t.engine.registry().new_job("dq_all", json!({})).unwrap();
    let job = t
        .engine
        .enqueue_rows(
            None,
            vec![row_of_job],
            EnqueueOptions::new(Trigger::new("cron", Some("1".to_owned()))),
        )
        .await
        .unwrap()[0]
        .id;
    common::exec(
        &mut t.db.admin_conn(),
        &format!(
            "UPDATE jobs SET state = 'dead', finished_at = now(), last_error = 'the gate fell over' \
             WHERE id = '{job}'; \
             INSERT INTO cron_ticks (schedule, fire_at, claimed_by, outcome) \
             VALUES ('dq', '2026-01-01T04:00:00Z', 'replica-a', 'enqueued'); \
             INSERT INTO cron_ticks (schedule, fire_at, claimed_by, outcome, job_id) \
             VALUES ('dq', '2026-01-02T04:00:00Z', 'replica-b', 'enqueued', '{job}'); \
             INSERT INTO cron_ticks (schedule, fire_at, claimed_by, outcome) \
             VALUES ('prune', '2026-01-02T05:00:00Z', 'replica-b', 'skipped_paused')"
        ),
    );

    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/schedules")).await;
    assert_eq!(status, StatusCode::OK);
    for name in [
        "daily-sync",
        "refresh-rates",
        "forecast",
        "dq",
        "daily-summary",
        "prune",
    ] {
        assert!(
            row(&html, name).contains(&format!("href=\"/admin/schedules/{name}\"")),
            "{name}"
        );
    }

    let daily = row(&html, "daily-sync");
    assert!(
        daily.contains("<code>0 5 * * *</code>"),
        "override: {daily}"
    );
    assert!(daily.contains("<code>daily_pipeline</code>"), "{daily}");
    assert!(daily.contains("05:00:00 UTC</time>"), "next fire: {daily}");
    assert!(daily.contains("(in "), "relative: {daily}");
    assert!(daily.contains("badge active"), "{daily}");
    assert!(daily.contains("never ticked"), "{daily}");

    let rates = row(&html, "refresh-rates");
    assert!(rates.contains("badge off"), "{rates}");
    assert!(rates.contains("off in CRON_SCHEDULES"), "{rates}");

    let dq = row(&html, "dq");
    assert!(dq.contains("2026-01-02 04:00:00 UTC"), "{dq}");
    assert!(
        !dq.contains("2026-01-01 04:00:00 UTC"),
        "only the last tick"
    );
    assert!(dq.contains("badge enqueued"), "{dq}");
    assert!(dq.contains(&format!("href=\"/admin/jobs/{job}\"")), "{dq}");
    assert!(dq.contains("badge dead"), "{dq}");
    assert!(dq.contains("the gate fell over"), "{dq}");

    let prune = row(&html, "prune");
    assert!(prune.contains("badge skipped_paused"), "{prune}");

    // Its page lists both ticks, newest first.
    let (status, _, page) = send(&app, get(&browser.cookie, "/admin/schedules/dq")).await;
    assert_eq!(status, StatusCode::OK);
    let newer = page.find("2026-01-02 04:00:00 UTC").unwrap();
    let older = page.find("2026-01-01 04:00:00 UTC").unwrap();
    assert!(newer < older, "newest first");

    for (request, what) in [
        (get(&browser.cookie, "/admin/schedules/nope"), "page"),
        (get(&browser.cookie, "/admin/schedules/nope/run"), "confirm"),
        (post(&browser, "/admin/schedules/nope/pause", &[]), "pause"),
        (
            post(&browser, "/admin/schedules/nope/resume", &[]),
            "resume",
        ),
        (post(&browser, "/admin/schedules/nope/run", &[]), "run"),
    ] {
        let (status, _, _) = send(&app, request).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{what}");
    }
    assert_eq!(count(&t, "SELECT count(*) AS n FROM cron_schedules"), 0);
}

#[actix_web::test]
async fn pause_then_resume_is_recorded_and_shown() {
    let t = engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let state = |t: &TestEngine| {
        sql::texts(
            &mut t.db.admin_conn(),
            "SELECT name || ' ' || paused || ' ' || coalesce(paused_by, '-') || ' ' || \
                    (paused_at IS NOT NULL) AS value FROM cron_schedules",
        )
    };

    let (status, location, _) =
        send(&app, post(&browser, "/admin/schedules/prune/pause", &[])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/admin/schedules?notice=paused"));
    assert_eq!(state(&t), vec![format!("prune true {OPS} true")]);
    let (_, _, html) = send(&app, get(&browser.cookie, "/admin/schedules?notice=paused")).await;
    assert!(
        html.contains("role=\"status\">Schedule paused"),
        "the notice"
    );
    let prune = row(&html, "prune");
    assert!(prune.contains("badge paused"), "{prune}");
    assert!(prune.contains(&format!("by {OPS}")), "{prune}");
    assert!(prune.contains("/admin/schedules/prune/resume"), "{prune}");
    assert!(
        row(&html, "dq").contains("badge active"),
        "other schedules run on"
    );

    // Resuming from the schedule's own page leads back there.
    let (status, location, _) = send(
        &app,
        post(
            &browser,
            "/admin/schedules/prune/resume",
            &[("back", "detail")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/admin/schedules/prune?notice=resumed")
    );
    assert_eq!(state(&t), vec!["prune false - false".to_owned()]);
    let (_, _, html) = send(&app, get(&browser.cookie, location.as_deref().unwrap())).await;
    assert!(html.contains("Schedule resumed"), "the notice");
    assert!(html.contains("badge active"));
    assert!(!html.contains("badge paused"));

    assert_eq!(
        sql::texts(
            &mut t.db.admin_conn(),
            "SELECT action || ' ' || subject_type || ' ' || subject_id AS value FROM audit_log \
             WHERE action LIKE 'console.schedule.%' ORDER BY id"
        ),
        vec![
            "console.schedule.pause schedule prune",
            "console.schedule.resume schedule prune"
        ]
    );
}

/// Pausing a paused schedule (a second tab, a resent form) or resuming a running one is a
/// conflict: it says so, and neither the schedule nor the audit log changes.
#[actix_web::test]
async fn pausing_a_paused_schedule_or_resuming_a_running_one_is_a_conflict() {
    let t = engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let state = |t: &TestEngine| {
        sql::texts(
            &mut t.db.admin_conn(),
            "SELECT name || ' ' || paused || ' ' || coalesce(paused_by, '-') || ' ' || \
                    coalesce(paused_at::text, '-') AS value FROM cron_schedules",
        )
    };
    let audited = |t: &TestEngine| {
        sql::count(
            &mut t.db.admin_conn(),
            "SELECT count(*) AS n FROM audit_log WHERE action LIKE 'console.schedule.%'",
        )
    };

    // Never paused: there is nothing to resume.
    let (status, _, html) = send(&app, post(&browser, "/admin/schedules/prune/resume", &[])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("schedule prune is not paused"), "{html}");
    assert!(state(&t).is_empty());
    assert_eq!(audited(&t), 0);

    let (status, _, _) = send(&app, post(&browser, "/admin/schedules/prune/pause", &[])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let paused = state(&t);
    assert_eq!(audited(&t), 1);

    let (status, _, html) = send(
        &app,
        post(
            &browser,
            "/admin/schedules/prune/pause",
            &[("back", "detail")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("schedule prune is already paused"), "{html}");
    assert_eq!(
        state(&t),
        paused,
        "who paused it and when stay as they were"
    );
    assert_eq!(audited(&t), 1);

    let (status, _, _) = send(&app, post(&browser, "/admin/schedules/prune/resume", &[])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, html) = send(&app, post(&browser, "/admin/schedules/prune/resume", &[])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("schedule prune is not paused"), "{html}");
    assert_eq!(state(&t), vec!["prune false - -".to_owned()]);
    assert_eq!(audited(&t), 2);
}

#[actix_web::test]
async fn run_now_confirms_then_enqueues_one_system_job_started_from_the_console() {
    let t = engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;

    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/schedules/forecast/run")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Run schedule forecast now?"), "{html}");
    assert!(html.contains("<code>forecast_all</code>"));
    assert_eq!(
        count(&t, "SELECT count(*) AS n FROM jobs"),
        0,
        "asking runs nothing"
    );
    let nonce = console::hidden(&html, "nonce").expect("the form carries a nonce");

    let (status, location, _) = send(
        &app,
        post(
            &browser,
            "/admin/schedules/forecast/run",
            &[("nonce", &nonce)],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    let id = location.strip_prefix("/admin/jobs/").expect("to the job");
    assert_eq!(
        sql::texts(
            &mut t.db.admin_conn(),
            "SELECT id || ' ' || kind || ' ' || coalesce(tenant_id::text, 'system') || ' ' || state \
                    || ' ' || trigger_kind || ' ' || trigger_ref AS value FROM jobs"
        ),
        vec![format!(
            "{id} forecast_all system queued system console:{OPS}"
        )]
    );

    // The same form sent twice starts it once; another confirmation runs it again.
    let (_, again, _) = send(
        &app,
        post(
            &browser,
            "/admin/schedules/forecast/run",
            &[("nonce", &nonce)],
        ),
    )
    .await;
    assert_eq!(again.as_deref(), Some(location.as_str()));
    assert_eq!(count(&t, "SELECT count(*) AS n FROM jobs"), 1);
    let (_, other, _) = send(&app, post(&browser, "/admin/schedules/forecast/run", &[])).await;
    assert_ne!(other.as_deref(), Some(location.as_str()));
    assert_eq!(
        count(
            &t,
            "SELECT count(*) AS n FROM jobs WHERE kind = 'forecast_all'"
        ),
        2
    );

    assert_eq!(
        count(
            &t,
            &format!(
                "SELECT count(*) AS n FROM audit_log WHERE action = 'console.schedule.run' \
                 AND subject_id = 'forecast' AND details ->> 'job_id' = '{id}'"
            )
        ),
        2,
        "each submit is audited"
    );
}

#[actix_web::test]
async fn a_schedule_without_a_job_type_is_shown_off_and_cannot_run() {
    // The engine of the other web tests knows only the built-in kinds.
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;

    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/schedules")).await;
    assert_eq!(status, StatusCode::OK);
    let daily = row(&html, "daily-sync");
    assert!(
        daily.contains("no job type for its kind in this build"),
        "{daily}"
    );
    assert!(!daily.contains("/run"), "no run now: {daily}");

    let (status, _, _) = send(
        &app,
        get(&browser.cookie, "/admin/schedules/daily-sync/run"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, _) = send(&app, post(&browser, "/admin/schedules/daily-sync/run", &[])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(count(&t, "SELECT count(*) AS n FROM jobs"), 0);
}
