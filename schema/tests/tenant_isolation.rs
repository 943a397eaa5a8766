//! Tenant isolation, proven against the real schema: every check runs over the list of tenant
//! tables read from the catalog, so a new table is covered (or fails loudly) without editing
//! this file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

use std::collections::BTreeSet;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use findash_schema::testing::TestDb;
use findash_schema::testing::sql::{count, flag, text, texts, try_count, try_text};
use findash_schema::{Db, DbError, SystemTask, TenantId, with_system, with_tenant};

/// Tables that are not tenant-owned, and why. Anything else in `public` must be tenant-owned.
const GLOBAL_TABLES: &[(&str, &str)] = &[
    ("currencies", "ISO 4217 reference data"),
    ("fx_rates", "public exchange rates, the same for everyone"),
    ("cron_schedules", "operator state of system-wide schedules"),
    ("cron_ticks", "system-wide schedule ticks"),
    (
        "console_operators",
        "the deployment's operators (admin console); system role only",
    ),
    (
        "console_sessions",
        "admin console sessions, across tenants; system role only",
    ),
    (
        "console_login_failures",
        "admin console sign-in backoff; system role only",
    ),
];

struct TenantTable {
    name: String,
    /// `tenant_id`, or `id` for `tenants` itself.
    column: String,
}

struct Fixture {
    test_db: TestDb,
    a: TenantId,
    b: TenantId,
    tables: Vec<TenantTable>,
}

impl Fixture {
    fn new() -> Fixture {
        let test_db = TestDb::new();
        let (a, b) = (TenantId::new(), TenantId::new());
        let sql = include_str!("fixtures/tenant_rows.sql");
        let mut admin = test_db.admin_conn();
        for (tenant, slug) in [(a, "alpha"), (b, "bravo")] {
            admin
                .batch_execute(
                    &sql.replace("{tenant}", &tenant.to_string())
                        .replace("{slug}", slug),
                )
                .expect("load the fixture");
        }
        admin
            .batch_execute(include_str!("fixtures/system_rows.sql"))
            .expect("load the system rows");
        let tables = public_tables(&mut admin)
            .into_iter()
            .filter(|t| !GLOBAL_TABLES.iter().any(|(g, _)| g == t))
            .map(|name| {
                let column = if name == "tenants" { "id" } else { "tenant_id" }.to_owned();
                TenantTable { name, column }
            })
            .collect();
        Fixture {
            test_db,
            a,
            b,
            tables,
        }
    }

    fn db(&self) -> &Db {
        self.test_db.db()
    }

    /// Rows of `table` that belong to `tenant`, as really stored (superuser, no RLS).
    fn stored(&self, table: &TenantTable, tenant: TenantId) -> i64 {
        count(
            &mut self.test_db.admin_conn(),
            &format!(
                "SELECT count(*) AS n FROM {} WHERE {} = '{tenant}'",
                table.name, table.column
            ),
        )
    }
}

fn public_tables(conn: &mut PgConnection) -> Vec<String> {
    texts(
        conn,
        "SELECT c.relname::text AS value FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> '__diesel_schema_migrations' \
         ORDER BY 1",
    )
}

fn has_privilege(conn: &mut PgConnection, table: &str, privilege: &str) -> bool {
    flag(
        conn,
        &format!("SELECT has_table_privilege('findash_app', '{table}', '{privilege}') AS flag"),
    )
}

fn has_column_privilege(
    conn: &mut PgConnection,
    table: &str,
    column: &str,
    privilege: &str,
) -> bool {
    flag(
        conn,
        &format!(
            "SELECT has_column_privilege('findash_app', '{table}', '{column}', '{privilege}') AS flag"
        ),
    )
}

/// Runs `sql` in tenant `tenant`'s scope, expecting an error; returns its message.
fn rejected(db: &Db, tenant: TenantId, sql: &str) -> String {
    let outcome = db.tenant(tenant, |tx| {
        diesel::sql_query(sql)
            .execute(tx.conn())
            .map_err(DbError::from)
    });
    match outcome {
        Ok(rows) => panic!("`{sql}` was accepted ({rows} rows)"),
        Err(e) => e.to_string(),
    }
}

