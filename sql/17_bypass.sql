-- rollout.bypass() never outlives the (sub)transaction that granted it, and
-- a reason made of whitespace is no reason (issue 8, item 7).  A bypass
-- granted in a savepoint, or in a PL/pgSQL block whose exception handler
-- ran, that is rolled back, used to stay in effect for the rest of the
-- transaction, which then committed without its audit row.  Every bypass
-- leaves a durable record even when rolled back: the rollout.bypasses
-- counter and a log line (checked in test/t/011_bypass_log.pl).
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_byp_ops;
RESET client_min_messages;
SELECT count(*) FROM (SELECT rollout.create_tenant(t) FROM unnest(ARRAY['acme', 'globex']) t) x;
CREATE ROLE regress_byp_ops IN ROLE rollout_app, rollout_bypass;
CREATE TABLE byp_orders (id int, tenant_id text NOT NULL);
INSERT INTO byp_orders SELECT g, (ARRAY['acme', 'globex'])[g % 2 + 1] FROM generate_series(1, 6) g;
GRANT SELECT ON byp_orders TO regress_byp_ops;
SELECT rollout.protect_table('byp_orders', 'tenant_id', 'critical');
SET pg_rollout.enforcement_mode = 'enforce';
SET ROLE regress_byp_ops;

-- a bypass in a savepoint that is rolled back is gone
BEGIN;
SELECT rollout.set_tenant('acme');
SAVEPOINT s;
SELECT rollout.bypass('ticket 1');
SELECT count(*) AS all_tenants FROM byp_orders;
ROLLBACK TO s;
SELECT count(*) AS acme_only FROM byp_orders;
COMMIT;
-- nor does it survive without a tenant context: refused
BEGIN;
SAVEPOINT s;
SELECT rollout.bypass('ticket 2');
ROLLBACK TO s;
SELECT count(*) FROM byp_orders;
ROLLBACK;

-- the same through a PL/pgSQL exception block
BEGIN;
SELECT rollout.set_tenant('acme');
DO $$
BEGIN
    PERFORM rollout.bypass('ticket 3');
    RAISE EXCEPTION 'boom';
EXCEPTION WHEN others THEN
    NULL;
END
$$;
SELECT count(*) AS acme_only FROM byp_orders;
COMMIT;

-- a savepoint released keeps the bypass for the transaction; a later
-- savepoint rolled back does not take it away
BEGIN;
SELECT rollout.set_tenant('acme');
SAVEPOINT a;
SELECT rollout.bypass('ticket 4');
RELEASE a;
SAVEPOINT b;
SELECT count(*) AS all_tenants FROM byp_orders;
ROLLBACK TO b;
SELECT count(*) AS all_tenants FROM byp_orders;
COMMIT;
-- and the transaction's end ends it
BEGIN;
SELECT rollout.set_tenant('acme');
SELECT count(*) AS acme_only FROM byp_orders;
COMMIT;

-- whitespace is no reason
BEGIN;
SELECT rollout.bypass('   ');
ROLLBACK;
BEGIN;
SELECT rollout.bypass(E'\t\n ');
ROLLBACK;
BEGIN;
SELECT rollout.bypass(E'\r');
ROLLBACK;
RESET ROLE;

-- every bypass is counted, rolled back or not; only committed ones are audited
SELECT reason, count FROM rollout.bypasses WHERE reason LIKE 'ticket %' ORDER BY reason;
SELECT reason FROM rollout.audit_log WHERE action = 'isolation.bypass' ORDER BY seq;

RESET pg_rollout.enforcement_mode;
SET client_min_messages = warning;
DROP TABLE byp_orders;
DROP ROLE regress_byp_ops;
