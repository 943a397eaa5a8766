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
}
