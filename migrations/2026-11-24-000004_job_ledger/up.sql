-- The job ledger (source of truth for every job; Redis is only the transport), the history of
-- attempts, cron schedules and ticks, workflow runs and their step graph.
--
-- Links between tenant rows go through (tenant_id, id), so no row can point at another
-- tenant's job or run. A tenant job's parent is a job of the same tenant; what a system job (a
-- cron tick's fan-out) caused is recorded in the child's trigger_kind/trigger_ref instead.

CREATE TABLE workflow_runs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    workflow TEXT NOT NULL CHECK (workflow ~ '^[a-z][a-z0-9_]*$'),
    -- What makes a run unique within its workflow (e.g. the pipeline's date).
    run_key TEXT NOT NULL CHECK (run_key <> ''),
    state TEXT NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'succeeded', 'failed', 'blocked', 'cancelled')),
    trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('api', 'cli', 'cron', 'webhook', 'workflow', 'job', 'system')),
    trigger_ref TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, workflow, run_key),
    CHECK ((state = 'running') = (finished_at IS NULL))
);
CREATE INDEX workflow_runs_recent_idx ON workflow_runs (tenant_id, created_at DESC);
SELECT findash_isolate_tenant_table('workflow_runs', 'SELECT, INSERT, UPDATE');
SELECT findash_track_updated_at('workflow_runs');

CREATE TABLE jobs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NULL for system jobs (FX refresh, pruning): invisible to tenant scopes.
    tenant_id UUID REFERENCES tenants (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    queue TEXT NOT NULL CHECK (queue ~ '^[a-z][a-z0-9_-]{0,62}$'),
    payload JSONB NOT NULL DEFAULT '{}',
    idempotency_key TEXT CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'retrying', 'succeeded', 'dead', 'cancelled', 'quarantined')),
    priority SMALLINT NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    -- Times the job's worker died mid-run (lease expired); too many quarantines the job.
    lease_losses INTEGER NOT NULL DEFAULT 0 CHECK (lease_losses >= 0),
    run_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    dispatched_at TIMESTAMPTZ,
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ,
    cancel_requested_at TIMESTAMPTZ,
    last_error TEXT,
    result JSONB,
    workflow_run_id UUID,
    workflow_step TEXT,
    parent_job_id UUID REFERENCES jobs (id) ON DELETE SET NULL,
    trigger_kind TEXT NOT NULL DEFAULT 'api'
        CHECK (trigger_kind IN ('api', 'cli', 'cron', 'webhook', 'workflow', 'job', 'system')),
    -- The id of what caused the job: webhook inbox row, cron tick, workflow run, user.
    trigger_ref TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, workflow_run_id) REFERENCES workflow_runs (tenant_id, id) ON DELETE SET NULL (workflow_run_id),
    FOREIGN KEY (tenant_id, parent_job_id) REFERENCES jobs (tenant_id, id) ON DELETE SET NULL (parent_job_id),
    CHECK (attempts <= max_attempts),
    CHECK (state <> 'running' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK ((state IN ('succeeded', 'dead', 'cancelled', 'quarantined')) = (finished_at IS NOT NULL)),
    CHECK (workflow_step IS NULL OR workflow_run_id IS NOT NULL),
    CHECK (tenant_id IS NOT NULL OR workflow_run_id IS NULL)
);
-- Same tenant, kind and key: the same job. System jobs (NULL tenant) de-duplicate among themselves.
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (tenant_id, kind, idempotency_key) NULLS NOT DISTINCT
    WHERE idempotency_key IS NOT NULL;
-- Dispatcher: due jobs per queue, fairly across tenants.
CREATE INDEX jobs_due_idx ON jobs (queue, run_at, tenant_id) WHERE state IN ('queued', 'retrying');
-- Reconciler: running jobs whose lease expired.
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_tenant_recent_idx ON jobs (tenant_id, created_at DESC);
CREATE INDEX jobs_state_kind_idx ON jobs (state, kind, updated_at DESC);
CREATE INDEX jobs_workflow_idx ON jobs (workflow_run_id) WHERE workflow_run_id IS NOT NULL;
CREATE INDEX jobs_parent_idx ON jobs (parent_job_id) WHERE parent_job_id IS NOT NULL;
SELECT findash_isolate_tenant_table('jobs', 'SELECT, INSERT, UPDATE');
SELECT findash_track_updated_at('jobs');

-- Rows whose tenant may be NULL (system work) cannot rely on a composite foreign key, which
-- PostgreSQL skips when a column is NULL. This trigger holds them to the same rule: the job a
-- row points at (column TG_ARGV[0]) belongs to the row's tenant, or to no tenant for a system row.
-- It runs as the caller, so a job hidden by row-level security counts as another tenant's.
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

