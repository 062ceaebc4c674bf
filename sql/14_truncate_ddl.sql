-- TRUNCATE of a protected table, and DDL by the table's owner that would
-- switch its protection off (issue 8, items 3 and 4).  TRUNCATE removes every
-- tenant's rows and row security does not apply to it: refused where the
-- table is enforced, counted elsewhere, allowed (and counted) under an
-- audited bypass or for a superuser.  Disabling or un-forcing row security,
-- dropping, renaming or retyping the tenant column are refused to the owner in every mode but
-- disabled: rollout.unprotect_table() is the audited way.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_tr_owner;
DROP ROLE IF EXISTS regress_tr_app;
DROP ROLE IF EXISTS regress_tr_ops;
RESET client_min_messages;
SELECT count(*) FROM (SELECT rollout.create_tenant(t) FROM unnest(ARRAY['acme', 'globex']) t) x;

CREATE ROLE regress_tr_owner IN ROLE rollout_admin, rollout_app;
CREATE ROLE regress_tr_app IN ROLE rollout_app;
CREATE ROLE regress_tr_ops IN ROLE rollout_app, rollout_bypass;
GRANT CREATE ON SCHEMA public TO regress_tr_owner;
SET ROLE regress_tr_owner;
CREATE TABLE tr_critical (id int, tenant_id varchar(20) NOT NULL);
CREATE TABLE tr_medium (id int, tenant_id text NOT NULL);
CREATE TABLE tr_parent (id int, tenant_id text NOT NULL) PARTITION BY LIST (tenant_id);
CREATE TABLE tr_part_acme PARTITION OF tr_parent FOR VALUES IN ('acme');
CREATE TABLE tr_part_globex PARTITION OF tr_parent FOR VALUES IN ('globex');
CREATE TABLE tr_plain (id int, tenant_id text);
-- an unprotected parent of a protected inheritance child, and an
-- unprotected table a protected one references
CREATE TABLE tr_inh_parent (id int, tenant_id text NOT NULL);
CREATE TABLE tr_inh_child () INHERITS (tr_inh_parent);
CREATE TABLE tr_ref (id int PRIMARY KEY);
CREATE TABLE tr_fk (id int REFERENCES tr_ref, tenant_id text NOT NULL);
INSERT INTO tr_inh_child VALUES (1, 'acme'), (2, 'globex');
INSERT INTO tr_ref VALUES (1);
INSERT INTO tr_fk VALUES (1, 'acme'), (1, 'globex');
CREATE FUNCTION refill() RETURNS void LANGUAGE sql AS $$
    INSERT INTO tr_critical SELECT g, (ARRAY['acme', 'globex'])[g % 2 + 1] FROM generate_series(1, 4) g;
    INSERT INTO tr_medium SELECT g, (ARRAY['acme', 'globex'])[g % 2 + 1] FROM generate_series(1, 4) g;
    INSERT INTO tr_parent SELECT g, (ARRAY['acme', 'globex'])[g % 2 + 1] FROM generate_series(1, 4) g;
$$;
SELECT refill();
INSERT INTO tr_plain VALUES (1, 'acme');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON tr_critical, tr_medium, tr_parent, tr_part_acme, tr_part_globex,
    tr_plain, tr_inh_parent, tr_inh_child, tr_ref, tr_fk TO regress_tr_app, regress_tr_ops;
SELECT rollout.protect_table('tr_critical', 'tenant_id', 'critical');
SELECT rollout.protect_table('tr_medium', 'tenant_id', 'medium');
SELECT rollout.protect_table('tr_parent', 'tenant_id', 'critical');
SELECT rollout.protect_table('tr_inh_child', 'tenant_id', 'critical');
SELECT rollout.protect_table('tr_fk', 'tenant_id', 'critical');
-- protect_table again (it alters the table itself): still allowed
SELECT rollout.protect_table('tr_critical', 'tenant_id', 'critical');
RESET ROLE;
CREATE FUNCTION total() RETURNS bigint LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM tr_critical) + (SELECT count(*) FROM tr_medium) + (SELECT count(*) FROM tr_parent)
$$;
SELECT total();

-- ---------------------------------------------------------------------
-- TRUNCATE
-- ---------------------------------------------------------------------
SET pg_rollout.enforcement_mode = 'enforce';
SET ROLE regress_tr_app;
BEGIN;
SELECT rollout.set_tenant('acme');
SAVEPOINT s;
\set VERBOSITY default
TRUNCATE tr_critical;
\set VERBOSITY terse
ROLLBACK TO s;
TRUNCATE tr_medium;
ROLLBACK TO s;
TRUNCATE tr_parent;
ROLLBACK TO s;
TRUNCATE tr_part_globex;
ROLLBACK TO s;
TRUNCATE tr_plain, tr_critical;
ROLLBACK TO s;
-- through an unprotected parent, and through CASCADE
TRUNCATE tr_inh_parent;
ROLLBACK TO s;
TRUNCATE tr_ref CASCADE;
ROLLBACK TO s;
TRUNCATE ONLY tr_inh_parent;
TRUNCATE tr_plain;
COMMIT;
RESET ROLE;
SELECT total(), (SELECT count(*) FROM tr_inh_child) AS inh_child, (SELECT count(*) FROM tr_fk) AS fk;

