-- Tenant isolation tables: the protected-table registry and role bindings.

CREATE TABLE rollout.protected_table (
    tbl                 regclass    PRIMARY KEY,
    tenant_column       name        NOT NULL,
    severity            text        NOT NULL DEFAULT 'high' CHECK (severity IN ('critical', 'high', 'medium')),
    include_descendants boolean     NOT NULL DEFAULT false,
    force_rls           boolean     NOT NULL DEFAULT true,
    protected_by        text        NOT NULL,
    protected_at        timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('rollout.protected_table', '');
COMMENT ON TABLE rollout.protected_table IS
    'tables whose rows belong to tenants: every command on them is filtered by the session''s tenant when enforced';
COMMENT ON COLUMN rollout.protected_table.tenant_column IS 'the column (text or varchar) holding the owning tenant id';
COMMENT ON COLUMN rollout.protected_table.severity IS 'critical, high or medium: selective mode enforces by severity';
COMMENT ON COLUMN rollout.protected_table.include_descendants IS 'a tenant also sees the rows of its descendant tenants';
COMMENT ON COLUMN rollout.protected_table.force_rls IS 'row security is forced, so the table owner is filtered too';

-- What row security looked like on each protected relation (the table, its
-- partitions and inheritance children) before protect_table() changed it:
-- unprotect_table() and DROP EXTENSION put it back, and pg_rollout supplies
-- an all-rows permissive baseline only where row security was off and the
-- relation has no permissive policy of its own.
CREATE TABLE rollout.protected_relation (
    relid              regclass    PRIMARY KEY,
    tbl                regclass    NOT NULL,
    prior_row_security boolean     NOT NULL,
    prior_force_rls    boolean     NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('rollout.protected_relation', '');
COMMENT ON TABLE rollout.protected_relation IS
    'row security of each protected relation as it was before protect_table(): restored by unprotect_table() and DROP EXTENSION';
COMMENT ON COLUMN rollout.protected_relation.relid IS 'the protected table, or one of its partitions or inheritance children';
COMMENT ON COLUMN rollout.protected_relation.tbl IS 'the protected table (rollout.protected_table) it was recorded for';
COMMENT ON COLUMN rollout.protected_relation.prior_row_security IS
    'row security was enabled before: the relation''s own policies alone decide which rows exist for pg_rollout''s tenant filter';
COMMENT ON COLUMN rollout.protected_relation.prior_force_rls IS 'row security was forced before';

CREATE TABLE rollout.tenant_binding (
    role_name name        NOT NULL,
    tenant_id text COLLATE "C" NOT NULL,
    bound_by  text        NOT NULL,
    bound_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (role_name, tenant_id)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.tenant_binding', '');
CREATE TRIGGER invalidate_tenant_context AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.tenant_binding
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution();
COMMENT ON TABLE rollout.tenant_binding IS
    'roles bound to tenant subtrees: a bound role (or a member of it) may set only tenants inside its subtrees';

CREATE FUNCTION rollout._invalidate_protection()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgr_invalidate_protection';
COMMENT ON FUNCTION rollout._invalidate_protection() IS
    'internal: trigger that makes every session reload the protected tables and replan statements on them';
CREATE TRIGGER invalidate_protection AFTER INSERT OR UPDATE OR DELETE ON rollout.protected_table
    FOR EACH ROW EXECUTE FUNCTION rollout._invalidate_protection();
CREATE TRIGGER invalidate_protection_truncate AFTER TRUNCATE ON rollout.protected_table
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_protection();

-- Privileges of the objects above.
GRANT SELECT ON rollout.protected_table, rollout.protected_relation, rollout.tenant_binding TO rollout_viewer;
REVOKE ALL ON FUNCTION
    rollout._invalidate_protection()
FROM PUBLIC;
