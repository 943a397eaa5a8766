//! How fresh each connection's data is: when it last synced successfully and what went wrong
//! since.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use serde::Serialize;
use uuid::Uuid;

use crate::TenantConn;

/// A provider connection's sync state.
#[derive(Debug, Clone, Serialize, QueryableByName)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionFreshness {
    #[diesel(sql_type = SqlUuid)]
    pub connection_id: Uuid,
    /// sandbox, belvo, pluggy or openfinance.
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    /// pending, active, error, reauth_required or disabled.
    #[diesel(sql_type = Text)]
    pub status: String,
    /// Null: never synced.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_successful_sync_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_error_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Integer)]
    pub consecutive_failures: i32,
}

/// Every connection of the tenant, by name.
pub fn connections_freshness(scope: &mut TenantConn<'_>) -> QueryResult<Vec<ConnectionFreshness>> {
    diesel::sql_query(
        "SELECT id AS connection_id, provider, display_name, status, last_successful_sync_at, \
                last_error, last_error_at, consecutive_failures \
         FROM provider_connections ORDER BY display_name, id",
    )
    .load(scope.conn())
}
