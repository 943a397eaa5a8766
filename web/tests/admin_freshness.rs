//! The console's data-freshness page: every connection and account against the 24 h objective,
//! stalest first, with stale/fresh badges and the last error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test;
use common::console::{self, get, send};
use findash_engine::testing::delete_namespace;
use findash_schema::testing::sql;

/// The `<tr>` that contains `needle`.
fn row_of<'a>(html: &'a str, needle: &str) -> &'a str {
    let at = html
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} is not shown"));
    let start = html[..at].rfind("<tr").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

#[actix_web::test]
async fn connections_and_accounts_show_their_age_stalest_first() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);
    let acme = common::tenant(&t, "acme");
    let beta = common::tenant(&t, "beta");
    let mut conn = t.db.admin_conn();
    let connection = |tenant, provider: &str, name: &str, status: &str, more: &str| {
        sql::text(
            &mut t.db.admin_conn(),
            &format!(
                "INSERT INTO provider_connections (tenant_id, provider, external_id, display_name, status, \
                 last_successful_sync_at, created_at, last_error, last_error_at, consecutive_failures) \
                 VALUES ('{tenant}', '{provider}', '{name}', '{name}', '{status}', {more}) RETURNING id::text AS value"
            ),
        )
    };
    let slow = connection(
        acme,
        "pluggy",
        "Banco Lento",
        "error",
        "now() - interval '30 hours', now() - interval '60 days', 'provider answered 503', now() - interval '1 hour', 4",
    );
    let fresh = connection(
        acme,
        "sandbox",
        "Fresh Bank",
        "active",
        "now() - interval '1 hour', now() - interval '60 days', NULL, NULL, 0",
    );
    connection(
        acme,
        "openfinance",
        "Never Synced",
        "pending",
        "NULL, now() - interval '2 days', NULL, NULL, 0",
    );
    let closed = connection(
        acme,
        "belvo",
        "Closed Bank",
        "disabled",
        "now() - interval '90 days', now() - interval '120 days', NULL, NULL, 0",
    );
    connection(
        beta,
        "sandbox",
        "Beta Bank",
        "active",
        "now() - interval '2 hours', now() - interval '10 days', NULL, NULL, 0",
    );
    common::exec(
        &mut conn,
        &format!(
            "INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency, status, last_successful_sync_at) VALUES \
             ('{acme}', '{slow}', 'a1', 'checking', 'Conta Corrente', 'Banco Lento SA', 'BRL', 'active', now() - interval '30 hours'), \
             ('{acme}', '{fresh}', 'a2', 'checking', 'Everyday Checking', 'Fresh Bank plc', 'BRL', 'active', now() - interval '1 hour'), \
             ('{acme}', '{fresh}', 'a3', 'savings', 'Old Savings', 'Fresh Bank plc', 'BRL', 'closed', now() - interval '40 days'), \
             ('{acme}', '{closed}', 'a4', 'checking', 'Closed Checking', 'Closed Bank', 'BRL', 'active', now() - interval '90 days')"
        ),
    );

    let browser = console::sign_in(&app, "ops@example.test").await;
    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/freshness")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<a href=\"/admin/freshness\" aria-current=\"page\">"));

    // Counts against the objective: disabled connections and closed accounts left out.
    assert!(
        html.contains(
            "<h2>Stale connections</h2><p class=\"figure\">2</p><p class=\"muted\">of 4</p>"
        ),
        "{html}"
    );
    assert!(
        html.contains(
            "<h2>Stale accounts</h2><p class=\"figure\">1</p><p class=\"muted\">of 2</p>"
        )
    );
    assert!(!html.contains("Closed Bank") && !html.contains("Closed Checking"));
    assert!(!html.contains("Old Savings"));

    // Stalest first: never synced (2 days), then 30 hours, then the fresh ones.
    let order: Vec<usize> = [
        "Never Synced",
        "Banco Lento</a>",
        "Beta Bank",
        "Fresh Bank</a>",
    ]
    .iter()
    .map(|name| html.find(name).unwrap_or_else(|| panic!("{name}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");

    let never = row_of(&html, "Never Synced");
    assert!(never.contains("<td>never</td>"), "{never}");
    assert!(
        never.contains("<span class=\"badge stale\">stale</span> 2 d"),
        "{never}"
    );
    let slow_row = row_of(&html, "Banco Lento</a>");
    assert!(slow_row.contains(&format!("id=\"connection-{slow}\"")));
    assert!(slow_row.contains("<td>acme</td><td>pluggy</td>"));
    assert!(
        slow_row.contains("<span class=\"badge stale\">stale</span> 1 d 6 h"),
        "{slow_row}"
    );
    assert!(slow_row.contains("provider answered 503"));
    assert!(slow_row.contains("4 failing in a row"));
    assert!(
        slow_row.contains("/admin/jobs?kind=sync_connection&#38;tenant=acme"),
        "{slow_row}"
    );
    let beta_row = row_of(&html, "Beta Bank");
    assert!(beta_row.contains("<td>beta</td>"));
    assert!(
        beta_row.contains("<span class=\"badge fresh\">fresh</span> 2 h"),
        "{beta_row}"
    );

    // Accounts: the stale one first, linking to its connection, with the connection's error.
    let account = row_of(&html, "Conta Corrente");
    assert!(account.contains(&format!(
        "<a href=\"#connection-{slow}\">Conta Corrente</a>"
    )));
    assert!(account.contains("<span class=\"badge stale\">stale</span> 1 d 6 h"));
    assert!(account.contains("provider answered 503"));
    let checking = row_of(&html, "Everyday Checking");
    assert!(checking.contains("<span class=\"badge fresh\">fresh</span> 1 h"));
    assert!(html.find("Conta Corrente").unwrap() < html.find("Everyday Checking").unwrap());
    delete_namespace(&t.namespace).await;
}
