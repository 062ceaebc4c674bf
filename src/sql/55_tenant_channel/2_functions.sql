-- Which channel a tenant follows: effective channel, explicit choice, opt-in / opt-out, dropping a channel.

CREATE FUNCTION rollout.tenant_channels(tenant_id text)
RETURNS TABLE (channel_id text, ordinal integer, followed boolean, eligible boolean,
               effective boolean, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    p text[] := rollout.tenant_path(tenant_channels.tenant_id);
    followed_id text;
    followed_from text;
    followed_pos integer;
    is_test boolean;
    found_effective boolean := false;
    c rollout.channel;
    ch text;
    ch_from text;
BEGIN
    -- Nearest channel set on the tenant or an ancestor, else the default.
    SELECT t.channel_id, t.tenant_id INTO followed_id, followed_from
      FROM unnest(p) WITH ORDINALITY AS u(id, o) JOIN rollout.tenant t ON t.tenant_id = u.id
     WHERE t.channel_id IS NOT NULL ORDER BY u.o DESC LIMIT 1;
    IF followed_id IS NULL THEN
        SELECT c2.channel_id INTO followed_id FROM rollout.channel c2 WHERE c2.is_default;
    END IF;
    SELECT c2.ordinal INTO followed_pos FROM rollout.channel c2 WHERE c2.channel_id = followed_id;
    SELECT bool_or(t.test_tenant) INTO is_test FROM rollout.tenant t WHERE t.tenant_id = ANY (p);

    FOR c IN SELECT * FROM rollout.channel ORDER BY ordinal LOOP
        -- Nearest opt-in / opt-out recorded for this channel.
        SELECT cc.choice, cc.tenant_id INTO ch, ch_from
          FROM unnest(p) WITH ORDINALITY AS u(id, o)
          JOIN rollout.channel_choice cc ON cc.tenant_id = u.id AND cc.channel_id = c.channel_id
         ORDER BY u.o DESC LIMIT 1;
        IF NOT FOUND THEN
            ch := NULL;
            ch_from := NULL;
        END IF;
        channel_id := c.channel_id;
        ordinal := c.ordinal;
        followed := (c.channel_id = followed_id);
        CASE c.eligibility
            WHEN 'all' THEN
                eligible := true;
                reason := 'open to all tenants';
            WHEN 'test_tenants' THEN
                eligible := is_test;
                reason := CASE WHEN is_test THEN 'test tenant' ELSE 'test tenants only' END;
            WHEN 'opt_in' THEN
                eligible := (ch IS NOT DISTINCT FROM 'opt_in');
                reason := CASE WHEN ch = 'opt_in' THEN format('opted in (by %s)', ch_from)
                               WHEN ch = 'opt_out' THEN format('opted out (by %s)', ch_from)
                               ELSE 'opt-in tenants only' END;
            WHEN 'all_but_stable_only' THEN
                eligible := (ch IS DISTINCT FROM 'opt_out');
                reason := CASE WHEN ch = 'opt_out' THEN format('stable-only: opted out (by %s)', ch_from)
                               ELSE 'open to all but stable-only tenants' END;
        END CASE;
        IF followed THEN
            reason := reason || CASE WHEN followed_from IS NULL THEN '; followed by default'
                                     ELSE format('; followed (set on %s)', followed_from) END;
        END IF;
        -- The effective channel: the followed one, or the next more stable
        -- channel the tenant is eligible for.
        effective := NOT found_effective AND eligible AND c.ordinal >= followed_pos;
        found_effective := found_effective OR effective;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION rollout.tenant_channels(text) IS
    'every channel for a tenant: followed, eligible, effective, and why (the explain form of effective_channel)';

CREATE FUNCTION rollout.effective_channel(tenant_id text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT c.channel_id FROM rollout.tenant_channels($1) c WHERE c.effective
$$;
COMMENT ON FUNCTION rollout.effective_channel(text) IS
    'channel whose releases the tenant receives: the followed channel (own or inherited, else the default), or the next more stable one it is eligible for';

CREATE FUNCTION rollout.set_tenant_channel(tenant_id text, channel_id text, reason text DEFAULT NULL)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t rollout.tenant;
    previous text;
    elig record;
    c_elig text;
BEGIN
    t := rollout._tenant_for_update(set_tenant_channel.tenant_id);
    previous := t.channel_id;
    IF set_tenant_channel.channel_id IS NOT NULL THEN
        c_elig := (rollout._channel_for_update(set_tenant_channel.channel_id)).eligibility;
        SELECT * INTO elig FROM rollout.tenant_channels(t.tenant_id) c
         WHERE c.channel_id = set_tenant_channel.channel_id;
        IF NOT elig.eligible THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('tenant "%s" is not eligible for channel "%s"', t.tenant_id, set_tenant_channel.channel_id),
                DETAIL = format('Channel "%s": %s.', set_tenant_channel.channel_id, elig.reason),
                HINT = CASE WHEN c_elig = 'opt_in' THEN 'Record the tenant''s consent with rollout.opt_in() first.'
                            ELSE 'rollout.tenant_channels() shows which channels the tenant is eligible for.' END;
        END IF;
    END IF;
    UPDATE rollout.tenant SET channel_id = set_tenant_channel.channel_id, updated_at = pg_catalog.now()
     WHERE tenant_id = t.tenant_id RETURNING * INTO t;
    PERFORM rollout._audit('tenant.channel_set', t.tenant_id, 'tenant', t.tenant_id, set_tenant_channel.reason,
                           jsonb_build_object('from', previous, 'to', set_tenant_channel.channel_id));
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout.set_tenant_channel(text, text, text) IS
    'set the channel a tenant (and its descendants that set none) follows; NULL inherits again; checks eligibility; audited';

CREATE FUNCTION rollout._record_channel_choice(tenant_id text, channel_id text, choice text, reason text)
RETURNS rollout.channel_choice
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t rollout.tenant;
    c rollout.channel;
    r rollout.channel_choice;
    who text := coalesce(nullif(current_setting('pg_rollout.actor', true), ''), session_user);
BEGIN
    PERFORM rollout._require_reason(reason, CASE choice WHEN 'opt_in' THEN 'opt in to a channel' ELSE 'opt out of a channel' END);
    t := rollout._tenant_for_update(_record_channel_choice.tenant_id);
    c := rollout._channel_for_update(_record_channel_choice.channel_id);
    IF choice = 'opt_in' AND NOT c.allow_opt_in THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('channel "%s" does not allow opt-in', c.channel_id);
    ELSIF choice = 'opt_out' AND NOT c.allow_opt_out THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('channel "%s" does not allow opt-out', c.channel_id);
    END IF;
    INSERT INTO rollout.channel_choice AS cc (tenant_id, channel_id, choice, reason, decided_by)
    VALUES (t.tenant_id, c.channel_id, choice, reason, who)
    ON CONFLICT (tenant_id, channel_id) DO UPDATE
       SET choice = EXCLUDED.choice, reason = EXCLUDED.reason,
           decided_at = pg_catalog.now(), decided_by = EXCLUDED.decided_by
    RETURNING * INTO r;
    PERFORM rollout._audit(CASE choice WHEN 'opt_in' THEN 'tenant.opted_in' ELSE 'tenant.opted_out' END, t.tenant_id, 'channel', c.channel_id,
                           reason, jsonb_build_object('choice', choice));
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout._record_channel_choice(text, text, text, text) IS 'internal: record an opt-in or opt-out';

CREATE FUNCTION rollout.opt_in(tenant_id text, channel_id text, reason text)
RETURNS rollout.channel_choice
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT rollout._record_channel_choice($1, $2, 'opt_in', $3) $$;
COMMENT ON FUNCTION rollout.opt_in(text, text, text) IS
    'record a tenant''s explicit consent to a channel that allows opt-in (inherited by its descendants); audited';

CREATE FUNCTION rollout.opt_out(tenant_id text, channel_id text, reason text)
RETURNS rollout.channel_choice
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT rollout._record_channel_choice($1, $2, 'opt_out', $3) $$;
COMMENT ON FUNCTION rollout.opt_out(text, text, text) IS
    'record that a tenant opts out of a channel that allows it (e.g. candidate: the tenant becomes stable-only); audited';

CREATE FUNCTION rollout.clear_channel_choice(tenant_id text, channel_id text, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t rollout.tenant;
    old text;
BEGIN
    t := rollout._tenant_for_update(clear_channel_choice.tenant_id);
    DELETE FROM rollout.channel_choice cc
     WHERE cc.tenant_id = t.tenant_id AND cc.channel_id = clear_channel_choice.channel_id
    RETURNING cc.choice INTO old;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('tenant "%s" has no opt-in or opt-out recorded for channel "%s"',
                             t.tenant_id, clear_channel_choice.channel_id);
    END IF;
    PERFORM rollout._audit('tenant.channel_choice_cleared', t.tenant_id, 'channel', clear_channel_choice.channel_id,
                           clear_channel_choice.reason, jsonb_build_object('was', old));
END
$$;
COMMENT ON FUNCTION rollout.clear_channel_choice(text, text, text) IS
    'remove a tenant''s own opt-in / opt-out for a channel (it inherits its ancestors'' choice again); audited';

CREATE FUNCTION rollout.drop_channel(channel_id text, reason text DEFAULT NULL)
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
COMMENT ON FUNCTION rollout.drop_channel(text, text) IS
    'drop a channel no tenant follows (its opt-in / opt-out records go with it); audited';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout.tenant_channels(text),
    rollout.effective_channel(text),
    rollout.set_tenant_channel(text, text, text),
    rollout._record_channel_choice(text, text, text, text),
    rollout.opt_in(text, text, text),
    rollout.opt_out(text, text, text),
    rollout.clear_channel_choice(text, text, text),
    rollout.drop_channel(text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.tenant_channels(text),
    rollout.effective_channel(text)
TO rollout_viewer;
GRANT EXECUTE ON FUNCTION
    rollout.set_tenant_channel(text, text, text),
    rollout.opt_in(text, text, text),
    rollout.opt_out(text, text, text),
    rollout.clear_channel_choice(text, text, text)
TO rollout_operator;
GRANT EXECUTE ON FUNCTION
    rollout.drop_channel(text, text)
TO rollout_admin;
