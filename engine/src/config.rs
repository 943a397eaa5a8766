use secrecy::SecretString;

/// The engine's section of the configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `REDIS_URL`: apalis queues, rate-limit buckets, cache. May carry a password.
    pub redis_url: SecretString,
    /// `SENTRY_DSN`: where errors, panics and cron check-ins go; unset disables Sentry.
    pub sentry_dsn: Option<SecretString>,
}
