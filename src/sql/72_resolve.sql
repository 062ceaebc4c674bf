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
