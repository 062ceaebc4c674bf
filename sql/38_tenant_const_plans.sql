-- The tenant as a constant in plans executed once (issue 11): a
-- simple-protocol statement and a custom plan carry the current tenant as
-- a Const instead of calling rollout._tenant_for() (its support function
-- folds the call while the planner hook allows it); a plan the plan cache
-- keeps (generic plans of PREPARE, PL/pgSQL and SQL functions) calls the
-- function.  Whatever the path, no plan is ever run for a tenant other
-- than the current one: every statement below reads exactly the current
-- tenant's rows after a switch.  (That simple-protocol plans do carry the
-- constant is checked in test/t/024_tenant_const_plans.pl, from the plans
-- auto_explain logs.)
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
\set VERBOSITY terse
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_const_app;
RESET client_min_messages;
SELECT count(*) FROM (SELECT rollout.create_tenant(t) FROM unnest(ARRAY['acme', 'globex', 'initech']) t) x;
CREATE ROLE regress_const_app IN ROLE rollout_app;
CREATE TABLE const_orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount int NOT NULL);
CREATE INDEX ON const_orders (tenant_id);
INSERT INTO const_orders
SELECT g, (ARRAY['acme', 'globex', 'initech'])[g % 3 + 1], g FROM generate_series(1, 30) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON const_orders TO regress_const_app;
SELECT rollout.protect_table('const_orders', 'tenant_id', 'critical');
SET pg_rollout.enforcement_mode = 'enforce';
SET ROLE regress_const_app;

-- the support function is internal: nobody but the planner calls it
SELECT has_function_privilege('rollout._tenant_for_support(internal)', 'EXECUTE');

-- simple protocol: each statement is planned for the tenant of the moment
SELECT rollout.set_tenant('acme', local => false);
SELECT count(*), min(tenant_id), max(tenant_id) FROM const_orders;
SELECT amount, tenant_id FROM const_orders WHERE id = 3;
SELECT amount, tenant_id FROM const_orders WHERE id = 4;   -- globex's row: nothing
SELECT rollout.set_tenant('globex', local => false);
SELECT count(*), min(tenant_id), max(tenant_id) FROM const_orders;
SELECT amount, tenant_id FROM const_orders WHERE id = 4;
-- several statements in one query string: each is planned when it is reached
SELECT rollout.set_tenant('initech', local => false) \; SELECT count(*), min(tenant_id), max(tenant_id) FROM const_orders;
-- a statement that switches the tenant itself reads the tenant it was planned and started with
SELECT rollout.set_tenant('globex', local => false) AS switched_to, (SELECT min(tenant_id) FROM const_orders) AS read;
SELECT min(tenant_id), max(tenant_id) FROM const_orders;
SELECT rollout.set_tenant('initech', local => false);
-- writes: the WITH CHECK qual carries the tenant too
INSERT INTO const_orders VALUES (100, 'initech', 1);
INSERT INTO const_orders VALUES (101, 'acme', 1);           -- refused: another tenant's row
UPDATE const_orders SET tenant_id = 'acme' WHERE id = 100;  -- refused: moved to another tenant
UPDATE const_orders SET amount = amount + 1 WHERE id IN (100, 3) RETURNING id, tenant_id, amount;
DELETE FROM const_orders WHERE id IN (100, 3) RETURNING id, tenant_id;

-- PREPARE / EXECUTE, generic and custom plans, across tenant switches
SET plan_cache_mode = force_generic_plan;
PREPARE gen_all AS SELECT count(*), min(tenant_id), max(tenant_id) FROM const_orders;
PREPARE gen_one(int) AS SELECT amount, tenant_id FROM const_orders WHERE id = $1;
SELECT rollout.set_tenant('acme', local => false);
EXECUTE gen_all;
EXECUTE gen_one(3);
SELECT rollout.set_tenant('globex', local => false);
EXECUTE gen_all;
EXECUTE gen_one(3);
EXECUTE gen_one(4);
SET plan_cache_mode = force_custom_plan;
PREPARE cus_one(int) AS SELECT amount, tenant_id FROM const_orders WHERE id = $1;
EXECUTE cus_one(4);
SELECT rollout.set_tenant('acme', local => false);
EXECUTE cus_one(4);
EXECUTE cus_one(3);
EXECUTE gen_all;
RESET plan_cache_mode;
-- the plan cache's own choice (five custom plans, then a generic one)
PREPARE auto_one(int) AS SELECT tenant_id FROM const_orders WHERE id = $1;
SELECT rollout.set_tenant('initech', local => false);
SELECT string_agg(x, ',') FROM (SELECT (SELECT tenant_id FROM const_orders WHERE id = g) x FROM generate_series(1, 9) g) s;
EXECUTE auto_one(2); EXECUTE auto_one(5); EXECUTE auto_one(8); EXECUTE auto_one(2); EXECUTE auto_one(5); EXECUTE auto_one(8);
SELECT rollout.set_tenant('globex', local => false);
EXECUTE auto_one(2); EXECUTE auto_one(4); EXECUTE auto_one(7);
DEALLOCATE ALL;

