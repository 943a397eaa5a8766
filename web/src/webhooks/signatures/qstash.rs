//! `Upstash-Signature`: an HS256 JWT under the signing key (UTF-8 bytes) with `iss` = `Upstash`,
//! `sub` = this endpoint's URL exactly, `exp`/`nbf` (checked with a leeway), and `body` =
//! base64url(SHA-256(raw body)), padded or not. The current key is tried, then the next one (a
//! roll makes `next` current). Only HS256 is accepted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::SignatureError;

/// The largest clock-skew allowance honoured.
pub const MAX_LEEWAY_SECONDS: u64 = 3_600;

#[derive(Debug, Deserialize)]
struct Claims {
    body: String,
}

/// Verifies a delivery to `url` with `keys` (current first, then next).
pub fn verify(
    body: &[u8],
    token: Option<&str>,
    url: &str,
    keys: &[&SecretString],
    leeway_seconds: u64,
) -> Result<(), SignatureError> {
    let token = token.ok_or(SignatureError::Missing)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["Upstash"]);
    validation.sub = Some(url.to_owned());
    // Bounded: a leeway is seconds of clock skew, and the JWT library cannot take one beyond
    // the current time.
    validation.leeway = leeway_seconds.min(MAX_LEEWAY_SECONDS);
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "sub", "exp", "nbf"]);

    for key in keys {
        let decoded = jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(key.expose_secret().as_bytes()),
            &validation,
        );
        match decoded {
            Ok(data) => {
                let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(body));
                return if data.claims.body.trim_end_matches('=') == expected {
                    Ok(())
                } else {
                    Err(SignatureError::BodyMismatch)
                };
            }
            Err(e) => {
                // The signature verified under this key unless it says otherwise; then its
                // claims are what failed.
                let error = match e.kind() {
                    // Another key may have signed it: try the next one.
                    ErrorKind::InvalidSignature => continue,
                    ErrorKind::ExpiredSignature => SignatureError::Expired,
                    ErrorKind::ImmatureSignature => SignatureError::NotYetValid,
                    ErrorKind::InvalidSubject => SignatureError::WrongSubject,
                    ErrorKind::InvalidIssuer => SignatureError::WrongIssuer("Upstash"),
                    ErrorKind::InvalidAlgorithm => {
                        SignatureError::Malformed("only HS256 is accepted".to_owned())
                    }
                    other => SignatureError::Malformed(format!("{other:?}")),
                };
                return Err(error);
            }
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const URL: &str = "https://jobs.example.com/api/jobs/refresh-rates";
    const BODY: &[u8] = br#"{"job":"refresh-rates"}"#;
    const CURRENT: &str = "sig_current_test_key_0123456789abcdef";
    const NEXT: &str = "sig_next_test_key_fedcba9876543210";

    fn key(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn body_claim(body: &[u8], padded: bool) -> String {
        let claim = URL_SAFE_NO_PAD.encode(Sha256::digest(body));
        if padded { format!("{claim}=") } else { claim }
    }

    /// A token as qstash-py 3.4.0 signs it (spec §2), with `claims` merged in.
    fn token(signing_key: &str, now: i64, claims: &serde_json::Value, alg: Algorithm) -> String {
        let mut all = json!({
            "iss": "Upstash", "sub": URL, "exp": now + 300, "nbf": now, "iat": now,
            "jti": "jwt_test", "body": body_claim(BODY, false),
        });
        if let (Some(all), Some(extra)) = (all.as_object_mut(), claims.as_object()) {
            all.extend(extra.clone());
        }
        jsonwebtoken::encode(
            &Header::new(alg),
            &all,
            &EncodingKey::from_secret(signing_key.as_bytes()),
        )
        .unwrap()
    }

    /// The spec's fixed vector (iat 1700000000, jti jwt_fixed_1), signed by the official SDK.
    const VECTOR: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJVcHN0YXNoIiwic3ViIjoiaHR0cHM6Ly9qb2JzLmV4YW1wbGUuY29tL2FwaS9qb2JzL3JlZnJlc2gtcmF0ZXMiLCJleHAiOjE3MDAwMDAzMDAsIm5iZiI6MTcwMDAwMDAwMCwiaWF0IjoxNzAwMDAwMDAwLCJqdGkiOiJqd3RfZml4ZWRfMSIsImJvZHkiOiJTRnhLYWhNNVNkNmxtYVZ1a0VsZlNGWDU0eExaeE5kN0F6RkdsRXZpNlRJIn0.0o4NKT0qLevAFYoP-hzJ6Hu1ETNaYeodPxU0w528oZ8";

    #[test]
    fn the_official_sdk_vector_is_genuine_but_long_expired() {
        // Its signature and body are right; its exp (2023) is not.
        assert_eq!(
            verify(BODY, Some(VECTOR), URL, &[&key(CURRENT)], 0),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(BODY, Some(VECTOR), URL, &[&key("another key")], 0),
            Err(SignatureError::Mismatch)
        );
        // Its claims are what our check computes: the SDK's unpadded body hash of this body.
        let mut lenient = Validation::new(Algorithm::HS256);
        lenient.validate_exp = false;
        lenient.validate_aud = false;
        lenient.set_required_spec_claims::<&str>(&[]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            VECTOR,
            &DecodingKey::from_secret(CURRENT.as_bytes()),
            &lenient,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["body"], json!(body_claim(BODY, false)));
        assert_eq!(
            (claims["iss"].as_str(), claims["sub"].as_str()),
            (Some("Upstash"), Some(URL))
        );
    }

    #[test]
    fn current_then_next_key_and_both_body_forms() {
        let now = chrono::Utc::now().timestamp();
        let keys = [&key(CURRENT), &key(NEXT)];
        for signer in [CURRENT, NEXT] {
            for padded in [false, true] {
                let t = token(
                    signer,
                    now,
                    &json!({ "body": body_claim(BODY, padded) }),
                    Algorithm::HS256,
                );
                assert_eq!(
                    verify(BODY, Some(&t), URL, &keys, 0),
                    Ok(()),
                    "{signer} padded={padded}"
                );
            }
        }
        let other = token("sig_someone_else", now, &json!({}), Algorithm::HS256);
        assert_eq!(
            verify(BODY, Some(&other), URL, &keys, 0),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn claims_are_enforced() {
        let now = chrono::Utc::now().timestamp();
        let keys = [&key(CURRENT)];
        let check = |claims: serde_json::Value, leeway: u64| {
            verify(
                BODY,
                Some(&token(CURRENT, now, &claims, Algorithm::HS256)),
                URL,
                &keys,
                leeway,
            )
        };
        assert_eq!(
            check(json!({ "sub": format!("{URL}x") }), 0),
            Err(SignatureError::WrongSubject)
        );
        assert_eq!(
            check(json!({ "iss": "Someone" }), 0),
            Err(SignatureError::WrongIssuer("Upstash"))
        );
        assert_eq!(
            check(json!({ "exp": now - 10 }), 0),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            check(json!({ "exp": now - 10 }), 30),
            Ok(()),
            "within the leeway"
        );
        assert_eq!(
            check(json!({ "nbf": now + 60 }), 0),
            Err(SignatureError::NotYetValid)
        );
        assert_eq!(check(json!({ "nbf": now + 10 }), 30), Ok(()));
        assert_eq!(
            check(json!({ "body": body_claim(b"tampered", false) }), 0),
            Err(SignatureError::BodyMismatch)
        );
        let no_nbf = {
            let mut all = serde_json::Map::new();
            all.insert("iss".into(), json!("Upstash"));
            all.insert("sub".into(), json!(URL));
            all.insert("exp".into(), json!(now + 300));
            all.insert("body".into(), json!(body_claim(BODY, false)));
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &all,
                &EncodingKey::from_secret(CURRENT.as_bytes()),
            )
            .unwrap()
        };
        assert!(matches!(
            verify(BODY, Some(&no_nbf), URL, &keys, 0),
            Err(SignatureError::Malformed(_))
        ));
        // Another algorithm, even with the right key, is refused.
        let hs512 = token(CURRENT, now, &json!({}), Algorithm::HS512);
        assert!(matches!(
            verify(BODY, Some(&hs512), URL, &keys, 0),
            Err(SignatureError::Malformed(_))
        ));
        assert_eq!(
            verify(BODY, None, URL, &keys, 0),
            Err(SignatureError::Missing)
        );
        assert!(matches!(
            verify(BODY, Some("not.a.jwt"), URL, &keys, 0),
            Err(SignatureError::Malformed(_))
        ));
    }
}
