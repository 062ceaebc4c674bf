-- Flag functions: create, per-tenant overrides, kill switches.

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

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._flag_for_update(text),
    rollout.create_flag(text, boolean, text),
    rollout.set_flag(text, text, boolean, text),
    rollout.clear_flag(text, text, text),
    rollout.kill_flag(text, text, text, boolean)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.create_flag(text, boolean, text)
TO rollout_admin;
GRANT EXECUTE ON FUNCTION
    rollout.set_flag(text, text, boolean, text),
    rollout.clear_flag(text, text, text),
    rollout.kill_flag(text, text, text, boolean)
TO rollout_operator;
