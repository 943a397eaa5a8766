ALTER TABLE revenue_events DROP COLUMN state_rank, DROP COLUMN state_at;
DROP INDEX webhook_inbox_unlinked_idx;
ALTER TABLE webhook_inbox DROP COLUMN account_ref;
DROP TABLE payment_accounts;
