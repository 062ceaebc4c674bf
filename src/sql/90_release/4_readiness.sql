-- Readiness: every check of a release, the gates of one transition, the
-- facts of the GO/NO-GO memo and the memo itself.  One decision, one
-- function: rollout._release_gates() decides whether a transition may
-- happen; promote(), tick() and readiness() all call it.

CREATE FUNCTION rollout._release_utc(at timestamptz, fmt text DEFAULT 'YYYY-MM-DD HH24:MI')
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.to_char(at AT TIME ZONE 'UTC', fmt) || CASE WHEN fmt = 'YYYY-MM-DD' THEN '' ELSE ' UTC' END $$;
COMMENT ON FUNCTION rollout._release_utc(timestamptz, text) IS 'internal: a time as text in UTC, for details and memos';

CREATE FUNCTION rollout._release_interval(iv interval)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- independent of IntervalStyle: whole days, else hours, else seconds
    SELECT CASE WHEN s % 86400 = 0 THEN format('%s day%s', s / 86400, CASE WHEN s = 86400 THEN '' ELSE 's' END)
                WHEN s % 3600 = 0 THEN format('%s hours', s / 3600)
                ELSE format('%s seconds', s) END
      FROM (SELECT extract(epoch FROM iv)::bigint AS s) x
$$;
COMMENT ON FUNCTION rollout._release_interval(interval) IS 'internal: an interval as text whatever the session''s IntervalStyle';

