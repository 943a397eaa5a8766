-- The daily pipeline's data: balance history (for the data-quality continuity check), the flows a
-- forecast placed on its calendar, per-user notification preferences, and workflow dependencies
-- that wait for an upstream step to finish whatever its outcome.

-- Every balance a provider reported, by the instant it was as of. Written by a trigger on
-- `accounts`, so whatever code path stores a balance leaves its history.
CREATE TABLE account_balance_snapshots (
    tenant_id UUID NOT NULL,
    account_id UUID NOT NULL,
    as_of TIMESTAMPTZ NOT NULL,
    balance_minor BIGINT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, as_of),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX account_balance_snapshots_tenant_idx ON account_balance_snapshots (tenant_id, account_id, as_of DESC);
SELECT findash_isolate_tenant_table('account_balance_snapshots', 'SELECT, INSERT, UPDATE (balance_minor, recorded_at)');

CREATE FUNCTION findash_record_balance() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.current_balance_minor IS NOT NULL AND NEW.balance_as_of IS NOT NULL THEN
        INSERT INTO account_balance_snapshots (tenant_id, account_id, as_of, balance_minor)
        VALUES (NEW.tenant_id, NEW.id, NEW.balance_as_of, NEW.current_balance_minor)
        ON CONFLICT (account_id, as_of) DO UPDATE
            SET balance_minor = EXCLUDED.balance_minor, recorded_at = now()
            WHERE account_balance_snapshots.balance_minor <> EXCLUDED.balance_minor;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER accounts_record_balance
    AFTER INSERT OR UPDATE OF current_balance_minor, balance_as_of ON accounts
    FOR EACH ROW EXECUTE FUNCTION findash_record_balance();
-- Balances stored before this migration start the history.
INSERT INTO account_balance_snapshots (tenant_id, account_id, as_of, balance_minor)
SELECT tenant_id, id, balance_as_of, current_balance_minor FROM accounts
WHERE current_balance_minor IS NOT NULL AND balance_as_of IS NOT NULL;

-- What a forecast placed on its calendar: recurring flows the detector found and card bills from
-- the statement, in the forecast's currency. The daily summary's "upcoming bills" read them.
CREATE TABLE forecast_flows (
    forecast_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    day DATE NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 0),
    source TEXT NOT NULL CHECK (source IN ('recurring', 'card_bill')),
    -- weekly, biweekly, monthly, month_end, yearly (recurring) or statement (card bill).
    cadence TEXT NOT NULL CHECK (cadence ~ '^[a-z_]+$'),
    label TEXT NOT NULL CHECK (label <> ''),
    -- The account the flow belongs to (also on a tenant total's flows).
    account_id UUID,
    amount_minor BIGINT NOT NULL,
    PRIMARY KEY (forecast_id, day, seq),
    FOREIGN KEY (tenant_id, forecast_id) REFERENCES forecasts (tenant_id, id) ON DELETE CASCADE
);
SELECT findash_isolate_tenant_table('forecast_flows', 'SELECT, INSERT, DELETE');

-- A forecast run records which findings it was annotated with (warnings) in `inputs`; the
-- workflow step that computed it is its job.

-- Which emails a user wants. A user without a row gets the defaults (everything on).
CREATE TABLE notification_preferences (
    tenant_id UUID NOT NULL,
    user_id UUID NOT NULL,
    daily_summary BOOLEAN NOT NULL DEFAULT true,
    alerts BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
SELECT findash_isolate_tenant_table('notification_preferences', 'SELECT, INSERT, UPDATE');
SELECT findash_track_updated_at('notification_preferences');

-- `success`: the dependent starts when the upstream step (and its fan-out children) succeeded,
-- and is blocked otherwise. `finished`: it starts once they all finished, whatever the outcome
-- (the pipeline's categorize step after the per-connection syncs: one failing connection does
-- not stop the others' data from going on).
ALTER TABLE workflow_step_dependencies
    ADD COLUMN requires TEXT NOT NULL DEFAULT 'success' CHECK (requires IN ('success', 'finished'));

-- Emails by state for the sender and the admin UI.
CREATE INDEX email_outbox_tenant_recent_idx ON email_outbox (tenant_id, created_at DESC);
