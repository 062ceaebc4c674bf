-- Protection altered by DDL after protect_table() (issue 8, items 3 and 4,
-- second line of defence): a tenant column retyped (to name, it used to
-- crash the backend), renamed or dropped, row security disabled or no
-- longer forced.  Each is checked when a statement starts: refused where the
-- table is enforced, counted (kind protection_altered or
-- row_security_disabled) elsewhere; never a crash, never every tenant's rows.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_alt_owner;
DROP ROLE IF EXISTS regress_alt_app;
RESET client_min_messages;
SELECT count(*) FROM (SELECT rollout.create_tenant(t) FROM unnest(ARRAY['acme', 'globex']) t) x;

CREATE ROLE regress_alt_owner IN ROLE rollout_admin, rollout_app;
CREATE ROLE regress_alt_app IN ROLE rollout_app;
GRANT CREATE ON SCHEMA public TO regress_alt_owner;
SET ROLE regress_alt_owner;
CREATE TABLE alt_type (id int, tenant_id text NOT NULL);
CREATE TABLE alt_col (id int, tenant_id text NOT NULL);
CREATE TABLE alt_drop (id int, tenant_id text NOT NULL);
CREATE TABLE alt_rls (id int, tenant_id text NOT NULL);
CREATE TABLE alt_force (id int, tenant_id text NOT NULL);
CREATE TABLE alt_medium (id int, tenant_id text NOT NULL);
INSERT INTO alt_type VALUES (1, 'acme'), (2, 'globex');
INSERT INTO alt_col VALUES (1, 'acme'), (2, 'globex');
INSERT INTO alt_drop VALUES (1, 'acme'), (2, 'globex');
INSERT INTO alt_rls VALUES (1, 'acme'), (2, 'globex');
INSERT INTO alt_force VALUES (1, 'acme'), (2, 'globex');
INSERT INTO alt_medium VALUES (1, 'acme'), (2, 'globex');
GRANT SELECT, INSERT, UPDATE, DELETE ON alt_type, alt_col, alt_drop, alt_rls, alt_force, alt_medium TO regress_alt_app;
SELECT count(*) FROM (SELECT rollout.protect_table(t, 'tenant_id', 'critical')
                        FROM unnest(ARRAY['alt_type', 'alt_col', 'alt_drop', 'alt_rls', 'alt_force']::regclass[]) t) x;
SELECT rollout.protect_table('alt_medium', 'tenant_id', 'medium');
RESET ROLE;
SET pg_rollout.enforcement_mode = 'enforce';
-- a statement prepared (and run) before the DDL
SET ROLE regress_alt_app;
PREPARE q_type AS SELECT count(*) FROM alt_type;
BEGIN;
SELECT rollout.set_tenant('acme');
EXECUTE q_type;
COMMIT;
RESET ROLE;

-- The DDL (as a superuser here: the owner's own attempts are refused, see below).
ALTER TABLE alt_type ALTER COLUMN tenant_id TYPE name;
ALTER TABLE alt_medium ALTER COLUMN tenant_id TYPE name;
ALTER TABLE alt_col RENAME COLUMN tenant_id TO owner_id;
ALTER TABLE alt_drop DROP COLUMN tenant_id;
ALTER TABLE alt_rls DISABLE ROW LEVEL SECURITY;
ALTER TABLE alt_force NO FORCE ROW LEVEL SECURITY;

-- enforce: every statement on them is refused, with tenant context too.
SET ROLE regress_alt_app;
BEGIN;
SELECT rollout.set_tenant('acme');
SAVEPOINT s;
-- the value that crashed the backend: the qual read the name as text, and
-- these bytes as a pointer to a toasted value (signal 11)
INSERT INTO alt_type VALUES (3, E'\x01\x01AAAAAAAA');
ROLLBACK TO s;
INSERT INTO alt_type VALUES (3, 'acme');
ROLLBACK TO s;
SELECT * FROM alt_type;
ROLLBACK TO s;
UPDATE alt_type SET id = id;
ROLLBACK TO s;
EXECUTE q_type;
ROLLBACK TO s;
SELECT * FROM alt_col;
ROLLBACK TO s;
SELECT * FROM alt_drop;
ROLLBACK TO s;
SELECT * FROM alt_rls;
ROLLBACK TO s;
DELETE FROM alt_rls;
ROLLBACK TO s;
COMMIT;
RESET ROLE;
-- the owner is filtered only while row security is forced
SET ROLE regress_alt_owner;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT * FROM alt_force;
COMMIT;
RESET ROLE;
-- and, as the table is no longer as protect_table() left it, everyone else
SET ROLE regress_alt_app;
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT * FROM alt_force;
COMMIT;
RESET ROLE;

-- selective: a table below the enforced severity is counted, not refused
SET pg_rollout.enforcement_mode = 'selective';
SET ROLE regress_alt_app;
BEGIN;
SELECT rollout.set_tenant('acme');
INSERT INTO alt_medium VALUES (3, E'\x01\x01AAAAAAAA');
SELECT count(*) FROM alt_medium;
COMMIT;
RESET ROLE;

-- log_only: counted, nothing refused, no crash
SET pg_rollout.enforcement_mode = 'log_only';
SET ROLE regress_alt_app;
BEGIN;
SELECT rollout.set_tenant('acme');
INSERT INTO alt_type VALUES (4, E'\x01\x01BBBBBBBB');
SELECT count(*) FROM alt_type;
SELECT count(*) FROM alt_col;
SELECT count(*) FROM alt_rls;
COMMIT;
RESET ROLE;
SELECT tbl, kind, command, enforced, count FROM rollout.violations
 WHERE kind IN ('protection_altered', 'row_security_disabled') ORDER BY tbl::text, kind, command, enforced;

-- Put back: the checks follow (the registry is reloaded on ALTER TABLE).
ALTER TABLE alt_type ALTER COLUMN tenant_id TYPE text;
ALTER TABLE alt_col RENAME COLUMN owner_id TO tenant_id;
ALTER TABLE alt_rls ENABLE ROW LEVEL SECURITY;
ALTER TABLE alt_force FORCE ROW LEVEL SECURITY;
SET pg_rollout.enforcement_mode = 'enforce';
SET ROLE regress_alt_owner;
BEGIN;
SELECT rollout.set_tenant('globex');
SELECT * FROM alt_type ORDER BY id;
SELECT * FROM alt_col;
SELECT * FROM alt_rls;
SELECT * FROM alt_force;
COMMIT;
RESET ROLE;
RESET pg_rollout.enforcement_mode;
