-- What a newcomer or a DBA meets from outside (helper session):
--  - rollout.health()'s hints name a command that works here: pg_cron lives
--    in one database (cron.database_name), so where its schema is missing
--    the hint names cron.schedule_in_database with this database;
--  - the tenant tree has no foreign key to itself (every pg_dump warned
--    about circular foreign-key constraints): verify_state() checks it.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;

-- 1. health() hints without pg_cron in this database
SELECT check_name, status, hint FROM rollout.health() WHERE check_name = 'audit verification';
SELECT (rollout.create_tenant('t1')).tenant_id;
SELECT (rollout.create_component('svc', 'product')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v::rollout.semver, 'published') FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;
SET pg_rollout.actor = 'author@example.com';
SELECT (rollout.create_rollout('r1', 'svc', '1.0.0', '2.0.0')).rollout_id;
SELECT (rollout.add_stage('r1', 'all', 'all')).name;
SET pg_rollout.actor = 'approver@example.com';
SELECT (rollout.approve_rollout('r1')).status;
SELECT (rollout.start_rollout('r1')).status;
-- due for an hour and nobody ticked (a superuser's direct write)
UPDATE rollout.rollout SET next_due_at = now() - interval '1 hour' WHERE rollout_id = 'r1';
SELECT check_name, status, hint FROM rollout.health() WHERE check_name IN ('tick', 'audit verification') ORDER BY 1;

-- 2. with pg_cron's schema here, the hint is cron.schedule
CREATE SCHEMA cron;
SELECT check_name, hint FROM rollout.health() WHERE check_name IN ('tick', 'audit verification') ORDER BY 1;
DROP SCHEMA cron;

-- 3. the tree's parent references are checked by verify_state()
SELECT count(*) FROM pg_constraint
 WHERE conrelid = 'rollout.tenant'::regclass AND contype = 'f';
SELECT check_name, problems FROM rollout.verify_state() WHERE check_name LIKE 'tenant.%' ORDER BY 1;
SELECT (rollout.create_tenant('t2', parent_id => 't1')).path;
SELECT rollout.create_tenant('t3', parent_id => 'nobody');
ALTER TABLE rollout.tenant DISABLE TRIGGER USER;
UPDATE rollout.tenant SET parent_id = 'gone', path = ARRAY['gone', 't2'] WHERE tenant_id = 't2';
ALTER TABLE rollout.tenant ENABLE TRIGGER USER;
SELECT check_name, problems, example FROM rollout.verify_state() WHERE check_name = 'tenant.parent_id -> tenant';
