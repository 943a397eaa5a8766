use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{APP_ROLE, SYSTEM_ROLE};
use crate::DbError;

/// The `DATABASE_*` section of the configuration.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: a role that may create the database, run migrations and create roles.
    pub url: SecretString,
    /// `DATABASE_APP_URL`: how the app pool logs in. Unset: `url` with its user replaced by
    /// [`APP_ROLE`] and its password dropped (trust, peer or certificate authentication).
    pub app_url: Option<SecretString>,
    /// `DATABASE_SYSTEM_URL`: the same for the system pool and [`SYSTEM_ROLE`].
    pub system_url: Option<SecretString>,
    /// `DATABASE_POOL_SIZE`: connections per pool and process.
    pub pool_size: u32,
    /// How long a caller waits for a pooled connection before getting an error.
    pub checkout_timeout: Duration,
}

impl DatabaseConfig {
    /// A configuration with the defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            app_url: None,
            system_url: None,
            pool_size: 10,
            checkout_timeout: Duration::from_secs(10),
        }
    }

    /// The URL the app pool logs in with (see [`DatabaseConfig::app_url`]).
    pub fn app_pool_url(&self) -> Result<SecretString, DbError> {
        self.login_url(self.app_url.as_ref(), APP_ROLE)
    }

    /// The URL the system pool logs in with (see [`DatabaseConfig::system_url`]).
    pub fn system_pool_url(&self) -> Result<SecretString, DbError> {
        self.login_url(self.system_url.as_ref(), SYSTEM_ROLE)
    }

    fn login_url(
        &self,
        explicit: Option<&SecretString>,
        role: &str,
    ) -> Result<SecretString, DbError> {
        if let Some(url) = explicit {
            return Ok(url.clone());
        }
        let mut url = parse_postgres_url(self.url.expose_secret())?;
        url.set_username(role)
            .and_then(|()| url.set_password(None))
            .map_err(|()| DbError::InvalidUrl("DATABASE_URL has no host".into()))?;
        Ok(SecretString::from(String::from(url)))
    }

    /// The database name in `DATABASE_URL`.
    pub fn database_name(&self) -> Result<String, DbError> {
        database_name(&parse_postgres_url(self.url.expose_secret())?)
    }
}

pub(crate) fn parse_postgres_url(raw: &str) -> Result<Url, DbError> {
    // The URL may carry a password: errors name the problem, never the URL.
    let url = Url::parse(raw).map_err(|e| DbError::InvalidUrl(e.to_string()))?;
    match url.scheme() {
        "postgres" | "postgresql" => Ok(url),
        other => Err(DbError::InvalidUrl(format!(
            "scheme `{other}` is not postgres:// or postgresql://"
        ))),
    }
}

pub(crate) fn database_name(url: &Url) -> Result<String, DbError> {
    let name = url.path().trim_start_matches('/');
    if name.is_empty() {
        return Err(DbError::InvalidUrl("the URL names no database".into()));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        || name.len() > 63
    {
        return Err(DbError::InvalidUrl(format!(
            "database name `{name}` must be at most 63 of [A-Za-z0-9_-]"
        )));
    }
    Ok(name.to_owned())
}
