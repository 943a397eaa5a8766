//! FinDash job types and their domain logic.
//!
//! Owns what the jobs do: bank data providers (Belvo, Pluggy, Open Finance Brasil, sandbox) and
//! sync, FX rates, categorization, forecast, data-quality checks, email, webhook processing,
//! change sets and the daily pipeline. It runs on the engine (`findash-engine`) and stores through
//! `findash-schema`; it never serves HTTP.
//!
//! So far it registers the engine's built-in jobs; the domain jobs arrive with their issues.

mod config;

pub use config::{EmailConfig, JobsConfig, ProviderCredentials, ProvidersConfig};

/// Every job type of this build, for every role: workers run them, the dispatcher and the
/// scheduler need to know which kinds exist, and the CLI and API validate payloads with them.
pub fn registry() -> findash_engine::Registry {
    findash_engine::builtin::register(findash_engine::Registry::new())
}
