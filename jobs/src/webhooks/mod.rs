//! Webhook deliveries after their signature checked out: storing them in the inbox with their
//! processing job in one transaction ([`accept`]), processing them into revenue
//! ([`ProcessWebhook`]), replaying them ([`replay`]), and the payment accounts that say which
//! tenant an event belongs to ([`link_account`]).
//!
//! Tenant mapping: a Stripe event belongs to the tenant that linked its connected account
//! (`account`, `acct_…`; `platform` for events of the platform's own account), a Mercado Pago
//! notification to the tenant that linked its seller (`user_id`). An event whose account nobody
//! linked is stored without a tenant, seen by no tenant, and ignored until the account is linked
//! and the event replayed. One account belongs to one tenant at most, so one tenant's events
//! can never land in another's data.

pub mod mercadopago;
pub mod stripe;

use findash_engine::ledger::{self, EnqueueOptions, Enqueued, NewJob, Trigger, insert_jobs};
use findash_engine::{EngineError, Job, JobContext, JobError, JobResult, Queue, Registry};
use findash_schema::revenue::{self, RevenueRow};
use findash_schema::webhooks::{
    self, Delivery, InboxStatus, NewDelivery, PaymentProvider, WebhookProvider,
};
use findash_schema::{
    Db, DbError, JobId, PaymentAccountId, SystemConn, SystemTask, TenantId, WebhookId,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::credentials::{Owner, Sealer};
use crate::providers::{ProviderError, Providers};

/// What a delivery means for its tenant's revenue.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Rows to upsert.
    Rows(Vec<RevenueRow>),
    /// Nothing to store, and why.
    Ignored(String),
}

/// What to do with a delivery once stored.
#[derive(Debug)]
pub enum Work {
    /// Process it into revenue ([`ProcessWebhook`]).
    Process,
    /// Run this job (QStash: the delivery is a job to run).
    Run(NewJob),
}

/// A stored delivery and its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub delivery: WebhookId,
    /// The job enqueued for it; `None` for a duplicate.
    pub job: Option<JobId>,
    /// The delivery was already stored: nothing new was done.
    pub duplicate: bool,
}

/// The tenant that linked `account_ref` of `provider`, if any.
fn resolve(
    sys: &mut SystemConn<'_>,
    provider: WebhookProvider,
    account_ref: Option<&str>,
) -> Result<Option<TenantId>, DbError> {
    let provider = match provider {
        WebhookProvider::Stripe => PaymentProvider::Stripe,
        WebhookProvider::MercadoPago => PaymentProvider::MercadoPago,
        WebhookProvider::Qstash => return Ok(None),
    };
    let Some(account_ref) = account_ref else {
        return Ok(None);
    };
    Ok(webhooks::payment_account(sys, provider, account_ref)?.map(|a| a.tenant()))
}

/// Stores a verified delivery and enqueues its work in the caller's transaction, or recognises
/// a duplicate of `(provider, event_id)` and does nothing. The caller wakes the dispatchers
/// after commit (`Engine::notify`).
pub fn accept(
    sys: &mut SystemConn<'_>,
    mut delivery: NewDelivery,
    work: Work,
) -> Result<Accepted, EngineError> {
    delivery.tenant = resolve(sys, delivery.provider, delivery.account_ref.as_deref())?;
    let Some(id) = webhooks::insert(sys, &delivery)? else {
        let existing = webhooks::find_by_event(sys, delivery.provider, &delivery.event_id)?
            .ok_or_else(|| EngineError::Invalid("a duplicate delivery vanished".to_owned()))?;
        return Ok(Accepted {
            delivery: existing,
            job: None,
            duplicate: true,
        });
    };
    let done = work.is_done_when_enqueued();
    let key = work.key(id, &delivery.event_id, Run::Round(0));
    let job = enqueue_work(sys, id, delivery.tenant, work, key)?.id;
    attach(sys, id, delivery.tenant, job, done)?;
    Ok(Accepted {
        delivery: id,
        job: Some(job),
        duplicate: false,
    })
}

/// Which run of a delivery's work a job is: its idempotency key says.
#[derive(Debug, Clone, Copy)]
enum Run<'a> {
    /// 0 when received, then one more per replay.
    Round(i32),
    /// The replay asked for with this once-key ([`ReplayRequest::once`]).
    Once(&'a str),
}

