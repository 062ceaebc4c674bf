-- Two reads that showed a role what it should not see, or hid from a check
-- what it had to see (red team, second pass).
--
-- 1. The query texts of recent violations.  They hold
-- other roles' literals: the view rollout.recent_violation_log shows them
-- only to rollout_admin and pg_read_all_stats, but rollout_viewer may call
-- rollout.recent_violations() itself, which returned them to anyone with
-- the grant: another tenant's ids and values, read by a dashboard role.
-- The function now masks them the same way.
--
-- 2. ATTACH PARTITION / INHERIT of a table holding other tenants' rows
-- under an enforced protected parent is refused; the check read the
-- table's rows as the caller, and the table's own row security (forced,
-- USING (tenant_id = 'acme')) hid globex's rows from it: they were
-- attached, and became globex's rows.  The check now reads every row.
--
-- 3. DECLARE ... WITH HOLD on a protected table is refused where it is
-- enforced: its rows stay fetchable after the transaction and its tenant
-- context end (by the next client of a pooled connection too).  Over a
-- function that reads the table, the cursor's plan names no protected
-- table: it was declared, and acme's rows, materialized at commit, were
-- fetched with no tenant context.  Now the function's read is refused.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP TABLE IF EXISTS vl_orders, vl_parent, vl_staging;
DROP ROLE IF EXISTS regress_vl_app, regress_vl_viewer, regress_vl_admin, regress_vl_stats, regress_vl_owner;
RESET client_min_messages;
CREATE ROLE regress_vl_app IN ROLE rollout_app;
CREATE ROLE regress_vl_viewer IN ROLE rollout_viewer;
CREATE ROLE regress_vl_admin IN ROLE rollout_admin;
CREATE ROLE regress_vl_stats IN ROLE rollout_viewer, pg_read_all_stats;
SELECT count(*) FROM (SELECT rollout.create_tenant(t) FROM unnest(ARRAY['acme', 'globex']) t) x;
CREATE TABLE vl_orders (id int, tenant_id text, email text);
INSERT INTO vl_orders VALUES (1, 'globex', 'ceo@globex.example');
GRANT SELECT ON vl_orders TO regress_vl_app;
SELECT rollout.protect_table('vl_orders', 'tenant_id', 'critical');

-- a statement without tenant context, refused, recorded with its text
SET pg_rollout.enforcement_mode = 'enforce';
SET ROLE regress_vl_app;
SELECT * FROM vl_orders WHERE email = 'ceo@globex.example';
RESET ROLE;

CREATE FUNCTION pg_temp.last_texts() RETURNS TABLE (via_view text, via_function text)
LANGUAGE sql AS $$
    SELECT (SELECT l.query FROM rollout.recent_violation_log l WHERE l.tbl = 'vl_orders'::regclass ORDER BY l.at DESC LIMIT 1),
           (SELECT r.query FROM rollout.recent_violations() r WHERE r.tbl = 'vl_orders'::regclass ORDER BY r.at DESC LIMIT 1)
$$;
GRANT EXECUTE ON FUNCTION pg_temp.last_texts() TO PUBLIC;

-- rollout_viewer: masked both ways
SET ROLE regress_vl_viewer;
SELECT * FROM pg_temp.last_texts();
RESET ROLE;
-- rollout_admin and pg_read_all_stats: the text
SET ROLE regress_vl_admin;
SELECT * FROM pg_temp.last_texts();
RESET ROLE;
SET ROLE regress_vl_stats;
SELECT * FROM pg_temp.last_texts();
RESET ROLE;
-- the other columns stay visible to rollout_viewer
SET ROLE regress_vl_viewer;
SELECT kind, command, refused, role_name FROM rollout.recent_violations()
 WHERE tbl = 'vl_orders'::regclass ORDER BY at DESC LIMIT 1;
RESET ROLE;

-- 2. a table attached under a protected parent: its own row security hides nothing from the check
CREATE ROLE regress_vl_owner IN ROLE rollout_admin, rollout_app;
GRANT CREATE ON SCHEMA public TO regress_vl_owner;
SET ROLE regress_vl_owner;
CREATE TABLE vl_parent (id int, tenant_id text);
SELECT rollout.protect_table('vl_parent', 'tenant_id', 'critical');
CREATE TABLE vl_staging (id int, tenant_id text);
INSERT INTO vl_staging VALUES (1, 'acme'), (2, 'globex');
ALTER TABLE vl_staging ENABLE ROW LEVEL SECURITY;
ALTER TABLE vl_staging FORCE ROW LEVEL SECURITY;
CREATE POLICY only_acme ON vl_staging USING (tenant_id = 'acme');
SELECT rollout.set_tenant('acme', local => false);
SELECT * FROM vl_staging;                       -- the owner sees acme's row only
ALTER TABLE vl_staging INHERIT vl_parent;       -- refused: globex's row is there
SELECT count(*) FROM pg_inherits WHERE inhrelid = 'vl_staging'::regclass;
-- acme's rows only: attached
RESET ROLE;
DELETE FROM vl_staging WHERE tenant_id = 'globex';
SET ROLE regress_vl_owner;
ALTER TABLE vl_staging INHERIT vl_parent;
SELECT id, tenant_id FROM vl_parent;
SELECT rollout.reset_tenant();
RESET ROLE;

-- 3. a WITH HOLD cursor over a function reading a protected table
CREATE FUNCTION vl_rows() RETURNS SETOF vl_parent LANGUAGE plpgsql STABLE
    AS $$ BEGIN RETURN QUERY SELECT * FROM vl_parent; END $$;
CREATE FUNCTION vl_rows_sql() RETURNS SETOF vl_parent LANGUAGE sql STABLE
    AS $$ SELECT * FROM vl_parent $$;
GRANT SELECT ON vl_parent TO regress_vl_app;
SET ROLE regress_vl_app;
BEGIN;
SELECT rollout.set_tenant('acme');
DECLARE held CURSOR WITH HOLD FOR SELECT * FROM vl_rows();
COMMIT;                                          -- refused when materialized
SELECT count(*) FROM pg_cursors WHERE name = 'held';
BEGIN;
SELECT rollout.set_tenant('acme');
DECLARE held CURSOR WITH HOLD FOR SELECT * FROM vl_rows();
FETCH 1 FROM held;                               -- refused as well
ROLLBACK;
BEGIN;
SELECT rollout.set_tenant('acme');
DECLARE held CURSOR WITH HOLD FOR SELECT * FROM vl_rows_sql();   -- inlined: named in the plan
ROLLBACK;
-- without WITH HOLD the function's rows are read as usual
BEGIN;
SELECT rollout.set_tenant('acme');
DECLARE plain CURSOR FOR SELECT * FROM vl_rows();
FETCH ALL FROM plain;
COMMIT;
-- and a WITH HOLD cursor that reads no protected table is allowed
BEGIN;
DECLARE other CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 2) g;
COMMIT;
FETCH ALL FROM other;
CLOSE other;
RESET ROLE;

RESET pg_rollout.enforcement_mode;
DROP FUNCTION vl_rows(), vl_rows_sql();
DROP TABLE vl_orders, vl_staging, vl_parent;
REVOKE CREATE ON SCHEMA public FROM regress_vl_owner;
DROP ROLE regress_vl_app, regress_vl_viewer, regress_vl_admin, regress_vl_stats, regress_vl_owner;
