-- Bad input to governance, remediation and release functions: a clear
-- SQLSTATE and a message naming the thing, and nothing written.
--  * check_version() answered an unknown tenant or component with no row,
--    and an unknown version with a row saying "not refused";
--  * an exemption could be granted until 'infinity';
--  * an exposure plan accepted an empty exit criterion and a tenant twice;
--  * a release manifest accepted numbers, booleans or objects where the
--    rollback plan needs texts (and hs.rollback_path counted them);
--  * "grace extension  does not exist" for a NULL id;
--  * a viewer's verify_audit() against a head of its own choosing was
--    recorded, and health() and the metrics then reported the audit log
--    as rewritten;
--  * the day of an instant was the session's TimeZone day: a session in
--    Etc/GMT+12 saw a tenant past grace as still in grace, and could pin
--    the version a block policy refuses.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_ic_bound, regress_ic_bound_op, regress_ic_admin;
RESET client_min_messages;
SET timezone = 'UTC';
CREATE ROLE regress_ic_bound IN ROLE rollout_viewer;
CREATE ROLE regress_ic_bound_op IN ROLE rollout_operator;
CREATE ROLE regress_ic_admin IN ROLE rollout_admin;

SELECT (rollout.create_tenant('acme', kind => 'organisation')).tenant_id;
SELECT rollout.create_tenants(ARRAY['p1', 'p2'], ARRAY['acme', 'acme'], ARRAY['project', 'project']);
SELECT (rollout.create_component('agent', 'plugin')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('agent', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;
SELECT (rollout.set_default_version('agent', '1.0.0')).default_version;
SELECT policy_id FROM rollout.set_version_policy('agent', baseline => '2.0.0', action => 'block', reason => 'baseline');
SELECT rollout.bind_tenant('regress_ic_bound', 'p1');
SELECT rollout.bind_tenant('regress_ic_bound_op', 'p1');
SELECT (rollout.create_flag('agent_kill')).flag_id;
SELECT release_id FROM rollout.create_release('r1', 'agent', '2.0.0', class => 'ui_only');
SELECT count(*) AS audit FROM rollout.audit_log \gset

-- check_version
SELECT tenant_id, version, status, refused FROM rollout.check_version('p1', 'agent', '1.0.0');
SELECT tenant_id, version, status, refused FROM rollout.check_version('p1', 'agent', NULL);   -- the version it runs
SELECT * FROM rollout.check_version('nobody', 'agent', '1.0.0');
SELECT * FROM rollout.check_version('p1', 'nope', '1.0.0');
SELECT * FROM rollout.check_version('p1', 'agent', '9.9.9');
SELECT * FROM rollout.check_version(NULL, 'agent', '1.0.0');
SELECT * FROM rollout.check_version('p1', NULL, '1.0.0');
SELECT * FROM rollout.check_version('p1', 'agent', '1.0.0', NULL);
SET SESSION AUTHORIZATION regress_ic_bound;
SELECT tenant_id, status FROM rollout.check_version('p1', 'agent', '1.0.0');
SELECT * FROM rollout.check_version('p2', 'agent', '1.0.0');        -- outside its subtree: as if unknown
RESET SESSION AUTHORIZATION;

-- NULL ids are named
SELECT rollout.approve_grace_extension(NULL);
SELECT rollout.reject_grace_extension(NULL);
SELECT rollout.approve_exemption(NULL);
SELECT rollout.revoke_exemption(NULL, 'x');
SELECT rollout.remove_conflict_rule(NULL, 'x');
SELECT rollout.assign_upgrade_task(NULL, 'x');

-- an exemption ends
SELECT rollout.request_exemption('p1', 'agent', '[1.0.0,1.0.0]', 'waiver', 'forever', 'infinity');
SELECT rollout.request_exemption('p1', 'agent', '[1.0.0,1.0.0]', 'waiver', 'in the past', '-infinity');

-- exposure plans
SELECT rollout.set_exposure_plan('r1', ARRAY['p1'], 'opt-in', '7 days', ARRAY['no errors', ''], 'owner');
SELECT rollout.set_exposure_plan('r1', ARRAY['p1'], 'opt-in', '7 days', ARRAY[NULL], 'owner');
SELECT rollout.set_exposure_plan('r1', ARRAY['p1', 'p2', 'p1'], 'opt-in', '7 days', ARRAY['no errors'], 'owner');
SELECT rollout.set_exposure_plan('r1', ARRAY['p1', NULL], 'opt-in', '7 days', ARRAY['no errors'], 'owner');

-- manifests
SELECT rollout.update_release_manifest('r1', '{"rollback_plan": {"trigger": 5}}', 'x');
SELECT rollout.update_release_manifest('r1', '{"rollback_plan": {"owner": {"name": "x"}}}', 'x');
SELECT rollout.update_release_manifest('r1', '{"rollback_plan": {"procedure": ["step 1", 2]}}', 'x');
SELECT rollout.update_release_manifest('r1', '{"files_changed": "a.ts"}', 'x');
SELECT rollout.update_release_manifest('r1', '{"description": true}', 'x');
SELECT rollout.create_release('r2', 'agent', '1.0.0', '{"rollback_plan": {"trigger": true}}');
-- a well-formed one still passes hs.rollback_path
SELECT revision FROM rollout.update_release_manifest('r1', '{"kill_switch": "agent_kill", "description": "d",
    "files_changed": ["a.ts"], "rollback_plan": {"trigger": ["errors"], "procedure": "flip the flag",
    "verification": ["check"], "owner": "Jane"}}', 'complete');
SELECT check_id, passed FROM rollout.readiness('r1', 'experimental') WHERE check_id IN ('hs.rollback_path', 'hs.kill_switch');

-- nothing of the refused calls was written
SELECT (SELECT count(*) FROM rollout.audit_log) - :audit AS audit_rows_added,     -- the one manifest change
       (SELECT count(*) FROM rollout.exemption) AS exemptions,
       (SELECT count(*) FROM rollout.release_exposure_plan) AS plans,
       (SELECT count(*) FROM rollout.release) AS releases;

-- an operator bound to p1 asks for exemptions and extensions only there
-- (p2 is outside its subtree: as if it did not exist)
SELECT (rollout.set_version_eol('agent', '1.0.0', current_date - 1, 'EOL')).version;
SET SESSION AUTHORIZATION regress_ic_bound_op;
SELECT rollout.request_exemption('p2', 'agent', '[1.0.0,1.0.0]', 'waiver', 'not mine', now() + interval '1 day');
SELECT rollout.request_grace_extension('p2', 'agent', '1.0.0', '1 day', 'not mine');
SELECT tenant_id, requested_login FROM rollout.request_exemption('p1', 'agent', '[1.0.0,1.0.0]', 'waiver', 'mine',
                                                                 now() + interval '1 day');
RESET SESSION AUTHORIZATION;

-- a bound viewer lists the policies that can govern its tenants (global,
-- on p1's ancestors, on p1), not p2's; and does not learn p2's exemption
SELECT policy_id FROM rollout.set_version_policy('agent', 'p2', baseline => '2.0.0', reason => 'p2 only');
SELECT policy_id FROM rollout.set_version_policy('agent', 'acme', baseline => '2.0.0', reason => 'acme');
SELECT exemption_id FROM rollout.request_exemption('p2', 'agent', '[1.0.0,1.0.0]', 'waiver', 'p2 freeze',
                                                   now() + interval '1 day');
SET SESSION AUTHORIZATION regress_ic_admin;
SELECT approved_by IS NOT NULL AS approved FROM rollout.approve_exemption(2);
RESET SESSION AUTHORIZATION;
SELECT policy_id, tenant_id FROM rollout.version_policies() ORDER BY policy_id;
SELECT exemption_id, tenant_id FROM rollout.exemption_for('p2', 'agent', '1.0.0');
SET SESSION AUTHORIZATION regress_ic_bound;
SELECT policy_id, tenant_id FROM rollout.version_policies() ORDER BY policy_id;
SELECT exemption_id, tenant_id FROM rollout.exemption_for('p2', 'agent', '1.0.0');
SELECT exemption_id, tenant_id FROM rollout.exemption_for('p1', 'agent', '1.0.0');   -- requested, not approved
RESET SESSION AUTHORIZATION;

-- a viewer verifies the audit log, but monitoring reports only the runs of
-- operators and superusers: a made-up head does not raise the alarm
SELECT rollout.seal_audit() > 0 AS sealed;
SELECT intact FROM rollout.verify_audit();
SET SESSION AUTHORIZATION regress_ic_bound;
SELECT intact, problem FROM rollout.verify_audit(1, decode(repeat('00', 32), 'hex'));
SELECT status FROM rollout.health() WHERE check_name = 'audit verification';
SELECT last_failed FROM rollout.metrics_audit_verification;
RESET SESSION AUTHORIZATION;
SELECT CASE WHEN ran_by = session_user THEN '(superuser)' ELSE ran_by END AS ran_by, intact
  FROM rollout.audit_verification ORDER BY verification_id;
SET SESSION AUTHORIZATION regress_ic_bound_op;
SELECT intact FROM rollout.verify_audit(1, decode(repeat('00', 32), 'hex'));
RESET SESSION AUTHORIZATION;
SELECT CASE WHEN ran_by = session_user THEN '(superuser)' ELSE ran_by END AS ran_by, intact
  FROM rollout.audit_verification ORDER BY verification_id;

-- the day of an instant is its UTC day, whatever the session's TimeZone:
-- tzc 1.0.0 reaches EOL on 2027-01-01, its grace (30 days) ends on
-- 2027-01-31; at 06:00 UTC that day it is past grace everywhere
SELECT (rollout.create_component('tzc', 'plugin')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('tzc', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;
SELECT (rollout.set_default_version('tzc', '1.0.0')).default_version;
SELECT (rollout.set_version_eol('tzc', '1.0.0', '2027-01-01', 'EOL')).version;
SELECT policy_id FROM rollout.set_version_policy('tzc', min_version => '1.0.0', action => 'block', reason => 'block');
SET timezone = 'Etc/GMT+12';
SELECT status, days_left, refused FROM rollout.check_version('p1', 'tzc', '1.0.0', '2027-01-31 06:00+00');
SELECT status, days_left FROM rollout.drift_roster_at('2027-01-31 06:00+00', 'tzc') WHERE tenant_id = 'p1';
SET timezone = 'Pacific/Kiritimati';
SELECT status, days_left, refused FROM rollout.check_version('p1', 'tzc', '1.0.0', '2027-01-30 23:00+00');
SELECT status, days_left FROM rollout.drift_roster_at('2027-01-30 23:00+00', 'tzc') WHERE tenant_id = 'p1';
SET timezone = 'UTC';

SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
DROP ROLE regress_ic_bound, regress_ic_bound_op, regress_ic_admin;
