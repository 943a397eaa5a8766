//! Workflows: fan-out, fan-in exactly once under concurrency, and blocked steps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use findash_engine::ledger::Trigger;
use findash_engine::testing::{TestEngine, delete_namespace};
use findash_engine::workflow::{StepSpec, WorkflowSpec, start};
use findash_engine::{Job, JobContext, JobError, JobResult, Queue};
use findash_schema::SystemTask;
use findash_schema::testing::sql;
use serde::{Deserialize, Serialize};
use serde_json::json;

use common::{registry, run, tenant, wait_count};

#[derive(Serialize, Deserialize)]
struct Spread {
    children: u32,
    /// The first `fail` children fail for good.
    #[serde(default)]
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
                        ms: if i < self.fail {
                            0
                        } else {
                            20 + u64::from(i % 3) * 10
                        },
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
    ms: u64,
}

/// Sleeps `ms`; fails for good when `ms` is 0.
impl Job for Leaf {
    const KIND: &'static str = "test_leaf";
    const QUEUE: Queue = Queue::Sync;
    async fn run(self, _ctx: JobContext) -> JobResult {
        if self.ms == 0 {
            return Err(JobError::permanent(anyhow::anyhow!("leaf refused")));
        }
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        Ok(json!({}))
    }
}

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

fn spec(key: &str, block: bool) -> WorkflowSpec {
    let step = |name: &str, kind: &str, payload, deps: &[&str]| StepSpec {
        name: name.to_owned(),
        kind: kind.to_owned(),
        payload,
        depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
        waits_for: vec![],
    };
    WorkflowSpec {
        name: "test_pipeline".to_owned(),
        run_key: key.to_owned(),
        steps: vec![
            step("sync", "test_spread", json!({ "children": 40 }), &[]),
            step("gate", "test_gate", json!({ "block": block }), &["sync"]),
            step("forecast", "test_leaf", json!({ "ms": 1 }), &["gate"]),
        ],
        trigger: Trigger::new("cli", None),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fan_in_starts_the_dependent_step_exactly_once_and_a_block_stops_downstream() {
    let registry = registry()
        .register::<Spread>()
        .register::<Leaf>()
        .register::<Gate>();
    let t = TestEngine::start(registry, |_| {}).await;
    let a = tenant(&mut t.db.admin_conn(), "a");
    let running = run(&t, 16);
    let registry = t.engine.registry().clone();
    let (ok_spec, blocked_spec) = (spec("2026-11-25", false), spec("2026-11-26", true));
    let (ok, blocked, again) = t
        .engine
        .db()
        .system(SystemTask::Jobs, |sys| {
            let ok = start(sys, &registry, a, &ok_spec)?;
            let blocked = start(sys, &registry, a, &blocked_spec)?;
            let again = start(sys, &registry, a, &ok_spec)?;
            Ok::<_, findash_engine::EngineError>((ok, blocked, again))
        })
        .unwrap();
    t.engine.notify().await;
    assert!(
        again.duplicate && again.run_id == ok.run_id,
        "one run per workflow, tenant and key"
    );
    wait_count(
        &t,
        "SELECT count(*) AS n FROM workflow_runs WHERE finished_at IS NOT NULL",
        2,
        Duration::from_secs(60),
    )
    .await;
    let mut conn = t.db.admin_conn();
    let q = |run: &findash_engine::workflow::WorkflowStarted, what: &str| {
        format!("{what} AND workflow_run_id = '{}'", run.run_id)
    };
    // 40 children finished concurrently on 16 slots; the gate was enqueued once per run.
    assert_eq!(
        sql::count(
            &mut conn,
            &q(
                &ok,
                "SELECT count(*) AS n FROM jobs WHERE workflow_step = 'gate'"
            )
        ),
        1
    );
    assert_eq!(
        sql::count(
            &mut conn,
            &q(
                &ok,
                "SELECT count(*) AS n FROM jobs WHERE workflow_step LIKE 'sync:%' AND state = 'succeeded'"
            )
        ),
        40
    );
    assert_eq!(
        sql::text(
            &mut conn,
            &format!(
                "SELECT state AS value FROM workflow_runs WHERE id = '{}'",
                ok.run_id
            )
        ),
        "succeeded"
    );
    // The gate's block: gate blocked, forecast blocked (never enqueued), run blocked.
    assert_eq!(
        sql::text(
            &mut conn,
            &format!(
                "SELECT state AS value FROM workflow_runs WHERE id = '{}'",
                blocked.run_id
            )
        ),
        "blocked"
    );
    assert_eq!(
        sql::texts(
            &mut conn,
            &format!(
                "SELECT step || ' ' || state || ' ' || coalesce(reason, '') AS value FROM workflow_steps WHERE run_id = '{}' AND step NOT LIKE 'sync:%' ORDER BY step",
                blocked.run_id
            )
        ),
        [
            "forecast blocked a step it depends on did not succeed",
            "gate blocked 2 critical findings",
            "sync succeeded "
        ]
    );
    assert_eq!(
        sql::count(
            &mut conn,
            &q(
                &blocked,
                "SELECT count(*) AS n FROM jobs WHERE workflow_step = 'forecast'"
            )
        ),
        0
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_waiting_for_fan_out_goes_on_when_children_fail_and_a_dependent_is_blocked() {
    let registry = registry().register::<Spread>().register::<Leaf>();
    let t = TestEngine::start(registry, |_| {}).await;
    let a = tenant(&mut t.db.admin_conn(), "a");
    let running = run(&t, 8);
    let registry = t.engine.registry().clone();
    let step = |name: &str, kind: &str, payload, deps: &[&str], waits: &[&str]| StepSpec {
        name: name.to_owned(),
        kind: kind.to_owned(),
        payload,
        depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
        waits_for: waits.iter().map(|d| (*d).to_owned()).collect(),
    };
    let spec = WorkflowSpec {
        name: "test_tolerant".to_owned(),
        run_key: "k".to_owned(),
        steps: vec![
            step(
                "sync",
                "test_spread",
                json!({ "children": 6, "fail": 2 }),
                &[],
                &[],
            ),
            step("after", "test_leaf", json!({ "ms": 1 }), &[], &["sync"]),
            step("strict", "test_leaf", json!({ "ms": 1 }), &["sync"], &[]),
            step("last", "test_leaf", json!({ "ms": 1 }), &["after"], &[]),
        ],
        trigger: Trigger::new("cli", None),
    };
    let started = t
        .engine
        .db()
        .system(SystemTask::Jobs, |sys| start(sys, &registry, a, &spec))
        .unwrap();
    t.engine.notify().await;
    wait_count(
        &t,
        &format!(
            "SELECT count(*) AS n FROM workflow_runs WHERE id = '{}' AND finished_at IS NOT NULL",
            started.run_id
        ),
        1,
        Duration::from_secs(60),
    )
    .await;
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::texts(
            &mut conn,
            &format!(
                "SELECT step || ' ' || state AS value FROM workflow_steps WHERE run_id = '{}' \
                 AND step NOT LIKE 'sync:%' ORDER BY step",
                started.run_id
            )
        ),
        [
            "after succeeded",
            "last succeeded",
            "strict blocked",
            "sync succeeded"
        ]
    );
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM workflow_steps WHERE run_id = '{}' \
                 AND step LIKE 'sync:%' AND state = 'failed'",
                started.run_id
            )
        ),
        2
    );
    // Once. (That it came after the last child is the run lock's doing; timestamps cannot show
    // it: two children's outcome transactions may start in one order and commit in the other,
    // and `now()` is each transaction's start.)
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM jobs WHERE workflow_run_id = '{}' AND workflow_step = 'after'",
                started.run_id
            )
        ),
        1
    );
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM workflow_steps WHERE run_id = '{}' AND step LIKE 'sync:%' \
                 AND finished_at IS NULL",
                started.run_id
            )
        ),
        0,
        "every child finished"
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}

