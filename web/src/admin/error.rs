//! The console's one error type: every failure is an HTML page with the right status (or, for a
//! request that is no longer signed in, the way back to the sign-in page).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

/// What went wrong, in words an operator can act on.
#[derive(Debug)]
pub enum AdminError {
    /// Not signed in (or the session ended): to the sign-in page, then back to `next`. `htmx`:
    /// the request came from htmx, which is told where to go in a header (a redirect would be
    /// followed by the browser's request itself, and the sign-in page land inside the page).
    SignIn {
        next: String,
        htmx: bool,
    },
    /// A missing or wrong CSRF token.
    Forbidden(String),
    NotFound(String),
    BadRequest(String),
    /// The action does not apply to the thing in its current state.
    Conflict(String),
    /// Something failed on our side; the details are logged, not shown.
    Internal(String),
}

impl AdminError {
    pub fn internal(e: &(impl std::fmt::Display + ?Sized)) -> AdminError {
        AdminError::Internal(e.to_string())
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::SignIn { .. } => f.write_str("sign in to continue"),
            AdminError::Forbidden(m)
            | AdminError::NotFound(m)
            | AdminError::BadRequest(m)
            | AdminError::Conflict(m) => f.write_str(m),
            AdminError::Internal(_) => f.write_str("something failed on our side"),
        }
    }
}

impl From<findash_schema::DbError> for AdminError {
    fn from(e: findash_schema::DbError) -> Self {
        AdminError::internal(&e)
    }
}

impl From<diesel::result::Error> for AdminError {
    fn from(e: diesel::result::Error) -> Self {
        AdminError::internal(&e)
    }
}

impl From<findash_engine::EngineError> for AdminError {
    fn from(e: findash_engine::EngineError) -> Self {
        AdminError::internal(&e)
    }
}

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::SignIn { htmx: true, .. } => StatusCode::UNAUTHORIZED,
            AdminError::SignIn { htmx: false, .. } => StatusCode::SEE_OTHER,
            AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AdminError::SignIn { next, htmx } = self {
            let location = format!(
                "{}?{}",
                super::LOGIN_PATH,
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", next)
                    .finish()
            );
            return if *htmx {
                HttpResponse::Unauthorized()
                    .insert_header(("HX-Redirect", location))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .finish()
            } else {
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .finish()
            };
        }
        if let AdminError::Internal(detail) = self {
            tracing::error!(error = %detail, "admin console request failed");
        }
        let status = self.status_code();
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message: self.to_string(),
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {}", status.as_u16(), page.message));
        super::view::html(HttpResponse::build(status), body)
    }
}
