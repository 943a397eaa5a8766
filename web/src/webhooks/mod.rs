//! Webhook receivers (Stripe, Upstash QStash, Mercado Pago).
//!
//! Every delivery goes the same way: the body is read up to [`BODY_LIMIT`] (413 beyond), its
//! signature checked over the raw bytes before anything parses it (400 when it does not
//! verify, and nothing is stored), then the delivery and the job that handles it are written in
//! one transaction (`findash_jobs::webhooks::accept`), and the sender gets 200 at once. A
//! duplicate delivery answers 200 and does nothing. Only the headers worth keeping are stored,
//! never a signature or a credential; errors carry no tenant data. Each outcome is counted in
//! `findash_webhooks_total{provider,outcome}`.

pub mod mercadopago;
pub mod qstash;
pub mod signatures;
pub mod stripe;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use findash_engine::EngineError;
use findash_jobs::webhooks::{Accepted, Work, accept};
use findash_schema::SystemTask;
use findash_schema::webhooks::NewDelivery;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::http::{ApiError, AppState};

/// Largest delivery read. Stripe events with expanded objects stay well below it.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Longest header value kept.
const HEADER_VALUE_LIMIT: usize = 256;

/// The provider a webhook path belongs to (for limits and metrics).
pub fn provider_of_path(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/webhooks/")?;
    match rest.split('/').next() {
        Some("stripe") => Some("stripe"),
        Some("qstash") => Some("qstash"),
        Some("mercadopago") => Some("mercadopago"),
        _ => None,
    }
}

/// What a sender is told about an accepted delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    /// Always `true`: the delivery is stored (now or before).
    pub received: bool,
    /// The delivery was stored before: nothing new was done.
    pub duplicate: bool,
    /// The inbox entry.
    #[schema(value_type = String, format = Uuid)]
    pub delivery_id: uuid::Uuid,
}

/// One delivery being received: counts its outcome once.
struct Receipt<'a> {
    state: &'a AppState,
    provider: &'static str,
}

impl<'a> Receipt<'a> {
    fn new(state: &'a AppState, provider: &'static str) -> Receipt<'a> {
        Receipt { state, provider }
    }

    /// Counts `outcome` and passes `error` on.
    fn fail(&self, outcome: &'static str, error: ApiError) -> ApiError {
        self.state.metrics.webhook(self.provider, outcome);
        tracing::info!(
            provider = self.provider,
            outcome,
            status = %actix_web::ResponseError::status_code(&error),
            "webhook refused"
        );
        error
    }

    /// The receiver is off: its secret is not configured. The sender retries later.
    fn disabled(&self) -> ApiError {
        self.fail(
            "disabled",
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "receiver_disabled",
                format!("the {} receiver is not configured", self.provider),
            ),
        )
    }

    /// The signature did not verify.
    fn invalid_signature(&self, error: &signatures::SignatureError) -> ApiError {
        self.fail(
            "invalid_signature",
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_signature",
                format!("the delivery is not verified: {error}"),
            ),
        )
    }

    /// A verified delivery that cannot be read.
    fn malformed(&self, message: String) -> ApiError {
        self.fail("malformed", ApiError::bad_request(message))
    }

    /// The body, at most [`BODY_LIMIT`] bytes.
    async fn body(&self, payload: web::Payload) -> Result<Bytes, ApiError> {
        match payload.to_bytes_limited(BODY_LIMIT).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) => Err(self.fail(
                "malformed",
                ApiError::bad_request(format!("the body cannot be read: {e}")),
            )),
            Err(_) => Err(self.fail("too_large", ApiError::payload_too_large(BODY_LIMIT))),
        }
    }

    /// Stores `delivery` and its `work` in one transaction, wakes the dispatchers, answers.
    async fn accept(&self, delivery: NewDelivery, work: Work) -> Result<HttpResponse, ApiError> {
        let (provider, event_id) = (self.provider, delivery.event_id.clone());
        let accepted = self
            .system(move |sys| accept(sys, delivery, work))
            .await
            .map_err(|e| self.fail("error", e))?;
        if accepted.job.is_some() {
            self.state.engine.notify().await;
        }
        let outcome = if accepted.duplicate {
            "duplicate"
        } else {
            "accepted"
        };
        self.state.metrics.webhook(provider, outcome);
        tracing::info!(provider, event_id, outcome, delivery = %accepted.delivery, "webhook received");
        Ok(received(&accepted))
    }

    /// Runs `f` on the system path: an event's tenant is unknown until its account is looked
    /// up.
    async fn system<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut findash_schema::SystemConn<'_>) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        crate::http::in_system(self.state, SystemTask::Webhooks, f)
            .await?
            .map_err(|e| match e {
                EngineError::Db(e) => ApiError::from_db(&e),
                other => ApiError::internal(&format_args!("{other:#}")),
            })
    }
}

fn received(accepted: &Accepted) -> HttpResponse {
    HttpResponse::Ok().json(Received {
        received: true,
        duplicate: accepted.duplicate,
        delivery_id: accepted.delivery.0,
    })
}

/// The request's `names` headers that are present, as a JSON object (values cut to 256
/// characters). Callers list only headers that carry no secret.
fn kept_headers(req: &HttpRequest, names: &[&str]) -> Map<String, Value> {
    let mut kept = Map::new();
    for name in names {
        if let Some(value) = req.headers().get(*name).and_then(|v| v.to_str().ok()) {
            let value: String = value.chars().take(HEADER_VALUE_LIMIT).collect();
            kept.insert((*name).to_owned(), Value::String(value));
        }
    }
    kept
}

/// A header's value, when it is present and text.
fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Whether `id` can be an inbox key: 1 to 255 printable ASCII characters.
fn valid_event_id(id: &str) -> bool {
    (1..=255).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Seconds since the epoch.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
