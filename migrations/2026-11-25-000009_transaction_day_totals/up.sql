-- Money in and out per tenant, day, category and currency, kept by the database itself: every
-- statement that writes `transactions` (insert, upsert, update, delete, cascades, truncate)
-- applies its net change here in the same transaction. The dashboard sums these few rows per day
-- instead of every transaction of the period, so its cost does not grow with a tenant's volume.

CREATE TABLE transaction_day_totals (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day DATE NOT NULL,
    -- NULL: uncategorized (one row per day and currency, the key treats NULLs as equal).
    category_id UUID,
    currency CHAR(3) NOT NULL REFERENCES currencies (code),
    -- Sums of the positive amounts, and of the negative amounts negated (both ≥ 0 once a
    -- statement's change is applied; no CHECK says so because an upsert checks its proposed row,
    -- which for an update is a signed change, not a total).
    inflow_minor BIGINT NOT NULL,
    outflow_minor BIGINT NOT NULL,
    transactions INTEGER NOT NULL,
    CONSTRAINT transaction_day_totals_key UNIQUE NULLS NOT DISTINCT (tenant_id, day, category_id, currency)
);
-- The app's tenant scopes write here through the triggers below, as themselves (row-level
-- security checks every row against the scope's tenant).
SELECT findash_isolate_tenant_table('transaction_day_totals', 'SELECT, INSERT, UPDATE, DELETE');
-- Rows a delete or update emptied, found without scanning the rest (there are none between
-- statements).
CREATE INDEX transaction_day_totals_empty_idx ON transaction_day_totals (tenant_id) WHERE transactions = 0;

CREATE FUNCTION findash_day_totals_after_insert() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO transaction_day_totals AS d
        (tenant_id, day, category_id, currency, inflow_minor, outflow_minor, transactions)
    SELECT tenant_id, booked_date, category_id, currency,
           COALESCE(sum(amount_minor) FILTER (WHERE amount_minor > 0), 0),
           COALESCE(-sum(amount_minor) FILTER (WHERE amount_minor < 0), 0),
           count(*)
    FROM new_rows
    GROUP BY tenant_id, booked_date, category_id, currency
    ORDER BY tenant_id, booked_date, category_id, currency
    ON CONFLICT ON CONSTRAINT transaction_day_totals_key DO UPDATE SET
        inflow_minor = d.inflow_minor + EXCLUDED.inflow_minor,
        outflow_minor = d.outflow_minor + EXCLUDED.outflow_minor,
        transactions = d.transactions + EXCLUDED.transactions;
    RETURN NULL;
END
$$;

-- Removed rows leave their totals; an emptied row is deleted.
CREATE FUNCTION findash_day_totals_after_delete() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    WITH gone AS (
        SELECT tenant_id, booked_date AS day, category_id, currency,
               COALESCE(sum(amount_minor) FILTER (WHERE amount_minor > 0), 0) AS inflow,
               COALESCE(-sum(amount_minor) FILTER (WHERE amount_minor < 0), 0) AS outflow,
               count(*) AS n
        FROM old_rows
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4)
    UPDATE transaction_day_totals d SET
        inflow_minor = d.inflow_minor - gone.inflow,
        outflow_minor = d.outflow_minor - gone.outflow,
        transactions = d.transactions - gone.n
    FROM gone
    WHERE d.tenant_id = gone.tenant_id AND d.day = gone.day AND d.currency = gone.currency
      AND d.category_id IS NOT DISTINCT FROM gone.category_id;
    DELETE FROM transaction_day_totals WHERE transactions = 0;
    RETURN NULL;
END
$$;

-- An update is its old rows leaving and its new rows arriving, netted per key first (most
-- updates of a sync change neither day, category nor amount: those write nothing here).
CREATE FUNCTION findash_day_totals_after_update() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    WITH delta AS (
        SELECT tenant_id, day, category_id, currency,
               sum(inflow) AS inflow, sum(outflow) AS outflow, sum(n) AS n
        FROM (
            SELECT tenant_id, booked_date AS day, category_id, currency,
                   greatest(amount_minor, 0) AS inflow, greatest(-amount_minor, 0) AS outflow, 1 AS n
            FROM new_rows
            UNION ALL
            SELECT tenant_id, booked_date, category_id, currency,
                   -greatest(amount_minor, 0), -greatest(-amount_minor, 0), -1
            FROM old_rows
        ) changes
        GROUP BY 1, 2, 3, 4
        HAVING sum(inflow) <> 0 OR sum(outflow) <> 0 OR sum(n) <> 0
        ORDER BY 1, 2, 3, 4)
    INSERT INTO transaction_day_totals AS d
        (tenant_id, day, category_id, currency, inflow_minor, outflow_minor, transactions)
    SELECT tenant_id, day, category_id, currency, inflow, outflow, n FROM delta
    ON CONFLICT ON CONSTRAINT transaction_day_totals_key DO UPDATE SET
        inflow_minor = d.inflow_minor + EXCLUDED.inflow_minor,
        outflow_minor = d.outflow_minor + EXCLUDED.outflow_minor,
        transactions = d.transactions + EXCLUDED.transactions;
    DELETE FROM transaction_day_totals WHERE transactions = 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION findash_day_totals_after_truncate() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM transaction_day_totals;
    RETURN NULL;
END
$$;

CREATE TRIGGER day_totals_insert AFTER INSERT ON transactions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION findash_day_totals_after_insert();
CREATE TRIGGER day_totals_update AFTER UPDATE ON transactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION findash_day_totals_after_update();
CREATE TRIGGER day_totals_delete AFTER DELETE ON transactions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION findash_day_totals_after_delete();
CREATE TRIGGER day_totals_truncate AFTER TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION findash_day_totals_after_truncate();

-- The rows that exist already.
INSERT INTO transaction_day_totals (tenant_id, day, category_id, currency, inflow_minor, outflow_minor, transactions)
SELECT tenant_id, booked_date, category_id, currency,
       COALESCE(sum(amount_minor) FILTER (WHERE amount_minor > 0), 0),
       COALESCE(-sum(amount_minor) FILTER (WHERE amount_minor < 0), 0),
       count(*)
FROM transactions
GROUP BY 1, 2, 3, 4;
