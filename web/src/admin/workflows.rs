//! The workflow runs, newest first: which tenant's run of which workflow, how it stands and how
//! far its steps got; filtered by state and workflow, a page at a time.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use findash_engine::workflow::{self, RUN_STATES, RunFilter, RunRow};
use findash_schema::WorkflowRunId;
use serde::Deserialize;

use super::session::Operator;
use super::view::{self, Cause, Chrome, Pager, When};
use super::{AdminError, in_console};
use crate::http::AppState;

/// Runs per page.
const PAGE: usize = 50;

/// A run as the list and its page show it.
pub(super) struct RunView {
    pub href: String,
    pub id: String,
    pub workflow: String,
    pub tenant: String,
    pub run_key: String,
    pub state: String,
    pub cause: Cause,
    pub created: When,
    pub updated: When,
    pub finished: Option<When>,
    /// `(state, steps in it)`, states in the order steps go through them.
    pub counts: Vec<(&'static str, i64)>,
}

impl RunView {
    pub(super) fn new(run: &RunRow, now: chrono::DateTime<Utc>) -> RunView {
        RunView {
            href: format!("/admin/workflows/{}", run.id),
            id: run.id.to_string(),
            workflow: run.workflow.clone(),
            tenant: run.tenant_slug.clone(),
            run_key: run.run_key.clone(),
            state: run.state.clone(),
            cause: Cause::of(&run.trigger_kind, run.trigger_ref.as_deref()),
            created: When::new(&run.created_at, now),
            updated: When::new(&run.updated_at, now),
            finished: run.finished_at.map(|t| When::new(&t, now)),
            counts: run.step_counts(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    workflow: Option<String>,
    before: Option<String>,
}

/// The filters of a request, checked: a value no run can have is a 400, not an empty page.
fn filter(query: ListQuery) -> Result<RunFilter, AdminError> {
    let state = view::given(query.state);
    if let Some(state) = &state
        && !RUN_STATES.contains(&state.as_str())
    {
        return Err(AdminError::BadRequest(format!(
            "state must be one of {}",
            RUN_STATES.join(", ")
        )));
    }
    let workflow = view::given(query.workflow);
    if let Some(name) = &workflow
        && !is_workflow_name(name)
    {
        return Err(AdminError::BadRequest(
            "a workflow name is lowercase letters, digits and _".to_owned(),
        ));
    }
    let before = view::given(query.before)
        .map(|b| b.parse::<WorkflowRunId>())
        .transpose()
        .map_err(|_| AdminError::BadRequest("before must be a run id".to_owned()))?;
    Ok(RunFilter {
        state,
        workflow,
        before,
        limit: i64::try_from(PAGE + 1).unwrap_or(i64::MAX),
    })
}

/// `^[a-z][a-z0-9_]*$`, as `workflow_runs.workflow` is.
fn is_workflow_name(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[derive(Template)]
#[template(path = "admin/workflows.html")]
struct WorkflowsPage {
    chrome: Chrome,
    runs: Vec<RunView>,
    states: &'static [&'static str],
    workflows: Vec<String>,
    state: String,
    workflow: String,
    pager: Pager,
}

/// `GET /admin/workflows?state=&workflow=&before=`.
pub async fn page(
    state: web::Data<AppState>,
    operator: Operator,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let filter = filter(view::query(&req)?)?;
    let query = filter.clone();
    let (mut runs, mut workflows) = in_console(&state, move |sys| {
        Ok((
            workflow::list_runs(sys, &query)?,
            workflow::workflow_names(sys)?,
        ))
    })
    .await?;
    // The names come from the newest runs only: the chosen one stays offered all the same.
    if let Some(chosen) = &filter.workflow
        && !workflows.contains(chosen)
    {
        workflows.push(chosen.clone());
        workflows.sort();
    }
    let more = runs.len() > PAGE;
    runs.truncate(PAGE);
    let pairs = |before: Option<&str>| {
        view::link(
            "/admin/workflows",
            &[
                ("state", filter.state.as_deref()),
                ("workflow", filter.workflow.as_deref()),
                ("before", before),
            ],
        )
    };
    let older = more
        .then(|| runs.last().map(|r| pairs(Some(&r.id.to_string()))))
        .flatten();
    let now = Utc::now();
    view::render(&WorkflowsPage {
        chrome: Chrome::new(&operator, "workflows"),
        runs: runs.iter().map(|r| RunView::new(r, now)).collect(),
        states: &RUN_STATES,
        workflows,
        state: filter.state.clone().unwrap_or_default(),
        workflow: filter.workflow.clone().unwrap_or_default(),
        pager: Pager {
            newest: filter.before.is_some().then(|| pairs(None)),
            older,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_refuse_what_no_run_has() {
        let query = |state: &str, workflow: &str, before: &str| ListQuery {
            state: Some(state.to_owned()),
            workflow: Some(workflow.to_owned()),
            before: Some(before.to_owned()),
        };
        let ok = filter(query("failed", "daily_pipeline", "")).unwrap();
        assert_eq!(ok.state.as_deref(), Some("failed"));
        assert_eq!(ok.before, None);
        assert!(filter(query("broken", "", "")).is_err());
        assert!(filter(query("", "Daily-Pipeline", "")).is_err());
        assert!(filter(query("", "", "not-an-id")).is_err());
    }
}
