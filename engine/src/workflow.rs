//! Workflows: runs of named steps with dependencies, kept in PostgreSQL.
//!
//! A step starts when every step it depends on — and every fan-out child of those steps
//! (`<step>:<subject>`) — has succeeded; if any of them failed, was cancelled or blocked, it
//! ends `blocked` instead, and so on downstream. A step may instead wait for a step to finish
//! whatever its outcome (`waits_for`), so one failed fan-out child does not stop the rest. Step transitions happen in the transaction that
//! records the finishing job's outcome, under a lock on the run's row, so two children finishing
//! at the same instant on different workers start their dependent exactly once.
//!
//! Operators read runs and their step graphs (steps, dependencies, fan-out children) through
//! [`list_runs`], [`get_run`] and [`step_graph`].

mod read;

pub use read::{
    ChildCount, ChildRow, DependencyRow, NAMES_FROM_RUNS, RUN_STATES, RunFilter, RunRow,
    STEP_STATES, StepGraph, StepRow, get_run, list_runs, step_graph, workflow_names,
};

use diesel::prelude::*;
use diesel::sql_types::{Bool, Jsonb, Nullable, Text, Uuid as SqlUuid};
use findash_schema::{JobId, SystemConn, TenantId, WorkflowRunId};
use serde_json::Value;
use uuid::Uuid;

use crate::error::EngineError;
use crate::ledger::{
    EnqueueOptions, Enqueued, Finished, LedgerScope, NewJob, Trigger, insert_jobs,
};
use crate::registry::Registry;

/// A workflow to start.
#[derive(Debug, Clone)]
pub struct WorkflowSpec {
    /// The workflow's name (`daily_pipeline`).
    pub name: String,
    /// What makes the run unique within the workflow and tenant (e.g. the date).
    pub run_key: String,
    pub steps: Vec<StepSpec>,
    pub trigger: Trigger,
}

/// One step: the job it runs and the steps it waits for.
#[derive(Debug, Clone)]
pub struct StepSpec {
    pub name: String,
    pub kind: String,
    pub payload: Value,
    /// Steps that must succeed (with their fan-out children) before this one starts; if one of
    /// them does not, this step ends `blocked`.
    pub depends_on: Vec<String>,
    /// Steps that must finish (with their fan-out children), whatever their outcome, before
    /// this one starts: the pipeline's categorize step goes on when one connection's sync
    /// failed.
    pub waits_for: Vec<String>,
}

/// The run a start produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowStarted {
    pub run_id: WorkflowRunId,
    /// The run already existed (same workflow, tenant and key): nothing new started.
    pub duplicate: bool,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Records a run and its step graph for `tenant` and enqueues the steps without dependencies,
