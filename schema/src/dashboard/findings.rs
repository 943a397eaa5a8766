//! Data-quality findings, newest first, a keyset page at a time.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use serde::Serialize;
use uuid::Uuid;

use crate::TenantConn;

/// A problem a data-quality check found.
#[derive(Debug, Clone, Serialize, QueryableByName)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// The check's name (e.g. `balance_continuity`).
    #[diesel(sql_type = Text)]
    pub check_name: String,
    /// info, warning or critical; a critical finding blocks the tenant's forecast.
    #[diesel(sql_type = Text)]
    pub severity: String,
    /// tenant, connection, account, transaction or fx_rate.
    #[diesel(sql_type = Text)]
    pub subject_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub subject_id: Option<String>,
    /// open or resolved.
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub message: String,
    /// What the check saw (amounts in minor units).
    #[diesel(sql_type = Jsonb)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub evidence: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    pub first_seen_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last_seen_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Which findings a page holds.
#[derive(Debug, Clone)]
pub struct FindingFilter {
    /// open or resolved.
    pub status: String,
    pub severity: Option<String>,
    pub check_name: Option<String>,
}

/// Where the previous page ended: its last finding's `(last_seen_at, id)`.
pub type FindingsCursor = (DateTime<Utc>, Uuid);

/// Up to `limit` findings matching `filter` after `after`, most recently seen first.
pub fn findings_page(
    scope: &mut TenantConn<'_>,
    filter: &FindingFilter,
    after: Option<FindingsCursor>,
    limit: i64,
) -> QueryResult<Vec<Finding>> {
    let (after_at, after_id) = after.unzip();
    diesel::sql_query(
        "SELECT id, check_name, severity, subject_type, subject_id, status, message, evidence, \
                first_seen_at, last_seen_at, resolved_at \
         FROM dq_findings \
         WHERE status = $1 \
           AND ($2::text IS NULL OR severity = $2) \
           AND ($3::text IS NULL OR check_name = $3) \
           AND ($4::timestamptz IS NULL OR (last_seen_at, id) < ($4, $5)) \
         ORDER BY last_seen_at DESC, id DESC \
         LIMIT $6",
    )
    .bind::<Text, _>(&filter.status)
    .bind::<Nullable<Text>, _>(filter.severity.as_deref())
    .bind::<Nullable<Text>, _>(filter.check_name.as_deref())
    .bind::<Nullable<Timestamptz>, _>(after_at)
    .bind::<Nullable<SqlUuid>, _>(after_id)
    .bind::<BigInt, _>(limit)
    .load(scope.conn())
}
