-- Version governance (issue 12): seed 002's D-1 / D-2 cases, compliance
-- snapshots with their digest in the audit chain, reports (JSON and flat
-- rows for CSV) with completed, outstanding and planned actions, exemptions
-- used and the trend; retention; update statistics and governance metrics;
-- every bad input.
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

SELECT rollout.create_tenants(ARRAY['acme'], ARRAY[NULL], ARRAY['organisation']);
SELECT rollout.create_tenants(ARRAY['web', 'ops'], ARRAY['acme', 'acme'], ARRAY['team', 'team']);
SELECT rollout.create_tenants(ARRAY['p1', 'p2', 'p3', 'p4'], ARRAY['web', 'web', 'ops', 'ops'],
                              ARRAY['project', 'project', 'project', 'project']);
SELECT count(*) FROM (SELECT rollout.create_component(c, 'plugin') FROM unnest(ARRAY['scanner', 'db']) c) x;
SELECT count(*) FROM (SELECT rollout.add_version(c, v::rollout.semver, 'published')
                        FROM unnest(ARRAY['scanner', 'db']) c, unnest(ARRAY['1.0.0', '1.1.0', '1.2.0', '2.0.0']) v) x;
SELECT count(*) FROM (SELECT rollout.set_default_version(c, '1.0.0') FROM unnest(ARRAY['scanner', 'db']) c) x;
SELECT (rollout.set_version_eol('scanner', '1.0.0', current_date + 20, 'vendor EOL')).version;
SELECT policy_id FROM rollout.set_version_policy('scanner', baseline => '1.1.0', grace_limit => '60 days', reason => 'baseline');
SELECT rule_id FROM rollout.add_conflict_rule('requires', 'scanner', '[1.2.0,)', 'db', '[1.1.0,)', reason => 'new db protocol');
SELECT exemption_id FROM rollout.request_exemption('p4', 'scanner', '[1.0.0,1.1.0)', 'waiver', 'customer freeze',
                                                   now() + interval '60 days', ticket => 'CHG-7');
SET pg_rollout.actor = 'bob';
SET SESSION AUTHORIZATION regress_gov_bob;   -- another login
SELECT approved_by FROM rollout.approve_exemption(1, 'ok');
RESET SESSION AUTHORIZATION;
SET pg_rollout.actor = 'alice';

-- D-1: a baseline change (1.1.0 -> 1.2.0) is simulated, then applied: the
-- roster, the conflicts and the exemption ledger are as simulated
CREATE TEMP TABLE sim AS
SELECT tenant_id, component_id, version, status, violation, exemption_id
  FROM rollout.simulate_policy('scanner', baseline => '1.2.0', grace_limit => '60 days');
SELECT tenant_id, version, status, violation FROM sim ORDER BY tenant_id;
CREATE TEMP TABLE ledger_before AS SELECT exemption_id, state FROM rollout.exemption_ledger;
SELECT policy_id FROM rollout.set_version_policy('scanner', baseline => '1.2.0', grace_limit => '60 days',
                                                 reason => 'baseline 1.2.0 (D-1)');
SELECT count(*) AS roster_differences FROM (
    (SELECT tenant_id, component_id, version, status, violation, exemption_id FROM rollout.drift_roster
      WHERE component_id = 'scanner' EXCEPT ALL SELECT * FROM sim)
    UNION ALL
    (SELECT * FROM sim EXCEPT ALL
     SELECT tenant_id, component_id, version, status, violation, exemption_id FROM rollout.drift_roster
      WHERE component_id = 'scanner')) d;
SELECT (SELECT count(*) FROM rollout.conflict_roster) AS conflicts,
       (SELECT count(*) FROM sim WHERE status = 'conflicting') AS simulated_conflicts;
SELECT count(*) AS ledger_differences FROM (
    (SELECT exemption_id, state FROM rollout.exemption_ledger EXCEPT SELECT * FROM ledger_before)
    UNION ALL (SELECT * FROM ledger_before EXCEPT SELECT exemption_id, state FROM rollout.exemption_ledger)) d;

