//! The console's rate-limit page: the configured limits and each bucket's usage, read from
//! Redis without taking a token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test;
use common::console::{self, get, send};
use findash_engine::Registry;
use findash_engine::ratelimit::Decision;
use findash_engine::testing::{TestEngine, delete_namespace};

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
async fn limits_and_the_buckets_in_use_are_shown() {
    let t = TestEngine::start(findash_engine::builtin::register(Registry::new()), |c| {
        c.rate_limits = "pluggy=5/1h:5,belvo=600/1m:20".to_owned();
    })
    .await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);
    let browser = console::sign_in(&app, "ops@example.test").await;

    // Nothing used yet: the limits are listed, no bucket exists.
    let (status, _, html) = send(&app, get(&browser.cookie, "/admin/rate-limits")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<a href=\"/admin/rate-limits\" aria-current=\"page\">"));
    assert!(
        row_of(&html, ">belvo<").contains(
            "<td>600 per 1 min</td><td class=\"num\">20</td><td class=\"num\">0</td><td class=\"num\">0</td>"
        ),
        "{html}"
    );
    assert!(html.contains("Every bucket is full"));

    let limiter = t.engine.rate_limiter();
    for _ in 0..3 {
        assert_eq!(
            limiter.acquire("pluggy:cred-abc").await.unwrap(),
            Decision::Allowed
        );
    }
    for _ in 0..5 {
        assert_eq!(
            limiter.acquire("pluggy:cred-xyz").await.unwrap(),
            Decision::Allowed
        );
    }
    assert!(matches!(
        limiter.acquire("pluggy:cred-xyz").await.unwrap(),
        Decision::Limited { .. }
    ));
    // Unlimited prefixes never make a bucket.
    assert_eq!(
        limiter.acquire("stripe:x").await.unwrap(),
        Decision::Allowed
    );

    let (_, _, html) = send(&app, get(&browser.cookie, "/admin/rate-limits")).await;
    let pluggy = row_of(&html, "<tr id=\"limit-pluggy\">");
    assert!(
        pluggy.contains(
            "<td>5 per 1 h</td><td class=\"num\">5</td><td class=\"num\">2</td><td class=\"num\"><span class=\"badge limited\">1</span></td>"
        ),
        "{pluggy}"
    );
    assert!(
        row_of(&html, "<tr id=\"limit-belvo\">")
            .contains("<td class=\"num\">0</td><td class=\"num\">0</td>")
    );

    // The empty bucket first, then the one with 2 of 5 left; reading them took no token.
    let xyz = html.find("pluggy:cred-xyz").unwrap();
    let abc = html.find("pluggy:cred-abc").unwrap();
    assert!(xyz < abc, "most used first");
    let used = row_of(&html, "pluggy:cred-abc");
    assert!(
        used.contains(
            "<meter min=\"0\" max=\"5\" value=\"3\" aria-label=\"3 of 5 used\"></meter> 3 of 5"
        ),
        "{used}"
    );
    assert!(used.contains("<span class=\"badge ok\">2</span>"));
    // Three tokens back at one per 12 minutes: full again in about 36 minutes.
    assert!(
        used.contains("<td>in 35 min</td>") || used.contains("<td>in 36 min</td>"),
        "{used}"
    );
    let empty = row_of(&html, "pluggy:cred-xyz");
    assert!(empty.contains("<span class=\"badge limited\">0</span>"));
    assert!(empty.contains("5 of 5"));
    assert!(!html.contains("stripe:x"));
    assert_eq!(
        limiter
            .usage("pluggy:cred-abc")
            .await
            .unwrap()
            .unwrap()
            .available,
        2,
        "the page read the buckets without taking a token"
    );

    let found = t.engine.rate_limit_buckets().await.unwrap();
    assert_eq!(found.limits.len(), 2);
    assert_eq!(found.in_use.buckets.len(), 2);
    assert!(!found.in_use.truncated);
    delete_namespace(&t.namespace).await;
}
