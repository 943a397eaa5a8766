//! `findash check-config`.

use secrecy::ExposeSecret;
use url::Url;

use crate::config::{Config, Origin, Problems, VARIABLES};

/// Variables whose values may be printed.
const PLAIN: &[&str] = &[
    "FINDASH_ENV",
    "DATABASE_URL",
    "DATABASE_APP_URL",
    "REDIS_URL",
    "DATABASE_POOL_SIZE",
    "BIND_ADDR",
    "PUBLIC_BASE_URL",
    "BELVO_BASE_URL",
    "PLUGGY_BASE_URL",
    "OPENFINANCE_BASE_URL",
    "EMAIL_FROM",
    "ADMIN_EMAIL",
    "RUST_LOG",
];

/// Prints every variable's state, or every problem; `Err` means the configuration is unusable.
pub fn run(config: Result<Config, Problems>) -> Result<(), Problems> {
    let config = config?;
    println!("configuration OK for {}", config.env.as_str());
    for var in VARIABLES {
        let origin = config.origins.get(var).copied().unwrap_or(Origin::Unset);
        let shown = match origin {
            Origin::Unset => "unset".to_owned(),
            Origin::Generated => "generated for this process".to_owned(),
            Origin::Default | Origin::Set if PLAIN.contains(var) => {
                format!(
                    "{} ({})",
                    plain_value(&config, var),
                    if origin == Origin::Set {
                        "set"
                    } else {
                        "default"
                    }
                )
            }
            Origin::Default => "default".to_owned(),
            Origin::Set => "set (value hidden)".to_owned(),
        };
        println!("  {var:<28} {shown}");
    }
    for note in &config.notes {
        println!("note: {note}");
    }
    Ok(())
}

fn plain_value(config: &Config, var: &str) -> String {
    match var {
        "FINDASH_ENV" => config.env.as_str().to_owned(),
        "DATABASE_URL" => without_password(config.database.url.expose_secret()),
        "DATABASE_APP_URL" => config
            .database
            .app_url
            .as_ref()
            .map(|u| without_password(u.expose_secret()))
            .unwrap_or_default(),
        "REDIS_URL" => without_password(config.engine.redis_url.expose_secret()),
        "DATABASE_POOL_SIZE" => config.database.pool_size.to_string(),
        "BIND_ADDR" => config.web.bind_addr.to_string(),
        "PUBLIC_BASE_URL" => config.web.public_base_url.to_string(),
        "BELVO_BASE_URL" => config.jobs.providers.belvo_base_url.to_string(),
        "PLUGGY_BASE_URL" => config.jobs.providers.pluggy_base_url.to_string(),
        "OPENFINANCE_BASE_URL" => config
            .jobs
            .providers
            .openfinance_base_url
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        "EMAIL_FROM" => config.jobs.email.from.clone(),
        "ADMIN_EMAIL" => config.admin.email.clone(),
        "RUST_LOG" => std::env::var("RUST_LOG").unwrap_or_default(),
        _ => String::new(),
    }
}

/// A URL with its password masked: which server, never the credential.
fn without_password(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "(unparseable)".to_owned(),
    }
}
