-- Tenant isolation functions: tenant context, bypass, counters, protect / unprotect, bindings.

CREATE FUNCTION rollout.current_tenant()
RETURNS text
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_current_tenant';
COMMENT ON FUNCTION rollout.current_tenant() IS 'the tenant context of this transaction or session, NULL when none';

CREATE FUNCTION rollout._tenant_for_support(internal)
RETURNS internal
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'pgr_tenant_for_support';
COMMENT ON FUNCTION rollout._tenant_for_support(internal) IS
    'internal: planner support of rollout._tenant_for (a plan executed once carries the tenant as a constant)';

CREATE FUNCTION rollout._tenant_for(tbl oid)
RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT rollout._tenant_for_support
AS 'MODULE_PATHNAME', 'pgr_tenant_for';
COMMENT ON FUNCTION rollout._tenant_for(oid) IS
    'internal: the tenant a protected table is filtered by (used in the row-security qual); NULL without tenant context, when the statement has already been refused';
-- The row-security qual calls _tenant_for / _tenants_for as whoever queries a
-- protected table; they only return the caller's own tenant context.

-- The qual of the restrictive policy pg_rollout_loaded that protect_table()
-- puts on every protected relation (a catalog policy: it is there when the
-- library is not).  With the library preloaded its support function makes
-- it the constant true while a statement is planned, and the planner drops
-- it; without it, planning a statement on the table fails instead of
-- showing the rows of every tenant that the table's own permissive policies
-- allow (src/pg_rollout.c).
CREATE FUNCTION rollout._library_loaded_support(internal)
RETURNS internal
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'pgr_library_loaded_support';
COMMENT ON FUNCTION rollout._library_loaded_support(internal) IS
    'internal: planner support of rollout._library_loaded(): the constant true with the library preloaded, else an error';
CREATE FUNCTION rollout._library_loaded()
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
SUPPORT rollout._library_loaded_support
AS 'MODULE_PATHNAME', 'pgr_library_loaded';
COMMENT ON FUNCTION rollout._library_loaded() IS
    'internal: true when the library is preloaded, else an error (the qual of the policy pg_rollout_loaded on protected tables; planned away)';

CREATE FUNCTION rollout._tenants_for(tbl oid)
RETURNS text[]
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgr_tenants_for';
COMMENT ON FUNCTION rollout._tenants_for(oid) IS
    'internal: the current tenant and its descendants (row-security qual of tables that include descendants)';

-- Not SECURITY DEFINER (a function-level SET would cost every call): it
-- reads the tenant and the bindings with the bootstrap superuser's rights
-- itself, and remembers active tenants while no role binding exists.
CREATE FUNCTION rollout.set_tenant(tenant_id text, local boolean DEFAULT true)
RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_set_tenant';
COMMENT ON FUNCTION rollout.set_tenant(text, boolean) IS
    'set the tenant context: for the transaction (local, the default: safe with transaction pooling) or the session; the tenant must exist, be active and be allowed by the role''s bindings';

CREATE FUNCTION rollout.reset_tenant()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_reset_tenant';
COMMENT ON FUNCTION rollout.reset_tenant() IS 'clear the tenant context';

CREATE FUNCTION rollout.bypass(reason text)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgr_bypass';
COMMENT ON FUNCTION rollout.bypass(text) IS
    'lift the tenant filter for the rest of the transaction: members of rollout_bypass only, with a reason; counted and audited';

CREATE FUNCTION rollout.violation_counts()
RETURNS TABLE (tbl regclass, kind text, command text, severity text, enforced boolean, count bigint,
               last_at timestamptz)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_violation_counts';
COMMENT ON FUNCTION rollout.violation_counts() IS
    'counters of tenant-isolation events in this database since the server started (shared memory)';

CREATE FUNCTION rollout.recent_violations()
RETURNS TABLE (at timestamptz, tbl regclass, kind text, command text, refused boolean, role_name text,
               application_name text, query_id bigint, query text)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_recent_violations';
COMMENT ON FUNCTION rollout.recent_violations() IS
    'the most recent tenant-isolation violations (a ring of 256 across databases), oldest first';

