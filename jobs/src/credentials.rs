//! Provider credentials at rest: AES-256-GCM with a random 96-bit nonce per sealing, bound to
//! the connection it belongs to (tenant and connection id are the associated data, so a
//! ciphertext copied onto another row does not open), and stored with the id of the key that
//! sealed it.
//!
//! Rotation: deploy the new key as `ENCRYPTION_KEY` and the old one in
//! `ENCRYPTION_KEY_PREVIOUS`; credentials sealed by either open, and `findash credentials rotate`
//! re-seals every credential under the current key ([`rotate`]). Then the old key can go.
//! Plaintext never leaves this module except as a `SecretString`, and never reaches a log or an
//! error message.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use findash_schema::connections::{self, SealedCredentials};
use findash_schema::{ConnectionId, Db, DbError, PaymentAccountId, SystemTask, TenantId, webhooks};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// Why credentials could not be sealed or opened. Never carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("encryption key {position} is not base64 of 32 bytes")]
    BadKey { position: String },
    #[error(
        "credentials were sealed with key {key_id}, which is neither ENCRYPTION_KEY nor in ENCRYPTION_KEY_PREVIOUS"
    )]
    UnknownKey { key_id: String },
    #[error(
        "credentials sealed with key {key_id} do not open: corrupted, or sealed for another connection"
    )]
    Corrupt { key_id: String },
    #[error("credentials are not UTF-8 text")]
    NotText,
}

/// One key and its public id.
struct Key {
    id: String,
    cipher: Aes256Gcm,
}

