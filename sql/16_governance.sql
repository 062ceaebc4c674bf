-- Version governance (issue 12): policies, EOL and grace, exemptions,
-- enforcement, the drift roster, compliance roll-ups and simulation.
-- Seed 003's version-enforcement story, then every bad input.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_gov_bob;
RESET client_min_messages;
-- governance days are UTC days: current_date below is the same day
SET timezone = 'UTC';
-- approvals come from another login than requests (docs/governance.md §2)
CREATE ROLE regress_gov_bob IN ROLE rollout_admin;
SET search_path = public, rollout;
SET pg_rollout.actor = 'alice';

SELECT (rollout.create_tenant('acme', kind => 'organisation')).tenant_id;
SELECT rollout.create_tenants(ARRAY['web', 'ops'], ARRAY['acme', 'acme'], ARRAY['team', 'team']);
SELECT rollout.create_tenants(ARRAY['p1', 'p2', 'p3', 'p4', 'p5', 'p6'], ARRAY['web', 'web', 'web', 'ops', 'ops', 'ops'],
                              ARRAY['project', 'project', 'project', 'project', 'project', 'project']);
SELECT (rollout.create_tenant('globex', kind => 'organisation')).tenant_id;
SELECT (rollout.create_component('agent', 'plugin')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('agent', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '1.1.0', '2.0.0', '2.1.0']) v) x;
SELECT (rollout.set_default_version('agent', '1.0.0')).default_version;

-- a global policy: baseline 2.0.0, block, extensions up to 60 days of grace
SELECT policy_id, tenant_id, baseline, action, grace_limit
  FROM rollout.set_version_policy('agent', baseline => '2.0.0', action => 'block', grace_limit => '60 days',
                                  reason => 'security baseline Q3');
SELECT now() AS t_first_policy \gset
SELECT tenant_id, version, source, status, days_left FROM rollout.drift_roster ORDER BY tenant_id;

-- EOL announced 5 days ahead: the forced-upgrade date is visible from day 0
SELECT (rollout.set_version_eol('agent', '1.0.0', current_date + 5, 'vendor EOL')).version;
SELECT tenant_id, status, days_left, forced_upgrade_on - eol_date AS grace_days
  FROM rollout.drift_roster WHERE tenant_id IN ('acme', 'p1') ORDER BY tenant_id;
-- EOL 10 days ago: in grace, 20 days left (default grace 30 days)
SELECT (rollout.set_version_eol('agent', '1.0.0', current_date - 10, 'EOL moved')).version;
SELECT tenant_id, status, days_left FROM rollout.drift_roster ORDER BY tenant_id;
SELECT node_id, depth, pairs, eol_in_grace, compliance_pct FROM rollout.compliance_summary
 WHERE component_id IS NULL ORDER BY depth, node_id;
-- a pin to a version in grace is not refused
SELECT rollout.pin_version('p6', 'agent', '1.0.0', 'holding back');
SELECT rollout.unpin_version('p6', 'agent', 'released');

-- a grace extension for p4: requested by alice, approved by bob (not alice)
SELECT extension_id, status FROM rollout.request_grace_extension('p4', 'agent', '1.0.0', '20 days', 'migration blocked', 'CHG-1');
SELECT rollout.approve_grace_extension(1, 'ok');          -- self-approval
SET pg_rollout.actor = 'bob';
SET SESSION AUTHORIZATION regress_gov_bob;   -- another login
SELECT status, decided_by FROM rollout.approve_grace_extension(1, 'ok');
RESET SESSION AUTHORIZATION;
SELECT tenant_id, status, days_left FROM rollout.drift_roster WHERE tenant_id IN ('p3', 'p4') ORDER BY tenant_id;

-- 40 days after EOL: past grace everywhere but p4 (30 + 20 days)
SELECT (rollout.set_version_eol('agent', '1.0.0', current_date - 40, 'EOL corrected')).version;
SELECT tenant_id, status, days_left FROM rollout.drift_roster ORDER BY tenant_id;
-- a pin to it is refused (policy action block), naming the policy, version and tenant
SELECT rollout.pin_version('p1', 'agent', '1.0.0', 'stay');
SELECT rollout.pin_version('web', 'agent', '1.0.0', 'stay');
SELECT status, policy_id, action, refused FROM rollout.check_version('p1', 'agent', '1.0.0');
SELECT status, refused FROM rollout.check_version('p4', 'agent', '1.0.0');
SELECT node_id, pairs, past_grace, eol_in_grace, compliance_pct FROM rollout.compliance_summary
 WHERE component_id IS NULL ORDER BY depth, node_id;

