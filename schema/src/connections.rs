//! Connections to bank data providers.

use diesel::prelude::*;

use crate::schema::provider_connections;
use crate::{ConnectionId, SystemConn, TenantConn, TenantId};

crate::text_enum! {
    /// Where a connection's accounts and transactions come from.
    pub enum Provider {
        Sandbox => "sandbox",
        Belvo => "belvo",
        Pluggy => "pluggy",
        OpenFinance => "openfinance",
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = provider_connections)]
pub struct NewConnection<'a> {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    pub provider: Provider,
    pub external_id: &'a str,
    pub display_name: &'a str,
    pub settings: serde_json::Value,
}

/// Inserts the connection unless the tenant already has one with the same provider and external
/// id. Returns whether it was inserted.
pub fn ensure(sys: &mut SystemConn<'_>, new: &NewConnection<'_>) -> QueryResult<bool> {
    diesel::insert_into(provider_connections::table)
        .values(new)
        .on_conflict((
            provider_connections::tenant_id,
            provider_connections::provider,
            provider_connections::external_id,
        ))
        .do_nothing()
        .execute(sys.conn())
        .map(|n| n == 1)
}

/// Credentials as stored: AES-256-GCM output (nonce first) and the id of the key that sealed
/// them. Opening them is `findash_jobs::credentials`' business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCredentials {
    pub ciphertext: Vec<u8>,
    pub key_id: String,
}

crate::text_enum! {
    /// Whether a connection can sync.
    pub enum ConnectionStatus {
        /// Created, not synced yet.
        Pending => "pending",
        Active => "active",
        /// The last sync failed; the next one is tried as usual.
        Error => "error",
        /// The provider refused the credentials: a person must reconnect before syncs resume.
        ReauthRequired => "reauth_required",
        Disabled => "disabled",
    }
}

/// A connection as the sync job needs it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = provider_connections, check_for_backend(diesel::pg::Pg))]
pub struct Connection {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    pub provider: Provider,
    pub external_id: String,
    pub display_name: String,
    pub status: ConnectionStatus,
    pub settings: serde_json::Value,
    pub credentials_ciphertext: Option<Vec<u8>>,
    pub credentials_key_id: Option<String>,
}

impl Connection {
    pub fn sealed(&self) -> Option<SealedCredentials> {
        match (&self.credentials_ciphertext, &self.credentials_key_id) {
            (Some(ciphertext), Some(key_id)) => Some(SealedCredentials {
                ciphertext: ciphertext.clone(),
                key_id: key_id.clone(),
            }),
            _ => None,
        }
    }
}

/// The tenant's connection `id`.
pub fn find(scope: &mut TenantConn<'_>, id: ConnectionId) -> QueryResult<Option<Connection>> {
    provider_connections::table
        .find(id)
        .select(Connection::as_select())
        .first(scope.conn())
        .optional()
}

/// The tenant's connections, oldest first.
pub fn list(scope: &mut TenantConn<'_>) -> QueryResult<Vec<Connection>> {
    provider_connections::table
        .select(Connection::as_select())
        .order((provider_connections::created_at, provider_connections::id))
        .load(scope.conn())
}

/// Stores new credentials for a connection (replacing any).
pub fn set_credentials(
    scope: &mut TenantConn<'_>,
    id: ConnectionId,
    sealed: &SealedCredentials,
) -> QueryResult<bool> {
    diesel::update(provider_connections::table.find(id))
        .set((
            provider_connections::credentials_ciphertext.eq(&sealed.ciphertext),
            provider_connections::credentials_key_id.eq(&sealed.key_id),
        ))
        .execute(scope.conn())
        .map(|n| n == 1)
}

/// A connection's sealed credentials, for re-sealing.
#[derive(Debug)]
pub struct SealedRow {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    pub sealed: SealedCredentials,
}

/// Up to `limit` connections with credentials, by id, after `after`.
pub fn sealed_credentials_page(
    sys: &mut SystemConn<'_>,
    after: Option<ConnectionId>,
    limit: i64,
) -> QueryResult<Vec<SealedRow>> {
    use provider_connections::dsl as c;
    let mut query = c::provider_connections
        .select((
            c::id,
            c::tenant_id,
            c::credentials_ciphertext,
            c::credentials_key_id,
        ))
        .filter(c::credentials_ciphertext.is_not_null())
        .order(c::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(c::id.gt(after));
    }
    let rows =
        query.load::<(ConnectionId, TenantId, Option<Vec<u8>>, Option<String>)>(sys.conn())?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, tenant_id, ciphertext, key_id)| {
            Some(SealedRow {
                id,
                tenant_id,
                sealed: SealedCredentials {
                    ciphertext: ciphertext?,
                    key_id: key_id?,
                },
            })
        })
        .collect())
}

/// Replaces credentials sealed by `old_key_id` with `sealed`; does nothing if they changed
/// meanwhile. Returns whether it replaced them.
pub fn replace_credentials(
    sys: &mut SystemConn<'_>,
    id: ConnectionId,
    old_key_id: &str,
    sealed: &SealedCredentials,
) -> QueryResult<bool> {
    use provider_connections::dsl as c;
    diesel::update(
        c::provider_connections
            .find(id)
            .filter(c::credentials_key_id.eq(old_key_id)),
    )
    .set((
        c::credentials_ciphertext.eq(&sealed.ciphertext),
        c::credentials_key_id.eq(&sealed.key_id),
    ))
    .execute(sys.conn())
    .map(|n| n == 1)
}

/// A sync of the connection began.
pub fn sync_started(scope: &mut TenantConn<'_>, id: ConnectionId) -> QueryResult<()> {
    use provider_connections::dsl as c;
    diesel::update(c::provider_connections.find(id))
        .set(c::last_sync_started_at.eq(diesel::dsl::now))
        .execute(scope.conn())
        .map(drop)
}

/// A sync of the connection finished: fresh as of now, no error.
pub fn sync_succeeded(scope: &mut TenantConn<'_>, id: ConnectionId) -> QueryResult<()> {
    use provider_connections::dsl as c;
    diesel::update(c::provider_connections.find(id))
        .set((
            c::status.eq(ConnectionStatus::Active),
            c::last_successful_sync_at.eq(diesel::dsl::now),
            c::last_error.eq(None::<String>),
            c::last_error_at.eq(None::<chrono::DateTime<chrono::Utc>>),
            c::consecutive_failures.eq(0),
        ))
        .execute(scope.conn())
        .map(drop)
}

/// A sync of the connection failed with `error` (already free of secrets); the connection
/// moves to `status` (`error`, or `reauth_required` when the provider refused the credentials).
pub fn sync_failed(
    scope: &mut TenantConn<'_>,
    id: ConnectionId,
    status: ConnectionStatus,
    error: &str,
) -> QueryResult<()> {
    use provider_connections::dsl as c;
    diesel::update(c::provider_connections.find(id))
        .set((
            c::status.eq(status),
            c::last_error.eq(error),
            c::last_error_at.eq(diesel::dsl::now),
            c::consecutive_failures.eq(c::consecutive_failures + 1),
        ))
        .execute(scope.conn())
        .map(drop)
}

/// New credentials were stored: a connection that needed reconnecting may sync again.
pub fn reconnected(scope: &mut TenantConn<'_>, id: ConnectionId) -> QueryResult<()> {
    use provider_connections::dsl as c;
    diesel::update(
        c::provider_connections
            .find(id)
            .filter(c::status.eq(ConnectionStatus::ReauthRequired)),
    )
    .set(c::status.eq(ConnectionStatus::Pending))
    .execute(scope.conn())
    .map(drop)
}
