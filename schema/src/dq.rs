//! Data-quality checks as set-based queries over a tenant's data, and the findings they leave:
//! one open finding per problem (its fingerprint), refreshed while the problem lasts and resolved
//! once a run of its check no longer finds it.
//!
//! Every check returns rows of one shape ([`Found`]). Its thresholds are written in its query and
//! stated in the comment above it; `runbooks/data-quality.md` lists the same ones.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Jsonb, Nullable, Text};
use serde_json::Value;

use crate::{SystemConn, TenantConn};

/// One problem a check found.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Found {
    #[diesel(sql_type = Text)]
    pub check_name: String,
    /// `info`, `warning` or `critical`.
    #[diesel(sql_type = Text)]
    pub severity: String,
    #[diesel(sql_type = Text)]
    pub subject_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub subject_id: Option<String>,
    /// The same problem has the same fingerprint on every run.
    #[diesel(sql_type = Text)]
    pub fingerprint: String,
    #[diesel(sql_type = Text)]
    pub message: String,
    #[diesel(sql_type = Jsonb)]
    pub evidence: Value,
}

/// A check: its name (`dq_findings.check_name`) and its query. `$1` is the run's day; the
/// tenant is the scope's.
pub struct Check {
    pub name: &'static str,
    sql: &'static str,
}

/// `amount` (minor units) of currency `cur` as a decimal string with its code, for messages.
macro_rules! money {
    ($amount:literal, $currency:literal) => {
        concat!(
            "(trim_scale(",
            $amount,
            "::numeric / power(10::numeric, (SELECT minor_units FROM currencies WHERE code = ",
            $currency,
            ")))::text || ' ' || ",
            $currency,
            ")"
        )
    };
}

