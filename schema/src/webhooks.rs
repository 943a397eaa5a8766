//! The webhook inbox and the payment accounts that tell which tenant an event belongs to.
//!
//! Deliveries are written on the system path (an event's tenant is not known until its account
//! is looked up, and may stay unknown); tenants read their own events through row-level
//! security. A delivery's body is immutable: no role may update `raw_body` or `headers`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use serde_json::Value;

use crate::schema::{payment_accounts, webhook_inbox};
use crate::{JobId, PaymentAccountId, SystemConn, TenantConn, TenantId, WebhookId};

crate::text_enum! {
    /// Who sent a delivery.
    pub enum WebhookProvider {
        Stripe => "stripe",
        Qstash => "qstash",
        MercadoPago => "mercadopago",
    }
}

crate::text_enum! {
    /// Where a delivery is in its processing.
    pub enum InboxStatus {
        /// Stored; its processing job is queued or running.
        Received => "received",
        Processing => "processing",
        /// Its effects are stored.
        Processed => "processed",
        /// Nothing to do (an event type without revenue, an account nobody linked); the reason
        /// is in `processing_error`.
        Ignored => "ignored",
        /// Processing failed; the reason is in `processing_error`. Replay after a fix.
        Failed => "failed",
    }
}

crate::text_enum! {
    /// The payment providers whose accounts map to tenants.
    pub enum PaymentProvider {
        Stripe => "stripe",
        MercadoPago => "mercadopago",
    }
}

/// A verified delivery to store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub provider: WebhookProvider,
    pub event_id: String,
    pub event_type: Option<String>,
    /// The account the event names (see [`PaymentAccount`]).
    pub account_ref: Option<String>,
    pub tenant: Option<TenantId>,
    pub raw_body: Vec<u8>,
    /// The headers worth keeping (never signatures or credentials), as a JSON object.
    pub headers: Value,
}

/// Stores `delivery` unless its `(provider, event_id)` is already stored: `Some(id)` when it is
/// new, `None` for a duplicate.
pub fn insert(sys: &mut SystemConn<'_>, delivery: &NewDelivery) -> QueryResult<Option<WebhookId>> {
    diesel::insert_into(webhook_inbox::table)
        .values((
            webhook_inbox::id.eq(WebhookId::new()),
            webhook_inbox::provider.eq(delivery.provider.as_str()),
            webhook_inbox::event_id.eq(&delivery.event_id),
            webhook_inbox::event_type.eq(delivery.event_type.as_deref()),
            webhook_inbox::account_ref.eq(delivery.account_ref.as_deref()),
            webhook_inbox::tenant_id.eq(delivery.tenant.map(|t| t.0)),
            webhook_inbox::raw_body.eq(&delivery.raw_body),
            webhook_inbox::headers.eq(&delivery.headers),
        ))
        .on_conflict((webhook_inbox::provider, webhook_inbox::event_id))
        .do_nothing()
        .returning(webhook_inbox::id)
        .get_result::<uuid::Uuid>(sys.conn())
        .optional()
        .map(|id| id.map(WebhookId))
}

/// The stored delivery `(provider, event_id)`, if any.
pub fn find_by_event(
    sys: &mut SystemConn<'_>,
    provider: WebhookProvider,
    event_id: &str,
) -> QueryResult<Option<WebhookId>> {
    webhook_inbox::table
        .filter(webhook_inbox::provider.eq(provider.as_str()))
        .filter(webhook_inbox::event_id.eq(event_id))
        .select(webhook_inbox::id)
        .first::<uuid::Uuid>(sys.conn())
        .optional()
        .map(|id| id.map(WebhookId))
}

/// A stored delivery.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_inbox, check_for_backend(diesel::pg::Pg))]
pub struct Delivery {
    pub id: uuid::Uuid,
    pub provider: String,
    pub event_id: String,
    pub event_type: Option<String>,
    pub tenant_id: Option<uuid::Uuid>,
    pub account_ref: Option<String>,
    pub received_at: DateTime<Utc>,
    pub raw_body: Vec<u8>,
    pub headers: Value,
    pub status: String,
    pub processed_at: Option<DateTime<Utc>>,
    pub processing_error: Option<String>,
    pub job_id: Option<uuid::Uuid>,
    pub replay_count: i32,
    pub last_replayed_at: Option<DateTime<Utc>>,
}

impl Delivery {
    pub fn id(&self) -> WebhookId {
        WebhookId(self.id)
    }
    /// The sender (the column's CHECK admits exactly [`WebhookProvider`]'s values).
    pub fn provider(&self) -> Result<WebhookProvider, String> {
        self.provider.parse()
    }
    pub fn tenant(&self) -> Option<TenantId> {
        self.tenant_id.map(TenantId)
    }
}

