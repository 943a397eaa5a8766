-- Roles, the tenant-isolation machinery, reference currencies, tenants and users.
--
-- Three login roles, none with SUPERUSER, BYPASSRLS, CREATEROLE or CREATEDB, and none a member of
-- another, so no connection can switch from one to another with SET ROLE:
--   findash_app       the application pool logs in as this role; every tenant table is filtered by
--                     current_tenant_id() for it.
--   findash_system    the system pool (cross-tenant work: cron, reconciler, retention, seeding)
--                     logs in as this role, used only through `findash_schema::Db::system`.
--   findash_readonly  SELECT only, under the same tenant policies; grant it to people's roles.
-- Roles are cluster-wide: several databases (and every test database) share them, so they are
-- created only when missing (tolerating a concurrent creator) and dropped only when nothing
-- depends on them any more.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['findash_app', 'findash_system', 'findash_readonly'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I %s NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS',
                    r, CASE WHEN r = 'findash_readonly' THEN 'NOLOGIN' ELSE 'LOGIN' END);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- another database of this cluster created it meanwhile
            END;
        END IF;
    END LOOP;
    -- The pools log in as these two; make sure a pre-existing role can (and inherits nothing).
    -- Altered only when needed: concurrent ALTER ROLEs from other databases would collide.
    FOREACH r IN ARRAY ARRAY['findash_app', 'findash_system'] LOOP
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = r AND (NOT rolcanlogin OR rolinherit)) THEN
            EXECUTE format('ALTER ROLE %I LOGIN NOINHERIT', r);
        END IF;
    END LOOP;
    IF EXISTS (
        SELECT FROM pg_roles
        WHERE rolname IN ('findash_app', 'findash_system', 'findash_readonly')
          AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb)
    ) THEN
        RAISE EXCEPTION 'a findash_* role has SUPERUSER, BYPASSRLS, CREATEROLE or CREATEDB; row-level security would not hold';
    END IF;
    IF EXISTS (
        SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
        WHERE r.rolname IN ('findash_app', 'findash_system', 'findash_readonly')
    ) THEN
        RAISE EXCEPTION 'a findash_* role is a member of another role; SET ROLE could widen its rights';
    END IF;
END
$$;

-- Databases created before PostgreSQL 15 (and upgraded since) still let PUBLIC create in public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO findash_app, findash_readonly, findash_system;
GRANT SELECT ON __diesel_schema_migrations TO findash_app, findash_readonly, findash_system;

-- The tenant of the current transaction, set by `SET LOCAL app.tenant_id`. An unset or reset
-- setting reads as '' or NULL; both mean "no tenant", under which tenant tables read as empty.
CREATE FUNCTION current_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

-- Whether PostgreSQL knows the IANA time zone (the tenant's calendar depends on it).
CREATE FUNCTION is_time_zone(tz text) RETURNS boolean
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    PERFORM now() AT TIME ZONE tz;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;

-- Makes a table tenant-owned: RLS enabled and forced, one policy per role, grants.
-- app_privileges / system_privileges are GRANT privilege lists (column lists allowed), so that
-- append-only and immutable columns are enforced by the database, not by convention.
CREATE FUNCTION findash_isolate_tenant_table(
    tbl regclass,
    app_privileges text,
    system_privileges text DEFAULT 'SELECT, INSERT, UPDATE, DELETE',
    tenant_column name DEFAULT 'tenant_id'
) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    -- Identity columns need no USAGE on their sequence to insert, so none is granted: calling
    -- nextval() directly would reveal how many rows all tenants together have written.
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s TO findash_app USING (%I = current_tenant_id()) WITH CHECK (%I = current_tenant_id())',
        tbl, tenant_column, tenant_column);
    EXECUTE format(
        'CREATE POLICY tenant_read_only ON %s FOR SELECT TO findash_readonly USING (%I = current_tenant_id())',
        tbl, tenant_column);
    EXECUTE format('CREATE POLICY system_access ON %s TO findash_system USING (true) WITH CHECK (true)', tbl);
    EXECUTE format('GRANT %s ON %s TO findash_app', app_privileges, tbl);
    EXECUTE format('GRANT SELECT ON %s TO findash_readonly', tbl);
    EXECUTE format('GRANT %s ON %s TO findash_system', system_privileges, tbl);
END
$$;
REVOKE ALL ON FUNCTION findash_isolate_tenant_table(regclass, text, text, name) FROM PUBLIC;

