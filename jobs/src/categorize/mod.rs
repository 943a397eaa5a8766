//! Categorization: which category a transaction belongs to.
//!
//! Precedence, first match wins:
//! 1. a category chosen by a person (`category_manual`): never overwritten, by anything;
//! 2. the tenant's rules, by priority (lowest first), then age: a match on the description or
//!    the counterparty (contains, equals, prefix — case-insensitive — or a regular expression),
//!    optionally within bounds of the signed amount (negative leaves the account);
//! 3. the provider's category, mapped to a built-in category (`provider_map`);
//! 4. built-in keywords in the description (`provider_map::KEYWORDS`);
//! 5. otherwise uncategorized.
//!
//! The sync applies the same [`Categorizer`] as it stores transactions; the `categorize` job
//! applies it again to every transaction a person has not categorized (after rules change, or
//! as the pipeline's step after sync) and writes only what changes.

mod provider_map;
mod rules;

use std::time::Duration;

use findash_engine::{Job, JobContext, JobError, JobResult, Queue};
use findash_schema::categories;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use rules::Categorizer;

/// Re-applies categorization to the tenant's transactions that no person categorized.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Categorize {
    /// Only this account (all of the tenant's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<findash_schema::AccountId>,
}

/// Transactions read and decided per transaction.
const BATCH: i64 = 2_000;

impl Job for Categorize {
    const KIND: &'static str = "categorize";
    const QUEUE: Queue = Queue::Default;
    const TIMEOUT: Duration = Duration::from_secs(30 * 60);
    const CHANGES_DASHBOARD: bool = true;

    async fn run(self, ctx: JobContext) -> JobResult {
        let only = self.account_id;
        let (categorizer, accounts) = ctx
            .tenant_db(move |scope| {
                let accounts = findash_schema::banking::accounts(scope)?
                    .into_iter()
                    .map(|a| a.id)
                    .filter(|id| only.is_none_or(|only| only.0 == *id))
                    .collect::<Vec<_>>();
                Ok((Categorizer::load(scope)?, accounts))
            })
            .await?;
        let categorizer = std::sync::Arc::new(categorizer);
        let (mut read, mut changed) = (0_usize, 0_usize);
        for account in accounts {
            let mut after = None;
            loop {
                if ctx.is_cancelled() {
                    return Err(JobError::retryable(anyhow::anyhow!(
                        "cancelled between batches"
                    )));
                }
                let categorizer = categorizer.clone();
                let (n, changes, last) = ctx
                    .tenant_db(move |scope| {
                        let page = categories::categorizable_page(scope, account, after, BATCH)?;
                        let decisions: Vec<_> = page
                            .iter()
                            .filter_map(|t| {
                                let chosen = categorizer.choose(
                                    &t.description,
                                    t.counterparty.as_deref(),
                                    t.amount_minor,
                                    t.provider_category.as_deref(),
                                );
                                (chosen != t.category_id).then_some((t.id, chosen))
                            })
                            .collect();
                        let changed = if decisions.is_empty() {
                            0
                        } else {
                            categories::apply(scope, &decisions)?
                        };
                        Ok((
                            page.len(),
                            changed,
                            page.last().map(|t| (t.booked_date, t.id)),
                        ))
                    })
                    .await?;
                read += n;
                changed += changes;
                match last {
                    Some(last) if i64::try_from(n).unwrap_or(0) == BATCH => after = Some(last),
                    _ => break,
                }
            }
        }
        Ok(json!({ "read": read, "changed": changed }))
    }
}
