//! The jobs list's filters as a query string carries them (`/admin/jobs`, the bulk pages, the
//! dead-jobs page's links): read as given, checked into the engine's [`JobFilter`] (a bad value
//! is a 400 that says which and why), and written back into links that keep them.
//!
//! `state` may repeat (`state=dead&state=quarantined`); empty fields mean "any", so a submitted
//! form with blank inputs filters nothing. Times are `datetime-local` values read as UTC.

use chrono::{DateTime, NaiveDateTime, Utc};
use findash_engine::ledger::{JOB_STATES, JobFilter, Owner};
use findash_schema::{JobId, SystemConn, tenants};
use serde_json::json;

use super::AdminError;

/// Jobs per page.
pub const PAGE_SIZE: i64 = 50;

/// The longest search text accepted.
const MAX_TEXT: usize = 200;

/// The `tenant` value that means the deployment's own jobs (no tenant).
pub const SYSTEM: &str = "system";

/// The filters as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// In [`JOB_STATES`] order, each once.
    pub states: Vec<String>,
    pub kind: String,
    pub queue: String,
    /// A tenant's slug or id, or [`SYSTEM`].
    pub tenant: String,
    /// Created at or after (UTC, `YYYY-MM-DDTHH:MM`).
    pub from: String,
    /// Created before (UTC).
    pub to: String,
    /// Text in the payload or the errors.
    pub q: String,
}

/// A list page's query: its filters and the page it shows.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filters: Filters,
    /// The last id of the previous page (as given).
    pub before: String,
}

impl ListQuery {
    /// Reads a query string; anything it does not know is ignored.
    pub fn parse(query: &str) -> ListQuery {
        let mut out = ListQuery::default();
        let mut states = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim().to_owned();
            if value.is_empty() {
                continue;
            }
            let f = &mut out.filters;
            match key.as_ref() {
                "state" => states.push(value),
                "kind" => f.kind = value,
                "queue" => f.queue = value,
                "tenant" => f.tenant = value,
                "from" => f.from = value,
                "to" => f.to = value,
                "q" => f.q = value,
                "before" => out.before = value,
                _ => {}
            }
        }
        // Known states in their usual order, then unknown ones as given (the check names them).
        let mut ordered: Vec<String> = JOB_STATES
            .iter()
            .filter(|s| states.iter().any(|given| given == *s))
            .map(|s| (*s).to_owned())
            .collect();
        for s in states {
            if !ordered.contains(&s) {
                ordered.push(s);
            }
        }
        out.filters.states = ordered;
        out
    }

    /// The page's filter (tenant resolved), `PAGE_SIZE + 1` rows so the page knows whether an
    /// older one exists.
    pub fn resolve(&self, sys: &mut SystemConn<'_>) -> Result<JobFilter, AdminError> {
        let mut filter = self.filters.resolve(sys)?;
        filter.before = match self.before.as_str() {
            "" => None,
            given => Some(given.parse::<JobId>().map_err(|_| {
                AdminError::BadRequest(format!("`before` must be a job id (a UUID), not `{given}`"))
            })?),
        };
        filter.limit = PAGE_SIZE + 1;
        Ok(filter)
    }
}

/// A `datetime-local` value (`2026-11-25T14:03`, seconds optional) as UTC.
fn utc(name: &str, given: &str) -> Result<Option<DateTime<Utc>>, AdminError> {
    if given.is_empty() {
        return Ok(None);
    }
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(given, format).ok())
    .map(|t| Some(t.and_utc()))
    .ok_or_else(|| {
        AdminError::BadRequest(format!(
            "`{name}` must be a date and time in UTC like 2026-11-25T14:03, not `{given}`"
        ))
    })
}

