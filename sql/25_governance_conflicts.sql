-- Version governance (issue 12): the bulk evaluation in C agrees with the
-- SQL evaluation; conflict rules between components (requires, excludes,
-- maximum skew behind the baseline) in the roster, the conflict roster, the
-- roll-ups, simulation and enforcement; every bad input.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS regress_gov_bob;
RESET client_min_messages;
-- governance days are UTC days: current_date below is the same day
SET timezone = 'UTC';
-- approvals come from another login than requests (docs/governance.md §2)
CREATE ROLE regress_gov_bob IN ROLE rollout_admin;
SET search_path = public, rollout;
SET pg_rollout.actor = 'alice';

SELECT rollout.create_tenants(ARRAY['acme', 'globex'], ARRAY[NULL, NULL], ARRAY['organisation', 'organisation']);
SELECT rollout.create_tenants(ARRAY['web', 'ops', 'lab'], ARRAY['acme', 'acme', 'globex'], ARRAY['team', 'team', 'team']);
SELECT rollout.create_tenants(ARRAY['p1', 'p2', 'p3', 'p4', 'p5', 'p6'], ARRAY['web', 'web', 'ops', 'ops', 'lab', 'lab'],
                              ARRAY['project', 'project', 'project', 'project', 'project', 'project']);
SELECT count(*) FROM (SELECT rollout.create_component(c, 'plugin') FROM unnest(ARRAY['agent', 'db', 'ui']) c) x;
SELECT count(*) FROM (SELECT rollout.add_version(c, v::rollout.semver, 'published')
                        FROM unnest(ARRAY['agent', 'db', 'ui']) c,
                             unnest(ARRAY['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0', '2.0.0']) v) x;
SELECT count(*) FROM (SELECT rollout.set_default_version(c, '1.2.0') FROM unnest(ARRAY['agent', 'db', 'ui']) c) x;
SELECT (rollout.set_version_eol('agent', '1.0.0', current_date - 40, 'old')).version;
SELECT (rollout.set_version_eol('agent', '1.1.0', current_date - 5, 'old')).version;
SELECT rollout.pin_version('web', 'agent', '1.1.0', 'hold');
SELECT rollout.pin_version('p3', 'db', '1.0.0', 'hold');
SELECT rollout.pin_version('p6', 'ui', '2.0.0', 'beta');

-- policies at three levels, a grace extension, exemptions
SELECT count(*) FROM (SELECT rollout.set_version_policy(c, baseline => '1.3.0', grace_limit => '60 days', reason => 'global')
                        FROM unnest(ARRAY['agent', 'db', 'ui']) c) x;
SELECT policy_id FROM rollout.set_version_policy('agent', 'acme', min_version => '1.1.0', baseline => '1.4.0',
                                                 grace_limit => '60 days', reason => 'org');
