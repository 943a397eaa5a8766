//! The embedded migrations and the operations on them: create the database, apply pending
//! migrations under an advisory lock, list their status, and refuse to serve a database that is
//! behind this build.

use std::collections::BTreeSet;

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::ExposeSecret;

use crate::db::{database_name, parse_postgres_url};
use crate::{DatabaseConfig, DbError};

/// Every migration under `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// `pg_advisory_lock` key held while migrating ("findash" in ASCII, then 1).
const MIGRATION_LOCK: i64 = 0x0066_696e_6461_7301;

/// A migration and whether the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Diesel's version (the directory's timestamp, digits only).
    pub version: String,
    /// The directory name.
    pub name: String,
    pub applied: bool,
}

/// What [`create_database_if_missing`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseCreation {
    Created,
    AlreadyExisted,
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Creates the database named in `DATABASE_URL` when it does not exist, connecting to the
/// server's `postgres` database with the same credentials. Safe to race: a concurrent creator
/// winning counts as "already existed".
pub fn create_database_if_missing(config: &DatabaseConfig) -> Result<DatabaseCreation, DbError> {
    let url = parse_postgres_url(config.url.expose_secret())?;
    let name = database_name(&url)?;
    let mut maintenance = url;
    maintenance.set_path("/postgres");
    let mut conn = PgConnection::establish(maintenance.as_str())?;
    let exists = |conn: &mut PgConnection| -> Result<bool, DbError> {
        let row: Exists = diesel::sql_query(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1) AS exists",
        )
        .bind::<Text, _>(&name)
        .get_result(conn)?;
        Ok(row.exists)
    };
    if exists(&mut conn)? {
        return Ok(DatabaseCreation::AlreadyExisted);
    }
    // The name was checked against [A-Za-z0-9_-]; quoting keeps case and dashes.
    match diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn) {
        Ok(_) => Ok(DatabaseCreation::Created),
        Err(_) if exists(&mut conn)? => Ok(DatabaseCreation::AlreadyExisted),
        Err(e) => Err(e.into()),
    }
}

/// Opens a connection with the privileged `DATABASE_URL` (migrations create roles and tables).
pub fn connect_privileged(config: &DatabaseConfig) -> Result<PgConnection, DbError> {
    Ok(PgConnection::establish(config.url.expose_secret())?)
}

/// Applies every pending migration, each in its own transaction, while holding a session-level
/// advisory lock: a second `findash migrate` (another replica deploying) waits, then finds
/// nothing left to do. Returns the names of the migrations this call applied.
pub fn run_pending(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(conn)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| {
            versions
                .iter()
                .map(ToString::to_string)
                .collect::<BTreeSet<_>>()
        })
        .map_err(|e| DbError::Migration(e.to_string()));
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(conn);
    let applied = applied?;
    unlocked?;
    Ok(embedded()?
        .into_iter()
        .filter(|(version, _)| applied.contains(version))
        .map(|(_, name)| name)
        .collect())
}

/// Every embedded migration with whether `conn`'s database has applied it, oldest first.
/// Reads the migrations table directly (rather than through Diesel's harness, which would try to
/// create it), so it works for the read-only application role too.
pub fn status(conn: &mut PgConnection) -> Result<Vec<MigrationStatus>, DbError> {
    let has_table: Exists =
        diesel::sql_query("SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS exists")
            .get_result(conn)?;
    let applied: BTreeSet<String> = if has_table.exists {
        diesel::sql_query("SELECT version::text AS version FROM __diesel_schema_migrations")
            .load::<Version>(conn)?
            .into_iter()
            .map(|v| v.version)
            .collect()
    } else {
        BTreeSet::new()
    };
    Ok(embedded()?
        .into_iter()
        .map(|(version, name)| MigrationStatus {
            applied: applied.contains(&version),
            version,
            name,
        })
        .collect())
}

/// Refuses a database that lacks a migration of this build, naming what is missing. `web`,
/// `worker` and `scheduler` call this before serving. A database *ahead* of the build (a newer
/// release migrated it during a rolling deploy) is accepted: migrations are additive.
pub fn ensure_current(conn: &mut PgConnection) -> Result<(), DbError> {
    let pending: Vec<String> = status(conn)?
        .into_iter()
        .filter(|m| !m.applied)
        .map(|m| m.name)
        .collect();
    if pending.is_empty() {
        Ok(())
    } else {
        Err(DbError::SchemaBehind { pending })
    }
}

/// (version, name) of every embedded migration, oldest first.
fn embedded() -> Result<Vec<(String, String)>, DbError> {
    let mut migrations: Vec<(String, String)> = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect();
    migrations.sort();
    Ok(migrations)
}
