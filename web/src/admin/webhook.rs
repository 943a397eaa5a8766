//! One webhook delivery: what arrived (the stored headers, never a signature, and the raw event
//! body as received), how processing went, its job, and replaying it after a confirmation.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use findash_engine::EngineError;
use findash_engine::ledger;
use findash_jobs::webhooks::{self as processing, ReplayError};
use findash_schema::webhooks::{self, Delivery};
use findash_schema::{JobId, WebhookId, console, tenants};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::{Checked, Operator};
use super::view::{self, Chrome, JobLink, When};
use super::{AdminError, in_console};
use crate::http::AppState;

/// A delivery as its page and the replay confirmation show it.
struct DeliveryView {
    id: String,
    href: String,
    provider: String,
    event_id: String,
    event_type: String,
    /// The owning tenant's slug.
    tenant: Option<String>,
    account_ref: Option<String>,
    received: When,
    status: String,
    processed: Option<When>,
    error: Option<String>,
    job: Option<JobLink>,
    replays: i32,
    last_replayed: Option<When>,
    /// `(name, value)`, by name.
    headers: Vec<(String, String)>,
    body: String,
    /// The body was JSON and is shown pretty-printed.
    body_is_json: bool,
    body_size: String,
}

/// What the page needs besides the stored row: who owns it and how its job stands.
struct Loaded {
    delivery: Delivery,
    tenant: Option<String>,
    job_state: Option<String>,
}

impl DeliveryView {
    fn new(loaded: Loaded) -> DeliveryView {
        let now = Utc::now();
        let Loaded {
            delivery: d,
            tenant,
            job_state,
        } = loaded;
        let (body, body_is_json) = show_body(&d.raw_body);
        DeliveryView {
            id: d.id().to_string(),
            href: format!("/admin/webhooks/{}", d.id()),
            provider: d.provider.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone().unwrap_or_default(),
            tenant,
            account_ref: d.account_ref.clone(),
            received: When::new(&d.received_at, now),
            status: d.status.clone(),
            processed: d.processed_at.map(|t| When::new(&t, now)),
            error: d.processing_error.clone(),
            job: d.job_id.map(|id| JobLink::new(JobId(id), job_state)),
            replays: d.replay_count,
            last_replayed: d.last_replayed_at.map(|t| When::new(&t, now)),
            headers: shown_headers(&d.headers),
            body,
            body_is_json,
            body_size: size(d.raw_body.len()),
        }
    }
}

/// The stored headers worth showing. Receivers store an allow-list that never includes a
/// signature or a credential; anything that looks like one is left out here all the same.
fn shown_headers(headers: &Value) -> Vec<(String, String)> {
    let Some(object) = headers.as_object() else {
        return Vec::new();
    };
    let mut shown: Vec<(String, String)> = object
        .iter()
        .filter(|(name, _)| {
            let name = name.to_ascii_lowercase();
            !["signature", "authorization", "cookie", "token", "secret"]
                .iter()
                .any(|word| name.contains(word))
        })
        .map(|(name, value)| {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            (name.clone(), value)
        })
        .collect();
    shown.sort();
    shown
}

/// The body as text: pretty-printed JSON when it is JSON, else its bytes read as UTF-8 with
/// anything that is not replaced (`�`).
fn show_body(raw: &[u8]) -> (String, bool) {
    match serde_json::from_slice::<Value>(raw) {
        Ok(value) => match serde_json::to_string_pretty(&value) {
            Ok(pretty) => (pretty, true),
            Err(_) => (String::from_utf8_lossy(raw).into_owned(), false),
        },
        Err(_) => (String::from_utf8_lossy(raw).into_owned(), false),
    }
}

/// `1234 bytes (1.2 KiB)`.
fn size(bytes: usize) -> String {
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    // Tenths of a KiB, in integers: exact enough for a label.
    let tenths = bytes * 10 / 1024;
    format!("{bytes} bytes ({}.{} KiB)", tenths / 10, tenths % 10)
}

/// The delivery `id` of the path, or 404 (an id that does not parse names no delivery).
fn delivery_id(id: &str) -> Result<WebhookId, AdminError> {
    id.parse()
        .map_err(|_| AdminError::NotFound(format!("there is no webhook delivery {id}")))
}

async fn load(state: &AppState, id: WebhookId) -> Result<Loaded, AdminError> {
    let loaded = in_console(state, move |sys| {
        let Some(delivery) = webhooks::get(sys, id)? else {
            return Ok(None);
        };
        let tenant = match delivery.tenant() {
            Some(t) => tenants::find_by_slug_or_id(sys, &t.to_string())?.map(|t| t.slug),
            None => None,
        };
        let job_state = match delivery.job_id {
            Some(job) => ledger::get_job(sys, JobId(job))?.map(|(job, _)| job.state),
            None => None,
        };
        Ok(Some(Loaded {
            delivery,
            tenant,
            job_state,
        }))
    })
    .await?;
    loaded.ok_or_else(|| AdminError::NotFound(format!("there is no webhook delivery {id}")))
}

