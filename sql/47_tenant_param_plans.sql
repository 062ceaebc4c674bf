-- The tenant as an executor parameter in kept plans (issue 11): a plan
-- the plan cache keeps and that runs to completion (generic plans of
-- PREPARE, PL/pgSQL's and SQL functions' statements) reads the tenant from
-- a PARAM_EXEC slot (EXPLAIN: $n) that pg_rollout's ExecutorStart hook
-- fills at every execution, instead of calling rollout._tenant_for().
-- Parallel parts of a plan, DECLARE'd cursors and PL/pgSQL FOR loops keep
-- the call.  Whatever the path, every statement below reads exactly the
-- current tenant's rows after a switch.
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
\set VERBOSITY terse
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_param_app;
RESET client_min_messages;
SELECT count(*) FROM (SELECT rollout.create_tenant(t) FROM unnest(ARRAY['acme', 'globex', 'initech']) t) x;
CREATE ROLE regress_param_app IN ROLE rollout_app;
CREATE TABLE param_orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount int NOT NULL);
CREATE INDEX ON param_orders (tenant_id);
INSERT INTO param_orders
SELECT g, (ARRAY['acme', 'globex', 'initech'])[g % 3 + 1], g FROM generate_series(1, 30) g;
-- a bigger one, for parallel plans
CREATE TABLE param_big (id int PRIMARY KEY, tenant_id text NOT NULL, amount int NOT NULL);
INSERT INTO param_big
SELECT g, (ARRAY['acme', 'globex', 'initech'])[g % 3 + 1], 1 FROM generate_series(1, 30000) g;
-- partitioned by tenant
CREATE TABLE param_parted (id int, tenant_id text NOT NULL, amount int NOT NULL) PARTITION BY LIST (tenant_id);
CREATE TABLE param_parted_acme PARTITION OF param_parted FOR VALUES IN ('acme');
CREATE TABLE param_parted_rest PARTITION OF param_parted DEFAULT;
INSERT INTO param_parted SELECT * FROM param_orders;
ANALYZE param_orders, param_big, param_parted;
GRANT SELECT, INSERT, UPDATE, DELETE ON param_orders, param_big, param_parted TO regress_param_app;
SELECT rollout.protect_table('param_orders', 'tenant_id', 'critical');
SELECT rollout.protect_table('param_big', 'tenant_id', 'critical');
SELECT rollout.protect_table('param_parted', 'tenant_id', 'critical');
SET pg_rollout.enforcement_mode = 'enforce';