SELECT policy_id FROM rollout.set_version_policy('db', 'ops', blocked => '{[1.0.0,1.0.0]}', baseline => '1.2.0', reason => 'team');
SELECT extension_id FROM rollout.request_grace_extension('p2', 'agent', '1.1.0', '10 days', 'migration');
SET pg_rollout.actor = 'bob';
SET SESSION AUTHORIZATION regress_gov_bob;   -- another login
SELECT status FROM rollout.approve_grace_extension(1);
RESET SESSION AUTHORIZATION;
SET pg_rollout.actor = 'alice';
SELECT exemption_id FROM rollout.request_exemption('p3', 'db', '[1.0.0,1.0.0]', 'waiver', 'vendor', now() + interval '9 days');
SELECT exemption_id FROM rollout.request_exemption('lab', 'ui', '[1.0.0,1.3.0)', 'mitigated', 'lab', now() + interval '9 days');
SET pg_rollout.actor = 'bob';
SET SESSION AUTHORIZATION regress_gov_bob;   -- another login
SELECT count(*) FROM (SELECT rollout.approve_exemption(e) FROM unnest(ARRAY[1, 2]) e) x;
RESET SESSION AUTHORIZATION;
-- two rollouts of ui: the later one supersedes the earlier below globex,
-- and a blackout defers p5 from the live one
SET pg_rollout.actor = 'alice';
SELECT rollout_id FROM rollout.create_rollout('u1', 'ui', '1.2.0', '1.3.0', scope_tenant_id => 'globex');
SELECT stage_no FROM rollout.add_stage('u1', 'all', 'all');
SELECT rollout_id FROM rollout.create_rollout('u2', 'ui', '1.3.0', '1.4.0', scope_tenant_id => 'lab');
SELECT stage_no FROM rollout.add_stage('u2', 'all', 'all');
SET pg_rollout.actor = 'bob';
SELECT status FROM rollout.approve_rollout('u1', 'go');
SELECT status FROM rollout.approve_rollout('u2', 'go');
SELECT status FROM rollout.start_rollout('u1');
SELECT status FROM rollout.advance_rollout('u1', 'done');
SELECT rollout.add_blackout('p5', tstzrange(now() - interval '1 hour', now() + interval '1 day'), 'freeze') > 0 AS blackout;
SELECT status FROM rollout.start_rollout('u2');
SET pg_rollout.actor = 'alice';

-- resolve_versions_all gives what resolve_versions gives, component by
-- component (supersession and deferrals included)
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE (a.version, a.source) IS DISTINCT FROM (r.version, r.source)
                           OR a.source_tenant_id IS DISTINCT FROM r.source_tenant_id) AS differences
  FROM rollout.resolve_versions_all() a
  FULL JOIN (SELECT c.component_id, x.* FROM rollout.component c, rollout.resolve_versions(c.component_id) x) r
    USING (component_id, tenant_id);
SELECT tenant_id, version, source FROM rollout.resolve_versions_all(ARRAY['ui']) WHERE tenant_id IN ('lab', 'p5', 'p6')
 ORDER BY tenant_id;

-- the bulk evaluation (C) and the SQL evaluation give the same rows: of
-- every tenant through resolve_versions_all, and of the listed tenants
CREATE TEMP VIEW ev_c AS
SELECT * FROM rollout._evaluate_all(now(), rollout._policies_as_of(now()), NULL);
CREATE TEMP VIEW ev_sql AS
SELECT * FROM rollout._evaluate_given(now(), rollout._policies_as_of(now()), NULL, NULL, NULL);
CREATE TEMP VIEW ev_list AS
SELECT * FROM rollout._evaluate_given(now(), rollout._policies_as_of(now()), NULL,
                                      ARRAY(SELECT tenant_id FROM rollout.tenant), NULL);
SELECT (SELECT count(*) FROM ev_c) AS pairs,
       (SELECT count(*) FROM ((SELECT * FROM ev_c EXCEPT ALL SELECT * FROM ev_sql)
                              UNION ALL (SELECT * FROM ev_sql EXCEPT ALL SELECT * FROM ev_c)) d) AS c_vs_sql,
       (SELECT count(*) FROM ((SELECT * FROM ev_c EXCEPT ALL SELECT * FROM ev_list)
                              UNION ALL (SELECT * FROM ev_list EXCEPT ALL SELECT * FROM ev_c)) d) AS c_vs_list;
-- the roster (C, its columns written straight out) gives the SQL rows too
SELECT count(*) AS roster_vs_sql FROM (
    (SELECT * FROM rollout.drift_roster
     EXCEPT ALL
     SELECT tenant_id, component_id, version, source, source_tenant_id, status, violation, policy_id, policy_tenant_id,
            action, baseline, eol_date, forced_upgrade_on, days_left, exemption_id, exempt_until, exempt_reason FROM ev_sql)
    UNION ALL
    (SELECT tenant_id, component_id, version, source, source_tenant_id, status, violation, policy_id, policy_tenant_id,
            action, baseline, eol_date, forced_upgrade_on, days_left, exemption_id, exempt_until, exempt_reason FROM ev_sql
     EXCEPT ALL
     SELECT * FROM rollout.drift_roster)) d;
