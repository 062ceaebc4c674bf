-- The guard policy pg_rollout_loaded and name games by a table's owner
-- (red team, second pass).  The name is reserved on a protected relation:
-- creating, dropping, altering or renaming it was refused, but renaming
-- another policy TO it was not.  A restrictive USING (true) of the owner's,
-- renamed pg_rollout_loaded, stood in for the guard: a permissive policy
-- created afterwards got no guard (the relation "had" one), and without the
-- library the table showed every tenant's rows that policy allows.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP TABLE IF EXISTS ln_orders, ln_parts, ln_free;
DROP ROLE IF EXISTS regress_ln_owner;
RESET client_min_messages;
CREATE ROLE regress_ln_owner IN ROLE rollout_admin;
GRANT CREATE ON SCHEMA public TO regress_ln_owner;

CREATE FUNCTION pg_temp.refusal(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'not refused';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.policies(rel regclass) RETURNS TABLE (polname name, permissive boolean, qual text)
LANGUAGE sql AS $$
    SELECT p.polname, p.polpermissive, pg_get_expr(p.polqual, p.polrelid)
      FROM pg_policy p WHERE p.polrelid = rel ORDER BY 1
$$;

SET ROLE regress_ln_owner;
CREATE TABLE ln_orders (id int, tenant_id text);
SELECT rollout.protect_table('ln_orders', 'tenant_id');
-- no permissive policy of its own: no guard
SELECT * FROM pg_temp.policies('ln_orders');

-- 1. a policy renamed to the guard's name: refused (42939)
CREATE POLICY stand_in ON ln_orders AS RESTRICTIVE USING (true);
SELECT pg_temp.refusal('ALTER POLICY stand_in ON ln_orders RENAME TO pg_rollout_loaded');
SELECT pg_temp.refusal('ALTER POLICY stand_in ON public.ln_orders RENAME TO pg_rollout_loaded');
-- a permissive policy created afterwards gets the real guard
CREATE POLICY everyone ON ln_orders USING (true);
SELECT * FROM pg_temp.policies('ln_orders');
-- renaming the guard, or another policy to its name, still refused
SELECT pg_temp.refusal('ALTER POLICY pg_rollout_loaded ON ln_orders RENAME TO gone');
DROP POLICY stand_in ON ln_orders;
SELECT pg_temp.refusal('ALTER POLICY everyone ON ln_orders RENAME TO pg_rollout_loaded');
-- other names are the owner's
ALTER POLICY everyone ON ln_orders RENAME TO all_rows;
SELECT * FROM pg_temp.policies('ln_orders');

-- 2. on a partition of a protected table (protected with it)
CREATE TABLE ln_parts (id int, tenant_id text) PARTITION BY LIST (tenant_id);
CREATE TABLE ln_parts_acme PARTITION OF ln_parts FOR VALUES IN ('acme');
SELECT rollout.protect_table('ln_parts', 'tenant_id');
CREATE TABLE ln_parts_globex PARTITION OF ln_parts FOR VALUES IN ('globex');
CREATE POLICY stand_in ON ln_parts_globex AS RESTRICTIVE USING (true);
SELECT pg_temp.refusal('ALTER POLICY stand_in ON ln_parts_globex RENAME TO pg_rollout_loaded');
CREATE POLICY everyone ON ln_parts_globex USING (true);
SELECT * FROM pg_temp.policies('ln_parts_globex');

-- 3. a table that is not protected: the name is free
CREATE TABLE ln_free (id int);
CREATE POLICY stand_in ON ln_free AS RESTRICTIVE USING (true);
SELECT pg_temp.refusal('ALTER POLICY stand_in ON ln_free RENAME TO pg_rollout_loaded');
-- protected afterwards: the stand-in is replaced by the real guard once a permissive policy exists
CREATE POLICY everyone ON ln_free USING (true);
ALTER TABLE ln_free ADD COLUMN tenant_id text;
SELECT rollout.protect_table('ln_free', 'tenant_id');
SELECT * FROM pg_temp.policies('ln_free');

-- 4. a superuser may rename to the name
RESET ROLE;
ALTER POLICY stand_in ON ln_parts_globex RENAME TO lost;
DROP POLICY pg_rollout_loaded ON ln_parts_globex;
ALTER POLICY lost ON ln_parts_globex RENAME TO pg_rollout_loaded;
SELECT * FROM pg_temp.policies('ln_parts_globex');

-- 5. a CREATE POLICY that makes the guard (USING and WITH CHECK a call of
-- _library_loaded()) is restrictive even when it does not say so: Citus
-- re-creates a table's policies on its shards without AS RESTRICTIVE
CREATE TABLE ln_copy (id int);
CREATE POLICY pg_rollout_loaded ON ln_copy FOR ALL TO PUBLIC
    USING (rollout._library_loaded()) WITH CHECK (rollout._library_loaded());
CREATE POLICY other ON ln_copy USING (rollout._library_loaded());
SELECT polname, polpermissive FROM pg_policy WHERE polrelid = 'ln_copy'::regclass ORDER BY polname;
DROP TABLE ln_copy;

DROP TABLE ln_orders, ln_parts, ln_free;
REVOKE CREATE ON SCHEMA public FROM regress_ln_owner;
DROP ROLE regress_ln_owner;