/// The delivery `id`, locked until the transaction ends (a replay and the end of a processing
/// attempt of one delivery take turns).
pub fn lock(sys: &mut SystemConn<'_>, id: WebhookId) -> QueryResult<Option<Delivery>> {
    webhook_inbox::table
        .find(id.0)
        .select(Delivery::as_select())
        .for_update()
        .first(sys.conn())
        .optional()
}

/// Records the job that processes (or, for QStash, carries out) the delivery, and the tenant
/// it was resolved to.
pub fn set_job(
    sys: &mut SystemConn<'_>,
    id: WebhookId,
    tenant: Option<TenantId>,
    job: JobId,
) -> QueryResult<()> {
    diesel::update(webhook_inbox::table.find(id.0))
        .set((
            webhook_inbox::tenant_id.eq(tenant.map(|t| t.0)),
            webhook_inbox::job_id.eq(Some(job.0)),
        ))
        .execute(sys.conn())
        .map(|_| ())
}

/// Sets a delivery's status (`Processing`, then `Processed`, `Ignored` with the reason, or
/// `Failed` with the error), only while `job` is its current job (a replay since may have handed
/// it to another); returns whether it wrote.
pub fn set_status(
    sys: &mut SystemConn<'_>,
    id: WebhookId,
    job: JobId,
    status: InboxStatus,
    reason: Option<&str>,
) -> QueryResult<bool> {
    let done = matches!(status, InboxStatus::Processed | InboxStatus::Ignored);
    diesel::update(
        webhook_inbox::table
            .find(id.0)
            .filter(webhook_inbox::job_id.eq(job.0)),
    )
    .set((
        webhook_inbox::status.eq(status.as_str()),
        webhook_inbox::processed_at.eq(done.then(Utc::now)),
        webhook_inbox::processing_error.eq(reason),
    ))
    .execute(sys.conn())
    .map(|n| n == 1)
}

/// Starts a replay of a locked delivery: back to `received`, counted. Returns the new replay
/// count.
pub fn start_replay(sys: &mut SystemConn<'_>, id: WebhookId) -> QueryResult<i32> {
    diesel::update(webhook_inbox::table.find(id.0))
        .set((
            webhook_inbox::status.eq(InboxStatus::Received.as_str()),
            webhook_inbox::processed_at.eq(None::<DateTime<Utc>>),
            webhook_inbox::processing_error.eq(None::<String>),
            webhook_inbox::replay_count.eq(webhook_inbox::replay_count + 1),
            webhook_inbox::last_replayed_at.eq(Some(Utc::now())),
        ))
        .returning(webhook_inbox::replay_count)
        .get_result(sys.conn())
}

/// Ids of deliveries matching a filter, oldest first (bulk replays). `stuck`: only deliveries
/// still `received` or `processing` whose job ended without finishing them (dead, cancelled,
/// quarantined: a timeout, a crash, a status that could not be written).
pub fn ids_where(
    sys: &mut SystemConn<'_>,
    provider: Option<WebhookProvider>,
    status: Option<InboxStatus>,
    since: Option<DateTime<Utc>>,
    stuck: bool,
    limit: i64,
) -> QueryResult<Vec<WebhookId>> {
    diesel::sql_query(
        "SELECT w.id FROM webhook_inbox w \
         WHERE ($1::text IS NULL OR w.provider = $1) AND ($2::text IS NULL OR w.status = $2) \
           AND ($3::timestamptz IS NULL OR w.received_at >= $3) \
           AND (NOT $5 OR (w.status IN ('received', 'processing') AND EXISTS ( \
                SELECT 1 FROM jobs j WHERE j.id = w.job_id \
                  AND j.state IN ('dead', 'cancelled', 'quarantined')))) \
         ORDER BY w.received_at, w.id LIMIT $4",
    )
    .bind::<Nullable<Text>, _>(provider.map(WebhookProvider::as_str))
    .bind::<Nullable<Text>, _>(status.map(InboxStatus::as_str))
    .bind::<Nullable<Timestamptz>, _>(since)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .bind::<Bool, _>(stuck)
    .load::<IdRow>(sys.conn())
    .map(|rows| rows.into_iter().map(|r| WebhookId(r.id)).collect())
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: uuid::Uuid,
}

/// A tenant's view of one delivery (the API's list): what arrived and how processing went,
/// not its body.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = WebhookDelivery))]
pub struct DeliverySummary {
    #[diesel(sql_type = SqlUuid)]
    pub id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = Text)]
    pub event_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub event_type: Option<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Timestamptz)]
    pub received_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub processed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub processing_error: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub job_id: Option<uuid::Uuid>,
    #[diesel(sql_type = Int4)]
    pub replay_count: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_replayed_at: Option<DateTime<Utc>>,
}

