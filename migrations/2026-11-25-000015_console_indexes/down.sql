-- Outside a transaction, one statement at a time, like up.sql.
DROP INDEX CONCURRENTLY IF EXISTS webhook_inbox_received_idx;
DROP INDEX CONCURRENTLY IF EXISTS workflow_runs_created_idx;
DROP INDEX CONCURRENTLY IF EXISTS dq_findings_open_severity_idx;
DROP INDEX CONCURRENTLY IF EXISTS job_attempts_finished_idx;
