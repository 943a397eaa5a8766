//! `POST /webhooks/mercadopago`: Mercado Pago notifications. Each is a pointer (`?data.id=…&
//! type=payment`) signed in `x-signature` over a manifest of `data.id`, `x-request-id` and `ts`;
//! it is stored, and `process_webhook` reads the payment it names with the seller's access
//! token. The notification's seller (`user_id`) decides its tenant.

use actix_web::{HttpRequest, HttpResponse, web};
use findash_jobs::webhooks::Work;
use findash_jobs::webhooks::mercadopago::{Notification, valid_payment_id};
use findash_schema::webhooks::{NewDelivery, WebhookProvider};
use serde_json::Value;
use sha2::Digest as _;

use super::{Receipt, Received, header, kept_headers, now, signatures, valid_event_id};
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState};

/// Headers kept with a Mercado Pago delivery (plus the query's `data.id` and `type`).
const KEPT: &[&str] = &["content-type", "user-agent", "x-request-id"];

/// Receive a Mercado Pago notification.
///
/// Verifies `x-signature` (`ts=…,v1=…`: HMAC-SHA256 of `id:{data.id};request-id:{x-request-id};
/// ts:{ts};` under the webhook secret, `ts` in seconds or milliseconds within the tolerance),
/// stores the notification once per `x-request-id` (or `data.id` and `ts` without one), and
/// queues reading the payment it names.
#[utoipa::path(post, path = "/webhooks/mercadopago", tag = "webhooks",
    params(
        ("data.id" = Option<String>, Query, description = "The payment (or other resource) the notification is about"),
        ("type" = Option<String>, Query, description = "The resource type, e.g. `payment`"),
        ("x-signature" = String, Header, description = "ts=<ts>,v1=<hex>"),
        ("x-request-id" = Option<String>, Header, description = "Part of the signed manifest"),
    ),
    request_body(content = Object, content_type = "application/json", description = "The notification: id, type, action, user_id, data.id"),
    responses(
        (status = 200, description = "Stored (or stored before: `duplicate`)", body = Received),
        (status = 400, description = "Missing or invalid signature, or not a notification", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 429, description = "Over the webhook rate limit", body = ErrorBody),
        (status = 503, description = "The receiver is not configured, or the database is unreachable", body = ErrorBody),
    ))]
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let receipt = Receipt::new(&state, "mercadopago");
    let config = &state.config.webhooks;
    let Some(secret) = &config.mercadopago else {
        return Err(receipt.disabled());
    };
    let body = receipt.body(payload).await?;
    let (mut data_id, mut kind) = (None, None);
    for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match key.as_ref() {
            "data.id" => data_id = Some(value.into_owned()),
            "type" | "topic" => kind = Some(value.into_owned()),
            _ => {}
        }
    }
    let request_id = header(&req, "x-request-id");
    signatures::mercadopago::verify(
        header(&req, "x-signature"),
        data_id.as_deref(),
        request_id,
        secret,
        config.mercadopago_tolerance_seconds,
        now(),
    )
    .map_err(|e| receipt.invalid_signature(&e))?;

    let notification: Notification = serde_json::from_slice(&body).map_err(|e| {
        receipt.malformed(format!("the body is not a Mercado Pago notification: {e}"))
    })?;
    let kind = kind.or_else(|| notification.kind.clone());
    if kind.as_deref() == Some("payment")
        && let Some(id) = data_id.as_deref().filter(|id| !valid_payment_id(id))
    {
        return Err(receipt.malformed(format!(
            "data.id `{}` is not a payment id",
            id.chars().take(64).collect::<String>()
        )));
    }
    // The inbox key comes from what the signature covers (the body is not signed): the
    // request id, else the resource and the signed `ts` as sent; a digest of them when that is
    // no usable key (e.g. a long resource id of a type that is then ignored).
    let ts = header(&req, "x-signature")
        .and_then(|h| h.split(',').find_map(|p| p.trim().strip_prefix("ts=")))
        .unwrap_or_default();
    let candidate = match request_id {
        Some(id) => id.to_owned(),
        None => format!("{}:{ts}", data_id.as_deref().unwrap_or("-")),
    };
    let event_id = if valid_event_id(&candidate) {
        candidate
    } else {
        let digest = sha2::Sha256::new()
            .chain_update(data_id.as_deref().unwrap_or_default())
            .chain_update(b"\0")
            .chain_update(request_id.unwrap_or_default())
            .chain_update(b"\0")
            .chain_update(ts)
            .finalize();
        format!("sha256:{}", hex::encode(digest))
    };
    let account_ref = notification.user_id.clone().filter(|id| {
        id.len() <= 255
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    let mut headers = kept_headers(&req, KEPT);
    if let Some(id) = data_id {
        let id: String = id.chars().take(256).collect();
        headers.insert("data.id".to_owned(), Value::String(id));
    }
    if let Some(kind) = &kind {
        headers.insert("type".to_owned(), Value::String(kind.clone()));
    }
    let delivery = NewDelivery {
        provider: WebhookProvider::MercadoPago,
        event_id,
        event_type: notification.action.clone().or(kind),
        account_ref,
        tenant: None,
        raw_body: body.to_vec(),
        headers: headers.into(),
    };
    receipt.accept(delivery, Work::Process).await
}
