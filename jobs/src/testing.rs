//! Test and benchmark support (feature `testing`): the jobs' configuration with every provider
//! at one local server, and books to sync: a tenant with the built-in categories and a
//! connection. Panics on failure: a broken set-up must fail its test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use findash_engine::testing::TestEngine;
use findash_schema::testing::sql;
use findash_schema::{ConnectionId, SystemTask, TenantId};
use secrecy::SecretString;
use serde_json::Value;
use url::Url;

use crate::{EmailConfig, JobsConfig, ProviderCredentials, ProvidersConfig};

/// The sealing key of tests and benchmarks (not a secret of any deployment).
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Every provider (and the ECB feed, under `ecb/`) at `base`, with test credentials.
pub fn config(base: &str) -> JobsConfig {
    let url = Url::parse(base).expect("a base URL");
    JobsConfig {
        providers: ProvidersConfig {
            belvo_base_url: url.clone(),
            belvo: Some(ProviderCredentials {
                id: secret("belvo-secret-id"),
                secret: secret("belvo-secret-password"),
            }),
            pluggy_base_url: url.clone(),
            pluggy: Some(ProviderCredentials {
                id: secret("pluggy-client-id"),
                secret: secret("pluggy-client-secret"),
            }),
            openfinance_base_url: Some(url.clone()),
            ecb_base_url: url.join("ecb/").expect("a joinable base URL"),
            mercadopago_base_url: url.join("mercadopago/").expect("a joinable base URL"),
            encryption_key: secret(KEY),
            encryption_keys_previous: Vec::new(),
        },
        email: EmailConfig {
            smtp_url: None,
            allow_plaintext: true,
            ca_file: None,
            file_dir: std::env::temp_dir().join("findash-test-mail"),
            from: "FinDash <test@findash.local>".to_owned(),
            public_base_url: Url::parse("http://127.0.0.1:8080/").expect("a literal URL"),
        },
        forecast_horizon_days: crate::forecast::DEFAULT_HORIZON_DAYS,
    }
}

/// A tenant (BRL, São Paulo) with the built-in categories.
pub fn tenant(t: &TestEngine, slug: &str) -> TenantId {
    let id: TenantId = sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO tenants (slug, name, base_currency, time_zone, locale) \
             VALUES ('{slug}', '{slug}', 'BRL', 'America/Sao_Paulo', 'pt-BR') RETURNING id::text AS value"
        ),
    )
    .parse()
    .unwrap();
    t.engine
        .db()
        .system(SystemTask::Seed, |sys| {
            Ok::<_, findash_schema::DbError>(findash_schema::categories::ensure_defaults(sys, id)?)
        })
        .unwrap();
    id
}

/// A connection of `tenant` with `settings`.
pub fn connection(
    t: &TestEngine,
    tenant: TenantId,
    provider: &str,
    external_id: &str,
    settings: &Value,
) -> ConnectionId {
    sql::text(
        &mut t.db.admin_conn(),
        &format!(
            "INSERT INTO provider_connections (tenant_id, provider, external_id, display_name, settings) \
             VALUES ('{tenant}', '{provider}', '{external_id}', '{provider} test', '{settings}') \
             RETURNING id::text AS value"
        ),
    )
    .parse()
    .unwrap()
}
