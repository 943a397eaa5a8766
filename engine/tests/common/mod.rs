//! Shared helpers of the engine's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod sentry;

use std::time::{Duration, Instant};

use diesel::PgConnection;
use findash_engine::Registry;
use findash_engine::testing::TestEngine;
use findash_schema::testing::sql;

/// A tenant row; returns its id.
pub fn tenant(conn: &mut PgConnection, slug: &str) -> findash_schema::TenantId {
    let id = sql::text(
        conn,
        &format!(
            "INSERT INTO tenants (slug, name, base_currency, time_zone, locale) \
             VALUES ('{slug}', '{slug}', 'BRL', 'UTC', 'pt-BR') RETURNING id::text AS value"
        ),
    );
    id.parse().unwrap()
}

pub use findash_engine::testing::Running;

/// Starts workers (all queues, `concurrency` each) and the scheduler.
pub fn run(t: &TestEngine, concurrency: usize) -> Running {
    t.run(concurrency)
}

/// Polls `sql` (a count) until it equals `expected`, or fails after `timeout`.
pub async fn wait_count(t: &TestEngine, query: &str, expected: i64, timeout: Duration) {
    let started = Instant::now();
    let mut conn = t.db.admin_conn();
    loop {
        let n = sql::count(&mut conn, query);
        if n == expected {
            return;
        }
        if started.elapsed() > timeout {
            let states = sql::texts(
                &mut conn,
                "SELECT state || ' ' || coalesce(last_error, '') AS value FROM jobs ORDER BY created_at LIMIT 20",
            );
            panic!("`{query}` is {n}, expected {expected} after {timeout:?}; jobs: {states:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn registry() -> Registry {
    findash_engine::builtin::register(Registry::new())
}