/// Seals and opens credentials with the current key; opens with previous keys too.
pub struct Sealer {
    current: Key,
    previous: Vec<Key>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Sealer {
    /// From `ENCRYPTION_KEY` and `ENCRYPTION_KEY_PREVIOUS` (standard base64 of 32 bytes each).
    pub fn new(
        current: &SecretString,
        previous: &[SecretString],
    ) -> Result<Sealer, CredentialError> {
        Ok(Sealer {
            current: key(current, "ENCRYPTION_KEY")?,
            previous: previous
                .iter()
                .enumerate()
                .map(|(i, k)| key(k, &format!("ENCRYPTION_KEY_PREVIOUS #{}", i + 1)))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The id stored with credentials sealed now.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plaintext` for one connection under the current key.
    pub fn seal(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        plaintext: &SecretString,
    ) -> SealedCredentials {
        self.seal_for(tenant, Owner::Connection(connection), plaintext)
    }

    /// Opens credentials sealed for this connection by the current or a previous key.
    pub fn open(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        sealed: &SealedCredentials,
    ) -> Result<SecretString, CredentialError> {
        self.open_for(tenant, Owner::Connection(connection), sealed)
    }

    /// Seals `plaintext` for `owner` of `tenant` under the current key.
    pub fn seal_for(
        &self,
        tenant: TenantId,
        owner: Owner,
        plaintext: &SecretString,
    ) -> SealedCredentials {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated_data(tenant, owner);
        // Encryption with a valid key and nonce length only fails for inputs beyond 64 GiB.
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        SealedCredentials {
            ciphertext: sealed,
            key_id: self.current.id.clone(),
        }
    }

    /// Opens credentials sealed for `owner` of `tenant` by the current or a previous key.
    pub fn open_for(
        &self,
        tenant: TenantId,
        owner: Owner,
        sealed: &SealedCredentials,
    ) -> Result<SecretString, CredentialError> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| CredentialError::UnknownKey {
                key_id: sealed.key_id.clone(),
            })?;
        let corrupt = || CredentialError::Corrupt {
            key_id: sealed.key_id.clone(),
        };
        if sealed.ciphertext.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, ciphertext) = sealed.ciphertext.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| corrupt())?;
        let aad = associated_data(tenant, owner);
        let plaintext = key
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| corrupt())?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| CredentialError::NotText)
    }
}

fn key(encoded: &SecretString, position: &str) -> Result<Key, CredentialError> {
    let bad = || CredentialError::BadKey {
        position: position.to_owned(),
    };
    let bytes = STANDARD
        .decode(encoded.expose_secret().trim())
        .map_err(|_| bad())?;
    let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| bad())?;
    // The id names the key without revealing it: a domain-separated hash, shortened.
    let digest = Sha256::new()
        .chain_update(b"findash credentials key id\0")
        .chain_update(&bytes)
        .finalize();
    let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(Key { id, cipher })
}

/// What sealed credentials belong to: with the tenant, the associated data that binds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A bank connection's provider credentials.
    Connection(ConnectionId),
    /// A payment account's access token (Mercado Pago).
    PaymentAccount(PaymentAccountId),
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Connection(id) => write!(f, "connection {id}"),
            Owner::PaymentAccount(id) => write!(f, "payment account {id}"),
        }
    }
}

fn associated_data(tenant: TenantId, owner: Owner) -> String {
    match owner {
        Owner::Connection(connection) => format!("findash:credentials:v1:{tenant}:{connection}"),
        Owner::PaymentAccount(account) => {
            format!("findash:credentials:v1:{tenant}:payment-account:{account}")
        }
    }
}

/// What [`rotate`] did.
#[derive(Debug, Default)]
pub struct RotationReport {
    /// Re-sealed under the current key.
    pub rotated: usize,
    /// Already under the current key.
    pub current: usize,
    /// Could not be opened (unknown key or corrupt); left as they were.
    pub failed: Vec<(Owner, CredentialError)>,
}

/// Re-seals every credential that another key sealed under the current key: connections a
/// hundred per transaction, then payment accounts' access tokens. A row changed meanwhile is
/// left to the writer that changed it. Safe to run again at any time.
pub fn rotate(db: &Db, sealer: &Sealer) -> Result<RotationReport, DbError> {
    let mut report = RotationReport::default();
    let mut after: Option<ConnectionId> = None;
    loop {
        let batch = db.system(SystemTask::Credentials, |sys| {
            let rows = connections::sealed_credentials_page(sys, after, 100)?;
            let mut outcome = Vec::with_capacity(rows.len());
            for row in &rows {
                if row.sealed.key_id == sealer.current_key_id() {
                    outcome.push(Ok(false));
                    continue;
                }
                match sealer.open(row.tenant_id, row.id, &row.sealed) {
                    Ok(plaintext) => {
                        let resealed = sealer.seal(row.tenant_id, row.id, &plaintext);
                        connections::replace_credentials(
                            sys,
                            row.id,
                            &row.sealed.key_id,
                            &resealed,
                        )?;
                        outcome.push(Ok(true));
                    }
                    Err(e) => outcome.push(Err(e)),
                }
            }
            Ok::<_, DbError>(rows.iter().map(|r| r.id).zip(outcome).collect::<Vec<_>>())
        })?;
        let Some(&(last, _)) = batch.last() else {
            break;
        };
        for (id, outcome) in batch {
            match outcome {
                Ok(true) => report.rotated += 1,
                Ok(false) => report.current += 1,
                Err(e) => report.failed.push((Owner::Connection(id), e)),
            }
        }
        after = Some(last);
    }
    rotate_payment_accounts(db, sealer, &mut report)?;
    Ok(report)
}

/// The payment accounts' part of [`rotate`] (a handful of rows: one transaction).
fn rotate_payment_accounts(
    db: &Db,
    sealer: &Sealer,
    report: &mut RotationReport,
) -> Result<(), DbError> {
    let outcomes = db.system(SystemTask::Credentials, |sys| {
        let mut outcomes = Vec::new();
        for account in webhooks::payment_accounts(sys)? {
            let Some(sealed) = account.sealed() else {
                continue;
            };
            let owner = Owner::PaymentAccount(account.id());
            if sealed.key_id == sealer.current_key_id() {
                outcomes.push((owner, Ok(false)));
                continue;
            }
            match sealer.open_for(account.tenant(), owner, &sealed) {
                Ok(plaintext) => {
                    let resealed = sealer.seal_for(account.tenant(), owner, &plaintext);
                    let replaced =
                        webhooks::reseal_payment_account(sys, account.id(), &sealed, &resealed)?;
                    outcomes.push((owner, Ok(replaced)));
                }
                Err(e) => outcomes.push((owner, Err(e))),
            }
        }
        Ok::<_, DbError>(outcomes)
    })?;
    for (owner, outcome) in outcomes {
        match outcome {
            Ok(true) => report.rotated += 1,
            Ok(false) => report.current += 1,
            Err(e) => report.failed.push((owner, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "HxwdGhscGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

    #[test]
    fn seals_opens_and_binds_to_the_connection() {
        let sealer = Sealer::new(&secret(KEY_A), &[]).unwrap();
        let (tenant, connection) = (TenantId::new(), ConnectionId::new());
        let plaintext = secret(r#"{"access_token":"at-123"}"#);
        let sealed = sealer.seal(tenant, connection, &plaintext);
        assert_eq!(sealed.key_id, sealer.current_key_id());
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("at-123"));
        let opened = sealer.open(tenant, connection, &sealed).unwrap();
        assert_eq!(opened.expose_secret(), plaintext.expose_secret());
        // A fresh nonce each time.
        assert_ne!(
            sealer.seal(tenant, connection, &plaintext).ciphertext,
            sealed.ciphertext
        );
        // Another connection's row, or a flipped bit, does not open.
        assert!(matches!(
            sealer.open(tenant, ConnectionId::new(), &sealed),
            Err(CredentialError::Corrupt { .. })
        ));
        let mut tampered = sealed;
        tampered.ciphertext[NONCE_LEN] ^= 1;
        assert!(matches!(
            sealer.open(tenant, connection, &tampered),
            Err(CredentialError::Corrupt { .. })
        ));
    }

    #[test]
    fn previous_keys_open_and_unknown_keys_are_named() {
        let old = Sealer::new(&secret(KEY_A), &[]).unwrap();
        let new = Sealer::new(&secret(KEY_B), &[secret(KEY_A)]).unwrap();
        let only_new = Sealer::new(&secret(KEY_B), &[]).unwrap();
        assert_ne!(old.current_key_id(), new.current_key_id());
        let (tenant, connection) = (TenantId::new(), ConnectionId::new());
        let sealed = old.seal(tenant, connection, &secret("s3cret"));
        assert_eq!(
            new.open(tenant, connection, &sealed)
                .unwrap()
                .expose_secret(),
            "s3cret"
        );
        let err = only_new.open(tenant, connection, &sealed).unwrap_err();
        assert!(err.to_string().contains(old.current_key_id()), "{err}");
        assert!(matches!(
            Sealer::new(&secret("c2hvcnQ="), &[]),
            Err(CredentialError::BadKey { .. })
        ));
    }
}
