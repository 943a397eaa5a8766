-- Webhook inbox, email outbox, change sets awaiting approval, audit log.

CREATE TABLE webhook_inbox (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    provider TEXT NOT NULL CHECK (provider IN ('stripe', 'qstash', 'mercadopago')),
    event_id TEXT NOT NULL CHECK (event_id <> ''),
    event_type TEXT,
    -- Resolved from the endpoint secret or connected account when the event is received; NULL
    -- while unresolved, which keeps the event invisible to every tenant.
    tenant_id UUID REFERENCES tenants (id) ON DELETE CASCADE,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The verified body exactly as received, and the headers worth keeping (never signatures or
    -- authorization). Immutable: no role is granted UPDATE on these columns.
    raw_body BYTEA NOT NULL,
    headers JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    status TEXT NOT NULL DEFAULT 'received'
        CHECK (status IN ('received', 'processing', 'processed', 'ignored', 'failed')),
    processed_at TIMESTAMPTZ,
    processing_error TEXT,
    job_id UUID REFERENCES jobs (id) ON DELETE SET NULL,
    replay_count INTEGER NOT NULL DEFAULT 0 CHECK (replay_count >= 0),
    last_replayed_at TIMESTAMPTZ,
    UNIQUE (provider, event_id),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id) ON DELETE SET NULL (job_id),
    CHECK ((status IN ('processed', 'ignored')) = (processed_at IS NOT NULL))
);
CREATE INDEX webhook_inbox_recent_idx ON webhook_inbox (provider, received_at DESC);
CREATE INDEX webhook_inbox_status_idx ON webhook_inbox (status, received_at) WHERE status IN ('received', 'failed');
CREATE INDEX webhook_inbox_tenant_idx ON webhook_inbox (tenant_id, received_at DESC) WHERE tenant_id IS NOT NULL;
CREATE INDEX webhook_inbox_job_idx ON webhook_inbox (job_id) WHERE job_id IS NOT NULL;
CREATE TRIGGER job_tenant_matches BEFORE INSERT OR UPDATE OF job_id, tenant_id ON webhook_inbox
    FOR EACH ROW EXECUTE FUNCTION findash_job_tenant_matches('job_id');
SELECT findash_isolate_tenant_table('webhook_inbox',
    'SELECT',
    'SELECT, INSERT, UPDATE (tenant_id, event_type, status, processed_at, processing_error, job_id, replay_count, last_replayed_at), DELETE');

CREATE TABLE email_outbox (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id UUID,
    kind TEXT NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    -- One email per key, however often the job that writes it reruns (e.g. `daily_summary:2026-11-24:<user>`).
    dedupe_key TEXT NOT NULL CHECK (dedupe_key <> ''),
    to_address TEXT NOT NULL CHECK (to_address ~ '^[^@\s]+@[^@\s]+$'),
    subject TEXT NOT NULL CHECK (subject <> ''),
    body_text TEXT NOT NULL,
    body_html TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'suppressed')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error TEXT,
    message_id TEXT,
    sent_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, dedupe_key),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (user_id),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX email_outbox_pending_idx ON email_outbox (created_at) WHERE status IN ('pending', 'failed');
SELECT findash_isolate_tenant_table('email_outbox', 'SELECT, INSERT, UPDATE');
SELECT findash_track_updated_at('email_outbox');

-- Proposed bulk changes to a tenant's data (e.g. recategorize 400 transactions) that a person
-- approves or rejects before a job applies them.
CREATE TABLE change_sets (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    summary TEXT NOT NULL CHECK (summary <> ''),
    changes JSONB NOT NULL CHECK (jsonb_typeof(changes) = 'array'),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'applied', 'failed')),
    proposed_by UUID,
    proposed_by_job UUID,
    decided_by UUID,
    decided_at TIMESTAMPTZ,
    decision_note TEXT,
    apply_job_id UUID,
    applied_at TIMESTAMPTZ,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, proposed_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (proposed_by),
    FOREIGN KEY (tenant_id, decided_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (decided_by),
    FOREIGN KEY (tenant_id, proposed_by_job) REFERENCES jobs (tenant_id, id) ON DELETE SET NULL (proposed_by_job),
    FOREIGN KEY (tenant_id, apply_job_id) REFERENCES jobs (tenant_id, id) ON DELETE SET NULL (apply_job_id),
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK ((status = 'applied') = (applied_at IS NOT NULL))
);
CREATE INDEX change_sets_tenant_status_idx ON change_sets (tenant_id, status, created_at DESC);
CREATE INDEX change_sets_proposed_by_job_idx ON change_sets (proposed_by_job) WHERE proposed_by_job IS NOT NULL;
CREATE INDEX change_sets_apply_job_idx ON change_sets (apply_job_id) WHERE apply_job_id IS NOT NULL;
SELECT findash_isolate_tenant_table('change_sets', 'SELECT, INSERT, UPDATE');
SELECT findash_track_updated_at('change_sets');

-- Append-only: no role may UPDATE; only the system role may DELETE (retention).
CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id UUID REFERENCES tenants (id) ON DELETE CASCADE,
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('user', 'api_token', 'system', 'webhook', 'job', 'cli')),
    actor_id TEXT,
    action TEXT NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]*$'),
    subject_type TEXT,
    subject_id TEXT,
    details JSONB NOT NULL DEFAULT '{}',
    request_id TEXT
);
CREATE INDEX audit_log_tenant_time_idx ON audit_log (tenant_id, occurred_at DESC);
SELECT findash_isolate_tenant_table('audit_log', 'SELECT, INSERT', 'SELECT, INSERT, DELETE');
