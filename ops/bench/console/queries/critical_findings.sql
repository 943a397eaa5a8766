SELECT f.tenant_id, t.slug, f.id, f.check_name, f.message, f.first_seen_at
FROM dq_findings f JOIN tenants t ON t.id = f.tenant_id
WHERE f.status = 'open' AND f.severity = 'critical' ORDER BY f.first_seen_at, f.id LIMIT 10;
SELECT count(*) FROM dq_findings WHERE status = 'open' AND severity = 'critical';
