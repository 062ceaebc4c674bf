-- Tenant isolation: seed 001's phases (log_only -> selective -> enforce ->
-- instant roll back to log_only by a GUC change), tenant context, and the
-- leak matrix: every path by which tenant A might read or change tenant B's
-- rows must fail.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_owner;
DROP ROLE IF EXISTS regress_app;
DROP ROLE IF EXISTS regress_ops;
RESET client_min_messages;
SET pg_rollout.actor = 'dba@acme.com';
-- the rows EXPLAIN ANALYZE reports for the top plan node
CREATE FUNCTION explain_rows(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
        RETURN (regexp_match(l, 'actual rows=(\d+)'))[1]::int;
    END LOOP;
END
$$;
SELECT count(*) FROM (SELECT rollout.create_tenant(t, kind => 'organisation') FROM unnest(ARRAY['acme', 'globex']) t) x;
SELECT count(*) FROM (SELECT rollout.create_tenant('acme-eu', parent_id => 'acme', kind => 'team')) x;
SELECT count(*) FROM (SELECT rollout.create_tenant('initech', kind => 'organisation')) x;
SELECT status FROM rollout.suspend_tenant('initech', 'unpaid');

CREATE ROLE regress_owner;
CREATE ROLE regress_app LOGIN IN ROLE rollout_app;
CREATE ROLE regress_ops LOGIN IN ROLE rollout_bypass;
GRANT rollout_admin TO regress_owner;
GRANT CREATE ON SCHEMA public TO regress_owner;
SET ROLE regress_owner;
CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount numeric NOT NULL);
CREATE INDEX orders_tenant_idx ON orders (tenant_id);
CREATE TABLE invoices (id int PRIMARY KEY, tenant_id varchar(63) NOT NULL, order_id int, total numeric);
CREATE TABLE notes (id int, tenant_id text, body text);       -- never protected
INSERT INTO orders SELECT g, (ARRAY['acme', 'globex', 'acme-eu'])[g % 3 + 1], g * 10 FROM generate_series(1, 12) g;
INSERT INTO invoices SELECT g, (ARRAY['acme', 'globex', 'acme-eu'])[g % 3 + 1], g, g * 11 FROM generate_series(1, 6) g;
INSERT INTO notes VALUES (1, 'acme', 'a'), (2, 'globex', 'g');
GRANT SELECT, INSERT, UPDATE, DELETE ON orders, invoices, notes TO regress_app;
SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
SELECT rollout.protect_table('invoices', 'tenant_id', 'medium');
RESET ROLE;
SELECT tbl, tenant_column, severity, include_descendants, row_security, forced FROM rollout.protected_tables ORDER BY tbl::text;

-- Errors of registration.
SELECT rollout.protect_table('orders', 'no_such_column');
SELECT rollout.protect_table('orders', 'amount');
SELECT rollout.protect_table('orders', 'tenant_id', 'urgent');
SELECT rollout.protect_table('rollout.tenant', 'tenant_id');
SELECT rollout.protect_table('rollout.tenant_tree', 'tenant_id');
SELECT rollout.unprotect_table('notes');
SET ROLE regress_app;
SELECT rollout.protect_table('notes', 'tenant_id');
RESET ROLE;

-- Tenant context.
SET ROLE regress_app;
SELECT rollout.current_tenant() IS NULL AS no_context;
SELECT rollout.set_tenant('nobody');
SELECT rollout.set_tenant('initech');
SELECT rollout.set_tenant(NULL);
SET pg_rollout.tenant = 'globex';
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT rollout.current_tenant();
COMMIT;
SELECT rollout.current_tenant() IS NULL AS cleared_at_commit;
SELECT rollout.set_tenant('acme', local => false);
SELECT rollout.current_tenant() AS session_tenant;
SELECT rollout.reset_tenant();
RESET ROLE;

-- =====================================================================
-- Phase 1: log_only. Nothing is blocked; statements without tenant
-- context are counted, once per table and statement (these also lack a
-- tenant predicate: still one event, missing_tenant_context).
-- =====================================================================
SELECT rollout.reset_violation_counts();
SET pg_rollout.enforcement_mode = 'log_only';
SET ROLE regress_app;
SELECT count(*) FROM orders;
SELECT count(*) FROM invoices;
UPDATE orders SET amount = amount WHERE id = 1;
SELECT count(*) FROM notes;
RESET ROLE;
SELECT tbl, kind, command, severity, enforced, count FROM rollout.violations ORDER BY tbl::text, command, kind;

