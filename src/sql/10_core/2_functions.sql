-- Core helpers shared by every area: the preload check, identifier and reason validation, the acting identity.

CREATE FUNCTION rollout.preloaded()
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_preloaded';
COMMENT ON FUNCTION rollout.preloaded() IS
    'true when the pg_rollout library was loaded through shared_preload_libraries';

-- Shared validation helpers (internal: not granted to any role).
CREATE FUNCTION rollout._require_slug(what text, value text, max_length integer DEFAULT @PGR_NAME_MAX_LEN@)
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

-- Rollouts: plans of ordered stages that move a component from one version
-- to another, their lifecycle, deterministic selection and activation.

CREATE FUNCTION rollout._actor()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- PL/pgSQL, not SQL: the SQL text (not inlinable: SET search_path) was
    -- parsed and planned on every call, and every audited call and tick asks.
    RETURN coalesce(nullif(current_setting('pg_rollout.actor', true), ''), session_user::text);
END
$$;
COMMENT ON FUNCTION rollout._actor() IS 'internal: the acting identity: pg_rollout.actor when set, else the session user';

-- Whether the caller is the author of what it is about to approve: the same
-- actor, or the same login.  pg_rollout.actor is whatever the session says,
-- so a login that changes it is still the same person; a superuser is the
-- exception (it could write the approval into the table directly, so the
-- actor it asserts is taken as given).  One rule for every approval:
-- rollouts, tenant updates, grace extensions, exemptions.
CREATE FUNCTION rollout._is_author(author text, author_login text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(rollout._actor() OPERATOR(pg_catalog.=) author, false)
        OR (coalesce(session_user OPERATOR(pg_catalog.=) author_login, false)
            AND NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r
                               WHERE r.rolname OPERATOR(pg_catalog.=) session_user), false))
$$;
COMMENT ON FUNCTION rollout._is_author(text, text) IS
    'internal: true when the caller is the author (same pg_rollout.actor, or same login unless a superuser) of what it approves';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout.preloaded(),
    rollout._require_slug(text, text, integer),
    rollout._require_reason(text, text),
    rollout._actor(),
    rollout._is_author(text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.preloaded()
TO rollout_viewer;
