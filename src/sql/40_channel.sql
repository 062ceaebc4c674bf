-- Release channels, in order (dev -> experimental -> candidate -> stable).
CREATE TABLE rollout.channel (
    channel_id    text COLLATE "C" PRIMARY KEY
                  CHECK (channel_id ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(channel_id) <= 63),
    ordinal      integer     NOT NULL CHECK (ordinal > 0),
    eligibility   text        NOT NULL
                  CHECK (eligibility IN ('test_tenants', 'opt_in', 'all_but_stable_only', 'all')),
    min_soak      interval    NOT NULL DEFAULT '0' CHECK (min_soak >= interval '0'),
    allow_opt_in  boolean     NOT NULL DEFAULT false,
    allow_opt_out boolean     NOT NULL DEFAULT false,
    is_default    boolean     NOT NULL DEFAULT false,
    description   text,
    builtin       boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- deferred, so that a restore may load rows in any order
    CONSTRAINT channel_ordinal_key UNIQUE (ordinal) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT channel_one_default EXCLUDE USING btree (is_default WITH =) WHERE (is_default)
        DEFERRABLE INITIALLY DEFERRED
);
COMMENT ON TABLE rollout.channel IS 'release channels in promotion order, with eligibility, minimum soak and opt-in / opt-out rules';
COMMENT ON COLUMN rollout.channel.ordinal IS 'promotion order: lower is earlier (less stable)';
COMMENT ON COLUMN rollout.channel.eligibility IS 'who may receive the channel: test_tenants, opt_in, all_but_stable_only or all';
COMMENT ON COLUMN rollout.channel.min_soak IS 'minimum time a release spends in this channel before promotion';
COMMENT ON COLUMN rollout.channel.allow_opt_in IS 'tenants may opt in to this channel';
COMMENT ON COLUMN rollout.channel.allow_opt_out IS 'tenants may opt out of this channel';
COMMENT ON COLUMN rollout.channel.is_default IS 'followed by tenants that set no channel themselves or through an ancestor';
COMMENT ON COLUMN rollout.channel.builtin IS 'installed by CREATE EXTENSION';

INSERT INTO rollout.channel (channel_id, ordinal, eligibility, min_soak, allow_opt_in, allow_opt_out, is_default, builtin, description) VALUES
    ('dev',          10, 'test_tenants',        interval '0',      false, false, false, true, 'internal testing: dev/test tenants only'),
    ('experimental', 20, 'opt_in',              interval '7 days', true,  true,  false, true, 'early adopters who opted in with explicit consent'),
    ('candidate',    30, 'all_but_stable_only', interval '7 days', false, true,  false, true, 'pre-stable soak: all tenants but those that opted out (stable-only)'),
    ('stable',       40, 'all',                 interval '0',      false, false, true,  true, 'general availability: all tenants');

-- Restoring a dump into a database where CREATE EXTENSION already inserted
-- the built-in channels: the dumped row replaces the built-in one.
CREATE FUNCTION rollout._channel_restore_merge()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.builtin AND EXISTS (SELECT 1 FROM rollout.channel c
                                WHERE c.channel_id OPERATOR(pg_catalog.=) NEW.channel_id AND c.builtin) THEN
        UPDATE rollout.channel c
           SET ordinal = NEW.ordinal, eligibility = NEW.eligibility, min_soak = NEW.min_soak,
               allow_opt_in = NEW.allow_opt_in, allow_opt_out = NEW.allow_opt_out,
               is_default = NEW.is_default, description = NEW.description,
               created_at = NEW.created_at, updated_at = NEW.updated_at
         WHERE c.channel_id OPERATOR(pg_catalog.=) NEW.channel_id;
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION rollout._channel_restore_merge() IS
    'internal: lets pg_restore load the built-in channels over the ones CREATE EXTENSION inserted';
CREATE TRIGGER channel_restore_merge BEFORE INSERT ON rollout.channel
    FOR EACH ROW EXECUTE FUNCTION rollout._channel_restore_merge();
SELECT pg_catalog.pg_extension_config_dump('rollout.channel', '');

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

