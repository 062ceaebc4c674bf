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

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout.resolve_version(text, text),
    rollout.explain_version(text, text),
    rollout.resolve_versions(text, text[]),
    rollout.effective_channels(),
    rollout.flag_enabled(text, text),
    rollout.explain_flag(text, text),
    rollout.resolve_cache_stats()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.resolve_version(text, text),
    rollout.explain_version(text, text),
    rollout.resolve_versions(text, text[]),
    rollout.effective_channels(),
    rollout.flag_enabled(text, text),
    rollout.explain_flag(text, text),
    rollout.resolve_cache_stats()
TO rollout_viewer;
