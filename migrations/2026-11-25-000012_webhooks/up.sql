-- Webhook processing: which tenant a payment provider's account belongs to, the account an
-- inbox event named, and the state order of revenue rows.

-- How an event finds its tenant. Stripe: the connected account of the event (`account`,
-- `acct_…`), or `platform` for events of the platform's own account (no `account`). Mercado
-- Pago: the seller's `user_id`. An account belongs to one tenant at most; an event of an account
-- nobody linked is stored without a tenant and processed by nobody.
CREATE TABLE payment_accounts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider TEXT NOT NULL CHECK (provider IN ('stripe', 'mercadopago')),
    account_ref TEXT NOT NULL CHECK (account_ref ~ '^[A-Za-z0-9_-]{1,255}$'),
    -- Mercado Pago: the seller's access token that reads its payments, sealed (AES-256-GCM,
    -- bound to the tenant and this row) under the key `credentials_key_id`.
    credentials BYTEA,
    credentials_key_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (provider, account_ref),
    UNIQUE (tenant_id, id),
    CHECK ((credentials IS NULL) = (credentials_key_id IS NULL))
);
CREATE INDEX payment_accounts_tenant_idx ON payment_accounts (tenant_id);
SELECT findash_isolate_tenant_table('payment_accounts', 'SELECT');
SELECT findash_track_updated_at('payment_accounts');

-- The account the event named (see payment_accounts), kept so a replay can resolve the tenant
-- again after the account is linked.
ALTER TABLE webhook_inbox ADD COLUMN account_ref TEXT;
CREATE INDEX webhook_inbox_unlinked_idx ON webhook_inbox (provider, account_ref) WHERE tenant_id IS NULL;

-- Deliveries arrive in any order: a row holds the provider's newest known state of its object.
-- `state_at` is when the provider produced that state (Stripe: the event's `created`; Mercado
-- Pago: the payment's `date_last_updated`), `state_rank` orders states of the same instant
-- (final states above pending ones). An upsert only replaces an older or equal (state_at,
-- state_rank).
ALTER TABLE revenue_events
    ADD COLUMN state_at TIMESTAMPTZ,
    ADD COLUMN state_rank SMALLINT NOT NULL DEFAULT 0 CHECK (state_rank BETWEEN 0 AND 9);
