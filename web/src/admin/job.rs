//! One job (`GET /admin/jobs/{id}`): every field, the payload and result with secrets hidden
//! (`redact.rs`), the attempts as a timeline, where it came from (trigger, parent, workflow run)
//! and what it spawned; and its actions — retry, cancel, discard — each behind a confirmation
//! page (`GET /admin/jobs/{id}/{action}`) whose form (`POST`) acts through the engine's action
//! path ([`findash_engine::act_in`]: its workflow is told) in one transaction with the audit
//! entry.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use findash_engine::ledger::{self, Action, ActionResult, AttemptRow, JobRow, Lineage};
use findash_schema::{JobId, TenantId, console};
use serde_json::json;

use super::jobs::{JobLine, Slugs, owner_label, slugs_of};
use super::notice::Notice;
use super::session::{Checked, Operator};
use super::view::{self, Chrome, When};
use super::{AdminError, in_console, redact};
use crate::http::AppState;

/// Children listed on the page; the rest are counted.
const CHILDREN_SHOWN: i64 = 50;

fn job_id(given: &str) -> Result<JobId, AdminError> {
    given
        .parse::<JobId>()
        .map_err(|_| AdminError::NotFound(format!("there is no job `{given}`")))
}

fn action_named(name: &str) -> Result<Action, AdminError> {
    Action::parse(name).ok_or_else(|| {
        AdminError::NotFound(format!(
            "there is no job action `{name}` (retry, cancel or discard)"
        ))
    })
}

/// Whether `action` applies to `job` now (the engine's rule, on its latest attempt).
fn applies(action: Action, job: &JobRow, attempts: &[AttemptRow]) -> bool {
    action.applies(
        &job.state,
        attempts.last().and_then(|a| a.outcome.as_deref()),
    )
}

/// Reads job `id` with its attempts, or says there is none.
fn load(
    sys: &mut findash_schema::SystemConn<'_>,
    id: JobId,
) -> Result<(JobRow, Vec<AttemptRow>), AdminError> {
    ledger::get_job(sys, id)?.ok_or_else(|| AdminError::NotFound(format!("there is no job {id}")))
}

/// An attempt as the timeline shows it.
struct AttemptLine {
    attempt: i32,
    worker: String,
    started: When,
    finished: Option<When>,
    duration: String,
    /// The outcome, or `running`.
    outcome: String,
    /// The badge class that colours it.
    tone: &'static str,
    error: Option<String>,
}

/// The badge colour of an attempt's outcome (a word is always shown with it).
fn tone(outcome: &str) -> &'static str {
    match outcome {
        "succeeded" => "succeeded",
        "running" => "running",
        "failed" | "timed_out" | "panicked" | "lease_expired" => "failed",
        "retrying" | "rate_limited" | "deferred" | "blocked" => "warning",
        _ => "idle",
    }
}

/// A duration read at a glance: `350 ms`, `4.2 s`, `12 min`.
fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let ms = (to - from).num_milliseconds().max(0);
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{}.{} s", ms / 1000, (ms % 1000) / 100),
        _ => view::span(ms / 1000),
    }
}

impl AttemptLine {
    fn new(a: &AttemptRow, now: DateTime<Utc>) -> AttemptLine {
        let outcome = a.outcome.clone().unwrap_or_else(|| "running".to_owned());
        AttemptLine {
            attempt: a.attempt,
            worker: a.worker.clone(),
            started: When::new(&a.started_at, now),
            finished: a.finished_at.as_ref().map(|t| When::new(t, now)),
            duration: match a.finished_at {
                Some(end) => elapsed(a.started_at, end),
                None => format!("{} so far", elapsed(a.started_at, now)),
            },
            tone: tone(&outcome),
            outcome,
            error: a.error.clone(),
        }
    }
}

/// A link with its text.
struct Link {
    href: String,
    text: String,
}

/// What caused the job, in words, with a link to it where the console has a page for it.
struct Cause {
    what: String,
    link: Option<Link>,
    detail: String,
}

