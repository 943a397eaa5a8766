//! API bearer tokens: HS256 JWTs with claims `sub`, `tenant_id`, `role`, `iat`, `exp`.
//! Tokens signed with `JWT_SECRET_PREVIOUS` keep working during a secret rotation.

use chrono::{DateTime, Duration, Utc};
use findash_schema::TenantId;
use findash_schema::users::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The HMAC secrets tokens are signed and verified with.
#[derive(Debug, Clone)]
pub struct JwtKeys {
    /// `JWT_SECRET`: signs new tokens, verifies.
    pub current: SecretString,
    /// `JWT_SECRET_PREVIOUS`: verifies only, during a rotation.
    pub previous: Option<SecretString>,
}

/// What a token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub tenant_id: TenantId,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    /// Claims issued `now`, valid for `ttl`.
    pub fn new(
        sub: impl Into<String>,
        tenant_id: TenantId,
        role: Role,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Claims {
        Claims {
            sub: sub.into(),
            tenant_id,
            role,
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
        }
    }
}

#[derive(Debug, Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
    #[error("cannot sign the token: {0}")]
    Signing(String),
}

/// Signs `claims` with the current secret.
pub fn mint(keys: &JwtKeys, claims: &Claims) -> Result<String, TokenError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(keys.current.expose_secret().as_bytes()),
    )
    .map_err(|e| TokenError::Signing(e.to_string()))
}

/// Verifies signature (current secret, then previous), algorithm (HS256 only) and expiry.
pub fn verify(keys: &JwtKeys, token: &str) -> Result<Claims, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let mut last = TokenError::Invalid;
    for secret in std::iter::once(&keys.current).chain(keys.previous.as_ref()) {
        let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
        match jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                last = TokenError::Expired;
            }
            Err(_) => {}
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(current: &str, previous: Option<&str>) -> JwtKeys {
        JwtKeys {
            current: current.to_owned().into(),
            previous: previous.map(|p| p.to_owned().into()),
        }
    }

    fn claims(ttl: Duration) -> Claims {
        Claims::new("user-1", TenantId::new(), Role::Admin, Utc::now(), ttl)
    }

    #[test]
    fn a_minted_token_verifies_to_the_same_claims() {
        let keys = keys("a-long-enough-secret-for-hs256-tests!!", None);
        let claims = claims(Duration::hours(1));
        assert_eq!(
            verify(&keys, &mint(&keys, &claims).unwrap()).unwrap(),
            claims
        );
    }

    #[test]
    fn the_previous_secret_still_verifies_during_a_rotation() {
        let old = keys("the-old-secret-0123456789abcdef0123", None);
        let token = mint(&old, &claims(Duration::hours(1))).unwrap();
        let rotated = keys(
            "the-new-secret-0123456789abcdef0123",
            Some("the-old-secret-0123456789abcdef0123"),
        );
        assert!(verify(&rotated, &token).is_ok());
        let finished = keys("the-new-secret-0123456789abcdef0123", None);
        assert!(matches!(
            verify(&finished, &token),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn expired_tampered_and_unsigned_tokens_are_rejected() {
        let keys = keys("a-long-enough-secret-for-hs256-tests!!", None);
        let expired = mint(&keys, &claims(Duration::seconds(-5))).unwrap();
        assert!(matches!(verify(&keys, &expired), Err(TokenError::Expired)));

        let token = mint(&keys, &claims(Duration::hours(1))).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_payload = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"x","tenant_id":"00000000-0000-0000-0000-000000000000","role":"admin","iat":0,"exp":9999999999}"#)
        };
        parts[1] = &forged_payload;
        assert!(matches!(
            verify(&keys, &parts.join(".")),
            Err(TokenError::Invalid)
        ));

        let unsigned = format!("{}.{}.", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", parts[1]);
        assert!(matches!(verify(&keys, &unsigned), Err(TokenError::Invalid)));
    }
}
