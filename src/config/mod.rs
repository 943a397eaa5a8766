//! The configuration: read from the environment (and `.env` outside staging and production)
//! once, checked as a whole, and split into the typed section each crate owns.
//!
//! Every problem is collected and reported together, each with its variable's name, so a bad
//! deploy fails once with the full list. Secrets are held as `SecretString`: their `Debug`
//! output is redacted and they are never echoed in messages.

mod env;
mod rules;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use findash_engine::EngineConfig;
use findash_jobs::{EmailConfig, JobsConfig, ProvidersConfig};
use findash_schema::DatabaseConfig;
use findash_schema::seed::{DEFAULT_ADMIN_EMAIL, DemoAdmin};
use findash_web::auth::JwtKeys;
use findash_web::limits::{Quota, TrustedProxies};
use findash_web::{WebConfig, WebhookConfig};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub use env::EnvSource;
use env::Reader;

/// Every variable the configuration reads. `.env.example` documents exactly these.
pub const VARIABLES: &[&str] = &[
    "FINDASH_ENV",
    "DATABASE_URL",
    "DATABASE_APP_URL",
    "DATABASE_SYSTEM_URL",
    "DATABASE_POOL_SIZE",
    "REDIS_URL",
    "BIND_ADDR",
    "DASHBOARD_ORIGIN",
    "API_RATE_LIMIT_IP",
    "API_RATE_LIMIT_TENANT",
    "TRUSTED_PROXIES",
    "API_CACHE",
    "PUBLIC_BASE_URL",
    "JWT_SECRET",
    "JWT_SECRET_PREVIOUS",
    "ENCRYPTION_KEY",
    "ENCRYPTION_KEY_PREVIOUS",
    "SENTRY_DSN",
    "STRIPE_WEBHOOK_SECRET",
    "QSTASH_CURRENT_SIGNING_KEY",
    "QSTASH_NEXT_SIGNING_KEY",
    "MERCADOPAGO_WEBHOOK_SECRET",
    "STRIPE_WEBHOOK_SECRET_PREVIOUS",
    "STRIPE_WEBHOOK_TOLERANCE_SECONDS",
    "QSTASH_CLOCK_LEEWAY_SECONDS",
    "MERCADOPAGO_WEBHOOK_TOLERANCE_SECONDS",
    "MERCADOPAGO_BASE_URL",
    "WEBHOOK_RATE_LIMIT",
    "BELVO_SECRET_ID",
    "BELVO_SECRET_PASSWORD",
    "BELVO_BASE_URL",
    "PLUGGY_CLIENT_ID",
    "PLUGGY_CLIENT_SECRET",
    "PLUGGY_BASE_URL",
    "OPENFINANCE_BASE_URL",
    "ECB_BASE_URL",
    "SMTP_URL",
    "SMTP_CA_FILE",
    "EMAIL_FILE_DIR",
    "EMAIL_FROM",
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "REDIS_NAMESPACE",
    "DISPATCH_WINDOW",
    "RATE_LIMITS",
    "CRON_SCHEDULES",
    "JOB_LEASE",
    "JOB_RETENTION_SUCCEEDED",
    "JOB_RETENTION_FAILED",
    "WORKER_SHUTDOWN_TIMEOUT",
    "FORECAST_HORIZON_DAYS",
    "RUST_LOG",
];

/// Where the process runs. Staging and production are "deployed": they refuse missing or weak
/// secrets instead of generating them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Staging,
    Production,
}

impl Environment {
    pub fn is_deployed(self) -> bool {
        matches!(self, Environment::Staging | Environment::Production)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "development" => Ok(Environment::Development),
            "test" => Ok(Environment::Test),
            "staging" => Ok(Environment::Staging),
            "production" => Ok(Environment::Production),
            other => Err(format!(
                "`{other}` is not one of development, test, staging, production"
            )),
        }
    }
}

/// One thing wrong with the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub var: &'static str,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.var, self.message)
    }
}

