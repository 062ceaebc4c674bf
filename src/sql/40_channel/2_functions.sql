-- Release channel functions: create, update, default.

CREATE FUNCTION rollout._require_eligibility(eligibility text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF eligibility IS NULL OR eligibility NOT IN ('test_tenants', 'opt_in', 'all_but_stable_only', 'all') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid channel eligibility "%s"', eligibility),
            DETAIL = 'Eligibility must be one of test_tenants, opt_in, all_but_stable_only, all.';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_eligibility(text) IS 'internal: validate a channel eligibility rule';

CREATE FUNCTION rollout._channel_for_update(channel_id text)
RETURNS rollout.channel
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c rollout.channel;
BEGIN
    SELECT * INTO c FROM rollout.channel WHERE channel_id = _channel_for_update.channel_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('channel "%s" does not exist', _channel_for_update.channel_id);
    END IF;
    RETURN c;
END
$$;
COMMENT ON FUNCTION rollout._channel_for_update(text) IS 'internal: lock a channel row or raise undefined_object';

CREATE FUNCTION rollout._check_channel_ordinal(channel_id text, ordinal integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    other text;
BEGIN
    IF ordinal IS NULL OR ordinal <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid channel ordinal %s', coalesce(ordinal::text, 'NULL')),
            DETAIL = 'A channel ordinal is a positive integer; lower positions come first.';
    END IF;
    SELECT c.channel_id INTO other FROM rollout.channel c
     WHERE c.ordinal = _check_channel_ordinal.ordinal
       AND c.channel_id <> _check_channel_ordinal.channel_id;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('channel ordinal %s is already taken by channel "%s"', ordinal, other);
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._check_channel_ordinal(text, integer) IS 'internal: validate a channel ordinal';

CREATE FUNCTION rollout.create_channel(
    channel_id text, ordinal integer, eligibility text,
    min_soak interval DEFAULT '0', allow_opt_in boolean DEFAULT false,
    allow_opt_out boolean DEFAULT false, description text DEFAULT NULL)
RETURNS rollout.channel
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c rollout.channel;
BEGIN
    PERFORM rollout._require_slug('channel id', create_channel.channel_id);
    PERFORM rollout._require_eligibility(create_channel.eligibility);
    IF create_channel.min_soak IS NULL OR create_channel.min_soak < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid minimum soak %s for channel "%s"', coalesce(create_channel.min_soak::text, 'NULL'), create_channel.channel_id),
            DETAIL = 'The minimum soak must be zero or a positive interval.';
    END IF;
    LOCK TABLE rollout.channel IN SHARE ROW EXCLUSIVE MODE;
    IF EXISTS (SELECT 1 FROM rollout.channel WHERE channel_id = create_channel.channel_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('channel "%s" already exists', create_channel.channel_id);
    END IF;
    PERFORM rollout._check_channel_ordinal(create_channel.channel_id, create_channel.ordinal);
    -- releases in flight follow the channel order (src/sql/90_release)
    PERFORM rollout._release_channel_guard(create_channel.channel_id, 'create', create_channel.ordinal, create_channel.min_soak);
    INSERT INTO rollout.channel (channel_id, ordinal, eligibility, min_soak, allow_opt_in, allow_opt_out, description)
    VALUES (create_channel.channel_id, create_channel.ordinal, create_channel.eligibility, create_channel.min_soak,
            coalesce(create_channel.allow_opt_in, false), coalesce(create_channel.allow_opt_out, false),
            create_channel.description)
    RETURNING * INTO c;
    PERFORM rollout._audit('channel.created', NULL, 'channel', c.channel_id, NULL, pg_catalog.to_jsonb(c));
    RETURN c;
END
$$;
COMMENT ON FUNCTION rollout.create_channel(text, integer, text, interval, boolean, boolean, text) IS
    'create a release channel at an ordinal (its place) in the promotion order';

CREATE FUNCTION rollout.update_channel(
    channel_id text, ordinal integer DEFAULT NULL, eligibility text DEFAULT NULL,
    min_soak interval DEFAULT NULL, allow_opt_in boolean DEFAULT NULL,
    allow_opt_out boolean DEFAULT NULL, description text DEFAULT NULL, reason text DEFAULT NULL)
RETURNS rollout.channel
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    old rollout.channel;
    c rollout.channel;
BEGIN
    LOCK TABLE rollout.channel IN SHARE ROW EXCLUSIVE MODE;
    old := rollout._channel_for_update(update_channel.channel_id);
    IF update_channel.eligibility IS NOT NULL THEN
        PERFORM rollout._require_eligibility(update_channel.eligibility);
    END IF;
    IF update_channel.min_soak < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid minimum soak %s for channel "%s"', update_channel.min_soak, update_channel.channel_id),
            DETAIL = 'The minimum soak must be zero or a positive interval.';
    END IF;
    IF update_channel.ordinal IS NOT NULL THEN
        PERFORM rollout._check_channel_ordinal(update_channel.channel_id, update_channel.ordinal);
    END IF;
    -- releases in flight follow the channel order and soak (src/sql/90_release)
    PERFORM rollout._release_channel_guard(update_channel.channel_id, 'update', update_channel.ordinal, update_channel.min_soak);
    UPDATE rollout.channel SET
        ordinal      = coalesce(update_channel.ordinal, ordinal),
        eligibility   = coalesce(update_channel.eligibility, eligibility),
        min_soak      = coalesce(update_channel.min_soak, min_soak),
        allow_opt_in  = coalesce(update_channel.allow_opt_in, allow_opt_in),
        allow_opt_out = coalesce(update_channel.allow_opt_out, allow_opt_out),
        description   = coalesce(update_channel.description, description),
        updated_at    = pg_catalog.now()
    WHERE channel_id = update_channel.channel_id
    RETURNING * INTO c;
    PERFORM rollout._audit('channel.updated', NULL, 'channel', c.channel_id, update_channel.reason,
                           pg_catalog.jsonb_build_object('before', pg_catalog.to_jsonb(old), 'after', pg_catalog.to_jsonb(c)));
    RETURN c;
END
$$;
COMMENT ON FUNCTION rollout.update_channel(text, integer, text, interval, boolean, boolean, text, text) IS
    'change a channel''s ordinal, eligibility, minimum soak, opt-in / opt-out rules or description (NULL keeps a value)';

CREATE FUNCTION rollout.set_default_channel(channel_id text, reason text DEFAULT NULL)
RETURNS rollout.channel
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c rollout.channel;
    previous text;
BEGIN
    LOCK TABLE rollout.channel IN SHARE ROW EXCLUSIVE MODE;
    c := rollout._channel_for_update(set_default_channel.channel_id);
    SELECT channel_id INTO previous FROM rollout.channel WHERE is_default;
    UPDATE rollout.channel SET is_default = false, updated_at = pg_catalog.now()
     WHERE is_default AND channel_id <> c.channel_id;
    UPDATE rollout.channel SET is_default = true, updated_at = pg_catalog.now()
     WHERE channel_id = c.channel_id RETURNING * INTO c;
    PERFORM rollout._audit('channel.default_set', NULL, 'channel', c.channel_id, set_default_channel.reason,
                           pg_catalog.jsonb_build_object('previous', previous));
    RETURN c;
END
$$;
COMMENT ON FUNCTION rollout.set_default_channel(text, text) IS
    'make a channel the one followed by tenants that set none themselves or through an ancestor';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._require_eligibility(text),
    rollout._channel_for_update(text),
    rollout._check_channel_ordinal(text, integer),
    rollout.create_channel(text, integer, text, interval, boolean, boolean, text),
    rollout.update_channel(text, integer, text, interval, boolean, boolean, text, text),
    rollout.set_default_channel(text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.create_channel(text, integer, text, interval, boolean, boolean, text),
    rollout.update_channel(text, integer, text, interval, boolean, boolean, text, text),
    rollout.set_default_channel(text, text)
TO rollout_admin;
