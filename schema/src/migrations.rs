//! The embedded migrations and the operations on them: create the database, apply pending
//! migrations under an advisory lock, list their status, and refuse to serve a database that is
//! behind this build.
//!
//! Most migrations run in a transaction of their own. One that builds indexes without blocking
//! writes (`CREATE INDEX CONCURRENTLY`) cannot: its `metadata.toml` says
//! `run_in_transaction = false`, and [`Migrations`] sends it one statement at a time, since
//! PostgreSQL runs a query string of several statements as one implicit transaction.

use std::collections::BTreeSet;
use std::time::Duration;

use diesel::connection::BoxableConnection;
use diesel::migration::{Migration, MigrationMetadata, MigrationName, MigrationSource};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::ExposeSecret;

use crate::db::{database_name, parse_postgres_url};
use crate::{DatabaseConfig, DbError};

/// Every migration under `migrations/`, as Diesel embeds them.
const EMBEDDED: EmbeddedMigrations = embed_migrations!("../migrations");

/// Every migration under `migrations/`, compiled into the binary, as they must be run.
pub const MIGRATIONS: Migrations = Migrations;

/// The migrations that run outside a transaction, with their SQL: Diesel sends an embedded
/// migration's file as one query string and does not hand its text out, so these are embedded
/// once more here. [`Migrations`] refuses a non-transactional migration that is missing.
const OUTSIDE_A_TRANSACTION: &[(&str, &str, &str)] = &[(
    "2026-11-25-000015_console_indexes",
    include_str!("../../migrations/2026-11-25-000015_console_indexes/up.sql"),
    include_str!("../../migrations/2026-11-25-000015_console_indexes/down.sql"),
)];

/// `pg_advisory_lock` key held while migrating ("findash" in ASCII, then 1).
const MIGRATION_LOCK: i64 = 0x0066_696e_6461_7301;

/// How often a waiting `findash migrate` asks for [`MIGRATION_LOCK`] again.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// The embedded migrations, each run the way it must be: in a transaction of its own (Diesel's
/// default), or, for one whose `metadata.toml` says `run_in_transaction = false`, one statement
/// at a time outside any transaction ([`OUTSIDE_A_TRANSACTION`]).
#[derive(Debug, Clone, Copy)]
pub struct Migrations;

impl MigrationSource<Pg> for Migrations {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<Pg>>>> {
        MigrationSource::<Pg>::migrations(&EMBEDDED)?
            .into_iter()
            .map(|migration| {
                if migration.metadata().run_in_transaction() {
                    return Ok(migration);
                }
                let name = migration.name().to_string();
                let Some((_, up, down)) = OUTSIDE_A_TRANSACTION.iter().find(|(n, ..)| *n == name)
                else {
                    return Err(DbError::Migration(format!(
                        "migration {name} runs outside a transaction but is not listed in \
                         OUTSIDE_A_TRANSACTION (schema/src/migrations.rs)"
                    ))
                    .into());
                };
                Ok(Box::new(OneStatementAtATime {
                    inner: migration,
                    up,
                    down,
                }) as Box<dyn Migration<Pg>>)
            })
            .collect()
    }
}

/// A non-transactional migration, run statement by statement.
struct OneStatementAtATime {
    /// Diesel's, for its name and metadata.
    inner: Box<dyn Migration<Pg>>,
    up: &'static str,
    down: &'static str,
}

impl OneStatementAtATime {
    fn execute(
        &self,
        conn: &mut dyn BoxableConnection<Pg>,
        sql: &str,
    ) -> diesel::migration::Result<()> {
        let name = self.inner.name();
        for statement in statements(sql).map_err(|e| DbError::Migration(format!("{name}: {e}")))? {
            conn.batch_execute(&statement).map_err(|e| {
                DbError::Migration(format!("{name}: {e} (while running `{statement}`)"))
            })?;
        }
        Ok(())
    }
}

impl Migration<Pg> for OneStatementAtATime {
    fn run(&self, conn: &mut dyn BoxableConnection<Pg>) -> diesel::migration::Result<()> {
        self.execute(conn, self.up)
    }