/// in the caller's transaction.
pub fn start(
    sys: &mut SystemConn<'_>,
    registry: &Registry,
    tenant: TenantId,
    spec: &WorkflowSpec,
) -> Result<WorkflowStarted, EngineError> {
    for step in &spec.steps {
        for dep in step.depends_on.iter().chain(&step.waits_for) {
            if !spec.steps.iter().any(|s| &s.name == dep) {
                return Err(EngineError::Invalid(format!(
                    "step `{}` depends on unknown step `{dep}`",
                    step.name
                )));
            }
        }
        registry.new_job(&step.kind, step.payload.clone())?;
    }
    let conn = sys.pg();
    let inserted: Option<IdRow> = diesel::sql_query(
        "INSERT INTO workflow_runs (tenant_id, workflow, run_key, trigger_kind, trigger_ref) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, workflow, run_key) DO NOTHING \
         RETURNING id",
    )
    .bind::<SqlUuid, _>(tenant.0)
    .bind::<Text, _>(&spec.name)
    .bind::<Text, _>(&spec.run_key)
    .bind::<Text, _>(spec.trigger.kind)
    .bind::<Nullable<Text>, _>(spec.trigger.reference.as_deref())
    .get_result(conn)
    .optional()?;
    let Some(run) = inserted else {
        let existing: IdRow = diesel::sql_query(
            "SELECT id FROM workflow_runs WHERE tenant_id = $1 AND workflow = $2 AND run_key = $3",
        )
        .bind::<SqlUuid, _>(tenant.0)
        .bind::<Text, _>(&spec.name)
        .bind::<Text, _>(&spec.run_key)
        .get_result(conn)?;
        return Ok(WorkflowStarted {
            run_id: WorkflowRunId(existing.id),
            duplicate: true,
        });
    };
    for step in &spec.steps {
        diesel::sql_query(
            "INSERT INTO workflow_steps (tenant_id, run_id, step, job_kind, payload) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind::<SqlUuid, _>(tenant.0)
        .bind::<SqlUuid, _>(run.id)
        .bind::<Text, _>(&step.name)
        .bind::<Text, _>(&step.kind)
        .bind::<Jsonb, _>(&step.payload)
        .execute(conn)?;
    }
    for step in &spec.steps {
        let deps = (step.depends_on.iter().map(|d| (d, "success")))
            .chain(step.waits_for.iter().map(|d| (d, "finished")));
        for (dep, requires) in deps {
            diesel::sql_query(
                "INSERT INTO workflow_step_dependencies (tenant_id, run_id, step, depends_on, requires) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind::<SqlUuid, _>(tenant.0)
            .bind::<SqlUuid, _>(run.id)
            .bind::<Text, _>(&step.name)
            .bind::<Text, _>(dep)
            .bind::<Text, _>(requires)
            .execute(conn)?;
        }
    }
    advance_in(sys, registry, WorkflowRunId(run.id))?;
    Ok(WorkflowStarted {
        run_id: WorkflowRunId(run.id),
        duplicate: false,
    })
}

#[derive(QueryableByName)]
struct RunTenant {
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
}

/// Fan-out: adds `children` (step name, job) to `run` and enqueues them. Idempotent: a child
/// step that exists already (the parent ran again) is not added twice.
pub fn add_children(
    sys: &mut SystemConn<'_>,
    run: WorkflowRunId,
    parent: JobId,
    children: Vec<(String, NewJob)>,
) -> Result<Vec<Enqueued>, EngineError> {
    let owner: RunTenant =
        diesel::sql_query("SELECT tenant_id FROM workflow_runs WHERE id = $1 FOR UPDATE")
            .bind::<SqlUuid, _>(run.0)
            .get_result(sys.pg())?;
    let tenant = TenantId(owner.tenant_id);
    let mut enqueued = Vec::with_capacity(children.len());
    for (step, job) in children {
        let added = diesel::sql_query(
            "INSERT INTO workflow_steps (tenant_id, run_id, step, job_kind, payload, state) \
             VALUES ($1, $2, $3, $4, $5, 'queued') ON CONFLICT (run_id, step) DO NOTHING",
        )
        .bind::<SqlUuid, _>(tenant.0)
        .bind::<SqlUuid, _>(run.0)
        .bind::<Text, _>(&step)
        .bind::<Text, _>(&job.kind)
        .bind::<Jsonb, _>(&job.payload)
        .execute(sys.pg())?;
        if added == 0 {
            continue;
        }
        let job_row = enqueue_step(sys, tenant, run, &step, job, Some(parent))?;
        enqueued.push(job_row);
    }
    Ok(enqueued)
}

fn enqueue_step(
    sys: &mut SystemConn<'_>,
    tenant: TenantId,
    run: WorkflowRunId,
    step: &str,
    mut job: NewJob,
    parent: Option<JobId>,
) -> Result<Enqueued, EngineError> {
    let mut options = EnqueueOptions::new(Trigger::new("workflow", Some(run.to_string())));
    options.tenant = Some(tenant);
    options.parent = parent;
    options.workflow = Some((run, step.to_owned()));
    job.idempotency_key = Some(format!("workflow:{run}:{step}"));
    let enqueued = insert_jobs(sys, vec![job], &options)?
        .pop()
        .ok_or_else(|| EngineError::Invalid("enqueue returned no row".to_owned()))?;
    diesel::sql_query(
        "UPDATE workflow_steps SET state = 'queued', job_id = $3 WHERE run_id = $1 AND step = $2",
    )
    .bind::<SqlUuid, _>(run.0)
    .bind::<Text, _>(step)
    .bind::<SqlUuid, _>(enqueued.id.0)
    .execute(sys.pg())?;
    Ok(enqueued)
}

/// Finishes the workflow steps of jobs that reached a final state, and starts or blocks what
/// depended on them. Called in the transaction that recorded the outcomes.
pub fn jobs_finished(
    sys: &mut SystemConn<'_>,
    registry: &Registry,
    finished: &[Finished],
) -> Result<(), EngineError> {
    let mut steps: Vec<(WorkflowRunId, String, &'static str, Option<String>)> = finished
        .iter()
        .filter_map(|f| {
            let run = f.workflow_run()?;
            let step = f.workflow_step.clone()?;
            let state = match (f.state.as_str(), f.attempt_outcome.as_str()) {
                ("succeeded", "blocked") => "blocked",
                ("succeeded", _) => "succeeded",
                ("dead" | "quarantined", _) => "failed",
                ("cancelled", _) => "cancelled",
                _ => return None,
            };
            let reason = (state != "succeeded")
                .then(|| f.attempt_error.clone())
                .flatten();
            Some((run, step, state, reason))
        })
        .collect();
    // Runs are locked in id order, so two batches never wait on each other in a cycle.
    steps.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    for (run, step, state, reason) in steps {
        finish_step(sys, registry, run, &step, state, reason.as_deref())?;
    }
    Ok(())
}

/// The workflow run and step `job` executes, if any.
fn step_of(
    sys: &mut SystemConn<'_>,
    job: JobId,
) -> Result<Option<(WorkflowRunId, String)>, EngineError> {
    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = Nullable<SqlUuid>)]
        workflow_run_id: Option<Uuid>,
        #[diesel(sql_type = Nullable<Text>)]
        workflow_step: Option<String>,
    }
    let row: Step =
        diesel::sql_query("SELECT workflow_run_id, workflow_step FROM jobs WHERE id = $1")
            .bind::<SqlUuid, _>(job.0)
            .get_result(sys.pg())?;
    Ok(row
        .workflow_run_id
        .map(WorkflowRunId)
        .zip(row.workflow_step))
}

