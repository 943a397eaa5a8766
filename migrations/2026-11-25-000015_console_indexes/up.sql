-- Indexes for the admin console's reads, built without blocking writes: CONCURRENTLY, so this
-- migration runs outside a transaction (metadata.toml), one statement at a time
-- (schema/src/migrations.rs). Plain statements only: no function bodies, no block comments.
--
-- A concurrent build that fails (cancelled, a deadlock, a restart) leaves an INVALID index under
-- its name, which IF NOT EXISTS alone would keep for ever. Until this migration is recorded, an
-- index of one of these names can only be such a leftover, or a valid one of a run that failed
-- further on: each is dropped (concurrently) and built again, so running this again after any
-- failure ends with every index valid and as written here.

-- The overview's throughput: attempts finished in a time range, counted by outcome from the
-- index alone (an index-only scan reads no heap row per attempt).
DROP INDEX CONCURRENTLY IF EXISTS job_attempts_finished_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS job_attempts_finished_idx
    ON job_attempts (finished_at) INCLUDE (outcome) WHERE finished_at IS NOT NULL;

-- The overview's open findings of a severity, every tenant's, longest open first
-- (schema::dq::open_findings_everywhere), and their count.
DROP INDEX CONCURRENTLY IF EXISTS dq_findings_open_severity_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS dq_findings_open_severity_idx
    ON dq_findings (severity, first_seen_at, id) WHERE status = 'open';

-- Every tenant's workflow runs, newest first, a page at a time (engine::workflow::list_runs);
-- also the newest runs the workflow filter offers names from.
DROP INDEX CONCURRENTLY IF EXISTS workflow_runs_created_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS workflow_runs_created_idx
    ON workflow_runs (created_at DESC, id DESC);

-- The operator's webhook inbox, newest first, a page at a time (schema::webhooks::inbox).
DROP INDEX CONCURRENTLY IF EXISTS webhook_inbox_received_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS webhook_inbox_received_idx
    ON webhook_inbox (received_at DESC, id DESC);
