//! What a bank sync writes: accounts and their balances, transactions by natural key
//! (`tenant_id, account_id, external_id`) in multi-row upserts, the per-account sync position,
//! and the provider items it refused. Every writing function runs in the tenant's scope; the
//! data-age reads (metrics, the console's freshness page) run on the system path, across tenants.
//!
//! An upsert writes only what changed: a transaction that the provider sends again unchanged is
//! not touched (no new row version, no trigger work), so syncing twice leaves the database as it
//! was. A category set by a person (`category_manual`) is never replaced.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel::upsert::excluded;

use crate::schema::{accounts, sync_rejections};
use crate::{AccountId, ConnectionId, TenantConn};

crate::text_enum! {
    /// What an account is.
    pub enum AccountKind {
        Checking => "checking",
        Savings => "savings",
        CreditCard => "credit_card",
    }
}

crate::text_enum! {
    /// Whether a transaction has settled.
    pub enum TransactionStatus {
        Pending => "pending",
        Posted => "posted",
    }
}

/// An account as the provider describes it. Balances are signed minor units: a card's balance
/// is negative when money is owed.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = accounts)]
pub struct AccountUpsert {
    pub external_id: String,
    pub kind: AccountKind,
    pub name: String,
    pub institution: String,
    pub currency: String,
    pub current_balance_minor: Option<i64>,
    pub available_balance_minor: Option<i64>,
    pub balance_as_of: Option<DateTime<Utc>>,
    pub credit_limit_minor: Option<i64>,
    pub statement_balance_minor: Option<i64>,
    pub statement_closing_date: Option<NaiveDate>,
    pub statement_due_date: Option<NaiveDate>,
}

/// A stored account of the connection and where its sync stands.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts, check_for_backend(diesel::pg::Pg))]
pub struct SyncAccount {
    pub id: AccountId,
    pub connection_id: ConnectionId,
    pub external_id: String,
    pub kind: AccountKind,
    pub currency: String,
    /// The sync's saved position (a JSON document the sync owns) while a pass is unfinished.
    pub sync_cursor: Option<String>,
    /// The last day a finished pass covered.
    pub synced_through: Option<NaiveDate>,
}

/// Inserts or updates the connection's accounts (by external id) and returns them all. An
/// account's currency never changes once stored (its transactions are in it).
pub fn upsert_accounts(
    scope: &mut TenantConn<'_>,
    connection: ConnectionId,
    rows: &[AccountUpsert],
) -> QueryResult<Vec<SyncAccount>> {
    use accounts::dsl as a;
    // `filter` on an upsert is the `WHERE` of its `DO UPDATE`.
    use diesel::query_dsl::methods::FilterDsl as _;
    let tenant = scope.tenant_id();
    for row in rows {
        diesel::insert_into(a::accounts)
            .values((
                a::tenant_id.eq(tenant),
                a::connection_id.eq(connection),
                row,
            ))
            .on_conflict((a::tenant_id, a::connection_id, a::external_id))
            .do_update()
            .set((
                a::kind.eq(excluded(a::kind)),
                a::name.eq(excluded(a::name)),
                a::institution.eq(excluded(a::institution)),
                a::current_balance_minor.eq(excluded(a::current_balance_minor)),
                a::available_balance_minor.eq(excluded(a::available_balance_minor)),
                a::balance_as_of.eq(excluded(a::balance_as_of)),
                a::credit_limit_minor.eq(excluded(a::credit_limit_minor)),
                a::statement_balance_minor.eq(excluded(a::statement_balance_minor)),
                a::statement_closing_date.eq(excluded(a::statement_closing_date)),
                a::statement_due_date.eq(excluded(a::statement_due_date)),
            ))
            // Unchanged accounts are not rewritten.
            .filter(
                a::kind
                    .is_distinct_from(excluded(a::kind))
                    .or(a::name.is_distinct_from(excluded(a::name)))
                    .or(a::institution.is_distinct_from(excluded(a::institution)))
                    .or(a::current_balance_minor
                        .is_distinct_from(excluded(a::current_balance_minor)))
                    .or(a::available_balance_minor
                        .is_distinct_from(excluded(a::available_balance_minor)))
                    .or(a::balance_as_of.is_distinct_from(excluded(a::balance_as_of)))
                    .or(a::credit_limit_minor.is_distinct_from(excluded(a::credit_limit_minor)))
                    .or(a::statement_balance_minor
                        .is_distinct_from(excluded(a::statement_balance_minor)))
                    .or(a::statement_closing_date
                        .is_distinct_from(excluded(a::statement_closing_date)))
                    .or(a::statement_due_date.is_distinct_from(excluded(a::statement_due_date))),
            )
            .execute(scope.conn())?;
    }
    connection_accounts(scope, connection)
}

