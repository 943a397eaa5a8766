ALTER TABLE job_attempts DROP CONSTRAINT job_attempts_outcome_check;
ALTER TABLE job_attempts ADD CONSTRAINT job_attempts_outcome_check
    CHECK (outcome IN ('succeeded', 'failed', 'retrying', 'rate_limited', 'timed_out',
                       'panicked', 'cancelled', 'lease_expired'));
DROP INDEX jobs_in_window_idx;
DROP INDEX jobs_undispatched_idx;
CREATE INDEX jobs_due_idx ON jobs (queue, run_at, tenant_id) WHERE state IN ('queued', 'retrying');
ALTER TABLE jobs
    DROP CONSTRAINT jobs_dispatched_with_token,
    DROP COLUMN dispatch_token,
    DROP COLUMN deferrals,
    DROP COLUMN runs;
