//! Retry or cancel everything a jobs filter matches: `GET /admin/jobs/bulk/{retry|cancel}?<the
//! list's filters>` says how many jobs the action reaches (only those in a state it applies to)
//! and asks; `POST` to the same address does it through the engine's action path
//! ([`findash_engine::act_on_filter`]: workflows are told), at most [`CAP`] jobs a request, in
//! one transaction with its audit entry, then wakes the dispatchers and goes back to the list.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use findash_engine::ledger::{self, Action, Owner};
use findash_schema::console;
use serde_json::json;

use super::job_filter::{Filters, ListQuery};
use super::notice::Notice;
use super::session::{Checked, Operator};
use super::view::{self, Chrome};
use super::{AdminError, in_console};
use crate::http::AppState;

/// The most jobs one bulk request acts on: one transaction holds their row locks, so it stays
/// short; the notice says how many remain.
pub const CAP: i64 = 1000;

/// The bulk actions (discarding in bulk is deliberately not one).
fn bulk_action(name: &str) -> Result<Action, AdminError> {
    match Action::parse(name) {
        Some(action @ (Action::Retry | Action::Cancel)) => Ok(action),
        _ => Err(AdminError::NotFound(format!(
            "there is no bulk action `{name}` (retry or cancel)"
        ))),
    }
}

/// The states an action reaches, in words.
fn reaches(action: Action) -> &'static str {
    match action {
        Action::Retry | Action::Discard => "dead, cancelled or quarantined",
        Action::Cancel => "queued, retrying or running",
    }
}

#[derive(Template)]
#[template(path = "admin/bulk_confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    /// `Retry` or `Cancel`.
    verb: &'static str,
    /// `retried` or `cancelled`.
    past: &'static str,
    described: String,
    reaches: &'static str,
    matching: i64,
    affected: i64,
    cap: i64,
    post_href: String,
    back_href: String,
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Retry => "Retry",
        Action::Cancel => "Cancel",
        Action::Discard => "Discard",
    }
}

/// `GET /admin/jobs/bulk/{action}`: how many jobs, and the button.
pub async fn confirm(
    state: web::Data<AppState>,
    operator: Operator,
    action: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let action = bulk_action(&action)?;
    let filters = ListQuery::parse(req.query_string()).filters;
    filters.check()?;
    let lookup = filters.clone();
    let (matching, affected) = in_console(&state, move |sys| {
        let filter = lookup.resolve(sys)?;
        let matching = ledger::count_jobs(sys, &filter)?;
        let affected = match findash_engine::actionable(&filter, action) {
            Some(narrowed) => ledger::count_jobs(sys, &narrowed)?,
            None => 0,
        };
        Ok((matching, affected))
    })
    .await?;
    view::render(&ConfirmPage {
        chrome: Chrome::new(&operator, "jobs"),
        verb: verb(action),
        past: match action {
            Action::Cancel => "cancelled",
            Action::Retry | Action::Discard => "retried",
        },
        described: filters.describe(),
        reaches: reaches(action),
        matching,
        affected,
        cap: CAP,
        post_href: filters.href(&format!("/admin/jobs/bulk/{}", action.as_str()), &[]),
        back_href: filters.href("/admin/jobs", &[]),
    })
}

/// `POST /admin/jobs/bulk/{action}`: does it.
pub async fn perform(
    state: web::Data<AppState>,
    action: Checked<serde::de::IgnoredAny>,
    name: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let operator = action.operator;
    let action = bulk_action(&name)?;
    let filters: Filters = ListQuery::parse(req.query_string()).filters;
    filters.check()?;
    let (engine, given, user) = (state.engine.clone(), filters.clone(), operator.user_id());
    let outcome = in_console(&state, move |sys| {
        let filter = given.resolve(sys)?;
        let outcome = findash_engine::act_on_filter(sys, engine.registry(), &filter, action, CAP)?;
        // A filter on one tenant touches only its jobs: its trail shows the action.
        let tenant = match filter.owner {
            Some(Owner::Tenant(tenant)) => Some(tenant),
            Some(Owner::System) | None => None,
        };
        console::audit(
            sys,
            user,
            tenant,
            &format!("console.jobs.{}", action.as_str()),
            Some("jobs"),
            None,
            json!({
                "filter": given.audit_json(),
                "applied": outcome.applied,
                "cancel_requested": outcome.cancel_requested,
                "skipped": outcome.skipped,
                "remaining": outcome.remaining,
                "cap": CAP,
            }),
        )?;
        Ok(outcome)
    })
    .await?;
    if outcome.applied > 0 {
        state.engine.notify().await;
    }
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let remaining = u64::try_from(outcome.remaining).unwrap_or(0);
    let notice = match action {
        Action::Cancel => Notice::BulkCancelled {
            applied: count(outcome.applied),
            stopping: count(outcome.cancel_requested),
            skipped: count(outcome.skipped),
            remaining,
        },
        _ => Notice::BulkRetried {
            applied: count(outcome.applied),
            skipped: count(outcome.skipped),
            remaining,
        },
    };
    let pairs = notice.pairs();
    let extra: Vec<(&'static str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(view::see_other(&filters.href("/admin/jobs", &extra)))
}
