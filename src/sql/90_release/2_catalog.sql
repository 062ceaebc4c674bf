-- Release readiness: the clock, the classes and the check catalogue.
--
-- Positions: channels are numbered 1..n in ordinal order.  Seed 004 names
-- four (dev, experimental, candidate, stable); the rules here speak of
-- positions so that a site with its own channels keeps them: position 1 is
-- the entry channel (dev), 2 the opt-in channel (experimental), 3..n-1 the
-- pre-stable soak (candidate), n the last channel (stable).

CREATE FUNCTION rollout._release_now()
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce((SELECT c.at FROM rollout.release_clock c), pg_catalog.now()) $$;
COMMENT ON FUNCTION rollout._release_now() IS
    'internal: the time release functions use: the superuser clock override (rollout.set_release_clock) when set, else now()';

CREATE FUNCTION rollout.set_release_clock(at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user), false) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'only a superuser may set the release clock',
            DETAIL = 'The release clock override decides soak times; it exists for tests and replays.';
    END IF;
    IF at IS NULL THEN
        DELETE FROM rollout.release_clock;
    ELSE
        INSERT INTO rollout.release_clock AS c (singleton, at, set_by) VALUES (true, at, session_user)
        ON CONFLICT ON CONSTRAINT release_clock_pkey DO UPDATE SET at = excluded.at, set_by = excluded.set_by;
    END IF;
    PERFORM rollout._audit('release.clock_set', NULL, 'release_clock', NULL, NULL,
                           pg_catalog.jsonb_build_object('at', at));
END
$$;
COMMENT ON FUNCTION rollout.set_release_clock(timestamptz) IS
    'superuser only: make release functions (soak, entry times, approvals, memos) read this time instead of now(); NULL removes the override; audited';

CREATE FUNCTION rollout.release_classes()
RETURNS TABLE (class text, label text, approval text, rollback_requirement text, rollback_authority text,
               automatic_promotion boolean)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('ui_only', 'UI-only', 'Dev lead', 'Revert commit', 'dev_lead', true),
           ('workflow', 'Workflow change (non-destructive)', 'Dev lead + QA', 'Feature flag disable', 'dev_lead', true),
           ('capability', 'Capability exposure (guarded)', 'Dev lead + System Owner', 'Kill switch + feature flag', 'system_owner', false),
           ('mechanism', 'Mechanism change (high risk)', 'System Owner + explicit risk acceptance',
            'Full rollback plan with restore verification', 'system_owner', false)
$$;
COMMENT ON FUNCTION rollout.release_classes() IS
    'the four release classes of seed 004 §3: approvals, rollback requirement, who decides a rollback, and whether rollout.tick() may promote automatically';

CREATE FUNCTION rollout.release_check_catalog()
RETURNS TABLE (check_id text, kind text, required_from text, derived boolean, classes text[], description text)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES
    -- the seven hard stops (seed 004 §6)
    ('hs.classification',     'hard_stop', 'any',          true,  NULL::text[], 'release classification recorded (unclear classification)'),
    ('hs.rollback_path',      'hard_stop', 'experimental', true,  NULL, 'rollback path defined in the manifest: trigger, procedure, verification, owner (mechanism: also data recovery)'),
    ('hs.restore_path',       'hard_stop', 'experimental', false, NULL, 'restore path for affected data known'),
    ('hs.cross_tenant_risk',  'hard_stop', 'experimental', false, NULL, 'no cross-tenant data access risk identified'),
    ('hs.audit_logging',      'hard_stop', 'experimental', false, NULL, 'no audit logging regression (no fewer events logged)'),
    ('hs.kill_switch',        'hard_stop', 'experimental', true,  NULL, 'kill switch configured: the manifest names an existing flag'),
    ('hs.reversible_migration','hard_stop','experimental', false, NULL, 'data migration reversible (or none)'),
    -- kill switch and exposure (seed 004 §5, §7)
    ('ks.tested',             'kill_switch', 'experimental', true, NULL, 'kill switch tested in the first channel (dev) and passed'),
    ('exp.plan',              'exposure',  'experimental', true,  NULL, 'tenant exposure plan recorded'),
    ('exp.consent',           'exposure',  'experimental', true,  NULL, 'every tenant of the exposure plan has recorded consent (opt-in) to the experimental channel (checked on entry to experimental only: tenants may opt out later)'),
    ('exp.exit_criteria',     'exposure',  'candidate',    false, NULL, 'exit criteria of the tenant exposure plan met'),
    -- required observability (seed 004 §8), before experimental
    ('ob.actions_logged',     'observability', 'experimental', false, NULL, 'all new user actions logged with actor ID and tenant ID'),
    ('ob.errors_logged',      'observability', 'experimental', false, NULL, 'all new errors logged with stack trace and context'),
    ('ob.version_in_logs',    'observability', 'experimental', false, NULL, 'release version identifiable in all log entries'),
    ('ob.metrics_baseline',   'observability', 'experimental', false, NULL, 'metrics baseline established before experimental'),
    ('ob.alert_thresholds',   'observability', 'experimental', false, NULL, 'alert thresholds defined for new error conditions'),
    -- observability verification (seed 004 §8), before candidate
    ('ov.logs_flowing',       'observability', 'candidate', false, NULL, 'logs are flowing from experimental tenants'),
    ('ov.metrics_in_bounds',  'observability', 'candidate', false, NULL, 'metrics are within expected bounds'),
    ('ov.no_unattributed',    'observability', 'candidate', false, NULL, 'no new unattributed actions in the audit log'),
    ('ov.error_rate',         'observability', 'candidate', false, NULL, 'error rate has not increased beyond threshold'),
    -- data safety verification (seed 004 §6), before candidate
    ('ds.query_isolation',    'data_safety', 'candidate', false, NULL, 'no cross-tenant data access possible (query isolation verified)'),
    ('ds.tenant_id_queries',  'data_safety', 'candidate', false, NULL, 'tenant ID present in all new database queries'),
    ('ds.no_shared_state',    'data_safety', 'candidate', false, NULL, 'no shared mutable state between tenant contexts'),
    ('ds.audit_tenant_id',    'data_safety', 'candidate', false, NULL, 'audit log entries include tenant ID'),
    ('ds.backup_restore',     'data_safety', 'candidate', false, NULL, 'backup and restore procedures unchanged or explicitly updated'),
    ('ds.migration',          'data_safety', 'candidate', false, NULL, 'data migration (if any) is idempotent and reversible'),
    ('ds.test_data',          'data_safety', 'candidate', false, NULL, 'test tenant data used in dev/experimental is not production data'),
    -- mechanism changes (seed 004 §3)
    ('mech.decision_memo',    'mechanism', 'candidate', false, ARRAY['mechanism'], 'separate decision memo recorded before candidate'),
    ('mech.risk_acceptance',  'mechanism', 'candidate', false, ARRAY['mechanism'], 'explicit risk acceptance by the System Owner'),
    -- before the last channel (seed 004 §9 memo checklist)
    ('rb.tested',             'rollback',  'stable',    false, NULL, 'rollback plan tested')
