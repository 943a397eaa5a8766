//! The connection pool and the two ways to use it: a tenant scope and the system path.
//!
//! Pooled connections always act as [`APP_ROLE`], a role without SUPERUSER or BYPASSRLS, so
//! PostgreSQL's row-level security applies to every query. By default the pool logs in as that
//! role directly (the user in `DATABASE_URL` is swapped for it), which also means a pooled
//! connection cannot `SET ROLE` back to a superuser: its session user has no such right.

use std::num::NonZeroU32;
use std::time::Duration;

use diesel::ConnectionError;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sql_types::{Bool, Text};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::{DbError, TenantId};

/// The role every pooled connection acts as. Created by the first migration.
pub const APP_ROLE: &str = "findash_app";
/// The role of the system path, assumed with `SET LOCAL ROLE` inside [`Db::system`] only.
pub const SYSTEM_ROLE: &str = "findash_system";

/// The `DATABASE_*` section of the configuration.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: a role that may create the database, run migrations and create roles.
    pub url: SecretString,
    /// `DATABASE_APP_URL`: how the pool logs in. Unset: `url` with its user replaced by
    /// [`APP_ROLE`] and its password dropped (trust, peer or certificate authentication).
    pub app_url: Option<SecretString>,
    /// `DATABASE_POOL_SIZE`: connections per process.
    pub pool_size: u32,
    /// How long a caller waits for a pooled connection before getting an error.
    pub checkout_timeout: Duration,
}

impl DatabaseConfig {
    /// A configuration with the defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            app_url: None,
            pool_size: 10,
            checkout_timeout: Duration::from_secs(10),
        }
    }

    /// The URL the pool connects with (see [`DatabaseConfig::app_url`]).
    pub fn pool_url(&self) -> Result<SecretString, DbError> {
        if let Some(app_url) = &self.app_url {
            return Ok(app_url.clone());
        }
        let mut url = parse_postgres_url(self.url.expose_secret())?;
        url.set_username(APP_ROLE)
            .and_then(|()| url.set_password(None))
            .map_err(|()| DbError::InvalidUrl("DATABASE_URL has no host".into()))?;
        Ok(SecretString::from(String::from(url)))
    }

    /// The database name in `DATABASE_URL`.
    pub fn database_name(&self) -> Result<String, DbError> {
        database_name(&parse_postgres_url(self.url.expose_secret())?)
    }
}

pub(crate) fn parse_postgres_url(raw: &str) -> Result<Url, DbError> {
    // The URL may carry a password: errors name the problem, never the URL.
    let url = Url::parse(raw).map_err(|e| DbError::InvalidUrl(e.to_string()))?;
    match url.scheme() {
        "postgres" | "postgresql" => Ok(url),
        other => Err(DbError::InvalidUrl(format!(
            "scheme `{other}` is not postgres:// or postgresql://"
        ))),
    }
}

pub(crate) fn database_name(url: &Url) -> Result<String, DbError> {
    let name = url.path().trim_start_matches('/');
    if name.is_empty() {
        return Err(DbError::InvalidUrl("the URL names no database".into()));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        || name.len() > 63
    {
        return Err(DbError::InvalidUrl(format!(
            "database name `{name}` must be at most 63 of [A-Za-z0-9_-]"
        )));
    }
    Ok(name.to_owned())
}

/// Named reasons to take the system path. Each shows up in logs and in PostgreSQL's
/// `pg_stat_activity.application_name` while it runs, so cross-tenant access is never silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SystemTask {
    /// `findash seed` and `findash up`: reference and demo data.
    Seed,
    /// `findash token`: resolving a tenant slug and its user.
    MintToken,
    /// Cron ticks and the schedules table.
    Cron,
    /// Re-dispatching lost jobs and expired leases.
    Reconciler,
    /// Pruning old ledger rows, ticks and audit entries.
    Retention,
    /// Storing verified webhooks before their tenant is known.
    WebhookIntake,
    /// An operator's cross-tenant view (admin UI, `findash jobs`).
    Operator,
}

