DROP TABLE users;
DROP TABLE tenants;
DROP TABLE currencies;
DROP FUNCTION findash_track_updated_at(regclass);
DROP FUNCTION findash_touch_updated_at();
DROP FUNCTION findash_reference_table(regclass, text);
DROP FUNCTION findash_isolate_tenant_table(regclass, text, text, name);
DROP FUNCTION is_time_zone(text);
DROP FUNCTION current_tenant_id();
REVOKE SELECT ON __diesel_schema_migrations FROM findash_app, findash_readonly, findash_system;
REVOKE USAGE ON SCHEMA public FROM findash_app, findash_readonly, findash_system;
-- CREATE on public stays revoked from PUBLIC: restoring it would weaken every other database.

-- The roles are cluster-wide. Other databases of this cluster (other environments, test
-- databases) may still use them; drop each one only when nothing depends on it any more.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['findash_app', 'findash_system', 'findash_readonly'] LOOP
        BEGIN
            EXECUTE format('DROP ROLE IF EXISTS %I', r);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'role % is still used by another database; kept', r;
        END;
    END LOOP;
END
$$;
