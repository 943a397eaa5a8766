//! The OpenAPI 3.1 document (`GET /api/v1/openapi.json`), generated from the handlers'
//! `#[utoipa::path]` annotations and the types' `ToSchema` derives, so it cannot drift from the
//! code it describes; a test checks it lists every route of the route table.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::dashboard::{cards, expenses, export, findings, forecast, revenue, summary};
use super::{accounts, docs, error, health, jobs, metrics, notifications, webhooks};
use crate::webhooks as receivers;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "FinDash API",
        description = "The dashboard's and operators' API. Every `/api/v1` route needs a bearer \
                       token (`findash token`) and works inside the token's tenant only. Every \
                       response carries `X-Request-Id`; every error has the `ErrorBody` shape.",
    ),
    paths(
        health::healthz,
        health::readyz,
        metrics::metrics,
        summary::summary,
        accounts::list,
        accounts::transactions,
        revenue::revenue,
        expenses::expenses,
        cards::cards,
        forecast::forecast,
        findings::findings,
        export::transactions_csv,
        jobs::enqueue,
        jobs::list,
        jobs::show,
        jobs::cancel,
        jobs::retry,
        notifications::show,
        notifications::replace,
        notifications::confirm,
        notifications::unsubscribe,
        webhooks::list,
        webhooks::replay,
        receivers::stripe::receive,
        receivers::qstash::receive,
        receivers::mercadopago::receive,
        document,
        docs::page,
        docs::script,
        docs::style,
        docs::init,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, receivers::qstash::QstashKind)),
    modifiers(&BearerAuth, &ServerErrors),
    tags(
        (name = "dashboard", description = "What the dashboard shows: summary, accounts and transactions, revenue, expenses, cards, forecast, data-quality findings, CSV export. Aggregates are cached per tenant (`X-Cache`: hit, miss or bypass) and invalidated by the jobs that change them."),
        (name = "jobs", description = "Start, inspect, cancel and retry jobs"),
        (name = "notifications", description = "Which emails the calling user receives, and the unsubscribe page an email's link opens (no bearer token: the link's signed token names the user and can only turn email off)"),
        (name = "webhooks", description = "Receivers for Stripe, Upstash QStash and Mercado Pago (no bearer token: each delivery is verified by its sender's signature over the raw body), and the tenant's inbox with replay"),
        (name = "operations", description = "Probes, metrics and this document"),
    ),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every API operation can fail on our side (500 `internal`) or while PostgreSQL is unreachable
/// (503 `unavailable`, with `Retry-After`); both are declared once here rather than on each path.
struct ServerErrors;

impl Modify for ServerErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let api = path.starts_with("/api/v1/") && !path.starts_with("/api/v1/docs");
            if !api && !path.starts_with("/webhooks/") && !path.starts_with("/email/") {
                continue;
            }
            for operation in [&mut item.get, &mut item.post, &mut item.put]
                .into_iter()
                .flatten()
            {
                let responses = &mut operation.responses.responses;
                responses
                    .entry("500".to_owned())
                    .or_insert_with(|| error("Failed on our side (quote the request id)").into());
                responses.entry("503".to_owned()).or_insert_with(|| {
                    error("A dependency is unavailable; retry after `Retry-After` seconds").into()
                });
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses(
    (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object),
))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
