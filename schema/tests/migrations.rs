//! Migrations: every `down.sql` reverses its `up.sql`, concurrent runs are safe, a database that
//! is behind is refused, and `schema.rs` matches what `diesel print-schema` makes of them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

use std::path::Path;
use std::process::Command;

use diesel::connection::SimpleConnection;
use diesel_migrations::MigrationHarness;
use findash_schema::migrations::{self, DatabaseCreation, MIGRATIONS};
use findash_schema::testing::{TestDb, sql};
use findash_schema::{DatabaseConfig, DbError};

/// `pg_dump --schema-only` of the database, without lines that differ between two dumps of the
/// same schema (comments with versions, psql's per-dump `\restrict` keys).
fn schema_dump(db: &TestDb) -> String {
    let output = Command::new("pg_dump")
        .args([
            "--schema-only",
            "--no-comments",
            "--exclude-table=__diesel_schema_migrations",
            "--dbname",
            &db.url(),
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("pg_dump is required for this test (Debian: postgresql-client): {e}")
        });
    assert!(
        output.status.success(),
        "pg_dump failed (it must be at least the server's major version: against the PostgreSQL 16 \
         of docker-compose.yml install postgresql-client-16): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8 dump")
        .lines()
        .filter(|l| {
            !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_down_migration_reverses_its_up_migration() {
    let db = TestDb::empty();
    let mut conn = db.admin_conn();
    let total = migrations::status(&mut conn).unwrap().len();
    assert!(total >= 5);
    let empty = schema_dump(&db);
    let mut before = empty.clone();
    for step in 0..total {
        conn.run_next_migration(MIGRATIONS).unwrap();
        let after = schema_dump(&db);
        assert_ne!(after, before, "migration {step} changed nothing");
        conn.revert_last_migration(MIGRATIONS).unwrap();
        let reverted = schema_dump(&db);
        assert!(
            reverted == before,
            "the down.sql of migration {step} does not restore the schema:\n{}",
            diff(&before, &reverted)
        );
        conn.run_next_migration(MIGRATIONS).unwrap();
        let again = schema_dump(&db);
        assert!(
            again == after,
            "migration {step} is not repeatable after its down.sql:\n{}",
            diff(&after, &again)
        );
        before = after;
    }
    conn.revert_all_migrations(MIGRATIONS).unwrap();
    let reverted = schema_dump(&db);
    assert!(
        reverted == empty,
        "reverting everything leaves:\n{}",
        diff(&empty, &reverted)
    );
}

fn diff(expected: &str, actual: &str) -> String {
    let missing = expected
        .lines()
        .filter(|l| !actual.contains(l))
        .map(|l| format!("- {l}"));
    let extra = actual
        .lines()
        .filter(|l| !expected.contains(l))
        .map(|l| format!("+ {l}"));
    missing.chain(extra).take(40).collect::<Vec<_>>().join("\n")
}

#[test]
fn concurrent_migrate_runs_apply_each_migration_once() {
    let db = TestDb::empty();
    let runs: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    migrations::run_pending(&mut db.admin_conn()).expect("concurrent migrate")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut applied: Vec<String> = runs.into_iter().flatten().collect();
    let total = applied.len();
    applied.sort();
    applied.dedup();
    assert_eq!(applied.len(), total, "a migration was applied twice");
    let status = migrations::status(&mut db.admin_conn()).unwrap();
    assert_eq!(total, status.len());
    assert!(status.iter().all(|m| m.applied));
}

/// The console's indexes are built concurrently, outside a transaction, so a failed build can
/// leave an invalid index behind; migrating again must end with every index valid and as the
/// migration writes it — also over the older shape of `job_attempts_finished_idx`.
#[test]
fn the_concurrent_index_migration_rebuilds_what_a_failed_run_left() {
    const INDEXES: &str = "2026-11-25-000015_console_indexes";
    let db = TestDb::empty();
    let mut conn = db.admin_conn();
    while let Some(next) = migrations::status(&mut conn)
        .unwrap()
        .into_iter()
        .find(|m| !m.applied)
        && next.name != INDEXES
    {
        conn.run_next_migration(MIGRATIONS).unwrap();
    }
    conn.batch_execute(
        "CREATE INDEX job_attempts_finished_idx ON job_attempts (finished_at) \
             WHERE finished_at IS NOT NULL; \
         INSERT INTO webhook_inbox (provider, event_id, raw_body) \
             VALUES ('stripe', 'evt_1', '\\x7b7d'), ('stripe', 'evt_2', '\\x7b7d');",
    )
    .unwrap();
    // A concurrent build that fails (here: a duplicate) leaves its index, invalid.
    assert!(
        conn.batch_execute(
            "CREATE UNIQUE INDEX CONCURRENTLY webhook_inbox_received_idx ON webhook_inbox ((true))"
        )
        .is_err()
    );
    let invalid = "SELECT count(*) AS n FROM pg_index \
                   WHERE indexrelid = 'webhook_inbox_received_idx'::regclass AND NOT indisvalid";
    assert_eq!(sql::count(&mut conn, invalid), 1);

    let applied = migrations::run_pending(&mut conn).unwrap();
    assert_eq!(applied, vec![INDEXES.to_owned()]);
    let definition = |conn: &mut diesel::PgConnection, index: &str| {
        sql::text(
            conn,
            &format!(
                "SELECT pg_get_indexdef(indexrelid) || CASE WHEN indisvalid THEN '' ELSE ' INVALID' END \
                     AS value FROM pg_index WHERE indexrelid = '{index}'::regclass"
            ),
        )
    };
    assert_eq!(
        definition(&mut conn, "job_attempts_finished_idx"),
        "CREATE INDEX job_attempts_finished_idx ON public.job_attempts USING btree (finished_at) \
         INCLUDE (outcome) WHERE (finished_at IS NOT NULL)"
    );
    assert_eq!(
        definition(&mut conn, "webhook_inbox_received_idx"),
        "CREATE INDEX webhook_inbox_received_idx ON public.webhook_inbox USING btree \
         (received_at DESC, id DESC)"
    );
    assert_eq!(
        definition(&mut conn, "dq_findings_open_severity_idx"),
        "CREATE INDEX dq_findings_open_severity_idx ON public.dq_findings USING btree \
         (severity, first_seen_at, id) WHERE (status = 'open'::text)"
    );
    assert_eq!(
        definition(&mut conn, "workflow_runs_created_idx"),
        "CREATE INDEX workflow_runs_created_idx ON public.workflow_runs USING btree \
         (created_at DESC, id DESC)"
    );
}

#[test]
fn a_database_behind_this_build_is_refused_by_name() {
    let db = TestDb::new();
    migrations::ensure_current(&mut db.db().conn().unwrap())
        .expect("a migrated database is current");
    let last = migrations::status(&mut db.admin_conn())
        .unwrap()
        .pop()
        .unwrap();
    db.admin_conn().revert_last_migration(MIGRATIONS).unwrap();
    // The application role (not only the superuser) can tell.
    let error = migrations::ensure_current(&mut db.db().conn().unwrap()).unwrap_err();
    assert!(
        matches!(&error, DbError::SchemaBehind { pending } if pending == std::slice::from_ref(&last.name)),
        "{error:?}"
    );
    assert!(error.to_string().contains("findash migrate"), "{error}");
    assert!(
        migrations::status(&mut db.admin_conn())
            .unwrap()
            .iter()
            .any(|m| m.name == last.name && !m.applied)
    );
}

#[test]
fn the_database_is_created_when_missing_and_only_then() {
    let db = TestDb::unclaimed();
    let config = DatabaseConfig::new(db.url());
    assert_eq!(
        migrations::create_database_if_missing(&config).unwrap(),
        DatabaseCreation::Created
    );
    assert_eq!(
        migrations::create_database_if_missing(&config).unwrap(),
        DatabaseCreation::AlreadyExisted
    );
    let applied =
        migrations::run_pending(&mut migrations::connect_privileged(&config).unwrap()).unwrap();
    assert_eq!(
        applied.len(),
        migrations::status(&mut db.admin_conn()).unwrap().len()
    );
}

#[test]
fn schema_rs_matches_what_diesel_print_schema_generates() {
    let db = TestDb::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let diesel = std::env::var("DIESEL_CLI").unwrap_or_else(|_| "diesel".into());
    let output = Command::new(&diesel)
        .current_dir(&root)
        .args(["print-schema", "--config-file", "diesel.toml", "--database-url", &db.url()])
        .output()
        .unwrap_or_else(|e| {
            panic!("`{diesel}` (diesel_cli 2.3, postgres) is required for this test; ops/tools.sh installs it: {e}")
        });
    assert!(
        output.status.success(),
        "diesel print-schema failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let generated = String::from_utf8(output.stdout).unwrap();
    let committed = std::fs::read_to_string(root.join("schema/src/schema.rs")).unwrap();
    assert!(
        generated == committed,
        "schema/src/schema.rs drifted from the migrations; regenerate it with \
         `diesel print-schema --database-url <migrated db> > schema/src/schema.rs`"
    );
}
