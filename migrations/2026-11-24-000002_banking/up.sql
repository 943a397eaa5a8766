-- Bank data: provider connections, accounts, categories and rules, transactions, FX rates.
--
-- Child tables reference their parent by (tenant_id, id), so a row can never point at another
-- tenant's row even through a bug in code that runs on the system path.

CREATE TABLE provider_connections (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider TEXT NOT NULL CHECK (provider IN ('sandbox', 'belvo', 'pluggy', 'openfinance')),
    -- The provider's handle for this connection: Belvo link id, Pluggy item id, Open Finance
    -- consent id, or the sandbox connection's name.
    external_id TEXT NOT NULL CHECK (external_id <> ''),
    display_name TEXT NOT NULL CHECK (display_name <> ''),
    status TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('pending', 'active', 'error', 'reauth_required', 'disabled')),
    -- AES-256-GCM ciphertext (nonce included) and the id of the key that sealed it.
    credentials_ciphertext BYTEA,
    credentials_key_id TEXT,
    -- Non-secret provider settings (sandbox seed and history size, institution code, ...).
    settings JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    last_sync_started_at TIMESTAMPTZ,
    last_successful_sync_at TIMESTAMPTZ,
    last_error TEXT,
    last_error_at TIMESTAMPTZ,
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, provider, external_id),
    CHECK ((credentials_ciphertext IS NULL) = (credentials_key_id IS NULL)),
    CHECK ((last_error IS NULL) = (last_error_at IS NULL))
);
SELECT findash_isolate_tenant_table('provider_connections', 'SELECT, INSERT, UPDATE, DELETE');
SELECT findash_track_updated_at('provider_connections');

CREATE TABLE accounts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connection_id UUID NOT NULL,
    external_id TEXT NOT NULL CHECK (external_id <> ''),
    kind TEXT NOT NULL CHECK (kind IN ('checking', 'savings', 'credit_card')),
    name TEXT NOT NULL CHECK (name <> ''),
    institution TEXT NOT NULL CHECK (institution <> ''),
    currency CHAR(3) NOT NULL REFERENCES currencies (code),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    current_balance_minor BIGINT,
    available_balance_minor BIGINT,
    balance_as_of TIMESTAMPTZ,
    -- Credit cards only.
    credit_limit_minor BIGINT CHECK (credit_limit_minor >= 0),
    statement_balance_minor BIGINT,
    statement_closing_date DATE,
    statement_due_date DATE,
    -- Incremental sync position (provider cursor and the last fully synced booking date).
    sync_cursor TEXT,
    synced_through DATE,
    last_successful_sync_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    -- Lets children pin the account's currency (transactions are in it).
    UNIQUE (tenant_id, id, currency),
    UNIQUE (tenant_id, connection_id, external_id),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES provider_connections (tenant_id, id) ON DELETE CASCADE,
    CHECK ((current_balance_minor IS NULL AND available_balance_minor IS NULL) OR balance_as_of IS NOT NULL),
    CHECK (kind = 'credit_card' OR (credit_limit_minor IS NULL AND statement_balance_minor IS NULL
        AND statement_closing_date IS NULL AND statement_due_date IS NULL))
);
SELECT findash_isolate_tenant_table('accounts', 'SELECT, INSERT, UPDATE, DELETE');
SELECT findash_track_updated_at('accounts');

CREATE TABLE categories (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    slug TEXT NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9_]{0,62}$'),
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind TEXT NOT NULL CHECK (kind IN ('income', 'expense', 'transfer')),
    parent_id UUID,
    -- Seeded from the built-in list (findash seed); users may rename but not delete these.
    is_default BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, slug),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES categories (tenant_id, id) ON DELETE SET NULL (parent_id),
    CHECK (parent_id <> id)
);
SELECT findash_isolate_tenant_table('categories', 'SELECT, INSERT, UPDATE, DELETE');
SELECT findash_track_updated_at('categories');

