-- pg_rollout install script, assembled from src/sql/*.sql by the Makefile.
\echo Use "CREATE EXTENSION pg_rollout" to load this file. \quit

COMMENT ON SCHEMA rollout IS 'pg_rollout: tenants, components, versions, channels, rollouts and the audit log';

-- Roles: created when missing (roles are cluster-wide and outlive the
-- extension).  rollout_admin includes rollout_operator, which includes
-- rollout_viewer.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_viewer') THEN
        CREATE ROLE rollout_viewer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_operator') THEN
        CREATE ROLE rollout_operator NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_admin') THEN
        CREATE ROLE rollout_admin NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('rollout_operator', 'rollout_viewer', 'MEMBER') THEN
        GRANT rollout_viewer TO rollout_operator;
    END IF;
    IF NOT pg_catalog.pg_has_role('rollout_admin', 'rollout_operator', 'MEMBER') THEN
        GRANT rollout_operator TO rollout_admin;
    END IF;
END
$roles$;

CREATE FUNCTION rollout.preloaded()
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_preloaded';
COMMENT ON FUNCTION rollout.preloaded() IS
    'true when the pg_rollout library was loaded through shared_preload_libraries';

-- Shared validation helpers (internal: not granted to any role).
CREATE FUNCTION rollout._require_slug(what text, value text, max_length integer DEFAULT 63)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('%s must not be null', what);
    END IF;
    IF length(value) > max_length
       OR value !~ '^[a-z0-9]([a-z0-9._:-]*[a-z0-9])?$'
       OR (what <> 'component id' AND value ~ ':') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid %s "%s"', what, value),
            DETAIL = format('A %s is 1 to %s characters: lower-case letters, digits, "-", "_" and "."%s, starting and ending with a letter or digit.',
                            what, max_length, CASE WHEN what = 'component id' THEN ', ":"' ELSE '' END);
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_slug(text, text, integer) IS
    'internal: raise invalid_parameter_value unless value is a valid identifier slug';

CREATE FUNCTION rollout._require_reason(reason text, what text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('a reason is required to %s', what),
            HINT = 'Pass reason => ''...'': it is recorded in the audit log.';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_reason(text, text) IS
    'internal: raise invalid_parameter_value when a required reason is missing';

-- The rollout.semver type: Semantic Versioning 2.0.0 values with btree and
-- hash operator classes and sort support (src/semver.c).
CREATE TYPE rollout.semver;

CREATE FUNCTION rollout.semver_in(cstring) RETURNS rollout.semver
    AS 'MODULE_PATHNAME', 'semver_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_out(rollout.semver) RETURNS cstring
    AS 'MODULE_PATHNAME', 'semver_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_recv(internal) RETURNS rollout.semver
    AS 'MODULE_PATHNAME', 'semver_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_send(rollout.semver) RETURNS bytea
    AS 'MODULE_PATHNAME', 'semver_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE rollout.semver (
    INPUT = rollout.semver_in,
    OUTPUT = rollout.semver_out,
    RECEIVE = rollout.semver_recv,
    SEND = rollout.semver_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = plain,
    CATEGORY = 'U'
);
COMMENT ON FUNCTION rollout.semver_in(cstring) IS 'input function of type semver';
COMMENT ON FUNCTION rollout.semver_out(rollout.semver) IS 'output function of type semver (canonical text)';
COMMENT ON FUNCTION rollout.semver_recv(internal) IS 'binary receive function of type semver';
COMMENT ON FUNCTION rollout.semver_send(rollout.semver) IS 'binary send function of type semver';
COMMENT ON TYPE rollout.semver IS
    'semantic version (SemVer 2.0.0): ordered by precedence, build metadata ignored in comparison and hashing';

CREATE FUNCTION rollout.semver_is_valid(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'semver_is_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_is_valid(text) IS 'true when the text is a valid semantic version';

CREATE FUNCTION rollout.semver_cmp(rollout.semver, rollout.semver) RETURNS integer
    AS 'MODULE_PATHNAME', 'semver_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION rollout.semver_cmp(rollout.semver, rollout.semver) IS
    'SemVer 2.0.0 precedence: -1, 0 or 1 (btree support function)';
CREATE FUNCTION rollout.semver_eq(rollout.semver, rollout.semver) RETURNS boolean
    AS 'MODULE_PATHNAME', 'semver_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION rollout.semver_ne(rollout.semver, rollout.semver) RETURNS boolean
    AS 'MODULE_PATHNAME', 'semver_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION rollout.semver_lt(rollout.semver, rollout.semver) RETURNS boolean
    AS 'MODULE_PATHNAME', 'semver_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION rollout.semver_le(rollout.semver, rollout.semver) RETURNS boolean
    AS 'MODULE_PATHNAME', 'semver_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION rollout.semver_gt(rollout.semver, rollout.semver) RETURNS boolean
    AS 'MODULE_PATHNAME', 'semver_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION rollout.semver_ge(rollout.semver, rollout.semver) RETURNS boolean
    AS 'MODULE_PATHNAME', 'semver_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION rollout.semver_eq(rollout.semver, rollout.semver) IS 'implementation of = (same precedence)';
COMMENT ON FUNCTION rollout.semver_ne(rollout.semver, rollout.semver) IS 'implementation of <>';
COMMENT ON FUNCTION rollout.semver_lt(rollout.semver, rollout.semver) IS 'implementation of <';
COMMENT ON FUNCTION rollout.semver_le(rollout.semver, rollout.semver) IS 'implementation of <=';
COMMENT ON FUNCTION rollout.semver_gt(rollout.semver, rollout.semver) IS 'implementation of >';
COMMENT ON FUNCTION rollout.semver_ge(rollout.semver, rollout.semver) IS 'implementation of >=';

CREATE FUNCTION rollout.semver_sortsupport(internal) RETURNS void
    AS 'MODULE_PATHNAME', 'semver_sortsupport' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_sortsupport(internal) IS 'btree sort support for semver';
CREATE FUNCTION rollout.semver_hash(rollout.semver) RETURNS integer
    AS 'MODULE_PATHNAME', 'semver_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_hash(rollout.semver) IS
    'hash of major, minor, patch and prerelease (build metadata ignored, as equality ignores it)';
CREATE FUNCTION rollout.semver_hash_extended(rollout.semver, bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'semver_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_hash_extended(rollout.semver, bigint) IS '64-bit seeded hash of a semver';

CREATE OPERATOR rollout.= (
    LEFTARG = rollout.semver, RIGHTARG = rollout.semver, FUNCTION = rollout.semver_eq,
    COMMUTATOR = OPERATOR(rollout.=), NEGATOR = OPERATOR(rollout.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR rollout.<> (
    LEFTARG = rollout.semver, RIGHTARG = rollout.semver, FUNCTION = rollout.semver_ne,
    COMMUTATOR = OPERATOR(rollout.<>), NEGATOR = OPERATOR(rollout.=),
    RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR rollout.< (
    LEFTARG = rollout.semver, RIGHTARG = rollout.semver, FUNCTION = rollout.semver_lt,
    COMMUTATOR = OPERATOR(rollout.>), NEGATOR = OPERATOR(rollout.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR rollout.<= (
    LEFTARG = rollout.semver, RIGHTARG = rollout.semver, FUNCTION = rollout.semver_le,
    COMMUTATOR = OPERATOR(rollout.>=), NEGATOR = OPERATOR(rollout.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR rollout.> (
    LEFTARG = rollout.semver, RIGHTARG = rollout.semver, FUNCTION = rollout.semver_gt,
    COMMUTATOR = OPERATOR(rollout.<), NEGATOR = OPERATOR(rollout.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR rollout.>= (
    LEFTARG = rollout.semver, RIGHTARG = rollout.semver, FUNCTION = rollout.semver_ge,
    COMMUTATOR = OPERATOR(rollout.<=), NEGATOR = OPERATOR(rollout.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel);
COMMENT ON OPERATOR rollout.= (rollout.semver, rollout.semver) IS 'same precedence (build metadata ignored)';
COMMENT ON OPERATOR rollout.<> (rollout.semver, rollout.semver) IS 'different precedence';
COMMENT ON OPERATOR rollout.< (rollout.semver, rollout.semver) IS 'lower precedence';
COMMENT ON OPERATOR rollout.<= (rollout.semver, rollout.semver) IS 'lower or same precedence';
COMMENT ON OPERATOR rollout.> (rollout.semver, rollout.semver) IS 'higher precedence';
COMMENT ON OPERATOR rollout.>= (rollout.semver, rollout.semver) IS 'higher or same precedence';

CREATE OPERATOR CLASS rollout.semver_ops
    DEFAULT FOR TYPE rollout.semver USING btree AS
        OPERATOR 1 rollout.<,
        OPERATOR 2 rollout.<=,
        OPERATOR 3 rollout.=,
        OPERATOR 4 rollout.>=,
        OPERATOR 5 rollout.>,
        FUNCTION 1 rollout.semver_cmp(rollout.semver, rollout.semver),
        FUNCTION 2 rollout.semver_sortsupport(internal);
COMMENT ON OPERATOR CLASS rollout.semver_ops USING btree IS 'SemVer 2.0.0 precedence order';

CREATE OPERATOR CLASS rollout.semver_hash_ops
    DEFAULT FOR TYPE rollout.semver USING hash AS
        OPERATOR 1 rollout.=,
        FUNCTION 1 rollout.semver_hash(rollout.semver),
        FUNCTION 2 rollout.semver_hash_extended(rollout.semver, bigint);
COMMENT ON OPERATOR CLASS rollout.semver_hash_ops USING hash IS 'hashes all of a semver but its build metadata';

CREATE FUNCTION rollout.semver_major(rollout.semver) RETURNS integer
    AS 'MODULE_PATHNAME', 'semver_major' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_minor(rollout.semver) RETURNS integer
    AS 'MODULE_PATHNAME', 'semver_minor' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_patch(rollout.semver) RETURNS integer
    AS 'MODULE_PATHNAME', 'semver_patch' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_prerelease(rollout.semver) RETURNS text
    AS 'MODULE_PATHNAME', 'semver_prerelease' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_build(rollout.semver) RETURNS text
    AS 'MODULE_PATHNAME', 'semver_build' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_is_prerelease(rollout.semver) RETURNS boolean
    AS 'MODULE_PATHNAME', 'semver_is_prerelease' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_major(rollout.semver) IS 'major version number';
COMMENT ON FUNCTION rollout.semver_minor(rollout.semver) IS 'minor version number';
COMMENT ON FUNCTION rollout.semver_patch(rollout.semver) IS 'patch version number';
COMMENT ON FUNCTION rollout.semver_prerelease(rollout.semver) IS 'prerelease identifiers, or NULL';
COMMENT ON FUNCTION rollout.semver_build(rollout.semver) IS 'build metadata, or NULL';
COMMENT ON FUNCTION rollout.semver_is_prerelease(rollout.semver) IS 'true for a prerelease (e.g. 2.0.0-rc.1)';

CREATE FUNCTION rollout.semver_larger(rollout.semver, rollout.semver) RETURNS rollout.semver
    AS 'MODULE_PATHNAME', 'semver_larger' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rollout.semver_smaller(rollout.semver, rollout.semver) RETURNS rollout.semver
    AS 'MODULE_PATHNAME', 'semver_smaller' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION rollout.semver_larger(rollout.semver, rollout.semver) IS 'the higher of two versions';
COMMENT ON FUNCTION rollout.semver_smaller(rollout.semver, rollout.semver) IS 'the lower of two versions';

CREATE AGGREGATE rollout.max(rollout.semver) (
    SFUNC = rollout.semver_larger, STYPE = rollout.semver, SORTOP = OPERATOR(rollout.>),
    COMBINEFUNC = rollout.semver_larger, PARALLEL = SAFE);
CREATE AGGREGATE rollout.min(rollout.semver) (
    SFUNC = rollout.semver_smaller, STYPE = rollout.semver, SORTOP = OPERATOR(rollout.<),
    COMBINEFUNC = rollout.semver_smaller, PARALLEL = SAFE);
COMMENT ON AGGREGATE rollout.max(rollout.semver) IS 'highest version by precedence';
COMMENT ON AGGREGATE rollout.min(rollout.semver) IS 'lowest version by precedence';
-- The audit log: append-only, hash-chained (src/audit.c).
CREATE TABLE rollout.audit_log (
    seq          bigint      PRIMARY KEY,
    logged_at    timestamptz NOT NULL,
    txid         xid8        NOT NULL,
    db_user      text        NOT NULL,
    actor        text,
    tenant_id    text,
    subject_kind text,
    subject_id   text,
    action       text        NOT NULL,
    reason       text,
    details      jsonb       NOT NULL DEFAULT '{}',
    prev_hash    bytea       NOT NULL,
    row_hash     bytea       NOT NULL
);
CREATE INDEX audit_log_tenant_idx ON rollout.audit_log (tenant_id, seq);
CREATE INDEX audit_log_subject_idx ON rollout.audit_log (subject_kind, subject_id, seq);
SELECT pg_catalog.pg_extension_config_dump('rollout.audit_log', '');

COMMENT ON TABLE rollout.audit_log IS
    'append-only audit log: every state change, with actor, tenant, subject and reason; each row is SHA-256 chained to the previous one';
COMMENT ON COLUMN rollout.audit_log.seq IS 'position in the chain, 1, 2, 3, ... without gaps';
COMMENT ON COLUMN rollout.audit_log.logged_at IS 'clock time of the append';
COMMENT ON COLUMN rollout.audit_log.txid IS 'top-level transaction that wrote the row';
COMMENT ON COLUMN rollout.audit_log.db_user IS 'session user of the database connection';
COMMENT ON COLUMN rollout.audit_log.actor IS 'application-supplied actor (GUC pg_rollout.actor), NULL when not set';
COMMENT ON COLUMN rollout.audit_log.tenant_id IS 'tenant concerned, if any';
COMMENT ON COLUMN rollout.audit_log.subject_kind IS 'kind of object acted on: tenant, channel, component, version, ...';
COMMENT ON COLUMN rollout.audit_log.subject_id IS 'id of the object acted on';
COMMENT ON COLUMN rollout.audit_log.action IS 'what happened, e.g. tenant.created';
COMMENT ON COLUMN rollout.audit_log.reason IS 'reason given by the caller';
COMMENT ON COLUMN rollout.audit_log.details IS 'structured details (before/after values, archived rows)';
COMMENT ON COLUMN rollout.audit_log.prev_hash IS 'row_hash of the previous row (32 zero bytes for row 1)';
COMMENT ON COLUMN rollout.audit_log.row_hash IS 'SHA-256 over this row''s fields and prev_hash';

CREATE FUNCTION rollout._audit(action text, tenant_id text, subject_kind text,
                               subject_id text, reason text, details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_audit';
COMMENT ON FUNCTION rollout._audit(text, text, text, text, text, jsonb) IS
    'internal: append one row to the audit log in the current transaction';

CREATE FUNCTION rollout._audit_each(action text, tenant_ids text[], subject_kind text,
                                    reason text, details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_audit_each';
COMMENT ON FUNCTION rollout._audit_each(text, text[], text, text, jsonb) IS
    'internal: append one audit row per tenant id (bulk operations)';

CREATE FUNCTION rollout.verify_audit(OUT intact boolean, OUT rows_checked bigint,
                                     OUT first_broken_seq bigint, OUT problem text)
RETURNS record
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'pgr_verify_audit';
COMMENT ON FUNCTION rollout.verify_audit() IS
    'walk the audit hash chain: intact or not, rows checked, the first broken row and why';

CREATE FUNCTION rollout.audit_head(OUT seq bigint, OUT row_hash bytea, OUT logged_at timestamptz)
RETURNS record
LANGUAGE sql STABLE
AS $$
    SELECT a.seq, a.row_hash, a.logged_at FROM rollout.audit_log a ORDER BY a.seq DESC LIMIT 1
$$;
COMMENT ON FUNCTION rollout.audit_head() IS
    'last row of the audit chain: record it elsewhere to detect a later truncation of the tail';

CREATE FUNCTION rollout._audit_log_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = 'rollout.audit_log is append-only',
        DETAIL = format('%s on the audit log is refused.', TG_OP),
        HINT = 'Audit rows are written by pg_rollout functions and never changed; rollout.verify_audit() detects edits.';
END
$$;
COMMENT ON FUNCTION rollout._audit_log_guard() IS
    'internal: trigger refusing UPDATE, DELETE and TRUNCATE on rollout.audit_log';

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON rollout.audit_log
    FOR EACH ROW EXECUTE FUNCTION rollout._audit_log_guard();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON rollout.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._audit_log_guard();

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

-- Tenants: a tree of any depth (up to 32 levels) with a materialized path.
CREATE TABLE rollout.tenant (
    tenant_id         text COLLATE "C" PRIMARY KEY
                      CHECK (tenant_id ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(tenant_id) <= 63),
    parent_id         text COLLATE "C" REFERENCES rollout.tenant (tenant_id),
    kind              text        NOT NULL DEFAULT 'tenant'
                      CHECK (kind ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(kind) <= 63),
    display_name      text        NOT NULL,
    attributes        jsonb       NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(attributes) = 'object'),
    status            text        NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'suspended', 'decommissioned')),
    channel_id        text COLLATE "C" REFERENCES rollout.channel (channel_id),
    test_tenant       boolean     NOT NULL DEFAULT false,
    path              text[] COLLATE "C" NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    suspended_at      timestamptz,
    decommissioned_at timestamptz,
    CONSTRAINT tenant_path_ends_with_self CHECK (path[pg_catalog.cardinality(path)] = tenant_id),
    CONSTRAINT tenant_path_matches_parent CHECK ((parent_id IS NULL) = (pg_catalog.cardinality(path) = 1)
                                                 AND (parent_id IS NULL OR path[pg_catalog.cardinality(path) - 1] = parent_id)),
    CONSTRAINT tenant_depth_limit CHECK (pg_catalog.cardinality(path) <= 32)
);
-- Pre-order index: a subtree is one contiguous range of paths.
CREATE UNIQUE INDEX tenant_path_idx ON rollout.tenant (path);
CREATE INDEX tenant_parent_idx ON rollout.tenant (parent_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.tenant', '');

COMMENT ON TABLE rollout.tenant IS 'tenants: a tree (organisation, team, project, ...) with attributes, lifecycle status and channel';
COMMENT ON COLUMN rollout.tenant.tenant_id IS 'stable slug identifying the tenant forever';
COMMENT ON COLUMN rollout.tenant.parent_id IS 'parent tenant, NULL for a root';
COMMENT ON COLUMN rollout.tenant.kind IS 'label of the level: organisation, team, project, ...';
COMMENT ON COLUMN rollout.tenant.attributes IS 'JSON object of attributes; numeric ones (e.g. scan_volume) serve as weights';
COMMENT ON COLUMN rollout.tenant.status IS 'active, suspended or decommissioned (kept for audit, never changed again)';
COMMENT ON COLUMN rollout.tenant.channel_id IS 'channel the tenant follows; NULL inherits from the nearest ancestor';
COMMENT ON COLUMN rollout.tenant.test_tenant IS 'a dev/test tenant (also true for its descendants), eligible for test-only channels';
COMMENT ON COLUMN rollout.tenant.path IS 'tenant ids from the root down to this tenant; maintained by pg_rollout';

CREATE VIEW rollout.tenant_tree AS
SELECT t.tenant_id,
       t.parent_id,
       t.kind,
       t.display_name,
       pg_catalog.repeat('  ', pg_catalog.cardinality(t.path) - 1) OPERATOR(pg_catalog.||) t.display_name AS label,
       pg_catalog.cardinality(t.path) - 1 AS depth,
       pg_catalog.array_to_string(t.path, '/') AS path,
       t.status,
       t.channel_id,
       t.test_tenant,
       t.attributes
  FROM rollout.tenant t
 ORDER BY t.path;
COMMENT ON VIEW rollout.tenant_tree IS 'tenants in tree order (depth first), with depth, an indented label and the path as text';

CREATE FUNCTION rollout._tenant_for_update(tenant_id text, allow_decommissioned boolean DEFAULT false)
RETURNS rollout.tenant
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t rollout.tenant;
BEGIN
    IF _tenant_for_update.tenant_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'tenant id must not be null';
    END IF;
    SELECT * INTO t FROM rollout.tenant WHERE tenant_id = _tenant_for_update.tenant_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('tenant "%s" does not exist', _tenant_for_update.tenant_id);
    END IF;
    IF t.status = 'decommissioned' AND NOT allow_decommissioned THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('tenant "%s" is decommissioned', t.tenant_id),
            DETAIL = 'A decommissioned tenant is kept for audit and can no longer be changed.';
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout._tenant_for_update(text, boolean) IS
    'internal: lock a tenant row; raise undefined_object if missing, object_not_in_prerequisite_state if decommissioned';

CREATE FUNCTION rollout.tenant_path(tenant_id text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'pgr_tenant_path'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION rollout.tenant_path(text) IS 'tenant ids from the root down to the tenant';

-- Upper bound of the subtree range under a path: no descendant's path reaches it.
CREATE FUNCTION rollout._path_upper(path text[])
RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT path[1:pg_catalog.cardinality(path) - 1]
           OPERATOR(pg_catalog.||) (path[pg_catalog.cardinality(path)] OPERATOR(pg_catalog.||) pg_catalog.chr(1))
$$;
COMMENT ON FUNCTION rollout._path_upper(text[]) IS 'internal: exclusive upper bound of the path range of a subtree';

CREATE FUNCTION rollout.ancestors(tenant_id text, include_self boolean DEFAULT false)
RETURNS TABLE (tenant_id text, parent_id text, kind text, display_name text, status text,
               depth integer, distance integer)
AS 'MODULE_PATHNAME', 'pgr_ancestors'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION rollout.ancestors(text, boolean) IS
    'ancestors of a tenant, nearest first (distance 1 = parent), from its materialized path';

CREATE FUNCTION rollout.descendants(tenant_id text, include_self boolean DEFAULT false,
                                    max_depth integer DEFAULT NULL)
RETURNS TABLE (tenant_id text, parent_id text, kind text, display_name text, status text,
               depth integer, distance integer)
LANGUAGE sql STABLE
AS $$
    -- One range scan of the path index, in index order.  The bounds are
    -- scalar subqueries over a one-row CTE (tenant_path() runs once): as
    -- parameters they let the planner scan the index in order instead of a
    -- bitmap scan plus a sort of text[] paths.
    WITH a AS MATERIALIZED (SELECT rollout.tenant_path($1) AS p)
    SELECT d.tenant_id, d.parent_id, d.kind, d.display_name, d.status,
           pg_catalog.cardinality(d.path) - 1,
           pg_catalog.cardinality(d.path) - (SELECT pg_catalog.cardinality(a.p) FROM a)
      FROM rollout.tenant d
     WHERE d.path OPERATOR(pg_catalog.>=) (SELECT a.p FROM a)
       AND d.path OPERATOR(pg_catalog.<) (SELECT rollout._path_upper(a.p) FROM a)
       AND ($2 OR d.path OPERATOR(pg_catalog.<>) (SELECT a.p FROM a))
       AND ($3 IS NULL OR pg_catalog.cardinality(d.path) - (SELECT pg_catalog.cardinality(a.p) FROM a) <= $3)
     ORDER BY d.path
$$;
COMMENT ON FUNCTION rollout.descendants(text, boolean, integer) IS
    'descendants of a tenant in depth-first order (distance 1 = children), optionally limited to max_depth levels';

CREATE FUNCTION rollout.is_ancestor(ancestor_id text, tenant_id text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT $1 OPERATOR(pg_catalog.=) ANY (p[1:pg_catalog.cardinality(p) - 1])
      FROM (SELECT rollout.tenant_path($2) AS p OFFSET 0) a
$$;
COMMENT ON FUNCTION rollout.is_ancestor(text, text) IS 'true when ancestor_id is a proper ancestor of tenant_id';

CREATE FUNCTION rollout.create_tenant(
    tenant_id text, display_name text DEFAULT NULL, parent_id text DEFAULT NULL,
    kind text DEFAULT 'tenant', attributes jsonb DEFAULT '{}', channel_id text DEFAULT NULL,
    test_tenant boolean DEFAULT false, reason text DEFAULT NULL)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    p rollout.tenant;
    t rollout.tenant;
    newpath text[];
BEGIN
    PERFORM rollout._require_slug('tenant id', create_tenant.tenant_id);
    PERFORM rollout._require_slug('tenant kind', coalesce(create_tenant.kind, 'tenant'));
    IF create_tenant.attributes IS NOT NULL AND jsonb_typeof(create_tenant.attributes) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('attributes of tenant "%s" must be a JSON object', create_tenant.tenant_id),
            DETAIL = format('A JSON %s was given.', jsonb_typeof(create_tenant.attributes));
    END IF;
    IF create_tenant.channel_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM rollout.channel c WHERE c.channel_id = create_tenant.channel_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('channel "%s" does not exist', create_tenant.channel_id);
    END IF;
    IF create_tenant.parent_id IS NOT NULL THEN
        -- FOR SHARE: a concurrent move of the parent either finished before
        -- (we see its new path) or waits for us.
        SELECT * INTO p FROM rollout.tenant WHERE tenant_id = create_tenant.parent_id FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('parent tenant "%s" does not exist', create_tenant.parent_id);
        END IF;
        IF p.status = 'decommissioned' THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('parent tenant "%s" is decommissioned', p.tenant_id),
                DETAIL = 'No tenant can be created under a decommissioned tenant.';
        END IF;
        IF cardinality(p.path) >= 32 THEN
            RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
                MESSAGE = format('tenant "%s" would be deeper than 32 levels', create_tenant.tenant_id);
        END IF;
        newpath := p.path || create_tenant.tenant_id;
    ELSE
        newpath := ARRAY[create_tenant.tenant_id];
    END IF;
    BEGIN
        INSERT INTO rollout.tenant (tenant_id, parent_id, kind, display_name, attributes, channel_id, test_tenant, path)
        VALUES (create_tenant.tenant_id, create_tenant.parent_id, coalesce(create_tenant.kind, 'tenant'),
                coalesce(create_tenant.display_name, create_tenant.tenant_id),
                coalesce(create_tenant.attributes, '{}'), create_tenant.channel_id,
                coalesce(create_tenant.test_tenant, false), newpath)
        RETURNING * INTO t;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('tenant "%s" already exists', create_tenant.tenant_id);
    END;
    PERFORM rollout._audit('tenant.created', t.tenant_id, 'tenant', t.tenant_id, create_tenant.reason,
                           pg_catalog.to_jsonb(t) - 'path' - 'created_at' - 'updated_at');
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout.create_tenant(text, text, text, text, jsonb, text, boolean, text) IS
    'create a tenant, as a root or under a parent; audited';

CREATE FUNCTION rollout.create_tenants(tenant_ids text[], parent_ids text[], kinds text[] DEFAULT NULL,
                                       display_names text[] DEFAULT NULL, attributes jsonb[] DEFAULT NULL,
                                       reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    n integer := coalesce(cardinality(tenant_ids), 0);
    bad text;
    inserted bigint;
BEGIN
    IF coalesce(cardinality(parent_ids), 0) <> n
       OR (kinds IS NOT NULL AND cardinality(kinds) <> n)
       OR (display_names IS NOT NULL AND cardinality(display_names) <> n)
       OR (attributes IS NOT NULL AND cardinality(attributes) <> n) THEN
        RAISE EXCEPTION USING ERRCODE = 'array_subscript_error',
            MESSAGE = 'create_tenants arrays must all have the same length',
            DETAIL = format('%s tenant ids were given with %s parent ids.', n, coalesce(cardinality(parent_ids), 0));
    END IF;
    IF n = 0 THEN
        RETURN 0;
    END IF;

    -- The first invalid id, kind or attributes value, if any.
    SELECT u.id INTO bad FROM unnest(tenant_ids) AS u(id)
     WHERE u.id IS NULL OR length(u.id) > 63 OR u.id !~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' LIMIT 1;
    IF FOUND THEN
        PERFORM rollout._require_slug('tenant id', bad);
    END IF;
    IF kinds IS NOT NULL THEN
        SELECT u.k INTO bad FROM unnest(kinds) AS u(k)
         WHERE u.k IS NOT NULL AND (length(u.k) > 63 OR u.k !~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$') LIMIT 1;
        IF FOUND THEN
            PERFORM rollout._require_slug('tenant kind', bad);
        END IF;
    END IF;
    IF attributes IS NOT NULL THEN
        SELECT u.id INTO bad FROM unnest(tenant_ids, attributes) AS u(id, a)
         WHERE u.a IS NOT NULL AND jsonb_typeof(u.a) <> 'object' LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('attributes of tenant "%s" must be a JSON object', bad);
        END IF;
    END IF;
    SELECT u.id INTO bad FROM unnest(tenant_ids) AS u(id) GROUP BY u.id HAVING count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('tenant "%s" appears more than once in the batch', bad);
    END IF;
    SELECT t.tenant_id INTO bad FROM unnest(tenant_ids) AS u(id)
      JOIN rollout.tenant t ON t.tenant_id = u.id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('tenant "%s" already exists', bad);
    END IF;
    -- Existing parents must not be decommissioned; lock them against moves.
    SELECT t.tenant_id INTO bad FROM rollout.tenant t
     WHERE t.tenant_id IN (SELECT DISTINCT p FROM unnest(parent_ids) AS u(p) WHERE p IS NOT NULL)
       AND t.status = 'decommissioned' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('parent tenant "%s" is decommissioned', bad),
            DETAIL = 'No tenant can be created under a decommissioned tenant.';
    END IF;
    PERFORM 1 FROM rollout.tenant t
     WHERE t.tenant_id IN (SELECT DISTINCT p FROM unnest(parent_ids) AS u(p) WHERE p IS NOT NULL)
     ORDER BY t.tenant_id FOR SHARE;
    -- Every parent exists already or is in the batch.
    -- (EXCEPT is hashed or sorted, never a nested loop over two large arrays.)
    SELECT m.p INTO bad
      FROM (SELECT x.p FROM unnest(parent_ids) AS x(p) WHERE x.p IS NOT NULL
            EXCEPT
            SELECT i.id FROM unnest(tenant_ids) AS i(id)) m
     WHERE NOT EXISTS (SELECT 1 FROM rollout.tenant t WHERE t.tenant_id = m.p)
     ORDER BY m.p LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('parent tenant "%s" does not exist', bad),
            DETAIL = 'Every parent must exist already or be in the same batch.';
    END IF;

    -- Insert the whole forest in one statement: paths computed top-down.
    BEGIN
    WITH RECURSIVE input AS MATERIALIZED (
        SELECT u.id, u.parent, u.kind, u.name, u.attrs
          FROM unnest(tenant_ids, parent_ids,
                      coalesce(kinds, array_fill(NULL::text, ARRAY[n])),
                      coalesce(display_names, array_fill(NULL::text, ARRAY[n])),
                      coalesce(attributes, array_fill(NULL::jsonb, ARRAY[n])))
               AS u(id, parent, kind, name, attrs)
    ), tree AS (
        SELECT i.id, i.parent, i.kind, i.name, i.attrs,
               (coalesce(p.path, '{}'::text[]) || (i.id COLLATE "C")) AS path
          FROM input i LEFT JOIN rollout.tenant p ON p.tenant_id = i.parent
         WHERE i.parent IS NULL OR p.tenant_id IS NOT NULL
        UNION ALL
        SELECT i.id, i.parent, i.kind, i.name, i.attrs, tr.path || (i.id COLLATE "C")
          FROM tree tr JOIN input i ON i.parent = tr.id
    )
    INSERT INTO rollout.tenant (tenant_id, parent_id, kind, display_name, attributes, path)
    SELECT tr.id, tr.parent, coalesce(tr.kind, 'tenant'), coalesce(tr.name, tr.id),
           coalesce(tr.attrs, '{}'), tr.path
      FROM tree tr;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    EXCEPTION WHEN check_violation THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = 'a tenant of the batch would be deeper than 32 levels';
    END;

    -- Rows not reached from an existing tenant or a root form cycles.
    IF inserted <> n THEN
        SELECT u.id INTO bad
          FROM unnest(tenant_ids) AS u(id)
         WHERE NOT EXISTS (SELECT 1 FROM rollout.tenant t WHERE t.tenant_id = u.id)
         ORDER BY u.id LIMIT 1;
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s tenants of the batch form parent cycles, among them "%s"', n - inserted, bad),
            DETAIL = 'Following parents from these tenants never reaches an existing tenant or a root.';
    END IF;

    PERFORM rollout._audit_each('tenant.created', tenant_ids, 'tenant', create_tenants.reason,
                                jsonb_build_object('batch_size', n));
    RETURN inserted;
END
$$;
COMMENT ON FUNCTION rollout.create_tenants(text[], text[], text[], text[], jsonb[], text) IS
    'create many tenants at once (parents before or alongside their children); one audit row per tenant; all or nothing';

CREATE FUNCTION rollout.update_tenant(tenant_id text, display_name text DEFAULT NULL, kind text DEFAULT NULL,
                                      attributes jsonb DEFAULT NULL, test_tenant boolean DEFAULT NULL,
                                      reason text DEFAULT NULL)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    old rollout.tenant;
    t rollout.tenant;
    merged jsonb;
BEGIN
    old := rollout._tenant_for_update(update_tenant.tenant_id);
    IF update_tenant.kind IS NOT NULL THEN
        PERFORM rollout._require_slug('tenant kind', update_tenant.kind);
    END IF;
    merged := old.attributes;
    IF update_tenant.attributes IS NOT NULL THEN
        IF jsonb_typeof(update_tenant.attributes) <> 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('attributes of tenant "%s" must be a JSON object', old.tenant_id),
                DETAIL = format('A JSON %s was given.', jsonb_typeof(update_tenant.attributes));
        END IF;
        -- Merge patch: given keys are set, keys given as null are removed.
        merged := old.attributes - ARRAY(SELECT e.key FROM jsonb_each(update_tenant.attributes) e WHERE e.value = 'null'::jsonb)
                  || (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}')
                        FROM jsonb_each(update_tenant.attributes) e WHERE e.value <> 'null'::jsonb);
    END IF;
    UPDATE rollout.tenant SET
        display_name = coalesce(update_tenant.display_name, display_name),
        kind         = coalesce(update_tenant.kind, kind),
        attributes   = merged,
        test_tenant  = coalesce(update_tenant.test_tenant, test_tenant),
        updated_at   = pg_catalog.now()
    WHERE tenant_id = old.tenant_id
    RETURNING * INTO t;
    PERFORM rollout._audit('tenant.updated', t.tenant_id, 'tenant', t.tenant_id, update_tenant.reason,
                           jsonb_build_object(
                               'before', jsonb_build_object('display_name', old.display_name, 'kind', old.kind,
                                                            'attributes', old.attributes, 'test_tenant', old.test_tenant),
                               'after', jsonb_build_object('display_name', t.display_name, 'kind', t.kind,
                                                           'attributes', t.attributes, 'test_tenant', t.test_tenant)));
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout.update_tenant(text, text, text, jsonb, boolean, text) IS
    'change a tenant''s display name, kind, attributes (JSON merge patch: null removes a key) or test flag; audited';

CREATE FUNCTION rollout.move_tenant(tenant_id text, new_parent_id text, reason text DEFAULT NULL)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t rollout.tenant;
    np rollout.tenant;
    prefix text[];
    subtree_height integer;
    moved bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_transaction_state',
            MESSAGE = 'rollout.move_tenant requires READ COMMITTED isolation',
            DETAIL = format('The current transaction runs at %s: its snapshot could miss tenants created concurrently under the moved subtree.',
                            upper(current_setting('transaction_isolation'))),
            HINT = 'Run the move in a READ COMMITTED transaction.';
    END IF;
    -- Moves exclude concurrent creations and other moves.
    LOCK TABLE rollout.tenant IN SHARE ROW EXCLUSIVE MODE;
    t := rollout._tenant_for_update(move_tenant.tenant_id);
    IF move_tenant.new_parent_id IS NOT NULL THEN
        SELECT * INTO np FROM rollout.tenant WHERE tenant_id = move_tenant.new_parent_id FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('parent tenant "%s" does not exist', move_tenant.new_parent_id);
        END IF;
        IF np.status = 'decommissioned' THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('parent tenant "%s" is decommissioned', np.tenant_id),
                DETAIL = 'No tenant can be moved under a decommissioned tenant.';
        END IF;
        IF t.tenant_id = ANY (np.path) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('cannot move tenant "%s" under "%s": that would make a cycle', t.tenant_id, np.tenant_id),
                DETAIL = CASE WHEN np.tenant_id = t.tenant_id THEN 'A tenant cannot be its own parent.'
                              ELSE format('Tenant "%s" is a descendant of "%s".', np.tenant_id, t.tenant_id) END;
        END IF;
        prefix := np.path || t.tenant_id;
    ELSE
        prefix := ARRAY[t.tenant_id]::text[];
    END IF;
    IF t.parent_id IS NOT DISTINCT FROM move_tenant.new_parent_id THEN
        RETURN t;
    END IF;
    SELECT max(cardinality(d.path)) - cardinality(t.path) INTO subtree_height
      FROM rollout.tenant d WHERE d.path >= t.path AND d.path < rollout._path_upper(t.path);
    IF cardinality(prefix) + subtree_height > 32 THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = format('cannot move tenant "%s" under "%s": the tree would be deeper than 32 levels',
                             t.tenant_id, move_tenant.new_parent_id);
    END IF;
    UPDATE rollout.tenant d
       SET path = prefix || d.path[cardinality(t.path) + 1:],
           parent_id = CASE WHEN d.tenant_id = t.tenant_id THEN move_tenant.new_parent_id ELSE d.parent_id END,
           updated_at = CASE WHEN d.tenant_id = t.tenant_id THEN pg_catalog.now() ELSE d.updated_at END
     WHERE d.path >= t.path AND d.path < rollout._path_upper(t.path);
    GET DIAGNOSTICS moved = ROW_COUNT;
    PERFORM rollout._audit('tenant.moved', t.tenant_id, 'tenant', t.tenant_id, move_tenant.reason,
                           jsonb_build_object('from_parent', t.parent_id, 'to_parent', move_tenant.new_parent_id,
                                              'tenants_moved', moved));
    SELECT * INTO t FROM rollout.tenant WHERE tenant_id = t.tenant_id;
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout.move_tenant(text, text, text) IS
    'move a tenant and its subtree under another parent (NULL: make it a root); refuses cycles; audited';

CREATE FUNCTION rollout._set_tenant_status(tenant_id text, from_status text, to_status text,
                                           action text, reason text)
RETURNS rollout.tenant
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t rollout.tenant;
BEGIN
    t := rollout._tenant_for_update(_set_tenant_status.tenant_id);
    IF t.status <> from_status THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('tenant "%s" is %s, not %s', t.tenant_id, t.status, from_status);
    END IF;
    UPDATE rollout.tenant SET status = to_status, updated_at = pg_catalog.now(),
           suspended_at = CASE WHEN to_status = 'suspended' THEN pg_catalog.now() END
     WHERE tenant_id = t.tenant_id
    RETURNING * INTO t;
    PERFORM rollout._audit(action, t.tenant_id, 'tenant', t.tenant_id, reason,
                           jsonb_build_object('from', from_status, 'to', to_status));
    RETURN t;
END
$$;
COMMENT ON FUNCTION rollout._set_tenant_status(text, text, text, text, text) IS
    'internal: one lifecycle transition of a tenant, checked and audited';

CREATE FUNCTION rollout.suspend_tenant(tenant_id text, reason text)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rollout._require_reason(reason, 'suspend a tenant');
    RETURN rollout._set_tenant_status(tenant_id, 'active', 'suspended', 'tenant.suspended', reason);
END
$$;
COMMENT ON FUNCTION rollout.suspend_tenant(text, text) IS
    'suspend an active tenant (it and its descendants are never activated while suspended); reason required; audited';

CREATE FUNCTION rollout.reactivate_tenant(tenant_id text, reason text)
RETURNS rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM rollout._require_reason(reason, 'reactivate a tenant');
    RETURN rollout._set_tenant_status(tenant_id, 'suspended', 'active', 'tenant.reactivated', reason);
END
$$;
COMMENT ON FUNCTION rollout.reactivate_tenant(text, text) IS 'reactivate a suspended tenant; reason required; audited';

CREATE FUNCTION rollout.decommission_tenant(tenant_id text, reason text, cascade boolean DEFAULT false)
RETURNS SETOF rollout.tenant
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t rollout.tenant;
    live bigint;
    d rollout.tenant;
BEGIN
    PERFORM rollout._require_reason(reason, 'decommission a tenant');
    t := rollout._tenant_for_update(decommission_tenant.tenant_id);
    SELECT count(*) INTO live FROM rollout.tenant d
     WHERE d.path > t.path AND d.path < rollout._path_upper(t.path) AND d.status <> 'decommissioned';
    IF live > 0 AND NOT coalesce(decommission_tenant.cascade, false) THEN
        RAISE EXCEPTION USING ERRCODE = 'dependent_objects_still_exist',
            MESSAGE = format('tenant "%s" has %s %s not decommissioned', t.tenant_id, live,
                             CASE WHEN live = 1 THEN 'descendant that is' ELSE 'descendants that are' END),
            HINT = 'Decommission them first, or pass cascade => true to decommission the whole subtree.';
    END IF;
    -- One audit row per decommissioned tenant, each keeping the archived row.
    FOR d IN
        UPDATE rollout.tenant x SET status = 'decommissioned', decommissioned_at = pg_catalog.now(),
               updated_at = pg_catalog.now()
         WHERE x.path >= t.path AND x.path < rollout._path_upper(t.path) AND x.status <> 'decommissioned'
        RETURNING x.*
    LOOP
        PERFORM rollout._audit('tenant.decommissioned', d.tenant_id, 'tenant', d.tenant_id, reason,
                               jsonb_build_object('archived', to_jsonb(d) - 'path',
                                                  'cascade_from', CASE WHEN d.tenant_id <> t.tenant_id THEN t.tenant_id END));
        RETURN NEXT d;
    END LOOP;
END
$$;
COMMENT ON FUNCTION rollout.decommission_tenant(text, text, boolean) IS
    'decommission a tenant (and with cascade its subtree): kept for audit with its archived state, never activated or changed again';

-- Which channel a tenant follows, opt-in / opt-out, and eligibility.
CREATE TABLE rollout.channel_choice (
    tenant_id  text COLLATE "C" NOT NULL REFERENCES rollout.tenant (tenant_id),
    channel_id text COLLATE "C" NOT NULL REFERENCES rollout.channel (channel_id),
    choice     text        NOT NULL CHECK (choice IN ('opt_in', 'opt_out')),
    reason     text,
    decided_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    decided_by text        NOT NULL,
    PRIMARY KEY (tenant_id, channel_id)
);
CREATE INDEX channel_choice_channel_idx ON rollout.channel_choice (channel_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.channel_choice', '');
COMMENT ON TABLE rollout.channel_choice IS
    'opt-in / opt-out decisions of tenants per channel; inherited by descendants unless they decide otherwise';
COMMENT ON COLUMN rollout.channel_choice.choice IS 'opt_in or opt_out';
COMMENT ON COLUMN rollout.channel_choice.decided_by IS 'actor (pg_rollout.actor) or session user that recorded the choice';

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
    DELETE FROM rollout.channel_choice cc WHERE cc.channel_id = c.channel_id;
    DELETE FROM rollout.channel x WHERE x.channel_id = c.channel_id;
    PERFORM rollout._audit('channel.dropped', NULL, 'channel', c.channel_id, drop_channel.reason,
                           jsonb_build_object('archived', to_jsonb(c)));
END
$$;
COMMENT ON FUNCTION rollout.drop_channel(text, text) IS
    'drop a channel no tenant follows (its opt-in / opt-out records go with it); audited';

-- Components (what rolls out) and their semantically ordered versions.
CREATE TABLE rollout.component (
    component_id    text COLLATE "C" PRIMARY KEY
                    CHECK (component_id ~ '^[a-z0-9]([a-z0-9._:-]*[a-z0-9])?$' AND length(component_id) <= 63),
    kind            text        NOT NULL DEFAULT 'product'
                    CHECK (kind IN ('policy_set', 'plugin', 'product', 'flag', 'config', 'other')),
    display_name    text        NOT NULL,
    description     text,
    attributes      jsonb       NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(attributes) = 'object'),
    default_version rollout.semver,
    grace_period    interval    NOT NULL DEFAULT '30 days' CHECK (grace_period >= interval '0'),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('rollout.component', '');
COMMENT ON TABLE rollout.component IS 'things that roll out: policy sets, plugins, products, flags, configs';
COMMENT ON COLUMN rollout.component.kind IS 'policy_set, plugin, product, flag, config or other';
COMMENT ON COLUMN rollout.component.default_version IS 'platform default: the version a tenant runs when nothing more specific decides';
COMMENT ON COLUMN rollout.component.grace_period IS 'time after a version''s EOL date before tenants on it are out of compliance';

CREATE TABLE rollout.component_version (
    component_id text COLLATE "C" NOT NULL REFERENCES rollout.component (component_id),
    version      rollout.semver NOT NULL,
    status       text        NOT NULL DEFAULT 'draft'
                 CHECK (status IN ('draft', 'published', 'deprecated', 'eol')),
    released_at  timestamptz,
    eol_date     date,
    notes        text,
    attributes   jsonb       NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(attributes) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (component_id, version)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.component_version', '');
COMMENT ON TABLE rollout.component_version IS 'versions of a component, ordered by semantic-version precedence';
COMMENT ON COLUMN rollout.component_version.status IS 'draft, published, deprecated or eol';
COMMENT ON COLUMN rollout.component_version.released_at IS 'when the version was first published';
COMMENT ON COLUMN rollout.component_version.eol_date IS 'end-of-life date; the component''s grace period runs from it';

CREATE FUNCTION rollout._component_for_update(component_id text)
RETURNS rollout.component
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c rollout.component;
BEGIN
    SELECT * INTO c FROM rollout.component WHERE component_id = _component_for_update.component_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('component "%s" does not exist', _component_for_update.component_id);
    END IF;
    RETURN c;
END
$$;
COMMENT ON FUNCTION rollout._component_for_update(text) IS 'internal: lock a component row or raise undefined_object';

CREATE FUNCTION rollout._version_for_update(component_id text, version rollout.semver)
RETURNS rollout.component_version
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v rollout.component_version;
BEGIN
    PERFORM rollout._component_for_update(_version_for_update.component_id);
    SELECT * INTO v FROM rollout.component_version
     WHERE component_id = _version_for_update.component_id AND version OPERATOR(rollout.=) _version_for_update.version FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('version %s of component "%s" does not exist',
                             _version_for_update.version, _version_for_update.component_id);
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION rollout._version_for_update(text, rollout.semver) IS
    'internal: lock a component version row or raise undefined_object';

CREATE FUNCTION rollout._require_component_kind(kind text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF kind IS NULL OR kind NOT IN ('policy_set', 'plugin', 'product', 'flag', 'config', 'other') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid component kind "%s"', kind),
            DETAIL = 'A component kind is one of policy_set, plugin, product, flag, config, other.';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_component_kind(text) IS 'internal: validate a component kind';

CREATE FUNCTION rollout.create_component(component_id text, kind text DEFAULT 'product',
                                         display_name text DEFAULT NULL, description text DEFAULT NULL,
                                         attributes jsonb DEFAULT '{}', grace_period interval DEFAULT '30 days')
RETURNS rollout.component
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c rollout.component;
BEGIN
    PERFORM rollout._require_slug('component id', create_component.component_id);
    PERFORM rollout._require_component_kind(create_component.kind);
    IF create_component.attributes IS NOT NULL AND jsonb_typeof(create_component.attributes) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('attributes of component "%s" must be a JSON object', create_component.component_id);
    END IF;
    IF create_component.grace_period < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid grace period %s for component "%s"', create_component.grace_period, create_component.component_id),
            DETAIL = 'The grace period must be zero or a positive interval.';
    END IF;
    BEGIN
        INSERT INTO rollout.component (component_id, kind, display_name, description, attributes, grace_period)
        VALUES (create_component.component_id, create_component.kind,
                coalesce(create_component.display_name, create_component.component_id),
                create_component.description, coalesce(create_component.attributes, '{}'),
                coalesce(create_component.grace_period, interval '30 days'))
        RETURNING * INTO c;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('component "%s" already exists', create_component.component_id);
    END;
    PERFORM rollout._audit('component.created', NULL, 'component', c.component_id, NULL,
                           to_jsonb(c) - 'created_at' - 'updated_at');
    RETURN c;
END
$$;
COMMENT ON FUNCTION rollout.create_component(text, text, text, text, jsonb, interval) IS
    'create a component (policy_set, plugin, product, flag, config, other); audited';

CREATE FUNCTION rollout.update_component(component_id text, display_name text DEFAULT NULL,
                                         description text DEFAULT NULL, attributes jsonb DEFAULT NULL,
                                         grace_period interval DEFAULT NULL, reason text DEFAULT NULL)
RETURNS rollout.component
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    old rollout.component;
    c rollout.component;
BEGIN
    old := rollout._component_for_update(update_component.component_id);
    IF update_component.attributes IS NOT NULL AND jsonb_typeof(update_component.attributes) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('attributes of component "%s" must be a JSON object', old.component_id);
    END IF;
    IF update_component.grace_period < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid grace period %s for component "%s"', update_component.grace_period, old.component_id),
            DETAIL = 'The grace period must be zero or a positive interval.';
    END IF;
    UPDATE rollout.component SET
        display_name = coalesce(update_component.display_name, display_name),
        description  = coalesce(update_component.description, description),
        attributes   = coalesce(update_component.attributes, attributes),
        grace_period = coalesce(update_component.grace_period, grace_period),
        updated_at   = pg_catalog.now()
    WHERE component_id = old.component_id
    RETURNING * INTO c;
    PERFORM rollout._audit('component.updated', NULL, 'component', c.component_id, update_component.reason,
                           jsonb_build_object('before', to_jsonb(old) - 'created_at' - 'updated_at',
                                              'after', to_jsonb(c) - 'created_at' - 'updated_at'));
    RETURN c;
END
$$;
COMMENT ON FUNCTION rollout.update_component(text, text, text, jsonb, interval, text) IS
    'change a component''s display name, description, attributes (replaced) or grace period; audited';

CREATE FUNCTION rollout.add_version(component_id text, version rollout.semver, status text DEFAULT 'draft',
                                    eol_date date DEFAULT NULL, notes text DEFAULT NULL,
                                    attributes jsonb DEFAULT '{}')
RETURNS rollout.component_version
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c rollout.component;
    v rollout.component_version;
BEGIN
    IF add_version.version IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'version must not be null';
    END IF;
    c := rollout._component_for_update(add_version.component_id);
    IF add_version.status IS NULL OR add_version.status NOT IN ('draft', 'published') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid initial status "%s" for version %s of component "%s"',
                             add_version.status, add_version.version, c.component_id),
            DETAIL = 'A new version starts as draft or published.';
    END IF;
    IF add_version.attributes IS NOT NULL AND jsonb_typeof(add_version.attributes) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('attributes of version %s must be a JSON object', add_version.version);
    END IF;
    SELECT * INTO v FROM rollout.component_version cv
     WHERE cv.component_id = c.component_id AND cv.version OPERATOR(rollout.=) add_version.version;
    IF FOUND AND v.version::text <> add_version.version::text THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('version %s of component "%s" already exists', add_version.version, c.component_id),
            DETAIL = format('Existing version %s has the same precedence: build metadata is ignored.', v.version);
    ELSIF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('version %s of component "%s" already exists', add_version.version, c.component_id);
    END IF;
    INSERT INTO rollout.component_version (component_id, version, status, released_at, eol_date, notes, attributes)
    VALUES (c.component_id, add_version.version, add_version.status,
            CASE WHEN add_version.status = 'published' THEN pg_catalog.now() END,
            add_version.eol_date, add_version.notes, coalesce(add_version.attributes, '{}'))
    RETURNING * INTO v;
    PERFORM rollout._audit('version.added', NULL, 'version', c.component_id || '@' || v.version::text, NULL,
                           jsonb_build_object('component', c.component_id, 'version', v.version::text,
                                              'status', v.status, 'eol_date', v.eol_date));
    RETURN v;
END
$$;
COMMENT ON FUNCTION rollout.add_version(text, rollout.semver, text, date, text, jsonb) IS
    'add a version (draft or published) to a component; audited';

CREATE FUNCTION rollout.set_version_status(component_id text, version rollout.semver, status text,
                                           reason text DEFAULT NULL)
RETURNS rollout.component_version
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c rollout.component;
    v rollout.component_version;
    old_status text;
BEGIN
    v := rollout._version_for_update(set_version_status.component_id, set_version_status.version);
    SELECT * INTO c FROM rollout.component WHERE component_id = v.component_id;
    old_status := v.status;
    IF set_version_status.status IS NULL OR set_version_status.status NOT IN ('draft', 'published', 'deprecated', 'eol') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid version status "%s"', set_version_status.status),
            DETAIL = 'A version status is one of draft, published, deprecated, eol.';
    END IF;
    IF NOT ((old_status, set_version_status.status) IN
            (('draft', 'published'), ('published', 'deprecated'), ('deprecated', 'published'),
             ('published', 'eol'), ('deprecated', 'eol'))) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('version %s of component "%s" cannot go from %s to %s',
                             v.version, v.component_id, old_status, set_version_status.status),
            DETAIL = 'Allowed: draft to published, published to deprecated or eol, deprecated to published or eol.';
    END IF;
    IF set_version_status.status = 'eol' AND c.default_version OPERATOR(rollout.=) v.version THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('version %s is the platform default of component "%s"', v.version, v.component_id),
            HINT = 'Make another version the default with rollout.set_default_version() first.';
    END IF;
    UPDATE rollout.component_version cv SET
        status = set_version_status.status,
        released_at = coalesce(cv.released_at, CASE WHEN set_version_status.status = 'published' THEN pg_catalog.now() END),
        eol_date = CASE WHEN set_version_status.status = 'eol' THEN coalesce(cv.eol_date, current_date) ELSE cv.eol_date END,
        updated_at = pg_catalog.now()
    WHERE cv.component_id = v.component_id AND cv.version OPERATOR(rollout.=) v.version
    RETURNING * INTO v;
    PERFORM rollout._audit('version.status_changed', NULL, 'version', v.component_id || '@' || v.version::text,
                           set_version_status.reason,
                           jsonb_build_object('component', v.component_id, 'version', v.version::text,
                                              'from', old_status, 'to', v.status));
    RETURN v;
END
$$;
COMMENT ON FUNCTION rollout.set_version_status(text, rollout.semver, text, text) IS
    'move a version through draft -> published <-> deprecated -> eol; audited';

CREATE FUNCTION rollout.set_version_eol(component_id text, version rollout.semver, eol_date date,
                                        reason text DEFAULT NULL)
RETURNS rollout.component_version
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v rollout.component_version;
    old_date date;
BEGIN
    v := rollout._version_for_update(set_version_eol.component_id, set_version_eol.version);
    IF v.status = 'eol' THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('version %s of component "%s" is already end-of-life', v.version, v.component_id);
    END IF;
    old_date := v.eol_date;
    UPDATE rollout.component_version cv SET eol_date = set_version_eol.eol_date, updated_at = pg_catalog.now()
     WHERE cv.component_id = v.component_id AND cv.version OPERATOR(rollout.=) v.version
    RETURNING * INTO v;
    PERFORM rollout._audit('version.eol_set', NULL, 'version', v.component_id || '@' || v.version::text,
                           set_version_eol.reason,
                           jsonb_build_object('component', v.component_id, 'version', v.version::text,
                                              'from', old_date, 'to', v.eol_date));
    RETURN v;
END
$$;
COMMENT ON FUNCTION rollout.set_version_eol(text, rollout.semver, date, text) IS
    'set or clear (NULL) the end-of-life date of a version; audited';

CREATE FUNCTION rollout.set_default_version(component_id text, version rollout.semver, reason text DEFAULT NULL)
RETURNS rollout.component
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c rollout.component;
    v rollout.component_version;
    previous rollout.semver;
BEGIN
    c := rollout._component_for_update(set_default_version.component_id);
    previous := c.default_version;
    IF set_default_version.version IS NOT NULL THEN
        v := rollout._version_for_update(c.component_id, set_default_version.version);
        IF v.status NOT IN ('published', 'deprecated') THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('version %s of component "%s" is %s and cannot be the platform default',
                                 v.version, c.component_id, v.status),
                DETAIL = 'The platform default must be a published or deprecated version.';
        END IF;
    END IF;
    UPDATE rollout.component SET default_version = v.version, updated_at = pg_catalog.now()
     WHERE component_id = c.component_id RETURNING * INTO c;
    PERFORM rollout._audit('component.default_version_set', NULL, 'component', c.component_id,
                           set_default_version.reason,
                           jsonb_build_object('from', previous::text, 'to', c.default_version::text));
    RETURN c;
END
$$;
COMMENT ON FUNCTION rollout.set_default_version(text, rollout.semver, text) IS
    'set (or clear with NULL) the platform default version of a component; audited';

CREATE VIEW rollout.component_versions AS
SELECT v.component_id, c.kind, v.version, v.status,
       (c.default_version IS NOT NULL AND v.version OPERATOR(rollout.=) c.default_version) AS is_default,
       v.released_at, v.eol_date,
       CASE WHEN v.eol_date IS NOT NULL THEN v.eol_date + c.grace_period END AS grace_ends,
       v.notes
  FROM rollout.component_version v
  JOIN rollout.component c USING (component_id)
 ORDER BY v.component_id, v.version;
COMMENT ON VIEW rollout.component_versions IS
    'every version of every component in precedence order, with its status, whether it is the platform default, and EOL / grace end';

-- Events: every rollout transition is audited, announced with NOTIFY and
-- left in an outbox that a notifier reads and acknowledges.
CREATE SEQUENCE rollout.event_seq;
CREATE TABLE rollout.event_outbox (
    event_id   bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.event_seq'),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    event      text        NOT NULL,
    rollout_id text,
    audit_seq  bigint      NOT NULL,
    payload    jsonb       NOT NULL,
    acked_at   timestamptz,
    acked_by   text
);
CREATE INDEX event_outbox_pending_idx ON rollout.event_outbox (event_id) WHERE acked_at IS NULL;
CREATE INDEX event_outbox_rollout_idx ON rollout.event_outbox (rollout_id, event_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.event_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.event_seq', '');
COMMENT ON TABLE rollout.event_outbox IS
    'rollout events for notifiers: one row per event, pending until acknowledged with rollout.ack_events()';
COMMENT ON COLUMN rollout.event_outbox.event IS 'event name, e.g. rollout.stage.started';
COMMENT ON COLUMN rollout.event_outbox.audit_seq IS 'the audit-log row that records the same event';
COMMENT ON COLUMN rollout.event_outbox.payload IS 'the JSON payload, as sent with NOTIFY on channel pg_rollout_events';
COMMENT ON COLUMN rollout.event_outbox.acked_at IS 'when a notifier acknowledged the event; NULL while pending';
COMMENT ON SEQUENCE rollout.event_seq IS 'event ids of rollout.event_outbox';

CREATE FUNCTION rollout._event(event text, rollout_id text, reason text, details jsonb DEFAULT '{}',
                               tenant_id text DEFAULT NULL, subject_kind text DEFAULT 'rollout',
                               subject_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seq bigint;
    id bigint;
    payload jsonb;
    msg text;
BEGIN
    seq := rollout._audit(event, tenant_id, subject_kind, coalesce(subject_id, rollout_id), reason, coalesce(details, '{}'));
    id := nextval('rollout.event_seq');
    payload := jsonb_build_object('event_id', id, 'event', event, 'rollout_id', rollout_id,
                                  'at', now(), 'actor',
                                  coalesce(nullif(current_setting('pg_rollout.actor', true), ''), session_user::text),
                                  'reason', reason, 'audit_seq', seq)
               || jsonb_build_object('details', coalesce(details, '{}'));
    INSERT INTO rollout.event_outbox (event_id, event, rollout_id, audit_seq, payload)
    VALUES (id, event, rollout_id, seq, payload);
    msg := payload::text;
    -- NOTIFY payloads are limited to 8000 bytes: a long one is cut down to
    -- its header; the outbox row keeps everything.
    IF octet_length(msg) > 7900 THEN
        msg := (payload - 'details' - 'reason' || jsonb_build_object('truncated', true))::text;
    END IF;
    PERFORM pg_notify('pg_rollout_events', msg);
    RETURN id;
END
$$;
COMMENT ON FUNCTION rollout._event(text, text, text, jsonb, text, text, text) IS
    'internal: record a rollout event in the audit log and the outbox, and NOTIFY pg_rollout_events';

CREATE VIEW rollout.pending_events AS
SELECT e.event_id, e.created_at, e.event, e.rollout_id, e.payload
  FROM rollout.event_outbox e
 WHERE e.acked_at IS NULL
 ORDER BY e.event_id;
COMMENT ON VIEW rollout.pending_events IS 'outbox events not yet acknowledged, oldest first';

CREATE FUNCTION rollout.ack_events(up_to_event_id bigint)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF up_to_event_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'up_to_event_id must not be null';
    END IF;
    UPDATE rollout.event_outbox e
       SET acked_at = now(),
           acked_by = coalesce(nullif(current_setting('pg_rollout.actor', true), ''), session_user::text)
     WHERE e.acked_at IS NULL AND e.event_id <= up_to_event_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout.ack_events(bigint) IS
    'acknowledge every pending outbox event up to and including an event id; returns how many';
-- Feature flags and kill switches, resolved through the tenant tree.
CREATE TABLE rollout.flag (
    flag_id         text COLLATE "C" PRIMARY KEY
                    CHECK (flag_id ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(flag_id) <= 63),
    description     text,
    default_enabled boolean     NOT NULL DEFAULT false,
    killed          boolean     NOT NULL DEFAULT false,
    kill_reason     text,
    killed_at       timestamptz,
    killed_by       text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('rollout.flag', '');
COMMENT ON TABLE rollout.flag IS 'feature flags: a default, per-tenant overrides inherited down the tree, and a kill switch';
COMMENT ON COLUMN rollout.flag.default_enabled IS 'value for tenants with no override on themselves or an ancestor';
COMMENT ON COLUMN rollout.flag.killed IS 'global kill switch: when true the flag is off for every tenant, whatever else says';

CREATE TABLE rollout.flag_setting (
    flag_id   text COLLATE "C" NOT NULL REFERENCES rollout.flag (flag_id),
    tenant_id text COLLATE "C" NOT NULL REFERENCES rollout.tenant (tenant_id),
    enabled   boolean,
    killed    boolean     NOT NULL DEFAULT false,
    reason    text,
    set_by    text        NOT NULL,
    set_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (flag_id, tenant_id),
    CONSTRAINT flag_setting_not_empty CHECK (enabled IS NOT NULL OR killed)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.flag_setting', '');
COMMENT ON TABLE rollout.flag_setting IS
    'per-tenant flag overrides (enabled true / false) and subtree kill switches; the nearest override on the path decides';
COMMENT ON COLUMN rollout.flag_setting.enabled IS 'override for the tenant and its subtree; NULL when the row is only a kill switch';
COMMENT ON COLUMN rollout.flag_setting.killed IS 'kill switch for the tenant and its subtree: beats every override';

CREATE FUNCTION rollout._flag_for_update(flag_id text)
RETURNS rollout.flag
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f rollout.flag;
BEGIN
    IF flag_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'flag id must not be null';
    END IF;
    SELECT * INTO f FROM rollout.flag x WHERE x.flag_id = _flag_for_update.flag_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('flag "%s" does not exist', flag_id);
    END IF;
    RETURN f;
END
$$;
COMMENT ON FUNCTION rollout._flag_for_update(text) IS 'internal: lock a flag row or raise undefined_object';

CREATE FUNCTION rollout.create_flag(flag_id text, default_enabled boolean DEFAULT false, description text DEFAULT NULL)
RETURNS rollout.flag
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    f rollout.flag;
BEGIN
    PERFORM rollout._require_slug('flag id', flag_id);
    BEGIN
        INSERT INTO rollout.flag (flag_id, default_enabled, description)
        VALUES (flag_id, coalesce(default_enabled, false), description)
        RETURNING * INTO f;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object', MESSAGE = format('flag "%s" already exists', flag_id);
    END;
    PERFORM rollout._audit('flag.created', NULL, 'flag', f.flag_id, NULL,
                           jsonb_build_object('default_enabled', f.default_enabled));
    RETURN f;
END
$$;
COMMENT ON FUNCTION rollout.create_flag(text, boolean, text) IS 'create a feature flag with a default value; audited';

CREATE FUNCTION rollout.set_flag(flag_id text, tenant_id text, enabled boolean, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    f rollout.flag := rollout._flag_for_update(flag_id);
BEGIN
    IF tenant_id IS NULL THEN
        IF enabled IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
                MESSAGE = format('default value of flag "%s" must not be null', flag_id);
        END IF;
        UPDATE rollout.flag x SET default_enabled = enabled, updated_at = now() WHERE x.flag_id = f.flag_id;
        PERFORM rollout._audit('flag.default_set', NULL, 'flag', f.flag_id, reason,
                               jsonb_build_object('enabled', enabled, 'was', f.default_enabled));
        RETURN;
    END IF;
    PERFORM rollout._tenant_for_update(tenant_id);
    IF enabled IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('override of flag "%s" for tenant "%s" must not be null', flag_id, tenant_id),
            HINT = 'Use rollout.clear_flag() to remove an override.';
    END IF;
    INSERT INTO rollout.flag_setting AS s (flag_id, tenant_id, enabled, reason, set_by)
    VALUES (f.flag_id, tenant_id, enabled, reason, rollout._actor())
    ON CONFLICT ON CONSTRAINT flag_setting_pkey
    DO UPDATE SET enabled = excluded.enabled, reason = excluded.reason, set_by = excluded.set_by, set_at = now();
    PERFORM rollout._audit('flag.override_set', tenant_id, 'flag', f.flag_id, reason,
                           jsonb_build_object('enabled', enabled));
END
$$;
COMMENT ON FUNCTION rollout.set_flag(text, text, boolean, text) IS
    'set a flag''s override for a tenant and its subtree (tenant NULL: the flag''s default); audited';

CREATE FUNCTION rollout.clear_flag(flag_id text, tenant_id text, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    f rollout.flag := rollout._flag_for_update(flag_id);
    s rollout.flag_setting;
BEGIN
    SELECT * INTO s FROM rollout.flag_setting x WHERE x.flag_id = f.flag_id AND x.tenant_id = clear_flag.tenant_id FOR UPDATE;
    IF NOT FOUND OR s.enabled IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('flag "%s" has no override for tenant "%s"', f.flag_id, tenant_id);
    END IF;
    IF s.killed THEN
        UPDATE rollout.flag_setting x SET enabled = NULL WHERE x.flag_id = f.flag_id AND x.tenant_id = s.tenant_id;
    ELSE
        DELETE FROM rollout.flag_setting x WHERE x.flag_id = f.flag_id AND x.tenant_id = s.tenant_id;
    END IF;
    PERFORM rollout._audit('flag.override_cleared', tenant_id, 'flag', f.flag_id, reason,
                           jsonb_build_object('was', s.enabled));
END
$$;
COMMENT ON FUNCTION rollout.clear_flag(text, text, text) IS 'remove a flag''s override for a tenant; audited';

CREATE FUNCTION rollout.kill_flag(flag_id text, reason text, tenant_id text DEFAULT NULL, killed boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    f rollout.flag := rollout._flag_for_update(flag_id);
    who text := rollout._actor();
BEGIN
    PERFORM rollout._require_reason(reason, CASE WHEN killed THEN 'flip a kill switch' ELSE 'release a kill switch' END);
    IF killed IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'killed must not be null';
    END IF;
    IF tenant_id IS NULL THEN
        UPDATE rollout.flag x
           SET killed = kill_flag.killed, kill_reason = reason, killed_at = now(), killed_by = who, updated_at = now()
         WHERE x.flag_id = f.flag_id;
    ELSE
        PERFORM rollout._tenant_for_update(tenant_id);
        IF killed THEN
            INSERT INTO rollout.flag_setting AS s (flag_id, tenant_id, killed, reason, set_by)
            VALUES (f.flag_id, tenant_id, true, reason, who)
            ON CONFLICT ON CONSTRAINT flag_setting_pkey
            DO UPDATE SET killed = true, reason = excluded.reason, set_by = excluded.set_by, set_at = now();
        ELSE
            IF NOT EXISTS (SELECT 1 FROM rollout.flag_setting x
                            WHERE x.flag_id = f.flag_id AND x.tenant_id = kill_flag.tenant_id AND x.killed) THEN
                RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                    MESSAGE = format('flag "%s" has no kill switch on tenant "%s"', f.flag_id, tenant_id);
            END IF;
            DELETE FROM rollout.flag_setting x
             WHERE x.flag_id = f.flag_id AND x.tenant_id = kill_flag.tenant_id AND x.enabled IS NULL;
            UPDATE rollout.flag_setting x SET killed = false, set_by = who, set_at = now()
             WHERE x.flag_id = f.flag_id AND x.tenant_id = kill_flag.tenant_id;
        END IF;
    END IF;
    PERFORM rollout._event(CASE WHEN killed THEN 'flag.killed' ELSE 'flag.unkilled' END, NULL, reason,
                           jsonb_build_object('flag', f.flag_id, 'tenant', tenant_id), tenant_id, 'flag', f.flag_id);
END
$$;
COMMENT ON FUNCTION rollout.kill_flag(text, text, text, boolean) IS
    'flip a flag''s kill switch, globally (tenant NULL) or for a subtree; killed => false releases it; a reason is required; audited';
-- Rollouts: plans of ordered stages that move a component from one version
-- to another, their lifecycle, deterministic selection and activation.

CREATE FUNCTION rollout._actor()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(nullif(current_setting('pg_rollout.actor', true), ''), session_user::text) $$;
COMMENT ON FUNCTION rollout._actor() IS 'internal: the acting identity: pg_rollout.actor when set, else the session user';

CREATE FUNCTION rollout.bucket(salt bytea, tenant_id text)
RETURNS integer
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_bucket';
COMMENT ON FUNCTION rollout.bucket(bytea, text) IS
    'deterministic bucket 0..999999 of a tenant under a salt (SHA-256); a stage at p % selects buckets below p * 10000';

CREATE FUNCTION rollout.weight_key(salt bytea, tenant_id text, weight double precision)
RETURNS double precision
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_weight_key';
COMMENT ON FUNCTION rollout.weight_key(bytea, text, double precision) IS
    'deterministic weighted-sampling key (-ln(u)/weight); tenants in ascending key order form a weighted random permutation';

CREATE TABLE rollout.rollout (
    rollout_id           text COLLATE "C" PRIMARY KEY
                         CHECK (rollout_id ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(rollout_id) <= 63),
    component_id         text COLLATE "C" NOT NULL REFERENCES rollout.component (component_id),
    from_version         rollout.semver NOT NULL,
    to_version           rollout.semver NOT NULL,
    strategy             text        NOT NULL DEFAULT 'staged'
                         CHECK (strategy IN ('staged', 'canary', 'blue_green', 'feature_flag')),
    description          text,
    scope_tenant_id      text COLLATE "C" REFERENCES rollout.tenant (tenant_id),
    channel_id           text COLLATE "C" REFERENCES rollout.channel (channel_id),
    target_kind          text,
    allow_downgrade      boolean     NOT NULL DEFAULT false,
    rollback_automatic   boolean     NOT NULL DEFAULT true,
    monitoring_extension interval    NOT NULL DEFAULT '1 hour' CHECK (monitoring_extension > interval '0'),
    stage_timeout        interval    NOT NULL DEFAULT '24 hours' CHECK (stage_timeout >= interval '0'),
    flag_id              text COLLATE "C" REFERENCES rollout.flag (flag_id),
    plan                 jsonb,
    salt                 bytea       NOT NULL,
    status               text        NOT NULL DEFAULT 'draft'
                         CHECK (status IN ('draft', 'approved', 'running', 'paused', 'completed',
                                           'rolled_back', 'failed', 'cancelled')),
    current_stage        integer,
    revision             integer     NOT NULL DEFAULT 1,
    created_by           text        NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),
    approved_by          text,
    approved_at          timestamptz,
    approval_note        text,
    started_at           timestamptz,
    finished_at          timestamptz,
    status_reason        text,
    next_due_at          timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT rollout_versions_differ CHECK (from_version OPERATOR(rollout.<>) to_version),
    CONSTRAINT rollout_flag_strategy CHECK ((strategy = 'feature_flag') = (flag_id IS NOT NULL)),
    CONSTRAINT rollout_salt_length CHECK (pg_catalog.octet_length(salt) BETWEEN 8 AND 64)
);
-- One rollout at a time moves a component's tenants.
CREATE UNIQUE INDEX rollout_one_live_per_component ON rollout.rollout (component_id)
    WHERE status IN ('running', 'paused', 'failed');
CREATE INDEX rollout_due_idx ON rollout.rollout (next_due_at) WHERE status = 'running';
SELECT pg_catalog.pg_extension_config_dump('rollout.rollout', '');
COMMENT ON TABLE rollout.rollout IS 'rollouts: a component moved from one version to another over ordered stages';
COMMENT ON COLUMN rollout.rollout.strategy IS 'staged, canary (generated increments), blue_green (both versions kept, instant switch back) or feature_flag';
COMMENT ON COLUMN rollout.rollout.scope_tenant_id IS 'limit the rollout to this tenant''s subtree; NULL for every tenant';
COMMENT ON COLUMN rollout.rollout.channel_id IS 'only tenants whose effective channel is this one are eligible; NULL for any';
COMMENT ON COLUMN rollout.rollout.target_kind IS 'only tenants of this kind (e.g. project) are selected; NULL for every kind';
COMMENT ON COLUMN rollout.rollout.salt IS 'random salt fixed at creation: tenants'' buckets never change during the rollout';
COMMENT ON COLUMN rollout.rollout.current_stage IS 'number of the stage being monitored (1-based); NULL before start';
COMMENT ON COLUMN rollout.rollout.revision IS 'incremented by every edit of the plan; an approval covers one revision';
COMMENT ON COLUMN rollout.rollout.monitoring_extension IS 'how long monitoring is extended when a due stage has no metrics';
COMMENT ON COLUMN rollout.rollout.stage_timeout IS 'a stage still undecided this long after it was due pauses the rollout';
COMMENT ON COLUMN rollout.rollout.next_due_at IS 'when rollout.tick() next has work for this rollout';
COMMENT ON COLUMN rollout.rollout.flag_id IS 'feature_flag strategy: the flag that gates the to-version (overrides and kill switch apply)';
COMMENT ON COLUMN rollout.rollout.plan IS 'the JSON plan document the rollout was created from, if any';

CREATE FUNCTION rollout._rollout_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.salt IS DISTINCT FROM OLD.salt OR NEW.rollout_id IS DISTINCT FROM OLD.rollout_id
       OR NEW.component_id IS DISTINCT FROM OLD.component_id THEN
        RAISE EXCEPTION USING ERRCODE = 'prohibited_sql_statement_attempted',
            MESSAGE = format('the id, component and salt of rollout "%s" cannot change', OLD.rollout_id),
            DETAIL = 'Tenants'' buckets are derived from the salt; changing it would move tenants between stages.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION rollout._rollout_guard() IS 'internal: keeps a rollout''s id, component and salt immutable';
CREATE TRIGGER rollout_guard BEFORE UPDATE ON rollout.rollout
    FOR EACH ROW EXECUTE FUNCTION rollout._rollout_guard();

CREATE TABLE rollout.rollout_stage (
    rollout_id                text COLLATE "C" NOT NULL REFERENCES rollout.rollout (rollout_id),
    stage_no                  integer     NOT NULL CHECK (stage_no > 0),
    name                      text        NOT NULL
                              CHECK (name ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$' AND length(name) <= 63),
    description               text,
    method                    text        NOT NULL CHECK (method IN ('tenants', 'percentage', 'all')),
    tenants                   text[] COLLATE "C",
    percent                   numeric(7,4) CHECK (percent > 0 AND percent <= 100),
    weight_by                 text,
    min_duration              interval    NOT NULL DEFAULT '0' CHECK (min_duration >= interval '0'),
    max_new_failures          numeric     CHECK (max_new_failures >= 0),
    max_failure_rate_increase numeric,
    metric_bounds             jsonb       NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(metric_bounds) = 'object'),
    auto_proceed              boolean     NOT NULL DEFAULT false,
    status                    text        NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'monitoring', 'passed', 'completed', 'failed', 'rolled_back')),
    started_at                timestamptz,
    due_at                    timestamptz,
    completed_at              timestamptz,
    activated                 integer     NOT NULL DEFAULT 0,
    last_evaluation           jsonb,
    PRIMARY KEY (rollout_id, stage_no),
    CONSTRAINT rollout_stage_name_key UNIQUE (rollout_id, name),
    CONSTRAINT rollout_stage_method_args CHECK (
        (method = 'tenants' AND tenants IS NOT NULL AND percent IS NULL AND weight_by IS NULL)
        OR (method = 'percentage' AND percent IS NOT NULL AND tenants IS NULL)
        OR (method = 'all' AND percent IS NULL AND tenants IS NULL AND weight_by IS NULL))
);
SELECT pg_catalog.pg_extension_config_dump('rollout.rollout_stage', '');
COMMENT ON TABLE rollout.rollout_stage IS 'the ordered stages of a rollout: selection, minimum duration, success criteria, auto-proceed, status';
COMMENT ON COLUMN rollout.rollout_stage.method IS 'tenants (an explicit list), percentage (of eligible tenants, optionally weighted) or all';
COMMENT ON COLUMN rollout.rollout_stage.percent IS 'share of eligible tenants (or of their weight), in (0, 100]';
COMMENT ON COLUMN rollout.rollout_stage.weight_by IS 'numeric tenant attribute the percentage is weighted by (e.g. scan_volume)';
COMMENT ON COLUMN rollout.rollout_stage.min_duration IS 'minimum time the stage is monitored before it can pass';
COMMENT ON COLUMN rollout.rollout_stage.max_new_failures IS 'success criterion: sum of metric new_failures in the stage at most this';
COMMENT ON COLUMN rollout.rollout_stage.max_failure_rate_increase IS 'success criterion: mean failure_rate in the stage minus the baseline mean at most this';
COMMENT ON COLUMN rollout.rollout_stage.metric_bounds IS 'success criteria on named metrics: {"metric": upper bound, ...}';
COMMENT ON COLUMN rollout.rollout_stage.auto_proceed IS 'rollout.tick() starts the next stage when this one passes';
COMMENT ON COLUMN rollout.rollout_stage.activated IS 'tenants activated while this stage was current';
COMMENT ON COLUMN rollout.rollout_stage.last_evaluation IS 'the latest evaluation of the success criteria';

CREATE TABLE rollout.rollout_trigger (
    rollout_id text COLLATE "C" NOT NULL REFERENCES rollout.rollout (rollout_id),
    metric     text    NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_.]*$' AND length(metric) <= 63),
    threshold  numeric NOT NULL,
    PRIMARY KEY (rollout_id, metric)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.rollout_trigger', '');
COMMENT ON TABLE rollout.rollout_trigger IS 'rollback triggers: a metric of the current stage above its threshold rolls the rollout back';

-- No foreign keys: a stage may activate 100,000 tenants in one statement,
-- and three key checks per row would triple its cost.  Only the rollout
-- functions write this table, from rows they have just read, and tenants,
-- components and rollouts are never deleted (tenants are decommissioned).
CREATE TABLE rollout.activation (
    component_id          text COLLATE "C" NOT NULL,
    tenant_id             text COLLATE "C" NOT NULL,
    version               rollout.semver NOT NULL,
    rollout_id            text COLLATE "C" NOT NULL,
    stage_no              integer     NOT NULL,
    activated_at          timestamptz NOT NULL,
    previous_version      rollout.semver,
    previous_rollout_id   text COLLATE "C",
    previous_stage_no     integer,
    previous_activated_at timestamptz,
    PRIMARY KEY (component_id, tenant_id)
);
CREATE INDEX activation_rollout_idx ON rollout.activation (rollout_id, stage_no);
SELECT pg_catalog.pg_extension_config_dump('rollout.activation', '');
COMMENT ON TABLE rollout.activation IS
    'tenants a rollout has moved to its to-version; inherited by descendants; a rollback restores the previous row';
COMMENT ON COLUMN rollout.activation.stage_no IS 'stage that was current when the tenant was activated';
COMMENT ON COLUMN rollout.activation.previous_version IS 'version of the activation this one replaced (restored by a rollback), NULL if none';

CREATE TABLE rollout.deferral (
    rollout_id  text COLLATE "C" NOT NULL REFERENCES rollout.rollout (rollout_id),
    tenant_id   text COLLATE "C" NOT NULL REFERENCES rollout.tenant (tenant_id),
    stage_no    integer     NOT NULL,
    deferred_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    reason      text        NOT NULL,
    PRIMARY KEY (rollout_id, tenant_id)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.deferral', '');
COMMENT ON TABLE rollout.deferral IS
    'tenants selected by a stage but held back by a maintenance blackout; activated by rollout.tick() once allowed';

CREATE SEQUENCE rollout.blackout_seq;
CREATE TABLE rollout.blackout (
    blackout_id bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.blackout_seq'),
    tenant_id   text COLLATE "C" NOT NULL REFERENCES rollout.tenant (tenant_id),
    during      tstzrange   NOT NULL CHECK (NOT pg_catalog.isempty(during)),
    reason      text        NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX blackout_tenant_idx ON rollout.blackout (tenant_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.blackout', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.blackout_seq', '');
COMMENT ON SEQUENCE rollout.blackout_seq IS 'ids of rollout.blackout';
COMMENT ON TABLE rollout.blackout IS
    'maintenance blackouts: no tenant in the subtree of tenant_id is activated during the period';

-- A hold was lifted: running rollouts with deferred tenants are due now.
CREATE FUNCTION rollout._wake_deferred()
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE rollout.rollout r SET next_due_at = now()
     WHERE r.status = 'running' AND EXISTS (SELECT 1 FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id)
$$;
COMMENT ON FUNCTION rollout._wake_deferred() IS
    'internal: make every running rollout with deferred tenants due at once (a blackout or window was removed)';

CREATE FUNCTION rollout.add_blackout(tenant_id text, during tstzrange, reason text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM rollout._tenant_for_update(add_blackout.tenant_id);
    IF during IS NULL OR isempty(during) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blackout period of tenant "%s" must be a non-empty range', add_blackout.tenant_id);
    END IF;
    PERFORM rollout._require_reason(reason, 'add a blackout');
    INSERT INTO rollout.blackout (tenant_id, during, reason, created_by)
    VALUES (add_blackout.tenant_id, during, reason, rollout._actor())
    RETURNING blackout_id INTO id;
    PERFORM rollout._audit('blackout.added', add_blackout.tenant_id, 'blackout', id::text, reason,
                           jsonb_build_object('during', during::text));
    RETURN id;
END
$$;
COMMENT ON FUNCTION rollout.add_blackout(text, tstzrange, text) IS
    'add a maintenance blackout on a tenant and its subtree; rollouts defer their tenants during it';

CREATE FUNCTION rollout.remove_blackout(blackout_id bigint, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b rollout.blackout;
BEGIN
    DELETE FROM rollout.blackout x WHERE x.blackout_id = remove_blackout.blackout_id RETURNING * INTO b;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('blackout %s does not exist', remove_blackout.blackout_id);
    END IF;
    PERFORM rollout._audit('blackout.removed', b.tenant_id, 'blackout', b.blackout_id::text, reason,
                           jsonb_build_object('during', b.during::text));
    PERFORM rollout._wake_deferred();
END
$$;
COMMENT ON FUNCTION rollout.remove_blackout(bigint, text) IS 'remove a maintenance blackout; audited';

CREATE FUNCTION rollout.in_blackout(tenant_id text, at timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM rollout.blackout b
                    WHERE b.tenant_id = ANY (rollout.tenant_path($1)) AND b.during @> $2)
$$;
COMMENT ON FUNCTION rollout.in_blackout(text, timestamptz) IS
    'whether a blackout on the tenant or an ancestor covers the time';

CREATE SEQUENCE rollout.maintenance_window_seq;
CREATE TABLE rollout.maintenance_window (
    window_id   bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.maintenance_window_seq'),
    tenant_id   text COLLATE "C" NOT NULL REFERENCES rollout.tenant (tenant_id),
    weekdays    integer[]   NOT NULL
                CHECK (pg_catalog.cardinality(weekdays) > 0 AND weekdays <@ '{1,2,3,4,5,6,7}'),
    starts      time        NOT NULL,
    ends        time        NOT NULL CHECK (ends <> starts),
    time_zone   text        NOT NULL DEFAULT 'UTC',
    reason      text,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX maintenance_window_tenant_idx ON rollout.maintenance_window (tenant_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.maintenance_window', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.maintenance_window_seq', '');
COMMENT ON SEQUENCE rollout.maintenance_window_seq IS 'ids of rollout.maintenance_window';
COMMENT ON TABLE rollout.maintenance_window IS
    'recurring maintenance windows: a tenant whose nearest windowed ancestor (or itself) has windows is activated only inside one';
COMMENT ON COLUMN rollout.maintenance_window.weekdays IS 'ISO days of the week the window opens on: 1 = Monday .. 7 = Sunday';
COMMENT ON COLUMN rollout.maintenance_window.starts IS 'local opening time';
COMMENT ON COLUMN rollout.maintenance_window.ends IS 'local closing time; earlier than starts for a window that spans midnight';
COMMENT ON COLUMN rollout.maintenance_window.time_zone IS 'time zone of starts and ends (a name such as Europe/Berlin)';

CREATE FUNCTION rollout._window_open(weekdays integer[], starts time, ends time, time_zone text, at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN $2 < $3
                THEN extract(isodow FROM l.t)::integer = ANY ($1) AND l.t::time >= $2 AND l.t::time < $3
                ELSE (extract(isodow FROM l.t)::integer = ANY ($1) AND l.t::time >= $2)
                     OR (extract(isodow FROM l.t - interval '1 day')::integer = ANY ($1) AND l.t::time < $3) END
      FROM (SELECT $5 AT TIME ZONE $4 AS t) l
$$;
COMMENT ON FUNCTION rollout._window_open(integer[], time, time, text, timestamptz) IS
    'internal: whether a weekly window is open at a time';

CREATE FUNCTION rollout.add_maintenance_window(tenant_id text, weekdays integer[], starts time, ends time,
                                               time_zone text DEFAULT 'UTC', reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    id bigint;
BEGIN
    PERFORM rollout._tenant_for_update(tenant_id);
    IF weekdays IS NULL OR cardinality(weekdays) = 0 OR NOT (weekdays <@ '{1,2,3,4,5,6,7}') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid weekdays %s for a maintenance window of tenant "%s"', coalesce(weekdays::text, 'NULL'), tenant_id),
            DETAIL = 'Weekdays are ISO day numbers: 1 (Monday) to 7 (Sunday), at least one.';
    END IF;
    IF starts IS NULL OR ends IS NULL OR starts = ends THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('a maintenance window of tenant "%s" needs different start and end times', tenant_id);
    END IF;
    IF time_zone IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names z WHERE z.name = time_zone)
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_abbrevs z WHERE z.abbrev = time_zone) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('time zone "%s" is not recognized', time_zone);
    END IF;
    INSERT INTO rollout.maintenance_window (tenant_id, weekdays, starts, ends, time_zone, reason, created_by)
    VALUES (tenant_id, weekdays, starts, ends, time_zone, reason, rollout._actor())
    RETURNING window_id INTO id;
    PERFORM rollout._audit('maintenance_window.added', tenant_id, 'maintenance_window', id::text, reason,
                           jsonb_build_object('weekdays', weekdays, 'starts', starts, 'ends', ends, 'time_zone', time_zone));
    RETURN id;
END
$$;
COMMENT ON FUNCTION rollout.add_maintenance_window(text, integer[], time, time, text, text) IS
    'add a weekly maintenance window to a tenant (and its subtree, unless a descendant has its own); rollouts activate them only inside';

CREATE FUNCTION rollout.remove_maintenance_window(window_id bigint, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w rollout.maintenance_window;
BEGIN
    DELETE FROM rollout.maintenance_window x WHERE x.window_id = remove_maintenance_window.window_id RETURNING * INTO w;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('maintenance window %s does not exist', remove_maintenance_window.window_id);
    END IF;
    PERFORM rollout._audit('maintenance_window.removed', w.tenant_id, 'maintenance_window', w.window_id::text, reason, '{}');
    PERFORM rollout._wake_deferred();
END
$$;
COMMENT ON FUNCTION rollout.remove_maintenance_window(bigint, text) IS 'remove a maintenance window; audited';

CREATE FUNCTION rollout.activation_hold(tenant_id text, at timestamptz DEFAULT now())
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH p AS (SELECT u.id, u.o FROM unnest(rollout.tenant_path($1)) WITH ORDINALITY u(id, o)),
         nearest AS (SELECT p.id FROM p WHERE EXISTS (SELECT 1 FROM rollout.maintenance_window w WHERE w.tenant_id = p.id)
                      ORDER BY p.o DESC LIMIT 1)
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM rollout.blackout b JOIN p ON p.id = b.tenant_id WHERE b.during @> $2)
            THEN 'maintenance blackout'
        WHEN EXISTS (SELECT 1 FROM nearest)
             AND NOT EXISTS (SELECT 1 FROM rollout.maintenance_window w JOIN nearest n ON n.id = w.tenant_id
                              WHERE rollout._window_open(w.weekdays, w.starts, w.ends, w.time_zone, $2))
            THEN 'outside maintenance window'
        END
$$;
COMMENT ON FUNCTION rollout.activation_hold(text, timestamptz) IS
    'why a rollout may not activate the tenant at a time (a blackout on its path, or outside the windows of its nearest windowed ancestor), NULL when it may';

-- ---------------------------------------------------------------------
-- Definition
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout._rollout_for_update(rollout_id text)
RETURNS rollout.rollout
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollout.rollout;
BEGIN
    IF rollout_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'rollout id must not be null';
    END IF;
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _rollout_for_update.rollout_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('rollout "%s" does not exist', rollout_id);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout._rollout_for_update(text) IS 'internal: lock a rollout row or raise undefined_object';

CREATE FUNCTION rollout._require_rollout_status(r rollout.rollout, allowed text[], action text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (r.status = ANY (allowed)) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot %s rollout "%s": it is %s', action, r.rollout_id, r.status),
            DETAIL = format('To %s a rollout, it must be %s.', action, array_to_string(allowed, ' or '));
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_rollout_status(rollout.rollout, text[], text) IS
    'internal: raise object_not_in_prerequisite_state naming the current status unless it is allowed';

-- An edit of a draft or approved plan; an approved plan loses its approval.
CREATE FUNCTION rollout._rollout_edit(rollout_id text, what text)
RETURNS rollout.rollout
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    IF r.status NOT IN ('draft', 'approved') THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot edit rollout "%s": it is %s', r.rollout_id, r.status),
            DETAIL = 'Only a draft or approved plan can be edited.';
    END IF;
    IF r.status = 'approved' THEN
        PERFORM rollout._event('rollout.approval_voided', r.rollout_id,
                               format('plan edited: %s', what),
                               jsonb_build_object('approved_by', r.approved_by, 'revision', r.revision));
    END IF;
    UPDATE rollout.rollout x
       SET status = 'draft', approved_by = NULL, approved_at = NULL, approval_note = NULL,
           revision = x.revision + 1, updated_at = now()
     WHERE x.rollout_id = r.rollout_id
    RETURNING * INTO r;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout._rollout_edit(text, text) IS
    'internal: lock a draft or approved rollout for an edit, voiding any approval';

CREATE FUNCTION rollout._require_version(component_id text, version rollout.semver, what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF version IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s must not be null', what);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM rollout.component_version v
                    WHERE v.component_id = _require_version.component_id
                      AND v.version OPERATOR(rollout.=) _require_version.version) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('version %s of component "%s" does not exist', version, component_id),
            HINT = 'Add it first with rollout.add_version().';
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._require_version(text, rollout.semver, text) IS
    'internal: raise undefined_object unless the component has the version';

CREATE FUNCTION rollout.create_rollout(
    rollout_id text, component_id text, from_version rollout.semver, to_version rollout.semver,
    strategy text DEFAULT 'staged', scope_tenant_id text DEFAULT NULL, channel_id text DEFAULT NULL,
    target_kind text DEFAULT NULL, allow_downgrade boolean DEFAULT false,
    rollback_automatic boolean DEFAULT true, description text DEFAULT NULL,
    stage_timeout interval DEFAULT '24 hours', monitoring_extension interval DEFAULT '1 hour',
    flag_id text DEFAULT NULL, salt bytea DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
BEGIN
    PERFORM rollout._require_slug('rollout id', rollout_id);
    PERFORM rollout._component_for_update(component_id);
    PERFORM rollout._require_version(component_id, from_version, 'from-version');
    PERFORM rollout._require_version(component_id, to_version, 'to-version');
    IF from_version OPERATOR(rollout.=) to_version THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('to-version %s is the same as from-version %s', to_version, from_version);
    END IF;
    IF to_version OPERATOR(rollout.<) from_version AND NOT coalesce(allow_downgrade, false) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('to-version %s is not newer than from-version %s', to_version, from_version),
            HINT = 'A downgrade must be explicit: pass allow_downgrade => true.';
    END IF;
    IF strategy IS NULL OR strategy NOT IN ('staged', 'canary', 'blue_green', 'feature_flag') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid rollout strategy "%s"', strategy),
            DETAIL = 'A strategy is staged, canary, blue_green or feature_flag.';
    END IF;
    IF strategy = 'feature_flag' AND flag_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rollout "%s" uses the feature_flag strategy but names no flag', rollout_id),
            HINT = 'Pass flag_id => ''...'': the flag is created (off by default) when it does not exist.';
    END IF;
    IF strategy <> 'feature_flag' AND flag_id IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rollout "%s" names flag "%s" but its strategy is %s', rollout_id, flag_id, strategy),
            DETAIL = 'Only a feature_flag rollout is gated by a flag.';
    END IF;
    IF flag_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rollout.flag f WHERE f.flag_id = create_rollout.flag_id) THEN
        PERFORM rollout.create_flag(flag_id, false, format('gates rollout %s', rollout_id));
    END IF;
    IF scope_tenant_id IS NOT NULL THEN
        PERFORM rollout._tenant_for_update(scope_tenant_id);
    END IF;
    IF channel_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rollout.channel c WHERE c.channel_id = create_rollout.channel_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('channel "%s" does not exist', channel_id);
    END IF;
    IF target_kind IS NOT NULL THEN
        PERFORM rollout._require_slug('tenant kind', target_kind);
    END IF;
    IF salt IS NOT NULL AND octet_length(salt) NOT BETWEEN 8 AND 64 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('salt of rollout "%s" must be 8 to 64 bytes, not %s', rollout_id, octet_length(salt));
    END IF;
    IF stage_timeout IS NULL OR stage_timeout < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('stage timeout of rollout "%s" must be zero or positive', rollout_id);
    END IF;
    IF monitoring_extension IS NULL OR monitoring_extension <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('monitoring extension of rollout "%s" must be positive', rollout_id);
    END IF;
    BEGIN
        INSERT INTO rollout.rollout (rollout_id, component_id, from_version, to_version, strategy, description,
                                     scope_tenant_id, channel_id, target_kind, allow_downgrade, rollback_automatic,
                                     stage_timeout, monitoring_extension, flag_id, salt, created_by)
        VALUES (rollout_id, component_id, from_version, to_version, strategy, description,
                scope_tenant_id, channel_id, target_kind, coalesce(allow_downgrade, false),
                coalesce(rollback_automatic, true), stage_timeout, monitoring_extension, flag_id,
                coalesce(salt, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())), rollout._actor())
        RETURNING * INTO r;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('rollout "%s" already exists', rollout_id);
    END;
    PERFORM rollout._event('rollout.created', r.rollout_id, NULL,
                           jsonb_build_object('component', r.component_id, 'from_version', r.from_version::text,
                                              'to_version', r.to_version::text, 'strategy', r.strategy, 'flag', r.flag_id,
                                              'scope', r.scope_tenant_id, 'channel', r.channel_id));
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.create_rollout(text, text, rollout.semver, rollout.semver, text, text, text, text,
                                           boolean, boolean, text, interval, interval, text, bytea) IS
    'create a draft rollout of a component from one version to a newer one (or an explicit downgrade); add stages next. The salt (random unless given) fixes every tenant''s bucket for good';

CREATE FUNCTION rollout.add_stage(
    rollout_id text, name text, method text, tenants text[] DEFAULT NULL, percent numeric DEFAULT NULL,
    weight_by text DEFAULT NULL, min_duration interval DEFAULT '0', max_new_failures numeric DEFAULT NULL,
    max_failure_rate_increase numeric DEFAULT NULL, metric_bounds jsonb DEFAULT '{}',
    auto_proceed boolean DEFAULT false, description text DEFAULT NULL)
RETURNS rollout.rollout_stage
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    s rollout.rollout_stage;
    prev rollout.rollout_stage;
    scope_path text[];
    bad text;
    k text;
BEGIN
    r := rollout._rollout_edit(rollout_id, format('stage "%s" added', name));
    PERFORM rollout._require_slug('stage name', name);
    IF EXISTS (SELECT 1 FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id AND x.name = add_stage.name) THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('stage "%s" already exists in rollout "%s"', name, r.rollout_id);
    END IF;
    IF method IS NULL OR method NOT IN ('tenants', 'percentage', 'all') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid selection method "%s" for stage "%s"', method, name),
            DETAIL = 'A stage selects by tenants (an explicit list), percentage or all.';
    END IF;
    SELECT * INTO prev FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id ORDER BY x.stage_no DESC LIMIT 1;
    IF FOUND AND prev.method = 'all' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('stage "%s" cannot follow stage "%s", which selects all tenants', name, prev.name);
    END IF;
    IF method = 'tenants' THEN
        IF tenants IS NULL OR cardinality(tenants) = 0 OR array_position(tenants, NULL) IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects by tenants but lists none', name),
                DETAIL = 'Pass a non-empty list of tenant ids without nulls.';
        END IF;
        IF percent IS NOT NULL OR weight_by IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects by tenants: percent and weight_by do not apply', name);
        END IF;
        SELECT u.id INTO bad FROM unnest(tenants) AS u(id)
         WHERE NOT EXISTS (SELECT 1 FROM rollout.tenant t WHERE t.tenant_id = u.id) LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('tenant "%s" does not exist', bad),
                DETAIL = format('Stage "%s" of rollout "%s" lists it.', name, r.rollout_id);
        END IF;
        IF r.scope_tenant_id IS NOT NULL THEN
            scope_path := rollout.tenant_path(r.scope_tenant_id);
            SELECT t.tenant_id INTO bad FROM rollout.tenant t
             WHERE t.tenant_id = ANY (tenants) AND t.path[1:cardinality(scope_path)] IS DISTINCT FROM scope_path LIMIT 1;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = format('tenant "%s" is outside the scope of rollout "%s"', bad, r.rollout_id),
                    DETAIL = format('The rollout is limited to the subtree of "%s".', r.scope_tenant_id);
            END IF;
        END IF;
        SELECT u.id INTO bad FROM unnest(tenants) AS u(id) GROUP BY u.id HAVING count(*) > 1 LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" lists tenant "%s" more than once', name, bad);
        END IF;
    ELSIF method = 'percentage' THEN
        IF percent IS NULL OR percent <= 0 OR percent > 100 THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('percentage %s of stage "%s" is outside (0, 100]', coalesce(percent::text, 'NULL'), name);
        END IF;
        IF percent <> round(percent, 4) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('percentage %s of stage "%s" has more than 4 decimals', percent, name);
        END IF;
        IF weight_by IS NOT NULL AND (weight_by !~ '^[A-Za-z_][A-Za-z0-9_.-]*$' OR length(weight_by) > 63) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('invalid weight attribute "%s" for stage "%s"', weight_by, name);
        END IF;
        IF tenants IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects by percentage: a tenant list does not apply', name);
        END IF;
        SELECT x.* INTO prev FROM rollout.rollout_stage x
         WHERE x.rollout_id = r.rollout_id AND x.method = 'percentage' AND x.percent > percent
         ORDER BY x.stage_no LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects %s %% but earlier stage "%s" already selects %s %%',
                                 name, percent::float8, prev.name, prev.percent::float8),
                DETAIL = 'Stages never shrink: each percentage is at least the previous one.';
        END IF;
    ELSE
        IF tenants IS NOT NULL OR percent IS NOT NULL OR weight_by IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('stage "%s" selects all tenants: tenants, percent and weight_by do not apply', name);
        END IF;
    END IF;
    IF min_duration IS NULL OR min_duration < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('minimum duration of stage "%s" must be zero or positive', name);
    END IF;
    IF max_new_failures < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('max_new_failures of stage "%s" must be zero or positive', name);
    END IF;
    IF metric_bounds IS NOT NULL THEN
        IF jsonb_typeof(metric_bounds) <> 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('metric bounds of stage "%s" must be a JSON object of numbers', name);
        END IF;
        FOR k IN SELECT e.key FROM jsonb_each(metric_bounds) e
                  WHERE jsonb_typeof(e.value) <> 'number' OR e.key !~ '^[a-z][a-z0-9_.]*$' LOOP
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('invalid metric bound "%s" in stage "%s"', k, name),
                DETAIL = 'A bound maps a metric name (lower case, digits, "_" and ".") to a number.';
        END LOOP;
    END IF;
    INSERT INTO rollout.rollout_stage (rollout_id, stage_no, name, description, method, tenants, percent, weight_by,
                                       min_duration, max_new_failures, max_failure_rate_increase, metric_bounds,
                                       auto_proceed)
    VALUES (r.rollout_id,
            coalesce((SELECT max(x.stage_no) FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id), 0) + 1,
            name, description, method, tenants, percent, weight_by, min_duration, max_new_failures,
            max_failure_rate_increase, coalesce(metric_bounds, '{}'), coalesce(auto_proceed, false))
    RETURNING * INTO s;
    PERFORM rollout._audit('rollout.stage_added', NULL, 'rollout', r.rollout_id, NULL,
                           to_jsonb(s) - 'status' - 'activated' - 'started_at' - 'due_at' - 'completed_at' - 'last_evaluation');
    RETURN s;
END
$$;
COMMENT ON FUNCTION rollout.add_stage(text, text, text, text[], numeric, text, interval, numeric, numeric, jsonb, boolean, text) IS
    'append a stage to a draft (or approved: voids the approval) rollout: an explicit tenant list, a percentage (optionally weighted by a tenant attribute) or all';

CREATE FUNCTION rollout.drop_stage(rollout_id text, name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_edit(rollout_id, format('stage "%s" dropped', name));
    s rollout.rollout_stage;
    k integer;
BEGIN
    DELETE FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id AND x.name = drop_stage.name RETURNING * INTO s;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('stage "%s" of rollout "%s" does not exist', name, r.rollout_id);
    END IF;
    -- Keep the numbering dense: 1, 2, 3, ... (in order: each slot is free)
    FOR k IN SELECT x.stage_no FROM rollout.rollout_stage x
              WHERE x.rollout_id = r.rollout_id AND x.stage_no > s.stage_no ORDER BY x.stage_no LOOP
        UPDATE rollout.rollout_stage x SET stage_no = k - 1 WHERE x.rollout_id = r.rollout_id AND x.stage_no = k;
    END LOOP;
    PERFORM rollout._audit('rollout.stage_dropped', NULL, 'rollout', r.rollout_id, NULL,
                           jsonb_build_object('stage', s.name, 'stage_no', s.stage_no));
END
$$;
COMMENT ON FUNCTION rollout.drop_stage(text, text) IS 'remove a stage from a draft (or approved: voids the approval) rollout';

CREATE FUNCTION rollout.add_trigger(rollout_id text, metric text, threshold numeric)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_edit(rollout_id, format('trigger on "%s" added', metric));
BEGIN
    IF metric IS NULL OR metric !~ '^[a-z][a-z0-9_.]*$' OR length(metric) > 63 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid trigger metric "%s"', metric),
            DETAIL = 'A metric name is lower-case letters, digits, "_" and ".", starting with a letter.';
    END IF;
    IF threshold IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('threshold of trigger "%s" must not be null', metric);
    END IF;
    INSERT INTO rollout.rollout_trigger (rollout_id, metric, threshold) VALUES (r.rollout_id, metric, threshold)
    ON CONFLICT ON CONSTRAINT rollout_trigger_pkey DO UPDATE SET threshold = excluded.threshold;
    PERFORM rollout._audit('rollout.trigger_set', NULL, 'rollout', r.rollout_id, NULL,
                           jsonb_build_object('metric', metric, 'threshold', threshold));
END
$$;
COMMENT ON FUNCTION rollout.add_trigger(text, text, numeric) IS
    'add (or change) a rollback trigger: the metric above the threshold in the current stage rolls back (or fails) the rollout';

CREATE FUNCTION rollout.add_canary_stages(rollout_id text, initial_percent numeric, increment numeric,
                                          increment_interval interval, metric_bounds jsonb DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p numeric := initial_percent;
    n integer := 0;
BEGIN
    IF initial_percent IS NULL OR initial_percent <= 0 OR initial_percent > 100 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('initial percentage %s is outside (0, 100]', coalesce(initial_percent::text, 'NULL'));
    END IF;
    IF increment IS NULL OR increment <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('increment %s must be positive', coalesce(increment::text, 'NULL'));
    END IF;
    IF increment_interval IS NULL OR increment_interval < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'increment interval must be zero or positive';
    END IF;
    IF ceil((100 - initial_percent) / increment) + 1 > 100 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('canary increments of %s %% from %s %% would make %s stages', trim_scale(increment),
                             trim_scale(initial_percent), ceil((100 - initial_percent) / increment) + 1),
            DETAIL = 'A canary rollout has at most 100 stages.';
    END IF;
    LOOP
        n := n + 1;
        PERFORM rollout.add_stage(rollout_id, format('canary-%s', trim_scale(p)), 'percentage',
                                  percent => p, min_duration => increment_interval,
                                  metric_bounds => metric_bounds, auto_proceed => true);
        EXIT WHEN p >= 100;
        p := least(p + increment, 100);
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout.add_canary_stages(text, numeric, numeric, interval, jsonb) IS
    'canary strategy: generate auto-proceeding percentage stages initial, initial + increment, ... up to 100 %, each monitored for the interval';

-- ---------------------------------------------------------------------
-- Selection
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout._weight(attributes jsonb, weight_by text)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN pg_catalog.jsonb_typeof($1 -> $2) = 'number'
                THEN GREATEST(($1 ->> $2)::double precision, 0) ELSE 0 END
$$;
COMMENT ON FUNCTION rollout._weight(jsonb, text) IS 'internal: a numeric tenant attribute as a weight (0 when absent, negative or not a number)';

-- Tenants eligible for a rollout, with their bucket and blackout state.
CREATE FUNCTION rollout._eligible(rollout_id text)
RETURNS TABLE (tenant_id text, path text[], kind text, attributes jsonb, bucket integer, blacked_out boolean,
               target boolean, hold_reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r rollout.rollout;
    lo text[];
    hi text[];
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _eligible.rollout_id;
    IF r.scope_tenant_id IS NOT NULL THEN
        lo := rollout.tenant_path(r.scope_tenant_id);
        hi := rollout._path_upper(lo);
    END IF;
    -- A scope is a range of paths, scanned through tenant_path_idx; without
    -- one the query has no path condition at all (a sequential scan), so the
    -- text is built for the case at hand rather than planned generically.
    RETURN QUERY EXECUTE format($q$
    WITH dark AS MATERIALIZED (
            SELECT b.tenant_id FROM rollout.blackout b WHERE b.during @> now()),
         windowed AS MATERIALIZED (
            SELECT w.tenant_id, bool_or(rollout._window_open(w.weekdays, w.starts, w.ends, w.time_zone, now())) AS open
              FROM rollout.maintenance_window w GROUP BY w.tenant_id),
         chan AS MATERIALIZED (
            SELECT c.tenant_id, c.channel_id FROM rollout.effective_channels() c
             WHERE $3 IS NOT NULL AND c.channel_id = $3),
         -- tenants with children (the children of a tenant in scope are in scope)
         parents AS MATERIALIZED (
            SELECT DISTINCT c.parent_id FROM rollout.tenant c
             WHERE c.parent_id IS NOT NULL AND c.status <> 'decommissioned' AND %1$s),
         base AS (
            SELECT t.tenant_id, t.path, t.kind, t.attributes,
                   p.parent_id IS NULL AS leaf,
                   EXISTS (SELECT 1 FROM dark d WHERE d.tenant_id = ANY (t.path)) AS dark,
                   -- the windows of the nearest windowed tenant on the path decide
                   CASE WHEN NOT EXISTS (SELECT 1 FROM windowed) THEN true
                        ELSE coalesce((SELECT w.open FROM unnest(t.path) WITH ORDINALITY u(id, o)
                                         JOIN windowed w ON w.tenant_id = u.id
                                        ORDER BY u.o DESC LIMIT 1), true) END AS window_open
              FROM rollout.tenant t LEFT JOIN parents p ON p.parent_id = t.tenant_id
             WHERE t.status = 'active' AND %2$s
               AND ($4 IS NULL OR t.kind = $4)
               AND ($3 IS NULL OR EXISTS (SELECT 1 FROM chan WHERE chan.tenant_id = t.tenant_id)))
    SELECT t.tenant_id, t.path, t.kind, t.attributes, rollout.bucket($5, t.tenant_id),
           t.dark OR NOT t.window_open,
           $4 IS NOT NULL OR t.leaf,
           CASE WHEN t.dark THEN 'maintenance blackout'
                WHEN NOT t.window_open THEN 'outside maintenance window' END
      FROM base t
    $q$,
        CASE WHEN lo IS NULL THEN 'true' ELSE 'c.path >= $1 AND c.path < $2' END,
        CASE WHEN lo IS NULL THEN 'true' ELSE 't.path >= $1 AND t.path < $2' END)
    USING lo, hi, r.channel_id, r.target_kind, r.salt;
END
$$;
COMMENT ON FUNCTION rollout._eligible(text) IS
    'internal: active tenants in the rollout''s scope, kind and channel, with bucket, blackout state and whether percentages draw from them (target_kind, else leaves)';

-- Tenants selected by the stages up to through_stage: the first stage that
-- selects each.  Selection is cumulative and deterministic.
CREATE FUNCTION rollout._selection(rollout_id text, through_stage integer)
RETURNS TABLE (tenant_id text, stage_no integer, blacked_out boolean, weight double precision, hold_reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET work_mem = '64MB'
AS $$
#variable_conflict use_column
BEGIN
    -- PL/pgSQL, not SQL: the statement is planned once per session, not on
    -- every call (the tick calls this for every rollout it advances).
    RETURN QUERY
    WITH e AS MATERIALIZED (SELECT * FROM rollout._eligible($1)),
         st AS MATERIALIZED (SELECT s.* FROM rollout.rollout_stage s WHERE s.rollout_id = $1 AND s.stage_no <= $2),
         salt AS MATERIALIZED (SELECT r.salt FROM rollout.rollout r WHERE r.rollout_id = $1),
         -- unweighted percentages: stage numbers and bucket cuts, both
         -- ascending (stages never shrink), for one width_bucket() per tenant
         agg AS MATERIALIZED (
            SELECT min(s.stage_no) FILTER (WHERE s.method = 'all') AS all_stage,
                   array_agg(s.stage_no ORDER BY s.stage_no)
                       FILTER (WHERE s.method = 'percentage' AND s.weight_by IS NULL) AS pct_stages,
                   array_agg((s.percent * 10000)::integer ORDER BY s.stage_no)
                       FILTER (WHERE s.method = 'percentage' AND s.weight_by IS NULL) AS pct_cuts,
                   (array_agg(s.weight_by ORDER BY s.stage_no DESC) FILTER (WHERE s.weight_by IS NOT NULL))[1] AS weight_by
              FROM st s),
         listed AS (
            SELECT u.id AS tenant_id, min(s.stage_no) AS stage_no
              FROM st s CROSS JOIN LATERAL unnest(s.tenants) AS u(id)
             WHERE s.method = 'tenants'
             GROUP BY u.id),
         weighted AS (
            SELECT w.tenant_id, min(w.stage_no) AS stage_no
              FROM (SELECT e.tenant_id, s.stage_no, s.percent, x.wt,
                           sum(x.wt) OVER (PARTITION BY s.stage_no ORDER BY x.key, e.tenant_id
                                           ROWS UNBOUNDED PRECEDING) - x.wt AS before,
                           sum(x.wt) OVER (PARTITION BY s.stage_no) AS total
                      FROM st s CROSS JOIN e CROSS JOIN salt
                      CROSS JOIN LATERAL (SELECT rollout._weight(e.attributes, s.weight_by) AS wt) w0
                      CROSS JOIN LATERAL (SELECT w0.wt, rollout.weight_key(salt.salt, e.tenant_id, w0.wt) AS key) x
                     WHERE s.method = 'percentage' AND s.weight_by IS NOT NULL AND e.target) w
             WHERE w.percent >= 100 OR (w.wt > 0 AND w.before < w.percent / 100 * w.total)
             GROUP BY w.tenant_id),
         chosen AS (
            SELECT e.tenant_id, e.blacked_out, e.hold_reason, e.attributes,
                   LEAST(agg.all_stage, l.stage_no, w.stage_no,
                         CASE WHEN e.target AND agg.pct_stages IS NOT NULL
                              THEN agg.pct_stages[width_bucket(e.bucket, agg.pct_cuts) + 1] END) AS stage_no
              FROM e CROSS JOIN agg
              LEFT JOIN listed l ON l.tenant_id = e.tenant_id
              LEFT JOIN weighted w ON w.tenant_id = e.tenant_id)
    SELECT c.tenant_id, c.stage_no, c.blacked_out,
           coalesce(rollout._weight(c.attributes, agg.weight_by), 0),
           c.hold_reason
      FROM chosen c CROSS JOIN agg
     WHERE c.stage_no IS NOT NULL;
END
$$;
COMMENT ON FUNCTION rollout._selection(text, integer) IS
    'internal: tenants selected by stages 1..through_stage (cumulative), each with the first stage that selects it';

-- Impact preview: which tenants each stage would activate, if it ran now.
CREATE FUNCTION rollout.preview(rollout_id text)
RETURNS TABLE (stage_no integer, stage text, tenant_id text, path text, kind text, bucket integer,
               weight double precision, deferred boolean, already_active boolean, hold_reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r rollout.rollout;
    last_stage integer;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = preview.rollout_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('rollout "%s" does not exist', preview.rollout_id);
    END IF;
    SELECT max(s.stage_no) INTO last_stage FROM rollout.rollout_stage s WHERE s.rollout_id = r.rollout_id;
    RETURN QUERY
    SELECT sel.stage_no, s.name, sel.tenant_id, array_to_string(t.path, '/'), t.kind,
           rollout.bucket(r.salt, sel.tenant_id), sel.weight, sel.blacked_out,
           EXISTS (SELECT 1 FROM rollout.activation a
                    WHERE a.component_id = r.component_id AND a.tenant_id = sel.tenant_id
                      AND a.rollout_id = r.rollout_id),
           sel.hold_reason
      FROM rollout._selection(r.rollout_id, coalesce(last_stage, 0)) sel
      JOIN rollout.rollout_stage s ON s.rollout_id = r.rollout_id AND s.stage_no = sel.stage_no
      JOIN rollout.tenant t ON t.tenant_id = sel.tenant_id
     ORDER BY sel.stage_no, t.path;
END
$$;
COMMENT ON FUNCTION rollout.preview(text) IS
    'impact preview: every tenant the rollout would activate, with the first stage that selects it, bucket, weight, and whether (and why) it would be deferred now';

CREATE FUNCTION rollout.preview_summary(rollout_id text)
RETURNS TABLE (stage_no integer, stage text, level integer, group_id text, group_kind text,
               tenants bigint, cumulative_tenants bigint, weight_share numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH p AS MATERIALIZED (SELECT * FROM rollout.preview($1)),
         stages AS (SELECT s.stage_no, s.name FROM rollout.rollout_stage s WHERE s.rollout_id = $1),
         wb AS (SELECT s.weight_by FROM rollout.rollout_stage s
                 WHERE s.rollout_id = $1 AND s.weight_by IS NOT NULL ORDER BY s.stage_no DESC LIMIT 1),
         -- the share of the weight of every target tenant (leaves, or target_kind)
         tot AS (SELECT nullif(sum(rollout._weight(e.attributes, wb.weight_by)), 0) AS w
                   FROM rollout._eligible($1) e, wb WHERE e.target),
         g AS (
            -- level 0: everything; 1: by root (organisation); 2: by second level (team)
            SELECT st.stage_no, st.name, lv.level,
                   CASE lv.level WHEN 0 THEN NULL ELSE (string_to_array(p.path, '/'))[lv.level] END AS group_id,
                   count(*) FILTER (WHERE p.stage_no = st.stage_no) AS n,
                   count(*) FILTER (WHERE p.stage_no <= st.stage_no) AS cum,
                   sum(p.weight) FILTER (WHERE p.stage_no <= st.stage_no) AS cum_w
              FROM stages st CROSS JOIN (VALUES (0), (1), (2)) lv(level) CROSS JOIN p
             WHERE lv.level = 0 OR cardinality(string_to_array(p.path, '/')) >= lv.level
             GROUP BY 1, 2, 3, 4)
    SELECT g.stage_no, g.name, g.level, g.group_id, t.kind, g.n, g.cum,
           round((g.cum_w / tot.w)::numeric, 4)
      FROM g LEFT JOIN tot ON true LEFT JOIN rollout.tenant t ON t.tenant_id = g.group_id
     ORDER BY g.stage_no, g.level, g.group_id
$$;
COMMENT ON FUNCTION rollout.preview_summary(text) IS
    'impact preview by stage: tenants newly selected and cumulative, overall (level 0), per organisation (1) and team (2), with the cumulative share of the target tenants'' weight (NULL without weighted stages)';

-- ---------------------------------------------------------------------
-- Activation
-- ---------------------------------------------------------------------

-- Activate every tenant selected through stage k that is not yet active in
-- this rollout; blacked-out tenants are deferred.  Idempotent.
CREATE FUNCTION rollout._activate_through(rollout_id text, k integer, OUT activated bigint, OUT deferred bigint)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _activate_through.rollout_id;
    IF NOT EXISTS (SELECT 1 FROM rollout.activation a WHERE a.component_id = r.component_id) THEN
        -- Nobody runs an activation of this component yet (the usual first
        -- stage): a plain insert, the cheapest way to write many rows.
        WITH sel AS MATERIALIZED (
                SELECT s.tenant_id, s.blacked_out, s.hold_reason FROM rollout._selection(r.rollout_id, k) s),
             ins AS (
                INSERT INTO rollout.activation (component_id, tenant_id, version, rollout_id, stage_no, activated_at)
                SELECT r.component_id, s.tenant_id, r.to_version, r.rollout_id, k, now()
                  FROM sel s
                 WHERE NOT s.blacked_out
                RETURNING 1),
             undefer AS (
                DELETE FROM rollout.deferral d USING sel s
                 WHERE d.rollout_id = r.rollout_id AND d.tenant_id = s.tenant_id AND NOT s.blacked_out
                RETURNING 1),
             defer AS (
                INSERT INTO rollout.deferral (rollout_id, tenant_id, stage_no, reason)
                SELECT r.rollout_id, s.tenant_id, k, s.hold_reason FROM sel s WHERE s.blacked_out
                ON CONFLICT DO NOTHING
                RETURNING 1)
        SELECT (SELECT count(*) FROM ins),
               (SELECT count(*) FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id)
             - (SELECT count(*) FROM undefer) + (SELECT count(*) FROM defer)
          INTO activated, deferred;
    ELSE
        -- Some tenants may already run an activation: of this rollout (kept)
        -- or of an earlier one (replaced, remembering what it was, which a
        -- rollback restores).  One index probe per row, whatever the
        -- planner's statistics say.
        WITH sel AS MATERIALIZED (
                SELECT s.tenant_id, s.blacked_out, s.hold_reason FROM rollout._selection(r.rollout_id, k) s),
             ins AS (
                INSERT INTO rollout.activation AS a (component_id, tenant_id, version, rollout_id, stage_no, activated_at)
                SELECT r.component_id, s.tenant_id, r.to_version, r.rollout_id, k, now()
                  FROM sel s
                 WHERE NOT s.blacked_out
                ON CONFLICT (component_id, tenant_id) DO UPDATE
                   SET previous_version = a.version, previous_rollout_id = a.rollout_id,
                       previous_stage_no = a.stage_no, previous_activated_at = a.activated_at,
                       version = excluded.version, rollout_id = excluded.rollout_id,
                       stage_no = excluded.stage_no, activated_at = excluded.activated_at
                 WHERE a.rollout_id <> excluded.rollout_id
                RETURNING 1),
             undefer AS (
                DELETE FROM rollout.deferral d USING sel s
                 WHERE d.rollout_id = r.rollout_id AND d.tenant_id = s.tenant_id AND NOT s.blacked_out
                RETURNING 1),
             defer AS (
                INSERT INTO rollout.deferral (rollout_id, tenant_id, stage_no, reason)
                SELECT r.rollout_id, s.tenant_id, k, s.hold_reason
                  FROM sel s
                 WHERE s.blacked_out
                   AND NOT EXISTS (SELECT 1 FROM rollout.activation a
                                    WHERE a.component_id = r.component_id AND a.tenant_id = s.tenant_id
                                      AND a.rollout_id = r.rollout_id)
                ON CONFLICT DO NOTHING
                RETURNING 1)
        SELECT (SELECT count(*) FROM ins),
               (SELECT count(*) FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id)
             - (SELECT count(*) FROM undefer) + (SELECT count(*) FROM defer)
          INTO activated, deferred;
    END IF;
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
           previous_version = NULL, previous_rollout_id = NULL, previous_stage_no = NULL,
           previous_activated_at = NULL
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
            -- Deferred tenants: look again when the earliest current blackout
            -- ends, and every 15 minutes for maintenance windows to open.
            due := least(due, (SELECT min(upper(b.during)) FROM rollout.blackout b WHERE b.during @> now()),
                         CASE WHEN EXISTS (SELECT 1 FROM rollout.deferral d
                                            WHERE d.rollout_id = r.rollout_id AND d.reason = 'outside maintenance window')
                              THEN now() + interval '15 minutes' END);
        END IF;
    END IF;
    UPDATE rollout.rollout x SET next_due_at = due WHERE x.rollout_id = r.rollout_id;
    RETURN due;
END
$$;
COMMENT ON FUNCTION rollout._reschedule(text) IS 'internal: set when rollout.tick() next has work for the rollout';

CREATE FUNCTION rollout._start_stage(rollout_id text, k integer, reason text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s rollout.rollout_stage;
    act record;
BEGIN
    UPDATE rollout.rollout_stage x
       SET status = 'monitoring', started_at = now(), due_at = now() + x.min_duration,
           completed_at = NULL, last_evaluation = NULL
     WHERE x.rollout_id = _start_stage.rollout_id AND x.stage_no = k
    RETURNING * INTO s;
    UPDATE rollout.rollout x SET current_stage = k, updated_at = now() WHERE x.rollout_id = _start_stage.rollout_id;
    act := rollout._activate_through(rollout_id, k);
    PERFORM rollout._event('rollout.stage.started', rollout_id, reason,
                           jsonb_build_object('stage', s.name, 'stage_no', k, 'tenants_activated', act.activated,
                                              'tenants_deferred', act.deferred, 'due_at', s.due_at));
    PERFORM rollout._reschedule(rollout_id);
END
$$;
COMMENT ON FUNCTION rollout._start_stage(text, integer, text) IS 'internal: make stage k current and activate its tenants';

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
    s rollout.rollout_stage;
    last_stage integer;
BEGIN
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = _finish_stage.rollout_id;
    UPDATE rollout.rollout_stage x SET status = 'completed', completed_at = now()
     WHERE x.rollout_id = r.rollout_id AND x.stage_no = r.current_stage
    RETURNING * INTO s;
    PERFORM rollout._event('rollout.stage.completed', r.rollout_id, reason,
                           jsonb_build_object('stage', s.name, 'stage_no', s.stage_no,
                                              'metrics', s.last_evaluation));
    SELECT max(x.stage_no) INTO last_stage FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id;
    IF r.current_stage >= last_stage THEN
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
    ELSE
        PERFORM rollout._start_stage(r.rollout_id, r.current_stage + 1, reason);
    END IF;
END
$$;
COMMENT ON FUNCTION rollout._finish_stage(text, text) IS
    'internal: complete the current stage and start the next one, or complete the rollout';

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

-- ---------------------------------------------------------------------
-- Lifecycle
-- ---------------------------------------------------------------------

CREATE FUNCTION rollout.approve_rollout(rollout_id text, note text DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
    who text := rollout._actor();
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['draft'], 'approve');
    IF NOT EXISTS (SELECT 1 FROM rollout.rollout_stage s WHERE s.rollout_id = r.rollout_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('cannot approve rollout "%s": it has no stages', r.rollout_id),
            HINT = 'Add stages with rollout.add_stage().';
    END IF;
    IF who = r.created_by THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('rollout "%s" cannot be approved by its author "%s"', r.rollout_id, who),
            DETAIL = 'A rollout must be approved by someone other than the person who created it.';
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
    'approve a draft rollout; the approver (pg_rollout.actor, else the session user) must not be its author';

CREATE FUNCTION rollout.start_rollout(rollout_id text, reason text DEFAULT NULL)
RETURNS rollout.rollout
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
    other text;
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['approved'], 'start');
    SELECT x.rollout_id INTO other FROM rollout.rollout x
     WHERE x.component_id = r.component_id AND x.status IN ('running', 'paused', 'failed');
    IF other IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'object_in_use',
            MESSAGE = format('cannot start rollout "%s": rollout "%s" of component "%s" is still live',
                             r.rollout_id, other, r.component_id),
            DETAIL = 'One rollout at a time moves a component: complete, roll back or cancel the other first.';
    END IF;
    BEGIN
        UPDATE rollout.rollout x SET status = 'running', started_at = now(), status_reason = reason, updated_at = now()
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
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = r.rollout_id;
    RETURN r;
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
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['running'], 'advance');
    PERFORM rollout._finish_stage(r.rollout_id, coalesce(reason, 'advanced manually'));
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = r.rollout_id;
    RETURN r;
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
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['running'], 'pause');
    PERFORM rollout._require_reason(reason, 'pause a rollout');
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
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['paused'], 'resume');
    UPDATE rollout.rollout x SET status = 'running', status_reason = reason, updated_at = now()
     WHERE x.rollout_id = r.rollout_id;
    -- A stage that was undecided gets a fresh monitoring period.
    UPDATE rollout.rollout_stage s SET due_at = greatest(s.due_at, now())
     WHERE s.rollout_id = r.rollout_id AND s.stage_no = r.current_stage AND s.status = 'monitoring';
    PERFORM rollout._activate_through(r.rollout_id, r.current_stage);
    PERFORM rollout._event('rollout.resumed', r.rollout_id, reason, jsonb_build_object('stage_no', r.current_stage));
    PERFORM rollout._reschedule(r.rollout_id);
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = r.rollout_id;
    RETURN r;
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
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['failed'], 'retry');
    PERFORM rollout._require_reason(reason, 'retry a rollout');
    UPDATE rollout.rollout x SET status = 'running', status_reason = reason, updated_at = now()
     WHERE x.rollout_id = r.rollout_id;
    PERFORM rollout._event('rollout.retried', r.rollout_id, reason, jsonb_build_object('stage_no', r.current_stage));
    -- The failed stage is monitored afresh.
    PERFORM rollout._start_stage(r.rollout_id, r.current_stage, reason);
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = r.rollout_id;
    RETURN r;
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
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
    later text;
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['running', 'paused', 'failed', 'completed'], 'roll back');
    PERFORM rollout._require_reason(reason, 'roll back a rollout');
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
    r rollout.rollout := rollout._rollout_for_update(rollout_id);
BEGIN
    PERFORM rollout._require_rollout_status(r, ARRAY['draft', 'approved', 'running', 'paused', 'failed'], 'cancel');
    PERFORM rollout._require_reason(reason, 'cancel a rollout');
    PERFORM rollout._roll_back(r.rollout_id, 0, 'cancelled', reason);
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = r.rollout_id;
    RETURN r;
END
$$;
COMMENT ON FUNCTION rollout.cancel_rollout(text, text) IS
    'cancel a rollout; tenants it activated go back to what they ran before';

CREATE VIEW rollout.rollout_status AS
SELECT r.rollout_id, r.component_id, r.from_version, r.to_version, r.strategy, r.status,
       s.name AS current_stage, r.current_stage AS current_stage_no,
       (SELECT count(*) FROM rollout.rollout_stage x WHERE x.rollout_id = r.rollout_id) AS stages,
       s.status AS stage_status, s.due_at AS stage_due_at,
       (SELECT count(*) FROM rollout.activation a WHERE a.rollout_id = r.rollout_id) AS tenants_activated,
       (SELECT count(*) FROM rollout.deferral d WHERE d.rollout_id = r.rollout_id) AS tenants_deferred,
       r.created_by, r.approved_by, r.started_at, r.finished_at, r.next_due_at, r.status_reason
  FROM rollout.rollout r
  LEFT JOIN rollout.rollout_stage s ON s.rollout_id = r.rollout_id AND s.stage_no = r.current_stage;
COMMENT ON VIEW rollout.rollout_status IS
    'one row per rollout: status, current stage, tenants activated and deferred, next due time and last reason';

CREATE VIEW rollout.stage_status AS
SELECT s.rollout_id, s.stage_no, s.name, s.method, s.percent, s.weight_by, s.status, s.started_at,
       s.due_at, s.completed_at, s.activated, s.auto_proceed, s.last_evaluation
  FROM rollout.rollout_stage s
 ORDER BY s.rollout_id, s.stage_no;
COMMENT ON VIEW rollout.stage_status IS 'every stage of every rollout with its status, timing, activations and latest evaluation';
-- Resolution: which version of a component does a tenant run?
-- tenant pin -> nearest ancestor's pin -> feature-flag override -> rollout
-- activation (own or inherited) -> channel release -> platform default.

CREATE TABLE rollout.pin (
    component_id text COLLATE "C" NOT NULL REFERENCES rollout.component (component_id),
    tenant_id    text COLLATE "C" NOT NULL REFERENCES rollout.tenant (tenant_id),
    version      rollout.semver NOT NULL,
    reason       text        NOT NULL,
    pinned_by    text        NOT NULL,
    pinned_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (component_id, tenant_id)
);
CREATE INDEX pin_tenant_idx ON rollout.pin (tenant_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.pin', '');
COMMENT ON TABLE rollout.pin IS 'version pins: a tenant and its subtree run this version of the component, whatever rollouts do';

CREATE TABLE rollout.channel_release (
    component_id text COLLATE "C" NOT NULL REFERENCES rollout.component (component_id),
    channel_id   text COLLATE "C" NOT NULL REFERENCES rollout.channel (channel_id),
    version      rollout.semver NOT NULL,
    reason       text,
    released_by  text        NOT NULL,
    released_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (component_id, channel_id)
);
CREATE INDEX channel_release_channel_idx ON rollout.channel_release (channel_id);
SELECT pg_catalog.pg_extension_config_dump('rollout.channel_release', '');
COMMENT ON TABLE rollout.channel_release IS
    'the version of a component each channel currently delivers; tenants get the release of their effective channel (or the next more stable one)';

CREATE FUNCTION rollout.pin_version(tenant_id text, component_id text, version rollout.semver, reason text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM rollout._tenant_for_update(tenant_id);
    PERFORM rollout._component_for_update(component_id);
    PERFORM rollout._require_version(component_id, version, 'version');
    PERFORM rollout._require_reason(reason, 'pin a version');
    INSERT INTO rollout.pin AS p (component_id, tenant_id, version, reason, pinned_by)
    VALUES (component_id, tenant_id, version, reason, rollout._actor())
    ON CONFLICT ON CONSTRAINT pin_pkey
    DO UPDATE SET version = excluded.version, reason = excluded.reason, pinned_by = excluded.pinned_by, pinned_at = now();
    PERFORM rollout._audit('version.pinned', tenant_id, 'component', component_id, reason,
                           jsonb_build_object('version', version::text));
END
$$;
COMMENT ON FUNCTION rollout.pin_version(text, text, rollout.semver, text) IS
    'pin a tenant and its subtree to a version of a component (beats rollouts, channels and the default); a reason is required; audited';

CREATE FUNCTION rollout.unpin_version(tenant_id text, component_id text, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    p rollout.pin;
BEGIN
    DELETE FROM rollout.pin x WHERE x.tenant_id = unpin_version.tenant_id AND x.component_id = unpin_version.component_id
    RETURNING * INTO p;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('tenant "%s" has no pin on component "%s"', tenant_id, component_id);
    END IF;
    PERFORM rollout._audit('version.unpinned', tenant_id, 'component', component_id, reason,
                           jsonb_build_object('was', p.version::text));
END
$$;
COMMENT ON FUNCTION rollout.unpin_version(text, text, text) IS 'remove a tenant''s pin on a component; audited';

CREATE FUNCTION rollout.set_channel_release(component_id text, channel_id text, version rollout.semver,
                                            reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    old rollout.semver;
BEGIN
    PERFORM rollout._component_for_update(component_id);
    PERFORM rollout._channel_for_update(channel_id);
    PERFORM rollout._require_version(component_id, version, 'version');
    SELECT cr.version INTO old FROM rollout.channel_release cr
     WHERE cr.component_id = set_channel_release.component_id AND cr.channel_id = set_channel_release.channel_id;
    INSERT INTO rollout.channel_release AS cr (component_id, channel_id, version, reason, released_by)
    VALUES (component_id, channel_id, version, reason, rollout._actor())
    ON CONFLICT ON CONSTRAINT channel_release_pkey
    DO UPDATE SET version = excluded.version, reason = excluded.reason, released_by = excluded.released_by,
                  released_at = now();
    PERFORM rollout._audit('channel.release_set', NULL, 'component', component_id, reason,
                           jsonb_build_object('channel', channel_id, 'version', version::text, 'was', old::text));
END
$$;
COMMENT ON FUNCTION rollout.set_channel_release(text, text, rollout.semver, text) IS
    'set the version of a component that a channel delivers; audited';

CREATE FUNCTION rollout.clear_channel_release(component_id text, channel_id text, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    cr rollout.channel_release;
BEGIN
    DELETE FROM rollout.channel_release x
     WHERE x.component_id = clear_channel_release.component_id AND x.channel_id = clear_channel_release.channel_id
    RETURNING * INTO cr;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('channel "%s" has no release of component "%s"', channel_id, component_id);
    END IF;
    PERFORM rollout._audit('channel.release_cleared', NULL, 'component', component_id, reason,
                           jsonb_build_object('channel', channel_id, 'was', cr.version::text));
END
$$;
COMMENT ON FUNCTION rollout.clear_channel_release(text, text, text) IS 'remove a channel''s release of a component; audited';

-- The resolver (src/resolve.c): C, with a per-backend cache that every
-- change to the tables it reads invalidates, in every session, at commit.
CREATE FUNCTION rollout.resolve_version(tenant_id text, component_id text)
RETURNS rollout.semver
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'pgr_resolve_version';
COMMENT ON FUNCTION rollout.resolve_version(text, text) IS
    'the version of a component a tenant runs: pin (own or nearest ancestor), flag override, rollout activation (own or inherited), channel release, platform default; NULL when nothing decides';

CREATE FUNCTION rollout.explain_version(tenant_id text, component_id text)
RETURNS TABLE (step integer, source text, tenant_id text, version rollout.semver, decided boolean, detail text)
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED ROWS 8
AS 'MODULE_PATHNAME', 'pgr_explain_version';
COMMENT ON FUNCTION rollout.explain_version(text, text) IS
    'the explain form of resolve_version: every candidate on the way, which one decided, and why';

CREATE FUNCTION rollout.resolve_versions(component_id text, tenant_ids text[] DEFAULT NULL)
RETURNS TABLE (tenant_id text, version rollout.semver, source text, source_tenant_id text)
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1000
AS 'MODULE_PATHNAME', 'pgr_resolve_versions';
COMMENT ON FUNCTION rollout.resolve_versions(text, text[]) IS
    'bulk resolution: the version of a component for the listed tenants, or for every tenant (one ordered pass over the tree) when tenant_ids is NULL';

CREATE FUNCTION rollout.effective_channels()
RETURNS TABLE (tenant_id text, channel_id text)
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1000
AS 'MODULE_PATHNAME', 'pgr_effective_channels';
COMMENT ON FUNCTION rollout.effective_channels() IS
    'every tenant''s effective channel (as rollout.effective_channel), in one ordered pass over the tree';

CREATE FUNCTION rollout.flag_enabled(tenant_id text, flag_id text)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'pgr_flag_enabled';
COMMENT ON FUNCTION rollout.flag_enabled(text, text) IS
    'whether a flag is on for a tenant: kill switch (global or on the path) -> off; nearest override; activation by the flag''s feature_flag rollout; the default';

CREATE FUNCTION rollout.explain_flag(tenant_id text, flag_id text)
RETURNS TABLE (step integer, source text, tenant_id text, enabled boolean, decided boolean, detail text)
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED ROWS 8
AS 'MODULE_PATHNAME', 'pgr_explain_flag';
COMMENT ON FUNCTION rollout.explain_flag(text, text) IS 'the explain form of flag_enabled';

CREATE FUNCTION rollout.resolve_cache_stats(OUT entries bigint, OUT hits bigint, OUT misses bigint,
                                            OUT invalidations bigint)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_resolve_cache_stats';
COMMENT ON FUNCTION rollout.resolve_cache_stats() IS
    'this session''s resolution cache: entries, hits, misses and invalidations since the session started';

CREATE FUNCTION rollout._invalidate_resolution()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgr_invalidate_resolution';
COMMENT ON FUNCTION rollout._invalidate_resolution() IS
    'internal: statement trigger that invalidates every session''s resolution cache when the transaction commits';

DO $trg$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant', 'channel', 'channel_choice', 'component', 'pin', 'channel_release',
                             'activation', 'flag', 'flag_setting'] LOOP
        EXECUTE format('CREATE TRIGGER invalidate_resolution AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution()', t);
    END LOOP;
END
$trg$;
-- Rollouts matter to resolution only through feature_flag bindings: only a
-- change of status (or a new or deleted rollout) invalidates.
CREATE TRIGGER invalidate_resolution AFTER INSERT OR DELETE OR TRUNCATE ON rollout.rollout
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution();
CREATE TRIGGER invalidate_resolution_status AFTER UPDATE OF status ON rollout.rollout
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION rollout._invalidate_resolution();
-- Metric gates and the scheduler: metric samples per stage, evaluation
-- of success criteria and rollback triggers, and rollout.tick().

CREATE SEQUENCE rollout.metric_sample_seq;
CREATE TABLE rollout.metric_sample (
    sample_id   bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('rollout.metric_sample_seq'),
    rollout_id  text COLLATE "C" NOT NULL REFERENCES rollout.rollout (rollout_id),
    stage_no    integer     NOT NULL CHECK (stage_no >= 0),
    tenant_id   text COLLATE "C" REFERENCES rollout.tenant (tenant_id),
    metric      text        NOT NULL CHECK (metric ~ '^[a-z][a-z0-9_.]*$' AND length(metric) <= 63),
    value       double precision NOT NULL CHECK (value <> 'NaN' AND value <> 'Infinity' AND value <> '-Infinity'),
    sampled_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    reported_by text        NOT NULL
);
CREATE INDEX metric_sample_stage_idx ON rollout.metric_sample (rollout_id, stage_no, metric);
SELECT pg_catalog.pg_extension_config_dump('rollout.metric_sample', '');
SELECT pg_catalog.pg_extension_config_dump('rollout.metric_sample_seq', '');
COMMENT ON TABLE rollout.metric_sample IS
    'metric samples of a rollout: stage 0 is the pre-rollout baseline, stage k the samples taken while stage k was current';
COMMENT ON COLUMN rollout.metric_sample.metric IS
    'metric name; names ending in _rate or _ratio are averaged, all others summed, when a stage is evaluated';
COMMENT ON SEQUENCE rollout.metric_sample_seq IS 'ids of rollout.metric_sample';

-- The value of a metric over a stage's samples (NULL: no sample).
CREATE FUNCTION rollout._stage_metric(rollout_id text, stage_no integer, metric text)
RETURNS double precision
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN $3 ~ '_(rate|ratio)$' THEN avg(m.value) ELSE sum(m.value) END
      FROM rollout.metric_sample m
     WHERE m.rollout_id = $1 AND m.stage_no = $2 AND m.metric = $3
       -- a stage monitored afresh (retry, re-run after a partial rollback)
       -- counts only the samples of its latest run
       AND ($2 = 0 OR m.sampled_at >= (SELECT s.started_at FROM rollout.rollout_stage s
                                        WHERE s.rollout_id = $1 AND s.stage_no = $2))
$$;
COMMENT ON FUNCTION rollout._stage_metric(text, integer, text) IS
    'internal: a metric over the samples of one stage''s latest run: the mean for *_rate / *_ratio, else the sum; NULL without samples';

-- Derived metrics: failure_rate_increase = stage mean failure_rate minus
-- the baseline's.
CREATE FUNCTION rollout.stage_metric(rollout_id text, stage_no integer, metric text)
RETURNS double precision
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN $3 = 'failure_rate_increase'
                THEN rollout._stage_metric($1, $2, 'failure_rate') - rollout._stage_metric($1, 0, 'failure_rate')
                ELSE rollout._stage_metric($1, $2, $3) END
$$;
COMMENT ON FUNCTION rollout.stage_metric(text, integer, text) IS
    'a metric of a stage as the gates see it: mean for *_rate / *_ratio, sum otherwise; failure_rate_increase is the stage''s mean failure_rate minus the baseline''s';

CREATE FUNCTION rollout.report_metrics(rollout_id text, tenant_ids text[], metrics text[],
                                       metric_values double precision[], stage text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    k integer;
    n bigint;
    bad text;
BEGIN
    -- NO KEY UPDATE: concurrent reporters of one rollout queue instead of
    -- deadlocking on the upgrade to the UPDATE below.
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = report_metrics.rollout_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('rollout "%s" does not exist', rollout_id);
    END IF;
    IF metrics IS NULL OR metric_values IS NULL
       OR cardinality(metrics) <> cardinality(metric_values)
       OR (tenant_ids IS NOT NULL AND cardinality(tenant_ids) <> cardinality(metrics)) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'metrics, values and tenant ids must be arrays of the same length',
            DETAIL = format('%s metrics, %s values, %s tenant ids were given.', cardinality(metrics),
                            cardinality(metric_values), coalesce(cardinality(tenant_ids)::text, 'no'));
    END IF;
    IF stage = 'baseline' THEN
        k := 0;
    ELSIF stage IS NULL THEN
        IF r.status NOT IN ('running', 'paused', 'failed') THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('cannot report metrics of the current stage of rollout "%s": it is %s', r.rollout_id, r.status),
                HINT = 'Samples taken before the rollout starts go to stage => ''baseline''.';
        END IF;
        k := r.current_stage;
    ELSE
        IF r.status IN ('draft', 'approved') THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('cannot report metrics of stage "%s" of rollout "%s": it is %s', stage, r.rollout_id, r.status),
                HINT = 'Samples taken before the rollout starts go to stage => ''baseline''.';
        END IF;
        SELECT s.stage_no INTO k FROM rollout.rollout_stage s WHERE s.rollout_id = r.rollout_id AND s.name = stage;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('stage "%s" of rollout "%s" does not exist', stage, r.rollout_id);
        END IF;
    END IF;
    SELECT u.m INTO bad FROM unnest(metrics) AS u(m) WHERE u.m IS NULL OR u.m !~ '^[a-z][a-z0-9_.]*$' OR length(u.m) > 63 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid metric name "%s"', coalesce(bad, 'NULL')),
            DETAIL = 'A metric name is lower-case letters, digits, "_" and ".", starting with a letter.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(metric_values) AS u(v) WHERE u.v IS NULL OR u.v IN ('NaN', 'Infinity', '-Infinity')) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'metric values must be finite numbers';
    END IF;
    IF tenant_ids IS NOT NULL THEN
        SELECT u.t INTO bad FROM unnest(tenant_ids) AS u(t)
         WHERE u.t IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rollout.tenant x WHERE x.tenant_id = u.t) LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('tenant "%s" does not exist', bad);
        END IF;
    END IF;
    INSERT INTO rollout.metric_sample (rollout_id, stage_no, tenant_id, metric, value, reported_by)
    SELECT r.rollout_id, k, u.t, u.m, u.v, rollout._actor()
      FROM unnest(coalesce(tenant_ids, array_fill(NULL::text, ARRAY[cardinality(metrics)])), metrics, metric_values)
           AS u(t, m, v);
    GET DIAGNOSTICS n = ROW_COUNT;
    -- New evidence: let the next tick evaluate triggers and criteria.
    IF r.status = 'running' AND k = r.current_stage THEN
        UPDATE rollout.rollout x SET next_due_at = least(x.next_due_at, now())
         WHERE x.rollout_id = r.rollout_id AND x.next_due_at IS DISTINCT FROM least(x.next_due_at, now());
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout.report_metrics(text, text[], text[], double precision[], text) IS
    'report a batch of metric samples (tenant, metric, value) for the current stage, a named stage, or the pre-rollout baseline (stage => ''baseline'')';

CREATE FUNCTION rollout.report_metrics(rollout_id text, samples jsonb, stage text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text[];
    m text[];
    v double precision[];
BEGIN
    IF samples IS NULL OR jsonb_typeof(samples) <> 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'metric samples must be a JSON array of {"tenant", "metric", "value"} objects';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(samples) e
                WHERE jsonb_typeof(e) <> 'object' OR jsonb_typeof(e -> 'metric') IS DISTINCT FROM 'string'
                   OR jsonb_typeof(e -> 'value') IS DISTINCT FROM 'number'
                   OR (e ? 'tenant' AND jsonb_typeof(e -> 'tenant') NOT IN ('string', 'null'))) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'metric samples must be a JSON array of {"tenant", "metric", "value"} objects',
            DETAIL = 'Each element needs "metric" (a string) and "value" (a number); "tenant" is optional.';
    END IF;
    SELECT array_agg(e ->> 'tenant' ORDER BY o), array_agg(e ->> 'metric' ORDER BY o),
           array_agg((e ->> 'value')::double precision ORDER BY o)
      INTO t, m, v
      FROM jsonb_array_elements(samples) WITH ORDINALITY AS x(e, o);
    RETURN rollout.report_metrics(rollout_id, coalesce(t, '{}'), coalesce(m, '{}'), coalesce(v, '{}'), stage);
END
$$;
COMMENT ON FUNCTION rollout.report_metrics(text, jsonb, text) IS
    'report metric samples as a JSON array [{"tenant": ..., "metric": ..., "value": ...}, ...]';

-- Evaluate the success criteria of a stage:
-- pass, fail, no_data (no sample at all) or inconclusive (a needed metric
-- or the baseline is missing).
CREATE FUNCTION rollout.evaluate_stage(rollout_id text, stage_no integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s rollout.rollout_stage;
    checks jsonb := '[]';
    verdict text := 'pass';
    val double precision;
    bound numeric;
    name text;
    has_criteria boolean;
    samples bigint;
BEGIN
    SELECT * INTO s FROM rollout.rollout_stage x WHERE x.rollout_id = evaluate_stage.rollout_id AND x.stage_no = evaluate_stage.stage_no;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('stage %s of rollout "%s" does not exist', stage_no, rollout_id);
    END IF;
    SELECT count(*) INTO samples FROM rollout.metric_sample m
     WHERE m.rollout_id = s.rollout_id AND m.stage_no = s.stage_no AND m.sampled_at >= s.started_at;
    has_criteria := s.max_new_failures IS NOT NULL OR s.max_failure_rate_increase IS NOT NULL
                    OR s.metric_bounds <> '{}';
    IF NOT has_criteria THEN
        RETURN jsonb_build_object('verdict', 'pass', 'samples', samples, 'checks', checks,
                                  'reason', 'the stage has no success criteria');
    END IF;
    IF samples = 0 THEN
        RETURN jsonb_build_object('verdict', 'no_data', 'samples', 0, 'checks', checks,
                                  'reason', 'no metric sample was reported for the stage');
    END IF;
    FOR name, bound IN
        SELECT 'new_failures', s.max_new_failures WHERE s.max_new_failures IS NOT NULL
        UNION ALL
        SELECT 'failure_rate_increase', s.max_failure_rate_increase WHERE s.max_failure_rate_increase IS NOT NULL
        UNION ALL
        SELECT e.key, (e.value #>> '{}')::numeric FROM jsonb_each(s.metric_bounds) e
    LOOP
        val := rollout.stage_metric(s.rollout_id, s.stage_no, name);
        checks := checks || jsonb_build_object('metric', name, 'value', val, 'max', bound,
                                               'ok', CASE WHEN val IS NULL THEN NULL ELSE val <= bound END);
        IF val IS NULL THEN
            IF verdict = 'pass' THEN
                verdict := 'inconclusive';
            END IF;
        ELSIF val > bound THEN
            verdict := 'fail';
        END IF;
    END LOOP;
    RETURN jsonb_build_object('verdict', verdict, 'samples', samples, 'checks', checks,
                              'reason', CASE verdict
                                  WHEN 'pass' THEN 'every criterion is met'
                                  WHEN 'fail' THEN 'a criterion is exceeded'
                                  ELSE 'a criterion''s metric (or the baseline) has no sample' END);
END
$$;
COMMENT ON FUNCTION rollout.evaluate_stage(text, integer) IS
    'evaluate a stage''s success criteria against its samples and the baseline: verdict pass, fail, no_data or inconclusive, with each check';

-- The first breached rollback trigger of the current stage, or NULL.
CREATE FUNCTION rollout.breached_trigger(rollout_id text)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('metric', t.metric, 'threshold', t.threshold, 'value', v.value)
      FROM rollout.rollout r
      JOIN rollout.rollout_trigger t ON t.rollout_id = r.rollout_id
     CROSS JOIN LATERAL (SELECT rollout.stage_metric(r.rollout_id, r.current_stage, t.metric) AS value) v
     WHERE r.rollout_id = $1 AND r.current_stage IS NOT NULL AND v.value > t.threshold
     ORDER BY t.metric
     LIMIT 1
$$;
COMMENT ON FUNCTION rollout.breached_trigger(text) IS
    'the first rollback trigger whose metric, over the current stage, is above its threshold; NULL when none is';

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

CREATE FUNCTION rollout.tick(max_rollouts integer DEFAULT 100)
RETURNS TABLE (rollout_id text, action text, detail text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r rollout.rollout;
BEGIN
    IF max_rollouts IS NULL OR max_rollouts < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('max_rollouts must be at least 1, not %s', coalesce(max_rollouts::text, 'NULL'));
    END IF;
    -- Rows another tick holds are skipped; a row it has just finished is
    -- re-checked against the WHERE clause, so no stage advances twice.
    FOR r IN
        SELECT * FROM rollout.rollout x
         WHERE x.status = 'running' AND x.next_due_at <= now()
         ORDER BY x.next_due_at
         LIMIT max_rollouts
           FOR UPDATE SKIP LOCKED
    LOOP
        RETURN QUERY SELECT * FROM rollout._tick_one(r);
    END LOOP;
END
$$;
COMMENT ON FUNCTION rollout.tick(integer) IS
    'do all due rollout work (advance, roll back, pause, extend, activate deferred tenants) for at most max_rollouts rollouts; for pg_cron: SELECT rollout.tick()';
-- JSON rollout plans (src/plan.c): seed 000's "Rollout Plan Definition"
-- document, validated strictly and created through the SQL API in one
-- statement.  docs/plan-json.md describes the format.

CREATE FUNCTION rollout.create_rollout_from_plan(plan text)
RETURNS rollout.rollout
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_create_rollout_from_plan';
COMMENT ON FUNCTION rollout.create_rollout_from_plan(text) IS
    'create a draft rollout from a JSON plan document: validated strictly (errors name the field''s path), then create_rollout, add_stage or add_canary_stages, add_trigger and set_flag with the caller''s privileges, all or nothing; the document is kept in rollout.rollout.plan';
GRANT EXECUTE ON FUNCTION rollout.create_rollout_from_plan(text) TO rollout_operator;
-- Tenant isolation inside the database (src/isolation.c): protected
-- tables, tenant context, enforcement modes, violations, audited bypass.

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_bypass') THEN
        CREATE ROLE rollout_bypass NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'rollout_app') THEN
        CREATE ROLE rollout_app NOLOGIN;
    END IF;
END
$roles$;

CREATE TABLE rollout.protected_table (
    tbl                 regclass    PRIMARY KEY,
    tenant_column       name        NOT NULL,
    severity            text        NOT NULL DEFAULT 'high' CHECK (severity IN ('critical', 'high', 'medium')),
    include_descendants boolean     NOT NULL DEFAULT false,
    force_rls           boolean     NOT NULL DEFAULT true,
    protected_by        text        NOT NULL,
    protected_at        timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('rollout.protected_table', '');
COMMENT ON TABLE rollout.protected_table IS
    'tables whose rows belong to tenants: every command on them is filtered by the session''s tenant when enforced';
COMMENT ON COLUMN rollout.protected_table.tenant_column IS 'the column (text or varchar) holding the owning tenant id';
COMMENT ON COLUMN rollout.protected_table.severity IS 'critical, high or medium: selective mode enforces by severity';
COMMENT ON COLUMN rollout.protected_table.include_descendants IS 'a tenant also sees the rows of its descendant tenants';
COMMENT ON COLUMN rollout.protected_table.force_rls IS 'row security is forced, so the table owner is filtered too';

CREATE TABLE rollout.tenant_binding (
    role_name name        NOT NULL,
    tenant_id text COLLATE "C" NOT NULL REFERENCES rollout.tenant (tenant_id),
    bound_by  text        NOT NULL,
    bound_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (role_name, tenant_id)
);
SELECT pg_catalog.pg_extension_config_dump('rollout.tenant_binding', '');
CREATE TRIGGER invalidate_tenant_context AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollout.tenant_binding
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_resolution();
COMMENT ON TABLE rollout.tenant_binding IS
    'roles bound to tenant subtrees: a bound role (or a member of it) may set only tenants inside its subtrees';

CREATE FUNCTION rollout._invalidate_protection()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'pgr_invalidate_protection';
COMMENT ON FUNCTION rollout._invalidate_protection() IS
    'internal: trigger that makes every session reload the protected tables and replan statements on them';
CREATE TRIGGER invalidate_protection AFTER INSERT OR UPDATE OR DELETE ON rollout.protected_table
    FOR EACH ROW EXECUTE FUNCTION rollout._invalidate_protection();
CREATE TRIGGER invalidate_protection_truncate AFTER TRUNCATE ON rollout.protected_table
    FOR EACH STATEMENT EXECUTE FUNCTION rollout._invalidate_protection();

CREATE FUNCTION rollout.current_tenant()
RETURNS text
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_current_tenant';
COMMENT ON FUNCTION rollout.current_tenant() IS 'the tenant context of this transaction or session, NULL when none';

CREATE FUNCTION rollout._tenant_for(tbl oid)
RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_tenant_for';
COMMENT ON FUNCTION rollout._tenant_for(oid) IS
    'internal: the tenant a protected table is filtered by (used in the row-security qual); NULL without tenant context, when the statement has already been refused';

CREATE FUNCTION rollout._tenants_for(tbl oid)
RETURNS text[]
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgr_tenants_for';
COMMENT ON FUNCTION rollout._tenants_for(oid) IS
    'internal: the current tenant and its descendants (row-security qual of tables that include descendants)';

-- Not SECURITY DEFINER (a function-level SET would cost every call): it
-- reads the tenant and the bindings with the bootstrap superuser's rights
-- itself, and remembers active tenants while no role binding exists.
CREATE FUNCTION rollout.set_tenant(tenant_id text, local boolean DEFAULT true)
RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_set_tenant';
COMMENT ON FUNCTION rollout.set_tenant(text, boolean) IS
    'set the tenant context: for the transaction (local, the default: safe with transaction pooling) or the session; the tenant must exist, be active and be allowed by the role''s bindings';

CREATE FUNCTION rollout.reset_tenant()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_reset_tenant';
COMMENT ON FUNCTION rollout.reset_tenant() IS 'clear the tenant context';

CREATE FUNCTION rollout.bypass(reason text)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pgr_bypass';
COMMENT ON FUNCTION rollout.bypass(text) IS
    'lift the tenant filter for the rest of the transaction: members of rollout_bypass only, with a reason; counted and audited';

CREATE FUNCTION rollout.violation_counts()
RETURNS TABLE (tbl regclass, kind text, command text, severity text, enforced boolean, count bigint,
               last_at timestamptz)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_violation_counts';
COMMENT ON FUNCTION rollout.violation_counts() IS
    'counters of tenant-isolation events in this database since the server started (shared memory)';

CREATE FUNCTION rollout.recent_violations()
RETURNS TABLE (at timestamptz, tbl regclass, kind text, command text, refused boolean, role_name text,
               application_name text, query_id bigint, query text)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_recent_violations';
COMMENT ON FUNCTION rollout.recent_violations() IS
    'the most recent tenant-isolation violations (a ring of 256 across databases), oldest first';

CREATE FUNCTION rollout.bypass_counts()
RETURNS TABLE (role_name text, reason text, count bigint, last_at timestamptz)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_bypass_counts';
COMMENT ON FUNCTION rollout.bypass_counts() IS 'uses of rollout.bypass() by role and reason since the server started';

CREATE FUNCTION rollout.reset_violation_counts()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'pgr_reset_violations';
COMMENT ON FUNCTION rollout.reset_violation_counts() IS 'set this database''s violation counters back to zero';

CREATE VIEW rollout.violations AS
SELECT v.tbl, v.kind, v.command, v.severity, v.enforced, v.count, v.last_at FROM rollout.violation_counts() v;
COMMENT ON VIEW rollout.violations IS
    'tenant-isolation events by table, kind (missing_tenant_context, row_security_disabled, privileged_access, bypass), command and severity';

CREATE VIEW rollout.recent_violation_log AS
SELECT r.at, r.tbl, r.kind, r.command, r.refused, r.role_name, r.application_name, r.query_id, r.query
  FROM rollout.recent_violations() r;
COMMENT ON VIEW rollout.recent_violation_log IS 'the latest tenant-isolation violations, with role, application and query';

CREATE VIEW rollout.bypasses AS
SELECT b.role_name, b.reason, b.count, b.last_at FROM rollout.bypass_counts() b;
COMMENT ON VIEW rollout.bypasses IS 'bypasses of tenant isolation by role and reason (each is also in the audit log)';

CREATE FUNCTION rollout._register_protection(tbl regclass, tenant_column name, severity text,
                                             include_descendants boolean, force_rls boolean)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The caller has just altered the table, so it owns it.
    INSERT INTO rollout.protected_table AS p (tbl, tenant_column, severity, include_descendants, force_rls, protected_by)
    VALUES (tbl, tenant_column, severity, include_descendants, force_rls, rollout._actor())
    ON CONFLICT ON CONSTRAINT protected_table_pkey DO UPDATE
       SET tenant_column = excluded.tenant_column, severity = excluded.severity,
           include_descendants = excluded.include_descendants, force_rls = excluded.force_rls,
           protected_by = excluded.protected_by, protected_at = now();
    PERFORM rollout._audit('isolation.protected', NULL, 'table', tbl::text, NULL,
                           jsonb_build_object('tenant_column', tenant_column, 'severity', severity,
                                              'include_descendants', include_descendants, 'force', force_rls));
END
$$;
COMMENT ON FUNCTION rollout._register_protection(regclass, name, text, boolean, boolean) IS
    'internal: record a protected table (called by protect_table after it altered the table)';

CREATE FUNCTION rollout._unregister_protection(tbl regclass)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM rollout.protected_table p WHERE p.tbl = _unregister_protection.tbl;
    PERFORM rollout._audit('isolation.unprotected', NULL, 'table', tbl::text, NULL, '{}');
END
$$;
COMMENT ON FUNCTION rollout._unregister_protection(regclass) IS 'internal: forget a protected table';

-- Runs as the caller: altering the table needs its ownership.
CREATE FUNCTION rollout.protect_table(tbl regclass, tenant_column name, severity text DEFAULT 'high',
                                      include_descendants boolean DEFAULT false, force boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    typ oid;
    child regclass;
BEGIN
    IF tbl IS NULL OR tenant_column IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'table and tenant column must not be null';
    END IF;
    IF NOT rollout.preloaded() THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'pg_rollout must be loaded via shared_preload_libraries to protect tables',
            HINT = 'Add pg_rollout to shared_preload_libraries in postgresql.conf and restart the server.';
    END IF;
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = tbl) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
            MESSAGE = format('"%s" is not a table', tbl);
    END IF;
    IF (SELECT c.relnamespace FROM pg_class c WHERE c.oid = tbl) = 'rollout'::regnamespace THEN
        RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
            MESSAGE = format('table "%s" belongs to pg_rollout and cannot be protected', tbl);
    END IF;
    SELECT a.atttypid INTO typ FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = tenant_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_column',
            MESSAGE = format('column "%s" of table "%s" does not exist', tenant_column, tbl);
    END IF;
    IF typ NOT IN ('text'::regtype, 'varchar'::regtype) THEN
        RAISE EXCEPTION USING ERRCODE = 'datatype_mismatch',
            MESSAGE = format('tenant column "%s" of table "%s" is of type %s', tenant_column, tbl, typ::regtype),
            DETAIL = 'A tenant column holds tenant ids: text or varchar.';
    END IF;
    IF severity IS NULL OR severity NOT IN ('critical', 'high', 'medium') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid severity "%s"', severity),
            DETAIL = 'A severity is critical, high or medium.';
    END IF;
    -- The table and every inheritance child or partition: row security on
    -- (forced, unless asked otherwise) and a permissive policy of its own,
    -- so that core's default-deny does not hide every row; pg_rollout adds
    -- the restrictive tenant qual.
    FOR child IN
        WITH RECURSIVE t(relid) AS (SELECT tbl::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.relid)
        SELECT t.relid::regclass FROM t
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', child);
        EXECUTE format('ALTER TABLE %s %s ROW LEVEL SECURITY', child, CASE WHEN force THEN 'FORCE' ELSE 'NO FORCE' END);
        IF NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = child AND p.polname = 'pg_rollout_permissive') THEN
            EXECUTE format('CREATE POLICY pg_rollout_permissive ON %s USING (true) WITH CHECK (true)', child);
        END IF;
    END LOOP;
    PERFORM rollout._register_protection(tbl, tenant_column, severity, include_descendants, force);
END
$$;
COMMENT ON FUNCTION rollout.protect_table(regclass, name, text, boolean, boolean) IS
    'protect a table (and its partitions and inheritance children): every command sees and writes only the current tenant''s rows where enforced; the caller must own the table';

CREATE FUNCTION rollout.unprotect_table(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    child regclass;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rollout.protected_table p WHERE p.tbl = unprotect_table.tbl) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('table "%s" is not protected', tbl);
    END IF;
    FOR child IN
        WITH RECURSIVE t(relid) AS (SELECT tbl::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.relid)
        SELECT t.relid::regclass FROM t
    LOOP
        EXECUTE format('DROP POLICY IF EXISTS pg_rollout_permissive ON %s', child);
        EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', child);
        IF NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = child) THEN
            EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', child);
        END IF;
    END LOOP;
    PERFORM rollout._unregister_protection(tbl);
END
$$;
COMMENT ON FUNCTION rollout.unprotect_table(regclass) IS
    'stop protecting a table: its pg_rollout policy goes, and row security too unless the table has policies of its own';

CREATE VIEW rollout.protected_tables AS
SELECT p.tbl, p.tenant_column, p.severity, p.include_descendants, p.force_rls,
       c.relrowsecurity AS row_security, c.relforcerowsecurity AS forced,
       (SELECT count(*) FROM pg_catalog.pg_inherits i WHERE i.inhparent = p.tbl) AS children,
       p.protected_by, p.protected_at
  FROM rollout.protected_table p
  JOIN pg_catalog.pg_class c ON c.oid = p.tbl;
COMMENT ON VIEW rollout.protected_tables IS 'protected tables, their tenant column and settings, and the state of row security';

CREATE FUNCTION rollout.bind_tenant(role_name name, tenant_id text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role_name) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('role "%s" does not exist', role_name);
    END IF;
    PERFORM rollout._tenant_for_update(tenant_id);
    INSERT INTO rollout.tenant_binding (role_name, tenant_id, bound_by) VALUES (role_name, tenant_id, rollout._actor())
    ON CONFLICT DO NOTHING;
    PERFORM rollout._audit('isolation.bound', tenant_id, 'role', role_name, NULL, '{}');
END
$$;
COMMENT ON FUNCTION rollout.bind_tenant(name, text) IS
    'bind a role to a tenant subtree: the role (and its members) may then set only tenants inside its bound subtrees';

CREATE FUNCTION rollout.unbind_tenant(role_name name, tenant_id text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    DELETE FROM rollout.tenant_binding b WHERE b.role_name = unbind_tenant.role_name AND b.tenant_id = unbind_tenant.tenant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('role "%s" is not bound to tenant "%s"', role_name, tenant_id);
    END IF;
    PERFORM rollout._audit('isolation.unbound', tenant_id, 'role', role_name, NULL, '{}');
END
$$;
COMMENT ON FUNCTION rollout.unbind_tenant(name, text) IS 'remove a role''s binding to a tenant subtree';
-- Privileges: nothing to PUBLIC but the semver type's support functions;
-- rollout_viewer reads, rollout_operator runs daily operations,
-- rollout_admin changes structure.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rollout FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA rollout FROM PUBLIC;
GRANT USAGE ON SCHEMA rollout TO rollout_viewer, rollout_operator, rollout_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA rollout TO rollout_viewer;

-- The semver type's own functions are pure and needed by anyone who uses the
-- type (operators check EXECUTE on their functions).
DO $grants$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'rollout'::regnamespace
           AND (p.proname LIKE 'semver%' OR (p.prokind = 'a' AND p.proname IN ('max', 'min')))
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    END LOOP;
END
$grants$;

GRANT EXECUTE ON FUNCTION
    rollout.preloaded(),
    rollout.verify_audit(),
    rollout.audit_head(),
    rollout.tenant_path(text),
    rollout.ancestors(text, boolean),
    rollout.descendants(text, boolean, integer),
    rollout.is_ancestor(text, text),
    rollout.tenant_channels(text),
    rollout.effective_channel(text),
    rollout.bucket(bytea, text),
    rollout.weight_key(bytea, text, double precision),
    rollout.in_blackout(text, timestamptz),
    rollout.activation_hold(text, timestamptz),
    rollout.preview(text),
    rollout.preview_summary(text),
    rollout.stage_metric(text, integer, text),
    rollout.evaluate_stage(text, integer),
    rollout.breached_trigger(text),
    rollout.resolve_version(text, text),
    rollout.explain_version(text, text),
    rollout.resolve_versions(text, text[]),
    rollout.effective_channels(),
    rollout.flag_enabled(text, text),
    rollout.explain_flag(text, text),
    rollout.resolve_cache_stats()
TO rollout_viewer;

GRANT EXECUTE ON FUNCTION
    rollout.create_tenant(text, text, text, text, jsonb, text, boolean, text),
    rollout.create_tenants(text[], text[], text[], text[], jsonb[], text),
    rollout.update_tenant(text, text, text, jsonb, boolean, text),
    rollout.suspend_tenant(text, text),
    rollout.reactivate_tenant(text, text),
    rollout.set_tenant_channel(text, text, text),
    rollout.opt_in(text, text, text),
    rollout.opt_out(text, text, text),
    rollout.clear_channel_choice(text, text, text),
    rollout.add_version(text, rollout.semver, text, date, text, jsonb),
    rollout.set_version_status(text, rollout.semver, text, text),
    rollout.set_version_eol(text, rollout.semver, date, text),
    rollout.create_rollout(text, text, rollout.semver, rollout.semver, text, text, text, text, boolean, boolean,
                           text, interval, interval, text, bytea),
    rollout.add_stage(text, text, text, text[], numeric, text, interval, numeric, numeric, jsonb, boolean, text),
    rollout.drop_stage(text, text),
    rollout.add_trigger(text, text, numeric),
    rollout.add_canary_stages(text, numeric, numeric, interval, jsonb),
    rollout.start_rollout(text, text),
    rollout.advance_rollout(text, text),
    rollout.pause_rollout(text, text),
    rollout.resume_rollout(text, text),
    rollout.retry_rollout(text, text),
    rollout.rollback_rollout(text, text, integer),
    rollout.cancel_rollout(text, text),
    rollout.report_metrics(text, text[], text[], double precision[], text),
    rollout.report_metrics(text, jsonb, text),
    rollout.tick(integer),
    rollout.ack_events(bigint),
    rollout.add_blackout(text, tstzrange, text),
    rollout.remove_blackout(bigint, text),
    rollout.add_maintenance_window(text, integer[], time, time, text, text),
    rollout.remove_maintenance_window(bigint, text),
    rollout.pin_version(text, text, rollout.semver, text),
    rollout.unpin_version(text, text, text),
    rollout.set_flag(text, text, boolean, text),
    rollout.clear_flag(text, text, text),
    rollout.kill_flag(text, text, text, boolean)
TO rollout_operator;

GRANT EXECUTE ON FUNCTION
    rollout.move_tenant(text, text, text),
    rollout.decommission_tenant(text, text, boolean),
    rollout.create_channel(text, integer, text, interval, boolean, boolean, text),
    rollout.update_channel(text, integer, text, interval, boolean, boolean, text, text),
    rollout.set_default_channel(text, text),
    rollout.drop_channel(text, text),
    rollout.create_component(text, text, text, text, jsonb, interval),
    rollout.update_component(text, text, text, jsonb, interval, text),
    rollout.set_default_version(text, rollout.semver, text),
    rollout.approve_rollout(text, text),
    rollout.create_flag(text, boolean, text),
    rollout.set_channel_release(text, text, rollout.semver, text),
    rollout.clear_channel_release(text, text, text)
TO rollout_admin;

-- Tenant isolation.  The row-security qual calls rollout._tenant_for() /
-- _tenants_for() as whoever queries a protected table, so those two (which
-- only return the caller's own tenant context) are executable by PUBLIC.
GRANT USAGE ON SCHEMA rollout TO rollout_app, rollout_bypass;
GRANT EXECUTE ON FUNCTION rollout._tenant_for(oid), rollout._tenants_for(oid) TO PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.set_tenant(text, boolean), rollout.reset_tenant(), rollout.current_tenant()
    TO rollout_app, rollout_viewer;
GRANT EXECUTE ON FUNCTION rollout.bypass(text) TO rollout_bypass;
GRANT EXECUTE ON FUNCTION rollout.violation_counts(), rollout.recent_violations(), rollout.bypass_counts()
    TO rollout_viewer;
GRANT EXECUTE ON FUNCTION
    rollout.protect_table(regclass, name, text, boolean, boolean),
    rollout.unprotect_table(regclass),
    rollout._register_protection(regclass, name, text, boolean, boolean),
    rollout._unregister_protection(regclass),
    rollout.bind_tenant(name, text),
    rollout.unbind_tenant(name, text),
    rollout.reset_violation_counts()
TO rollout_admin;
