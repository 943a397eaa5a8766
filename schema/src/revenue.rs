//! Revenue rows from payment providers (`revenue_events`), written by webhook processing.
//!
//! One row per provider object: a payment, refund, payout or dispute, keyed by
//! `(tenant, source, kind, external_id)`, so however often an event is delivered or replayed it
//! has one effect. Deliveries arrive in any order; a row keeps the newest state the provider
//! reported (`state_at`, then `state_rank`) and an older one never replaces it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int2, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use serde_json::Value;

use crate::{SystemConn, TenantId};

crate::text_enum! {
    /// What a revenue row stands for.
    pub enum RevenueKind {
        Payment => "payment",
        Refund => "refund",
        Payout => "payout",
        PayoutFailed => "payout_failed",
        Dispute => "dispute",
    }
}

/// One provider object's state, to upsert.
#[derive(Debug, Clone, PartialEq)]
pub struct RevenueRow {
    pub tenant: TenantId,
    /// `stripe` or `mercadopago`.
    pub source: &'static str,
    pub kind: RevenueKind,
    pub external_id: String,
    /// For refunds and disputes: the payment's `external_id`.
    pub related_external_id: Option<String>,
    /// The provider's word (`succeeded`, `approved`, `pending`, `lost`, …).
    pub status: String,
    /// Gross, in minor units, never negative.
    pub amount_minor: i64,
    pub fee_minor: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// When the object happened (its period in revenue reports).
    pub occurred_at: DateTime<Utc>,
    pub customer_ref: Option<String>,
    pub description: Option<String>,
    /// The delivery that reported this state.
    pub source_event_id: Option<String>,
    /// The provider's object as reported.
    pub raw: Value,
    /// When the provider produced this state.
    pub state_at: DateTime<Utc>,
    /// Orders states of the same instant: final states above pending ones.
    pub state_rank: i16,
}

/// Whether the incoming state is as new as the stored one or newer (`r` the stored row).
const NEWER: &str = "(COALESCE(r.state_at, '-infinity'), r.state_rank) \
                     <= (EXCLUDED.state_at, EXCLUDED.state_rank)";

/// The upsert: each column's value after a conflict, and an update only when one differs.
/// State columns take the incoming value only when its state is not older; a fee is never lost
/// (the largest known); a payment's time is the earliest any of its events gave, whatever order
/// they are processed in.
static UPSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let newer =
        |column: &str, value: &str| format!("CASE WHEN {NEWER} THEN {value} ELSE r.{column} END");
    let columns: Vec<(&str, String)> = vec![
        (
            "related_external_id",
            newer(
                "related_external_id",
                "COALESCE(EXCLUDED.related_external_id, r.related_external_id)",
            ),
        ),
        ("status", newer("status", "EXCLUDED.status")),
        (
            "amount_minor",
            newer("amount_minor", "EXCLUDED.amount_minor"),
        ),
        (
            "fee_minor",
            "GREATEST(EXCLUDED.fee_minor, r.fee_minor)".to_owned(),
        ),
        ("currency", newer("currency", "EXCLUDED.currency")),
        (
            "occurred_at",
            format!(
                "CASE WHEN r.kind = 'payment' THEN LEAST(r.occurred_at, EXCLUDED.occurred_at) \
                      WHEN {NEWER} THEN EXCLUDED.occurred_at ELSE r.occurred_at END"
            ),
        ),
        (
            "customer_ref",
            newer(
                "customer_ref",
                "COALESCE(EXCLUDED.customer_ref, r.customer_ref)",
            ),
        ),
        (
            "description",
            newer(
                "description",
                "COALESCE(EXCLUDED.description, r.description)",
            ),
        ),
        (
            "source_event_id",
            newer("source_event_id", "EXCLUDED.source_event_id"),
        ),
        ("raw", newer("raw", "EXCLUDED.raw")),
        (
            "state_at",
            "GREATEST(r.state_at, EXCLUDED.state_at)".to_owned(),
        ),
        ("state_rank", newer("state_rank", "EXCLUDED.state_rank")),
    ];
    let set: Vec<String> = columns.iter().map(|(c, v)| format!("{c} = {v}")).collect();
    let stored: Vec<String> = columns.iter().map(|(c, _)| format!("r.{c}")).collect();
    let values: Vec<&str> = columns.iter().map(|(_, v)| v.as_str()).collect();
    format!(
        "WITH written AS ( \
             INSERT INTO revenue_events AS r \
                 (tenant_id, source, kind, external_id, related_external_id, status, amount_minor, \
                  fee_minor, currency, occurred_at, customer_ref, description, source_event_id, \
                  raw, state_at, state_rank) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                  $6::text[], $7::int8[], $8::int8[], $9::bpchar[], \
                                  $10::timestamptz[], $11::text[], $12::text[], $13::text[], \
                                  $14::jsonb[], $15::timestamptz[], $16::int2[]) \
             ON CONFLICT (tenant_id, source, kind, external_id) DO UPDATE SET {} \
             WHERE ({}) IS DISTINCT FROM ({}) \
             RETURNING 1) \
         SELECT count(*) AS n FROM written",
        set.join(", "),
        stored.join(", "),
        values.join(", ")
    )
});

