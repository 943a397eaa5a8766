//! Who is calling: the bearer token (`Authorization: Bearer …`, HS256, `JWT_SECRET` or
//! `JWT_SECRET_PREVIOUS`) verified into a [`Caller`]. Every tenant route works inside the
//! token's tenant; nothing in a path or body can name another.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use findash_schema::TenantId;
use findash_schema::users::Role;

use super::{ApiError, AppState};
use crate::auth::{self, TokenError};

/// A verified API caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user id (`sub`).
    pub user: String,
    pub tenant: TenantId,
    pub role: Role,
}

impl Caller {
    /// 403 unless the caller is an admin of its tenant.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs the admin role"))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller(req))
    }
}

fn caller(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal(&"application state missing"))?;
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("send a bearer token: Authorization: Bearer <token>")
    })?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
        })?;
    match auth::verify(&state.config.jwt, token) {
        Ok(claims) => {
            state.limits.admit_tenant(claims.tenant_id)?;
            Ok(Caller {
                user: claims.sub,
                tenant: claims.tenant_id,
                role: claims.role,
            })
        }
        Err(TokenError::Expired) => Err(ApiError::unauthorized("the token has expired")),
        Err(_) => Err(ApiError::unauthorized("the token is not valid")),
    }
}
