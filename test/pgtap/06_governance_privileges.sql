-- pgTAP: version governance privileges (issue 12): viewers read the roster
-- and roll-ups, operators request, only admins change policy and approve,
-- a viewer bound to a subtree (rollout.bind_tenant) sees only that subtree.
BEGIN;
SELECT plan(42);

CREATE ROLE pgr_g_viewer LOGIN IN ROLE rollout_viewer;
CREATE ROLE pgr_g_operator LOGIN IN ROLE rollout_operator;
CREATE ROLE pgr_g_admin LOGIN IN ROLE rollout_admin;
CREATE ROLE pgr_g_bound LOGIN IN ROLE rollout_viewer;
CREATE ROLE pgr_g_nobody LOGIN;

CREATE FUNCTION pg_temp.as_role(r text, q text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('role', r, true);
    EXECUTE q;
    PERFORM set_config('role', 'none', true);
END $$;
-- run a query as another session user (bindings are checked against the
-- session user, as set_tenant does) and return its one text value
CREATE FUNCTION pg_temp.as_session(r text, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    EXECUTE format('SET SESSION AUTHORIZATION %I', r);
    EXECUTE q INTO v;
    RESET SESSION AUTHORIZATION;
    RETURN v;
EXCEPTION WHEN OTHERS THEN
    RESET SESSION AUTHORIZATION;
    RAISE;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.as_session(text, text) TO PUBLIC;

SET pg_rollout.actor = 'setup';
SELECT rollout.create_tenant('g-org', kind => 'organisation') IS NOT NULL;
SELECT rollout.create_tenants(ARRAY['g-team-a', 'g-team-b'], ARRAY['g-org', 'g-org'], ARRAY['team', 'team']);
SELECT rollout.create_tenants(ARRAY['g-a1', 'g-a2', 'g-b1'], ARRAY['g-team-a', 'g-team-a', 'g-team-b']);
SELECT rollout.create_tenant('g-other', kind => 'organisation') IS NOT NULL;
SELECT rollout.create_component('g-comp', 'plugin') IS NOT NULL;
SELECT rollout.add_version('g-comp', '1.0.0', 'published', eol_date => current_date - 60) IS NOT NULL;
SELECT rollout.add_version('g-comp', '2.0.0', 'published') IS NOT NULL;
SELECT rollout.set_default_version('g-comp', '1.0.0') IS NOT NULL;
SELECT rollout.bind_tenant('pgr_g_bound', 'g-team-a');

SELECT table_privs_are('rollout', 'version_policy', 'rollout_viewer', ARRAY['SELECT']);
SELECT table_privs_are('rollout', 'exemption', 'rollout_viewer', ARRAY['SELECT']);

-- policy changes: admin only
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_admin', $q$SELECT rollout.set_version_policy('g-comp', baseline => '2.0.0', action => 'block', reason => 'r')$q$)$$,
                'admin sets a version policy');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_g_operator', $q$SELECT rollout.set_version_policy('g-comp', 'g-org', baseline => '1.0.0', reason => 'r')$q$)$$,
                 '42501', NULL, 'operator cannot change a version policy');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_g_operator', $q$SELECT rollout.clear_version_policy('g-comp', NULL, 'r')$q$)$$,
                 '42501', NULL, 'operator cannot clear a version policy');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT rollout.set_version_policy('g-comp', baseline => '1.0.0', reason => 'r')$q$)$$,
                 '42501', NULL, 'viewer cannot change a version policy');

-- exemptions and grace extensions: operators request, admins approve
SET pg_rollout.actor = 'op@example.com';
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_operator', $q$SELECT rollout.request_exemption('g-a1', 'g-comp', '[1.0.0,1.0.0]', 'waiver', 'r', now() + interval '1 day')$q$)$$,
                'operator requests an exemption');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_operator', $q$SELECT rollout.request_exemption('g-b1', 'g-comp', '[1.0.0,1.0.0]', 'waiver', 'r', now() + interval '1 day')$q$)$$,
                'operator requests an exemption in another team');
