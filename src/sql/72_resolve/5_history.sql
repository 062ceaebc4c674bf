-- Per-tenant version history: when did tenant T move to version V, and why.
--
-- Nothing is written per tenant for it beyond what resolution already
-- keeps: the activation rows (current and previous_*), the activations that
-- left that table (rollout.activation_history: undone by a rollback or a
-- cancellation, or dropped from previous_*), and the audit log (pins,
-- unpins, channel releases, platform defaults, who started a stage or rolled
-- a rollout back).  rollout.tenant_history() gathers the decisions made on
-- the tenant, on its ancestors and for the whole platform, replays them in
-- time order with the rules of resolution, and returns the decisions that
-- changed the version the tenant runs.

CREATE FUNCTION rollout.tenant_history(tenant_id text, component_id text)
RETURNS TABLE (changed_at timestamptz, version rollout.semver, previous_version rollout.semver, cause text,
               decided_on text, rollout_id text, stage_no integer, actor text, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    t rollout.tenant;
    p text[];
    eff_ordinal integer;
    ev record;
    pins jsonb := '{}';         -- node -> pinned version
    acts jsonb := '{}';         -- "node rollout" -> {"node", "v", "rank", "depth"}
    releases jsonb := '{}';     -- channel -> version
    dflt text;
    cur text;
    nxt text;
    best jsonb;
    k text;
    i integer;
BEGIN
    SELECT * INTO t FROM rollout.tenant x WHERE x.tenant_id = tenant_history.tenant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('tenant "%s" does not exist', tenant_history.tenant_id);
    END IF;
    PERFORM 1 FROM rollout.component c WHERE c.component_id = tenant_history.component_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('component "%s" does not exist', tenant_history.component_id);
    END IF;
    p := t.path;
    SELECT c.ordinal INTO eff_ordinal FROM rollout.channel c WHERE c.channel_id = rollout.effective_channel(t.tenant_id);

    FOR ev IN
        WITH acts_all AS (
                -- every activation the tenant's path has had: current, previous_*, archived
                SELECT a.tenant_id AS node, a.version, a.rollout_id, a.stage_no, a.start_no, a.activated_at
                  FROM rollout.activation a
                 WHERE a.component_id = tenant_history.component_id AND a.tenant_id = ANY (p)
                UNION ALL
                SELECT a.tenant_id, a.previous_version, a.previous_rollout_id, a.previous_stage_no,
                       a.previous_start_no, a.previous_activated_at
                  FROM rollout.activation a
                 WHERE a.component_id = tenant_history.component_id AND a.tenant_id = ANY (p)
                   AND a.previous_rollout_id IS NOT NULL
                UNION ALL
                SELECT h.tenant_id, h.version, h.rollout_id, h.stage_no, h.start_no, h.activated_at
                  FROM rollout.activation_history h
                 WHERE h.component_id = tenant_history.component_id AND h.tenant_id = ANY (p)),
             events AS (
                -- kind orders the events of one transaction: activations (by
                -- stage, root first), then audited changes in their order,
                -- then ends
                SELECT a.activated_at AS at, 1 AS kind, 0::bigint AS seq, 'activate' AS op, 'rollout' AS cause,
                       a.node, a.version::text AS v, a.rollout_id, a.stage_no, a.start_no,
                       l.actor, l.reason
                  FROM acts_all a
                  LEFT JOIN LATERAL (
                        SELECT l.actor, l.reason FROM rollout.audit_log l
                         WHERE l.subject_kind = 'rollout' AND l.subject_id = a.rollout_id
                           AND l.action IN ('rollout.stage.started', 'rollout.deferred_activated')
                           AND l.logged_at >= a.activated_at
                         ORDER BY l.seq LIMIT 1) l ON true
                UNION ALL
                SELECT h.ended_at, 3, 0, 'deactivate',
                       CASE h.ended_by WHEN 'rolled_back' THEN 'rollback' WHEN 'cancelled' THEN 'cancel'
                                       ELSE 'superseded' END,
                       h.tenant_id, h.version::text, h.rollout_id, h.stage_no, h.start_no, l.actor, l.reason
                  FROM rollout.activation_history h
                  LEFT JOIN LATERAL (
                        SELECT l.actor, l.reason FROM rollout.audit_log l
                         WHERE l.subject_kind = 'rollout' AND l.subject_id = h.ended_rollout_id
                           AND l.action IN ('rollout.rollback', 'rollout.cancelled', 'rollout.stage.started',
                                            'rollout.deferred_activated')
                           AND l.logged_at >= h.ended_at
                         ORDER BY l.seq LIMIT 1) l ON true
                 WHERE h.component_id = tenant_history.component_id AND h.tenant_id = ANY (p)
                UNION ALL
                SELECT l.logged_at, 2, l.seq,
                       CASE l.action WHEN 'version.pinned' THEN 'pin' ELSE 'unpin' END,
                       CASE l.action WHEN 'version.pinned' THEN 'pin' ELSE 'unpin' END,
                       l.tenant_id, l.details ->> 'version', NULL, NULL, NULL, l.actor, l.reason
                  FROM rollout.audit_log l
                 WHERE l.tenant_id = ANY (p) AND l.subject_kind = 'component'
                   AND l.subject_id = tenant_history.component_id
                   AND l.action IN ('version.pinned', 'version.unpinned')
                UNION ALL
                SELECT l.logged_at, 2, l.seq,
                       CASE WHEN l.action IN ('channel.release_set', 'channel.release_cleared') THEN 'release'
                            ELSE 'default' END,
                       CASE l.action WHEN 'channel.release_set' THEN 'channel_release'
                                     WHEN 'channel.release_cleared' THEN 'channel_release_cleared'
                                     ELSE 'default' END,
                       CASE WHEN l.action LIKE 'channel.%' THEN l.details ->> 'channel' END,
                       CASE l.action WHEN 'channel.release_set' THEN l.details ->> 'version'
                                     WHEN 'channel.release_cleared' THEN NULL
                                     WHEN 'component.default_version_set' THEN l.details ->> 'to'
                                     ELSE l.details ->> 'default_version' END,
                       NULL, NULL, NULL, l.actor, l.reason
                  FROM rollout.audit_log l
                 WHERE l.subject_kind = 'component' AND l.subject_id = tenant_history.component_id
                   AND l.action IN ('channel.release_set', 'channel.release_cleared',
                                    'component.default_version_set', 'component.created'))
        SELECT * FROM events e ORDER BY e.at, e.kind, e.seq, e.stage_no, array_position(p, e.node), e.node
    LOOP
        CASE ev.op
            WHEN 'activate' THEN
                acts := acts || jsonb_build_object(ev.node || ' ' || ev.rollout_id,
                                                   jsonb_build_object('node', ev.node, 'v', ev.v, 'rank', ev.start_no,
                                                                      'depth', array_position(p, ev.node)));
            WHEN 'deactivate' THEN
                acts := acts - (ev.node || ' ' || ev.rollout_id);
            WHEN 'pin' THEN
                pins := pins || jsonb_build_object(ev.node, ev.v);
            WHEN 'unpin' THEN
                pins := pins - ev.node;
            WHEN 'release' THEN
                releases := CASE WHEN ev.v IS NULL THEN releases - ev.node
                                 ELSE releases || jsonb_build_object(ev.node, ev.v) END;
            ELSE
                dflt := ev.v;
        END CASE;

        -- resolve with the state so far (the rules of src/resolve.c)
        nxt := NULL;
        FOR i IN REVERSE cardinality(p) .. 1 LOOP
            nxt := pins ->> p[i];
            EXIT WHEN nxt IS NOT NULL;
        END LOOP;
        IF nxt IS NULL AND t.status = 'active' THEN
            best := NULL;
            FOR k IN SELECT jsonb_object_keys(acts) LOOP
                IF best IS NULL OR (acts -> k ->> 'rank')::integer > (best ->> 'rank')::integer
                   OR ((acts -> k ->> 'rank')::integer = (best ->> 'rank')::integer
                       AND (acts -> k ->> 'depth')::integer > (best ->> 'depth')::integer) THEN
                    best := acts -> k;
                END IF;
            END LOOP;
            nxt := best ->> 'v';
        END IF;
        IF nxt IS NULL AND eff_ordinal IS NOT NULL THEN
            SELECT releases ->> c.channel_id INTO nxt FROM rollout.channel c
             WHERE c.ordinal >= eff_ordinal AND releases ? c.channel_id
             ORDER BY c.ordinal LIMIT 1;
        END IF;
        nxt := coalesce(nxt, dflt);

        IF nxt IS DISTINCT FROM cur AND ev.at >= t.created_at THEN
            changed_at := ev.at;
            version := nxt::rollout.semver;
            previous_version := cur::rollout.semver;
            cause := ev.cause;
            decided_on := ev.node;
            rollout_id := ev.rollout_id;
            stage_no := ev.stage_no;
            actor := ev.actor;
            reason := ev.reason;
            RETURN NEXT;
        END IF;
        cur := nxt;
    END LOOP;
END
$$;
COMMENT ON FUNCTION rollout.tenant_history(text, text) IS
    'every change of the version of a component a tenant runs, with its cause (rollout, rollback, cancel, superseded, pin, unpin, channel_release, channel_release_cleared, default), where it was decided, the rollout and stage, actor and reason; replayed from activations, their history and the audit log';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION rollout.tenant_history(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.tenant_history(text, text) TO rollout_viewer;
