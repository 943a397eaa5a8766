SELECT w.id, w.provider, w.event_id, w.event_type, t.slug, w.status, w.received_at, j.state
FROM webhook_inbox w LEFT JOIN tenants t ON t.id = w.tenant_id LEFT JOIN jobs j ON j.id = w.job_id
ORDER BY w.received_at DESC, w.id DESC LIMIT 51;
