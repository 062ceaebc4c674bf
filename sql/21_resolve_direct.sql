-- Issue 11: a cache miss reads the tables through their primary keys in C,
-- and resolve_versions / effective_channels walk the tree in path order
-- without SQL.  Every form must give the answer of every other form:
-- single look-ups (cache off, so each is a miss), the bulk pass, and the
-- explain form, on a tree with pins (few, and more than the 4096 kept
-- with the component), a live rollout with a deferral, channels with
-- opt-outs and a suspended tenant.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
\set VERBOSITY terse
SET pg_rollout.actor = 'alice';

-- 2 organisations x 3 teams x 3 projects x 2 environments
SELECT rollout.create_tenants(array_agg(id ORDER BY ord), array_agg(parent ORDER BY ord), array_agg(kind ORDER BY ord))
  FROM (SELECT 'o' || o AS id, NULL AS parent, 'organisation' AS kind, 1 AS ord FROM generate_series(1, 2) o
        UNION ALL
        SELECT format('o%s-t%s', o, t), 'o' || o, 'team', 2 FROM generate_series(1, 2) o, generate_series(1, 3) t
        UNION ALL
        SELECT format('o%s-t%s-p%s', o, t, p), format('o%s-t%s', o, t), 'project', 3
          FROM generate_series(1, 2) o, generate_series(1, 3) t, generate_series(1, 3) p
        UNION ALL
        SELECT format('o%s-t%s-p%s-e%s', o, t, p, e), format('o%s-t%s-p%s', o, t, p), 'environment', 4
          FROM generate_series(1, 2) o, generate_series(1, 3) t, generate_series(1, 3) p, generate_series(1, 2) e) x;

SELECT count(*) FROM (SELECT rollout.create_component('c', 'product', 'C')) x;
SELECT count(*) FROM (SELECT rollout.add_version('c', v::rollout.semver, 'published')
                        FROM unnest('{1.0.0,1.1.0,2.0.0,3.0.0}'::text[]) v) x;
SELECT count(*) FROM (SELECT rollout.set_default_version('c', '1.0.0')) x;
SELECT count(*) FROM (SELECT rollout.set_channel_release('c', 'stable', '1.1.0')) x;
SELECT count(*) FROM (SELECT rollout.set_channel_release('c', 'candidate', '2.0.0')) x;
SELECT count(*) FROM (SELECT rollout.set_tenant_channel('o1-t3', 'candidate')) x;
SELECT count(*) FROM (SELECT rollout.opt_out('o1-t3-p2', 'candidate', 'stable only')) x;
SELECT count(*) FROM (SELECT rollout.pin_version('o2', 'c', '3.0.0', 'held')) x;
SELECT count(*) FROM (SELECT rollout.pin_version('o2-t1-p1', 'c', '1.0.0', 'held back')) x;
SELECT count(*) FROM (SELECT rollout.suspend_tenant('o1-t1-p3-e2', 'paused')) x;
-- a live rollout: stage 1 names team o1-t1 and team o1-t2 (blacked out: deferred)
SELECT count(*) FROM (SELECT rollout.add_blackout('o1-t2', tstzrange(now() - interval '1 hour', now() + interval '1 day'), 'freeze')) x;
SELECT count(*) FROM (SELECT rollout.create_rollout('r1', 'c', '1.1.0', '2.0.0')) x;
SELECT count(*) FROM (SELECT rollout.add_stage('r1', 'teams', 'tenants', tenants => ARRAY['o1-t1', 'o1-t2'])) x;
SELECT count(*) FROM (SELECT rollout.add_stage('r1', 'half', 'percentage', percent => 50)) x;
SET pg_rollout.actor = 'bob';
SELECT count(*) FROM (SELECT rollout.approve_rollout('r1')) x;
SELECT count(*) FROM (SELECT rollout.start_rollout('r1')) x;
SELECT tenant_id, stage_no FROM rollout.deferral ORDER BY tenant_id;
-- a second component with more pins than a component keeps (4096): probed
SELECT rollout.create_tenants(array_agg('x' || i ORDER BY i), array_fill('o1-t1-p1'::text, ARRAY[4200]))
  FROM generate_series(1, 4200) i;
SELECT count(*) FROM (SELECT rollout.create_component('big', 'product', 'Big')) x;
SELECT count(*) FROM (SELECT rollout.add_version('big', v::rollout.semver, 'published')
                        FROM unnest('{1.0.0,2.0.0}'::text[]) v) x;