CREATE FUNCTION rollout._release_check_states(r rollout.release, at timestamptz, with_consent boolean)
RETURNS TABLE (check_id text, kind text, required_from text, passed boolean, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    k record;
    rec rollout.release_check;
    rp jsonb := r.manifest->'rollback_plan';
    flag text := r.manifest->>'kill_switch';
    missing text[];
    plan rollout.release_exposure_plan;
    exp_channel text;
    test rollout.release_kill_switch_test;
    unconsented text[];
BEGIN
    SELECT * INTO plan FROM rollout.release_exposure_plan p WHERE p.release_id OPERATOR(pg_catalog.=) r.release_id;
    SELECT c.channel_id INTO exp_channel FROM rollout._release_channels() c WHERE c.pos = 2;
    FOR k IN SELECT * FROM rollout.release_check_catalog() LOOP
        CONTINUE WHEN k.classes IS NOT NULL AND (r.class IS NULL OR NOT r.class = ANY (k.classes));
        -- consent looks at every planned tenant's channels: only when asked
        CONTINUE WHEN k.check_id = 'exp.consent' AND NOT with_consent;
        check_id := k.check_id;
        kind := k.kind;
        required_from := k.required_from;
        IF NOT k.derived THEN
            SELECT * INTO rec FROM rollout.release_check c
             WHERE c.release_id OPERATOR(pg_catalog.=) r.release_id AND c.check_id OPERATOR(pg_catalog.=) k.check_id;
            IF NOT FOUND THEN
                passed := false;
                detail := format('not recorded: %s', k.description);
            ELSE
                passed := rec.passed;
                detail := format('%s by %s at %s: %s', CASE WHEN rec.passed THEN 'passed' ELSE 'FAILED' END,
                                 rec.checked_by, rollout._release_utc(rec.checked_at), rec.evidence);
            END IF;
        ELSIF k.check_id = 'hs.classification' THEN
            passed := r.class IS NOT NULL;
            detail := CASE WHEN passed THEN format('classified %s', r.class)
                           ELSE 'unclassified: the release may not enter any channel (seed 004 §3)' END;
        ELSIF k.check_id = 'hs.rollback_path' THEN
            SELECT array_agg(e ORDER BY o) INTO missing
              FROM unnest(ARRAY['trigger', 'procedure', 'verification', 'owner']
                          || CASE WHEN r.class = 'mechanism' THEN ARRAY['data_recovery'] ELSE ARRAY[]::text[] END)
                   WITH ORDINALITY AS u(e, o)
             WHERE rp IS NULL OR rp->e IS NULL OR rp->e IN ('null', '""', '[]', '{}');
            passed := missing IS NULL;
            detail := CASE WHEN passed THEN 'rollback plan: trigger, procedure, verification, owner'
                           ELSE format('the manifest''s rollback plan lacks: %s', pg_catalog.array_to_string(missing, ', ')) END;
        ELSIF k.check_id = 'hs.kill_switch' THEN
            passed := flag IS NOT NULL AND EXISTS (SELECT 1 FROM rollout.flag f WHERE f.flag_id OPERATOR(pg_catalog.=) flag);
            detail := CASE WHEN flag IS NULL THEN 'the manifest names no kill switch'
                           WHEN passed THEN format('flag "%s"', flag)
                           ELSE format('flag "%s" named by the manifest does not exist', flag) END;
        ELSIF k.check_id = 'ks.tested' THEN
            SELECT * INTO test FROM rollout.release_kill_switch_test t
             WHERE t.release_id OPERATOR(pg_catalog.=) r.release_id AND t.flag_id OPERATOR(pg_catalog.=) flag
             ORDER BY t.test_id DESC LIMIT 1;
            passed := FOUND AND test.passed;
            detail := CASE WHEN test.test_id IS NULL THEN format('no test of kill switch %s recorded',
                                                                   coalesce('"' || flag || '"', '(none named)'))
                           ELSE format('%s in %s by %s at %s', CASE WHEN test.passed THEN 'passed' ELSE 'FAILED' END,
                                       test.channel_id, test.tested_by, rollout._release_utc(test.tested_at)) END;
        ELSIF k.check_id = 'exp.plan' THEN
            passed := plan.release_id IS NOT NULL;
            detail := CASE WHEN passed THEN format('%s tenants, owner %s', pg_catalog.cardinality(plan.tenants), plan.owner)
                           ELSE 'no tenant exposure plan recorded (rollout.set_exposure_plan)' END;
        ELSIF k.check_id = 'exp.consent' THEN
            IF plan.release_id IS NULL THEN
                passed := false;
                detail := 'no tenant exposure plan recorded';
            ELSE
                SELECT array_agg(t ORDER BY t) INTO unconsented
                  FROM unnest(plan.tenants) t
                 WHERE NOT EXISTS (SELECT 1 FROM rollout.tenant_channels(t) tc
                                    WHERE tc.channel_id OPERATOR(pg_catalog.=) exp_channel AND tc.eligible);
                passed := unconsented IS NULL;
                detail := CASE WHEN passed THEN format('all %s planned tenants are eligible for "%s"', pg_catalog.cardinality(plan.tenants), exp_channel)
                               ELSE format('no recorded consent to "%s" for: %s', exp_channel, pg_catalog.array_to_string(unconsented, ', ')) END;
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION rollout._release_check_states(rollout.release, timestamptz, boolean) IS
    'internal: the state of every catalogued check of a release (recorded results and derived facts; exp.consent only when with_consent)';

CREATE FUNCTION rollout._release_gates(r rollout.release, to_channel text, at timestamptz)
RETURNS TABLE (check_id text, kind text, passed boolean, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    tgt record;
    cur record;
    nxt text;
    soak interval;
    plan rollout.release_exposure_plan;
    ids text;
    role text;
    ap rollout.release_approval;
    m rollout.release_memo;
    newer rollout.semver;
    voided bigint;
BEGIN
    SELECT * INTO tgt FROM rollout._release_channels() c WHERE c.channel_id OPERATOR(pg_catalog.=) to_channel;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('channel "%s" does not exist', to_channel);
    END IF;
    SELECT c.*, rc.entered_at INTO cur
      FROM rollout.release_channel rc JOIN rollout._release_channels() c ON c.channel_id OPERATOR(pg_catalog.=) rc.channel_id
     WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id
     ORDER BY c.pos DESC LIMIT 1;
    SELECT c.channel_id INTO nxt FROM rollout._release_channels() c WHERE c.pos = coalesce(cur.pos, 0) + 1;

    check_id := 'release.active'; kind := 'transition';
    passed := r.status OPERATOR(pg_catalog.<>) 'rolled_back';
    detail := CASE WHEN passed THEN 'not rolled back' ELSE 'the release was rolled back' END;
    RETURN NEXT;

    check_id := 'release.not_halted'; kind := 'incident';
    passed := NOT r.halted;
    detail := CASE WHEN passed THEN 'not halted' ELSE format('halted: %s', r.halted_reason) END;
    RETURN NEXT;

    check_id := 'channel.order'; kind := 'transition';
    passed := tgt.pos = coalesce(cur.pos, 0) + 1;
    detail := CASE WHEN passed THEN format('%s -> %s', coalesce(cur.channel_id, '(none)'), to_channel)
                   WHEN tgt.pos <= coalesce(cur.pos, 0) THEN format('the release has already entered "%s" (it is in "%s")', to_channel, cur.channel_id)
                   ELSE format('channel skip: the release is in %s; the next channel is "%s", not "%s" (channels are entered in order, never skipped)',
                               coalesce('"' || cur.channel_id || '"', 'no channel'), nxt, to_channel) END;
    RETURN NEXT;

    SELECT cr.version INTO newer FROM rollout.channel_release cr
     WHERE cr.component_id OPERATOR(pg_catalog.=) r.component_id AND cr.channel_id OPERATOR(pg_catalog.=) to_channel
       AND cr.version OPERATOR(rollout.>) r.version;
    check_id := 'channel.no_newer'; kind := 'transition';
    passed := newer IS NULL;
    detail := CASE WHEN passed THEN 'no newer version in the channel'
                   ELSE format('channel "%s" already delivers the newer version %s', to_channel, newer) END;
    RETURN NEXT;

    -- the catalogued checks required for the target position
    RETURN QUERY
        SELECT s.check_id, s.kind, s.passed, s.detail
          -- consent gates exposure (entry to experimental); a tenant may opt out later
          FROM rollout._release_check_states(r, at, tgt.pos = 2) s
         WHERE rollout._release_position(s.required_from, tgt.n) <= tgt.pos;

    IF cur.pos IS NOT NULL THEN
        -- soak in the channel being left, from this release's own entry
        SELECT * INTO plan FROM rollout.release_exposure_plan p WHERE p.release_id OPERATOR(pg_catalog.=) r.release_id;
        soak := cur.min_soak;
        IF cur.pos = 2 AND plan.min_duration > soak THEN
            soak := plan.min_duration;
        END IF;
        check_id := 'soak'; kind := 'soak';
        passed := cur.entered_at + soak <= at;
        detail := format('entered "%s" at %s; minimum soak %s; eligible at %s', cur.channel_id,
                         rollout._release_utc(cur.entered_at), rollout._release_interval(soak),
                         rollout._release_utc(cur.entered_at + soak));
        IF NOT passed THEN
            detail := 'soak not over: ' || detail;
        END IF;
        RETURN NEXT;

        SELECT pg_catalog.string_agg(format('#%s SEV-%s', i.incident_id, i.severity), ', ' ORDER BY i.incident_id) INTO ids
          FROM rollout.release_incident i
         WHERE i.release_id OPERATOR(pg_catalog.=) r.release_id AND i.channel_id OPERATOR(pg_catalog.=) cur.channel_id
           AND i.severity <= 2;
        check_id := 'exit.no_sev1_sev2'; kind := 'incident';
        passed := ids IS NULL;
        detail := CASE WHEN passed THEN format('no SEV-1/SEV-2 incident in "%s"', cur.channel_id)
                       ELSE format('SEV-1/SEV-2 during soak in "%s" fails the exit criteria: %s', cur.channel_id, ids) END;
        RETURN NEXT;

        SELECT pg_catalog.string_agg(format('#%s SEV-%s in %s', i.incident_id, i.severity, i.channel_id), ', ' ORDER BY i.incident_id) INTO ids
          FROM rollout.release_incident i
         WHERE i.release_id OPERATOR(pg_catalog.=) r.release_id AND i.resolved_at IS NULL;
        check_id := 'exit.incidents_resolved'; kind := 'incident';
        passed := ids IS NULL;
        detail := CASE WHEN passed THEN 'no open incident' ELSE format('open incidents: %s', ids) END;
        RETURN NEXT;
    END IF;

    FOREACH role IN ARRAY rollout._release_required_roles(r.class, tgt.pos, tgt.n) LOOP
        SELECT * INTO ap FROM rollout.release_approval a
         WHERE a.release_id OPERATOR(pg_catalog.=) r.release_id AND a.to_channel OPERATOR(pg_catalog.=) to_channel
           AND a.role OPERATOR(pg_catalog.=) role AND a.revision = r.revision
         ORDER BY a.approval_id LIMIT 1;
        check_id := 'approval.' || role; kind := 'approval';
        passed := FOUND;
        IF passed THEN
            detail := format('%s by %s at %s', rollout._release_role_label(role), ap.approver, rollout._release_utc(ap.approved_at));
        ELSE
            SELECT count(*) INTO voided FROM rollout.release_approval a
             WHERE a.release_id OPERATOR(pg_catalog.=) r.release_id AND a.to_channel OPERATOR(pg_catalog.=) to_channel
               AND a.role OPERATOR(pg_catalog.=) role AND a.revision <> r.revision;
            detail := format('no %s approval at revision %s', rollout._release_role_label(role), r.revision)
                      || CASE WHEN voided > 0 THEN format(' (%s voided by a later manifest, class or plan change)', voided) ELSE '' END;
        END IF;
        RETURN NEXT;
    END LOOP;

    IF tgt.pos = tgt.n AND tgt.n >= 3 THEN
        SELECT * INTO m FROM rollout.release_memo x WHERE x.release_id OPERATOR(pg_catalog.=) r.release_id
         ORDER BY x.memo_id DESC LIMIT 1;
        check_id := 'memo.go'; kind := 'memo';
        IF NOT FOUND THEN
            passed := false;
            detail := format('promotion to "%s" without a GO/NO-GO memo is forbidden (rollout.record_memo)', to_channel);
        ELSIF m.decision OPERATOR(pg_catalog.<>) 'GO' THEN
            passed := false;
            detail := format('the latest memo (#%s) is NO-GO: %s', m.memo_id, m.rationale);
        ELSIF m.state_digest OPERATOR(pg_catalog.<>) rollout._release_state_digest(r, at) THEN
            passed := false;
            detail := format('GO memo #%s no longer matches the release''s state (checks, approvals, incidents or manifest changed since)', m.memo_id);
        ELSE
            passed := true;
            detail := format('GO memo #%s of %s', m.memo_id, rollout._release_utc(m.created_at, 'YYYY-MM-DD'));
        END IF;
        RETURN NEXT;
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._release_gates(rollout.release, text, timestamptz) IS
    'internal: every gate of a release''s entry into a channel (order, hard stops and checklists, soak, incidents, approvals, memo): the one decision promote(), tick() and readiness() share';

CREATE FUNCTION rollout.readiness(release_id text, to_channel text DEFAULT NULL)
RETURNS TABLE (check_id text, kind text, passed boolean, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release;
    tgt text := to_channel;
BEGIN
    SELECT * INTO r FROM rollout.release x WHERE x.release_id OPERATOR(pg_catalog.=) readiness.release_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('release "%s" does not exist', release_id);
    END IF;
    IF tgt IS NULL THEN
        SELECT c.channel_id INTO tgt FROM rollout._release_channels() c
         WHERE c.pos = 1 + coalesce((SELECT max(c2.pos) FROM rollout.release_channel rc
                                       JOIN rollout._release_channels() c2 ON c2.channel_id OPERATOR(pg_catalog.=) rc.channel_id
                                      WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id), 0);
        IF tgt IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('release "%s" is in the last channel', r.release_id);
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM rollout._release_gates(r, tgt, rollout._release_now());
END
$$;
COMMENT ON FUNCTION rollout.readiness(text, text) IS
    'every gate of a release''s entry into a channel (default: the next one) with passed and why; promote() refuses while any row is not passed';

CREATE FUNCTION rollout._release_facts(r rollout.release, at timestamptz)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    n integer := (SELECT count(*) FROM rollout.channel);
    last_channel text := (SELECT c.channel_id FROM rollout._release_channels() c WHERE c.pos = n);
    checks jsonb;
    channels jsonb;
    incidents jsonb;
    approvals jsonb;
    test rollout.release_kill_switch_test;
    plan rollout.release_exposure_plan;
    checklist jsonb;
BEGIN
    -- consent is checked on entry to experimental only (tenants may opt out later)
    SELECT pg_catalog.jsonb_object_agg(s.check_id, s.passed) INTO checks FROM rollout._release_check_states(r, at, false) s;
    SELECT * INTO plan FROM rollout.release_exposure_plan p WHERE p.release_id OPERATOR(pg_catalog.=) r.release_id;
    SELECT * INTO test FROM rollout.release_kill_switch_test t
     WHERE t.release_id OPERATOR(pg_catalog.=) r.release_id AND t.flag_id OPERATOR(pg_catalog.=) (r.manifest->>'kill_switch')
     ORDER BY t.test_id DESC LIMIT 1;
    WITH e AS (
        SELECT c.channel_id, c.pos, rc.entered_at,
               lead(rc.entered_at) OVER (ORDER BY c.pos) AS left_at,
               CASE WHEN c.pos = 2 THEN greatest(c.min_soak, coalesce(plan.min_duration, c.min_soak)) ELSE c.min_soak END AS soak
          FROM rollout.release_channel rc JOIN rollout._release_channels() c ON c.channel_id OPERATOR(pg_catalog.=) rc.channel_id
         WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id
    )
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'channel', e.channel_id, 'pos', e.pos, 'entered_at', rollout._release_utc(e.entered_at),
               'left_at', rollout._release_utc(e.left_at), 'soak', rollout._release_interval(e.soak), 'days', extract(epoch FROM coalesce(e.left_at, at) - e.entered_at)::numeric / 86400,
               'met', coalesce(e.left_at, at) - e.entered_at >= e.soak) ORDER BY e.pos)
      INTO channels FROM e;
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('id', i.incident_id, 'channel', i.channel_id,
                                                              'severity', i.severity, 'resolved', i.resolved_at IS NOT NULL)
                                ORDER BY i.incident_id)
      INTO incidents FROM rollout.release_incident i WHERE i.release_id OPERATOR(pg_catalog.=) r.release_id;
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('id', a.approval_id, 'approver', a.approver, 'role', a.role,
                                                              'date', rollout._release_utc(a.approved_at, 'YYYY-MM-DD'))
                                ORDER BY a.approved_at, a.approval_id)
      INTO approvals FROM rollout.release_approval a
     WHERE a.release_id OPERATOR(pg_catalog.=) r.release_id AND a.to_channel OPERATOR(pg_catalog.=) last_channel
       AND a.revision = r.revision;
    checklist := pg_catalog.jsonb_build_object(
        'durations', coalesce((SELECT bool_and((x->>'met')::boolean) FROM pg_catalog.jsonb_array_elements(channels) x
                                WHERE (x->>'pos')::integer < n), false),
        'no_sev1_sev2', NOT EXISTS (SELECT 1 FROM rollout.release_incident i
                                     JOIN rollout._release_channels() c ON c.channel_id OPERATOR(pg_catalog.=) i.channel_id
                                    WHERE i.release_id OPERATOR(pg_catalog.=) r.release_id AND i.severity <= 2 AND c.pos >= 2),
        'data_safety', coalesce((SELECT bool_and(v::boolean) FROM pg_catalog.jsonb_each_text(checks) x(k, v) WHERE k LIKE 'ds.%'), false),
        'kill_switch', coalesce((checks->>'ks.tested')::boolean AND (checks->>'hs.kill_switch')::boolean, false),
        'rollback', coalesce((checks->>'hs.rollback_path')::boolean AND (checks->>'rb.tested')::boolean, false),
        'observability', coalesce((SELECT bool_and(v::boolean) FROM pg_catalog.jsonb_each_text(checks) x(k, v)
                                    WHERE k LIKE 'ob.%' OR k LIKE 'ov.%'), false),
        'exit_criteria', coalesce((checks->>'exp.exit_criteria')::boolean, false));
    RETURN pg_catalog.jsonb_build_object(
        'release', r.release_id, 'component', r.component_id, 'version', r.version::text,
        'class', r.class, 'class_label', (SELECT k.label FROM rollout.release_classes() k WHERE k.class OPERATOR(pg_catalog.=) r.class),
        'date', rollout._release_utc(at, 'YYYY-MM-DD'),
        'channels', coalesce(channels, '[]'), 'approvals', coalesce(approvals, '[]'),
        'checklist', checklist,
        -- what a memo vouches for: it must still hold at promotion
        'state', pg_catalog.jsonb_build_object(
            'revision', r.revision, 'class', r.class, 'status', r.status, 'halted', r.halted,
            -- times as epoch numbers: the digest must not depend on TimeZone or DateStyle
            'entries', (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(rc.channel_id, extract(epoch FROM rc.entered_at))
                                                             ORDER BY rc.entered_at, rc.channel_id), '[]')
                          FROM rollout.release_channel rc WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id),
            'incidents', coalesce(incidents, '[]'), 'checks', checks, 'checklist', checklist,
            'kill_switch_test', test.test_id, 'plan', extract(epoch FROM plan.recorded_at),
            'approvals', (SELECT coalesce(pg_catalog.jsonb_agg(x->'id' ORDER BY (x->>'id')::bigint), '[]')
                            FROM pg_catalog.jsonb_array_elements(coalesce(approvals, '[]')) x)));
