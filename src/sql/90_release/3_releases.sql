-- Releases: create, classify, manifest, recorded checks, exposure plan,
-- kill-switch tests and approvals.  Every change of the manifest, class or
-- exposure plan bumps the release's revision, which voids its approvals.

CREATE FUNCTION rollout._release_for_update(release_id text)
RETURNS rollout.release
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r rollout.release;
BEGIN
    SELECT * INTO r FROM rollout.release x WHERE x.release_id OPERATOR(pg_catalog.=) _release_for_update.release_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('release "%s" does not exist', _release_for_update.release_id);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout._release_for_update(text) IS 'internal: lock a release row or raise undefined_object';

CREATE FUNCTION rollout._release_require_class(class text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF class IS NOT NULL AND class NOT IN ('ui_only', 'workflow', 'capability', 'mechanism') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid release class "%s"', class),
            DETAIL = 'A release class is one of ui_only, workflow, capability, mechanism (seed 004 §3).';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._release_require_class(text) IS 'internal: validate a release class (NULL = unclassified)';

CREATE FUNCTION rollout._release_require_manifest(manifest jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
BEGIN
    IF manifest IS NULL OR pg_catalog.jsonb_typeof(manifest) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'a release manifest must be a JSON object',
            DETAIL = 'Keys: description, files_changed, data_changes, kill_switch, auto_kill_on_sev1, rollback_plan.';
    END IF;
    FOR k IN SELECT pg_catalog.jsonb_object_keys(manifest) LOOP
        IF k NOT IN ('description', 'files_changed', 'data_changes', 'kill_switch', 'auto_kill_on_sev1', 'rollback_plan') THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('unknown release manifest key "%s"', k),
                DETAIL = 'Keys: description, files_changed, data_changes, kill_switch, auto_kill_on_sev1, rollback_plan.';
        END IF;
    END LOOP;
    IF manifest ? 'kill_switch' AND pg_catalog.jsonb_typeof(manifest->'kill_switch') <> 'string' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'manifest key "kill_switch" must be a flag id (a string)';
    END IF;
    IF manifest ? 'auto_kill_on_sev1' AND pg_catalog.jsonb_typeof(manifest->'auto_kill_on_sev1') <> 'boolean' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'manifest key "auto_kill_on_sev1" must be true or false';
    END IF;
    IF manifest ? 'rollback_plan' THEN
        IF pg_catalog.jsonb_typeof(manifest->'rollback_plan') <> 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = 'manifest key "rollback_plan" must be a JSON object',
                DETAIL = 'Keys: trigger, procedure, verification, data_recovery, communication, owner.';
        END IF;
        FOR k IN SELECT pg_catalog.jsonb_object_keys(manifest->'rollback_plan') LOOP
            IF k NOT IN ('trigger', 'procedure', 'verification', 'data_recovery', 'communication', 'owner') THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = format('unknown rollback plan key "%s"', k),
                    DETAIL = 'Keys: trigger, procedure, verification, data_recovery, communication, owner.';
            END IF;
            -- text or a list of texts: a number or an object is not a plan (hs.rollback_path would count it)
            IF NOT (pg_catalog.jsonb_typeof(manifest->'rollback_plan'->k) IN ('string', 'null')
                    OR (pg_catalog.jsonb_typeof(manifest->'rollback_plan'->k) = 'array'
                        AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(manifest->'rollback_plan'->k) x
                                         WHERE pg_catalog.jsonb_typeof(x) <> 'string'))) THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = format('rollback plan key "%s" must be a text or an array of texts, not %s', k,
                                     manifest->'rollback_plan'->k);
            END IF;
        END LOOP;
    END IF;
    FOREACH k IN ARRAY ARRAY['description', 'data_changes'] LOOP
        IF manifest ? k AND pg_catalog.jsonb_typeof(manifest->k) NOT IN ('string', 'null') THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('manifest key "%s" must be a text, not %s', k, manifest->k);
        END IF;
    END LOOP;
    IF manifest ? 'files_changed'
       AND NOT (pg_catalog.jsonb_typeof(manifest->'files_changed') = 'array'
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(manifest->'files_changed') x
                                 WHERE pg_catalog.jsonb_typeof(x) <> 'string')) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('manifest key "files_changed" must be an array of file names, not %s', manifest->'files_changed');
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._release_require_manifest(jsonb) IS 'internal: validate the shape of a release manifest';

