//! Finding jobs: the one filter every list of jobs shares (`findash jobs list`, `GET
//! /api/v1/jobs`, the admin console and its bulk actions), and the statements it drives.
//!
//! Each statement is built from the filters that are set, values always bound, so PostgreSQL
//! plans the query it is actually asked (a page deep in a state's history walks the state's
//! index or the primary key from `before`, not every newer row). Job ids are UUIDv7 whoever
//! inserts them, so the primary key doubles as the creation-time index.

use chrono::{DateTime, Duration, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Text, Timestamptz, Uuid as SqlUuid};
use findash_schema::{JobId, TenantId};
use uuid::Uuid;

use super::enqueue::LedgerScope;
use super::read::{JOB_COLUMNS, JobRow};

/// Whose jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The deployment's own jobs (no tenant).
    System,
    Tenant(TenantId),
}

/// Filters for listing jobs; an empty or `None` filter matches everything.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Any of these states (see [`super::JOB_STATES`]).
    pub states: Vec<String>,
    pub kind: Option<String>,
    pub queue: Option<String>,
    /// On the system path, one tenant's jobs or the system's; in a tenant scope row-level
    /// security has already narrowed the rows to the scope's tenant.
    pub owner: Option<Owner>,
    /// Created at or after this instant.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// Text found, literally and ignoring case, in the payload (as JSON text), the last error or
    /// any attempt's error.
    pub text: Option<String>,
    /// Only jobs created before this one (keyset pagination, newest first).
    pub before: Option<JobId>,
    /// Page size, 1 to 1000.
    pub limit: i64,
}

/// How far a job's id (its creation time, as the inserting process's clock read it) may be
/// from its `created_at` (the transaction's start, by PostgreSQL's clock): clock skew and long
/// transactions. Time bounds narrow the primary key by this much more, `created_at` decides.
const ID_CLOCK_SLACK: Duration = Duration::hours(1);

/// The smallest UUIDv7 of the millisecond `t`: every job created earlier has a smaller id.
fn id_floor(t: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(t.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid()
}

/// `text` as a case-insensitive `LIKE` pattern that matches it anywhere, literally: the
/// wildcards `%` and `_` and the escape character `\` in it match only themselves.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// `head` followed by the filter's `WHERE` clause, its values bound, and the number of
/// placeholders used (the next one is `$n+1`).
fn filtered(head: &str, filter: &JobFilter) -> (BoxedSqlQuery<'static, Pg, SqlQuery>, usize) {
    let mut query = diesel::sql_query(head)
        .into_boxed::<Pg>()
        .sql(" WHERE true");
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if !filter.states.is_empty() {
        query = query
            .sql(format!(" AND state = ANY(${}::text[])", next()))
            .bind::<Array<Text>, _>(filter.states.clone());
    }
    if let Some(kind) = &filter.kind {
        query = query
            .sql(format!(" AND kind = ${}", next()))
            .bind::<Text, _>(kind.clone());
    }
    if let Some(queue) = &filter.queue {
        query = query
            .sql(format!(" AND queue = ${}", next()))
            .bind::<Text, _>(queue.clone());
    }
    match filter.owner {
        Some(Owner::System) => query = query.sql(" AND tenant_id IS NULL"),
        Some(Owner::Tenant(tenant)) => {
            query = query
                .sql(format!(" AND tenant_id = ${}", next()))
                .bind::<SqlUuid, _>(tenant.0);
        }
        None => {}
    }
    if let Some(from) = filter.created_from {
        query = query
            .sql(format!(
                " AND created_at >= ${} AND id >= ${}",
                next(),
                next()
            ))
            .bind::<Timestamptz, _>(from)
            .bind::<SqlUuid, _>(id_floor(from - ID_CLOCK_SLACK));
    }
    if let Some(to) = filter.created_before {
        query = query
            .sql(format!(
                " AND created_at < ${} AND id < ${}",
                next(),
                next()
            ))
            .bind::<Timestamptz, _>(to)
            .bind::<SqlUuid, _>(id_floor(to + ID_CLOCK_SLACK));
    }
    if let Some(text) = &filter.text {
        let p = next();
        query = query
            .sql(format!(
                " AND (payload::text ILIKE ${p} ESCAPE '\\' OR last_error ILIKE ${p} ESCAPE '\\' \
                  OR EXISTS (SELECT 1 FROM job_attempts a WHERE a.job_id = jobs.id \
                             AND a.error ILIKE ${p} ESCAPE '\\'))"
            ))
            .bind::<Text, _>(contains_pattern(text));
    }
    if let Some(before) = filter.before {
        query = query
            .sql(format!(" AND id < ${}", next()))
            .bind::<SqlUuid, _>(before.0);
    }
    (query, n)
}

/// Jobs matching `filter`, newest first, at most `filter.limit`.
pub fn list_jobs(scope: &mut impl LedgerScope, filter: &JobFilter) -> QueryResult<Vec<JobRow>> {
    let (query, n) = filtered(&format!("SELECT {JOB_COLUMNS} FROM jobs"), filter);
    query
        .sql(format!(" ORDER BY id DESC LIMIT ${}", n + 1))
        .bind::<BigInt, _>(filter.limit.clamp(1, 1000))
        .load(scope.pg())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many jobs match `filter` (its `before` and `limit` included: without `before`, all).
pub fn count_jobs(scope: &mut impl LedgerScope, filter: &JobFilter) -> QueryResult<i64> {
    let (query, _) = filtered("SELECT count(*) AS n FROM jobs", filter);
    query.get_result::<Count>(scope.pg()).map(|c| c.n)
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// The ids of the newest `filter.limit` jobs matching `filter`, newest first.
pub fn job_ids(scope: &mut impl LedgerScope, filter: &JobFilter) -> QueryResult<Vec<JobId>> {
    let (query, n) = filtered("SELECT id FROM jobs", filter);
    let rows: Vec<IdRow> = query
        .sql(format!(" ORDER BY id DESC LIMIT ${}", n + 1))
        .bind::<BigInt, _>(filter.limit.clamp(1, 1000))
        .load(scope.pg())?;
    Ok(rows.into_iter().map(|r| JobId(r.id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_matches_only_itself() {
        assert_eq!(contains_pattern("acct_1"), "%acct\\_1%");
        assert_eq!(contains_pattern("100%"), "%100\\%%");
        assert_eq!(contains_pattern("C:\\tmp"), "%C:\\\\tmp%");
        assert_eq!(contains_pattern(""), "%%");
    }

    #[test]
    fn id_floors_order_like_the_ids_of_their_time() {
        let t = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let id = uuid::Builder::from_unix_timestamp_millis(
            u64::try_from(t.timestamp_millis()).unwrap_or(0),
            &[0xff; 10],
        )
        .into_uuid();
        assert!(id_floor(t) <= id);
        assert!(id < id_floor(t + Duration::milliseconds(1)));
    }
}
