-- The tenant-isolation violation counters (shared memory, per database):
-- a dropped table's counters go when the drop commits (not when it is
-- rolled back, also to a savepoint), so rollout.violations never shows a
-- bare OID and a later table with the same OID inherits nothing;
-- rollout.reset_violation_counts() removes this database's counters, not
-- just zeroes them, and leaves other databases' alone; DROP EXTENSION
-- removes the database's counters when it commits.  In databases of its
-- own, since the counters are kept per database in shared memory.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
SELECT current_database() AS regress_db \gset
DROP DATABASE IF EXISTS regress_violation_counters;
DROP DATABASE IF EXISTS regress_violation_counters_b;
CREATE DATABASE regress_violation_counters;
CREATE DATABASE regress_violation_counters_b;
DROP ROLE IF EXISTS regress_vc_nobody;
CREATE ROLE regress_vc_nobody IN ROLE rollout_viewer;
RESET client_min_messages;

-- database b: one counter, which the reset of the other database leaves
\c regress_violation_counters_b
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
CREATE TABLE b_orders (id int, tenant_id text NOT NULL);
SELECT rollout.protect_table('b_orders', 'tenant_id', 'critical');
SELECT count(*) FROM b_orders;
SELECT tbl, kind, command, count FROM rollout.violations;

\c regress_violation_counters
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
CREATE TABLE vc_orders (id int, tenant_id text NOT NULL);
CREATE TABLE vc_invoices (id int, tenant_id text NOT NULL);
CREATE SCHEMA vc_s;
CREATE TABLE vc_s.notes (id int, tenant_id text NOT NULL);
CREATE TABLE vc_kept (id int, tenant_id text NOT NULL);
SELECT rollout.protect_table(t, 'tenant_id', 'critical')
  FROM unnest(ARRAY['vc_orders', 'vc_invoices', 'vc_s.notes', 'vc_kept']::regclass[]) t;
SELECT 'vc_orders'::regclass::oid AS orders_oid \gset
SELECT count(*) FROM vc_orders;
SELECT count(*) FROM vc_orders;
SELECT count(*) FROM vc_invoices;
SELECT count(*) FROM vc_s.notes;
SELECT count(*) FROM vc_kept;
SELECT tbl, kind, command, count FROM rollout.violations ORDER BY tbl::text, kind;

-- a drop rolled back keeps the counters; so does one rolled back to a savepoint
BEGIN;
DROP TABLE vc_orders;
ROLLBACK;
BEGIN;
SAVEPOINT s1;
DROP TABLE vc_orders;
ROLLBACK TO SAVEPOINT s1;
COMMIT;
SELECT tbl, count FROM rollout.violations WHERE tbl = 'vc_orders'::regclass;

-- a committed drop (here inside a released savepoint) removes them: no bare OID
BEGIN;
SAVEPOINT s1;
DROP TABLE vc_orders;
RELEASE SAVEPOINT s1;
-- (already hidden from this session, which no longer sees the table)
SELECT count(*) AS before_commit FROM rollout.violation_counts() WHERE tbl::oid = :orders_oid;
COMMIT;
SELECT tbl::text, count FROM rollout.violations ORDER BY tbl::text;
SELECT count(*) AS orders_counters FROM rollout.violation_counts() WHERE tbl::oid = :orders_oid;

-- DROP SCHEMA ... CASCADE; a table unprotected before its drop
DROP SCHEMA vc_s CASCADE;
SELECT rollout.unprotect_table('vc_invoices');
SELECT tbl::text, count FROM rollout.violations ORDER BY tbl::text;
DROP TABLE vc_invoices;
SELECT tbl::text, count FROM rollout.violations ORDER BY tbl::text;
SELECT table_name, count FROM rollout.metrics_violations ORDER BY table_name;

-- a drop prepared: the counters go at PREPARE TRANSACTION
CREATE TABLE vc_prepared (id int, tenant_id text NOT NULL);
SELECT rollout.protect_table('vc_prepared', 'tenant_id', 'medium');
SELECT count(*) FROM vc_prepared;
SELECT tbl::text, count FROM rollout.violations ORDER BY tbl::text;
BEGIN;
DROP TABLE vc_prepared;
PREPARE TRANSACTION 'regress_vc_drop';
COMMIT PREPARED 'regress_vc_drop';
SELECT tbl::text, count FROM rollout.violations ORDER BY tbl::text;

-- a table created, counted and rolled back: its counter is not shown
BEGIN;
CREATE TABLE vc_gone (id int, tenant_id text NOT NULL);
SELECT rollout.protect_table('vc_gone', 'tenant_id', 'medium');
SELECT count(*) FROM vc_gone;
SELECT tbl::text, count FROM rollout.violations ORDER BY tbl::text;
ROLLBACK;
SELECT tbl::text, count FROM rollout.violations ORDER BY tbl::text;

-- _forget_violations ignores relations that still exist, refuses a
-- two-dimensional array, and is not for PUBLIC (nor for viewers)
BEGIN;
SELECT rollout._forget_violations(ARRAY['vc_kept'::regclass::oid, 0::oid, NULL]);
COMMIT;
SELECT tbl::text, count FROM rollout.violations ORDER BY tbl::text;
SELECT rollout._forget_violations(ARRAY[[1, 2], [3, 4]]::oid[]);
SELECT rollout._forget_violations(NULL);
SET ROLE regress_vc_nobody;
SELECT rollout._forget_violations(ARRAY[1::oid]);
RESET ROLE;

-- reset removes this database's counters (no zero rows); the next event counts from 1
SELECT rollout.reset_violation_counts();
SELECT count(*) AS rows_after_reset FROM rollout.violations;
SELECT count(*) AS metrics_rows_after_reset FROM rollout.metrics_violations;
SELECT count(*) FROM vc_kept;
SELECT tbl::text, kind, count FROM rollout.violations;
-- reset is for rollout_admin, not for viewers (who read the counters)
SET ROLE regress_vc_nobody;
SELECT count(*) AS viewer_sees FROM rollout.violations;
SELECT rollout.reset_violation_counts();
RESET ROLE;

-- the other database's counter stands
\c regress_violation_counters_b
\set VERBOSITY terse
SELECT tbl, kind, command, count FROM rollout.violations;
-- DROP EXTENSION takes the database's counters with it when it commits
BEGIN;
DROP EXTENSION pg_rollout;
ROLLBACK;
SELECT tbl, kind, command, count FROM rollout.violations;
SET client_min_messages = warning;
DROP EXTENSION pg_rollout;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SELECT count(*) AS rows_after_recreate FROM rollout.violations;

\c :regress_db
SET client_min_messages = warning;
DROP DATABASE regress_violation_counters;
DROP DATABASE regress_violation_counters_b;
DROP ROLE regress_vc_nobody;
RESET client_min_messages;
