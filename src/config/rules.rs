//! What makes a secret acceptable, and how development secrets are generated.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use secrecy::SecretString;

/// HMAC-SHA256 keys shorter than the hash output weaken it.
pub const MIN_SIGNING_SECRET_LEN: usize = 32;
/// Provider webhook secrets are issued by the provider; this only catches placeholders.
pub const MIN_WEBHOOK_SECRET_LEN: usize = 16;

const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "placeholder",
    "example",
    "password",
    "secret",
];

/// Why `secret` is too weak to sign tokens, if it is.
pub fn weakness(secret: &str) -> Option<String> {
    if secret.len() < MIN_SIGNING_SECRET_LEN {
        return Some(format!("shorter than {MIN_SIGNING_SECRET_LEN} bytes"));
    }
    let mut distinct: Vec<u8> = secret.bytes().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 10 {
        return Some("too few distinct characters".into());
    }
    let lower = secret.to_lowercase();
    PLACEHOLDERS
        .iter()
        .find(|word| lower.contains(*word))
        .map(|word| format!("contains the placeholder word `{word}`"))
}

/// `ENCRYPTION_KEY` must be standard base64 of 32 bytes that are not all the same.
pub fn check_encryption_key(value: &str) -> Result<(), String> {
    let bytes = STANDARD.decode(value.trim()).map_err(|_| {
        "is not valid base64 (generate one with `openssl rand -base64 32`)".to_owned()
    })?;
    if bytes.len() != 32 {
        return Err(format!(
            "decodes to {} bytes; AES-256 needs exactly 32",
            bytes.len()
        ));
    }
    if bytes.iter().all(|&b| b == bytes[0]) {
        return Err("is too weak: every byte is the same".into());
    }
    Ok(())
}

pub fn looks_like_email(value: &str) -> bool {
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value
                    .chars()
                    .any(|c| c.is_whitespace() || c == '<' || c == '>')
                && !domain.contains('@')
        }
        None => false,
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0_u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// 48 random bytes, base64url: a signing secret for one development process.
pub fn generate_secret() -> SecretString {
    SecretString::from(URL_SAFE_NO_PAD.encode(random_bytes::<48>()))
}

/// 32 random bytes, standard base64: an encryption key for one development process.
pub fn generate_encryption_key() -> SecretString {
    SecretString::from(STANDARD.encode(random_bytes::<32>()))
}
