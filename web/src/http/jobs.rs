//! `/api/v1/jobs`: enqueue, list, show, cancel and retry the caller's tenant's jobs. Reads run in
//! the tenant's scope (row-level security), so another tenant's job is simply not found.
// utoipa's expansion of `params(ListQuery)` spells out a path the lint calls unnecessary.
#![allow(unused_qualifications)]

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use findash_engine::EngineError;
use findash_engine::ledger::{
    self, Action, ActionResult, AttemptRow, EnqueueOptions, JobFilter, JobRow, Trigger,
};
use findash_schema::JobId;
use findash_schema::users::Role;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::error::ErrorBody;
use super::{ApiError, AppState, in_tenant, page_limit};

/// Jobs of the deployment (maintenance, shared reference data, work over every tenant), never a
/// tenant's to start.
const SYSTEM_ONLY: &[&str] = &[
    "prune",
    "refresh_rates",
    "daily_pipeline",
    "dq_all",
    "forecast_all",
    "daily_summary_all",
];
/// What a plain user may start from the dashboard: refreshing a connection or an account, and
/// categorizing again after editing rules. The job runs in the caller's tenant, so another
/// tenant's connection id is simply not found. Everything else is for admins.
const USER_KINDS: &[&str] = &["sync_connection", "sync_account", "categorize"];

fn may_enqueue(role: Role, kind: &str) -> bool {
    match role {
        Role::Admin => !SYSTEM_ONLY.contains(&kind),
        Role::User => USER_KINDS.contains(&kind),
    }
}

/// A job to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJobBody {
    #[schema(example = "noop")]
    kind: String,
    /// The job type's payload (an object); `{}` when absent.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    payload: Value,
    /// The same key for the same kind returns the existing job (1–255 characters).
    idempotency_key: Option<String>,
    /// Not before this time (RFC 3339); now when absent.
    run_at: Option<DateTime<Utc>>,
}

/// Whether a string or key anywhere in `value` holds a NUL character.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    #[schema(value_type = uuid::Uuid)]
    id: JobId,
    /// True when the idempotency key matched an existing job, whose id this is.
    duplicate: bool,
}

/// Start a job in the caller's tenant.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = NewJobBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Enqueued", body = Created),
        (status = 200, description = "The idempotency key matched an existing job", body = Created),
        (status = 400, description = "Unreadable body", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The role may not start this kind", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Unknown kind, or a payload that does not fit it", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn enqueue(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewJobBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if state.engine.registry().get(&body.kind).is_none() {
        return Err(ApiError::invalid(format!(
            "unknown job kind `{}`",
            body.kind
        )));
    }
    if !body.payload.is_object() {
        return Err(ApiError::invalid("payload must be a JSON object"));
    }
    // JSON's \u0000 is valid JSON and still cannot be stored in PostgreSQL's jsonb.
    if holds_nul(&body.payload) {
        return Err(ApiError::invalid("payload must not contain NUL characters"));
    }
    if !may_enqueue(caller.role, &body.kind) {
        return Err(ApiError::forbidden(format!(
            "the {} role may not start `{}` jobs",
            caller.role.as_str(),
            body.kind
        )));
    }
    if let Some(key) = &body.idempotency_key {
        super::reject_nul("idempotency_key", key)?;
    }
    if let Some(key) = &body.idempotency_key
        && !(1..=255).contains(&key.chars().count())
    {
        return Err(ApiError::invalid(
            "idempotency_key must be 1 to 255 characters",
        ));
    }
    let row = state
        .engine
        .registry()
        .new_job(&body.kind, body.payload)
        .map_err(engine_error)?;
    let mut options = EnqueueOptions::new(Trigger::new("api", Some(caller.user.clone())));
    options.idempotency_key = body.idempotency_key;
    options.run_at = body.run_at;
    let enqueued = state
        .engine
        .enqueue_rows(Some(caller.tenant), vec![row], options)
        .await
        .map_err(engine_error)?
        .pop()
        .ok_or_else(|| ApiError::internal(&"enqueue returned no row"))?;
    let status = if enqueued.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(HttpResponse::build(status).json(Created {
        id: enqueued.id,
        duplicate: enqueued.duplicate,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// queued, running, retrying, succeeded, dead, cancelled or quarantined.
    #[param(pattern = "^(queued|running|retrying|succeeded|dead|cancelled|quarantined)$")]
    state: Option<String>,
    kind: Option<String>,
    queue: Option<String>,
    /// The `next_before` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    before: Option<JobId>,
    /// 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page {
    jobs: Vec<JobRow>,
    /// Pass as `before` for the next (older) page; null on the last page.
    next_before: Option<uuid::Uuid>,
}

/// The caller's tenant's jobs, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page", body = Page),
        (status = 400, description = "Unreadable query", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 422, description = "A filter out of range", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    if let Some(s) = &query.state
        && !ledger::JOB_STATES.contains(&s.as_str())
    {
        return Err(ApiError::invalid(format!(
            "unknown state `{s}` (states: {})",
            ledger::JOB_STATES.join(", ")
        )));
    }
    for (name, value) in [("kind", &query.kind), ("queue", &query.queue)] {
        if let Some(value) = value {
            super::reject_nul(name, value)?;
        }
    }
    let filter = JobFilter {
        states: query.state.into_iter().collect(),
        kind: query.kind,
        queue: query.queue,
        before: query.before,
        limit,
        ..JobFilter::default()
    };
    let jobs = in_tenant(&state, &caller, move |scope| {
        ledger::list_jobs(scope, &filter)
    })
    .await?;
    let next_before = (jobs.len() as i64 == limit)
        .then(|| jobs.last().map(|j| j.id))
        .flatten();
    Ok(HttpResponse::Ok().json(Page { jobs, next_before }))
}

/// A job and every attempt of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Detail {
    job: JobRow,
    attempts: Vec<AttemptRow>,
}

/// The caller's tenant's job `id`, with its attempts.
async fn find(
    state: &AppState,
    caller: &Caller,
    id: JobId,
) -> Result<(JobRow, Vec<AttemptRow>), ApiError> {
    in_tenant(state, caller, move |scope| ledger::get_job(scope, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))
}

/// One job of the caller's tenant with its attempts.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "The job's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The job", body = Detail),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such job in this tenant", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    let (job, attempts) = find(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Detail { job, attempts }))
}

/// Cancel: a queued or retrying job never runs; a running one is asked to stop.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "The job's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = ActionDone),
        (status = 202, description = "Running: its worker was asked to stop", body = ActionDone),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 404, description = "No such job in this tenant", body = ErrorBody),
        (status = 409, description = "The job already ended", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &caller, id.into_inner(), Action::Cancel).await
}