static FAILED_ONCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Fails for good the first time it runs in this process, then succeeds.
#[derive(Serialize, Deserialize)]
struct FlakyOnce {}

impl Job for FlakyOnce {
    const KIND: &'static str = "test_flaky_once";
    const MAX_ATTEMPTS: u32 = 1;
    async fn run(self, _ctx: JobContext) -> JobResult {
        if !FAILED_ONCE.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(JobError::permanent(anyhow::anyhow!("first run fails")));
        }
        Ok(json!({}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retrying_a_dead_step_resumes_its_blocked_run() {
    let registry = registry().register::<FlakyOnce>().register::<Leaf>();
    let t = TestEngine::start(registry, |_| {}).await;
    let a = tenant(&mut t.db.admin_conn(), "a");
    let running = run(&t, 4);
    let registry = t.engine.registry().clone();
    let spec = WorkflowSpec {
        name: "test_resume".to_owned(),
        run_key: "k".to_owned(),
        steps: vec![
            StepSpec {
                name: "first".to_owned(),
                kind: "test_flaky_once".to_owned(),
                payload: json!({}),
                depends_on: vec![],
                waits_for: vec![],
            },
            StepSpec {
                name: "second".to_owned(),
                kind: "test_leaf".to_owned(),
                payload: json!({ "ms": 1 }),
                depends_on: vec!["first".to_owned()],
                waits_for: vec![],
            },
        ],
        trigger: Trigger::new("cli", None),
    };
    let started = t
        .engine
        .db()
        .system(SystemTask::Jobs, |sys| start(sys, &registry, a, &spec))
        .unwrap();
    t.engine.notify().await;
    let run_state = format!(
        "SELECT count(*) AS n FROM workflow_runs WHERE id = '{}' AND state = ",
        started.run_id
    );
    wait_count(
        &t,
        &format!("{run_state}'failed'"),
        1,
        Duration::from_secs(20),
    )
    .await;
    let mut conn = t.db.admin_conn();
    assert_eq!(
        sql::text(
            &mut conn,
            &format!(
                "SELECT state AS value FROM workflow_steps WHERE run_id = '{}' AND step = 'second'",
                started.run_id
            )
        ),
        "blocked"
    );
    let dead: findash_schema::JobId = sql::text(&mut conn, &format!("SELECT id::text AS value FROM jobs WHERE workflow_run_id = '{}' AND workflow_step = 'first'", started.run_id)).parse().unwrap();
    t.engine
        .act(dead, findash_engine::ledger::Action::Retry)
        .await
        .unwrap();
    wait_count(
        &t,
        &format!("{run_state}'succeeded'"),
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM jobs WHERE workflow_run_id = '{}' AND workflow_step = 'second' AND state = 'succeeded'",
                started.run_id
            )
        ),
        1
    );
    running.shutdown().await;
    delete_namespace(&t.namespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quarantined_step_fails_its_run() {
    let registry = registry().register::<Leaf>();
    let t = TestEngine::start(registry, |c| c.quarantine_after = 1).await;
    let a = tenant(&mut t.db.admin_conn(), "a");
    let registry = t.engine.registry().clone();
    let spec = WorkflowSpec {
        name: "test_poison".to_owned(),
        run_key: "k".to_owned(),
        steps: vec![
            StepSpec {
                name: "only".to_owned(),
                kind: "test_leaf".to_owned(),
                payload: json!({ "ms": 1 }),
                depends_on: vec![],
                waits_for: vec![],
            },
            StepSpec {
                name: "after".to_owned(),
                kind: "test_leaf".to_owned(),
                payload: json!({ "ms": 1 }),
                depends_on: vec!["only".to_owned()],
                waits_for: vec![],
            },
        ],
        trigger: Trigger::new("cli", None),
    };
    let started = t
        .engine
        .db()
        .system(SystemTask::Jobs, |sys| start(sys, &registry, a, &spec))
        .unwrap();
    let mut conn = t.db.admin_conn();
    // Its worker died mid-run (no workers run in this test): running, lease in the past.
    sql::count(
        &mut conn,
        &format!(
            "WITH u AS (UPDATE jobs SET state = 'running', attempts = 1, runs = 1, lease_owner = 'ghost', \
             lease_expires_at = now() - interval '1 second', started_at = now() - interval '5 seconds', \
             dispatched_at = now() - interval '6 seconds', dispatch_token = 'ghost' \
         WHERE workflow_run_id = '{}' RETURNING 1) SELECT count(*) AS n FROM u",
            started.run_id
        ),
    );
    let repairs = t.engine.reconcile_once().await.unwrap();
    assert_eq!(repairs.quarantined, 1);
    assert_eq!(
        sql::texts(
            &mut conn,
            &format!(
                "SELECT step || ' ' || state AS value FROM workflow_steps WHERE run_id = '{}' ORDER BY step",
                started.run_id
            )
        ),
        ["after blocked", "only failed"]
    );
    assert_eq!(
        sql::text(
            &mut conn,
            &format!(
                "SELECT state AS value FROM workflow_runs WHERE id = '{}'",
                started.run_id
            )
        ),
        "failed"
    );
    delete_namespace(&t.namespace).await;
}