SELECT count(*) FROM (SELECT rollout.set_default_version('big', '1.0.0')) x;
INSERT INTO rollout.pin (component_id, tenant_id, version, reason, pinned_by)
SELECT 'big', 'x' || i, CASE WHEN i % 2 = 0 THEN '2.0.0' ELSE '1.0.0' END::rollout.semver, 'bulk', 'test'
  FROM generate_series(1, 4200) i WHERE i % 100 <> 1;
INSERT INTO rollout.pin (component_id, tenant_id, version, reason, pinned_by) VALUES ('big', 'o1-t1', '2.0.0', 'team', 'test');
SELECT count(*) AS pins_of_big FROM rollout.pin WHERE component_id = 'big';

-- every tenant, every form, cache off (each single call is a miss)
SET pg_rollout.resolve_cache_size = 0;
CREATE TEMP TABLE answers AS
SELECT c.component_id, b.tenant_id, b.version::text AS bulk_version, b.source AS bulk_source,
       b.source_tenant_id AS bulk_from,
       rollout.resolve_version(b.tenant_id, c.component_id)::text AS single_version,
       (SELECT e.version::text FROM rollout.explain_version(b.tenant_id, c.component_id) e WHERE e.decided) AS explain_version,
       (SELECT e.source FROM rollout.explain_version(b.tenant_id, c.component_id) e WHERE e.decided) AS explain_source,
       (SELECT e.tenant_id FROM rollout.explain_version(b.tenant_id, c.component_id) e WHERE e.decided) AS explain_from
  FROM (VALUES ('c'), ('big')) c(component_id), LATERAL rollout.resolve_versions(c.component_id) b;
SELECT component_id, count(*) AS tenants,
       count(*) FILTER (WHERE single_version IS DISTINCT FROM bulk_version) AS single_differs,
       count(*) FILTER (WHERE explain_version IS DISTINCT FROM bulk_version
                           OR coalesce(explain_source, 'none') IS DISTINCT FROM bulk_source
                           OR explain_from IS DISTINCT FROM bulk_from) AS explain_differs
  FROM answers GROUP BY component_id ORDER BY component_id;
SELECT component_id, bulk_source, bulk_version, count(*) FROM answers GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- the cases that decide
SELECT tenant_id, bulk_version, bulk_source, bulk_from FROM answers
 WHERE component_id = 'c' AND tenant_id IN ('o1-t1-p1-e1', 'o1-t1-p3-e2', 'o1-t2-p1-e1', 'o1-t3-p1-e1', 'o1-t3-p2-e1',
                                            'o2-t1-p1-e2', 'o2-t2-p2-e1')
 ORDER BY tenant_id;
SELECT tenant_id, bulk_version, bulk_source, bulk_from FROM answers
 WHERE component_id = 'big' AND tenant_id IN ('x1', 'x2', 'x3', 'x4101', 'o1-t1-p2', 'o1-t2')
 ORDER BY tenant_id;
-- effective_channels() equals effective_channel() for every tenant
SELECT count(*) AS tenants, count(*) FILTER (WHERE e.channel_id IS DISTINCT FROM rollout.effective_channel(e.tenant_id)) AS differs
  FROM rollout.effective_channels() e;

-- with the cache: the same answers, and a change is seen after it
RESET pg_rollout.resolve_cache_size;
SELECT count(*) FILTER (WHERE rollout.resolve_version(tenant_id, component_id)::text IS DISTINCT FROM bulk_version) AS differs
  FROM answers;
SELECT count(*) FILTER (WHERE rollout.resolve_version(tenant_id, component_id)::text IS DISTINCT FROM bulk_version) AS differs_cached
  FROM answers;
SET pg_rollout.actor = 'alice';
SELECT count(*) FROM (SELECT rollout.pin_version('o1-t3', 'c', '3.0.0', 'now pinned')) x;
SELECT rollout.resolve_version('o1-t3-p2-e1', 'c') AS pinned_now;

-- errors: an unknown tenant, an unknown component, a NULL component
SELECT rollout.resolve_version('nobody', 'c');
SELECT rollout.resolve_version('o1', 'nothing');
SELECT * FROM rollout.resolve_versions('nothing');
SELECT * FROM rollout.resolve_versions(NULL);
-- a role without the viewer role cannot call them; a viewer can
CREATE ROLE r21_nobody;
CREATE ROLE r21_viewer IN ROLE rollout_viewer;
SET ROLE r21_nobody;
SELECT rollout.resolve_version('o1', 'c');
RESET ROLE;
SET ROLE r21_viewer;
SET pg_rollout.resolve_cache_size = 0;
SELECT rollout.resolve_version('o1-t1-p1-e1', 'c'), (SELECT count(*) FROM rollout.resolve_versions('c'));
RESET ROLE;
DROP ROLE r21_nobody;
DROP ROLE r21_viewer;
