-- Promotion, automatic promotion from tick(), incidents and rollback
-- evaluations, and the guard that keeps set_channel_release() from being a
-- side door for governed components.
--
-- Locking: promote() and report_incident() both lock the release row
-- FOR UPDATE first (and report_incident() updates it), so a promotion that
-- waited for an incident report re-reads the release (READ COMMITTED: the
-- next statements see the incident; REPEATABLE READ or SERIALIZABLE: the
-- promotion fails with a serialization error).  promote() then locks the
-- component row, as set_channel_release() does.

CREATE FUNCTION rollout._release_enter(r rollout.release, to_channel text, at timestamptz, automatic boolean, reason text)
RETURNS rollout.release_channel
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    failing text;
    n_failing integer;
    old rollout.semver;
    e rollout.release_channel;
BEGIN
    SELECT pg_catalog.string_agg(format('%s (%s)', g.check_id, g.detail), '; ' ORDER BY g.kind, g.check_id), count(*)
      INTO failing, n_failing
      FROM rollout._release_gates(r, to_channel, at) g WHERE NOT g.passed;
    IF failing IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('promotion of release "%s" to channel "%s" refused: %s failing %s: %s', r.release_id, to_channel,
                             n_failing, CASE WHEN n_failing = 1 THEN 'check' ELSE 'checks' END,
                             (SELECT pg_catalog.string_agg(g.check_id, ', ' ORDER BY g.kind, g.check_id)
                                FROM rollout._release_gates(r, to_channel, at) g WHERE NOT g.passed)),
            DETAIL = failing || '.',
            HINT = 'rollout.readiness() lists every check; hard stops have no override.';
    END IF;
    PERFORM rollout._component_for_update(r.component_id);
    PERFORM rollout._channel_for_update(to_channel);
    PERFORM rollout._enforce_policy(r.component_id, r.version, NULL, NULL,
                                    format('promotion of release "%s" to channel "%s"', r.release_id, to_channel));
    INSERT INTO rollout.release_channel AS x (release_id, channel_id, entered_at, entered_by, automatic)
    VALUES (r.release_id, to_channel, at, CASE WHEN automatic THEN 'rollout.tick' ELSE session_user END, automatic)
    RETURNING * INTO e;
    SELECT cr.version INTO old FROM rollout.channel_release cr
     WHERE cr.component_id OPERATOR(pg_catalog.=) r.component_id AND cr.channel_id OPERATOR(pg_catalog.=) to_channel;
    INSERT INTO rollout.channel_release AS cr (component_id, channel_id, version, reason, released_by)
    VALUES (r.component_id, to_channel, r.version, coalesce(reason, format('release %s', r.release_id)),
            CASE WHEN automatic THEN 'rollout.tick' ELSE rollout._actor() END)
    ON CONFLICT ON CONSTRAINT channel_release_pkey
    DO UPDATE SET version = excluded.version, reason = excluded.reason, released_by = excluded.released_by,
                  released_at = pg_catalog.now();
    UPDATE rollout.release x SET status = 'promoting', updated_at = at
     WHERE x.release_id OPERATOR(pg_catalog.=) r.release_id AND x.status OPERATOR(pg_catalog.=) 'draft';
    PERFORM rollout._audit('release.promoted', NULL, 'release', r.release_id, reason,
                           pg_catalog.jsonb_build_object('component', r.component_id, 'version', r.version::text,
                                                         'channel', to_channel, 'was', old::text, 'automatic', automatic,
                                                         'revision', r.revision, 'entered_at', at));
    RETURN e;
END
$$;
COMMENT ON FUNCTION rollout._release_enter(rollout.release, text, timestamptz, boolean, text) IS
    'internal: check every gate (raising check_violation naming all failing ones) and the version policies, then record the entry and set the channel''s release';

CREATE FUNCTION rollout.promote(release_id text, to_channel text, reason text DEFAULT NULL)
RETURNS rollout.release_channel
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release := rollout._release_for_update(release_id);
BEGIN
    RETURN rollout._release_enter(r, to_channel, rollout._release_now(), false, reason);