/// Asserts that PostgreSQL refused `what` for lack of a privilege (not for some other reason,
/// such as a typo in the statement).
fn denied(outcome: QueryResult<usize>, what: &str) {
    let message = match outcome {
        Ok(_) => panic!("`{what}` was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        [
            "permission denied",
            "must be owner",
            "must be superuser",
            "must have admin option"
        ]
        .iter()
        .any(|reason| message.contains(reason)),
        "`{what}` failed for another reason: {message}"
    );
}

#[test]
fn every_table_is_tenant_owned_with_forced_rls_or_declared_global() {
    let f = Fixture::new();
    let mut admin = f.test_db.admin_conn();
    let all: BTreeSet<String> = public_tables(&mut admin).into_iter().collect();
    for (global, why) in GLOBAL_TABLES {
        assert!(
            all.contains(*global),
            "GLOBAL_TABLES lists {global} ({why}), which does not exist"
        );
        for privilege in ["INSERT", "UPDATE", "DELETE"] {
            assert!(
                !has_privilege(&mut admin, global, privilege),
                "findash_app may {privilege} global table {global}"
            );
        }
    }
    assert!(
        f.tables.len() >= 20,
        "expected the full data model, found {} tenant tables",
        f.tables.len()
    );
    for t in &f.tables {
        let column_exists = flag(
            &mut admin,
            &format!(
                "SELECT EXISTS (SELECT FROM information_schema.columns WHERE table_schema = 'public' \
                 AND table_name = '{}' AND column_name = '{}' AND data_type = 'uuid') AS flag",
                t.name, t.column
            ),
        );
        assert!(
            column_exists,
            "{} has no uuid {} column: make it tenant-owned or list it in GLOBAL_TABLES",
            t.name, t.column
        );
        assert!(
            flag(
                &mut admin,
                &format!(
                    "SELECT relrowsecurity AND relforcerowsecurity AS flag FROM pg_class WHERE oid = '{}'::regclass",
                    t.name
                )
            ),
            "{}: row-level security must be enabled and forced",
            t.name
        );
        let policies = texts(
            &mut admin,
            &format!(
                "SELECT policyname || ' ' || permissive || ' ' || cmd || ' ' || array_to_string(roles, ',') || ' ' \
                 || coalesce(qual, '') || ' ' || coalesce(with_check, '') AS value \
                 FROM pg_policies WHERE schemaname = 'public' AND tablename = '{}' ORDER BY policyname",
                t.name
            ),
        );
        let c = &t.column;
        assert_eq!(
            policies,
            [
                "system_access PERMISSIVE ALL findash_system true true".to_owned(),
                format!(
                    "tenant_isolation PERMISSIVE ALL findash_app ({c} = current_tenant_id()) ({c} = current_tenant_id())"
                ),
                format!(
                    "tenant_read_only PERMISSIVE SELECT findash_readonly ({c} = current_tenant_id()) "
                ),
            ],
            "{}: unexpected policies (an extra permissive policy would widen access)",
            t.name
        );
    }
}

