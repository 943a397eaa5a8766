-- What the engine needs beyond the ledger of the Foundation: run counting, bounded dispatch and
-- the outcomes of attempts that end without the job's own verdict.

-- `runs` numbers every claim (attempt rows are keyed by it); `attempts` counts only the runs that
-- used up an attempt, so a rate-limit deferral, a worker death or a shutdown release never does.
-- `dispatch_token` names the Redis task that carries the job, so the reconciler can tell whether
-- Redis still holds it.
ALTER TABLE jobs
    ADD COLUMN runs INTEGER NOT NULL DEFAULT 0 CHECK (runs >= 0),
    ADD COLUMN deferrals INTEGER NOT NULL DEFAULT 0 CHECK (deferrals >= 0),
    ADD COLUMN dispatch_token TEXT CHECK (dispatch_token <> ''),
    ADD CONSTRAINT jobs_dispatched_with_token CHECK ((dispatched_at IS NULL) = (dispatch_token IS NULL));

-- The dispatcher walks the tenants with undispatched due work (a skip scan over this index) and
-- takes a fair share from each; NULL (system jobs) is folded into the nil UUID so it is a tenant
-- like any other.
DROP INDEX jobs_due_idx;
CREATE INDEX jobs_undispatched_idx
    ON jobs (queue, (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)), run_at)
    WHERE state IN ('queued', 'retrying') AND dispatched_at IS NULL;
-- The window: jobs handed to Redis and not finished yet, per queue.
CREATE INDEX jobs_in_window_idx ON jobs (queue)
    WHERE state IN ('queued', 'retrying', 'running') AND dispatched_at IS NOT NULL;

-- `released`: the worker shut down before the job finished; `deferred`: a rate limit pushed it out.
ALTER TABLE job_attempts DROP CONSTRAINT job_attempts_outcome_check;
ALTER TABLE job_attempts ADD CONSTRAINT job_attempts_outcome_check
    CHECK (outcome IN ('succeeded', 'failed', 'retrying', 'rate_limited', 'timed_out', 'panicked',
                       'cancelled', 'lease_expired', 'released', 'deferred', 'blocked'));
