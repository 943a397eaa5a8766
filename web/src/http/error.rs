//! The API's one error shape (DESIGN.md): `{"error": {"code", "message", "request_id"}}`, with
//! the right status. Messages are written for the client and never carry internals (SQL, URLs,
//! secrets); the cause of a 500 goes to the log under the same request id.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use super::request_id;

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// For 429: seconds until a retry can succeed, and the quota's burst.
    retry: Option<(u64, u32)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry: None,
        }
    }

    /// A request that cannot be read (malformed JSON, query or path).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// A well-formed request whose content is not acceptable.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// No valid credentials; the response invites a bearer token.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// Valid credentials without the right to do this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// The resource is in a state the request does not apply to.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// Over a rate limit; a retry after `wait` can succeed.
    pub fn too_many_requests(wait: std::time::Duration, limit: u32) -> ApiError {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError {
            retry: Some((seconds.max(1), limit)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry in {} s", seconds.max(1)),
            )
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body exceeds {limit} bytes"),
        )
    }

    /// A dependency is down; a retry after a few seconds may succeed.
    pub fn unavailable(cause: &dyn fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "request failed: a dependency is unavailable");
        ApiError {
            retry: Some((5, 0)),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is temporarily unavailable; retry shortly",
            )
        }
    }

    /// A data-layer failure: `unavailable` when PostgreSQL cannot be reached, else `internal`.
    pub fn from_db(e: &findash_schema::DbError) -> ApiError {
        use diesel::result::{DatabaseErrorKind, Error};
        use findash_schema::DbError;
        match e {
            DbError::Pool(_)
            | DbError::Connect(_)
            | DbError::Query(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) => {
                ApiError::unavailable(e)
            }
            _ => ApiError::internal(e),
        }
    }

    /// Something failed on our side; `cause` is logged, the client sees a generic message.
    pub fn internal(cause: &dyn fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; quote the request id when reporting it",
        )
    }

    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                actix_web::http::header::WWW_AUTHENTICATE,
                r#"Bearer realm="findash""#,
            ));
        }
        if let Some((seconds, limit)) = self.retry {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds));
            if self.status == StatusCode::TOO_MANY_REQUESTS {
                response
                    .insert_header((super::limit::LIMIT, limit))
                    .insert_header((super::limit::REMAINING, 0))
                    .insert_header((super::limit::RESET, seconds));
            }
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                request_id: request_id::current(),
            },
        })
    }
}

/// Every error response of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `unsupported_media_type`,
    /// `invalid`, `rate_limited`, `internal`, `unavailable` (a dependency is down; with
    /// `Retry-After`); on webhook routes also `invalid_signature`, `receiver_disabled` and
    /// `non_retryable`.
    #[schema(example = "not_found")]
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// The request's `X-Request-Id`: quote it when reporting a problem.
    pub request_id: Option<String>,
}