-- an exemption lets p2 stay on 1.0.0: requested by alice, approved by bob
SET pg_rollout.actor = 'alice';
SELECT exemption_id, tenant_id, versions, category, approved_by
  FROM rollout.request_exemption('p2', 'agent', '[1.0.0,1.0.0]', 'mitigated', 'WAF rule in place',
                                 now() + interval '30 days', ticket => 'SEC-42');
SELECT state FROM rollout.exemption_ledger;
SELECT status FROM rollout.drift_roster WHERE tenant_id = 'p2';   -- not yet approved
SET pg_rollout.actor = 'bob';
SET SESSION AUTHORIZATION regress_gov_bob;   -- another login
SELECT approved_by FROM rollout.approve_exemption(1, 'risk accepted');
RESET SESSION AUTHORIZATION;
SELECT tenant_id, status, violation, exemption_id, exempt_reason FROM rollout.drift_roster
 WHERE tenant_id IN ('p1', 'p2') ORDER BY tenant_id;
SELECT rollout.pin_version('p2', 'agent', '1.0.0', 'exempt: stays');
SELECT state FROM rollout.exemption_ledger;

-- a short exemption for p3: one decider, so one second after expiry
-- enforcement, roster, summary, ledger and the lookup all flip together
SET pg_rollout.actor = 'alice';
SELECT exemption_id FROM rollout.request_exemption('p3', 'agent', '[1.0.0,1.1.0)', 'waiver', 'customer freeze',
                                                   now() + interval '3 seconds');
SET pg_rollout.actor = 'bob';
SET SESSION AUTHORIZATION regress_gov_bob;   -- another login
SELECT approved_by FROM rollout.approve_exemption(2);
RESET SESSION AUTHORIZATION;
SELECT expires_at AS t_exp FROM rollout.exemption WHERE exemption_id = 2 \gset
SELECT d AS offset_s,
       (rollout.exemption_for('p3', 'agent', '1.0.0', :'t_exp'::timestamptz + d * interval '1 second')).exemption_id AS decider,
       (SELECT refused FROM rollout.check_version('p3', 'agent', '1.0.0', :'t_exp'::timestamptz + d * interval '1 second')) AS pin_refused,
       (SELECT status FROM rollout.drift_roster_at(:'t_exp'::timestamptz + d * interval '1 second')
         WHERE tenant_id = 'p3') AS roster,
       (SELECT exempt FROM rollout.compliance_summary_at(:'t_exp'::timestamptz + d * interval '1 second')
         WHERE node_id = 'web' AND component_id IS NULL) AS web_exempt,
       (SELECT state FROM rollout.exemption_ledger_at(:'t_exp'::timestamptz + d * interval '1 second')
         WHERE exemption_id = 2) AS ledger
  FROM unnest(ARRAY[-1, 1]) d;
-- and for real: once it has expired, the pin is refused
SELECT pg_sleep(greatest(0, extract(epoch FROM :'t_exp'::timestamptz - clock_timestamp()) + 0.1)::float8);
SELECT rollout.pin_version('p3', 'agent', '1.0.0', 'stay');
SELECT status FROM rollout.drift_roster WHERE tenant_id = 'p3';

-- the organisation's compliance % changes as a rollout moves tenants off 1.0.0
SET pg_rollout.actor = 'alice';
SELECT rollout_id FROM rollout.create_rollout('r1', 'agent', '1.0.0', '2.0.0', scope_tenant_id => 'acme');
SELECT stage_no FROM rollout.add_stage('r1', 'canary', 'tenants', tenants => ARRAY['p4', 'p5']);
SELECT stage_no FROM rollout.add_stage('r1', 'rest', 'all');
SET pg_rollout.actor = 'bob';
SELECT status FROM rollout.approve_rollout('r1', 'go');
SELECT node_id, compliance_pct FROM rollout.compliance_summary WHERE node_id = 'acme' AND component_id = 'agent';
SELECT status FROM rollout.start_rollout('r1');
SELECT node_id, compliant, past_grace, exempt, compliance_pct FROM rollout.compliance_summary
 WHERE node_id = 'acme' AND component_id = 'agent';
SELECT status FROM rollout.advance_rollout('r1', 'canary fine');
SELECT node_id, compliant, past_grace, exempt, compliance_pct FROM rollout.compliance_summary
 WHERE node_id = 'acme' AND component_id = 'agent';
SELECT status FROM rollout.advance_rollout('r1', 'done');
SELECT version, tenants, share_pct FROM rollout.version_distribution WHERE component_id = 'agent';

-- blocked versions: refused for new rollouts and at stage activation
SELECT rollout_id FROM rollout.create_rollout('r2', 'agent', '2.0.0', '2.1.0', scope_tenant_id => 'ops');
SELECT stage_no FROM rollout.add_stage('r2', 'all', 'all');
SET pg_rollout.actor = 'carol';
SELECT status FROM rollout.approve_rollout('r2', 'go');
SELECT policy_id, tenant_id, blocked FROM rollout.set_version_policy('agent', 'ops', baseline => '2.0.0',
       blocked => '{[2.1.0,2.1.0]}', action => 'block', reason => 'bad release 2.1.0');
