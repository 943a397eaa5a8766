//! Reading workflow runs for operators: runs newest first with their step counts, and one run's
//! step graph (steps, dependencies, fan-out children). Never changes a run.
//!
//! Every read is bounded for a page that may be opened often: the runs list and the names of the
//! workflows that ran read the newest runs through `workflow_runs_created_idx`, and a step graph
//! counts a fan-out's children by state in the database and loads only the first few of them —
//! a run may fan out to thousands.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use findash_schema::{JobId, TenantId, WorkflowRunId};

use crate::ledger::LedgerScope;

/// Every state a run can be in (`workflow_runs.state`).
pub const RUN_STATES: [&str; 5] = ["running", "succeeded", "failed", "blocked", "cancelled"];

/// Every state a step can be in (`workflow_steps.state`), in the order they happen.
pub const STEP_STATES: [&str; 8] = [
    "pending",
    "queued",
    "running",
    "succeeded",
    "failed",
    "blocked",
    "skipped",
    "cancelled",
];

/// A run as operators see it.
#[derive(Debug, Clone, QueryableByName)]
pub struct RunRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: WorkflowRunId,
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: TenantId,
    #[diesel(sql_type = Text)]
    pub tenant_slug: String,
    #[diesel(sql_type = Text)]
    pub workflow: String,
    #[diesel(sql_type = Text)]
    pub run_key: String,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Text)]
    pub trigger_kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub trigger_ref: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
    /// `{state: count}` of its steps (fan-out children included).
    #[diesel(sql_type = Jsonb)]
    step_counts: serde_json::Value,
}

impl RunRow {
    /// How many of its steps (fan-out children included) are in each state, in
    /// [`STEP_STATES`] order, states without steps left out.
    pub fn step_counts(&self) -> Vec<(&'static str, i64)> {
        STEP_STATES
            .iter()
            .filter_map(|state| {
                let n = self.step_counts.get(state)?.as_i64()?;
                (n > 0).then_some((*state, n))
            })
            .collect()
    }
}

/// Filters for listing runs; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub state: Option<String>,
    pub workflow: Option<String>,
    /// Only runs older than this one (keyset pagination, newest first).
    pub before: Option<WorkflowRunId>,
    pub limit: i64,
}

const RUN_COLUMNS: &str = "r.id, r.tenant_id, t.slug AS tenant_slug, r.workflow, r.run_key, \
     r.state, r.trigger_kind, r.trigger_ref, r.created_at, r.updated_at, r.finished_at, \
     coalesce((SELECT jsonb_object_agg(c.state, c.n) FROM \
               (SELECT s.state, count(*) AS n FROM workflow_steps s WHERE s.run_id = r.id \
                GROUP BY s.state) c), '{}') AS step_counts";

/// Runs matching `filter`, newest first (by creation, then id).
pub fn list_runs(scope: &mut impl LedgerScope, filter: &RunFilter) -> QueryResult<Vec<RunRow>> {
    diesel::sql_query(format!(
        "SELECT {RUN_COLUMNS} FROM workflow_runs r JOIN tenants t ON t.id = r.tenant_id \
         WHERE ($1::text IS NULL OR r.state = $1) AND ($2::text IS NULL OR r.workflow = $2) \
           AND ($3::uuid IS NULL OR (r.created_at, r.id) < \
                (SELECT created_at, id FROM workflow_runs WHERE id = $3)) \
         ORDER BY r.created_at DESC, r.id DESC LIMIT $4"
    ))
    .bind::<Nullable<Text>, _>(filter.state.as_deref())
    .bind::<Nullable<Text>, _>(filter.workflow.as_deref())
    .bind::<Nullable<SqlUuid>, _>(filter.before.map(|b| b.0))
    .bind::<BigInt, _>(filter.limit.clamp(1, 1000))
    .load(scope.pg())
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    workflow: String,
}

/// How many of the newest runs [`workflow_names`] looks at.
pub const NAMES_FROM_RUNS: i64 = 1000;

/// The names of the workflows among the newest [`NAMES_FROM_RUNS`] runs, alphabetically: a
/// bounded read however many runs the ledger keeps, which leaves out only a workflow that has
/// not run for that long.
pub fn workflow_names(scope: &mut impl LedgerScope) -> QueryResult<Vec<String>> {
    let names: Vec<Name> = diesel::sql_query(
        "SELECT DISTINCT workflow FROM \
             (SELECT workflow FROM workflow_runs ORDER BY created_at DESC, id DESC LIMIT $1) r \
         ORDER BY workflow",
    )
    .bind::<BigInt, _>(NAMES_FROM_RUNS)
    .load(scope.pg())?;
    Ok(names.into_iter().map(|n| n.workflow).collect())
}

/// One run.
pub fn get_run(scope: &mut impl LedgerScope, id: WorkflowRunId) -> QueryResult<Option<RunRow>> {
    diesel::sql_query(format!(
        "SELECT {RUN_COLUMNS} FROM workflow_runs r JOIN tenants t ON t.id = r.tenant_id \
         WHERE r.id = $1"
    ))
    .bind::<SqlUuid, _>(id.0)
    .get_result(scope.pg())
    .optional()
}