/// How a job started by the replay request with once-key `once` ends its idempotency key.
fn once_suffix(once: &str) -> String {
    format!(":once:{once}")
}

impl Work {
    /// The idempotency key of `run` of delivery `id`'s work.
    fn key(&self, id: WebhookId, event_id: &str, run: Run<'_>) -> String {
        match (self, run) {
            (Work::Process, Run::Round(round)) => format!("webhook:{id}:{round}"),
            (Work::Process, Run::Once(once)) => format!("webhook:{id}{}", once_suffix(once)),
            (Work::Run(_), Run::Round(0)) => format!("qstash:{event_id}"),
            (Work::Run(_), Run::Round(round)) => format!("qstash:{event_id}:replay:{round}"),
            (Work::Run(_), Run::Once(once)) => {
                format!("qstash:{event_id}:replay{}", once_suffix(once))
            }
        }
    }

    /// The delivery is done once its work is enqueued: a QStash delivery's effect is the job it
    /// starts, and that job's own state says how it went.
    fn is_done_when_enqueued(&self) -> bool {
        matches!(self, Work::Run(_))
    }
}

/// Enqueues the work of delivery `id` under idempotency key `key`; a job already under that
/// key comes back as a duplicate.
fn enqueue_work(
    sys: &mut SystemConn<'_>,
    id: WebhookId,
    tenant: Option<TenantId>,
    work: Work,
    key: String,
) -> Result<Enqueued, EngineError> {
    let mut options = EnqueueOptions::new(Trigger::new("webhook", Some(id.to_string())));
    options.tenant = tenant;
    options.idempotency_key = Some(key);
    let row = match work {
        Work::Process => NewJob::of(&ProcessWebhook { delivery: id })?,
        Work::Run(row) => row,
    };
    insert_jobs(sys, vec![row], &options)?
        .pop()
        .ok_or_else(|| EngineError::Invalid("enqueue returned no row".to_owned()))
}

/// Hands delivery `id` (resolved to `tenant`) to `job`; `done`: the delivery is processed by
/// being enqueued ([`Work::is_done_when_enqueued`]).
fn attach(
    sys: &mut SystemConn<'_>,
    id: WebhookId,
    tenant: Option<TenantId>,
    job: JobId,
    done: bool,
) -> Result<(), EngineError> {
    webhooks::set_job(sys, id, tenant, job)?;
    if done {
        webhooks::set_status(sys, id, job, InboxStatus::Processed, None)?;
    }
    Ok(())
}

