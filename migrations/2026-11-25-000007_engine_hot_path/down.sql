DROP INDEX jobs_attention_idx;
ALTER TABLE jobs ALTER COLUMN id SET DEFAULT gen_random_uuid();
DROP FUNCTION findash_uuid_v7(timestamptz);
CREATE INDEX jobs_state_kind_idx ON jobs (state, kind, updated_at DESC);
CREATE INDEX jobs_tenant_recent_idx ON jobs (tenant_id, created_at DESC);
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';
ALTER TABLE jobs DROP CONSTRAINT jobs_running_in_window;

DROP TRIGGER parent_job_tenant_matches ON jobs;
DROP TRIGGER job_tenant_matches ON job_attempts;
DROP TRIGGER job_tenant_matches ON webhook_inbox;
DROP FUNCTION findash_parent_is_system_job();
DROP FUNCTION findash_job_is_system_job();

CREATE FUNCTION findash_job_tenant_matches() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    target uuid := (to_jsonb(NEW) ->> TG_ARGV[0])::uuid;
BEGIN
    IF target IS NOT NULL AND (SELECT j.tenant_id FROM jobs j WHERE j.id = target) IS DISTINCT FROM NEW.tenant_id THEN
        RAISE EXCEPTION '%.% must point at a job of the same tenant', TG_TABLE_NAME, TG_ARGV[0]
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER parent_job_tenant_matches BEFORE INSERT OR UPDATE OF parent_job_id, tenant_id ON jobs
    FOR EACH ROW EXECUTE FUNCTION findash_job_tenant_matches('parent_job_id');
CREATE TRIGGER job_tenant_matches BEFORE INSERT OR UPDATE OF job_id, tenant_id ON job_attempts
    FOR EACH ROW EXECUTE FUNCTION findash_job_tenant_matches('job_id');
CREATE TRIGGER job_tenant_matches BEFORE INSERT OR UPDATE OF job_id, tenant_id ON webhook_inbox
    FOR EACH ROW EXECUTE FUNCTION findash_job_tenant_matches('job_id');
