-- A tenant that the component's live rollout deferred (a blackout) is not
-- reached by that rollout's activation of an ancestor: not for its version
-- (resolve_version), and, by the same rule (deciding_activation() in
-- src/resolve.c), not for the flag of a feature_flag rollout either.  Also:
-- a kill switch and an override keep gating a completed flagged rollout
-- (docs/reference.md, "Feature-flag rollouts").
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET search_path = public, rollout;
SET pg_rollout.actor = 'alice@acme.com';

-- org -> team-a -> {proj-a, proj-a2}, org -> team-b -> proj-b
SELECT rollout.create_tenants(ARRAY['org', 'team-a', 'proj-a', 'proj-a2', 'team-b', 'proj-b'],
                              ARRAY[NULL, 'org', 'team-a', 'team-a', 'org', 'team-b']);
SELECT (rollout.create_component('svc')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0', '3.0.0']) v) x;
SELECT (rollout.set_default_version('svc', '1.0.0')).default_version;

CREATE FUNCTION approve_start(rid text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL pg_rollout.actor = 'bob@acme.com';
    PERFORM rollout.approve_rollout(rid);
    SET LOCAL pg_rollout.actor = 'alice@acme.com';
    RETURN (rollout.start_rollout(rid)).status;
END
$$;

-- the flag is on exactly where the version is the flagged rollout's
CREATE VIEW flag_vs_version AS
SELECT t.tenant_id, rollout.resolve_version(t.tenant_id, 'svc') AS version,
       rollout.flag_enabled(t.tenant_id, 'svc-2') AS flag_on,
       (rollout.resolve_version(t.tenant_id, 'svc') = '2.0.0') = rollout.flag_enabled(t.tenant_id, 'svc-2') AS agree
  FROM rollout.tenant t ORDER BY t.path;

-- 1. the flagged rollout r1 (2.0.0 behind flag svc-2): stage 1 names
--    proj-a, blacked out (deferred); stage 2 activates its parent team-a
SELECT count(*) FROM (SELECT rollout.add_blackout('proj-a', tstzrange(now() - interval '1 hour', now() + interval '1 day'), 'freeze')) x;
SELECT rollout_id, strategy, flag_id FROM rollout.create_rollout('r1', 'svc', '1.0.0', '2.0.0', strategy => 'feature_flag',
                                                                 flag_id => 'svc-2');
SELECT stage_no FROM rollout.add_stage('r1', 'early', 'tenants', tenants => ARRAY['proj-a'], pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('r1', 'team', 'tenants', tenants => ARRAY['team-a'], pass_without_metrics => true);
SELECT approve_start('r1');
SELECT status, current_stage FROM rollout.advance_rollout('r1');
SELECT tenant_id, rollout_id, stage_no FROM rollout.deferral ORDER BY tenant_id;
SELECT tenant_id, rollout_id FROM rollout.activation ORDER BY tenant_id;
-- proj-a runs 1.0.0 and its flag is off; proj-a2 (not deferred) gets both
SELECT * FROM flag_vs_version;
SELECT step, source, tenant_id, enabled, decided, detail FROM rollout.explain_flag('proj-a', 'svc-2');
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('proj-a', 'svc');
-- a new session (nothing cached) answers the same
\c
SET search_path = public, rollout;
SELECT * FROM flag_vs_version;

-- 2. the blackout ends: tick() activates proj-a; r1 then completes
SELECT count(*) FROM (SELECT rollout.remove_blackout(blackout_id) FROM rollout.blackout) x;
SELECT rollout_id, action FROM rollout.tick() ORDER BY 1, 2;
SELECT status FROM rollout.advance_rollout('r1');
SELECT rollout_id, status FROM rollout.rollout ORDER BY 1;
SELECT * FROM flag_vs_version;

-- 3. a completed flagged rollout stays bound: the global kill switch
--    ignores its activations (version falls back to the default, flag off)
SELECT count(*) AS killed FROM (SELECT rollout.kill_flag('svc-2', 'broken')) x;
SELECT * FROM flag_vs_version;
SELECT step, source, tenant_id, version, decided, detail FROM rollout.explain_version('proj-a2', 'svc');
SELECT count(*) AS unkilled FROM (SELECT rollout.kill_flag('svc-2', 'fixed', killed => false)) x;
-- a subtree kill switch, and overrides: off on team-a, on for team-b
SELECT count(*) AS killed_below FROM (SELECT rollout.kill_flag('svc-2', 'broken here', tenant_id => 'proj-a2')) x;
SELECT * FROM flag_vs_version;
SELECT count(*) AS unkilled_below FROM (SELECT rollout.kill_flag('svc-2', 'fixed', tenant_id => 'proj-a2', killed => false)) x;
SELECT count(*) AS off_team_a FROM (SELECT rollout.set_flag('svc-2', 'team-a', false)) x;
SELECT count(*) AS on_team_b FROM (SELECT rollout.set_flag('svc-2', 'team-b', true)) x;
SELECT * FROM flag_vs_version;
SELECT count(*) AS cleared_a FROM (SELECT rollout.clear_flag('svc-2', 'team-a')) x;
SELECT count(*) AS cleared_b FROM (SELECT rollout.clear_flag('svc-2', 'team-b')) x;

-- 4. a later plain rollout r2 (3.0.0), live: stage 1 names proj-a (blacked
--    out again: deferred), stage 2 activates team-a.  r2's activation of
--    team-a does not reach proj-a, so r1's (completed) decides there again:
--    version 2.0.0, flag on
SELECT count(*) FROM (SELECT rollout.add_blackout('proj-a', tstzrange(now() - interval '1 hour', now() + interval '1 day'), 'freeze')) x;
SELECT rollout_id FROM rollout.create_rollout('r2', 'svc', '2.0.0', '3.0.0');
SELECT stage_no FROM rollout.add_stage('r2', 'early', 'tenants', tenants => ARRAY['proj-a'], pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('r2', 'team', 'tenants', tenants => ARRAY['team-a'], pass_without_metrics => true);
SELECT approve_start('r2');
SELECT status, current_stage FROM rollout.advance_rollout('r2');
SELECT tenant_id, rollout_id FROM rollout.deferral ORDER BY tenant_id;
SELECT * FROM flag_vs_version;
SELECT step, source, tenant_id, enabled, decided, detail FROM rollout.explain_flag('proj-a', 'svc-2');
SELECT step, source, tenant_id, enabled, decided, detail FROM rollout.explain_flag('proj-a2', 'svc-2');
\c
SET search_path = public, rollout;
SELECT * FROM flag_vs_version;

DROP VIEW flag_vs_version;
DROP FUNCTION approve_start(text);