/// The tenant's deliveries, newest first, after delivery `before` (a page's last). A `before`
/// the tenant cannot see ends the list.
pub fn list(
    scope: &mut TenantConn<'_>,
    provider: Option<WebhookProvider>,
    status: Option<InboxStatus>,
    before: Option<WebhookId>,
    limit: i64,
) -> QueryResult<Vec<DeliverySummary>> {
    diesel::sql_query(
        "SELECT id, provider, event_id, event_type, status, received_at, processed_at, \
                processing_error, job_id, replay_count, last_replayed_at \
         FROM webhook_inbox \
         WHERE ($1::text IS NULL OR provider = $1) AND ($2::text IS NULL OR status = $2) \
           AND ($3::uuid IS NULL OR (received_at, id) < \
                (SELECT received_at, id FROM webhook_inbox WHERE id = $3)) \
         ORDER BY received_at DESC, id DESC LIMIT $4",
    )
    .bind::<Nullable<Text>, _>(provider.map(WebhookProvider::as_str))
    .bind::<Nullable<Text>, _>(status.map(InboxStatus::as_str))
    .bind::<Nullable<SqlUuid>, _>(before.map(|b| b.0))
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(scope.conn())
}

/// Whose deliveries the operator's inbox lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxTenant {
    /// The tenant with this slug.
    Slug(String),
    /// Deliveries no tenant owns (their account is not linked).
    Unresolved,
}

/// The operator's filters over the whole inbox; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    pub provider: Option<WebhookProvider>,
    pub status: Option<InboxStatus>,
    /// Exactly this event type (`charge.succeeded`).
    pub event_type: Option<String>,
    pub tenant: Option<InboxTenant>,
    /// Only deliveries received before this one (keyset pagination, newest first).
    pub before: Option<WebhookId>,
    pub limit: i64,
}

/// A delivery in the operator's inbox: what arrived, for whom, how processing stands; not
/// its body.
#[derive(Debug, Clone, QueryableByName)]
pub struct InboxRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: WebhookId,
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = Text)]
    pub event_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub event_type: Option<String>,
    /// The owning tenant's slug; `None` while no tenant owns it.
    #[diesel(sql_type = Nullable<Text>)]
    pub tenant_slug: Option<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Timestamptz)]
    pub received_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    pub processing_error: Option<String>,
    #[diesel(sql_type = Int4)]
    pub replay_count: i32,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub job_id: Option<JobId>,
    /// The current job's state, while the ledger keeps it.
    #[diesel(sql_type = Nullable<Text>)]
    pub job_state: Option<String>,
}

/// Every tenant's deliveries (and those of none) matching `filter`, newest first: the
/// operator's inbox, on the system path.
pub fn inbox(sys: &mut SystemConn<'_>, filter: &InboxFilter) -> QueryResult<Vec<InboxRow>> {
    let (unresolved, slug) = match &filter.tenant {
        Some(InboxTenant::Unresolved) => (true, None),
        Some(InboxTenant::Slug(slug)) => (false, Some(slug.as_str())),
        None => (false, None),
    };
    diesel::sql_query(
        "SELECT w.id, w.provider, w.event_id, w.event_type, t.slug AS tenant_slug, w.status, \
                w.received_at, w.processing_error, w.replay_count, w.job_id, j.state AS job_state \
         FROM webhook_inbox w \
         LEFT JOIN tenants t ON t.id = w.tenant_id LEFT JOIN jobs j ON j.id = w.job_id \
         WHERE ($1::text IS NULL OR w.provider = $1) AND ($2::text IS NULL OR w.status = $2) \
           AND ($3::text IS NULL OR w.event_type = $3) \
           AND (NOT $4 OR w.tenant_id IS NULL) AND ($5::text IS NULL OR t.slug = $5) \
           AND ($6::uuid IS NULL OR (w.received_at, w.id) < \
                (SELECT received_at, id FROM webhook_inbox WHERE id = $6)) \
         ORDER BY w.received_at DESC, w.id DESC LIMIT $7",
    )
    .bind::<Nullable<Text>, _>(filter.provider.map(WebhookProvider::as_str))
    .bind::<Nullable<Text>, _>(filter.status.map(InboxStatus::as_str))
    .bind::<Nullable<Text>, _>(filter.event_type.as_deref())
    .bind::<Bool, _>(unresolved)
    .bind::<Nullable<Text>, _>(slug)
    .bind::<Nullable<SqlUuid>, _>(filter.before.map(|b| b.0))
    .bind::<diesel::sql_types::BigInt, _>(filter.limit.clamp(1, 1000))
    .load(sys.conn())
}