SELECT status, count(*) FROM ev_c GROUP BY status ORDER BY status;
SELECT tenant_id, component_id, version, status, days_left, exemption_id FROM ev_c
 WHERE tenant_id IN ('p2', 'p3', 'p5') AND component_id <> 'ui' OR (tenant_id = 'p5' AND component_id = 'ui')
 ORDER BY tenant_id, component_id;
-- and so with one component, and at another instant (the exemptions ended)
SELECT count(*) AS differences FROM (
    (SELECT * FROM rollout._evaluate_all(now() + interval '10 days', rollout._policies_as_of(now()), ARRAY['db', 'ui'])
     EXCEPT ALL
     SELECT * FROM rollout._evaluate_given(now() + interval '10 days', rollout._policies_as_of(now()), ARRAY['db', 'ui'], NULL, NULL))
    UNION ALL
    (SELECT * FROM rollout._evaluate_given(now() + interval '10 days', rollout._policies_as_of(now()), ARRAY['db', 'ui'], NULL, NULL)
     EXCEPT ALL
     SELECT * FROM rollout._evaluate_all(now() + interval '10 days', rollout._policies_as_of(now()), ARRAY['db', 'ui']))) d;

-- the roll-ups' counts (C, counted in the pass) are the SQL evaluation's
-- GROUP BY: of every component now, of two components in 10 days, and of
-- the tenants of one subtree (the SQL path)
SELECT count(*) AS counts_vs_sql FROM (
    (SELECT * FROM rollout._summary_counts(now(), rollout._policies_as_of(now()), NULL, NULL)
     EXCEPT ALL
     SELECT org_id, team_id, component_id, status, count(*) FROM ev_sql GROUP BY 1, 2, 3, 4)
    UNION ALL
    (SELECT org_id, team_id, component_id, status, count(*) FROM ev_sql GROUP BY 1, 2, 3, 4
     EXCEPT ALL
     SELECT * FROM rollout._summary_counts(now(), rollout._policies_as_of(now()), NULL, NULL))) d;
SELECT count(*) AS counts_vs_sql FROM (
    (SELECT * FROM rollout._summary_counts(now() + interval '10 days', rollout._policies_as_of(now()), ARRAY['db', 'ui'], NULL)
     EXCEPT ALL
     SELECT org_id, team_id, component_id, status, count(*)
       FROM rollout._evaluate_given(now() + interval '10 days', rollout._policies_as_of(now()), ARRAY['db', 'ui'], NULL, NULL)
      GROUP BY 1, 2, 3, 4)
    UNION ALL
    (SELECT org_id, team_id, component_id, status, count(*)
       FROM rollout._evaluate_given(now() + interval '10 days', rollout._policies_as_of(now()), ARRAY['db', 'ui'], NULL, NULL)
      GROUP BY 1, 2, 3, 4
     EXCEPT ALL
     SELECT * FROM rollout._summary_counts(now() + interval '10 days', rollout._policies_as_of(now()), ARRAY['db', 'ui'], NULL))) d;
SELECT sum(n) AS pairs, count(*) FILTER (WHERE status = 'exempt') AS exempt_groups
  FROM rollout._summary_counts(now(), rollout._policies_as_of(now()), NULL,
                               ARRAY(SELECT tenant_id FROM rollout.tenant WHERE tenant_id = 'acme' OR parent_id = 'acme'));

-- ---------------------------------------------------------------------
-- Conflict rules
-- ---------------------------------------------------------------------
SELECT count(*) AS conflicting FROM rollout.drift_roster WHERE status = 'conflicting';
-- agent 1.2.0 and later requires db at least 1.2.0; ui 2.x excludes db 1.x;
-- agent at most 1 minor behind its baseline (acme: 1.4.0)
SELECT rule_id, kind, action FROM rollout.add_conflict_rule('requires', 'agent', '[1.2.0,)', 'db', '[1.2.0,)',
                                                            reason => 'agent needs the new db protocol');