#[test]
fn every_reference_between_tenant_tables_includes_the_tenant() {
    let f = Fixture::new();
    let tenant_tables = f
        .tables
        .iter()
        .map(|t| format!("'{}'", t.name))
        .collect::<Vec<_>>()
        .join(", ");
    // A foreign key from one tenant table to another (other than to `tenants` itself) must be
    // covered by a key that also carries tenant_id, or a row could point into another tenant.
    let unscoped = texts(
        &mut f.test_db.admin_conn(),
        &format!(
            "SELECT f.conname::text AS value FROM pg_constraint f \
             WHERE f.contype = 'f' AND f.connamespace = 'public'::regnamespace \
               AND f.confrelid <> 'tenants'::regclass \
               AND f.conrelid::regclass::text IN ({tenant_tables}) \
               AND f.confrelid::regclass::text IN ({tenant_tables}) \
               AND NOT EXISTS ( \
                 SELECT FROM pg_constraint g \
                 WHERE g.contype = 'f' AND g.conrelid = f.conrelid AND g.confrelid = f.confrelid \
                   AND g.conkey @> f.conkey \
                   AND g.conkey @> ARRAY[(SELECT attnum FROM pg_attribute \
                                          WHERE attrelid = f.conrelid AND attname = 'tenant_id')])"
        ),
    );
    assert!(
        unscoped.is_empty(),
        "foreign keys that ignore the tenant: {unscoped:?}"
    );

    // And the database enforces it: tenant A cannot link its job to tenant B's.
    let b_job = text(
        &mut f.test_db.admin_conn(),
        &format!(
            "SELECT id::text AS value FROM jobs WHERE tenant_id = '{}'",
            f.b
        ),
    );
    let message = rejected(
        f.db(),
        f.a,
        &format!("UPDATE jobs SET parent_job_id = '{b_job}'"),
    );
    assert!(
        message.contains("jobs_tenant_id_parent_job_id_fkey"),
        "{message}"
    );
    let message = rejected(
        f.db(),
        f.a,
        &format!("UPDATE workflow_steps SET job_id = '{b_job}'"),
    );
    assert!(
        message.contains("workflow_steps_tenant_id_job_id_fkey"),
        "{message}"
    );
}

#[test]
fn the_fixture_covers_every_tenant_table_for_both_tenants() {
    let f = Fixture::new();
    for t in &f.tables {
        for tenant in [f.a, f.b] {
            assert!(
                f.stored(t, tenant) > 0,
                "fixtures/tenant_rows.sql has no {} row for a tenant: add one",
                t.name
            );
        }
    }
}

#[test]
fn a_tenant_sees_exactly_its_own_rows() {
    let f = Fixture::new();
    for (me, other) in [(f.a, f.b), (f.b, f.a)] {
        for t in &f.tables {
            let (visible, others) = f
                .db()
                .tenant(me, |tx| {
                    let visible =
                        try_count(tx.conn(), &format!("SELECT count(*) AS n FROM {}", t.name))?;
                    let others = try_count(
                        tx.conn(),
                        &format!(
                            "SELECT count(*) AS n FROM {} WHERE {} = '{other}'",
                            t.name, t.column
                        ),
                    )?;
                    Ok::<_, DbError>((visible, others))
                })
                .unwrap();
            assert_eq!(
                visible,
                f.stored(t, me),
                "{}: a tenant must see all of its rows and only those",
                t.name
            );
            assert_eq!(others, 0, "{}: another tenant's rows are visible", t.name);
        }
    }
}

#[test]
fn without_a_tenant_every_tenant_table_reads_empty() {
    let f = Fixture::new();
    let mut conn = f.db().conn().unwrap();
    for t in &f.tables {
        assert_eq!(
            count(&mut conn, &format!("SELECT count(*) AS n FROM {}", t.name)),
            0,
            "{}: rows without a tenant",
            t.name
        );
    }
    // After a scope ends, `app.tenant_id` reads as '' on the same connection: still nothing.
    with_tenant(&mut conn, f.a, |tx| {
        try_count(tx.conn(), "SELECT count(*) AS n FROM accounts").map_err(DbError::from)
    })
    .unwrap();
    for t in &f.tables {
        assert_eq!(
            count(&mut conn, &format!("SELECT count(*) AS n FROM {}", t.name)),
            0,
            "{}: rows after a scope ended",
            t.name
        );
    }
}

