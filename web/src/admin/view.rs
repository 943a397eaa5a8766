//! What every console page shares: the response headers, the chrome around each page (who is
//! signed in, the CSRF token, the current section) and how times and durations read.

use actix_web::HttpResponse;
use actix_web::HttpResponseBuilder;
use actix_web::http::header;
use askama::Template;
use chrono::{DateTime, Utc};

use super::AdminError;
use super::session::Operator;

/// Scripts, styles and requests from this origin only; no inline script or style, no framing,
/// forms post back here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An HTML response: the console's CSP, never cached (pages show live state and a CSRF token).
pub fn html(mut builder: HttpResponseBuilder, body: String) -> HttpResponse {
    builder
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// 303 to `location`: where every action sends the browser afterwards.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Renders `page` as a 200 response.
pub fn render(page: &impl Template) -> Result<HttpResponse, AdminError> {
    let body = page.render().map_err(|e| AdminError::internal(&e))?;
    Ok(html(HttpResponse::Ok(), body))
}

/// The console's sections, in navigation order: (id, label, path).
pub const SECTIONS: &[(&str, &str, &str)] = &[
    ("overview", "Overview", "/admin"),
    ("jobs", "Jobs", "/admin/jobs"),
    ("dead", "Dead & quarantined", "/admin/dead"),
    ("schedules", "Schedules", "/admin/schedules"),
    ("workflows", "Workflows", "/admin/workflows"),
    ("webhooks", "Webhook inbox", "/admin/webhooks"),
    ("freshness", "Data freshness", "/admin/freshness"),
    ("rate-limits", "Rate limits", "/admin/rate-limits"),
];

/// The frame of every signed-in page (`admin/base.html`): navigation, the operator, the CSRF
/// token forms and htmx requests carry.
pub struct Chrome {
    pub section: &'static str,
    pub operator: String,
    pub csrf_token: String,
}

impl Chrome {
    pub fn new(operator: &Operator, section: &'static str) -> Chrome {
        Chrome {
            section,
            operator: operator.display_name(),
            csrf_token: operator.csrf_token().to_owned(),
        }
    }

    pub fn sections(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        SECTIONS
    }

    /// The `hx-headers` value that sends the CSRF token with every htmx request.
    pub fn hx_headers(&self) -> String {
        serde_json::json!({ "X-CSRF-Token": self.csrf_token }).to_string()
    }
}

/// `2026-11-25 14:03:07 UTC`.
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `3 min ago`, `in 2 h`: a time relative to `now`, to the unit an operator reads at a glance.
pub fn relative(t: &DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - *t).num_seconds();
    if seconds >= 0 {
        format!("{} ago", span(seconds))
    } else {
        format!("in {}", span(-seconds))
    }
}

/// A duration in seconds as `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`.
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

/// The links around a page of a list, newest first (`admin/macros.html`, `pager`).
#[derive(Debug, Clone, Default)]
pub struct Pager {
    /// The first page, when this is not it.
    pub newest: Option<String>,
    /// The next, older page, when there is one.
    pub older: Option<String>,
}

/// A moment as pages show it: `<time datetime="{{ datetime }}">{{ text }}</time> ({{ relative }})`.
#[derive(Debug, Clone)]
pub struct When {
    /// RFC 3339, for the `datetime` attribute.
    pub datetime: String,
    /// [`timestamp`].
    pub text: String,
    /// [`relative`] to the page's `now`.
    pub relative: String,
}

impl When {
    pub fn new(t: &DateTime<Utc>, now: DateTime<Utc>) -> When {
        When {
            datetime: t.to_rfc3339(),
            text: timestamp(t),
            relative: relative(t, now),
        }
    }
}

/// A job of the ledger, linked to its page.
#[derive(Debug, Clone)]
pub struct JobLink {
    pub href: String,
    pub id: String,
    /// Its state; `None` once the ledger no longer keeps it.
    pub state: Option<String>,
}

impl JobLink {
    pub fn new(id: findash_schema::JobId, state: Option<String>) -> JobLink {
        JobLink {
            href: format!("/admin/jobs/{id}"),
            id: id.to_string(),
            state,
        }
    }
}

/// What caused a job or a run, as a page shows it: words, and where to look when the cause
/// has a page of its own.
#[derive(Debug, Clone)]
pub struct Cause {
    pub text: String,
    pub href: Option<String>,
}

impl Cause {
    /// From a ledger trigger (`trigger_kind`, `trigger_ref`).
    pub fn of(kind: &str, reference: Option<&str>) -> Cause {
        if let Some(operator) = findash_engine::ledger::Trigger::console_operator(kind, reference) {
            return Cause {
                text: format!("run by hand in the console by {operator}"),
                href: None,
            };
        }
        let page = match kind {
            "job" => Some("jobs"),
            "workflow" => Some("workflows"),
            "webhook" => Some("webhooks"),
            _ => None,
        };
        let text = match (kind, reference) {
            ("cron", Some(tick)) => format!("cron tick {tick}"),
            (kind, Some(reference)) => format!("{kind} {reference}"),
            (kind, None) => kind.to_owned(),
        };
        // Only ids go into a link: a reference is stored text, never trusted as a path.
        let href = page
            .zip(reference.filter(|r| uuid::Uuid::parse_str(r).is_ok()))
            .map(|(page, id)| format!("/admin/{page}/{id}"));
        Cause { text, href }
    }
}

/// The request's query string read as `T`; a 400 page when it does not fit.
pub fn query<T: serde::de::DeserializeOwned>(
    req: &actix_web::HttpRequest,
) -> Result<T, AdminError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| AdminError::BadRequest(format!("the address's query cannot be read: {e}")))
}

/// A filter field as typed: trimmed, `None` when empty.
pub fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `path?name=value&…` with the pairs whose value is present, URL-encoded.
pub fn link(path: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_at_a_glance() {
        assert_eq!(span(-5), "0 s");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(60), "1 min");
        assert_eq!(span(3600), "1 h");
        assert_eq!(span(3600 + 20 * 60 + 5), "1 h 20 min");
        assert_eq!(span(2 * 86_400 + 4 * 3600), "2 d 4 h");
        let now = Utc::now();
        assert_eq!(
            relative(&(now - chrono::Duration::minutes(3)), now),
            "3 min ago"
        );
        assert_eq!(relative(&(now + chrono::Duration::hours(2)), now), "in 2 h");
    }

    #[test]
    fn causes_link_only_to_ids() {
        let job = "0190f1e2-0000-7000-8000-000000000001";
        let cause = Cause::of("job", Some(job));
        assert_eq!(cause.href, Some(format!("/admin/jobs/{job}")));
        assert_eq!(Cause::of("webhook", Some("../evil")).href, None);
        assert_eq!(Cause::of("cron", Some("42")).text, "cron tick 42");
        let console = Cause::of("system", Some("console:ops@example.test"));
        assert_eq!(
            console.text,
            "run by hand in the console by ops@example.test"
        );
        assert_eq!(
            link(
                "/admin/webhooks",
                &[("provider", Some("stripe")), ("status", None)]
            ),
            "/admin/webhooks?provider=stripe"
        );
        assert_eq!(
            link("/admin/webhooks", &[("type", None)]),
            "/admin/webhooks"
        );
        assert_eq!(given(Some("  ".to_owned())), None);
    }
}
