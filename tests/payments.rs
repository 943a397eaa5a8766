//! `findash payments` and `findash webhooks replay` end to end: an access token goes in from
//! stdin, is stored sealed (never in clear, never printed) and rotated with the other
//! credentials; an account belongs to one tenant; replays queue processing again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use std::process::Output;

use findash_jobs::credentials::{Owner, Sealer};
use findash_schema::connections::SealedCredentials;
use findash_schema::testing::{TestDb, sql};
use secrecy::{ExposeSecret, SecretString};

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "HxwdGhscGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";
const TOKEN: &str = "APP_USR-1234567890-seller-777";

fn findash(db: &TestDb, key: &str, previous: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let output = common::run(
        &[
            ("DATABASE_URL", db.url()),
            ("REDIS_URL", findash_engine::testing::redis_url()),
            ("REDIS_NAMESPACE", format!("test:{}", db.name())),
            ("ENCRYPTION_KEY", key.to_owned()),
            ("ENCRYPTION_KEY_PREVIOUS", previous.to_owned()),
        ],
        args,
        stdin,
    );
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        !out.contains(TOKEN) && !err.contains(TOKEN),
        "the access token was printed"
    );
    output
}

fn ok(output: &Output) -> String {
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "findash failed:\nstdout: {out}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

fn failed(output: &Output) -> String {
    assert!(!output.status.success(), "findash succeeded");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The stored token of Mercado Pago seller `account`, opened with `key`.
fn token(db: &TestDb, key: &str, account: &str) -> Result<String, String> {
    let row = sql::text(
        &mut db.admin_conn(),
        &format!(
            "SELECT concat_ws('|', tenant_id, id, encode(credentials, 'hex'), credentials_key_id) AS value \
             FROM payment_accounts WHERE provider = 'mercadopago' AND account_ref = '{account}'"
        ),
    );
    let parts: Vec<&str> = row.split('|').collect();
    let sealed = SealedCredentials {
        ciphertext: common::unhex(parts[2]),
        key_id: parts[3].to_owned(),
    };
    assert!(
        !String::from_utf8_lossy(&sealed.ciphertext).contains(TOKEN),
        "stored in clear"
    );
    Sealer::new(&SecretString::from(key.to_owned()), &[])
        .unwrap()
        .open_for(
            parts[0].parse().unwrap(),
            Owner::PaymentAccount(parts[1].parse().unwrap()),
            &sealed,
        )
        .map(|s| s.expose_secret().to_owned())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_accounts_are_linked_sealed_rotated_and_replayed() {
    let db = TestDb::new();
    ok(&findash(&db, KEY_A, "", &["seed", "--demo"], None));
    let link = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec!["payments", "link", "--tenant", "demo"];
        all.extend_from_slice(args);
        findash(&db, KEY_A, "", &all, stdin)
    };

    let out = ok(&link(
        &[
            "--provider",
            "mercadopago",
            "--account",
            "777",
            "--access-token",
            "-",
        ],
        Some(&format!("{TOKEN}\n")),
    ));
    assert!(out.contains("access token sealed"), "{out}");
    assert_eq!(token(&db, KEY_A, "777").unwrap(), TOKEN);
    ok(&link(
        &["--provider", "stripe", "--account", "acct_demo"],
        None,
    ));
    let out = ok(&findash(&db, KEY_A, "", &["payments", "list"], None));
    assert!(
        out.lines()
            .any(|l| l.starts_with("mercadopago") && l.contains("777") && l.ends_with("sealed")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("stripe") && l.contains("acct_demo")),
        "{out}"
    );

    // Refused: a Stripe account with a token, an empty token, another tenant's account, a bad
    // reference.
    let why = failed(&link(
        &[
            "--provider",
            "stripe",
            "--account",
            "acct_x",
            "--access-token",
            "-",
        ],
        Some(TOKEN),
    ));
    assert!(why.contains("no access token"), "{why}");
    let why = failed(&link(
        &[
            "--provider",
            "mercadopago",
            "--account",
            "778",
            "--access-token",
            "-",
        ],
        Some("  \n"),
    ));
    assert!(why.contains("one word"), "{why}");
    sql::count(
        &mut db.admin_conn(),
        "WITH t AS (INSERT INTO tenants (slug, name, base_currency, time_zone, locale) \
         VALUES ('other', 'Other', 'BRL', 'UTC', 'pt-BR') RETURNING 1) SELECT count(*) AS n FROM t",
    );
    let why = failed(&findash(
        &db,
        KEY_A,
        "",
        &[
            "payments",
            "link",
            "--tenant",
            "other",
            "--provider",
            "stripe",
            "--account",
            "acct_demo",
        ],
        None,
    ));
    assert!(why.contains("linked to another tenant"), "{why}");
    let why = failed(&link(
        &["--provider", "stripe", "--account", "acct/../x"],
        None,
    ));
    assert!(why.contains("account reference"), "{why}");

    // Key rotation re-seals payment accounts' tokens too.
    let out = ok(&findash(
        &db,
        KEY_B,
        KEY_A,
        &["credentials", "rotate"],
        None,
    ));
    assert!(out.contains("1 re-sealed"), "{out}");
    assert_eq!(token(&db, KEY_B, "777").unwrap(), TOKEN);

    // Replays: by id, by filter; a filter or an id is required.
    let why = failed(&findash(&db, KEY_B, "", &["webhooks", "replay"], None));
    assert!(why.contains("name a delivery id"), "{why}");
    let delivery = sql::text(
        &mut db.admin_conn(),
        "INSERT INTO webhook_inbox (provider, event_id, event_type, account_ref, raw_body, status, processed_at) \
         VALUES ('stripe', 'evt_cli', 'customer.created', 'acct_demo', \
                 convert_to('{\"id\":\"evt_cli\",\"type\":\"customer.created\",\"created\":1,\"data\":{\"object\":{}}}', 'UTF8'), \
                 'ignored', now()) RETURNING id::text AS value",
    );
    let out = ok(&findash(
        &db,
        KEY_B,
        "",
        &["webhooks", "replay", &delivery],
        None,
    ));
    assert!(
        out.contains("replaying as job") && out.contains("1 replayed, 0 failed"),
        "{out}"
    );
    let out = ok(&findash(
        &db,
        KEY_B,
        "",
        &[
            "webhooks",
            "replay",
            "--provider",
            "stripe",
            "--status",
            "received",
        ],
        None,
    ));
    assert!(out.contains("1 replayed"), "{out}");
    assert_eq!(
        sql::text(
            &mut db.admin_conn(),
            &format!(
                "SELECT w.replay_count || ' ' || w.status || ' ' || (w.tenant_id = t.id) || ' ' || \
                        (SELECT count(*) FROM jobs j WHERE j.kind = 'process_webhook' AND j.tenant_id = t.id) AS value \
                 FROM webhook_inbox w, tenants t WHERE w.id = '{delivery}' AND t.slug = 'demo'"
            )
        ),
        "2 received true 2",
        "the account's tenant was resolved and a job queued per replay"
    );
    // A delivery whose job died while it was still unfinished is found by --stuck, and only it.
    sql::count(
        &mut db.admin_conn(),
        &format!(
            "WITH u AS (UPDATE jobs SET state = 'dead', finished_at = now() \
                        WHERE id = (SELECT job_id FROM webhook_inbox WHERE id = '{delivery}') \
                        RETURNING 1) SELECT count(*) AS n FROM u"
        ),
    );
    let out = ok(&findash(
        &db,
        KEY_B,
        "",
        &["webhooks", "replay", "--stuck"],
        None,
    ));
    assert!(
        out.contains(&delivery) && out.contains("1 replayed, 0 failed"),
        "{out}"
    );
    let out = ok(&findash(
        &db,
        KEY_B,
        "",
        &["webhooks", "replay", "--stuck"],
        None,
    ));
    assert!(out.contains("0 replayed, 0 failed"), "{out}");
    let why = failed(&findash(
        &db,
        KEY_B,
        "",
        &["webhooks", "replay", "01a21110-0000-7000-8000-000000000000"],
        None,
    ));
    assert!(why.contains("no such delivery"), "{why}");
    findash_engine::testing::delete_namespace(&format!("test:{}", db.name())).await;
}