/// Every check, in the order they run.
pub const CHECKS: &[Check] = &[
    // Critical. The balance a provider reported must agree with the previous reported balance
    // and the transactions booked in between. Days are the tenant's local days; of each day the
    // last snapshot counts, and only snapshots a finished sync pass of the account covers (taken
    // before its `last_successful_sync_at`: a pass that died after storing balances has not yet
    // stored their transactions). Providers differ on what a balance includes — the whole day
    // (end of day) or only what was booked before the sync, pending items or not — so the
    // balances are inconsistent only when no reading explains them: flows of the days between,
    // with or without each boundary day, with or without pending items. Pairs ending in the last
    // 35 days, over 400 days of snapshots.
    Check {
        name: "balance_continuity",
        sql: concat!(
            "WITH daily AS ( \
                 SELECT DISTINCT ON (s.account_id, (s.as_of AT TIME ZONE t.time_zone)::date) \
                        s.account_id, (s.as_of AT TIME ZONE t.time_zone)::date AS day, s.balance_minor \
                 FROM account_balance_snapshots s \
                 JOIN accounts a ON a.id = s.account_id \
                 JOIN tenants t ON t.id = s.tenant_id \
                 WHERE s.as_of >= $1::date - 400 AND s.recorded_at <= a.last_successful_sync_at \
                 ORDER BY s.account_id, (s.as_of AT TIME ZONE t.time_zone)::date, s.as_of DESC), \
             pairs AS ( \
                 SELECT account_id, day, balance_minor, \
                        lag(day) OVER (PARTITION BY account_id ORDER BY day) AS prev_day, \
                        lag(balance_minor) OVER (PARTITION BY account_id ORDER BY day) AS prev_balance \
                 FROM daily), \
             checked AS ( \
                 SELECT p.*, a.name, a.currency::text AS currency, f.* \
                 FROM pairs p JOIN accounts a ON a.id = p.account_id \
                 CROSS JOIN LATERAL ( \
                     SELECT coalesce(sum(x.amount_minor) FILTER (WHERE x.booked_date > p.prev_day AND x.booked_date < p.day), 0)::bigint AS inner_all, \
                            coalesce(sum(x.amount_minor) FILTER (WHERE x.booked_date = p.prev_day), 0)::bigint AS first_all, \
                            coalesce(sum(x.amount_minor) FILTER (WHERE x.booked_date = p.day), 0)::bigint AS last_all, \
                            coalesce(sum(x.amount_minor) FILTER (WHERE x.booked_date > p.prev_day AND x.booked_date < p.day \
                                                                 AND x.status = 'posted'), 0)::bigint AS inner_posted, \
                            coalesce(sum(x.amount_minor) FILTER (WHERE x.booked_date = p.prev_day AND x.status = 'posted'), 0)::bigint \
                                AS first_posted, \
                            coalesce(sum(x.amount_minor) FILTER (WHERE x.booked_date = p.day AND x.status = 'posted'), 0)::bigint \
                                AS last_posted \
                     FROM transactions x \
                     WHERE x.account_id = p.account_id AND x.booked_date BETWEEN p.prev_day AND p.day) f \
                 WHERE p.prev_day IS NOT NULL AND p.day >= $1::date - 35) \
             SELECT 'balance_continuity' AS check_name, 'critical' AS severity, \
                    'account' AS subject_type, account_id::text AS subject_id, \
                    'balance_continuity:' || account_id || ':' || day AS fingerprint, \
                    name || ': the balance reported for ' || day || ' is ' || ",
            money!("balance_minor", "currency"),
            " || ', but the balance of ' || prev_day || ' plus the transactions in between is ' || ",
            money!("(prev_balance + inner_all + last_all)", "currency"),
            " AS message, \
                    jsonb_build_object('from', prev_day, 'to', day, 'previous_balance_minor', prev_balance, \
                        'flows_minor', inner_all + last_all, \
                        'expected_minor', prev_balance + inner_all + last_all, \
                        'reported_minor', balance_minor, \
                        'difference_minor', balance_minor - (prev_balance + inner_all + last_all), \
                        'flows_on_from_day_minor', first_all, 'pending_minor', \
                        (inner_all + first_all + last_all) - (inner_posted + first_posted + last_posted), \
                        'currency', currency) AS evidence \
             FROM checked \
             WHERE balance_minor - prev_balance NOT IN ( \
                 inner_all + last_all, inner_all, inner_all + first_all, inner_all + first_all + last_all, \
                 inner_posted + last_posted, inner_posted, inner_posted + first_posted, \
                 inner_posted + first_posted + last_posted)"
        ),
    },
    // Warning. The same amount, day and counterparty (or description, when there is no
    // counterparty) under several ids of one account, among posted transactions of the last 90
    // days: one finding per group, on its newest id.
    Check {
        name: "probable_duplicate",
        sql: concat!(
            "WITH recent AS ( \
                 SELECT t.id, t.account_id, t.external_id, t.booked_date, t.amount_minor, \
                        t.currency::text AS currency, coalesce(nullif(t.counterparty, ''), t.description) AS who \
                 FROM transactions t \
                 WHERE t.status = 'posted' AND t.booked_date >= $1::date - 90 \
                   AND coalesce(nullif(t.counterparty, ''), t.description) <> ''), \
             groups AS ( \
                 SELECT account_id, booked_date, amount_minor, currency, lower(who) AS key, min(who) AS who, \
                        array_agg(id ORDER BY external_id) AS ids, \
                        array_agg(external_id ORDER BY external_id) AS external_ids \
                 FROM recent GROUP BY account_id, booked_date, amount_minor, currency, lower(who) \
                 HAVING count(*) > 1) \
             SELECT 'probable_duplicate' AS check_name, 'warning' AS severity, \
                    'transaction' AS subject_type, g.ids[array_length(g.ids, 1)]::text AS subject_id, \
                    'probable_duplicate:' || g.account_id || ':' || g.booked_date || ':' || g.amount_minor \
                        || ':' || md5(g.key) AS fingerprint, \
                    acc.name || ': ' || ",
            money!("g.amount_minor", "g.currency"),
            " || ' on ' || g.booked_date || ' at ' || g.who || ' appears ' || array_length(g.ids, 1) \
                    || ' times (' || array_to_string(g.external_ids, ', ') || ')' AS message, \
                    jsonb_build_object('account_id', g.account_id, 'booked_date', g.booked_date, \
                        'amount_minor', g.amount_minor, 'currency', g.currency, \
                        'transaction_ids', to_jsonb(g.ids), 'external_ids', to_jsonb(g.external_ids)) AS evidence \
             FROM groups g JOIN accounts acc ON acc.id = g.account_id"
        ),
    },
    // Warning. An active account of a connection synced within 24 hours whose latest transaction
    // is older than 14 days and than 1.5 times the longest gap between its transaction days in
    // the 400 days before.
    Check {
        name: "account_gap",
        sql: "WITH days AS ( \
                  SELECT DISTINCT t.account_id, t.booked_date FROM transactions t \
                  WHERE t.booked_date BETWEEN $1::date - 400 AND $1::date), \
              gaps AS ( \
                  SELECT account_id, booked_date, \
                         booked_date - lag(booked_date) OVER (PARTITION BY account_id ORDER BY booked_date) AS gap \
                  FROM days), \
              usual AS ( \
                  SELECT account_id, max(booked_date) AS last_day, coalesce(max(gap), 0) AS longest_gap \
                  FROM gaps GROUP BY account_id) \
              SELECT 'account_gap' AS check_name, 'warning' AS severity, 'account' AS subject_type, \
                     a.id::text AS subject_id, 'account_gap:' || a.id AS fingerprint, \
                     a.name || ': no transactions for ' || ($1::date - u.last_day) \
                         || ' days although the connection syncs' AS message, \
                     jsonb_build_object('last_transaction_on', u.last_day, \
                         'silent_days', $1::date - u.last_day, 'longest_previous_gap_days', u.longest_gap) \
                         AS evidence \
              FROM accounts a \
              JOIN provider_connections c ON c.id = a.connection_id \
              JOIN usual u ON u.account_id = a.id \
              WHERE a.status = 'active' AND c.status <> 'disabled' \
                AND c.last_successful_sync_at >= now() - interval '24 hours' \
                AND $1::date - u.last_day > greatest(14, ceil(u.longest_gap * 1.5))",
    },
    // Warning. A connection (neither disabled nor still being set up) without a successful sync
    // within the 24-hour freshness objective. Never critical: the other connections' data is
    // still good, and the forecast says how old its data is.
    Check {
        name: "stale_sync",
        sql: "SELECT 'stale_sync' AS check_name, 'warning' AS severity, \
                     'connection' AS subject_type, c.id::text AS subject_id, \
                     'stale_sync:' || c.id AS fingerprint, \
                     c.display_name || ': ' || CASE WHEN c.last_successful_sync_at IS NULL \
                         THEN 'never synced successfully' \
                         ELSE 'last synced successfully ' \
                              || floor(extract(epoch FROM now() - c.last_successful_sync_at) / 3600) \
                              || ' hours ago' END \
                         || coalesce(' (' || c.status || ': ' || c.last_error || ')', '') AS message, \
                     jsonb_build_object('last_successful_sync_at', c.last_successful_sync_at, \
                         'status', c.status, 'last_error', c.last_error, \
                         'last_error_at', c.last_error_at, \
                         'consecutive_failures', c.consecutive_failures) AS evidence \
              FROM provider_connections c \
              WHERE c.status NOT IN ('disabled', 'pending') \
                AND coalesce(c.last_successful_sync_at, c.created_at) < now() - interval '24 hours'",
    },
    // Warning. A currency of the tenant's accounts whose rate to the base currency is missing or
    // older than 4 days (the ECB publishes on business days: a long weekend is 4): totals in the
    // base currency would be wrong.
    Check {
        name: "stale_fx_rates",
        sql: "WITH pairs AS ( \
                  SELECT DISTINCT a.currency::text AS currency, t.base_currency::text AS base \
                  FROM accounts a JOIN tenants t ON t.id = a.tenant_id \
                  WHERE a.status = 'active' AND a.currency <> t.base_currency) \
              SELECT 'stale_fx_rates' AS check_name, 'warning' AS severity, \
                     'fx_rate' AS subject_type, p.currency || '/' || p.base AS subject_id, \
                     'stale_fx_rates:' || p.currency || ':' || p.base AS fingerprint, \
                     CASE WHEN r.rate_date IS NULL \
                          THEN 'no ' || p.currency || '/' || p.base || ' rate: totals leave those accounts out' \
                          ELSE 'the newest ' || p.currency || '/' || p.base || ' rate is of ' || r.rate_date \
                               || ' (' || ($1::date - r.rate_date) || ' days old)' END AS message, \
                     jsonb_build_object('currency', p.currency, 'base_currency', p.base, \
                         'rate_date', r.rate_date) AS evidence \
              FROM pairs p LEFT JOIN LATERAL fx_rate(p.currency, p.base, $1::date) r ON true \
              WHERE r.rate_date IS NULL OR r.rate_date < $1::date - 4",
    },
    // Warning. Transactions dated more than a day after the run's day (one day of slack for time
    // zones).
    Check {
        name: "future_dated",
        sql: "SELECT 'future_dated' AS check_name, 'warning' AS severity, 'account' AS subject_type, \
                     a.id::text AS subject_id, 'future_dated:' || a.id AS fingerprint, \
                     a.name || ': ' || count(*) || ' transaction(s) dated after ' || $1::date \
                         || ', the latest on ' || max(t.booked_date) AS message, \
                     jsonb_build_object('count', count(*), 'latest', max(t.booked_date), \
                         'external_ids', (array_agg(t.external_id ORDER BY t.booked_date DESC))[1:10]) \
                         AS evidence \
              FROM transactions t JOIN accounts a ON a.id = t.account_id \
              WHERE t.booked_date > $1::date + 1 \
              GROUP BY a.id, a.name",
    },
    // Critical. Amounts of a billion (10^11 minor units) or more booked in the last 400 days: no
    // personal account moves that much at once; a unit or parsing error upstream.
    Check {
        name: "absurd_amount",
        sql: concat!(
            "SELECT 'absurd_amount' AS check_name, 'critical' AS severity, \
                    'transaction' AS subject_type, t.id::text AS subject_id, \
                    'absurd_amount:' || t.id AS fingerprint, \
                    a.name || ': ' || t.external_id || ' of ' || t.booked_date || ' moves ' || ",
            money!("t.amount_minor", "t.currency::text"),
            " AS message, \
                    jsonb_build_object('account_id', a.id, 'external_id', t.external_id, \
                        'booked_date', t.booked_date, 'amount_minor', t.amount_minor, \
                        'currency', t.currency) AS evidence \
             FROM transactions t JOIN accounts a ON a.id = t.account_id \
             WHERE abs(t.amount_minor) >= 100000000000 AND t.booked_date >= $1::date - 400"
        ),
    },
    // Critical. Items of the last 7 days the provider sent in another currency than their
    // account's: the sync refused them, so the account's flows miss them.
    Check {
        name: "currency_mismatch",
        sql: "SELECT 'currency_mismatch' AS check_name, 'critical' AS severity, \
                     'account' AS subject_type, a.id::text AS subject_id, \
                     'currency_mismatch:' || a.id AS fingerprint, \
                     a.name || ': ' || count(*) || ' transaction(s) in another currency than the account''s ' \
                         || a.currency || ' were refused' AS message, \
                     jsonb_build_object('count', count(*), 'account_currency', a.currency, \
                         'external_ids', (array_agg(r.external_id ORDER BY r.last_seen_at DESC))[1:10], \
                         'details', (array_agg(r.detail ORDER BY r.last_seen_at DESC))[1:3]) AS evidence \
              FROM sync_rejections r JOIN accounts a ON a.id = r.account_id \
              WHERE r.reason = 'currency' AND r.last_seen_at >= $1::date - 7 \
              GROUP BY a.id, a.name, a.currency",
    },
    // Warning. Other refusals of the sync in the last 7 days (amounts with more decimals than the
    // currency has, overflows, unreadable items).
    Check {
        name: "sync_rejections",
        sql: "SELECT 'sync_rejections' AS check_name, 'warning' AS severity, \
                     'account' AS subject_type, a.id::text AS subject_id, \
                     'sync_rejections:' || a.id AS fingerprint, \
                     a.name || ': the sync refused ' || count(*) || ' transaction(s) (' \
                         || string_agg(DISTINCT r.reason, ', ') || ')' AS message, \
                     jsonb_build_object('count', count(*), \
                         'reasons', jsonb_agg(DISTINCT r.reason), \
                         'external_ids', (array_agg(r.external_id ORDER BY r.last_seen_at DESC))[1:10], \
                         'details', (array_agg(r.detail ORDER BY r.last_seen_at DESC))[1:3]) AS evidence \
              FROM sync_rejections r JOIN accounts a ON a.id = r.account_id \
              WHERE r.reason <> 'currency' AND r.last_seen_at >= $1::date - 7 \
              GROUP BY a.id, a.name",
    },
    // Warning. More than 25% of the posted transactions of the last 30 days have no category
    // (once there are at least 20).
    Check {
        name: "uncategorized_share",
        sql: "WITH recent AS ( \
                  SELECT count(*) AS total, count(*) FILTER (WHERE category_id IS NULL) AS uncategorized \
                  FROM transactions \
                  WHERE status = 'posted' AND booked_date BETWEEN $1::date - 30 AND $1::date) \
              SELECT 'uncategorized_share' AS check_name, 'warning' AS severity, \
                     'tenant' AS subject_type, NULL::text AS subject_id, \
                     'uncategorized_share' AS fingerprint, \
                     uncategorized || ' of ' || total || ' transactions of the last 30 days (' \
                         || (100 * uncategorized / total) || '%) have no category' AS message, \
                     jsonb_build_object('total', total, 'uncategorized', uncategorized, \
                         'percent', 100 * uncategorized / total) AS evidence \
              FROM recent \
              WHERE total >= 20 AND 100 * uncategorized > 25 * total",
    },
];

