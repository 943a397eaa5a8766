//! One pass over one account: read the provider's pages for a window of days and store them.
//!
//! The window starts `OVERLAP_DAYS` before the last day a finished pass covered (so pending
//! transactions that posted, and late corrections, are read again) or, on the first pass, at
//! the start of the provider's history. Each page is converted and stored in one transaction
//! together with the position after it, so an interrupted pass (rate limit, outage, worker
//! death) resumes from the page it reached. When the last page is stored, pending transactions
//! of the window that the provider no longer lists are deleted, in the same transaction that
//! marks the pass finished.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use findash_engine::{JobContext, JobError};
use findash_schema::sync::{self, Rejection, SyncAccount, TransactionUpsert};
use serde::{Deserialize, Serialize};

use crate::categorize::Categorizer;
use crate::money;
use crate::providers::{Client, Item, ProviderError, Transaction, Window};

use super::{SyncError, Tally};

/// Days before the last synced day that every pass reads again.
pub const OVERLAP_DAYS: u64 = 10;
/// How far back a pass reaches for an old pending transaction.
pub const PENDING_LOOKBACK_DAYS: u64 = 90;

/// Where an unfinished pass stands; stored as JSON in `accounts.sync_cursor`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Position {
    since: NaiveDate,
    until: NaiveDate,
    /// The provider's cursor of the next page.
    page: Option<String>,
    /// Pending transactions seen so far in this pass (they stay).
    pending_seen: Vec<String>,
}

/// What a pass needs besides the account.
pub struct PassContext<'a> {
    pub ctx: &'a JobContext,
    pub client: &'a Client<'a>,
    pub categorizer: &'a Categorizer,
    pub exponents: &'a HashMap<String, u32>,
}

/// Runs (or resumes) a pass over `account` to its end.
pub async fn run(
    pass: &PassContext<'_>,
    account: &SyncAccount,
    tally: &mut Tally,
) -> Result<(), SyncError> {
    let today = pass.client.today();
    // The stored position as this pass last knew it; each page checks it is unchanged.
    let mut expected = account.sync_cursor.clone();
    let saved = account
        .sync_cursor
        .as_deref()
        .and_then(|saved| serde_json::from_str::<Position>(saved).ok());
    let resumed = saved.is_some();
    let mut position = match saved {
        Some(position) => position,
        None => Position {
            since: window_start(pass, account, today).await?,
            until: today,
            page: None,
            pending_seen: Vec::new(),
        },
    };
    let window = Window {
        since: position.since,
        until: position.until,
    };
    let limit_key = pass.client.rate_limit_key();
    let fetch = |cursor: Option<String>| {
        let limit_key = limit_key.clone();
        async move {
            if pass.ctx.is_cancelled() {
                return Err(SyncError::from(JobError::retryable(anyhow::anyhow!(
                    "cancelled between pages"
                ))));
            }
            pass.ctx.throttle(&limit_key).await?;
            pass.client
                .transactions(&account.external_id, window, cursor.as_deref())
                .await
                .map_err(SyncError::Provider)
        }
    };
    let mut page = match fetch(position.page.clone()).await {
        Ok(page) => page,
        // A saved cursor the provider no longer accepts (expired, or a link to a host that is
        // no longer the configured one) would fail every retry: the next attempt starts the
        // window afresh.
        Err(SyncError::Provider(e @ ProviderError::BadData { .. })) if resumed => {
            let id = account.id;
            pass.ctx
                .tenant_db(move |scope| Ok(sync::forget_position(scope, id)?))
                .await?;
            return Err(SyncError::Provider(e));
        }
        Err(e) => return Err(e),
    };
    loop {
        let converted = convert(page.items, account, pass);
        // Pending rows the provider still lists stay, and so do rows it sent in a form the sync
        // refused: they are not gone, only unreadable for now.
        position.pending_seen.extend(
            converted
                .rows
                .iter()
                .filter(|r| r.status == sync::TransactionStatus::Pending)
                .map(|r| r.external_id.clone())
                .chain(converted.rejections.iter().map(|r| r.external_id.clone())),
        );
        position.page = page.next;
        let finished = position.page.is_none();
        let write = store(pass, account, &position, expected.clone(), converted);
        if finished {
            tally.add(write.await?);
            return Ok(());
        }
        // The next page is read while this one is written: the provider (or the sandbox's
        // generator) and PostgreSQL work at the same time. The position stored with this page
        // already points at the next, so a failed read resumes there.
        let (written, next) = tokio::join!(write, fetch(position.page.clone()));
        let written = written?;
        tally.add(written);
        if written.superseded {
            return Ok(());
        }
        expected = Some(serde_json::to_string(&position).map_err(JobError::permanent)?);
        page = next?;
    }
}

/// Where a new pass starts: `OVERLAP_DAYS` before the last synced day, or earlier to reach the
/// account's oldest pending transaction (a long pre-authorisation must be seen again to be
/// resolved), but never more than `PENDING_LOOKBACK_DAYS` back for that; the provider's history
/// start on a first pass.
async fn window_start(
    pass: &PassContext<'_>,
    account: &SyncAccount,
    today: NaiveDate,
) -> Result<NaiveDate, SyncError> {
    let Some(through) = account.synced_through else {
        return Ok(pass.client.history_start(today));
    };
    let id = account.id;
    let oldest_pending = pass
        .ctx
        .tenant_db(move |scope| Ok(sync::oldest_pending(scope, id)?))
        .await?;
    let overlap = through - Days::new(OVERLAP_DAYS);
    let floor = today - Days::new(PENDING_LOOKBACK_DAYS);
    Ok(match oldest_pending {
        Some(day) if day < overlap => day.max(floor).min(overlap),
        _ => overlap,
    })
}