SELECT rule_id, kind, action FROM rollout.add_conflict_rule('excludes', 'ui', '[2.0.0,)', 'db', '[1.0.0,2.0.0)',
                                                            reason => 'ui 2 breaks on db 1', action => 'block');
SELECT rule_id, kind, max_minors FROM rollout.add_conflict_rule('max_skew', 'agent', max_minors => 1, tenant_id => 'acme',
                                                                reason => 'at most one minor behind');
SELECT now() AS t_rules \gset
SELECT tenant_id, component_id, version, status, violation FROM rollout.drift_roster
 WHERE status = 'conflicting' ORDER BY tenant_id, component_id;
SELECT tenant_id, component_id, version, rule_id, kind, other_component_id, other_version, baseline
  FROM rollout.conflict_roster ORDER BY tenant_id, component_id, rule_id;
-- the conflict roster lists exactly the roster's conflicting pairs
SELECT count(*) AS differences FROM (
    (SELECT tenant_id, component_id FROM rollout.drift_roster WHERE status = 'conflicting'
     EXCEPT SELECT tenant_id, component_id FROM rollout.conflict_roster)
    UNION ALL
    (SELECT tenant_id, component_id FROM rollout.conflict_roster
     EXCEPT SELECT tenant_id, component_id FROM rollout.drift_roster WHERE status = 'conflicting')) d;
-- one component's roster says the same (the other component resolved)
SELECT tenant_id, status FROM rollout.drift_roster_at(now(), 'agent') WHERE status = 'conflicting' ORDER BY tenant_id;
SELECT node_id, component_id, conflicting, compliance_pct FROM rollout.compliance_summary
 WHERE component_id IS NULL ORDER BY depth, node_id;

-- enforcement: a block rule refuses a pin and a rollout that would break it
SELECT rollout.pin_version('p3', 'ui', '2.0.0', 'try ui 2');              -- p3 runs db 1.0.0: refused
SELECT rollout.pin_version('p2', 'db', '1.1.0', 'older db');              -- report rule only: accepted
SELECT rollout.unpin_version('p2', 'db', 'back');
SELECT rollout.pin_version('p6', 'db', '1.1.0', 'older db');              -- the other side: p6 runs ui 2.0.0
SELECT rollout.pin_version('p6', 'db', '2.0.0', 'db for ui 2');           -- the other side, allowed version
SELECT status FROM rollout.drift_roster WHERE tenant_id = 'p6' AND component_id = 'ui';
SELECT rollout_id FROM rollout.create_rollout('u3', 'ui', '1.2.0', '2.0.0', scope_tenant_id => 'ops');
SELECT rollout_id FROM rollout.create_rollout('u3', 'ui', '1.2.0', '2.0.0', scope_tenant_id => 'p4');
SELECT status, refused FROM rollout.check_version('p1', 'agent', '1.4.0');
SELECT status, refused FROM rollout.check_version('p1', 'agent', '1.2.0');    -- a report rule
SELECT status, refused FROM rollout.check_version('p3', 'ui', '2.0.0');       -- a block rule

-- simulation of a baseline change shows the skew conflicts it would end
-- (1.2.0 is one minor behind 1.3.0); applied, the roster equals the simulation
SELECT s.tenant_id, r.status AS now, s.status AS after
  FROM rollout.simulate_policy('agent', 'acme', min_version => '1.1.0', baseline => '1.3.0', grace_limit => '60 days') s
  JOIN rollout.drift_roster r USING (tenant_id, component_id)
 WHERE s.status IS DISTINCT FROM r.status ORDER BY s.tenant_id;
CREATE TEMP TABLE sim AS
SELECT tenant_id, component_id, version, status, violation, baseline
  FROM rollout.simulate_policy('agent', 'acme', min_version => '1.1.0', baseline => '1.3.0', grace_limit => '60 days');
