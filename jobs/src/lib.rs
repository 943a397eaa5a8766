//! FinDash job types and their domain logic.
//!
//! Owns what the jobs do: bank data providers (Belvo, Pluggy, Open Finance Brasil, sandbox) and
//! sync, FX rates, categorization, forecast, data-quality checks, email, webhook processing,
//! change sets and the daily pipeline. It runs on the engine (`findash-engine`) and stores through
//! `findash-schema`; it never serves HTTP.
//!
//! So far it holds its configuration sections; the jobs arrive with their issues.

mod config;

pub use config::{EmailConfig, JobsConfig, ProviderCredentials, ProvidersConfig};