SELECT status FROM rollout.start_rollout('r2');
SELECT status, current_stage FROM rollout.rollout WHERE rollout_id = 'r2';
SELECT rollout_id FROM rollout.create_rollout('r3', 'agent', '2.0.0', '2.1.0', scope_tenant_id => 'p5');
SELECT rollout_id FROM rollout.create_rollout('r3', 'agent', '2.0.0', '2.1.0', scope_tenant_id => 'web');
SELECT rollout.set_channel_release('agent', 'stable', '2.1.0', 'release');
SELECT rollout.set_channel_release('agent', 'stable', '2.0.0', 'release');
SELECT rollout.pin_version('p5', 'agent', '2.1.0', 'try');
SELECT rollout.pin_version('p1', 'agent', '2.1.0', 'try');
SELECT rollout.unpin_version('p1', 'agent', 'back');

-- simulation: a minimum of 2.0.0 and a baseline of 2.1.0 for web, then
-- applied; the real roster equals the simulated one
SELECT s.tenant_id, s.version, r.status AS now, s.status AS after, s.violation
  FROM rollout.simulate_policy('agent', 'web', min_version => '2.0.0', baseline => '2.1.0', action => 'block') s
  JOIN rollout.drift_roster r USING (tenant_id, component_id)
 ORDER BY s.tenant_id;
CREATE TEMP TABLE sim AS
SELECT tenant_id, component_id, version, source, source_tenant_id, status, violation, policy_tenant_id, action,
       baseline, eol_date, forced_upgrade_on, days_left, exemption_id, exempt_until, exempt_reason
  FROM rollout.simulate_policy('agent', 'web', min_version => '2.0.0', baseline => '2.1.0', action => 'block');
SELECT count(*) AS policies_before FROM rollout.version_policy;      -- simulation wrote nothing
SELECT policy_id FROM rollout.set_version_policy('agent', 'web', min_version => '2.0.0', baseline => '2.1.0',
                                                 action => 'block', reason => 'minimum 2.0.0 for web');
SELECT count(*) AS differences FROM (
    (SELECT tenant_id, component_id, version, source, source_tenant_id, status, violation, policy_tenant_id, action,
            baseline, eol_date, forced_upgrade_on, days_left, exemption_id, exempt_until, exempt_reason
       FROM rollout.drift_roster EXCEPT ALL SELECT * FROM sim)
    UNION ALL
    (SELECT * FROM sim EXCEPT ALL
     SELECT tenant_id, component_id, version, source, source_tenant_id, status, violation, policy_tenant_id, action,
            baseline, eol_date, forced_upgrade_on, days_left, exemption_id, exempt_until, exempt_reason
       FROM rollout.drift_roster)) d;
-- clearing a policy can be simulated too
SELECT s.tenant_id, r.status AS now, s.status AS after
  FROM rollout.simulate_policy('agent', 'ops', clear => true) s JOIN rollout.drift_roster r USING (tenant_id, component_id)
 WHERE s.tenant_id IN ('ops', 'p4') ORDER BY 1;

-- policies are versioned: as of the first change, one global policy
SELECT tenant_id, baseline, min_version FROM rollout.version_policies(:'t_first_policy') ORDER BY tenant_id NULLS FIRST;
SELECT tenant_id, baseline, min_version FROM rollout.version_policies() ORDER BY tenant_id NULLS FIRST;
SELECT rollout.clear_version_policy('agent', 'ops', 'bad release fixed');
SELECT tenant_id, valid_to IS NULL AS current FROM rollout.version_policy ORDER BY policy_id;
SELECT action, tenant_id, actor, reason FROM rollout.audit_log
 WHERE action LIKE 'policy.%' OR action LIKE 'exemption.%' OR action LIKE 'grace.%' ORDER BY seq;

-- ---------------------------------------------------------------------
-- Bad input: a clear error, nothing stored
-- ---------------------------------------------------------------------
SELECT (SELECT count(*) FROM rollout.version_policy) AS policies, (SELECT count(*) FROM rollout.exemption) AS exemptions,
       (SELECT count(*) FROM rollout.grace_extension) AS extensions, (SELECT count(*) FROM rollout.audit_log) AS audit \gset