SELECT policy_id IS NOT NULL AS set FROM rollout.set_version_policy('agent', 'acme', min_version => '1.1.0', baseline => '1.3.0',
                                                                    grace_limit => '60 days', reason => 'baseline 1.3.0');
SELECT count(*) AS differences FROM (
    (SELECT tenant_id, component_id, version, status, violation, baseline FROM rollout.drift_roster
      WHERE component_id = 'agent' EXCEPT ALL SELECT * FROM sim)
    UNION ALL
    (SELECT * FROM sim EXCEPT ALL
     SELECT tenant_id, component_id, version, status, violation, baseline FROM rollout.drift_roster
      WHERE component_id = 'agent')) d;

-- rules are kept in history: as of their creation, and after removal
SELECT rule_id, valid_to IS NULL AS in_force FROM rollout.remove_conflict_rule(3, 'skew accepted');
SELECT count(*) FILTER (WHERE status = 'conflicting') AS conflicting_now FROM rollout.drift_roster;
SELECT count(*) FILTER (WHERE status = 'conflicting') AS conflicting_then
  FROM rollout.drift_roster_at(:'t_rules'::timestamptz);
SELECT action, reason FROM rollout.audit_log WHERE action LIKE 'conflict_rule.%' ORDER BY seq;

-- ---------------------------------------------------------------------
-- Bad input: a clear error, nothing stored
-- ---------------------------------------------------------------------
SELECT (SELECT count(*) FROM rollout.conflict_rule) AS rules, (SELECT count(*) FROM rollout.audit_log) AS audit \gset
SELECT rollout.add_conflict_rule('needs', 'agent', other_component_id => 'db', other_versions => '[1.0.0,)', reason => 'x');
SELECT rollout.add_conflict_rule('requires', 'nope', other_component_id => 'db', other_versions => '[1.0.0,)', reason => 'x');
SELECT rollout.add_conflict_rule('requires', 'agent', other_component_id => 'nope', other_versions => '[1.0.0,)', reason => 'x');
SELECT rollout.add_conflict_rule('requires', 'agent', other_component_id => 'agent', other_versions => '[1.0.0,)', reason => 'x');
SELECT rollout.add_conflict_rule('requires', 'agent', reason => 'x');
SELECT rollout.add_conflict_rule('requires', 'agent', other_component_id => 'db', reason => 'x');
SELECT rollout.add_conflict_rule('requires', 'agent', 'empty', 'db', '[1.0.0,)', reason => 'x');
SELECT rollout.add_conflict_rule('excludes', 'agent', other_component_id => 'db', other_versions => '[1.0.0,)', max_minors => 1, reason => 'x');
SELECT rollout.add_conflict_rule('max_skew', 'agent', reason => 'x');
SELECT rollout.add_conflict_rule('max_skew', 'agent', max_minors => -1, reason => 'x');
SELECT rollout.add_conflict_rule('max_skew', 'agent', other_component_id => 'db', max_minors => 1, reason => 'x');
SELECT rollout.add_conflict_rule('max_skew', 'agent', max_minors => 1, tenant_id => 'nobody', reason => 'x');
SELECT rollout.add_conflict_rule('max_skew', 'agent', max_minors => 1, action => 'warn', reason => 'x');
SELECT rollout.add_conflict_rule('max_skew', 'agent', max_minors => 1);
SELECT rollout.remove_conflict_rule(3, 'again');
SELECT rollout.remove_conflict_rule(99, 'unknown');
SELECT rollout.remove_conflict_rule(2, NULL);
SELECT (SELECT count(*) FROM rollout.conflict_rule) = :rules AS rules_unchanged,
       (SELECT count(*) FROM rollout.audit_log) = :audit AS audit_unchanged;
SELECT intact FROM rollout.verify_audit();
SELECT count(*) AS problems FROM rollout.verify_state() WHERE problems > 0;
DROP ROLE regress_gov_bob;