CREATE FUNCTION rollout.bypass_counts()
RETURNS TABLE (role_name text, reason text, count bigint, last_at timestamptz)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_bypass_counts';
COMMENT ON FUNCTION rollout.bypass_counts() IS 'uses of rollout.bypass() by role and reason since the server started';

CREATE FUNCTION rollout.reset_violation_counts()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_reset_violations';
COMMENT ON FUNCTION rollout.reset_violation_counts() IS
    'remove this database''s violation counters (rollout.violations is empty until the next event)';

CREATE FUNCTION rollout._forget_violations(relids oid[])
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_forget_violations';
COMMENT ON FUNCTION rollout._forget_violations(oid[]) IS
    'internal: the violation counters of these dropped relations go when the transaction commits (relations that still exist are ignored)';

-- Whether the caller is inside rollout.protect_table() or
-- rollout.unprotect_table() (the library follows them through fmgr_hook):
-- the internal helpers below refuse to be called on their own.
CREATE FUNCTION rollout._inside_protection()
RETURNS boolean
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'pgr_inside_protection';
COMMENT ON FUNCTION rollout._inside_protection() IS
    'internal: true while rollout.protect_table() or rollout.unprotect_table() runs in this backend';

CREATE FUNCTION rollout._require_protection_call(fn text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT rollout._inside_protection() THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('rollout.%s() is internal', fn),
            HINT = 'Call rollout.protect_table() or rollout.unprotect_table().';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_protection_call(text) IS
    'internal: refuse a protection helper called other than by protect_table() or unprotect_table()';

-- Record how row security looked on the table and its children before
-- protect_table() changes it, read from the catalog (never given by the
-- caller).  A relation already recorded for a protected table keeps its
-- record: protecting again must not take pg_rollout's own settings for the
-- table's.
CREATE FUNCTION rollout._record_prior_state(tbl regclass)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rollout._require_protection_call('_record_prior_state');
    INSERT INTO rollout.protected_relation AS r (relid, tbl, prior_row_security, prior_force_rls)
    WITH RECURSIVE t(relid) AS (SELECT tbl::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.relid)
    SELECT c.oid::regclass, _record_prior_state.tbl, c.relrowsecurity, c.relforcerowsecurity
      FROM t JOIN pg_class c ON c.oid = t.relid
     WHERE c.relkind IN ('r', 'p')   -- a foreign-table partition has no row security of its own
    ON CONFLICT ON CONSTRAINT protected_relation_pkey DO UPDATE
       SET tbl = excluded.tbl, prior_row_security = excluded.prior_row_security,
           prior_force_rls = excluded.prior_force_rls, recorded_at = now()
     WHERE NOT EXISTS (SELECT 1 FROM rollout.protected_table p WHERE p.tbl = r.tbl);
END
$$;
COMMENT ON FUNCTION rollout._record_prior_state(regclass) IS
    'internal: record the row security of a table and its children before protect_table() changes it';

CREATE FUNCTION rollout._register_protection(tbl regclass, tenant_column name, severity text,
                                             include_descendants boolean, force_rls boolean)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rollout._require_protection_call('_register_protection');
    -- The caller has just altered the table, so it owns it.
    INSERT INTO rollout.protected_table AS p (tbl, tenant_column, severity, include_descendants, force_rls, protected_by)
    VALUES (tbl, tenant_column, severity, include_descendants, force_rls, rollout._actor())
    ON CONFLICT ON CONSTRAINT protected_table_pkey DO UPDATE
       SET tenant_column = excluded.tenant_column, severity = excluded.severity,
           include_descendants = excluded.include_descendants, force_rls = excluded.force_rls,
           protected_by = excluded.protected_by, protected_at = now();
    PERFORM rollout._audit('isolation.protected', NULL, 'table', tbl::text, NULL,
                           jsonb_build_object('tenant_column', tenant_column, 'severity', severity,
                                              'include_descendants', include_descendants, 'force', force_rls));
END
$$;
COMMENT ON FUNCTION rollout._register_protection(regclass, name, text, boolean, boolean) IS
    'internal: record a protected table (called by protect_table after it altered the table)';

CREATE FUNCTION rollout._unregister_protection(tbl regclass)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rollout._require_protection_call('_unregister_protection');
    DELETE FROM rollout.protected_table p WHERE p.tbl = _unregister_protection.tbl;
    -- a child protected on its own as well keeps its record
    UPDATE rollout.protected_relation r SET tbl = r.relid
     WHERE r.tbl = _unregister_protection.tbl AND r.relid <> _unregister_protection.tbl
       AND EXISTS (SELECT 1 FROM rollout.protected_table p WHERE p.tbl = r.relid);
    DELETE FROM rollout.protected_relation r WHERE r.tbl = _unregister_protection.tbl;
    PERFORM rollout._audit('isolation.unprotected', NULL, 'table', tbl::text, NULL, '{}');
END
$$;
COMMENT ON FUNCTION rollout._unregister_protection(regclass) IS 'internal: forget a protected table';

-- The policy pg_rollout_loaded (see rollout._library_loaded) on a
-- protected relation that has a permissive policy, unless it has it
-- already; true when it was created.  Only there: without the library, a
-- relation whose only permissive policy was the library's baseline falls
-- into row security's default deny (no row, no write), while a permissive
-- catalog policy would let every tenant's rows it allows through.  (The
-- policy is planned away, but the planner still handles it: about 3,500
-- instructions per planned statement, bench/loaded_policy.sh.)  A policy of
-- that name that is not this one (the owner's, made before protect_table)
-- is replaced.  As the caller, who owns the relation (protect_table), or
-- as the extension's owner (the DDL event trigger, the library after a
-- CREATE POLICY).
CREATE FUNCTION rollout._add_loaded_policy(rel regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q text := 'rollout._library_loaded()';
BEGIN
    IF EXISTS (SELECT 1 FROM pg_policy p
                WHERE p.polrelid = rel AND p.polname = 'pg_rollout_loaded' AND NOT p.polpermissive
                  AND p.polcmd = '*' AND p.polroles = '{0}'
                  AND pg_get_expr(p.polqual, p.polrelid) = q AND pg_get_expr(p.polwithcheck, p.polrelid) = q) THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = rel AND p.polname = 'pg_rollout_loaded') THEN
        EXECUTE format('DROP POLICY pg_rollout_loaded ON %s', rel);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = rel AND p.polpermissive) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE POLICY pg_rollout_loaded ON %s AS RESTRICTIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                   rel, q, q);
    RETURN true;