/// Why a replay did not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no such webhook delivery")]
    NotFound,
    /// Only when asked to wait for it ([`ReplayRequest::after_current_job`]).
    #[error("the delivery's job {job} has not ended: it is {state}")]
    Unfinished { job: JobId, state: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// How a replay is asked for.
#[derive(Debug, Clone, Default)]
pub struct ReplayRequest {
    /// The caller's tenant, which must own the delivery; `None` on the operator's paths (any
    /// delivery).
    pub tenant: Option<TenantId>,
    /// Refuse ([`ReplayError::Unfinished`]) while the delivery's current job is queued, running
    /// or retrying, rather than hand the delivery to a new job (which the current one then
    /// notices, and leaves the delivery to).
    pub after_current_job: bool,
    /// A key of this request, unique to it (a console form's nonce): asked again with the same
    /// key, nothing is done and the answer is the job the first ask started.
    pub once: Option<String>,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// The job that processes the delivery again (QStash: that runs its payload again).
    pub job: JobId,
    /// The request had been done already ([`ReplayRequest::once`]): `job` is the one it started,
    /// and nothing changed.
    pub duplicate: bool,
}

impl From<DbError> for ReplayError {
    fn from(e: DbError) -> Self {
        ReplayError::Engine(e.into())
    }
}

impl From<diesel::result::Error> for ReplayError {
    fn from(e: diesel::result::Error) -> Self {
        ReplayError::Engine(e.into())
    }
}

/// Runs delivery `id`'s processing again from its stored body (which never changes), e.g.
/// after a fix. `tenant`: the caller's tenant, which must own the delivery; `None` on the
/// operator's path (any delivery). An event without a tenant is resolved again first, so
/// linking its account and replaying it brings it in. The caller notifies after commit.
pub fn replay(
    sys: &mut SystemConn<'_>,
    registry: &Registry,
    id: WebhookId,
    tenant: Option<TenantId>,
) -> Result<JobId, ReplayError> {
    let request = ReplayRequest {
        tenant,
        ..ReplayRequest::default()
    };
    Ok(replay_as(sys, registry, id, &request)?.job)
}

/// [`replay`], on the terms of `request`.
///
/// What a replay does depends on the provider. A Stripe or Mercado Pago delivery is processed
/// again into revenue rows keyed by the provider's objects: nothing is counted twice. A QStash
/// delivery is a job to run: its stored payload is enqueued again under a new key, so that job
/// runs again, with whatever effects it has.
pub fn replay_as(
    sys: &mut SystemConn<'_>,
    registry: &Registry,
    id: WebhookId,
    request: &ReplayRequest,
) -> Result<Replayed, ReplayError> {
    let delivery = webhooks::lock(sys, id)?.ok_or(ReplayError::NotFound)?;
    if request.tenant.is_some() && delivery.tenant() != request.tenant {
        return Err(ReplayError::NotFound);
    }
    let current = match delivery.job_id {
        Some(job) => ledger::get_job(sys, JobId(job))?.map(|(job, _)| job),
        None => None,
    };
    if let (Some(once), Some(job)) = (request.once.as_deref(), &current)
        && job
            .idempotency_key
            .as_deref()
            .is_some_and(|key| key.ends_with(&once_suffix(once)))
    {
        // Asked again: the delivery's job is the one this very request started.
        return Ok(Replayed {
            job: JobId(job.id),
            duplicate: true,
        });
    }
    if request.after_current_job
        && let Some(job) = &current
        && ledger::UNFINISHED_STATES.contains(&job.state.as_str())
    {
        return Err(ReplayError::Unfinished {
            job: JobId(job.id),
            state: job.state.clone(),
        });
    }
    let provider = delivery
        .provider()
        .map_err(|e| ReplayError::Engine(EngineError::Invalid(e)))?;
    let owner = match delivery.tenant() {
        Some(owner) => Some(owner),
        None => resolve(sys, provider, delivery.account_ref.as_deref())?,
    };
    let work = match provider {
        WebhookProvider::Qstash => {
            let kind = delivery.event_type.clone().unwrap_or_default();
            let payload = if delivery.raw_body.iter().all(u8::is_ascii_whitespace) {
                serde_json::json!({})
            } else {
                serde_json::from_slice(&delivery.raw_body)
                    .map_err(|e| EngineError::Invalid(format!("the stored payload: {e}")))?
            };
            Work::Run(registry.new_job(&kind, payload)?)
        }
        WebhookProvider::Stripe | WebhookProvider::MercadoPago => Work::Process,
    };
    // The delivery is locked: no other replay counts meanwhile.
    let run = match request.once.as_deref() {
        Some(once) => Run::Once(once),
        None => Run::Round(delivery.replay_count + 1),
    };
    let done = work.is_done_when_enqueued();
    let key = work.key(id, &delivery.event_id, run);
    let enqueued = enqueue_work(sys, id, owner, work, key)?;
    if enqueued.duplicate {
        // This request's job exists, though the delivery moved on to a later one since.
        return Ok(Replayed {
            job: enqueued.id,
            duplicate: true,
        });
    }
    webhooks::start_replay(sys, id)?;
    attach(sys, id, owner, enqueued.id, done)?;
    Ok(Replayed {
        job: enqueued.id,
        duplicate: false,
    })
}

/// Why an account could not be linked.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{provider} account `{account_ref}` is linked to another tenant")]
    OtherTenant {
        provider: PaymentProvider,
        account_ref: String,
    },
    #[error("an account reference is 1 to 255 letters, digits, `_` or `-`")]
    BadReference,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for LinkError {
    fn from(e: diesel::result::Error) -> Self {
        LinkError::Db(e.into())
    }
}

/// Links `account_ref` of `provider` to `tenant` (again: updates its access token), sealing
/// `access_token` bound to the tenant and the link.
pub fn link_account(
    db: &Db,
    sealer: &Sealer,
    tenant: TenantId,
    provider: PaymentProvider,
    account_ref: &str,
    access_token: Option<&SecretString>,
) -> Result<PaymentAccountId, LinkError> {
    let valid = (1..=255).contains(&account_ref.len())
        && account_ref
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(LinkError::BadReference);
    }
    db.system(SystemTask::Webhooks, |sys| {
        let existing = webhooks::payment_account(sys, provider, account_ref)?;
        let id = match &existing {
            Some(account) if account.tenant() != tenant => {
                return Err(LinkError::OtherTenant {
                    provider,
                    account_ref: account_ref.to_owned(),
                });
            }
            Some(account) => account.id(),
            None => PaymentAccountId::new(),
        };
        let sealed =
            access_token.map(|token| sealer.seal_for(tenant, Owner::PaymentAccount(id), token));
        if webhooks::link_payment_account(sys, id, tenant, provider, account_ref, sealed.as_ref())?
        {
            Ok(id)
        } else {
            Err(LinkError::OtherTenant {
                provider,
                account_ref: account_ref.to_owned(),
            })
        }
    })
}

