DROP TABLE audit_log;
DROP TABLE change_sets;
DROP TABLE email_outbox;
DROP TABLE webhook_inbox;
