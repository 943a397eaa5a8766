-- Dashboard data for the demo tenant, so the contract run exercises full answers (accounts,
-- flows, a card, revenue, a forecast, findings), not only empty lists. Idempotent.
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO fx_rates (source, base_currency, quote_currency, rate_date, rate)
VALUES ('ecb', 'EUR', 'BRL', current_date - 1, 6.1234), ('ecb', 'EUR', 'USD', current_date - 1, 1.0842)
ON CONFLICT DO NOTHING;
WITH t AS (SELECT id FROM tenants WHERE slug = 'demo'),
     c AS (SELECT pc.id, pc.tenant_id FROM provider_connections pc JOIN t ON t.id = pc.tenant_id
           WHERE pc.external_id = 'sandbox-personal')
INSERT INTO accounts (tenant_id, connection_id, external_id, kind, name, institution, currency,
                      current_balance_minor, balance_as_of, credit_limit_minor, statement_balance_minor,
                      statement_closing_date, statement_due_date)
SELECT c.tenant_id, c.id, a.ext, a.kind, a.name, 'Banco Sandbox', a.currency, a.balance, now(),
       a.lim, a.statement, a.closing, a.due
FROM c, (VALUES
    ('contract-checking', 'checking', 'Checking', 'BRL', 1234567::bigint, NULL::bigint, NULL::bigint, NULL::date, NULL::date),
    ('contract-usd', 'savings', 'Dollars', 'USD', 50000, NULL, NULL, NULL, NULL),
    ('contract-card', 'credit_card', 'Card', 'BRL', -80000, 500000, -60000, current_date - 3, current_date + 7)
) AS a (ext, kind, name, currency, balance, lim, statement, closing, due)
ON CONFLICT DO NOTHING;
INSERT INTO transactions (tenant_id, account_id, external_id, booked_date, amount_minor, currency,
                          description, counterparty, category_id, status)
SELECT a.tenant_id, a.id, 'contract-' || i, current_date - (i % 90), (i % 7 - 5) * 1234, a.currency,
       'Purchase ' || i, 'Shop ' || (i % 5),
       (SELECT id FROM categories c WHERE c.tenant_id = a.tenant_id ORDER BY slug OFFSET (i % 5) LIMIT 1),
       CASE WHEN i % 11 = 0 THEN 'pending' ELSE 'posted' END
FROM accounts a, generate_series(1, 300) AS i
WHERE a.external_id IN ('contract-checking', 'contract-usd', 'contract-card')
ON CONFLICT DO NOTHING;
-- A processed Stripe delivery of the demo tenant (a customer event: replaying it stores nothing).
INSERT INTO webhook_inbox (tenant_id, provider, event_id, event_type, account_ref, raw_body, headers, status, processed_at)
SELECT t.id, 'stripe', 'evt_contract', 'customer.created', 'platform',
       convert_to('{"id":"evt_contract","object":"event","type":"customer.created","created":1700000000,"data":{"object":{"id":"cus_contract","object":"customer"}}}', 'UTF8'),
       '{"content-type": "application/json"}', 'ignored', now()
FROM tenants t WHERE t.slug = 'demo'
ON CONFLICT DO NOTHING;
INSERT INTO revenue_events (tenant_id, source, kind, external_id, status, amount_minor, fee_minor, currency, occurred_at)
SELECT t.id, 'stripe', k.kind, 'contract-' || k.kind || '-' || i, k.status, 1000 + i, 30, 'BRL', now() - i * interval '1 day'
FROM tenants t, generate_series(1, 40) AS i,
     (VALUES ('payment', 'succeeded'), ('refund', 'succeeded'), ('dispute', 'lost')) AS k (kind, status)
WHERE t.slug = 'demo'
ON CONFLICT DO NOTHING;
INSERT INTO dq_findings (tenant_id, check_name, severity, subject_type, fingerprint, message)
SELECT id, 'stale_sync', 'warning', 'connection', 'contract-stale', 'A connection has not synced for 30 hours'
FROM tenants WHERE slug = 'demo'
ON CONFLICT DO NOTHING;
WITH f AS (
    INSERT INTO forecasts (tenant_id, currency, method_version, starts_on, horizon_days, starting_balance_minor, data_as_of)
    SELECT id, 'BRL', 'contract', current_date, 30, 1234567, now() FROM tenants
    WHERE slug = 'demo' AND NOT EXISTS (SELECT FROM forecasts WHERE method_version = 'contract')
    RETURNING id, tenant_id)
INSERT INTO forecast_points (forecast_id, tenant_id, day, p10_minor, p50_minor, p90_minor)
SELECT f.id, f.tenant_id, current_date + d, 1000000 - d * 100, 1200000 - d * 50, 1300000 FROM f, generate_series(1, 30) AS d;
COMMIT;
