//! `/healthz` (the process answers) and `/readyz` (it can do its work: PostgreSQL, Redis and
//! live workers somewhere in the deployment), each component reported as JSON; 503 when one is
//! down. Causes go to the log, not to the (unauthenticated) response.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use super::AppState;

/// How long a dependency may take to answer a probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Workers heartbeat every 5 s; one missing beat is not an outage.
const WORKER_SEEN_WITHIN: Duration = Duration::from_secs(30);

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

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
        Ok(Ok(Ok(()))) => component(true, None),
        Ok(Ok(Err(e))) => down("postgres", "cannot query", &e),
        Ok(Err(e)) => down("postgres", "cannot query", &e),
        Err(_) => down("postgres", "timed out", &"no answer within 2 s"),
    };
    let redis = match tokio::time::timeout(PROBE_TIMEOUT, state.engine.redis_ok()).await {
        Ok(Ok(())) => component(true, None),
        Ok(Err(e)) => down("redis", "cannot reach", &e),
        Err(_) => down("redis", "timed out", &"no answer within 2 s"),
    };
    let workers = match tokio::time::timeout(
        PROBE_TIMEOUT,
        state.engine.live_workers_everywhere(WORKER_SEEN_WITHIN),
    )
    .await
    {
        Ok(Ok(0)) => down(
            "workers",
            "no live workers",
            &"none heartbeated within 30 s",
        ),
        Ok(Ok(n)) => component(true, Some(json!({ "live": n }))),
        Ok(Err(e)) => down("workers", "unknown (Redis)", &e),
        Err(_) => down("workers", "timed out", &"no answer within 2 s"),
    };
    let ready = [&postgres, &redis, &workers]
        .iter()
        .all(|c| c["status"] == "up");
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "components": { "postgres": postgres, "redis": redis, "workers": workers },
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

fn component(up: bool, extra: Option<Value>) -> Value {
    let mut value = json!({ "status": if up { "up" } else { "down" } });
    if let (Some(Value::Object(extra)), Value::Object(map)) = (extra, &mut value) {
        map.extend(extra);
    }
    value
}

fn down(name: &str, reason: &str, cause: &dyn std::fmt::Display) -> Value {
    tracing::warn!(component = name, error = %cause, "readiness probe failed");
    component(false, Some(json!({ "reason": reason })))
}
