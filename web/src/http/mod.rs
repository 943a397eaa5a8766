//! The actix-web application: one route table, the middleware every route shares (request id,
//! logging and metrics, security headers, gzip), request limits with JSON errors, and the
//! server with graceful shutdown.

mod accounts;
pub mod caller;
mod cursor;
pub mod dashboard;
mod docs;
pub(crate) mod error;
mod health;
mod jobs;
mod limit;
mod metrics;
mod notifications;
pub mod openapi;
pub mod request_id;
mod webhooks;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{self, Compress, DefaultHeaders};
use actix_web::{App, HttpRequest, HttpServer, web};
use anyhow::Context as _;
use findash_engine::Engine;
use findash_schema::Db;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub(crate) use health::WORKER_SEEN_WITHIN;
pub use limit::Limits;
pub use metrics::HttpMetrics;

use crate::WebConfig;

/// Largest JSON body the API reads.
pub const JSON_LIMIT: usize = 256 * 1024;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub engine: Engine,
    pub config: WebConfig,
    pub metrics: HttpMetrics,
    pub limits: Limits,
    /// One permit per app-pool connection. Requests wait for a connection here, first come first
    /// served, rather than in the pool, whose waiters wake in no particular order: under load
    /// every request waits about as long as the others instead of a few waiting very long.
    pub db_slots: tokio::sync::Semaphore,
    /// Admin console sign-ins check their password here, a few at a time: Argon2 is made to be
    /// slow and to take memory, so a flood of attempts queues instead of taking the machine.
    pub password_checks: tokio::sync::Semaphore,
    /// What a console sign-in checks the password against when the email is no operator's, so
    /// that a wrong email takes as long as a wrong password. Made at startup.
    pub decoy_password_hash: String,
}

/// Console passwords checked at once (see [`AppState::password_checks`]).
const PASSWORD_CHECKS: usize = 2;

impl AppState {
    pub fn new(db: Db, engine: Engine, config: WebConfig) -> anyhow::Result<AppState> {
        let limits = Limits::new(
            config.ip_quota,
            config.tenant_quota,
            config.webhook_quota,
            config.trusted_proxies.clone(),
        );
        let slots = usize::try_from(db.app_pool_size()).unwrap_or(1).max(1);
        Ok(AppState {
            db,
            engine,
            config,
            metrics: HttpMetrics::new()?,
            limits,
            db_slots: tokio::sync::Semaphore::new(slots),
            password_checks: tokio::sync::Semaphore::new(PASSWORD_CHECKS),
            decoy_password_hash: findash_schema::passwords::hash(
                &findash_schema::passwords::generate(),
            )
            .context("cannot hash the admin console's decoy password")?,
        })
    }
}

/// Runs `f` in the caller's tenant scope (row-level security), on the blocking pool: never a
/// Diesel call on the async workers, never a connection held across an `.await`.
async fn in_tenant<T: Send + 'static>(
    state: &AppState,
    caller: &caller::Caller,
    f: impl FnOnce(&mut findash_schema::TenantConn<'_>) -> diesel::QueryResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    let _slot = state
        .db_slots
        .acquire()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let db = state.db.clone();
    let tenant = caller.tenant;
    web::block(move || {
        db.tenant(tenant, |scope| {
            f(scope).map_err(findash_schema::DbError::from)
        })
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::from_db(&e))
}

/// Runs `f` on the system path (`task`: work whose tenant is not known up front, such as a
/// webhook delivery), on the blocking pool, behind the same connection slots as [`in_tenant`].
/// The outer error is this layer's; the inner one is `f`'s, for the caller to map.
pub(crate) async fn in_system<T, E>(
    state: &AppState,
    task: findash_schema::SystemTask,
    f: impl FnOnce(&mut findash_schema::SystemConn<'_>) -> Result<T, E> + Send + 'static,
) -> Result<Result<T, E>, ApiError>
where
    T: Send + 'static,
    E: From<findash_schema::DbError> + From<diesel::result::Error> + Send + 'static,
{
    let _slot = state
        .db_slots
        .acquire()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let db = state.db.clone();
    web::block(move || db.system(task, f))
        .await
        .map_err(|e| ApiError::internal(&e))
}

/// PostgreSQL text cannot hold NUL characters: a value with one is refused before it gets there.
fn reject_nul(name: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        Err(ApiError::invalid(format!(
            "{name} must not contain NUL characters"
        )))
    } else {
        Ok(())
    }
}

/// A page size: 50 when absent, else 1 to 200.
fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(50);
    if (1..=200).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid("limit must be between 1 and 200"))
    }
}

