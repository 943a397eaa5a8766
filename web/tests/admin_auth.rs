//! The admin console's sign-in, sessions, CSRF protection and sign-in backoff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use common::console::{
    self, CLIENT, PASSWORD, get, post, post_login, post_login_from, post_with, send, set_cookie,
};
use findash_engine::testing::TestEngine;
use findash_schema::testing::sql;

/// Another client address than [`CLIENT`].
const ELSEWHERE: &str = "198.51.100.7:4000";

/// The sign-in counts, `key=failures` in key order.
fn counts(t: &TestEngine) -> String {
    sql::text(
        &mut t.db.admin_conn(),
        "SELECT coalesce(string_agg(key || '=' || failures, ',' ORDER BY key COLLATE \"C\"), '') AS value \
         FROM console_login_failures",
    )
}

fn count_sessions(t: &TestEngine) -> String {
    sql::text(
        &mut t.db.admin_conn(),
        "SELECT count(*)::text AS value FROM console_sessions",
    )
}

#[actix_web::test]
async fn pages_need_a_session_and_sign_in_leads_back() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);

    for uri in ["/admin", "/admin/jobs?state=dead", "/admin/no-such-page"] {
        let (status, location, _) = send(&app, TestRequest::get().uri(uri)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        let location = location.unwrap();
        assert!(location.starts_with("/admin/login?next="), "{location}");
        let next: Vec<(String, String)> =
            serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
        assert_eq!(next[0].1, uri);
    }
    // htmx requests are told where to go in a header htmx follows (the request itself would
    // follow a redirect), back to the page they were made from.
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/admin/overview/live?window=1h")
            .insert_header(("hx-request", "true"))
            .insert_header(("hx-current-url", "http://localhost:8080/admin?window=24h"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("location").is_none());
    assert_eq!(
        res.headers().get("hx-redirect").unwrap(),
        "/admin/login?next=%2Fadmin%3Fwindow%3D24h"
    );

    let res = post_login(&app, "OPS@example.test ", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers().get("location").unwrap(), "/admin");
    let cookie = res
        .response()
        .cookies()
        .find(|c| c.name() == "findash_admin")
        .unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(
        cookie.same_site(),
        Some(actix_web::cookie::SameSite::Strict)
    );
    assert_ne!(cookie.secure(), Some(true), "development serves plain HTTP");
    assert_eq!(cookie.path(), Some("/"));
    let cookie = format!("findash_admin={}", cookie.value());

    let res = test::call_service(&app, get(&cookie, "/admin").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let html = console::body_text(res).await;
    assert!(html.contains("ops@example.test"), "the operator is shown");

    // Only the token's hash is stored.
    let stored = sql::text(
        &mut t.db.admin_conn(),
        "SELECT encode(token_hash, 'hex') AS value FROM console_sessions",
    );
    assert_eq!(stored.len(), 64);
    assert!(!cookie.contains(&stored));
    let audit = sql::text(
        &mut t.db.admin_conn(),
        "SELECT string_agg(action, ',') AS value FROM audit_log WHERE actor_kind = 'user'",
    );
    assert_eq!(audit, "console.sign_in");
    assert_eq!(
        sql::text(
            &mut t.db.admin_conn(),
            "SELECT count(*)::text AS value FROM audit_log WHERE tenant_id IS NULL"
        ),
        "1",
        "a sign-in concerns no tenant"
    );
}

#[actix_web::test]
async fn only_enabled_admin_operators_sign_in() {
    let t = common::engine().await;
    let state = common::state(&t, common::config());
    // An unknown email is checked against a hash made at startup, as long as a real one takes.
    assert!(
        state.decoy_password_hash.starts_with("$argon2id$"),
        "{}",
        state.decoy_password_hash
    );
    let app = test::init_service(findash_web::http::app(state)).await;
    console::admin(&t, "ops", "ops@example.test", true);
    console::admin(&t, "tenant-a", "admin@tenant-a.test", false);
    let user = console::admin(&t, "tenant-b", "user@tenant-b.test", true);
    common::exec(
        &mut t.db.admin_conn(),
        &format!("UPDATE users SET role = 'user' WHERE id = '{user}'"),
    );
    let disabled = console::admin(&t, "tenant-c", "gone@tenant-c.test", true);
    common::exec(
        &mut t.db.admin_conn(),
        &format!("UPDATE users SET disabled_at = now() WHERE id = '{disabled}'"),
    );

    for (email, password) in [
        ("ops@example.test", "wrong password here"),
        ("nobody@example.test", PASSWORD),
        ("admin@tenant-a.test", PASSWORD),
        ("user@tenant-b.test", PASSWORD),
        ("gone@tenant-c.test", PASSWORD),
    ] {
        let res = post_login(&app, email, password).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{email}");
        assert!(set_cookie(&res, "findash_admin").is_none(), "{email}");
        let html = console::body_text(res).await;
        assert!(html.contains("Wrong email or password"), "{email}: {html}");
        assert!(!html.contains(PASSWORD), "the password is never echoed");
    }
}

#[actix_web::test]
async fn repeated_failures_hold_back_the_pair_not_the_operator_elsewhere() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);

    for _ in 0..5 {
        let res = post_login(&app, "ops@example.test", "not the password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // From this address, even the right password waits now, without being checked.
    let res = post_login(&app, "ops@example.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: i64 = res
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, 1);
    assert!(
        console::body_text(res)
            .await
            .contains("Too many failed sign-ins")
    );
    assert_eq!(
        counts(&t),
        "email:ops@example.test=5,ip:203.0.113.9=5,pair:ops@example.test|203.0.113.9=5",
        "a refused attempt is not counted"
    );

    // Knowing the operator's email is not enough to lock them out: from their own address they
    // sign in (and their success is taken back from the email's count).
    let res = post_login_from(&app, "ops@example.test", PASSWORD, ELSEWHERE).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Nor is the first address held back for other emails: it has failures to spare.
    let res = post_login(&app, "someone-else@example.test", "a guess").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        counts(&t),
        "email:ops@example.test=5,email:someone-else@example.test=1,ip:203.0.113.9=6,\
         pair:ops@example.test|203.0.113.9=5,pair:someone-else@example.test|203.0.113.9=1"
    );

    // Once the wait has passed, the right password gets in: the pair starts over, the address
    // and the email keep their failures.
    common::exec(
        &mut t.db.admin_conn(),
        "UPDATE console_login_failures SET last_failed_at = now() - interval '2 seconds'",
    );
    let res = post_login(&app, "ops@example.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        counts(&t),
        "email:ops@example.test=5,email:someone-else@example.test=1,ip:203.0.113.9=6,\
         pair:someone-else@example.test|203.0.113.9=1"
    );

    // Counts older than an hour are forgotten, and their rows go as attempts come in.
    common::exec(
        &mut t.db.admin_conn(),
        "UPDATE console_login_failures SET last_failed_at = now() - interval '61 minutes'",
    );
    let res = post_login_from(&app, "ops@example.test", "not the password", ELSEWHERE).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        counts(&t),
        "email:ops@example.test=1,ip:198.51.100.7=1,pair:ops@example.test|198.51.100.7=1"
    );
}