-- Detection: with tenant context but without its own tenant predicate, a
-- read would see every tenant's rows while row security is off.
SELECT rollout.reset_violation_counts();
SET ROLE regress_app;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT count(*) FROM orders WHERE tenant_id = 'acme';
SELECT count(*) FROM orders WHERE id > 3;
SELECT count(*) FROM orders o JOIN invoices i ON i.order_id = o.id WHERE o.tenant_id = 'acme';
SELECT count(*) FROM orders WHERE tenant_id IN ('acme', 'acme-eu');
COMMIT;
RESET ROLE;
SELECT tbl, kind, command, count FROM rollout.violations WHERE count > 0 ORDER BY tbl::text, kind;
SELECT query FROM rollout.recent_violation_log WHERE kind = 'missing_tenant_predicate' ORDER BY at DESC LIMIT 2;

-- =====================================================================
-- Phase 2: selective. Critical tables are enforced, the others logged.
-- =====================================================================
SET pg_rollout.enforcement_mode = 'selective';
SET ROLE regress_app;
SELECT count(*) FROM orders;
SELECT count(*) FROM invoices;
RESET ROLE;
-- a table can be put on the enforce list, or kept on the log list
SET pg_rollout.enforce_tables = 'public.invoices';
SET ROLE regress_app;
SELECT count(*) FROM invoices;
RESET ROLE;
SET pg_rollout.log_tables = 'orders';
SET ROLE regress_app;
SELECT count(*) FROM orders;
RESET ROLE;
RESET pg_rollout.enforce_tables;
RESET pg_rollout.log_tables;
SET pg_rollout.enforce_tables = 'not a list,,';

-- =====================================================================
-- Phase 3: enforce. Every protected table; each tenant sees its own rows.
-- =====================================================================
SET pg_rollout.enforcement_mode = 'enforce';
SET ROLE regress_app;
SELECT count(*) FROM orders;
\set VERBOSITY default
SELECT count(*) FROM invoices;
\set VERBOSITY terse
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT tenant_id, count(*), sum(amount) FROM orders GROUP BY 1;
SELECT tenant_id, count(*) FROM invoices GROUP BY 1;
SELECT count(*) FROM notes;                               -- not protected: unchanged
COMMIT;
RESET ROLE;
SELECT kind, command, enforced, count FROM rollout.violations WHERE enforced ORDER BY 1, 2;
SELECT tbl, kind, command, refused, role_name, query FROM rollout.recent_violation_log WHERE refused ORDER BY at;

-- =====================================================================
-- Roll back to log_only: one GUC change, the next statement, no restart.
-- =====================================================================
SET ROLE regress_app;
PREPARE all_orders AS SELECT count(*) FROM orders;
BEGIN;
SELECT rollout.set_tenant('acme');
EXECUTE all_orders;
COMMIT;
RESET ROLE;
SET pg_rollout.enforcement_mode = 'log_only';
SET ROLE regress_app;
BEGIN;
SELECT rollout.set_tenant('acme');
EXECUTE all_orders;                                       -- the cached plan lost its filter
COMMIT;
RESET ROLE;
SET pg_rollout.enforcement_mode = 'enforce';
SET ROLE regress_app;
BEGIN;
SELECT rollout.set_tenant('acme');
EXECUTE all_orders;                                       -- and got it back
COMMIT;
DEALLOCATE all_orders;
RESET ROLE;

-- =====================================================================
-- The leak matrix (enforce mode, tenant acme; globex owns ids 1, 4, 7, 10)
-- =====================================================================
SET ROLE regress_owner;
CREATE VIEW orders_owner_view AS SELECT * FROM orders;
CREATE VIEW orders_invoker_view WITH (security_invoker = true) AS SELECT * FROM orders;
CREATE FUNCTION orders_definer() RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = public AS
    'SELECT count(*) FROM orders';
CREATE FUNCTION leak(t text, a numeric) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS
    $$ BEGIN RAISE NOTICE 'saw % %', t, a; RETURN true; END $$;
