//! Which emails a user receives: `GET`/`PUT /api/v1/notifications` for the calling user's own
//! preferences, and `/email/unsubscribe`, the page an email's unsubscribe link opens.
//!
//! The unsubscribe page needs no bearer token: the signed token in the link names the user,
//! tenant and topic, and can only ever turn email off. `GET` shows a confirmation form and never
//! changes anything (mail scanners follow links); `POST` unsubscribes, from that form
//! (`token=…`) or as a one-click request (RFC 8058: token in the query, body
//! `List-Unsubscribe=One-Click`). The pages show nothing of the tenant or the user.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use findash_jobs::email::{Unsubscribe, UnsubscribeKey};
use findash_schema::email::{self, Preferences, Topic};
use findash_schema::{DbError, SystemTask, UserId};

use super::caller::Caller;
use super::error::ErrorBody;
use super::{ApiError, AppState, JSON_LIMIT, in_system, in_tenant};

/// The calling user's email preferences.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The preferences (all on until changed)", body = Preferences),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token names no user of its tenant", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn show(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let user = user_of(&caller)?;
    let preferences = in_tenant(&state, &caller, move |scope| {
        email::preferences(scope, user)
    })
    .await?
    .ok_or_else(no_user)?;
    Ok(HttpResponse::Ok().json(preferences))
}

/// Replace the calling user's email preferences.
#[utoipa::path(put, path = "/api/v1/notifications", tag = "notifications",
    request_body = Preferences,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stored preferences", body = Preferences),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 422, description = "JSON of another shape: a field missing, unknown or of the wrong type", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token names no user of its tenant", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn replace(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let user = user_of(&caller)?;
    let preferences = read_preferences(&req, body)?;
    let stored = in_tenant(&state, &caller, move |scope| {
        email::set_preferences(scope, user, preferences)
    })
    .await?;
    if !stored {
        return Err(no_user());
    }
    Ok(HttpResponse::Ok().json(preferences))
}

/// The body of a `PUT`: exactly both fields, both booleans, never partly applied. Like every
/// JSON route: a body that is not JSON is 400, JSON of another shape (a field missing, unknown or
/// of the wrong type) is 422.
fn read_preferences(
    req: &HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<Preferences, ApiError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    let body = body.map_err(|e| {
        if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(JSON_LIMIT)
        } else {
            ApiError::bad_request("the body cannot be read")
        }
    })?;
    if body.len() > JSON_LIMIT {
        return Err(ApiError::payload_too_large(JSON_LIMIT));
    }
    let shape = |detail: &dyn std::fmt::Display| {
        ApiError::invalid(format!(
            "the body must be {{\"daily_summary\": bool, \"alerts\": bool}}: {detail}"
        ))
    };
    // Through `Value` first: serde would also read the struct from an array of its fields.
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the JSON body cannot be read: {e}")))?;
    match value {
        object @ serde_json::Value::Object(_) => {
            serde_json::from_value(object).map_err(|e| shape(&e))
        }
        _ => Err(shape(&"not a JSON object")),
    }
}

/// The caller's user id: tokens `findash token` mints name a user; one that names none
/// (a service's token) has no preferences to read or change.
fn user_of(caller: &Caller) -> Result<UserId, ApiError> {
    caller.user.parse().map_err(|_| no_user())
}

fn no_user() -> ApiError {
    ApiError::forbidden("the token names no user of its tenant; preferences belong to a user")
}

/// The unsubscribe page: what the link would turn off, and a button that does it.
#[utoipa::path(get, path = "/email/unsubscribe", tag = "notifications",
    params(("token" = String, Query, description = "The token of an email's unsubscribe link")),
    responses(
        (status = 200, description = "A confirmation page with a form that unsubscribes", content_type = "text/html", body = String),
        (status = 400, description = "The token is missing or not one of ours", content_type = "text/html", body = String),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn confirm(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let token = field(req.query_string(), "token");
    let Some((token, what)) = token.and_then(|t| verify(&state, &t).map(|w| (t, w))) else {
        return invalid_link();
    };
    let body = format!(
        "<h1>Unsubscribe</h1>\
         <p>Stop receiving {topic} email?</p>\
         <form method=\"post\" action=\"/email/unsubscribe\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <button type=\"submit\">Unsubscribe</button>\
         </form>",
        topic = topic_name(what.topic),
        token = escape(&token),
    );
    page(StatusCode::OK, &body)
}

/// Turns the link's email off (idempotent).
#[utoipa::path(post, path = "/email/unsubscribe", tag = "notifications",
    params(("token" = Option<String>, Query, description = "The link's token, for a one-click request (RFC 8058)")),
    request_body(content_type = "application/x-www-form-urlencoded", content = String,
        description = "`token=…` from the confirmation form, or `List-Unsubscribe=One-Click` with the token in the query"),
    responses(
        (status = 200, description = "Unsubscribed (also when already off)", content_type = "text/html", body = String),
        (status = 400, description = "The token is missing or not one of ours", content_type = "text/html", body = String),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let Ok(body) = body else {
        return Ok(invalid_link());
    };
    let form = String::from_utf8_lossy(&body);
    let one_click = field(&form, "List-Unsubscribe").as_deref() == Some("One-Click");
    let token = match field(&form, "token") {
        Some(token) => Some(token),
        None if one_click => field(req.query_string(), "token"),
        None => None,
    };
    let Some(what) = token.and_then(|t| verify(&state, &t)) else {
        return Ok(invalid_link());
    };
    let Unsubscribe {
        user,
        tenant,
        topic,
    } = what;
    // A user deleted since the email went out receives nothing anyway: the same answer.
    in_system(&state, SystemTask::Email, move |sys| {
        email::unsubscribe(sys, tenant, user, topic).map_err(DbError::from)
    })
    .await?
    .map_err(|e| ApiError::from_db(&e))?;
    tracing::info!(%tenant, %user, topic = topic_name(topic), "unsubscribed by link");
    Ok(page(
        StatusCode::OK,
        &format!(
            "<h1>Unsubscribed</h1><p>You will no longer receive {} email.</p>",
            topic_name(topic)
        ),
    ))
}

fn verify(state: &AppState, token: &str) -> Option<Unsubscribe> {
    state
        .engine
        .registry()
        .state::<UnsubscribeKey>()?
        .verify(token)
}

/// The first value of `name` in a URL-encoded form or query string.
fn field(encoded: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(encoded.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn topic_name(topic: Topic) -> &'static str {
    match topic {
        Topic::DailySummary => "the daily summary",
        Topic::Alerts => "alert",
    }
}

fn invalid_link() -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        "<h1>This link does not work</h1>\
         <p>The unsubscribe link is incomplete or damaged. Open it again from the email, or \
         change your email settings in the dashboard.</p>",
    )
}

/// A small standalone page. Its policy allows only its own inline style and a form posting back
/// to this site.
fn page(status: StatusCode, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"robots\" content=\"noindex\"><title>FinDash email</title>\
             <style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}</style>\
             </head><body>{body}</body></html>"
        ))
}

/// `text` safe inside HTML text and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn form_fields_are_decoded() {
        let form = "List-Unsubscribe=One-Click&token=ab%2Bc";
        assert_eq!(field(form, "token").as_deref(), Some("ab+c"));
        assert_eq!(
            field(form, "List-Unsubscribe").as_deref(),
            Some("One-Click")
        );
        assert_eq!(field(form, "other"), None);
    }
}
