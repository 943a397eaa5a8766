//! `findash token --tenant <slug|id> --role <user|admin> [--ttl 1h] [--user <email|id>]`.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use chrono::Utc;
use findash_schema::users::{self, Role};
use findash_schema::{DbError, SystemTask, tenants};
use findash_web::auth::{self, Claims};

use crate::config::Config;

const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Prints only the token on stdout, so `TOKEN=$(findash token …)` works.
pub fn run(
    config: &Config,
    tenant: &str,
    role: Role,
    ttl: Duration,
    user: Option<&str>,
) -> anyhow::Result<()> {
    if config.generated("JWT_SECRET") {
        bail!(
            "JWT_SECRET is not set: a token signed with this process's ephemeral secret would be \
             rejected by every other process. Set JWT_SECRET (and give the server the same one)."
        );
    }
    if ttl.is_zero() || ttl > MAX_TTL {
        bail!("--ttl must be more than 0 and at most 365d");
    }
    let db = super::open_db(config)?;
    let (tenant, user) = db.system(SystemTask::MintToken, |sys| {
        let tenant = tenants::find_by_slug_or_id(sys, tenant)?
            .ok_or_else(|| DbError::Invalid(format!("no tenant with slug or id `{tenant}`")))?;
        let user = match user {
            Some(key) => users::find_in_tenant(sys, tenant.id, key)?.ok_or_else(|| {
                DbError::Invalid(format!("tenant {} has no user `{key}`", tenant.slug))
            })?,
            None => users::first_with_role(sys, tenant.id, role)?.ok_or_else(|| {
                DbError::Invalid(format!(
                    "tenant {} has no enabled {role} user; pass --user",
                    tenant.slug
                ))
            })?,
        };
        Ok::<_, DbError>((tenant, user))
    })?;
    if user.disabled_at.is_some() {
        bail!("user {} is disabled", user.email);
    }
    if !user.role.covers(role) {
        bail!(
            "user {} is a {}, which cannot hold a {role} token",
            user.email,
            user.role
        );
    }
    let ttl = chrono::Duration::from_std(ttl).map_err(|_| anyhow!("--ttl is too large"))?;
    let claims = Claims::new(user.id.to_string(), tenant.id, role, Utc::now(), ttl);
    let token = auth::mint(&config.web.jwt, &claims).context("cannot sign the token")?;
    println!("{token}");
    Ok(())
}
