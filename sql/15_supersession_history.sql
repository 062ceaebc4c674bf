-- Later rollouts supersede earlier ones down the tree (issue 10, item 1):
-- the activation by the most recently started rollout on a tenant's path
-- decides, so a canary naming a team reaches the team's projects at every
-- depth although an earlier "all" stage gave each of them its own
-- activation; rolling the later rollout back restores exactly what the
-- earlier one had decided.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET search_path = public, rollout;
SET pg_rollout.actor = 'alice@acme.com';

-- org -> team-a -> sub-a -> proj-a1 -> env-a1 (depth 5), proj-a2 under team-a,
-- team-b -> proj-b1
SELECT rollout.create_tenants(ARRAY['org', 'team-a', 'sub-a', 'proj-a1', 'env-a1', 'proj-a2', 'team-b', 'proj-b1'],
                              ARRAY[NULL, 'org', 'team-a', 'sub-a', 'proj-a1', 'team-a', 'org', 'team-b']);
SELECT (rollout.create_component('svc')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0', '3.0.0']) v) x;
SELECT (rollout.set_default_version('svc', '1.0.0')).default_version;

-- run a rollout: approve as someone else, start, advance through every stage
CREATE FUNCTION run_through(rid text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL pg_rollout.actor = 'bob@acme.com';
    PERFORM rollout.approve_rollout(rid);
    SET LOCAL pg_rollout.actor = 'alice@acme.com';
    PERFORM rollout.start_rollout(rid);
    WHILE (SELECT status FROM rollout.rollout WHERE rollout_id = rid) = 'running' LOOP
        PERFORM rollout.advance_rollout(rid);
    END LOOP;
    RETURN (SELECT status FROM rollout.rollout WHERE rollout_id = rid);
END
$$;

-- rollout 1: everyone to 2.0.0 with an "all" stage (one activation each)
SELECT rollout_id FROM rollout.create_rollout('r1', 'svc', '1.0.0', '2.0.0');
SELECT stage_no FROM rollout.add_stage('r1', 'everyone', 'all', pass_without_metrics => true);
SELECT run_through('r1');
SELECT count(*) AS own_activations FROM rollout.activation WHERE rollout_id = 'r1';
CREATE TABLE after_r1 AS SELECT * FROM rollout.resolve_versions('svc');

-- rollout 2: a canary naming team-a, then everyone; stop after the canary
SELECT rollout_id FROM rollout.create_rollout('r2', 'svc', '2.0.0', '3.0.0');
SELECT stage_no FROM rollout.add_stage('r2', 'canary', 'tenants', tenants => ARRAY['team-a'], pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('r2', 'everyone', 'all', pass_without_metrics => true);
SET pg_rollout.actor = 'bob@acme.com';
SELECT status FROM rollout.approve_rollout('r2');
SET pg_rollout.actor = 'alice@acme.com';
SELECT status FROM rollout.start_rollout('r2');
SELECT rollout_id, start_no FROM rollout.rollout ORDER BY start_no;

-- the canary reaches team-a's whole subtree, at every depth; team-b stays
SELECT t.tenant_id, rollout.resolve_version(t.tenant_id, 'svc') AS version
  FROM rollout.tenant t ORDER BY t.path;
-- explain says which rollout decided and which activation it superseded
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('env-a1', 'svc');
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('proj-b1', 'svc');
-- bulk resolution agrees with single resolution
SELECT tenant_id, version, source, source_tenant_id FROM rollout.resolve_versions('svc');
SELECT count(*) AS disagreements
  FROM rollout.resolve_versions('svc') b
 WHERE b.version IS DISTINCT FROM rollout.resolve_version(b.tenant_id, 'svc');
-- preview agrees: team-a's subtree already runs r2 (through team-a)
SELECT stage_no, stage, tenant_id, already_active FROM rollout.preview('r2');

-- pins still win over the latest rollout
SELECT rollout.pin_version('proj-a2', 'svc', '1.0.0', 'certification');
SELECT rollout.resolve_version('proj-a2', 'svc') AS pinned, rollout.resolve_version('sub-a', 'svc') AS neighbour;
SELECT rollout.unpin_version('proj-a2', 'svc', 'certified');

-- rolling r2 back restores exactly what r1 decided
SELECT rollout.rollback_rollout('r2', 'regression in the canary');
SELECT count(*) AS differences FROM (
    (SELECT * FROM after_r1 EXCEPT SELECT * FROM rollout.resolve_versions('svc'))
    UNION ALL
    (SELECT * FROM rollout.resolve_versions('svc') EXCEPT SELECT * FROM after_r1)) d;
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('env-a1', 'svc');
SELECT tenant_id, rollout_id, start_no, previous_rollout_id FROM rollout.activation WHERE tenant_id LIKE 'team%' ORDER BY 1;

-- rollout 3 runs to the end, then a partial rollback of rollout 4 keeps its canary
SELECT rollout_id FROM rollout.create_rollout('r3', 'svc', '2.0.0', '3.0.0');
SELECT stage_no FROM rollout.add_stage('r3', 'canary', 'tenants', tenants => ARRAY['sub-a'], pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('r3', 'everyone', 'all', pass_without_metrics => true);
SELECT run_through('r3');
SELECT rollout_id FROM rollout.create_rollout('r4', 'svc', '3.0.0', '2.0.0', allow_downgrade => true);
SELECT stage_no FROM rollout.add_stage('r4', 'canary', 'tenants', tenants => ARRAY['org'], pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('r4', 'everyone', 'all', pass_without_metrics => true);
SET pg_rollout.actor = 'bob@acme.com';
SELECT status FROM rollout.approve_rollout('r4');
SET pg_rollout.actor = 'alice@acme.com';
SELECT status FROM rollout.start_rollout('r4');
SELECT status FROM rollout.advance_rollout('r4');
SELECT rollout.rollback_rollout('r4', 'only the canary', back_to_stage => 1);
-- the canary on the root still covers every tenant below it
SELECT tenant_id, version, source, source_tenant_id FROM rollout.resolve_versions('svc');
SELECT rollout.rollback_rollout('r4', 'all of it');
SELECT tenant_id, version, source, source_tenant_id FROM rollout.resolve_versions('svc');

-- a tenant the live rollout deferred is not reached through its ancestors
SELECT rollout.add_blackout('team-b', tstzrange(now() - interval '1 hour', now() + interval '1 hour'), 'freeze')
    AS blackout_id \gset
SELECT rollout_id FROM rollout.create_rollout('r5', 'svc', '3.0.0', '2.0.0', allow_downgrade => true);
SELECT stage_no FROM rollout.add_stage('r5', 'everyone', 'all', pass_without_metrics => true);
SET pg_rollout.actor = 'bob@acme.com';
SELECT status FROM rollout.approve_rollout('r5');
SET pg_rollout.actor = 'alice@acme.com';
SELECT status FROM rollout.start_rollout('r5');
SELECT tenant_id, reason FROM rollout.deferral ORDER BY 1;
SELECT tenant_id, version, source, source_tenant_id FROM rollout.resolve_versions('svc');
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('proj-b1', 'svc');
SELECT stage_no, tenant_id, deferred, already_active FROM rollout.preview('r5');
SELECT rollout.remove_blackout(:blackout_id, 'freeze over');
SELECT rollout_id, action FROM rollout.tick();
SELECT tenant_id, version, source, source_tenant_id FROM rollout.resolve_versions('svc');
SELECT check_name, problems FROM rollout.verify_state() WHERE problems > 0;

-- Per-tenant history (issue 10, item 4): every change of the version a
-- tenant runs, with its cause, in one query.
SELECT rollout.create_tenants(ARRAY['org2', 'team2', 'proj2'], ARRAY[NULL, 'org2', 'team2']);
SELECT (rollout.create_component('app')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('app', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0', '2.1.0', '3.0.0']) v) x;
SELECT (rollout.set_default_version('app', '1.0.0', 'first release')).default_version;
-- two rollouts move proj2: 2.0.0 for everyone, then a canary on its team
SELECT rollout_id FROM rollout.create_rollout('app-1', 'app', '1.0.0', '2.0.0', scope_tenant_id => 'org2');
SELECT stage_no FROM rollout.add_stage('app-1', 'everyone', 'all', pass_without_metrics => true);
SELECT run_through('app-1');
SELECT rollout_id FROM rollout.create_rollout('app-2', 'app', '2.0.0', '2.1.0', scope_tenant_id => 'org2');
SELECT stage_no FROM rollout.add_stage('app-2', 'canary', 'tenants', tenants => ARRAY['team2'], pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('app-2', 'everyone', 'all', pass_without_metrics => true);
SET pg_rollout.actor = 'bob@acme.com';
SELECT status FROM rollout.approve_rollout('app-2');
SET pg_rollout.actor = 'alice@acme.com';
SELECT status FROM rollout.start_rollout('app-2', 'canary on team2');
SELECT status FROM rollout.advance_rollout('app-2', 'canary fine');
SELECT status FROM rollout.advance_rollout('app-2', 'all fine');
-- a pin on the team, released again; then the second rollout is rolled back
SELECT rollout.pin_version('team2', 'app', '1.0.0', 'incident 12');
SELECT rollout.unpin_version('team2', 'app', 'incident closed');
SELECT rollout.rollback_rollout('app-2', 'customer reports');
-- a third rollout and its cancellation; a pin on the project itself
SELECT rollout_id FROM rollout.create_rollout('app-3', 'app', '2.0.0', '3.0.0', scope_tenant_id => 'org2');
SELECT stage_no FROM rollout.add_stage('app-3', 'all', 'all', pass_without_metrics => true);
SET pg_rollout.actor = 'bob@acme.com';
SELECT status FROM rollout.approve_rollout('app-3');
SET pg_rollout.actor = 'alice@acme.com';
SELECT status FROM rollout.start_rollout('app-3');
SELECT status FROM rollout.cancel_rollout('app-3', 'wrong build');
SELECT rollout.pin_version('proj2', 'app', '2.1.0', 'customer asked');
-- when did proj2 move, and why
SELECT version, previous_version, cause, decided_on, rollout_id, stage_no, actor, reason
  FROM rollout.tenant_history('proj2', 'app');
-- "when did proj2 move to 2.1.0 and why"
SELECT cause, decided_on, rollout_id, reason, changed_at >= (SELECT created_at FROM rollout.tenant WHERE tenant_id = 'proj2') AS after_creation
  FROM rollout.tenant_history('proj2', 'app') WHERE version = '2.1.0';
-- the history ends where resolution is
SELECT (SELECT version FROM rollout.tenant_history('proj2', 'app') ORDER BY changed_at DESC LIMIT 1)
       = rollout.resolve_version('proj2', 'app') AS agrees;
-- archived activations: undone by the rollback and the cancellation
SELECT tenant_id, rollout_id, version, ended_by, ended_rollout_id FROM rollout.activation_history
 WHERE component_id = 'app' ORDER BY rollout_id, tenant_id;
SELECT rollout.tenant_history('nobody', 'app');
SELECT rollout.tenant_history('proj2', 'nothing');
SELECT check_name, problems FROM rollout.verify_state() WHERE problems > 0;
-- a started rollout's number is fixed: renumbering would change which
-- rollout decides for every tenant (even the table's owner is refused)
UPDATE rollout.rollout SET start_no = start_no + 10 WHERE rollout_id = 'app-3';
UPDATE rollout.rollout SET start_no = NULL WHERE rollout_id = 'app-3';
SELECT rollout_id, start_no FROM rollout.rollout WHERE component_id = 'app' ORDER BY start_no;
