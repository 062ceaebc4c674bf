-- Resolution misses (src/resolve.c): a miss decided by the tenant's own
-- activation alone (own_activation_decides: no pin, no bound flag, the
-- activation by the component's latest started rollout, an active tenant)
-- reads no ancestor; every other miss reads the whole path.  Both give the
-- answer of the explain form, which always reads the whole path.  The
-- tenant rows come from the covering index tenant_resolve_idx (index-only
-- when the table's pages are all-visible, else the table's rows), or, when
-- the index is missing, from the primary key and the table.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET search_path = public, rollout;
SET pg_rollout.actor = 'alice@acme.com';

-- org -> team-a -> {proj-a, proj-a2}, org -> team-b -> {proj-b, proj-b2}
SELECT rollout.create_tenants(ARRAY['org', 'team-a', 'proj-a', 'proj-a2', 'team-b', 'proj-b', 'proj-b2'],
                              ARRAY[NULL, 'org', 'team-a', 'team-a', 'org', 'team-b', 'team-b']);
SELECT (rollout.create_component('svc')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '1.5.0', '2.0.0', '3.0.0']) v) x;
SELECT (rollout.set_default_version('svc', '1.0.0')).default_version;

CREATE FUNCTION approve_start(rid text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL pg_rollout.actor = 'bob@acme.com';
    PERFORM rollout.approve_rollout(rid);
    SET LOCAL pg_rollout.actor = 'alice@acme.com';
    RETURN (rollout.start_rollout(rid)).status;
END
$$;

-- every tenant: the answer (with its source) and whether it equals the
-- decided row of the explain form
CREATE VIEW answers AS
SELECT t.tenant_id, rollout.resolve_version(t.tenant_id, 'svc') AS version,
       (SELECT e.source || ' ' || coalesce(e.tenant_id, '-') FROM rollout.explain_version(t.tenant_id, 'svc') e
         WHERE e.decided) AS decided_by,
       rollout.resolve_version(t.tenant_id, 'svc') IS NOT DISTINCT FROM
           (SELECT e.version FROM rollout.explain_version(t.tenant_id, 'svc') e WHERE e.decided) AS agrees
  FROM rollout.tenant t ORDER BY t.path;

-- r1 (start_no 1): proj-b2, then team-a; completed
SELECT rollout_id FROM rollout.create_rollout('r1', 'svc', '1.0.0', '2.0.0');
SELECT stage_no FROM rollout.add_stage('r1', 'one', 'tenants', tenants => ARRAY['proj-b2'], pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('r1', 'two', 'tenants', tenants => ARRAY['team-a'], pass_without_metrics => true);
SELECT approve_start('r1');
SELECT status FROM rollout.advance_rollout('r1');
SELECT status FROM rollout.advance_rollout('r1');
-- r2 (start_no 2, running): team-b, proj-a and proj-b
SELECT rollout_id FROM rollout.create_rollout('r2', 'svc', '2.0.0', '3.0.0');
SELECT stage_no FROM rollout.add_stage('r2', 'one', 'tenants', tenants => ARRAY['team-b', 'proj-a', 'proj-b'],
                                       pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('r2', 'two', 'tenants', tenants => ARRAY['org'], pass_without_metrics => true);
SELECT approve_start('r2');
SELECT tenant_id, rollout_id, start_no FROM rollout.activation ORDER BY tenant_id;

-- proj-a: its own activation by r2 (the latest) decides without the path;
-- proj-a2: inherits r1's from team-a; team-a: its own by r1 (not the
-- latest: the path is read, nothing above ranks higher); proj-b: its own
-- and team-b's by r2 (a tie: the nearest, itself); proj-b2: its own by r1
-- is superseded by r2's of team-b; org: the default
SELECT * FROM answers;
-- the same in a new session, the tenants in another order (no row cached)
\c
SET search_path = public, rollout;
SELECT t, rollout.resolve_version(t, 'svc') FROM unnest(ARRAY['proj-b2', 'proj-b', 'proj-a', 'proj-a2', 'team-a']) t;
-- and with nothing kept between calls
SET pg_rollout.resolve_cache_size = 0;
SET pg_rollout.resolve_tenant_cache_size = 0;
SELECT * FROM answers;
RESET pg_rollout.resolve_cache_size;
RESET pg_rollout.resolve_tenant_cache_size;
SET pg_rollout.actor = 'alice@acme.com';

-- a suspended tenant: rollouts do not apply, its own activation included
SELECT status FROM rollout.suspend_tenant('proj-a', 'billing');
SELECT * FROM answers WHERE tenant_id = 'proj-a';
SELECT status FROM rollout.reactivate_tenant('proj-a', 'paid');
-- an unknown tenant, with and without an activation of its own
SELECT rollout.resolve_version('nobody', 'svc');
SET client_min_messages = warning;
SET session_replication_role = replica;   -- no trigger: an orphan activation
INSERT INTO rollout.activation (component_id, tenant_id, version, rollout_id, stage_no, activated_at, start_no)
VALUES ('svc', 'ghost', '3.0.0', 'r2', 1, now(), 2);
RESET session_replication_role;
RESET client_min_messages;
\c
SET search_path = public, rollout;
SET pg_rollout.actor = 'alice@acme.com';
SELECT rollout.resolve_version('ghost', 'svc');
DELETE FROM rollout.activation WHERE tenant_id = 'ghost';

-- a pin anywhere on the component: the path is read (the pin on team-a
-- decides for proj-a, whose own activation is by the latest rollout)
SELECT rollout.pin_version('team-a', 'svc', '1.5.0', 'hold');
SELECT * FROM answers WHERE tenant_id IN ('team-a', 'proj-a', 'proj-b');
SELECT rollout.unpin_version('team-a', 'svc', 'released');

-- r3 (start_no 3) on org: now the latest; r2's own activations of proj-a
-- and proj-b no longer decide alone, org's does (r2 completed first)
SELECT status FROM rollout.advance_rollout('r2');
SELECT status FROM rollout.advance_rollout('r2');
SELECT rollout_id FROM rollout.create_rollout('r3', 'svc', '3.0.0', '1.5.0', allow_downgrade => true);
SELECT stage_no FROM rollout.add_stage('r3', 'all', 'tenants', tenants => ARRAY['org'], pass_without_metrics => true);
SELECT approve_start('r3');
SELECT * FROM answers;

-- the tenant rows: read from the table while its pages are not
-- all-visible (new rows, a changed row), index-only after VACUUM (no row
-- of the table fetched: idx_tup_fetch does not move), and, without the
-- covering index, through the primary key and the table.  org2's subtree
-- has no activation: its tenants follow their effective channel.
SELECT rollout.create_tenants(ARRAY['org2', 'team-c', 'proj-c'], ARRAY[NULL, 'org2', 'team-c']);
SELECT rollout.set_channel_release('svc', 'candidate', '2.0.0');
SELECT rollout.set_channel_release('svc', 'stable', '1.5.0');
CREATE VIEW answers_c AS SELECT * FROM answers WHERE tenant_id IN ('org2', 'team-c', 'proj-c', 'proj-b');
SELECT * FROM answers_c;
SELECT (rollout.set_tenant_channel('team-c', 'candidate', 'early')).channel_id;
SELECT * FROM answers_c;
VACUUM rollout.tenant;
\c
SET search_path = public, rollout;
SELECT pg_stat_force_next_flush();
SELECT idx_tup_fetch AS fetched_before FROM pg_stat_user_indexes WHERE indexrelname = 'tenant_resolve_idx' \gset
SELECT * FROM answers_c;
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
SELECT idx_tup_read > 0 AS read, idx_tup_fetch - :fetched_before AS fetched
  FROM pg_stat_user_indexes WHERE indexrelname = 'tenant_resolve_idx';
DROP INDEX rollout.tenant_resolve_idx;
\c
SET search_path = public, rollout;
SELECT * FROM answers_c;
-- an index of that name but another shape is not used
CREATE INDEX tenant_resolve_idx ON rollout.tenant (tenant_id) INCLUDE (channel_id, parent_id, status, test_tenant);
\c
SET search_path = public, rollout;
SELECT * FROM answers_c;
DROP INDEX rollout.tenant_resolve_idx;
CREATE INDEX tenant_resolve_idx ON rollout.tenant (tenant_id) INCLUDE (parent_id, status, channel_id, test_tenant);