SET pg_rollout.actor = 'alice';
SELECT rollout.set_version_policy('nope', baseline => '1.0.0', reason => 'x');
SELECT rollout.set_version_policy('agent', baseline => '9.9.9', reason => 'x');
SELECT rollout.set_version_policy('agent', 'nobody', baseline => '1.0.0', reason => 'x');
SELECT rollout.set_version_policy('agent', min_version => '2.0.0', max_version => '1.1.0', reason => 'x');
SELECT rollout.set_version_policy('agent', min_version => '2.0.0', baseline => '1.1.0', reason => 'x');
SELECT rollout.set_version_policy('agent', baseline => '2.1.0', blocked => '{[2.1.0,2.1.0]}', reason => 'x');
SELECT rollout.set_version_policy('agent', action => 'nag', reason => 'x');
SELECT rollout.set_version_policy('agent', baseline => '2.0.0');
SELECT rollout.clear_version_policy('agent', 'p1', 'x');
SELECT rollout.simulate_policy('agent', min_version => '2.0.0', max_version => '1.0.0');
SELECT rollout.request_exemption('p2', 'agent', '[1.0.0,2.0.0)', 'waiver', 'again', now() + interval '1 day');
SELECT rollout.request_exemption('web', 'agent', '[1.0.0,1.0.0]', 'waiver', 'team', now() + interval '1 day');
SELECT rollout.request_exemption('p1', 'agent', '[1.0.0,1.0.0]', 'waiver', 'late', now() - interval '1 second');
SELECT rollout.request_exemption('p1', 'agent', '[5.0.0,6.0.0)', 'waiver', 'x', now() + interval '1 day');
SELECT rollout.request_exemption('p1', 'nope', '[1.0.0,1.0.0]', 'waiver', 'x', now() + interval '1 day');
SELECT rollout.request_exemption('nobody', 'agent', '[1.0.0,1.0.0]', 'waiver', 'x', now() + interval '1 day');
SELECT rollout.request_exemption('p1', 'agent', '[1.0.0,1.0.0]', 'pardon', 'x', now() + interval '1 day');
SELECT rollout.request_exemption('p1', 'agent', '[1.0.0,1.0.0]', 'waiver', '', now() + interval '1 day');
SELECT rollout.request_exemption('p1', 'agent', 'empty', 'waiver', 'x', now() + interval '1 day');
SELECT rollout.request_grace_extension('p5', 'agent', '1.0.0', '31 days', 'too long');
SELECT rollout.request_grace_extension('p5', 'agent', '2.0.0', '1 day', 'no EOL');
SELECT rollout.request_grace_extension('p5', 'agent', '9.9.9', '1 day', 'unknown');
SELECT rollout.request_grace_extension('p5', 'agent', '1.0.0', '-1 day', 'negative');
SELECT rollout.approve_grace_extension(99);
SELECT rollout.approve_exemption(1);
SELECT rollout.approve_exemption(99);
SELECT rollout.revoke_exemption(1, NULL);
-- self-approval of a new exemption: refused, and nothing of it stays
BEGIN;
SELECT exemption_id FROM rollout.request_exemption('p1', 'agent', '[1.0.0,1.0.0]', 'waiver', 'x', now() + interval '1 day');
SELECT rollout.approve_exemption(3);
ROLLBACK;
SELECT (SELECT count(*) FROM rollout.version_policy) = :policies AS policies_unchanged,
       (SELECT count(*) FROM rollout.exemption) = :exemptions AS exemptions_unchanged,
       (SELECT count(*) FROM rollout.grace_extension) = :extensions AS extensions_unchanged,
       (SELECT count(*) FROM rollout.audit_log) = :audit AS audit_unchanged;

-- revoking ends an exemption at once; the audit chain and the state are whole
SET pg_rollout.actor = 'bob';
SELECT revoked_by FROM rollout.revoke_exemption(1, 'WAF rule removed');
SELECT status FROM rollout.drift_roster WHERE tenant_id = 'p2';
SELECT intact FROM rollout.verify_audit();
SELECT count(*) AS problems FROM rollout.verify_state() WHERE problems > 0;

-- the roster reads every component in one pass over the tree: the same
-- answers as rollout.resolve_versions, component by component
SELECT (rollout.create_component('ui', 'product')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('ui', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '1.2.0']) v) x;
SELECT (rollout.set_default_version('ui', '1.0.0')).default_version;
SELECT rollout.pin_version('web', 'ui', '1.2.0', 'beta');
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE (a.version, a.source) IS DISTINCT FROM (r.version, r.source)
                           OR a.source_tenant_id IS DISTINCT FROM r.source_tenant_id) AS differences
  FROM rollout.resolve_versions_all() a
  FULL JOIN (SELECT c.component_id, x.* FROM rollout.component c, rollout.resolve_versions(c.component_id) x) r
    USING (component_id, tenant_id);
SELECT tenant_id, version, source FROM rollout.drift_roster WHERE component_id = 'ui' AND tenant_id IN ('web', 'p1', 'ops')
 ORDER BY tenant_id;
DROP ROLE regress_gov_bob;
