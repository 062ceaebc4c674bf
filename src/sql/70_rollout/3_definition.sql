-- ---------------------------------------------------------------------
-- Definition
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout._rollout_for_update(rollout_id text)
RETURNS rollout.rollout
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollout.rollout;
BEGIN
    IF rollout_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'rollout id must not be null';
    END IF;
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _rollout_for_update.rollout_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('rollout "%s" does not exist', rollout_id);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout._rollout_for_update(text) IS 'internal: lock a rollout row or raise undefined_object';

CREATE FUNCTION rollout._require_rollout_status(r rollout.rollout, allowed text[], action text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (r.status = ANY (allowed)) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot %s rollout "%s": it is %s', action, r.rollout_id, r.status),
            DETAIL = format('To %s a rollout, it must be %s.', action, array_to_string(allowed, ' or '));
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_rollout_status(rollout.rollout, text[], text) IS
    'internal: raise object_not_in_prerequisite_state naming the current status unless it is allowed';

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

-- An edit of a draft or approved plan; an approved plan loses its approval.
CREATE FUNCTION rollout._rollout_edit(rollout_id text, what text)
RETURNS rollout.rollout
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    IF r.status NOT IN ('draft', 'approved') THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot edit rollout "%s": it is %s', r.rollout_id, r.status),
            DETAIL = 'Only a draft or approved plan can be edited.';
    END IF;
    IF r.status = 'approved' THEN
        PERFORM rollout._event('rollout.approval_voided', r.rollout_id,
                               format('plan edited: %s', what),
                               jsonb_build_object('approved_by', r.approved_by, 'revision', r.revision));
    END IF;
    -- One revision per transaction: a draft this transaction already wrote
    -- is not written again (a plan of n stages would otherwise leave n row
    -- versions behind, which every later look-up in it walks).
    IF r.status = 'draft' AND EXISTS (SELECT 1 FROM rollout.rollout x
                                       WHERE x.rollout_id = r.rollout_id AND x.xmin = pg_current_xact_id()::xid) THEN
        RETURN r;
    END IF;
    UPDATE rollout.rollout x
       SET status = 'draft', approved_by = NULL, approved_at = NULL, approval_note = NULL,
           revision = x.revision + 1, updated_at = now()
     WHERE x.rollout_id = r.rollout_id
    RETURNING * INTO r;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout._rollout_edit(text, text) IS
    'internal: lock a draft or approved rollout for an edit, voiding any approval';

CREATE FUNCTION rollout._require_version(component_id text, version rollout.semver, what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF version IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s must not be null', what);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM rollout.component_version v
                    WHERE v.component_id = _require_version.component_id
                      AND v.version OPERATOR(rollout.=) _require_version.version) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('version %s of component "%s" does not exist', version, component_id),
            HINT = 'Add it first with rollout.add_version().';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_version(text, rollout.semver, text) IS
    'internal: raise undefined_object unless the component has the version';

CREATE FUNCTION rollout.create_rollout(
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
    PERFORM rollout._enforce_policy(component_id, to_version, NULL, scope_tenant_id, format('rollout "%s"', rollout_id));
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
COMMENT ON FUNCTION rollout.create_rollout(text, text, rollout.semver, rollout.semver, text, text, text, text,
                                           boolean, boolean, text, interval, interval, text, bytea) IS
    'create a draft rollout of a component from one version to a newer one (or an explicit downgrade); add stages next. The salt (random unless given) fixes every tenant''s bucket for good';

CREATE FUNCTION rollout.add_stage(
    rollout_id text, name text, method text, tenants text[] DEFAULT NULL, percent numeric DEFAULT NULL,
    weight_by text DEFAULT NULL, min_duration interval DEFAULT '0', max_new_failures numeric DEFAULT NULL,
    max_failure_rate_increase numeric DEFAULT NULL, metric_bounds jsonb DEFAULT '{}',
    auto_proceed boolean DEFAULT false, description text DEFAULT NULL, pass_without_metrics boolean DEFAULT false)
RETURNS rollout.rollout_stage
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    s rollout.rollout_stage;
    prev rollout.rollout_stage;
    scope_path text[];
    bad text;
    k text;
BEGIN
    r := rollout._rollout_edit(rollout_id, format('stage "%s" added', name));
    PERFORM rollout._require_slug('stage name', name);
    IF EXISTS (SELECT 1 FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id AND x.name = add_stage.name) THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('stage "%s" already exists in rollout "%s"', name, r.rollout_id);
    END IF;
    IF method IS NULL OR method NOT IN ('tenants', 'percentage', 'all') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid selection method "%s" for stage "%s"', method, name),
            DETAIL = 'A stage selects by tenants (an explicit list), percentage or all.';
    END IF;
    SELECT * INTO prev FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id ORDER BY x.stage_no DESC LIMIT 1;
    IF FOUND AND prev.method = 'all' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('stage "%s" cannot follow stage "%s", which selects all tenants', name, prev.name);
    END IF;
    IF method = 'tenants' THEN
        IF tenants IS NULL OR cardinality(tenants) = 0 OR array_position(tenants, NULL) IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects by tenants but lists none', name),
                DETAIL = 'Pass a non-empty list of tenant ids without nulls.';
        END IF;
        IF percent IS NOT NULL OR weight_by IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects by tenants: percent and weight_by do not apply', name);
        END IF;
        SELECT u.id INTO bad FROM unnest(tenants) AS u(id)
         WHERE NOT EXISTS (SELECT 1 FROM rollout.tenant t WHERE t.tenant_id = u.id) LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('tenant "%s" does not exist', bad),
                DETAIL = format('Stage "%s" of rollout "%s" lists it.', name, r.rollout_id);
        END IF;
        IF r.scope_tenant_id IS NOT NULL THEN
            scope_path := rollout.tenant_path(r.scope_tenant_id);
            SELECT t.tenant_id INTO bad FROM rollout.tenant t
             WHERE t.tenant_id = ANY (tenants) AND t.path[1:cardinality(scope_path)] IS DISTINCT FROM scope_path LIMIT 1;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = format('tenant "%s" is outside the scope of rollout "%s"', bad, r.rollout_id),
                    DETAIL = format('The rollout is limited to the subtree of "%s".', r.scope_tenant_id);
            END IF;
        END IF;
        SELECT u.id INTO bad FROM unnest(tenants) AS u(id) GROUP BY u.id HAVING count(*) > 1 LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" lists tenant "%s" more than once', name, bad);
        END IF;
    ELSIF method = 'percentage' THEN
        IF percent IS NULL OR percent <= 0 OR percent > 100 THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('percentage %s of stage "%s" is outside (0, 100]', coalesce(percent::text, 'NULL'), name);
        END IF;
        IF percent <> round(percent, 4) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('percentage %s of stage "%s" has more than 4 decimals', percent, name);
        END IF;
        IF weight_by IS NOT NULL AND (weight_by !~ '^[A-Za-z_][A-Za-z0-9_.-]*$' OR length(weight_by) > @PGR_NAME_MAX_LEN@) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('invalid weight attribute "%s" for stage "%s"', weight_by, name);
        END IF;
        IF tenants IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects by percentage: a tenant list does not apply', name);
        END IF;
        -- the percentage stages of a rollout share one order (4_selection.sql)
        -- (all weighted stages share one attribute: the latest one tells it)
        SELECT x.* INTO prev FROM rollout.rollout_stage x
         WHERE x.rollout_id = r.rollout_id AND x.weight_by IS NOT NULL AND add_stage.weight_by IS NOT NULL
         ORDER BY x.stage_no DESC LIMIT 1;
        IF FOUND AND prev.weight_by IS DISTINCT FROM weight_by THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" is weighted by "%s" but stage "%s" by "%s"', name, weight_by,
                                 prev.name, prev.weight_by),
                DETAIL = 'The percentage stages of a rollout draw from one order of its tenants: weight them by one attribute.';
        END IF;
        -- (percentages never shrink: the latest percentage stage has the largest)
        SELECT x.* INTO prev FROM rollout.rollout_stage x
         WHERE x.rollout_id = r.rollout_id AND x.method = 'percentage'
         ORDER BY x.stage_no DESC LIMIT 1;
        IF FOUND AND prev.percent > percent THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects %s %% but earlier stage "%s" already selects %s %%',
                                 name, percent::float8, prev.name, prev.percent::float8),
                DETAIL = 'Stages never shrink: each percentage is at least the previous one.';
        END IF;
    ELSE
        IF tenants IS NOT NULL OR percent IS NOT NULL OR weight_by IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects all tenants: tenants, percent and weight_by do not apply', name);
        END IF;
    END IF;
    IF min_duration IS NULL OR min_duration < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('minimum duration of stage "%s" must be zero or positive', name);
    END IF;
    IF max_new_failures < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('max_new_failures of stage "%s" must be zero or positive', name);
    END IF;
    IF metric_bounds IS NOT NULL THEN
        IF jsonb_typeof(metric_bounds) <> 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('metric bounds of stage "%s" must be a JSON object of numbers', name);
        END IF;
        FOR k IN SELECT e.key FROM jsonb_each(metric_bounds) e
                  WHERE jsonb_typeof(e.value) <> 'number' OR e.key !~ '^[a-z][a-z0-9_.]*$' LOOP
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('invalid metric bound "%s" in stage "%s"', k, name),
                DETAIL = 'A bound maps a metric name (lower case, digits, "_" and ".") to a number.';
        END LOOP;
    END IF;
    INSERT INTO rollout.rollout_stage (rollout_id, stage_no, name, description, method, tenants, percent, weight_by,
                                       min_duration, max_new_failures, max_failure_rate_increase, metric_bounds,
                                       auto_proceed, pass_without_metrics)
    VALUES (r.rollout_id,
            coalesce((SELECT max(x.stage_no) FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id), 0) + 1,
            name, description, method, tenants, percent, weight_by, min_duration, max_new_failures,
            max_failure_rate_increase, coalesce(metric_bounds, '{}'), coalesce(auto_proceed, false),
            coalesce(pass_without_metrics, false))
    RETURNING * INTO s;
    PERFORM rollout._audit('rollout.stage_added', NULL, 'rollout', r.rollout_id, NULL,
                           to_jsonb(s) - 'status' - 'activated' - 'started_at' - 'due_at' - 'completed_at' - 'last_evaluation');
    RETURN s;
