//! The console's workflow runs: the list with its filters and keyset pages, and a run's step
//! graph — levels, states, reasons, dependencies and fan-out children — for runs started and
//! run through the real engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use common::console::{self, get, send};
use findash_engine::ledger::Trigger;
use findash_engine::testing::TestEngine;
use findash_engine::workflow::{NAMES_FROM_RUNS, StepSpec, WorkflowSpec, start, step_graph};
use findash_engine::{Job, JobContext, JobError, JobResult, Queue};
use findash_schema::testing::sql;
use findash_schema::{DbError, SystemTask, TenantId, WorkflowRunId};
use serde::{Deserialize, Serialize};
use serde_json::json;

const OPS: &str = "ops@example.test";

/// Fans out `children` leaves; the first `fail` of them fail for good.
#[derive(Serialize, Deserialize)]
struct Spread {
    children: u32,
    fail: u32,
}

impl Job for Spread {
    const KIND: &'static str = "test_spread";
    async fn run(self, ctx: JobContext) -> JobResult {
        let children = (0..self.children)
            .map(|i| {
                (
                    format!("c{i}"),
                    Leaf {
                        fail: i < self.fail,
                    },
                )
            })
            .collect();
        let spawned = ctx.fan_out(children).await?;
        Ok(json!({ "spawned": spawned.len() }))
    }
}

#[derive(Serialize, Deserialize)]
struct Leaf {
    fail: bool,
}

impl Job for Leaf {
    const KIND: &'static str = "test_leaf";
    const QUEUE: Queue = Queue::Sync;
    async fn run(self, _ctx: JobContext) -> JobResult {
        if self.fail {
            return Err(JobError::permanent(anyhow::anyhow!("the bank said no")));
        }
        Ok(json!({}))
    }
}

/// Ends `blocked` when asked to, as the data-quality gate does.
#[derive(Serialize, Deserialize)]
struct Gate {
    block: bool,
}

impl Job for Gate {
    const KIND: &'static str = "test_gate";
    async fn run(self, _ctx: JobContext) -> JobResult {
        if self.block {
            return Err(JobError::Blocked {
                reason: "2 critical findings".to_owned(),
            });
        }
        Ok(json!({}))
    }
}

/// sync (fan-out) ─(finished)▶ gate ─(success)▶ forecast ─(finished)▶ summary
fn spec(key: &str, fail: u32, block: bool) -> WorkflowSpec {
    let step = |name: &str, kind: &str, payload, depends: &[&str], waits: &[&str]| StepSpec {
        name: name.to_owned(),
        kind: kind.to_owned(),
        payload,
        depends_on: depends.iter().map(|d| (*d).to_owned()).collect(),
        waits_for: waits.iter().map(|d| (*d).to_owned()).collect(),
    };
    WorkflowSpec {
        name: "test_pipeline".to_owned(),
        run_key: key.to_owned(),
        steps: vec![
            step(
                "sync",
                "test_spread",
                json!({ "children": 3, "fail": fail }),
                &[],
                &[],
            ),
            step(
                "gate",
                "test_gate",
                json!({ "block": block }),
                &[],
                &["sync"],
            ),
            step(
                "forecast",
                "test_leaf",
                json!({ "fail": false }),
                &["gate"],
                &[],
            ),
            step(
                "summary",
                "test_leaf",
                json!({ "fail": false }),
                &[],
                &["forecast"],
            ),
        ],
        trigger: Trigger::new("cli", None),
    }
}

async fn engine() -> TestEngine {
    let registry = findash_engine::builtin::register(findash_engine::Registry::new())
        .register::<Spread>()
        .register::<Leaf>()
        .register::<Gate>();
    TestEngine::start(registry, |_| {}).await
}

fn start_run(t: &TestEngine, tenant: TenantId, spec: &WorkflowSpec) -> String {
    let registry = t.engine.registry().clone();
    t.engine
        .db()
        .system(SystemTask::Jobs, |sys| start(sys, &registry, tenant, spec))
        .unwrap()
        .run_id
        .to_string()
}

