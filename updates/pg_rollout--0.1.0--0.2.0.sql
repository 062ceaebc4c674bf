-- pg_rollout 0.1.0 -> 0.2.0.  Every change to the schema since the 0.1.0
-- release, in the order the pieces under src/sql/ define them; privileges
-- and comments next to each new or replaced object.  test/t/004_upgrade.pl
-- checks that an updated 0.1.0 database equals a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION pg_rollout UPDATE TO '0.2.0'" to load this file. \quit

-- Rollout lifecycle: one helper locks the rollout and checks its status and
-- reason (src/sql/70_rollout/3_definition.sql); the lifecycle functions use
-- it (src/sql/70_rollout/6_lifecycle.sql).
-- The rollout a lifecycle call acts on: locked, in one of the statuses the
-- action allows, and with a reason when the action requires one.
CREATE FUNCTION rollout._rollout_for_action(rollout_id text, allowed text[], action text,
                                            reason text DEFAULT NULL, reason_required boolean DEFAULT false)
RETURNS rollout.rollout
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    PERFORM rollout._require_rollout_status(r, allowed, action);
    IF reason_required THEN
        PERFORM rollout._require_reason(reason, action || ' a rollout');
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout._rollout_for_action(text, text[], text, text, boolean) IS
    'internal: lock a rollout for a lifecycle action, check its status and the reason the action needs';
