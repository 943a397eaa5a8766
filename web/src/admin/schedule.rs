//! One schedule: its recent ticks, and the operator's actions on it — pause and resume (the
//! scheduler records a paused schedule's ticks as skipped; pausing a paused schedule, or
//! resuming a running one, is a conflict that changes nothing) and run now (its job, enqueued
//! by hand as a system job, after a confirmation).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use findash_engine::cron::{self, Off};
use findash_engine::ledger::Trigger;
use findash_schema::console;
use serde::Deserialize;
use serde_json::json;

use super::nonce::Nonce;
use super::schedules::{NoticeQuery, ScheduleView, TickView, find, notice_text};
use super::session::{Checked, Operator};
use super::view::{self, Chrome};
use super::{AdminError, in_console};
use crate::http::AppState;

/// Ticks the page lists.
const RECENT_TICKS: i64 = 20;

#[derive(Template)]
#[template(path = "admin/schedule.html")]
struct SchedulePage {
    chrome: Chrome,
    notice: Option<&'static str>,
    schedule: ScheduleView,
    ticks: Vec<TickView>,
}

/// `GET /admin/schedules/{name}`.
pub async fn page(
    state: web::Data<AppState>,
    operator: Operator,
    name: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let query: NoticeQuery = view::query(&req)?;
    let configured = find(&state, &name)?;
    let name = name.into_inner();
    let (pause, ticks) = in_console(&state, move |sys| {
        let pause = cron::pauses(sys)?.into_iter().find(|p| p.name == name);
        Ok((pause, cron::ticks(sys, &name, RECENT_TICKS)?))
    })
    .await?;
    let now = Utc::now();
    view::render(&SchedulePage {
        chrome: Chrome::new(&operator, "schedules"),
        notice: notice_text(query.notice.as_deref()),
        schedule: ScheduleView::new(&configured, pause.as_ref(), ticks.first(), now),
        ticks: ticks.iter().map(|t| TickView::new(t, now)).collect(),
    })
}

#[derive(Debug, Deserialize)]
pub struct PauseForm {
    /// `detail`: back to the schedule's page rather than the list.
    back: Option<String>,
}

/// `POST /admin/schedules/{name}/pause`.
pub async fn pause(
    state: web::Data<AppState>,
    name: web::Path<String>,
    action: Checked<PauseForm>,
) -> Result<HttpResponse, AdminError> {
    set_paused(&state, &name, true, action).await
}

/// `POST /admin/schedules/{name}/resume`.
pub async fn resume(
    state: web::Data<AppState>,
    name: web::Path<String>,
    action: Checked<PauseForm>,
) -> Result<HttpResponse, AdminError> {
    set_paused(&state, &name, false, action).await
}

async fn set_paused(
    state: &AppState,
    name: &str,
    paused: bool,
    action: Checked<PauseForm>,
) -> Result<HttpResponse, AdminError> {
    let name = find(state, name)?.schedule.name;
    let (operator, form) = (action.operator, action.form);
    let by = operator.email().to_owned();
    let user = operator.user_id();
    let subject = name.clone();
    in_console(state, move |sys| {
        if cron::set_paused(sys, &subject, paused, &by)?.is_none() {
            return Err(AdminError::Conflict(if paused {
                format!("schedule {subject} is already paused: nothing to pause")
            } else {
                format!("schedule {subject} is not paused: nothing to resume")
            }));
        }
        console::audit(
            sys,
            user,
            None,
            if paused {
                "console.schedule.pause"
            } else {
                "console.schedule.resume"
            },
            Some("schedule"),
            Some(&subject),
            json!({}),
        )?;
        Ok(())
    })
    .await?;
    let notice = if paused { "paused" } else { "resumed" };
    let location = if form.back.as_deref() == Some("detail") {
        format!("/admin/schedules/{name}?notice={notice}")
    } else {
        format!("/admin/schedules?notice={notice}")
    };
    Ok(view::see_other(&location))
}

#[derive(Template)]
#[template(path = "admin/schedule_run.html")]
struct RunConfirmPage {
    chrome: Chrome,
    schedule: ScheduleView,
    /// Makes a second submit of this same form find the job the first one started.
    nonce: Nonce,
}

/// `GET /admin/schedules/{name}/run`: what running it now does, and the form that does it.
pub async fn confirm_run(
    state: web::Data<AppState>,
    operator: Operator,
    name: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let configured = runnable(&state, &name)?;
    view::render(&RunConfirmPage {
        chrome: Chrome::new(&operator, "schedules"),
        schedule: ScheduleView::new(&configured, None, None, Utc::now()),
        nonce: Nonce::mint(),
    })
}

#[derive(Debug, Deserialize)]
pub struct RunForm {
    nonce: Option<String>,
}

/// `POST /admin/schedules/{name}/run`: enqueues the schedule's job now, as a system job the
/// console started, then shows that job.
pub async fn run(
    state: web::Data<AppState>,
    name: web::Path<String>,
    action: Checked<RunForm>,
) -> Result<HttpResponse, AdminError> {
    let schedule = runnable(&state, &name)?.schedule;
    let (operator, form) = (action.operator, action.form);
    // The form's nonce keys the job, so a double submit starts it once.
    let nonce = Nonce::from_form(form.nonce);
    let key = format!("console:{}:{nonce}", schedule.name);
    let trigger = Trigger::console(operator.email());
    let user = operator.user_id();
    let registry = state.engine.registry().clone();
    let enqueued = in_console(&state, move |sys| {
        let enqueued = cron::enqueue_job(sys, &registry, &schedule, key, trigger)?;
        console::audit(
            sys,
            user,
            None,
            "console.schedule.run",
            Some("schedule"),
            Some(&schedule.name),
            json!({
                "job_id": enqueued.id,
                "job_kind": schedule.job_kind,
                "duplicate": enqueued.duplicate,
            }),
        )?;
        Ok(enqueued)
    })
    .await?;
    state.engine.notify().await;
    Ok(view::see_other(&format!("/admin/jobs/{}", enqueued.id)))
}

/// The schedule, if its job can be started in this build (409 when its kind has no job type).
fn runnable(state: &AppState, name: &str) -> Result<cron::Configured, AdminError> {
    let configured = find(state, name)?;
    if configured.off == Some(Off::UnknownKind) {
        return Err(AdminError::Conflict(format!(
            "schedule {name} cannot run here: {}",
            Off::UnknownKind.describe()
        )));
    }
    Ok(configured)
}
