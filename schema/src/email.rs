//! Outgoing email: the outbox (one row per email, unique per tenant and dedupe key, so whatever
//! composes an email may run again without sending it twice), who receives which kind of email,
//! and the per-user preferences that decide it.
//!
//! Everything runs in a tenant scope except [`unsubscribe`], which the unsubscribe link reaches
//! on the system path after its token was verified (the link is the only thing that names the
//! tenant). This module stores and loads; it never decides what an email says.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Uuid as SqlUuid};

use crate::schema::email_outbox;
use crate::{OutboxId, SystemConn, TenantConn, TenantId, UserId};

crate::text_enum! {
    /// Where an email is in its life: `pending` (waiting for its send job), `sending` (an
    /// attempt started; a crash leaves it here and the next attempt sends it again with the same
    /// `Message-ID`), `sent`, `failed` (no attempt left, or refused for good), `suppressed` (the
    /// recipient turned this kind of email off before it went out).
    pub enum OutboxStatus {
        Pending => "pending",
        Sending => "sending",
        Sent => "sent",
        Failed => "failed",
        Suppressed => "suppressed",
    }
}

crate::text_enum! {
    /// What a user can turn off: the daily summary, or alerts (every kind of alert together).
    pub enum Topic {
        DailySummary => "daily_summary",
        Alerts => "alerts",
    }
}

/// An email to queue.
#[derive(Debug, Clone)]
pub struct NewEmail {
    pub user_id: UserId,
    /// `daily_summary` or the alert's kind (`alert_low_balance`, ...).
    pub kind: String,
    /// The email's identity: a second email with the same key is never written.
    pub dedupe_key: String,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
}

/// An email in the outbox.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = email_outbox)]
pub struct OutboxEmail {
    pub id: OutboxId,
    pub tenant_id: TenantId,
    pub user_id: Option<UserId>,
    pub kind: String,
    pub dedupe_key: String,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub message_id: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = SqlUuid)]
    id: OutboxId,
}

/// Writes `email` unless the tenant already has one with its dedupe key; the new row's id, or
/// `None` for a duplicate.
pub fn insert(scope: &mut TenantConn<'_>, email: &NewEmail) -> QueryResult<Option<OutboxId>> {
    let inserted: Option<Inserted> = diesel::sql_query(
        "INSERT INTO email_outbox (id, tenant_id, user_id, kind, dedupe_key, to_address, subject, \
                                   body_text, body_html) \
         VALUES ($1, current_tenant_id(), $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (tenant_id, dedupe_key) DO NOTHING RETURNING id",
    )
    .bind::<SqlUuid, _>(OutboxId::new())
    .bind::<SqlUuid, _>(email.user_id)
    .bind::<Text, _>(&email.kind)
    .bind::<Text, _>(&email.dedupe_key)
    .bind::<Text, _>(&email.to_address)
    .bind::<Text, _>(&email.subject)
    .bind::<Text, _>(&email.body_text)
    .bind::<Text, _>(&email.body_html)
    .get_result(scope.conn())
    .optional()?;
    Ok(inserted.map(|row| row.id))
}

/// The email `id`, locked until the scope ends (one send attempt at a time per email).
pub fn lock(scope: &mut TenantConn<'_>, id: OutboxId) -> QueryResult<Option<OutboxEmail>> {
    email_outbox::table
        .find(id)
        .select(OutboxEmail::as_select())
        .for_update()
        .first(scope.conn())
        .optional()
}

/// The emails whose dedupe key starts with `prefix`, oldest first (operators and tests).
pub fn by_key_prefix(scope: &mut TenantConn<'_>, prefix: &str) -> QueryResult<Vec<OutboxEmail>> {
    email_outbox::table
        .filter(email_outbox::dedupe_key.like(format!("{}%", escape_like(prefix))))
        .order((email_outbox::created_at, email_outbox::id))
        .select(OutboxEmail::as_select())
        .load(scope.conn())
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// An attempt starts: `sending`, one more attempt counted.
pub fn start_attempt(scope: &mut TenantConn<'_>, id: OutboxId) -> QueryResult<()> {
    diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::status.eq(OutboxStatus::Sending),
            email_outbox::attempts.eq(email_outbox::attempts + 1),
        ))
        .execute(scope.conn())
        .map(drop)
}

/// The server accepted the email.
pub fn mark_sent(scope: &mut TenantConn<'_>, id: OutboxId, message_id: &str) -> QueryResult<()> {
    diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::status.eq(OutboxStatus::Sent),
            email_outbox::message_id.eq(message_id),
            email_outbox::sent_at.eq(diesel::dsl::now),
            email_outbox::last_error.eq(None::<String>),
        ))
        .execute(scope.conn())
        .map(drop)
}

/// An attempt failed: `failed` when no attempt will follow, else back to `pending` with the
/// error for the next one.
pub fn mark_failed(
    scope: &mut TenantConn<'_>,
    id: OutboxId,
    error: &str,
    last: bool,
) -> QueryResult<()> {
    let status = if last {
        OutboxStatus::Failed
    } else {
        OutboxStatus::Pending
    };
    diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::status.eq(status),
            email_outbox::last_error.eq(error),
        ))
        .execute(scope.conn())
        .map(drop)
}

/// The recipient turned this kind of email off (or is gone): it is never sent.
pub fn mark_suppressed(scope: &mut TenantConn<'_>, id: OutboxId, reason: &str) -> QueryResult<()> {
    diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::status.eq(OutboxStatus::Suppressed),
            email_outbox::last_error.eq(reason),
        ))
        .execute(scope.conn())
        .map(drop)
}