/// One delivery with its body, for the operator (no lock: reading only).
pub fn get(sys: &mut SystemConn<'_>, id: WebhookId) -> QueryResult<Option<Delivery>> {
    webhook_inbox::table
        .find(id.0)
        .select(Delivery::as_select())
        .first(sys.conn())
        .optional()
}

/// A payment provider's account linked to a tenant.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payment_accounts, check_for_backend(diesel::pg::Pg))]
pub struct PaymentAccount {
    pub id: uuid::Uuid,
    pub tenant_id: uuid::Uuid,
    pub provider: String,
    pub account_ref: String,
    pub credentials: Option<Vec<u8>>,
    pub credentials_key_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl PaymentAccount {
    pub fn id(&self) -> PaymentAccountId {
        PaymentAccountId(self.id)
    }
    pub fn tenant(&self) -> TenantId {
        TenantId(self.tenant_id)
    }
    /// The sealed access token, when one is stored.
    pub fn sealed(&self) -> Option<crate::connections::SealedCredentials> {
        match (&self.credentials, &self.credentials_key_id) {
            (Some(ciphertext), Some(key_id)) => Some(crate::connections::SealedCredentials {
                ciphertext: ciphertext.clone(),
                key_id: key_id.clone(),
            }),
            _ => None,
        }
    }
}

/// The linked account `(provider, account_ref)`.
pub fn payment_account(
    sys: &mut SystemConn<'_>,
    provider: PaymentProvider,
    account_ref: &str,
) -> QueryResult<Option<PaymentAccount>> {
    payment_accounts::table
        .filter(payment_accounts::provider.eq(provider.as_str()))
        .filter(payment_accounts::account_ref.eq(account_ref))
        .select(PaymentAccount::as_select())
        .first(sys.conn())
        .optional()
}

/// Every linked account, by provider and reference.
pub fn payment_accounts(sys: &mut SystemConn<'_>) -> QueryResult<Vec<PaymentAccount>> {
    payment_accounts::table
        .order((payment_accounts::provider, payment_accounts::account_ref))
        .select(PaymentAccount::as_select())
        .load(sys.conn())
}

/// Links `(provider, account_ref)` to `tenant` as row `id`, or updates the access token of
/// that tenant's existing link. Returns `false`, changing nothing, when the account belongs to
/// another tenant.
pub fn link_payment_account(
    sys: &mut SystemConn<'_>,
    id: PaymentAccountId,
    tenant: TenantId,
    provider: PaymentProvider,
    account_ref: &str,
    sealed: Option<&crate::connections::SealedCredentials>,
) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Linked {
        #[diesel(sql_type = Bool)]
        linked: bool,
    }
    let (ciphertext, key_id) = sealed.map(|s| (&s.ciphertext, &s.key_id)).unzip();
    diesel::sql_query(
        "WITH written AS ( \
             INSERT INTO payment_accounts AS p \
                 (id, tenant_id, provider, account_ref, credentials, credentials_key_id) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (provider, account_ref) DO UPDATE \
                 SET credentials = COALESCE(EXCLUDED.credentials, p.credentials), \
                     credentials_key_id = COALESCE(EXCLUDED.credentials_key_id, p.credentials_key_id) \
                 WHERE p.tenant_id = EXCLUDED.tenant_id AND p.id = EXCLUDED.id \
             RETURNING 1) \
         SELECT EXISTS (SELECT 1 FROM written) AS linked",
    )
    .bind::<SqlUuid, _>(id.0)
    .bind::<SqlUuid, _>(tenant.0)
    .bind::<Text, _>(provider.as_str())
    .bind::<Text, _>(account_ref)
    .bind::<Nullable<diesel::sql_types::Bytea>, _>(ciphertext)
    .bind::<Nullable<Text>, _>(key_id)
    .get_result::<Linked>(sys.conn())
    .map(|r| r.linked)
}

/// Replaces the sealed access token of account `id` if it is still `previous` (rotation).
pub fn reseal_payment_account(
    sys: &mut SystemConn<'_>,
    id: PaymentAccountId,
    previous: &crate::connections::SealedCredentials,
    sealed: &crate::connections::SealedCredentials,
) -> QueryResult<bool> {
    diesel::update(
        payment_accounts::table
            .find(id.0)
            .filter(payment_accounts::credentials.eq(&previous.ciphertext))
            .filter(payment_accounts::credentials_key_id.eq(&previous.key_id)),
    )
    .set((
        payment_accounts::credentials.eq(&sealed.ciphertext),
        payment_accounts::credentials_key_id.eq(&sealed.key_id),
    ))
    .execute(sys.conn())
    .map(|n| n == 1)
}
