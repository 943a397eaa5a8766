//! Unsubscribe tokens: stateless proof that a link was made by us for one user, tenant and
//! topic. HMAC-SHA256 over those three under a key derived from `ENCRYPTION_KEY` with a fixed
//! label, so the token key is never the sealing key itself; checked in constant time. Tokens
//! do not expire: an old email's link keeps working, also after `ENCRYPTION_KEY` rotates (keys
//! derived from `ENCRYPTION_KEY_PREVIOUS` still check), and it can only ever turn email off.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use findash_schema::email::Topic;
use findash_schema::{TenantId, UserId};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Separates this key from every other use of `ENCRYPTION_KEY`.
const LABEL: &[u8] = b"findash:email:unsubscribe:v1";
/// user id, tenant id, topic, MAC.
const LEN: usize = 16 + 16 + 1 + 32;

/// What a valid token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe {
    pub user: UserId,
    pub tenant: TenantId,
    pub topic: Topic,
}

/// The key that signs unsubscribe tokens, and the keys of earlier `ENCRYPTION_KEY`s that still
/// check them: a rotation must not break the links of emails already sent.
#[derive(Clone)]
pub struct UnsubscribeKey {
    key: [u8; 32],
    previous: Vec<[u8; 32]>,
}

impl std::fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsubscribeKey(..)")
    }
}

/// `ENCRYPTION_KEY` is not base64.
#[derive(Debug, thiserror::Error)]
#[error("ENCRYPTION_KEY is not base64")]
pub struct BadKey;

impl UnsubscribeKey {
    /// Derives the key from `ENCRYPTION_KEY` (standard base64).
    pub fn derive(encryption_key: &SecretString) -> Result<UnsubscribeKey, BadKey> {
        UnsubscribeKey::derive_rotating(encryption_key, &[])
    }

    /// Derives the key from `ENCRYPTION_KEY`, and from each of `ENCRYPTION_KEY_PREVIOUS` a key
    /// that only checks.
    pub fn derive_rotating(
        encryption_key: &SecretString,
        previous: &[SecretString],
    ) -> Result<UnsubscribeKey, BadKey> {
        Ok(UnsubscribeKey {
            key: derive_one(encryption_key)?,
            previous: previous.iter().map(derive_one).collect::<Result<_, _>>()?,
        })
    }

    fn mac(key: &[u8; 32]) -> HmacSha256 {
        // HMAC takes keys of any length.
        HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("any key length"))
    }

    /// The token for `what`: base64url, 87 characters.
    pub fn sign(&self, what: Unsubscribe) -> String {
        let mut bytes = Vec::with_capacity(LEN);
        bytes.extend_from_slice(what.user.0.as_bytes());
        bytes.extend_from_slice(what.tenant.0.as_bytes());
        bytes.push(topic_byte(what.topic));
        let mut mac = UnsubscribeKey::mac(&self.key);
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// What `token` names, if we made it.
    pub fn verify(&self, token: &str) -> Option<Unsubscribe> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        if bytes.len() != LEN {
            return None;
        }
        let (signed, tag) = bytes.split_at(33);
        let made_by_us = std::iter::once(&self.key).chain(&self.previous).any(|key| {
            let mut mac = UnsubscribeKey::mac(key);
            mac.update(signed);
            mac.verify_slice(tag).is_ok()
        });
        if !made_by_us {
            return None;
        }
        let user = Uuid::from_slice(&signed[..16]).ok()?;
        let tenant = Uuid::from_slice(&signed[16..32]).ok()?;
        let topic = match signed[32] {
            1 => Topic::DailySummary,
            2 => Topic::Alerts,
            _ => return None,
        };
        Some(Unsubscribe {
            user: UserId(user),
            tenant: TenantId(tenant),
            topic,
        })
    }
}

fn derive_one(encryption_key: &SecretString) -> Result<[u8; 32], BadKey> {
    let bytes = STANDARD
        .decode(encryption_key.expose_secret().trim())
        .map_err(|_| BadKey)?;
    let mut mac = HmacSha256::new_from_slice(&bytes).map_err(|_| BadKey)?;
    mac.update(LABEL);
    Ok(mac.finalize().into_bytes().into())
}

fn topic_byte(topic: Topic) -> u8 {
    match topic {
        Topic::DailySummary => 1,
        Topic::Alerts => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(seed: u8) -> UnsubscribeKey {
        UnsubscribeKey::derive(&SecretString::from(STANDARD.encode([seed; 32]))).unwrap()
    }

    #[test]
    fn links_signed_before_a_key_rotation_still_check_and_new_ones_use_the_new_key() {
        let secret = |seed: u8| SecretString::from(STANDARD.encode([seed; 32]));
        let before = key_of(1);
        let after = UnsubscribeKey::derive_rotating(&secret(2), &[secret(1)]).unwrap();
        let old_link = before.sign(what(Topic::Alerts));
        assert_eq!(after.verify(&old_link), Some(what(Topic::Alerts)));
        let new_link = after.sign(what(Topic::Alerts));
        assert_eq!(new_link, key_of(2).sign(what(Topic::Alerts)));
        assert_eq!(before.verify(&new_link), None);
        // Once the old key is dropped, its links no longer check.
        assert_eq!(key_of(2).verify(&old_link), None);
    }

    fn what(topic: Topic) -> Unsubscribe {
        Unsubscribe {
            user: UserId(Uuid::from_u128(1)),
            tenant: TenantId(Uuid::from_u128(2)),
            topic,
        }
    }

    #[test]
    fn a_token_names_what_it_was_made_for() {
        let key = key_of(7);
        for topic in [Topic::DailySummary, Topic::Alerts] {
            let token = key.sign(what(topic));
            assert_eq!(token.len(), 87);
            assert_eq!(key.verify(&token), Some(what(topic)));
        }
    }

    #[test]
    fn tampered_foreign_and_malformed_tokens_are_refused() {
        let key = key_of(7);
        let token = key.sign(what(Topic::DailySummary));
        // Every single flipped bit of the decoded token is refused.
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x01;
            assert_eq!(
                key.verify(&URL_SAFE_NO_PAD.encode(&tampered)),
                None,
                "byte {i}"
            );
        }
        // Another user's, another kind's: their own tokens, not this one with a field swapped.
        let mut other_user = what(Topic::DailySummary);
        other_user.user = UserId(Uuid::from_u128(3));
        let theirs = key.sign(other_user);
        assert_ne!(theirs, token);
        assert_eq!(key.verify(&theirs), Some(other_user));
        let mut forged = URL_SAFE_NO_PAD.decode(&token).unwrap();
        forged[..16].copy_from_slice(Uuid::from_u128(3).as_bytes());
        assert_eq!(key.verify(&URL_SAFE_NO_PAD.encode(&forged)), None);
        let mut other_kind = URL_SAFE_NO_PAD.decode(&token).unwrap();
        other_kind[32] = 2;
        assert_eq!(key.verify(&URL_SAFE_NO_PAD.encode(&other_kind)), None);
        // Made with another key, truncated, not base64url.
        assert_eq!(key_of(8).verify(&token), None);
        assert_eq!(key.verify(&token[..80]), None);
        assert_eq!(key.verify("not a token!"), None);
        assert_eq!(key.verify(""), None);
    }
}
