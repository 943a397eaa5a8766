//! The admin console's own records: operators, sessions and sign-in attempts.
//!
//! The console shows the whole deployment, so these live on the system path only. A session is
//! stored as the SHA-256 of the cookie's token (a leaked table cannot be replayed); it expires
//! when idle and, in any case, a fixed time after sign-in.
//!
//! Sign-in attempts are counted against three keys ([`AttemptKey`]): the email from the client's
//! address, the address alone and the email alone, each with an allowance of failures before
//! further attempts wait. An attempt is counted before its password is checked, in the same
//! transaction that decides whether it may go ahead, so parallel attempts cannot all slip past
//! the count; a success takes its count back.

use std::net::{IpAddr, Ipv6Addr};

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Timestamptz};
use sha2::{Digest, Sha256};

use crate::schema::{console_login_failures, console_operators, console_sessions, users};
use crate::users::{Role, User};
use crate::{SystemConn, TenantId, UserId};

/// A session ends after this long without a page load or an action (a page's own refreshes do
/// not count).
pub const IDLE_TIMEOUT: Duration = Duration::hours(2);
/// And in any case this long after sign-in.
pub const MAX_AGE: Duration = Duration::hours(12);
/// The longest wait between attempts.
pub const MAX_WAIT: Duration = Duration::minutes(15);
/// Failures older than this are forgotten (and their rows deleted as attempts come in).
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
    users::table
        .inner_join(console_operators::table)
        .filter(users::email.eq(crate::users::normalize_email(email)))
        .filter(users::disabled_at.is_null())
        .filter(users::role.eq(Role::Admin))
        .select(User::as_select())
        .first(sys.conn())
        .optional()
}

