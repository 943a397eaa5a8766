use std::collections::BTreeSet;

use super::*;

const STRONG: &str = "k7Q2vX9mR4tL8wN1pZ6sB3yH5cJ0dF2g";
const KEY: &str = "q83vEjXbYHf0mkX4dJX1H7QK5Yl3JZ8m3cVZb6n9rTI=";

fn production() -> Vec<(&'static str, &'static str)> {
    vec![
        ("FINDASH_ENV", "production"),
        ("REDIS_URL", "rediss://default:pw@redis.internal:6380"),
        (
            "DATABASE_URL",
            "postgres://findash:pw@db.internal:5432/findash",
        ),
        ("PUBLIC_BASE_URL", "https://api.findash.example"),
        ("JWT_SECRET", STRONG),
        ("ENCRYPTION_KEY", KEY),
        ("SMTP_URL", "smtps://mailer:pw@smtp.example.com:465"),
        ("EMAIL_FROM", "FinDash <no-reply@findash.example>"),
    ]
}

fn vars(pairs: &[(&'static str, &'static str)]) -> Vec<&'static str> {
    let mut vars: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    vars.sort_unstable();
    vars
}

fn problems(pairs: &[(&'static str, &'static str)]) -> Vec<Problem> {
    match Config::from_env(&EnvSource::from_pairs(pairs.iter().copied())) {
        Ok(_) => panic!("expected problems"),
        Err(Problems(problems)) => problems,
    }
}

fn load(pairs: &[(&'static str, &'static str)]) -> Config {
    match Config::from_env(&EnvSource::from_pairs(pairs.iter().copied())) {
        Ok(config) => config,
        Err(problems) => panic!("unexpected problems: {problems}"),
    }
}

#[test]
fn development_needs_nothing_and_generates_its_secrets() {
    let config = Config::from_env(&EnvSource::default()).unwrap();
    assert_eq!(config.env, Environment::Development);
    assert!(config.generated("JWT_SECRET") && config.generated("ENCRYPTION_KEY"));
    assert!(
        config
            .notes
            .iter()
            .any(|n| n.contains("JWT_SECRET is not set"))
    );
    assert!(rules::weakness(config.web.jwt.current.expose_secret()).is_none());
    assert!(
        rules::check_encryption_key(config.jobs.providers.encryption_key.expose_secret()).is_ok()
    );
    assert_eq!(config.web.bind_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(
        config.web.public_base_url.as_str(),
        "http://127.0.0.1:8080/"
    );
    assert_eq!(config.database.database_name().unwrap(), "findash");
    assert!(!config.web.https_only);
}

#[test]
fn a_complete_production_environment_is_accepted() {
    let config = Config::from_env(&EnvSource::from_pairs(production())).unwrap();
    assert_eq!(config.env, Environment::Production);
    assert!(config.origins.values().all(|o| *o != Origin::Generated));
    assert!(config.web.https_only);
    assert_eq!(
        config.jobs.providers.belvo_base_url.as_str(),
        "https://api.belvo.com/"
    );
}

#[test]
fn production_reports_every_missing_secret_at_once() {
    let found = problems(&[("FINDASH_ENV", "production")]);
    let named = vars(&found.iter().map(|p| (p.var, "")).collect::<Vec<_>>());
    assert_eq!(
        named,
        [
            "DATABASE_URL",
            "EMAIL_FROM",
            "ENCRYPTION_KEY",
            "JWT_SECRET",
            "PUBLIC_BASE_URL",
            "REDIS_URL",
            "SMTP_URL"
        ]
    );
    assert!(
        found
            .iter()
            .all(|p| p.message.contains("required in production")),
        "{found:?}"
    );
}

#[test]
fn weak_and_malformed_values_are_named_without_echoing_secrets() {
    let mut env = production();
    env.retain(|(k, _)| !matches!(*k, "JWT_SECRET" | "ENCRYPTION_KEY" | "PUBLIC_BASE_URL"));
    env.extend([
        ("JWT_SECRET", "changeme-changeme-changeme-changeme"),
        ("ENCRYPTION_KEY", "c2hvcnQ="),
        ("PUBLIC_BASE_URL", "http://api.findash.example"),
        ("BIND_ADDR", "localhost:http"),
        ("DATABASE_POOL_SIZE", "0"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("STRIPE_WEBHOOK_SECRET", "sk_live_not_a_webhook_secret"),
        ("BELVO_SECRET_ID", "id-only"),
        ("ADMIN_PASSWORD", "pw-9x"),
    ]);
    let found = problems(&env);
    let named: BTreeSet<&str> = found.iter().map(|p| p.var).collect();
    let expected: BTreeSet<&str> = [
        "JWT_SECRET",
        "ENCRYPTION_KEY",
        "PUBLIC_BASE_URL",
        "BIND_ADDR",
        "DATABASE_POOL_SIZE",
        "REDIS_URL",
        "STRIPE_WEBHOOK_SECRET",
        "BELVO_SECRET_PASSWORD",
        "ADMIN_PASSWORD",
    ]
    .into();
    assert_eq!(named, expected, "{found:#?}");
    let text = Problems(found).to_string();
    for secret in ["changeme-changeme", "sk_live_not", "pw-9x", "c2hvcnQ"] {
        assert!(!text.contains(secret), "a message echoes a secret: {text}");
    }
}

#[test]
fn previous_jwt_secret_must_differ_from_the_current_one() {
    let mut env = production();
    env.push(("JWT_SECRET_PREVIOUS", STRONG));
    let found = problems(&env);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].var, "JWT_SECRET_PREVIOUS");
}

