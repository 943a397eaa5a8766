//! `/api/v1/jobs`: enqueue, list, show, cancel and retry the caller's tenant's jobs. Reads run in
//! the tenant's scope (row-level security), so another tenant's job is simply not found.

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

use super::caller::Caller;
use super::{ApiError, AppState};

/// Maintenance jobs of the deployment, never a tenant's to start.
const SYSTEM_ONLY: &[&str] = &["prune"];
/// What a plain user may start from the dashboard. The dashboard's own actions (sync a
/// connection, recompute a forecast) join this list as their job types land; everything else
/// is for admins.
const USER_KINDS: &[&str] = &[];

const STATES: &[&str] = &[
    "queued",
    "running",
    "retrying",
    "succeeded",
    "dead",
    "cancelled",
    "quarantined",
];

fn may_enqueue(role: Role, kind: &str) -> bool {
    match role {
        Role::Admin => !SYSTEM_ONLY.contains(&kind),
        Role::User => USER_KINDS.contains(&kind),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJobBody {
    kind: String,
    #[serde(default = "empty_object")]
    payload: Value,
    idempotency_key: Option<String>,
    /// Not before this time (RFC 3339); now when absent.
    run_at: Option<DateTime<Utc>>,
}

fn empty_object() -> Value {
    json!({})
}

#[derive(Debug, Serialize)]
struct Created {
    id: JobId,
    /// True when the idempotency key matched an existing job, whose id this is.
    duplicate: bool,
}

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
    if !may_enqueue(caller.role, &body.kind) {
        return Err(ApiError::forbidden(format!(
            "the {} role may not start `{}` jobs",
            caller.role.as_str(),
            body.kind
        )));
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    kind: Option<String>,
    queue: Option<String>,
    /// The `next_before` of the previous page.
    before: Option<JobId>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Page {
    jobs: Vec<JobRow>,
    /// Pass as `before` for the next (older) page; null on the last page.
    next_before: Option<uuid::Uuid>,
}

pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 200"));
    }
    if let Some(s) = &query.state
        && !STATES.contains(&s.as_str())
    {
        return Err(ApiError::invalid(format!(
            "unknown state `{s}` (states: {})",
            STATES.join(", ")
        )));
    }
    let filter = JobFilter {
        state: query.state,
        kind: query.kind,
        queue: query.queue,
        before: query.before,
        limit,
    };
    let db = state.db.clone();
    let jobs = web::block(move || {
        db.tenant(caller.tenant, |scope| {
            ledger::list_jobs(scope, &filter).map_err(EngineError::from)
        })
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(engine_error)?;
    let next_before = (jobs.len() as i64 == limit)
        .then(|| jobs.last().map(|j| j.id))
        .flatten();
    Ok(HttpResponse::Ok().json(Page { jobs, next_before }))
}

#[derive(Debug, Serialize)]
struct Detail {
    job: JobRow,
    attempts: Vec<AttemptRow>,
}

/// The caller's tenant's job `id`, with its attempts.
async fn find(
    state: &AppState,
    caller: &Caller,
    id: JobId,
) -> Result<(JobRow, Vec<AttemptRow>), ApiError> {
    let db = state.db.clone();
    let tenant = caller.tenant;
    web::block(move || {
        db.tenant(tenant, |scope| {
            ledger::get_job(scope, id).map_err(EngineError::from)
        })
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(engine_error)?
    .ok_or_else(|| ApiError::not_found(format!("no job {id}")))
}

pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    let (job, attempts) = find(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Detail { job, attempts }))
}

pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &caller, id.into_inner(), Action::Cancel).await
}

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
        ActionResult::Applied { state } => {
            Ok(HttpResponse::Ok().json(json!({ "id": id, "state": state })))
        }
        ActionResult::CancelRequested => Ok(HttpResponse::Accepted()
            .json(json!({ "id": id, "state": "running", "cancel_requested": true }))),
        ActionResult::NotApplicable { state } => Err(ApiError::conflict(format!(
            "the job is {state}; that action does not apply"
        ))),
        ActionResult::NotFound => Err(ApiError::not_found(format!("no job {id}"))),
    }
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