CREATE TABLE categorization_rules (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    category_id UUID NOT NULL,
    -- Lower runs first; the first matching rule wins.
    priority INTEGER NOT NULL DEFAULT 100,
    match_field TEXT NOT NULL CHECK (match_field IN ('description', 'counterparty')),
    match_kind TEXT NOT NULL CHECK (match_kind IN ('contains', 'equals', 'prefix', 'regex')),
    pattern TEXT NOT NULL CHECK (length(pattern) BETWEEN 1 AND 200),
    amount_min_minor BIGINT,
    amount_max_minor BIGINT,
    enabled BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, category_id) REFERENCES categories (tenant_id, id) ON DELETE CASCADE,
    CHECK (amount_min_minor IS NULL OR amount_max_minor IS NULL OR amount_min_minor <= amount_max_minor)
);
CREATE INDEX categorization_rules_tenant_priority_idx ON categorization_rules (tenant_id, priority) WHERE enabled;
SELECT findash_isolate_tenant_table('categorization_rules', 'SELECT, INSERT, UPDATE, DELETE');
SELECT findash_track_updated_at('categorization_rules');

CREATE TABLE transactions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    account_id UUID NOT NULL,
    external_id TEXT NOT NULL CHECK (external_id <> ''),
    booked_date DATE NOT NULL,
    value_date DATE,
    -- Signed, in the account's currency: negative is money leaving the account.
    amount_minor BIGINT NOT NULL,
    currency CHAR(3) NOT NULL REFERENCES currencies (code),
    -- The amount as charged, for foreign-currency purchases.
    original_amount_minor BIGINT,
    original_currency CHAR(3) REFERENCES currencies (code),
    description TEXT NOT NULL DEFAULT '',
    counterparty TEXT,
    category_id UUID,
    -- Set by a person: categorization rules and jobs never overwrite it. A manual choice with no
    -- category means "deliberately uncategorized" (also what remains if the category is deleted).
    category_manual BOOLEAN NOT NULL DEFAULT false,
    provider_category TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'posted')),
    raw JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, account_id, external_id),
    FOREIGN KEY (tenant_id, account_id, currency) REFERENCES accounts (tenant_id, id, currency) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, category_id) REFERENCES categories (tenant_id, id) ON DELETE SET NULL (category_id),
    CHECK ((original_amount_minor IS NULL) = (original_currency IS NULL)),
    CHECK (original_currency IS NULL OR original_currency <> currency)
);
-- Account page (newest first, keyset pagination), monthly flows, expenses by category.
CREATE INDEX transactions_account_page_idx ON transactions (tenant_id, account_id, booked_date DESC, id DESC);
CREATE INDEX transactions_tenant_date_idx ON transactions (tenant_id, booked_date);
CREATE INDEX transactions_category_date_idx ON transactions (tenant_id, category_id, booked_date);
CREATE INDEX transactions_pending_idx ON transactions (tenant_id, account_id, booked_date) WHERE status = 'pending';
SELECT findash_isolate_tenant_table('transactions', 'SELECT, INSERT, UPDATE, DELETE');
SELECT findash_track_updated_at('transactions');

-- Public reference data (ECB and others): one exact rate per source, pair and day.
CREATE TABLE fx_rates (
    source TEXT NOT NULL CHECK (source ~ '^[a-z][a-z0-9_]*$'),
    base_currency CHAR(3) NOT NULL REFERENCES currencies (code),
    quote_currency CHAR(3) NOT NULL REFERENCES currencies (code),
    rate_date DATE NOT NULL,
    -- Units of quote currency per one unit of base currency.
    rate NUMERIC(24, 12) NOT NULL CHECK (rate > 0),
    fetched_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source, base_currency, quote_currency, rate_date),
    CHECK (base_currency <> quote_currency)
);
CREATE INDEX fx_rates_pair_date_idx ON fx_rates (base_currency, quote_currency, rate_date DESC);
SELECT findash_reference_table('fx_rates', 'SELECT, INSERT, UPDATE, DELETE');