END
$$;
COMMENT ON FUNCTION rollout._release_facts(rollout.release, timestamptz) IS
    'internal: the database''s facts about a release that a GO/NO-GO memo reports (soak per channel, incidents, checks, kill-switch test, approvers) and its state';

CREATE FUNCTION rollout._release_state_digest(r rollout.release, at timestamptz)
RETURNS bytea
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.sha256(pg_catalog.convert_to((rollout._release_facts(r, at)->'state')::text, 'UTF8')) $$;
COMMENT ON FUNCTION rollout._release_state_digest(rollout.release, timestamptz) IS
    'internal: SHA-256 of the state a memo vouches for (jsonb text: keys in a fixed order)';

CREATE FUNCTION rollout._release_render_memo(f jsonb, decision text, known_risks jsonb, notes text,
                                             rationale text, remediation text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nl constant text := E'\n';
    b text;
    durations text;
    x jsonb;
    sig_owner text;
    sig_dev text;
    box text;
BEGIN
    SELECT pg_catalog.string_agg(
               CASE WHEN (e->>'days')::numeric % 7 = 0 AND (e->>'days')::numeric > 0
                    THEN format('%s week%s', ((e->>'days')::numeric / 7)::integer, CASE WHEN (e->>'days')::numeric = 7 THEN '' ELSE 's' END)
                    WHEN (e->>'days')::numeric % 1 = 0 THEN format('%s days', (e->>'days')::integer)
                    ELSE format('%s days', round((e->>'days')::numeric, 1)) END
               || ' in ' || (e->>'channel'), ', ' ORDER BY (e->>'pos')::integer)
      INTO durations
      FROM pg_catalog.jsonb_array_elements(f->'channels') e
     WHERE (e->>'pos')::integer >= 2;
    b := 'GO/NO-GO DECISION MEMO' || nl || nl
      || 'Release: ' || (f->>'release') || nl
      || 'Classification: ' || coalesce(f->>'class_label', 'unclassified') || nl
      || 'Date: ' || (f->>'date') || nl || nl
      || 'DECISION: ' || decision || nl || nl
      || 'Approvers:' || nl;
    IF pg_catalog.jsonb_array_length(f->'approvals') = 0 THEN
        b := b || '  - None' || nl;
    END IF;
    FOR x IN SELECT * FROM pg_catalog.jsonb_array_elements(f->'approvals') LOOP
        b := b || format('  - %s, %s, %s', x->>'approver', rollout._release_role_label(x->>'role'), x->>'date') || nl;
        IF x->>'role' = 'system_owner' AND sig_owner IS NULL THEN sig_owner := format('%s, %s', x->>'approver', x->>'date'); END IF;
        IF x->>'role' = 'dev_lead' AND sig_dev IS NULL THEN sig_dev := format('%s, %s', x->>'approver', x->>'date'); END IF;
    END LOOP;
    b := b || nl || 'Checklist:' || nl;
    FOR x IN SELECT pg_catalog.jsonb_build_array(k, t) FROM (VALUES
            (1, 'durations', 'All channel durations met' || coalesce(' (' || durations || ')', '')),
            (2, 'no_sev1_sev2', 'No SEV-1 or SEV-2 incidents during soak'),
            (3, 'data_safety', 'Data safety verification passed'),
            (4, 'kill_switch', 'Kill switch tested and functional'),
            (5, 'rollback', 'Rollback plan documented and tested'),
            (6, 'observability', 'Observability verified'),
            (7, 'exit_criteria', 'Exit criteria from Tenant Exposure Plan met')) v(o, k, t) ORDER BY o LOOP
        box := CASE WHEN (f->'checklist'->>(x->>0))::boolean THEN '[x]' ELSE '[ ]' END;
        b := b || '  - ' || box || ' ' || (x->>1) || nl;
    END LOOP;
    b := b || nl || 'Known Risks Accepted:' || nl;
    IF known_risks IS NULL OR pg_catalog.jsonb_array_length(known_risks) = 0 THEN
        b := b || '  - None' || nl;
    ELSE
        FOR x IN SELECT * FROM pg_catalog.jsonb_array_elements(known_risks) LOOP
            b := b || format('  - %s: %s', x->>'risk', x->>'rationale') || nl;
        END LOOP;
    END IF;
    b := b || nl || 'Notes:' || nl
      || coalesce((SELECT pg_catalog.string_agg('  ' || l, nl) FROM pg_catalog.regexp_split_to_table(notes, E'\n') l), '  None') || nl;
    IF decision = 'NO-GO' THEN
        b := b || nl || 'Rationale:' || nl
          || (SELECT pg_catalog.string_agg('  ' || l, nl) FROM pg_catalog.regexp_split_to_table(rationale, E'\n') l) || nl
          || nl || 'Remediation Plan:' || nl
          || (SELECT pg_catalog.string_agg('  ' || l, nl) FROM pg_catalog.regexp_split_to_table(remediation, E'\n') l) || nl;
    END IF;
    b := b || nl || 'Signatures:' || nl
      || '  - System Owner: ' || coalesce(sig_owner, '_________________ Date: _______') || nl
      || '  - Dev Lead: ' || coalesce(sig_dev, '_________________ Date: _______') || nl;
    RETURN b;
END
$$;
COMMENT ON FUNCTION rollout._release_render_memo(jsonb, text, jsonb, text, text, text) IS
    'internal: a GO/NO-GO memo in seed 004 §9''s layout from a release''s facts';

CREATE FUNCTION rollout.record_memo(release_id text, decision text, known_risks jsonb DEFAULT '[]',
                                    notes text DEFAULT NULL, rationale text DEFAULT NULL, remediation text DEFAULT NULL)
RETURNS rollout.release_memo
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.release := rollout._release_for_update(release_id);
    at timestamptz := rollout._release_now();
    me text := session_user;
    n integer := (SELECT count(*) FROM rollout.channel);
    cur_pos integer;
    f jsonb;
    failing text;
    x jsonb;
    m rollout.release_memo;
BEGIN
    IF NOT (pg_catalog.pg_has_role(me, 'rollout_release_system_owner', 'MEMBER')
            OR pg_catalog.pg_has_role(me, 'rollout_release_dev_lead', 'MEMBER')) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('memo refused: "%s" is neither a system owner nor a dev lead', me),
            DETAIL = 'The GO/NO-GO memo is signed by the System Owner and the Dev Lead (seed 004 §9).';
    END IF;
    IF decision IS NULL OR decision NOT IN ('GO', 'NO-GO') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid memo decision "%s"', decision), DETAIL = 'A memo decides GO or NO-GO.';
    END IF;
    SELECT coalesce(max(c.pos), 0) INTO cur_pos
      FROM rollout.release_channel rc JOIN rollout._release_channels() c ON c.channel_id OPERATOR(pg_catalog.=) rc.channel_id
     WHERE rc.release_id OPERATOR(pg_catalog.=) r.release_id;
    IF n < 3 OR cur_pos <> n - 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('a GO/NO-GO memo decides the last promotion: release "%s" is not in the channel before the last', r.release_id);
    END IF;
    IF known_risks IS NULL OR pg_catalog.jsonb_typeof(known_risks) <> 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'known risks must be a JSON array of {"risk": ..., "rationale": ...}';
    END IF;
    FOR x IN SELECT * FROM pg_catalog.jsonb_array_elements(known_risks) LOOP
        IF pg_catalog.jsonb_typeof(x) <> 'object' OR coalesce(btrim(x->>'risk'), '') = '' OR coalesce(btrim(x->>'rationale'), '') = '' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('an accepted risk needs a risk and a rationale: %s', x),
                DETAIL = 'Seed 004 §9: GO with accepted risks requires explicit risk documentation.';
        END IF;
    END LOOP;
    IF decision = 'NO-GO' AND (coalesce(btrim(rationale), '') = '' OR coalesce(btrim(remediation), '') = '') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'a NO-GO memo requires a written rationale and a remediation plan';
    END IF;
    f := rollout._release_facts(r, at);
    IF decision = 'GO' THEN
        SELECT pg_catalog.string_agg(k, ', ' ORDER BY k) INTO failing
          FROM pg_catalog.jsonb_each_text(f->'checklist') c(k, v) WHERE NOT v::boolean;
        IF failing IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('GO memo refused for release "%s": checklist items not met: %s', r.release_id, failing),
                HINT = 'Record a NO-GO memo with a rationale and remediation plan, or complete the checklist.';
        END IF;
    END IF;
    INSERT INTO rollout.release_memo AS x (release_id, decision, revision, facts, state_digest, known_risks, notes,
                                           rationale, remediation, body, body_digest, created_by, created_at)
    VALUES (r.release_id, decision, r.revision, f, pg_catalog.sha256(pg_catalog.convert_to((f->'state')::text, 'UTF8')),
            known_risks, notes, rationale, remediation,
            rollout._release_render_memo(f, decision, known_risks, notes, rationale, remediation), '\x', me, at)
    RETURNING * INTO m;
    UPDATE rollout.release_memo x SET body_digest = pg_catalog.sha256(pg_catalog.convert_to(x.body, 'UTF8'))
     WHERE x.memo_id = m.memo_id RETURNING * INTO m;
    PERFORM rollout._audit('release.memo_recorded', NULL, 'release', r.release_id, notes,
                           pg_catalog.jsonb_build_object('memo', m.memo_id, 'decision', decision,
                                                         'body_sha256', pg_catalog.encode(m.body_digest, 'hex'),
                                                         'state_sha256', pg_catalog.encode(m.state_digest, 'hex')));
    RETURN m;
END
$$;
COMMENT ON FUNCTION rollout.record_memo(text, text, jsonb, text, text, text) IS
    'generate, store and audit the GO/NO-GO memo of a release in the channel before the last, from the database''s facts plus the known risks and notes people supply; GO needs every checklist item, NO-GO a rationale and remediation plan';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._release_utc(timestamptz, text),
    rollout._release_interval(interval),
    rollout._release_check_states(rollout.release, timestamptz, boolean),
    rollout._release_gates(rollout.release, text, timestamptz),
    rollout.readiness(text, text),
    rollout._release_facts(rollout.release, timestamptz),
    rollout._release_state_digest(rollout.release, timestamptz),
    rollout._release_render_memo(jsonb, text, jsonb, text, text, text),
    rollout.record_memo(text, text, jsonb, text, text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.readiness(text, text)
TO rollout_viewer;
GRANT EXECUTE ON FUNCTION
    rollout.record_memo(text, text, jsonb, text, text, text)
TO rollout_release_dev_lead, rollout_release_system_owner;