END
$$;
COMMENT ON FUNCTION rollout.add_stage(text, text, text, text[], numeric, text, interval, numeric, numeric, jsonb, boolean, text, boolean) IS
    'append a stage to a draft (or approved: voids the approval) rollout: an explicit tenant list, a percentage (optionally weighted by a tenant attribute) or all';

-- What lets a stage pass when it is due, decided in one place: success
-- criteria; else armed rollback triggers (they need fresh samples to be able
-- to fire); else pass_without_metrics (time alone); else any fresh sample.
CREATE FUNCTION rollout._stage_gate(s rollout.rollout_stage)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- PL/pgSQL, not SQL: planned once per session (tick() evaluates every
    -- due stage).  A stage with criteria is decided without a query.
    IF s.max_new_failures IS NOT NULL OR s.max_failure_rate_increase IS NOT NULL
       OR s.metric_bounds OPERATOR(pg_catalog.<>) '{}'::jsonb THEN
        RETURN 'criteria';
    END IF;
    RETURN CASE
        WHEN EXISTS (SELECT 1 FROM rollout.rollout_trigger t
                      WHERE t.rollout_id OPERATOR(pg_catalog.=) s.rollout_id) THEN 'triggers'
        WHEN s.pass_without_metrics THEN 'time'
        ELSE 'samples' END;
