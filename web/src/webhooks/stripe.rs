//! `POST /webhooks/stripe`: Stripe events, signed with the endpoint secret (current, or the
//! previous one during a roll), stored and processed into revenue by `process_webhook`.

use actix_web::{HttpRequest, HttpResponse, web};
use findash_jobs::webhooks::Work;
use findash_jobs::webhooks::stripe::Envelope;
use findash_schema::webhooks::{NewDelivery, WebhookProvider};
use secrecy::SecretString;

use super::{Receipt, Received, header, kept_headers, now, signatures, valid_event_id};
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState};

/// Headers kept with a Stripe delivery.
const KEPT: &[&str] = &["content-type", "user-agent"];

/// Receive a Stripe event.
///
/// Verifies `Stripe-Signature` over the raw body (any `v1` under the current or previous
/// endpoint secret, timestamp within the tolerance), stores the event once per event id, and
/// queues its processing. The event's connected account (`account`; `platform` without one)
/// decides its tenant.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "webhooks",
    params(("Stripe-Signature" = String, Header, description = "t=<unix>,v1=<hex>[,v1=<hex>…]")),
    request_body(content = Object, content_type = "application/json", description = "A Stripe event object"),
    responses(
        (status = 200, description = "Stored (or stored before: `duplicate`)", body = Received),
        (status = 400, description = "Missing, invalid or expired signature, or not an event", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 429, description = "Over the webhook rate limit", body = ErrorBody),
        (status = 503, description = "The receiver is not configured, or the database is unreachable", body = ErrorBody),
    ))]
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let receipt = Receipt::new(&state, "stripe");
    let config = &state.config.webhooks;
    let Some(current) = &config.stripe else {
        return Err(receipt.disabled());
    };
    let body = receipt.body(payload).await?;
    let secrets: Vec<&SecretString> = std::iter::once(current)
        .chain(config.stripe_previous.as_ref())
        .collect();
    signatures::stripe::verify(
        &body,
        header(&req, "stripe-signature"),
        &secrets,
        config.stripe_tolerance_seconds,
        now(),
    )
    .map_err(|e| receipt.invalid_signature(&e))?;
    let event: Envelope = serde_json::from_slice(&body)
        .map_err(|e| receipt.malformed(format!("the body is not a Stripe event: {e}")))?;
    if !valid_event_id(&event.id) {
        return Err(receipt.malformed("the event id is not valid".to_owned()));
    }
    let delivery = NewDelivery {
        provider: WebhookProvider::Stripe,
        account_ref: Some(event.account_ref().to_owned()),
        event_id: event.id,
        event_type: Some(event.kind),
        tenant: None,
        raw_body: body.to_vec(),
        headers: kept_headers(&req, KEPT).into(),
    };
    receipt.accept(delivery, Work::Process).await
}
