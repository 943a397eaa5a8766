-- Bank sync: what a sync could not store, and a leaner write path for transactions.

-- A provider transaction the sync refused to store, e.g. an amount with more decimal places than
-- its currency has (BRL 10.005): never rounded, kept here for the data-quality checks and the
-- operator. One row per provider transaction; it goes away when the provider sends a valid
-- version.
CREATE TABLE sync_rejections (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    account_id UUID NOT NULL,
    external_id TEXT NOT NULL CHECK (external_id <> ''),
    -- precision: more decimal places than the currency; overflow: beyond BIGINT minor units;
    -- currency: not the account's currency or unknown; invalid: a field the sync cannot read.
    reason TEXT NOT NULL CHECK (reason IN ('precision', 'overflow', 'currency', 'invalid')),
    detail TEXT NOT NULL CHECK (detail <> ''),
    -- The provider's item as received (credentials never appear in provider items).
    raw JSONB NOT NULL DEFAULT '{}',
    first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, account_id, external_id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE,
    CHECK (first_seen_at <= last_seen_at)
);
SELECT findash_isolate_tenant_table('sync_rejections', 'SELECT, INSERT, UPDATE, DELETE');

-- Every transaction row pays for each foreign key with a lookup on insert. Two of them say
-- nothing the key to its account does not already say: (tenant_id, account_id, currency) exists
-- in accounts, whose tenant_id references tenants (and cascades) and whose currency references
-- currencies. Dropping them keeps every invariant and a third of the insert cost.
ALTER TABLE transactions
    DROP CONSTRAINT transactions_tenant_id_fkey,
    DROP CONSTRAINT transactions_currency_fkey;
