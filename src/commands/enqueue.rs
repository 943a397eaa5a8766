//! `findash enqueue`: put jobs in the ledger from a shell, printing one id per line.

use std::time::Duration;

use anyhow::{Context as _, bail};
use findash_engine::ledger::{EnqueueOptions, Trigger};
use findash_schema::{DbError, SystemTask, tenants};

use crate::config::Config;

pub fn run(
    config: &Config,
    kind: &str,
    tenant: Option<&str>,
    json: &str,
    key: Option<String>,
    count: u32,
    delay: Option<Duration>,
) -> anyhow::Result<()> {
    let payload: serde_json::Value =
        serde_json::from_str(json).context("--json is not valid JSON")?;
    if !payload.is_object() {
        bail!("--json must be a JSON object");
    }
    if key.is_some() && count > 1 {
        bail!("--key names one job; it cannot be combined with --count");
    }
    super::runtime()?.block_on(async {
        let engine = super::engine(config).await?;
        let tenant = match tenant {
            None => None,
            Some(key) => {
                let found = tokio::task::block_in_place(|| {
                    engine.db().system(SystemTask::Jobs, |sys| {
                        tenants::find_by_slug_or_id(sys, key).map_err(DbError::from)
                    })
                })?;
                Some(
                    found
                        .with_context(|| format!("no tenant with slug or id `{key}`"))?
                        .id,
                )
            }
        };
        let row = engine.registry().new_job(kind, payload)?;
        let rows = vec![row; usize::try_from(count).unwrap_or(1)];
        let mut options = EnqueueOptions::new(Trigger::new("cli", None));
        options.idempotency_key = key;
        options.run_at =
            delay.map(|d| chrono::Utc::now() + chrono::Duration::from_std(d).unwrap_or_default());
        let enqueued = engine.enqueue_rows(tenant, rows, options).await?;
        for job in enqueued {
            if job.duplicate {
                println!("{} duplicate", job.id);
            } else {
                println!("{}", job.id);
            }
        }
        Ok(())
    })
}
