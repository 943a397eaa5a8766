//! Tenant scopes and the system path: what a transaction may see.

use std::num::NonZeroU32;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::{APP_ROLE, SYSTEM_ROLE};
use crate::{DbError, TenantId};

/// Named reasons to take the system path. Each shows up in logs and in PostgreSQL's
/// `pg_stat_activity.application_name` while it runs, so cross-tenant access is never silent.
/// Work that needs the system path adds its own variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SystemTask {
    /// `findash seed` and `findash up`: reference and demo data.
    Seed,
    /// `findash token`: resolving a tenant slug and its user.
    MintToken,
    /// Cron ticks and the schedules table.
    Cron,
    /// The job engine: dispatch, claims, outcomes, reconciliation, workflows, operator actions.
    Jobs,
    /// Retention: deleting old ledger rows.
    Prune,
    /// Re-sealing provider credentials under the current key (`findash credentials rotate`).
    Credentials,
    /// Public reference data: FX rates.
    Rates,
    /// Webhook deliveries: the inbox (whose events may have no tenant yet), the accounts that
    /// say which tenant an event belongs to, and the revenue rows processing writes.
    Webhooks,
    /// Gauges read at scrape time across tenants (each account's data age).
    Metrics,
    /// Email: turning a preference off from a verified unsubscribe link, whose tenant is known
    /// only from the link.
    Email,
    /// The admin console: operators, their sessions and sign-ins, and what it shows and does
    /// across tenants (jobs, schedules, workflows, webhooks, data freshness).
    Admin,
}

impl SystemTask {
    /// The task's name in logs and `application_name`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SystemTask::Seed => "seed",
            SystemTask::MintToken => "mint-token",
            SystemTask::Cron => "cron",
            SystemTask::Jobs => "jobs",
            SystemTask::Prune => "prune",
            SystemTask::Credentials => "credentials",
            SystemTask::Rates => "rates",
            SystemTask::Metrics => "metrics",
            SystemTask::Webhooks => "webhooks",
            SystemTask::Email => "email",
            SystemTask::Admin => "admin",
        }
    }
}

/// A connection inside a tenant scope: a transaction whose `app.tenant_id` is set.
pub struct TenantConn<'a> {
    conn: &'a mut PgConnection,
    tenant: TenantId,
}

impl TenantConn<'_> {
    /// The tenant every row read or written here belongs to.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    /// The connection, for Diesel queries.
    pub fn conn(&mut self) -> &mut PgConnection {
        self.conn
    }
}

/// A connection on the system path: a transaction acting as [`SYSTEM_ROLE`].
pub struct SystemConn<'a> {
    conn: &'a mut PgConnection,
    task: SystemTask,
}

impl SystemConn<'_> {
    /// Why this scope exists.
    pub fn task(&self) -> SystemTask {
        self.task
    }

    /// The connection, for Diesel queries.
    pub fn conn(&mut self) -> &mut PgConnection {
        self.conn
    }
}

#[derive(QueryableByName)]
struct RoleCheck {
    #[diesel(sql_type = Bool)]
    expected_role: bool,
}

/// Sets `name` for the current transaction and, in the same round trip, checks that the
/// connection acts as `role`: a scope opened on any other connection (a migration connection,
/// a superuser's) would not be filtered the way its caller believes.
fn set_local_as(
    conn: &mut PgConnection,
    role: &'static str,
    name: &str,
    value: &str,
) -> Result<(), DbError> {
    // The search path is pinned for the transaction too, so no temporary object can shadow a
    // table even if some earlier statement in this transaction changed it.
    let check: RoleCheck = diesel::sql_query(
        "SELECT set_config($1, $2, true) IS NOT NULL \
            AND set_config('search_path', 'public, pg_temp', true) IS NOT NULL \
            AND current_user = $3 AS expected_role",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(value)
    .bind::<Text, _>(role)
    .get_result(conn)?;
    if check.expected_role {
        Ok(())
    } else {
        Err(DbError::WrongRole { expected: role })
    }
}

fn refuse_nesting(conn: &mut PgConnection) -> Result<(), DbError> {
    let depth: Option<NonZeroU32> =
        AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?;
    match depth {
        None => Ok(()),
        Some(_) => Err(DbError::NestedScope),
    }
}

/// Runs `f` in a transaction scoped to `tenant`. The scope must be the outermost transaction on
/// `conn`: `SET LOCAL` lasts until the outermost commit, so a nested scope would leak its
/// tenant into the rest of the enclosing transaction.
pub fn with_tenant<T, E>(
    conn: &mut PgConnection,
    tenant: TenantId,
    f: impl FnOnce(&mut TenantConn<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DbError> + From<diesel::result::Error>,
{
    refuse_nesting(conn)?;
    conn.transaction(|conn| {
        set_local_as(conn, APP_ROLE, "app.tenant_id", &tenant.to_string())?;
        f(&mut TenantConn { conn, tenant })
    })
}

/// Runs `f` on the system path: a transaction on a connection acting as [`SYSTEM_ROLE`], whose
/// policies see every tenant. The task's name is the transaction's `application_name`, so it
/// shows in `pg_stat_activity` while it runs. Reached through [`crate::Db::system`].
pub fn with_system<T, E>(
    conn: &mut PgConnection,
    task: SystemTask,
    f: impl FnOnce(&mut SystemConn<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DbError> + From<diesel::result::Error>,
{
    refuse_nesting(conn)?;
    let span = tracing::debug_span!("system_scope", task = task.as_str());
    let _entered = span.enter();
    conn.transaction(|conn| {
        let name = format!("findash:system:{}", task.as_str());
        set_local_as(conn, SYSTEM_ROLE, "application_name", &name)?;
        f(&mut SystemConn { conn, task })
    })
}