/// A step of a run and how its job stands.
#[derive(Debug, Clone, QueryableByName)]
pub struct StepRow {
    /// `name`, or `name:subject` for a fan-out child.
    #[diesel(sql_type = Text)]
    pub step: String,
    #[diesel(sql_type = Text)]
    pub job_kind: String,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub job_id: Option<JobId>,
    #[diesel(sql_type = Nullable<Text>)]
    pub job_state: Option<String>,
    /// Why it is blocked or failed.
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl StepRow {
    /// A fan-out child (`<step>:<subject>`), added by its parent step's job as it ran.
    pub fn is_child(&self) -> bool {
        self.step.contains(':')
    }
}

/// A dependency of a step on another.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct DependencyRow {
    #[diesel(sql_type = Text)]
    pub step: String,
    #[diesel(sql_type = Text)]
    pub depends_on: String,
    /// `success` (the upstream and its children must succeed) or `finished` (whatever the
    /// outcome).
    #[diesel(sql_type = Text)]
    pub requires: String,
}

/// A fan-out child job of a run: a job of the run that another job of it spawned.
#[derive(Debug, Clone, QueryableByName)]
pub struct ChildRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: JobId,
    /// Its step, `<fan_out>:<subject>`.
    #[diesel(sql_type = Nullable<Text>)]
    pub step: Option<String>,
    /// The step that fanned out (`sync` of `sync:<subject>`).
    #[diesel(sql_type = Text)]
    pub fan_out: String,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
}

/// How many fan-out children of one step are in one state.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ChildCount {
    /// The step that fanned out.
    #[diesel(sql_type = Text)]
    pub fan_out: String,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// A run's step graph: its steps in creation order (fan-out children aside), the dependencies
/// between them, and its fan-outs — children counted by state, the first few listed.
#[derive(Debug, Clone)]
pub struct StepGraph {
    pub steps: Vec<StepRow>,
    pub dependencies: Vec<DependencyRow>,
    /// The children's steps by fan-out and state (`workflow_steps.state`: what a step waiting
    /// for them goes by).
    pub child_steps: Vec<ChildCount>,
    /// The children's jobs by fan-out and state (`jobs.state`).
    pub child_jobs: Vec<ChildCount>,
    /// The first children of each fan-out (by step, then id), as many as asked for.
    pub children: Vec<ChildRow>,
}

/// The step that fanned out a child job `j`: the first part of its step (of its parent's, were
/// its own missing).
const FAN_OUT: &str = "split_part(coalesce(j.workflow_step, \
     (SELECT p.workflow_step FROM jobs p WHERE p.id = j.parent_job_id)), ':', 1)";

/// The step graph of run `id`, with at most `listed` children of each fan-out.
pub fn step_graph(
    scope: &mut impl LedgerScope,
    id: WorkflowRunId,
    listed: i64,
) -> QueryResult<StepGraph> {
    // A fan-out child's step is `<step>:<subject>`; the run's own steps have no `:`.
    let steps = diesel::sql_query(
        "SELECT s.step, s.job_kind, s.state, s.job_id, j.state AS job_state, s.reason, \
                s.created_at, s.finished_at \
         FROM workflow_steps s LEFT JOIN jobs j ON j.id = s.job_id \
         WHERE s.run_id = $1 AND strpos(s.step, ':') = 0 ORDER BY s.created_at, s.step",
    )
    .bind::<SqlUuid, _>(id.0)
    .load(scope.pg())?;
    let dependencies = diesel::sql_query(
        "SELECT step, depends_on, requires FROM workflow_step_dependencies \
         WHERE run_id = $1 ORDER BY step, depends_on",
    )
    .bind::<SqlUuid, _>(id.0)
    .load(scope.pg())?;
    let child_steps = diesel::sql_query(
        "SELECT split_part(step, ':', 1) AS fan_out, state, count(*) AS n FROM workflow_steps \
         WHERE run_id = $1 AND strpos(step, ':') > 0 GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind::<SqlUuid, _>(id.0)
    .load(scope.pg())?;
    let child_jobs = diesel::sql_query(format!(
        "SELECT {FAN_OUT} AS fan_out, j.state, count(*) AS n FROM jobs j \
         WHERE j.workflow_run_id = $1 AND j.parent_job_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
    ))
    .bind::<SqlUuid, _>(id.0)
    .load(scope.pg())?;
    let children = diesel::sql_query(format!(
        "WITH child AS ( \
             SELECT j.id, j.workflow_step AS step, {FAN_OUT} AS fan_out FROM jobs j \
             WHERE j.workflow_run_id = $1 AND j.parent_job_id IS NOT NULL \
         ), numbered AS ( \
             SELECT id, step, fan_out, \
                    row_number() OVER (PARTITION BY fan_out ORDER BY step, id) AS n \
             FROM child \
         ) \
         SELECT c.id, c.step, c.fan_out, j.state, j.last_error \
         FROM numbered c JOIN jobs j ON j.id = c.id \
         WHERE c.n <= $2 ORDER BY c.fan_out, c.step, c.id"
    ))
    .bind::<SqlUuid, _>(id.0)
    .bind::<BigInt, _>(listed.max(0))
    .load(scope.pg())?;
    Ok(StepGraph {
        steps,
        dependencies,
        child_steps,
        child_jobs,
        children,
    })
}
