-- Metadata that other roles must not read: the outbox keeps an event's
-- actor and details (a NOTIFY carries only its id and kind, as any role may
-- LISTEN: test/t/002_cron_tick.pl); the query text of a violation
-- (other roles' literals) is shown only to rollout_admin and
-- pg_read_all_stats, as pg_stat_statements does.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;

SET pg_rollout.actor = 'alice@example.com';
SELECT (rollout.create_tenant('acme')).tenant_id;
SELECT (rollout.create_component('svc')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;
-- (the notification itself is checked in test/t/002_cron_tick.pl: psql
-- prints the sender's process id, which changes from run to run)
SELECT rollout_id FROM rollout.create_rollout('r-secret', 'svc', '1.0.0', '2.0.0', description => 'for acme only');
SELECT payload ->> 'actor' AS actor_in_outbox FROM rollout.pending_events WHERE event = 'rollout.created';

-- a violation whose query holds a literal
CREATE TABLE meta_orders (id int PRIMARY KEY, tenant_id text NOT NULL, card text);
INSERT INTO meta_orders VALUES (1, 'acme', '4111-1111');
SELECT rollout.protect_table('meta_orders', 'tenant_id') IS NULL AS protected;
CREATE ROLE regress_meta_app LOGIN IN ROLE rollout_app;
CREATE ROLE regress_meta_viewer LOGIN IN ROLE rollout_viewer;
CREATE ROLE regress_meta_stats LOGIN IN ROLE pg_read_all_stats;
GRANT SELECT ON meta_orders TO regress_meta_app;
GRANT USAGE ON SCHEMA rollout TO regress_meta_stats;
GRANT SELECT ON rollout.recent_violation_log TO regress_meta_stats;
GRANT EXECUTE ON FUNCTION rollout.recent_violations() TO regress_meta_stats;
SET ROLE regress_meta_app;
SELECT count(*) FROM meta_orders WHERE card = '4111-1111';
RESET ROLE;
SET ROLE regress_meta_viewer;
SELECT count(*) > 0 AS rows_seen, bool_and(query = '<insufficient privilege>') AS text_hidden
  FROM rollout.recent_violation_log WHERE tbl = 'meta_orders'::regclass;
RESET ROLE;
SET ROLE regress_meta_stats;
SELECT bool_or(query LIKE '%4111-1111%') AS text_shown_to_pg_read_all_stats
  FROM rollout.recent_violation_log WHERE tbl = 'meta_orders'::regclass;
RESET ROLE;
SELECT bool_or(query LIKE '%4111-1111%') AS text_shown_to_admin
  FROM rollout.recent_violation_log WHERE tbl = 'meta_orders'::regclass;

SELECT rollout.unprotect_table('meta_orders') IS NULL AS unprotected;
DROP TABLE meta_orders;
DROP ROLE regress_meta_app, regress_meta_viewer;
REVOKE ALL ON rollout.recent_violation_log FROM regress_meta_stats;
REVOKE ALL ON FUNCTION rollout.recent_violations() FROM regress_meta_stats;
REVOKE ALL ON SCHEMA rollout FROM regress_meta_stats;
DROP ROLE regress_meta_stats;
