//! Dead and quarantined jobs (`GET /admin/dead`): what failed for good and waits for a person,
//! newest first, narrowed by kind, with the way to retry each or everything shown (through the
//! bulk confirmation of `bulk.rs`).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use findash_engine::ledger;

use super::job_filter::{Filters, ListQuery};
use super::jobs::{Paged, slugs_of};
use super::notice::Notice;
use super::session::Operator;
use super::view::{self, Chrome};
use super::{AdminError, in_console};
use crate::http::AppState;

/// The states of jobs that wait for a person.
const STATES: [&str; 2] = ["dead", "quarantined"];

/// A choice of the kind filter.
struct KindOption {
    kind: String,
    count: i64,
    selected: bool,
}

#[derive(Template)]
#[template(path = "admin/dead.html")]
struct DeadPage {
    chrome: Chrome,
    notice: Option<String>,
    kind: String,
    kinds: Vec<KindOption>,
    /// Dead and quarantined jobs of every kind.
    total: i64,
    /// Of the chosen kind (all of them without one).
    matching: i64,
    page: Paged,
    retry_all_href: String,
    list_href: String,
}

/// `GET /admin/dead`.
pub async fn page(
    state: web::Data<AppState>,
    operator: Operator,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let given = ListQuery::parse(req.query_string());
    // Only the kind narrows this page; the jobs list has every other filter.
    let query = ListQuery {
        filters: Filters {
            states: STATES.iter().map(|s| (*s).to_owned()).collect(),
            kind: given.filters.kind,
            ..Filters::default()
        },
        before: given.before,
    };
    query.filters.check()?;
    let lookup = query.clone();
    let (rows, slugs, counts, matching) = in_console(&state, move |sys| {
        let filter = lookup.resolve(sys)?;
        let rows = ledger::list_jobs(sys, &filter)?;
        let slugs = slugs_of(sys, &rows)?;
        let counts = ledger::count_by_kind(sys, &STATES)?;
        let matching = ledger::count_jobs(
            sys,
            &ledger::JobFilter {
                before: None,
                ..filter
            },
        )?;
        Ok((rows, slugs, counts, matching))
    })
    .await?;
    let filters = query.filters;
    // This page's own links carry the kind only.
    let by_kind = Filters {
        kind: filters.kind.clone(),
        ..Filters::default()
    };
    let mut kinds: Vec<KindOption> = counts
        .iter()
        .map(|(kind, count)| KindOption {
            kind: kind.clone(),
            count: *count,
            selected: *kind == filters.kind,
        })
        .collect();
    if !filters.kind.is_empty() && !counts.contains_key(&filters.kind) {
        kinds.push(KindOption {
            kind: filters.kind.clone(),
            count: 0,
            selected: true,
        });
    }
    view::render(&DeadPage {
        chrome: Chrome::new(&operator, "dead"),
        notice: Notice::from_query(req.query_string()).map(Notice::text),
        kind: filters.kind.clone(),
        kinds,
        total: counts.values().sum(),
        matching,
        page: Paged::new(
            rows,
            &slugs,
            &by_kind,
            "/admin/dead",
            !query.before.is_empty(),
        ),
        retry_all_href: filters.href("/admin/jobs/bulk/retry", &[]),
        list_href: filters.href("/admin/jobs", &[]),
    })
}
