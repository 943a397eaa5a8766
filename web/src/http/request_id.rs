//! `X-Request-Id`: taken from the request when it is a sane token, generated otherwise (a
//! ULID), echoed on the response, on every log line of the request, and in error bodies.
//! Also where each request is logged and counted.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use tracing::Instrument;

use super::AppState;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled on this task, for error bodies.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The id of a request, also available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Accepts a client's id when it is 1–128 characters of `A-Z a-z 0-9 . _ : -`; anything else
/// (which could forge log lines or headers) is replaced.
fn accepted(value: &HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?;
    let sane = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    sane.then(|| value.to_owned())
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(accepted)
        .unwrap_or_else(|| ulid::Ulid::generate().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, path = %req.path());
    let started = Instant::now();
    // Handlers' and extractors' errors are already responses here (rendered inside the scope,
    // so they carry the id); only a failing middleware would return `Err`.
    let mut res = CURRENT
        .scope(id.clone(), next.call(req).instrument(span.clone()))
        .await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status();
    if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
        state
            .metrics
            .observe(&route, &method, status.as_u16(), started.elapsed());
    }
    span.in_scope(|| {
        tracing::info!(
            %route,
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, value);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_ids_are_taken_from_clients() {
        let ok = HeaderValue::from_static("req-01HZX.abc:42_Z");
        assert_eq!(accepted(&ok).as_deref(), Some("req-01HZX.abc:42_Z"));
        for bad in ["", "with space", "new\tline", "semi;colon", "quote\"d"] {
            let value = HeaderValue::from_str(bad).unwrap_or(HeaderValue::from_static(" "));
            assert_eq!(accepted(&value), None, "{bad:?}");
        }
        let long = HeaderValue::from_str(&"a".repeat(129)).unwrap_or(HeaderValue::from_static(" "));
        assert_eq!(accepted(&long), None);
    }
}