-- D-2: the first snapshot; the report lists outstanding and planned actions
-- and its digest verifies in the audit chain
SET pg_rollout.actor = 'carol';
SELECT rollout_id FROM rollout.create_rollout('s1', 'scanner', '1.0.0', '1.2.0', scope_tenant_id => 'web');
SELECT stage_no FROM rollout.add_stage('s1', 'all', 'all');
SET pg_rollout.actor = 'cron';
SELECT snapshot_id, scope_tenant_id, pairs, compliance_pct, length(digest) AS digest_length
  FROM rollout.snapshot_compliance();
SELECT r -> 'summary' AS summary FROM rollout.compliance_report() r;
SELECT o ->> 'component_id' AS component_id, o ->> 'version' AS version, o ->> 'status' AS status, o ->> 'action' AS action,
       o ->> 'tenants' AS tenants, o ->> 'days_left' AS days_left, (o ->> 'forced_upgrade_on')::date - current_date AS due_in
  FROM rollout.compliance_report() r, jsonb_array_elements(r -> 'outstanding') o;
SELECT jsonb_path_query_array(r -> 'planned', '$[*].kind') AS planned, jsonb_array_length(r -> 'completed') AS completed,
       jsonb_path_query_array(r -> 'exemptions_used', '$[*].exemption_id') AS exemptions_used
  FROM rollout.compliance_report() r;
SELECT r ->> 'digest' = a.details ->> 'digest' AS digest_in_audit, a.action, a.actor
  FROM rollout.compliance_report() r JOIN rollout.audit_log a ON a.seq = (r ->> 'audit_seq')::bigint;
SELECT content_matches, audit_matches FROM rollout.verify_compliance_snapshot(1);
SELECT intact FROM rollout.verify_audit();

-- the rollout runs (completed action); a second snapshot: the trend
SET pg_rollout.actor = 'dave';
SELECT status FROM rollout.approve_rollout('s1', 'go');
SELECT status FROM rollout.start_rollout('s1');
SELECT status FROM rollout.advance_rollout('s1', 'done');
SELECT tenant_id, status FROM rollout.drift_roster WHERE component_id = 'scanner' AND tenant_id IN ('web', 'p1') ORDER BY 1;
SELECT rollout.pin_version('web', 'db', '1.1.0', 'db for scanner 1.2.0');
SET pg_rollout.actor = 'cron';
SELECT snapshot_id, compliance_pct FROM rollout.snapshot_compliance();
SELECT jsonb_path_query_array(r -> 'completed', '$[*].rollout_id') AS completed,
       jsonb_path_query_array(r -> 'trend', '$[*].compliance_pct') AS trend,
       jsonb_path_query_array(r -> 'trend', '$[*].change_pct') AS change
  FROM rollout.compliance_report() r;
-- as of the first snapshot's time, the first report
SELECT (rollout.compliance_report(NULL, taken_at)) ->> 'snapshot_id' AS snapshot
  FROM rollout.compliance_snapshot WHERE snapshot_id = 1;
-- a subtree's snapshot and report
SELECT snapshot_id, scope_tenant_id, pairs FROM rollout.snapshot_compliance('ops');
SELECT r #> '{summary,pairs}' AS pairs, r ->> 'scope' AS scope FROM rollout.compliance_report('ops') r;
-- the flat form, as COPY writes it
COPY (SELECT section, item, component_id, version, status, tenants, pct, detail
        FROM rollout.compliance_report_rows('ops') WHERE section <> 'report' ORDER BY 1, 2, 3, 4, 5) TO STDOUT WITH (FORMAT csv, HEADER);
SELECT section, count(*) FROM rollout.compliance_report_rows() GROUP BY section ORDER BY section;
-- a stored snapshot changed afterwards no longer verifies
BEGIN;
UPDATE rollout.compliance_snapshot SET content = jsonb_set(content, '{summary,pairs}', '1') WHERE snapshot_id = 2;
SELECT content_matches, audit_matches FROM rollout.verify_compliance_snapshot(2);
ROLLBACK;