/// Serializes the tenant's runs (the pipeline's gate and a scheduled or manual run at once),
/// until the end of the scope's transaction.
pub fn lock(scope: &mut TenantConn<'_>) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('dq:' || $1::text))")
        .bind::<diesel::sql_types::Uuid, _>(scope.tenant_id().0)
        .execute(scope.conn())
        .map(drop)
}

/// Runs `check` for the scope's tenant as of `day`.
pub fn run(scope: &mut TenantConn<'_>, check: &Check, day: NaiveDate) -> QueryResult<Vec<Found>> {
    diesel::sql_query(check.sql)
        .bind::<Date, _>(day)
        .load(scope.conn())
}

/// What recording a run changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Problems seen for the first time (or again after they were resolved).
    pub opened: usize,
    /// Open findings seen again.
    pub still_open: usize,
    /// Open findings of the checks that ran which they no longer found.
    pub resolved: usize,
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    opened: i64,
    #[diesel(sql_type = BigInt)]
    still_open: i64,
}

/// Records what `checks` found: a new problem opens a finding, a known one is refreshed
/// (`last_seen_at`, message, evidence and severity), and the open findings of those checks that
/// were not found again are resolved.
pub fn record(
    scope: &mut TenantConn<'_>,
    checks: &[&str],
    found: &[Found],
) -> QueryResult<Recorded> {
    let tenant = scope.tenant_id();
    let column = |f: fn(&Found) -> String| found.iter().map(f).collect::<Vec<_>>();
    let subject_ids: Vec<Option<String>> = found.iter().map(|f| f.subject_id.clone()).collect();
    let evidence: Vec<Value> = found.iter().map(|f| f.evidence.clone()).collect();
    let counted: Counted = diesel::sql_query(
        "WITH incoming AS ( \
             SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                                  $7::text[], $8::jsonb[]) \
                 AS f(check_name, severity, subject_type, subject_id, fingerprint, message, evidence)), \
         upserted AS ( \
             INSERT INTO dq_findings AS d (tenant_id, check_name, severity, subject_type, subject_id, \
                                          fingerprint, message, evidence) \
             SELECT $1, check_name, severity, subject_type, subject_id, fingerprint, message, evidence \
             FROM incoming \
             ON CONFLICT (tenant_id, fingerprint) WHERE status = 'open' DO UPDATE \
                 SET severity = EXCLUDED.severity, message = EXCLUDED.message, \
                     evidence = EXCLUDED.evidence, subject_type = EXCLUDED.subject_type, \
                     subject_id = EXCLUDED.subject_id, last_seen_at = now() \
             RETURNING (xmax = 0) AS inserted) \
         SELECT count(*) FILTER (WHERE inserted) AS opened, \
                count(*) FILTER (WHERE NOT inserted) AS still_open FROM upserted",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant.0)
    .bind::<Array<Text>, _>(column(|f| f.check_name.clone()))
    .bind::<Array<Text>, _>(column(|f| f.severity.clone()))
    .bind::<Array<Text>, _>(column(|f| f.subject_type.clone()))
    .bind::<Array<Nullable<Text>>, _>(subject_ids)
    .bind::<Array<Text>, _>(column(|f| f.fingerprint.clone()))
    .bind::<Array<Text>, _>(column(|f| f.message.clone()))
    .bind::<Array<Jsonb>, _>(evidence)
    .get_result(scope.conn())?;
    let resolved = diesel::sql_query(
        "UPDATE dq_findings SET status = 'resolved', resolved_at = now() \
         WHERE status = 'open' AND check_name = ANY($1) AND NOT (fingerprint = ANY($2))",
    )
    .bind::<Array<Text>, _>(checks)
    .bind::<Array<Text>, _>(column(|f| f.fingerprint.clone()))
    .execute(scope.conn())?;
    Ok(Recorded {
        opened: usize::try_from(counted.opened).unwrap_or(0),
        still_open: usize::try_from(counted.still_open).unwrap_or(0),
        resolved,
    })
}

