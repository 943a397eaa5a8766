//! The webhook inbox of the whole deployment: every delivery (of every tenant, and those no
//! tenant owns yet), newest first, filtered by provider, status, event type and tenant, a page
//! at a time. One delivery, its raw event and replaying it are in `webhook`.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use findash_schema::WebhookId;
use findash_schema::webhooks::{
    self, InboxFilter, InboxRow, InboxStatus, InboxTenant, WebhookProvider,
};
use serde::Deserialize;

use super::session::Operator;
use super::view::{self, Chrome, JobLink, Pager, When};
use super::{AdminError, in_console};
use crate::http::AppState;

/// Deliveries per page.
const PAGE: usize = 50;

/// The tenant filter's value for deliveries no tenant owns.
pub(super) const NO_TENANT: &str = "-";

struct DeliveryView {
    href: String,
    event_id: String,
    received: When,
    provider: String,
    event_type: String,
    tenant: Option<String>,
    status: String,
    error: Option<String>,
    replays: i32,
    job: Option<JobLink>,
}

impl DeliveryView {
    fn new(row: &InboxRow, now: chrono::DateTime<Utc>) -> DeliveryView {
        DeliveryView {
            href: format!("/admin/webhooks/{}", row.id),
            event_id: row.event_id.clone(),
            received: When::new(&row.received_at, now),
            provider: row.provider.clone(),
            event_type: row.event_type.clone().unwrap_or_default(),
            tenant: row.tenant_slug.clone(),
            status: row.status.clone(),
            error: row.processing_error.clone(),
            replays: row.replay_count,
            job: row.job_id.map(|id| JobLink::new(id, row.job_state.clone())),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    provider: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    tenant: Option<String>,
    before: Option<String>,
}

/// The filters of a request, checked: a value no delivery can have is a 400.
fn filter(query: ListQuery) -> Result<InboxFilter, AdminError> {
    let provider = view::given(query.provider)
        .map(|p| p.parse::<WebhookProvider>())
        .transpose()
        .map_err(AdminError::BadRequest)?;
    let status = view::given(query.status)
        .map(|s| s.parse::<InboxStatus>())
        .transpose()
        .map_err(AdminError::BadRequest)?;
    let event_type = view::given(query.event_type);
    if let Some(t) = &event_type
        && (t.len() > 255 || t.chars().any(char::is_control))
    {
        return Err(AdminError::BadRequest(
            "an event type is at most 255 printable characters".to_owned(),
        ));
    }
    let tenant = match view::given(query.tenant) {
        None => None,
        Some(t) if t == NO_TENANT => Some(InboxTenant::Unresolved),
        Some(slug) if is_slug(&slug) => Some(InboxTenant::Slug(slug)),
        Some(_) => {
            return Err(AdminError::BadRequest(format!(
                "tenant is a tenant's slug (lowercase letters, digits, -), or {NO_TENANT} for deliveries of no tenant"
            )));
        }
    };
    let before = view::given(query.before)
        .map(|b| b.parse::<WebhookId>())
        .transpose()
        .map_err(|_| AdminError::BadRequest("before must be a delivery id".to_owned()))?;
    Ok(InboxFilter {
        provider,
        status,
        event_type,
        tenant,
        before,
        limit: i64::try_from(PAGE + 1).unwrap_or(i64::MAX),
    })
}

/// `^[a-z0-9][a-z0-9-]{0,62}$`, as `tenants.slug` is.
fn is_slug(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[derive(Template)]
#[template(path = "admin/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    deliveries: Vec<DeliveryView>,
    providers: Vec<&'static str>,
    statuses: Vec<&'static str>,
    provider: String,
    status: String,
    event_type: String,
    tenant: String,
    no_tenant: &'static str,
    pager: Pager,
}

/// `GET /admin/webhooks?provider=&status=&type=&tenant=&before=`.
pub async fn page(
    state: web::Data<AppState>,
    operator: Operator,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let filter = filter(view::query(&req)?)?;
    let query = filter.clone();
    let mut rows = in_console(&state, move |sys| Ok(webhooks::inbox(sys, &query)?)).await?;
    let more = rows.len() > PAGE;
    rows.truncate(PAGE);
    let tenant = match &filter.tenant {
        Some(InboxTenant::Slug(slug)) => slug.clone(),
        Some(InboxTenant::Unresolved) => NO_TENANT.to_owned(),
        None => String::new(),
    };
    let link = |before: Option<&str>| {
        view::link(
            "/admin/webhooks",
            &[
                ("provider", filter.provider.map(WebhookProvider::as_str)),
                ("status", filter.status.map(InboxStatus::as_str)),
                ("type", filter.event_type.as_deref()),
                ("tenant", Some(tenant.as_str()).filter(|t| !t.is_empty())),
                ("before", before),
            ],
        )
    };
    let older = more
        .then(|| rows.last().map(|r| link(Some(&r.id.to_string()))))
        .flatten();
    let now = Utc::now();
    view::render(&WebhooksPage {
        chrome: Chrome::new(&operator, "webhooks"),
        deliveries: rows.iter().map(|r| DeliveryView::new(r, now)).collect(),
        providers: WebhookProvider::ALL.iter().map(|p| p.as_str()).collect(),
        statuses: InboxStatus::ALL.iter().map(|s| s.as_str()).collect(),
        provider: filter
            .provider
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        status: filter
            .status
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        event_type: filter.event_type.clone().unwrap_or_default(),
        pager: Pager {
            newest: filter.before.is_some().then(|| link(None)),
            older,
        },
        tenant,
        no_tenant: NO_TENANT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        serde_urlencoded::from_str(&serde_urlencoded::to_string(pairs).unwrap()).unwrap()
    }

    #[test]
    fn filters_are_checked_and_blank_ones_ignored() {
        let f = filter(query(&[
            ("provider", "stripe"),
            ("status", ""),
            ("type", " charge.succeeded "),
            ("tenant", "-"),
        ]))
        .unwrap();
        assert_eq!(f.provider, Some(WebhookProvider::Stripe));
        assert_eq!(f.status, None);
        assert_eq!(f.event_type.as_deref(), Some("charge.succeeded"));
        assert_eq!(f.tenant, Some(InboxTenant::Unresolved));
        for bad in [
            [("provider", "paypal")],
            [("status", "done")],
            [("tenant", "Not A Slug")],
            [("before", "yesterday")],
        ] {
            assert!(filter(query(&bad)).is_err(), "{bad:?}");
        }
    }
}
