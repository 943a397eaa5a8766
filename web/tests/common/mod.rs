//! Shared set-up of the web tests: an app state on a test engine's database and Redis.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use actix_web::web;
use findash_engine::Registry;
use findash_engine::testing::TestEngine;
use findash_schema::TenantId;
use findash_schema::testing::sql;
use findash_schema::users::Role;
use findash_web::auth::{self, Claims, JwtKeys};
use findash_web::http::AppState;
use findash_web::limits::{Quota, TrustedProxies};
use findash_web::{WebConfig, WebhookConfig};
use secrecy::SecretString;

pub mod console;
pub mod ledger;

pub const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";

pub fn keys(secret: &str) -> JwtKeys {
    JwtKeys {
        current: SecretString::from(secret.to_owned()),
        previous: None,
    }
}

/// Development-like settings with generous limits; tests adjust what they exercise.
pub fn config() -> WebConfig {
    WebConfig {
        bind_addr: "127.0.0.1:0".parse().unwrap(),
        public_base_url: "http://127.0.0.1:8080".parse().unwrap(),
        jwt: keys(SECRET),
        webhooks: WebhookConfig::default(),
        webhook_quota: "100000/s".parse::<Quota>().unwrap(),
        https_only: false,
        dashboard_origin: Some("http://localhost:3000".to_owned()),
        ip_quota: "100000/s".parse::<Quota>().unwrap(),
        tenant_quota: "100000/s".parse::<Quota>().unwrap(),
        trusted_proxies: TrustedProxies::default(),
        cache: true,
    }
}

pub fn state(t: &TestEngine, config: WebConfig) -> web::Data<AppState> {
    web::Data::new(AppState::new(t.engine.db().clone(), t.engine.clone(), config).unwrap())
}

pub async fn engine() -> TestEngine {
    TestEngine::start(findash_engine::builtin::register(Registry::new()), |_| {}).await
}

pub fn tenant(t: &TestEngine, slug: &str) -> TenantId {
    sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO tenants (slug, name, base_currency, time_zone, locale) \
             VALUES ('{slug}', '{slug}', 'BRL', 'UTC', 'pt-BR') RETURNING id::text AS value"
        ),
    )
    .parse()
    .unwrap()
}

/// `Bearer <token>` for user `user-1` of `tenant` with `role`, valid for an hour.
pub fn bearer(tenant: TenantId, role: Role) -> String {
    let claims = Claims::new(
        "user-1",
        tenant,
        role,
        chrono::Utc::now(),
        chrono::Duration::hours(1),
    );
    format!("Bearer {}", auth::mint(&keys(SECRET), &claims).unwrap())
}

/// Runs `sql` (one or more statements) as the test database's owner: set-up that bypasses
/// row-level security.
pub fn exec(conn: &mut diesel::PgConnection, sql: &str) {
    if let Err(e) = diesel::connection::SimpleConnection::batch_execute(conn, sql) {
        panic!("set-up SQL failed: {e}\n{sql}");
    }
}

/// `GET uri` with a bearer token for `tenant` and `role`.
pub fn get_as(uri: &str, tenant: TenantId, role: Role) -> actix_http::Request {
    actix_web::test::TestRequest::get()
        .uri(uri)
        .insert_header(("authorization", bearer(tenant, role)))
        .to_request()
}

/// Sends `request` to `service`; the status and the JSON body (`null` when the body is not JSON).
pub async fn call(
    service: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    request: actix_web::test::TestRequest,
) -> (actix_web::http::StatusCode, serde_json::Value) {
    let res = actix_web::test::call_service(service, request.to_request()).await;
    let status = res.status();
    let bytes = actix_web::test::read_body(res).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}
