-- What enforcement keeps between statements (issue 11): the row-security
-- policy of a protected table is built once per registry load and handed
-- to every statement (PostgreSQL must copy it, never change it: a table
-- at another range-table position, twice in one statement, under UPDATE's
-- WITH CHECK); it follows protect_table() and the enforcement mode; whether
-- a role is a superuser or BYPASSRLS is remembered per role until pg_authid
-- changes; a database without the extension is not looked up per
-- statement, and the extension created again is enforced at its first
-- statement.  In a database of its own, so that its violation counters
-- (kept in shared memory per database) do not reach the other tests.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
SELECT current_database() AS regress_db \gset
DROP DATABASE IF EXISTS regress_isolation_caches;
CREATE DATABASE regress_isolation_caches;
\c regress_isolation_caches
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_cache_app;
RESET client_min_messages;
SELECT count(*) FROM (SELECT rollout.create_tenant(t) FROM unnest(ARRAY['acme', 'globex']) t) x;
SELECT count(*) FROM (SELECT rollout.create_tenant('acme-eu', parent_id => 'acme')) x;
CREATE ROLE regress_cache_app IN ROLE rollout_app;
CREATE TABLE cache_orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount int NOT NULL);
INSERT INTO cache_orders
SELECT g, (ARRAY['acme', 'globex', 'acme-eu'])[g % 3 + 1], g * 10 FROM generate_series(1, 9) g;
CREATE TABLE cache_labels (id int PRIMARY KEY, label text);
INSERT INTO cache_labels SELECT g, 'label ' || g FROM generate_series(1, 9) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON cache_orders TO regress_cache_app;
GRANT SELECT ON cache_labels TO regress_cache_app;
SELECT rollout.protect_table('cache_orders', 'tenant_id', 'critical');
SET pg_rollout.enforcement_mode = 'enforce';
SET ROLE regress_cache_app;

-- the same policy for every statement, wherever the table stands in the range table
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT id, tenant_id FROM cache_orders ORDER BY id;
SELECT l.label, o.tenant_id FROM cache_labels l JOIN cache_orders o USING (id) ORDER BY l.id;
SELECT count(*) AS acme_pairs FROM cache_orders a JOIN cache_orders b ON a.tenant_id = b.tenant_id;
SELECT id, tenant_id FROM cache_orders ORDER BY id;
SELECT count(*) FROM cache_labels l WHERE EXISTS (SELECT 1 FROM cache_orders o WHERE o.id = l.id);
COMMIT;

-- WITH CHECK: its own rows only, before and after the policy was used for reading
BEGIN;
SELECT rollout.set_tenant('globex');
UPDATE cache_orders SET amount = amount + 1 RETURNING id, tenant_id, amount;
UPDATE cache_orders SET tenant_id = 'acme' WHERE id = 1;
ROLLBACK;
BEGIN;
SELECT rollout.set_tenant('globex');
INSERT INTO cache_orders VALUES (100, 'acme', 1);
ROLLBACK;
BEGIN;
SELECT rollout.set_tenant('globex');
INSERT INTO cache_orders VALUES (100, 'globex', 1) RETURNING id, tenant_id;
DELETE FROM cache_orders WHERE id = 100 RETURNING id;
SELECT count(*) AS globex_rows FROM cache_orders;
COMMIT;

-- the policy follows protect_table(): descendants' rows once they are included
RESET ROLE;
SELECT rollout.protect_table('cache_orders', 'tenant_id', 'critical', include_descendants => true);
SET ROLE regress_cache_app;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT id, tenant_id FROM cache_orders ORDER BY id;
COMMIT;
RESET ROLE;
SELECT rollout.protect_table('cache_orders', 'tenant_id', 'critical', include_descendants => false);
SET ROLE regress_cache_app;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT id, tenant_id FROM cache_orders ORDER BY id;
COMMIT;

-- and the mode: log_only filters nothing, enforce filters again
RESET ROLE;
SET pg_rollout.enforcement_mode = 'log_only';
SET ROLE regress_cache_app;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT count(*) AS every_row FROM cache_orders;
COMMIT;
RESET ROLE;
SET pg_rollout.enforcement_mode = 'enforce';
SET ROLE regress_cache_app;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT count(*) AS acme_rows FROM cache_orders;
COMMIT;

-- BYPASSRLS given and taken back in the session: seen at the next statement
SELECT count(*) FROM cache_orders;
RESET ROLE;
SELECT rollout.reset_violation_counts();
ALTER ROLE regress_cache_app BYPASSRLS;
SET ROLE regress_cache_app;
SELECT count(*) AS every_row FROM cache_orders;
RESET ROLE;
SELECT kind, command, count FROM rollout.violation_counts() WHERE tbl = 'cache_orders'::regclass AND count > 0 ORDER BY kind;
ALTER ROLE regress_cache_app NOBYPASSRLS;
SET ROLE regress_cache_app;
SELECT count(*) FROM cache_orders;
RESET ROLE;

-- without the extension nothing is protected; created again, enforced at once
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
RESET client_min_messages;
SET ROLE regress_cache_app;
SELECT count(*) AS unprotected FROM cache_orders;
SELECT count(*) AS unprotected FROM cache_orders;
RESET ROLE;
CREATE EXTENSION pg_rollout;
SELECT count(*) FROM (SELECT rollout.create_tenant(t) FROM unnest(ARRAY['acme', 'globex']) t) x;
SELECT rollout.protect_table('cache_orders', 'tenant_id', 'critical');
SET ROLE regress_cache_app;
SELECT count(*) FROM cache_orders;
BEGIN;
SELECT rollout.set_tenant('globex');
SELECT count(*) AS globex_rows FROM cache_orders;
COMMIT;
RESET ROLE;

\c :regress_db
SET client_min_messages = warning;
DROP DATABASE regress_isolation_caches;
DROP ROLE regress_cache_app;
RESET client_min_messages;
