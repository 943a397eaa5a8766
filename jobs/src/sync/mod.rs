//! Bank sync jobs: `sync_connection` (the connection's accounts and balances, then a pass over
//! each account) and `sync_account` (a pass over one account). Both are idempotent: every write
//! is an upsert by natural key that changes only what differs, so running a sync twice leaves the
//! database as it was.
//!
//! How provider failures end: refused credentials mark the connection `reauth_required` and the
//! job `dead` (a person must reconnect; retrying would only hammer the provider); a missing
//! configuration is `dead` too; a rate limit defers the job without using an attempt and the
//! pass resumes from its saved page; outages and unreadable answers are retried with backoff.
//! Every failure but a rate limit is recorded on the connection (`last_error`,
//! `consecutive_failures`); a finished connection sync records its freshness
//! (`last_successful_sync_at`).

mod pass;

use std::collections::HashMap;
use std::time::Duration;

use findash_engine::{Job, JobContext, JobError, JobResult, Queue};
use findash_schema::connections::{self, Connection, ConnectionStatus};
use findash_schema::sync::{self, AccountUpsert, SyncAccount};
use findash_schema::{AccountId, ConnectionId, banking};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::categorize::Categorizer;
use crate::credentials::Sealer;
use crate::money;
use crate::providers::{Account, Client, ProviderError, Providers};

pub use pass::OVERLAP_DAYS;

/// Syncs a connection: its accounts and balances, then each account's transactions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConnection {
    pub connection_id: ConnectionId,
}

/// Syncs one account's transactions (and its connection's balances).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncAccountJob {
    pub account_id: AccountId,
}

impl Job for SyncConnection {
    const KIND: &'static str = "sync_connection";
    const QUEUE: Queue = Queue::Sync;
    const TIMEOUT: Duration = Duration::from_secs(30 * 60);
    const CHANGES_DASHBOARD: bool = true;

    async fn run(self, ctx: JobContext) -> JobResult {
        run_sync(&ctx, self.connection_id, None).await
    }
}

impl Job for SyncAccountJob {
    const KIND: &'static str = "sync_account";
    const QUEUE: Queue = Queue::Sync;
    const TIMEOUT: Duration = Duration::from_secs(30 * 60);
    const CHANGES_DASHBOARD: bool = true;

    async fn run(self, ctx: JobContext) -> JobResult {
        let account_id = self.account_id;
        let account = ctx
            .tenant_db(move |scope| Ok(sync::account(scope, account_id)?))
            .await?
            .ok_or_else(|| JobError::permanent(anyhow::anyhow!("no account {account_id}")))?;
        run_sync(&ctx, account.connection_id, Some(account_id)).await
    }
}

/// What a sync did, for its job result.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub accounts: usize,
    pub pages: usize,
    pub read: usize,
    pub inserted: usize,
    pub updated: usize,
    pub rejected: usize,
    pub resolved_pending: usize,
    /// Passes that stopped because another pass of the same account was under way.
    pub superseded: usize,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.pages += other.pages;
        self.read += other.read;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.rejected += other.rejected;
        self.resolved_pending += other.resolved_pending;
        self.superseded += other.superseded;
    }
}

/// How a sync step failed.
#[derive(Debug)]
pub enum SyncError {
    Provider(ProviderError),
    Job(JobError),
}

impl From<JobError> for SyncError {
    fn from(e: JobError) -> SyncError {
        SyncError::Job(e)
    }
}

/// Syncs connection `id`: every account, or only `only`.
async fn run_sync(ctx: &JobContext, id: ConnectionId, only: Option<AccountId>) -> JobResult {
    let connection = ctx
        .tenant_db(move |scope| Ok(connections::find(scope, id)?))
        .await?
        .ok_or_else(|| JobError::permanent(anyhow::anyhow!("no connection {id}")))?;
    match connection.status {
        ConnectionStatus::Disabled => return Ok(json!({ "skipped": "connection disabled" })),
        ConnectionStatus::ReauthRequired => {
            return Err(JobError::permanent(anyhow::anyhow!(
                "connection {id} needs to be reconnected: the provider refused its credentials"
            )));
        }
        _ => {}
    }
    ctx.tenant_db(move |scope| Ok(connections::sync_started(scope, id)?))
        .await?;
    let mut tally = Tally::default();
    match sync_connection(ctx, &connection, only, &mut tally).await {
        Ok(()) => {
            if only.is_none() {
                ctx.tenant_db(move |scope| Ok(connections::sync_succeeded(scope, id)?))
                    .await?;
            }
            Ok(json!({
                "accounts": tally.accounts,
                "pages": tally.pages,
                "read": tally.read,
                "inserted": tally.inserted,
                "updated": tally.updated,
                "rejected": tally.rejected,
                "resolved_pending": tally.resolved_pending,
                "superseded": tally.superseded,
            }))
        }
        Err(SyncError::Job(e)) => Err(e),
        Err(SyncError::Provider(e)) => Err(record_failure(ctx, id, e).await),
    }
}

