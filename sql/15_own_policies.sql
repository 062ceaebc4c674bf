-- The table's own row-security policies keep their meaning (issue 8, item
-- 10).  protect_table() used to add a permissive USING (true) policy;
-- PostgreSQL ORs permissive policies, so a table's own USING (amount > 0)
-- stopped hiding anything, in every mode, and still after DROP EXTENSION.
-- Protecting a table must only ever narrow what its existing and later
-- policies allow; unprotect_table() and DROP EXTENSION leave it as it was.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_pol_owner;
DROP ROLE IF EXISTS regress_pol_app;
RESET client_min_messages;
SELECT count(*) FROM (SELECT rollout.create_tenant(t) FROM unnest(ARRAY['acme', 'globex']) t) x;

CREATE ROLE regress_pol_owner IN ROLE rollout_admin, rollout_app;
CREATE ROLE regress_pol_app IN ROLE rollout_app;
GRANT CREATE ON SCHEMA public TO regress_pol_owner;
SET ROLE regress_pol_owner;
-- pol_hidden: row security on, the owner's policy hides non-positive amounts
CREATE TABLE pol_hidden (id int, tenant_id text NOT NULL, amount int);
INSERT INTO pol_hidden VALUES (1, 'acme', 10), (2, 'acme', -1), (3, 'globex', 5), (4, 'globex', 0), (5, 'globex', -7);
ALTER TABLE pol_hidden ENABLE ROW LEVEL SECURITY;
CREATE POLICY positive ON pol_hidden USING (amount > 0);
-- pol_select_only: a policy for SELECT only, so writes are denied by default
CREATE TABLE pol_select_only (id int, tenant_id text NOT NULL);
INSERT INTO pol_select_only VALUES (1, 'acme'), (2, 'globex');
ALTER TABLE pol_select_only ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers ON pol_select_only FOR SELECT USING (true);
-- pol_deny: row security on and no policy: nothing visible but to the owner
CREATE TABLE pol_deny (id int, tenant_id text NOT NULL);
INSERT INTO pol_deny VALUES (1, 'acme'), (2, 'globex');
ALTER TABLE pol_deny ENABLE ROW LEVEL SECURITY;
-- pol_open: no row security at all
CREATE TABLE pol_open (id int, tenant_id text NOT NULL, amount int);
INSERT INTO pol_open VALUES (1, 'acme', 10), (2, 'acme', -1), (3, 'globex', 5);
GRANT SELECT, INSERT, UPDATE, DELETE ON pol_hidden, pol_select_only, pol_deny, pol_open TO regress_pol_app;
RESET ROLE;

CREATE TEMP TABLE before_state AS
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT string_agg(p.polname || ':' || p.polpermissive || ':' || p.polcmd::text || ':' ||
                          coalesce(pg_get_expr(p.polqual, p.polrelid), '-'), ', ' ORDER BY p.polname)
          FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
  FROM pg_class c WHERE c.relname IN ('pol_hidden', 'pol_select_only', 'pol_deny', 'pol_open');
CREATE FUNCTION pol_state() RETURNS TABLE (relname name, same boolean) LANGUAGE sql AS $$
    SELECT b.relname, (c.relrowsecurity, c.relforcerowsecurity,
                       (SELECT string_agg(p.polname || ':' || p.polpermissive || ':' || p.polcmd::text || ':' ||
                                          coalesce(pg_get_expr(p.polqual, p.polrelid), '-'), ', ' ORDER BY p.polname)
                          FROM pg_policy p WHERE p.polrelid = c.oid))
                      IS NOT DISTINCT FROM (b.relrowsecurity, b.relforcerowsecurity, b.policies)
      FROM before_state b JOIN pg_class c ON c.relname = b.relname ORDER BY 1
