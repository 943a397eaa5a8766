//! One workflow run: its facts and its step graph — steps laid out in columns by dependency
//! level (the longest path from a step without dependencies), each with its state, job and
//! reason, fan-out children grouped under the step that spawned them, and the dependencies as
//! a text list too.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use findash_engine::workflow::{self, ChildCount, DependencyRow, StepGraph, StepRow};
use findash_schema::WorkflowRunId;

use super::session::Operator;
use super::view::{self, Chrome, JobLink};
use super::workflows::RunView;
use super::{AdminError, in_console};
use crate::http::AppState;

/// Children listed one by one under their step (and all that is loaded of them); the rest are
/// counted.
const CHILDREN_LISTED: i64 = 50;

/// A step's box in the graph.
struct StepView {
    name: String,
    kind: String,
    state: String,
    job: Option<JobLink>,
    reason: Option<String>,
    /// For a blocked step, the upstream steps (and fan-out children) that did not succeed:
    /// `gate (blocked)`.
    blocked_by: Vec<String>,
    /// `dq (success)`: what it waits for.
    waits_for: Vec<String>,
    children: Option<ChildrenView>,
}

/// The fan-out children of a step.
struct ChildrenView {
    total: i64,
    /// `(state, children in it)`, by job state.
    counts: Vec<(String, i64)>,
    listed: Vec<ChildView>,
    unlisted: i64,
}

struct ChildView {
    subject: String,
    job: JobLink,
    error: Option<String>,
}

/// One column of the graph.
struct LevelView {
    number: usize,
    steps: Vec<StepView>,
}

#[derive(Template)]
#[template(path = "admin/workflow.html")]
struct WorkflowPage {
    chrome: Chrome,
    run: RunView,
    levels: Vec<LevelView>,
    /// `forecast waits for dq (success)`, one per dependency.
    edges: Vec<String>,
}

/// `GET /admin/workflows/{id}`.
pub async fn page(
    state: web::Data<AppState>,
    operator: Operator,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let not_found = || AdminError::NotFound(format!("there is no workflow run {id}"));
    let run_id: WorkflowRunId = id.parse().map_err(|_| not_found())?;
    let found = in_console(&state, move |sys| {
        let Some(run) = workflow::get_run(sys, run_id)? else {
            return Ok(None);
        };
        Ok(Some((
            run,
            workflow::step_graph(sys, run_id, CHILDREN_LISTED)?,
        )))
    })
    .await?;
    let (run, graph) = found.ok_or_else(not_found)?;
    let edges = graph
        .dependencies
        .iter()
        .map(|d| format!("{} waits for {} ({})", d.step, d.depends_on, d.requires))
        .collect();
    view::render(&WorkflowPage {
        chrome: Chrome::new(&operator, "workflows"),
        run: RunView::new(&run, Utc::now()),
        levels: layout(graph),
        edges,
    })
}

/// The graph's columns: each step (fan-out children aside) in the column of its level.
fn layout(graph: StepGraph) -> Vec<LevelView> {
    let StepGraph {
        steps,
        dependencies,
        child_steps,
        child_jobs,
        children,
    } = graph;
    let names: Vec<&str> = steps.iter().map(|s| s.step.as_str()).collect();
    let levels = levels(&names, &dependencies);
    let mut columns: Vec<LevelView> = Vec::new();
    for (step, level) in steps.iter().zip(levels) {
        while columns.len() <= level {
            columns.push(LevelView {
                number: columns.len() + 1,
                steps: Vec::new(),
            });
        }
        columns[level].steps.push(StepView {
            name: step.step.clone(),
            kind: step.job_kind.clone(),
            state: step.state.clone(),
            job: step
                .job_id
                .map(|id| JobLink::new(id, step.job_state.clone())),
            reason: step.reason.clone(),
            blocked_by: if step.state == "blocked" {
                blocked_by(&step.step, &dependencies, &steps, &child_steps)
            } else {
                Vec::new()
            },
            waits_for: dependencies
                .iter()
                .filter(|d| d.step == step.step)
                .map(|d| format!("{} ({})", d.depends_on, d.requires))
                .collect(),
            children: children_view(&step.step, &child_jobs, &children),
        });
    }
    columns
}

/// Whether a step (or a fan-out child) in `state` stops a step that needs it to succeed.
fn did_not_succeed(state: &str) -> bool {
    !matches!(state, "succeeded" | "skipped")
}

/// What stopped `step`: each step it needs to succeed that did not, as `gate (blocked)`, and
/// the fan-out children of those steps that did not, counted by state, as
/// `2 fan-out children of sync (failed)`.
fn blocked_by(
    step: &str,
    dependencies: &[DependencyRow],
    steps: &[StepRow],
    child_steps: &[ChildCount],
) -> Vec<String> {
    let mut causes = Vec::new();
    for upstream in dependencies
        .iter()
        .filter(|d| d.step == step && d.requires == "success")
        .map(|d| d.depends_on.as_str())
    {
        causes.extend(
            steps
                .iter()
                .filter(|s| s.step == upstream && did_not_succeed(&s.state))
                .map(|s| format!("{} ({})", s.step, s.state)),
        );
        let mut children: Vec<&ChildCount> = child_steps
            .iter()
            .filter(|c| c.fan_out == upstream && did_not_succeed(&c.state))
            .collect();
        children.sort_by_key(|c| workflow::STEP_STATES.iter().position(|s| *s == c.state));
        causes.extend(children.into_iter().map(|c| {
            let noun = if c.n == 1 { "child" } else { "children" };
            format!("{} fan-out {noun} of {upstream} ({})", c.n, c.state)
        }));
    }
    causes
}

