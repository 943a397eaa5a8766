//! The `findash` binary end to end, against a real PostgreSQL database per test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::Utc;
use diesel::prelude::*;
use findash_schema::passwords;
use findash_schema::testing::{TestDb, sql};
use findash_web::auth::{self, JwtKeys};

const JWT_SECRET: &str = "Qm9vay1rZWVwaW5nIGlzIGEgam95IGZvcmV2ZXIh";

/// Runs `findash args…` with exactly `env` (plus FINDASH_ENV=test) in a directory without `.env`.
fn findash(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut with_test_env = vec![("FINDASH_ENV", "test")];
    with_test_env.extend_from_slice(env);
    findash_in(Path::new(env!("CARGO_TARGET_TMPDIR")), args, &with_test_env)
}

/// Runs `findash args…` in `dir` with exactly `env`.
fn findash_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_findash"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("run findash")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "findash failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

fn count(db: &TestDb, sql: &str) -> i64 {
    sql::count(&mut db.admin_conn(), sql)
}

fn value(db: &TestDb, sql: &str) -> String {
    sql::text(&mut db.admin_conn(), sql)
}

/// How many migrations this build has.
fn migration_count() -> usize {
    std::fs::read_dir(findash_schema::testing::migrations_dir())
        .expect("read migrations/")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().join("up.sql").exists()))
        .count()
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` on 127.0.0.1:`port`: the status code and body, or `None` while nothing answers.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    Some((status, body))
}

/// Runs `findash up` until it reports its server, workers and scheduler running and answers
/// `/healthz` and `/readyz`, then stops it with SIGTERM as an operator would; returns its
/// stdout.
fn up(url: &str) -> String {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let namespace = format!("test:{}", uuid::Uuid::new_v4().simple());
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_findash"))
        .arg("up")
        .env_clear()
        .env("FINDASH_ENV", "test")
        .env("DATABASE_URL", url)
        .env("REDIS_NAMESPACE", &namespace)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run findash up");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut out = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("utf-8 output");
        out.push_str(&line);
        out.push('\n');
        if line.starts_with("running:") {
            break;
        }
    }
    // It serves HTTP, and is ready once its own workers heartbeat.
    let started = std::time::Instant::now();
    loop {
        match http_get(port, "/readyz") {
            Some((200, body)) => {
                assert!(body.contains(r#""status":"ready""#), "{body}");
                break;
            }
            answer => assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "`findash up` is not ready after 30 s: {answer:?}"
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        http_get(port, "/healthz"),
        Some((200, r#"{"status":"ok"}"#.to_owned()))
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().expect("wait for findash up");
    assert!(
        output.status.success() && out.contains("running:"),
        "findash up failed ({}):\nstdout: {out}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

fn demo_counts(db: &TestDb) -> Vec<i64> {
    ["tenants", "users", "categories", "provider_connections"]
        .iter()
        .map(|t| count(db, &format!("SELECT count(*) AS n FROM {t}")))
        .collect()
}

#[test]
fn up_creates_migrates_and_seeds_then_changes_nothing_on_a_second_run() {
    let db = TestDb::unclaimed();
    let url = db.url();
    let first = up(&url);
    assert!(
        first.contains(&format!("database {}: created", db.name())),
        "{first}"
    );
    let n = migration_count();
    assert!(
        first.contains(&format!("migrations: applied {n} of {n}")),
        "{first}"
    );
    assert!(first.contains("demo tenant: demo"), "{first}");
    let defaults = findash_schema::categories::DEFAULTS.len();
    assert!(
        first.contains(&format!("demo categories: {defaults} default(s) inserted")),
        "{first}"
    );
    assert!(first.contains("sandbox connections: 2 created"), "{first}");
    assert!(
        first.contains("demo: daily pipeline for ") && first.contains(" started (sync, categorize"),
        "{first}"
    );

    let password = first
        .lines()
        .find_map(|l| {
            l.split_once("generated password: ")
                .map(|(_, p)| p.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no generated password printed:\n{first}"));
    let hash = value(
        &db,
        "SELECT password_hash AS value FROM users WHERE email = 'admin@demo.findash.local' AND role = 'admin'",
    );
    assert!(
        passwords::verify(&password, &hash),
        "the printed password does not log in"
    );
    let counts = demo_counts(&db);
    assert_eq!(
        counts,
        [1, 1, findash_schema::categories::DEFAULTS.len() as i64, 2]
    );

    let second = up(&url);
    assert!(
        second.contains(&format!("database {}: exists", db.name()))
            && second.contains(&format!("migrations: up to date ({n} applied)"))
            && second.contains("sandbox connections: 0 created, 2 in all"),
        "{second}"
    );
    assert!(
        second.contains("password unchanged") && !second.contains("generated password"),
        "{second}"
    );
    assert_eq!(demo_counts(&db), counts, "a second `up` changed the data");
    assert!(second.contains(" already started"), "{second}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM workflow_runs w JOIN tenants t ON t.id = w.tenant_id \
             WHERE t.slug = 'demo' AND w.workflow = 'daily_pipeline' \
               AND w.run_key = ((now() AT TIME ZONE t.time_zone)::date)::text"
        ),
        1,
        "one demo pipeline per local day"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM jobs WHERE kind = 'sync_all'"
        ),
        1,
        "its first step, once"
    );
}

#[test]
fn admin_password_from_the_environment_is_used_and_reset() {
    let db = TestDb::new();
    let url = db.url();
    let out = succeeded(&findash(
        &["seed", "--demo"],
        &[
            ("DATABASE_URL", &url),
            ("ADMIN_EMAIL", "Ops@Example.com"),
            ("ADMIN_PASSWORD", "first-password-1"),
        ],
    ));
    assert!(
        out.contains("admin: ops@example.com created with ADMIN_PASSWORD")
            && !out.contains("first-password-1"),
        "{out}"
    );
    let out = succeeded(&findash(
        &["seed", "--demo"],
        &[
            ("DATABASE_URL", &url),
            ("ADMIN_EMAIL", "ops@example.com"),
            ("ADMIN_PASSWORD", "second-password-2"),
        ],
    ));
    assert!(out.contains("password reset"), "{out}");
    let hash = value(
        &db,
        "SELECT password_hash AS value FROM users WHERE email = 'ops@example.com'",
    );
    assert!(
        passwords::verify("second-password-2", &hash)
            && !passwords::verify("first-password-1", &hash)
    );
}

#[test]
fn seed_gives_every_tenant_the_default_categories_idempotently() {
    let db = TestDb::new();
    let url = db.url();
    diesel::sql_query("INSERT INTO tenants (slug, name, base_currency, time_zone, locale) VALUES ('acme', 'Acme', 'USD', 'America/New_York', 'en-US')")
        .execute(&mut db.admin_conn())
        .unwrap();
    let defaults = findash_schema::categories::DEFAULTS.len();
    let out = succeeded(&findash(&["seed"], &[("DATABASE_URL", &url)]));
    assert!(
        out.contains(&format!(
            "categories: {defaults} inserted across 1 tenant(s)"
        )),
        "{out}"
    );
    diesel::sql_query("UPDATE categories SET name = 'Supermarket' WHERE slug = 'groceries'")
        .execute(&mut db.admin_conn())
        .unwrap();
    let out = succeeded(&findash(&["seed"], &[("DATABASE_URL", &url)]));
    assert!(
        out.contains("categories: 0 inserted across 1 tenant(s)"),
        "{out}"
    );
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM categories"),
        defaults as i64
    );
    assert_eq!(
        value(
            &db,
            "SELECT name AS value FROM categories WHERE slug = 'groceries'"
        ),
        "Supermarket",
        "a rename was overwritten"
    );
}

#[test]
fn migrate_status_lists_pending_then_applied_migrations() {
    let db = TestDb::empty();
    let url = db.url();
    let before = succeeded(&findash(
        &["migrate", "--status"],
        &[("DATABASE_URL", &url)],
    ));
    let n = migration_count();
    assert_eq!(
        before.lines().filter(|l| l.starts_with("pending ")).count(),
        n,
        "{before}"
    );
    assert!(
        before.contains(&format!("{n} migration(s), {n} pending")),
        "{before}"
    );
    let run = succeeded(&findash(&["migrate"], &[("DATABASE_URL", &url)]));
    assert!(
        run.contains(&format!("applied {n} of {n}"))
            && run.contains("applied 2026-11-24-000001_roles_and_tenants"),
        "{run}"
    );
    let after = succeeded(&findash(
        &["migrate", "--status"],
        &[("DATABASE_URL", &url)],
    ));
    assert!(
        after.contains(&format!("{n} migration(s), 0 pending")),
        "{after}"
    );
}

#[test]
fn commands_refuse_a_database_that_is_behind() {
    let db = TestDb::empty();
    let out = findash(&["seed"], &[("DATABASE_URL", &db.url())]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} pending migration(s)", migration_count()))
            && err.contains("Run `findash migrate` first"),
        "{err}"
    );
}

#[test]
fn web_serves_until_sigterm_and_is_not_ready_without_workers() {
    use std::process::Stdio;
    let db = TestDb::new();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_findash"))
        .arg("web")
        .env_clear()
        .env("FINDASH_ENV", "test")
        .env("DATABASE_URL", db.url())
        .env(
            "REDIS_NAMESPACE",
            format!("test:{}", uuid::Uuid::new_v4().simple()),
        )
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run findash web");
    let started = std::time::Instant::now();
    while http_get(port, "/healthz").is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "`findash web` does not answer"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        http_get(port, "/healthz"),
        Some((200, r#"{"status":"ok"}"#.to_owned()))
    );
    let (status, body) = http_get(port, "/readyz").expect("an answer");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""reason":"no live workers""#), "{body}");
    assert!(body.contains(r#""postgres":{"status":"up"}"#), "{body}");

    let signalled = std::time::Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().expect("wait for findash web");
    assert!(
        output.status.success(),
        "findash web failed on SIGTERM ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(signalled.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        http_get(port, "/healthz").is_none(),
        "still serving after exit"
    );
}

#[test]
fn token_mints_a_jwt_the_web_layer_accepts() {
    let db = TestDb::new();
    let env = [
        ("DATABASE_URL", db.url()),
        ("JWT_SECRET", JWT_SECRET.to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    succeeded(&findash(&["seed", "--demo"], &env));
    let tenant_id = value(
        &db,
        "SELECT id::text AS value FROM tenants WHERE slug = 'demo'",
    );
    let admin_id = value(
        &db,
        "SELECT id::text AS value FROM users WHERE role = 'admin'",
    );

    for tenant in ["demo", tenant_id.as_str()] {
        let token = succeeded(&findash(
            &[
                "token", "--tenant", tenant, "--role", "admin", "--ttl", "2h",
            ],
            &env,
        ));
        let keys = JwtKeys {
            current: JWT_SECRET.to_owned().into(),
            previous: None,
        };
        let claims = auth::verify(&keys, token.trim()).expect("the token verifies");
        assert_eq!(
            (
                claims.tenant_id.to_string(),
                claims.sub.as_str(),
                claims.role.as_str()
            ),
            (tenant_id.clone(), admin_id.as_str(), "admin")
        );
        assert_eq!(claims.exp - claims.iat, 7200);
        assert!((claims.iat - Utc::now().timestamp()).abs() < 60);
    }
}

#[test]
fn token_refuses_what_it_cannot_vouch_for() {
    let db = TestDb::new();
    let url = db.url();
    let env = [("DATABASE_URL", url.as_str()), ("JWT_SECRET", JWT_SECRET)];
    succeeded(&findash(&["seed", "--demo"], &env));
    diesel::sql_query("INSERT INTO users (tenant_id, email, role) SELECT id, 'viewer@example.com', 'user' FROM tenants WHERE slug = 'demo'")
        .execute(&mut db.admin_conn())
        .unwrap();

    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case<'_>; 5] = [
        (
            &["token", "--tenant", "nope", "--role", "user"],
            &env,
            "no tenant with slug or id `nope`",
        ),
        (
            &[
                "token",
                "--tenant",
                "demo",
                "--role",
                "admin",
                "--user",
                "viewer@example.com",
            ],
            &env,
            "cannot hold a admin token",
        ),
        (
            &[
                "token", "--tenant", "demo", "--role", "user", "--ttl", "400d",
            ],
            &env,
            "at most 365d",
        ),
        (
            &["token", "--tenant", "demo", "--role", "owner"],
            &env,
            "unknown Role `owner`",
        ),
        (
            &["token", "--tenant", "demo", "--role", "user"],
            &[("DATABASE_URL", url.as_str())],
            "JWT_SECRET is not set",
        ),
    ];
    for (args, env, expected) in cases {
        let out = findash(args, env);
        assert!(
            !out.status.success() && stdout(&out).is_empty(),
            "{args:?} succeeded: {}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let viewer = succeeded(&findash(
        &[
            "token",
            "--tenant",
            "demo",
            "--role",
            "user",
            "--user",
            "viewer@example.com",
        ],
        &env,
    ));
    assert_eq!(viewer.trim().split('.').count(), 3);
}

#[test]
fn check_config_lists_every_problem_without_echoing_secrets() {
    let out = findash(
        &["check-config"],
        &[
            ("FINDASH_ENV", "production"),
            ("JWT_SECRET", "tooshort-but-secret-value"),
            ("ENCRYPTION_KEY", "bm90LWEta2V5"),
            ("REDIS_URL", "mysql://x"),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    for var in [
        "JWT_SECRET",
        "ENCRYPTION_KEY",
        "REDIS_URL",
        "PUBLIC_BASE_URL",
        "SMTP_URL",
        "EMAIL_FROM",
    ] {
        assert!(
            err.contains(&format!("  {var}: ")),
            "{var} missing from:\n{err}"
        );
    }
    assert!(
        !err.contains("tooshort-but-secret-value") && !err.contains("bm90LWEta2V5"),
        "{err}"
    );

    let ok = succeeded(&findash(
        &["check-config"],
        &[("DATABASE_URL", "postgres://app:s3cr3t-pw@db:5432/findash")],
    ));
    assert!(ok.contains("configuration OK for test"), "{ok}");
    assert!(
        ok.contains("JWT_SECRET") && ok.contains("generated for this process"),
        "{ok}"
    );
    assert!(
        ok.contains("postgres://app:***@db:5432/findash") && !ok.contains("s3cr3t-pw"),
        "{ok}"
    );

    // Credentials hide in query strings and in URLs that are not database URLs, too.
    let ok = succeeded(&findash(
        &["check-config"],
        &[
            (
                "DATABASE_URL",
                "postgres://app@db:5432/findash?sslmode=require&password=q-s3cret",
            ),
            ("BELVO_BASE_URL", "https://user:belvo-s3cret@belvo.test"),
            (
                "PLUGGY_BASE_URL",
                "https://pluggy.test/?token=pluggy-s3cret",
            ),
        ],
    ));
    for secret in ["q-s3cret", "belvo-s3cret", "pluggy-s3cret"] {
        assert!(!ok.contains(secret), "{secret} printed:\n{ok}");
    }
    assert!(ok.contains("sslmode=require&password=***"), "{ok}");
}

#[test]
fn other_commands_refuse_a_bad_configuration_before_doing_anything() {
    let out = findash(
        &["migrate"],
        &[("DATABASE_URL", "not a url"), ("BIND_ADDR", "nowhere")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("DATABASE_URL: not a valid URL") && err.contains("BIND_ADDR: cannot parse"),
        "{err}"
    );
}

/// A fresh directory holding a `.env` with `contents`.
fn dir_with_dotenv(name: &str, contents: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".env"), contents).unwrap();
    dir
}

#[test]
fn development_reads_dotenv_but_the_process_environment_wins() {
    let dir = dir_with_dotenv(
        "dotenv",
        "DATABASE_URL=postgres://from-dotenv@db:5432/books\nBIND_ADDR=127.0.0.1:9999\nUNRELATED=1\n",
    );
    let out = succeeded(&findash_in(
        &dir,
        &["check-config"],
        &[("BIND_ADDR", "127.0.0.1:7777")],
    ));
    assert!(
        out.contains("postgres://from-dotenv@db:5432/books (set)"),
        "{out}"
    );
    assert!(
        out.contains("127.0.0.1:7777 (set)") && !out.contains("9999"),
        "{out}"
    );
    assert!(out.contains("note: loaded variables from"), "{out}");
}

#[test]
fn a_deployed_environment_never_comes_from_dotenv() {
    let dir = dir_with_dotenv("dotenv-production", "FINDASH_ENV=production\n");
    let out = findash_in(&dir, &["check-config"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("FINDASH_ENV: production must come from the process environment"),
        "{}",
        stderr(&out)
    );

    // With FINDASH_ENV=production in the process, .env is not read at all.
    let dir = dir_with_dotenv(
        "dotenv-ignored",
        "JWT_SECRET=this-would-be-used-if-dotenv-were-read-1234\n",
    );
    let out = findash_in(&dir, &["check-config"], &[("FINDASH_ENV", "production")]);
    assert!(
        stderr(&out).contains("JWT_SECRET: is required in production"),
        "{}",
        stderr(&out)
    );
}