END
$$;
COMMENT ON FUNCTION rollout._add_loaded_policy(regclass) IS
    'internal: put the restrictive policy pg_rollout_loaded (the table is refused while the library is not preloaded) on a protected relation with a permissive policy';

-- Runs as the caller: altering the table needs its ownership.
CREATE FUNCTION rollout.protect_table(tbl regclass, tenant_column name, severity text DEFAULT 'high',
                                      include_descendants boolean DEFAULT false, force boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    typ oid;
    child regclass;
    prior_rls boolean;
    prior_force boolean;
    own text;
    coll name;
BEGIN
    IF tbl IS NULL OR tenant_column IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'table and tenant column must not be null';
    END IF;
    IF NOT rollout.preloaded() THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'pg_rollout must be loaded via shared_preload_libraries to protect tables',
            HINT = 'Add pg_rollout to shared_preload_libraries in postgresql.conf and restart the server.';
    END IF;
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = tbl) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
            MESSAGE = format('"%s" is not a table', tbl);
    END IF;
    IF (SELECT c.relnamespace FROM pg_class c WHERE c.oid = tbl) = 'rollout'::regnamespace THEN
        RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
            MESSAGE = format('table "%s" belongs to pg_rollout and cannot be protected', tbl);
    END IF;
    SELECT a.atttypid INTO typ FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = tenant_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_column',
            MESSAGE = format('column "%s" of table "%s" does not exist', tenant_column, tbl);
    END IF;
    IF typ NOT IN ('text'::regtype, 'varchar'::regtype) THEN
        RAISE EXCEPTION USING ERRCODE = 'datatype_mismatch',
            MESSAGE = format('tenant column "%s" of table "%s" is of type %s', tenant_column, tbl, typ::regtype),
            DETAIL = 'A tenant column holds tenant ids: text or varchar.';
    END IF;
    -- the tenant filter compares with the column's collation: under a
    -- nondeterministic one, distinct tenant ids can be equal
    SELECT co.collname INTO coll
      FROM pg_attribute a JOIN pg_collation co ON co.oid = a.attcollation
     WHERE a.attrelid = tbl AND a.attname = tenant_column AND NOT co.collisdeterministic;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'collation_mismatch',
            MESSAGE = format('tenant column "%s" of table "%s" has nondeterministic collation "%s"', tenant_column, tbl, coll),
            DETAIL = 'Under it, distinct tenant ids can compare equal ("acme-eu" and "acmeeu", say), and one tenant would see another''s rows.',
            HINT = 'Give the column a deterministic collation (ALTER TABLE ... ALTER COLUMN ... TYPE text COLLATE "C", or "default").';
    END IF;
    IF severity IS NULL OR severity NOT IN ('critical', 'high', 'medium') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid severity "%s"', severity),
            DETAIL = 'A severity is critical, high or medium.';
    END IF;
    -- How row security looked before (kept from the first protect_table):
    -- unprotect_table() restores it.
    PERFORM rollout._record_prior_state(tbl);
    -- The table and every inheritance child or partition: row security on
    -- (forced, unless asked otherwise and it was not forced before).  No
    -- policy is created: pg_rollout adds the restrictive tenant qual, and,
    -- where row security was off and the relation has no permissive policy
    -- of its own, an all-rows permissive baseline (src/isolation.c), so
    -- that the table's own policies, present or added later, keep their
    -- meaning.
    FOR child, prior_rls, prior_force IN
        WITH RECURSIVE t(relid) AS (SELECT tbl::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.relid)
        SELECT t.relid::regclass, r.prior_row_security, r.prior_force_rls
          FROM t JOIN pg_class c ON c.oid = t.relid
          LEFT JOIN rollout.protected_relation r ON r.relid = t.relid::regclass
         -- a foreign-table partition has no row security of its own: the
         -- parent's applies to it, read through the parent
         WHERE c.relkind IN ('r', 'p')
    LOOP
        SELECT string_agg(quote_ident(p.polname), ', ' ORDER BY p.polname) INTO own
          FROM pg_policy p WHERE p.polrelid = child;
        IF own IS NOT NULL AND NOT (SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = child) THEN
            RAISE NOTICE 'row security was disabled on table "%": its own policies (%) apply from now on', child, own;
        END IF;
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', child);
        EXECUTE format('ALTER TABLE %s %s ROW LEVEL SECURITY', child,
                       CASE WHEN force OR coalesce(prior_force, false) THEN 'FORCE' ELSE 'NO FORCE' END);
        PERFORM rollout._add_loaded_policy(child);
    END LOOP;
    PERFORM rollout._register_protection(tbl, tenant_column, severity, include_descendants, force);