GRANT SELECT ON orders_owner_view, orders_invoker_view TO regress_app;
-- partitions and inheritance children
CREATE TABLE events (id int, tenant_id text NOT NULL, kind text) PARTITION BY LIST (kind);
CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a');
CREATE TABLE events_b PARTITION OF events FOR VALUES IN ('b');
INSERT INTO events SELECT g, (ARRAY['acme', 'globex'])[g % 2 + 1], (ARRAY['a', 'b'])[g % 2 + 1] FROM generate_series(1, 8) g;
CREATE TABLE base_docs (id int, tenant_id text NOT NULL);
CREATE TABLE sub_docs (extra text) INHERITS (base_docs);
INSERT INTO base_docs VALUES (1, 'acme'), (2, 'globex');
INSERT INTO sub_docs VALUES (3, 'acme', 'x'), (4, 'globex', 'y');
GRANT SELECT, INSERT ON events, events_a, events_b, base_docs, sub_docs TO regress_app;
SELECT rollout.protect_table('events', 'tenant_id', 'high');
SELECT rollout.protect_table('base_docs', 'tenant_id', 'high');
RESET ROLE;
SELECT tbl, row_security, forced, children FROM rollout.protected_tables WHERE tbl::text IN ('events', 'base_docs') ORDER BY 1;
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE relname IN ('events_a', 'events_b', 'sub_docs') ORDER BY 1;

SET ROLE regress_app;
BEGIN;
SELECT rollout.set_tenant('acme');
-- SELECT, joins, subqueries, CTEs
SELECT count(*) FROM orders WHERE tenant_id = 'globex';
SELECT count(*) FROM orders o JOIN invoices i ON i.order_id = o.id;
SELECT count(*) FROM orders WHERE id IN (SELECT id FROM orders WHERE tenant_id <> 'acme');
WITH x AS (SELECT * FROM orders) SELECT count(*) FROM x WHERE tenant_id = 'globex';
-- views owned by the table owner, security_invoker views, SECURITY DEFINER functions
SELECT tenant_id, count(*) FROM orders_owner_view GROUP BY 1;
SELECT tenant_id, count(*) FROM orders_invoker_view GROUP BY 1;
SELECT orders_definer();
-- a leaky function sees only rows that passed the tenant filter
SELECT count(*) FROM orders WHERE leak(tenant_id, amount) AND id = 4;
-- cursors
DECLARE c CURSOR FOR SELECT id, tenant_id FROM orders ORDER BY id;
FETCH 2 FROM c;
CLOSE c;
-- partitions (through the parent and directly) and inheritance children
SELECT tenant_id, count(*) FROM events GROUP BY 1;
SELECT tenant_id, count(*) FROM events_b GROUP BY 1;
SELECT tenant_id, count(*) FROM base_docs GROUP BY 1;
SELECT tenant_id, count(*) FROM sub_docs GROUP BY 1;
-- writes: another tenant's rows are invisible to UPDATE and DELETE, and
-- rows for another tenant cannot be written
UPDATE orders SET amount = 0 WHERE id = 4 RETURNING *;
DELETE FROM orders WHERE id = 7 RETURNING *;
SAVEPOINT s;
INSERT INTO orders VALUES (100, 'globex', 1);
ROLLBACK TO s;
UPDATE orders SET tenant_id = 'globex' WHERE id = 3;
ROLLBACK TO s;
INSERT INTO orders VALUES (4, 'acme', 1) ON CONFLICT (id) DO UPDATE SET amount = 0;
ROLLBACK TO s;
INSERT INTO events_b VALUES (99, 'globex', 'b');
ROLLBACK TO s;
MERGE INTO orders o USING (VALUES (4, 'acme', 5)) v(id, t, a) ON o.id = v.id
    WHEN MATCHED THEN UPDATE SET amount = v.a WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.t, v.a);
ROLLBACK TO s;
-- COPY TO is filtered; COPY FROM is refused by PostgreSQL on any table with
-- row security ("COPY FROM not supported with row-level security").
COPY orders TO STDOUT;
COPY (SELECT * FROM orders WHERE tenant_id = 'globex') TO STDOUT;
-- EXPLAIN ANALYZE counts only the tenant's rows
SELECT explain_rows('SELECT * FROM orders');
-- parallel query
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT tenant_id, count(*) FROM orders GROUP BY 1;
-- prepared statements across a tenant switch
PREPARE q AS SELECT tenant_id, count(*) FROM orders GROUP BY 1;
EXECUTE q;
SELECT rollout.set_tenant('globex');
EXECUTE q;
DEALLOCATE q;
COMMIT;
RESET ROLE;