END
$$;
COMMENT ON FUNCTION rollout.promote(text, text, text) IS
    'move a release into a channel: the next one in order, after its soak, with every hard stop and checklist passed, the approvals of the transition and (last channel) a GO memo of the current state; no force option; admin only (like set_channel_release); audited';

CREATE FUNCTION rollout._release_tick()
RETURNS TABLE (release_id text, action text, detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r rollout.release;
    nxt record;
    at timestamptz;
    err text;
BEGIN
    -- The usual tick: no release is promoting (one scan of rollout.release,
    -- not the clock, the class list and the locking query).
    IF NOT EXISTS (SELECT 1 FROM rollout.release x
                    WHERE x.status OPERATOR(pg_catalog.=) 'promoting' AND NOT x.halted) THEN
        RETURN;
    END IF;
    at := rollout._release_now();
    FOR r IN
        SELECT x.* FROM rollout.release x
          JOIN rollout.release_classes() k ON k.class OPERATOR(pg_catalog.=) x.class AND k.automatic_promotion
         WHERE x.status OPERATOR(pg_catalog.=) 'promoting' AND NOT x.halted
         ORDER BY x.release_id
           FOR UPDATE OF x SKIP LOCKED
    LOOP
        SELECT c.* INTO nxt FROM rollout._release_channels() c
         WHERE c.pos = 1 + (SELECT max(c2.pos) FROM rollout.release_channel rc
                              JOIN rollout._release_channels() c2 ON c2.channel_id OPERATOR(pg_catalog.=) rc.channel_id
                             WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id);
        -- never into the last channel: that needs a person's GO memo
        CONTINUE WHEN nxt.channel_id IS NULL OR nxt.pos = nxt.n;
        CONTINUE WHEN EXISTS (SELECT 1 FROM rollout._release_gates(r, nxt.channel_id, at) g WHERE NOT g.passed);
        BEGIN
            PERFORM rollout._release_enter(r, nxt.channel_id, at, true, 'soak over: promoted by rollout.tick()');
            release_id := r.release_id; action := 'release_promoted'; detail := nxt.channel_id;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            release_id := r.release_id; action := 'release_not_promoted'; detail := err;
        END;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION rollout._release_tick() IS
    'internal (rollout.tick): promote every release whose class allows automatic promotion (ui_only, workflow) into its next channel, but never the last, once every gate passes';

CREATE FUNCTION rollout.report_incident(release_id text, channel_id text, severity integer, summary text)
RETURNS rollout.release_incident
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release := rollout._release_for_update(release_id);
    at timestamptz := rollout._release_now();
    i rollout.release_incident;
    ev bigint;
    flag text := r.manifest->>'kill_switch';
    killed boolean := false;
BEGIN
    IF severity IS NULL OR severity NOT BETWEEN 1 AND 4 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid incident severity %s', coalesce(severity::text, 'NULL')),
            DETAIL = 'Severity is 1 (SEV-1, most severe) to 4.';
    END IF;
    PERFORM rollout._require_reason(summary, 'report an incident (summary)');
    IF NOT EXISTS (SELECT 1 FROM rollout.release_channel rc
                    WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id AND rc.channel_id OPERATOR(pg_catalog.=) channel_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('release "%s" has not entered channel "%s"', r.release_id, channel_id);
    END IF;
    INSERT INTO rollout.release_incident AS x (release_id, channel_id, severity, summary, reported_by, reported_at)
    VALUES (r.release_id, channel_id, severity, summary, session_user, at)
    RETURNING * INTO i;
    -- every report updates the release row: a promotion waiting on it re-checks
    UPDATE rollout.release x SET incidents = x.incidents + 1,
           halted = x.halted OR severity = 1,
           halted_reason = CASE WHEN severity = 1 AND NOT x.halted
                                THEN format('SEV-1 incident #%s in %s: %s', i.incident_id, channel_id, summary)
                                ELSE x.halted_reason END,
           updated_at = at
     WHERE x.release_id OPERATOR(pg_catalog.=) r.release_id;
    IF severity = 1 THEN
        INSERT INTO rollout.release_rollback_evaluation AS x (release_id, incident_id, opened_at)
        VALUES (r.release_id, i.incident_id, at) RETURNING x.evaluation_id INTO ev;
        IF coalesce((r.manifest->>'auto_kill_on_sev1')::boolean, false) AND flag IS NOT NULL
           AND EXISTS (SELECT 1 FROM rollout.flag f WHERE f.flag_id OPERATOR(pg_catalog.=) flag AND NOT f.killed) THEN
            PERFORM rollout.kill_flag(flag, format('SEV-1 incident #%s on release %s: %s', i.incident_id, r.release_id, summary));
            killed := true;
        END IF;
    END IF;
    PERFORM rollout._audit('release.incident_reported', NULL, 'release', r.release_id, summary,
                           pg_catalog.jsonb_build_object('incident', i.incident_id, 'channel', channel_id, 'severity', severity,
                                                         'halted', severity = 1, 'rollback_evaluation', ev,
                                                         'kill_switch_flipped', CASE WHEN killed THEN flag END));
    RETURN i;
END
$$;
COMMENT ON FUNCTION rollout.report_incident(text, text, integer, text) IS
    'report a SEV-1..4 incident against a release in a channel it entered; SEV-1 halts the release at once, opens a rollback evaluation and (manifest auto_kill_on_sev1) flips its kill switch; audited';

CREATE FUNCTION rollout.resolve_incident(incident_id bigint, resolution text)
RETURNS rollout.release_incident
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    i rollout.release_incident;
BEGIN
    PERFORM rollout._require_reason(resolution, 'resolve an incident');
    SELECT * INTO i FROM rollout.release_incident x WHERE x.incident_id = resolve_incident.incident_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('incident %s does not exist', coalesce(incident_id::text, 'NULL'));
    END IF;
    PERFORM rollout._release_for_update(i.release_id);
    IF i.resolved_at IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('incident %s is already resolved', incident_id);
    END IF;
    UPDATE rollout.release_incident x SET resolved_at = rollout._release_now(), resolution = resolve_incident.resolution
     WHERE x.incident_id = i.incident_id RETURNING * INTO i;
    PERFORM rollout._audit('release.incident_resolved', NULL, 'release', i.release_id, resolution,
                           pg_catalog.jsonb_build_object('incident', i.incident_id, 'severity', i.severity));
    RETURN i;
END
$$;
COMMENT ON FUNCTION rollout.resolve_incident(bigint, text) IS
    'mark an incident resolved (a SEV-1/SEV-2 still fails the exit criteria of the channel it happened in); audited';

CREATE FUNCTION rollout.decide_rollback(release_id text, decision text, note text)
RETURNS rollout.release
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release := rollout._release_for_update(release_id);
    me text := session_user;
    authority text;
    n_open integer;
    cleared text[];
BEGIN
    IF decision IS NULL OR decision NOT IN ('rollback', 'continue') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid rollback decision "%s"', decision), DETAIL = 'Decide rollback or continue.';
    END IF;
    PERFORM rollout._require_reason(note, 'decide a rollback evaluation');
    SELECT k.rollback_authority INTO authority FROM rollout.release_classes() k WHERE k.class OPERATOR(pg_catalog.=) r.class;
    authority := coalesce(authority, 'system_owner');
    IF NOT pg_catalog.pg_has_role(me, 'rollout_release_' OPERATOR(pg_catalog.||) authority, 'MEMBER') THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('rollback decision refused: "%s" is not a member of rollout_release_%s', me, authority),
            DETAIL = format('Seed 004 §7: for class %s the rollback decision belongs to the %s.', r.class,
                            rollout._release_role_label(authority));
    END IF;
    SELECT count(*) INTO n_open FROM rollout.release_rollback_evaluation e
     WHERE e.release_id OPERATOR(pg_catalog.=) r.release_id AND e.decision IS NULL;
    IF decision = 'rollback' AND r.class OPERATOR(pg_catalog.=) 'mechanism'
       AND NOT EXISTS (SELECT 1 FROM rollout.release_incident i WHERE i.release_id OPERATOR(pg_catalog.=) r.release_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('rollback of mechanism-change release "%s" requires an incident log entry', r.release_id),
            DETAIL = 'Seed 004 §7: a mechanism-change rollback is approved by the System Owner and requires an incident log entry.',
            HINT = 'Report the incident with rollout.report_incident() first.';
    END IF;
    IF n_open = 0 AND decision = 'continue' THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('release "%s" has no open rollback evaluation', r.release_id);
    END IF;
    UPDATE rollout.release_rollback_evaluation e
       SET decision = decide_rollback.decision, decided_by = me, decided_role = authority,
           decided_at = rollout._release_now(), note = decide_rollback.note
     WHERE e.release_id OPERATOR(pg_catalog.=) r.release_id AND e.decision IS NULL;
    IF decision = 'rollback' THEN
        -- the channels that still deliver this release stop doing so
        PERFORM rollout._component_for_update(r.component_id);
        WITH d AS (
            DELETE FROM rollout.channel_release cr
             WHERE cr.component_id OPERATOR(pg_catalog.=) r.component_id AND cr.version OPERATOR(rollout.=) r.version
               AND cr.channel_id IN (SELECT rc.channel_id FROM rollout.release_channel rc
                                      WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id)
            RETURNING cr.channel_id)
        SELECT array_agg(d.channel_id ORDER BY d.channel_id) INTO cleared FROM d;
        UPDATE rollout.release x SET status = 'rolled_back', halted = true,
               halted_reason = coalesce(x.halted_reason, 'rolled back'), updated_at = rollout._release_now()
         WHERE x.release_id OPERATOR(pg_catalog.=) r.release_id RETURNING * INTO r;
    ELSE
        UPDATE rollout.release x SET halted = false, halted_reason = NULL, updated_at = rollout._release_now()
         WHERE x.release_id OPERATOR(pg_catalog.=) r.release_id RETURNING * INTO r;
    END IF;
    PERFORM rollout._audit('release.rollback_decided', NULL, 'release', r.release_id, note,
                           pg_catalog.jsonb_build_object('decision', decision, 'authority', authority,
                                                         'channels_cleared', cleared,
                                                         'notify', CASE WHEN r.class = 'workflow' THEN 'system_owner' END));
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.decide_rollback(text, text, text) IS
    'decide the open rollback evaluations of a release (rollback: its channels stop delivering it and it is finished; continue: the halt is lifted), by the class''s rollback authority (seed 004 §7); audited';

CREATE FUNCTION rollout._release_guard(component_id text, channel_id text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    IF EXISTS (SELECT 1 FROM rollout.release x WHERE x.component_id OPERATOR(pg_catalog.=) _release_guard.component_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('component "%s" is governed by releases: its channel "%s" changes only through rollout.promote()',
                             component_id, channel_id),
            DETAIL = 'A component becomes governed when its first release is created (rollout.create_release).',
            HINT = 'Create a release of the version and promote it through the channels in order.';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._release_guard(text, text) IS
    'internal (set_channel_release): refuse a direct channel release of a governed component (one with a release)';

-- Channels are positions (2_catalog.sql): the next channel, the approvals
-- each transition needs, and the GO memo before the last channel follow the
-- channels' order, and a release's soak is its current channel's min_soak.
-- While a release is in flight (promoting, not yet in the last channel) an
-- admin may therefore not add a channel, reorder the channels or lower the
-- minimum soak of the channel a release soaks in: that would, for example,
-- make "stable" the channel before a new last one (no GO memo, no System
-- Owner) or end a soak at once.  create_channel() and update_channel() call
-- this.
CREATE FUNCTION rollout._release_channel_guard(channel_id text, action text, new_ordinal integer, new_min_soak interval)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    in_flight text;
    soaking text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rollout.release x WHERE x.status OPERATOR(pg_catalog.=) 'promoting') THEN
        RETURN;
    END IF;
    SELECT pg_catalog.string_agg(format('"%s"', f.release_id), ', ' ORDER BY f.release_id) INTO in_flight
      FROM (SELECT rc.release_id, max(c.pos) AS pos, max(c.n) AS n
              FROM rollout.release x
              JOIN rollout.release_channel rc ON rc.release_id OPERATOR(pg_catalog.=) x.release_id
              JOIN rollout._release_channels() c ON c.channel_id OPERATOR(pg_catalog.=) rc.channel_id
             WHERE x.status OPERATOR(pg_catalog.=) 'promoting'
             GROUP BY rc.release_id) f
     WHERE f.pos < f.n;
    IF in_flight IS NULL THEN
        RETURN;
    END IF;
    IF action OPERATOR(pg_catalog.=) 'create'
       OR (new_ordinal IS NOT NULL
           AND (SELECT pg_catalog.array_agg(c.channel_id ORDER BY c.ordinal) FROM rollout.channel c)
               IS DISTINCT FROM
               (SELECT pg_catalog.array_agg(c.channel_id ORDER BY CASE WHEN c.channel_id OPERATOR(pg_catalog.=) _release_channel_guard.channel_id
                                                                      THEN new_ordinal ELSE c.ordinal END)
                  FROM rollout.channel c)) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('channel "%s" cannot be %s while releases are being promoted: %s', channel_id,
                             CASE WHEN action OPERATOR(pg_catalog.=) 'create' THEN 'created' ELSE 'moved in the channel order' END,
                             in_flight),
            DETAIL = 'The next channel of a release, the approvals each transition needs and the GO memo before the last channel follow the order of the channels.',
            HINT = 'Promote those releases to the last channel (or roll them back) first.';
    END IF;
    SELECT pg_catalog.string_agg(format('"%s"', f.release_id), ', ' ORDER BY f.release_id) INTO soaking
      FROM (SELECT DISTINCT ON (rc.release_id) rc.release_id, rc.channel_id
              FROM rollout.release x
              JOIN rollout.release_channel rc ON rc.release_id OPERATOR(pg_catalog.=) x.release_id
              JOIN rollout._release_channels() c ON c.channel_id OPERATOR(pg_catalog.=) rc.channel_id
             WHERE x.status OPERATOR(pg_catalog.=) 'promoting' AND c.pos < c.n
             ORDER BY rc.release_id, c.pos DESC) f
     WHERE f.channel_id OPERATOR(pg_catalog.=) _release_channel_guard.channel_id;
    IF soaking IS NOT NULL AND new_min_soak < (SELECT c.min_soak FROM rollout.channel c
                                                WHERE c.channel_id OPERATOR(pg_catalog.=) _release_channel_guard.channel_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('the minimum soak of channel "%s" cannot be lowered while releases soak in it: %s', channel_id, soaking),
            DETAIL = 'A release leaves a channel after the minimum soak it entered under.',
            HINT = 'Lower it once those releases have moved on, or raise it instead.';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._release_channel_guard(text, text, integer, interval) IS
    'internal (create_channel, update_channel): while a release is being promoted, refuse a new channel, a change of the channel order, or a lower minimum soak for a channel a release soaks in';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._release_channel_guard(text, text, integer, interval),
    rollout._release_enter(rollout.release, text, timestamptz, boolean, text),
    rollout.promote(text, text, text),
    rollout._release_tick(),
    rollout.report_incident(text, text, integer, text),
    rollout.resolve_incident(bigint, text),
    rollout.decide_rollback(text, text, text),
    rollout._release_guard(text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.promote(text, text, text)
TO rollout_admin;
GRANT EXECUTE ON FUNCTION
    rollout.report_incident(text, text, integer, text),
    rollout.resolve_incident(bigint, text)
TO rollout_operator;
GRANT EXECUTE ON FUNCTION
    rollout.decide_rollback(text, text, text)
TO rollout_release_dev_lead, rollout_release_system_owner;
