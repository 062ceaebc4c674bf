-- Protection follows a protected table through DDL (issue 8, item 6):
-- partitions and inheritance children created or attached later are
-- protected at once (reads through the parent keep working: no monthly
-- outage), a detached partition stays protected on its own, a dropped table
-- leaves the registry.  Access through a view owned by a superuser or a
-- BYPASSRLS role is counted and logged (item 9).  Counting rules (issue 15,
-- item 2): one event per protected table and statement, whatever the number
-- of partitions scanned and however many rules it breaks.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_pv_owner;
DROP ROLE IF EXISTS regress_pv_app;
DROP ROLE IF EXISTS regress_pv_bypassrls;
RESET client_min_messages;
SELECT count(*) FROM (SELECT rollout.create_tenant(t) FROM unnest(ARRAY['acme', 'globex']) t) x;

CREATE ROLE regress_pv_owner IN ROLE rollout_admin, rollout_app;
CREATE ROLE regress_pv_app IN ROLE rollout_app;
CREATE ROLE regress_pv_bypassrls BYPASSRLS;
GRANT CREATE ON SCHEMA public TO regress_pv_owner;
CREATE FUNCTION pv_rls() RETURNS TABLE (rel regclass, row_security boolean, forced boolean)
LANGUAGE sql AS $$
    SELECT c.oid::regclass, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
     WHERE c.relname LIKE 'pv\_%' AND c.relkind IN ('r', 'p') ORDER BY c.relname
$$;
CREATE FUNCTION pv_registry() RETURNS TABLE (relid regclass, tbl regclass, protected boolean)
LANGUAGE sql AS $$
    SELECT r.relid, r.tbl, EXISTS (SELECT 1 FROM rollout.protected_table p WHERE p.tbl = r.relid)
      FROM rollout.protected_relation r ORDER BY r.relid::text
$$;

SET ROLE regress_pv_owner;
CREATE TABLE pv_events (tenant_id text NOT NULL, at date NOT NULL, v int) PARTITION BY RANGE (at);
CREATE TABLE pv_events_2026_11 PARTITION OF pv_events FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE pv_base (tenant_id text NOT NULL, v int);
CREATE TABLE pv_base_a () INHERITS (pv_base);
GRANT SELECT, INSERT, UPDATE, DELETE ON pv_events, pv_events_2026_11, pv_base, pv_base_a TO regress_pv_app;
SELECT rollout.protect_table('pv_events', 'tenant_id', 'critical');
SELECT rollout.protect_table('pv_base', 'tenant_id', 'high');
RESET ROLE;
SET pg_rollout.enforcement_mode = 'enforce';

-- ---------------------------------------------------------------------
-- New partitions and children, however they arrive, are protected at once
-- ---------------------------------------------------------------------
SET ROLE regress_pv_owner;
-- next month's partition, itself partitioned by tenant
CREATE TABLE pv_events_2026_12 PARTITION OF pv_events FOR VALUES FROM ('2026-12-01') TO ('2027-01-01')
    PARTITION BY LIST (tenant_id);
CREATE TABLE pv_events_2026_12_acme PARTITION OF pv_events_2026_12 FOR VALUES IN ('acme');
CREATE TABLE pv_events_2026_12_rest PARTITION OF pv_events_2026_12 DEFAULT;
-- a table attached as a partition
CREATE TABLE pv_events_2027_01 (LIKE pv_events);
ALTER TABLE pv_events ATTACH PARTITION pv_events_2027_01 FOR VALUES FROM ('2027-01-01') TO ('2027-02-01');
-- inheritance children: created with INHERITS, or added with ALTER TABLE ... INHERIT
CREATE TABLE pv_base_b () INHERITS (pv_base);
CREATE TABLE pv_base_c (tenant_id text NOT NULL, v int);
ALTER TABLE pv_base_c INHERIT pv_base;
GRANT SELECT, INSERT, UPDATE, DELETE ON pv_events_2026_12, pv_events_2026_12_acme, pv_events_2026_12_rest,
    pv_events_2027_01, pv_base_b, pv_base_c TO regress_pv_app;
RESET ROLE;
SELECT * FROM pv_rls();
SELECT * FROM pv_registry();
SELECT action, subject_id, details FROM rollout.audit_log WHERE action = 'isolation.child_protected' ORDER BY seq;

