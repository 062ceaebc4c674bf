-- The guard's compact form (issue 16, cost of tenant look-ups): the
-- coordinator's planner hook adds rollout._citus_guard(<column>,
-- '<length of table>:<table>:<tenant>:<signature>') to the statements on
-- distributed protected tables, one text constant where the form in
-- 5_citus.sql takes three: Citus's planner and the shard's walk every node
-- of a statement (docs/citus.md, sections 3 and 8).  The shards accept both
-- forms (a coordinator whose schema is not updated yet sends the earlier
-- one).  Same C function, same answer: true when the signature is valid
-- for the current role, an error otherwise.
CREATE FUNCTION rollout._citus_guard(anchor anyelement, token text)
RETURNS boolean
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pgr_citus_guard';
COMMENT ON FUNCTION rollout._citus_guard(anyelement, text) IS
    'internal: true when token ("<length of table>:<table>:<tenant>:<mac>") holds the coordinator''s signature of (current role, table, tenant) under pg_rollout.cluster_secret, an error otherwise; added to shard queries by the planner hook';
-- Its privileges stay the default, EXECUTE to PUBLIC (what 5_citus.sql
-- grants the earlier form explicitly): PostgreSQL checks EXECUTE at every
-- executor start of a plan that calls it, and reads a default (null) ACL
-- without walking the pg_proc row to its last column, about 1,000
-- instructions per execution less.  (Default privileges that revoke
-- EXECUTE from PUBLIC would make the statements on distributed protected
-- tables fail, not read more.)