CREATE FUNCTION rollout.create_release(release_id text, component_id text, version rollout.semver,
                                       manifest jsonb DEFAULT '{}', class text DEFAULT NULL, reason text DEFAULT NULL)
RETURNS rollout.release
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release;
    at timestamptz := rollout._release_now();
BEGIN
    PERFORM rollout._require_slug('release id', release_id);
    PERFORM rollout._component_for_update(component_id);
    PERFORM rollout._require_version(component_id, version, 'version');
    PERFORM rollout._release_require_manifest(manifest);
    PERFORM rollout._release_require_class(class);
    IF EXISTS (SELECT 1 FROM rollout.release x WHERE x.release_id OPERATOR(pg_catalog.=) create_release.release_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object', MESSAGE = format('release "%s" already exists', release_id);
    END IF;
    IF EXISTS (SELECT 1 FROM rollout.release x WHERE x.component_id OPERATOR(pg_catalog.=) create_release.component_id
                                               AND x.version OPERATOR(rollout.=) create_release.version) THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('version %s of component "%s" already has a release', version, component_id);
    END IF;
    INSERT INTO rollout.release AS x (release_id, component_id, version, class, manifest, created_by, created_at, updated_at,
                                      revised_by)
    VALUES (release_id, component_id, version, class, manifest, session_user, at, at, session_user)
    RETURNING * INTO r;
    PERFORM rollout._audit('release.created', NULL, 'release', r.release_id, reason,
                           pg_catalog.jsonb_build_object('component', component_id, 'version', version::text,
                                                         'class', class, 'manifest', manifest));
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.create_release(text, text, rollout.semver, jsonb, text, text) IS
    'create a release of a component version with its manifest and (optionally) its class; the component becomes governed: its channels change only through rollout.promote(); admin only (like set_channel_release); audited';

CREATE FUNCTION rollout.classify_release(release_id text, class text, reason text)
RETURNS rollout.release
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release := rollout._release_for_update(release_id);
    entered text;
BEGIN
    PERFORM rollout._require_reason(reason, 'classify a release');
    PERFORM rollout._release_require_class(class);
    IF class IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'release class must not be null';
    END IF;
    SELECT rc.channel_id INTO entered FROM rollout.release_channel rc
     WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id LIMIT 1;
    IF FOUND AND r.class IS DISTINCT FROM class THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('class of release "%s" cannot change once promotion has begun', r.release_id),
            DETAIL = format('The release is classified %s and has entered channel "%s" (seed 004 §3: classification cannot be changed after promotion begins).',
                            r.class, entered),
            HINT = 'Create a new release for the re-classified change.';
    END IF;
    IF r.class IS NOT DISTINCT FROM class THEN
        RETURN r;
    END IF;
    UPDATE rollout.release x SET class = classify_release.class, revision = x.revision + 1, updated_at = rollout._release_now(),
                                 revised_by = session_user
     WHERE x.release_id OPERATOR(pg_catalog.=) r.release_id RETURNING * INTO r;
    PERFORM rollout._audit('release.classified', NULL, 'release', r.release_id, reason,
                           pg_catalog.jsonb_build_object('class', class, 'revision', r.revision));
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.classify_release(text, text, text) IS
    'set the class of a release (ui_only, workflow, capability, mechanism); refused once the release has entered a channel; voids earlier approvals; audited';

CREATE FUNCTION rollout.update_release_manifest(release_id text, manifest jsonb, reason text)
RETURNS rollout.release
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release := rollout._release_for_update(release_id);
    old jsonb := r.manifest;
BEGIN
    PERFORM rollout._require_reason(reason, 'change a release manifest');
    PERFORM rollout._release_require_manifest(manifest);
    IF r.status OPERATOR(pg_catalog.=) 'rolled_back' THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('release "%s" was rolled back', r.release_id);
    END IF;
    IF old OPERATOR(pg_catalog.=) manifest THEN
        RETURN r;
    END IF;
    UPDATE rollout.release x SET manifest = update_release_manifest.manifest, revision = x.revision + 1,
                                 updated_at = rollout._release_now(), revised_by = session_user
     WHERE x.release_id OPERATOR(pg_catalog.=) r.release_id RETURNING * INTO r;
    PERFORM rollout._audit('release.manifest_changed', NULL, 'release', r.release_id, reason,
                           pg_catalog.jsonb_build_object('before', old, 'after', manifest, 'revision', r.revision));
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.update_release_manifest(text, jsonb, text) IS
    'replace a release''s manifest; bumps its revision, which voids its approvals and makes earlier memos stale; audited';

CREATE FUNCTION rollout.record_check(release_id text, check_id text, passed boolean, evidence text)
RETURNS rollout.release_check
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release := rollout._release_for_update(release_id);
    cat record;
    c rollout.release_check;
BEGIN
    SELECT * INTO cat FROM rollout.release_check_catalog() k WHERE k.check_id OPERATOR(pg_catalog.=) record_check.check_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('release check "%s" does not exist', check_id),
            HINT = 'rollout.release_check_catalog() lists the checks.';
    END IF;
    IF cat.derived THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('release check "%s" is derived from the database and cannot be recorded', check_id),
            DETAIL = format('It checks: %s.', cat.description);
    END IF;
    IF passed IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'passed must not be null';
    END IF;
    PERFORM rollout._require_reason(evidence, 'record a release check (evidence)');
    INSERT INTO rollout.release_check AS x (release_id, check_id, passed, evidence, checked_by, checked_at)
    VALUES (r.release_id, check_id, passed, evidence, session_user, rollout._release_now())
    ON CONFLICT ON CONSTRAINT release_check_pkey DO UPDATE
       SET passed = excluded.passed, evidence = excluded.evidence, checked_by = excluded.checked_by, checked_at = excluded.checked_at
    RETURNING * INTO c;
    PERFORM rollout._audit('release.check_recorded', NULL, 'release', r.release_id, evidence,
                           pg_catalog.jsonb_build_object('check', check_id, 'passed', passed));
    RETURN c;
END
$$;
COMMENT ON FUNCTION rollout.record_check(text, text, boolean, text) IS
    'record the result of a checklist item of a release (hard stop, data safety, observability, ...) with its evidence; audited';

CREATE FUNCTION rollout.set_exposure_plan(release_id text, tenants text[], opt_in_method text, min_duration interval,
                                          exit_criteria text[], owner text, max_duration interval DEFAULT NULL)
RETURNS rollout.release_exposure_plan
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release := rollout._release_for_update(release_id);
    p rollout.release_exposure_plan;
    t text;
BEGIN
    IF tenants IS NULL OR pg_catalog.cardinality(tenants) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'an exposure plan names at least one tenant';
    END IF;
    FOREACH t IN ARRAY tenants LOOP
        PERFORM rollout._tenant_for_update(t);
    END LOOP;
    PERFORM rollout._require_reason(opt_in_method, 'record an exposure plan (opt-in method)');
    PERFORM rollout._require_reason(owner, 'record an exposure plan (owner)');
    IF min_duration IS NULL OR min_duration <= interval '0' OR max_duration < min_duration THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid exposure duration: minimum %s, maximum %s',
                             coalesce(min_duration::text, 'NULL'), coalesce(max_duration::text, 'none')),
            DETAIL = 'The minimum is a positive interval; the maximum, if given, is not below it.';
    END IF;
    IF exit_criteria IS NULL OR pg_catalog.cardinality(exit_criteria) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'an exposure plan names at least one exit criterion';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(exit_criteria) c WHERE c IS NULL OR btrim(c) = '') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('an exit criterion of the exposure plan of release "%s" is empty', r.release_id);
    END IF;
    SELECT x.t INTO t FROM unnest(tenants) x(t) GROUP BY x.t HAVING count(*) > 1 ORDER BY x.t LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('tenant "%s" is named twice in the exposure plan of release "%s"', t, r.release_id);
    END IF;
    INSERT INTO rollout.release_exposure_plan AS x (release_id, tenants, opt_in_method, min_duration, max_duration,
                                                    exit_criteria, owner, recorded_by, recorded_at)
    VALUES (r.release_id, tenants, opt_in_method, min_duration, max_duration, exit_criteria, owner, session_user,
            rollout._release_now())
    ON CONFLICT ON CONSTRAINT release_exposure_plan_pkey DO UPDATE
       SET tenants = excluded.tenants, opt_in_method = excluded.opt_in_method, min_duration = excluded.min_duration,
           max_duration = excluded.max_duration, exit_criteria = excluded.exit_criteria, owner = excluded.owner,
           recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at
    RETURNING * INTO p;
    UPDATE rollout.release x SET revision = x.revision + 1, updated_at = rollout._release_now(), revised_by = session_user
     WHERE x.release_id OPERATOR(pg_catalog.=) r.release_id;
    PERFORM rollout._audit('release.exposure_plan_set', NULL, 'release', r.release_id, NULL, pg_catalog.to_jsonb(p));
    RETURN p;