/// Processes one stored delivery into revenue rows. Idempotent: rows are keyed by provider
/// object, states ordered by the provider's time, and the delivery's status written in the
/// same transaction as its rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessWebhook {
    pub delivery: WebhookId,
}

impl Job for ProcessWebhook {
    const KIND: &'static str = "process_webhook";
    const QUEUE: Queue = Queue::Webhooks;
    const MAX_ATTEMPTS: u32 = 8;
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
    const CHANGES_DASHBOARD: bool = true;

    async fn run(self, ctx: JobContext) -> JobResult {
        let (id, job) = (self.delivery, ctx.job_id());
        let delivery = ctx
            .system_db(SystemTask::Webhooks, move |sys| {
                let delivery = webhooks::lock(sys, id)?
                    .ok_or_else(|| anyhow::anyhow!("delivery {id} does not exist"))?;
                if delivery.job_id != Some(job.0) {
                    return Ok(None);
                }
                webhooks::set_status(sys, id, job, InboxStatus::Processing, None)?;
                Ok(Some(delivery))
            })
            .await?;
        let Some(delivery) = delivery else {
            return Ok(superseded());
        };
        let result = match outcome(&ctx, &delivery).await {
            Ok(outcome) => store(&ctx, id, outcome).await,
            Err(error) => Err(error),
        };
        let Err(error) = result else {
            return result;
        };
        // What the delivery shows: `failed` once no attempt is left, else why this one failed.
        let (status, message) = match &error {
            JobError::RateLimited { .. } => (InboxStatus::Received, None),
            JobError::Permanent(_) => (InboxStatus::Failed, Some(error.to_string())),
            _ if ctx.is_last_attempt() => (InboxStatus::Failed, Some(error.to_string())),
            _ => (InboxStatus::Received, Some(error.to_string())),
        };
        let recorded = ctx
            .system_db(SystemTask::Webhooks, move |sys| {
                Ok(webhooks::set_status(
                    sys,
                    id,
                    job,
                    status,
                    message.as_deref(),
                )?)
            })
            .await;
        if let Err(e) = recorded {
            // The attempt's own error is what the engine must act on; `findash webhooks replay
            // --stuck` finds deliveries whose status was left behind.
            tracing::warn!(delivery = %id, error = %e, "the delivery's status was not recorded");
        }
        Err(error)
    }
}

/// The result of an attempt whose delivery was handed to a newer job (a replay).
fn superseded() -> serde_json::Value {
    json!({"status": "superseded"})
}

/// What `delivery` means, read from its stored body (and, for Mercado Pago, the payment it
/// names).
async fn outcome(ctx: &JobContext, delivery: &Delivery) -> Result<Outcome, JobError> {
    let Some(tenant) = delivery.tenant() else {
        return Ok(Outcome::Ignored(format!(
            "account `{}` is linked to no tenant (findash payments link), then replay",
            delivery.account_ref.as_deref().unwrap_or("?")
        )));
    };
    let provider = delivery
        .provider()
        .map_err(|e| JobError::permanent(anyhow::anyhow!(e)))?;
    match provider {
        WebhookProvider::Stripe => stripe::outcome(&delivery.raw_body, tenant)
            .map_err(|e| JobError::permanent(anyhow::anyhow!(e))),
        WebhookProvider::MercadoPago => mercado_pago_outcome(ctx, delivery, tenant).await,
        WebhookProvider::Qstash => Ok(Outcome::Ignored(
            "QStash deliveries start their job when received".to_owned(),
        )),
    }
}

