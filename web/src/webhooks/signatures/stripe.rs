//! `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`: HMAC-SHA256 of `"{t}." + raw body`
//! under the endpoint secret (the whole `whsec_…` string as UTF-8). Any `v1` matching under any
//! configured secret (current, then previous during a roll) accepts; other schemes are ignored.
//! The signature is checked first, then the age: only timestamps older than the tolerance fail
//! (one in the future passes, as in both official SDKs).

use secrecy::{ExposeSecret, SecretString};

use super::{SignatureError, hmac_sha256, matches_hex};

/// Stripe's default tolerance.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// Verifies a delivery; returns the signed timestamp.
pub fn verify(
    body: &[u8],
    header: Option<&str>,
    secrets: &[&SecretString],
    tolerance_seconds: i64,
    now: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => {
                timestamp = Some(value.parse::<i64>().map_err(|_| {
                    SignatureError::Malformed("t is not a unix timestamp".to_owned())
                })?);
            }
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp =
        timestamp.ok_or_else(|| SignatureError::Malformed("no timestamp t".to_owned()))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no v1 signature".to_owned()));
    }
    let t = timestamp.to_string();
    let signed = secrets.iter().any(|secret| {
        let mac = hmac_sha256(
            secret.expose_secret().as_bytes(),
            &[t.as_bytes(), b".", body],
        );
        signatures
            .iter()
            .any(|candidate| matches_hex(&mac, candidate))
    });
    if !signed {
        return Err(SignatureError::Mismatch);
    }
    let age = now - timestamp;
    if tolerance_seconds > 0 && age > tolerance_seconds {
        return Err(SignatureError::TooOld {
            age_seconds: age,
            tolerance_seconds,
        });
    }
    Ok(timestamp)
}

/// The header Stripe would send for `body` at `timestamp` (tests and local tooling).
pub fn sign(body: &[u8], secret: &SecretString, timestamp: i64) -> String {
    use hmac::Mac as _;
    let t = timestamp.to_string();
    let mac = hmac_sha256(
        secret.expose_secret().as_bytes(),
        &[t.as_bytes(), b".", body],
    );
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    const BODY: &[u8] =
        br#"{"id":"evt_test_webhook","object":"event","type":"payment_intent.succeeded"}"#;
    /// The spec's vector, checked against stripe-python 16.1.0 and stripe-node 23.1.0.
    const VECTOR: &str =
        "t=1700000000,v1=130dc37d5a27b1b232a61e4f2ff00ed245f498112c11e8b747aff3d0fb754056";

    #[test]
    fn the_official_sdk_vector() {
        let s = secret("whsec_test_secret");
        assert_eq!(sign(BODY, &s, 1_700_000_000), VECTOR);
        assert_eq!(
            verify(BODY, Some(VECTOR), &[&s], 0, 1_800_000_000),
            Ok(1_700_000_000)
        );
        // Default tolerance: a 2023 signature is far too old now.
        assert!(matches!(
            verify(
                BODY,
                Some(VECTOR),
                &[&s],
                DEFAULT_TOLERANCE_SECONDS,
                1_800_000_000
            ),
            Err(SignatureError::TooOld { .. })
        ));
    }

    #[test]
    fn rotation_schemes_and_tampering() {
        let (old, new) = (secret("whsec_old"), secret("whsec_new"));
        let now = 1_750_000_000;
        let header = sign(BODY, &new, now);
        // A header with a wrong v1, the right one and a v0 verifies (Stripe's roll format).
        let v1 = header.split_once(",v1=").unwrap().1;
        let rolled = format!("t={now},v1={},v1={v1},v0=deadbeef", "0".repeat(64));
        assert_eq!(verify(BODY, Some(&rolled), &[&new], 300, now), Ok(now));
        // Current and previous endpoint secrets both verify during a roll.
        assert_eq!(
            verify(BODY, Some(&sign(BODY, &old, now)), &[&new, &old], 300, now),
            Ok(now)
        );
        assert_eq!(
            verify(BODY, Some(&sign(BODY, &old, now)), &[&new], 300, now),
            Err(SignatureError::Mismatch)
        );
        // A byte changed, only v0, nothing.
        let mut tampered = BODY.to_vec();
        tampered[2] ^= 1;
        assert_eq!(
            verify(&tampered, Some(&header), &[&new], 300, now),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify(BODY, Some(&format!("t={now},v0=abc")), &[&new], 300, now),
            Err(SignatureError::Malformed(_))
        ));
        assert_eq!(
            verify(BODY, None, &[&new], 300, now),
            Err(SignatureError::Missing)
        );
        assert!(matches!(
            verify(BODY, Some("v1=abc"), &[&new], 300, now),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn tolerance_edges() {
        let s = secret("whsec_edges");
        let t = 1_760_000_000;
        let header = sign(BODY, &s, t);
        assert_eq!(verify(BODY, Some(&header), &[&s], 300, t + 300), Ok(t));
        assert!(matches!(
            verify(BODY, Some(&header), &[&s], 300, t + 301),
            Err(SignatureError::TooOld {
                age_seconds: 301,
                ..
            })
        ));
        // From the future passes, as in the SDKs.
        assert_eq!(verify(BODY, Some(&header), &[&s], 300, t - 3_600), Ok(t));
    }

    #[test]
    fn random_secrets_and_bodies_round_trip() {
        use rand::{Rng, RngCore};
        let mut rng = rand::rng();
        for _ in 0..200 {
            let secret = secret(&format!("whsec_{:032x}", rng.random::<u128>()));
            let mut body = vec![0_u8; rng.random_range(0..2_000)];
            rng.fill_bytes(&mut body);
            let t = rng.random_range(1_600_000_000..1_900_000_000);
            let header = sign(&body, &secret, t);
            assert_eq!(verify(&body, Some(&header), &[&secret], 300, t), Ok(t));
            let other = SecretString::from(format!("{}x", secret.expose_secret()));
            assert_eq!(
                verify(&body, Some(&header), &[&other], 300, t),
                Err(SignatureError::Mismatch)
            );
        }
    }
}
