//! Email end to end: the real engine, PostgreSQL and Redis, and a real SMTP server process
//! (`tests/support/smtp_server.py`, aiosmtpd) with STARTTLS or implicit TLS and AUTH, whose
//! certificate the test makes and trusts through `SMTP_CA_FILE`. Assertions are on the MIME
//! messages the server received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_engine::testing::TestEngine;
use findash_jobs::JobsConfig;
use findash_jobs::email::{DailySummary, SendEmail};
use findash_schema::testing::sql;
use findash_schema::{OutboxId, TenantId, UserId};
use mail_parser::{MessageParser, MimeHeaders};
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, BufReader};

const PASSWORD: &str = "s3cret-smtp-pass";

fn tools() -> PathBuf {
    std::env::var_os("FINDASH_TOOLS").map_or_else(
        || PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/findash-tools"),
        PathBuf::from,
    )
}

/// A private CA (what `SMTP_CA_FILE` trusts) and a server certificate it signed for
/// `localhost` and 127.0.0.1.
struct Certificate {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("the openssl CLI is needed to make the test certificates");
    assert!(status.success(), "openssl {args:?} failed");
}

fn certificate() -> Certificate {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=FinDash test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        d,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "server.csr",
        ],
        d,
    );
    std::fs::write(
        d.join("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "cert.pem",
        ],
        d,
    );
    Certificate {
        ca: d.join("ca.pem"),
        cert: d.join("cert.pem"),
        key: d.join("key.pem"),
        _dir: dir,
    }
}

/// A running SMTP server and the directory it stores messages in.
struct SmtpServer {
    _child: tokio::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

async fn smtp_server(tls: &str, certificate: &Certificate) -> SmtpServer {
    let python = tools().join("aiosmtpd/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ops/tools.sh to install aiosmtpd",
        python.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/smtp_server.py"
        ))
        .args(["--port", &port.to_string(), "--tls", tls])
        .arg("--dir")
        .arg(dir.path())
        .arg("--cert")
        .arg(&certificate.cert)
        .arg("--key")
        .arg(&certificate.key)
        .args(["--user", "findash", "--password", PASSWORD])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Kept next to the messages for a failing test to be read after the fact.
        .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the SMTP server did not start in 20 s")
        .unwrap();
    assert_eq!(ready.as_deref(), Some("ready"));
    SmtpServer {
        _child: child,
        dir,
        port,
    }
}

fn config(smtp_url: Option<String>, ca_file: Option<&Path>, file_dir: &Path) -> JobsConfig {
    let mut config = findash_jobs::testing::config("http://127.0.0.1:9/");
    config.email.smtp_url = smtp_url.map(SecretString::from);
    config.email.ca_file = ca_file.map(Path::to_path_buf);
    config.email.file_dir = file_dir.to_path_buf();
    config.email.public_base_url = url::Url::parse("https://app.findash.example/").unwrap();
    config
}

async fn engine(config: &JobsConfig) -> TestEngine {
    TestEngine::start(findash_jobs::registry(config).unwrap(), |_| {}).await
}

fn yesterday() -> NaiveDate {
    Utc::now().date_naive().pred_opt().unwrap()
}

/// A pt-BR tenant with a user who wants everything, one who turned the summary off, an account
/// holding R$ 1.234,56 and a connection whose latest sync failed.
struct Books {
    tenant: TenantId,
    alice: UserId,
    bob: UserId,
}

fn seed(t: &TestEngine, slug: &str) -> Books {
    let tenant = common::tenant(t, slug);
    let mut conn = t.db.admin_conn();
    let user = |conn: &mut diesel::PgConnection, email: &str, name: &str| -> UserId {
        sql::text(
            conn,
            &format!(
                "INSERT INTO users (tenant_id, email, display_name, role) \
                 VALUES ('{tenant}', '{email}', '{name}', 'user') RETURNING id::text AS value"
            ),
        )
        .parse()
        .unwrap()
    };
    let alice = user(&mut conn, &format!("alice@{slug}.example"), "Alice");
    let bob = user(&mut conn, &format!("bob@{slug}.example"), "Bob");
    sql::text(
        &mut conn,
        &format!(
            "INSERT INTO notification_preferences (tenant_id, user_id, daily_summary, alerts) \
             VALUES ('{tenant}', '{bob}', false, false) RETURNING 'x' AS value"
        ),
    );
    let good = sql::text(
        &mut conn,
        &format!(
            "INSERT INTO provider_connections (tenant_id, provider, external_id, display_name, \
                 last_successful_sync_at) \
             VALUES ('{tenant}', 'sandbox', 'good', 'Banco Bom', now() - interval '1 hour') \
             RETURNING id::text AS value"
        ),
    );
    sql::text(
        &mut conn,
        &format!(
            "INSERT INTO provider_connections (tenant_id, provider, external_id, display_name, status, \
                 last_successful_sync_at, last_error, last_error_at, consecutive_failures) \
             VALUES ('{tenant}', 'belvo', 'bad', 'Banco Falho', 'error', now() - interval '2 days', \
                     'the bank answered 503', now() - interval '1 hour', 4) RETURNING id::text AS value"
        ),
    );
    sql::text(
        &mut conn,
        &format!(
            "INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, \
                 currency, current_balance_minor, balance_as_of) \
             VALUES ('{tenant}', '{good}', 'acc', 'checking', 'Conta Corrente', 'Banco Bom', 'BRL', \
                     123456, now()) RETURNING id::text AS value"
        ),
    );
    Books { tenant, alice, bob }
}

