-- Integrity of the state tables, checked on demand instead of by foreign keys.
--
-- The extension's tables reference each other (a pin names a tenant and a
-- component, a stage its rollout, ...) but carry no foreign keys between
-- them: pg_restore -j loads each configuration table in its own transaction,
-- in any order, and a key check would refuse a child table loaded before
-- its parent (0.1.0 came back half empty that way).  Only the extension's
-- functions write these tables, and they check every reference, locking the
-- parent row.  rollout.verify_state() states each reference once, reports
-- rows whose parent is missing, and compares the state tables with what the
-- audit log says was created, so a partial restore or a direct write shows.
-- Not even the tree keeps its self-reference (tenant.parent_id): a
-- configuration table with a foreign key to itself makes every pg_dump warn
-- "there are circular foreign-key constraints on this table: tenant ... you
-- might not be able to restore the dump", which is what a DBA reads first.

CREATE FUNCTION rollout.verify_state()
RETURNS TABLE (check_name text, problems bigint, example text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
BEGIN
    -- references: child table and column -> parent table and column
    FOR ref IN
        SELECT * FROM (VALUES
            ('tenant', 'parent_id', 'tenant', 'tenant_id'),
            ('tenant', 'channel_id', 'channel', 'channel_id'),
            ('channel_choice', 'tenant_id', 'tenant', 'tenant_id'),
            ('channel_choice', 'channel_id', 'channel', 'channel_id'),
            ('component_version', 'component_id', 'component', 'component_id'),
            ('flag_setting', 'flag_id', 'flag', 'flag_id'),
            ('flag_setting', 'tenant_id', 'tenant', 'tenant_id'),
            ('rollout', 'component_id', 'component', 'component_id'),
            ('rollout', 'scope_tenant_id', 'tenant', 'tenant_id'),
            ('rollout', 'channel_id', 'channel', 'channel_id'),
            ('rollout', 'flag_id', 'flag', 'flag_id'),
            ('rollout_stage', 'rollout_id', 'rollout', 'rollout_id'),
            ('rollout_trigger', 'rollout_id', 'rollout', 'rollout_id'),
            ('activation', 'rollout_id', 'rollout', 'rollout_id'),
            ('activation', 'tenant_id', 'tenant', 'tenant_id'),
            ('activation_history', 'rollout_id', 'rollout', 'rollout_id'),
            ('activation_history', 'tenant_id', 'tenant', 'tenant_id'),
            ('deferral', 'rollout_id', 'rollout', 'rollout_id'),
            ('deferral', 'tenant_id', 'tenant', 'tenant_id'),
            ('blackout', 'tenant_id', 'tenant', 'tenant_id'),
            ('maintenance_window', 'tenant_id', 'tenant', 'tenant_id'),
            ('pin', 'component_id', 'component', 'component_id'),
            ('pin', 'tenant_id', 'tenant', 'tenant_id'),
            ('channel_release', 'component_id', 'component', 'component_id'),
            ('channel_release', 'channel_id', 'channel', 'channel_id'),
            ('metric_sample', 'rollout_id', 'rollout', 'rollout_id'),
            ('metric_sample', 'tenant_id', 'tenant', 'tenant_id'),
            ('tenant_binding', 'tenant_id', 'tenant', 'tenant_id'),
            ('event_outbox', 'rollout_id', 'rollout', 'rollout_id'),
            ('version_policy', 'component_id', 'component', 'component_id'),
            ('version_policy', 'tenant_id', 'tenant', 'tenant_id'),
            ('grace_extension', 'component_id', 'component', 'component_id'),
            ('grace_extension', 'tenant_id', 'tenant', 'tenant_id'),
            ('exemption', 'component_id', 'component', 'component_id'),
            ('exemption', 'tenant_id', 'tenant', 'tenant_id'),
            -- remediation (src/sql/89_remediation)
            ('upgrade_task', 'tenant_id', 'tenant', 'tenant_id'),
            ('upgrade_task', 'component_id', 'component', 'component_id'),
            ('upgrade_task', 'rollout_id', 'rollout', 'rollout_id'),
            ('notification', 'task_id', 'upgrade_task', 'task_id'),
            ('notification', 'tenant_id', 'tenant', 'tenant_id'),
            ('milestone_schedule', 'tenant_id', 'tenant', 'tenant_id'),
            ('milestone_schedule', 'component_id', 'component', 'component_id'),
            ('tenant_preference', 'tenant_id', 'tenant', 'tenant_id'),
            ('update_approval', 'rollout_id', 'rollout', 'rollout_id'),
            ('update_approval', 'tenant_id', 'tenant', 'tenant_id'),
            ('concurrency_limit', 'tenant_id', 'tenant', 'tenant_id'),
            ('forced_upgrade', 'rollout_id', 'rollout', 'rollout_id'),
            ('forced_upgrade', 'component_id', 'component', 'component_id')
        ) AS v(child, col, parent, pcol)
    LOOP
        check_name := format('%s.%s -> %s', ref.child, ref.col, ref.parent);
        EXECUTE format('SELECT count(*), min(c.%2$I) FROM rollout.%1$I c
                         WHERE c.%2$I IS NOT NULL
                           AND NOT EXISTS (SELECT 1 FROM rollout.%3$I p WHERE p.%4$I OPERATOR(pg_catalog.=) c.%2$I)',
                       ref.child, ref.col, ref.parent, ref.pcol)
            INTO problems, example;
        RETURN NEXT;
    END LOOP;

    -- the audit log against the state: what it says was created is there,
    -- and every tenant, component, version, flag and rollout has its record
    FOR ref IN
        SELECT * FROM (VALUES
            ('tenant.created', 'tenant', 'tenant_id'),
            ('component.created', 'component', 'component_id'),
            ('version.added', 'component_version', $v$component_id || '@' || version::text$v$),
            ('flag.created', 'flag', 'flag_id'),
            ('rollout.created', 'rollout', 'rollout_id')
        ) AS v(action, tbl, key)
    LOOP
        check_name := format('audit %s -> %s', ref.action, ref.tbl);
        EXECUTE format('SELECT count(*), min(a.subject_id) FROM (SELECT DISTINCT subject_id FROM rollout.audit_log
                                                                   WHERE action OPERATOR(pg_catalog.=) $1) a
                         WHERE NOT EXISTS (SELECT 1 FROM rollout.%I s WHERE (s.%s) OPERATOR(pg_catalog.=) a.subject_id)',
                       ref.tbl, ref.key)
            USING ref.action INTO problems, example;
        RETURN NEXT;
        check_name := format('%s -> audit %s', ref.tbl, ref.action);
        EXECUTE format('SELECT count(*), min(k) FROM (SELECT (s.%s) AS k FROM rollout.%I s) s
                         WHERE NOT EXISTS (SELECT 1 FROM rollout.audit_log a
                                            WHERE a.action OPERATOR(pg_catalog.=) $1 AND a.subject_id OPERATOR(pg_catalog.=) s.k)',
                       ref.key, ref.tbl)
            USING ref.action INTO problems, example;
        RETURN NEXT;
    END LOOP;
    -- activations carry their rollout's start order (resolution compares it)
    check_name := 'activation.start_no = rollout.start_no';
    SELECT count(*), min(a.tenant_id) INTO problems, example
      FROM rollout.activation a JOIN rollout.rollout r ON r.rollout_id = a.rollout_id
     WHERE a.start_no IS DISTINCT FROM r.start_no;
    RETURN NEXT;
    -- custom channels: created and not dropped since
    check_name := 'audit channel.created -> channel';
    SELECT count(*), min(a.subject_id) INTO problems, example
      FROM (SELECT subject_id FROM rollout.audit_log WHERE action = 'channel.created'
            EXCEPT SELECT subject_id FROM rollout.audit_log WHERE action = 'channel.dropped') a
     WHERE NOT EXISTS (SELECT 1 FROM rollout.channel c WHERE c.channel_id = a.subject_id);
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION rollout.verify_state() IS
    'integrity of the state tables: rows whose referenced tenant, component, channel, flag or rollout is missing, and state that disagrees with the audit log (a partial restore, a direct write); one row per check, problems = 0 when it holds';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION rollout.verify_state() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.verify_state() TO rollout_viewer;