fn text(name: &str, given: &str) -> Result<Option<String>, AdminError> {
    if given.contains('\0') {
        return Err(AdminError::BadRequest(format!(
            "`{name}` must not contain NUL characters"
        )));
    }
    Ok((!given.is_empty()).then(|| given.to_owned()))
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        *self == Filters::default()
    }

    /// Everything but the tenant, checked (no database needed).
    pub fn check(&self) -> Result<JobFilter, AdminError> {
        if let Some(unknown) = self
            .states
            .iter()
            .find(|s| !JOB_STATES.contains(&s.as_str()))
        {
            return Err(AdminError::BadRequest(format!(
                "there is no job state `{unknown}` (states: {})",
                JOB_STATES.join(", ")
            )));
        }
        if self.q.chars().count() > MAX_TEXT {
            return Err(AdminError::BadRequest(format!(
                "the search text is longer than {MAX_TEXT} characters"
            )));
        }
        let created_from = utc("from", &self.from)?;
        let created_before = utc("to", &self.to)?;
        if let (Some(from), Some(to)) = (created_from, created_before)
            && from >= to
        {
            return Err(AdminError::BadRequest(
                "the time range is empty: `from` must be before `to`".to_owned(),
            ));
        }
        Ok(JobFilter {
            states: self.states.clone(),
            kind: text("kind", &self.kind)?,
            queue: text("queue", &self.queue)?,
            owner: None,
            created_from,
            created_before,
            text: text("q", &self.q)?,
            before: None,
            limit: PAGE_SIZE,
        })
    }

    /// The engine's filter, the tenant looked up by slug or id.
    pub fn resolve(&self, sys: &mut SystemConn<'_>) -> Result<JobFilter, AdminError> {
        let mut filter = self.check()?;
        filter.owner = match self.tenant.as_str() {
            "" => None,
            SYSTEM => Some(Owner::System),
            given => {
                text("tenant", given)?;
                let tenant = tenants::find_by_slug_or_id(sys, given)?.ok_or_else(|| {
                    AdminError::BadRequest(format!(
                        "there is no tenant with the slug or id `{given}`"
                    ))
                })?;
                Some(Owner::Tenant(tenant.id))
            }
        };
        Ok(filter)
    }

    /// The filters as query-string pairs, empty ones left out.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let mut pairs: Vec<(&'static str, &str)> =
            self.states.iter().map(|s| ("state", s.as_str())).collect();
        for (name, value) in [
            ("kind", &self.kind),
            ("queue", &self.queue),
            ("tenant", &self.tenant),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
        ] {
            if !value.is_empty() {
                pairs.push((name, value.as_str()));
            }
        }
        pairs
    }

    /// `path`, with the filters and `extra` as its query string.
    pub fn href(&self, path: &str, extra: &[(&'static str, &str)]) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(self.pairs());
        query.extend_pairs(extra.iter().copied());
        match query.finish() {
            q if q.is_empty() => path.to_owned(),
            q => format!("{path}?{q}"),
        }
    }

    /// The filters in words, for confirmation pages: `state dead or quarantined, kind noop`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.states.is_empty() {
            parts.push(format!("state {}", self.states.join(" or ")));
        }
        for (name, value) in [
            ("kind", &self.kind),
            ("queue", &self.queue),
            ("tenant", &self.tenant),
            ("created from", &self.from),
            ("created before", &self.to),
        ] {
            if !value.is_empty() {
                let value = if name.starts_with("created") {
                    format!("{value} UTC")
                } else {
                    value.clone()
                };
                parts.push(format!("{name} {value}"));
            }
        }
        if !self.q.is_empty() {
            parts.push(format!("containing “{}”", self.q));
        }
        if parts.is_empty() {
            "every job".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// The filters as the audit log records them.
    pub fn audit_json(&self) -> serde_json::Value {
        json!({
            "states": self.states,
            "kind": self.kind,
            "queue": self.queue,
            "tenant": self.tenant,
            "from": self.from,
            "to": self.to,
            "q": self.q,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_read_check_and_write_back() {
        let query = ListQuery::parse(
            "state=quarantined&state=dead&kind=+sync_account+&queue=&tenant=acme\
             &from=2026-11-25T10%3A00&to=2026-11-25T12%3A30%3A15&q=50%25+off&before=x&colour=red",
        );
        let f = &query.filters;
        assert_eq!(f.states, ["dead", "quarantined"], "usual order");
        assert_eq!(f.kind, "sync_account", "trimmed");
        assert_eq!(f.queue, "", "blank is any");
        assert_eq!(query.before, "x");
        let checked = f.check().map_err(|e| e.to_string());
        let checked = checked.as_ref().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checked.text.as_deref(), Some("50% off"));
        assert_eq!(
            checked.created_from.map(|t| t.to_rfc3339()),
            Some("2026-11-25T10:00:00+00:00".to_owned())
        );
        assert_eq!(
            checked.created_before.map(|t| t.to_rfc3339()),
            Some("2026-11-25T12:30:15+00:00".to_owned())
        );
        let href = f.href("/admin/jobs", &[("before", "abc")]);
        assert_eq!(
            href,
            "/admin/jobs?state=dead&state=quarantined&kind=sync_account&tenant=acme\
             &from=2026-11-25T10%3A00&to=2026-11-25T12%3A30%3A15&q=50%25+off&before=abc"
        );
        assert_eq!(
            ListQuery::parse(href.split_once('?').map_or("", |(_, q)| q)).filters,
            *f
        );
        assert_eq!(Filters::default().href("/admin/jobs", &[]), "/admin/jobs");
        assert_eq!(Filters::default().describe(), "every job");
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        for (query, says) in [
            ("state=exploded", "no job state `exploded`"),
            ("from=yesterday", "`from` must be a date and time"),
            ("to=2026-13-01T00:00", "`to` must be a date and time"),
            (
                "from=2026-11-25T10:00&to=2026-11-25T10:00",
                "the time range is empty",
            ),
            ("kind=a%00b", "NUL"),
        ] {
            let err = ListQuery::parse(query).filters.check().err();
            let message = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(says), "{query}: {message}");
        }
        let long = format!("q={}", "x".repeat(MAX_TEXT + 1));
        assert!(ListQuery::parse(&long).filters.check().is_err());
    }
}
