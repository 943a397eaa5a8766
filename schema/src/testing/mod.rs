//! Real PostgreSQL for tests: a migrated template database, made once per set of migrations
//! (and shared by every test process of a run), and a fresh database per test cloned from it
//! with `CREATE DATABASE … TEMPLATE …`, dropped when the test ends.
//!
//! The server is `FINDASH_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! a role that may create databases and roles. Without a reachable server every test using this
//! module panics with a message saying so: a test that needs PostgreSQL never passes without it.

#![allow(
    clippy::expect_used,
    reason = "test support: a failed set-up must fail the test at once, loudly"
)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_migrations::MigrationHarness;
use sha2::{Digest, Sha256};
use url::Url;

use crate::migrations::MIGRATIONS;
use crate::{DatabaseConfig, Db};

pub mod sql;

const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const TEMPLATE_PREFIX: &str = "findash_tpl_";
const TEST_PREFIX: &str = "findash_test_";
/// `pg_advisory_lock` key serialising template creation across test processes.
const TEMPLATE_LOCK: i64 = 0x0066_696e_6461_7302;

static TEMPLATE: OnceLock<String> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The server's maintenance URL (`…/postgres`).
pub fn server_url() -> Url {
    let raw =
        std::env::var("FINDASH_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.into());
    Url::parse(&raw).unwrap_or_else(|e| panic!("FINDASH_TEST_DATABASE_URL is not a URL: {e}"))
}

/// The server URL pointed at database `name`.
pub fn url_for(name: &str) -> Url {
    let mut url = server_url();
    url.set_path(&format!("/{name}"));
    url
}

/// A superuser connection to the server's maintenance database.
pub fn server_conn() -> PgConnection {
    let url = server_url();
    PgConnection::establish(url.as_str()).unwrap_or_else(|e| {
        panic!(
            "tests need PostgreSQL at {} (set FINDASH_TEST_DATABASE_URL, or start it with \
             `ops/services.sh`): {e}",
            redacted(&url)
        )
    })
}

fn redacted(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.to_string()
}

/// The repository's `migrations/` directory.
pub fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

/// A fingerprint of every migration file: a changed migration gets a new template.
fn migrations_fingerprint() -> String {
    let mut files = Vec::new();
    let mut stack = vec![migrations_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {dir:?}: {e}")) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(
            file.strip_prefix(migrations_dir())
                .expect("under migrations/")
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.update(std::fs::read(&file).unwrap_or_else(|e| panic!("read {file:?}: {e}")));
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn database_names(conn: &mut PgConnection, prefix: &str) -> Vec<String> {
    // Prefixes are constants of this module: no quoting needed.
    sql::texts(
        conn,
        &format!(
            "SELECT datname::text AS value FROM pg_database WHERE starts_with(datname, '{prefix}')"
        ),
    )
}

fn drop_database(conn: &mut PgConnection, name: &str) {
    diesel::sql_query(format!("ALTER DATABASE \"{name}\" IS_TEMPLATE false"))
        .execute(conn)
        .ok();
    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(conn)
        .unwrap_or_else(|e| panic!("drop database {name}: {e}"));
}

/// Templates unused this long are dropped when a new one is made; a younger one may belong to a
/// concurrent run of another checkout (other migrations) on the same server.
const STALE_TEMPLATE_SECS: i64 = 24 * 3600;

/// This machine, in test database names, so a run only ever drops its own machine's orphans
/// when several machines share one PostgreSQL server.
fn host_tag() -> String {
    let host =
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
    let digest = Sha256::digest(host.trim().as_bytes());
    digest.iter().take(3).map(|b| format!("{b:02x}")).collect()
}

/// Drops this machine's test databases whose test process no longer exists (killed runs).
fn drop_orphans(conn: &mut PgConnection) {
    let prefix = format!("{TEST_PREFIX}{}_", host_tag());
    for name in database_names(conn, &prefix) {
        let pid = name
            .trim_start_matches(&prefix)
            .split('_')
            .next()
            .unwrap_or_default();
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            drop_database(conn, &name);
        }
    }
}

/// Drops templates (other than `keep`) created more than a day ago, or of unknown age.
fn drop_stale_templates(conn: &mut PgConnection, keep: &str) {
    let stale = sql::texts(
        conn,
        &format!(
            "SELECT datname::text AS value FROM pg_database \
             WHERE starts_with(datname, '{TEMPLATE_PREFIX}') AND datname <> '{keep}' \
               AND coalesce(substring(shobj_description(oid, 'pg_database') FROM '^created (\\d+)$')::bigint, 0) \
                   < extract(epoch FROM now())::bigint - {STALE_TEMPLATE_SECS}"
        ),
    );
    for name in stale {
        drop_database(conn, &name);
    }
}

/// The migrated template's name, creating it on first use in this set of migrations.
pub fn template() -> &'static str {
    TEMPLATE.get_or_init(|| {
        let name = format!("{TEMPLATE_PREFIX}{}", migrations_fingerprint());
        let mut conn = server_conn();
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(TEMPLATE_LOCK)
            .execute(&mut conn)
            .expect("lock");
        let ready = sql::flag(
            &mut conn,
            &format!("SELECT EXISTS (SELECT FROM pg_database WHERE datname = '{name}' AND datistemplate) AS flag"),
        );
        if !ready {
            drop_stale_templates(&mut conn, &name);
            // A half-made template of a crashed run (never marked as a template) is rebuilt.
            drop_database(&mut conn, &name);
            diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .expect("create template");
            diesel::sql_query(format!(
                "COMMENT ON DATABASE \"{name}\" IS 'created {}'",
                chrono::Utc::now().timestamp()
            ))
            .execute(&mut conn)
            .expect("date the template");
            {
                let mut template =
                    PgConnection::establish(url_for(&name).as_str()).expect("connect to template");
                template
                    .run_pending_migrations(MIGRATIONS)
                    .expect("migrate template");
            }
            diesel::sql_query(format!(
                "ALTER DATABASE \"{name}\" IS_TEMPLATE true ALLOW_CONNECTIONS false"
            ))
            .execute(&mut conn)
            .expect("mark template");
        }
        drop_orphans(&mut conn);
        diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(TEMPLATE_LOCK)
            .execute(&mut conn)
            .expect("unlock");
        name
    })
}

/// A database name no other test uses: `findash_test_<host>_<pid>_<n>`, so orphans can be
/// traced to their (dead) process on their machine.
pub fn unique_name() -> String {
    format!(
        "{TEST_PREFIX}{}_{}_{}",
        host_tag(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A database of this test's own, dropped (with any connections still open) on drop.
pub struct TestDb {
    name: String,
    db: OnceLock<Db>,
}

impl TestDb {
    /// A database cloned from the migrated template.
    pub fn new() -> TestDb {
        let template = template();
        let name = unique_name();
        let mut conn = server_conn();
        let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"");
        // CREATE DATABASE … TEMPLATE fails while anyone is connected to the template; nobody
        // should be (it does not allow connections), but a concurrent creation may still hold it.
        let mut tries = 0;
        while let Err(e) = diesel::sql_query(&sql).execute(&mut conn) {
            tries += 1;
            assert!(
                tries < 100 && e.to_string().contains("being accessed"),
                "create {name}: {e}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TestDb {
            name,
            db: OnceLock::new(),
        }
    }

    /// An empty database, with no migrations applied.
    pub fn empty() -> TestDb {
        let name = unique_name();
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut server_conn())
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
        TestDb {
            name,
            db: OnceLock::new(),
        }
    }

    /// A name reserved for a database the code under test creates itself (e.g. `findash up`);
    /// whatever exists under it is dropped on drop.
    pub fn unclaimed() -> TestDb {
        TestDb {
            name: unique_name(),
            db: OnceLock::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The superuser URL of this database (what `DATABASE_URL` would be).
    pub fn url(&self) -> String {
        url_for(&self.name).into()
    }

    /// The configuration the application would get for this database.
    pub fn config(&self) -> DatabaseConfig {
        let mut config = DatabaseConfig::new(self.url());
        config.pool_size = 4;
        config
    }

    /// A superuser connection (bypasses RLS): for fixtures and for checking what really is stored.
    pub fn admin_conn(&self) -> PgConnection {
        PgConnection::establish(&self.url())
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name))
    }

    /// The application's pool on this database, acting as `findash_app`.
    pub fn db(&self) -> &Db {
        self.db.get_or_init(|| {
            Db::connect(&self.config()).unwrap_or_else(|e| panic!("pool on {}: {e}", self.name))
        })
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Close the pool first so the drop does not have to terminate our own connections.
        drop(self.db.take());
        let Ok(mut conn) = PgConnection::establish(server_url().as_str()) else {
            return;
        };
        drop_database(&mut conn, &self.name);
    }
}