-- transaction-level contexts, one tenant per transaction
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT count(*), min(tenant_id), max(tenant_id) FROM const_orders;
COMMIT;
BEGIN;
SELECT rollout.set_tenant('globex');
SELECT count(*), min(tenant_id), max(tenant_id) FROM const_orders;
SELECT rollout.set_tenant('initech');
SELECT count(*), min(tenant_id), max(tenant_id) FROM const_orders;
ROLLBACK;
SELECT rollout.current_tenant();   -- the session-level context again
SELECT count(*), min(tenant_id), max(tenant_id) FROM const_orders;

-- PL/pgSQL keeps its plans: one function, every tenant in turn
RESET ROLE;
CREATE FUNCTION const_per_tenant(plain boolean) RETURNS TABLE (tenant text, n bigint, lo text, hi text, one text)
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['acme', 'globex', 'initech', 'globex', 'acme'] LOOP
        PERFORM rollout.set_tenant(t);
        tenant := t;
        SELECT count(*), min(c.tenant_id), max(c.tenant_id) INTO n, lo, hi FROM const_orders c;
        IF plain THEN
            SELECT c.tenant_id INTO one FROM const_orders c WHERE c.id = 7;
        ELSE
            EXECUTE 'SELECT c.tenant_id FROM const_orders c WHERE c.id = $1' INTO one USING 7;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;
-- a SQL function plans its statements before it runs the first one
CREATE FUNCTION const_sql_switch(t text) RETURNS TABLE (n bigint, lo text, hi text)
LANGUAGE sql AS $$
    SELECT rollout.set_tenant(t);
    SELECT count(*), min(tenant_id), max(tenant_id) FROM const_orders;
$$;
GRANT EXECUTE ON FUNCTION const_per_tenant(boolean), const_sql_switch(text) TO regress_const_app;
SET ROLE regress_const_app;
BEGIN;
SELECT * FROM const_per_tenant(true);
SELECT * FROM const_per_tenant(false);
COMMIT;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT * FROM const_sql_switch('globex');
SELECT * FROM const_sql_switch('initech');
ROLLBACK;

-- a cursor is planned by DECLARE, a utility statement: its plan calls the
-- function, as before (a row fetched after a switch is the new tenant's)
BEGIN;
SELECT rollout.set_tenant('acme');
DECLARE c CURSOR FOR SELECT tenant_id FROM const_orders ORDER BY id;
FETCH 1 FROM c;
SELECT rollout.set_tenant('globex');
FETCH 1 FROM c;
SELECT count(*), min(tenant_id), max(tenant_id) FROM const_orders;
COMMIT;

-- EXPLAIN plans through a utility statement: not a plan executed once,
-- so no constant; the plan reads the tenant from an executor parameter
-- ($0), which the ExecutorStart hook fills (sql/47_tenant_param_plans.sql)
RESET ROLE;
CREATE FUNCTION const_explain(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        RETURN NEXT regexp_replace(l, '''\d+''::oid', '''<oid>''::oid');
    END LOOP;
END;
$$;
SET ROLE regress_const_app;
SELECT rollout.set_tenant('acme', local => false);
SELECT * FROM const_explain('SELECT amount FROM const_orders WHERE id = 3');

-- without tenant context the plan keeps the call (and the statement is refused)
SELECT rollout.reset_tenant();
SELECT count(*) FROM const_orders;

RESET ROLE;
DROP FUNCTION const_per_tenant(boolean);
DROP FUNCTION const_sql_switch(text);
DROP FUNCTION const_explain(text);
DROP TABLE const_orders;
DROP ROLE regress_const_app;
RESET pg_rollout.enforcement_mode;