#[test]
fn database_url_must_be_postgres_and_the_pools_swap_in_their_roles() {
    let found = problems(&[("DATABASE_URL", "mysql://root@localhost/findash")]);
    assert_eq!(found[0].var, "DATABASE_URL");

    let config = Config::from_env(&EnvSource::from_pairs([(
        "DATABASE_URL",
        "postgres://postgres:hunter2@db:5432/books",
    )]))
    .unwrap();
    assert_eq!(
        config.database.app_pool_url().unwrap().expose_secret(),
        "postgres://findash_app@db:5432/books"
    );
    assert_eq!(
        config.database.system_pool_url().unwrap().expose_secret(),
        "postgres://findash_system@db:5432/books"
    );

    let explicit = Config::from_env(&EnvSource::from_pairs([
        ("DATABASE_URL", "postgres://postgres:hunter2@db:5432/books"),
        ("DATABASE_APP_URL", "postgres://app_login:pw1@db:5432/books"),
        (
            "DATABASE_SYSTEM_URL",
            "postgres://system_login:pw2@db:5432/books",
        ),
    ]))
    .unwrap();
    assert_eq!(
        explicit.database.app_pool_url().unwrap().expose_secret(),
        "postgres://app_login:pw1@db:5432/books"
    );
    assert_eq!(
        explicit.database.system_pool_url().unwrap().expose_secret(),
        "postgres://system_login:pw2@db:5432/books"
    );
}

#[test]
fn secrets_are_trimmed_like_every_other_value() {
    let mut env = production();
    env.retain(|(k, _)| *k != "JWT_SECRET");
    let padded = format!("{STRONG}\n");
    env.push(("JWT_SECRET", Box::leak(padded.into_boxed_str())));
    let config = Config::from_env(&EnvSource::from_pairs(env)).unwrap();
    assert_eq!(config.web.jwt.current.expose_secret(), STRONG);
}

#[test]
fn env_example_documents_exactly_the_variables_read() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example")).unwrap();
    let documented: BTreeSet<&str> = example
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    let read: BTreeSet<&str> = VARIABLES.iter().copied().collect();
    assert_eq!(documented, read);
}