/// Every problem found, in variable order.
#[derive(Debug)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the configuration has {} problem(s):", self.0.len())?;
        for problem in &self.0 {
            writeln!(f, "  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// How a variable got its value, for `findash check-config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Set,
    Default,
    Generated,
    Unset,
}

/// The whole configuration, one section per crate.
#[derive(Debug, Clone)]
pub struct Config {
    pub env: Environment,
    pub database: DatabaseConfig,
    pub engine: EngineConfig,
    pub jobs: JobsConfig,
    pub web: WebConfig,
    pub admin: DemoAdmin,
    /// How each variable got its value.
    pub origins: BTreeMap<&'static str, Origin>,
    /// Things worth a log line at start-up (generated secrets, a loaded `.env`).
    pub notes: Vec<String>,
}

impl Config {
    /// Parses and checks the environment.
    pub fn from_env(source: &EnvSource) -> Result<Config, Problems> {
        let mut r = Reader::new(source);
        let env: Environment = r.parse("FINDASH_ENV", Environment::Development);
        r.set_environment(env);
        let deployed = env.is_deployed();

        let database = DatabaseConfig {
            url: secret_url(r.required_url(
                "DATABASE_URL",
                (!deployed).then_some("postgres://postgres@localhost:5432/findash"),
                POSTGRES,
            )),
            app_url: r.url("DATABASE_APP_URL", None, POSTGRES).map(secret_url_of),
            system_url: r
                .url("DATABASE_SYSTEM_URL", None, POSTGRES)
                .map(secret_url_of),
            pool_size: r.parse_in("DATABASE_POOL_SIZE", 10_u32, 1..=200),
            checkout_timeout: Duration::from_secs(10),
        };

        let engine = engine_config(&mut r, deployed, env);

        let bind_addr: SocketAddr = r.parse("BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)));
        let public_default = (!deployed).then(|| format!("http://{bind_addr}"));
        let public_base_url = r
            .required_url(
                "PUBLIC_BASE_URL",
                public_default.as_deref(),
                if deployed {
                    &["https"]
                } else {
                    &["http", "https"]
                },
            )
            .unwrap_or_else(placeholder_url);

        let jwt_current = r.signing_secret("JWT_SECRET", true);
        let jwt_previous = r.signing_secret("JWT_SECRET_PREVIOUS", false);
        if let (Some(current), Some(previous)) = (&jwt_current, &jwt_previous)
            && current.expose_secret() == previous.expose_secret()
        {
            r.problem(
                "JWT_SECRET_PREVIOUS",
                "equals JWT_SECRET; set it to the secret being rotated out",
            );
        }
        let encryption_key = r.encryption_key("ENCRYPTION_KEY");
        let encryption_keys_previous =
            r.previous_encryption_keys("ENCRYPTION_KEY_PREVIOUS", encryption_key.as_ref());

        let webhooks = WebhookConfig {
            stripe: r.prefixed_secret("STRIPE_WEBHOOK_SECRET", "whsec_"),
            stripe_previous: r.prefixed_secret("STRIPE_WEBHOOK_SECRET_PREVIOUS", "whsec_"),
            stripe_tolerance_seconds: r.parse_in("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300, 1..=3600),
            qstash_current: r.plain_secret("QSTASH_CURRENT_SIGNING_KEY"),
            qstash_next: r.plain_secret("QSTASH_NEXT_SIGNING_KEY"),
            qstash_leeway_seconds: r.parse_in("QSTASH_CLOCK_LEEWAY_SECONDS", 5, 0..=300),
            mercadopago: r.plain_secret("MERCADOPAGO_WEBHOOK_SECRET"),
            mercadopago_tolerance_seconds: r.parse_in(
                "MERCADOPAGO_WEBHOOK_TOLERANCE_SECONDS",
                300,
                1..=3600,
            ),
        };
        if webhooks.stripe_previous.is_some() && webhooks.stripe.is_none() {
            r.problem(
                "STRIPE_WEBHOOK_SECRET",
                "is required when STRIPE_WEBHOOK_SECRET_PREVIOUS is set",
            );
        }
        if webhooks.qstash_next.is_some() && webhooks.qstash_current.is_none() {
            r.problem(
                "QSTASH_CURRENT_SIGNING_KEY",
                "is required when QSTASH_NEXT_SIGNING_KEY is set",
            );
        }

        let providers = ProvidersConfig {
            belvo_base_url: r
                .url(
                    "BELVO_BASE_URL",
                    Some(if env == Environment::Production {
                        "https://api.belvo.com"
                    } else {
                        "https://sandbox.belvo.com"
                    }),
                    &["http", "https"],
                )
                .unwrap_or_else(placeholder_url),
            belvo: r.credential_pair("BELVO_SECRET_ID", "BELVO_SECRET_PASSWORD"),
            pluggy_base_url: r
                .url(
                    "PLUGGY_BASE_URL",
                    Some("https://api.pluggy.ai"),
                    &["http", "https"],
                )
                .unwrap_or_else(placeholder_url),
            pluggy: r.credential_pair("PLUGGY_CLIENT_ID", "PLUGGY_CLIENT_SECRET"),
            openfinance_base_url: r.url("OPENFINANCE_BASE_URL", None, &["http", "https"]),
            ecb_base_url: r
                .url(
                    "ECB_BASE_URL",
                    Some("https://www.ecb.europa.eu/stats/eurofxref/"),
                    &["http", "https"],
                )
                .unwrap_or_else(placeholder_url),
            mercadopago_base_url: r
                .url(
                    "MERCADOPAGO_BASE_URL",
                    Some("https://api.mercadopago.com"),
                    &["http", "https"],
                )
                .unwrap_or_else(placeholder_url),
            encryption_key: encryption_key.unwrap_or_else(|| SecretString::from(String::new())),
            encryption_keys_previous,
        };

        let email = email_config(&mut r, deployed, &public_base_url);

        let forecast_horizon_days = r.parse_in(
            "FORECAST_HORIZON_DAYS",
            findash_jobs::forecast::DEFAULT_HORIZON_DAYS,
            1..=findash_jobs::forecast::MAX_HORIZON_DAYS,
        );

        let admin = DemoAdmin {
            email: r.email("ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL),
            password: r.admin_password("ADMIN_PASSWORD"),
        };
        r.mark_passthrough("RUST_LOG");

        let dashboard_origin = dashboard_origin(&mut r, deployed);
        let ip_quota = r.parse("API_RATE_LIMIT_IP", default_quota("600/m:120"));
        let tenant_quota = r.parse("API_RATE_LIMIT_TENANT", default_quota("1200/m:240"));
        let webhook_quota = r.parse("WEBHOOK_RATE_LIMIT", default_quota("3000/m:600"));
        let trusted_proxies = r.parse("TRUSTED_PROXIES", TrustedProxies::default());
        let cache = r.parse("API_CACHE", true);
        let web = WebConfig {
            bind_addr,
            public_base_url,
            jwt: JwtKeys {
                current: jwt_current.unwrap_or_else(|| SecretString::from(String::new())),
                previous: jwt_previous,
            },
            webhooks,
            https_only: !matches!(env, Environment::Development | Environment::Test),
            dashboard_origin,
            webhook_quota,
            ip_quota,
            tenant_quota,
            trusted_proxies,
            cache,
        };

        let (origins, notes) = r.finish()?;
        Ok(Config {
            env,
            database,
            engine,
            jobs: JobsConfig {
                providers,
                email,
                forecast_horizon_days,
            },
            web,
            admin,
            origins,
            notes,
        })
    }

    /// Whether `var`'s value was made up for this process.
    pub fn generated(&self, var: &str) -> bool {
        self.origins.get(var) == Some(&Origin::Generated)
    }

    /// Loads the process environment (and `.env` in `dir` outside staging/production).
    pub fn load(dir: &Path) -> Result<Config, Problems> {
        Config::from_env(&EnvSource::from_process(dir))
    }
}

const POSTGRES: &[&str] = &["postgres", "postgresql"];

fn secret_url_of(url: Url) -> SecretString {
    SecretString::from(String::from(url))
}

/// A URL that failed to parse or is missing stands in as an empty secret; the problem is
/// already recorded, so the config is never returned with it.
fn secret_url(url: Option<Url>) -> SecretString {
    url.map_or_else(|| SecretString::from(String::new()), secret_url_of)
}

/// Stands in for a URL that failed to parse; the problem is already recorded, so the config
/// is never returned with it.
fn placeholder_url() -> Url {
    Url::parse("http://invalid.invalid/").unwrap_or_else(|_| unreachable!("a valid literal URL"))
}

#[cfg(test)]
mod tests;

fn default_quota(quota: &str) -> Quota {
    // The defaults are literals of the documented form.
    quota.parse().unwrap_or(Quota {
        count: std::num::NonZeroU32::MIN,
        period: Duration::from_secs(1),
        burst: std::num::NonZeroU32::MIN,
    })
}

/// `DASHBOARD_ORIGIN`: `scheme://host[:port]` and nothing more (https when deployed); the
/// Next.js dev server's origin in development.
fn dashboard_origin(r: &mut Reader<'_>, deployed: bool) -> Option<String> {
    let default = (!deployed).then_some("http://localhost:3000");
    let schemes: &[&str] = if deployed {
        &["https"]
    } else {
        &["http", "https"]
    };
    let url = r.url("DASHBOARD_ORIGIN", default, schemes)?;
    let origin = url.origin().ascii_serialization();
    if url.as_str().trim_end_matches('/') != origin {
        r.problem(
            "DASHBOARD_ORIGIN",
            "must be an origin (scheme://host[:port]) without a path, query or credentials",
        );
        return None;
    }
    Some(origin)
}

/// `SMTP_URL` (checked as the transport will read it, without echoing it), `SMTP_CA_FILE`,
/// `EMAIL_FILE_DIR`, `EMAIL_FROM`.
fn email_config(r: &mut Reader<'_>, deployed: bool, public_base_url: &Url) -> EmailConfig {
    let smtp_url = r.required_url("SMTP_URL", None, &["smtp", "smtps"]);
    if let Some(url) = &smtp_url
        && let Err(e) = findash_jobs::email::transport::SmtpTarget::parse(url.as_str(), !deployed)
    {
        r.problem(
            "SMTP_URL",
            e.to_string().trim_start_matches("SMTP_URL ").to_owned(),
        );
    }
    let ca_file = r.existing_file("SMTP_CA_FILE");
    EmailConfig {
        smtp_url: smtp_url.map(secret_url_of),
        allow_plaintext: !deployed,
        ca_file,
        file_dir: r.parse("EMAIL_FILE_DIR", PathBuf::from("var/mail")),
        from: r.mailbox(
            "EMAIL_FROM",
            (!deployed).then_some("FinDash <no-reply@findash.local>"),
        ),
        public_base_url: public_base_url.clone(),
    }
}

fn engine_config(r: &mut Reader<'_>, deployed: bool, env: Environment) -> EngineConfig {
    let redis_url = secret_url(r.required_url(
        "REDIS_URL",
        (!deployed).then_some("redis://127.0.0.1:6379"),
        &["redis", "rediss"],
    ));
    let mut engine = EngineConfig::new(redis_url);
    engine.sentry_dsn = r.sentry_dsn("SENTRY_DSN");
    engine.environment = env.as_str().to_owned();
    engine.redis_namespace = r.parse("REDIS_NAMESPACE", engine.redis_namespace.clone());
    if !engine
        .redis_namespace
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_:.".contains(c))
        || engine.redis_namespace.is_empty()
    {
        r.problem(
            "REDIS_NAMESPACE",
            "must be non-empty letters, digits, `-`, `_`, `:` or `.`",
        );
    }
    engine.dispatch_window = r.parse_in("DISPATCH_WINDOW", engine.dispatch_window, 1..=100_000);
    engine.rate_limits = r.parse("RATE_LIMITS", String::new());
    if let Err(e) = findash_engine::ratelimit::RateLimits::parse(&engine.rate_limits) {
        r.problem("RATE_LIMITS", e);
    }
    engine.cron_overrides = r.parse("CRON_SCHEDULES", String::new());
    if let Err(problems) = findash_engine::cron::apply_overrides(
        findash_engine::cron::default_schedules(),
        &engine.cron_overrides,
    ) {
        r.problem("CRON_SCHEDULES", problems.join("; "));
    }
    let duration = |r: &mut Reader<'_>, var: &'static str, default: Duration| -> Duration {
        let value: humantime::Duration = r.parse(var, default.into());
        let value: Duration = value.into();
        if value.is_zero() {
            r.problem(var, "must be more than zero");
            return default;
        }
        value
    };
    engine.lease = duration(r, "JOB_LEASE", engine.lease);
    if engine.lease < Duration::from_secs(1) {
        r.problem("JOB_LEASE", "must be at least 1s");
    }
    // Derived from the lease: renew it six times per lease, look for expired ones twice per
    // lease, and suspect Redis lost a dispatched job after half a lease unclaimed.
    engine.heartbeat = (engine.lease / 6).max(Duration::from_millis(100));
    engine.reconcile_every =
        (engine.lease / 2).clamp(Duration::from_millis(500), Duration::from_secs(5));
    engine.lost_dispatch_after = (engine.lease / 2).max(Duration::from_secs(1));
    engine.retention_succeeded = duration(r, "JOB_RETENTION_SUCCEEDED", engine.retention_succeeded);
    engine.retention_failed = duration(r, "JOB_RETENTION_FAILED", engine.retention_failed);
    engine.shutdown_timeout = duration(r, "WORKER_SHUTDOWN_TIMEOUT", engine.shutdown_timeout);
    engine
}
