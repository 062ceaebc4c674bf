-- Protection follows a protected table through DDL (event triggers, so it
-- holds whoever runs the DDL):
--   * a partition or inheritance child created or attached later
--     (CREATE TABLE ... PARTITION OF / INHERITS, ATTACH PARTITION,
--     ALTER TABLE ... INHERIT) is protected at once, with its row security
--     as it was recorded first, so reads through the parent never break and
--     the child read directly is filtered;
--   * a partition detached (DETACH PARTITION, also CONCURRENTLY) or a child
--     disinherited (NO INHERIT) stays protected, as a protected table of its
--     own with the settings of the table it left: its rows are still one
--     tenant's each;
--   * a dropped table (DROP TABLE, DROP SCHEMA ... CASCADE, DROP OWNED)
--     leaves the registry, audited, so that a table created later under the
--     same name is not taken for the protected one; its violation counters
--     leave shared memory when the drop commits, so that a table created
--     later with the same OID does not inherit them.

CREATE FUNCTION rollout._sync_protection()
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- small catalogs, pessimistic estimates: JIT would cost a CREATE TABLE 0.3 s
SET jit = off
AS $$
DECLARE
    rel regclass;
    top regclass;
    want_force boolean;
    rls boolean;
    forced boolean;
BEGIN
    -- Descendants of protected tables without a record: new partitions and
    -- children.  Record row security as it is, then enable (and force) it.
    -- Only for a protected table that has its own record (every table
    -- protect_table() registered has): a restore (pg_restore -j) loads the
    -- two registry tables in separate transactions while it alters tables,
    -- and recording a partition before the dump's own records arrive would
    -- record the restored state as the prior one, and make the load of
    -- rollout.protected_relation fail on the duplicate.
    FOR rel, top, want_force, rls, forced IN
        WITH RECURSIVE t(relid, top, lvl) AS (
            SELECT p.tbl::oid, p.tbl::oid, 0 FROM rollout.protected_table p
             WHERE EXISTS (SELECT 1 FROM rollout.protected_relation s WHERE s.relid = p.tbl)
            UNION ALL
            SELECT i.inhrelid, t.top, t.lvl + 1 FROM pg_inherits i JOIN t ON i.inhparent = t.relid
             WHERE t.lvl < @PGR_MAX_DEPTH@)
        SELECT DISTINCT ON (t.relid) t.relid::regclass, t.top::regclass, p.force_rls,
               c.relrowsecurity, c.relforcerowsecurity
          FROM t JOIN rollout.protected_table p ON p.tbl = t.top::regclass
          JOIN pg_class c ON c.oid = t.relid
         WHERE NOT EXISTS (SELECT 1 FROM rollout.protected_relation r WHERE r.relid = t.relid::regclass)
           -- a foreign-table partition has no row security of its own (the
           -- parent's applies to it, read through the parent)
           AND c.relkind IN ('r', 'p')
         ORDER BY t.relid, t.lvl
    LOOP
        -- (the ALTER TABLEs below fire this trigger again: whichever call
        -- records a relation first protects it)
        INSERT INTO rollout.protected_relation (relid, tbl, prior_row_security, prior_force_rls)
        VALUES (rel, top, rls, forced)
        ON CONFLICT ON CONSTRAINT protected_relation_pkey DO NOTHING;
        CONTINUE WHEN NOT FOUND;
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', rel);
        IF want_force THEN
            EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', rel);
        END IF;
        -- with a permissive policy of its own: refused without the library
        PERFORM rollout._add_loaded_policy(rel);
        PERFORM rollout._audit('isolation.child_protected', NULL, 'table', rel::text, NULL,
                               jsonb_build_object('protected_table', top::text));
    END LOOP;

    -- Relations recorded for a protected table that are no longer in its
    -- tree: detached or disinherited.  Each becomes a protected table of its
    -- own (ancestors first, so that a detached sub-tree follows its root).
    FOR rel, top IN
        WITH RECURSIVE tree(tbl, relid, lvl) AS (
            SELECT p.tbl::oid, p.tbl::oid, 0 FROM rollout.protected_table p
            UNION ALL
            SELECT tree.tbl, i.inhrelid, tree.lvl + 1 FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid
             WHERE tree.lvl < @PGR_MAX_DEPTH@),
        up(relid, anc, lvl) AS (
            SELECT r.relid::oid, r.relid::oid, 0 FROM rollout.protected_relation r
            UNION ALL
            SELECT up.relid, i.inhparent, up.lvl + 1 FROM pg_inherits i JOIN up ON i.inhrelid = up.anc
             WHERE up.lvl < @PGR_MAX_DEPTH@)
        SELECT r.relid, r.tbl
          FROM rollout.protected_relation r
          JOIN pg_class c ON c.oid = r.relid
         WHERE r.relid <> r.tbl
           AND EXISTS (SELECT 1 FROM rollout.protected_table p WHERE p.tbl = r.tbl)
           AND NOT EXISTS (SELECT 1 FROM tree WHERE tree.tbl = r.tbl::oid AND tree.relid = r.relid::oid)
         ORDER BY (SELECT max(up.lvl) FROM up WHERE up.relid = r.relid::oid), r.relid
    LOOP
        -- already moved along with a detached ancestor
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM rollout.protected_relation r WHERE r.relid = rel AND r.tbl = top);
        INSERT INTO rollout.protected_table (tbl, tenant_column, severity, include_descendants, force_rls, protected_by)
        SELECT rel, p.tenant_column, p.severity, p.include_descendants, p.force_rls, rollout._actor()
          FROM rollout.protected_table p WHERE p.tbl = top
        ON CONFLICT ON CONSTRAINT protected_table_pkey DO NOTHING;
        -- the relation and what is still below it now belong to it
        UPDATE rollout.protected_relation r SET tbl = rel
         WHERE r.tbl = top
           AND r.relid::oid IN (WITH RECURSIVE d(relid, lvl) AS (
                                    SELECT rel::oid, 0
                                    UNION ALL
                                    SELECT i.inhrelid, d.lvl + 1 FROM pg_inherits i JOIN d ON i.inhparent = d.relid
                                     WHERE d.lvl < @PGR_MAX_DEPTH@)
                                SELECT d.relid FROM d);
        PERFORM rollout._audit('isolation.protected', NULL, 'table', rel::text, NULL,
                               jsonb_build_object('separated_from', top::text));
    END LOOP;
