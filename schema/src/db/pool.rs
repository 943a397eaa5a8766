use diesel::ConnectionError;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sql_types::{Bool, Text};
use secrecy::{ExposeSecret, SecretString};

use super::scope::{SystemConn, SystemTask, TenantConn, with_system, with_tenant};
use super::{APP_ROLE, DatabaseConfig, SYSTEM_ROLE};
use crate::{DbError, TenantId};

type PgPool = Pool<ConnectionManager<PgConnection>>;
type PgPooled = PooledConnection<ConnectionManager<PgConnection>>;

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

    /// An app-pool connection, acting as [`APP_ROLE`] with no tenant set.
    pub fn conn(&self) -> Result<PgPooled, DbError> {
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
    let pool = Pool::builder()
        .max_size(config.pool_size)
        .min_idle(Some(0))
        .connection_timeout(config.checkout_timeout)
        .test_on_check_out(true)
        .connection_customizer(Box::new(ActAs { role }))
        .build_unchecked(ConnectionManager::<PgConnection>::new(url.expose_secret()));
    drop(pool.get().map_err(|e| {
        let hint = if e
            .to_string()
            .contains(&format!("role \"{role}\" does not exist"))
        {
            " (the migrations create it: run `findash migrate`)"
        } else {
            ""
        };
        DbError::Connect(ConnectionError::BadConnection(format!(
            "{role} pool: {e}{hint}"
        )))
    })?);
    Ok(pool)
}

/// Makes every new connection act as `role`, after refusing a login that could undo it.
#[derive(Debug)]
struct ActAs {
    role: &'static str,
}

#[derive(QueryableByName)]
struct LoginCheck {
    #[diesel(sql_type = Bool)]
    privileged: bool,
}

/// True when the session user could step outside row-level security: it is, or is a member of,
/// a superuser or BYPASSRLS role, one of the `pg_*_all_data` roles, a `findash_*` role other than
/// `$1`, or the owner of a table in `public` (owners may turn FORCE off).
const PRIVILEGED_LOGIN: &str = "\
SELECT EXISTS (
    SELECT FROM pg_roles r
    WHERE pg_has_role(session_user, r.oid, 'MEMBER')
      AND (r.rolsuper OR r.rolbypassrls OR r.rolcreaterole
           OR r.rolname IN ('pg_read_all_data', 'pg_write_all_data')
           OR (r.rolname LIKE 'findash\\_%' AND r.rolname <> $1))
) OR EXISTS (
    SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND pg_has_role(session_user, c.relowner, 'MEMBER')
) AS privileged";

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for ActAs {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        let check: LoginCheck = diesel::sql_query(PRIVILEGED_LOGIN)
            .bind::<Text, _>(self.role)
            .get_result(conn)
            .map_err(diesel::r2d2::Error::QueryError)?;
        if check.privileged {
            return Err(diesel::r2d2::Error::ConnectionError(
                ConnectionError::BadConnection(format!(
                    "the {} pool's login is a superuser, owns tables, or can assume a privileged role, \
                 which would defeat row-level security; log in as {} (see DATABASE_APP_URL and \
                 DATABASE_SYSTEM_URL)",
                    self.role, self.role
                )),
            ));
        }
        conn.batch_execute(&format!(
            "SET ROLE {}; SET application_name = 'findash'",
            self.role
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}
