-- Cheaper integrity checks on the engine's hot path.
--
-- A row pointing at a job (a job's parent, an attempt, a webhook's job) must belong to that
-- job's tenant. With a tenant, the composite foreign key (tenant_id, job) already guarantees it;
-- only a row without a tenant (system work) needs the trigger, and for it the trigger only has
-- to check that the job it points at is a system job too. The old trigger ran for every row and
-- serialised the whole row to find its column (about a third of the cost of recording an
-- attempt); these run only where the foreign key cannot help, and read the column directly.

DROP TRIGGER parent_job_tenant_matches ON jobs;
DROP TRIGGER job_tenant_matches ON job_attempts;
DROP TRIGGER job_tenant_matches ON webhook_inbox;
DROP FUNCTION findash_job_tenant_matches();

-- Both run as the caller: a job hidden by row-level security counts as another tenant's.
CREATE FUNCTION findash_parent_is_system_job() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = NEW.parent_job_id AND j.tenant_id IS NULL) THEN
        RAISE EXCEPTION '%.parent_job_id must point at a job of the same tenant', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION findash_job_is_system_job() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = NEW.job_id AND j.tenant_id IS NULL) THEN
        RAISE EXCEPTION '%.job_id must point at a job of the same tenant', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER parent_job_tenant_matches BEFORE INSERT OR UPDATE OF parent_job_id, tenant_id ON jobs
    FOR EACH ROW WHEN (NEW.tenant_id IS NULL AND NEW.parent_job_id IS NOT NULL)
    EXECUTE FUNCTION findash_parent_is_system_job();
CREATE TRIGGER job_tenant_matches BEFORE INSERT OR UPDATE OF job_id, tenant_id ON job_attempts
    FOR EACH ROW WHEN (NEW.tenant_id IS NULL AND NEW.job_id IS NOT NULL)
    EXECUTE FUNCTION findash_job_is_system_job();
CREATE TRIGGER job_tenant_matches BEFORE INSERT OR UPDATE OF job_id, tenant_id ON webhook_inbox
    FOR EACH ROW WHEN (NEW.tenant_id IS NULL AND NEW.job_id IS NOT NULL)
    EXECUTE FUNCTION findash_job_is_system_job();

-- A running job is always in its queue's window (dispatched_at set): the claim keeps it so even
-- for a delivery the dispatcher had given up on. The reconciler finds expired leases through
-- the window's index, which is bounded by the window size, so the separate lease index (one
-- more entry for every claim, and a plan trap for statements on a handful of running jobs)
-- goes. Deploying: a worker of an earlier release claiming such a taken-back delivery would
-- now fail its claim batch (the jobs are dispatched again later, nothing is lost); stop the
-- old workers before starting the new ones rather than mixing them for long.
UPDATE jobs SET dispatched_at = coalesce(started_at, now()), dispatch_token = 'claimed'
    WHERE state = 'running' AND dispatched_at IS NULL;
ALTER TABLE jobs ADD CONSTRAINT jobs_running_in_window
    CHECK (state <> 'running' OR dispatched_at IS NOT NULL);
DROP INDEX jobs_lease_idx;

-- Every move of a job (dispatch, claim, outcome) writes a new row version with an entry in
-- every index whose predicate the row matches, so the ledger keeps few indexes over all rows.
-- Job ids are UUIDv7 (creation time in milliseconds first), whoever inserts the row, so
-- (tenant_id, id) already lists a tenant's jobs newest first and retention deletes by a range
-- of the primary key; the state index becomes one over the states an operator hunts for.
-- Pending jobs are covered by the dispatcher's two indexes: undispatched, and in the window.
CREATE FUNCTION findash_uuid_v7(at timestamptz DEFAULT clock_timestamp()) RETURNS uuid
    LANGUAGE sql VOLATILE PARALLEL SAFE
    AS $$
    -- A random (v4) UUID with its first 48 bits replaced by the time and its version set to 7.
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM at) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;
ALTER TABLE jobs ALTER COLUMN id SET DEFAULT findash_uuid_v7();
DROP INDEX jobs_tenant_recent_idx;
DROP INDEX jobs_state_kind_idx;
CREATE INDEX jobs_attention_idx ON jobs (state, id)
    WHERE state IN ('retrying', 'dead', 'cancelled', 'quarantined');
