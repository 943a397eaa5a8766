-- Revenue from payment providers, budgets, forecasts with daily bands, data-quality findings.

CREATE TABLE revenue_events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source TEXT NOT NULL CHECK (source IN ('stripe', 'mercadopago')),
    kind TEXT NOT NULL CHECK (kind IN ('payment', 'refund', 'payout', 'payout_failed', 'dispute')),
    -- The provider object the row stands for (charge, refund, payout or dispute id).
    external_id TEXT NOT NULL CHECK (external_id <> ''),
    -- For refunds and disputes: the payment they reverse.
    related_external_id TEXT,
    status TEXT NOT NULL CHECK (status <> ''),
    -- Gross amount, always positive; the kind gives its direction.
    amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
    fee_minor BIGINT NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
    currency CHAR(3) NOT NULL REFERENCES currencies (code),
    -- The provider's own timestamp of the object (Stripe `created`), used to order out-of-order deliveries.
    occurred_at TIMESTAMPTZ NOT NULL,
    customer_ref TEXT,
    description TEXT,
    source_event_id TEXT,
    raw JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, source, kind, external_id)
);
CREATE INDEX revenue_events_tenant_time_idx ON revenue_events (tenant_id, occurred_at);
CREATE INDEX revenue_events_related_idx ON revenue_events (tenant_id, source, related_external_id)
    WHERE related_external_id IS NOT NULL;
SELECT findash_isolate_tenant_table('revenue_events', 'SELECT, INSERT, UPDATE');
SELECT findash_track_updated_at('revenue_events');

CREATE TABLE budgets (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    category_id UUID NOT NULL,
    period TEXT NOT NULL CHECK (period IN ('month', 'year')),
    period_start DATE NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency CHAR(3) NOT NULL REFERENCES currencies (code),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, category_id, period, period_start),
    FOREIGN KEY (tenant_id, category_id) REFERENCES categories (tenant_id, id) ON DELETE CASCADE,
    CHECK (extract(day FROM period_start) = 1 AND (period = 'month' OR extract(month FROM period_start) = 1))
);
SELECT findash_isolate_tenant_table('budgets', 'SELECT, INSERT, UPDATE, DELETE');
SELECT findash_track_updated_at('budgets');

CREATE TABLE forecasts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- NULL: the tenant's total across accounts, in its base currency.
    account_id UUID,
    currency CHAR(3) NOT NULL REFERENCES currencies (code),
    method_version TEXT NOT NULL CHECK (method_version <> ''),
    starts_on DATE NOT NULL,
    horizon_days INTEGER NOT NULL CHECK (horizon_days BETWEEN 1 AND 730),
    starting_balance_minor BIGINT NOT NULL,
    -- Freshness of the inputs: the oldest last-successful-sync among the accounts used.
    data_as_of TIMESTAMPTZ,
    inputs JSONB NOT NULL DEFAULT '{}',
    -- The job that computed it (foreign key added with the job ledger).
    job_id UUID,
    generated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    -- An account's forecast is in the account's currency; the total (no account) in the base currency.
    FOREIGN KEY (tenant_id, account_id, currency) REFERENCES accounts (tenant_id, id, currency) ON DELETE CASCADE
);
CREATE INDEX forecasts_latest_idx ON forecasts (tenant_id, account_id, generated_at DESC);
SELECT findash_isolate_tenant_table('forecasts', 'SELECT, INSERT, DELETE');

CREATE TABLE forecast_points (
    forecast_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    day DATE NOT NULL,
    p10_minor BIGINT NOT NULL,
    p50_minor BIGINT NOT NULL,
    p90_minor BIGINT NOT NULL,
    PRIMARY KEY (forecast_id, day),
    FOREIGN KEY (tenant_id, forecast_id) REFERENCES forecasts (tenant_id, id) ON DELETE CASCADE,
    CHECK (p10_minor <= p50_minor AND p50_minor <= p90_minor)
);
SELECT findash_isolate_tenant_table('forecast_points', 'SELECT, INSERT, DELETE');

CREATE TABLE dq_findings (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    check_name TEXT NOT NULL CHECK (check_name ~ '^[a-z][a-z0-9_]*$'),
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    subject_type TEXT NOT NULL CHECK (subject_type IN ('tenant', 'connection', 'account', 'transaction', 'fx_rate')),
    subject_id TEXT,
    -- Stable identity of "the same problem" across runs, for de-duplication.
    fingerprint TEXT NOT NULL CHECK (fingerprint <> ''),
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    message TEXT NOT NULL CHECK (message <> ''),
    evidence JSONB NOT NULL DEFAULT '{}',
    first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at TIMESTAMPTZ,
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL)),
    CHECK (first_seen_at <= last_seen_at)
);
-- At most one open finding per problem; a resolved one may reopen as a new row.
CREATE UNIQUE INDEX dq_findings_open_key ON dq_findings (tenant_id, fingerprint) WHERE status = 'open';
CREATE INDEX dq_findings_tenant_status_idx ON dq_findings (tenant_id, status, severity, last_seen_at DESC);
SELECT findash_isolate_tenant_table('dq_findings', 'SELECT, INSERT, UPDATE');