async fn wait_finished(t: &TestEngine, runs: i64) {
    let started = Instant::now();
    let mut conn = t.db.admin_conn();
    while sql::count(
        &mut conn,
        "SELECT count(*) AS n FROM workflow_runs WHERE finished_at IS NOT NULL",
    ) < runs
    {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "runs did not finish: {:?}",
            sql::texts(
                &mut conn,
                "SELECT step || ' ' || state AS value FROM workflow_steps ORDER BY 1"
            )
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `<article>` of step `name` in a run's page.
fn step<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"step-{name}\""))
        .unwrap_or_else(|| panic!("no step {name}"));
    let end = html[start..].find("</article>").unwrap() + start;
    &html[start..end]
}

/// The level (1-based) whose column holds step `name`.
fn level_of(html: &str, name: &str) -> usize {
    html.split("<section class=\"level\"")
        .skip(1)
        .position(|column| column.contains(&format!("id=\"step-{name}\"")))
        .unwrap_or_else(|| panic!("step {name} is in no column"))
        + 1
}

/// The `<tr>` whose run key is `key`.
fn row<'a>(html: &'a str, key: &str) -> Option<&'a str> {
    let at = html.find(&format!("<td class=\"mono\">{key}</td>"))?;
    let start = html[..at].rfind("<tr>")?;
    let end = html[at..].find("</tr>")? + at;
    Some(&html[start..end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_need_a_session() {
    let t = engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    let tenant = common::tenant(&t, "acme");
    let run = start_run(&t, tenant, &spec("2026-11-25", 0, false));
    for uri in [
        "/admin/workflows".to_owned(),
        "/admin/workflows?state=failed".to_owned(),
        format!("/admin/workflows/{run}"),
    ] {
        let (status, location, _) = send(&app, TestRequest::get().uri(&uri)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        assert!(location.unwrap().starts_with("/admin/login?next="), "{uri}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_shows_its_step_graph_with_states_reasons_edges_and_children() {
    let t = engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let acme = common::tenant(&t, "acme");
    let beta = common::tenant(&t, "beta");

    // acme: one sync child fails, the gate blocks the forecast, the summary still runs.
    let failed = start_run(&t, acme, &spec("2026-11-25", 1, true));
    // beta: everything succeeds.
    let succeeded = start_run(&t, beta, &spec("2026-11-26", 0, false));
    t.engine.notify().await;
    let running = t.run(4);
    wait_finished(&t, 2).await;
    running.shutdown().await;
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::texts(
            &mut conn,
            "SELECT run_key || ' ' || state AS value FROM workflow_runs ORDER BY run_key"
        ),
        vec!["2026-11-25 failed", "2026-11-26 succeeded"]
    );

    // The list: newest first, both tenants, state, trigger and step counts.
    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/workflows")).await;
    assert_eq!(status, StatusCode::OK);
    let first = row(&html, "2026-11-25").unwrap();
    assert!(
        first.contains(&format!("href=\"/admin/workflows/{failed}\"")),
        "{first}"
    );
    assert!(first.contains(">acme<"), "{first}");
    assert!(first.contains("badge failed"), "{first}");
    assert!(first.contains(">cli<"), "{first}");
    for count in ["4 succeeded", "1 failed", "2 blocked"] {
        assert!(first.contains(count), "{count}: {first}");
    }
    let second = row(&html, "2026-11-26").unwrap();
    assert!(
        second.contains(">beta<") && second.contains("7 succeeded"),
        "{second}"
    );
    assert!(
        html.find("2026-11-26").unwrap() < html.find("2026-11-25").unwrap(),
        "newest first"
    );

    // Filters.
    let (_, _, html) = send(&app, get(&browser.cookie, "/admin/workflows?state=failed")).await;
    assert!(row(&html, "2026-11-25").is_some() && row(&html, "2026-11-26").is_none());
    let (_, _, html) = send(
        &app,
        get(
            &browser.cookie,
            "/admin/workflows?state=succeeded&workflow=test_pipeline",
        ),
    )
    .await;
    assert!(row(&html, "2026-11-25").is_none() && row(&html, "2026-11-26").is_some());
    let (_, _, html) = send(
        &app,
        get(&browser.cookie, "/admin/workflows?workflow=other"),
    )
    .await;
    assert!(html.contains("No workflow runs match."));
    for bad in [
        "/admin/workflows?state=broken",
        "/admin/workflows?workflow=Not-A-Name",
        "/admin/workflows?before=yesterday",
    ] {
        let (status, _, _) = send(&app, get(&browser.cookie, bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // The failed run's graph.
    let (status, _, html) = send(
        &app,
        get(&browser.cookie, &format!("/admin/workflows/{failed}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("badge failed"));
    assert_eq!(
        ["sync", "gate", "forecast", "summary"].map(|s| level_of(&html, s)),
        [1, 2, 3, 4]
    );
    let job_of = |step: &str| {
        sql::text(
            &mut t.db.admin_conn(),
            &format!(
                "SELECT job_id::text AS value FROM workflow_steps \
                 WHERE run_id = '{failed}' AND step = '{step}'"
            ),
        )
    };

    let sync = step(&html, "sync");
    assert!(sync.contains("badge succeeded"), "{sync}");
    assert!(
        sync.contains(&format!("href=\"/admin/jobs/{}\"", job_of("sync"))),
        "{sync}"
    );
    assert!(
        sync.contains("3 fan-out children: 2 succeeded, 1 dead"),
        "{sync}"
    );
    let children = sql::texts(
        &mut t.db.admin_conn(),
        &format!(
            "SELECT id::text AS value FROM jobs WHERE workflow_run_id = '{failed}' \
             AND parent_job_id IS NOT NULL"
        ),
    );
    assert_eq!(children.len(), 3);
    for child in &children {
        assert!(
            sync.contains(&format!("href=\"/admin/jobs/{child}\"")),
            "{child}"
        );
    }
    assert!(
        sync.contains("the bank said no"),
        "a failed child's error: {sync}"
    );
    assert!(
        !html.contains("id=\"step-sync:c0\""),
        "children are no boxes of their own"
    );

    let gate = step(&html, "gate");
    assert!(gate.contains("badge blocked"), "{gate}");
    assert!(gate.contains("2 critical findings"), "{gate}");
    assert!(gate.contains("waits for sync (finished)"), "{gate}");
    let forecast = step(&html, "forecast");
    assert!(forecast.contains("badge blocked"), "{forecast}");
    assert!(
        forecast.contains("a step it depends on did not succeed"),
        "{forecast}"
    );
    assert!(forecast.contains("waits for gate (success)"), "{forecast}");
    assert!(forecast.contains("blocked by gate (blocked)"), "{forecast}");
    assert!(
        !forecast.contains("/admin/jobs/"),
        "a blocked step never had a job"
    );
    let summary = step(&html, "summary");
    assert!(summary.contains("badge succeeded"), "{summary}");
    assert!(summary.contains(&format!("href=\"/admin/jobs/{}\"", job_of("summary"))));

    for edge in [
        "<li>gate waits for sync (finished)</li>",
        "<li>forecast waits for gate (success)</li>",
        "<li>summary waits for forecast (finished)</li>",
    ] {
        assert!(html.contains(edge), "{edge}");
    }

    // The run that succeeded shows it.
    let (_, _, html) = send(
        &app,
        get(&browser.cookie, &format!("/admin/workflows/{succeeded}")),
    )
    .await;
    assert!(step(&html, "gate").contains("badge succeeded"));
    assert!(step(&html, "sync").contains("3 fan-out children: 3 succeeded"));

    for unknown in [
        "/admin/workflows/0190f1e2-0000-7000-8000-000000000001",
        "/admin/workflows/not-a-run",
    ] {
        let (status, _, _) = send(&app, get(&browser.cookie, unknown)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    }
}

/// A run that fans out to more children than the page lists: the graph loads only the first
/// of them, and counts them all by state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_fan_out_is_counted_whole_and_loaded_in_part() {
    let t = engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let acme = common::tenant(&t, "acme");
    let mut wide = spec("2026-11-27", 2, false);
    wide.steps[0].payload = json!({ "children": 55, "fail": 2 });
    let run = start_run(&t, acme, &wide);
    t.engine.notify().await;
    let running = t.run(4);
    wait_finished(&t, 1).await;
    running.shutdown().await;

    let id: WorkflowRunId = run.parse().unwrap();
    let graph = t
        .engine
        .db()
        .system(SystemTask::Jobs, |sys| {
            Ok::<_, DbError>(step_graph(sys, id, 50)?)
        })
        .unwrap();
    assert_eq!(
        graph.children.len(),
        50,
        "only the listed children are loaded"
    );
    assert_eq!(graph.child_jobs.iter().map(|c| c.n).sum::<i64>(), 55);
    assert_eq!(graph.child_steps.iter().map(|c| c.n).sum::<i64>(), 55);
    assert!(
        graph.steps.iter().all(|s| !s.step.contains(':')),
        "children are not loaded as steps"
    );
    assert_eq!(graph.steps.len(), 4);

    let (status, _, html) = send(
        &app,
        get(&browser.cookie, &format!("/admin/workflows/{run}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let sync = step(&html, "sync");
    assert!(
        sync.contains("55 fan-out children: 53 succeeded, 2 dead"),
        "{sync}"
    );
    assert!(sync.contains("and 5 more"), "{sync}");
    // The sync step's own job, and fifty children.
    assert_eq!(sync.matches("href=\"/admin/jobs/").count(), 51, "{sync}");
    assert!(
        sync.contains("the bank said no"),
        "the failed children come first"
    );
}

/// The workflow filter offers the names of the newest runs' workflows (and the chosen one),
/// without reading every run the ledger keeps.
#[actix_web::test]
async fn the_workflow_filter_offers_the_names_of_the_newest_runs() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let tenant = common::tenant(&t, "acme");
    common::exec(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO workflow_runs (tenant_id, workflow, run_key, trigger_kind, created_at) \
             VALUES ('{tenant}', 'ancient', 'once', 'cli', now() - interval '1 year'); \
             INSERT INTO workflow_runs (tenant_id, workflow, run_key, trigger_kind, created_at) \
             SELECT '{tenant}', 'daily', 'key-' || g, 'cli', now() - g * interval '1 minute' \
             FROM generate_series(1, {NAMES_FROM_RUNS}) g"
        ),
    );
    let option = |name: &str| format!("<option value=\"{name}\"");

    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/workflows")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&option("daily")));
    assert!(
        !html.contains(&option("ancient")),
        "a workflow older than the newest runs is not offered"
    );

    let (status, _, html) = send(
        &app,
        get(&browser.cookie, "/admin/workflows?workflow=ancient"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<option value=\"ancient\" selected>"),
        "the chosen workflow stays offered"
    );
    assert!(row(&html, "once").is_some());
}

#[actix_web::test]
async fn runs_come_a_page_at_a_time_newest_first() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", OPS, true);
    let browser = console::sign_in(&app, OPS).await;
    let tenant = common::tenant(&t, "acme");
    // key-001 is the newest, key-055 the oldest.
    common::exec(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO workflow_runs (tenant_id, workflow, run_key, trigger_kind, created_at) \
             SELECT '{tenant}', 'bulk', 'key-' || lpad(g::text, 3, '0'), 'cli', \
                    now() - g * interval '1 minute' FROM generate_series(1, 55) g"
        ),
    );

    let (status, _, html) =
        send(&app, get(&browser.cookie, "/admin/workflows?workflow=bulk")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(row(&html, "key-001").is_some() && row(&html, "key-050").is_some());
    assert!(row(&html, "key-051").is_none(), "fifty a page");
    assert!(!html.contains("← Newest"), "the first page");
    let older = next_page(&html).expect("a link to older runs");
    assert!(older.contains("workflow=bulk"), "{older}");

    let (status, _, html) = send(&app, get(&browser.cookie, &older)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(row(&html, "key-050").is_none());
    for key in ["key-051", "key-055"] {
        assert!(row(&html, key).is_some(), "{key}");
    }
    assert!(next_page(&html).is_none(), "the last page");
    assert!(html.contains("← Newest"));
}

/// The `Older →` link of a page, unescaped.
fn next_page(html: &str) -> Option<String> {
    let end = html.find("\" rel=\"next\"")?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(html[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}