END
$$;
COMMENT ON FUNCTION rollout.set_exposure_plan(text, text[], text, interval, text[], text, interval) IS
    'record the tenant exposure plan of a release for the experimental channel (seed 004 §5); approved with the transition into experimental; bumps the revision; audited';

CREATE FUNCTION rollout.record_kill_switch_test(release_id text, passed boolean, evidence text)
RETURNS rollout.release_kill_switch_test
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release := rollout._release_for_update(release_id);
    flag text := r.manifest->>'kill_switch';
    first_channel text;
    t rollout.release_kill_switch_test;
BEGIN
    IF flag IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('release "%s" has no kill switch in its manifest', r.release_id),
            HINT = 'Name the flag in the manifest key "kill_switch" (rollout.update_release_manifest).';
    END IF;
    PERFORM rollout._flag_for_update(flag);
    SELECT c.channel_id INTO first_channel FROM rollout._release_channels() c WHERE c.pos = 1;
    IF NOT EXISTS (SELECT 1 FROM rollout.release_channel rc
                    WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id AND rc.channel_id OPERATOR(pg_catalog.=) first_channel)
       OR EXISTS (SELECT 1 FROM rollout.release_channel rc
                   WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id AND rc.channel_id OPERATOR(pg_catalog.<>) first_channel) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('kill switch of release "%s" is tested in channel "%s", where the release is not', r.release_id, first_channel),
            DETAIL = 'Seed 004 §7: the kill switch is tested in dev, before experimental.';
    END IF;
    IF passed IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'passed must not be null';
    END IF;
    PERFORM rollout._require_reason(evidence, 'record a kill-switch test (evidence)');
    INSERT INTO rollout.release_kill_switch_test AS x (release_id, flag_id, channel_id, passed, evidence, tested_by, tested_at)
    VALUES (r.release_id, flag, first_channel, passed, evidence, session_user, rollout._release_now())
    RETURNING * INTO t;
    PERFORM rollout._audit('release.kill_switch_tested', NULL, 'release', r.release_id, evidence,
                           pg_catalog.jsonb_build_object('flag', flag, 'passed', passed, 'test', t.test_id));
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout.record_kill_switch_test(text, boolean, text) IS
    'record a test of the release''s kill switch (the manifest''s flag) while the release is in the first channel (dev); audited';

