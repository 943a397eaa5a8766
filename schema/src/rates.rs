//! FX reference rates (public data, no tenant): written by the rates job on the system path,
//! read by the dashboard through `fx_rate` (migration `000008`).

use chrono::NaiveDate;
use diesel::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, Date, Text};

use crate::SystemConn;
use crate::schema::fx_rates;

/// The newest day `source` has rates for.
pub fn latest_day(sys: &mut SystemConn<'_>, source: &str) -> QueryResult<Option<NaiveDate>> {
    fx_rates::table
        .filter(fx_rates::source.eq(source))
        .select(diesel::dsl::max(fx_rates::rate_date))
        .first(sys.conn())
}

/// Stores one day of `source`'s rates, `base` → each quote, given as exact decimal strings.
/// Quotes that are not known currencies are skipped (the feed may list one before the
/// `currencies` table does) and returned; a rate that exists is updated if it differs.
pub fn upsert_day(
    sys: &mut SystemConn<'_>,
    source: &str,
    base: &str,
    day: NaiveDate,
    rates: &[(String, String)],
) -> QueryResult<RatesWritten> {
    let (quotes, values): (Vec<&str>, Vec<&str>) = rates
        .iter()
        .map(|(quote, rate)| (quote.as_str(), rate.as_str()))
        .unzip();
    diesel::sql_query(
        "WITH input AS ( \
             SELECT q.quote, q.rate::numeric AS rate \
                 FROM unnest($4::text[], $5::text[]) AS q(quote, rate)), \
         written AS ( \
             INSERT INTO fx_rates AS f (source, base_currency, quote_currency, rate_date, rate) \
             SELECT $1, $2, i.quote, $3, i.rate FROM input i \
             JOIN currencies c ON c.code = i.quote \
             WHERE i.quote <> $2 \
             ON CONFLICT (source, base_currency, quote_currency, rate_date) \
             DO UPDATE SET rate = EXCLUDED.rate, fetched_at = now() \
             WHERE f.rate <> EXCLUDED.rate \
             RETURNING 1) \
         SELECT (SELECT count(*) FROM written) AS written, \
                coalesce((SELECT array_agg(i.quote ORDER BY i.quote) FROM input i \
                          WHERE NOT EXISTS (SELECT 1 FROM currencies c WHERE c.code = i.quote)), \
                         '{}') AS unknown",
    )
    .bind::<Text, _>(source)
    .bind::<Text, _>(base)
    .bind::<Date, _>(day)
    .bind::<Array<Text>, _>(quotes)
    // Decimal strings, cast by PostgreSQL: no digit passes through a binary float.
    .bind::<Array<Text>, _>(values)
    .get_result(sys.conn())
}

/// What [`upsert_day`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct RatesWritten {
    /// Rates inserted or changed.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub written: i64,
    /// Quotes skipped because `currencies` does not know them.
    #[diesel(sql_type = Array<Text>)]
    pub unknown: Vec<String>,
}

/// Each source's newest rate day and its age in days as of `today`.
pub fn ages(conn: &mut PgConnection, today: NaiveDate) -> QueryResult<Vec<(String, i64)>> {
    let rows: Vec<(String, Option<NaiveDate>)> = fx_rates::table
        .group_by(fx_rates::source)
        .select((fx_rates::source, diesel::dsl::max(fx_rates::rate_date)))
        .order(fx_rates::source)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(source, day)| Some((source, (today - day?).num_days())))
        .collect())
}
