-- Tenant isolation inside the database (src/isolation.c): protected
-- tables, tenant context, enforcement modes, violations, audited bypass.

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_bypass') THEN
        CREATE ROLE rollout_bypass NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_app') THEN
        CREATE ROLE rollout_app NOLOGIN;
    END IF;
END
$roles$;
GRANT USAGE ON SCHEMA rollout TO rollout_app, rollout_bypass;
