//! The admin console's own records: operators, sessions and failed sign-ins.
//!
//! The console shows the whole deployment, so these live on the system path only. A session is
//! stored as the SHA-256 of the cookie's token (a leaked table cannot be replayed); it expires
//! when idle and, in any case, a fixed time after sign-in.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::schema::{console_login_failures, console_operators, console_sessions, users};
use crate::users::{Role, User};
use crate::{SystemConn, UserId};

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::hours(2);
/// And in any case this long after sign-in.
pub const MAX_AGE: Duration = Duration::hours(12);
/// Failed sign-ins allowed before the next attempt has to wait.
pub const FREE_FAILURES: i32 = 5;
/// The longest wait between attempts.
pub const MAX_WAIT: Duration = Duration::minutes(15);
/// Failures older than this are forgotten.
pub const FAILURE_MEMORY: Duration = Duration::hours(1);

/// Makes `user` an operator of the deployment (idempotent).
pub fn grant_operator(sys: &mut SystemConn<'_>, user: UserId, by: &str) -> QueryResult<()> {
    diesel::insert_into(console_operators::table)
        .values((
            console_operators::user_id.eq(user),
            console_operators::granted_by.eq(by),
        ))
        .on_conflict_do_nothing()
        .execute(sys.conn())
        .map(drop)
}

/// The user behind `email` if they may sign in to the console: enabled, `admin`, an operator.
/// The password is the caller's to check.
pub fn operator_by_email(sys: &mut SystemConn<'_>, email: &str) -> QueryResult<Option<User>> {
    let Some(user) = crate::users::find_by_email(sys, email)? else {
        return Ok(None);
    };
    if user.disabled_at.is_some() || user.role != Role::Admin {
        return Ok(None);
    }
    let operator: bool = diesel::select(diesel::dsl::exists(
        console_operators::table.filter(console_operators::user_id.eq(user.id)),
    ))
    .get_result(sys.conn())?;
    Ok(operator.then_some(user))
}

/// A signed-in operator, as every console request sees them.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user_id: UserId,
    pub email: String,
    pub display_name: Option<String>,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// A stored session: id, user, CSRF token, last seen, expiry.
type SessionRow = (i64, UserId, String, DateTime<Utc>, DateTime<Utc>);

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Opens a session for `user` under the cookie token `token` and records the sign-in.
pub fn open_session(
    sys: &mut SystemConn<'_>,
    user: UserId,
    token: &str,
    csrf_token: &str,
    client_ip: Option<&str>,
    user_agent: Option<&str>,
) -> QueryResult<()> {
    let now = Utc::now();
    diesel::insert_into(console_sessions::table)
        .values((
            console_sessions::token_hash.eq(token_hash(token)),
            console_sessions::user_id.eq(user),
            console_sessions::csrf_token.eq(csrf_token),
            console_sessions::created_at.eq(now),
            console_sessions::last_seen_at.eq(now),
            console_sessions::expires_at.eq(now + MAX_AGE),
            console_sessions::client_ip.eq(client_ip),
            console_sessions::user_agent.eq(user_agent.map(|ua| truncate(ua, 400))),
        ))
        .execute(sys.conn())?;
    diesel::update(users::table.find(user))
        .set(users::last_login_at.eq(now))
        .execute(sys.conn())?;
    // Sessions that ended are deleted as new ones start: the table stays small without a sweep.
    diesel::delete(console_sessions::table.filter(console_sessions::expires_at.lt(now)))
        .execute(sys.conn())?;
    Ok(())
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// The live session behind cookie token `token`, touched as seen now; `None` when unknown,
/// expired, idle too long, or its user is no longer an enabled admin operator.
pub fn session(sys: &mut SystemConn<'_>, token: &str) -> QueryResult<Option<Session>> {
    let now = Utc::now();
    let row: Option<SessionRow> = console_sessions::table
        .filter(console_sessions::token_hash.eq(token_hash(token)))
        .select((
            console_sessions::id,
            console_sessions::user_id,
            console_sessions::csrf_token,
            console_sessions::last_seen_at,
            console_sessions::expires_at,
        ))
        .first(sys.conn())
        .optional()?;
    let Some((id, user_id, csrf_token, last_seen_at, expires_at)) = row else {
        return Ok(None);
    };
    if expires_at <= now || last_seen_at + IDLE_TIMEOUT <= now {
        return Ok(None);
    }
    let user: Option<User> = users::table
        .find(user_id)
        .select(User::as_select())
        .first(sys.conn())
        .optional()?;
    let Some(user) = user else { return Ok(None) };
    if operator_by_email(sys, &user.email)?.is_none() {
        return Ok(None);
    }
    // One write a minute at most: a page that polls does not rewrite the row every few seconds.
    if now - last_seen_at > Duration::minutes(1) {
        diesel::update(console_sessions::table.find(id))
            .set(console_sessions::last_seen_at.eq(now))
            .execute(sys.conn())?;
    }
    Ok(Some(Session {
        id,
        user_id,
        email: user.email,
        display_name: user.display_name,
        csrf_token,
        expires_at,
    }))
}

/// Ends the session behind `token` (sign-out). Unknown tokens are ignored.
pub fn close_session(sys: &mut SystemConn<'_>, token: &str) -> QueryResult<()> {
    diesel::delete(
        console_sessions::table.filter(console_sessions::token_hash.eq(token_hash(token))),
    )
    .execute(sys.conn())
    .map(drop)
}

/// How long a sign-in for these keys (`email:…`, `ip:…`) must still wait; zero when it may go
/// ahead.
pub fn sign_in_wait(sys: &mut SystemConn<'_>, keys: &[String]) -> QueryResult<Duration> {
    let now = Utc::now();
    let rows: Vec<(i32, DateTime<Utc>)> = console_login_failures::table
        .filter(console_login_failures::key.eq_any(keys))
        .select((
            console_login_failures::failures,
            console_login_failures::last_failed_at,
        ))
        .load(sys.conn())?;
    Ok(rows
        .into_iter()
        .filter(|(_, last)| now.signed_duration_since(*last) < FAILURE_MEMORY)
        .map(|(failures, last)| (last + wait_after(failures) - now).max(Duration::zero()))
        .max()
        .unwrap_or_else(Duration::zero))
}

/// The wait after `failures` failed attempts: none for the first few, then doubling from one
/// second up to [`MAX_WAIT`].
pub fn wait_after(failures: i32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::zero();
    }
    let doublings = u32::try_from(failures - FREE_FAILURES).unwrap_or(0).min(20);
    Duration::seconds(1_i64 << doublings).min(MAX_WAIT)
}

