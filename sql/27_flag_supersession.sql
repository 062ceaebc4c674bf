-- A flag bound to a feature_flag rollout is on by that rollout only where
-- its activation is the deciding one on the tenant's path, by the same rule
-- as version resolution (the activation by the most recently started
-- rollout, activation.start_no, wins over a nearer older one): flag_enabled
-- and explain_flag agree with resolve_version and explain_version.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET search_path = public, rollout;
SET pg_rollout.actor = 'alice@acme.com';

-- org -> team-a -> proj-a, org -> team-b -> proj-b
SELECT rollout.create_tenants(ARRAY['org', 'team-a', 'proj-a', 'team-b', 'proj-b'],
                              ARRAY[NULL, 'org', 'team-a', 'org', 'team-b']);
SELECT (rollout.create_component('svc')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0', '3.0.0']) v) x;
SELECT (rollout.set_default_version('svc', '1.0.0')).default_version;

CREATE OR REPLACE FUNCTION flag_run_through(rid text) RETURNS text LANGUAGE plpgsql AS $$
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

-- the flagged rollout r1 (2.0.0 behind flag svc-2) activates proj-a and team-b
SELECT rollout_id, strategy, flag_id FROM rollout.create_rollout('r1', 'svc', '1.0.0', '2.0.0', strategy => 'feature_flag',
                                                                 flag_id => 'svc-2');
SELECT stage_no FROM rollout.add_stage('r1', 'early', 'tenants', tenants => ARRAY['proj-a', 'team-b'],
                                       pass_without_metrics => true);
SELECT flag_run_through('r1');

-- a later rollout r2 (3.0.0) activates team-a (above proj-a's older
-- activation) and proj-b (below team-b's older activation)
SELECT rollout_id FROM rollout.create_rollout('r2', 'svc', '2.0.0', '3.0.0');
SELECT stage_no FROM rollout.add_stage('r2', 'canary', 'tenants', tenants => ARRAY['team-a', 'proj-b'],
                                       pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('r2', 'everyone', 'all', pass_without_metrics => true);
SET pg_rollout.actor = 'bob@acme.com';
SELECT status FROM rollout.approve_rollout('r2');
SET pg_rollout.actor = 'alice@acme.com';
SELECT status FROM rollout.start_rollout('r2');
SELECT rollout_id, start_no FROM rollout.rollout ORDER BY start_no;
SELECT tenant_id, rollout_id FROM rollout.activation ORDER BY tenant_id;

-- the flag is on exactly where the version is the flagged one
CREATE VIEW flag_vs_version AS
SELECT t.tenant_id, rollout.resolve_version(t.tenant_id, 'svc') AS version,
       rollout.flag_enabled(t.tenant_id, 'svc-2') AS flag_on,
       (rollout.resolve_version(t.tenant_id, 'svc') = '2.0.0') = rollout.flag_enabled(t.tenant_id, 'svc-2') AS agree
  FROM rollout.tenant t ORDER BY t.path;
SELECT * FROM flag_vs_version;
-- explain_flag names the rollout that superseded the flag's activation
SELECT step, source, tenant_id, enabled, decided, detail FROM rollout.explain_flag('proj-a', 'svc-2');
SELECT step, source, tenant_id, enabled, decided, detail FROM rollout.explain_flag('proj-b', 'svc-2');
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('proj-b', 'svc');

-- rolling r2 back restores r1's decision, for the flag as for the version
SELECT rollout.rollback_rollout('r2', 'regression in the canary') >= 0 AS rolled_back;
SELECT * FROM flag_vs_version;
SELECT step, source, tenant_id, enabled, decided, detail FROM rollout.explain_flag('proj-b', 'svc-2');

DROP VIEW flag_vs_version;
DROP FUNCTION flag_run_through(text);
