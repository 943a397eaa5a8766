-- A large deployment for the console's reads: :jobs jobs over ten days with one or two attempts
-- each, :findings data-quality findings (1 in 150 open and critical), :runs workflow runs and
-- :deliveries webhook deliveries, across 50 tenants. Run as the database owner.
INSERT INTO tenants (slug, name, base_currency, time_zone, locale)
SELECT 'bench-' || g, 'Bench ' || g, 'BRL', 'UTC', 'pt-BR' FROM generate_series(1, 50) g;
CREATE TEMP TABLE bench_tenants AS SELECT array_agg(id ORDER BY slug) AS ids FROM tenants;

INSERT INTO jobs (tenant_id, kind, queue, state, max_attempts, attempts, created_at, run_at, finished_at)
SELECT (SELECT ids[1 + g % 50] FROM bench_tenants), 'noop', 'default',
       CASE WHEN g % 20 = 0 THEN 'dead' ELSE 'succeeded' END, 5, 1 + (g % 2),
       at, at, at + interval '2 seconds'
FROM generate_series(1, :jobs) g, LATERAL (SELECT now() - (g::double precision / :jobs) * interval '10 days' AS at) t;

INSERT INTO job_attempts (job_id, tenant_id, attempt, worker, started_at, finished_at, outcome)
SELECT j.id, j.tenant_id, n, 'bench', j.created_at + n * interval '1 second',
       j.created_at + n * interval '1 second' + interval '50 milliseconds',
       CASE WHEN n < j.attempts OR j.state = 'dead' THEN 'failed' ELSE 'succeeded' END
FROM jobs j, generate_series(1, j.attempts) n;

INSERT INTO dq_findings (tenant_id, check_name, severity, subject_type, fingerprint, status, message,
                         first_seen_at, last_seen_at, resolved_at)
SELECT (SELECT ids[1 + g % 50] FROM bench_tenants), 'balance_continuity',
       CASE WHEN g % 3 = 0 THEN 'critical' ELSE 'warning' END, 'account', 'bench-' || g,
       CASE WHEN g % 50 = 0 THEN 'open' ELSE 'resolved' END, 'a finding',
       now() - g * interval '1 minute', now() - g * interval '1 minute',
       CASE WHEN g % 50 = 0 THEN NULL ELSE now() END
FROM generate_series(1, :findings) g;

INSERT INTO workflow_runs (tenant_id, workflow, run_key, state, trigger_kind, created_at, finished_at)
SELECT (SELECT ids[1 + g % 50] FROM bench_tenants), 'daily_pipeline', 'run-' || g, 'succeeded', 'cron',
       now() - g * interval '1 minute', now() - g * interval '1 minute' + interval '5 minutes'
FROM generate_series(1, :runs) g;

INSERT INTO webhook_inbox (provider, event_id, event_type, tenant_id, received_at, raw_body, status, processed_at)
SELECT 'stripe', 'evt_bench_' || g, 'invoice.paid', (SELECT ids[1 + g % 50] FROM bench_tenants),
       now() - g * interval '1 minute', convert_to('{}', 'UTF8'), 'processed', now()
FROM generate_series(1, :deliveries) g;

VACUUM ANALYZE;