fn cause(job: &JobRow, lineage: &Lineage, slugs: &Slugs, now: DateTime<Utc>) -> Cause {
    let reference = job.trigger_ref.clone().unwrap_or_default();
    let id_link = |path: &str| {
        uuid::Uuid::parse_str(&reference).ok().map(|id| Link {
            href: format!("{path}/{id}"),
            text: id.to_string(),
        })
    };
    let plain = |what: &str, detail: String| Cause {
        what: what.to_owned(),
        link: None,
        detail,
    };
    match job.trigger_kind.as_str() {
        "webhook" => Cause {
            what: "Webhook delivery".to_owned(),
            link: id_link("/admin/webhooks"),
            detail: String::new(),
        },
        "cron" => match &lineage.tick {
            Some(tick) => Cause {
                what: "Cron tick of schedule".to_owned(),
                link: Some(Link {
                    href: "/admin/schedules".to_owned(),
                    text: tick.schedule.clone(),
                }),
                detail: format!(
                    "firing at {} ({})",
                    view::timestamp(&tick.fire_at),
                    view::relative(&tick.fire_at, now)
                ),
            },
            None => plain("A cron tick", format!("(tick {reference}, no longer kept)")),
        },
        "workflow" => Cause {
            what: "Workflow run".to_owned(),
            link: id_link("/admin/workflows"),
            detail: String::new(),
        },
        "job" => match &lineage.cause {
            Some(cause) => Cause {
                what: "Job".to_owned(),
                link: Some(Link {
                    href: format!("/admin/jobs/{}", cause.id),
                    text: cause.kind.clone(),
                }),
                detail: format!(
                    "of {}, {} (enqueued this one for its tenant)",
                    owner_label(cause.tenant_id, slugs),
                    cause.state
                ),
            },
            None => plain("A job", format!("{reference} (no longer in the ledger)")),
        },
        "api" => plain(
            "The API",
            if reference.is_empty() {
                String::new()
            } else {
                format!("called by user {reference}")
            },
        ),
        "cli" => plain("The command line", "(findash)".to_owned()),
        "system" => plain("The deployment itself", String::new()),
        other => plain(other, reference),
    }
}

/// The workflow step a job executes.
struct Step {
    name: String,
    run: Link,
    state: String,
}

/// An action the page offers.
struct Offer {
    href: String,
    label: &'static str,
    tone: &'static str,
}

#[derive(Template)]
#[template(path = "admin/job.html")]
struct JobPage {
    chrome: Chrome,
    notice: Option<String>,
    id: String,
    job: JobRow,
    tenant: String,
    run_at: When,
    created: When,
    started: Option<When>,
    finished: Option<When>,
    payload: String,
    result: Option<String>,
    attempts: Vec<AttemptLine>,
    cause: Cause,
    step: Option<Step>,
    parent: Option<JobLine>,
    children: Vec<JobLine>,
    /// "The newest 50 of 80." when not all are listed.
    children_note: Option<String>,
    offers: Vec<Offer>,
}

impl JobPage {
    /// Whether the job can still change by itself (the page then follows it).
    fn is_live(&self) -> bool {
        matches!(self.job.state.as_str(), "queued" | "running" | "retrying")
    }
}

/// `GET /admin/jobs/{id}`.
pub async fn page(
    state: web::Data<AppState>,
    operator: Operator,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let id = job_id(&id)?;
    let (job, attempts, lineage, slugs) = in_console(&state, move |sys| {
        let (job, attempts) = load(sys, id)?;
        let lineage = ledger::lineage(sys, &job, CHILDREN_SHOWN)?;
        let related = std::iter::once(&job)
            .chain(lineage.parent.iter())
            .chain(lineage.cause.iter())
            .chain(lineage.children.iter());
        let slugs = slugs_of(sys, related)?;
        Ok((job, attempts, lineage, slugs))
    })
    .await?;
    let now = Utc::now();
    let offers = [
        (Action::Retry, "Retry…", "primary"),
        (Action::Cancel, "Cancel…", "danger"),
        (Action::Discard, "Discard…", "danger"),
    ]
    .into_iter()
    .filter(|(action, _, _)| applies(*action, &job, &attempts))
    .map(|(action, label, tone)| Offer {
        href: format!("/admin/jobs/{id}/{}", action.as_str()),
        label,
        tone,
    })
    .collect();
    let step = match (&lineage.run, &job.workflow_step) {
        (Some(run), Some(name)) => Some(Step {
            name: name.clone(),
            run: Link {
                href: format!("/admin/workflows/{}", run.id),
                text: format!("{} {}", run.workflow, run.run_key),
            },
            state: run.state.clone(),
        }),
        _ => None,
    };
    view::render(&JobPage {
        chrome: Chrome::new(&operator, "jobs"),
        notice: Notice::from_query(req.query_string()).map(Notice::text),
        id: id.to_string(),
        tenant: owner_label(job.tenant_id, &slugs),
        run_at: When::new(&job.run_at, now),
        created: When::new(&job.created_at, now),
        started: job.started_at.as_ref().map(|t| When::new(t, now)),
        finished: job.finished_at.as_ref().map(|t| When::new(t, now)),
        payload: redact::pretty(&job.payload),
        result: job.result.as_ref().map(redact::pretty),
        attempts: attempts.iter().map(|a| AttemptLine::new(a, now)).collect(),
        cause: cause(&job, &lineage, &slugs, now),
        step,
        parent: lineage
            .parent
            .as_ref()
            .map(|p| JobLine::new(p, &slugs, now)),
        children: lineage
            .children
            .iter()
            .map(|c| JobLine::new(c, &slugs, now))
            .collect(),
        children_note: (lineage.children_total > lineage.children.len() as i64).then(|| {
            format!(
                "The newest {} of {}.",
                lineage.children.len(),
                lineage.children_total
            )
        }),
        offers,
        job,
    })
}