-- Triggers run as the statement's role, with its tenant context: a trigger
-- that reads a protected table sees only the tenant's rows.
SET ROLE regress_owner;
CREATE TABLE order_stats (n bigint);
CREATE FUNCTION count_orders() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO order_stats SELECT count(*) FROM orders; RETURN NEW; END $$;
CREATE TRIGGER count_orders AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION count_orders();
GRANT SELECT, INSERT ON order_stats TO regress_app;
-- Foreign keys ignore row security (PostgreSQL checks them as the owner):
-- tenant-scoped keys keep references inside the tenant.
CREATE TABLE carts (tenant_id text NOT NULL, id int, PRIMARY KEY (tenant_id, id));
CREATE TABLE cart_items (tenant_id text NOT NULL, cart_id int, FOREIGN KEY (tenant_id, cart_id) REFERENCES carts);
INSERT INTO carts VALUES ('acme', 1), ('globex', 2);
GRANT SELECT, INSERT ON carts, cart_items TO regress_app;
SELECT rollout.protect_table('carts', 'tenant_id');
SELECT rollout.protect_table('cart_items', 'tenant_id');
RESET ROLE;
SET ROLE regress_app;
BEGIN;
SELECT rollout.set_tenant('acme');
INSERT INTO notes VALUES (3, 'acme', 'n');
SELECT n FROM order_stats;
SAVEPOINT s;
INSERT INTO cart_items VALUES ('acme', 2);
ROLLBACK TO s;
INSERT INTO cart_items VALUES ('globex', 2);
ROLLBACK TO s;
INSERT INTO cart_items VALUES ('acme', 1);
SELECT tenant_id, id FROM carts;
ROLLBACK;
RESET ROLE;

-- The owner is filtered too (FORCE); a superuser is not, but counted.
SET ROLE regress_owner;
SELECT count(*) FROM orders;
RESET ROLE;
SELECT count(*) FROM orders;
SELECT kind, count > 0 AS counted FROM rollout.violations WHERE kind = 'privileged_access' GROUP BY 1, 2;

-- Descendants' rows, for a table that includes them.
SET ROLE regress_owner;
SELECT rollout.protect_table('invoices', 'tenant_id', 'medium', include_descendants => true);
RESET ROLE;
SET ROLE regress_app;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT tenant_id, count(*) FROM invoices GROUP BY 1 ORDER BY 1;
SELECT rollout.set_tenant('acme-eu');
SELECT tenant_id, count(*) FROM invoices GROUP BY 1 ORDER BY 1;
COMMIT;
RESET ROLE;

-- Role bindings: a bound role may act only inside its subtrees.
SELECT rollout.bind_tenant('regress_app', 'acme');
SET ROLE regress_app;
SELECT rollout.set_tenant('acme-eu');
SELECT rollout.set_tenant('globex');
RESET ROLE;
SELECT rollout.unbind_tenant('regress_app', 'acme');
SELECT rollout.unbind_tenant('regress_app', 'acme');
SELECT rollout.bind_tenant('nobody', 'acme');

-- The bypass: granted roles only, with a reason, for one transaction.
SET ROLE regress_app;
BEGIN;
SELECT rollout.bypass('support ticket 1');
ROLLBACK;
RESET ROLE;
SET ROLE regress_ops;
BEGIN;
SELECT rollout.bypass('');
ROLLBACK;
RESET ROLE;
GRANT SELECT ON orders TO regress_ops;
SET ROLE regress_ops;
BEGIN;
SELECT rollout.bypass('support ticket 4711');
SELECT count(*) FROM orders;
COMMIT;
SELECT count(*) FROM orders;
RESET ROLE;
SELECT role_name, reason, count FROM rollout.bypasses;
SELECT action, subject_id, reason FROM rollout.audit_log WHERE action = 'isolation.bypass';

-- Unprotecting restores the table as it was.
SET ROLE regress_owner;
SELECT rollout.unprotect_table('base_docs');
RESET ROLE;
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname IN ('base_docs', 'sub_docs') ORDER BY 1;
SET ROLE regress_app;
SELECT count(*) FROM base_docs;
RESET ROLE;

RESET pg_rollout.enforcement_mode;
SELECT (rollout.verify_audit()).intact;
SET client_min_messages = warning;
DROP OWNED BY regress_owner, regress_app, regress_ops CASCADE;
DROP FUNCTION explain_rows(text);
DROP ROLE regress_owner;
DROP ROLE regress_app;
DROP ROLE regress_ops;