/// The route table. A known path with another method answers 405.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(crate::admin::routes);
    cfg.service(resource("/healthz", "GET").get(health::healthz))
        .service(resource("/readyz", "GET").get(health::readyz))
        .service(resource("/metrics", "GET").get(metrics::metrics))
        .service(resource("/webhooks/stripe", "POST").post(crate::webhooks::stripe::receive))
        .service(resource("/webhooks/qstash/{kind}", "POST").post(crate::webhooks::qstash::receive))
        .service(
            resource("/webhooks/mercadopago", "POST").post(crate::webhooks::mercadopago::receive),
        )
        .service(
            resource("/email/unsubscribe", "GET, POST")
                .get(notifications::confirm)
                .post(notifications::unsubscribe),
        )
        .service(
            web::scope("/api/v1")
                .service(resource("/openapi.json", "GET").get(openapi::document))
                .service(resource("/docs", "GET").get(docs::page))
                .service(resource("/docs/swagger-ui-bundle.js", "GET").get(docs::script))
                .service(resource("/docs/swagger-ui.css", "GET").get(docs::style))
                .service(resource("/docs/init.js", "GET").get(docs::init))
                .service(resource("/summary", "GET").get(dashboard::summary::summary))
                .service(resource("/revenue", "GET").get(dashboard::revenue::revenue))
                .service(resource("/expenses", "GET").get(dashboard::expenses::expenses))
                .service(resource("/cards", "GET").get(dashboard::cards::cards))
                .service(resource("/forecast", "GET").get(dashboard::forecast::forecast))
                .service(resource("/dq/findings", "GET").get(dashboard::findings::findings))
                .service(
                    resource("/export/transactions.csv", "GET")
                        .get(dashboard::export::transactions_csv),
                )
                .service(resource("/accounts", "GET").get(accounts::list))
                .service(resource("/accounts/{id}/transactions", "GET").get(accounts::transactions))
                .service(
                    resource("/jobs", "GET, POST")
                        .get(jobs::list)
                        .post(jobs::enqueue),
                )
                .service(resource("/jobs/{id}", "GET").get(jobs::show))
                .service(resource("/jobs/{id}/cancel", "POST").post(jobs::cancel))
                .service(resource("/jobs/{id}/retry", "POST").post(jobs::retry))
                .service(
                    resource("/notifications", "GET, PUT")
                        .get(notifications::show)
                        .put(notifications::replace),
                )
                .service(resource("/webhooks", "GET").get(webhooks::list))
                .service(resource("/webhooks/{id}/replay", "POST").post(webhooks::replay)),
        );
}

/// The application around `routes`, as `serve` runs it and tests call it.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let https_only = state.config.https_only;
    let cors = cors(state.config.dashboard_origin.as_deref());
    App::new()
        .app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(JSON_LIMIT)
                .error_handler(|e, _| json_error(&e).into()),
        )
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            ApiError::bad_request(format!("the query string is not valid: {e}")).into()
        }))
        .app_data(web::PathConfig::default().error_handler(|e, _| {
            ApiError::bad_request(format!("the path is not valid: {e}")).into()
        }))
        .configure(routes)
        .default_service(web::to(not_found))
        .wrap(Compress::default())
        .wrap(middleware::from_fn(limit::middleware))
        .wrap(cors)
        .wrap(security_headers(https_only))
        .wrap(middleware::from_fn(request_id::middleware))
}

fn json_error(e: &actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError;
    match e {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::payload_too_large(JSON_LIMIT)
        }
        JsonPayloadError::ContentType => ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::invalid(format!("the JSON body does not fit: {e}"))
        }
        other => ApiError::bad_request(format!("the JSON body cannot be read: {other}")),
    }
}

/// A resource whose other methods answer 405 with the `Allow` header (`allow`: "GET, POST").
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        let mut response = actix_web::ResponseError::error_response(&ApiError::new(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{} is not allowed on {}", req.method(), req.path()),
        ));
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        response
    }))
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// Cross-origin calls only from the dashboard (`DASHBOARD_ORIGIN`); with none configured, no
/// browser origin may call the API.
fn cors(origin: Option<&str>) -> actix_cors::Cors {
    let cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            request_id::HEADER,
        ])
        .expose_headers([
            request_id::HEADER,
            header::RETRY_AFTER,
            limit::LIMIT,
            limit::REMAINING,
            limit::RESET,
            header::HeaderName::from_static(dashboard::X_CACHE),
            header::CONTENT_DISPOSITION,
        ])
        .max_age(600);
    match origin {
        Some(origin) => cors.allowed_origin(origin),
        None => cors,
    }
}

/// Headers every response carries. The API serves JSON only, so its policy forbids everything
/// a browser could load or embed; HSTS outside development and test.
fn security_headers(https_only: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        ));
    if https_only {
        headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        headers
    }
}

/// Serves the app on `config.bind_addr` until `stop`, then stops accepting and lets in-flight
/// requests finish (up to 30 s).
pub async fn serve(
    db: Db,
    engine: Engine,
    config: WebConfig,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let addr = config.bind_addr;
    let state = web::Data::new(AppState::new(db, engine, config)?);
    {
        let (state, stop) = (state.clone(), stop.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = every.tick() => state.limits.forget_idle(),
                }
            }
        });
    }
    let server = HttpServer::new(move || app(state.clone()))
        .bind(addr)?
        .disable_signals()
        .shutdown_timeout(30)
        .run();
    let handle = server.handle();
    tokio::spawn(async move {
        stop.cancelled().await;
        handle.stop(true).await;
    });
    tracing::info!(%addr, "HTTP server listening");
    server.await?;
    Ok(())
}