CREATE FUNCTION rollout.approve_release(release_id text, to_channel text, role text, note text DEFAULT NULL)
RETURNS rollout.release_approval
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release := rollout._release_for_update(release_id);
    me text := session_user;
    ch record;
    cur_pos integer;
    needed text[];
    other text;
    a rollout.release_approval;
BEGIN
    IF role IS NULL OR role NOT IN ('dev_lead', 'qa', 'system_owner') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid approver role "%s"', role),
            DETAIL = 'An approver role is dev_lead, qa or system_owner (PostgreSQL roles rollout_release_<role>).';
    END IF;
    IF NOT pg_catalog.pg_has_role(me, 'rollout_release_' OPERATOR(pg_catalog.||) role, 'MEMBER') THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('approval refused: "%s" is not a member of rollout_release_%s', me, role),
            DETAIL = 'An approval is given in the name of a role by a login that belongs to it.';
    END IF;
    SELECT * INTO ch FROM rollout._release_channels() c WHERE c.channel_id OPERATOR(pg_catalog.=) to_channel;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('channel "%s" does not exist', to_channel);
    END IF;
    SELECT coalesce(max(c.pos), 0) INTO cur_pos
      FROM rollout.release_channel rc JOIN rollout._release_channels() c ON c.channel_id OPERATOR(pg_catalog.=) rc.channel_id
     WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id;
    IF ch.pos <= cur_pos THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('release "%s" has already entered channel "%s"', r.release_id, to_channel);
    END IF;
    needed := rollout._release_required_roles(r.class, ch.pos, ch.n);
    IF r.class IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('release "%s" is unclassified: there is nothing to approve', r.release_id),
            DETAIL = 'The approvers of a transition depend on the class (seed 004 §3).';
    END IF;
    IF NOT role = ANY (needed) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('role %s does not approve the transition of release "%s" into channel "%s"', role, r.release_id, to_channel),
            DETAIL = format('Class %s into "%s" needs: %s.', r.class, to_channel,
                            coalesce(nullif(pg_catalog.array_to_string(needed, ', '), ''), 'no approval'));
    END IF;
    IF me OPERATOR(pg_catalog.=) r.created_by THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('self-approval refused: "%s" created release "%s"', me, r.release_id),
            DETAIL = 'The author of a release may not approve any of its transitions.';
    END IF;
    IF me OPERATOR(pg_catalog.=) r.revised_by THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('self-approval refused: "%s" made revision %s of release "%s"', me, r.revision, r.release_id),
            DETAIL = 'The login that last changed a release''s class, manifest or exposure plan may not approve that revision.',
            HINT = 'Another member of the role approves it, or another login makes the next revision.';
    END IF;
    SELECT x.role INTO other FROM rollout.release_approval x
     WHERE x.release_id OPERATOR(pg_catalog.=) r.release_id AND x.to_channel OPERATOR(pg_catalog.=) to_channel
       AND x.revision = r.revision AND x.approver OPERATOR(pg_catalog.=) me AND x.role OPERATOR(pg_catalog.<>) role
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('approval refused: "%s" already approved this transition as %s', me, other),
            DETAIL = 'Each role of a transition is approved by a different person.';
    END IF;
    IF EXISTS (SELECT 1 FROM rollout.release_approval x
                WHERE x.release_id OPERATOR(pg_catalog.=) r.release_id AND x.to_channel OPERATOR(pg_catalog.=) to_channel
                  AND x.revision = r.revision AND x.role OPERATOR(pg_catalog.=) role) THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('role %s has already approved release "%s" into channel "%s" at revision %s', role, r.release_id,
                             to_channel, r.revision);
    END IF;
    BEGIN
        INSERT INTO rollout.release_approval AS x (release_id, to_channel, role, approver, revision, note, approved_at)
        VALUES (r.release_id, to_channel, role, me, r.revision, note, rollout._release_now())
        RETURNING * INTO a;
    EXCEPTION WHEN unique_violation THEN
        -- a concurrent approval committed after this transaction's snapshot
        -- (REPEATABLE READ, SERIALIZABLE): the same refusals as above
        GET STACKED DIAGNOSTICS other = CONSTRAINT_NAME;
        IF other OPERATOR(pg_catalog.=) 'release_approval_approver_key' THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = format('approval refused: "%s" already approved this transition', me),
                DETAIL = 'Each role of a transition is approved by a different person (a concurrent approval by the same login committed first).';
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('role %s has already approved release "%s" into channel "%s" at revision %s', role, r.release_id,
                             to_channel, r.revision),
            DETAIL = 'A concurrent approval committed first.';
    END;
    PERFORM rollout._audit('release.approved', NULL, 'release', r.release_id, note,
                           pg_catalog.jsonb_build_object('to_channel', to_channel, 'role', role, 'approver', me,
                                                         'revision', r.revision, 'approval', a.approval_id));
    RETURN a;
