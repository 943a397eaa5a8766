//! The invariants the schema itself enforces, whatever code writes the rows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use findash_schema::testing::TestDb;
use findash_schema::testing::sql::{count, text};

/// A database with one tenant `t` (BRL), a checking account and a category.
fn books() -> (TestDb, PgConnection) {
    let db = TestDb::new();
    let mut conn = db.admin_conn();
    conn.batch_execute(
        "INSERT INTO tenants (id, slug, name, base_currency, time_zone, locale) \
         VALUES ('00000000-0000-0000-0000-00000000000a', 't', 'T', 'BRL', 'America/Sao_Paulo', 'pt-BR'); \
         INSERT INTO provider_connections (id, tenant_id, provider, external_id, display_name) \
         VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-00000000000a', 'sandbox', 'c', 'C'); \
         INSERT INTO accounts (id, tenant_id, connection_id, external_id, kind, name, institution, currency) \
         VALUES ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-00000000000a', \
                 '00000000-0000-0000-0000-0000000000c1', 'a', 'checking', 'Checking', 'Bank', 'BRL'); \
         INSERT INTO categories (id, tenant_id, slug, name, kind) \
         VALUES ('00000000-0000-0000-0000-0000000000f1', '00000000-0000-0000-0000-00000000000a', 'food', 'Food', 'expense');",
    )
    .unwrap();
    (db, conn)
}

fn transaction(external_id: &str, currency: &str, extra_cols: &str, extra_vals: &str) -> String {
    format!(
        "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, status{extra_cols}) \
         VALUES ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a1', '{external_id}', \
                 DATE '2026-11-20', -1250, '{currency}', 'posted'{extra_vals})"
    )
}

