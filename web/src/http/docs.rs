//! The interactive API docs page (`/api/v1/docs`): Swagger UI from files vendored in
//! `web/assets/swagger-ui` and compiled into the binary, on the API's own OpenAPI document.
//! Everything is same-origin; the page's CSP allows nothing else.

use actix_web::HttpResponse;
use actix_web::http::header;

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FinDash API</title>
<link rel="stylesheet" href="/api/v1/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/v1/docs/swagger-ui-bundle.js"></script>
<script src="/api/v1/docs/init.js"></script>
</body>
</html>
"#;

/// Swagger UI sets inline styles; scripts, styles, images and requests stay on this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; font-src 'self' data:; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn asset(content_type: &'static str, body: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(body)
}

/// The interactive API docs (Swagger UI).
#[utoipa::path(get, path = "/api/v1/docs", tag = "operations", responses(
    (status = 200, description = "HTML page", content_type = "text/html", body = String),
))]
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .body(PAGE)
}

/// Swagger UI's script (vendored).
#[utoipa::path(get, path = "/api/v1/docs/swagger-ui-bundle.js", tag = "operations", responses(
    (status = 200, description = "JavaScript", content_type = "text/javascript", body = String),
))]
pub async fn script() -> HttpResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    )
}

/// Swagger UI's style sheet (vendored).
#[utoipa::path(get, path = "/api/v1/docs/swagger-ui.css", tag = "operations", responses(
    (status = 200, description = "CSS", content_type = "text/css", body = String),
))]
pub async fn style() -> HttpResponse {
    asset(
        "text/css; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    )
}

/// Starts Swagger UI on this API's document.
#[utoipa::path(get, path = "/api/v1/docs/init.js", tag = "operations", responses(
    (status = 200, description = "JavaScript", content_type = "text/javascript", body = String),
))]
pub async fn init() -> HttpResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/init.js"),
    )
}
