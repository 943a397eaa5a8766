//! The admin console's sign-in, sessions, CSRF protection and sign-in backoff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use common::console::{self, PASSWORD, get, post, post_login, post_with, send, set_cookie};
use findash_schema::testing::sql;

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
    // htmx requests are told where to go in a header they follow.
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/admin")
            .insert_header(("hx-request", "true"))
            .to_request(),
    )
    .await;
    assert!(
        res.headers()
            .get("hx-redirect")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("/admin/login")
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
}

#[actix_web::test]
async fn only_enabled_admin_operators_sign_in() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
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
async fn repeated_failures_make_the_next_attempt_wait() {
    let t = common::engine().await;
    let app = test::init_service(findash_web::http::app(common::state(&t, common::config()))).await;
    console::admin(&t, "ops", "ops@example.test", true);

    for _ in 0..5 {
        let res = post_login(&app, "ops@example.test", "not the password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now, without being checked.
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
    assert!((1..=1).contains(&retry_after), "{retry_after}");
    assert!(
        console::body_text(res)
            .await
            .contains("Too many failed sign-ins")
    );
    // The client address counts too: another email from it waits as well.
    let res = post_login(&app, "someone-else@example.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    // Once the wait has passed, the right password gets in and the slate is wiped.
    common::exec(
        &mut t.db.admin_conn(),
        "UPDATE console_login_failures SET last_failed_at = now() - interval '2 seconds'",
    );
    let res = post_login(&app, "ops@example.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        sql::text(
            &mut t.db.admin_conn(),
            "SELECT count(*)::text AS value FROM console_login_failures"
        ),
        "0"
    );
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
