-- Update statistics (issue 12, item 8; seed 003 FR-TM-4.5, 7.2): adoption
-- rate and time-to-update per version, update success and rollback rates,
-- computed from the per-tenant version history (rollout.tenant_history,
-- src/sql/72_resolve/5_history.sql).  The history is replayed per tenant:
-- the cost grows with the tenants of the scope (see docs/governance.md).

CREATE FUNCTION rollout.update_statistics(component text, scope text DEFAULT NULL)
RETURNS TABLE (component_id text, version rollout.semver, released_at timestamptz, tenants bigint, tenants_now bigint,
               adopted_tenants bigint, adoption_pct numeric, updates bigint, rollbacks bigint, success_pct numeric,
               rollback_pct numeric, median_time_to_update interval, p90_time_to_update interval)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    ids text[];
BEGIN
    IF component IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'component id must not be null';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM rollout.component c WHERE c.component_id = component) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('component "%s" does not exist', component);
    END IF;
    PERFORM rollout._compliance_scope(scope);
    ids := CASE WHEN scope IS NULL
                THEN ARRAY(SELECT t.tenant_id FROM rollout.tenant t WHERE t.status <> 'decommissioned')
                ELSE ARRAY(SELECT d.tenant_id FROM rollout.descendants(scope, true) d WHERE d.status <> 'decommissioned') END;
    RETURN QUERY
    WITH h AS MATERIALIZED (
            SELECT t.id AS tenant_id, x.*
              FROM unnest(ids) t(id) CROSS JOIN LATERAL rollout.tenant_history(t.id, component) x),
         now_on AS (
            SELECT r.version, count(*) AS n FROM rollout.resolve_versions(component, ids) r
             WHERE r.version IS NOT NULL GROUP BY r.version),
         v AS (
            SELECT cv.version, coalesce(cv.released_at, cv.created_at) AS released_at FROM rollout.component_version cv
             WHERE cv.component_id = component),
         -- an update: a move to the version from another one, not undoing a rollout
         upd AS (
            SELECT h.tenant_id, h.version, h.changed_at FROM h
             WHERE h.previous_version IS NOT NULL AND h.cause NOT IN ('rollback', 'cancel')),
         -- a rollback: a move off the version that undid the rollout that brought it
         rb AS (
            SELECT h.previous_version AS version, count(*) AS n FROM h
             WHERE h.cause IN ('rollback', 'cancel') AND h.previous_version IS NOT NULL GROUP BY h.previous_version)
    SELECT component, v.version, v.released_at, cardinality(ids)::bigint,
           coalesce((SELECT n.n FROM now_on n WHERE n.version OPERATOR(rollout.=) v.version), 0),
           a.adopted, round(100.0 * a.adopted / nullif(cardinality(ids), 0), 2),
           u.n, coalesce((SELECT rb.n FROM rb WHERE rb.version OPERATOR(rollout.=) v.version), 0),
           round(100.0 * (u.n - coalesce((SELECT rb.n FROM rb WHERE rb.version OPERATOR(rollout.=) v.version), 0))
                 / nullif(u.n, 0), 2),
           round(100.0 * coalesce((SELECT rb.n FROM rb WHERE rb.version OPERATOR(rollout.=) v.version), 0) / nullif(u.n, 0), 2),
           u.median, u.p90
      FROM v
      CROSS JOIN LATERAL (SELECT count(DISTINCT h.tenant_id) AS adopted FROM h
                           WHERE h.version OPERATOR(rollout.=) v.version) a
      CROSS JOIN LATERAL (SELECT count(*) AS n,
                                 make_interval(secs => percentile_cont(0.5) WITHIN GROUP (
                                     ORDER BY extract(epoch FROM greatest(x.changed_at - v.released_at, interval '0')))) AS median,
                                 make_interval(secs => percentile_cont(0.9) WITHIN GROUP (
                                     ORDER BY extract(epoch FROM greatest(x.changed_at - v.released_at, interval '0')))) AS p90
                            FROM upd x WHERE x.version OPERATOR(rollout.=) v.version) u
     ORDER BY v.version;
END
$$;
COMMENT ON FUNCTION rollout.update_statistics(text, text) IS
    'per version of a component over every tenant (or a subtree): tenants on it now, tenants that ever ran it (adoption %), updates to it (moves from another version that were not rollbacks), rollbacks off it, success and rollback rates, median and 90th percentile time from its release (released_at, else created_at) to each update; from rollout.tenant_history';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION rollout.update_statistics(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollout.update_statistics(text, text) TO rollout_viewer;
