//! `transaction_day_totals` always equals the sums it stands for: after inserts, upserts that
//! change day, amount and category, updates that change nothing it counts, deletes, a deleted
//! category (its transactions become uncategorized), a deleted account (cascade) and a
//! truncate, written as the app role inside tenant scopes (row-level security applies to the
//! totals the triggers write) and as the owner.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed test set-up must fail the test"
)]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use findash_schema::TenantId;
use findash_schema::testing::TestDb;
use findash_schema::testing::sql::count;

const A: &str = "00000000-0000-0000-0000-00000000000a";
const B: &str = "00000000-0000-0000-0000-00000000000b";

/// Rows where the totals and a direct aggregation of `transactions` disagree, both ways.
fn mismatches(conn: &mut PgConnection) -> i64 {
    count(
        conn,
        "WITH direct AS ( \
             SELECT tenant_id, booked_date AS day, category_id, currency, \
                    COALESCE(sum(amount_minor) FILTER (WHERE amount_minor > 0), 0)::bigint AS inflow, \
                    COALESCE(-sum(amount_minor) FILTER (WHERE amount_minor < 0), 0)::bigint AS outflow, \
                    count(*)::int AS n \
             FROM transactions GROUP BY 1, 2, 3, 4), \
         kept AS ( \
             SELECT tenant_id, day, category_id, currency, inflow_minor, outflow_minor, transactions \
             FROM transaction_day_totals) \
         SELECT count(*) AS n FROM ( \
             (SELECT * FROM direct EXCEPT ALL SELECT * FROM kept) \
             UNION ALL \
             (SELECT * FROM kept EXCEPT ALL SELECT * FROM direct)) d",
    )
}

fn in_tenant(db: &TestDb, tenant: &str, sql: &str) {
    let tenant: TenantId = tenant.parse().unwrap();
    db.db()
        .tenant(tenant, |scope| {
            scope
                .conn()
                .batch_execute(sql)
                .map_err(findash_schema::DbError::from)
        })
        .unwrap_or_else(|e| panic!("as the app role in tenant {tenant}: {e}\n{sql}"));
}

#[test]
fn the_totals_follow_every_kind_of_write() {
    let db = TestDb::new();
    let mut admin = db.admin_conn();
    for t in [A, B] {
        admin
            .batch_execute(&format!(
                "INSERT INTO tenants (id, slug, name, base_currency, time_zone, locale) \
                 VALUES ('{t}', 't{}', 'T', 'BRL', 'UTC', 'pt-BR'); \
                 INSERT INTO categories (tenant_id, slug, name, kind) VALUES \
                   ('{t}', 'food', 'Food', 'expense'), ('{t}', 'pay', 'Pay', 'income'); \
                 INSERT INTO provider_connections (tenant_id, provider, external_id, display_name) \
                   VALUES ('{t}', 'sandbox', 'bank', 'Bank'); \
                 INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency) \
                   SELECT '{t}', id, x.ext, 'checking', x.ext, 'Bank', x.currency \
                   FROM provider_connections, (VALUES ('brl', 'BRL'), ('usd', 'USD')) AS x (ext, currency) \
                   WHERE tenant_id = '{t}';",
                &t[t.len() - 1..]
            ))
            .unwrap();
    }
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) AS n FROM transaction_day_totals"
        ),
        0
    );

    for t in [A, B] {
        // A multi-row insert: days, signs, categories and currencies mixed.
        in_tenant(
            &db,
            t,
            &format!(
                "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, category_id, status) \
                 SELECT '{t}', a.id, 'x' || i, DATE '2026-01-01' + (i % 9), (i % 7 - 3) * 125, a.currency, \
                        CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN (SELECT id FROM categories WHERE slug = 'food') \
                             ELSE (SELECT id FROM categories WHERE slug = 'pay') END, 'posted' \
                 FROM generate_series(1, 400) AS i \
                 JOIN accounts a ON a.external_id = CASE WHEN i % 4 = 0 THEN 'usd' ELSE 'brl' END;"
            ),
        );
    }
    assert_eq!(mismatches(&mut admin), 0, "after inserts");
    // 9 days × 2 accounts × one category each (i % 3 follows i % 9) per tenant.
    let rows = count(
        &mut admin,
        "SELECT count(*) AS n FROM transaction_day_totals",
    );
    let txs = count(&mut admin, "SELECT count(*) AS n FROM transactions");
    assert_eq!((rows, txs), (36, 800));

    // A sync's upsert: half the rows exist (some change day, amount and category), half are new.
    in_tenant(
        &db,
        A,
        &format!(
            "INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency, category_id, status) \
             SELECT '{A}', a.id, 'x' || i, DATE '2026-01-03' + (i % 5), 900 - i * 3, 'BRL', NULL, 'posted' \
             FROM generate_series(200, 600) AS i JOIN accounts a ON a.external_id = 'brl' \
             WHERE i % 4 <> 0 \
             ON CONFLICT (tenant_id, account_id, external_id) DO UPDATE SET \
                 booked_date = EXCLUDED.booked_date, amount_minor = EXCLUDED.amount_minor, \
                 category_id = EXCLUDED.category_id;"
        ),
    );
    assert_eq!(mismatches(&mut admin), 0, "after an upsert");

    // Updates: one that changes nothing counted, one that recategorizes, one that flips signs.
    in_tenant(
        &db,
        A,
        "UPDATE transactions SET description = 'renamed' WHERE external_id LIKE 'x1%'; \
         UPDATE transactions SET category_id = (SELECT id FROM categories WHERE slug = 'food') \
             WHERE external_id LIKE 'x2%'; \
         UPDATE transactions SET amount_minor = -amount_minor WHERE external_id LIKE 'x3%';",
    );
    assert_eq!(mismatches(&mut admin), 0, "after updates");

    // Deletes, a deleted category, a deleted account, then everything.
    in_tenant(
        &db,
        A,
        "DELETE FROM transactions WHERE external_id LIKE 'x5%';",
    );
    assert_eq!(mismatches(&mut admin), 0, "after a delete");
    admin
        .batch_execute(&format!(
            "DELETE FROM categories WHERE tenant_id = '{A}' AND slug = 'pay'; \
             DELETE FROM accounts WHERE tenant_id = '{B}' AND external_id = 'usd';"
        ))
        .unwrap();
    assert_eq!(mismatches(&mut admin), 0, "after cascades");
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) AS n FROM transaction_day_totals WHERE transactions <= 0 OR inflow_minor < 0 OR outflow_minor < 0"
        ),
        0,
        "no empty or negative rows are left behind"
    );
    // Each tenant's scope sees its own totals only.
    let own = |db: &TestDb, t: &str| {
        let tenant: TenantId = t.parse().unwrap();
        db.db()
            .tenant(tenant, |scope| {
                findash_schema::testing::sql::try_count(
                    scope.conn(),
                    &format!(
                        "SELECT count(*) AS n FROM transaction_day_totals WHERE tenant_id <> '{t}'"
                    ),
                )
                .map_err(findash_schema::DbError::from)
            })
            .unwrap()
    };
    assert_eq!(own(&db, A), 0);
    assert_eq!(own(&db, B), 0);

    admin.batch_execute("TRUNCATE transactions").unwrap();
    assert_eq!(
        count(
            &mut admin,
            "SELECT count(*) AS n FROM transaction_day_totals"
        ),
        0
    );
}