fn fails(conn: &mut PgConnection, sql: &str) -> String {
    match conn.batch_execute(sql) {
        Ok(()) => panic!("accepted: {sql}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_transaction_is_in_its_accounts_currency_and_unique_by_external_id() {
    let (_db, mut conn) = books();
    conn.batch_execute(&transaction("tx-1", "BRL", "", ""))
        .unwrap();
    let message = fails(&mut conn, &transaction("tx-1", "BRL", "", ""));
    assert!(
        message.contains("transactions_tenant_id_account_id_external_id_key"),
        "{message}"
    );
    let message = fails(&mut conn, &transaction("tx-2", "USD", "", ""));
    assert!(
        message.contains("foreign key"),
        "a USD row in a BRL account: {message}"
    );
    let message = fails(&mut conn, &transaction("tx-3", "XXX", "", ""));
    assert!(
        message.contains("foreign key"),
        "an unknown currency: {message}"
    );
    // A foreign purchase keeps its original amount beside the account-currency amount.
    conn.batch_execute(&transaction(
        "tx-4",
        "BRL",
        ", original_amount_minor, original_currency",
        ", -250, 'USD'",
    ))
    .unwrap();
    let message = fails(
        &mut conn,
        &transaction("tx-5", "BRL", ", original_amount_minor", ", -250"),
    );
    assert!(message.contains(r#""transactions_check""#), "{message}");
}

#[test]
fn deleting_a_category_keeps_a_manual_choice_as_uncategorized() {
    let (_db, mut conn) = books();
    conn.batch_execute(&transaction(
        "tx-1",
        "BRL",
        ", category_id, category_manual",
        ", '00000000-0000-0000-0000-0000000000f1', true",
    ))
    .unwrap();
    conn.batch_execute("DELETE FROM categories WHERE slug = 'food'")
        .unwrap();
    assert_eq!(
        text(
            &mut conn,
            "SELECT (category_id IS NULL AND category_manual)::text AS value FROM transactions"
        ),
        "true"
    );
}

#[test]
fn tenants_need_a_real_time_zone_and_a_bcp47_locale() {
    let (_db, mut conn) = books();
    let insert = |slug: &str, tz: &str, locale: &str| {
        format!(
            "INSERT INTO tenants (slug, name, base_currency, time_zone, locale) VALUES ('{slug}', 'X', 'MXN', '{tz}', '{locale}')"
        )
    };
    conn.batch_execute(&insert("latam", "America/Mexico_City", "es-419"))
        .unwrap();
    conn.batch_execute(&insert("us", "EST5EDT", "en-US"))
        .unwrap();
    conn.batch_execute(&insert("pt", "UTC", "pt")).unwrap();
    assert!(
        fails(&mut conn, &insert("bad-tz", "Mars/Olympus_Mons", "en"))
            .contains("tenants_time_zone_check")
    );
    assert!(
        fails(&mut conn, &insert("bad-locale", "UTC", "english")).contains("tenants_locale_check")
    );
    assert!(fails(&mut conn, &insert("Bad Slug", "UTC", "en")).contains("tenants_slug_check"));
}

#[test]
fn job_ledger_states_and_idempotency_keys_are_enforced() {
    let (_db, mut conn) = books();
    let job = |key: &str| {
        format!(
            "INSERT INTO jobs (tenant_id, kind, queue, max_attempts, idempotency_key) \
             VALUES ('00000000-0000-0000-0000-00000000000a', 'sync_account', 'sync', 5, {key})"
        )
    };
    conn.batch_execute(&job("'k1'")).unwrap();
    assert!(fails(&mut conn, &job("'k1'")).contains("jobs_idempotency_key"));
    conn.batch_execute(&job("NULL")).unwrap();
    conn.batch_execute(&job("NULL")).unwrap();
    // System jobs (no tenant) de-duplicate among themselves too.
    let system = "INSERT INTO jobs (kind, queue, max_attempts, idempotency_key) VALUES ('prune', 'default', 1, 'hourly')";
    conn.batch_execute(system).unwrap();
    assert!(fails(&mut conn, system).contains("jobs_idempotency_key"));

    let message = fails(
        &mut conn,
        "UPDATE jobs SET state = 'running' WHERE idempotency_key = 'k1'",
    );
    assert!(
        message.contains(r#""jobs_check1""#),
        "running without a lease: {message}"
    );
    let message = fails(
        &mut conn,
        "UPDATE jobs SET state = 'succeeded' WHERE idempotency_key = 'k1'",
    );
    assert!(
        message.contains(r#""jobs_check2""#),
        "finished without finished_at: {message}"
    );
    let message = fails(
        &mut conn,
        "UPDATE jobs SET state = 'exploded' WHERE idempotency_key = 'k1'",
    );
    assert!(message.contains("jobs_state_check"), "{message}");
    let message = fails(
        &mut conn,
        "UPDATE jobs SET state = 'running', attempts = 1, lease_owner = 'w1', lease_expires_at = now() + interval '30 s' \
         WHERE idempotency_key = 'k1'",
    );
    assert!(
        message.contains("jobs_running_in_window"),
        "running without having been dispatched: {message}"
    );
    conn.batch_execute(
        "UPDATE jobs SET state = 'running', attempts = 1, lease_owner = 'w1', lease_expires_at = now() + interval '30 s', \
                dispatched_at = now(), dispatch_token = 't1' \
         WHERE idempotency_key = 'k1'",
    )
    .unwrap();
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM jobs WHERE state = 'running'"
        ),
        1
    );
}

#[test]
fn money_columns_are_integers_and_rates_exact() {
    let (_db, mut conn) = books();
    let float_money = text(
        &mut conn,
        "SELECT count(*)::text AS value FROM information_schema.columns \
         WHERE table_schema = 'public' AND data_type IN ('real', 'double precision', 'money')",
    );
    assert_eq!(float_money, "0", "a floating-point or money column exists");
    conn.batch_execute(
        "INSERT INTO fx_rates (source, base_currency, quote_currency, rate_date, rate) \
         VALUES ('ecb', 'EUR', 'BRL', DATE '2026-11-20', 6.123456789012)",
    )
    .unwrap();
    assert_eq!(
        text(&mut conn, "SELECT rate::text AS value FROM fx_rates"),
        "6.123456789012"
    );
    assert!(fails(&mut conn, "INSERT INTO fx_rates (source, base_currency, quote_currency, rate_date, rate) VALUES ('ecb', 'EUR', 'EUR', DATE '2026-11-20', 1)").contains(r#""fx_rates_check""#));
}

#[test]
fn rows_without_a_tenant_cannot_point_at_a_tenants_job() {
    let (_db, mut conn) = books();
    conn.batch_execute(
        "INSERT INTO jobs (id, tenant_id, kind, queue, max_attempts) \
         VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-00000000000a', 'sync_account', 'sync', 5); \
         INSERT INTO jobs (id, kind, queue, max_attempts) \
         VALUES ('00000000-0000-0000-0000-0000000000b2', 'prune', 'default', 1);",
    )
    .unwrap();
    let tenant_job = "'00000000-0000-0000-0000-0000000000b1'";
    let system_job = "'00000000-0000-0000-0000-0000000000b2'";
    let tenant = "'00000000-0000-0000-0000-00000000000a'";
    // Without a tenant, the trigger holds the row to system jobs; with one, the composite
    // foreign key (tenant_id, job) does.
    for (sql, expected) in [
        (
            format!(
                "INSERT INTO job_attempts (job_id, tenant_id, attempt, worker) VALUES ({tenant_job}, NULL, 1, 'w')"
            ),
            "job_attempts.job_id must point at a job of the same tenant",
        ),
        (
            format!(
                "INSERT INTO job_attempts (job_id, tenant_id, attempt, worker) VALUES ({system_job}, {tenant}, 1, 'w')"
            ),
            "violates foreign key constraint \"job_attempts_tenant_id_job_id_fkey\"",
        ),
        (
            format!(
                "INSERT INTO jobs (kind, queue, max_attempts, parent_job_id) VALUES ('prune', 'default', 1, {tenant_job})"
            ),
            "jobs.parent_job_id must point at a job of the same tenant",
        ),
        (
            format!(
                "INSERT INTO jobs (tenant_id, kind, queue, max_attempts, parent_job_id) VALUES ({tenant}, 'sync_account', 'sync', 1, {system_job})"
            ),
            "violates foreign key constraint \"jobs_tenant_id_parent_job_id_fkey\"",
        ),
        (
            format!(
                "INSERT INTO webhook_inbox (provider, event_id, raw_body, job_id) VALUES ('stripe', 'evt_1', '\\x7b7d', {tenant_job})"
            ),
            "webhook_inbox.job_id must point at a job of the same tenant",
        ),
        (
            format!(
                "INSERT INTO webhook_inbox (provider, event_id, raw_body, job_id, tenant_id) VALUES ('stripe', 'evt_3', '\\x7b7d', {system_job}, {tenant})"
            ),
            "violates foreign key constraint \"webhook_inbox_tenant_id_job_id_fkey\"",
        ),
    ] {
        let message = fails(&mut conn, &sql);
        assert!(message.contains(expected), "{sql}: {message}");
    }
    conn.batch_execute(&format!(
        "INSERT INTO job_attempts (job_id, tenant_id, attempt, worker) VALUES ({tenant_job}, {tenant}, 1, 'w'), ({system_job}, NULL, 1, 'w'); \
         INSERT INTO jobs (kind, queue, max_attempts, parent_job_id) VALUES ('prune', 'default', 1, {system_job}); \
         INSERT INTO webhook_inbox (provider, event_id, raw_body, job_id, tenant_id) VALUES ('stripe', 'evt_2', '\\x7b7d', {tenant_job}, {tenant});"
    ))
    .unwrap();
}