/// An open warning or critical finding: what blocks the tenant's forecast (critical), what
/// annotates it and what the daily summary shows.
#[derive(Debug, Clone, serde::Serialize, QueryableByName)]
pub struct OpenFinding {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    pub check_name: String,
    /// warning or critical.
    #[diesel(sql_type = Text)]
    pub severity: String,
    #[diesel(sql_type = Text)]
    pub subject_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub subject_id: Option<String>,
    #[diesel(sql_type = Text)]
    pub message: String,
}

impl OpenFinding {
    pub fn is_critical(&self) -> bool {
        self.severity == "critical"
    }
}

/// The tenant's open warnings and critical findings, critical first, then most recently seen;
/// at most `limit` of them (all with `None`).
pub fn open_findings(
    scope: &mut TenantConn<'_>,
    limit: Option<i64>,
) -> QueryResult<Vec<OpenFinding>> {
    diesel::sql_query(
        "SELECT id, check_name, severity, subject_type, subject_id, message FROM dq_findings \
         WHERE status = 'open' AND severity IN ('warning', 'critical') \
         ORDER BY severity = 'critical' DESC, last_seen_at DESC, id LIMIT $1",
    )
    .bind::<Nullable<BigInt>, _>(limit)
    .load(scope.conn())
}

/// An open finding with its tenant, as the console lists them across every tenant.
#[derive(Debug, Clone, QueryableByName)]
pub struct TenantFinding {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub tenant_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    pub tenant_slug: String,
    #[diesel(sql_type = Text)]
    pub tenant_name: String,
    #[diesel(embed)]
    pub finding: OpenFinding,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub first_seen_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
}

/// Every tenant's open findings of `severity` (the console's system path), longest open first,
/// at most `limit` of them; and how many are open in all.
pub fn open_findings_everywhere(
    sys: &mut SystemConn<'_>,
    severity: &str,
    limit: i64,
) -> QueryResult<(Vec<TenantFinding>, i64)> {
    let findings = diesel::sql_query(
        "SELECT f.tenant_id, t.slug AS tenant_slug, t.name AS tenant_name, f.id, f.check_name, \
                f.severity, f.subject_type, f.subject_id, f.message, f.first_seen_at, \
                f.last_seen_at \
         FROM dq_findings f JOIN tenants t ON t.id = f.tenant_id \
         WHERE f.status = 'open' AND f.severity = $1 \
         ORDER BY f.first_seen_at, f.id LIMIT $2",
    )
    .bind::<Text, _>(severity)
    .bind::<BigInt, _>(limit.max(0))
    .load(sys.conn())?;
    let open = crate::schema::dq_findings::table
        .filter(crate::schema::dq_findings::status.eq("open"))
        .filter(crate::schema::dq_findings::severity.eq(severity))
        .count()
        .get_result(sys.conn())?;
    Ok((findings, open))
}