END
$$;
COMMENT ON FUNCTION rollout.protect_table(regclass, name, text, boolean, boolean) IS
    'protect a table (and its partitions and inheritance children): every command sees and writes only the current tenant''s rows where enforced; the table''s own policies keep applying; the caller must own the table';

CREATE FUNCTION rollout.unprotect_table(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    child regclass;
    prior_rls boolean;
    prior_force boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rollout.protected_table p WHERE p.tbl = unprotect_table.tbl) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('table "%s" is not protected', tbl);
    END IF;
    IF NOT rollout.preloaded() THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'pg_rollout must be loaded via shared_preload_libraries to unprotect tables',
            HINT = 'Add pg_rollout to shared_preload_libraries in postgresql.conf and restart the server.';
    END IF;
    -- Row security as it was before protect_table(), on every relation
    -- recorded for the table (a child protected on its own as well keeps
    -- its protection).
    FOR child, prior_rls, prior_force IN
        SELECT r.relid, r.prior_row_security, r.prior_force_rls
          FROM rollout.protected_relation r JOIN pg_class c ON c.oid = r.relid
         WHERE r.tbl = unprotect_table.tbl
           AND (r.relid = unprotect_table.tbl
                OR NOT EXISTS (SELECT 1 FROM rollout.protected_table p WHERE p.tbl = r.relid))
    LOOP
        EXECUTE format('ALTER TABLE %s %s ROW LEVEL SECURITY, %s ROW LEVEL SECURITY', child,
                       CASE WHEN prior_rls THEN 'ENABLE' ELSE 'DISABLE' END,
                       CASE WHEN prior_force THEN 'FORCE' ELSE 'NO FORCE' END);
        IF EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = child AND p.polname = 'pg_rollout_loaded') THEN
            EXECUTE format('DROP POLICY pg_rollout_loaded ON %s', child);
        END IF;
    END LOOP;
    PERFORM rollout._unregister_protection(tbl);
