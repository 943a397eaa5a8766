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
    "SMTP_CA_FILE",
    "EMAIL_FILE_DIR",
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
        "PUBLIC_BASE_URL" => without_password(config.web.public_base_url.as_str()),
        "BELVO_BASE_URL" => without_password(config.jobs.providers.belvo_base_url.as_str()),
        "PLUGGY_BASE_URL" => without_password(config.jobs.providers.pluggy_base_url.as_str()),
        "OPENFINANCE_BASE_URL" => config
            .jobs
            .providers
            .openfinance_base_url
            .as_ref()
            .map(|u| without_password(u.as_str()))
            .unwrap_or_default(),
        "EMAIL_FROM" => config.jobs.email.from.clone(),
        "SMTP_CA_FILE" => config
            .jobs
            .email
            .ca_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        "EMAIL_FILE_DIR" => config.jobs.email.file_dir.display().to_string(),
        "ADMIN_EMAIL" => config.admin.email.clone(),
        "RUST_LOG" => std::env::var("RUST_LOG").unwrap_or_default(),
        _ => String::new(),
    }
}

/// A URL with its credentials masked: which server, never the secret. Masks the userinfo
/// password and every query parameter but a short list of harmless connection options.
fn without_password(raw: &str) -> String {
    const HARMLESS: &[&str] = &[
        "sslmode",
        "connect_timeout",
        "application_name",
        "target_session_attrs",
    ];
    let Ok(mut url) = Url::parse(raw) else {
        return "(unparseable)".to_owned();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let shown = if HARMLESS.contains(&k.as_ref()) {
                    v.into_owned()
                } else {
                    "***".to_owned()
                };
                (k.into_owned(), shown)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}
