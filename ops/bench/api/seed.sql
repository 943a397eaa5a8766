-- A demo tenant the size of a busy small business: 1,000,000 transactions over five years on four
-- accounts (BRL checking and card, USD and EUR savings), categorised, with rates, revenue events,
-- a forecast and findings. Run once on a fresh `findash up` database.
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO fx_rates (source, base_currency, quote_currency, rate_date, rate)
SELECT 'ecb', 'EUR', q.code, d::date, q.rate + (extract(doy FROM d) / 1000.0)
FROM generate_series(current_date - 1825, current_date, interval '1 day') AS d,
     (VALUES ('BRL', 6.1), ('USD', 1.08)) AS q (code, rate)
ON CONFLICT DO NOTHING;
WITH t AS (SELECT id FROM tenants WHERE slug = 'demo'),
     c AS (SELECT pc.id, pc.tenant_id FROM provider_connections pc JOIN t ON t.id = pc.tenant_id
           WHERE pc.external_id = 'sandbox-personal')
INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency,
                      current_balance_minor, balance_as_of, credit_limit_minor, statement_balance_minor,
                      statement_closing_date, statement_due_date, last_successful_sync_at)
SELECT c.tenant_id, c.id, a.ext, a.kind, a.name, 'Banco Sandbox', a.currency, a.balance, now(),
       a.lim, a.statement, a.closing, a.due, now() - interval '2 hours'
FROM c, (VALUES
    ('bench-checking', 'checking', 'Checking', 'BRL', 8123456::bigint, NULL::bigint, NULL::bigint, NULL::date, NULL::date),
    ('bench-card', 'credit_card', 'Card', 'BRL', -312000, 1500000, -280000, current_date - 3, current_date + 7),
    ('bench-usd', 'savings', 'Dollars', 'USD', 1250000, NULL, NULL, NULL, NULL),
    ('bench-eur', 'savings', 'Euros', 'EUR', 430000, NULL, NULL, NULL, NULL)
) AS a (ext, kind, name, currency, balance, lim, statement, closing, due);
CREATE TEMP TABLE cats AS
SELECT id, row_number() OVER (ORDER BY slug) - 1 AS n, count(*) OVER () AS total
FROM categories WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'demo');
INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency,
                          description, counterparty, category_id, status)
SELECT a.tenant_id, a.id, 'bench-' || i,
       current_date - (i % 1826)::int,
       CASE WHEN i % 17 = 0 THEN 250000 + (i % 5000) ELSE -((i::bigint * 7919) % 40000 + 100) END,
       a.currency,
       'Purchase ' || i || ' at store ' || (i % 997), 'Store ' || (i % 997),
       (SELECT id FROM cats WHERE cats.n = i % cats.total),
       CASE WHEN i % 101 = 0 THEN 'pending' ELSE 'posted' END
FROM generate_series(1, 1000000) AS i
JOIN accounts a ON a.external_id = (ARRAY['bench-checking', 'bench-checking', 'bench-card', 'bench-usd', 'bench-eur'])[1 + i % 5];
INSERT INTO revenue_events (tenant_id, source, kind, external_id, status, amount_minor, fee_minor, currency, occurred_at)
SELECT t.id, 'stripe', CASE WHEN i % 20 = 0 THEN 'refund' ELSE 'payment' END, 'bench-' || i,
       'succeeded', 1000 + i % 90000, 30 + i % 300, 'BRL', now() - (i % 730) * interval '1 day'
FROM tenants t, generate_series(1, 50000) AS i WHERE t.slug = 'demo';
WITH f AS (
    INSERT INTO forecasts (tenant_id, currency, method_version, starts_on, horizon_days, starting_balance_minor, data_as_of)
    SELECT id, 'BRL', 'bench', current_date, 90, 8123456, now() - interval '2 hours' FROM tenants WHERE slug = 'demo'
    RETURNING id, tenant_id)
INSERT INTO forecast_points (forecast_id, tenant_id, day, p10_minor, p50_minor, p90_minor)
SELECT f.id, f.tenant_id, current_date + d, 8000000 - d * 3000, 8100000 - d * 1000, 8200000 + d * 500
FROM f, generate_series(1, 90) AS d;
INSERT INTO dq_findings (tenant_id, check_name, severity, subject_type, fingerprint, message)
SELECT id, 'gaps', 'warning', 'account', 'bench-' || i, 'Gap ' || i FROM tenants, generate_series(1, 200) AS i
WHERE slug = 'demo';
COMMIT;
ANALYZE;