-- retention: 365 days by default; older snapshots are purged by the next one
SELECT rollout.snapshot_retention();
SET pg_rollout.actor = 'alice';
SELECT rollout.set_snapshot_retention('400 days', 'audit asks for 400 days');
UPDATE rollout.compliance_snapshot SET taken_at = taken_at - interval '401 days' WHERE snapshot_id = 1;
SET pg_rollout.actor = 'cron';
SELECT snapshot_id FROM rollout.snapshot_compliance();
SELECT array_agg(snapshot_id ORDER BY snapshot_id) AS kept FROM rollout.compliance_snapshot;
SELECT details ->> 'purged' AS purged FROM rollout.audit_log WHERE action = 'compliance.snapshot' ORDER BY seq DESC LIMIT 1;

-- governance metrics: from the latest snapshot of every tenant, cheap to
-- scrape; a schedule policy on db for ops puts 3 pairs under enforcement
SET pg_rollout.actor = 'alice';
SELECT policy_id FROM rollout.set_version_policy('db', 'ops', baseline => '1.1.0', action => 'schedule', reason => 'upgrade ops');
SET pg_rollout.actor = 'cron';
SELECT snapshot_id FROM rollout.snapshot_compliance();
SELECT drift_total, enforced_total, conflict_total, compliance_rate, exempt_pairs, pairs, policies, conflict_rules,
       exemptions_active, snapshot_age_seconds < 60 AS fresh
  FROM rollout.metrics_governance;

-- update statistics from the per-tenant version history: a rollout of ops
-- to 1.1.0 is rolled back, web's rollout to 1.2.0 stays
SET pg_rollout.actor = 'carol';
SELECT rollout_id FROM rollout.create_rollout('s2', 'scanner', '1.0.0', '1.1.0', scope_tenant_id => 'ops');
SELECT stage_no FROM rollout.add_stage('s2', 'all', 'all');
SET pg_rollout.actor = 'dave';
SELECT status FROM rollout.approve_rollout('s2', 'go');
SELECT status FROM rollout.start_rollout('s2');
SELECT rollout.rollback_rollout('s2', 'errors on ops') IS NOT NULL AS rolled_back;
SELECT status FROM rollout.rollout WHERE rollout_id = 's2';
SELECT version, tenants, tenants_now, adopted_tenants, adoption_pct, updates, rollbacks, success_pct, rollback_pct,
       median_time_to_update IS NOT NULL AS has_median, p90_time_to_update >= median_time_to_update AS p90_ge_median
  FROM rollout.update_statistics('scanner');
SELECT version, tenants, adopted_tenants, updates, rollbacks FROM rollout.update_statistics('scanner', 'web')
 WHERE updates > 0 OR rollbacks > 0;

-- ---------------------------------------------------------------------
-- Bad input: a clear error, nothing stored
-- ---------------------------------------------------------------------
SELECT (SELECT count(*) FROM rollout.compliance_snapshot) AS snapshots, (SELECT count(*) FROM rollout.audit_log) AS audit \gset
SELECT rollout.snapshot_compliance('nobody');
SELECT rollout.compliance_report('nobody');
SELECT rollout.compliance_report('web', '2030-01-01 00:00+00');   -- no snapshot of web
SELECT rollout.compliance_report(NULL, '2000-01-01 00:00+00');
SELECT rollout.compliance_report(NULL, NULL);
SELECT rollout.verify_compliance_snapshot(99);
SELECT rollout.set_snapshot_retention('12 hours', 'too short');
SELECT rollout.set_snapshot_retention(NULL, 'none');
SELECT rollout.set_snapshot_retention('500 days', NULL);
SELECT rollout.update_statistics('nope');
SELECT rollout.update_statistics(NULL);
SELECT rollout.update_statistics('scanner', 'nobody');
SELECT (SELECT count(*) FROM rollout.compliance_snapshot) = :snapshots AS snapshots_unchanged,
       (SELECT count(*) FROM rollout.audit_log) = :audit AS audit_unchanged;
SELECT intact FROM rollout.verify_audit();
SELECT count(*) AS problems FROM rollout.verify_state() WHERE problems > 0;
DROP ROLE regress_gov_bob;
