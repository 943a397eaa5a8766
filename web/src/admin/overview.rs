//! The overview: what is failing, since when, and where the queues stand.

use actix_web::HttpResponse;
use askama::Template;

use super::AdminError;
use super::session::Operator;
use super::view::{self, Chrome};

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    chrome: Chrome,
}

/// `GET /admin`.
pub async fn page(operator: Operator) -> Result<HttpResponse, AdminError> {
    view::render(&OverviewPage {
        chrome: Chrome::new(&operator, "overview"),
    })
}
