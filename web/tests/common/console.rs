//! Driving the admin console in handler tests: an operator, a signed-in session, and requests
//! that carry its cookie (and, for actions, its CSRF token).

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use findash_engine::testing::TestEngine;
use findash_schema::testing::sql;
use findash_schema::{SystemTask, UserId, console, passwords};

pub const PASSWORD: &str = "correct horse battery staple";

/// An enabled admin of a tenant of its own (`slug`), granted the console when `operator`.
pub fn admin(t: &TestEngine, slug: &str, email: &str, operator: bool) -> UserId {
    let tenant = super::tenant(t, slug);
    let hash = passwords::hash(PASSWORD).unwrap();
    let id: UserId = sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO users (tenant_id, email, password_hash, role) \
             VALUES ('{tenant}', '{email}', '{hash}', 'admin') RETURNING id::text AS value"
        ),
    )
    .parse()
    .unwrap();
    if operator {
        t.engine
            .db()
            .system(SystemTask::Admin, |sys| {
                console::grant_operator(sys, id, "test").map_err(findash_schema::DbError::from)
            })
            .unwrap();
    }
    id
}

/// A signed-in browser: its session cookie and the CSRF token its pages carry.
#[derive(Debug, Clone)]
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

/// The value of `name="<field>" value="…"` in `html` (hidden inputs).
pub fn hidden(html: &str, field: &str) -> Option<String> {
    let marker = format!("name=\"{field}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// `name=value` of the cookie called `name` among `res`'s Set-Cookie headers.
pub fn set_cookie<B>(res: &ServiceResponse<B>, name: &str) -> Option<String> {
    res.response()
        .cookies()
        .find(|c| c.name() == name)
        .map(|c| format!("{}={}", c.name(), c.value()))
}

pub async fn body_text<B: actix_web::body::MessageBody>(res: ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(res).await.to_vec()).unwrap()
}

/// Sends `req`; status, Location header and body.
pub async fn send<S, B>(service: &S, req: TestRequest) -> (StatusCode, Option<String>, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let res = test::call_service(service, req.to_request()).await;
    let status = res.status();
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, location, body_text(res).await)
}

/// The client address sign-ins come from unless a test says otherwise.
pub const CLIENT: &str = "203.0.113.9:5000";

/// The sign-in form's cookie and token fetched, and the form's POST ready to send as `email`
/// with `password` from `peer`, with `cookies` (e.g. a session's) sent along.
pub async fn login_request<S, B>(
    service: &S,
    email: &str,
    password: &str,
    peer: &str,
    cookies: &[&str],
) -> TestRequest
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let res =
        test::call_service(service, TestRequest::get().uri("/admin/login").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let login_cookie = set_cookie(&res, "findash_admin_login").expect("the form sets its cookie");
    let html = body_text(res).await;
    let token = hidden(&html, "csrf_token").expect("the form carries a token");
    let form = serde_urlencoded::to_string([
        ("csrf_token", token.as_str()),
        ("next", "/admin"),
        ("email", email),
        ("password", password),
    ])
    .unwrap();
    let mut cookie = vec![login_cookie.as_str()];
    cookie.extend_from_slice(cookies);
    TestRequest::post()
        .uri("/admin/login")
        .insert_header(("cookie", cookie.join("; ")))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .peer_addr(peer.parse().unwrap())
        .set_payload(form)
}

/// The sign-in form's cookie and token, then the form posted from [`CLIENT`]: the response.
pub async fn post_login<S, B>(service: &S, email: &str, password: &str) -> ServiceResponse<B>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    post_login_from(service, email, password, CLIENT).await
}

/// [`post_login`] from another client address (`peer`, `ip:port`).
pub async fn post_login_from<S, B>(
    service: &S,
    email: &str,
    password: &str,
    peer: &str,
) -> ServiceResponse<B>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let req = login_request(service, email, password, peer, &[]).await;
    test::call_service(service, req.to_request()).await
}

/// Signs in as `email` and reads the CSRF token from the overview.
pub async fn sign_in<S, B>(service: &S, email: &str) -> Browser
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let res = post_login(service, email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in succeeds");
    let cookie = set_cookie(&res, "findash_admin").expect("a session cookie");
    let (status, _, html) = send(service, get(&cookie, "/admin")).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = hidden(&html, "csrf_token").expect("pages carry the CSRF token");
    Browser { cookie, csrf }
}

/// `GET uri` with the session cookie.
pub fn get(cookie: &str, uri: &str) -> TestRequest {
    TestRequest::get()
        .uri(uri)
        .insert_header(("cookie", cookie.to_owned()))
}

/// `POST uri` as a form with the session cookie, the browser's CSRF token and `fields`.
pub fn post(browser: &Browser, uri: &str, fields: &[(&str, &str)]) -> TestRequest {
    let mut all = vec![("csrf_token", browser.csrf.as_str())];
    all.extend_from_slice(fields);
    post_with(&browser.cookie, uri, &all)
}

/// `POST uri` as a form with the session cookie and exactly `fields` (no token added).
pub fn post_with(cookie: &str, uri: &str, fields: &[(&str, &str)]) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .insert_header(("cookie", cookie.to_owned()))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(serde_urlencoded::to_string(fields).unwrap())
}