/// A workflow job an operator cancelled before it ran.
pub fn job_cancelled(
    sys: &mut SystemConn<'_>,
    registry: &Registry,
    job: JobId,
) -> Result<(), EngineError> {
    if let Some((run, step)) = step_of(sys, job)? {
        finish_step(
            sys,
            registry,
            run,
            &step,
            "cancelled",
            Some("cancelled by an operator"),
        )?;
    }
    Ok(())
}

/// An operator retried a workflow job: its step runs again, and so does the run — the steps
/// that were blocked because of it wait for it once more.
pub fn job_retried(sys: &mut SystemConn<'_>, job: JobId) -> Result<(), EngineError> {
    let Some((WorkflowRunId(run), step)) = step_of(sys, job)? else {
        return Ok(());
    };
    let conn = sys.pg();
    diesel::sql_query("SELECT id FROM workflow_runs WHERE id = $1 FOR UPDATE")
        .bind::<SqlUuid, _>(run)
        .execute(conn)?;
    diesel::sql_query(
        "UPDATE workflow_steps SET state = 'queued', finished_at = NULL, reason = NULL \
         WHERE run_id = $1 AND step = $2",
    )
    .bind::<SqlUuid, _>(run)
    .bind::<Text, _>(&step)
    .execute(conn)?;
    diesel::sql_query(
        "UPDATE workflow_steps SET state = 'pending', finished_at = NULL, reason = NULL \
         WHERE run_id = $1 AND state = 'blocked' AND reason = $2",
    )
    .bind::<SqlUuid, _>(run)
    .bind::<Text, _>(UPSTREAM_BLOCKED)
    .execute(conn)?;
    diesel::sql_query(
        "UPDATE workflow_runs SET state = 'running', finished_at = NULL WHERE id = $1",
    )
    .bind::<SqlUuid, _>(run)
    .execute(conn)?;
    Ok(())
}

/// Why a step never ran because of an upstream step.
const UPSTREAM_BLOCKED: &str = "a step it depends on did not succeed";

