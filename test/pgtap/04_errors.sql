-- pgTAP: every error path answers with its SQLSTATE and a message naming
-- the thing at fault (the regression tests show the same errors in context).
BEGIN;
SELECT plan(55);

-- a small world to be wrong about
SELECT FROM rollout.create_tenant('e-org', kind => 'organisation');
SELECT FROM rollout.create_tenant('e-team', parent_id => 'e-org', kind => 'team');
SELECT FROM rollout.create_tenant('e-gone');
SELECT FROM rollout.decommission_tenant('e-gone', reason => 'test');
SELECT FROM rollout.create_component('e-comp', 'plugin');
SELECT FROM rollout.add_version('e-comp', '1.0.0', 'published');
SELECT FROM rollout.add_version('e-comp', '1.1.0');

SELECT throws_ok($$SELECT rollout.create_tenant('Bad Id')$$,
                 '22023', 'invalid tenant id "Bad Id"');
SELECT throws_ok($$SELECT rollout.create_tenant(NULL)$$,
                 '22004', 'tenant id must not be null');
SELECT throws_ok($$SELECT rollout.create_tenant('e-child', parent_id => 'no-such-parent')$$,
                 '42704', 'parent tenant "no-such-parent" does not exist');
SELECT throws_ok($$SELECT rollout.create_tenant('e-org')$$,
                 '42710', 'tenant "e-org" already exists');
SELECT throws_ok($$SELECT rollout.create_tenant('e-x', kind => 'Not A Kind')$$,
                 '22023', 'invalid tenant kind "Not A Kind"');
SELECT throws_ok($$SELECT rollout.create_tenant('e-x', attributes => '[]')$$,
                 '22023', 'attributes of tenant "e-x" must be a JSON object');
SELECT throws_ok($$SELECT rollout.create_tenant('e-x', channel_id => 'no-such-channel')$$,
                 '42704', 'channel "no-such-channel" does not exist');
SELECT throws_ok($$SELECT rollout.create_tenants(ARRAY['a1', 'a2'], ARRAY['e-org'])$$,
                 '2202E', 'create_tenants arrays must all have the same length');
SELECT throws_ok($$SELECT rollout.create_tenants(ARRAY['a1', 'a1'], ARRAY['e-org', 'e-org'])$$,
                 '42710', 'tenant "a1" appears more than once in the batch');
SELECT throws_ok($$SELECT rollout.create_tenants(ARRAY['c1', 'c2'], ARRAY['c2', 'c1'])$$,
                 '22023', '2 tenants of the batch form parent cycles, among them "c1"');
SELECT throws_ok($$SELECT rollout.create_tenants(ARRAY['x1'], ARRAY['no-such-parent'])$$,
                 '42704', 'parent tenant "no-such-parent" does not exist');
SELECT throws_ok($$SELECT rollout.update_tenant('no-such-tenant', display_name => 'x')$$,
                 '42704', 'tenant "no-such-tenant" does not exist');
SELECT throws_ok($$SELECT rollout.update_tenant('e-org', attributes => '"x"')$$,
                 '22023', 'attributes of tenant "e-org" must be a JSON object');
SELECT throws_ok($$SELECT rollout.move_tenant('e-org', 'e-team')$$,
                 '22023', 'cannot move tenant "e-org" under "e-team": that would make a cycle');
SELECT throws_ok($$SELECT rollout.move_tenant('e-org', 'e-org')$$,
                 '22023', 'cannot move tenant "e-org" under "e-org": that would make a cycle');
SELECT throws_ok($$SELECT rollout.move_tenant('e-team', 'no-such-parent')$$,
                 '42704', 'parent tenant "no-such-parent" does not exist');
SELECT throws_ok($$SELECT rollout.suspend_tenant('e-team', reason => NULL)$$,
                 '22023', 'a reason is required to suspend a tenant');
SELECT throws_ok($$SELECT rollout.reactivate_tenant('e-team', reason => 'x')$$,
                 '55000', 'tenant "e-team" is active, not suspended');
SELECT throws_ok($$SELECT rollout.decommission_tenant('e-org', reason => 'x')$$,
                 '2BP01', 'tenant "e-org" has 1 descendant that is not decommissioned');
SELECT throws_ok($$SELECT rollout.update_tenant('e-gone', display_name => 'x')$$,
                 '55000', 'tenant "e-gone" is decommissioned');
SELECT throws_ok($$SELECT rollout.create_tenant('e-gone-child', parent_id => 'e-gone')$$,
                 '55000', 'parent tenant "e-gone" is decommissioned');
SELECT throws_ok($$SELECT rollout.move_tenant('e-team', 'e-gone')$$,
                 '55000', 'parent tenant "e-gone" is decommissioned');
SELECT throws_ok($$SELECT rollout.set_tenant_channel('e-team', 'dev')$$,
                 '55000', 'tenant "e-team" is not eligible for channel "dev"');
SELECT throws_ok($$SELECT rollout.set_tenant_channel('e-team', 'no-such-channel')$$,
                 '42704', 'channel "no-such-channel" does not exist');
