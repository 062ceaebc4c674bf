-- pgTAP: what each role may do, exercised as that role; no superuser needed
-- for daily work.
BEGIN;
SELECT plan(42);

CREATE ROLE pgr_t_viewer LOGIN IN ROLE rollout_viewer;
CREATE ROLE pgr_t_operator LOGIN IN ROLE rollout_operator;
CREATE ROLE pgr_t_admin LOGIN IN ROLE rollout_admin;
CREATE ROLE pgr_t_nobody LOGIN;

-- run one statement as a role; the role reverts when the statement fails
CREATE FUNCTION pg_temp.as_role(r text, q text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('role', r, true);
    EXECUTE q;
    PERFORM set_config('role', 'none', true);
END $$;

SELECT schema_privs_are('rollout', 'rollout_viewer', ARRAY['USAGE']);
SELECT table_privs_are('rollout', 'tenant', 'rollout_viewer', ARRAY['SELECT']);
SELECT table_privs_are('rollout', 'tenant', 'rollout_admin', ARRAY['SELECT'],
                       'rollout_admin reads tenants (through rollout_viewer) and writes only through functions');
SELECT table_privs_are('rollout', 'audit_log', 'rollout_viewer', ARRAY['SELECT']);

-- admin: structure
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_admin', $q$SELECT rollout.create_tenant('p-org', kind => 'organisation')$q$)$$,
                'admin creates a tenant');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_admin', $q$SELECT rollout.create_channel('p-beta', 25, 'opt_in', allow_opt_in => true)$q$)$$,
                'admin creates a channel');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_admin', $q$SELECT rollout.create_component('p-comp', 'plugin')$q$)$$,
                'admin creates a component');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_admin', $q$SELECT rollout.create_tenant('p-team2', parent_id => 'p-org')$q$)$$,
                'admin creates a second team');

-- operator: daily operations
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.create_tenant('p-team', parent_id => 'p-org')$q$)$$,
                'operator creates a tenant');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.suspend_tenant('p-team', 'test')$q$)$$,
                'operator suspends a tenant');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.add_version('p-comp', '1.0.0', 'published')$q$)$$,
                'operator adds a version');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.move_tenant('p-team', 'p-team2')$q$)$$,
                 '42501', NULL, 'operator cannot move tenants');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.decommission_tenant('p-team', 'x')$q$)$$,
                 '42501', NULL, 'operator cannot decommission tenants');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.set_default_version('p-comp', '1.0.0')$q$)$$,
                 '42501', NULL, 'operator cannot set the platform default');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_admin', $q$SELECT rollout.move_tenant('p-team', 'p-team2')$q$)$$,
                'admin moves a tenant');

-- viewer: reads only
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_viewer', $q$SELECT count(*) FROM rollout.tenant_tree$q$)$$,
                'viewer reads the tenant tree');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_viewer', $q$SELECT * FROM rollout.ancestors('p-team')$q$)$$,
                'viewer lists ancestors');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_viewer', $q$SELECT * FROM rollout.verify_audit()$q$)$$,
                'viewer verifies the audit log');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_viewer', $q$SELECT rollout.create_tenant('p-x')$q$)$$,
                 '42501', NULL, 'viewer cannot create tenants');

-- nobody writes tables directly or the audit log at all
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_admin', $q$UPDATE rollout.tenant SET display_name = 'x'$q$)$$,
                 '42501', NULL, 'admin cannot update the tenant table directly');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_admin', $q$INSERT INTO rollout.audit_log (seq) VALUES (999999)$q$)$$,
                 '42501', NULL, 'admin cannot insert into the audit log');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_admin', $q$SELECT rollout._audit('forged', NULL, NULL, NULL, NULL)$q$)$$,
                 '42501', NULL, 'admin cannot call the internal audit function');

-- a role without a rollout role sees nothing
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_nobody', $q$SELECT count(*) FROM rollout.tenant$q$)$$,
                 '42501', NULL, 'a role without rollout roles cannot read tenants');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_nobody', $q$SELECT rollout.create_tenant('p-y')$q$)$$,
                 '42501', NULL, 'a role without rollout roles cannot create tenants');

-- rollouts: operators define and run them, admins approve, viewers resolve
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.add_version('p-comp', '2.0.0', 'published')$q$)$$,
                'operator adds a second version');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_admin', $q$SELECT rollout.set_default_version('p-comp', '1.0.0')$q$)$$,
                'admin sets the platform default');
SET pg_rollout.actor = 'operator@example.com';
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.create_rollout('p-r1', 'p-comp', '1.0.0', '2.0.0')$q$)$$,
                'operator creates a rollout');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.add_stage('p-r1', 'all', 'all')$q$)$$,
                'operator adds a stage');
SET pg_rollout.actor = 'approver@example.com';
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.approve_rollout('p-r1')$q$)$$,
                 '42501', NULL, 'operator cannot approve a rollout');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_admin', $q$SELECT rollout.approve_rollout('p-r1')$q$)$$,
                'admin approves a rollout');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_viewer', $q$SELECT rollout.start_rollout('p-r1')$q$)$$,
                 '42501', NULL, 'viewer cannot start a rollout');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.start_rollout('p-r1')$q$)$$,
                'operator starts a rollout');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT * FROM rollout.tick()$q$)$$,
                'operator runs the tick');
SELECT is(rollout.resolve_version('p-org', 'p-comp')::text, '2.0.0', 'the rollout activated the tenant');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_viewer', $q$SELECT rollout.resolve_version('p-org', 'p-comp'), * FROM rollout.explain_version('p-org', 'p-comp')$q$)$$,
                'viewer resolves and explains a version');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_nobody', $q$SELECT rollout.resolve_version('p-org', 'p-comp')$q$)$$,
                 '42501', NULL, 'a role without rollout roles cannot resolve');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.create_flag('p-flag')$q$)$$,
                 '42501', NULL, 'operator cannot create flags');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_admin', $q$SELECT rollout.create_flag('p-flag')$q$)$$,
                'admin creates a flag');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_t_operator', $q$SELECT rollout.kill_flag('p-flag', 'incident')$q$)$$,
                'operator flips a kill switch');
SELECT is((SELECT rollout.flag_enabled('p-org', 'p-flag')), false, 'the kill switch is on');
RESET pg_rollout.actor;

-- work done by non-superusers is audited with their session user and a valid chain
SELECT is((SELECT count(*)::int FROM rollout.audit_log WHERE tenant_id IN ('p-org', 'p-team', 'p-team2')), 5,
          'tenant changes made by the roles are audited');
SELECT is((SELECT intact FROM rollout.verify_audit()), true, 'the audit chain is intact');

SELECT * FROM finish();
ROLLBACK;
