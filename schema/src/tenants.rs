//! Tenants: the unit of isolation, with their base currency, time zone and locale.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::tenants;
use crate::{SystemConn, TenantId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub base_currency: String,
    pub time_zone: String,
    pub locale: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tenants)]
pub struct NewTenant<'a> {
    pub id: TenantId,
    pub slug: &'a str,
    pub name: &'a str,
    pub base_currency: &'a str,
    pub time_zone: &'a str,
    pub locale: &'a str,
}

/// Every tenant, oldest first.
pub fn all(sys: &mut SystemConn<'_>) -> QueryResult<Vec<Tenant>> {
    tenants::table
        .order(tenants::created_at)
        .select(Tenant::as_select())
        .load(sys.conn())
}

/// The ids of the tenants whose scheduled work runs (not suspended), oldest first.
pub fn active_ids(sys: &mut SystemConn<'_>) -> QueryResult<Vec<TenantId>> {
    tenants::table
        .filter(tenants::status.eq("active"))
        .order((tenants::created_at, tenants::id))
        .select(tenants::id)
        .load(sys.conn())
}

/// The tenant's date now, in its time zone.
pub fn local_today(sys: &mut SystemConn<'_>, tenant: TenantId) -> QueryResult<chrono::NaiveDate> {
    local_today_of(sys.conn(), tenant)
}

/// The scope's tenant's date now, in its time zone.
pub fn local_today_in(scope: &mut crate::TenantConn<'_>) -> QueryResult<chrono::NaiveDate> {
    let tenant = scope.tenant_id();
    local_today_of(scope.conn(), tenant)
}

fn local_today_of(conn: &mut PgConnection, tenant: TenantId) -> QueryResult<chrono::NaiveDate> {
    tenants::table
        .find(tenant)
        .select(diesel::dsl::sql::<diesel::sql_types::Date>(
            "(now() AT TIME ZONE time_zone)::date",
        ))
        .first(conn)
}

/// A tenant by slug or by id, as the CLI's `--tenant` accepts either.
pub fn find_by_slug_or_id(sys: &mut SystemConn<'_>, key: &str) -> QueryResult<Option<Tenant>> {
    let query = tenants::table.select(Tenant::as_select());
    match key.parse::<TenantId>() {
        Ok(id) => query.find(id).first(sys.conn()).optional(),
        Err(_) => query
            .filter(tenants::slug.eq(key))
            .first(sys.conn())
            .optional(),
    }
}

/// The slugs of the tenants among `ids` (an id no tenant has is left out).
pub fn slugs(
    sys: &mut SystemConn<'_>,
    ids: &[TenantId],
) -> QueryResult<std::collections::HashMap<TenantId, String>> {
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let rows: Vec<(TenantId, String)> = tenants::table
        .filter(tenants::id.eq_any(ids))
        .select((tenants::id, tenants::slug))
        .load(sys.conn())?;
    Ok(rows.into_iter().collect())
}

/// Inserts the tenant unless one with the same slug exists; returns the stored row either way.
pub fn ensure(sys: &mut SystemConn<'_>, new: &NewTenant<'_>) -> QueryResult<(Tenant, bool)> {
    let inserted = diesel::insert_into(tenants::table)
        .values(new)
        .on_conflict(tenants::slug)
        .do_nothing()
        .execute(sys.conn())?;
    let tenant = tenants::table
        .filter(tenants::slug.eq(new.slug))
        .select(Tenant::as_select())
        .get_result(sys.conn())?;
    Ok((tenant, inserted == 1))
}