REVOKE ALL ON FUNCTION rollout._rollout_for_action(text, text[], text, text, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION rollout.approve_rollout(rollout_id text, note text DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_action(rollout_id, ARRAY['draft'], 'approve');
    who text := rollout._actor();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rollout.rollout_stage s WHERE s.rollout_id = r.rollout_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot approve rollout "%s": it has no stages', r.rollout_id),
            HINT = 'Add stages with rollout.add_stage().';
    END IF;
    IF who = r.created_by THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('rollout "%s" cannot be approved by its author "%s"', r.rollout_id, who),
            DETAIL = 'A rollout must be approved by someone other than the person who created it.';
    END IF;
    UPDATE rollout.rollout x
       SET status = 'approved', approved_by = who, approved_at = now(), approval_note = note, updated_at = now()
     WHERE x.rollout_id = r.rollout_id
    RETURNING * INTO r;
    PERFORM rollout._event('rollout.approved', r.rollout_id, note,
                           jsonb_build_object('approved_by', who, 'revision', r.revision));
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION rollout.start_rollout(rollout_id text, reason text DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_action(rollout_id, ARRAY['approved'], 'start');
    other text;
BEGIN
    SELECT x.rollout_id INTO other FROM rollout.rollout x
     WHERE x.component_id = r.component_id AND x.status IN ('running', 'paused', 'failed');
    IF other IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_in_use',
            MESSAGE = format('cannot start rollout "%s": rollout "%s" of component "%s" is still live',
                             r.rollout_id, other, r.component_id),
            DETAIL = 'One rollout at a time moves a component: complete, roll back or cancel the other first.';
    END IF;
    BEGIN
        UPDATE rollout.rollout x SET status = 'running', started_at = now(), status_reason = reason, updated_at = now()
         WHERE x.rollout_id = r.rollout_id;
    EXCEPTION WHEN unique_violation THEN
        -- another rollout of the component started concurrently
        RAISE EXCEPTION USING ERRCODE = 'object_in_use',
            MESSAGE = format('cannot start rollout "%s": another rollout of component "%s" has just started',
                             r.rollout_id, r.component_id),
            DETAIL = 'One rollout at a time moves a component.';
    END;
    PERFORM rollout._event('rollout.started', r.rollout_id, reason,
                           jsonb_build_object('stages', (SELECT jsonb_agg(s.name ORDER BY s.stage_no)
                                                           FROM rollout.rollout_stage s WHERE s.rollout_id = r.rollout_id)));
    PERFORM rollout._start_stage(r.rollout_id, 1, reason);
    RETURN rollout._rollout_for_update(r.rollout_id);
END
$$;

CREATE OR REPLACE FUNCTION rollout.advance_rollout(rollout_id text, reason text DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_action(rollout_id, ARRAY['running'], 'advance');
BEGIN
    PERFORM rollout._finish_stage(r.rollout_id, coalesce(reason, 'advanced manually'));
    RETURN rollout._rollout_for_update(r.rollout_id);
END
$$;

CREATE OR REPLACE FUNCTION rollout.pause_rollout(rollout_id text, reason text)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_action(rollout_id, ARRAY['running'], 'pause', reason, true);
BEGIN
    UPDATE rollout.rollout x SET status = 'paused', status_reason = reason, next_due_at = NULL, updated_at = now()
     WHERE x.rollout_id = r.rollout_id RETURNING * INTO r;
    PERFORM rollout._event('rollout.paused', r.rollout_id, reason, jsonb_build_object('stage_no', r.current_stage));
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION rollout.resume_rollout(rollout_id text, reason text DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_action(rollout_id, ARRAY['paused'], 'resume');
BEGIN
    UPDATE rollout.rollout x SET status = 'running', status_reason = reason, updated_at = now()
     WHERE x.rollout_id = r.rollout_id;
    -- A stage that was undecided gets a fresh monitoring period.
    UPDATE rollout.rollout_stage s SET due_at = greatest(s.due_at, now())
     WHERE s.rollout_id = r.rollout_id AND s.stage_no = r.current_stage AND s.status = 'monitoring';
    PERFORM rollout._activate_through(r.rollout_id, r.current_stage);
    PERFORM rollout._event('rollout.resumed', r.rollout_id, reason, jsonb_build_object('stage_no', r.current_stage));
    PERFORM rollout._reschedule(r.rollout_id);
    RETURN rollout._rollout_for_update(r.rollout_id);
END
$$;

CREATE OR REPLACE FUNCTION rollout.retry_rollout(rollout_id text, reason text)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_action(rollout_id, ARRAY['failed'], 'retry', reason, true);
BEGIN
    UPDATE rollout.rollout x SET status = 'running', status_reason = reason, updated_at = now()
     WHERE x.rollout_id = r.rollout_id;
    PERFORM rollout._event('rollout.retried', r.rollout_id, reason, jsonb_build_object('stage_no', r.current_stage));
    -- The failed stage is monitored afresh.
    PERFORM rollout._start_stage(r.rollout_id, r.current_stage, reason);
    RETURN rollout._rollout_for_update(r.rollout_id);
END
$$;

CREATE OR REPLACE FUNCTION rollout.rollback_rollout(rollout_id text, reason text, back_to_stage integer DEFAULT 0)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_action(rollout_id, ARRAY['running', 'paused', 'failed', 'completed'],
                                                     'roll back', reason, true);
    later text;
BEGIN
    IF back_to_stage IS NULL OR back_to_stage < 0 OR back_to_stage >= r.current_stage THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('cannot roll rollout "%s" back to stage %s', r.rollout_id, coalesce(back_to_stage::text, 'NULL')),
            DETAIL = format('Its current stage is %s: roll back to 0 (everything) or to an earlier stage.', r.current_stage);
    END IF;
    IF back_to_stage > 0 AND r.status = 'completed' THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot roll completed rollout "%s" back to stage %s', r.rollout_id, back_to_stage),
            DETAIL = 'A completed rollout can only be rolled back as a whole.';
    END IF;
    -- A rollback restores the activations this rollout replaced, one level
    -- deep: once a later rollout has moved the component's tenants (even if
    -- it was rolled back since), undo with a new rollout instead.
    SELECT x.rollout_id INTO later FROM rollout.rollout x
     WHERE r.status = 'completed' AND x.component_id = r.component_id AND x.rollout_id <> r.rollout_id
       AND x.started_at > r.started_at
     ORDER BY x.started_at LIMIT 1;
    IF later IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot roll back rollout "%s": later rollout "%s" of component "%s" has moved its tenants since',
                             r.rollout_id, later, r.component_id),
            HINT = 'Create a new rollout back to the version you want (allow_downgrade => true).';
    END IF;
    RETURN rollout._roll_back(r.rollout_id, back_to_stage,
                              CASE WHEN back_to_stage > 0 THEN 'paused' ELSE 'rolled_back' END, reason);
END
$$;

CREATE OR REPLACE FUNCTION rollout.cancel_rollout(rollout_id text, reason text)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_action(rollout_id, ARRAY['draft', 'approved', 'running', 'paused', 'failed'],
                                                     'cancel', reason, true);
BEGIN
    PERFORM rollout._roll_back(r.rollout_id, 0, 'cancelled', reason);
    RETURN rollout._rollout_for_update(r.rollout_id);
END
$$;

-- Parallel restore: no foreign keys between the configuration tables
-- (pg_restore -j loads each in its own transaction, in any order); the
-- functions check every reference, rollout.verify_state() reports orphans
-- and state the audit log does not explain (src/sql/85_integrity/).
ALTER TABLE rollout.tenant DROP CONSTRAINT tenant_channel_id_fkey;
ALTER TABLE rollout.channel_choice DROP CONSTRAINT channel_choice_channel_id_fkey;
ALTER TABLE rollout.channel_choice DROP CONSTRAINT channel_choice_tenant_id_fkey;
ALTER TABLE rollout.component_version DROP CONSTRAINT component_version_component_id_fkey;
ALTER TABLE rollout.flag_setting DROP CONSTRAINT flag_setting_flag_id_fkey;
ALTER TABLE rollout.flag_setting DROP CONSTRAINT flag_setting_tenant_id_fkey;
ALTER TABLE rollout.rollout DROP CONSTRAINT rollout_channel_id_fkey;
ALTER TABLE rollout.rollout DROP CONSTRAINT rollout_component_id_fkey;
ALTER TABLE rollout.rollout DROP CONSTRAINT rollout_flag_id_fkey;
ALTER TABLE rollout.rollout DROP CONSTRAINT rollout_scope_tenant_id_fkey;
ALTER TABLE rollout.rollout_stage DROP CONSTRAINT rollout_stage_rollout_id_fkey;
ALTER TABLE rollout.rollout_trigger DROP CONSTRAINT rollout_trigger_rollout_id_fkey;
ALTER TABLE rollout.deferral DROP CONSTRAINT deferral_rollout_id_fkey;
ALTER TABLE rollout.deferral DROP CONSTRAINT deferral_tenant_id_fkey;
ALTER TABLE rollout.blackout DROP CONSTRAINT blackout_tenant_id_fkey;
ALTER TABLE rollout.maintenance_window DROP CONSTRAINT maintenance_window_tenant_id_fkey;
ALTER TABLE rollout.pin DROP CONSTRAINT pin_component_id_fkey;
ALTER TABLE rollout.pin DROP CONSTRAINT pin_tenant_id_fkey;
ALTER TABLE rollout.channel_release DROP CONSTRAINT channel_release_channel_id_fkey;
ALTER TABLE rollout.channel_release DROP CONSTRAINT channel_release_component_id_fkey;
ALTER TABLE rollout.metric_sample DROP CONSTRAINT metric_sample_rollout_id_fkey;
ALTER TABLE rollout.metric_sample DROP CONSTRAINT metric_sample_tenant_id_fkey;
ALTER TABLE rollout.tenant_binding DROP CONSTRAINT tenant_binding_tenant_id_fkey;

CREATE OR REPLACE FUNCTION rollout.create_tenant(
    tenant_id text, display_name text DEFAULT NULL, parent_id text DEFAULT NULL,
    kind text DEFAULT 'tenant', attributes jsonb DEFAULT '{}', channel_id text DEFAULT NULL,
    test_tenant boolean DEFAULT false, reason text DEFAULT NULL)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    p rollout.tenant;
    t rollout.tenant;
    newpath text[];
BEGIN
    PERFORM rollout._require_slug('tenant id', create_tenant.tenant_id);
    PERFORM rollout._require_slug('tenant kind', coalesce(create_tenant.kind, 'tenant'));
    IF create_tenant.attributes IS NOT NULL AND jsonb_typeof(create_tenant.attributes) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('attributes of tenant "%s" must be a JSON object', create_tenant.tenant_id),
            DETAIL = format('A JSON %s was given.', jsonb_typeof(create_tenant.attributes));
    END IF;
    -- FOR KEY SHARE: drop_channel cannot remove the channel before this commits.
    IF create_tenant.channel_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM rollout.channel c WHERE c.channel_id = create_tenant.channel_id FOR KEY SHARE) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('channel "%s" does not exist', create_tenant.channel_id);
    END IF;
    IF create_tenant.parent_id IS NOT NULL THEN
        -- FOR SHARE: a concurrent move of the parent either finished before
        -- (we see its new path) or waits for us.
        SELECT * INTO p FROM rollout.tenant WHERE tenant_id = create_tenant.parent_id FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('parent tenant "%s" does not exist', create_tenant.parent_id);
        END IF;
        IF p.status = 'decommissioned' THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('parent tenant "%s" is decommissioned', p.tenant_id),
                DETAIL = 'No tenant can be created under a decommissioned tenant.';
        END IF;
        IF cardinality(p.path) >= @PGR_MAX_DEPTH@ THEN
            RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
                MESSAGE = format('tenant "%s" would be deeper than @PGR_MAX_DEPTH@ levels', create_tenant.tenant_id);
        END IF;
        newpath := p.path || create_tenant.tenant_id;
    ELSE
        newpath := ARRAY[create_tenant.tenant_id];
    END IF;
    BEGIN
        INSERT INTO rollout.tenant (tenant_id, parent_id, kind, display_name, attributes, channel_id, test_tenant, path)
        VALUES (create_tenant.tenant_id, create_tenant.parent_id, coalesce(create_tenant.kind, 'tenant'),
                coalesce(create_tenant.display_name, create_tenant.tenant_id),
                coalesce(create_tenant.attributes, '{}'), create_tenant.channel_id,
                coalesce(create_tenant.test_tenant, false), newpath)
        RETURNING * INTO t;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('tenant "%s" already exists', create_tenant.tenant_id);
    END;
    PERFORM rollout._audit('tenant.created', t.tenant_id, 'tenant', t.tenant_id, create_tenant.reason,
                           pg_catalog.to_jsonb(t) - 'path' - 'created_at' - 'updated_at');
    RETURN t;
END
$$;

CREATE OR REPLACE FUNCTION rollout.drop_channel(channel_id text, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c rollout.channel;
    users bigint;
BEGIN
    LOCK TABLE rollout.channel IN SHARE ROW EXCLUSIVE MODE;
    c := rollout._channel_for_update(drop_channel.channel_id);
    IF c.is_default THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('channel "%s" is the default channel', c.channel_id),
            HINT = 'Make another channel the default with rollout.set_default_channel() first.';
    END IF;
    SELECT count(*) INTO users FROM rollout.tenant t WHERE t.channel_id = c.channel_id;
    IF users > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'dependent_objects_still_exist',
            MESSAGE = format('channel "%s" is followed by %s %s', c.channel_id, users,
                             CASE WHEN users = 1 THEN 'tenant' ELSE 'tenants' END),
            HINT = 'Move those tenants to another channel with rollout.set_tenant_channel() first.';
    END IF;
    IF EXISTS (SELECT 1 FROM rollout.channel_release cr WHERE cr.channel_id = c.channel_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'dependent_objects_still_exist',
            MESSAGE = format('channel "%s" has releases', c.channel_id),
            HINT = 'Clear them with rollout.clear_channel_release() first.';
    END IF;
    IF EXISTS (SELECT 1 FROM rollout.rollout r WHERE r.channel_id = c.channel_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'dependent_objects_still_exist',
            MESSAGE = format('channel "%s" scopes a rollout', c.channel_id),
            DETAIL = 'Rollouts are kept for their history; a channel that scoped one stays.';
    END IF;
    DELETE FROM rollout.channel_choice cc WHERE cc.channel_id = c.channel_id;
    DELETE FROM rollout.channel x WHERE x.channel_id = c.channel_id;
    PERFORM rollout._audit('channel.dropped', NULL, 'channel', c.channel_id, drop_channel.reason,
                           jsonb_build_object('archived', to_jsonb(c)));
END
$$;

CREATE OR REPLACE FUNCTION rollout.create_rollout(
    rollout_id text, component_id text, from_version rollout.semver, to_version rollout.semver,
    strategy text DEFAULT 'staged', scope_tenant_id text DEFAULT NULL, channel_id text DEFAULT NULL,
    target_kind text DEFAULT NULL, allow_downgrade boolean DEFAULT false,
    rollback_automatic boolean DEFAULT true, description text DEFAULT NULL,
    stage_timeout interval DEFAULT '24 hours', monitoring_extension interval DEFAULT '1 hour',
    flag_id text DEFAULT NULL, salt bytea DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
BEGIN
    PERFORM rollout._require_slug('rollout id', rollout_id);
    PERFORM rollout._component_for_update(component_id);
    PERFORM rollout._require_version(component_id, from_version, 'from-version');
    PERFORM rollout._require_version(component_id, to_version, 'to-version');
    IF from_version OPERATOR(rollout.=) to_version THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('to-version %s is the same as from-version %s', to_version, from_version);
    END IF;
    IF to_version OPERATOR(rollout.<) from_version AND NOT coalesce(allow_downgrade, false) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('to-version %s is not newer than from-version %s', to_version, from_version),
            HINT = 'A downgrade must be explicit: pass allow_downgrade => true.';
    END IF;
    IF strategy IS NULL OR strategy NOT IN ('staged', 'canary', 'blue_green', 'feature_flag') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid rollout strategy "%s"', strategy),
            DETAIL = 'A strategy is staged, canary, blue_green or feature_flag.';
    END IF;
    IF strategy = 'feature_flag' AND flag_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rollout "%s" uses the feature_flag strategy but names no flag', rollout_id),
            HINT = 'Pass flag_id => ''...'': the flag is created (off by default) when it does not exist.';
    END IF;
    IF strategy <> 'feature_flag' AND flag_id IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rollout "%s" names flag "%s" but its strategy is %s', rollout_id, flag_id, strategy),
            DETAIL = 'Only a feature_flag rollout is gated by a flag.';
    END IF;
    IF flag_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rollout.flag f WHERE f.flag_id = create_rollout.flag_id) THEN
        PERFORM rollout.create_flag(flag_id, false, format('gates rollout %s', rollout_id));
    END IF;
    IF scope_tenant_id IS NOT NULL THEN
        PERFORM rollout._tenant_for_update(scope_tenant_id);
    END IF;
    IF channel_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM rollout.channel c WHERE c.channel_id = create_rollout.channel_id FOR KEY SHARE) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('channel "%s" does not exist', channel_id);
    END IF;
    IF target_kind IS NOT NULL THEN
        PERFORM rollout._require_slug('tenant kind', target_kind);
    END IF;
    IF salt IS NOT NULL AND octet_length(salt) NOT BETWEEN 8 AND 64 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('salt of rollout "%s" must be 8 to 64 bytes, not %s', rollout_id, octet_length(salt));
    END IF;
    IF stage_timeout IS NULL OR stage_timeout < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('stage timeout of rollout "%s" must be zero or positive', rollout_id);
    END IF;
    IF monitoring_extension IS NULL OR monitoring_extension <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('monitoring extension of rollout "%s" must be positive', rollout_id);
    END IF;
    BEGIN
        INSERT INTO rollout.rollout (rollout_id, component_id, from_version, to_version, strategy, description,
                                     scope_tenant_id, channel_id, target_kind, allow_downgrade, rollback_automatic,
                                     stage_timeout, monitoring_extension, flag_id, salt, created_by)
        VALUES (rollout_id, component_id, from_version, to_version, strategy, description,
                scope_tenant_id, channel_id, target_kind, coalesce(allow_downgrade, false),
                coalesce(rollback_automatic, true), stage_timeout, monitoring_extension, flag_id,
                coalesce(salt, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())), rollout._actor())
        RETURNING * INTO r;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('rollout "%s" already exists', rollout_id);
    END;
    PERFORM rollout._event('rollout.created', r.rollout_id, NULL,
                           jsonb_build_object('component', r.component_id, 'from_version', r.from_version::text,
                                              'to_version', r.to_version::text, 'strategy', r.strategy, 'flag', r.flag_id,
                                              'scope', r.scope_tenant_id, 'channel', r.channel_id));
    RETURN r;
END
$$;

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
            ('event_outbox', 'rollout_id', 'rollout', 'rollout_id')
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