/// The connection's stored accounts, by external id.
pub fn connection_accounts(
    scope: &mut TenantConn<'_>,
    connection: ConnectionId,
) -> QueryResult<Vec<SyncAccount>> {
    accounts::table
        .filter(accounts::connection_id.eq(connection))
        .select(SyncAccount::as_select())
        .order(accounts::external_id)
        .load(scope.conn())
}

/// One stored account.
pub fn account(scope: &mut TenantConn<'_>, id: AccountId) -> QueryResult<Option<SyncAccount>> {
    accounts::table
        .find(id)
        .select(SyncAccount::as_select())
        .first(scope.conn())
        .optional()
}

/// Locks the account's row and tells whether its saved position is still `expected` (what this
/// pass loaded or last saved). Another pass that moved it meanwhile owns the account: the caller
/// stops, so two passes never interleave their pages.
pub fn position_is(
    scope: &mut TenantConn<'_>,
    id: AccountId,
    expected: Option<&str>,
) -> QueryResult<bool> {
    let current: Option<Option<String>> = accounts::table
        .find(id)
        .select(accounts::sync_cursor)
        .for_update()
        .first(scope.conn())
        .optional()?;
    Ok(current.is_some_and(|current| current.as_deref() == expected))
}

/// Saves an unfinished pass's position (so a retry resumes from the page it reached).
pub fn save_position(scope: &mut TenantConn<'_>, id: AccountId, cursor: &str) -> QueryResult<()> {
    diesel::update(accounts::table.find(id))
        .set(accounts::sync_cursor.eq(cursor))
        .execute(scope.conn())
        .map(drop)
}

/// A pass over the account finished: it is synced through `through` (or later, if another pass
/// got further meanwhile), as of now.
pub fn finish_pass(
    scope: &mut TenantConn<'_>,
    id: AccountId,
    through: NaiveDate,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE accounts SET sync_cursor = NULL, last_successful_sync_at = now(), \
             synced_through = greatest(synced_through, $2) WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id.0)
    .bind::<Date, _>(through)
    .execute(scope.conn())
    .map(drop)
}

/// Drops an unfinished pass's position: the next pass starts its window afresh.
pub fn forget_position(scope: &mut TenantConn<'_>, id: AccountId) -> QueryResult<()> {
    diesel::update(accounts::table.find(id))
        .set(accounts::sync_cursor.eq(None::<String>))
        .execute(scope.conn())
        .map(drop)
}

/// The booking day of the account's oldest pending transaction.
pub fn oldest_pending(scope: &mut TenantConn<'_>, id: AccountId) -> QueryResult<Option<NaiveDate>> {
    use crate::schema::transactions::dsl as t;
    t::transactions
        .filter(t::account_id.eq(id))
        .filter(t::status.eq(TransactionStatus::Pending.as_str()))
        .select(diesel::dsl::min(t::booked_date))
        .first(scope.conn())
}

/// A transaction as the provider sent it, converted (money in minor units of the account's
/// currency, signed: negative leaves the account).
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionUpsert {
    pub external_id: String,
    pub booked_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub amount_minor: i64,
    pub original_amount_minor: Option<i64>,
    pub original_currency: Option<String>,
    pub description: String,
    pub counterparty: Option<String>,
    /// What the categorizer chose; ignored for transactions a person categorized.
    pub category_id: Option<uuid::Uuid>,
    pub provider_category: Option<String>,
    pub status: TransactionStatus,
    pub raw: serde_json::Value,
}

/// What an upsert changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, QueryableByName)]
pub struct UpsertCounts {
    #[diesel(sql_type = BigInt)]
    pub inserted: i64,
    #[diesel(sql_type = BigInt)]
    pub updated: i64,
}

