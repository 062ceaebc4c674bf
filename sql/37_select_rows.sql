-- Stage selection in C (issue 11): rollout._select_rows computes the
-- arrays stage activation writes (tenants to activate, tenants held, why)
-- in one scan of the tenants; rollout._selection is the definition.  Every
-- rollout below, through every stage, must give the same tenants both ways:
-- scopes (none, an organisation, a team, a leaf), target kinds, a channel,
-- suspended and decommissioned tenants, tenants stages naming unknown,
-- suspended and out-of-scope tenants, percentages, 'all', a blackout, open
-- and closed maintenance windows (nearest windowed ancestor decides).
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;

-- 2 organisations -> 3 teams each -> 4 projects each -> 5 environments each
SELECT rollout.create_tenants(ARRAY['o-1', 'o-2'], ARRAY[NULL, NULL]::text[], ARRAY['organisation', 'organisation']);
SELECT rollout.create_tenants(array_agg('t-' || o || '-' || t ORDER BY o, t), array_agg('o-' || o ORDER BY o, t),
                              array_agg('team'::text ORDER BY o, t))
  FROM generate_series(1, 2) o, generate_series(1, 3) t;
SELECT rollout.create_tenants(array_agg('p-' || o || '-' || t || '-' || p ORDER BY o, t, p),
                              array_agg('t-' || o || '-' || t ORDER BY o, t, p),
                              array_agg('project'::text ORDER BY o, t, p))
  FROM generate_series(1, 2) o, generate_series(1, 3) t, generate_series(1, 4) p;
SELECT rollout.create_tenants(array_agg('e-' || o || '-' || t || '-' || p || '-' || e ORDER BY o, t, p, e),
                              array_agg('p-' || o || '-' || t || '-' || p ORDER BY o, t, p, e),
                              array_agg('environment'::text ORDER BY o, t, p, e))
  FROM generate_series(1, 2) o, generate_series(1, 3) t, generate_series(1, 4) p, generate_series(1, 5) e;
-- a project whose environments are all decommissioned is a leaf; a
-- suspended team and a suspended environment are never selected
SELECT count(*) FROM generate_series(1, 5) e, rollout.decommission_tenant('e-1-1-2-' || e, 'gone') d;
SELECT (rollout.suspend_tenant('t-1-3', 'on hold')).status;
SELECT (rollout.suspend_tenant('e-2-1-1-1', 'on hold')).status;
-- a channel followed by one team (and so its subtree)
SELECT (rollout.create_channel('beta', 25, 'all')).channel_id;
SELECT rollout.set_tenant_channel('t-2-2', 'beta') IS NOT NULL AS set;
-- holds: a blackout on a project, an always open window on team t-2-1, a
-- (practically) never open window on its project p-2-1-3 (the nearest
-- windowed ancestor decides), a never open one on organisation o-1 and an
-- open one on its team t-1-2
SELECT rollout.add_blackout('p-1-1-1', tstzrange(now() - interval '1 hour', now() + interval '1 day'), 'freeze') > 0 AS blackout;
SELECT rollout.add_maintenance_window('t-2-1', ARRAY[1, 2, 3, 4, 5, 6, 7], '00:00', '24:00') > 0 AS open_window;
SELECT rollout.add_maintenance_window('p-2-1-3', ARRAY[1, 2, 3, 4, 5, 6, 7], '00:00', '00:00:00.000001') > 0 AS closed_window;
SELECT rollout.add_maintenance_window('o-1', ARRAY[1, 2, 3, 4, 5, 6, 7], '00:00', '00:00:00.000001') > 0 AS closed_window;
SELECT rollout.add_maintenance_window('t-1-2', ARRAY[1, 2, 3, 4, 5, 6, 7], '00:00', '24:00') > 0 AS open_window;

