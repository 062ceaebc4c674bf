-- Release channels, in order (dev -> experimental -> candidate -> stable).
CREATE TABLE rollout.channel (
    channel_id    text COLLATE "C" PRIMARY KEY
                  CHECK (channel_id ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(channel_id) <= @PGR_NAME_MAX_LEN@),
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

-- The built-in channels.
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

-- Privileges of the objects above.
GRANT SELECT ON rollout.channel TO rollout_viewer;
REVOKE ALL ON FUNCTION
    rollout._channel_restore_merge()
FROM PUBLIC;