/// Inserts new transactions of the account and updates those that changed, in one statement.
/// `rows` must not repeat an external id (the caller keeps the provider's last version).
pub fn upsert_transactions(
    scope: &mut TenantConn<'_>,
    account: AccountId,
    currency: &str,
    rows: &[TransactionUpsert],
) -> QueryResult<UpsertCounts> {
    if rows.is_empty() {
        return Ok(UpsertCounts::default());
    }
    let tenant = scope.tenant_id();
    let mut columns = Columns::with_capacity(rows.len());
    for row in rows {
        columns.push(row);
    }
    diesel::sql_query(UPSERT)
        .bind::<SqlUuid, _>(tenant.0)
        .bind::<SqlUuid, _>(account.0)
        .bind::<Text, _>(currency)
        .bind::<Array<Text>, _>(columns.external_id)
        .bind::<Array<Date>, _>(columns.booked_date)
        .bind::<Array<Nullable<Date>>, _>(columns.value_date)
        .bind::<Array<BigInt>, _>(columns.amount_minor)
        .bind::<Array<Nullable<BigInt>>, _>(columns.original_amount_minor)
        .bind::<Array<Nullable<Text>>, _>(columns.original_currency)
        .bind::<Array<Text>, _>(columns.description)
        .bind::<Array<Nullable<Text>>, _>(columns.counterparty)
        .bind::<Array<Nullable<SqlUuid>>, _>(columns.category_id)
        .bind::<Array<Nullable<Text>>, _>(columns.provider_category)
        .bind::<Array<Text>, _>(columns.status)
        .bind::<Array<Jsonb>, _>(columns.raw)
        .bind::<Array<SqlUuid>, _>(columns.id)
        .get_result(scope.conn())
}

/// Only rows whose content differs are updated: an unchanged re-read writes nothing.
const UPSERT: &str = "\
WITH written AS (
    INSERT INTO transactions AS t (tenant_id, account_id, currency, id, external_id, booked_date,
        value_date, amount_minor, original_amount_minor, original_currency, description,
        counterparty, category_id, provider_category, status, raw)
    SELECT $1, $2, $3, x.* FROM unnest($16::uuid[], $4::text[], $5::date[], $6::date[],
        $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::uuid[],
        $13::text[], $14::text[], $15::jsonb[])
        AS x(id, external_id, booked_date, value_date, amount_minor, original_amount_minor,
             original_currency, description, counterparty, category_id, provider_category,
             status, raw)
    ON CONFLICT (tenant_id, account_id, external_id) DO UPDATE SET
        booked_date = EXCLUDED.booked_date,
        value_date = EXCLUDED.value_date,
        amount_minor = EXCLUDED.amount_minor,
        original_amount_minor = EXCLUDED.original_amount_minor,
        original_currency = EXCLUDED.original_currency,
        description = EXCLUDED.description,
        counterparty = EXCLUDED.counterparty,
        category_id = CASE WHEN t.category_manual THEN t.category_id ELSE EXCLUDED.category_id END,
        provider_category = EXCLUDED.provider_category,
        status = EXCLUDED.status,
        raw = EXCLUDED.raw
    WHERE (t.booked_date, t.value_date, t.amount_minor, t.original_amount_minor,
           t.original_currency, t.description, t.counterparty, t.provider_category, t.status,
           t.raw)
          IS DISTINCT FROM
          (EXCLUDED.booked_date, EXCLUDED.value_date, EXCLUDED.amount_minor,
           EXCLUDED.original_amount_minor, EXCLUDED.original_currency, EXCLUDED.description,
           EXCLUDED.counterparty, EXCLUDED.provider_category, EXCLUDED.status, EXCLUDED.raw)
       OR (NOT t.category_manual AND t.category_id IS DISTINCT FROM EXCLUDED.category_id)
    RETURNING xmax = 0 AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM written";

/// The upsert's parameters, one array per column.
struct Columns {
    /// New rows' ids: time-ordered (UUIDv7), so the primary key grows at its right edge instead
    /// of touching a random page per row. An existing row keeps its id.
    id: Vec<uuid::Uuid>,
    external_id: Vec<String>,
    booked_date: Vec<NaiveDate>,
    value_date: Vec<Option<NaiveDate>>,
    amount_minor: Vec<i64>,
    original_amount_minor: Vec<Option<i64>>,
    original_currency: Vec<Option<String>>,
    description: Vec<String>,
    counterparty: Vec<Option<String>>,
    category_id: Vec<Option<uuid::Uuid>>,
    provider_category: Vec<Option<String>>,
    status: Vec<&'static str>,
    raw: Vec<serde_json::Value>,
}