#[test]
fn http_limits_origins_and_proxies_are_checked() {
    let mut env = production();
    env.extend([
        ("DASHBOARD_ORIGIN", "https://app.findash.example/dashboard"),
        ("API_RATE_LIMIT_IP", "lots"),
        ("API_RATE_LIMIT_TENANT", "10/d"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, nowhere"),
    ]);
    let named: BTreeSet<&str> = problems(&env).iter().map(|p| p.var).collect();
    let expected: BTreeSet<&str> = [
        "DASHBOARD_ORIGIN",
        "API_RATE_LIMIT_IP",
        "API_RATE_LIMIT_TENANT",
        "TRUSTED_PROXIES",
    ]
    .into();
    assert_eq!(named, expected);

    let mut env = production();
    env.extend([
        ("DASHBOARD_ORIGIN", "https://app.findash.example"),
        ("API_RATE_LIMIT_IP", "50/s:100"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,192.168.0.1"),
    ]);
    let web = load(&env).web;
    assert_eq!(
        web.dashboard_origin.as_deref(),
        Some("https://app.findash.example")
    );
    assert_eq!(web.ip_quota.to_string(), "50/s:100");
    assert_eq!(web.tenant_quota.to_string(), "1200/m:240");
    assert!(web.trusted_proxies.contains("10.4.4.4".parse().unwrap()));
    // Deployed without a dashboard origin: no browser origin at all; plain http is refused.
    assert_eq!(load(&production()).web.dashboard_origin, None);
    let mut env = production();
    env.push(("DASHBOARD_ORIGIN", "http://app.findash.example"));
    assert!(problems(&env).iter().any(|p| p.var == "DASHBOARD_ORIGIN"));
}

#[test]
fn forecast_horizon_is_a_day_count_within_two_years() {
    assert_eq!(load(&production()).jobs.forecast_horizon_days, 90);
    let mut env = production();
    env.push(("FORECAST_HORIZON_DAYS", "180"));
    assert_eq!(load(&env).jobs.forecast_horizon_days, 180);
    for bad in ["0", "731", "ninety", "-5"] {
        let mut env = production();
        env.push(("FORECAST_HORIZON_DAYS", bad));
        let named: Vec<&str> = problems(&env).iter().map(|p| p.var).collect();
        assert_eq!(named, ["FORECAST_HORIZON_DAYS"], "{bad}");
    }
}

#[test]
fn email_transport_settings_are_checked_without_echoing_credentials() {
    // Development without SMTP_URL writes files under var/mail.
    let config = load(&[]);
    assert!(config.jobs.email.smtp_url.is_none());
    assert_eq!(config.jobs.email.file_dir, PathBuf::from("var/mail"));
    assert!(config.jobs.email.allow_plaintext);
    let config = load(&[
        ("SMTP_URL", "smtp://127.0.0.1:2525?tls=none"),
        ("EMAIL_FILE_DIR", "/tmp/findash-mail"),
    ]);
    assert!(config.jobs.email.smtp_url.is_some());
    assert_eq!(
        config.jobs.email.file_dir,
        PathBuf::from("/tmp/findash-mail")
    );

    // A plain relay is refused when deployed, and so are a missing CA file and an unknown option.
    let mut env = production();
    env.retain(|(k, _)| *k != "SMTP_URL");
    env.extend([
        (
            "SMTP_URL",
            "smtp://mailer:hunter2@relay.internal:25?tls=none",
        ),
        ("SMTP_CA_FILE", "/nonexistent/ca.pem"),
    ]);
    let found = problems(&env);
    let named: BTreeSet<&str> = found.iter().map(|p| p.var).collect();
    assert_eq!(named, ["SMTP_CA_FILE", "SMTP_URL"].into(), "{found:?}");
    assert!(!Problems(found).to_string().contains("hunter2"));
    let found = problems(&[("SMTP_URL", "smtp://relay.internal?tls=sometimes")]);
    assert_eq!(found[0].var, "SMTP_URL");
    let mut env = production();
    env.retain(|(k, _)| *k != "SMTP_URL");
    env.push(("SMTP_URL", "smtp://mailer:pw@smtp.example.com:587"));
    assert!(!load(&env).jobs.email.allow_plaintext);
}
