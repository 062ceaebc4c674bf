-- The SQLSTATE and message of this session's new refusals that a
-- regression test can reach (the third, 55000 "pg_rollout is not loaded",
-- needs a server without the library: test/t/029_not_preloaded_protected.pl):
--   * request_exemption at REPEATABLE READ (25000): its snapshot could miss
--     an overlapping exemption requested concurrently (spec exemption_overlap);
--   * CREATE POLICY pg_rollout_loaded by a table's owner on a protected
--     table (42939): the name is pg_rollout's; on a table that is not
--     protected the name is free.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP TABLE IF EXISTS se_orders, se_free;
DROP ROLE IF EXISTS regress_se_owner;
RESET client_min_messages;
SET pg_rollout.actor = 'alice';
CREATE ROLE regress_se_owner IN ROLE rollout_admin;
GRANT CREATE ON SCHEMA public TO regress_se_owner;

CREATE FUNCTION pg_temp.refusal(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'not refused';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT (rollout.create_tenant('acme', kind => 'organisation')).tenant_id;
SELECT (rollout.create_component('agent', 'plugin')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('agent', '1.0.0', 'published')) v;

-- 1. request_exemption at REPEATABLE READ: refused, nothing written
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.refusal($$SELECT rollout.request_exemption('acme', 'agent', '[1.0.0,2.0.0)', 'waiver', 'legacy',
                                                          now() + interval '30 days')$$);
COMMIT;
SELECT count(*) AS exemptions FROM rollout.exemption;
-- at READ COMMITTED and SERIALIZABLE it runs
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT tenant_id FROM rollout.request_exemption('acme', 'agent', '[1.0.0,2.0.0)', 'waiver', 'legacy',
                                                now() + interval '30 days');
COMMIT;

-- 2. the policy name pg_rollout_loaded on a protected table
SET ROLE regress_se_owner;
CREATE TABLE se_orders (id int, tenant_id text);
ALTER TABLE se_orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON se_orders USING (true);
SELECT rollout.protect_table('se_orders', 'tenant_id');
SELECT polname, polpermissive, pg_get_expr(polqual, polrelid) AS qual
  FROM pg_policy WHERE polrelid = 'se_orders'::regclass ORDER BY polname;
-- its copy (what a restore sends): nothing happens
CREATE POLICY pg_rollout_loaded ON se_orders AS RESTRICTIVE USING (true);
SELECT pg_get_expr(polqual, polrelid) AS qual FROM pg_policy
 WHERE polrelid = 'se_orders'::regclass AND polname = 'pg_rollout_loaded';
-- dropping it, or creating it on a protected table without it: refused
SELECT pg_temp.refusal('DROP POLICY pg_rollout_loaded ON se_orders');
DROP POLICY everyone ON se_orders;
RESET ROLE;
DROP POLICY pg_rollout_loaded ON se_orders;   -- a superuser may
SET ROLE regress_se_owner;
SELECT pg_temp.refusal('CREATE POLICY pg_rollout_loaded ON se_orders AS RESTRICTIVE USING (true)');
-- a table that is not protected: the name is free
CREATE TABLE se_free (id int);
SELECT pg_temp.refusal('CREATE POLICY pg_rollout_loaded ON se_free USING (true)');
RESET ROLE;
DROP TABLE se_orders, se_free;
REVOKE CREATE ON SCHEMA public FROM regress_se_owner;
DROP ROLE regress_se_owner;
