//! The one way providers talk HTTP: a deadline on every request, a cap on every body, and the
//! status codes mapped to [`ProviderError`]s. Error details carry the status and a short excerpt
//! of the provider's answer, never a request header (credentials travel there).

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use url::Url;

use super::ProviderError;

/// Every provider request must finish within this (connect, send, read).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Larger bodies are refused: a page of 1,000 transactions is well under 4 MiB.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// When a 429 says nothing about when to come back.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Which refusals mean what, per provider (beyond the shared rules: 429 is a rate limit, 5xx and
/// 408 an outage, any other status bad data).
#[derive(Debug, Clone, Copy)]
pub struct Refusals {
    /// The connection's own credentials or consent were refused: a person must reconnect it.
    pub connection: &'static [u16],
    /// The deployment's keys were refused: an operator must fix the configuration, and no
    /// connection is to blame.
    pub deployment: &'static [u16],
}

/// Sends `request` and returns the body of a 2xx answer.
pub async fn send(
    provider: &'static str,
    refusals: Refusals,
    request: RequestBuilder,
) -> Result<Vec<u8>, ProviderError> {
    send_checked(provider, refusals, request, |_| Ok(())).await
}

/// [`send`], with `check` run on a 2xx answer's headers (an `Err` is bad data).
pub async fn send_checked(
    provider: &'static str,
    refusals: Refusals,
    request: RequestBuilder,
    check: impl FnOnce(&reqwest::header::HeaderMap) -> Result<(), String>,
) -> Result<Vec<u8>, ProviderError> {
    let response =
        request
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| ProviderError::Down {
                provider,
                detail: describe(&e),
            })?;
    let status = response.status();
    if status.is_success() {
        check(response.headers()).map_err(|detail| ProviderError::BadData { provider, detail })?;
        return body(provider, response).await;
    }
    let retry_after = retry_after(&response);
    let excerpt = body(provider, response)
        .await
        .map(|b| excerpt(&b))
        .unwrap_or_default();
    let detail = if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    };
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            provider,
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        },
        s if refusals.connection.contains(&s.as_u16()) => ProviderError::Auth { provider, detail },
        s if refusals.deployment.contains(&s.as_u16()) => ProviderError::NotConfigured {
            provider,
            detail: format!("the deployment's credentials were refused: {detail}"),
        },
        s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
            ProviderError::Down { provider, detail }
        }
        _ => ProviderError::BadData { provider, detail },
    })
}

/// Parses a JSON body; anything else is bad data.
pub fn json<T: serde::de::DeserializeOwned>(
    provider: &'static str,
    body: &[u8],
) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| ProviderError::BadData {
        provider,
        detail: format!("malformed JSON: {e}"),
    })
}

async fn body(provider: &'static str, mut response: Response) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| ProviderError::Down {
        provider,
        detail: describe(&e),
    })? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ProviderError::BadData {
                provider,
                detail: format!("answer larger than {MAX_BODY} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The first 200 characters of an error body, on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(200).collect()
}

/// A transport error without its URL (query strings may carry provider ids).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(error);
    let mut detail = String::from(kind);
    while let Some(cause) = source {
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    detail
}

/// `path` under a configured base URL (which may itself have a path).
pub fn endpoint(provider: &'static str, base: &Url, path: &str) -> Result<Url, ProviderError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let with_slash = format!("{}/", base.path());
        base.set_path(&with_slash);
    }
    base.join(path).map_err(|e| ProviderError::NotConfigured {
        provider,
        detail: format!("base URL: {e}"),
    })
}

/// A `next` link, followed only on the configured origin: credentials are never sent elsewhere.
pub fn same_origin(provider: &'static str, base: &Url, next: &str) -> Result<Url, ProviderError> {
    let url = Url::parse(next).map_err(|_| ProviderError::BadData {
        provider,
        detail: format!("next link {next:?} is not a URL"),
    })?;
    if url.origin() != base.origin() {
        return Err(ProviderError::BadData {
            provider,
            detail: "next link points to another host".to_owned(),
        });
    }
    Ok(url)
}
