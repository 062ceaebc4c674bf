-- Who approves: the login (session_user), not pg_rollout.actor.  An
-- application may set pg_rollout.actor to anything, so a requester that
-- changes it must not become "someone else" and approve its own grace
-- extension, exemption or tenant update (docs/governance.md §2-§3,
-- docs/remediation.md §4).  The actor still counts: a different login
-- that claims the requester's actor is refused too.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_ai_alice, regress_ai_bob, regress_ai_lead;
RESET client_min_messages;
SET timezone = 'UTC';
CREATE ROLE regress_ai_alice IN ROLE rollout_admin;
CREATE ROLE regress_ai_bob IN ROLE rollout_admin;
CREATE ROLE regress_ai_lead IN ROLE rollout_release_dev_lead;

SELECT (rollout.create_tenant('acme', kind => 'organisation')).tenant_id;
SELECT rollout.create_tenants(ARRAY['p1', 'p2'], ARRAY['acme', 'acme'], ARRAY['project', 'project']);
SELECT (rollout.create_component('agent', 'plugin')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('agent', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;
SELECT (rollout.set_default_version('agent', '1.0.0')).default_version;
SELECT (rollout.set_version_eol('agent', '1.0.0', current_date - 10, 'vendor EOL')).version;
SELECT policy_id FROM rollout.set_version_policy('agent', baseline => '2.0.0', action => 'block',
                                                 grace_limit => '90 days', reason => 'baseline');

-- alice asks, then calls herself someone else: refused, nothing changes
SET SESSION AUTHORIZATION regress_ai_alice;
SET pg_rollout.actor = 'alice@acme.example';
SELECT extension_id, requested_by, requested_login
  FROM rollout.request_grace_extension('p1', 'agent', '1.0.0', '20 days', 'vendor fix pending', 'CHG-1');
SELECT exemption_id, requested_by, requested_login
  FROM rollout.request_exemption('p2', 'agent', '[1.0.0,1.0.0]', 'mitigated', 'WAF rule', now() + interval '30 days');
SET pg_rollout.actor = 'cto@acme.example';
SELECT rollout.approve_grace_extension(1, 'ok');
SELECT rollout.approve_exemption(1, 'risk accepted');
RESET pg_rollout.actor;
SELECT rollout.approve_grace_extension(1, 'ok');
SELECT rollout.approve_exemption(1, 'risk accepted');
RESET SESSION AUTHORIZATION;
SELECT extension_id, status, decided_by FROM rollout.grace_extension;
SELECT exemption_id, approved_by FROM rollout.exemption;
-- bob, claiming alice's actor: refused; as himself: approved
SET SESSION AUTHORIZATION regress_ai_bob;
SET pg_rollout.actor = 'alice@acme.example';
SELECT rollout.approve_exemption(1, 'risk accepted');
SET pg_rollout.actor = 'cto@acme.example';
SELECT status, decided_by FROM rollout.approve_grace_extension(1, 'ok until the vendor fix');
SELECT approved_by FROM rollout.approve_exemption(1, 'risk accepted');
RESET pg_rollout.actor;
RESET SESSION AUTHORIZATION;
-- the audit log tells the logins apart
SELECT action, db_user, actor FROM rollout.audit_log
 WHERE action IN ('grace.extension_requested', 'grace.extension_approved', 'exemption.requested', 'exemption.approved')
 ORDER BY seq;

-- a tenant's approval of a rollout: not by the login that created it
SELECT approval FROM rollout.set_tenant_preference('p1', approval => 'all');
SET SESSION AUTHORIZATION regress_ai_alice;
SET pg_rollout.actor = 'alice@acme.example';
SELECT (rollout.create_rollout('agent-2', 'agent', '1.0.0', '2.0.0')).status;
SET pg_rollout.actor = 'p1-owner@acme.example';
SELECT rollout.approve_tenant_update('agent-2', 'p1', note => 'fine');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_ai_bob;
SET pg_rollout.actor = 'alice@acme.example';
SELECT rollout.approve_tenant_update('agent-2', 'p1', note => 'fine');
SET pg_rollout.actor = 'p1-owner@acme.example';
SELECT rollout.approve_tenant_update('agent-2', 'p1', note => 'p1 owner agrees');
RESET pg_rollout.actor;
RESET SESSION AUTHORIZATION;
SELECT rollout_id, tenant_id, approved_by FROM rollout.update_approval;
-- a forced upgrade (remediation, from a policy) has no person as author: the
-- login that ran the tick which created it may approve for a tenant
SET SESSION AUTHORIZATION regress_ai_alice;
SET pg_rollout.actor = 'rollout.tick';
SELECT (rollout.create_rollout('forced-agent-1', 'agent', '1.0.0', '2.0.0')).status;
RESET SESSION AUTHORIZATION;
INSERT INTO rollout.forced_upgrade (rollout_id, component_id, target_version, policy_ids, starts_at)
VALUES ('forced-agent-1', 'agent', '2.0.0', '{1}', 'infinity');   -- as _force() records it
SET SESSION AUTHORIZATION regress_ai_alice;
SET pg_rollout.actor = 'p1-owner@acme.example';
SELECT rollout.approve_tenant_update('forced-agent-1', 'p1', note => 'p1 owner agrees');
RESET pg_rollout.actor;
RESET SESSION AUTHORIZATION;
SELECT rollout_id, tenant_id, approved_by FROM rollout.update_approval ORDER BY rollout_id;

-- a rollout's approval (approve_rollout): the same rule, rollout._is_author
SELECT count(*) FROM (SELECT rollout.add_stage('agent-2', 'all', 'all')) x;
SET SESSION AUTHORIZATION regress_ai_alice;
SET pg_rollout.actor = 'cto@acme.example';
SELECT rollout.approve_rollout('agent-2', 'looks fine');
RESET pg_rollout.actor;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_ai_bob;
SET pg_rollout.actor = 'alice@acme.example';
SELECT rollout.approve_rollout('agent-2', 'looks fine');
RESET pg_rollout.actor;
RESET SESSION AUTHORIZATION;
SELECT status, approved_by FROM rollout.rollout WHERE rollout_id = 'agent-2';
-- a superuser asserts the actor: another actor from the author's login is taken as given
SET pg_rollout.actor = 'alice@acme.example';
SELECT (rollout.create_rollout('agent-3', 'agent', '1.0.0', '2.0.0')).status;
SELECT count(*) FROM (SELECT rollout.add_stage('agent-3', 'all', 'all')) x;
SELECT rollout.approve_rollout('agent-3');
SET pg_rollout.actor = 'cto@acme.example';
SELECT status, approved_by FROM rollout.approve_rollout('agent-3', 'ok');
RESET pg_rollout.actor;
-- and bob, from a login of his own, approves agent-2
SET SESSION AUTHORIZATION regress_ai_bob;
SELECT status, approved_by FROM rollout.approve_rollout('agent-2', 'ok');
RESET SESSION AUTHORIZATION;

-- Releases: which transition needs which approvals, and the GO memo before
-- the last channel, follow the channels' order; a release leaves a channel
-- after its minimum soak.  While a release is in flight an admin cannot
-- add a channel after "stable" (stable would need neither the memo nor the
-- System Owner), reorder the channels, or lower the soak it is serving.
SELECT release_id FROM rollout.create_release('r1', 'agent', '2.0.0', class => 'ui_only');
SELECT channel_id FROM rollout.promote('r1', 'dev');
SELECT rollout.create_channel('lts', 50, 'all', description => 'after stable');
SELECT rollout.update_channel('candidate', ordinal => 45, reason => 'after stable');
SELECT ordinal FROM rollout.update_channel('stable', ordinal => 44, reason => 'same order');
SELECT min_soak FROM rollout.update_channel('dev', min_soak => '1 day', reason => 'longer');
SELECT rollout.update_channel('dev', min_soak => '1 hour', reason => 'shorter');
SELECT min_soak FROM rollout.update_channel('candidate', min_soak => '3 days', reason => 'no release there yet');
SELECT check_id, passed, detail ~ 'minimum soak 1 day' AS one_day_soak FROM rollout.readiness('r1') WHERE check_id IN ('channel.order', 'soak');
-- once the release is done (here: rolled back), the channels may change
SET SESSION AUTHORIZATION regress_ai_lead;
SELECT status FROM rollout.decide_rollback('r1', 'rollback', 'not needed');
RESET SESSION AUTHORIZATION;
SELECT channel_id, ordinal FROM rollout.create_channel('lts', 50, 'all', description => 'after stable');

SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
DROP ROLE regress_ai_alice, regress_ai_bob, regress_ai_lead;
