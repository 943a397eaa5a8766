use std::net::SocketAddr;

use secrecy::SecretString;
use url::Url;

use crate::auth::JwtKeys;
use crate::limits::{Quota, TrustedProxies};

/// The web layer's section of the configuration.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// `BIND_ADDR`.
    pub bind_addr: SocketAddr,
    /// `PUBLIC_BASE_URL`: the URL clients and webhook senders use to reach this service.
    pub public_base_url: Url,
    /// `JWT_SECRET` and `JWT_SECRET_PREVIOUS`.
    pub jwt: JwtKeys,
    pub webhooks: WebhookSecrets,
    /// Strict-Transport-Security and Secure cookies (everywhere but development and test).
    pub https_only: bool,
    /// `DASHBOARD_ORIGIN`: the one browser origin allowed to call the API cross-origin.
    pub dashboard_origin: Option<String>,
    /// `API_RATE_LIMIT_IP`: requests per client IP.
    pub ip_quota: Quota,
    /// `API_RATE_LIMIT_TENANT`: authenticated requests per tenant.
    pub tenant_quota: Quota,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: TrustedProxies,
    /// `API_CACHE`: whether dashboard aggregates are cached in Redis (`false` computes every
    /// answer, e.g. to rule the cache out while investigating).
    pub cache: bool,
}

/// Webhook signing secrets. A receiver whose secret is unset is disabled.
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    /// `STRIPE_WEBHOOK_SECRET` (`whsec_…`).
    pub stripe: Option<SecretString>,
    /// `QSTASH_CURRENT_SIGNING_KEY`.
    pub qstash_current: Option<SecretString>,
    /// `QSTASH_NEXT_SIGNING_KEY`.
    pub qstash_next: Option<SecretString>,
    /// `MERCADOPAGO_WEBHOOK_SECRET`.
    pub mercadopago: Option<SecretString>,
}
