//! `POST /webhooks/qstash/{kind}`: Upstash QStash messages (schedules, delayed publishes) that
//! start a deployment-wide job. `{kind}` is one of [`KINDS`]; the body is the job's payload (a
//! JSON object; empty means `{}`); `Upstash-Message-Id` makes each message one job however often
//! QStash delivers it. A message that can never succeed gets 489 with
//! `Upstash-NonRetryable-Error: true`, so QStash sends it to its dead-letter queue at once
//! instead of retrying.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use findash_engine::EngineError;
use findash_jobs::webhooks::Work;
use findash_schema::webhooks::{NewDelivery, WebhookProvider};
use secrecy::SecretString;
use serde_json::Value;

use super::{Receipt, Received, header, kept_headers, signatures, valid_event_id};
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState};

/// The job kinds QStash may start, by the name in the URL: deployment-wide jobs only (no
/// tenant's job can be started from outside).
pub const KINDS: &[(&str, &str)] = &[("refresh-rates", "refresh_rates"), ("prune", "prune")];

/// The `{kind}`s of [`KINDS`], for the OpenAPI document.
#[derive(utoipa::ToSchema)]
pub enum QstashKind {
    #[schema(rename = "refresh-rates")]
    RefreshRates,
    #[schema(rename = "prune")]
    Prune,
}

/// Headers kept with a QStash delivery.
const KEPT: &[&str] = &[
    "content-type",
    "user-agent",
    "upstash-message-id",
    "upstash-retried",
    "upstash-schedule-id",
    "upstash-topic-name",
    "upstash-caller-ip",
];

/// Longest `Upstash-Message-Id` accepted (QStash's are `msg_` and a few dozen characters).
const MAX_MESSAGE_ID: usize = 200;

/// QStash's status for "never retry this message".
pub const NON_RETRYABLE: u16 = 489;

/// Receive a QStash message that starts a job.
///
/// Verifies `Upstash-Signature` (HS256 JWT from `Upstash` for exactly this URL, within its
/// validity, over this body; the current signing key, then the next), then enqueues `{kind}`
/// with the body as its payload, once per `Upstash-Message-Id`.
#[utoipa::path(post, path = "/webhooks/qstash/{kind}", tag = "webhooks",
    params(
        ("kind" = QstashKind, Path, description = "The job to start"),
        ("Upstash-Signature" = String, Header, description = "The JWT QStash signs each delivery with"),
        ("Upstash-Message-Id" = String, Header, description = "QStash's message id: one job per message"),
    ),
    request_body(content = Object, content_type = "application/json", description = "The job's payload (empty: `{}`)"),
    responses(
        (status = 200, description = "The job is queued (or was: `duplicate`)", body = Received),
        (status = 400, description = "Missing or invalid signature", body = ErrorBody),
        (status = 404, description = "No such job kind", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 429, description = "Over the webhook rate limit", body = ErrorBody),
        (status = 489, description = "Verified, but can never succeed (no message id, or a payload that does not fit the job): `Upstash-NonRetryable-Error: true`", body = ErrorBody),
        (status = 503, description = "The receiver is not configured, or the database is unreachable", body = ErrorBody),
    ))]
pub async fn receive(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let receipt = Receipt::new(&state, "qstash");
    let name = path.into_inner();
    let Some(&(_, kind)) = KINDS.iter().find(|(n, _)| *n == name) else {
        return Err(receipt.fail(
            "unknown_kind",
            ApiError::not_found("no job of that kind can be started through QStash"),
        ));
    };
    let config = &state.config.webhooks;
    let Some(current) = &config.qstash_current else {
        return Err(receipt.disabled());
    };
    let body = receipt.body(payload).await?;
    let keys: Vec<&SecretString> = std::iter::once(current)
        .chain(config.qstash_next.as_ref())
        .collect();
    let url = format!(
        "{}/webhooks/qstash/{name}",
        state.config.public_base_url.as_str().trim_end_matches('/')
    );
    signatures::qstash::verify(
        &body,
        header(&req, "upstash-signature"),
        &url,
        &keys,
        config.qstash_leeway_seconds,
    )
    .map_err(|e| receipt.invalid_signature(&e))?;

    // Bounded so `qstash:<id>:replay:<n>` fits the ledger's idempotency key.
    let Some(message_id) = header(&req, "upstash-message-id")
        .filter(|id| valid_event_id(id) && id.len() <= MAX_MESSAGE_ID)
    else {
        return Ok(non_retryable(
            &receipt,
            "the delivery has no valid Upstash-Message-Id".to_owned(),
        ));
    };
    let payload: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        match serde_json::from_slice(&body) {
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => {
                return Ok(non_retryable(
                    &receipt,
                    "the payload is not a JSON object".to_owned(),
                ));
            }
            Err(e) => {
                return Ok(non_retryable(
                    &receipt,
                    format!("the payload is not JSON: {e}"),
                ));
            }
        }
    };
    let job = match state.engine.registry().new_job(kind, payload) {
        Ok(job) => job,
        Err(EngineError::InvalidPayload { message, .. }) => {
            return Ok(non_retryable(
                &receipt,
                format!("the payload does not fit `{kind}`: {message}"),
            ));
        }
        // An allowed kind this build does not register: like an unknown kind.
        Err(_) => {
            return Err(receipt.fail(
                "unknown_kind",
                ApiError::not_found("no job of that kind can be started through QStash"),
            ));
        }
    };
    let delivery = NewDelivery {
        provider: WebhookProvider::Qstash,
        event_id: message_id.to_owned(),
        event_type: Some(kind.to_owned()),
        account_ref: None,
        tenant: None,
        raw_body: body.to_vec(),
        headers: kept_headers(&req, KEPT).into(),
    };
    receipt.accept(delivery, Work::Run(job)).await
}

/// 489 with `Upstash-NonRetryable-Error: true`: QStash fails the message now.
fn non_retryable(receipt: &Receipt<'_>, message: String) -> HttpResponse {
    let status = StatusCode::from_u16(NON_RETRYABLE).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let error = receipt.fail(
        "non_retryable",
        ApiError::new(status, "non_retryable", message),
    );
    let mut response = error.error_response();
    response.headers_mut().insert(
        HeaderName::from_static("upstash-nonretryable-error"),
        HeaderValue::from_static("true"),
    );
    response
}