async fn sync_connection(
    ctx: &JobContext,
    connection: &Connection,
    only: Option<AccountId>,
    tally: &mut Tally,
) -> Result<(), SyncError> {
    let providers = ctx.state::<Providers>()?;
    let credentials = match connection.sealed() {
        None => None,
        Some(sealed) => Some(
            ctx.state::<Sealer>()?
                .open(connection.tenant_id, connection.id, &sealed)
                .map_err(JobError::permanent)?,
        ),
    };
    let client =
        Client::new(providers, ctx.http(), connection, credentials).map_err(SyncError::Provider)?;

    ctx.throttle(&client.rate_limit_key()).await?;
    let provider_accounts = client.accounts().await.map_err(SyncError::Provider)?;
    let (exponents, categorizer) = ctx
        .tenant_db(|scope| {
            Ok((
                banking::currency_exponents(scope)?,
                Categorizer::load(scope)?,
            ))
        })
        .await?;
    let rows = provider_accounts
        .iter()
        .filter_map(|a| account_row(a, &exponents))
        .collect::<Vec<_>>();
    let connection_id = connection.id;
    let stored: Vec<SyncAccount> = ctx
        .tenant_db(move |scope| Ok(sync::upsert_accounts(scope, connection_id, &rows)?))
        .await?;
    let listed: Vec<&str> = provider_accounts
        .iter()
        .map(|a| a.external_id.as_str())
        .collect();

    let pass = pass::PassContext {
        ctx,
        client: &client,
        categorizer: &categorizer,
        exponents: &exponents,
    };
    let accounts: Vec<&SyncAccount> = stored
        .iter()
        .filter(|a| listed.contains(&a.external_id.as_str()))
        .filter(|a| only.is_none_or(|only| only == a.id))
        .collect();
    // Accounts are independent: a few passes run at once (each page still one transaction).
    let mut runs = Vec::with_capacity(accounts.len());
    for account in accounts {
        runs.push(run_pass(&pass, account));
    }
    let mut passes = futures::stream::iter(runs).buffer_unordered(ACCOUNTS_AT_ONCE);
    let mut failure: Option<SyncError> = None;
    while let Some((own, result)) = passes.next().await {
        tally.accounts += 1;
        tally.merge(own);
        if let Err(e) = result
            && failure.as_ref().is_none_or(|f| severity(&e) > severity(f))
        {
            failure = Some(e);
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Which of several accounts' failures the connection reports: what needs a person first, a
/// rate limit (which only postpones) last.
fn severity(error: &SyncError) -> u8 {
    match error {
        SyncError::Provider(ProviderError::Auth { .. }) => 4,
        SyncError::Provider(ProviderError::NotConfigured { .. }) => 3,
        SyncError::Provider(ProviderError::RateLimited { .. }) => 0,
        SyncError::Job(JobError::RateLimited { .. }) => 0,
        _ => 2,
    }
}

async fn run_pass(
    pass: &pass::PassContext<'_>,
    account: &SyncAccount,
) -> (Tally, Result<(), SyncError>) {
    let mut tally = Tally::default();
    let result = pass::run(pass, account, &mut tally).await;
    (tally, result)
}

/// Account passes of one connection that run at the same time.
const ACCOUNTS_AT_ONCE: usize = 3;

/// The stored form of a provider account; an account whose balances cannot be converted is
/// stored without them (and logged), never with rounded ones.
fn account_row(account: &Account, exponents: &HashMap<String, u32>) -> Option<AccountUpsert> {
    let Some(&exponent) = exponents.get(&account.currency) else {
        tracing::warn!(account = %account.external_id, currency = %account.currency, "account in an unknown currency skipped");
        return None;
    };
    let minor = |amount: Option<rust_decimal::Decimal>| {
        amount.and_then(|a| match money::to_minor(a, &account.currency, exponent) {
            Ok(minor) => Some(minor),
            Err(e) => {
                tracing::warn!(account = %account.external_id, error = %e, "balance not stored");
                None
            }
        })
    };
    let current = minor(account.current_balance);
    let available = minor(account.available_balance);
    Some(AccountUpsert {
        external_id: account.external_id.clone(),
        kind: account.kind,
        name: account.name.clone(),
        institution: account.institution.clone(),
        currency: account.currency.clone(),
        current_balance_minor: current,
        available_balance_minor: available,
        balance_as_of: if current.is_some() || available.is_some() {
            account.balance_as_of.or_else(|| Some(chrono::Utc::now()))
        } else {
            None
        },
        credit_limit_minor: minor(account.credit_limit).filter(|l| *l >= 0),
        statement_balance_minor: minor(account.statement_balance),
        statement_closing_date: account.statement_closing_date,
        statement_due_date: account.statement_due_date,
    })
}

/// Records a provider failure on the connection and says what the engine should do next.
async fn record_failure(ctx: &JobContext, id: ConnectionId, error: ProviderError) -> JobError {
    let status = match &error {
        ProviderError::RateLimited { retry_after, .. } => {
            return JobError::RateLimited {
                retry_after: *retry_after,
            };
        }
        ProviderError::Auth { .. } => ConnectionStatus::ReauthRequired,
        _ => ConnectionStatus::Error,
    };
    let message = error.to_string();
    if let Err(e) = ctx
        .tenant_db(move |scope| Ok(connections::sync_failed(scope, id, status, &message)?))
        .await
    {
        tracing::warn!(connection = %id, error = %e, "sync failure not recorded");
    }
    match error {
        ProviderError::Auth { .. } | ProviderError::NotConfigured { .. } => {
            JobError::permanent(error)
        }
        _ => JobError::retryable(error),
    }
}