-- plans as EXPLAIN shows them, the oid of the call masked (the tenant's
-- slot is $0 here: the plans have no other executor parameter)
RESET ROLE;
CREATE FUNCTION param_explain(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        RETURN NEXT regexp_replace(l, '''\d+''::oid', '''<oid>''::oid');
    END LOOP;
END;
$$;
GRANT EXECUTE ON FUNCTION param_explain(text) TO regress_param_app;
SET ROLE regress_param_app;

-- a generic plan reads the parameter; a custom plan carries the tenant
SELECT rollout.set_tenant('acme', local => false);
SET plan_cache_mode = force_generic_plan;
PREPARE gen_one(int) AS SELECT amount, tenant_id FROM param_orders WHERE id = $1;
PREPARE gen_all AS SELECT count(*), min(tenant_id), max(tenant_id) FROM param_orders;
SELECT * FROM param_explain('EXECUTE gen_one(3)');
SET plan_cache_mode = force_custom_plan;
PREPARE cus_one(int) AS SELECT amount, tenant_id FROM param_orders WHERE id = $1;
SELECT * FROM param_explain('EXECUTE cus_one(3)');

-- generic plans across tenant switches
SET plan_cache_mode = force_generic_plan;
EXECUTE gen_one(3);
EXECUTE gen_one(4);   -- globex's row: nothing
EXECUTE gen_all;
SELECT rollout.set_tenant('globex', local => false);
EXECUTE gen_one(3);
EXECUTE gen_one(4);
EXECUTE gen_all;
BEGIN;
SELECT rollout.set_tenant('initech');
EXECUTE gen_all;
EXECUTE gen_one(5);
ROLLBACK;
EXECUTE gen_all;      -- globex again
-- the plan cache's own choice: five custom plans, then the generic one
RESET plan_cache_mode;
PREPARE auto_one(int) AS SELECT tenant_id FROM param_orders WHERE id = $1;
SELECT rollout.set_tenant('initech', local => false);
EXECUTE auto_one(2); EXECUTE auto_one(5); EXECUTE auto_one(8); EXECUTE auto_one(2); EXECUTE auto_one(5); EXECUTE auto_one(8); EXECUTE auto_one(2);
SELECT rollout.set_tenant('acme', local => false);
EXECUTE auto_one(2); EXECUTE auto_one(3); EXECUTE auto_one(6);
SET plan_cache_mode = force_generic_plan;

-- writes through generic plans: the WITH CHECK reads the parameter too
PREPARE gen_ins(int, text) AS INSERT INTO param_orders VALUES ($1, $2, 1);
PREPARE gen_upd(int) AS UPDATE param_orders SET amount = amount + 1 WHERE id = $1 RETURNING id, tenant_id, amount;
PREPARE gen_move(int, text) AS UPDATE param_orders SET tenant_id = $2 WHERE id = $1;
PREPARE gen_del(int) AS DELETE FROM param_orders WHERE id = $1 RETURNING id, tenant_id;
EXECUTE gen_ins(100, 'acme');
EXECUTE gen_ins(101, 'globex');    -- refused: another tenant's row
SELECT rollout.set_tenant('globex', local => false);
EXECUTE gen_ins(101, 'globex');
EXECUTE gen_ins(102, 'acme');      -- refused
EXECUTE gen_upd(100);              -- acme's row: nothing
EXECUTE gen_upd(101);
EXECUTE gen_move(101, 'acme');     -- refused: moved to another tenant
EXECUTE gen_del(100);              -- nothing
EXECUTE gen_del(101);
SELECT rollout.set_tenant('acme', local => false);
EXECUTE gen_del(101);              -- gone
EXECUTE gen_del(100);

-- no tenant context: a generic plan is refused
SELECT rollout.reset_tenant();
EXECUTE gen_all;
EXECUTE gen_one(3);
SELECT rollout.set_tenant('acme', local => false);
EXECUTE gen_one(3);

-- partitioned by tenant: pruning and the filter follow the tenant
PREPARE gen_parted AS SELECT count(*), min(tenant_id), max(tenant_id) FROM param_parted;
EXECUTE gen_parted;
SELECT rollout.set_tenant('initech', local => false);
EXECUTE gen_parted;
SELECT rollout.set_tenant('acme', local => false);
EXECUTE gen_parted;

-- PL/pgSQL keeps its plans: one function, every tenant in turn (SELECT
-- INTO: the parameter; a FOR loop over a query, run as a cursor: the call)
RESET ROLE;
CREATE FUNCTION param_per_tenant() RETURNS TABLE (tenant text, n bigint, lo text, hi text, one text, looped text)
LANGUAGE plpgsql AS $$
DECLARE
    t text;
    r record;
BEGIN
    FOREACH t IN ARRAY ARRAY['acme', 'globex', 'initech', 'globex', 'acme'] LOOP
        PERFORM rollout.set_tenant(t);
        tenant := t;
        SELECT count(*), min(c.tenant_id), max(c.tenant_id) INTO n, lo, hi FROM param_orders c;
        SELECT c.tenant_id INTO one FROM param_orders c WHERE c.id = 7;
        looped := '';
        FOR r IN SELECT c.id, c.tenant_id FROM param_orders c WHERE c.id < 10 ORDER BY c.id LOOP
            looped := looped || r.id || ':' || r.tenant_id || ' ';
        END LOOP;
        RETURN NEXT;
    END LOOP;
END;
$$;
-- a SQL function plans its statements before it runs the first one
CREATE FUNCTION param_sql_switch(t text) RETURNS TABLE (n bigint, lo text, hi text)
LANGUAGE sql AS $$
    SELECT rollout.set_tenant(t);
    SELECT count(*), min(tenant_id), max(tenant_id) FROM param_orders;
$$;
-- a set-returning SQL function in the select list runs its query one row
-- per fetch (ExecutorRun): each fetch reads the tenant current at that fetch
CREATE FUNCTION param_lazy() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT id || ':' || tenant_id FROM param_orders
$$;
-- nested: a function that switches the tenant and reads, called from a statement reading the table
CREATE FUNCTION param_nested(t text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    seen text;
BEGIN
    PERFORM rollout.set_tenant(t);
    SELECT string_agg(DISTINCT tenant_id, ',') INTO seen FROM param_orders;
    RETURN seen;
END;
$$;
GRANT EXECUTE ON FUNCTION param_per_tenant(), param_sql_switch(text), param_nested(text), param_lazy() TO regress_param_app;
SET ROLE regress_param_app;
BEGIN;
SELECT * FROM param_per_tenant();
SELECT * FROM param_per_tenant();
COMMIT;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT * FROM param_sql_switch('globex');
SELECT * FROM param_sql_switch('initech');
ROLLBACK;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT param_lazy() AS row_read,
       rollout.set_tenant(CASE rollout.current_tenant() WHEN 'acme' THEN 'globex' ELSE 'acme' END) AS next_fetch_for
 LIMIT 6;
ROLLBACK;
-- the outer statement reads the tenant it started with; each nested statement the one set for it
BEGIN;
SELECT rollout.set_tenant('acme');
PREPARE gen_nested AS
SELECT id, tenant_id, param_nested(CASE WHEN id % 2 = 0 THEN 'globex' ELSE 'initech' END) AS inner_read
  FROM param_orders WHERE id < 10 ORDER BY id;
EXECUTE gen_nested;
SELECT rollout.current_tenant();
SELECT rollout.set_tenant('acme');
EXECUTE gen_nested;
ROLLBACK;

-- a cursor keeps the call: a row fetched after a switch is the new tenant's
BEGIN;
SELECT rollout.set_tenant('acme');
DECLARE c CURSOR FOR SELECT tenant_id FROM param_orders ORDER BY id;
FETCH 1 FROM c;
SELECT rollout.set_tenant('globex');
FETCH 1 FROM c;
FETCH 1 FROM c;
COMMIT;
-- a cursor WITH HOLD on an enforced table is refused, as before
BEGIN;
SELECT rollout.set_tenant('acme');
DECLARE h CURSOR WITH HOLD FOR SELECT tenant_id FROM param_orders;
ROLLBACK;

-- a call written by hand stays a call: in a PL/pgSQL simple expression
-- (evaluated from its plan without the executor hooks) and in a query
SELECT rollout.current_tenant();
DO $$ BEGIN RAISE NOTICE 'simple expression: %', rollout._tenant_for('param_orders'::regclass); END $$;
DO $$ BEGIN IF rollout._tenant_for('param_orders'::regclass) = 'acme' THEN RAISE NOTICE 'condition: acme'; END IF; END $$;
PREPARE gen_hand AS SELECT rollout._tenant_for('param_orders'::regclass) AS t, count(*) FROM param_orders;
EXECUTE gen_hand;
SELECT rollout.set_tenant('globex', local => false);
EXECUTE gen_hand;
DO $$ BEGIN RAISE NOTICE 'simple expression: %', rollout._tenant_for('param_orders'::regclass); END $$;
SELECT rollout.set_tenant('acme', local => false);

-- parallel plans: the part below Gather keeps the call (workers read the
-- tenant from the GUC they get from the leader)
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT rollout.set_tenant('acme', local => false);
PREPARE gen_big AS SELECT count(*), min(tenant_id), max(tenant_id), sum(amount) FROM param_big;
SELECT * FROM param_explain('EXECUTE gen_big');
EXECUTE gen_big;
SELECT rollout.set_tenant('initech', local => false);
EXECUTE gen_big;
SET force_parallel_mode = on;
PREPARE gen_forced(int) AS SELECT id, tenant_id FROM param_big WHERE id = $1;
SELECT * FROM param_explain('EXECUTE gen_forced(3)');
EXECUTE gen_forced(3);
EXECUTE gen_forced(2);
SELECT rollout.set_tenant('acme', local => false);
EXECUTE gen_forced(3);
EXECUTE gen_forced(2);
RESET force_parallel_mode;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

DEALLOCATE ALL;
RESET plan_cache_mode;
RESET ROLE;
DROP FUNCTION param_per_tenant();
DROP FUNCTION param_sql_switch(text);
DROP FUNCTION param_nested(text);
DROP FUNCTION param_lazy();
DROP FUNCTION param_explain(text);
DROP TABLE param_orders, param_big, param_parted;
DROP ROLE regress_param_app;
RESET pg_rollout.enforcement_mode;
