//! One workflow run: its facts and its step graph — steps laid out in columns by dependency
//! level (the longest path from a step without dependencies), each with its state, job and
//! reason, fan-out children grouped under the step that spawned them, and the dependencies as
//! a text list too.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use findash_engine::workflow::{self, ChildRow, DependencyRow, StepGraph, StepRow};
use findash_schema::WorkflowRunId;

use super::session::Operator;
use super::view::{self, Chrome, JobLink};
use super::workflows::RunView;
use super::{AdminError, in_console};
use crate::http::AppState;

/// Children listed one by one under their step; the rest are counted.
const CHILDREN_LISTED: usize = 50;

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
    total: usize,
    /// `(state, children in it)`.
    counts: Vec<(String, usize)>,
    listed: Vec<ChildView>,
    unlisted: usize,
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
        Ok(Some((run, workflow::step_graph(sys, run_id)?)))
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
        children,
    } = graph;
    let all = steps;
    let steps: Vec<&StepRow> = all.iter().filter(|s| !s.is_child()).collect();
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
        let mine: Vec<&ChildRow> = children
            .iter()
            .filter(|c| base(c.parent_step.as_deref().or(c.step.as_deref())) == step.step)
            .collect();
        columns[level].steps.push(StepView {
            name: step.step.clone(),
            kind: step.job_kind.clone(),
            state: step.state.clone(),
            job: step
                .job_id
                .map(|id| JobLink::new(id, step.job_state.clone())),
            reason: step.reason.clone(),
            blocked_by: if step.state == "blocked" {
                blocked_by(&step.step, &dependencies, &all)
            } else {
                Vec::new()
            },
            waits_for: dependencies
                .iter()
                .filter(|d| d.step == step.step)
                .map(|d| format!("{} ({})", d.depends_on, d.requires))
                .collect(),
            children: (!mine.is_empty()).then(|| children_view(&mine)),
        });
    }
    columns
}

/// What stopped `step`: each step it needs to succeed (or a fan-out child of one) that did not,
/// as `gate (blocked)`.
fn blocked_by(step: &str, dependencies: &[DependencyRow], steps: &[StepRow]) -> Vec<String> {
    dependencies
        .iter()
        .filter(|d| d.step == step && d.requires == "success")
        .flat_map(|d| steps.iter().filter(|s| base(Some(&s.step)) == d.depends_on))
        .filter(|s| !matches!(s.state.as_str(), "succeeded" | "skipped"))
        .map(|s| format!("{} ({})", s.step, s.state))
        .collect()
}

/// `sync` of `sync:<subject>`.
fn base(step: Option<&str>) -> &str {
    let step = step.unwrap_or_default();
    step.split_once(':').map_or(step, |(base, _)| base)
}

fn children_view(children: &[&ChildRow]) -> ChildrenView {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for child in children {
        match counts.iter_mut().find(|(state, _)| *state == child.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((child.state.clone(), 1)),
        }
    }
    let order = |state: &str| {
        findash_engine::ledger::JOB_STATES
            .iter()
            .position(|s| *s == state)
    };
    counts.sort_by_key(|(state, _)| order(state));
    ChildrenView {
        total: children.len(),
        counts,
        listed: children
            .iter()
            .take(CHILDREN_LISTED)
            .map(|c| ChildView {
                subject: c
                    .step
                    .as_deref()
                    .and_then(|s| s.split_once(':'))
                    .map_or_else(|| c.id.to_string(), |(_, subject)| subject.to_owned()),
                job: JobLink::new(c.id, Some(c.state.clone())),
                error: c.last_error.clone(),
            })
            .collect(),
        unlisted: children.len().saturating_sub(CHILDREN_LISTED),
    }
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
            step("sync:a", "succeeded"),
            step("sync:b", "failed"),
            step("rates", "cancelled"),
            step("gate", "blocked"),
        ];
        let mut finished = dep("gate", "rates");
        finished.requires = "finished".to_owned();
        assert_eq!(
            blocked_by("gate", &[dep("gate", "sync"), finished], &steps),
            vec!["sync:b (failed)"]
        );
    }

    #[test]
    fn children_belong_to_the_base_step() {
        assert_eq!(base(Some("sync:conn-1")), "sync");
        assert_eq!(base(Some("sync")), "sync");
        assert_eq!(base(None), "");
    }
}
