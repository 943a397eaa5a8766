//! `/healthz` (the process answers) and `/readyz` (it can do its work: PostgreSQL, Redis and
//! live workers somewhere in the deployment), each component reported as JSON; 503 when one is
//! down. Causes go to the log, not to the (unauthenticated) response.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

/// How long a dependency may take to answer a probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Workers heartbeat every 5 s; one missing beat is not an outage.
pub(crate) const WORKER_SEEN_WITHIN: Duration = Duration::from_secs(30);

/// `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// `/readyz`: `ready` when every component is `up`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    status: &'static str,
    components: Components,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Components {
    postgres: Component,
    redis: Component,
    workers: Component,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Component {
    /// `up` or `down`.
    #[schema(example = "up")]
    status: &'static str,
    /// Why it is down (never the raw error, which goes to the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    /// Workers: how many heartbeated within 30 s, anywhere in the deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<usize>,
}

impl Component {
    fn up() -> Component {
        Component {
            status: "up",
            reason: None,
            live: None,
        }
    }

    fn down(name: &str, reason: &'static str, cause: &dyn std::fmt::Display) -> Component {
        tracing::warn!(component = name, error = %cause, "readiness probe failed");
        Component {
            status: "down",
            reason: Some(reason),
            live: None,
        }
    }
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// PostgreSQL, Redis and the deployment's workers, each reported.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready", body = Readiness),
    (status = 503, description = "A component is down", body = Readiness),
))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    let postgres = tokio::time::timeout(
        PROBE_TIMEOUT,
        web::block(move || -> Result<(), String> {
            let mut conn = db.conn().map_err(|e| e.to_string())?;
            diesel::sql_query("SELECT 1")
                .execute(&mut *conn)
                .map_err(|e| e.to_string())?;
            Ok(())
        }),
    )
    .await;
    let postgres = match postgres {
        Ok(Ok(Ok(()))) => Component::up(),
        Ok(Ok(Err(e))) => Component::down("postgres", "cannot query", &e),
        Ok(Err(e)) => Component::down("postgres", "cannot query", &e),
        Err(_) => Component::down("postgres", "timed out", &"no answer within 2 s"),
    };
    let redis = match tokio::time::timeout(PROBE_TIMEOUT, state.engine.redis_ok()).await {
        Ok(Ok(())) => Component::up(),
        Ok(Err(e)) => Component::down("redis", "cannot reach", &e),
        Err(_) => Component::down("redis", "timed out", &"no answer within 2 s"),
    };
    let workers = match tokio::time::timeout(
        PROBE_TIMEOUT,
        state.engine.live_workers_everywhere(WORKER_SEEN_WITHIN),
    )
    .await
    {
        Ok(Ok(0)) => Component::down(
            "workers",
            "no live workers",
            &"none heartbeated within 30 s",
        ),
        Ok(Ok(n)) => Component {
            live: Some(n),
            ..Component::up()
        },
        Ok(Err(e)) => Component::down("workers", "unknown (Redis)", &e),
        Err(_) => Component::down("workers", "timed out", &"no answer within 2 s"),
    };
    let ready = [&postgres, &redis, &workers]
        .iter()
        .all(|c| c.status == "up");
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        components: Components {
            postgres,
            redis,
            workers,
        },
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