/// A signed-in operator, as every console request sees them.
#[derive(Clone)]
pub struct Session {
    pub id: i64,
    pub user_id: UserId,
    pub email: String,
    pub display_name: Option<String>,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Everything but the CSRF token, which must not reach a log.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("csrf_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

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

/// A live session as stored: id, user, CSRF token, last seen, expiry, the user's email and name.
type SessionRow = (
    i64,
    UserId,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    String,
    Option<String>,
);

/// The live session behind cookie token `token`; `None` when unknown, expired, idle too long,
/// or its user is no longer an enabled admin operator. `touch`: whether this request is the
/// operator's doing (a page load, an action) and so keeps the session from going idle; a
/// page's own refreshes are not, or an open tab would keep its session alive for ever.
pub fn session(sys: &mut SystemConn<'_>, token: &str, touch: bool) -> QueryResult<Option<Session>> {
    let now = Utc::now();
    let row: Option<SessionRow> = console_sessions::table
        .inner_join(users::table.inner_join(console_operators::table))
        .filter(console_sessions::token_hash.eq(token_hash(token)))
        .filter(console_sessions::expires_at.gt(now))
        // As well as the stored expiry: a shorter MAX_AGE applies to sessions already open.
        .filter(console_sessions::created_at.gt(now - MAX_AGE))
        .filter(console_sessions::last_seen_at.gt(now - IDLE_TIMEOUT))
        .filter(users::disabled_at.is_null())
        .filter(users::role.eq(Role::Admin))
        .select((
            console_sessions::id,
            console_sessions::user_id,
            console_sessions::csrf_token,
            console_sessions::last_seen_at,
            console_sessions::expires_at,
            users::email,
            users::display_name,
        ))
        .first(sys.conn())
        .optional()?;
    let Some((id, user_id, csrf_token, last_seen_at, expires_at, email, display_name)) = row else {
        return Ok(None);
    };
    // One write a minute at most: a burst of requests does not rewrite the row each time.
    if touch && now - last_seen_at > Duration::minutes(1) {
        diesel::update(console_sessions::table.find(id))
            .set(console_sessions::last_seen_at.eq(now))
            .execute(sys.conn())?;
    }
    Ok(Some(Session {
        id,
        user_id,
        email,
        display_name,
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

/// What a sign-in attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptKey {
    /// This email from this address: the operator who mistypes, or one source guessing one
    /// account. The only key the right password does not have to wait for once it is spent.
    Pair { email: String, address: String },
    /// Any email from this address: one source guessing across accounts. Generous, as an office
    /// or a carrier NAT shares one.
    Address(String),
    /// This email from any address: guessing spread over many sources. Past its allowance it
    /// slows attempts down ([`EMAIL_SLOWDOWN`] at most) rather than refusing them, so that
    /// sources enough to spend it cannot lock the operator out.
    Email(String),
}

impl AttemptKey {
    /// The keys an attempt to sign in as `email` (normalized) from `ip` counts against, in the
    /// order their locks are taken.
    pub fn for_attempt(email: &str, ip: Option<IpAddr>) -> Vec<AttemptKey> {
        let address = ip.map(address_group);
        let mut keys = vec![AttemptKey::Pair {
            email: email.to_owned(),
            address: address.clone().unwrap_or_else(|| "unknown".to_owned()),
        }];
        keys.extend(address.map(AttemptKey::Address));
        keys.push(AttemptKey::Email(email.to_owned()));
        keys
    }

    /// The key as stored (`pair:<email>|<address>`, `ip:<address>`, `email:<email>`).
    pub fn stored(&self) -> String {
        match self {
            AttemptKey::Pair { email, address } => format!("pair:{email}|{address}"),
            AttemptKey::Address(address) => format!("ip:{address}"),
            AttemptKey::Email(email) => format!("email:{email}"),
        }
    }

    /// Failed attempts allowed before the next one has to wait.
    pub fn free_failures(&self) -> i32 {
        match self {
            AttemptKey::Pair { .. } => 5,
            AttemptKey::Address(_) => 20,
            AttemptKey::Email(_) => 50,
        }
    }
}

/// The address an attempt is counted under: an IPv4 address as is, an IPv6 address by its /64
/// (one subscriber's network: the rest of the address is theirs to change at will).
pub fn address_group(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// The longest an attempt is held back once its email's allowance is spent.
pub const EMAIL_SLOWDOWN: Duration = Duration::seconds(5);

/// Whether a sign-in may check its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted as a failure against every key until [`attempt_succeeded`] takes it back: check
    /// the password, after `slow_down` (non-zero while failures for this email come from many
    /// addresses).
    Counted { slow_down: Duration },
    /// Not counted, and the password must not be checked: try again after `wait`.
    Refused { wait: Duration },
}

/// Decides whether an attempt against `keys` may check its password and, if it may, counts it
/// as a failure up front, all under the keys' locks: of any number of parallel attempts, only
/// as many as the allowances leave get through. Rows forgotten by now are deleted on the way.
pub fn begin_attempt(sys: &mut SystemConn<'_>, keys: &[AttemptKey]) -> QueryResult<Attempt> {
    let stored: Vec<String> = keys.iter().map(AttemptKey::stored).collect();
    lock_keys(sys, &stored)?;
    let now = Utc::now();
    forget_old_failures(sys, now)?;
    let counts: Vec<(String, i32, DateTime<Utc>)> = console_login_failures::table
        .filter(console_login_failures::key.eq_any(&stored))
        .select((
            console_login_failures::key,
            console_login_failures::failures,
            console_login_failures::last_failed_at,
        ))
        .load(sys.conn())?;
    let waits: Vec<(bool, Duration)> = counts
        .iter()
        .filter(|(_, _, last)| now - *last < FAILURE_MEMORY)
        .filter_map(|(key, failures, last)| {
            let key = keys.get(stored.iter().position(|k| k == key)?)?;
            let wait = *last + wait_after(*failures, key.free_failures()) - now;
            Some((matches!(key, AttemptKey::Email(_)), wait))
        })
        .collect();
    let longest = |email: bool| {
        waits
            .iter()
            .filter(|(is_email, _)| *is_email == email)
            .map(|(_, wait)| *wait)
            .max()
            .unwrap_or_else(Duration::zero)
    };
    let (wait, slow_down) = (
        longest(false),
        longest(true).clamp(Duration::zero(), EMAIL_SLOWDOWN),
    );
    if wait > Duration::zero() {
        return Ok(Attempt::Refused { wait });
    }
    diesel::sql_query(
        "INSERT INTO console_login_failures (key, failures, last_failed_at) \
         SELECT key, 1, $2 FROM unnest($1::text[]) AS key \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN console_login_failures.last_failed_at < $3 \
                           THEN 1 ELSE console_login_failures.failures + 1 END, \
           last_failed_at = $2",
    )
    .bind::<Array<Text>, _>(&stored)
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now - FAILURE_MEMORY)
    .execute(sys.conn())?;
    Ok(Attempt::Counted { slow_down })
}

/// A counted attempt whose password was right: the pair's count starts over, and the address and
/// the email take the attempt back (they count failures; it was none).
pub fn attempt_succeeded(sys: &mut SystemConn<'_>, keys: &[AttemptKey]) -> QueryResult<()> {
    let stored: Vec<String> = keys.iter().map(AttemptKey::stored).collect();
    lock_keys(sys, &stored)?;
    let (pairs, others): (Vec<&AttemptKey>, Vec<&AttemptKey>) = keys
        .iter()
        .partition(|k| matches!(k, AttemptKey::Pair { .. }));
    let pairs: Vec<String> = pairs.into_iter().map(AttemptKey::stored).collect();
    let others: Vec<String> = others.into_iter().map(AttemptKey::stored).collect();
    use console_login_failures::dsl::{failures, key};
    diesel::delete(
        console_login_failures::table.filter(
            key.eq_any(&pairs)
                .or(key.eq_any(&others).and(failures.le(1))),
        ),
    )
    .execute(sys.conn())?;
    diesel::update(console_login_failures::table.filter(key.eq_any(&others)))
        .set(failures.eq(failures - 1))
        .execute(sys.conn())?;
    Ok(())
}

/// Takes the transaction-scoped locks of `keys`, in one order for every caller (two attempts
/// that share keys never wait for each other crosswise). Locks rather than row locks, as a key
/// may have no row yet.
fn lock_keys(sys: &mut SystemConn<'_>, keys: &[String]) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT count(pg_advisory_xact_lock(lock)) FROM ( \
           SELECT DISTINCT hashtext('findash:console:sign_in:' || key) AS lock \
           FROM unnest($1::text[]) AS key ORDER BY lock) AS ordered",
    )
    .bind::<Array<Text>, _>(keys)
    .execute(sys.conn())
    .map(drop)
}

/// Deletes up to a hundred counts older than [`FAILURE_MEMORY`] whose key no other attempt holds
/// (its lock taken without waiting): the table holds the last hour's attempts, not every address
/// that ever tried, and two attempts never delete each other's rows and wait crosswise.
fn forget_old_failures(sys: &mut SystemConn<'_>, now: DateTime<Utc>) -> QueryResult<()> {
    diesel::sql_query(
        "DELETE FROM console_login_failures WHERE last_failed_at < $1 AND key IN ( \
           SELECT key FROM ( \
             SELECT key FROM console_login_failures WHERE last_failed_at < $1 \
             ORDER BY last_failed_at LIMIT 100) AS old \
           WHERE pg_try_advisory_xact_lock(hashtext('findash:console:sign_in:' || key)))",
    )
    .bind::<Timestamptz, _>(now - FAILURE_MEMORY)
    .execute(sys.conn())
    .map(drop)
}

/// The wait after `failures` failed attempts against a key that allows `free`: none for those,
/// then doubling from one second up to [`MAX_WAIT`].
pub fn wait_after(failures: i32, free: i32) -> Duration {
    if failures < free {
        return Duration::zero();
    }
    let doublings = u32::try_from(failures - free).unwrap_or(0).min(20);
    Duration::seconds(1_i64 << doublings).min(MAX_WAIT)
}

/// Records what an operator did in the console (`audit_log`, actor kind `user`): sign-ins and
/// every action that changes state. `tenant`: the tenant whose data the action touched, when
/// there is one, so that the tenant's own audit trail shows it.
pub fn audit(
    sys: &mut SystemConn<'_>,
    actor: UserId,
    tenant: Option<TenantId>,
    action: &str,
    subject_type: Option<&str>,
    subject_id: Option<&str>,
    details: serde_json::Value,
) -> QueryResult<()> {
    use crate::schema::audit_log;
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::tenant_id.eq(tenant),
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
        assert_eq!(wait_after(0, 5), Duration::zero());
        assert_eq!(wait_after(4, 5), Duration::zero());
        assert_eq!(wait_after(5, 5), Duration::seconds(1));
        assert_eq!(wait_after(8, 5), Duration::seconds(8));
        assert_eq!(wait_after(45, 5), MAX_WAIT);
        assert_eq!(wait_after(19, 20), Duration::zero());
        assert_eq!(wait_after(21, 20), Duration::seconds(2));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let group = |ip: &str| address_group(ip.parse().unwrap());
        assert_eq!(group("203.0.113.9"), "203.0.113.9");
        assert_eq!(
            group("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(group("2001:db8:1:2::1"), group("2001:db8:1:2:ffff::9"));
        assert_ne!(group("2001:db8:1:2::1"), group("2001:db8:1:3::1"));
        // An IPv4 client seen through an IPv6 socket is still that IPv4 address.
        assert_eq!(group("::ffff:203.0.113.9"), "203.0.113.9");
    }

    #[test]
    fn an_attempt_counts_against_the_pair_the_address_and_the_email() {
        let ip = "2001:db8::7".parse().ok();
        let keys: Vec<String> = AttemptKey::for_attempt("ops@example.test", ip)
            .iter()
            .map(AttemptKey::stored)
            .collect();
        assert_eq!(
            keys,
            [
                "pair:ops@example.test|2001:db8::/64",
                "ip:2001:db8::/64",
                "email:ops@example.test"
            ]
        );
        assert_eq!(
            AttemptKey::for_attempt("ops@example.test", None)
                .iter()
                .map(AttemptKey::stored)
                .collect::<Vec<_>>(),
            ["pair:ops@example.test|unknown", "email:ops@example.test"]
        );
    }

    #[test]
    fn debug_output_leaves_the_csrf_token_out() {
        let session = Session {
            id: 1,
            user_id: UserId::new(),
            email: "ops@example.test".to_owned(),
            display_name: None,
            csrf_token: "csrf-secret-value".to_owned(),
            expires_at: Utc::now(),
        };
        let shown = format!("{session:?}");
        assert!(!shown.contains("csrf-secret-value"), "{shown}");
        assert!(shown.contains("ops@example.test"), "{shown}");
    }
}
