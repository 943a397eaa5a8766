//! PostgreSQL access: two pools and the two ways to use them.
//!
//! - The **app pool** logs in as [`APP_ROLE`]; a [tenant scope](Db::tenant) sets
//!   `app.tenant_id` for one transaction and row-level security shows only that tenant's rows.
//! - The **system pool** logs in as [`SYSTEM_ROLE`], whose policies see every tenant; it is
//!   reachable only through [`Db::system`], named by a [`SystemTask`].
//!
//! Neither role is a superuser, has BYPASSRLS, owns a table or is a member of another role, and
//! each pool refuses a login that is or has any of these. So no statement on an app connection
//! (`SET ROLE`, `RESET ROLE`, `SET row_security`) lifts the filter: a query sees the tenant in
//! `app.tenant_id` and nothing else. That setting is not a credential: the tenant must come from
//! the authenticated caller, never from input.

mod config;
mod pool;
mod scope;

pub use config::DatabaseConfig;
pub(crate) use config::{database_name, parse_postgres_url};
pub use pool::{Db, DbConn, Guarded};
pub use scope::{SystemConn, SystemTask, TenantConn, with_system, with_tenant};

/// The role of the application pool. Created by the first migration.
pub const APP_ROLE: &str = "findash_app";
/// The role of the system pool. Created by the first migration.
pub const SYSTEM_ROLE: &str = "findash_system";