#[actix_web::test]
async fn an_address_failing_across_emails_waits() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);

    // One guess at each of 20 accounts: no pair reaches its allowance, the address does.
    for i in 0..20 {
        let res = post_login(&app, &format!("guess-{i}@example.test"), "a guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = post_login(&app, "ops@example.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(counts(&t).contains("ip:203.0.113.9=20"), "{}", counts(&t));
    // Another address is not held back.
    let res = post_login_from(&app, "ops@example.test", PASSWORD, ELSEWHERE).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn parallel_attempts_are_counted_before_any_password_is_checked() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);

    let mut attempts = Vec::new();
    for _ in 0..10 {
        let req =
            console::login_request(&app, "ops@example.test", "not the password", CLIENT, &[]).await;
        attempts.push(test::call_service(&app, req.to_request()));
    }
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|res| res.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let held = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, held), (5, 5), "{statuses:?}");
    assert_eq!(
        counts(&t),
        "email:ops@example.test=5,ip:203.0.113.9=5,pair:ops@example.test|203.0.113.9=5",
        "every checked attempt was counted, none of the held ones"
    );
}

#[actix_web::test]
async fn signing_in_again_ends_the_previous_session() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);

    let first = console::sign_in(&app, "ops@example.test").await;
    let req =
        console::login_request(&app, "ops@example.test", PASSWORD, CLIENT, &[&first.cookie]).await;
    let res = test::call_service(&app, req.to_request()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let second = set_cookie(&res, "findash_admin").unwrap();
    assert_ne!(second, first.cookie);

    let (status, location, _) = send(&app, get(&first.cookie, "/admin")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the first session ended");
    assert!(location.unwrap().starts_with("/admin/login"));
    let (status, _, _) = send(&app, get(&second, "/admin")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count_sessions(&t), "1");
}

#[actix_web::test]
async fn polls_do_not_keep_a_session_alive() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);
    let browser = console::sign_in(&app, "ops@example.test").await;
    let last_seen = || {
        sql::text(
            &mut t.db.admin_conn(),
            "SELECT last_seen_at::text AS value FROM console_sessions",
        )
    };

    // A tab left open on the overview for 1 h 50: its refreshes are answered, but do not count.
    common::exec(
        &mut t.db.admin_conn(),
        "UPDATE console_sessions SET last_seen_at = now() - interval '110 minutes'",
    );
    let idle_since = last_seen();
    let (status, _, _) = send(
        &app,
        get(&browser.cookie, "/admin/overview/live?window=1h")
            .insert_header(("hx-request", "true")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last_seen(), idle_since, "a poll is not activity");

    // A page load is.
    let (status, _, _) = send(&app, get(&browser.cookie, "/admin")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sql::text(
            &mut t.db.admin_conn(),
            "SELECT (last_seen_at > now() - interval '1 minute')::text AS value \
             FROM console_sessions",
        ),
        "true"
    );
}