#[test]
fn writes_carrying_another_tenants_id_are_rejected() {
    let f = Fixture::new();
    let mut admin = f.test_db.admin_conn();
    let before: Vec<i64> = f.tables.iter().map(|t| f.stored(t, f.b)).collect();
    for t in &f.tables {
        let (table, col, b) = (&t.name, &t.column, f.b);
        if has_privilege(&mut admin, table, "INSERT") {
            let columns = texts(
                &mut admin,
                &format!(
                    "SELECT quote_ident(attname) AS value FROM pg_attribute WHERE attrelid = '{table}'::regclass \
                     AND attnum > 0 AND NOT attisdropped AND attidentity <> 'a' ORDER BY attnum"
                ),
            )
            .join(", ");
            let copy = format!(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM jsonb_populate_record(NULL::{table}, \
                 (SELECT to_jsonb(x) || jsonb_build_object('{col}', '{b}') FROM {table} x LIMIT 1))"
            );
            let message = rejected(f.db(), f.a, &copy);
            // Row-level security, or first the trigger that holds a row to its job's tenant.
            assert!(
                message.contains("row-level security") || message.contains("of the same tenant"),
                "{table}: insert for another tenant failed for the wrong reason: {message}"
            );
        }
        let retag = format!("UPDATE {table} SET {col} = '{b}'");
        let message = rejected(f.db(), f.a, &retag);
        if has_column_privilege(&mut admin, table, col, "UPDATE") {
            assert!(message.contains("row-level security"), "{table}: {message}");
        } else {
            assert!(message.contains("permission denied"), "{table}: {message}");
        }
        if has_privilege(&mut admin, table, "DELETE") {
            let deleted = f
                .db()
                .tenant(f.a, |tx| {
                    diesel::sql_query(format!("DELETE FROM {table} WHERE {col} = '{b}'"))
                        .execute(tx.conn())
                        .map_err(DbError::from)
                })
                .unwrap();
            assert_eq!(deleted, 0, "{table}: deleted another tenant's rows");
        }
    }
    let after: Vec<i64> = f.tables.iter().map(|t| f.stored(t, f.b)).collect();
    assert_eq!(before, after, "tenant B's data changed");
}

#[test]
fn the_app_role_cannot_escape_row_level_security() {
    let f = Fixture::new();
    let mut conn = f.db().conn().unwrap();
    assert_eq!(
        text(
            &mut conn,
            "SELECT current_user || ' ' || session_user AS value"
        ),
        "findash_app findash_app"
    );
    for escape in [
        "SET ROLE postgres",
        "SET ROLE findash_readonly",
        "SET ROLE findash_system",
        "SET SESSION AUTHORIZATION postgres",
        "CREATE TABLE escape (id int)",
        "CREATE SCHEMA escape",
        "CREATE FUNCTION escape() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'",
        "ALTER ROLE findash_app BYPASSRLS",
        "GRANT pg_read_all_data TO findash_app",
    ] {
        denied(diesel::sql_query(escape).execute(&mut *conn), escape);
    }
    diesel::sql_query("RESET ROLE").execute(&mut *conn).unwrap();
    assert_eq!(
        text(&mut conn, "SELECT current_user::text AS value"),
        "findash_app"
    );

    for t in &f.tables {
        for escape in [
            format!("ALTER TABLE {} DISABLE ROW LEVEL SECURITY", t.name),
            format!("ALTER TABLE {} NO FORCE ROW LEVEL SECURITY", t.name),
            format!("DROP POLICY tenant_isolation ON {}", t.name),
            format!("CREATE POLICY escape ON {} USING (true)", t.name),
            format!("ALTER TABLE {} OWNER TO findash_app", t.name),
        ] {
            denied(diesel::sql_query(&escape).execute(&mut *conn), &escape);
        }
        // With row_security off, a query RLS would filter errors instead of bypassing it.
        let outcome = f.db().tenant(f.a, |tx| {
            diesel::sql_query("SET LOCAL row_security = off").execute(tx.conn())?;
            try_count(tx.conn(), &format!("SELECT count(*) AS n FROM {}", t.name))
                .map_err(DbError::from)
        });
        let message = outcome
            .expect_err("row_security = off must not read")
            .to_string();
        assert!(
            message.contains("row-level security"),
            "{}: {message}",
            t.name
        );
    }

    for role in [
        "pg_read_all_data",
        "pg_write_all_data",
        "postgres",
        "findash_readonly",
    ] {
        assert!(
            !flag(
                &mut conn,
                &format!("SELECT pg_has_role('findash_app', '{role}', 'MEMBER') AS flag")
            ),
            "findash_app is a member of {role}"
        );
    }
    let mut admin = f.test_db.admin_conn();
    let definer = texts(
        &mut admin,
        "SELECT p.proname::text AS value FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.prosecdef",
    );
    assert!(
        definer.is_empty(),
        "SECURITY DEFINER functions run with their owner's rights: {definer:?}"
    );
    let views = texts(
        &mut admin,
        "SELECT c.relname::text AS value FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm') \
         AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)",
    );
    assert!(
        views.is_empty(),
        "views without security_invoker read with their owner's rights: {views:?}"
    );
}