-- selective: the critical table is refused, the medium one counted
SET pg_rollout.enforcement_mode = 'selective';
SET ROLE regress_tr_app;
BEGIN;
TRUNCATE tr_critical;
ROLLBACK;
BEGIN;
TRUNCATE tr_medium;
ROLLBACK;
RESET ROLE;

-- log_only: counted, allowed
SET pg_rollout.enforcement_mode = 'log_only';
SET ROLE regress_tr_app;
BEGIN;
TRUNCATE tr_critical, tr_parent;
SELECT count(*) FROM tr_critical;
ROLLBACK;
RESET ROLE;

-- enforce, with an audited bypass: allowed, counted as bypass
SET pg_rollout.enforcement_mode = 'enforce';
SET ROLE regress_tr_ops;
BEGIN;
SELECT rollout.bypass('purge ticket 99');
TRUNCATE tr_medium;
ROLLBACK;
RESET ROLE;
-- a superuser: allowed, counted as privileged_access
BEGIN;
TRUNCATE tr_critical;
ROLLBACK;
SELECT total();
SELECT tbl, kind, command, enforced, count FROM rollout.violations
 WHERE command = 'truncate' ORDER BY tbl::text, kind, enforced;
SELECT table_name, command, refused FROM (
    SELECT tbl::text AS table_name, command, refused, query FROM rollout.recent_violation_log
     WHERE command = 'truncate') v ORDER BY 1, 3;

-- ---------------------------------------------------------------------
-- DDL by the owner (in log_only too: it is refused in every mode but disabled)
-- ---------------------------------------------------------------------
SET pg_rollout.enforcement_mode = 'log_only';
SET ROLE regress_tr_owner;
\set VERBOSITY default
ALTER TABLE tr_critical DISABLE ROW LEVEL SECURITY;
\set VERBOSITY terse
ALTER TABLE tr_critical NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tr_part_acme NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tr_critical DROP COLUMN tenant_id;
ALTER TABLE tr_critical ALTER COLUMN tenant_id TYPE name;
ALTER TABLE tr_critical ALTER COLUMN tenant_id TYPE bytea USING tenant_id::bytea;
ALTER TABLE tr_critical RENAME COLUMN tenant_id TO owner;
ALTER TABLE tr_critical RENAME tenant_id TO owner;
ALTER TABLE tr_critical ADD COLUMN note text, DISABLE ROW LEVEL SECURITY;
-- pg_rollout creates no policy (sql/15_own_policies.sql): the owner's own
-- policies can only narrow what the tenant filter lets through
-- through an unprotected parent: column changes recurse to the protected child
ALTER TABLE tr_inh_parent DROP COLUMN tenant_id;
ALTER TABLE tr_inh_parent ALTER COLUMN tenant_id TYPE int USING 0;
ALTER TABLE tr_inh_parent RENAME COLUMN tenant_id TO owner;
-- what stays allowed: other columns, widening the tenant column within
-- text/varchar, other tables, the table's own policies
ALTER TABLE tr_critical ADD COLUMN note text;
ALTER TABLE tr_critical ALTER COLUMN tenant_id TYPE varchar(63);
ALTER TABLE tr_critical ALTER COLUMN tenant_id TYPE text;
ALTER TABLE tr_critical RENAME COLUMN note TO remark;
ALTER TABLE tr_critical DROP COLUMN remark;
ALTER TABLE tr_plain DISABLE ROW LEVEL SECURITY;
CREATE POLICY own ON tr_medium AS RESTRICTIVE USING (id > 0);
DROP POLICY own ON tr_medium;
RESET ROLE;
-- the protection is intact
SELECT tbl, tenant_column, row_security, forced FROM rollout.protected_tables ORDER BY tbl::text;
SELECT c.relname, p.polname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
 WHERE c.relname LIKE 'tr\_%' ORDER BY 1, 2;

-- in disabled mode nothing is checked
SET pg_rollout.enforcement_mode = 'disabled';
SET ROLE regress_tr_owner;
BEGIN;
ALTER TABLE tr_medium NO FORCE ROW LEVEL SECURITY;
ROLLBACK;
RESET ROLE;
SET pg_rollout.enforcement_mode = 'log_only';

-- unprotect_table is the way; then the table is the owner's again
SET ROLE regress_tr_owner;
SELECT rollout.unprotect_table('tr_medium');
ALTER TABLE tr_medium RENAME COLUMN tenant_id TO owner;
TRUNCATE tr_medium;
RESET ROLE;
RESET pg_rollout.enforcement_mode;
