//! Revenue from payment providers by day, week or month.
//!
//! What counts, in one place: a payment or refund counts once it succeeded (`succeeded`,
//! `approved` or `paid`, the providers' words for it); a dispute counts once it is `lost`. Net is
//! payments minus refunds minus lost disputes; provider fees are reported beside it. Payouts move
//! money to the bank and are not revenue.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Text};
use serde::Serialize;

use crate::TenantConn;

crate::text_enum! {
    /// The length of a revenue period.
    pub enum Interval {
        Day => "day",
        Week => "week",
        Month => "month",
    }
}

/// One period's revenue in one currency.
#[derive(Debug, Clone, Serialize, QueryableByName)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevenuePeriod {
    /// The period's first day in the tenant's time zone (weeks start on Monday).
    #[diesel(sql_type = Date)]
    pub period_start: NaiveDate,
    #[diesel(sql_type = Text)]
    pub currency: String,
    /// Succeeded payments, minor units.
    #[diesel(sql_type = BigInt)]
    pub payments_minor: i64,
    #[diesel(sql_type = BigInt)]
    pub payments_count: i64,
    /// Succeeded refunds, minor units (positive).
    #[diesel(sql_type = BigInt)]
    pub refunds_minor: i64,
    #[diesel(sql_type = BigInt)]
    pub refunds_count: i64,
    /// Lost disputes, minor units (positive).
    #[diesel(sql_type = BigInt)]
    pub disputes_lost_minor: i64,
    /// Provider fees on the payments, minor units (positive).
    #[diesel(sql_type = BigInt)]
    pub fees_minor: i64,
    /// payments − refunds − lost disputes.
    #[diesel(sql_type = BigInt)]
    pub net_minor: i64,
}

/// Revenue per period and currency for events from `from` to `to` (inclusive, tenant-local days
/// in `time_zone`). Every period of the range is present for every currency seen, zero when empty.
pub fn revenue_by_period(
    scope: &mut TenantConn<'_>,
    interval: Interval,
    from: NaiveDate,
    to: NaiveDate,
    time_zone: &str,
) -> QueryResult<Vec<RevenuePeriod>> {
    diesel::sql_query(
        "WITH e AS ( \
             SELECT date_trunc($1, occurred_at AT TIME ZONE $4)::date AS period_start, \
                    currency::text AS currency, \
                    CASE WHEN kind = 'payment' AND status IN ('succeeded', 'approved', 'paid') THEN amount_minor ELSE 0 END AS paid, \
                    (kind = 'payment' AND status IN ('succeeded', 'approved', 'paid'))::int AS paid_n, \
                    CASE WHEN kind = 'payment' AND status IN ('succeeded', 'approved', 'paid') THEN fee_minor ELSE 0 END AS fee, \
                    CASE WHEN kind = 'refund' AND status IN ('succeeded', 'approved', 'paid') THEN amount_minor ELSE 0 END AS refunded, \
                    (kind = 'refund' AND status IN ('succeeded', 'approved', 'paid'))::int AS refunded_n, \
                    CASE WHEN kind = 'dispute' AND status = 'lost' THEN amount_minor ELSE 0 END AS lost \
             FROM revenue_events \
             WHERE occurred_at >= ($2::timestamp AT TIME ZONE $4) \
               AND occurred_at < (($3 + 1)::timestamp AT TIME ZONE $4) AND kind IN ('payment', 'refund', 'dispute')), \
         periods AS ( \
             SELECT generate_series(date_trunc($1, $2::timestamp), $3::timestamp, ('1 ' || $1)::interval)::date AS period_start), \
         currencies AS (SELECT DISTINCT currency FROM e) \
         SELECT p.period_start, c.currency, \
                COALESCE(sum(e.paid), 0)::bigint AS payments_minor, \
                COALESCE(sum(e.paid_n), 0)::bigint AS payments_count, \
                COALESCE(sum(e.refunded), 0)::bigint AS refunds_minor, \
                COALESCE(sum(e.refunded_n), 0)::bigint AS refunds_count, \
                COALESCE(sum(e.lost), 0)::bigint AS disputes_lost_minor, \
                COALESCE(sum(e.fee), 0)::bigint AS fees_minor, \
                COALESCE(sum(e.paid - e.refunded - e.lost), 0)::bigint AS net_minor \
         FROM periods p CROSS JOIN currencies c \
         LEFT JOIN e ON e.period_start = p.period_start AND e.currency = c.currency \
         GROUP BY p.period_start, c.currency \
         ORDER BY p.period_start, c.currency",
    )
    .bind::<Text, _>(interval.as_str())
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .bind::<Text, _>(time_zone)
    .load(scope.conn())
}
