-- ---------------------------------------------------------------------
-- Activation
-- ---------------------------------------------------------------------

-- Activate every tenant selected through stage k that is not yet active in
-- this rollout; blacked-out tenants are deferred.  Idempotent.
-- The rollout's row is passed in (the callers hold it locked); the stage's
-- activated count is the caller's to write (rollout._start_stage_row
-- writes it with the stage's other columns, in one UPDATE).
CREATE FUNCTION rollout._activate_rows(r rollout.rollout, k integer, OUT activated bigint, OUT deferred bigint)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    go text[];          -- selected tenants to activate
    held text[];        -- selected tenants held back, and why
    why text[];
    fresh text[];       -- of go: tenants without an activation of the component
    replaced text[];    -- of go: tenants running an earlier rollout's activation
    n bigint;
    first_writer boolean := false;
    had_deferrals boolean;      -- NULL: not read yet
BEGIN
    -- The selection once, into arrays; each statement below then runs only
    -- when it has rows to write.  A statement on rollout.activation or
    -- rollout.deferral fires their invalidate_resolution trigger even when
    -- it changes nothing, and the invalidation makes this session plan
    -- again every statement that reads the table: a tick activates the
    -- stages of rollout after rollout.
    -- Without holds for approval or concurrency, _held_selection is
    -- _selection, which rollout._select_rows computes in C (one scan of
    -- the tenants; NULLs for a weighted rollout: SQL then).
    IF NOT rollout._holds_possible() THEN
        SELECT s.go, s.held, s.why INTO go, held, why FROM rollout._select_rows(r.rollout_id, k) s;
    END IF;
    IF go IS NULL THEN
        SELECT coalesce(array_agg(s.tenant_id) FILTER (WHERE NOT s.blacked_out), '{}'),
               coalesce(array_agg(s.tenant_id) FILTER (WHERE s.blacked_out), '{}'),
               coalesce(array_agg(s.hold_reason) FILTER (WHERE s.blacked_out), '{}')
          INTO go, held, why
          FROM rollout._held_selection(r.rollout_id, k) s;
    END IF;
    activated := 0;
    IF cardinality(go) > 0 THEN
        -- Tenants without an activation of the component get a plain
        -- insert, the cheapest way to write rows (and the only statement a
        -- tick's advance needs as a rule); only tenants that run an earlier
        -- rollout's activation need the upsert that remembers it.  While a
        -- rollout runs, only its own activation writes rows of its
        -- component (one live rollout per component, its row locked by the
        -- caller), so what is read here stays true until the insert.
        -- (two IFs: as one condition, with k and go as parameters, the
        -- query was planned again on every call)
        IF k = 1 OR cardinality(go) > 1000 THEN
            first_writer := NOT EXISTS (SELECT 1 FROM rollout.activation a WHERE a.component_id = r.component_id);
        END IF;
        IF first_writer THEN
            -- nobody runs an activation of this component yet (the usual first stage)
            fresh := go;
            replaced := '{}';
        ELSE
            -- a tenant this rollout has already activated is kept as it is;
            -- whether the rollout has deferred tenants is read here too (one
            -- query less: the writes below do not touch rollout.deferral)
            SELECT coalesce(array_agg(u.id) FILTER (WHERE a.tenant_id IS NULL), '{}'),
                   coalesce(array_agg(u.id) FILTER (WHERE a.rollout_id <> r.rollout_id), '{}'),
                   EXISTS (SELECT 1 FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id)
              INTO fresh, replaced, had_deferrals
              FROM unnest(go) u(id)
              LEFT JOIN rollout.activation a ON a.component_id = r.component_id AND a.tenant_id = u.id;
        END IF;
        IF cardinality(fresh) > 0 THEN
            INSERT INTO rollout.activation (component_id, tenant_id, version, rollout_id, stage_no, activated_at, start_no)
            SELECT r.component_id, u.id, r.to_version, r.rollout_id, k, now(), r.start_no
              FROM unnest(fresh) u(id);
            GET DIAGNOSTICS n = ROW_COUNT;
            activated := n;
        END IF;
        IF cardinality(replaced) > 0 THEN
            -- Tenants that run an earlier rollout's activation: replaced,
            -- remembering what it was (which a rollback restores).  A
            -- replaced row whose previous_* was already set loses that older
            -- activation: it goes to the history first, read before the rows
            -- change (one statement: its WITH query sees the rows as they
            -- were before the upsert).
            WITH superseded AS (
                INSERT INTO rollout.activation_history (component_id, tenant_id, version, rollout_id, stage_no, start_no,
                                                        activated_at, ended_at, ended_by, ended_rollout_id)
                SELECT a.component_id, a.tenant_id, a.previous_version, a.previous_rollout_id, a.previous_stage_no,
                       a.previous_start_no, a.previous_activated_at, now(), 'superseded', r.rollout_id
                  FROM unnest(replaced) u(id)
                  JOIN rollout.activation a ON a.component_id = r.component_id AND a.tenant_id = u.id
                 WHERE a.rollout_id <> r.rollout_id AND a.previous_rollout_id IS NOT NULL)
            INSERT INTO rollout.activation AS a (component_id, tenant_id, version, rollout_id, stage_no, activated_at,
                                                 start_no)
            SELECT r.component_id, u.id, r.to_version, r.rollout_id, k, now(), r.start_no
              FROM unnest(replaced) u(id)
            ON CONFLICT (component_id, tenant_id) DO UPDATE
               SET previous_version = a.version, previous_rollout_id = a.rollout_id,
                   previous_stage_no = a.stage_no, previous_activated_at = a.activated_at,
                   previous_start_no = a.start_no,
                   version = excluded.version, rollout_id = excluded.rollout_id,
                   stage_no = excluded.stage_no, activated_at = excluded.activated_at,
                   start_no = excluded.start_no
             WHERE a.rollout_id <> excluded.rollout_id;
            GET DIAGNOSTICS n = ROW_COUNT;
            activated := activated + n;
        END IF;
    END IF;
    IF had_deferrals IS NULL THEN
        had_deferrals := EXISTS (SELECT 1 FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id);
    END IF;
    IF had_deferrals AND cardinality(go) > 0 THEN
        DELETE FROM rollout.deferral d USING unnest(go) u(id)
         WHERE d.rollout_id = r.rollout_id AND d.tenant_id = u.id;
    END IF;
    IF cardinality(held) > 0 THEN
        -- a held tenant this rollout has already activated stays active
        INSERT INTO rollout.deferral (rollout_id, tenant_id, stage_no, reason)
        SELECT r.rollout_id, u.id, k, u.why
          FROM unnest(held, why) u(id, why)
         WHERE NOT EXISTS (SELECT 1 FROM rollout.activation a
                            WHERE a.component_id = r.component_id AND a.tenant_id = u.id
                              AND a.rollout_id = r.rollout_id)
        ON CONFLICT DO NOTHING;
    END IF;
    IF had_deferrals OR cardinality(held) > 0 THEN
        SELECT count(*) INTO deferred FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id;
    ELSE
        deferred := 0;
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._activate_rows(rollout.rollout, integer) IS
    'internal: activate the tenants of a rollout (its row) selected through stage k (deferring blacked-out ones), without counting them on the stage; idempotent';

CREATE FUNCTION rollout._activate_through(rollout_id text, k integer, OUT activated bigint, OUT deferred bigint)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    act record;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _activate_through.rollout_id;
    act := rollout._activate_rows(r, k);
    activated := act.activated;
    deferred := act.deferred;
    UPDATE rollout.rollout_stage s SET activated = s.activated + _activate_through.activated
     WHERE s.rollout_id = r.rollout_id AND s.stage_no = k;
END
$$;
COMMENT ON FUNCTION rollout._activate_through(text, integer) IS
    'internal: activate the tenants selected through stage k (deferring blacked-out ones); idempotent';

-- Undo the activations made at stages after keep_through (0: all of them).
CREATE FUNCTION rollout._deactivate_after(rollout_id text, keep_through integer)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    n bigint;
    m bigint;
BEGIN
    DELETE FROM rollout.activation a
     WHERE a.rollout_id = _deactivate_after.rollout_id AND a.stage_no > keep_through
       AND a.previous_rollout_id IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE rollout.activation a
       SET version = a.previous_version, rollout_id = a.previous_rollout_id,
           stage_no = a.previous_stage_no, activated_at = a.previous_activated_at,
           start_no = a.previous_start_no,
           previous_version = NULL, previous_rollout_id = NULL, previous_stage_no = NULL,
           previous_activated_at = NULL, previous_start_no = NULL
     WHERE a.rollout_id = _deactivate_after.rollout_id AND a.stage_no > keep_through
       AND a.previous_rollout_id IS NOT NULL;
    GET DIAGNOSTICS m = ROW_COUNT;
    DELETE FROM rollout.deferral d WHERE d.rollout_id = _deactivate_after.rollout_id AND d.stage_no > keep_through;
    RETURN n + m;
END
$$;
COMMENT ON FUNCTION rollout._deactivate_after(text, integer) IS
    'internal: restore what tenants ran before the activations made after stage keep_through';

-- When does tick() next have work for a running rollout?
CREATE FUNCTION rollout._reschedule(rollout_id text)
RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    s rollout.rollout_stage;
    due timestamptz;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _reschedule.rollout_id;
    IF r.status = 'running' THEN
        SELECT * INTO s FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id AND x.stage_no = r.current_stage;
        IF s.status = 'monitoring' THEN
            due := s.due_at;
        END IF;
        IF EXISTS (SELECT 1 FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id) THEN
            due := rollout._deferral_due(r.rollout_id, due);
        END IF;
    END IF;
    UPDATE rollout.rollout x SET next_due_at = due WHERE x.rollout_id = r.rollout_id;
    RETURN due;
END
$$;
COMMENT ON FUNCTION rollout._reschedule(text) IS 'internal: set when rollout.tick() next has work for the rollout';

-- When a running rollout with deferred tenants next has work: look again
-- when the earliest current blackout ends, and every 15 minutes for
-- maintenance windows to open (or at due, the stage's own, if earlier).
CREATE FUNCTION rollout._deferral_due(rollout_id text, due timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    RETURN least(due, (SELECT min(upper(b.during)) FROM rollout.blackout b WHERE b.during @> now()),
                 CASE WHEN EXISTS (SELECT 1 FROM rollout.deferral d
                                    WHERE d.rollout_id = _deferral_due.rollout_id
                                      AND d.reason = 'outside maintenance window')
                      THEN now() + interval '15 minutes' END);
END
$$;
COMMENT ON FUNCTION rollout._deferral_due(text, timestamptz) IS
    'internal: the next due time of a running rollout with deferred tenants, given its stage''s due time';

CREATE FUNCTION rollout._start_stage(rollout_id text, k integer, reason text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _start_stage.rollout_id;
    PERFORM rollout._start_stage_row(r, k, reason);
END
$$;
COMMENT ON FUNCTION rollout._start_stage(text, integer, text) IS 'internal: make stage k current and activate its tenants';

-- The work of _start_stage on the rollout's row as the caller holds it
-- (locked, its status already set).
CREATE FUNCTION rollout._start_stage_row(r rollout.rollout, k integer, reason text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM rollout._enter_stage(r, k, reason, false, NULL);
END
$$;
COMMENT ON FUNCTION rollout._start_stage_row(rollout.rollout, integer, text) IS
    'internal: make stage k of a rollout (its locked row) current, activate its tenants and reschedule the rollout';

-- Make stage k current: activate its tenants, then write the stage and the
-- rollout once each, with the activated count and the next due time
-- computed first (what _activate_through and _reschedule would write).
-- With completing (an advance: k is the stage after the current one), the
-- current stage is completed, with evaluation (tick's verdict, or NULL)
-- recorded, by the same UPDATE, and its rollout.stage.completed event comes
-- before the rollout.stage.started of stage k.
-- (A tick runs this for every rollout it advances: the two stage rows the
-- UPDATE returns are read in a loop rather than through a CTE and four
-- aggregates, and _event is called in assignments, which PL/pgSQL
-- evaluates as expressions, not as one more query each like PERFORM.)
CREATE FUNCTION rollout._enter_stage(r rollout.rollout, k integer, reason text, completing boolean, evaluation jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    act record;
    due timestamptz;
    stage_name text;
    stage_due timestamptz;
    done_name text;
    done_evaluation jsonb;
    u record;
    event_id bigint;
BEGIN
    PERFORM rollout._enforce_stage_row(r, k);
    act := rollout._activate_rows(r, k);
    FOR u IN
        UPDATE rollout.rollout_stage x
           SET status = CASE WHEN x.stage_no = k THEN 'monitoring' ELSE 'completed' END,
               started_at = CASE WHEN x.stage_no = k THEN now() ELSE x.started_at END,
               due_at = CASE WHEN x.stage_no = k THEN now() + x.min_duration ELSE x.due_at END,
               completed_at = CASE WHEN x.stage_no = k THEN NULL ELSE now() END,
               last_evaluation = CASE WHEN x.stage_no = k THEN NULL ELSE coalesce(evaluation, x.last_evaluation) END,
               activated = CASE WHEN x.stage_no = k THEN x.activated + act.activated ELSE x.activated END
         WHERE x.rollout_id = r.rollout_id
           AND (x.stage_no = k OR (completing AND x.stage_no = r.current_stage))
        RETURNING x.stage_no, x.name, x.due_at, x.last_evaluation
    LOOP
        IF u.stage_no = k THEN
            stage_name := u.name;
            stage_due := u.due_at;
        ELSE
            done_name := u.name;
            done_evaluation := u.last_evaluation;
        END IF;
    END LOOP;
    IF completing THEN
        event_id := rollout._event('rollout.stage.completed', r.rollout_id, reason,
                               jsonb_build_object('stage', done_name, 'stage_no', r.current_stage,
                                                  'metrics', done_evaluation));
    END IF;
    IF r.status = 'running' THEN
        due := stage_due;
        IF act.deferred > 0 THEN
            due := rollout._deferral_due(r.rollout_id, due);
        END IF;
    END IF;
    UPDATE rollout.rollout x SET current_stage = k, updated_at = now(), next_due_at = due
     WHERE x.rollout_id = r.rollout_id;
    event_id := rollout._event('rollout.stage.started', r.rollout_id, reason,
                               jsonb_build_object('stage', stage_name, 'stage_no', k, 'tenants_activated', act.activated,
                                                  'tenants_deferred', act.deferred, 'due_at', stage_due));
END
$$;
COMMENT ON FUNCTION rollout._enter_stage(rollout.rollout, integer, text, boolean, jsonb) IS
    'internal: make stage k of a rollout (its locked row) current, activate its tenants and reschedule the rollout; with completing, complete the current stage (recording evaluation) in the same write';

CREATE FUNCTION rollout._complete_rollout(rollout_id text, reason text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
BEGIN
    UPDATE rollout.rollout x SET status = 'completed', finished_at = now(), next_due_at = NULL,
           status_reason = reason, updated_at = now()
     WHERE x.rollout_id = _complete_rollout.rollout_id
    RETURNING * INTO r;
    PERFORM rollout._event('rollout.completed', r.rollout_id, reason,
                           jsonb_build_object('duration', (now() - r.started_at)::text,
                                              'tenants_on_to_version',
                                              (SELECT count(*) FROM rollout.activation a WHERE a.rollout_id = r.rollout_id)));
END
$$;
COMMENT ON FUNCTION rollout._complete_rollout(text, text) IS 'internal: mark a rollout completed and announce it';

CREATE FUNCTION rollout._finish_stage(rollout_id text, reason text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _finish_stage.rollout_id;
    PERFORM rollout._finish_stage_row(r, reason, NULL);
END
$$;
COMMENT ON FUNCTION rollout._finish_stage(text, text) IS
    'internal: complete the current stage and start the next one, or complete the rollout';

-- The work of _finish_stage on the rollout's row as the caller holds it;
-- evaluation (tick's verdict, or NULL) is written with the completion.
CREATE FUNCTION rollout._finish_stage_row(r rollout.rollout, reason text, evaluation jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s rollout.rollout_stage;
    last_stage integer;
BEGIN
    -- the last stage's number (NULL without stages) from the primary key's
    -- end, without an aggregate
    SELECT x.stage_no INTO last_stage FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id
     ORDER BY x.stage_no DESC LIMIT 1;
    IF (r.current_stage >= last_stage) IS NOT TRUE THEN
        -- the next stage starts; the current one completes in the same write
        PERFORM rollout._enter_stage(r, r.current_stage + 1, reason, true, evaluation);
        RETURN;
    END IF;
    UPDATE rollout.rollout_stage x SET status = 'completed', completed_at = now(),
           last_evaluation = coalesce(evaluation, x.last_evaluation)
     WHERE x.rollout_id = r.rollout_id AND x.stage_no = r.current_stage
    RETURNING * INTO s;
    PERFORM rollout._event('rollout.stage.completed', r.rollout_id, reason,
                           jsonb_build_object('stage', s.name, 'stage_no', s.stage_no,
                                              'metrics', s.last_evaluation));
    IF EXISTS (SELECT 1 FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id) THEN
        -- Deferred tenants are not forgotten: the rollout stays running
        -- and tick() completes it when the last of them is activated.
        UPDATE rollout.rollout x
           SET status_reason = format('last stage passed; waiting for %s deferred tenants',
                                      (SELECT count(*) FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id)),
               updated_at = now()
         WHERE x.rollout_id = r.rollout_id;
        PERFORM rollout._event('rollout.waiting_for_deferred', r.rollout_id, reason,
                               jsonb_build_object('tenants_deferred',
                                                  (SELECT count(*) FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id)));
        PERFORM rollout._reschedule(r.rollout_id);
    ELSE
        PERFORM rollout._complete_rollout(r.rollout_id, reason);
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._finish_stage_row(rollout.rollout, text, jsonb) IS
    'internal: complete the current stage of a rollout (its locked row), recording its evaluation, and start the next one, or complete the rollout';

CREATE FUNCTION rollout._roll_back(rollout_id text, keep_through integer, new_status text, reason text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    n bigint;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _roll_back.rollout_id;
    -- the activations about to be undone go to the history
    INSERT INTO rollout.activation_history (component_id, tenant_id, version, rollout_id, stage_no, start_no,
                                            activated_at, ended_at, ended_by, ended_rollout_id)
    SELECT a.component_id, a.tenant_id, a.version, a.rollout_id, a.stage_no, a.start_no, a.activated_at, now(),
           CASE WHEN new_status = 'cancelled' THEN 'cancelled' ELSE 'rolled_back' END, r.rollout_id
      FROM rollout.activation a
     WHERE a.rollout_id = r.rollout_id AND a.stage_no > keep_through;
    n := rollout._deactivate_after(r.rollout_id, keep_through);
    UPDATE rollout.rollout_stage x SET status = 'rolled_back', completed_at = now()
     WHERE x.rollout_id = r.rollout_id AND x.stage_no > keep_through AND x.status <> 'pending';
    UPDATE rollout.rollout x
       SET status = new_status, status_reason = reason, next_due_at = NULL, updated_at = now(),
           current_stage = CASE WHEN keep_through > 0 THEN keep_through ELSE x.current_stage END,
           finished_at = CASE WHEN new_status IN ('rolled_back', 'cancelled') THEN now() END
     WHERE x.rollout_id = r.rollout_id;
    IF keep_through > 0 THEN
        UPDATE rollout.rollout_stage x SET status = 'passed', completed_at = NULL
         WHERE x.rollout_id = r.rollout_id AND x.stage_no = keep_through;
    END IF;
    PERFORM rollout._event(CASE WHEN new_status = 'cancelled' THEN 'rollout.cancelled' ELSE 'rollout.rollback' END,
                           r.rollout_id, reason,
                           jsonb_build_object('rollback_stage',
                                              (SELECT s.name FROM rollout.rollout_stage s
                                                WHERE s.rollout_id = r.rollout_id AND s.stage_no = r.current_stage),
                                              'back_to_stage', keep_through,
                                              'tenants_rolled_back', n,
                                              'action', format('reverted to %s', r.from_version)));
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout._roll_back(text, integer, text, text) IS
    'internal: undo activations after a stage and set the rollout''s status';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._activate_rows(rollout.rollout, integer),
    rollout._activate_through(text, integer),
    rollout._deactivate_after(text, integer),
    rollout._reschedule(text),
    rollout._deferral_due(text, timestamptz),
    rollout._start_stage(text, integer, text),
    rollout._start_stage_row(rollout.rollout, integer, text),
    rollout._enter_stage(rollout.rollout, integer, text, boolean, jsonb),
    rollout._complete_rollout(text, text),
    rollout._finish_stage(text, text),
    rollout._finish_stage_row(rollout.rollout, text, jsonb),
    rollout._roll_back(text, integer, text, text)
FROM PUBLIC;