SELECT throws_ok($$SELECT rollout.opt_in('e-team', 'stable', reason => 'x')$$,
                 '55000', 'channel "stable" does not allow opt-in');
SELECT throws_ok($$SELECT rollout.opt_out('e-team', 'stable', reason => 'x')$$,
                 '55000', 'channel "stable" does not allow opt-out');
SELECT throws_ok($$SELECT rollout.opt_in('e-team', 'experimental', reason => NULL)$$,
                 '22023', 'a reason is required to opt in to a channel');
SELECT throws_ok($$SELECT rollout.clear_channel_choice('e-team', 'experimental')$$,
                 '42704', 'tenant "e-team" has no opt-in or opt-out recorded for channel "experimental"');
SELECT throws_ok($$SELECT rollout.create_channel('stable', 50, 'all')$$,
                 '42710', 'channel "stable" already exists');
SELECT throws_ok($$SELECT rollout.create_channel('e-ch', 40, 'all')$$,
                 '42710', 'channel ordinal 40 is already taken by channel "stable"');
SELECT throws_ok($$SELECT rollout.create_channel('e-ch', 0, 'all')$$,
                 '22023', 'invalid channel ordinal 0');
SELECT throws_ok($$SELECT rollout.create_channel('e-ch', 45, 'everyone')$$,
                 '22023', 'invalid channel eligibility "everyone"');
SELECT throws_ok($$SELECT rollout.create_channel('e-ch', 45, 'all', min_soak => '-1 day')$$,
                 '22023', 'invalid minimum soak -1 days for channel "e-ch"');
SELECT throws_ok($$SELECT rollout.create_channel('E Ch', 45, 'all')$$,
                 '22023', 'invalid channel id "E Ch"');
SELECT throws_ok($$SELECT rollout.drop_channel('stable')$$,
                 '55000', 'channel "stable" is the default channel');
SELECT throws_ok($$SELECT rollout.drop_channel('no-such-channel')$$,
                 '42704', 'channel "no-such-channel" does not exist');
SELECT throws_ok($$SELECT rollout.create_component('e-comp')$$,
                 '42710', 'component "e-comp" already exists');
SELECT throws_ok($$SELECT rollout.create_component('Bad Comp')$$,
                 '22023', 'invalid component id "Bad Comp"');
SELECT throws_ok($$SELECT rollout.create_component('e-c2', 'widget')$$,
                 '22023', 'invalid component kind "widget"');
SELECT throws_ok($$SELECT rollout.add_version('no-such-component', '1.0.0')$$,
                 '42704', 'component "no-such-component" does not exist');
SELECT throws_ok($$SELECT rollout.add_version('e-comp', '1.0.0')$$,
                 '42710', 'version 1.0.0 of component "e-comp" already exists');
SELECT throws_ok($$SELECT rollout.add_version('e-comp', '1.0.0+b')$$,
                 '42710', 'version 1.0.0+b of component "e-comp" already exists');
SELECT throws_ok($$SELECT rollout.add_version('e-comp', NULL)$$,
                 '22004', 'version must not be null');
SELECT throws_ok($$SELECT rollout.add_version('e-comp', '2.0.0', 'eol')$$,
                 '22023', 'invalid initial status "eol" for version 2.0.0 of component "e-comp"');
SELECT throws_ok($$SELECT rollout.set_version_status('e-comp', '1.0.0', 'retired')$$,
                 '22023', 'invalid version status "retired"');
SELECT throws_ok($$SELECT rollout.set_version_status('e-comp', '1.0.0', 'draft')$$,
                 '55000', 'version 1.0.0 of component "e-comp" cannot go from published to draft');
SELECT throws_ok($$SELECT rollout.set_version_status('e-comp', '9.9.9', 'published')$$,
                 '42704', 'version 9.9.9 of component "e-comp" does not exist');
SELECT throws_ok($$SELECT rollout.set_default_version('e-comp', '1.1.0')$$,
                 '55000', 'version 1.1.0 of component "e-comp" is draft and cannot be the platform default');
SELECT throws_ok($$SELECT '1.2'::rollout.semver$$,
                 '22P02', 'invalid input syntax for type semver: "1.2"');
SELECT throws_ok($$SELECT '99999999999.0.0'::rollout.semver$$,
                 '22003', 'major version number in semver "99999999999.0.0" is out of range');
SELECT throws_ok($$SELECT rollout._audit('', NULL, NULL, NULL, NULL)$$,
                 '22004', 'audit action must not be empty');
SELECT throws_ok($$UPDATE rollout.audit_log SET reason = 'x'$$,
                 '42501', 'rollout.audit_log is append-only');
SELECT throws_ok($$DELETE FROM rollout.audit_log$$,
                 '42501', 'rollout.audit_log is append-only');
SELECT throws_ok($$TRUNCATE rollout.audit_log$$,
                 '42501', 'rollout.audit_log is append-only');

-- none of the failed calls left anything behind
SELECT is((SELECT count(*) FROM rollout.tenant WHERE tenant_id IN ('e-child', 'e-x', 'a1', 'a2', 'c1', 'c2', 'x1', 'e-gone-child'))::int,
          0, 'failed calls created no tenants');

SELECT * FROM finish();
ROLLBACK;
