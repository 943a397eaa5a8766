//! What the console never shows of a job's payload or result: the values of keys that name a
//! secret (passwords, tokens, API keys, credentials, signatures) or a person's document number
//! (CPF, CNPJ, tax id, card number). Pages are screenshotted, pasted into tickets and read over
//! shoulders; the ledger itself keeps the payload whole, because the job needs it.
//!
//! Keys are compared by their letters and digits only, ignoring case, so `apiKey`, `API_KEY`
//! and `api-key` are one name. Matching errs on the side of hiding: `tokens_used` is hidden too.

use serde_json::Value;

/// What a hidden value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// A key is secret when its normalized name contains one of these.
const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "authorization",
    "credential",
    "cookie",
    "signature",
    "cpf",
    "cnpj",
    "taxid",
    "documentnumber",
    "cardnumber",
    "cvv",
    "cvc",
];

/// …or is exactly one of these (too short to look for inside other names).
const SECRET_NAMES: &[&str] = &["pin", "auth", "pwd", "otp"];

/// Whether the value under `key` is hidden.
pub fn is_secret_key(key: &str) -> bool {
    let normalized: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    SECRET_PARTS.iter().any(|part| normalized.contains(part))
        || SECRET_NAMES.contains(&normalized.as_str())
}

/// `value` with the value of every secret key, at any depth, replaced by [`REDACTED`] (objects
/// and arrays under such a key included).
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let shown = if is_secret_key(k) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact(v)
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// `value`, redacted, as indented JSON.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(&redact(value)).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_names_are_recognized_whatever_their_spelling() {
        for key in [
            "password",
            "PASSWORD",
            "db_password",
            "client_secret",
            "clientSecret",
            "refresh_token",
            "access-token",
            "api_key",
            "apiKey",
            "X-API-KEY",
            "Authorization",
            "credentials",
            "aws_secret_access_key",
            "private_key",
            "cpf",
            "customer_cpf",
            "CNPJ",
            "tax_id",
            "document_number",
            "card_number",
            "pin",
            "Stripe-Signature",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "connection_id",
            "account_id",
            "delivery",
            "kind",
            "pinned",
            "author",
            "as_of",
            "rate_limit_key",
            "description",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn secrets_are_hidden_at_any_depth_and_the_rest_is_kept() {
        let payload = json!({
            "connection_id": "c-1",
            "password": "hunter2",
            "nested": {
                "Access_Token": {"value": "tok-1", "expires": 3600},
                "items": [{"api_key": "k-1", "name": "first"}, 7, null],
                "note": "keep me",
            },
            "credentials": ["a", "b"],
            "count": 3,
        });
        let shown = redact(&payload);
        assert_eq!(
            shown,
            json!({
                "connection_id": "c-1",
                "password": REDACTED,
                "nested": {
                    "Access_Token": REDACTED,
                    "items": [{"api_key": REDACTED, "name": "first"}, 7, null],
                    "note": "keep me",
                },
                "credentials": REDACTED,
                "count": 3,
            })
        );
        let text = pretty(&payload);
        for secret in ["hunter2", "tok-1", "k-1", "\"a\""] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("keep me"));
        assert_eq!(redact(&json!("plain")), json!("plain"));
    }
}
