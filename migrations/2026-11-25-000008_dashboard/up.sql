-- Currency conversion for dashboard totals, and the indexes the dashboard's aggregates read.

-- The rate that converts `from_ccy` into `to_ccy` on `on_date`: units of `to_ccy` per unit of
-- `from_ccy`, from the latest rates published on or before that day. A pair is found directly,
-- inverted, or across a common base of one source (the ECB publishes EUR→X only, so USD→BRL is
-- EUR→BRL / EUR→USD of the same day). The newest of these wins; `rate_date` tells how stale it
-- is. No row: no rate is known.
CREATE FUNCTION fx_rate(from_ccy text, to_ccy text, on_date date, OUT rate numeric, OUT rate_date date)
    RETURNS SETOF record
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT 1::numeric, on_date WHERE from_ccy = to_ccy
    UNION ALL
    (SELECT c.r, c.d FROM (
        (SELECT x.rate AS r, x.rate_date AS d, 1 AS preference, x.source FROM fx_rates x
          WHERE x.base_currency = from_ccy::bpchar AND x.quote_currency = to_ccy::bpchar
            AND x.rate_date <= on_date
          ORDER BY x.rate_date DESC, x.source LIMIT 1)
        UNION ALL
        (SELECT 1 / x.rate, x.rate_date, 2, x.source FROM fx_rates x
          WHERE x.base_currency = to_ccy::bpchar AND x.quote_currency = from_ccy::bpchar
            AND x.rate_date <= on_date
          ORDER BY x.rate_date DESC, x.source LIMIT 1)
        UNION ALL
        (SELECT t.rate / f.rate, f.rate_date, 3, f.source FROM fx_rates f
           JOIN fx_rates t ON t.source = f.source AND t.base_currency = f.base_currency
                          AND t.rate_date = f.rate_date AND t.quote_currency = to_ccy::bpchar
          WHERE f.quote_currency = from_ccy::bpchar AND f.rate_date <= on_date
          ORDER BY f.rate_date DESC, f.source, f.base_currency LIMIT 1)
     ) c
     WHERE from_ccy <> to_ccy
     -- The newest day wins; on the same day a direct rate beats an inverse beats a cross rate,
     -- then the source's name decides, so the same data always gives the same rate.
     ORDER BY c.d DESC, c.preference, c.source
     LIMIT 1)
$$;

-- `amount_minor` times `rate`, moved `scale` decimal places (the target's minor-unit exponent
-- minus the source's), rounded half away from zero: the one place money is converted, in exact
-- decimal arithmetic, never floating point. NULL for a NULL rate or a result beyond BIGINT. A plain
-- expression, so PostgreSQL inlines it into the queries that call it.
CREATE FUNCTION fx_apply(amount_minor bigint, rate numeric, scale integer) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE
        WHEN round(amount_minor * rate * power(10::numeric, scale))
             BETWEEN -9223372036854775808 AND 9223372036854775807
        THEN round(amount_minor * rate * power(10::numeric, scale))::bigint
    END
$$;

-- Cross rates look a currency up by quote, newest first.
CREATE INDEX fx_rates_quote_date_idx ON fx_rates (quote_currency, rate_date DESC);

-- Revenue by period reads a tenant's events by time with the columns it sums.
DROP INDEX revenue_events_tenant_time_idx;
CREATE INDEX revenue_events_tenant_time_idx ON revenue_events (tenant_id, occurred_at)
    INCLUDE (kind, status, amount_minor, fee_minor, currency);

-- Open findings, newest first (the dashboard's list), by keyset.
CREATE INDEX dq_findings_tenant_recent_idx ON dq_findings (tenant_id, status, last_seen_at DESC, id DESC);