-- Shared, non-tenant data (reference tables): readable by every role, written by migrations
-- or by the system role only.
CREATE FUNCTION findash_reference_table(tbl regclass, system_privileges text DEFAULT 'SELECT') RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    EXECUTE format('GRANT SELECT ON %s TO findash_app, findash_readonly', tbl);
    EXECUTE format('GRANT %s ON %s TO findash_system', system_privileges, tbl);
END
$$;
REVOKE ALL ON FUNCTION findash_reference_table(regclass, text) FROM PUBLIC;

-- Keeps updated_at honest whatever code path writes the row.
CREATE FUNCTION findash_touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION findash_track_updated_at(tbl regclass) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    EXECUTE format(
        'CREATE TRIGGER touch_updated_at BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION findash_touch_updated_at()',
        tbl);
END
$$;
REVOKE ALL ON FUNCTION findash_track_updated_at(regclass) FROM PUBLIC;

-- ISO 4217 currencies with their minor-unit exponent: converting a provider's decimal amount to
-- minor units needs it, and every money column references this table.
CREATE TABLE currencies (
    code CHAR(3) PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    minor_units SMALLINT NOT NULL CHECK (minor_units BETWEEN 0 AND 4),
    name TEXT NOT NULL CHECK (name <> '')
);
INSERT INTO currencies (code, minor_units, name) VALUES
    ('ARS', 2, 'Argentine peso'),
    ('AUD', 2, 'Australian dollar'),
    ('BHD', 3, 'Bahraini dinar'),
    ('BRL', 2, 'Brazilian real'),
    ('CAD', 2, 'Canadian dollar'),
    ('CHF', 2, 'Swiss franc'),
    ('CLP', 0, 'Chilean peso'),
    ('CNY', 2, 'Chinese yuan'),
    ('COP', 2, 'Colombian peso'),
    ('CZK', 2, 'Czech koruna'),
    ('DKK', 2, 'Danish krone'),
    ('EUR', 2, 'Euro'),
    ('GBP', 2, 'Pound sterling'),
    ('HKD', 2, 'Hong Kong dollar'),
    ('HUF', 2, 'Hungarian forint'),
    ('IDR', 2, 'Indonesian rupiah'),
    ('ILS', 2, 'Israeli new shekel'),
    ('INR', 2, 'Indian rupee'),
    ('ISK', 0, 'Icelandic krona'),
    ('JOD', 3, 'Jordanian dinar'),
    ('JPY', 0, 'Japanese yen'),
    ('KRW', 0, 'South Korean won'),
    ('KWD', 3, 'Kuwaiti dinar'),
    ('MXN', 2, 'Mexican peso'),
    ('NOK', 2, 'Norwegian krone'),
    ('NZD', 2, 'New Zealand dollar'),
    ('PEN', 2, 'Peruvian sol'),
    ('PLN', 2, 'Polish zloty'),
    ('PYG', 0, 'Paraguayan guarani'),
    ('RON', 2, 'Romanian leu'),
    ('SEK', 2, 'Swedish krona'),
    ('SGD', 2, 'Singapore dollar'),
    ('THB', 2, 'Thai baht'),
    ('TND', 3, 'Tunisian dinar'),
    ('TRY', 2, 'Turkish lira'),
    ('USD', 2, 'United States dollar'),
    ('UYU', 2, 'Uruguayan peso'),
    ('ZAR', 2, 'South African rand');
SELECT findash_reference_table('currencies');

CREATE TABLE tenants (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    slug TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    base_currency CHAR(3) NOT NULL REFERENCES currencies (code),
    time_zone TEXT NOT NULL CHECK (is_time_zone(time_zone)),
    -- BCP 47 language with an optional region (pt-BR, es-419).
    locale TEXT NOT NULL CHECK (locale ~ '^[a-z]{2,3}(-([A-Z]{2}|[0-9]{3}))?$'),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Tenants are created by the system path only; a tenant may read and update its own row.
SELECT findash_isolate_tenant_table('tenants', 'SELECT, UPDATE (name, base_currency, time_zone, locale)', tenant_column => 'id');
SELECT findash_track_updated_at('tenants');

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email TEXT NOT NULL CHECK (email = lower(email) AND email ~ '^[^@\s]+@[^@\s]+$'),
    display_name TEXT,
    -- NULL: the user cannot log in with a password.
    password_hash TEXT CHECK (password_hash LIKE '$argon2id$%'),
    role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    disabled_at TIMESTAMPTZ,
    last_login_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
-- Login is by email alone, so an email belongs to one user across all tenants.
CREATE UNIQUE INDEX users_email_key ON users (email);
SELECT findash_isolate_tenant_table('users', 'SELECT, INSERT, UPDATE, DELETE');
SELECT findash_track_updated_at('users');
