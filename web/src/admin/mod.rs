//! The admin console under `/admin`: what an operator opens when something is wrong.
//!
//! Server-rendered HTML (askama templates in `web/templates/admin/`), progressively enhanced by
//! htmx (vendored, `web/assets/admin/`): every page and action works as plain links and forms;
//! htmx adds live refresh without full reloads. It shows the whole deployment (every tenant), so
//! it reads and acts on the system path, and only operators of the deployment may sign in.
//!
//! Every page takes a [`session::Operator`] (signed in, or redirected to sign in); every action
//! takes a [`session::Checked`] form (the session's CSRF token) and is written to the audit log.
//! Actions that cannot be undone ask for confirmation on a page of their own first.

mod assets;
mod bulk;
mod chart;
mod dead;
mod error;
mod freshness;
mod job;
mod job_filter;
mod jobs;
mod login;
mod nonce;
mod notice;
mod overview;
mod overview_panels;
mod rate_limits;
mod redact;
mod schedule;
mod schedules;
pub mod session;
pub mod view;
mod webhook;
mod webhooks;
mod workflow;
mod workflows;

use actix_web::web;
use findash_schema::{SystemConn, SystemTask};

pub use error::AdminError;

use crate::http::AppState;

/// The sign-in page.
pub const LOGIN_PATH: &str = "/admin/login";

/// Runs `f` on the console's system path (every tenant), on the blocking pool, behind the app's
/// connection slots.
pub(crate) async fn in_console<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut SystemConn<'_>) -> Result<T, AdminError> + Send + 'static,
) -> Result<T, AdminError> {
    crate::http::in_system(state, SystemTask::Admin, f)
        .await
        .map_err(|e| AdminError::internal(&e))?
}

/// The console's routes, mounted by the app's route table.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .route("", web::get().to(overview::page))
            .route("/", web::get().to(overview::page))
            .route("/overview/live", web::get().to(overview::live_panels))
            .route("/freshness", web::get().to(freshness::page))
            .route("/rate-limits", web::get().to(rate_limits::page))
            .route("/login", web::get().to(login::form))
            .route("/login", web::post().to(login::submit))
            .route("/logout", web::post().to(login::logout))
            .route("/assets/{name}", web::get().to(assets::serve))
            .route("/jobs", web::get().to(jobs::page))
            // Before `/jobs/{id}/{action}`, which would take `bulk` for a job id.
            .route("/jobs/bulk/{action}", web::get().to(bulk::confirm))
            .route("/jobs/bulk/{action}", web::post().to(bulk::perform))
            .route("/jobs/{id}", web::get().to(job::page))
            .route("/jobs/{id}/{action}", web::get().to(job::confirm))
            .route("/jobs/{id}/{action}", web::post().to(job::perform))
            .route("/dead", web::get().to(dead::page))
            .route("/schedules", web::get().to(schedules::page))
            .route("/schedules/{name}", web::get().to(schedule::page))
            .route("/schedules/{name}/pause", web::post().to(schedule::pause))
            .route("/schedules/{name}/resume", web::post().to(schedule::resume))
            .route(
                "/schedules/{name}/run",
                web::get().to(schedule::confirm_run),
            )
            .route("/schedules/{name}/run", web::post().to(schedule::run))
            .route("/workflows", web::get().to(workflows::page))
            .route("/workflows/{id}", web::get().to(workflow::page))
            .route("/webhooks", web::get().to(webhooks::page))
            .route("/webhooks/{id}", web::get().to(webhook::page))
            .route(
                "/webhooks/{id}/replay",
                web::get().to(webhook::confirm_replay),
            )
            .route("/webhooks/{id}/replay", web::post().to(webhook::replay))
            .default_service(web::to(not_found)),
    );
}

async fn not_found(
    _: session::Operator,
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, AdminError> {
    Err(AdminError::NotFound(format!(
        "there is no console page at {}",
        req.path()
    )))
}