    fn revert(&self, conn: &mut dyn BoxableConnection<Pg>) -> diesel::migration::Result<()> {
        self.execute(conn, self.down)
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        self.inner.metadata()
    }

    fn name(&self) -> &dyn MigrationName {
        self.inner.name()
    }
}

/// The statements of `sql`, without `--` comments: split at each `;` outside a quoted string or
/// name. Enough for plain DDL, which is all a migration run outside a transaction holds; a
/// function body (`$$`) or a block comment (`/*`), which this cannot split safely, is refused.
fn statements(sql: &str) -> Result<Vec<String>, String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(open) = quote {
            current.push(c);
            if c == open {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                current.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                // To the end of the line, which ends the comment.
                for c in chars.by_ref() {
                    if c == '\n' {
                        current.push(c);
                        break;
                    }
                }
            }
            '$' => return Err("`$` quoting cannot be split into statements".to_owned()),
            '/' if chars.peek() == Some(&'*') => {
                return Err("block comments cannot be split into statements".to_owned());
            }
            ';' => {
                let statement = current.trim();
                if !statement.is_empty() {
                    statements.push(statement.to_owned());
                }
                current.clear();
            }
            _ => current.push(c),
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".to_owned());
    }
    let rest = current.trim();
    if !rest.is_empty() {
        statements.push(rest.to_owned());
    }
    Ok(statements)
}

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

/// Applies every pending migration (each in its own transaction, unless it must run outside
/// one) while holding a session-level advisory lock: a second `findash migrate` (another
/// replica deploying) waits, then finds nothing left to do. Returns the names of the migrations
/// this call applied.
pub fn run_pending(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    lock(conn)?;
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

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Takes [`MIGRATION_LOCK`], asking again every [`LOCK_POLL`] rather than queueing for it. A
/// session queued in `pg_advisory_lock` holds a snapshot open all the while, and
/// `CREATE INDEX CONCURRENTLY` waits for every older snapshot in its database to end: the
/// migrating session would wait for the waiter, which waits for its lock — a deadlock. Between
/// two polls a waiter holds no snapshot.
fn lock(conn: &mut PgConnection) -> Result<(), DbError> {
    loop {
        let taken: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<BigInt, _>(MIGRATION_LOCK)
            .get_result(conn)?;
        if taken.locked {
            return Ok(());
        }
        std::thread::sleep(LOCK_POLL);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_semicolons_outside_quotes_and_comments() {
        let sql = "-- a comment; with a semicolon\n\
                   DROP INDEX CONCURRENTLY IF EXISTS a_idx;\n\
                   CREATE INDEX CONCURRENTLY a_idx ON t (a) WHERE s = 'x;y''z'; -- trailing\n\
                   CREATE INDEX \"b;idx\" ON t (b)\n";
        assert_eq!(
            statements(sql).unwrap(),
            vec![
                "DROP INDEX CONCURRENTLY IF EXISTS a_idx",
                "CREATE INDEX CONCURRENTLY a_idx ON t (a) WHERE s = 'x;y''z'",
                "CREATE INDEX \"b;idx\" ON t (b)",
            ]
        );
        assert_eq!(statements("-- nothing\n;\n").unwrap(), Vec::<String>::new());
        assert!(statements("DO $$ BEGIN END $$;").is_err());
        assert!(statements("/* a; b */ SELECT 1;").is_err());
        assert!(statements("SELECT 'open;").is_err());
    }

    #[test]
    fn every_migration_outside_a_transaction_is_run_one_statement_at_a_time() {
        let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS).unwrap();
        let outside: Vec<String> = migrations
            .iter()
            .filter(|m| !m.metadata().run_in_transaction())
            .map(|m| m.name().to_string())
            .collect();
        let listed: Vec<&str> = OUTSIDE_A_TRANSACTION.iter().map(|(n, ..)| *n).collect();
        assert_eq!(outside, listed);
        for (name, up, down) in OUTSIDE_A_TRANSACTION {
            assert!(statements(up).is_ok_and(|s| !s.is_empty()), "{name} up");
            assert!(statements(down).is_ok_and(|s| !s.is_empty()), "{name} down");
        }
    }
}
