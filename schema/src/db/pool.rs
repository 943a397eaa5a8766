use diesel::ConnectionError;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, ManageConnection, Pool, PooledConnection};
use diesel::sql_types::{Bool, Text};
use secrecy::{ExposeSecret, SecretString};

use super::scope::{SystemConn, SystemTask, TenantConn, with_system, with_tenant};
use super::{APP_ROLE, DatabaseConfig, SYSTEM_ROLE};
use crate::{DbError, TenantId};

type PgPool = Pool<Guarded>;
/// A pooled connection; derefs to `PgConnection`.
pub type DbConn = PooledConnection<Guarded>;

/// The application's handle on PostgreSQL. Blocking: call it from `web::block` or
/// `spawn_blocking` in async code, and never hold a connection across an `.await`.
#[derive(Clone)]
pub struct Db {
    app: PgPool,
    system: PgPool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("app", &self.app.state())
            .field("system", &self.system.state())
            .finish()
    }
}

impl Db {
    /// Builds both pools and opens one connection on each, proving both logins work.
    pub fn connect(config: &DatabaseConfig) -> Result<Db, DbError> {
        Ok(Db {
            app: build(config, &config.app_pool_url()?, APP_ROLE)?,
            system: build(config, &config.system_pool_url()?, SYSTEM_ROLE)?,
        })
    }

    /// How many connections the app pool holds at most (`DATABASE_POOL_SIZE`).
    pub fn app_pool_size(&self) -> u32 {
        self.app.max_size()
    }

    /// An app-pool connection, acting as [`APP_ROLE`] with no tenant set.
    pub fn conn(&self) -> Result<DbConn, DbError> {
        Ok(self.app.get()?)
    }