$$;
CREATE FUNCTION pol_seen() RETURNS text LANGUAGE sql AS $$
    SELECT format('hidden=%s select_only=%s deny=%s open=%s',
                  (SELECT string_agg(id::text, ',' ORDER BY id) FROM pol_hidden),
                  (SELECT string_agg(id::text, ',' ORDER BY id) FROM pol_select_only),
                  (SELECT string_agg(id::text, ',' ORDER BY id) FROM pol_deny),
                  (SELECT string_agg(id::text, ',' ORDER BY id) FROM pol_open))
$$;
GRANT EXECUTE ON FUNCTION pol_seen() TO regress_pol_app;

-- what the application sees before protect_table
SET ROLE regress_pol_app;
SELECT pol_seen();
RESET ROLE;

SET ROLE regress_pol_owner;
SELECT count(*) FROM (SELECT rollout.protect_table(t, 'tenant_id', 'critical')
                        FROM unnest(ARRAY['pol_hidden', 'pol_select_only', 'pol_deny', 'pol_open']::regclass[]) t) x;
RESET ROLE;

-- log_only: exactly what the table's own policies allowed (was hidden=1,2,3,4,5 ...)
SET ROLE regress_pol_app;
SELECT pol_seen();
-- writes the SELECT-only policy never allowed stay denied
BEGIN;
UPDATE pol_select_only SET id = id + 10 RETURNING id;
SAVEPOINT s;
INSERT INTO pol_select_only VALUES (3, 'acme');
ROLLBACK TO s;
DELETE FROM pol_deny RETURNING id;
ROLLBACK;
RESET ROLE;

-- enforce, with a tenant: the table's policies AND the tenant
SET pg_rollout.enforcement_mode = 'enforce';
SET ROLE regress_pol_app;
BEGIN;
SELECT rollout.set_tenant('globex');
SELECT pol_seen();
UPDATE pol_select_only SET id = id + 10 RETURNING id;
ROLLBACK;
RESET ROLE;

-- disabled: nothing of pg_rollout's, the table's own policies still
SET pg_rollout.enforcement_mode = 'disabled';
SET ROLE regress_pol_app;
SELECT pol_seen();
RESET ROLE;
SET pg_rollout.enforcement_mode = 'log_only';

-- policies added later keep their meaning too: a permissive one on the table
-- that had no row security, a restrictive one on another
SET ROLE regress_pol_owner;
CREATE POLICY positive ON pol_open USING (amount > 0);
CREATE POLICY small ON pol_hidden AS RESTRICTIVE USING (amount < 8);
RESET ROLE;
SET ROLE regress_pol_app;
SELECT pol_seen();
RESET ROLE;
SET ROLE regress_pol_owner;
DROP POLICY positive ON pol_open;
DROP POLICY small ON pol_hidden;
RESET ROLE;
SET ROLE regress_pol_app;
SELECT pol_seen();
RESET ROLE;

-- the internal helpers work only inside protect_table / unprotect_table
SET ROLE regress_pol_owner;
BEGIN;
SELECT rollout._register_protection('pol_open', 'tenant_id', 'high', false, true);
ROLLBACK;
SELECT rollout._record_prior_state('pol_open');
RESET ROLE;

-- unprotect_table leaves each table exactly as before protect_table
SET ROLE regress_pol_owner;
SELECT rollout.unprotect_table('pol_hidden');
SELECT rollout.unprotect_table('pol_deny');
RESET ROLE;
SELECT * FROM pol_state();
SET ROLE regress_pol_app;
SELECT pol_seen();
RESET ROLE;

-- and so does DROP EXTENSION (pol_select_only and pol_open are still protected)
SET pg_rollout.enforcement_mode = 'enforce';
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
RESET client_min_messages;
SELECT * FROM pol_state();
SET ROLE regress_pol_app;
SELECT pol_seen();
RESET ROLE;
RESET pg_rollout.enforcement_mode;

SET client_min_messages = warning;
DROP TABLE pol_hidden, pol_select_only, pol_deny, pol_open;
DROP FUNCTION pol_state(), pol_seen();
CREATE EXTENSION pg_rollout;
DROP OWNED BY regress_pol_owner, regress_pol_app;
DROP ROLE regress_pol_owner, regress_pol_app;
