//! Mercado Pago's `x-signature: ts=<ts>,v1=<hex>`: HMAC-SHA256 of the manifest
//! `id:{data.id};request-id:{x-request-id};ts:{ts};` under the webhook secret, where `data.id`
//! comes from the query string (as received, or lower-cased as the docs say) and any pair whose
//! value is absent is left out.
//! `ts` may be seconds or milliseconds (the docs' example is milliseconds; above 10^12 it is
//! read as milliseconds, which the official SDK gets wrong).

use secrecy::{ExposeSecret, SecretString};

use super::{SignatureError, hmac_sha256, matches_hex};

/// The signed manifest.
pub fn manifest(data_id: Option<&str>, request_id: Option<&str>, ts: &str) -> String {
    let mut manifest = String::new();
    if let Some(id) = data_id.filter(|id| !id.is_empty()) {
        manifest.push_str(&format!("id:{id};"));
    }
    if let Some(request) = request_id.filter(|r| !r.is_empty()) {
        manifest.push_str(&format!("request-id:{request};"));
    }
    manifest.push_str(&format!("ts:{ts};"));
    manifest
}

/// Verifies a notification; returns its time in seconds. `tolerance_seconds` of 0 skips the age
/// check.
pub fn verify(
    header: Option<&str>,
    data_id: Option<&str>,
    request_id: Option<&str>,
    secret: &SecretString,
    tolerance_seconds: i64,
    now: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (mut ts, mut v1) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("ts", value)) => ts = Some(value.trim()),
            Some(("v1", value)) => v1 = Some(value.trim()),
            _ => {}
        }
    }
    let ts = ts.ok_or_else(|| SignatureError::Malformed("no ts".to_owned()))?;
    let v1 = v1.ok_or_else(|| SignatureError::Malformed("no v1".to_owned()))?;
    let stamp: i64 = ts
        .parse()
        .map_err(|_| SignatureError::Malformed("ts is not a number".to_owned()))?;
    // The docs lower-case an alphanumeric `data.id` in the manifest; the official SDK signs it
    // as received. Either form verifies.
    let lowered = data_id.map(str::to_ascii_lowercase);
    let forms = std::iter::once(data_id)
        .chain(lowered.as_deref().filter(|l| Some(*l) != data_id).map(Some));
    let signed = forms.into_iter().any(|id| {
        let mac = hmac_sha256(
            secret.expose_secret().as_bytes(),
            &[manifest(id, request_id, ts).as_bytes()],
        );
        matches_hex(&mac, v1)
    });
    if !signed {
        return Err(SignatureError::Mismatch);
    }
    let seconds = if stamp > 1_000_000_000_000 {
        stamp / 1000
    } else {
        stamp
    };
    let age = now - seconds;
    if tolerance_seconds > 0 && age.abs() > tolerance_seconds {
        return Err(SignatureError::TooOld {
            age_seconds: age,
            tolerance_seconds,
        });
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "mp_webhook_secret_test";
    const REQUEST: &str = "bb56a2f1-6aae-46ac-982e-9dcd3581d08e";
    /// The spec's vector, produced by mercadopago 3.6.0 (sdk-python).
    const HEADER: &str =
        "ts=1742505638683,v1=f0a4846889881cddc53b331e4d13e7783469f3f94e03fdc3ba1c27f357e7a340";

    fn secret() -> SecretString {
        SecretString::from(SECRET.to_owned())
    }

    #[test]
    fn the_official_sdk_vector_in_milliseconds() {
        assert_eq!(
            manifest(Some("123456789"), Some(REQUEST), "1742505638683"),
            "id:123456789;request-id:bb56a2f1-6aae-46ac-982e-9dcd3581d08e;ts:1742505638683;"
        );
        let now = 1_742_505_638 + 100;
        assert_eq!(
            verify(
                Some(HEADER),
                Some("123456789"),
                Some(REQUEST),
                &secret(),
                300,
                now
            ),
            Ok(1_742_505_638),
            "a millisecond ts within the tolerance"
        );
        assert_eq!(
            verify(
                Some(HEADER),
                Some("123456780"),
                Some(REQUEST),
                &secret(),
                0,
                now
            ),
            Err(SignatureError::Mismatch),
            "another data.id"
        );
        assert!(matches!(
            verify(
                Some(HEADER),
                Some("123456789"),
                Some(REQUEST),
                &secret(),
                300,
                now + 3_600
            ),
            Err(SignatureError::TooOld { .. })
        ));
    }

    #[test]
    fn absent_pairs_are_left_out_and_seconds_work() {
        use hmac::Mac as _;
        // Without x-request-id the manifest drops the pair (the SDK accepts such a signature).
        let m = manifest(Some("123456789"), None, "1742505638683");
        assert_eq!(m, "id:123456789;ts:1742505638683;");
        let mac = hmac_sha256(SECRET.as_bytes(), &[m.as_bytes()]);
        let header = format!(
            "ts=1742505638683,v1={}",
            hex::encode(mac.finalize().into_bytes())
        );
        assert_eq!(
            verify(Some(&header), Some("123456789"), None, &secret(), 0, 0),
            Ok(1_742_505_638)
        );
        // The same signature does not verify once a request id is claimed.
        assert_eq!(
            verify(
                Some(&header),
                Some("123456789"),
                Some(REQUEST),
                &secret(),
                0,
                0
            ),
            Err(SignatureError::Mismatch)
        );
        // A ts in seconds.
        let m = manifest(Some("42"), Some(REQUEST), "1742505638");
        let mac = hmac_sha256(SECRET.as_bytes(), &[m.as_bytes()]);
        let header = format!(
            "ts=1742505638,v1={}",
            hex::encode(mac.finalize().into_bytes())
        );
        assert_eq!(
            verify(
                Some(&header),
                Some("42"),
                Some(REQUEST),
                &secret(),
                300,
                1_742_505_700
            ),
            Ok(1_742_505_638)
        );
        assert_eq!(
            verify(None, Some("42"), None, &secret(), 0, 0),
            Err(SignatureError::Missing)
        );
        assert!(matches!(
            verify(Some("v1=abc"), Some("42"), None, &secret(), 0, 0),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn an_alphanumeric_id_verifies_as_received_or_lower_cased() {
        use hmac::Mac as _;
        let signed = |id: &str| {
            let mac = hmac_sha256(
                SECRET.as_bytes(),
                &[manifest(Some(id), None, "1742505638").as_bytes()],
            );
            format!(
                "ts=1742505638,v1={}",
                hex::encode(mac.finalize().into_bytes())
            )
        };
        for header in [signed("MO-Ab12"), signed("mo-ab12")] {
            assert_eq!(
                verify(Some(&header), Some("MO-Ab12"), None, &secret(), 0, 0),
                Ok(1_742_505_638)
            );
        }
        // Lower-casing is the only liberty taken.
        assert_eq!(
            verify(
                Some(&signed("MO-AB12")),
                Some("MO-Ab12"),
                None,
                &secret(),
                0,
                0
            ),
            Err(SignatureError::Mismatch)
        );
    }
}
