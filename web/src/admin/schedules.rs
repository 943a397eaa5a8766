//! The schedules: every schedule this deployment knows (the built-in ones with `CRON_SCHEDULES`
//! applied, as the scheduler ticks them), when each fires next, whether an operator paused it,
//! and how its last tick went. Pausing, resuming and running by hand are in `schedule`.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use findash_engine::cron::{self, Configured, Off, Pause, Tick};
use serde::Deserialize;

use super::session::Operator;
use super::view::{self, Chrome, JobLink, When};
use super::{AdminError, in_console};
use crate::http::AppState;

/// A schedule as the list and its page show it.
pub(super) struct ScheduleView {
    pub name: String,
    pub href: String,
    pub expression: String,
    pub job_kind: String,
    /// Why it does not run here, when it does not.
    pub off: Option<&'static str>,
    /// The kind has a job type here: it can be run by hand.
    pub runnable: bool,
    pub next: Option<When>,
    pub paused: Option<PausedView>,
    pub last: Option<TickView>,
}

pub(super) struct PausedView {
    pub at: When,
    pub by: String,
}

/// A recorded tick.
pub(super) struct TickView {
    pub fire_at: When,
    pub outcome: String,
    pub job: Option<JobLink>,
    pub error: Option<String>,
}

impl TickView {
    pub(super) fn new(tick: &Tick, now: DateTime<Utc>) -> TickView {
        TickView {
            fire_at: When::new(&tick.fire_at, now),
            outcome: tick.outcome.clone(),
            job: tick
                .job_id
                .map(|id| JobLink::new(id, tick.job_state.clone())),
            error: tick.error.clone(),
        }
    }
}

impl ScheduleView {
    pub(super) fn new(
        configured: &Configured,
        pause: Option<&Pause>,
        last: Option<&Tick>,
        now: DateTime<Utc>,
    ) -> ScheduleView {
        let schedule = &configured.schedule;
        ScheduleView {
            name: schedule.name.clone(),
            href: format!("/admin/schedules/{}", schedule.name),
            expression: schedule.expression.clone(),
            job_kind: schedule.job_kind.clone(),
            off: configured.off.map(Off::describe),
            runnable: configured.off != Some(Off::UnknownKind),
            next: configured
                .off
                .is_none()
                .then(|| schedule.next_after(now))
                .flatten()
                .map(|t| When::new(&t, now)),
            paused: pause.filter(|p| p.paused).map(|p| PausedView {
                at: When::new(&p.paused_at.unwrap_or(p.updated_at), now),
                by: p.paused_by.clone().unwrap_or_default(),
            }),
            last: last.map(|t| TickView::new(t, now)),
        }
    }
}

/// The schedule named `name` as this deployment configures it; 404 when there is none.
pub(super) fn find(state: &AppState, name: &str) -> Result<Configured, AdminError> {
    state
        .engine
        .schedules()?
        .into_iter()
        .find(|c| c.schedule.name == name)
        .ok_or_else(|| AdminError::NotFound(format!("there is no schedule named {name}")))
}

/// What a notice key says, once an action came back here.
pub(super) fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "paused" => {
            Some("Schedule paused: its ticks are recorded as skipped_paused until it is resumed.")
        }
        "resumed" => Some("Schedule resumed: its next tick enqueues its job again."),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct NoticeQuery {
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/schedules.html")]
struct SchedulesPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    schedules: Vec<ScheduleView>,
}

/// `GET /admin/schedules`.
pub async fn page(
    state: web::Data<AppState>,
    operator: Operator,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let query: NoticeQuery = view::query(&req)?;
    let configured = state.engine.schedules()?;
    let names: Vec<String> = configured.iter().map(|c| c.schedule.name.clone()).collect();
    let (pauses, ticks) = in_console(&state, move |sys| {
        Ok((cron::pauses(sys)?, cron::last_ticks(sys, &names)?))
    })
    .await?;
    let now = Utc::now();
    let schedules = configured
        .iter()
        .map(|c| {
            let name = &c.schedule.name;
            ScheduleView::new(
                c,
                pauses.iter().find(|p| &p.name == name),
                ticks.iter().find(|t| &t.schedule == name),
                now,
            )
        })
        .collect();
    view::render(&SchedulesPage {
        chrome: Chrome::new(&operator, "schedules"),
        notice: notice_text(query.notice.as_deref()),
        schedules,
    })
}