async fn mercado_pago_outcome(
    ctx: &JobContext,
    delivery: &Delivery,
    tenant: TenantId,
) -> Result<Outcome, JobError> {
    let notification: mercadopago::Notification = serde_json::from_slice(&delivery.raw_body)
        .map_err(|e| {
            JobError::permanent(anyhow::anyhow!("the notification is not readable: {e}"))
        })?;
    let kind = delivery
        .headers
        .get("type")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .or(notification.kind.clone())
        .unwrap_or_default();
    if kind != "payment" {
        return Ok(Outcome::Ignored(format!(
            "`{kind}` notifications carry no revenue"
        )));
    }
    // The signed `data.id` of the query; the body's only when the query had none.
    let payment_id = delivery
        .headers
        .get("data.id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .or_else(|| notification.data.as_ref().and_then(|d| d.id.clone()))
        .ok_or_else(|| JobError::permanent(anyhow::anyhow!("the notification names no payment")))?;
    let account_ref = delivery.account_ref.clone().unwrap_or_default();
    let lookup = account_ref.clone();
    let account = ctx
        .system_db(SystemTask::Webhooks, move |sys| {
            Ok(webhooks::payment_account(
                sys,
                PaymentProvider::MercadoPago,
                &lookup,
            )?)
        })
        .await?
        .filter(|a| a.tenant() == tenant)
        .ok_or_else(|| {
            JobError::permanent(anyhow::anyhow!("seller `{account_ref}` is not linked"))
        })?;
    let sealed = account.sealed().ok_or_else(|| {
        JobError::permanent(anyhow::anyhow!(
            "seller `{account_ref}` has no access token (findash payments link --access-token-file)"
        ))
    })?;
    let token = ctx
        .state::<Sealer>()?
        .open_for(tenant, Owner::PaymentAccount(account.id()), &sealed)
        .map_err(JobError::permanent)?;
    let base = ctx
        .state::<Providers>()?
        .config
        .mercadopago_base_url
        .clone();
    let body = mercadopago::fetch_payment(ctx.http(), &base, &token, &payment_id)
        .await
        .map_err(|e| match e {
            ProviderError::RateLimited { retry_after, .. } => JobError::RateLimited { retry_after },
            // A refused token stays refused until someone links a new one (then: replay). An
            // outage passes; a payment Mercado Pago does not list yet, or an answer it could not
            // give whole, may too: retried with backoff, then `failed`.
            e @ (ProviderError::Auth { .. } | ProviderError::NotConfigured { .. }) => {
                JobError::permanent(e)
            }
            e => JobError::retryable(e),
        })?;
    let event_id = delivery.event_id.clone();
    let exponents = ctx
        .system_db(SystemTask::Webhooks, move |sys| {
            Ok(revenue::currency_exponents(sys)?)
        })
        .await?;
    let seller = delivery.account_ref.clone().unwrap_or_default();
    mercadopago::rows(&body, tenant, &seller, &event_id, |code| {
        exponents.get(code).copied()
    })
    .map(Outcome::Rows)
    .map_err(|e| JobError::permanent(anyhow::anyhow!(e)))
}

/// Writes `outcome` and the delivery's end in one transaction, unless a replay handed the
/// delivery to a newer job meanwhile (that job writes instead).
async fn store(ctx: &JobContext, id: WebhookId, outcome: Outcome) -> JobResult {
    let job = ctx.job_id();
    ctx.system_db(SystemTask::Webhooks, move |sys| {
        let current = webhooks::lock(sys, id)?.is_some_and(|d| d.job_id == Some(job.0));
        if !current {
            return Ok(Ok(superseded()));
        }
        match outcome {
            Outcome::Rows(rows) => {
                let known = revenue::currency_exponents(sys)?;
                if let Some(row) = rows.iter().find(|r| !known.contains_key(&r.currency)) {
                    let message = format!("`{}` is not a known currency", row.currency);
                    webhooks::set_status(sys, id, job, InboxStatus::Failed, Some(&message))?;
                    return Ok(Err(message));
                }
                let written = revenue::upsert(sys, &rows)?;
                webhooks::set_status(sys, id, job, InboxStatus::Processed, None)?;
                Ok(Ok(
                    json!({"status": "processed", "rows": rows.len(), "written": written}),
                ))
            }
            Outcome::Ignored(reason) => {
                webhooks::set_status(sys, id, job, InboxStatus::Ignored, Some(&reason))?;
                Ok(Ok(json!({"status": "ignored", "reason": reason})))
            }
        }
    })
    .await?
    .map_err(|message| JobError::permanent(anyhow::anyhow!(message)))
}
