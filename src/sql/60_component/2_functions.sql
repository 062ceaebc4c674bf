-- Component and version functions: create, update, status, EOL, platform default.

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

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._component_for_update(text),
    rollout._version_for_update(text, rollout.semver),
    rollout._require_component_kind(text),
    rollout.create_component(text, text, text, text, jsonb, interval),
    rollout.update_component(text, text, text, jsonb, interval, text),
    rollout.add_version(text, rollout.semver, text, date, text, jsonb),
    rollout.set_version_status(text, rollout.semver, text, text),
    rollout.set_version_eol(text, rollout.semver, date, text),
    rollout.set_default_version(text, rollout.semver, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.create_component(text, text, text, text, jsonb, interval),
    rollout.update_component(text, text, text, jsonb, interval, text),
    rollout.set_default_version(text, rollout.semver, text)
TO rollout_admin;
GRANT EXECUTE ON FUNCTION
    rollout.add_version(text, rollout.semver, text, date, text, jsonb),
    rollout.set_version_status(text, rollout.semver, text, text),
    rollout.set_version_eol(text, rollout.semver, date, text)
TO rollout_operator;