SELECT (rollout.create_component('svc')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;

-- The rollouts: (id, scope, target kind, channel), each with the same
-- stages: a tenants stage, 10 %, 50 %, 50 % again, 100 %, 'all'.
SET pg_rollout.actor = 'author';
CREATE TEMP TABLE cases (rollout_id text, scope text, target_kind text, channel text);
INSERT INTO cases VALUES
    ('all-leaves', NULL, NULL, NULL), ('all-projects', NULL, 'project', NULL),
    ('org-1', 'o-1', NULL, NULL), ('org-2-env', 'o-2', 'environment', NULL),
    ('team-2-1', 't-2-1', NULL, NULL), ('team-1-3', 't-1-3', NULL, NULL),
    ('project', 'p-1-1-2', NULL, NULL), ('leaf', 'e-2-3-4-5', NULL, NULL),
    ('beta', NULL, NULL, 'beta'), ('beta-org-2', 'o-2', 'environment', 'beta');
DO $$
DECLARE
    c record;
    named text[];
BEGIN
    FOR c IN SELECT * FROM cases ORDER BY rollout_id LOOP
        PERFORM rollout.create_rollout(c.rollout_id, 'svc', '1.0.0', '2.0.0', scope_tenant_id => c.scope,
                                       target_kind => c.target_kind, channel_id => c.channel,
                                       salt => convert_to('salt-of-' || c.rollout_id, 'UTF8'));
        -- the named tenants in the rollout's scope (add_stage refuses others)
        named := ARRAY(SELECT u.id FROM unnest(ARRAY['e-1-1-1-1', 'p-2-1-1', 'e-2-1-1-1', 't-1-3', 'e-2-3-4-5',
                                                     'e-1-2-1-1', 'p-2-1-3', 'e-2-2-1-1', 'o-2', 'p-1-1-2']) u(id)
                        WHERE c.scope IS NULL OR u.id = c.scope OR rollout.is_ancestor(c.scope, u.id));
        PERFORM rollout.add_stage(c.rollout_id, 'named', 'tenants', tenants => named);
        PERFORM rollout.add_stage(c.rollout_id, 'ten', 'percentage', percent => 10);
        PERFORM rollout.add_stage(c.rollout_id, 'half', 'percentage', percent => 50);
        PERFORM rollout.add_stage(c.rollout_id, 'half-again', 'percentage', percent => 50);
        PERFORM rollout.add_stage(c.rollout_id, 'full', 'percentage', percent => 100);
        PERFORM rollout.add_stage(c.rollout_id, 'rest', 'all');
    END LOOP;
END
$$;
-- names a stage can only hold if the tree changed after the stage was
-- added (written here directly): an unknown tenant, one out of scope
UPDATE rollout.rollout_stage SET tenants = tenants || ARRAY['nobody', 'e-1-1-1-1']
 WHERE rollout_id IN ('project', 'team-2-1') AND stage_no = 1;
SELECT count(*) AS rollouts, count(*) FILTER (WHERE (SELECT count(*) FROM rollout.rollout_stage s
                                                      WHERE s.rollout_id = c.rollout_id) = 6) AS with_six_stages
  FROM cases c;

-- Both ways, through every stage: tenants to activate, and held tenants
-- with their reason.
CREATE TEMP TABLE both_ways AS
SELECT c.rollout_id, k,
       (SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM unnest(f.go) x) AS c_go,
       (SELECT coalesce(array_agg(x || ':' || y ORDER BY x), '{}') FROM unnest(f.held, f.why) u(x, y)) AS c_held,
       (SELECT coalesce(array_agg(s.tenant_id ORDER BY s.tenant_id), '{}')
          FROM rollout._selection(c.rollout_id, k) s WHERE NOT s.blacked_out) AS sql_go,
       (SELECT coalesce(array_agg(s.tenant_id || ':' || s.hold_reason ORDER BY s.tenant_id), '{}')
          FROM rollout._selection(c.rollout_id, k) s WHERE s.blacked_out) AS sql_held
  FROM cases c CROSS JOIN generate_series(1, 6) k
 CROSS JOIN LATERAL rollout._select_rows(c.rollout_id, k) f;
SELECT count(*) AS compared, count(*) FILTER (WHERE c_go <> sql_go) AS go_differs,
       count(*) FILTER (WHERE c_held <> sql_held) AS held_differs
  FROM both_ways;
-- what was compared is not empty: per rollout, activated and held through
-- the first stage, 10 %, 50 % and everything
SELECT rollout_id,
       string_agg(cardinality(c_go) || '/' || cardinality(c_held), ' ' ORDER BY k) AS go_held_by_stage
  FROM both_ways GROUP BY rollout_id ORDER BY rollout_id;
SELECT split_part(x, ':', 2) AS reason, count(*)
  FROM both_ways, unnest(c_held) x WHERE rollout_id = 'all-leaves' AND k = 6 GROUP BY 1 ORDER BY 1;

-- A weighted stage is left to SQL: NULLs.
SELECT rollout_id FROM rollout.create_rollout('weighted', 'svc', '1.0.0', '2.0.0');
SELECT stage_no FROM rollout.add_stage('weighted', 'first', 'tenants', tenants => ARRAY['e-2-2-2-2']);
SELECT stage_no FROM rollout.add_stage('weighted', 'heavy', 'percentage', percent => 20, weight_by => 'volume');
SELECT cardinality(go) AS go, cardinality(held) AS held FROM rollout._select_rows('weighted', 1);
SELECT go IS NULL AS go_null, held IS NULL AS held_null, why IS NULL AS why_null FROM rollout._select_rows('weighted', 2);

-- Unknown rollout, NULL arguments.
SELECT * FROM rollout._select_rows('no-such-rollout', 1);
SELECT * FROM rollout._select_rows(NULL, 1);

-- Stage activation uses it: starting 'team-2-1' activates what both ways
-- select through stage 1, and defers the held tenants.
SET pg_rollout.actor = 'approver';
SELECT status FROM rollout.approve_rollout('team-2-1');
SELECT status, current_stage FROM rollout.start_rollout('team-2-1');
SELECT (SELECT array_agg(a.tenant_id ORDER BY a.tenant_id) FROM rollout.activation a WHERE a.rollout_id = 'team-2-1')
       = (SELECT sql_go FROM both_ways WHERE rollout_id = 'team-2-1' AND k = 1) AS activated_as_selected,
       (SELECT array_agg(d.tenant_id || ':' || d.reason ORDER BY d.tenant_id) FROM rollout.deferral d WHERE d.rollout_id = 'team-2-1')
       = (SELECT sql_held FROM both_ways WHERE rollout_id = 'team-2-1' AND k = 1) AS deferred_as_held;

-- Not callable by the roles of the extension.
SELECT has_function_privilege('rollout_operator', 'rollout._select_rows(text, integer)', 'EXECUTE') AS operator,
       has_function_privilege('rollout_viewer', 'rollout._select_rows(text, integer)', 'EXECUTE') AS viewer;
