//! `findash connections …` and `findash credentials rotate`: what an operator does with bank
//! connections from a shell. Credentials are read from a file or stdin, never from the command
//! line (which other users of the machine can see), sealed before they reach the database, and
//! never printed.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use findash_jobs::credentials::{self, Sealer};
use findash_schema::connections::{self, NewConnection, Provider};
use findash_schema::{ConnectionId, Db, DbError, SystemTask, TenantId, tenants};
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;

pub(super) fn sealer(config: &Config) -> anyhow::Result<Sealer> {
    let providers = &config.jobs.providers;
    Ok(Sealer::new(
        &providers.encryption_key,
        &providers.encryption_keys_previous,
    )?)
}

pub(super) fn tenant(db: &Db, key: &str) -> anyhow::Result<TenantId> {
    let found = db.system(SystemTask::Seed, |sys| {
        tenants::find_by_slug_or_id(sys, key).map_err(DbError::from)
    })?;
    Ok(found
        .with_context(|| format!("no tenant with slug or id `{key}`"))?
        .id)
}

/// Credentials from `source`: a path, or `-` for stdin. They must be a JSON object.
fn read_credentials(source: &Path) -> anyhow::Result<SecretString> {
    let mut text = String::new();
    if source == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read credentials from stdin")?;
    } else {
        text = std::fs::read_to_string(source)
            .with_context(|| format!("cannot read credentials from {}", source.display()))?;
    }
    let text = SecretString::from(text.trim().to_owned());
    // Checked without echoing a byte of it.
    match serde_json::from_str::<serde_json::Value>(text.expose_secret()) {
        Ok(value) if value.is_object() => Ok(text),
        _ => bail!("credentials must be a JSON object, e.g. {{\"access_token\": \"...\"}}"),
    }
}

/// `connections add`: a new connection of a tenant, with sealed credentials if given.
pub fn add(
    config: &Config,
    tenant_key: &str,
    provider: Provider,
    external_id: &str,
    name: &str,
    settings: &str,
    credentials: Option<&Path>,
) -> anyhow::Result<()> {
    let settings: serde_json::Value =
        serde_json::from_str(settings).context("--settings is not valid JSON")?;
    if !settings.is_object() {
        bail!("--settings must be a JSON object");
    }
    let sealer = sealer(config)?;
    let credentials = credentials.map(read_credentials).transpose()?;
    let db = super::open_db(config)?;
    let tenant = tenant(&db, tenant_key)?;
    let id = ConnectionId::new();
    let created = db.system(SystemTask::Seed, |sys| {
        connections::ensure(
            sys,
            &NewConnection {
                id,
                tenant_id: tenant,
                provider,
                external_id,
                display_name: name,
                settings: settings.clone(),
            },
        )
        .map_err(DbError::from)
    })?;
    if !created {
        bail!("the tenant already has a {provider} connection `{external_id}`");
    }
    if let Some(credentials) = credentials {
        store(&db, &sealer, tenant, id, &credentials)?;
    }
    println!("{id}");
    Ok(())
}

/// `connections set-credentials`: replaces a connection's credentials (e.g. a new Open Finance
/// access token) and lets it sync again.
pub fn set_credentials(
    config: &Config,
    tenant_key: &str,
    id: ConnectionId,
    source: &Path,
) -> anyhow::Result<()> {
    let sealer = sealer(config)?;
    let credentials = read_credentials(source)?;
    let db = super::open_db(config)?;
    let tenant = tenant(&db, tenant_key)?;
    store(&db, &sealer, tenant, id, &credentials)?;
    println!(
        "{id}: credentials sealed with key {}",
        sealer.current_key_id()
    );
    Ok(())
}

fn store(
    db: &Db,
    sealer: &Sealer,
    tenant: TenantId,
    id: ConnectionId,
    credentials: &SecretString,
) -> anyhow::Result<()> {
    let sealed = sealer.seal(tenant, id, credentials);
    let stored = db.tenant(tenant, |scope| {
        let stored = connections::set_credentials(scope, id, &sealed)?;
        if stored {
            connections::reconnected(scope, id)?;
        }
        Ok::<_, DbError>(stored)
    })?;
    if !stored {
        bail!("the tenant has no connection {id}");
    }
    Ok(())
}

/// `connections list`: a tenant's connections and how their syncs stand.
pub fn list(config: &Config, tenant_key: &str) -> anyhow::Result<()> {
    let db = super::open_db(config)?;
    let tenant = tenant(&db, tenant_key)?;
    let rows = db.tenant(tenant, |scope| {
        connections::list(scope).map_err(DbError::from)
    })?;
    println!(
        "{:<36}  {:<11}  {:<15}  {:<16}  external id",
        "id", "provider", "status", "credentials key"
    );
    for c in rows {
        println!(
            "{:<36}  {:<11}  {:<15}  {:<16}  {}",
            c.id,
            c.provider,
            c.status,
            c.credentials_key_id.as_deref().unwrap_or("-"),
            c.external_id
        );
    }
    Ok(())
}

/// `credentials rotate`: re-seals every credential under `ENCRYPTION_KEY`.
pub fn rotate(config: &Config) -> anyhow::Result<()> {
    let sealer = sealer(config)?;
    let db = super::open_db(config)?;
    let report = credentials::rotate(&db, &sealer)?;
    println!(
        "credentials: {} re-sealed with key {}, {} already current, {} failed",
        report.rotated,
        sealer.current_key_id(),
        report.current,
        report.failed.len()
    );
    for (id, error) in &report.failed {
        println!("  {id}: {error}");
    }
    if !report.failed.is_empty() {
        bail!(
            "{} credential(s) could not be re-sealed; keep their key in ENCRYPTION_KEY_PREVIOUS",
            report.failed.len()
        );
    }
    Ok(())
}