/// Counts a failed sign-in against each key (a count older than [`FAILURE_MEMORY`] starts
/// over).
pub fn record_failure(sys: &mut SystemConn<'_>, keys: &[String]) -> QueryResult<()> {
    for key in keys {
        diesel::sql_query(
            "INSERT INTO console_login_failures (key, failures, last_failed_at) VALUES ($1, 1, now()) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN console_login_failures.last_failed_at < now() - $2 * interval '1 second' \
                               THEN 1 ELSE console_login_failures.failures + 1 END, \
               last_failed_at = now()",
        )
        .bind::<diesel::sql_types::Text, _>(key)
        .bind::<diesel::sql_types::BigInt, _>(FAILURE_MEMORY.num_seconds())
        .execute(sys.conn())?;
    }
    Ok(())
}

/// Forgets the failures counted against `keys` (after a successful sign-in).
pub fn clear_failures(sys: &mut SystemConn<'_>, keys: &[String]) -> QueryResult<()> {
    diesel::delete(console_login_failures::table.filter(console_login_failures::key.eq_any(keys)))
        .execute(sys.conn())
        .map(drop)
}

/// Records what an operator did in the console (`audit_log`, actor kind `user`): sign-ins and
/// every action that changes state.
pub fn audit(
    sys: &mut SystemConn<'_>,
    actor: UserId,
    action: &str,
    subject_type: Option<&str>,
    subject_id: Option<&str>,
    details: serde_json::Value,
) -> QueryResult<()> {
    use crate::schema::audit_log;
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor_kind.eq("user"),
            audit_log::actor_id.eq(actor.to_string()),
            audit_log::action.eq(action),
            audit_log::subject_type.eq(subject_type),
            audit_log::subject_id.eq(subject_id),
            audit_log::details.eq(details),
        ))
        .execute(sys.conn())
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_after_the_free_failures_and_stop_growing() {
        assert_eq!(wait_after(0), Duration::zero());
        assert_eq!(wait_after(FREE_FAILURES - 1), Duration::zero());
        assert_eq!(wait_after(FREE_FAILURES), Duration::seconds(1));
        assert_eq!(wait_after(FREE_FAILURES + 3), Duration::seconds(8));
        assert_eq!(wait_after(FREE_FAILURES + 40), MAX_WAIT);
    }
}