$$;
COMMENT ON FUNCTION rollout.release_check_catalog() IS
    'every readiness check of a release: kind, the channel from which it is required (any, experimental, candidate, stable), whether it is derived from the database or recorded by people (rollout.record_check), and the classes it applies to (NULL: all)';

CREATE FUNCTION rollout._release_channels()
RETURNS TABLE (channel_id text, ordinal integer, pos integer, n integer, min_soak interval)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.channel_id, c.ordinal, (pg_catalog.row_number() OVER (ORDER BY c.ordinal))::integer,
           (pg_catalog.count(*) OVER ())::integer, c.min_soak
      FROM rollout.channel c ORDER BY c.ordinal
$$;
COMMENT ON FUNCTION rollout._release_channels() IS 'internal: the channels in promotion order with their position (1..n)';

CREATE FUNCTION rollout._release_position(required_from text, n integer)
RETURNS integer
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE required_from WHEN 'any' THEN 1 WHEN 'experimental' THEN 2 WHEN 'candidate' THEN 3 ELSE n END
$$;
COMMENT ON FUNCTION rollout._release_position(text, integer) IS
    'internal: the channel position from which a check is required (any 1, experimental 2, candidate 3, stable n)';

CREATE FUNCTION rollout._release_required_roles(class text, to_pos integer, n integer)
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- seed 004 §9 by transition, plus the System Owner for the classes of
    -- §3 that name one (capability exposure, mechanism change)
    SELECT CASE
        WHEN to_pos <= 1 THEN ARRAY[]::text[]
        WHEN to_pos = n AND n >= 3 THEN ARRAY['dev_lead', 'system_owner']
        WHEN to_pos = 2 THEN ARRAY['dev_lead'] || CASE WHEN class IN ('capability', 'mechanism') THEN ARRAY['system_owner'] ELSE ARRAY[]::text[] END
        ELSE ARRAY['dev_lead', 'qa'] || CASE WHEN class IN ('capability', 'mechanism') THEN ARRAY['system_owner'] ELSE ARRAY[]::text[] END
    END
$$;
COMMENT ON FUNCTION rollout._release_required_roles(text, integer, integer) IS
    'internal: approver roles a release of a class needs to enter the channel at a position';

CREATE FUNCTION rollout._release_role_label(role text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE role WHEN 'dev_lead' THEN 'Dev Lead' WHEN 'qa' THEN 'QA' WHEN 'system_owner' THEN 'System Owner' ELSE role END $$;
COMMENT ON FUNCTION rollout._release_role_label(text) IS 'internal: the memo label of an approver role';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._release_now(),
    rollout.set_release_clock(timestamptz),
    rollout.release_classes(),
    rollout.release_check_catalog(),
    rollout._release_channels(),
    rollout._release_position(text, integer),
    rollout._release_required_roles(text, integer, integer),
    rollout._release_role_label(text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout._release_now(),
    rollout.release_classes(),
    rollout.release_check_catalog(),
    rollout._release_channels(),
    rollout._release_position(text, integer),
    rollout._release_required_roles(text, integer, integer),
    rollout._release_role_label(text)
TO rollout_viewer;
