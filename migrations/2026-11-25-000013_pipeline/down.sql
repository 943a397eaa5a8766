DROP INDEX email_outbox_tenant_recent_idx;
ALTER TABLE workflow_step_dependencies DROP COLUMN requires;
DROP TABLE notification_preferences;
DROP TABLE forecast_flows;
DROP TRIGGER accounts_record_balance ON accounts;
DROP FUNCTION findash_record_balance();
DROP TABLE account_balance_snapshots;
