//! `findash connections` and `findash credentials rotate` end to end: credentials go in from a
//! file or stdin, are stored sealed (never in clear, never printed), and a key rotation re-seals
//! every one of them under the new key, idempotently.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

mod common;

use std::path::Path;
use std::process::Output;

use findash_jobs::credentials::Sealer;
use findash_schema::connections::SealedCredentials;
use findash_schema::testing::{TestDb, sql};
use secrecy::{ExposeSecret, SecretString};

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "HxwdGhscGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";
const KEY_C: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const TOKEN: &str = "ofb-access-token-7f3a";

fn findash(url: &str, key: &str, previous: &str, args: &[&str], stdin: Option<&str>) -> Output {
    common::run(
        &[
            ("DATABASE_URL", url.to_owned()),
            ("ENCRYPTION_KEY", key.to_owned()),
            ("ENCRYPTION_KEY_PREVIOUS", previous.to_owned()),
        ],
        args,
        stdin,
    )
}

fn ok(output: &Output) -> String {
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(
        output.status.success(),
        "findash failed:\nstdout: {out}\nstderr: {err}"
    );
    assert!(
        !out.contains(TOKEN) && !err.contains(TOKEN),
        "a credential was printed"
    );
    out
}

fn key(key: &str) -> SecretString {
    SecretString::from(key.to_owned())
}

/// Opens the stored credentials of connection `id` with `sealer`.
fn open(db: &TestDb, sealer: &Sealer, id: &str) -> Result<String, String> {
    let row = sql::text(
        &mut db.admin_conn(),
        &format!(
            "SELECT concat_ws('|', tenant_id, encode(credentials_ciphertext, 'hex'), credentials_key_id) AS value \
             FROM provider_connections WHERE id = '{id}'"
        ),
    );
    let parts: Vec<&str> = row.split('|').collect();
    let sealed = SealedCredentials {
        ciphertext: common::unhex(parts[1]),
        key_id: parts[2].to_owned(),
    };
    sealer
        .open(parts[0].parse().unwrap(), id.parse().unwrap(), &sealed)
        .map(|s| s.expose_secret().to_owned())
        .map_err(|e| e.to_string())
}

#[test]
fn credentials_are_sealed_listed_without_secrets_and_rotated() {
    let db = TestDb::new();
    let url = db.url();
    ok(&findash(&url, KEY_A, "", &["seed", "--demo"], None));

    // From a file.
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("creds-{}.json", db.name()));
    std::fs::write(&file, format!("{{\"access_token\": \"{TOKEN}\"}}\n")).unwrap();
    let out = ok(&findash(
        &url,
        KEY_A,
        "",
        &[
            "connections",
            "add",
            "--tenant",
            "demo",
            "--provider",
            "openfinance",
            "--external-id",
            "consent-1",
            "--name",
            "Banco X",
            "--credentials",
            file.to_str().unwrap(),
        ],
        None,
    ));
    std::fs::remove_file(&file).unwrap();
    let first = out.trim().to_owned();
    // From stdin, onto another connection.
    let second = ok(&findash(
        &url,
        KEY_A,
        "",
        &[
            "connections",
            "add",
            "--tenant",
            "demo",
            "--provider",
            "openfinance",
            "--external-id",
            "consent-2",
            "--name",
            "Banco Y",
            "--credentials",
            "-",
        ],
        Some(&format!("{{\"access_token\": \"{TOKEN}-2\"}}")),
    ))
    .trim()
    .to_owned();

    let a = Sealer::new(&key(KEY_A), &[]).unwrap();
    assert_eq!(
        open(&db, &a, &first).unwrap(),
        format!("{{\"access_token\": \"{TOKEN}\"}}")
    );
    assert!(
        !sql::flag(
            &mut db.admin_conn(),
            &format!(
                "SELECT bool_or(position('{TOKEN}' IN encode(credentials_ciphertext, 'escape')) > 0) AS flag FROM provider_connections"
            )
        ),
        "stored in clear"
    );
    let listed = ok(&findash(
        &url,
        KEY_A,
        "",
        &["connections", "list", "--tenant", "demo"],
        None,
    ));
    assert!(
        listed.contains("consent-1") && listed.contains(a.current_key_id()),
        "{listed}"
    );
    assert!(listed.contains("sandbox-personal"), "{listed}");

    // Bad input is refused and changes nothing.
    let bad = findash(
        &url,
        KEY_A,
        "",
        &[
            "connections",
            "set-credentials",
            "--tenant",
            "demo",
            &first,
            "--credentials",
            "-",
        ],
        Some("not json"),
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("JSON object"));

    // Rotate to B with A as previous: both re-sealed, then nothing left to do.
    let out = ok(&findash(
        &url,
        KEY_B,
        KEY_A,
        &["credentials", "rotate"],
        None,
    ));
    assert!(out.contains("2 re-sealed"), "{out}");
    let b = Sealer::new(&key(KEY_B), &[]).unwrap();
    assert_eq!(
        open(&db, &b, &second).unwrap(),
        format!("{{\"access_token\": \"{TOKEN}-2\"}}")
    );
    assert!(
        open(&db, &a, &first)
            .unwrap_err()
            .contains("neither ENCRYPTION_KEY")
    );
    let out = ok(&findash(
        &url,
        KEY_B,
        KEY_A,
        &["credentials", "rotate"],
        None,
    ));
    assert!(
        out.contains("0 re-sealed") && out.contains("2 already current"),
        "{out}"
    );

    // A key nobody kept: the rotation names what it could not open and fails.
    let lost = findash(&url, KEY_C, "", &["credentials", "rotate"], None);
    assert!(!lost.status.success());
    let out = String::from_utf8_lossy(&lost.stdout);
    assert!(out.contains("2 failed") && out.contains(&first), "{out}");
    assert_eq!(
        open(&db, &b, &first).unwrap(),
        format!("{{\"access_token\": \"{TOKEN}\"}}"),
        "left as it was"
    );

    // New credentials let a connection that needed reconnecting sync again.
    sql::count(
        &mut db.admin_conn(),
        &format!(
            "WITH u AS (UPDATE provider_connections SET status = 'reauth_required' WHERE id = '{first}' RETURNING 1) SELECT count(*) AS n FROM u"
        ),
    );
    ok(&findash(
        &url,
        KEY_B,
        "",
        &[
            "connections",
            "set-credentials",
            "--tenant",
            "demo",
            &first,
            "--credentials",
            "-",
        ],
        Some(&format!("{{\"access_token\": \"{TOKEN}-new\"}}")),
    ));
    assert_eq!(
        sql::text(
            &mut db.admin_conn(),
            &format!("SELECT status AS value FROM provider_connections WHERE id = '{first}'")
        ),
        "pending"
    );
    assert_eq!(
        open(&db, &b, &first).unwrap(),
        format!("{{\"access_token\": \"{TOKEN}-new\"}}")
    );
}