/// The notice after a replay: words and the new job.
struct Notice {
    text: &'static str,
    job: Option<JobLink>,
}

#[derive(Debug, Deserialize)]
struct DetailQuery {
    notice: Option<String>,
    job: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/webhook.html")]
struct WebhookPage {
    chrome: Chrome,
    notice: Option<Notice>,
    delivery: DeliveryView,
}

/// `GET /admin/webhooks/{id}`.
pub async fn page(
    state: web::Data<AppState>,
    operator: Operator,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let query: DetailQuery = view::query(&req)?;
    let delivery = DeliveryView::new(load(&state, delivery_id(&id)?).await?);
    let notice = match query.notice.as_deref() {
        Some("replayed") => Some(Notice {
            text: "Replay queued: the delivery is processed again from its stored body by job",
            job: query
                .job
                .and_then(|j| j.parse::<JobId>().ok())
                .map(|j| JobLink::new(j, None)),
        }),
        _ => None,
    };
    view::render(&WebhookPage {
        chrome: Chrome::new(&operator, "webhooks"),
        notice,
        delivery,
    })
}

#[derive(Template)]
#[template(path = "admin/webhook_replay.html")]
struct ReplayConfirmPage {
    chrome: Chrome,
    delivery: DeliveryView,
}

/// `GET /admin/webhooks/{id}/replay`: what a replay does, and the form that does it.
pub async fn confirm_replay(
    state: web::Data<AppState>,
    operator: Operator,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let delivery = DeliveryView::new(load(&state, delivery_id(&id)?).await?);
    view::render(&ReplayConfirmPage {
        chrome: Chrome::new(&operator, "webhooks"),
        delivery,
    })
}

/// `POST /admin/webhooks/{id}/replay`: processes the delivery again from its stored body (as
/// `findash webhooks replay` does), then back to it with the new job.
pub async fn replay(
    state: web::Data<AppState>,
    id: web::Path<String>,
    action: Checked<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AdminError> {
    let id = delivery_id(&id)?;
    let user = action.operator.user_id();
    let registry = state.engine.registry().clone();
    let job = in_console(&state, move |sys| {
        let job = processing::replay(sys, &registry, id, None).map_err(|e| replay_error(id, e))?;
        // The replay may have resolved the delivery's tenant: read it afterwards.
        let tenant = webhooks::get(sys, id)?.and_then(|d| d.tenant());
        console::audit(
            sys,
            user,
            tenant,
            "console.webhook.replay",
            Some("webhook"),
            Some(&id.to_string()),
            json!({ "job_id": job }),
        )?;
        Ok(job)
    })
    .await?;
    state.engine.notify().await;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/admin/webhooks/{id}?notice=replayed&job={job}"),
        ))
        .finish())
}

fn replay_error(id: WebhookId, e: ReplayError) -> AdminError {
    match e {
        ReplayError::NotFound => AdminError::NotFound(format!("there is no webhook delivery {id}")),
        // What is stored cannot become a job in this build (a QStash kind or payload it no
        // longer takes): nothing to retry until that changes.
        ReplayError::Engine(
            e @ (EngineError::Invalid(_)
            | EngineError::UnknownKind(_)
            | EngineError::InvalidPayload { .. }),
        ) => AdminError::Conflict(format!("this delivery cannot be replayed: {e}")),
        ReplayError::Engine(e) => AdminError::internal(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_show_as_pretty_json_or_as_text() {
        let (json, is_json) = show_body(br#"{"id":"evt_1","data":{"amount":100}}"#);
        assert!(is_json);
        assert!(json.contains("\n  \"data\": {"), "{json}");
        let (text, is_json) = show_body(b"a=1&b=\xff");
        assert!(!is_json);
        assert_eq!(text, "a=1&b=\u{fffd}");
        assert_eq!(size(512), "512 bytes");
        assert_eq!(size(1536), "1536 bytes (1.5 KiB)");
    }

    #[test]
    fn nothing_like_a_signature_is_shown() {
        let headers = json!({
            "user-agent": "Stripe/1.0",
            "Stripe-Signature": "t=1,v1=abc",
            "upstash-signature": "jwt",
            "x-signature": "ts=1,v1=abc",
            "authorization": "Bearer x",
            "x-request-id": "req_1",
        });
        assert_eq!(
            shown_headers(&headers),
            vec![
                ("user-agent".to_owned(), "Stripe/1.0".to_owned()),
                ("x-request-id".to_owned(), "req_1".to_owned()),
            ]
        );
    }
}