/// The fan-out children of `step`, if it fanned out: their count by job state, and the first
/// [`CHILDREN_LISTED`] of them (all that `children` holds of each fan-out).
fn children_view(
    step: &str,
    child_jobs: &[ChildCount],
    children: &[workflow::ChildRow],
) -> Option<ChildrenView> {
    let mut counts: Vec<(String, i64)> = child_jobs
        .iter()
        .filter(|c| c.fan_out == step)
        .map(|c| (c.state.clone(), c.n))
        .collect();
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let order = |state: &str| {
        findash_engine::ledger::JOB_STATES
            .iter()
            .position(|s| *s == state)
    };
    counts.sort_by_key(|(state, _)| order(state));
    let listed: Vec<ChildView> = children
        .iter()
        .filter(|c| c.fan_out == step)
        .map(|c| ChildView {
            subject: c
                .step
                .as_deref()
                .and_then(|s| s.split_once(':'))
                .map_or_else(|| c.id.to_string(), |(_, subject)| subject.to_owned()),
            job: JobLink::new(c.id, Some(c.state.clone())),
            error: c.last_error.clone(),
        })
        .collect();
    let unlisted = total - i64::try_from(listed.len()).unwrap_or(i64::MAX);
    Some(ChildrenView {
        total,
        counts,
        listed,
        unlisted: unlisted.max(0),
    })
}

/// Each step's level: 0 without dependencies, else one more than its deepest dependency (the
/// longest path from a root). A cycle, which `workflow::start` does not refuse but which never
/// runs, stops growing after as many rounds as there are steps.
fn levels(steps: &[&str], dependencies: &[DependencyRow]) -> Vec<usize> {
    let index = |name: &str| steps.iter().position(|s| *s == name);
    let edges: Vec<(usize, usize)> = dependencies
        .iter()
        .filter_map(|d| Some((index(&d.step)?, index(&d.depends_on)?)))
        .collect();
    let mut levels = vec![0; steps.len()];
    for _ in 0..steps.len() {
        let mut changed = false;
        for &(step, upstream) in &edges {
            let level = (levels[upstream] + 1).min(steps.len());
            if level > levels[step] {
                levels[step] = level;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(step: &str, on: &str) -> DependencyRow {
        DependencyRow {
            step: step.to_owned(),
            depends_on: on.to_owned(),
            requires: "success".to_owned(),
        }
    }

    #[test]
    fn a_level_is_the_longest_path_from_a_root() {
        // sync → categorize → dq → forecast → summary, and summary also straight on sync.
        let steps = ["sync", "categorize", "dq", "forecast", "summary", "alone"];
        let deps = [
            dep("categorize", "sync"),
            dep("dq", "categorize"),
            dep("forecast", "dq"),
            dep("summary", "forecast"),
            dep("summary", "sync"),
        ];
        assert_eq!(levels(&steps, &deps), vec![0, 1, 2, 3, 4, 0]);
        // Listed in any order, the answer is the same.
        let reversed: Vec<DependencyRow> = deps.iter().rev().cloned().collect();
        assert_eq!(levels(&steps, &reversed), vec![0, 1, 2, 3, 4, 0]);
    }

    #[test]
    fn a_cycle_stops_growing() {
        let levels = levels(&["a", "b"], &[dep("a", "b"), dep("b", "a")]);
        assert!(levels.iter().all(|l| *l <= 2), "{levels:?}");
    }

    #[test]
    fn a_blocked_step_names_what_did_not_succeed() {
        let step = |name: &str, state: &str| StepRow {
            step: name.to_owned(),
            job_kind: "noop".to_owned(),
            state: state.to_owned(),
            job_id: None,
            job_state: None,
            reason: None,
            created_at: Utc::now(),
            finished_at: None,
        };
        let steps = [
            step("sync", "succeeded"),
            step("rates", "cancelled"),
            step("categorize", "failed"),
            step("gate", "blocked"),
        ];
        let count = |fan_out: &str, state: &str, n: i64| ChildCount {
            fan_out: fan_out.to_owned(),
            state: state.to_owned(),
            n,
        };
        let child_steps = [
            count("sync", "succeeded", 40),
            count("sync", "skipped", 1),
            count("sync", "failed", 2),
            count("sync", "cancelled", 1),
            count("rates", "failed", 3),
        ];
        let mut finished = dep("gate", "rates");
        finished.requires = "finished".to_owned();
        assert_eq!(
            blocked_by(
                "gate",
                &[dep("gate", "sync"), dep("gate", "categorize"), finished],
                &steps,
                &child_steps
            ),
            vec![
                "2 fan-out children of sync (failed)",
                "1 fan-out child of sync (cancelled)",
                "categorize (failed)",
            ]
        );
    }

    #[test]
    fn children_are_counted_whole_and_listed_as_loaded() {
        let count = |state: &str, n: i64| ChildCount {
            fan_out: "sync".to_owned(),
            state: state.to_owned(),
            n,
        };
        let child = |subject: &str| workflow::ChildRow {
            id: findash_schema::JobId(uuid::Uuid::now_v7()),
            step: Some(format!("sync:{subject}")),
            fan_out: "sync".to_owned(),
            state: "dead".to_owned(),
            last_error: Some("the bank said no".to_owned()),
        };
        let counts = [count("succeeded", 60), count("dead", 2)];
        let view = children_view("sync", &counts, &[child("a"), child("b")]).unwrap();
        assert_eq!(view.total, 62);
        assert_eq!(
            view.counts,
            vec![("succeeded".to_owned(), 60), ("dead".to_owned(), 2)]
        );
        assert_eq!(view.listed.len(), 2);
        assert_eq!(view.listed[0].subject, "a");
        assert_eq!(view.unlisted, 60);
        assert!(children_view("gate", &counts, &[]).is_none());
    }
}