    /// Runs `f` in a transaction scoped to `tenant` (see [`with_tenant`]).
    pub fn tenant<T, E>(
        &self,
        tenant: TenantId,
        f: impl FnOnce(&mut TenantConn<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<DbError> + From<diesel::result::Error>,
    {
        let mut conn = self.conn()?;
        with_tenant(&mut conn, tenant, f)
    }

    /// Runs `f` on the system path: a system-pool transaction that sees every tenant.
    pub fn system<T, E>(
        &self,
        task: SystemTask,
        f: impl FnOnce(&mut SystemConn<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<DbError> + From<diesel::result::Error>,
    {
        let mut conn = self.system.get().map_err(DbError::from)?;
        with_system(&mut conn, task, f)
    }
}

/// Connections are opened on demand only (`min_idle` 0). r2d2 opens them on background threads;
/// a pool that topped itself up after every checkout would leave a connect in flight when a
/// short-lived command exits, and libpq crashes when the process exits under it.
fn build(
    config: &DatabaseConfig,
    url: &SecretString,
    role: &'static str,
) -> Result<PgPool, DbError> {
    let manager = Guarded {
        inner: ConnectionManager::new(url.expose_secret()),
        role,
    };
    // One connection up front, directly: a wrong URL, a missing role or database fails now and
    // says why, instead of after the pool's checkout timeout.
    drop(manager.connect().map_err(|e| {
        let message = e.to_string().trim_end().to_owned();
        let hint = if message.contains(&format!("role \"{role}\" does not exist")) {
            " (the first migration creates it: run `findash migrate`)"
        } else if message.contains("database") && message.contains("does not exist") {
            " (`findash migrate` or `findash up` creates it)"
        } else {
            ""
        };
        DbError::Connect(ConnectionError::BadConnection(format!(
            "{role} pool: {message}{hint}"
        )))
    })?);
    Ok(Pool::builder()
        .max_size(config.pool_size)
        .min_idle(Some(0))
        .connection_timeout(config.checkout_timeout)
        .test_on_check_out(true)
        .build_unchecked(manager))
}

/// The pools' connection manager (public only as part of [`DbConn`]'s type). It opens connections
/// that act as `role` after refusing a login that could undo it, and hands a
/// connection out again only while nothing earlier work did to it could reach a later caller.
#[derive(Debug)]
pub struct Guarded {
    inner: ConnectionManager<PgConnection>,
    role: &'static str,
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Bool)]
    ok: bool,
}

/// The search path every pooled connection uses: temporary objects (`pg_temp`) can never shadow
/// a table of the schema, because they are searched last.
const SEARCH_PATH: &str = "public, pg_temp";

/// False when the session user could step outside row-level security: it is, or is a member of,
/// a superuser or BYPASSRLS or CREATEROLE role, a predefined `pg_*` role (all-data access,
/// server files, programs), a `findash_*` role other than `$1`, or the owner of a table in
/// `public` (owners may turn FORCE off).
const UNPRIVILEGED_LOGIN: &str = "\
SELECT NOT EXISTS (
    SELECT FROM pg_roles r
    WHERE pg_has_role(session_user, r.oid, 'MEMBER')
      AND (r.rolsuper OR r.rolbypassrls OR r.rolcreaterole
           OR (r.rolname LIKE 'pg\\_%' AND r.rolname <> 'pg_database_owner')
           OR (r.rolname LIKE 'findash\\_%' AND r.rolname <> $1))
) AND NOT EXISTS (
    SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND pg_has_role(session_user, c.relowner, 'MEMBER')
) AS ok";

/// False when a connection carries state a previous holder left that could act on the next
/// one's queries: another role, a session-wide tenant, another search path, temporary objects
/// (which could shadow tables or capture rows), or SQL-level prepared statements (which could
/// replace the statements Diesel prepared under predictable names). A session that never made
/// a temporary object has no temporary schema, which spares the catalog scans at most checkouts.
const CLEAN_SESSION: &str = "\
SELECT current_user = $1
   AND coalesce(current_setting('app.tenant_id', true), '') = ''
   AND current_setting('search_path') = $2
   AND CASE WHEN pg_my_temp_schema() = 0 THEN true
            ELSE NOT EXISTS (SELECT FROM pg_class WHERE relnamespace = pg_my_temp_schema())
                 AND NOT EXISTS (SELECT FROM pg_proc WHERE pronamespace = pg_my_temp_schema())
       END
   AND NOT EXISTS (SELECT FROM pg_prepared_statements WHERE from_sql)
   AS ok";

fn refused(message: String) -> diesel::r2d2::Error {
    diesel::r2d2::Error::ConnectionError(ConnectionError::BadConnection(message))
}

impl ManageConnection for Guarded {
    type Connection = PgConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConnection, Self::Error> {
        let mut conn = self.inner.connect()?;
        let login: Check = diesel::sql_query(UNPRIVILEGED_LOGIN)
            .bind::<Text, _>(self.role)
            .get_result(&mut conn)
            .map_err(diesel::r2d2::Error::QueryError)?;
        if !login.ok {
            return Err(refused(format!(
                "the {role} pool's login is a superuser, owns tables, or can assume a privileged \
                 role, which would defeat row-level security; log in as {role} (see \
                 DATABASE_APP_URL and DATABASE_SYSTEM_URL)",
                role = self.role
            )));
        }
        conn.batch_execute(&format!(
            "SET ROLE {}; SET search_path = {SEARCH_PATH}; SET application_name = 'findash'",
            self.role
        ))
        .map_err(diesel::r2d2::Error::QueryError)?;
        Ok(conn)
    }

    /// Runs at every checkout (`test_on_check_out`); a connection that fails is closed and
    /// replaced, never handed out.
    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), Self::Error> {
        let session: Check = diesel::sql_query(CLEAN_SESSION)
            .bind::<Text, _>(self.role)
            .bind::<Text, _>(SEARCH_PATH)
            .get_result(conn)
            .map_err(diesel::r2d2::Error::QueryError)?;
        if session.ok {
            Ok(())
        } else {
            tracing::warn!(
                role = self.role,
                "closing a pooled connection left in an unexpected state"
            );
            Err(refused(format!(
                "a {} connection was left in an unexpected state",
                self.role
            )))
        }
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        self.inner.has_broken(conn)
    }
}