-- the application reads and writes through the parent, and each partition
-- read directly is filtered too
SET ROLE regress_pv_app;
BEGIN;
SELECT rollout.set_tenant('acme');
INSERT INTO pv_events VALUES ('acme', '2026-11-02', 1), ('acme', '2026-12-02', 2), ('acme', '2027-01-02', 3);
INSERT INTO pv_base_b VALUES ('acme', 10);
INSERT INTO pv_base_c VALUES ('acme', 11);
COMMIT;
BEGIN;
SELECT rollout.set_tenant('globex');
INSERT INTO pv_events VALUES ('globex', '2026-11-03', 4), ('globex', '2026-12-03', 5), ('globex', '2027-01-03', 6);
INSERT INTO pv_base_b VALUES ('globex', 20);
INSERT INTO pv_base_c VALUES ('globex', 21);
COMMIT;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT tenant_id, v FROM pv_events ORDER BY v;
SELECT tenant_id, v FROM pv_events_2026_12_rest ORDER BY v;
SELECT tenant_id, v FROM pv_events_2027_01 ORDER BY v;
SELECT tenant_id, v FROM pv_base ORDER BY v;
SELECT tenant_id, v FROM pv_base_c ORDER BY v;
-- a write aimed at another tenant's partition finds nothing
UPDATE pv_events_2027_01 SET v = 0 WHERE tenant_id = 'globex';
COMMIT;
-- without a tenant: refused, through the parent and directly
SELECT count(*) FROM pv_events;
SELECT count(*) FROM pv_events_2027_01;
RESET ROLE;

-- the owner cannot switch off what was switched on for the new partition
SET ROLE regress_pv_owner;
ALTER TABLE pv_events_2027_01 NO FORCE ROW LEVEL SECURITY;
ALTER TABLE pv_base_c DISABLE ROW LEVEL SECURITY;
RESET ROLE;

-- ---------------------------------------------------------------------
-- A partition detached, or a child disinherited, stays protected on its own
-- ---------------------------------------------------------------------
SET ROLE regress_pv_owner;
ALTER TABLE pv_events DETACH PARTITION pv_events_2026_12;
ALTER TABLE pv_base_c NO INHERIT pv_base;
RESET ROLE;
SELECT p.tbl, p.tenant_column, p.severity, p.force_rls FROM rollout.protected_table p ORDER BY p.tbl::text;
SELECT * FROM pv_registry();
SELECT action, subject_id, details FROM rollout.audit_log
 WHERE action = 'isolation.protected' AND details ? 'separated_from' ORDER BY seq;
SET ROLE regress_pv_app;
SELECT count(*) FROM pv_events_2026_12;
BEGIN;
SELECT rollout.set_tenant('globex');
SELECT tenant_id, v FROM pv_events_2026_12 ORDER BY v;
SELECT tenant_id, v FROM pv_base_c ORDER BY v;
SELECT tenant_id, v FROM pv_events ORDER BY v;
COMMIT;
RESET ROLE;
-- and attached again: it is a protected table and a partition at once
SET ROLE regress_pv_owner;
ALTER TABLE pv_events ATTACH PARTITION pv_events_2026_12 FOR VALUES FROM ('2026-12-01') TO ('2027-01-01');
RESET ROLE;
SELECT * FROM pv_registry();
-- unprotecting the parent leaves the re-attached partition protected
SET ROLE regress_pv_owner;
SELECT rollout.unprotect_table('pv_events');
RESET ROLE;
SELECT * FROM pv_rls();
SET ROLE regress_pv_owner;
SELECT rollout.protect_table('pv_events', 'tenant_id', 'critical');
RESET ROLE;

-- DETACH PARTITION ... CONCURRENTLY (two transactions) too
SET ROLE regress_pv_owner;
CREATE TABLE pv_events_2027_03 PARTITION OF pv_events FOR VALUES FROM ('2027-03-01') TO ('2027-04-01');
ALTER TABLE pv_events DETACH PARTITION pv_events_2027_03 CONCURRENTLY;
RESET ROLE;
SELECT p.tbl, p.severity FROM rollout.protected_table p WHERE p.tbl = 'pv_events_2027_03'::regclass;
SELECT * FROM pv_rls() WHERE rel = 'pv_events_2027_03'::regclass;
SET ROLE regress_pv_owner;
DROP TABLE pv_events_2027_03;
RESET ROLE;

