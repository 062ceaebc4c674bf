-- ---------------------------------------------------------------------
-- Lifecycle
-- ---------------------------------------------------------------------

-- The login a rollout was created from (the audit log's db_user of its
-- rollout.created row): with its created_by, what rollout._is_author
-- compares an approver with.  NULL when the row is gone.
CREATE FUNCTION rollout._rollout_author_login(rollout_id text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.db_user FROM rollout.audit_log a
     WHERE a.subject_kind OPERATOR(pg_catalog.=) 'rollout'
       AND a.subject_id OPERATOR(pg_catalog.=) _rollout_author_login.rollout_id
       AND a.action OPERATOR(pg_catalog.=) 'rollout.created'
     ORDER BY a.seq DESC LIMIT 1
$$;
COMMENT ON FUNCTION rollout._rollout_author_login(text) IS
    'internal: the login (session user) that created a rollout, from its rollout.created audit row';

CREATE FUNCTION rollout.approve_rollout(rollout_id text, note text DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_action(rollout_id, ARRAY['draft'], 'approve');
    who text := rollout._actor();
    author_login text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rollout.rollout_stage s WHERE s.rollout_id = r.rollout_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot approve rollout "%s": it has no stages', r.rollout_id),
            HINT = 'Add stages with rollout.add_stage().';
    END IF;
    -- the author is the actor that created the rollout and the login it did
    -- so from (the audit log's db_user): pg_rollout.actor alone is whatever
    -- the session says
    author_login := rollout._rollout_author_login(r.rollout_id);
    IF rollout._is_author(r.created_by, author_login) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('rollout "%s" cannot be approved by its author "%s"', r.rollout_id,
                             CASE WHEN who = r.created_by THEN who ELSE session_user END),
            DETAIL = format('A rollout must be approved by someone other than the person who created it ("%s", from login "%s"); pg_rollout.actor does not change who approves.',
                            r.created_by, author_login);
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
COMMENT ON FUNCTION rollout.approve_rollout(text, text) IS
    'approve a draft rollout; the approver must not be its author: neither the same pg_rollout.actor nor, unless a superuser, the same login';

CREATE FUNCTION rollout.start_rollout(rollout_id text, reason text DEFAULT NULL)
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
        -- start_no orders the component's rollouts: a later one's
        -- activations supersede the earlier ones' (see resolution).
        UPDATE rollout.rollout x SET status = 'running', started_at = now(), status_reason = reason, updated_at = now(),
               start_no = coalesce((SELECT max(y.start_no) FROM rollout.rollout y WHERE y.component_id = r.component_id), 0) + 1
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
COMMENT ON FUNCTION rollout.start_rollout(text, text) IS 'start an approved rollout: activate its first stage';

CREATE FUNCTION rollout.advance_rollout(rollout_id text, reason text DEFAULT NULL)
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
COMMENT ON FUNCTION rollout.advance_rollout(text, text) IS
    'complete the current stage now and start the next one (or complete the rollout), whatever its duration and criteria';

CREATE FUNCTION rollout.pause_rollout(rollout_id text, reason text)
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
COMMENT ON FUNCTION rollout.pause_rollout(text, text) IS 'pause a running rollout: tick() leaves it alone until resumed';

CREATE FUNCTION rollout.resume_rollout(rollout_id text, reason text DEFAULT NULL)
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
COMMENT ON FUNCTION rollout.resume_rollout(text, text) IS 'resume a paused rollout';

CREATE FUNCTION rollout.retry_rollout(rollout_id text, reason text)
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
COMMENT ON FUNCTION rollout.retry_rollout(text, text) IS
    'retry a failed rollout: its current stage is monitored afresh (its tenants stay activated)';

CREATE FUNCTION rollout.rollback_rollout(rollout_id text, reason text, back_to_stage integer DEFAULT 0)
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
COMMENT ON FUNCTION rollout.rollback_rollout(text, text, integer) IS
    'roll a rollout back: whole (back_to_stage 0, status rolled_back) or the stages after back_to_stage (status paused); returns the tenants restored';

CREATE FUNCTION rollout.cancel_rollout(rollout_id text, reason text)
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
COMMENT ON FUNCTION rollout.cancel_rollout(text, text) IS
    'cancel a rollout; tenants it activated go back to what they ran before';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._rollout_author_login(text),
    rollout.approve_rollout(text, text),
    rollout.start_rollout(text, text),
    rollout.advance_rollout(text, text),
    rollout.pause_rollout(text, text),
    rollout.resume_rollout(text, text),
    rollout.retry_rollout(text, text),
    rollout.rollback_rollout(text, text, integer),
    rollout.cancel_rollout(text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.approve_rollout(text, text)
TO rollout_admin;
GRANT EXECUTE ON FUNCTION
    rollout.start_rollout(text, text),
    rollout.advance_rollout(text, text),
    rollout.pause_rollout(text, text),
    rollout.resume_rollout(text, text),
    rollout.retry_rollout(text, text),
    rollout.rollback_rollout(text, text, integer),
    rollout.cancel_rollout(text, text)
TO rollout_operator;
