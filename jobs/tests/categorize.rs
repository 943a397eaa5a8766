//! Categorization in the database: a tenant's rules beat the provider's category, lower
//! priority first; rules change and the `categorize` job follows; a category a person chose is
//! never overwritten, neither by the job nor by a later sync.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use findash_jobs::categorize::Categorize;
use findash_jobs::sync::SyncConnection;
use findash_schema::testing::sql;
use serde_json::json;

fn slugs_of(conn: &mut diesel::PgConnection, description: &str) -> Vec<String> {
    sql::texts(
        conn,
        &format!(
            "SELECT DISTINCT coalesce(c.slug, '-') AS value FROM transactions t \
             LEFT JOIN categories c ON c.id = t.category_id WHERE t.description = '{description}' ORDER BY 1"
        ),
    )
}

fn rule(
    conn: &mut diesel::PgConnection,
    priority: i32,
    field: &str,
    kind: &str,
    pattern: &str,
    slug: &str,
    bounds: &str,
) {
    sql::count(
        conn,
        &format!(
            "WITH r AS (INSERT INTO categorization_rules \
                 (tenant_id, category_id, priority, match_field, match_kind, pattern, amount_min_minor, amount_max_minor) \
             SELECT tenant_id, id, {priority}, '{field}', '{kind}', '{pattern}', {bounds} FROM categories WHERE slug = '{slug}' \
             RETURNING 1) SELECT count(*) AS n FROM r"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_precedence_and_manual_choices() {
    let t = common::engine("http://127.0.0.1:9/").await;
    let running = t.run(2);
    let tenant = common::tenant(&t, "rules");
    let connection = common::connection(
        &t,
        tenant,
        "sandbox",
        "sbx",
        &json!({ "seed": 1, "history_days": 60, "as_of": "2026-05-31" }),
    );
    let mut conn = t.db.admin_conn();
    let sync = common::run_once(
        &t,
        Some(tenant),
        &SyncConnection {
            connection_id: connection,
        },
    )
    .await;
    assert_eq!(sync.state, "succeeded", "{sync:?}");
    assert_eq!(
        slugs_of(&mut conn, "FEIRA ORGANICA"),
        vec!["groceries"],
        "the provider's category"
    );
    assert_eq!(
        slugs_of(&mut conn, "POSTO SHELL"),
        vec!["fuel"],
        "a keyword default"
    );

    // A person files one market trip under restaurants.
    let chosen = sql::text(
        &mut conn,
        "WITH u AS (UPDATE transactions SET category_manual = true, \
             category_id = (SELECT id FROM categories WHERE slug = 'restaurants') \
         WHERE id = (SELECT id FROM transactions WHERE description = 'FEIRA ORGANICA' ORDER BY booked_date LIMIT 1) \
         RETURNING id) SELECT id::text AS value FROM u",
    );

    // Rules: the market is entertainment (priority 50), but large market trips are shopping
    // (priority 10 wins); a regex on the counterparty; a rule with a bad regex is skipped.
    rule(
        &mut conn,
        50,
        "description",
        "contains",
        "feira",
        "entertainment",
        "NULL, NULL",
    );
    rule(
        &mut conn,
        10,
        "description",
        "prefix",
        "FEIRA",
        "shopping",
        "NULL, -6501",
    );
    rule(
        &mut conn,
        20,
        "counterparty",
        "regex",
        "^imobili[aá]ria\\s+sol",
        "education",
        "NULL, NULL",
    );
    rule(
        &mut conn,
        1,
        "description",
        "regex",
        "([unclosed",
        "taxes",
        "NULL, NULL",
    );
    let first = common::run_once(&t, Some(tenant), &Categorize::default()).await;
    assert_eq!(first.state, "succeeded", "{first:?}");
    let changed = first.result.as_ref().unwrap()["changed"].as_i64().unwrap();
    assert!(changed > 0, "{first:?}");
    // Every market trip costs exactly 65.00, above the shopping bound: entertainment.
    assert_eq!(
        slugs_of(&mut conn, "FEIRA ORGANICA"),
        vec!["entertainment", "restaurants"]
    );
    assert_eq!(
        slugs_of(&mut conn, "ALUGUEL IMOBILIARIA SOL"),
        vec!["education"]
    );
    assert_eq!(
        sql::text(
            &mut conn,
            &format!(
                "SELECT c.slug AS value FROM transactions t JOIN categories c ON c.id = t.category_id WHERE t.id = '{chosen}'"
            )
        ),
        "restaurants",
        "a person's choice stays"
    );

    // Tighter bound: now 65.00 trips are shopping; running again changes only them.
    sql::count(
        &mut conn,
        "WITH u AS (UPDATE categorization_rules SET amount_max_minor = -6500 WHERE priority = 10 RETURNING 1) SELECT count(*) AS n FROM u",
    );
    let second = common::run_once(&t, Some(tenant), &Categorize::default()).await;
    assert_eq!(
        second.result.as_ref().unwrap()["changed"].as_i64().unwrap(),
        sql::count(
            &mut conn,
            "SELECT count(*) AS n FROM transactions WHERE description = 'FEIRA ORGANICA' AND NOT category_manual"
        )
    );
    assert_eq!(
        slugs_of(&mut conn, "FEIRA ORGANICA"),
        vec!["restaurants", "shopping"]
    );
    let third = common::run_once(&t, Some(tenant), &Categorize::default()).await;
    assert_eq!(
        third.result.unwrap()["changed"],
        0,
        "nothing left to change"
    );

    // A later sync rereads the recent days and keeps both the rules' and the person's choices.
    let resync = common::run_once(
        &t,
        Some(tenant),
        &SyncConnection {
            connection_id: connection,
        },
    )
    .await;
    assert_eq!(resync.state, "succeeded", "{resync:?}");
    assert_eq!(resync.result.unwrap()["updated"], 0);
    assert_eq!(
        slugs_of(&mut conn, "FEIRA ORGANICA"),
        vec!["restaurants", "shopping"]
    );
    common::finish(t, running).await;
}
