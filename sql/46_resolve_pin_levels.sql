-- Resolution misses and the component's pins (src/resolve.c,
-- load_path_direct): a component with few pins keeps them all in a hash
-- (ComponentInfo.pins); with none, the levels of a miss are not looked up
-- in it at all.  Every answer, with no pin, with a pin on an ancestor, on
-- the tenant, on two levels (the nearest decides), and after the pins are
-- removed again, equals the decided row of the explain form; with the
-- answers cache off (every call a miss) and on.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET search_path = public, rollout;
SET pg_rollout.actor = 'alice@acme.com';

-- org -> team -> proj -> leaf, org -> team2
SELECT rollout.create_tenants(ARRAY['org', 'team', 'proj', 'leaf', 'team2'],
                              ARRAY[NULL, 'org', 'team', 'proj', 'org']);
SELECT (rollout.create_component('svc')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '1.5.0', '2.0.0', '3.0.0']) v) x;
SELECT (rollout.set_default_version('svc', '1.0.0')).default_version;
SELECT rollout.set_channel_release('svc', 'stable', '1.5.0');

CREATE VIEW answers AS
SELECT t.tenant_id, rollout.resolve_version(t.tenant_id, 'svc') AS version,
       (SELECT e.source || ' ' || coalesce(e.tenant_id, '-') FROM rollout.explain_version(t.tenant_id, 'svc') e
         WHERE e.decided) AS decided_by,
       rollout.resolve_version(t.tenant_id, 'svc') IS NOT DISTINCT FROM
           (SELECT e.version FROM rollout.explain_version(t.tenant_id, 'svc') e WHERE e.decided) AS agrees
  FROM rollout.tenant t ORDER BY t.path;

-- no pin: the channel release everywhere
SET pg_rollout.resolve_cache_size = 0;
SELECT * FROM answers;
RESET pg_rollout.resolve_cache_size;
SELECT * FROM answers;

-- a pin on team: its subtree; then one on leaf too: the nearest decides
SELECT rollout.pin_version('team', 'svc', '2.0.0', 'hold');
SET pg_rollout.resolve_cache_size = 0;
SELECT * FROM answers;
RESET pg_rollout.resolve_cache_size;
SELECT * FROM answers;
SELECT rollout.pin_version('leaf', 'svc', '3.0.0', 'canary');
SET pg_rollout.resolve_cache_size = 0;
SELECT * FROM answers;
RESET pg_rollout.resolve_cache_size;
SELECT * FROM answers;

-- both removed: no pin again, in the same session
SELECT rollout.unpin_version('team', 'svc');
SELECT rollout.unpin_version('leaf', 'svc');
SET pg_rollout.resolve_cache_size = 0;
SELECT * FROM answers;
RESET pg_rollout.resolve_cache_size;
SELECT * FROM answers;

-- the answers of a new session (nothing cached yet) for leaf and team
SELECT rollout.pin_version('proj', 'svc', '2.0.0', 'hold');
\c
SET search_path = public, rollout;
SELECT rollout.resolve_version('leaf', 'svc') AS leaf, rollout.resolve_version('team', 'svc') AS team;

DROP VIEW answers;
