-- Protected tables distributed by Citus (src/citus.c, docs/citus.md).
-- pg_rollout's planner hook adds, on the coordinator, the tenant and a
-- signature of it to every statement on a distributed protected table;
-- the policies it puts on the table (and Citus on every shard) call
-- _citus_tenant_ok(), which the hook on each node replaces by the tenant
-- the statement carries a valid signature for.

-- _citus_guard is declared IMMUTABLE although its answer depends on
-- pg_rollout.cluster_secret and the role: Citus refuses STABLE functions
-- with column references in UPDATE and DELETE.  It filters nothing itself
-- (the policy qual does): a call with constant arguments folded at plan
-- time is an error or true, never a wider read.
CREATE FUNCTION rollout._citus_guard(anchor anyelement, tbl text, tenant text, mac text)
RETURNS boolean
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_citus_guard';
COMMENT ON FUNCTION rollout._citus_guard(anyelement, text, text, text) IS
    'internal: true when mac is the coordinator''s signature of (current role, table, tenant) under pg_rollout.cluster_secret, an error otherwise; added to shard queries by the planner hook';

CREATE FUNCTION rollout._citus_tenant_ok(tenant text)
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_citus_tenant_ok';
COMMENT ON FUNCTION rollout._citus_tenant_ok(text) IS
    'internal: qual of pg_rollout''s policies on a distributed protected table; the planner hook replaces it by the signed tenant, evaluated it is false (no row)';

CREATE FUNCTION rollout._citus_insert_tenant(tenant text)
RETURNS text
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_citus_insert_tenant';
COMMENT ON FUNCTION rollout._citus_insert_tenant(text) IS
    'internal: the tenant of a row inserted into a distributed protected table, an error unless it is the tenant context';

-- Privileges of the objects above.  Like _tenant_for, they run as whoever
-- queries a distributed protected table (on the coordinator and on the
-- workers): they reveal nothing but whether a signature is valid for the
-- caller's own role, and the caller's own tenant context.
REVOKE ALL ON FUNCTION
    rollout._citus_guard(anyelement, text, text, text),
    rollout._citus_tenant_ok(text),
    rollout._citus_insert_tenant(text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout._citus_guard(anyelement, text, text, text),
    rollout._citus_tenant_ok(text),
    rollout._citus_insert_tenant(text)
TO PUBLIC;