END
$$;
COMMENT ON FUNCTION rollout._stage_gate(rollout.rollout_stage) IS
    'internal: what a due stage needs to pass: criteria (met), triggers (a fresh sample, no breach), time (nothing) or samples (a fresh sample)';

-- Evaluate the success criteria of a stage:
-- pass, fail, no_data (no sample at all) or inconclusive (a needed metric
-- or the baseline is missing).
CREATE FUNCTION rollout.drop_stage(rollout_id text, name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_edit(rollout_id, format('stage "%s" dropped', name));
    s rollout.rollout_stage;
    k integer;
BEGIN
    DELETE FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id AND x.name = drop_stage.name RETURNING * INTO s;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('stage "%s" of rollout "%s" does not exist', name, r.rollout_id);
    END IF;
    -- Keep the numbering dense: 1, 2, 3, ... (in order: each slot is free)
    FOR k IN SELECT x.stage_no FROM rollout.rollout_stage x
              WHERE x.rollout_id = r.rollout_id AND x.stage_no > s.stage_no ORDER BY x.stage_no LOOP
        UPDATE rollout.rollout_stage x SET stage_no = k - 1 WHERE x.rollout_id = r.rollout_id AND x.stage_no = k;
    END LOOP;
    PERFORM rollout._audit('rollout.stage_dropped', NULL, 'rollout', r.rollout_id, NULL,
                           jsonb_build_object('stage', s.name, 'stage_no', s.stage_no));
END
$$;
COMMENT ON FUNCTION rollout.drop_stage(text, text) IS 'remove a stage from a draft (or approved: voids the approval) rollout';

CREATE FUNCTION rollout.add_trigger(rollout_id text, metric text, threshold numeric)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_edit(rollout_id, format('trigger on "%s" added', metric));
BEGIN
    IF metric IS NULL OR metric !~ '^[a-z][a-z0-9_.]*$' OR length(metric) > @PGR_NAME_MAX_LEN@ THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid trigger metric "%s"', metric),
            DETAIL = 'A metric name is lower-case letters, digits, "_" and ".", starting with a letter.';
    END IF;
    IF threshold IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('threshold of trigger "%s" must not be null', metric);
    END IF;
    INSERT INTO rollout.rollout_trigger (rollout_id, metric, threshold) VALUES (r.rollout_id, metric, threshold)
    ON CONFLICT ON CONSTRAINT rollout_trigger_pkey DO UPDATE SET threshold = excluded.threshold;
    PERFORM rollout._audit('rollout.trigger_set', NULL, 'rollout', r.rollout_id, NULL,
                           jsonb_build_object('metric', metric, 'threshold', threshold));
END
$$;
COMMENT ON FUNCTION rollout.add_trigger(text, text, numeric) IS
    'add (or change) a rollback trigger: the metric above the threshold in the current stage rolls back (or fails) the rollout';

CREATE FUNCTION rollout.add_canary_stages(rollout_id text, initial_percent numeric, increment numeric,
                                          increment_interval interval, metric_bounds jsonb DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p numeric := initial_percent;
    n integer := 0;
BEGIN
    IF initial_percent IS NULL OR initial_percent <= 0 OR initial_percent > 100 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('initial percentage %s is outside (0, 100]', coalesce(initial_percent::text, 'NULL'));
    END IF;
    IF increment IS NULL OR increment <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('increment %s must be positive', coalesce(increment::text, 'NULL'));
    END IF;
    IF increment_interval IS NULL OR increment_interval < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'increment interval must be zero or positive';
    END IF;
    IF ceil((100 - initial_percent) / increment) + 1 > 100 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('canary increments of %s %% from %s %% would make %s stages', trim_scale(increment),
                             trim_scale(initial_percent), ceil((100 - initial_percent) / increment) + 1),
            DETAIL = 'A canary rollout has at most 100 stages.';
    END IF;
    LOOP
        n := n + 1;
        PERFORM rollout.add_stage(rollout_id, format('canary-%s', trim_scale(p)), 'percentage',
                                  percent => p, min_duration => increment_interval,
                                  metric_bounds => metric_bounds, auto_proceed => true);
        EXIT WHEN p >= 100;
        p := least(p + increment, 100);
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout.add_canary_stages(text, numeric, numeric, interval, jsonb) IS
    'canary strategy: generate auto-proceeding percentage stages initial, initial + increment, ... up to 100 %, each monitored for the interval';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._stage_gate(rollout.rollout_stage),
    rollout._rollout_for_update(text),
    rollout._require_rollout_status(rollout.rollout, text[], text),
    rollout._rollout_for_action(text, text[], text, text, boolean),
    rollout._rollout_edit(text, text),
    rollout._require_version(text, rollout.semver, text),
    rollout.create_rollout(text, text, rollout.semver, rollout.semver, text, text, text, text, boolean, boolean, text, interval, interval, text, bytea),
    rollout.add_stage(text, text, text, text[], numeric, text, interval, numeric, numeric, jsonb, boolean, text, boolean),
    rollout.drop_stage(text, text),
    rollout.add_trigger(text, text, numeric),
    rollout.add_canary_stages(text, numeric, numeric, interval, jsonb)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.create_rollout(text, text, rollout.semver, rollout.semver, text, text, text, text, boolean, boolean, text, interval, interval, text, bytea),
    rollout.add_stage(text, text, text, text[], numeric, text, interval, numeric, numeric, jsonb, boolean, text, boolean),
    rollout.drop_stage(text, text),
    rollout.add_trigger(text, text, numeric),
    rollout.add_canary_stages(text, numeric, numeric, interval, jsonb)
TO rollout_operator;
-- Called with the caller's rights by stage_status, preview_summary and evaluate_stage.
GRANT EXECUTE ON FUNCTION rollout._stage_gate(rollout.rollout_stage) TO rollout_viewer;
