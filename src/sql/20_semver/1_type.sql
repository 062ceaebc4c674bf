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