#[test]
fn state_left_on_a_connection_never_reaches_the_next_caller() {
    let f = Fixture::new();
    let mut config = f.test_db.config();
    config.pool_size = 1; // every checkout would get the same connection if it were reused
    let db = Db::connect(&config).unwrap();
    let backend = |conn: &mut PgConnection| text(conn, "SELECT pg_backend_pid()::text AS value");

    // Within a scope, a temporary table named like a real one does not shadow it.
    let mut conn = db.conn().unwrap();
    let first = backend(&mut conn);
    diesel::sql_query("CREATE TEMP TABLE tenants (id uuid, slug text)")
        .execute(&mut *conn)
        .unwrap();
    diesel::sql_query("INSERT INTO pg_temp.tenants VALUES (gen_random_uuid(), 'impostor')")
        .execute(&mut *conn)
        .unwrap();
    let slug = with_tenant(&mut conn, f.a, |tx| {
        try_text(tx.conn(), "SELECT slug AS value FROM tenants").map_err(DbError::from)
    })
    .unwrap();
    assert_eq!(slug, "alpha");
    drop(conn);

    // A clean connection is handed out again (the control for what follows)...
    let mut previous = backend(&mut db.conn().unwrap());
    assert_ne!(
        previous, first,
        "the connection with a temporary table was reused"
    );
    assert_eq!(backend(&mut db.conn().unwrap()), previous);
    // ...and each kind of leftover makes the pool close it instead.
    for leftover in [
        "PREPARE replaced AS SELECT 1",
        "SET app.tenant_id = '00000000-0000-0000-0000-000000000000'",
        "SET search_path = pg_temp, public",
        "CREATE TEMP VIEW v AS SELECT 1 AS x",
        "CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ] {
        let mut conn = db.conn().unwrap();
        diesel::sql_query(leftover).execute(&mut *conn).unwrap();
        drop(conn);
        let next = backend(&mut db.conn().unwrap());
        assert_ne!(
            next, previous,
            "the connection was reused after `{leftover}`"
        );
        previous = next;
    }
}

#[test]
fn the_app_role_cannot_read_shared_counters() {
    let f = Fixture::new();
    let mut conn = f.db().conn().unwrap();
    for sequence in [
        "audit_log_id_seq",
        "job_attempts_id_seq",
        "cron_ticks_id_seq",
    ] {
        let outcome = try_count(&mut conn, &format!("SELECT nextval('{sequence}') AS n"));
        assert!(outcome.is_err(), "findash_app can read {sequence}");
    }
    // Inserting through the identity column still works.
    f.db()
        .tenant(f.a, |tx| {
            diesel::sql_query("INSERT INTO audit_log (tenant_id, actor_kind, action) VALUES (current_tenant_id(), 'user', 'test.insert')")
                .execute(tx.conn())
                .map_err(DbError::from)
        })
        .unwrap();
}

#[test]
fn the_read_only_role_reads_one_tenant_and_writes_nothing() {
    let f = Fixture::new();
    let mut admin = f.test_db.admin_conn();
    admin
        .batch_execute(&format!(
            "BEGIN; SET LOCAL ROLE findash_readonly; SET LOCAL app.tenant_id = '{}'",
            f.a
        ))
        .unwrap();
    for t in &f.tables {
        let visible = count(&mut admin, &format!("SELECT count(*) AS n FROM {}", t.name));
        let others = count(
            &mut admin,
            &format!(
                "SELECT count(*) AS n FROM {} WHERE {} IS DISTINCT FROM '{}'",
                t.name, t.column, f.a
            ),
        );
        assert!(
            visible > 0 && others == 0,
            "{}: read-only role sees {visible} rows, {others} of other tenants",
            t.name
        );
    }
    admin.batch_execute("ROLLBACK").unwrap();
    for table in public_tables(&mut admin) {
        for privilege in ["INSERT", "UPDATE", "DELETE", "TRUNCATE"] {
            assert!(
                !flag(
                    &mut admin,
                    &format!(
                        "SELECT has_table_privilege('findash_readonly', '{table}', '{privilege}') AS flag"
                    )
                ),
                "findash_readonly may {privilege} {table}"
            );
        }
    }
}

