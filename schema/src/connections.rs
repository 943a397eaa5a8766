//! Connections to bank data providers.

use diesel::prelude::*;

use crate::schema::provider_connections;
use crate::{ConnectionId, SystemConn, TenantId};

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