/// Upserts `rows` in one statement; returns how many were inserted or changed (see [`UPSERT`]
/// for what a conflict keeps). Rows of one object in one call are reduced to the newest state
/// first: a statement may update a row only once.
pub fn upsert(sys: &mut SystemConn<'_>, rows: &[RevenueRow]) -> QueryResult<usize> {
    let mut newest: Vec<&RevenueRow> = Vec::with_capacity(rows.len());
    for row in rows {
        let key = |r: &RevenueRow| (r.tenant, r.source, r.kind, r.external_id.clone());
        match newest.iter_mut().find(|kept| key(kept) == key(row)) {
            Some(kept) if (row.state_at, row.state_rank) >= (kept.state_at, kept.state_rank) => {
                *kept = row;
            }
            Some(_) => {}
            None => newest.push(row),
        }
    }
    let rows = newest;
    if rows.is_empty() {
        return Ok(0);
    }
    let col = |f: fn(&RevenueRow) -> String| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let opt = |f: fn(&RevenueRow) -> Option<String>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    #[derive(QueryableByName)]
    struct Written {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let written: Written = diesel::sql_query(UPSERT.as_str())
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.tenant.0).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(col(|r| r.source.to_owned()))
        .bind::<Array<Text>, _>(col(|r| r.kind.as_str().to_owned()))
        .bind::<Array<Text>, _>(col(|r| r.external_id.clone()))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.related_external_id.clone()))
        .bind::<Array<Text>, _>(col(|r| r.status.clone()))
        .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.amount_minor).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.fee_minor).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(col(|r| r.currency.clone()))
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.customer_ref.clone()))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.description.clone()))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.source_event_id.clone()))
        .bind::<Array<Jsonb>, _>(rows.iter().map(|r| r.raw.clone()).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.state_at).collect::<Vec<_>>())
        .bind::<Array<Int2>, _>(rows.iter().map(|r| r.state_rank).collect::<Vec<_>>())
        .get_result(sys.conn())?;
    Ok(usize::try_from(written.n).unwrap_or(0))
}

/// Every known currency's minor-unit exponent.
pub fn currency_exponents(
    sys: &mut SystemConn<'_>,
) -> QueryResult<std::collections::HashMap<String, u32>> {
    use crate::schema::currencies;
    currencies::table
        .select((currencies::code, currencies::minor_units))
        .load::<(String, i16)>(sys.conn())
        .map(|rows| {
            rows.into_iter()
                .filter_map(|(code, units)| Some((code, u32::try_from(units).ok()?)))
                .collect()
        })
}
