-- pgTAP: remediation privileges (issue 13): admins run remediation (only a
-- superuser moves its clock), set milestone schedules and concurrency
-- limits; operators set tenant preferences, request delays, approve held
-- tenants and assign tasks; viewers read the queue; a role bound to a
-- subtree (rollout.bind_tenant) sees and acts only inside it.
BEGIN;
SELECT plan(27);

CREATE ROLE pgr_r_viewer LOGIN IN ROLE rollout_viewer;
CREATE ROLE pgr_r_operator LOGIN IN ROLE rollout_operator;
CREATE ROLE pgr_r_admin LOGIN IN ROLE rollout_admin;
CREATE ROLE pgr_r_bound LOGIN IN ROLE rollout_operator;
CREATE ROLE pgr_r_nobody LOGIN;

CREATE FUNCTION pg_temp.as_role(r text, q text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('role', r, true);
    EXECUTE q;
    PERFORM set_config('role', 'none', true);
END $$;
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
SELECT rollout.create_tenant('r-org', kind => 'organisation') IS NOT NULL;
SELECT rollout.create_tenants(ARRAY['r-team-a', 'r-team-b'], ARRAY['r-org', 'r-org'], ARRAY['team', 'team']);
SELECT rollout.create_tenants(ARRAY['r-a1', 'r-a2', 'r-b1'], ARRAY['r-team-a', 'r-team-a', 'r-team-b']);
SELECT rollout.create_component('r-comp', 'plugin') IS NOT NULL;
SELECT rollout.add_version('r-comp', '1.0.0', 'published', eol_date => current_date + 20) IS NOT NULL;
SELECT rollout.add_version('r-comp', '2.0.0', 'published') IS NOT NULL;
SELECT rollout.set_default_version('r-comp', '1.0.0') IS NOT NULL;
SELECT rollout.set_version_policy('r-comp', action => 'schedule', grace_limit => '60 days', reason => 'r') IS NOT NULL;
SELECT rollout.create_rollout('r-roll', 'r-comp', '1.0.0', '2.0.0') IS NOT NULL;
SELECT rollout.bind_tenant('pgr_r_bound', 'r-team-a');

SELECT table_privs_are('rollout', 'upgrade_task', 'rollout_viewer', ARRAY['SELECT']);
SELECT table_privs_are('rollout', 'notification', 'rollout_viewer', ARRAY['SELECT']);

-- remediation: admin (now), not the operator; the clock only for a superuser
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_admin', $q$SELECT rollout.remediate()$q$)$$, 'admin runs remediation now');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_operator', $q$SELECT rollout.remediate()$q$)$$,
                 '42501', NULL, 'operator cannot run remediation directly (tick runs it)');
SELECT throws_ok($$SELECT pg_temp.as_session('pgr_r_admin', $q$SELECT (rollout.remediate(now() + interval '60 days')).run_id::text$q$)$$,
                 '42501', NULL, 'an admin who is no superuser cannot move the clock');
SELECT lives_ok($$SELECT rollout.remediate(now() + interval '1 day')$$, 'a superuser moves the clock');
SELECT is((SELECT count(*)::int FROM rollout.upgrade_task), 6, 'every tenant on the EOL version has a task');

-- milestone schedules and concurrency limits: admin only
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_admin', $q$SELECT rollout.set_milestone_schedule('r-org', 'r-comp', '{60,14}')$q$)$$,
                'admin sets a milestone schedule');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_operator', $q$SELECT rollout.set_milestone_schedule('r-org', NULL)$q$)$$,
                 '42501', NULL, 'operator cannot set a milestone schedule');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_admin', $q$SELECT rollout.set_concurrency_limit('r-org', 5)$q$)$$,
                'admin sets a concurrency limit');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_operator', $q$SELECT rollout.set_concurrency_limit('r-org', 50)$q$)$$,
                 '42501', NULL, 'operator cannot set a concurrency limit');

-- tenant preferences, approvals, delays, tasks: operators, not viewers
SET pg_rollout.actor = 'op@example.com';
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_operator', $q$SELECT rollout.set_tenant_preference('r-org', 'email_digest', 'ops@r.example')$q$)$$,
                'operator sets a tenant preference');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_viewer', $q$SELECT rollout.set_tenant_preference('r-org')$q$)$$,
                 '42501', NULL, 'viewer cannot set a tenant preference');
SELECT lives_ok($$SELECT pg_temp.as_session('pgr_r_operator', $q$SELECT rollout.approve_tenant_update('r-roll', 'r-org', true)::text$q$)$$,
                'operator approves a rollout for a subtree (from another login than the rollout''s author)');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_viewer', $q$SELECT rollout.approve_tenant_update('r-roll', 'r-a1')$q$)$$,
                 '42501', NULL, 'viewer cannot approve for a tenant');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_operator', $q$SELECT rollout.request_upgrade_delay('r-a1', 'r-comp', current_date + 60, 'r')$q$)$$,
                'operator requests a delay');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_viewer', $q$SELECT rollout.request_upgrade_delay('r-a2', 'r-comp', current_date + 60, 'r')$q$)$$,
                 '42501', NULL, 'viewer cannot request a delay');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_operator', $q$SELECT rollout.assign_upgrade_task((SELECT min(task_id) FROM rollout.upgrade_task), 'ann')$q$)$$,
                'operator assigns a task');
RESET pg_rollout.actor;

-- reading
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_viewer', $q$SELECT count(*) FROM rollout.remediation_queue$q$)$$, 'viewer reads the remediation queue');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_viewer', $q$SELECT count(*) FROM rollout.pending_tenant_approvals$q$)$$, 'viewer reads the pending approvals');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_nobody', $q$SELECT count(*) FROM rollout.remediation_queue$q$)$$,
                 '42501', NULL, 'a role without rollout roles cannot read the queue');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_nobody', $q$SELECT count(*) FROM rollout.notification$q$)$$,
                 '42501', NULL, 'a role without rollout roles cannot read notifications');

-- a role bound to r-team-a: its subtree only
SELECT is(pg_temp.as_session('pgr_r_viewer', $$SELECT count(*)::text FROM rollout.remediation_queue$$), '6',
          'an unbound viewer sees every open task');
SELECT is(pg_temp.as_session('pgr_r_bound', $$SELECT string_agg(tenant_id, ',' ORDER BY tenant_id) FROM rollout.remediation_queue$$),
          'r-a1,r-a2,r-team-a', 'a bound role sees only its subtree''s tasks');
SELECT is(pg_temp.as_session('pgr_r_bound', $$SELECT (rollout.set_tenant_preference('r-a2', approval => 'all')).approval$$),
          'all', 'a bound operator sets a preference inside its subtree');
SELECT throws_ok($$SELECT pg_temp.as_session('pgr_r_bound', $q$SELECT (rollout.set_tenant_preference('r-b1')).approval$q$)$$,
                 '42704', 'tenant "r-b1" does not exist', 'a bound operator cannot set a preference outside its subtree');
SELECT throws_ok($$SELECT pg_temp.as_session('pgr_r_bound', $q$SELECT rollout.approve_tenant_update('r-roll', 'r-b1')::text$q$)$$,
                 '42704', 'tenant "r-b1" does not exist', 'a bound operator cannot approve outside its subtree');

SELECT * FROM finish();
ROLLBACK;