#[actix_web::test]
async fn sessions_end_twelve_hours_after_sign_in_however_active() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);
    let browser = console::sign_in(&app, "ops@example.test").await;

    common::exec(
        &mut t.db.admin_conn(),
        "UPDATE console_sessions SET created_at = now() - interval '11 hours', \
         expires_at = now() + interval '1 hour', last_seen_at = now() - interval '1 minute'",
    );
    let (status, _, _) = send(&app, get(&browser.cookie, "/admin")).await;
    assert_eq!(status, StatusCode::OK, "11 h after sign-in");

    common::exec(
        &mut t.db.admin_conn(),
        "UPDATE console_sessions SET created_at = now() - interval '13 hours', \
         expires_at = now() + interval '1 hour', last_seen_at = now() - interval '1 minute'",
    );
    let (status, _, _) = send(&app, get(&browser.cookie, "/admin")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "13 h after sign-in, seen a minute ago"
    );
}

#[actix_web::test]
async fn failures_from_many_addresses_slow_an_email_down_but_never_lock_it_out() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);
    // Sources enough to spend the email's whole allowance (and far more).
    common::exec(
        &mut t.db.admin_conn(),
        "INSERT INTO console_login_failures (key, failures, last_failed_at) \
         VALUES ('email:ops@example.test', 500, now())",
    );
    let started = std::time::Instant::now();
    let res = post_login(&app, "ops@example.test", PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the operator still gets in"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(4),
        "held back for a while first: {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[actix_web::test]
async fn forms_without_the_token_change_nothing() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);

    // The sign-in form needs its own cookie's token.
    let form = serde_urlencoded::to_string([
        ("csrf_token", "forged"),
        ("email", "ops@example.test"),
        ("password", PASSWORD),
    ])
    .unwrap();
    let (status, _, html) = send(
        &app,
        TestRequest::post()
            .uri("/admin/login")
            .insert_header(("cookie", "findash_admin_login=other"))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("expired"));

    let browser = console::sign_in(&app, "ops@example.test").await;
    for (fields, why) in [
        (vec![], "no token"),
        (vec![("csrf_token", "x".repeat(43))], "a wrong token"),
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, html) =
            send(&app, post_with(&browser.cookie, "/admin/logout", &fields)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{why}");
        assert!(html.contains("did not come from the console"), "{why}");
    }
    let (status, _, _) = send(&app, get(&browser.cookie, "/admin")).await;
    assert_eq!(status, StatusCode::OK, "still signed in");

    // The header htmx sends works as well as the form field.
    let (status, location, _) = send(
        &app,
        post_with(&browser.cookie, "/admin/logout", &[])
            .insert_header(("x-csrf-token", browser.csrf.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/admin/login"));
    let (status, _, _) = send(&app, get(&browser.cookie, "/admin")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the session ended in the database"
    );
    assert_eq!(
        sql::text(
            &mut t.db.admin_conn(),
            "SELECT count(*)::text AS value FROM console_sessions"
        ),
        "0"
    );
}

#[actix_web::test]
async fn sessions_end_when_idle_or_when_the_operator_loses_access() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    let id = console::admin(&t, "ops", "ops@example.test", true);

    let browser = console::sign_in(&app, "ops@example.test").await;
    common::exec(
        &mut t.db.admin_conn(),
        "UPDATE console_sessions SET last_seen_at = now() - interval '3 hours'",
    );
    let (status, _, _) = send(&app, get(&browser.cookie, "/admin")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "idle for longer than two hours"
    );

    let browser = console::sign_in(&app, "ops@example.test").await;
    let (status, _, _) = send(&app, post(&browser, "/admin/logout", &[]).uri("/admin")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a POST to a page is not an action"
    );
    common::exec(
        &mut t.db.admin_conn(),
        &format!("DELETE FROM console_operators WHERE user_id = '{id}'"),
    );
    let (status, _, _) = send(&app, get(&browser.cookie, "/admin")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "access revoked ends the session"
    );
}

#[actix_web::test]
async fn outside_development_the_cookie_is_secure_and_host_only() {
    let t = common::engine().await;
    let mut config = common::config();
    config.https_only = true;
    let app = test::init_service(findash_web::http::app(common::state(&t, config))).await;
    console::admin(&t, "ops", "ops@example.test", true);

    let res = test::call_service(&app, TestRequest::get().uri("/admin/login").to_request()).await;
    let login = res
        .response()
        .cookies()
        .find(|c| c.name() == "__Host-findash_admin_login")
        .unwrap();
    assert_eq!(login.secure(), Some(true));
    let login = format!("__Host-findash_admin_login={}", login.value());
    let token = console::hidden(&console::body_text(res).await, "csrf_token").unwrap();
    let form = serde_urlencoded::to_string([
        ("csrf_token", token.as_str()),
        ("email", "ops@example.test"),
        ("password", PASSWORD),
    ])
    .unwrap();
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/admin/login")
            .insert_header(("cookie", login))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(form)
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = res
        .response()
        .cookies()
        .find(|c| c.name() == "__Host-findash_admin")
        .unwrap();
    assert_eq!(session.secure(), Some(true));
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site(),
        Some(actix_web::cookie::SameSite::Strict)
    );
}
