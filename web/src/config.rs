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
    pub webhooks: WebhookConfig,
    /// `WEBHOOK_RATE_LIMIT`: deliveries per sender IP on the webhook routes (senders retry
    /// refused deliveries, so this sheds floods without losing events).
    pub webhook_quota: Quota,
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

/// The webhook receivers' secrets and clock allowances. A receiver whose secret is unset is
/// disabled (503).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `STRIPE_WEBHOOK_SECRET` (`whsec_…`).
    pub stripe: Option<SecretString>,
    /// `STRIPE_WEBHOOK_SECRET_PREVIOUS`: the endpoint secret being rolled out; deliveries signed
    /// with either verify until it is removed.
    pub stripe_previous: Option<SecretString>,
    /// `STRIPE_WEBHOOK_TOLERANCE_SECONDS` (300): how old a signature may be.
    pub stripe_tolerance_seconds: i64,
    /// `QSTASH_CURRENT_SIGNING_KEY`.
    pub qstash_current: Option<SecretString>,
    /// `QSTASH_NEXT_SIGNING_KEY`.
    pub qstash_next: Option<SecretString>,
    /// `QSTASH_CLOCK_LEEWAY_SECONDS` (5): clock skew allowed on `exp` and `nbf`.
    pub qstash_leeway_seconds: u64,
    /// `MERCADOPAGO_WEBHOOK_SECRET`.
    pub mercadopago: Option<SecretString>,
    /// `MERCADOPAGO_WEBHOOK_TOLERANCE_SECONDS` (300): how far `ts` may be from now.
    pub mercadopago_tolerance_seconds: i64,
}

impl Default for WebhookConfig {
    /// Every receiver off, the senders' documented clock allowances.
    fn default() -> Self {
        WebhookConfig {
            stripe: None,
            stripe_previous: None,
            stripe_tolerance_seconds: 300,
            qstash_current: None,
            qstash_next: None,
            qstash_leeway_seconds: 5,
            mercadopago: None,
            mercadopago_tolerance_seconds: 300,
        }
    }
}