/// Retry (admins): a dead, cancelled or quarantined job runs again with fresh attempts.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "The job's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Queued again", body = ActionDone),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such job in this tenant", body = ErrorBody),
        (status = 409, description = "The job is not dead, cancelled or quarantined", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn retry(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    act(&state, &caller, id.into_inner(), Action::Retry).await
}

async fn act(
    state: &AppState,
    caller: &Caller,
    id: JobId,
    action: Action,
) -> Result<HttpResponse, ApiError> {
    // Only a job the caller's tenant can see; the action itself runs on the system path.
    find(state, caller, id).await?;
    match state.engine.act(id, action).await.map_err(engine_error)? {
        ActionResult::Applied { state } => Ok(HttpResponse::Ok().json(ActionDone {
            id,
            state,
            cancel_requested: false,
        })),
        ActionResult::CancelRequested => Ok(HttpResponse::Accepted().json(ActionDone {
            id,
            state: "running".to_owned(),
            cancel_requested: true,
        })),
        ActionResult::NotApplicable { state } => Err(ApiError::conflict(format!(
            "the job is {state}; that action does not apply"
        ))),
        ActionResult::NotFound => Err(ApiError::not_found(format!("no job {id}"))),
    }
}

/// What an operator action did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionDone {
    #[schema(value_type = uuid::Uuid)]
    id: JobId,
    /// The job's state now.
    state: String,
    /// A running job was asked to stop; its worker ends it `cancelled`.
    cancel_requested: bool,
}

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::UnknownKind(kind) => ApiError::invalid(format!("unknown job kind `{kind}`")),
        EngineError::InvalidPayload { kind, message } => {
            ApiError::invalid(format!("the payload does not fit `{kind}`: {message}"))
        }
        other => ApiError::internal(&format_args!("{other:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_over_every_tenant_is_never_a_tenants_to_start() {
        for kind in SYSTEM_ONLY {
            assert!(!may_enqueue(Role::Admin, kind), "{kind}");
            assert!(!may_enqueue(Role::User, kind), "{kind}");
        }
        for kind in [
            "daily_pipeline",
            "dq_all",
            "forecast_all",
            "daily_summary_all",
        ] {
            assert!(SYSTEM_ONLY.contains(&kind), "{kind}");
        }
        assert!(may_enqueue(Role::Admin, "dq_check"));
        assert!(may_enqueue(Role::User, "sync_connection"));
    }
}