impl Columns {
    fn with_capacity(n: usize) -> Columns {
        Columns {
            id: Vec::with_capacity(n),
            external_id: Vec::with_capacity(n),
            booked_date: Vec::with_capacity(n),
            value_date: Vec::with_capacity(n),
            amount_minor: Vec::with_capacity(n),
            original_amount_minor: Vec::with_capacity(n),
            original_currency: Vec::with_capacity(n),
            description: Vec::with_capacity(n),
            counterparty: Vec::with_capacity(n),
            category_id: Vec::with_capacity(n),
            provider_category: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            raw: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, row: &TransactionUpsert) {
        self.id.push(uuid::Uuid::now_v7());
        self.external_id.push(row.external_id.clone());
        self.booked_date.push(row.booked_date);
        self.value_date.push(row.value_date);
        self.amount_minor.push(row.amount_minor);
        self.original_amount_minor.push(row.original_amount_minor);
        self.original_currency.push(row.original_currency.clone());
        self.description.push(row.description.clone());
        self.counterparty.push(row.counterparty.clone());
        self.category_id.push(row.category_id);
        self.provider_category.push(row.provider_category.clone());
        self.status.push(row.status.as_str());
        self.raw.push(row.raw.clone());
    }
}

/// Pending transactions of the account booked in the pass's window (`since`..=`until`) that the
/// pass did not see (`seen`: every id the provider listed as pending or that was refused): the
/// provider dropped them (a pending charge that posted under a new id, or was voided). They are
/// deleted, so they are not counted twice or left dangling. Returns how many.
pub fn resolve_dropped_pending(
    scope: &mut TenantConn<'_>,
    account: AccountId,
    since: NaiveDate,
    until: NaiveDate,
    seen: &[String],
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM transactions WHERE account_id = $1 AND status = 'pending' \
         AND booked_date BETWEEN $2 AND $3 AND NOT (external_id = ANY($4::text[]))",
    )
    .bind::<SqlUuid, _>(account.0)
    .bind::<Date, _>(since)
    .bind::<Date, _>(until)
    .bind::<Array<Text>, _>(seen)
    .execute(scope.conn())
}

/// A provider item the sync refused.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub external_id: String,
    /// `precision`, `overflow`, `currency` or `invalid`.
    pub reason: &'static str,
    pub detail: String,
    pub raw: serde_json::Value,
}

/// Records refused items (updating `last_seen_at` of those seen before) and forgets earlier
/// refusals of the ids in `accepted`, which the provider has now sent in a valid form.
pub fn record_rejections(
    scope: &mut TenantConn<'_>,
    account: AccountId,
    rejected: &[Rejection],
    accepted: &[String],
) -> QueryResult<()> {
    use sync_rejections::dsl as r;
    let tenant = scope.tenant_id();
    for rejection in rejected {
        diesel::insert_into(r::sync_rejections)
            .values((
                r::tenant_id.eq(tenant),
                r::account_id.eq(account),
                r::external_id.eq(&rejection.external_id),
                r::reason.eq(rejection.reason),
                r::detail.eq(&rejection.detail),
                r::raw.eq(&rejection.raw),
            ))
            .on_conflict((r::tenant_id, r::account_id, r::external_id))
            .do_update()
            .set((
                r::reason.eq(rejection.reason),
                r::detail.eq(&rejection.detail),
                r::raw.eq(&rejection.raw),
                r::last_seen_at.eq(diesel::dsl::now),
            ))
            .execute(scope.conn())?;
    }
    if !accepted.is_empty() {
        diesel::delete(
            r::sync_rejections
                .filter(r::account_id.eq(account))
                .filter(r::external_id.eq_any(accepted)),
        )
        .execute(scope.conn())?;
    }
    Ok(())
}

/// One account's data age for the metrics.
#[derive(Debug, Clone, QueryableByName)]
pub struct DataAge {
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: uuid::Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub account_id: uuid::Uuid,
    /// Seconds since the last successful sync, or since the account was created when it never
    /// synced.
    #[diesel(sql_type = BigInt)]
    pub seconds: i64,
}

/// How old an account's data is, in whole seconds: since its last successful sync, or since it
/// was created when it never synced (`a` is `accounts`).
const ACCOUNT_AGE: &str =
    "floor(extract(epoch FROM now() - coalesce(a.last_successful_sync_at, a.created_at)))::bigint";
/// The same for a connection (`c` is `provider_connections`).
const CONNECTION_AGE: &str =
    "floor(extract(epoch FROM now() - coalesce(c.last_successful_sync_at, c.created_at)))::bigint";
/// Accounts with their connection.
const ACCOUNTS: &str = "accounts a JOIN provider_connections c ON c.id = a.connection_id";
/// The accounts whose age counts: active accounts of connections that are not disabled.
const ACCOUNT_COUNTS: &str = "a.status = 'active' AND c.status <> 'disabled'";

/// Every active account's data age, across tenants.
pub fn data_ages(sys: &mut crate::SystemConn<'_>) -> QueryResult<Vec<DataAge>> {
    diesel::sql_query(format!(
        "SELECT a.tenant_id, a.id AS account_id, {ACCOUNT_AGE} AS seconds \
         FROM {ACCOUNTS} WHERE {ACCOUNT_COUNTS} ORDER BY a.tenant_id, a.id"
    ))
    .load(sys.conn())
}

