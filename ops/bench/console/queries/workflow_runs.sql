SELECT r.id, r.workflow, r.run_key, r.state, r.created_at, t.slug
FROM workflow_runs r JOIN tenants t ON t.id = r.tenant_id
ORDER BY r.created_at DESC, r.id DESC LIMIT 51;
SELECT DISTINCT workflow FROM (SELECT workflow FROM workflow_runs ORDER BY created_at DESC, id DESC LIMIT 1000) r;