/// Stores a converted page and the position after it (or, for the last page, resolves dropped
/// pending transactions and marks the pass finished), in one transaction.
async fn store(
    pass: &PassContext<'_>,
    account: &SyncAccount,
    position: &Position,
    expected: Option<String>,
    converted: Converted,
) -> Result<Written, SyncError> {
    let finished = position.page.is_none();
    let saved = serde_json::to_string(position).map_err(JobError::permanent)?;
    let (account_id, currency) = (account.id, account.currency.clone());
    let (since, until) = (position.since, position.until);
    let pending_seen = if finished {
        position.pending_seen.clone()
    } else {
        Vec::new()
    };
    let Converted { rows, rejections } = converted;
    Ok(pass
        .ctx
        .tenant_db(move |scope| {
            if !sync::position_is(scope, account_id, expected.as_deref())? {
                // Another pass of this account moved on meanwhile: it owns the account now.
                return Ok(Written {
                    superseded: true,
                    ..Written::default()
                });
            }
            let counts = sync::upsert_transactions(scope, account_id, &currency, &rows)?;
            let accepted: Vec<String> = rows.iter().map(|r| r.external_id.clone()).collect();
            sync::record_rejections(scope, account_id, &rejections, &accepted)?;
            let resolved = if finished {
                let resolved =
                    sync::resolve_dropped_pending(scope, account_id, since, until, &pending_seen)?;
                sync::finish_pass(scope, account_id, until)?;
                resolved
            } else {
                sync::save_position(scope, account_id, &saved)?;
                0
            };
            Ok(Written {
                superseded: false,
                read: rows.len(),
                inserted: usize::try_from(counts.inserted).unwrap_or(0),
                updated: usize::try_from(counts.updated).unwrap_or(0),
                rejected: rejections.len(),
                resolved,
            })
        })
        .await?)
}

/// What storing one page did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    /// Another pass owns the account; nothing was written.
    superseded: bool,
    read: usize,
    inserted: usize,
    updated: usize,
    rejected: usize,
    resolved: usize,
}

impl Tally {
    fn add(&mut self, written: Written) {
        if written.superseded {
            self.superseded += 1;
            return;
        }
        self.pages += 1;
        self.read += written.read;
        self.inserted += written.inserted;
        self.updated += written.updated;
        self.rejected += written.rejected;
        self.resolved_pending += written.resolved;
    }
}

struct Converted {
    rows: Vec<TransactionUpsert>,
    rejections: Vec<Rejection>,
}

/// Provider items → rows to upsert (the last version of each id) and refused items.
fn convert(items: Vec<Item>, account: &SyncAccount, pass: &PassContext<'_>) -> Converted {
    let mut rows: Vec<TransactionUpsert> = Vec::with_capacity(items.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(items.len());
    let mut rejections = Vec::new();
    for item in items {
        let result = match item {
            Item::Transaction(t) => row(t, account, pass),
            Item::Unreadable {
                external_id: Some(id),
                detail,
                raw,
            } => Err(Rejection {
                external_id: id,
                reason: "invalid",
                detail,
                raw,
            }),
            Item::Unreadable {
                external_id: None,
                detail,
                ..
            } => {
                // Without an id there is nothing to key a rejection by; the log keeps it.
                tracing::warn!(account = %account.id, %detail, "provider item without an id skipped");
                continue;
            }
        };
        match result {
            Ok(row) => match index.get(&row.external_id) {
                Some(&i) => rows[i] = row,
                None => {
                    index.insert(row.external_id.clone(), rows.len());
                    rows.push(row);
                }
            },
            Err(rejection) => rejections.push(rejection),
        }
    }
    rejections.retain(|r| !index.contains_key(&r.external_id));
    Converted { rows, rejections }
}

fn row(
    t: Transaction,
    account: &SyncAccount,
    pass: &PassContext<'_>,
) -> Result<TransactionUpsert, Rejection> {
    let reject = |reason: &'static str, detail: String, raw: &serde_json::Value| Rejection {
        external_id: t.external_id.clone(),
        reason,
        detail,
        raw: raw.clone(),
    };
    if let Some(currency) = &t.currency
        && currency != &account.currency
    {
        return Err(reject(
            "currency",
            format!("in {currency}, the account is in {}", account.currency),
            &t.raw,
        ));
    }
    let exponent = pass.exponents.get(&account.currency).copied().unwrap_or(2);
    let amount_minor = money::to_minor(t.amount, &account.currency, exponent)
        .map_err(|e| reject(e.reason(), e.to_string(), &t.raw))?;
    let original = match &t.original {
        None => None,
        Some((amount, currency)) => {
            let Some(&exponent) = pass.exponents.get(currency) else {
                return Err(reject(
                    "currency",
                    format!("unknown currency {currency}"),
                    &t.raw,
                ));
            };
            if currency == &account.currency {
                None
            } else {
                let minor = money::to_minor(*amount, currency, exponent)
                    .map_err(|e| reject(e.reason(), e.to_string(), &t.raw))?;
                Some((minor, currency.clone()))
            }
        }
    };
    let category_id = pass.categorizer.choose(
        &t.description,
        t.counterparty.as_deref(),
        amount_minor,
        t.provider_category.as_deref(),
    );
    Ok(TransactionUpsert {
        external_id: t.external_id,
        booked_date: t.booked_date,
        value_date: t.value_date,
        amount_minor,
        original_amount_minor: original.as_ref().map(|(m, _)| *m),
        original_currency: original.map(|(_, c)| c),
        description: t.description,
        counterparty: t.counterparty,
        category_id,
        provider_category: t.provider_category,
        status: t.status,
        raw: t.raw,
    })
}
