//! `GET /api/v1/dq/findings`: data-quality findings, most recently seen first, by keyset pages.

// utoipa's expansion of `params(FindingsQuery)` spells out a path the lint calls unnecessary.
#![allow(unused_qualifications)]

use actix_web::{HttpResponse, web};
use findash_schema::dashboard::{self, Finding, FindingFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::caller::Caller;
use crate::http::error::ErrorBody;
use crate::http::{ApiError, AppState, in_tenant, page_limit};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindingsQuery {
    /// open (the default) or resolved.
    #[param(pattern = "^(open|resolved)$")]
    status: Option<String>,
    /// info, warning or critical.
    #[param(pattern = "^(info|warning|critical)$")]
    severity: Option<String>,
    /// A check's name, e.g. `stale_sync`.
    #[param(pattern = "^[a-z][a-z0-9_]*$")]
    check: Option<String>,
    /// 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page (opaque).
    #[param(pattern = "^[A-Za-z0-9_-]{32}$")]
    cursor: Option<String>,
}

/// A page of findings.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindingsPage {
    findings: Vec<Finding>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// The caller's tenant's data-quality findings.
#[utoipa::path(get, path = "/api/v1/dq/findings", tag = "dashboard", params(FindingsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of findings", body = FindingsPage),
        (status = 400, description = "Unreadable query", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 422, description = "A filter not valid", body = ErrorBody),
        (status = 429, description = "Over a rate limit", body = ErrorBody),
    ))]
pub async fn findings(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<FindingsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let status = query.status.unwrap_or_else(|| "open".to_owned());
    if !matches!(status.as_str(), "open" | "resolved") {
        return Err(ApiError::invalid("status must be open or resolved"));
    }
    if let Some(severity) = &query.severity
        && !matches!(severity.as_str(), "info" | "warning" | "critical")
    {
        return Err(ApiError::invalid(
            "severity must be info, warning or critical",
        ));
    }
    if let Some(check) = &query.check
        && !is_check_name(check)
    {
        return Err(ApiError::invalid(
            "check must be a check's name (lowercase letters, digits and _)",
        ));
    }
    let after = match query.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            crate::http::cursor::decode_instant(c)
                .ok_or_else(|| ApiError::invalid("the cursor is not valid"))?,
        ),
    };
    let filter = FindingFilter {
        status,
        severity: query.severity,
        check_name: query.check,
    };
    let findings = in_tenant(&state, &caller, move |scope| {
        dashboard::findings_page(scope, &filter, after, limit)
    })
    .await?;
    let next_cursor = (findings.len() as i64 == limit)
        .then(|| {
            findings
                .last()
                .map(|f| crate::http::cursor::encode_instant(f.last_seen_at, f.id))
        })
        .flatten();
    Ok(HttpResponse::Ok().json(FindingsPage {
        findings,
        next_cursor,
    }))
}

/// `^[a-z][a-z0-9_]*$`, the shape of every check's name.
fn is_check_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
