//! The tenant's webhook inbox: list deliveries, replay one.

// utoipa's expansion of `params(InboxQuery)` spells out a path the lint calls unnecessary.
#![allow(unused_qualifications)]

use actix_web::{HttpResponse, web};
use findash_jobs::webhooks::{self as processing, ReplayError};
use findash_schema::webhooks::{self, DeliverySummary, InboxStatus, WebhookProvider};
use findash_schema::{SystemTask, WebhookId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::error::ErrorBody;
use super::{ApiError, AppState, in_tenant, page_limit};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// stripe, qstash or mercadopago.
    #[param(pattern = "^(stripe|qstash|mercadopago)$")]
    provider: Option<String>,
    /// received, processing, processed, ignored or failed.
    #[param(pattern = "^(received|processing|processed|ignored|failed)$")]
    status: Option<String>,
    /// The `next_before` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    before: Option<WebhookId>,
    /// 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    deliveries: Vec<DeliverySummary>,
    /// Pass as `before` for the next (older) page; null on the last page.
    next_before: Option<uuid::Uuid>,
}

/// The caller's tenant's webhook deliveries (Stripe and Mercado Pago events of its linked
/// accounts), newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", params(InboxQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page", body = DeliveryPage),
        (status = 400, description = "Unreadable query", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "A filter out of range", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let provider = query
        .provider
        .as_deref()
        .map(str::parse::<WebhookProvider>)
        .transpose()
        .map_err(ApiError::invalid)?;
    let status = query
        .status
        .as_deref()
        .map(str::parse::<InboxStatus>)
        .transpose()
        .map_err(ApiError::invalid)?;
    let before = query.before;
    let deliveries = in_tenant(&state, &caller, move |scope| {
        webhooks::list(scope, provider, status, before, limit)
    })
    .await?;
    let next_before = (deliveries.len() as i64 == limit)
        .then(|| deliveries.last().map(|d| d.id))
        .flatten();
    Ok(HttpResponse::Ok().json(DeliveryPage {
        deliveries,
        next_before,
    }))
}

/// A replay that started.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    #[schema(value_type = uuid::Uuid)]
    delivery_id: WebhookId,
    /// The job processing the delivery again.
    #[schema(value_type = uuid::Uuid)]
    job_id: findash_schema::JobId,
}

/// Replay (admins): process a stored delivery again from its stored body, e.g. after a fix.
/// Its effects are keyed by provider object, so a replay never counts anything twice.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/replay", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The delivery's id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued for processing", body = Replayed),
        (status = 400, description = "Not a delivery id", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such delivery in this tenant", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn replay(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let tenant = caller.tenant;
    let registry = state.engine.registry().clone();
    // The inbox is written on the system path only; the delivery must be the caller's tenant's.
    let job = super::in_system(&state, SystemTask::Webhooks, move |sys| {
        processing::replay(sys, &registry, id, Some(tenant))
    })
    .await?
    .map_err(|e| match e {
        ReplayError::NotFound => ApiError::not_found(format!("no webhook delivery {id}")),
        e @ ReplayError::Unfinished { .. } => ApiError::conflict(e.to_string()),
        ReplayError::Engine(findash_engine::EngineError::Db(e)) => ApiError::from_db(&e),
        ReplayError::Engine(e) => ApiError::internal(&format_args!("{e:#}")),
    })?;
    state.engine.notify().await;
    Ok(HttpResponse::Accepted().json(Replayed {
        delivery_id: id,
        job_id: job,
    }))
}