#[derive(Template)]
#[template(path = "admin/job_confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    id: String,
    kind: String,
    tenant: String,
    state: String,
    /// `Retry`, `Cancel`, `Discard`.
    verb: &'static str,
    consequence: &'static str,
    tone: &'static str,
    post_href: String,
    back_href: String,
}

/// `GET /admin/jobs/{id}/{action}`: what the action will do, and the button.
pub async fn confirm(
    state: web::Data<AppState>,
    operator: Operator,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (id, name) = path.into_inner();
    let action = action_named(&name)?;
    let id = job_id(&id)?;
    let (job, attempts, slugs) = in_console(&state, move |sys| {
        let (job, attempts) = load(sys, id)?;
        let slugs = slugs_of(sys, [&job])?;
        Ok((job, attempts, slugs))
    })
    .await?;
    if !applies(action, &job, &attempts) {
        return Err(not_applicable(action, &job.state));
    }
    let (verb, tone, consequence) = match (action, job.state.as_str()) {
        (Action::Retry, _) => (
            "Retry",
            "primary",
            "It runs again now with a fresh set of attempts; if it is a workflow step, the step runs again and its run resumes.",
        ),
        (Action::Cancel, "running") => (
            "Cancel",
            "danger",
            "It is running: its worker is asked to stop, and ends it cancelled at its next pause. If it is a workflow step, the step ends cancelled.",
        ),
        (Action::Cancel, _) => (
            "Cancel",
            "danger",
            "It will not run. If it is a workflow step, the step ends cancelled.",
        ),
        (Action::Discard, _) => (
            "Discard",
            "danger",
            "The job and its attempt history are deleted for good.",
        ),
    };
    view::render(&ConfirmPage {
        chrome: Chrome::new(&operator, "jobs"),
        id: id.to_string(),
        tenant: owner_label(job.tenant_id, &slugs),
        kind: job.kind,
        state: job.state,
        verb,
        consequence,
        tone,
        post_href: format!("/admin/jobs/{id}/{}", action.as_str()),
        back_href: format!("/admin/jobs/{id}"),
    })
}

fn not_applicable(action: Action, state: &str) -> AdminError {
    AdminError::Conflict(format!(
        "this job is {state}: {} applies only to {} jobs",
        action.as_str(),
        action.applies_to().join(", ")
    ))
}

/// What a performed action leaves for the redirect.
enum Done {
    Notice(Notice),
    Gone,
}

/// `POST /admin/jobs/{id}/{action}`.
pub async fn perform(
    state: web::Data<AppState>,
    form: Checked<serde::de::IgnoredAny>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (id, name) = path.into_inner();
    let action = action_named(&name)?;
    let id = job_id(&id)?;
    let (engine, user) = (state.engine.clone(), form.operator.user_id());
    let done = in_console(&state, move |sys| {
        let Some(job) = ledger::find_job(sys, id)? else {
            return Ok(Done::Gone);
        };
        let result = findash_engine::act_in(sys, engine.registry(), id, action)?;
        let (notice, now) = match &result {
            ActionResult::Applied { state } => (
                match action {
                    Action::Retry => Notice::Retried,
                    Action::Cancel => Notice::Cancelled,
                    Action::Discard => Notice::Discarded,
                },
                state.clone(),
            ),
            ActionResult::CancelRequested => (Notice::CancelRequested, job.state.clone()),
            ActionResult::NotApplicable { state } => return Err(not_applicable(action, state)),
            ActionResult::NotFound => return Ok(Done::Gone),
        };
        console::audit(
            sys,
            user,
            job.tenant_id.map(TenantId),
            &format!("console.job.{}", action.as_str()),
            Some("job"),
            Some(&id.to_string()),
            json!({
                "kind": job.kind,
                "tenant_id": job.tenant_id,
                "from_state": job.state,
                "state": now,
                "cancel_requested": result == ActionResult::CancelRequested,
            }),
        )?;
        Ok(Done::Notice(notice))
    })
    .await?;
    let location = match done {
        Done::Gone => with_notice("/admin/jobs", Notice::JobGone),
        Done::Notice(notice) => {
            if notice == Notice::Retried {
                state.engine.notify().await;
            }
            if notice == Notice::Discarded {
                with_notice("/admin/jobs", notice)
            } else {
                with_notice(&format!("/admin/jobs/{id}"), notice)
            }
        }
    };
    Ok(view::see_other(&location))
}

fn with_notice(path: &str, notice: Notice) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(notice.pairs())
        .finish();
    format!("{path}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        let t = Utc::now();
        assert_eq!(
            elapsed(t, t + chrono::Duration::milliseconds(350)),
            "350 ms"
        );
        assert_eq!(
            elapsed(t, t + chrono::Duration::milliseconds(4_250)),
            "4.2 s"
        );
        assert_eq!(elapsed(t, t + chrono::Duration::minutes(12)), "12 min");
        assert_eq!(elapsed(t, t - chrono::Duration::seconds(1)), "0 ms");
    }
}
