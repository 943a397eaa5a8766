//! `findash payments …` and `findash webhooks replay`: linking payment accounts to tenants and
//! replaying stored deliveries. Access tokens are read from a file or stdin, sealed before they
//! reach the database, and never printed.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use findash_jobs::webhooks::{self as processing, ReplayError};
use findash_schema::webhooks::{self, InboxStatus, PaymentProvider, WebhookProvider};
use findash_schema::{DbError, SystemTask, WebhookId};
use secrecy::SecretString;

use super::connections::{sealer, tenant};
use crate::config::Config;

/// A token from `source` (a path, or `-` for stdin): one line of text.
fn read_token(source: &Path) -> anyhow::Result<SecretString> {
    let mut text = String::new();
    if source == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the access token from stdin")?;
    } else {
        text = std::fs::read_to_string(source)
            .with_context(|| format!("cannot read the access token from {}", source.display()))?;
    }
    let token = text.trim();
    if token.is_empty() || token.chars().any(char::is_whitespace) {
        bail!("the access token must be one word of text");
    }
    Ok(SecretString::from(token.to_owned()))
}

/// `payments link`.
pub fn link(
    config: &Config,
    tenant_key: &str,
    provider: PaymentProvider,
    account: &str,
    access_token: Option<&Path>,
) -> anyhow::Result<()> {
    let token = access_token.map(read_token).transpose()?;
    if provider == PaymentProvider::Stripe && token.is_some() {
        bail!("Stripe events carry their objects: a Stripe account takes no access token");
    }
    let sealer = sealer(config)?;
    let db = super::open_db(config)?;
    let tenant = tenant(&db, tenant_key)?;
    let id = processing::link_account(&db, &sealer, tenant, provider, account, token.as_ref())?;
    println!(
        "linked {provider} account {account} to tenant {tenant_key} ({id}){}",
        if token.is_some() {
            "; access token sealed"
        } else {
            ""
        }
    );
    if provider == PaymentProvider::MercadoPago && token.is_none() {
        let has_token = db.system(SystemTask::Webhooks, |sys| {
            webhooks::payment_account(sys, provider, account).map_err(DbError::from)
        })?;
        if has_token.and_then(|a| a.sealed()).is_none() {
            println!(
                "warning: no access token: its payments cannot be read until one is linked (--access-token)"
            );
        }
    }
    Ok(())
}

/// `payments list`.
pub fn list_accounts(config: &Config) -> anyhow::Result<()> {
    let db = super::open_db(config)?;
    let accounts = db.system(SystemTask::Webhooks, |sys| {
        webhooks::payment_accounts(sys).map_err(DbError::from)
    })?;
    println!(
        "{:<12} {:<32} {:<36} token",
        "provider", "account", "tenant"
    );
    for account in accounts {
        println!(
            "{:<12} {:<32} {:<36} {}",
            account.provider,
            account.account_ref,
            account.tenant_id,
            if account.sealed().is_some() {
                "sealed"
            } else {
                "-"
            }
        );
    }
    Ok(())
}

/// `webhooks replay`.
pub fn replay(
    config: &Config,
    id: Option<WebhookId>,
    provider: Option<WebhookProvider>,
    status: Option<InboxStatus>,
    stuck: bool,
    since: Option<Duration>,
    limit: i64,
) -> anyhow::Result<()> {
    if id.is_none() && provider.is_none() && status.is_none() && since.is_none() && !stuck {
        bail!("name a delivery id, or filter with --provider, --status, --stuck or --since");
    }
    let since = since
        .map(|d| chrono::Duration::from_std(d).map(|d| chrono::Utc::now() - d))
        .transpose()
        .context("--since is too long")?;
    super::runtime()?.block_on(async move {
        let engine = super::engine(config).await?;
        let db = engine.db().clone();
        let ids = match id {
            Some(id) => vec![id],
            None => tokio::task::block_in_place(|| {
                db.system(SystemTask::Webhooks, |sys| {
                    webhooks::ids_where(sys, provider, status, since, stuck, limit)
                        .map_err(DbError::from)
                })
            })?,
        };
        let (mut replayed, mut failed) = (0_usize, 0_usize);
        for delivery in &ids {
            let registry = engine.registry();
            let outcome = tokio::task::block_in_place(|| {
                db.system(SystemTask::Webhooks, |sys| {
                    processing::replay(sys, registry, *delivery, None)
                })
            });
            match outcome {
                Ok(job) => {
                    replayed += 1;
                    println!("{delivery}: replaying as job {job}");
                }
                Err(ReplayError::NotFound) => {
                    failed += 1;
                    println!("{delivery}: no such delivery");
                }
                Err(e) => {
                    failed += 1;
                    println!("{delivery}: {e:#}");
                }
            }
        }
        engine.notify().await;
        println!("{replayed} replayed, {failed} failed");
        if failed > 0 {
            bail!("{failed} delivery(ies) could not be replayed");
        }
        Ok(())
    })
}