#[test]
fn the_system_path_sees_every_tenant_on_its_own_login() {
    let f = Fixture::new();
    let (tenants, system_jobs, role, app_name) = f
        .db()
        .system(SystemTask::Cron, |sys| {
            let tenants = try_count(sys.conn(), "SELECT count(*) AS n FROM tenants")?;
            let system_jobs = try_count(
                sys.conn(),
                "SELECT count(*) AS n FROM jobs WHERE tenant_id IS NULL",
            )?;
            let who = try_text(
                sys.conn(),
                "SELECT current_user || ' ' || session_user AS value",
            )?;
            let app = try_text(
                sys.conn(),
                "SELECT current_setting('application_name') AS value",
            )?;
            Ok::<_, DbError>((tenants, system_jobs, who, app))
        })
        .unwrap();
    assert_eq!((tenants, system_jobs), (2, 1));
    assert_eq!(
        (role.as_str(), app_name.as_str()),
        ("findash_system findash_system", "findash:system:cron")
    );
    // The app pool cannot reach it: no membership, no SET ROLE.
    let mut conn = f.db().conn().unwrap();
    assert!(
        diesel::sql_query("SET ROLE findash_system")
            .execute(&mut *conn)
            .is_err()
    );
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM tenants"), 0);
}

#[test]
fn scopes_refuse_connections_acting_as_another_role() {
    let f = Fixture::new();
    // A superuser connection (the migration connection, say) would not be filtered by RLS.
    let outcome = with_tenant(&mut f.test_db.admin_conn(), f.a, |_| Ok::<_, DbError>(()));
    assert!(
        matches!(
            outcome,
            Err(DbError::WrongRole {
                expected: "findash_app"
            })
        ),
        "{outcome:?}"
    );
    let mut app = f.db().conn().unwrap();
    let outcome = with_system(&mut app, SystemTask::Cron, |_| Ok::<_, DbError>(()));
    assert!(
        matches!(
            outcome,
            Err(DbError::WrongRole {
                expected: "findash_system"
            })
        ),
        "{outcome:?}"
    );
}

#[test]
fn scopes_cannot_be_nested() {
    let f = Fixture::new();
    let nested = f.db().tenant(f.a, |tx| {
        with_tenant(tx.conn(), f.b, |_| Ok::<_, DbError>(()))
    });
    assert!(matches!(nested, Err(DbError::NestedScope)), "{nested:?}");
    let nested = f.db().system(SystemTask::Cron, |sys| {
        with_system(sys.conn(), SystemTask::Cron, |_| Ok::<_, DbError>(()))
    });
    assert!(matches!(nested, Err(DbError::NestedScope)), "{nested:?}");
}

#[test]
fn the_pool_refuses_a_login_role_that_could_bypass_rls() {
    let f = Fixture::new();
    let mut config = f.test_db.config();
    config.app_url = Some(f.test_db.url().into());
    let error = Db::connect(&config).expect_err("a superuser pool must be refused");
    assert!(error.to_string().contains("superuser"), "{error}");

    // Each pool refuses the other's role: the system pool must not log in as findash_app.
    let mut config = f.test_db.config();
    config.system_url = Some(url_as(&f.test_db, "findash_app").into());
    let error = Db::connect(&config).expect_err("a crossed login must be refused");
    assert!(error.to_string().contains("findash_system pool"), "{error}");
}

fn url_as(db: &TestDb, role: &str) -> String {
    let mut url = url::Url::parse(&db.url()).unwrap();
    url.set_username(role).unwrap();
    url.into()
}