SELECT pg_temp.as_session('pgr_g_admin', $q$SELECT exemption_id::text FROM rollout.request_exemption('g-a2', 'g-comp', '[1.0.0,1.0.0]', 'waiver', 'r', now() + interval '1 day')$q$) IS NOT NULL;
SET pg_rollout.actor = 'admin@example.com';
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_g_operator', $q$SELECT rollout.approve_exemption((SELECT min(exemption_id) FROM rollout.exemption))$q$)$$,
                 '42501', NULL, 'operator cannot approve an exemption');
SELECT throws_ok($$SELECT pg_temp.as_session('pgr_g_admin', $q$SELECT rollout.approve_exemption((SELECT exemption_id FROM rollout.exemption WHERE tenant_id = 'g-a2'))::text$q$)$$,
                 '42501', NULL, 'the requesting login cannot approve under another pg_rollout.actor');
SELECT lives_ok($$SELECT pg_temp.as_session('pgr_g_admin', $q$SELECT rollout.approve_exemption((SELECT min(exemption_id) FROM rollout.exemption))::text$q$)$$,
                'admin approves an exemption from another login');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT rollout.request_exemption('g-a2', 'g-comp', '[1.0.0,1.0.0]', 'waiver', 'r', now() + interval '1 day')$q$)$$,
                 '42501', NULL, 'viewer cannot request an exemption');
RESET pg_rollout.actor;

-- viewers read the roster, roll-ups, distribution, ledger; simulate
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT count(*) FROM rollout.drift_roster$q$)$$, 'viewer reads the drift roster');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT count(*) FROM rollout.compliance_summary$q$)$$, 'viewer reads the compliance summary');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT count(*) FROM rollout.version_distribution$q$)$$, 'viewer reads the version distribution');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT count(*) FROM rollout.exemption_ledger$q$)$$, 'viewer reads the exemption ledger');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT count(*) FROM rollout.simulate_policy('g-comp', min_version => '2.0.0')$q$)$$, 'viewer simulates a policy');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT count(*) FROM rollout.check_version('g-a1', 'g-comp', '1.0.0')$q$)$$, 'viewer checks a version');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_g_nobody', $q$SELECT count(*) FROM rollout.drift_roster$q$)$$,
                 '42501', NULL, 'a role without rollout roles cannot read the roster');

-- an unbound viewer sees every tenant
SELECT is(pg_temp.as_session('pgr_g_viewer', $$SELECT count(DISTINCT tenant_id) FROM rollout.drift_roster$$), '7',
          'an unbound viewer sees every tenant in the roster');
-- a viewer bound to g-team-a sees its subtree only, everywhere
SELECT is(pg_temp.as_session('pgr_g_bound', $$SELECT string_agg(DISTINCT tenant_id, ',' ORDER BY tenant_id) FROM rollout.drift_roster$$),
          'g-a1,g-a2,g-team-a', 'a bound viewer sees only its subtree in the roster');
SELECT is(pg_temp.as_session('pgr_g_bound', $$SELECT string_agg(DISTINCT node_id, ',') FROM rollout.compliance_summary$$),
          'g-team-a', 'a bound viewer sees only its own node in the roll-up');
SELECT is(pg_temp.as_session('pgr_g_bound', $$SELECT sum(tenants)::text FROM rollout.version_distribution$$),
          '3', 'a bound viewer counts only its subtree in the distribution');
SELECT is(pg_temp.as_session('pgr_g_bound', $$SELECT string_agg(tenant_id, ',' ORDER BY tenant_id) FROM rollout.exemption_ledger$$),
          'g-a1,g-a2', 'a bound viewer sees only its subtree''s exemptions');
SELECT throws_ok($$SELECT pg_temp.as_session('pgr_g_bound', $q$SELECT count(*)::text FROM rollout.check_version('g-b1', 'g-comp', '1.0.0')$q$)$$,
                 '42704', 'tenant "g-b1" does not exist', 'a tenant outside a bound viewer''s subtree is, to check_version, a tenant that does not exist');