/// Waits until the tenant's outbox has `n` emails in a final state.
async fn settled(t: &TestEngine, tenant: TenantId, n: i64) {
    let started = Instant::now();
    let mut conn = t.db.admin_conn();
    loop {
        let done = sql::count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM email_outbox WHERE tenant_id = '{tenant}' \
                 AND status IN ('sent', 'failed', 'suppressed')"
            ),
        );
        if done >= n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{done} of {n} emails settled in 60 s: {:?}",
            outbox(t, tenant)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn outbox(t: &TestEngine, tenant: TenantId) -> Vec<String> {
    sql::texts(
        &mut t.db.admin_conn(),
        &format!(
            "SELECT concat_ws('|', kind, status, coalesce(last_error, '-')) AS value FROM email_outbox \
             WHERE tenant_id = '{tenant}' ORDER BY kind, created_at"
        ),
    )
}

fn received(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn starttls_with_auth_delivers_one_summary_however_often_it_runs() {
    let certificate = certificate();
    let server = smtp_server("starttls", &certificate).await;
    let files = tempfile::tempdir().unwrap();
    let config = config(
        Some(format!(
            "smtp://findash:{PASSWORD}@localhost:{}",
            server.port
        )),
        Some(&certificate.ca),
        files.path(),
    );
    let t = engine(&config).await;
    let running = t.run(4);
    let books = seed(&t, "acme");
    let date = yesterday();

    let first = common::run_once(&t, Some(books.tenant), &DailySummary { date }).await;
    assert_eq!(first.state, "succeeded", "{first:?}");
    // The same job again is the same job; a second job for the same date under another key
    // finds the emails already written.
    let again = common::enqueue(&t, Some(books.tenant), &DailySummary { date }).await;
    assert_eq!(again, first.id);
    let mut options = EnqueueOptions::new(Trigger::new("cli", None));
    options.idempotency_key = Some(format!("rerun:{date}"));
    let second = t
        .engine
        .enqueue(Some(books.tenant), &DailySummary { date }, options)
        .await
        .unwrap()
        .id;
    assert_ne!(second, first.id);
    let second = common::attempts(&t, second, 1).await;
    assert_eq!(second.state, "succeeded", "{second:?}");
    assert_eq!(second.result.unwrap()["summaries_queued"], 0);

    settled(&t, books.tenant, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let summaries: Vec<_> = outbox(&t, books.tenant)
        .into_iter()
        .filter(|r| r.starts_with("daily_summary|"))
        .collect();
    assert_eq!(summaries, ["daily_summary|sent|-"]);
    let messages: Vec<_> = received(server.dir.path())
        .into_iter()
        .filter(|m| String::from_utf8_lossy(m).contains("daily summary"))
        .collect();
    assert_eq!(messages.len(), 1, "one summary reaches the server");

    let message = MessageParser::default().parse(&messages[0]).unwrap();
    assert_eq!(
        message.from().unwrap().first().unwrap().address(),
        Some("test@findash.local")
    );
    assert_eq!(
        message.to().unwrap().first().unwrap().address(),
        Some("alice@acme.example")
    );
    let subject = message.subject().unwrap();
    assert!(
        subject.contains("acme") && subject.contains(&date.to_string()),
        "{subject}"
    );
    assert!(message.content_type().unwrap().subtype() == Some("alternative"));
    let text = message.body_text(0).unwrap();
    let html = message.body_html(0).unwrap();
    assert!(message.html_body_count() == 1 && message.text_body_count() == 1);
    for body in [&text, &html] {
        assert!(body.contains("R$ 1.234,56"), "{body}");
        assert!(body.contains("Banco Falho"), "{body}");
        assert!(body.contains("the bank answered 503"), "{body}");
        assert!(!body.contains("Banco Bom: last synced"), "{body}");
    }
    assert!(html.contains("<strong>Banco Falho</strong>"));
    let unsubscribe = message
        .header_raw("List-Unsubscribe")
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        unsubscribe.starts_with("<https://app.findash.example/email/unsubscribe?token="),
        "{unsubscribe}"
    );
    assert_eq!(
        message.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    let outbox_id = sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "SELECT id::text AS value FROM email_outbox WHERE tenant_id = '{}' AND kind = 'daily_summary'",
            books.tenant
        ),
    );
    assert_eq!(
        message.message_id(),
        Some(format!("{outbox_id}@findash.local").as_str())
    );
    let _ = (books.alice, books.bob);
    common::finish(t, running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn implicit_tls_delivers() {
    let certificate = certificate();
    let server = smtp_server("implicit", &certificate).await;
    let files = tempfile::tempdir().unwrap();
    let good = config(
        Some(format!(
            "smtps://findash:{PASSWORD}@localhost:{}",
            server.port
        )),
        Some(&certificate.ca),
        files.path(),
    );
    let t = engine(&good).await;
    let running = t.run(4);
    let books = seed(&t, "tls");
    let outcome =
        common::run_once(&t, Some(books.tenant), &DailySummary { date: yesterday() }).await;
    assert_eq!(outcome.state, "succeeded", "{outcome:?}");
    settled(&t, books.tenant, 1).await;
    assert!(
        received(server.dir.path())
            .iter()
            .any(|m| String::from_utf8_lossy(m).contains("alice@tls.example"))
    );
    common::finish(t, running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_password_fails_for_good_without_showing_it() {
    let certificate = certificate();
    let server = smtp_server("starttls", &certificate).await;
    let files = tempfile::tempdir().unwrap();
    let wrong = "wrong-pass-7f3k";
    let bad = config(
        Some(format!("smtp://findash:{wrong}@localhost:{}", server.port)),
        Some(&certificate.ca),
        files.path(),
    );
    let t = engine(&bad).await;
    let running = t.run(4);
    let books = seed(&t, "badpw");
    let outcome =
        common::run_once(&t, Some(books.tenant), &DailySummary { date: yesterday() }).await;
    assert_eq!(outcome.state, "succeeded");
    settled(&t, books.tenant, 1).await;
    let rows = outbox(&t, books.tenant);
    let summary = rows
        .iter()
        .find(|r| r.starts_with("daily_summary|"))
        .unwrap();
    assert!(summary.starts_with("daily_summary|failed|"), "{summary}");
    let job = sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "SELECT concat_ws('|', j.state, a.error) AS value FROM jobs j JOIN job_attempts a ON a.job_id = j.id \
             WHERE j.tenant_id = '{}' AND j.kind = 'send_email' ORDER BY a.id DESC LIMIT 1",
            books.tenant
        ),
    );
    assert!(
        job.starts_with("dead|"),
        "a refused login is permanent: {job}"
    );
    for text in [&job, summary] {
        assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");
        assert!(
            text.contains("localhost:"),
            "the error names the server: {text}"
        );
    }
    common::finish(t, running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn preferences_decide_who_gets_email_also_at_send_time() {
    let files = tempfile::tempdir().unwrap();
    let config = config(None, None, files.path());
    let t = engine(&config).await;
    let running = t.run(4);
    let books = seed(&t, "prefs");

    // Bob turned the summary off: only Alice's is written.
    let outcome =
        common::run_once(&t, Some(books.tenant), &DailySummary { date: yesterday() }).await;
    assert_eq!(outcome.state, "succeeded");
    settled(&t, books.tenant, 1).await;
    let recipients = sql::texts(
        &mut t.db.admin_conn(),
        &format!(
            "SELECT to_address AS value FROM email_outbox WHERE tenant_id = '{}' AND kind = 'daily_summary'",
            books.tenant
        ),
    );
    assert_eq!(recipients, ["alice@prefs.example"]);

    // An email queued for Bob before he switched off is suppressed when its turn comes.
    let id = OutboxId::new();
    sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO email_outbox (id, tenant_id, user_id, kind, dedupe_key, to_address, subject, body_text) \
             VALUES ('{id}', '{}', '{}', 'daily_summary', 'manual', 'bob@prefs.example', 'Hi', 'Hello') \
             RETURNING 'x' AS value",
            books.tenant, books.bob
        ),
    );
    let before = received(files.path()).len();
    let outcome = common::run_once(&t, Some(books.tenant), &SendEmail { outbox_id: id }).await;
    assert_eq!(outcome.state, "succeeded");
    assert_eq!(outcome.result.unwrap()["status"], "suppressed");
    let status = sql::text(
        &mut t.db.admin_conn(),
        &format!("SELECT status AS value FROM email_outbox WHERE id = '{id}'"),
    );
    assert_eq!(status, "suppressed");
    assert_eq!(received(files.path()).len(), before);
    common::finish(t, running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_file_transport_writes_an_eml_file_and_alerts_fire_once() {
    let files = tempfile::tempdir().unwrap();
    let config = config(None, None, files.path());
    let t = engine(&config).await;
    let running = t.run(4);
    let books = seed(&t, "alerts");
    let date = yesterday();
    let tenant = books.tenant;
    let mut conn = t.db.admin_conn();
    let account = sql::text(
        &mut conn,
        &format!("SELECT id::text AS value FROM accounts WHERE tenant_id = '{tenant}'"),
    );
    // Ten ordinary debits of R$ 100,00 in the last 90 days, then one of R$ 5.000,00.
    for i in 1..=10 {
        sql::text(
            &mut conn,
            &format!(
                "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, \
                     currency, description, status) \
                 VALUES ('{tenant}', '{account}', 'usual-{i}', DATE '{date}' - {i} * 5, -10000, 'BRL', \
                         'Mercado', 'posted') RETURNING 'x' AS value"
            ),
        );
    }
    sql::text(
        &mut conn,
        &format!(
            "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, \
                 currency, description, status) \
             VALUES ('{tenant}', '{account}', 'big', DATE '{date}', -500000, 'BRL', 'Loja de Móveis', \
                     'posted') RETURNING 'x' AS value"
        ),
    );
    // A total forecast whose pessimistic band goes below zero, and an account forecast with a bill.
    let forecast = sql::text(
        &mut conn,
        &format!(
            "INSERT INTO forecasts (tenant_id, currency, method_version, starts_on, horizon_days, \
                 starting_balance_minor, data_as_of) \
             VALUES ('{tenant}', 'BRL', 'test', DATE '{date}' + 1, 3, 123456, now()) RETURNING id::text AS value"
        ),
    );
    sql::text(
        &mut conn,
        &format!(
            "INSERT INTO forecast_points (forecast_id, tenant_id, day, p10_minor, p50_minor, p90_minor) VALUES \
             ('{forecast}', '{tenant}', DATE '{date}' + 1, 100000, 120000, 130000), \
             ('{forecast}', '{tenant}', DATE '{date}' + 2, -5000, 20000, 40000), \
             ('{forecast}', '{tenant}', DATE '{date}' + 3, 10000, 60000, 90000) RETURNING 'x' AS value"
        ),
    );
    let account_forecast = sql::text(
        &mut conn,
        &format!(
            "INSERT INTO forecasts (tenant_id, account_id, currency, method_version, starts_on, horizon_days, \
                 starting_balance_minor) \
             VALUES ('{tenant}', '{account}', 'BRL', 'test', DATE '{date}' + 1, 30, 123456) RETURNING id::text AS value"
        ),
    );
    sql::text(
        &mut conn,
        &format!(
            "INSERT INTO forecast_flows (forecast_id, tenant_id, day, seq, source, cadence, label, account_id, amount_minor) \
             VALUES ('{account_forecast}', '{tenant}', DATE '{date}' + 5, 0, 'recurring', 'monthly', 'Aluguel', \
                     '{account}', -250000) RETURNING 'x' AS value"
        ),
    );

    for key in ["first", "second"] {
        let mut options = EnqueueOptions::new(Trigger::new("cli", None));
        options.idempotency_key = Some(format!("{key}:{date}"));
        let id = t
            .engine
            .enqueue(Some(tenant), &DailySummary { date }, options)
            .await
            .unwrap()
            .id;
        assert_eq!(common::attempts(&t, id, 1).await.state, "succeeded");
    }
    settled(&t, tenant, 4).await;
    let mut kinds: Vec<String> = outbox(&t, tenant)
        .into_iter()
        .map(|r| r.split('|').take(2).collect::<Vec<_>>().join("|"))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "alert_large_expense|sent",
            "alert_low_balance|sent",
            "alert_sync_failing|sent",
            "daily_summary|sent"
        ]
    );
    let messages = received(files.path());
    assert_eq!(messages.len(), 4, "one file per email");
    let all: Vec<String> = messages
        .iter()
        .map(|m| {
            let m = MessageParser::default().parse(m).unwrap();
            format!("{}\n{}", m.subject().unwrap(), m.body_text(0).unwrap())
        })
        .collect();
    let find = |needle: &str| all.iter().find(|m| m.contains(needle)).unwrap().clone();
    let summary = find("daily summary");
    assert!(
        summary.contains("Aluguel") && summary.contains("-R$ 2.500,00"),
        "{summary}"
    );
    assert!(
        summary.contains("R$ 200,00") && summary.contains("-R$ 50,00"),
        "{summary}"
    );
    let large = find("unusually large expense");
    assert!(
        large.contains("-R$ 5.000,00") && large.contains("Loja de Móveis"),
        "{large}"
    );
    assert!(find("projected low balance").contains("-R$ 50,00"));
    assert!(find("Banco Falho is failing").contains("the bank answered 503"));
    common::finish(t, running).await;
}