/// A connection's data age and its last failure, for the console (across tenants).
#[derive(Debug, Clone, QueryableByName)]
pub struct ConnectionFreshness {
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    pub tenant_slug: String,
    #[diesel(sql_type = SqlUuid)]
    pub connection_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = Text)]
    pub connection_name: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    pub last_successful_sync_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    pub last_error_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Int4)]
    pub consecutive_failures: i32,
    /// Seconds since the last successful sync (since it was created when it never synced).
    #[diesel(sql_type = BigInt)]
    pub age_seconds: i64,
}

/// Connections that are not disabled, oldest data first, at most `limit`; with `older_than`
/// (seconds) only those whose data is older than that.
pub fn connection_freshness(
    sys: &mut crate::SystemConn<'_>,
    older_than: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<ConnectionFreshness>> {
    diesel::sql_query(format!(
        "SELECT c.tenant_id, t.slug AS tenant_slug, c.id AS connection_id, c.provider, \
                c.display_name AS connection_name, c.status, c.last_successful_sync_at, \
                c.last_error, c.last_error_at, c.consecutive_failures, {CONNECTION_AGE} AS age_seconds \
         FROM provider_connections c JOIN tenants t ON t.id = c.tenant_id \
         WHERE c.status <> 'disabled' AND ($1::bigint IS NULL OR {CONNECTION_AGE} > $1) \
         ORDER BY age_seconds DESC, t.slug, c.display_name, c.id LIMIT $2"
    ))
    .bind::<Nullable<BigInt>, _>(older_than)
    .bind::<BigInt, _>(limit.max(0))
    .load(sys.conn())
}

/// An account's data age, with its connection's last failure, for the console.
#[derive(Debug, Clone, QueryableByName)]
pub struct AccountFreshness {
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    pub tenant_slug: String,
    #[diesel(sql_type = SqlUuid)]
    pub connection_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = Text)]
    pub connection_name: String,
    #[diesel(sql_type = SqlUuid)]
    pub account_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    pub account_name: String,
    #[diesel(sql_type = Text)]
    pub institution: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    pub last_successful_sync_at: Option<DateTime<Utc>>,
    /// The connection's last error (accounts sync through their connection).
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub age_seconds: i64,
}

/// The accounts [`data_ages`] covers, oldest data first, at most `limit`.
pub fn account_freshness(
    sys: &mut crate::SystemConn<'_>,
    limit: i64,
) -> QueryResult<Vec<AccountFreshness>> {
    diesel::sql_query(format!(
        "SELECT a.tenant_id, t.slug AS tenant_slug, c.id AS connection_id, c.provider, \
                c.display_name AS connection_name, a.id AS account_id, a.name AS account_name, \
                a.institution, a.last_successful_sync_at, c.last_error, {ACCOUNT_AGE} AS age_seconds \
         FROM {ACCOUNTS} JOIN tenants t ON t.id = a.tenant_id WHERE {ACCOUNT_COUNTS} \
         ORDER BY age_seconds DESC, t.slug, c.display_name, a.name, a.id LIMIT $1"
    ))
    .bind::<BigInt, _>(limit.max(0))
    .load(sys.conn())
}

/// How many connections and accounts count, and how many of them are older than `objective`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, QueryableByName)]
pub struct FreshnessCounts {
    #[diesel(sql_type = BigInt)]
    pub connections: i64,
    #[diesel(sql_type = BigInt)]
    pub stale_connections: i64,
    #[diesel(sql_type = BigInt)]
    pub accounts: i64,
    #[diesel(sql_type = BigInt)]
    pub stale_accounts: i64,
}

/// Counts for [`connection_freshness`] and [`account_freshness`] against `objective` seconds.
pub fn freshness_counts(
    sys: &mut crate::SystemConn<'_>,
    objective: i64,
) -> QueryResult<FreshnessCounts> {
    diesel::sql_query(format!(
        "SELECT (SELECT count(*) FROM provider_connections c WHERE c.status <> 'disabled') \
                    AS connections, \
                (SELECT count(*) FROM provider_connections c \
                  WHERE c.status <> 'disabled' AND {CONNECTION_AGE} > $1) AS stale_connections, \
                (SELECT count(*) FROM {ACCOUNTS} WHERE {ACCOUNT_COUNTS}) AS accounts, \
                (SELECT count(*) FROM {ACCOUNTS} WHERE {ACCOUNT_COUNTS} AND {ACCOUNT_AGE} > $1) \
                    AS stale_accounts"
    ))
    .bind::<BigInt, _>(objective)
    .get_result(sys.conn())
}