-- A foreign-table partition has no row security of its own (PostgreSQL
-- applies the parent's to it, read through the parent): it is left alone,
-- and neither it nor a later CREATE TABLE fails; protect_table() accepts a
-- tree that holds one
CREATE FOREIGN DATA WRAPPER pv_dummy;
CREATE SERVER pv_server FOREIGN DATA WRAPPER pv_dummy;
GRANT USAGE ON FOREIGN SERVER pv_server TO regress_pv_owner;
SET ROLE regress_pv_owner;
CREATE FOREIGN TABLE pv_events_2025 PARTITION OF pv_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') SERVER pv_server;
CREATE TABLE pv_events_2027_04 PARTITION OF pv_events FOR VALUES FROM ('2027-04-01') TO ('2027-05-01');
CREATE TABLE pv_other (tenant_id text NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE FOREIGN TABLE pv_other_2025 PARTITION OF pv_other FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') SERVER pv_server;
CREATE TABLE pv_other_2026 PARTITION OF pv_other FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT rollout.protect_table('pv_other', 'tenant_id');
RESET ROLE;
SELECT r.relid, r.tbl FROM rollout.protected_relation r
 WHERE r.relid::text LIKE 'pv_other%' OR r.relid::text LIKE 'pv_events_202%' ORDER BY r.relid::text;
SET ROLE regress_pv_owner;
SELECT rollout.unprotect_table('pv_other');
DROP TABLE pv_other, pv_events_2027_04;
DROP FOREIGN TABLE pv_events_2025;
RESET ROLE;
DROP SERVER pv_server;
DROP FOREIGN DATA WRAPPER pv_dummy;

-- ---------------------------------------------------------------------
-- A dropped table leaves the registry; one created under its name is new
-- ---------------------------------------------------------------------
SET ROLE regress_pv_owner;
DROP TABLE pv_events_2027_01;
DROP TABLE pv_base_c;
CREATE TABLE pv_base_c (tenant_id text NOT NULL, v int);
RESET ROLE;
SELECT * FROM pv_registry();
SELECT p.tbl FROM rollout.protected_table p ORDER BY p.tbl::text;
SELECT action, subject_id, details FROM rollout.audit_log WHERE action = 'isolation.unprotected' ORDER BY seq;
SELECT (rollout.verify_audit()).intact AS audit_verifies;

-- ---------------------------------------------------------------------
-- Counting: one event per protected table and statement
-- ---------------------------------------------------------------------
SET pg_rollout.enforcement_mode = 'log_only';
SELECT rollout.reset_violation_counts();
SET ROLE regress_pv_app;
-- no tenant context, no tenant predicate, three partitions scanned: one event
SELECT count(*) FROM pv_events;
-- no tenant context, with a predicate: one event
SELECT count(*) FROM pv_events WHERE tenant_id = 'acme';
-- context, no predicate: one missing_tenant_predicate event
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT count(*) FROM pv_events;
SELECT count(*) FROM pv_events WHERE tenant_id = 'acme';
COMMIT;
-- a partition named directly is counted as itself
SELECT count(*) FROM pv_events_2026_11;
-- two protected tables in one statement: one event each
SELECT (SELECT count(*) FROM pv_events) + (SELECT count(*) FROM pv_base);
RESET ROLE;
SELECT tbl, kind, command, count FROM rollout.violations WHERE count > 0 ORDER BY tbl::text, kind;

-- ---------------------------------------------------------------------
-- Views and rules owned by a privileged role (item 9)
-- ---------------------------------------------------------------------
SET pg_rollout.enforcement_mode = 'enforce';
SELECT rollout.reset_violation_counts();
-- a superuser's view over a protected table: PostgreSQL checks row security
-- as the view's owner, who bypasses it, so every tenant's rows show
CREATE VIEW pv_all_events AS SELECT tenant_id, v FROM pv_events;
GRANT SELECT ON pv_all_events TO regress_pv_app;
-- a BYPASSRLS role's view
GRANT SELECT ON pv_base TO regress_pv_bypassrls;
GRANT CREATE ON SCHEMA public TO regress_pv_bypassrls;
SET ROLE regress_pv_bypassrls;
CREATE VIEW pv_all_base AS SELECT tenant_id, v FROM pv_base;
RESET ROLE;
GRANT SELECT ON pv_all_base TO regress_pv_app;
-- the owner's own security_invoker view is filtered as the reader
SET ROLE regress_pv_owner;
CREATE VIEW pv_invoker WITH (security_invoker) AS SELECT tenant_id, v FROM pv_events;
GRANT SELECT ON pv_invoker TO regress_pv_app;
RESET ROLE;
SET ROLE regress_pv_app;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT count(*) AS rows_through_superuser_view FROM pv_all_events;
SELECT count(*) AS rows_through_bypassrls_view FROM pv_all_base;
SELECT count(*) AS rows_through_invoker_view FROM pv_invoker;
COMMIT;
RESET ROLE;
SELECT tbl, kind, command, enforced, count FROM rollout.violations WHERE count > 0 ORDER BY tbl::text, kind;
SELECT tbl, kind, refused, role_name FROM rollout.recent_violation_log WHERE kind = 'privileged_access' ORDER BY at;

-- ---------------------------------------------------------------------
-- DROP EXTENSION with the event triggers in place
-- ---------------------------------------------------------------------
DROP VIEW pv_all_events, pv_all_base, pv_invoker;
DROP EXTENSION pg_rollout;
SELECT count(*) AS event_triggers_left FROM pg_event_trigger WHERE evtname LIKE 'pg_rollout%';
SELECT * FROM pv_rls();
SET ROLE regress_pv_owner;
CREATE TABLE pv_events_2027_02 PARTITION OF pv_events FOR VALUES FROM ('2027-02-01') TO ('2027-03-01');
DROP TABLE pv_events, pv_base, pv_base_c CASCADE;
RESET ROLE;
CREATE EXTENSION pg_rollout;
DROP FUNCTION pv_rls(), pv_registry();
REVOKE CREATE ON SCHEMA public FROM regress_pv_owner, regress_pv_bypassrls;
DROP ROLE regress_pv_owner, regress_pv_app, regress_pv_bypassrls;
