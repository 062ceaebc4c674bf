-- Explicit version assignment: tenant pins and channel releases.

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
    PERFORM rollout._enforce_policy(component_id, version, NULL, tenant_id, format('pin of tenant "%s"', tenant_id));
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
    -- governed components (with a release) go through rollout.promote()
    PERFORM rollout._release_guard(component_id, channel_id);
    PERFORM rollout._require_version(component_id, version, 'version');
    PERFORM rollout._enforce_policy(component_id, version, NULL, NULL, format('release of channel "%s"', channel_id));
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
    'set the version of a component that a channel delivers; refused for a component governed by releases (rollout.promote); audited';

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

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout.pin_version(text, text, rollout.semver, text),
    rollout.unpin_version(text, text, text),
    rollout.set_channel_release(text, text, rollout.semver, text),
    rollout.clear_channel_release(text, text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.pin_version(text, text, rollout.semver, text),
    rollout.unpin_version(text, text, text)
TO rollout_operator;
GRANT EXECUTE ON FUNCTION
    rollout.set_channel_release(text, text, rollout.semver, text),
    rollout.clear_channel_release(text, text, text)
TO rollout_admin;
