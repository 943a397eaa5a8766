//! The jobs list (`GET /admin/jobs`): every job of the deployment, newest first, 50 a page,
//! narrowed by queue, kind, state, tenant, creation time and text in the payload or errors
//! (the engine's shared [`findash_engine::ledger::JobFilter`]), with the way to retry or cancel
//! everything a filter matches (`bulk.rs`). Also the pieces every table of jobs shows.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use findash_engine::Queue;
use findash_engine::ledger::{self, JOB_STATES, JobRow};
use findash_schema::{SystemConn, TenantId, tenants};

use super::job_filter::{Filters, ListQuery, PAGE_SIZE, SYSTEM};
use super::notice::Notice;
use super::session::Operator;
use super::view::{self, Chrome, Pager, When};
use super::{AdminError, in_console};
use crate::http::AppState;

/// Tenants' slugs by id, for showing whose a job is.
pub type Slugs = HashMap<TenantId, String>;

/// The slugs of the tenants of `rows`.
pub fn slugs_of<'a>(
    sys: &mut SystemConn<'_>,
    rows: impl IntoIterator<Item = &'a JobRow>,
) -> Result<Slugs, AdminError> {
    let mut ids: Vec<TenantId> = rows
        .into_iter()
        .filter_map(|r| r.tenant_id.map(TenantId))
        .collect();
    ids.sort();
    ids.dedup();
    Ok(tenants::slugs(sys, &ids)?)
}

/// Whose a job is: its tenant's slug, or "system".
pub fn owner_label(tenant: Option<uuid::Uuid>, slugs: &Slugs) -> String {
    match tenant {
        None => SYSTEM.to_owned(),
        Some(id) => slugs
            .get(&TenantId(id))
            .cloned()
            .unwrap_or_else(|| id.to_string()),
    }
}

/// `text` on one line, at most `max` characters (`…` when cut).
pub fn excerpt(text: &str, max: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// A job as a row of a table.
#[derive(Debug, Clone)]
pub struct JobLine {
    pub id: String,
    /// The id's random tail: telling rows apart at a glance (the head is the creation time,
    /// shared by jobs of the same minute).
    pub short_id: String,
    pub href: String,
    pub kind: String,
    pub queue: String,
    pub tenant: String,
    pub state: String,
    pub attempts: String,
    pub created: When,
    pub finished: Option<When>,
    pub error: String,
}

impl JobLine {
    pub fn new(row: &JobRow, slugs: &Slugs, now: DateTime<Utc>) -> JobLine {
        let id = row.id.to_string();
        JobLine {
            short_id: id.chars().skip(24).collect(),
            href: format!("/admin/jobs/{id}"),
            id,
            kind: row.kind.clone(),
            queue: row.queue.clone(),
            tenant: owner_label(row.tenant_id, slugs),
            state: row.state.clone(),
            attempts: format!("{} / {}", row.attempts, row.max_attempts),
            created: When::new(&row.created_at, now),
            finished: row.finished_at.as_ref().map(|t| When::new(t, now)),
            error: row
                .last_error
                .as_deref()
                .map(|e| excerpt(e, 160))
                .unwrap_or_default(),
        }
    }
}

/// A page of rows and the links around it.
pub struct Paged {
    pub lines: Vec<JobLine>,
    pub pager: Pager,
}

impl Paged {
    /// `rows` (up to `PAGE_SIZE + 1`, the extra one telling that an older page exists) of the
    /// list at `path` filtered by `filters`.
    pub fn new(
        mut rows: Vec<JobRow>,
        slugs: &Slugs,
        filters: &Filters,
        path: &str,
        paged: bool,
    ) -> Paged {
        let now = Utc::now();
        let more = rows.len() as i64 > PAGE_SIZE;
        rows.truncate(usize::try_from(PAGE_SIZE).unwrap_or(50));
        let older_href = more
            .then(|| rows.last())
            .flatten()
            .map(|last| filters.href(path, &[("before", &last.id.to_string())]));
        Paged {
            lines: rows.iter().map(|r| JobLine::new(r, slugs, now)).collect(),
            pager: Pager {
                newest: paged.then(|| filters.href(path, &[])),
                older: older_href,
            },
        }
    }
}

/// A checkbox of the state filter.
pub struct StateOption {
    pub name: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
struct JobsPage {
    chrome: Chrome,
    filters: Filters,
    notice: Option<String>,
    states: Vec<StateOption>,
    kinds: Vec<&'static str>,
    queues: Vec<&'static str>,
    page: Paged,
    clear_href: Option<String>,
    bulk_retry_href: String,
    bulk_cancel_href: String,
    /// What to say when the page is empty.
    empty: String,
}

/// `GET /admin/jobs`.
pub async fn page(
    state: web::Data<AppState>,
    operator: Operator,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let query = ListQuery::parse(req.query_string());
    query.filters.check()?;
    let lookup = query.clone();
    let (rows, slugs) = in_console(&state, move |sys| {
        let filter = lookup.resolve(sys)?;
        let rows = ledger::list_jobs(sys, &filter)?;
        let slugs = slugs_of(sys, &rows)?;
        Ok((rows, slugs))
    })
    .await?;
    let filters = query.filters;
    let paged = !query.before.is_empty();
    let empty = if paged {
        "No older jobs match.".to_owned()
    } else if filters.is_empty() {
        "The ledger holds no jobs yet. They appear here as soon as something enqueues one: a \
         schedule, a webhook, the API or `findash enqueue`."
            .to_owned()
    } else {
        "No jobs match these filters. Widen the time range, check the spelling of kind, queue \
         and tenant, or clear the filters."
            .to_owned()
    };
    let registry = state.engine.registry();
    view::render(&JobsPage {
        chrome: Chrome::new(&operator, "jobs"),
        notice: Notice::from_query(req.query_string()).map(Notice::text),
        states: JOB_STATES
            .iter()
            .map(|s| StateOption {
                name: s,
                checked: filters.states.iter().any(|given| given == s),
            })
            .collect(),
        kinds: registry.kinds().collect(),
        queues: Queue::ALL.iter().map(|q| q.as_str()).collect(),
        page: Paged::new(rows, &slugs, &filters, "/admin/jobs", paged),
        clear_href: (!filters.is_empty()).then(|| "/admin/jobs".to_owned()),
        bulk_retry_href: filters.href("/admin/jobs/bulk/retry", &[]),
        bulk_cancel_href: filters.href("/admin/jobs/bulk/cancel", &[]),
        empty,
        filters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_fit_one_line() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("a\n  b\tc", 10), "a b c");
        assert_eq!(excerpt("0123456789abc", 10), "012345678…");
    }
}
