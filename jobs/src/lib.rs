//! FinDash job types and their domain logic.
//!
//! Owns what the jobs do: bank data providers (Belvo, Pluggy, Open Finance Brasil, sandbox) and
//! sync, FX rates, categorization, webhook processing into revenue, the cash-flow forecast, and
//! (with their issues) data-quality checks, email, change sets and the daily pipeline. It runs on the engine
//! (`findash-engine`) and stores through `findash-schema`; it never serves HTTP.

pub mod categorize;
mod config;
pub mod credentials;
pub mod dq;
pub mod email;
pub mod forecast;
pub mod money;
pub mod pipeline;
pub mod providers;
pub mod rates;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhooks;

pub use config::{EmailConfig, JobsConfig, ProviderCredentials, ProvidersConfig};

/// Why the job types cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialError),
    #[error(transparent)]
    Email(#[from] email::EmailSetupError),
}

/// Every job type of this build, with what they need, for every role: workers run them, the
/// dispatcher and the scheduler need to know which kinds exist, and the CLI and API validate
/// payloads with them. The unsubscribe key is there for the web layer's unsubscribe page too.
pub fn registry(config: &JobsConfig) -> Result<findash_engine::Registry, SetupError> {
    let sealer = credentials::Sealer::new(
        &config.providers.encryption_key,
        &config.providers.encryption_keys_previous,
    )?;
    let unsubscribe = email::UnsubscribeKey::derive_rotating(
        &config.providers.encryption_key,
        &config.providers.encryption_keys_previous,
    )
    .map_err(email::EmailSetupError::from)?;
    let mailer = email::Mailer::new(&config.email, unsubscribe.clone())?;
    Ok(
        findash_engine::builtin::register(findash_engine::Registry::new())
            .register::<sync::SyncConnection>()
            .register::<sync::SyncAccountJob>()
            .register::<categorize::Categorize>()
            .register::<rates::RefreshRates>()
            .register::<webhooks::ProcessWebhook>()
            .register::<dq::DqCheck>()
            .register::<dq::DqAll>()
            .register::<pipeline::SyncAll>()
            .register::<pipeline::DailyPipeline>()
            .register::<forecast::Forecast>()
            .register::<forecast::ForecastAll>()
            .register::<email::DailySummary>()
            .register::<email::DailySummaryAll>()
            .register::<email::SendEmail>()
            .provide(providers::Providers::new(config.providers.clone()))
            .provide(sealer)
            .provide(forecast::ForecastSettings {
                horizon_days: config.forecast_horizon_days,
            })
            .provide(mailer)
            .provide(unsubscribe),
    )
}
