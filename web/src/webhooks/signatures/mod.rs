//! Signature checks of the webhook senders, exactly as their official SDKs perform them
//! (`shared/specs/integrations.md` §1, §2, §4): pure functions over the raw body, the headers'
//! values and the clock, so every edge is testable. Secrets are used as given (UTF-8 bytes, never
//! decoded); comparisons of MACs are constant-time; an error says what failed, never a secret or
//! an expected MAC.

pub mod mercadopago;
pub mod qstash;
pub mod stripe;

/// Why a delivery was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is malformed: {0}")]
    Malformed(String),
    #[error("no signature matches")]
    Mismatch,
    #[error("the signature is too old ({age_seconds} s; tolerance {tolerance_seconds} s)")]
    TooOld {
        age_seconds: i64,
        tolerance_seconds: i64,
    },
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for another destination")]
    WrongSubject,
    #[error("the token was not issued by {0}")]
    WrongIssuer(&'static str),
    #[error("the body does not match the signed hash")]
    BodyMismatch,
}

/// HMAC-SHA256 of `parts` under `key`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac as _;
    // HMAC accepts keys of any length.
    let mut mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Whether `mac` equals the hex `candidate`, in constant time.
fn matches_hex(mac: &hmac::Hmac<sha2::Sha256>, candidate: &str) -> bool {
    use hmac::Mac as _;
    match hex::decode(candidate) {
        Ok(bytes) => mac.clone().verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}
