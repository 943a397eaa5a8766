//! The dashboard's read endpoints: summary, revenue, expenses, cards, forecast, data-quality
//! findings and the CSV export. Aggregates are answered from the tenant cache when it holds
//! them (`X-Cache: hit`), else computed in the caller's tenant scope and stored (`miss`); with
//! Redis unavailable, the cache switched off (`API_CACHE=false`), or an explicit date range, they
//! are computed every time (`bypass`).

pub mod cards;
pub mod expenses;
pub mod export;
pub mod findings;
pub mod forecast;
pub mod revenue;
pub mod summary;

use actix_web::HttpResponse;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use findash_engine::cache::Lookup;
use serde::Serialize;

use super::caller::Caller;
use super::{ApiError, AppState, in_tenant};

/// The response header that says where an aggregate came from: hit, miss or bypass.
pub const X_CACHE: &str = "x-cache";

/// Answers `view` (with canonical `params`) for the caller's tenant from the cache, or computes
/// it with `compute` in the tenant scope and caches it. Only successful answers are cached; an
/// `ApiError` from `compute` (a request that only the tenant's data shows to be wrong) is
/// answered as it is. `params: None` is a request not worth caching (an explicit date range):
/// entries stay few per tenant, so one tenant cannot fill Redis with variants.
///
/// Entries also roll over every UTC hour: answers depend on the tenant's "today" (month start,
/// default ranges, days until due), which the key would otherwise not see change.
pub(super) async fn cached<T: Serialize + Send + 'static>(
    state: &AppState,
    caller: &Caller,
    view: &'static str,
    params: Option<String>,
    compute: impl FnOnce(
        &mut findash_schema::TenantConn<'_>,
    ) -> diesel::QueryResult<Result<T, ApiError>>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    let cache = state.engine.cache();
    let lookup = match params {
        Some(params) if state.config.cache => {
            let hour = chrono::Utc::now().format("%Y-%m-%dT%H");
            cache
                .lookup(caller.tenant, view, &format!("{params}|{hour}"))
                .await
        }
        _ => Lookup::Unavailable,
    };
    let ticket = match lookup {
        Lookup::Hit(body) => {
            state.metrics.cache_result(view, "hit");
            return Ok(json(body, "hit"));
        }
        Lookup::Miss(ticket) => {
            state.metrics.cache_result(view, "miss");
            Some(ticket)
        }
        Lookup::Unavailable => {
            state.metrics.cache_result(view, "bypass");
            None
        }
    };
    let answer = in_tenant(state, caller, compute).await??;
    let body = serde_json::to_vec(&answer).map_err(|e| ApiError::internal(&e))?;
    match ticket {
        Some(ticket) => {
            cache.store(ticket, &body).await;
            Ok(json(body, "miss"))
        }
        None => Ok(json(body, "bypass")),
    }
}

fn json(body: Vec<u8>, cache: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .insert_header((X_CACHE, cache))
        .insert_header(CacheControl(vec![
            CacheDirective::Private,
            CacheDirective::NoCache,
        ]))
        .body(body)
}
