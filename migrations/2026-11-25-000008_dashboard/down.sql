DROP INDEX dq_findings_tenant_recent_idx;
DROP INDEX fx_rates_quote_date_idx;
DROP INDEX revenue_events_tenant_time_idx;
CREATE INDEX revenue_events_tenant_time_idx ON revenue_events (tenant_id, occurred_at);
DROP FUNCTION fx_apply(bigint, numeric, integer);
DROP FUNCTION fx_rate(text, text, date);
