-- The scheduler: one step for one rollout, and tick() for pg_cron.

-- One step of the scheduler for one (locked, running) rollout.
CREATE FUNCTION rollout._tick_one(r rollout.rollout)
RETURNS TABLE (rollout_id text, action text, detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    s rollout.rollout_stage;
    breach jsonb;
    ev jsonb;
    why text;
    act record;
BEGIN
    rollout_id := r.rollout_id;
    -- Rollback triggers first: a breach beats everything.
    breach := rollout.breached_trigger(r.rollout_id);
    IF breach IS NOT NULL THEN
        why := format('%s exceeded %s threshold (%s)', breach ->> 'metric', breach ->> 'threshold',
                      round((breach ->> 'value')::numeric, 6));
        IF r.rollback_automatic THEN
            PERFORM rollout._roll_back(r.rollout_id, 0, 'rolled_back', why);
            action := 'rolled_back';
        ELSE
            UPDATE rollout.rollout x SET status = 'failed', status_reason = why, next_due_at = NULL, updated_at = now()
             WHERE x.rollout_id = r.rollout_id;
            UPDATE rollout.rollout_stage x SET status = 'failed'
             WHERE x.rollout_id = r.rollout_id AND x.stage_no = r.current_stage;
            PERFORM rollout._event('rollout.failed', r.rollout_id, why, jsonb_build_object('trigger', breach));
            action := 'failed';
        END IF;
        detail := why;
        RETURN NEXT;
        RETURN;
    END IF;

    -- Tenants deferred by a blackout that has ended.
    IF EXISTS (SELECT 1 FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id) THEN
        act := rollout._activate_through(r.rollout_id, r.current_stage);
        IF act.activated > 0 THEN
            PERFORM rollout._event('rollout.deferred_activated', r.rollout_id, 'blackout ended',
                                   jsonb_build_object('stage_no', r.current_stage, 'tenants_activated', act.activated,
                                                      'tenants_still_deferred', act.deferred));
            action := 'activated_deferred';
            detail := format('%s tenants activated, %s still deferred', act.activated, act.deferred);
            RETURN NEXT;
        END IF;
    END IF;

    SELECT * INTO s FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id AND x.stage_no = r.current_stage;
    -- The last stage passed while tenants were deferred: complete once the
    -- last of them is activated.
    IF s.status = 'completed' THEN
        IF NOT EXISTS (SELECT 1 FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id) THEN
            PERFORM rollout._complete_rollout(r.rollout_id, 'every deferred tenant activated');
            action := 'completed';
            detail := 'every deferred tenant activated';
            RETURN NEXT;
        END IF;
        PERFORM rollout._reschedule(r.rollout_id);
        RETURN;
    END IF;
    IF s.status = 'monitoring' AND now() >= s.due_at THEN
        ev := rollout.evaluate_stage(r.rollout_id, s.stage_no);
        UPDATE rollout.rollout_stage x SET last_evaluation = ev
         WHERE x.rollout_id = r.rollout_id AND x.stage_no = s.stage_no;
        CASE ev ->> 'verdict'
            WHEN 'pass' THEN
                IF s.auto_proceed THEN
                    PERFORM rollout._finish_stage(r.rollout_id, format('stage "%s" passed', s.name));
                    action := 'advanced';
                    detail := format('stage "%s" passed', s.name);
                    -- _finish_stage has rescheduled the rollout (next stage
                    -- started, or waiting for deferred tenants) or completed it
                    RETURN NEXT;
                    RETURN;
                ELSE
                    UPDATE rollout.rollout_stage x SET status = 'passed'
                     WHERE x.rollout_id = r.rollout_id AND x.stage_no = s.stage_no;
                    PERFORM rollout._event('rollout.stage.passed', r.rollout_id,
                                           'success criteria met; waiting for a manual advance',
                                           jsonb_build_object('stage', s.name, 'stage_no', s.stage_no, 'metrics', ev));
                    action := 'awaiting_advance';
                    detail := format('stage "%s" passed; auto_proceed is off', s.name);
                END IF;
            WHEN 'fail' THEN
                why := format('stage "%s" failed its success criteria', s.name);
                UPDATE rollout.rollout_stage x SET status = 'failed'
                 WHERE x.rollout_id = r.rollout_id AND x.stage_no = s.stage_no;
                IF r.rollback_automatic THEN
                    PERFORM rollout._roll_back(r.rollout_id, 0, 'rolled_back', why);
                    action := 'rolled_back';
                ELSE
                    UPDATE rollout.rollout x SET status = 'failed', status_reason = why, next_due_at = NULL, updated_at = now()
                     WHERE x.rollout_id = r.rollout_id;
                    PERFORM rollout._event('rollout.failed', r.rollout_id, why, jsonb_build_object('metrics', ev));
                    action := 'failed';
                END IF;
                detail := why;
            WHEN 'inconclusive' THEN
                why := format('stage "%s" is inconclusive: %s', s.name, ev ->> 'reason');
                UPDATE rollout.rollout x SET status = 'paused', status_reason = why, next_due_at = NULL, updated_at = now()
                 WHERE x.rollout_id = r.rollout_id;
                PERFORM rollout._event('rollout.paused', r.rollout_id, why, jsonb_build_object('metrics', ev));
                action := 'paused';
                detail := why;
            ELSE
                -- no_data: extend monitoring (last known good), pause past the timeout.
                IF now() >= s.due_at + r.stage_timeout THEN
                    why := format('stage "%s" timed out: no metrics %s after it was due', s.name, r.stage_timeout);
                    UPDATE rollout.rollout x SET status = 'paused', status_reason = why, next_due_at = NULL, updated_at = now()
                     WHERE x.rollout_id = r.rollout_id;
                    PERFORM rollout._event('rollout.stage.timeout', r.rollout_id, why,
                                           jsonb_build_object('stage', s.name, 'stage_no', s.stage_no));
                    action := 'paused';
                    detail := why;
                ELSE
                    UPDATE rollout.rollout x SET next_due_at = now() + r.monitoring_extension
                     WHERE x.rollout_id = r.rollout_id;
                    UPDATE rollout.rollout_stage x SET monitoring_extensions = x.monitoring_extensions + 1
                     WHERE x.rollout_id = r.rollout_id AND x.stage_no = s.stage_no;
                    PERFORM rollout._event('rollout.stage.extended', r.rollout_id,
                                           'metrics unavailable: monitoring extended',
                                           jsonb_build_object('stage', s.name, 'stage_no', s.stage_no,
                                                              'until', now() + r.monitoring_extension));
                    action := 'extended';
                    detail := format('no metrics for stage "%s"; monitoring extended by %s', s.name, r.monitoring_extension);
                    RETURN NEXT;
                    RETURN;
                END IF;
        END CASE;
        RETURN NEXT;
    END IF;
    PERFORM rollout._reschedule(r.rollout_id);
END
$$;
COMMENT ON FUNCTION rollout._tick_one(rollout.rollout) IS 'internal: the scheduler''s work for one locked running rollout';

-- A rollout whose step failed inside tick(): its work was rolled back (a
-- subtransaction).  A transient failure (serialization failure or
-- deadlock, class 40; lock not available, 55P03) leaves it running, to be
-- retried by the next tick; any other pauses it with the error as its
-- status reason, so that a person looks before it goes on (resume_rollout).
-- Either way the failure is an event, audited and notified.
CREATE FUNCTION rollout._tick_failed(failed_rollout_id text, err_state text, err_message text)
RETURNS TABLE (rollout_id text, action text, detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    transient boolean := err_state LIKE '40%' OR err_state = '55P03';
    why text := format('tick failed: %s (SQLSTATE %s)', err_message, err_state);
    r rollout.rollout;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = failed_rollout_id;
    IF NOT transient THEN
        UPDATE rollout.rollout x SET status = 'paused', status_reason = why, next_due_at = NULL, updated_at = now()
         WHERE x.rollout_id = r.rollout_id;
    END IF;
    PERFORM rollout._event('rollout.tick_failed', r.rollout_id, why,
                           jsonb_build_object('stage_no', r.current_stage, 'sqlstate', err_state, 'message', err_message,
                                              'paused', NOT transient));
    RETURN QUERY SELECT r.rollout_id, CASE WHEN transient THEN 'retry' ELSE 'paused' END, why;
END
$$;
COMMENT ON FUNCTION rollout._tick_failed(text, text, text) IS
    'internal: record a rollout step that failed inside tick(): paused with the error (or left for the next tick when transient), event rollout.tick_failed';

CREATE FUNCTION rollout.tick(max_rollouts integer DEFAULT 100)
RETURNS TABLE (rollout_id text, action text, detail text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r rollout.rollout;
    err_state text;
    err_message text;
    started timestamptz := pg_catalog.clock_timestamp();
    n_rollouts integer := 0;
    n_actions integer := 0;
    n_errors integer := 0;
    n integer;
    id bigint;
BEGIN
    IF max_rollouts IS NULL OR max_rollouts < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('max_rollouts must be at least 1, not %s', coalesce(max_rollouts::text, 'NULL'));
    END IF;
    -- Remediation (src/sql/89_remediation): tasks, notifications, forced upgrades.
    PERFORM rollout._remediation_tick();
    -- Rows another tick holds are skipped; a row it has just finished is
    -- re-checked against the WHERE clause, so no stage advances twice.
    FOR r IN
        SELECT * FROM rollout.rollout x
         WHERE x.status = 'running' AND x.next_due_at <= now()
         ORDER BY x.next_due_at
         LIMIT max_rollouts
           FOR UPDATE SKIP LOCKED
    LOOP
        -- Each rollout in its own subtransaction: one that fails does not
        -- stop the others (src/sql/75_tick/3_tick.sql, _tick_failed).
        n_rollouts := n_rollouts + 1;
        BEGIN
            RETURN QUERY SELECT * FROM rollout._tick_one(r);
            GET DIAGNOSTICS n = ROW_COUNT;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
            RETURN QUERY SELECT * FROM rollout._tick_failed(r.rollout_id, err_state, err_message);
            GET DIAGNOSTICS n = ROW_COUNT;
            n_errors := n_errors + 1;
        END;
        n_actions := n_actions + n;
    END LOOP;
    -- releases whose class allows it enter their next channel once every
    -- gate passes (src/sql/90_release/5_promote.sql)
    RETURN QUERY SELECT * FROM rollout._release_tick();
    GET DIAGNOSTICS n = ROW_COUNT;
    n_actions := n_actions + n;
    -- Chain the audit rows committed since the last seal (and this tick's
    -- own); skipped while another seal runs (src/audit.c).
    PERFORM rollout.seal_audit(wait => false);
    -- the ledger, and its retention every hundredth call
    INSERT INTO rollout.tick_log (started_at, finished_at, max_rollouts, rollouts, actions, errors, ran_by)
    VALUES (started, clock_timestamp(), max_rollouts, n_rollouts, n_actions, n_errors, rollout._actor())
    RETURNING tick_id INTO id;
    IF id % 100 = 0 THEN
        DELETE FROM rollout.tick_log l WHERE l.started_at < now() - interval '7 days';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout.tick(integer) IS
    'do all due rollout work (advance, roll back, pause, extend, activate deferred tenants) for at most max_rollouts rollouts, promote releases whose soak is over where their class allows (rows release_promoted), then seal the committed audit rows into the chain; for pg_cron: SELECT rollout.tick()';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._tick_one(rollout.rollout),
    rollout._tick_failed(text, text, text),
    rollout.tick(integer)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.tick(integer)
TO rollout_operator;