fn finish_step(
    sys: &mut SystemConn<'_>,
    registry: &Registry,
    run: WorkflowRunId,
    step: &str,
    state: &str,
    reason: Option<&str>,
) -> Result<(), EngineError> {
    let conn = sys.pg();
    diesel::sql_query("SELECT id FROM workflow_runs WHERE id = $1 FOR UPDATE")
        .bind::<SqlUuid, _>(run.0)
        .execute(conn)?;
    diesel::sql_query(
        "UPDATE workflow_steps SET state = $3, reason = $4, finished_at = now() \
         WHERE run_id = $1 AND step = $2 AND finished_at IS NULL",
    )
    .bind::<SqlUuid, _>(run.0)
    .bind::<Text, _>(step)
    .bind::<Text, _>(state)
    .bind::<Nullable<Text>, _>(reason)
    .execute(conn)?;
    advance_in(sys, registry, run)
}

#[derive(QueryableByName)]
struct Ready {
    #[diesel(sql_type = Text)]
    step: String,
    #[diesel(sql_type = Text)]
    job_kind: String,
    #[diesel(sql_type = Jsonb)]
    payload: Value,
    #[diesel(sql_type = Bool)]
    upstream_ok: bool,
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
}

/// Starts every pending step whose upstream is finished (or blocks it), until nothing changes;
/// then closes the run if every step is finished.
fn advance_in(
    sys: &mut SystemConn<'_>,
    registry: &Registry,
    run: WorkflowRunId,
) -> Result<(), EngineError> {
    loop {
        let ready: Vec<Ready> = diesel::sql_query(
            "SELECT s.step, s.job_kind, s.payload, s.tenant_id, \
                    coalesce(bool_and(d.requires = 'finished' OR u.state IN ('succeeded', 'skipped')), true) \
                        AS upstream_ok \
             FROM workflow_steps s \
             LEFT JOIN workflow_step_dependencies d ON d.run_id = s.run_id AND d.step = s.step \
             LEFT JOIN workflow_steps u ON u.run_id = s.run_id \
                  AND (u.step = d.depends_on \
                       OR left(u.step, length(d.depends_on) + 1) = d.depends_on || ':') \
             WHERE s.run_id = $1 AND s.state = 'pending' \
             GROUP BY s.step, s.job_kind, s.payload, s.tenant_id \
             HAVING bool_and(d.step IS NULL OR u.finished_at IS NOT NULL)",
        )
        .bind::<SqlUuid, _>(run.0)
        .load(sys.pg())?;
        if ready.is_empty() {
            break;
        }
        for step in ready {
            if step.upstream_ok {
                match registry.new_job(&step.job_kind, step.payload) {
                    Ok(job) => {
                        enqueue_step(sys, TenantId(step.tenant_id), run, &step.step, job, None)?;
                    }
                    // One step this build cannot run (unknown kind during a rolling deploy, a
                    // payload that no longer parses) fails itself, not the whole batch of
                    // outcomes being recorded with it.
                    Err(e) => {
                        diesel::sql_query(
                            "UPDATE workflow_steps SET state = 'failed', finished_at = now(), \
                                    reason = $3 WHERE run_id = $1 AND step = $2",
                        )
                        .bind::<SqlUuid, _>(run.0)
                        .bind::<Text, _>(&step.step)
                        .bind::<Text, _>(format!("cannot enqueue: {e}"))
                        .execute(sys.pg())?;
                    }
                }
            } else {
                diesel::sql_query(
                    "UPDATE workflow_steps SET state = 'blocked', finished_at = now(), \
                            reason = $3 \
                     WHERE run_id = $1 AND step = $2",
                )
                .bind::<SqlUuid, _>(run.0)
                .bind::<Text, _>(&step.step)
                .bind::<Text, _>(UPSTREAM_BLOCKED)
                .execute(sys.pg())?;
            }
        }
    }
    diesel::sql_query(
        "WITH agg AS ( \
             SELECT bool_and(finished_at IS NOT NULL) AS done, bool_or(state = 'failed') AS failed, \
                    bool_or(state = 'blocked') AS blocked, bool_or(state = 'cancelled') AS cancelled \
             FROM workflow_steps WHERE run_id = $1) \
         UPDATE workflow_runs r SET finished_at = now(), state = CASE \
             WHEN agg.failed THEN 'failed' WHEN agg.blocked THEN 'blocked' \
             WHEN agg.cancelled THEN 'cancelled' ELSE 'succeeded' END \
         FROM agg WHERE r.id = $1 AND r.state = 'running' AND agg.done",
    )
    .bind::<SqlUuid, _>(run.0)
    .execute(sys.pg())?;
    Ok(())
}
