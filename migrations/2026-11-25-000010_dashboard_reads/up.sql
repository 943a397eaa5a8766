-- The dashboard's aggregates as PL/pgSQL functions: each keeps its query plan for the life of a
-- connection (the application's hand-written statements would be planned on every request), and
-- each looks a currency's rate up once, then applies it (`fx_apply`) to every amount in that
-- currency. They run as the caller, so row-level security filters every row they read.
--
-- The rules, in one place: transactions in a `transfer` category are neither income nor expense;
-- income is what comes in, expenses what goes out; spending by category counts `expense`
-- categories net of their refunds plus uncategorized money going out. Pending transactions count.
-- The sums come from `transaction_day_totals`.

-- Active accounts with their balances in the base currency at the rates of `p_on`.
CREATE FUNCTION findash_account_balances(p_base text, p_on date)
    RETURNS TABLE (account_id uuid, connection_id uuid, name text, institution text, kind text,
                   currency text, balance_minor bigint, base_balance_minor bigint,
                   balance_as_of timestamptz)
    LANGUAGE plpgsql STABLE
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH a AS (SELECT * FROM accounts WHERE status = 'active'),
    r AS (
        SELECT c.code::text AS currency, fx.rate, t.minor_units - c.minor_units AS scale
        FROM (SELECT DISTINCT a.currency FROM a) held
        JOIN currencies c ON c.code = held.currency
        JOIN currencies t ON t.code = p_base::bpchar
        LEFT JOIN LATERAL fx_rate(held.currency, p_base, p_on) fx ON true)
    SELECT a.id, a.connection_id, a.name, a.institution, a.kind, a.currency::text,
           a.current_balance_minor, fx_apply(a.current_balance_minor, r.rate, r.scale),
           a.balance_as_of
    FROM a JOIN r ON r.currency = a.currency::text
    ORDER BY a.institution, a.name, a.id;
END
$$;

-- Income and expenses per currency of the days from `p_from` to `p_to`, and in the base currency
-- at the rates of `p_on`.
CREATE FUNCTION findash_month_flows(p_from date, p_to date, p_base text, p_on date)
    RETURNS TABLE (currency text, income_minor bigint, expenses_minor bigint,
                   base_income_minor bigint, base_expenses_minor bigint)
    LANGUAGE plpgsql STABLE
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH g AS (
        SELECT d.category_id, d.currency::text AS currency,
               sum(d.inflow_minor) AS inflow, sum(d.outflow_minor) AS outflow
        FROM transaction_day_totals d
        WHERE d.day BETWEEN p_from AND p_to
        GROUP BY 1, 2),
    f AS (
        SELECT g.currency,
               COALESCE(sum(g.inflow) FILTER (WHERE c.kind IS DISTINCT FROM 'transfer'), 0)::bigint AS income,
               COALESCE(sum(g.outflow) FILTER (WHERE c.kind IS DISTINCT FROM 'transfer'), 0)::bigint AS expenses
        FROM g LEFT JOIN categories c ON c.id = g.category_id
        GROUP BY g.currency),
    r AS (
        SELECT f.currency, fx.rate, t.minor_units - c.minor_units AS scale
        FROM f
        JOIN currencies c ON c.code = f.currency::bpchar
        JOIN currencies t ON t.code = p_base::bpchar
        LEFT JOIN LATERAL fx_rate(f.currency, p_base, p_on) fx ON true)
    SELECT f.currency, f.income, f.expenses,
           fx_apply(f.income, r.rate, r.scale), fx_apply(f.expenses, r.rate, r.scale)
    FROM f JOIN r ON r.currency = f.currency
    ORDER BY f.currency;
END
$$;

-- Spending per month (first days, from `p_from` to `p_to`) and category in the base currency, up
-- to `p_today` (a future-dated transaction is not spending yet); each month at the rates of its
-- last day, or of `p_today` for the current month. `unconverted`: comma-separated currencies
-- without a rate, left out of `spent_minor`.
CREATE FUNCTION findash_spending_by_month(p_from date, p_to date, p_base text, p_today date)
    RETURNS TABLE (month date, category_id uuid, slug text, name text, spent_minor bigint,
                   unconverted text)
    LANGUAGE plpgsql STABLE
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH g AS (
        SELECT date_trunc('month', d.day)::date AS month, d.category_id, d.currency::text AS currency,
               sum(d.inflow_minor) AS inflow, sum(d.outflow_minor) AS outflow
        FROM transaction_day_totals d
        WHERE d.day >= p_from AND d.day < (p_to + interval '1 month') AND d.day <= p_today
        GROUP BY 1, 2, 3),
    s AS (
        SELECT g.month, g.category_id, g.currency,
               (CASE WHEN c.kind = 'expense' THEN g.outflow - g.inflow ELSE g.outflow END)::bigint AS spent,
               LEAST((g.month + interval '1 month' - interval '1 day')::date, p_today) AS on_day
        FROM g LEFT JOIN categories c ON c.id = g.category_id
        WHERE c.kind = 'expense' OR (g.category_id IS NULL AND g.outflow > 0)),
    r AS (
        SELECT held.currency, held.on_day, fx.rate, t.minor_units - c.minor_units AS scale
        FROM (SELECT DISTINCT s.currency, s.on_day FROM s) held
        JOIN currencies c ON c.code = held.currency::bpchar
        JOIN currencies t ON t.code = p_base::bpchar
        LEFT JOIN LATERAL fx_rate(held.currency, p_base, held.on_day) fx ON true),
    x AS (
        SELECT s.month, s.category_id, s.currency, fx_apply(s.spent, r.rate, r.scale) AS converted
        FROM s JOIN r ON r.currency = s.currency AND r.on_day = s.on_day)
    SELECT x.month, x.category_id, c.slug, c.name,
           COALESCE(sum(x.converted), 0)::bigint,
           string_agg(DISTINCT x.currency, ',') FILTER (WHERE x.converted IS NULL)
    FROM x LEFT JOIN categories c ON c.id = x.category_id
    GROUP BY x.month, x.category_id, c.slug, c.name
    ORDER BY x.month, 5 DESC, c.slug NULLS LAST;
END
$$;

-- The rate from every currency the tenant holds into `p_base` on `p_on`: an exact decimal string
-- (NULL when none is known) and the day it was published for.
CREATE FUNCTION findash_rates(p_base text, p_on date)
    RETURNS TABLE (currency text, rate text, rate_date date)
    LANGUAGE plpgsql STABLE
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT held.currency::text, trim_scale(fx.rate)::text, fx.rate_date
    FROM (SELECT DISTINCT a.currency FROM accounts a) held
    LEFT JOIN LATERAL fx_rate(held.currency, p_base, p_on) fx ON true
    ORDER BY held.currency;
END
$$;