/// Which emails a user wants. Without a stored row, everything is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// The daily summary email.
    pub daily_summary: bool,
    /// Alerts: projected low balance, a connection failing to sync, an unusually large expense.
    pub alerts: bool,
}

impl Preferences {
    pub const DEFAULT: Preferences = Preferences {
        daily_summary: true,
        alerts: true,
    };

    pub fn wants(self, topic: Topic) -> bool {
        match topic {
            Topic::DailySummary => self.daily_summary,
            Topic::Alerts => self.alerts,
        }
    }
}

#[derive(QueryableByName)]
struct PreferenceRow {
    #[diesel(sql_type = Bool)]
    daily_summary: bool,
    #[diesel(sql_type = Bool)]
    alerts: bool,
}

/// `user`'s preferences (the defaults when none are stored); `None` when the scope's tenant
/// has no such user.
pub fn preferences(scope: &mut TenantConn<'_>, user: UserId) -> QueryResult<Option<Preferences>> {
    let row: Option<PreferenceRow> = diesel::sql_query(
        "SELECT coalesce(p.daily_summary, true) AS daily_summary, coalesce(p.alerts, true) AS alerts \
         FROM users u LEFT JOIN notification_preferences p ON p.user_id = u.id WHERE u.id = $1",
    )
    .bind::<SqlUuid, _>(user)
    .get_result(scope.conn())
    .optional()?;
    Ok(row.map(|r| Preferences {
        daily_summary: r.daily_summary,
        alerts: r.alerts,
    }))
}

/// Stores `user`'s preferences; `false` when the scope's tenant has no such user.
pub fn set_preferences(
    scope: &mut TenantConn<'_>,
    user: UserId,
    preferences: Preferences,
) -> QueryResult<bool> {
    let written = diesel::sql_query(
        "INSERT INTO notification_preferences (tenant_id, user_id, daily_summary, alerts) \
         SELECT tenant_id, id, $2, $3 FROM users WHERE id = $1 \
         ON CONFLICT (tenant_id, user_id) DO UPDATE \
             SET daily_summary = EXCLUDED.daily_summary, alerts = EXCLUDED.alerts \
             WHERE (notification_preferences.daily_summary, notification_preferences.alerts) \
                   IS DISTINCT FROM (EXCLUDED.daily_summary, EXCLUDED.alerts)",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<Bool, _>(preferences.daily_summary)
    .bind::<Bool, _>(preferences.alerts)
    .execute(scope.conn())?;
    if written == 1 {
        return Ok(true);
    }
    user_exists(scope.conn(), None, user)
}

fn user_exists(
    conn: &mut PgConnection,
    tenant: Option<TenantId>,
    user: UserId,
) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = Bool)]
        exists: bool,
    }
    diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 \
                        AND ($2::uuid IS NULL OR tenant_id = $2)) AS exists",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<Nullable<SqlUuid>, _>(tenant)
    .get_result::<Exists>(conn)
    .map(|r| r.exists)
}

/// Turns `topic` off for `user` of `tenant` (an unsubscribe link). Idempotent; `false` when
/// the tenant has no such user.
pub fn unsubscribe(
    sys: &mut SystemConn<'_>,
    tenant: TenantId,
    user: UserId,
    topic: Topic,
) -> QueryResult<bool> {
    if !user_exists(sys.conn(), Some(tenant), user)? {
        return Ok(false);
    }
    let column = match topic {
        Topic::DailySummary => "daily_summary",
        Topic::Alerts => "alerts",
    };
    // `column` is one of two literals above, never input.
    diesel::sql_query(format!(
        "INSERT INTO notification_preferences (tenant_id, user_id, {column}) VALUES ($1, $2, false) \
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET {column} = false \
             WHERE notification_preferences.{column}"
    ))
    .bind::<SqlUuid, _>(tenant)
    .bind::<SqlUuid, _>(user)
    .execute(sys.conn())?;
    Ok(true)
}

/// Someone who receives email of a topic.
#[derive(Debug, Clone, QueryableByName)]
pub struct Recipient {
    #[diesel(sql_type = SqlUuid)]
    pub user_id: UserId,
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub display_name: Option<String>,
}

/// The tenant's enabled users who want `topic`, oldest first.
pub fn recipients(scope: &mut TenantConn<'_>, topic: Topic) -> QueryResult<Vec<Recipient>> {
    recipients_among(scope, topic, None)
}

fn recipients_among(
    scope: &mut TenantConn<'_>,
    topic: Topic,
    only: Option<UserId>,
) -> QueryResult<Vec<Recipient>> {
    let column = match topic {
        Topic::DailySummary => "daily_summary",
        Topic::Alerts => "alerts",
    };
    // `column` is one of two literals above, never input.
    diesel::sql_query(format!(
        "SELECT u.id AS user_id, u.email, u.display_name FROM users u \
         LEFT JOIN notification_preferences p ON p.tenant_id = u.tenant_id AND p.user_id = u.id \
         WHERE u.disabled_at IS NULL AND COALESCE(p.{column}, true) \
               AND ($1::uuid IS NULL OR u.id = $1) \
         ORDER BY u.created_at, u.id"
    ))
    .bind::<Nullable<SqlUuid>, _>(only)
    .load(scope.conn())
}

/// Whether `user` is enabled and still wants `topic` (checked again when an email goes out).
pub fn still_wants(scope: &mut TenantConn<'_>, user: UserId, topic: Topic) -> QueryResult<bool> {
    Ok(!recipients_among(scope, topic, Some(user))?.is_empty())
}