END
$$;
COMMENT ON FUNCTION rollout._sync_protection() IS
    'internal: protect partitions and children added to a protected table, and keep detached ones protected on their own';

CREATE FUNCTION rollout._follow_ddl()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM rollout.protected_table) THEN
        PERFORM rollout._sync_protection();
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._follow_ddl() IS
    'internal: event trigger after CREATE TABLE and ALTER TABLE: protection follows partitions and children';

CREATE FUNCTION rollout._follow_drop()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
    rels oid[];
BEGIN
    -- Violation counters: kept for protected relations only, but a table
    -- unprotected earlier may still have some, so every dropped table is
    -- passed.  (Called only when a table was dropped: other drops cost no
    -- call, and the update script from 0.1.0, which creates this trigger
    -- before rollout._forget_violations, drops no table in between.)
    rels := ARRAY(SELECT o.objid
                    FROM pg_event_trigger_dropped_objects() o
                   WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0
                     AND o.object_type IN ('table', 'partitioned table', 'foreign table'));
    IF cardinality(rels) > 0 THEN
        PERFORM rollout._forget_violations(rels);
    END IF;
    FOR d IN
        SELECT o.objid, o.object_identity
          FROM pg_event_trigger_dropped_objects() o
         WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0
           AND o.object_type IN ('table', 'partitioned table')
    LOOP
        DELETE FROM rollout.protected_relation r WHERE r.relid = d.objid::regclass;
        DELETE FROM rollout.protected_table p WHERE p.tbl = d.objid::regclass;
        IF FOUND THEN
            PERFORM rollout._audit('isolation.unprotected', NULL, 'table', d.object_identity, NULL,
                                   jsonb_build_object('dropped', true));
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION rollout._follow_drop() IS
    'internal: event trigger after DROP: a dropped protected table (or child) leaves the registry, audited; dropped tables'' violation counters go at commit';

CREATE EVENT TRIGGER pg_rollout_follow_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION rollout._follow_ddl();
COMMENT ON EVENT TRIGGER pg_rollout_follow_ddl IS
    'pg_rollout: partitions and inheritance children of protected tables are protected when created or attached, and stay protected when detached';

CREATE EVENT TRIGGER pg_rollout_follow_drop ON sql_drop
    EXECUTE FUNCTION rollout._follow_drop();
COMMENT ON EVENT TRIGGER pg_rollout_follow_drop IS
    'pg_rollout: a dropped protected table leaves the registry of protected tables (audited)';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._sync_protection(),
    rollout._follow_ddl(),
    rollout._follow_drop()
FROM PUBLIC;