END
$$;
COMMENT ON FUNCTION rollout.unprotect_table(regclass) IS
    'stop protecting a table: row security of the table and its children goes back to what it was before protect_table()';

CREATE FUNCTION rollout.bind_tenant(role_name name, tenant_id text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role_name) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('role "%s" does not exist', role_name);
    END IF;
    PERFORM rollout._tenant_for_update(tenant_id);
    INSERT INTO rollout.tenant_binding (role_name, tenant_id, bound_by) VALUES (role_name, tenant_id, rollout._actor())
    ON CONFLICT DO NOTHING;
    PERFORM rollout._audit('isolation.bound', tenant_id, 'role', role_name, NULL, '{}');
END
$$;
COMMENT ON FUNCTION rollout.bind_tenant(name, text) IS
    'bind a role to a tenant subtree: the role (and its members) may then set only tenants inside its bound subtrees';

CREATE FUNCTION rollout.unbind_tenant(role_name name, tenant_id text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    DELETE FROM rollout.tenant_binding b WHERE b.role_name = unbind_tenant.role_name AND b.tenant_id = unbind_tenant.tenant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('role "%s" is not bound to tenant "%s"', role_name, tenant_id);
    END IF;
    PERFORM rollout._audit('isolation.unbound', tenant_id, 'role', role_name, NULL, '{}');
END
$$;
COMMENT ON FUNCTION rollout.unbind_tenant(name, text) IS 'remove a role''s binding to a tenant subtree';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout.current_tenant(),
    rollout.set_tenant(text, boolean),
    rollout.reset_tenant(),
    rollout.bypass(text),
    rollout.violation_counts(),
    rollout.recent_violations(),
    rollout.bypass_counts(),
    rollout.reset_violation_counts(),
    rollout._forget_violations(oid[]),
    rollout._inside_protection(),
    rollout._require_protection_call(text),
    rollout._library_loaded_support(internal),
    rollout._library_loaded(),
    rollout._add_loaded_policy(regclass),
    rollout._record_prior_state(regclass),
    rollout._register_protection(regclass, name, text, boolean, boolean),
    rollout._unregister_protection(regclass),
    rollout.protect_table(regclass, name, text, boolean, boolean),
    rollout.unprotect_table(regclass),
    rollout.bind_tenant(name, text),
    rollout.unbind_tenant(name, text),
    rollout._tenant_for_support(internal)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.current_tenant(),
    rollout.set_tenant(text, boolean),
    rollout.reset_tenant()
TO rollout_app, rollout_viewer;
GRANT EXECUTE ON FUNCTION
    rollout._tenant_for(oid),
    rollout._tenants_for(oid),
    rollout._library_loaded()
TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.bypass(text)
TO rollout_bypass;
GRANT EXECUTE ON FUNCTION
    rollout.violation_counts(),
    rollout.recent_violations(),
    rollout.bypass_counts()
TO rollout_viewer;
GRANT EXECUTE ON FUNCTION
    rollout.reset_violation_counts(),
    rollout._record_prior_state(regclass),
    rollout._register_protection(regclass, name, text, boolean, boolean),
    rollout._unregister_protection(regclass),
    rollout._add_loaded_policy(regclass),
    rollout.protect_table(regclass, name, text, boolean, boolean),
    rollout.unprotect_table(regclass),
    rollout.bind_tenant(name, text),
    rollout.unbind_tenant(name, text)
TO rollout_admin;
