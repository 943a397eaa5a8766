//! The console's static files, compiled into the binary: htmx (vendored from npm, see
//! `web/assets/admin/README.md`), our stylesheet and our few lines of script.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::AdminError;

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/admin/htmx.min.js"),
    ),
    (
        "admin.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/admin/admin.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../assets/admin/favicon.svg"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/admin/admin.js"),
    ),
];

/// `GET /admin/assets/{name}` (no sign-in needed: the sign-in page uses them too).
pub async fn serve(name: web::Path<String>) -> Result<HttpResponse, AdminError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name.as_str())
        .ok_or_else(|| AdminError::NotFound(format!("no asset named {name}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(*body))
}
