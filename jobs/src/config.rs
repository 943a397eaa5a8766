use std::path::PathBuf;

use secrecy::SecretString;
use url::Url;

/// The jobs' section of the configuration.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    pub providers: ProvidersConfig,
    pub email: EmailConfig,
    /// `FORECAST_HORIZON_DAYS`: days a forecast projects when its job names none (1 to 730).
    pub forecast_horizon_days: u32,
}

/// A client id and secret pair; both or neither are configured.
#[derive(Debug, Clone)]
pub struct ProviderCredentials {
    pub id: SecretString,
    pub secret: SecretString,
}

/// Bank data providers. Base URLs are configurable so tests and sandboxes can point them at
/// local servers.
#[derive(Debug, Clone)]
pub struct ProvidersConfig {
    /// `BELVO_BASE_URL` (sandbox.belvo.com outside production, api.belvo.com in production).
    pub belvo_base_url: Url,
    /// `BELVO_SECRET_ID` / `BELVO_SECRET_PASSWORD`.
    pub belvo: Option<ProviderCredentials>,
    /// `PLUGGY_BASE_URL` (api.pluggy.ai).
    pub pluggy_base_url: Url,
    /// `PLUGGY_CLIENT_ID` / `PLUGGY_CLIENT_SECRET`.
    pub pluggy: Option<ProviderCredentials>,
    /// `OPENFINANCE_BASE_URL`: the institution's Open Finance Brasil API; unset disables it.
    pub openfinance_base_url: Option<Url>,
    /// `ECB_BASE_URL`: where the ECB's reference-rate feeds live
    /// (`https://www.ecb.europa.eu/stats/eurofxref/`).
    pub ecb_base_url: Url,
    /// `MERCADOPAGO_BASE_URL`: where payments named by Mercado Pago notifications are read
    /// (`https://api.mercadopago.com`).
    pub mercadopago_base_url: Url,
    /// `ENCRYPTION_KEY`: AES-256-GCM key sealing provider credentials at rest.
    pub encryption_key: SecretString,
    /// `ENCRYPTION_KEY_PREVIOUS`: keys being rotated out (comma-separated); credentials they
    /// sealed still open until `findash credentials rotate` re-seals them.
    pub encryption_keys_previous: Vec<SecretString>,
}

/// Outgoing email.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// `SMTP_URL`: `smtp://user:pass@host:587` (STARTTLS required), `smtps://user:pass@host:465`
    /// (TLS from the first byte), or, outside staging and production only,
    /// `smtp://host:25?tls=none` for a plain local relay. Required when deployed; without it
    /// development and tests write `.eml` files to `file_dir`.
    pub smtp_url: Option<SecretString>,
    /// Whether `SMTP_URL` may say `tls=none` (development and test only).
    pub allow_plaintext: bool,
    /// `SMTP_CA_FILE`: PEM certificates trusted besides the public roots (a private relay).
    pub ca_file: Option<PathBuf>,
    /// `EMAIL_FILE_DIR`: where the file transport writes (`var/mail` by default).
    pub file_dir: PathBuf,
    /// `EMAIL_FROM`: the sender mailbox, e.g. `FinDash <no-reply@example.com>`.
    pub from: String,
    /// `PUBLIC_BASE_URL`: where unsubscribe links point.
    pub public_base_url: Url,
}
