//! One webhook delivery: what arrived (the stored headers, never a signature, and the raw event
//! body as received, secrets redacted), how processing went, its job, and replaying it after a
//! confirmation that says what a replay of this provider's deliveries does. A replay waits for
//! the delivery's current job to end (409 until then), and a second submit of one confirmation
//! form finds the replay the first one started.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use findash_engine::EngineError;
use findash_engine::ledger;
use findash_jobs::webhooks::{self as processing, ReplayError, ReplayRequest};
use findash_schema::webhooks::{self, Delivery, WebhookProvider};
use findash_schema::{JobId, WebhookId, console, tenants};
use serde::Deserialize;
use serde_json::{Value, json};

use super::nonce::Nonce;
use super::session::{Checked, Operator};
use super::view::{self, Chrome, JobLink, When};
use super::{AdminError, in_console, redact};
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
    /// Redacted when it is JSON ([`show_body`]).
    body: String,
    /// The body was JSON and is shown pretty-printed.
    body_is_json: bool,
    body_size: String,
    /// What a replay does and what it may do again, for this provider ([`replay_words`]).
    replay_does: String,
    replay_effects: String,
    /// Why a replay has to wait: the delivery's job has not ended.
    replay_waits: Option<String>,
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
        let (replay_does, replay_effects) = replay_words(&d);
        let replay_waits = match (d.job_id, job_state.as_deref()) {
            (Some(job), Some(state)) if ledger::UNFINISHED_STATES.contains(&state) => {
                Some(unfinished(JobId(job), state))
            }
            _ => None,
        };
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
            replay_does,
            replay_effects,
            replay_waits,
        }
    }
}

/// Why a replay cannot start while the delivery's `job` is `state`.
fn unfinished(job: JobId, state: &str) -> String {
    format!(
        "its last run is still under way: job {job} is {state}. Replay once it has ended \
         (or cancel it first)."
    )
}

/// What replaying `delivery` does, and what that means for its effects: true per provider.
/// Stripe and Mercado Pago deliveries are processed into rows keyed by the provider's objects;
/// a QStash delivery is a job to run, and its payload is enqueued again under a new key
/// (`findash_jobs::webhooks::replay_as`).
fn replay_words(delivery: &Delivery) -> (String, String) {
    match delivery.provider() {
        Ok(WebhookProvider::Qstash) => {
            let kind = delivery.event_type.as_deref().unwrap_or("?");
            (
                format!(
                    "Its stored payload is enqueued again as a new {kind} job, under a new key."
                ),
                format!(
                    "A QStash delivery is a job to run, so the {kind} job runs again: whatever it \
                     did the first time (send a message, call a provider, write data) it may do \
                     again, unless that job guards against it itself."
                ),
            )
        }
        _ => (
            format!(
                "The delivery is processed again from its stored body by a new job{}.",
                if delivery.tenant_id.is_none() {
                    ", after looking up its tenant again"
                } else {
                    ""
                }
            ),
            "Its effects are keyed by the provider's objects (charges, invoices, payments), so \
             nothing is counted twice."
                .to_owned(),
        ),
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

/// The body as text: pretty-printed JSON with the values of secret keys hidden, as a job's
/// payload is (a QStash body is a job's payload; a provider's event may carry a client secret),
/// when it is JSON; else its bytes read as UTF-8 with anything that is not replaced (`�`).
fn show_body(raw: &[u8]) -> (String, bool) {
    match serde_json::from_slice::<Value>(raw) {
        Ok(value) => (redact::pretty(&value), true),
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
            Some(t) => tenants::slugs(sys, &[t])?.remove(&t),
            None => None,
        };
        let job_state = match delivery.job_id {
            Some(job) => ledger::find_job(sys, JobId(job))?.map(|job| job.state),
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
        Some("already-replayed") => Some(Notice {
            text: "That form had already been sent: nothing new was queued. Its replay is job",
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
    /// Makes a second submit of this same form find the replay the first one started.
    nonce: Nonce,
}

/// `GET /admin/webhooks/{id}/replay`: what a replay does, and the form that does it (or why it
/// has to wait).
pub async fn confirm_replay(
    state: web::Data<AppState>,
    operator: Operator,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let delivery = DeliveryView::new(load(&state, delivery_id(&id)?).await?);
    view::render(&ReplayConfirmPage {
        chrome: Chrome::new(&operator, "webhooks"),
        delivery,
        nonce: Nonce::mint(),
    })
}

#[derive(Debug, Deserialize)]
pub struct ReplayForm {
    nonce: Option<String>,
}

/// `POST /admin/webhooks/{id}/replay`: processes the delivery again from its stored body (as
/// `findash webhooks replay` does), then back to it with the new job. 409 while its current job
/// has not ended; the same form sent again leads to the job it started, doing nothing more.
pub async fn replay(
    state: web::Data<AppState>,
    id: web::Path<String>,
    action: Checked<ReplayForm>,
) -> Result<HttpResponse, AdminError> {
    let id = delivery_id(&id)?;
    let user = action.operator.user_id();
    let request = ReplayRequest {
        tenant: None,
        after_current_job: true,
        once: Some(Nonce::from_form(action.form.nonce).as_str().to_owned()),
    };
    let registry = state.engine.registry().clone();
    let replayed = in_console(&state, move |sys| {
        let replayed =
            processing::replay_as(sys, &registry, id, &request).map_err(|e| replay_error(id, e))?;
        if !replayed.duplicate {
            // The replay may have resolved the delivery's tenant: read it afterwards.
            let tenant = webhooks::get(sys, id)?.and_then(|d| d.tenant());
            console::audit(
                sys,
                user,
                tenant,
                "console.webhook.replay",
                Some("webhook"),
                Some(&id.to_string()),
                json!({ "job_id": replayed.job }),
            )?;
        }
        Ok(replayed)
    })
    .await?;
    state.engine.notify().await;
    let notice = if replayed.duplicate {
        "already-replayed"
    } else {
        "replayed"
    };
    Ok(view::see_other(&format!(
        "/admin/webhooks/{id}?notice={notice}&job={}",
        replayed.job
    )))
}

fn replay_error(id: WebhookId, e: ReplayError) -> AdminError {
    match e {
        ReplayError::NotFound => AdminError::NotFound(format!("there is no webhook delivery {id}")),
        ReplayError::Unfinished { job, state } => AdminError::Conflict(format!(
            "this delivery cannot be replayed yet: {}",
            unfinished(job, &state)
        )),
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
        let (json, is_json) =
            show_body(br#"{"id":"evt_1","data":{"amount":100,"client_secret":"pi_1_secret_x"}}"#);
        assert!(is_json);
        assert!(json.contains("\n  \"data\": {"), "{json}");
        assert!(json.contains("\"client_secret\": \"[redacted]\""), "{json}");
        assert!(!json.contains("pi_1_secret_x"), "{json}");
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
