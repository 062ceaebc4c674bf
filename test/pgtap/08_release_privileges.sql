-- pgTAP: release readiness privileges (issue 14).  Viewers read releases
-- and readiness; operators create, check, promote and report incidents;
-- only members of rollout_release_<role> approve, and in their own name
-- (session_user, not pg_rollout.actor); only the system owner and the dev
-- lead sign memos; only the class's rollback authority decides a
-- rollback; only a superuser moves the release clock; the channel of a
-- governed component is not set directly, even by an admin.
BEGIN;
SELECT plan(30);

CREATE ROLE pgr_r_viewer LOGIN IN ROLE rollout_viewer;
CREATE ROLE pgr_r_operator LOGIN IN ROLE rollout_operator;
CREATE ROLE pgr_r_admin LOGIN IN ROLE rollout_admin;
CREATE ROLE pgr_r_lead LOGIN IN ROLE rollout_release_dev_lead;
CREATE ROLE pgr_r_lead_author LOGIN IN ROLE rollout_release_dev_lead, rollout_admin;
CREATE ROLE pgr_r_qa LOGIN IN ROLE rollout_release_qa;
CREATE ROLE pgr_r_owner LOGIN IN ROLE rollout_release_system_owner;
CREATE ROLE pgr_r_nobody LOGIN;

CREATE FUNCTION pg_temp.as_role(r text, q text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('role', r, true);
    EXECUTE q;
    PERFORM set_config('role', 'none', true);
END $$;
-- run a statement as another session user (approvals are given in the
-- session user's name) and return its one text value
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

SELECT rollout.create_component('r-comp', 'plugin') IS NOT NULL;
SELECT rollout.add_version('r-comp', '1.0.0', 'published') IS NOT NULL;
SELECT rollout.add_version('r-comp', '1.1.0', 'published') IS NOT NULL;

SELECT has_role('rollout_release_dev_lead');
SELECT has_role('rollout_release_qa');
SELECT has_role('rollout_release_system_owner');
SELECT ok(pg_has_role('rollout_release_qa', 'rollout_viewer', 'USAGE'), 'approver roles read what they approve (rollout_viewer)');
SELECT table_privs_are('rollout', 'release', 'rollout_viewer', ARRAY['SELECT']);
SELECT table_privs_are('rollout', 'release_memo', 'rollout_viewer', ARRAY['SELECT']);
SELECT table_privs_are('rollout', 'release_approval', 'rollout_operator', ARRAY['SELECT']);
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_nobody', 'SELECT count(*) FROM rollout.release')$$,
                 '42501', NULL, 'a role outside the extension''s roles cannot read releases');

-- admins create and promote (as they set channel releases); operators and viewers cannot
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_operator', $q$SELECT rollout.create_release('r-1', 'r-comp', '1.0.0')$q$)$$,
                 '42501', NULL, 'an operator cannot create a release (it would govern the component)');
SELECT is(pg_temp.as_session('pgr_r_lead_author', $q$SELECT (rollout.create_release('r-1', 'r-comp', '1.0.0', class => 'ui_only')).created_by$q$),
          'pgr_r_lead_author', 'an admin creates a release; its author is the session user');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_viewer', $q$SELECT rollout.promote('r-1', 'dev')$q$)$$,
                 '42501', NULL, 'viewer cannot promote');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_operator', $q$SELECT rollout.promote('r-1', 'dev')$q$)$$,
                 '42501', NULL, 'an operator cannot promote');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_admin', $q$SELECT rollout.promote('r-1', 'dev')$q$)$$,
                'an admin promotes a classified release into dev');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_operator', $q$SELECT rollout.record_check('r-1', 'hs.restore_path', true, 'runbook 12')$q$)$$,
                'an operator records a check');
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_viewer', $q$SELECT count(*) FROM rollout.readiness('r-1')$q$)$$,
                'viewer reads readiness');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_nobody', $q$SELECT count(*) FROM rollout.readiness('r-1')$q$)$$,
                 '42501', NULL, 'readiness is not PUBLIC');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_viewer', $q$SELECT rollout.record_check('r-1', 'hs.restore_path', true, 'x')$q$)$$,
                 '42501', NULL, 'viewer cannot record a check');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_viewer', $q$SELECT rollout.report_incident('r-1', 'dev', 1, 'x')$q$)$$,
                 '42501', NULL, 'viewer cannot report an incident');

-- approvals: only approver roles, in the session user's name, never the author
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_operator', $q$SELECT rollout.approve_release('r-1', 'experimental', 'dev_lead')$q$)$$,
                 '42501', NULL, 'an operator cannot approve');
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_admin', $q$SELECT rollout.approve_release('r-1', 'experimental', 'dev_lead')$q$)$$,
                 '42501', NULL, 'an admin cannot approve');
SELECT throws_ok($$SELECT pg_temp.as_session('pgr_r_qa', $q$SELECT rollout.approve_release('r-1', 'experimental', 'dev_lead')$q$)$$,
                 '42501', 'approval refused: "pgr_r_qa" is not a member of rollout_release_dev_lead',
                 'an approver cannot approve in the name of a role it does not hold');
SELECT throws_ok($$SELECT pg_temp.as_session('pgr_r_lead_author', $q$SELECT rollout.approve_release('r-1', 'experimental', 'dev_lead')$q$)$$,
                 '42501', 'self-approval refused: "pgr_r_lead_author" created release "r-1"',
                 'the author cannot approve its own release, even holding the role');
SET pg_rollout.actor = 'pgr_r_owner';
SELECT is(pg_temp.as_session('pgr_r_lead', $q$SELECT (rollout.approve_release('r-1', 'experimental', 'dev_lead')).approver$q$),
          'pgr_r_lead', 'the approver is the session user, whatever pg_rollout.actor says');
RESET pg_rollout.actor;
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_qa', $q$SELECT rollout.record_memo('r-1', 'GO')$q$)$$,
                 '42501', NULL, 'QA does not sign memos');
SELECT throws_ok($$SELECT pg_temp.as_session('pgr_r_owner', $q$SELECT rollout.record_memo('r-1', 'GO')::text$q$)$$,
                 '55000', NULL, 'the system owner may sign a memo (refused here only because r-1 is in dev)');

-- rollback authority: ui_only belongs to the dev lead
SELECT lives_ok($$SELECT pg_temp.as_role('pgr_r_operator', $q$SELECT rollout.report_incident('r-1', 'dev', 1, 'down')$q$)$$,
                'operator reports a SEV-1');
SELECT throws_ok($$SELECT pg_temp.as_session('pgr_r_owner', $q$SELECT rollout.decide_rollback('r-1', 'continue', 'x')::text$q$)$$,
                 '42501', NULL, 'the system owner is not the rollback authority of a ui_only release');
SELECT is(pg_temp.as_session('pgr_r_lead', $q$SELECT (rollout.decide_rollback('r-1', 'continue', 'false alarm')).halted::text$q$),
          'false', 'the dev lead decides the rollback evaluation of a ui_only release');

-- the clock: superuser only
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_admin', $q$SELECT rollout.set_release_clock(now() + interval '30 days')$q$)$$,
                 '42501', NULL, 'an admin cannot move the release clock');
-- no side door: set_channel_release on a governed component is refused, even for an admin
SELECT throws_ok($$SELECT pg_temp.as_role('pgr_r_admin', $q$SELECT rollout.set_channel_release('r-comp', 'stable', '1.1.0', 'x')$q$)$$,
                 '55000', NULL, 'an admin cannot set the channel release of a governed component');

SELECT * FROM finish();
ROLLBACK;