ALTER TABLE forecasts ADD CONSTRAINT forecasts_job_fkey
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id) ON DELETE SET NULL (job_id);
CREATE INDEX forecasts_job_idx ON forecasts (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE job_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- The job's tenant, copied so RLS can filter attempts without a join.
    tenant_id UUID REFERENCES tenants (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL CHECK (attempt >= 1),
    worker TEXT NOT NULL CHECK (worker <> ''),
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    -- NULL while the attempt runs.
    outcome TEXT CHECK (outcome IN ('succeeded', 'failed', 'retrying', 'rate_limited', 'timed_out',
                                    'panicked', 'cancelled', 'lease_expired')),
    error TEXT,
    UNIQUE (job_id, attempt),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id) ON DELETE CASCADE,
    CHECK ((outcome IS NULL) = (finished_at IS NULL)),
    CHECK (finished_at IS NULL OR finished_at >= started_at)
);
CREATE TRIGGER job_tenant_matches BEFORE INSERT OR UPDATE OF job_id, tenant_id ON job_attempts
    FOR EACH ROW EXECUTE FUNCTION findash_job_tenant_matches('job_id');
SELECT findash_isolate_tenant_table('job_attempts', 'SELECT, INSERT, UPDATE (finished_at, outcome, error)',
    'SELECT, INSERT, UPDATE (finished_at, outcome, error), DELETE');

CREATE TABLE workflow_steps (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL,
    run_id UUID NOT NULL,
    -- Unique within the run; fan-out steps carry their subject (e.g. `sync:<connection id>`).
    step TEXT NOT NULL CHECK (step ~ '^[a-z][a-z0-9_]*(:[A-Za-z0-9_.-]+)?$'),
    job_kind TEXT NOT NULL CHECK (job_kind ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    payload JSONB NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'queued', 'running', 'succeeded', 'failed', 'blocked', 'skipped', 'cancelled')),
    job_id UUID,
    -- Why a step is blocked or failed (e.g. the critical DQ findings that stopped the forecast).
    reason TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    UNIQUE (run_id, step),
    UNIQUE (tenant_id, run_id, step),
    FOREIGN KEY (tenant_id, run_id) REFERENCES workflow_runs (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id) ON DELETE SET NULL (job_id),
    CHECK ((state IN ('succeeded', 'failed', 'blocked', 'skipped', 'cancelled')) = (finished_at IS NOT NULL))
);
CREATE INDEX workflow_steps_job_idx ON workflow_steps (job_id) WHERE job_id IS NOT NULL;
SELECT findash_isolate_tenant_table('workflow_steps', 'SELECT, INSERT, UPDATE');
SELECT findash_track_updated_at('workflow_steps');

CREATE TABLE workflow_step_dependencies (
    run_id UUID NOT NULL,
    step TEXT NOT NULL,
    depends_on TEXT NOT NULL,
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    PRIMARY KEY (run_id, step, depends_on),
    FOREIGN KEY (tenant_id, run_id, step) REFERENCES workflow_steps (tenant_id, run_id, step) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, run_id, depends_on) REFERENCES workflow_steps (tenant_id, run_id, step) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, run_id) REFERENCES workflow_runs (tenant_id, id) ON DELETE CASCADE,
    CHECK (step <> depends_on)
);
SELECT findash_isolate_tenant_table('workflow_step_dependencies', 'SELECT, INSERT');

-- Operator state of the schedules defined in code (pause/resume). System path only.
CREATE TABLE cron_schedules (
    name TEXT PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]*$'),
    paused BOOLEAN NOT NULL DEFAULT false,
    paused_at TIMESTAMPTZ,
    paused_by TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (paused = (paused_at IS NOT NULL))
);
SELECT findash_track_updated_at('cron_schedules');
GRANT SELECT, INSERT, UPDATE ON cron_schedules TO findash_system;
GRANT SELECT ON cron_schedules TO findash_readonly;

-- One row per (schedule, fire time): every scheduler replica tries to insert it, and only the
-- replica whose insert wins enqueues the run.
CREATE TABLE cron_ticks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule TEXT NOT NULL CHECK (schedule ~ '^[a-z][a-z0-9-]*$'),
    fire_at TIMESTAMPTZ NOT NULL,
    claimed_by TEXT NOT NULL CHECK (claimed_by <> ''),
    claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    outcome TEXT NOT NULL DEFAULT 'enqueued' CHECK (outcome IN ('enqueued', 'skipped_paused', 'failed')),
    job_id UUID REFERENCES jobs (id) ON DELETE SET NULL,
    error TEXT,
    UNIQUE (schedule, fire_at)
);
CREATE INDEX cron_ticks_recent_idx ON cron_ticks (schedule, fire_at DESC);
CREATE INDEX cron_ticks_job_idx ON cron_ticks (job_id) WHERE job_id IS NOT NULL;
GRANT SELECT, INSERT, UPDATE (outcome, job_id, error), DELETE ON cron_ticks TO findash_system;
GRANT SELECT ON cron_ticks TO findash_readonly;