SELECT is(pg_temp.as_session('pgr_g_bound', $$SELECT string_agg(DISTINCT tenant_id, ',' ORDER BY tenant_id) FROM rollout.simulate_policy('g-comp', min_version => '2.0.0')$$),
          'g-a1,g-a2,g-team-a', 'a bound viewer simulates over its subtree only');

-- conflict rules: admin only; viewers read the conflict roster
SET pg_rollout.actor = 'admin@example.com';
SELECT rollout.create_component('g-dep', 'plugin') IS NOT NULL;
SELECT rollout.add_version('g-dep', '1.0.0', 'published') IS NOT NULL;
SELECT rollout.set_default_version('g-dep', '1.0.0') IS NOT NULL;
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_g_operator', $q$SELECT rollout.add_conflict_rule('requires', 'g-comp', '[1.0.0,)', 'g-dep', '[2.0.0,)', reason => 'r')$q$)$$,
                 '42501', NULL, 'operator cannot add a conflict rule');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_admin', $q$SELECT rollout.add_conflict_rule('requires', 'g-comp', '[1.0.0,)', 'g-dep', '[2.0.0,)', reason => 'r')$q$)$$,
                'admin adds a conflict rule');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_g_operator', $q$SELECT rollout.remove_conflict_rule(1, 'r')$q$)$$,
                 '42501', NULL, 'operator cannot remove a conflict rule');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT count(*) FROM rollout.conflict_roster$q$)$$, 'viewer reads the conflict roster');
SELECT is(pg_temp.as_session('pgr_g_bound', $$SELECT string_agg(DISTINCT tenant_id, ',' ORDER BY tenant_id) FROM rollout.conflict_roster$$),
          'g-a1', 'a bound viewer sees only its subtree''s conflicts (g-a1: exempt from the policy, not from the rule)');

-- snapshots and reports: operators (pg_cron) take them, viewers read
-- reports of what they may see, admins set the retention
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT rollout.snapshot_compliance()$q$)$$,
                 '42501', NULL, 'viewer cannot take a compliance snapshot');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_operator', $q$SELECT rollout.snapshot_compliance()$q$)$$,
                'operator takes a compliance snapshot');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_operator', $q$SELECT rollout.snapshot_compliance('g-team-a')$q$)$$,
                'operator takes a snapshot of a subtree');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT rollout.compliance_report()$q$)$$, 'viewer reads the compliance report');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT count(*) FROM rollout.metrics_governance$q$)$$, 'viewer reads the governance metrics');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_g_viewer', $q$SELECT count(*) FROM rollout.compliance_snapshot$q$)$$,
                 '42501', NULL, 'snapshots are read through the report functions only');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_g_operator', $q$SELECT rollout.set_snapshot_retention('400 days', 'r')$q$)$$,
                 '42501', NULL, 'operator cannot change the snapshot retention');
SELECT throws_ok($$SELECT pg_temp.as_session('pgr_g_bound', $q$SELECT rollout.compliance_report()::text$q$)$$,
                 '42501', NULL, 'a bound viewer cannot read the report of every tenant');
SELECT is(pg_temp.as_session('pgr_g_bound', $$SELECT rollout.compliance_report('g-team-a') ->> 'scope'$$),
          'g-team-a', 'a bound viewer reads the report of its subtree');
SELECT throws_ok($$SELECT pg_temp.as_session('pgr_g_bound', $q$SELECT count(*)::text FROM rollout.update_statistics('g-comp')$q$)$$,
                 '42501', NULL, 'a bound viewer cannot read the statistics of every tenant');
SELECT is(pg_temp.as_session('pgr_g_bound', $$SELECT max(tenants)::text FROM rollout.update_statistics('g-comp', 'g-team-a')$$),
          '3', 'a bound viewer reads the statistics of its subtree');

SELECT * FROM finish();
ROLLBACK;