END
$$;
COMMENT ON FUNCTION rollout.approve_release(text, text, text, text) IS
    'approve a release''s entry into a channel in the name of a role (dev_lead, qa, system_owner) the login belongs to; not by the release''s author nor by the login that made the revision approved, one role per person per transition; void once the revision changes; audited';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._release_for_update(text),
    rollout._release_require_class(text),
    rollout._release_require_manifest(jsonb),
    rollout.create_release(text, text, rollout.semver, jsonb, text, text),
    rollout.classify_release(text, text, text),
    rollout.update_release_manifest(text, jsonb, text),
    rollout.record_check(text, text, boolean, text),
    rollout.set_exposure_plan(text, text[], text, interval, text[], text, interval),
    rollout.record_kill_switch_test(text, boolean, text),
    rollout.approve_release(text, text, text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.create_release(text, text, rollout.semver, jsonb, text, text)
TO rollout_admin;
GRANT EXECUTE ON FUNCTION
    rollout.classify_release(text, text, text),
    rollout.update_release_manifest(text, jsonb, text),
    rollout.record_check(text, text, boolean, text),
    rollout.set_exposure_plan(text, text[], text, interval, text[], text, interval),
    rollout.record_kill_switch_test(text, boolean, text)
TO rollout_operator;
GRANT EXECUTE ON FUNCTION
    rollout.approve_release(text, text, text, text)
TO rollout_release_dev_lead, rollout_release_qa, rollout_release_system_owner;