impl SystemTask {
    /// The task's name in logs and `application_name`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SystemTask::Seed => "seed",
            SystemTask::MintToken => "mint-token",
            SystemTask::Cron => "cron",
            SystemTask::Reconciler => "reconciler",
            SystemTask::Retention => "retention",
            SystemTask::WebhookIntake => "webhook-intake",
            SystemTask::Operator => "operator",
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

/// A connection on the system path: a transaction running as [`SYSTEM_ROLE`].
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

fn set_local(conn: &mut PgConnection, name: &str, value: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT set_config($1, $2, true)")
        .bind::<Text, _>(name)
        .bind::<Text, _>(value)
        .execute(conn)
        .map(drop)
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
        set_local(conn, "app.tenant_id", &tenant.to_string())?;
        f(&mut TenantConn { conn, tenant })
    })
}

/// Runs `f` on the system path: a transaction with `SET LOCAL ROLE findash_system`, whose
/// policies see every tenant. Ends with the transaction; the connection is back to
/// [`APP_ROLE`] afterwards.
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
        diesel::sql_query("SET LOCAL ROLE findash_system").execute(conn)?;
        set_local(
            conn,
            "application_name",
            &format!("findash:system:{}", task.as_str()),
        )?;
        f(&mut SystemConn { conn, task })
    })
}

/// Makes every new pooled connection act as [`APP_ROLE`], and refuses a login role that could
/// undo it.
#[derive(Debug)]
struct ActAsAppRole;

#[derive(QueryableByName)]
struct SessionPrivileges {
    #[diesel(sql_type = Bool)]
    privileged: bool,
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for ActAsAppRole {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        let session: SessionPrivileges = diesel::sql_query(
            "SELECT rolsuper OR rolbypassrls AS privileged FROM pg_roles WHERE rolname = session_user",
        )
        .get_result(conn)
        .map_err(diesel::r2d2::Error::QueryError)?;
        if session.privileged {
            return Err(diesel::r2d2::Error::ConnectionError(
                ConnectionError::BadConnection(
                    "the pool's login role is a superuser or has BYPASSRLS, which would defeat \
                 row-level security; unset DATABASE_APP_URL or point it at a role that is a \
                 member of findash_app"
                        .into(),
                ),
            ));
        }
        conn.batch_execute("SET ROLE findash_app; SET application_name = 'findash'")
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

type PgPool = Pool<ConnectionManager<PgConnection>>;

/// The application's handle on PostgreSQL: a pool of connections acting as [`APP_ROLE`].
/// Blocking: call it from `web::block`/`spawn_blocking` in async code, and never hold a
/// connection across an `.await`.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("state", &self.pool.state())
            .finish()
    }
}

impl Db {
    /// Builds the pool and opens one connection to prove the login works.
    ///
    /// Connections are opened on demand only (`min_idle` 0). r2d2 opens them on background
    /// threads; a pool that tops itself up after every checkout would leave a connect in flight
    /// when a short-lived command exits, and libpq crashes when the process exits under it.
    pub fn connect(config: &DatabaseConfig) -> Result<Db, DbError> {
        let url = config.pool_url()?;
        let manager = ConnectionManager::<PgConnection>::new(url.expose_secret());
        let pool = Pool::builder()
            .max_size(config.pool_size)
            .min_idle(Some(0))
            .connection_timeout(config.checkout_timeout)
            .test_on_check_out(true)
            .connection_customizer(Box::new(ActAsAppRole))
            .build_unchecked(manager);
        drop(
            pool.get()
                .map_err(|e| DbError::Connect(ConnectionError::BadConnection(e.to_string())))?,
        );
        Ok(Db { pool })
    }

    /// A pooled connection, acting as [`APP_ROLE`] with no tenant set.
    pub fn conn(&self) -> Result<PooledConnection<ConnectionManager<PgConnection>>, DbError> {
        Ok(self.pool.get()?)
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

    /// Runs `f` on the system path (see [`with_system`]).
    pub fn system<T, E>(
        &self,
        task: SystemTask,
        f: impl FnOnce(&mut SystemConn<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<DbError> + From<diesel::result::Error>,
    {
        let mut conn = self.conn()?;
        with_system(&mut conn, task, f)
    }
}
