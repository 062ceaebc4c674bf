-- Staged rollouts: seed 000's rollout-789 end to end, driven by tick(),
-- resolution at every step and every depth, automatic rollback, the
-- lifecycle's refusals, blackouts, and bad input leaving nothing behind.
\set VERBOSITY terse
-- A fresh extension: earlier test files share this database.
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET search_path = public, rollout;
SET pg_rollout.actor = 'platform-admin@acme.com';

-- Time travel for the test: pretend d has passed for a rollout.
CREATE FUNCTION test_elapse(rid text, d interval) RETURNS void LANGUAGE sql AS $$
    UPDATE rollout.rollout_stage SET started_at = started_at - d, due_at = due_at - d WHERE rollout_id = rid;
    UPDATE rollout.rollout SET next_due_at = next_due_at - d, started_at = started_at - d WHERE rollout_id = rid;
$$;
-- The version every tenant runs, grouped: "version: tenants".
CREATE FUNCTION test_versions(component text) RETURNS TABLE (version text, source text, tenants text) LANGUAGE sql AS $$
    SELECT r.version::text, r.source, string_agg(r.tenant_id, ' ' ORDER BY r.tenant_id)
      FROM rollout.resolve_versions(component) r GROUP BY 1, 2 ORDER BY 1, 2;
$$;

-- The tenant tree of seed 000, plus eight more projects.
SELECT count(*) FROM (
    SELECT rollout.create_tenant(id, name, parent, kind, attrs)
      FROM (VALUES ('acme-corp', 'ACME Corp', NULL, 'organization', '{}'::jsonb),
                   ('platform-eng', 'Platform Engineering', 'acme-corp', 'team', '{}'),
                   ('product-dev', 'Product Development', 'acme-corp', 'team', '{}'),
                   ('security', 'Security', 'acme-corp', 'team', '{}'),
                   ('platform-eng-core-services', 'core-services', 'platform-eng', 'project', '{"scan_volume": 50}'),
                   ('platform-eng-infrastructure', 'infrastructure', 'platform-eng', 'project', '{"scan_volume": 80}'),
                   ('web-app', 'web-app', 'product-dev', 'project', '{"scan_volume": 300}'),
                   ('mobile-api', 'mobile-api', 'product-dev', 'project', '{"scan_volume": 120}'),
                   ('data-pipeline', 'data-pipeline', 'product-dev', 'project', '{"scan_volume": 10}'),
                   ('security-tools', 'security-tools', 'security', 'project', '{"scan_volume": 40}')
           ) v(id, name, parent, kind, attrs)
     ORDER BY kind = 'project', kind = 'team') x;
SELECT rollout.create_tenants(array_agg('proj-' || g ORDER BY g),
                              array_agg((ARRAY['platform-eng', 'product-dev', 'security'])[g % 3 + 1] ORDER BY g),
                              array_agg('project'::text ORDER BY g),
                              attributes => array_agg(jsonb_build_object('scan_volume', g * 5) ORDER BY g))
  FROM generate_series(1, 8) g;
SELECT count(*) FROM (SELECT rollout.create_component('policy:production', 'policy_set', 'Production policy')) x;
SELECT count(*) FROM (SELECT rollout.add_version('policy:production', v, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0', '2.1.0']::rollout.semver[]) v) x;
SELECT default_version FROM rollout.set_default_version('policy:production', '1.0.0');

-- Buckets: SHA-256 of the salt and tenant id, fixed forever.
SELECT rollout.bucket('\x00112233445566778899aabbccddeeff', 'web-app') AS web_app,
       rollout.bucket('\x00112233445566778899aabbccddeeff', 'mobile-api') AS mobile_api,
       rollout.bucket('\x00112233445566778899aabbccddef00', 'web-app') AS other_salt;
-- Uniform enough: 100,000 ids over ten deciles.
SELECT rollout.bucket('\x0011223344556677', 't' || g) / 100000 AS decile, count(*) BETWEEN 9500 AND 10500 AS even
  FROM generate_series(1, 100000) g GROUP BY 1 ORDER BY 1;

-- ---------------------------------------------------------------------
-- rollout-789, defined in SQL
-- ---------------------------------------------------------------------
SELECT rollout_id, status, from_version, to_version, strategy
  FROM rollout.create_rollout('rollout-789', 'policy:production', 'v1.0.0', 'v2.0.0',
                              description => 'Updated production policy with KEV blocking',
                              salt => '\x00112233445566778899aabbccddeeff');
SELECT stage_no, name, method FROM rollout.add_stage('rollout-789', 'canary', 'tenants',
    tenants => ARRAY['platform-eng-core-services'], min_duration => '24h',
    max_new_failures => 5, max_failure_rate_increase => 0.05, description => 'Single low-risk tenant');
SELECT stage_no, name, method FROM rollout.add_stage('rollout-789', 'early-adopters', 'percentage',
    percent => 25, weight_by => 'scan_volume', min_duration => '48h',
    max_new_failures => 20, max_failure_rate_increase => 0.10, auto_proceed => true);
SELECT stage_no, name, method FROM rollout.add_stage('rollout-789', 'majority', 'percentage',
    percent => 75, min_duration => '24h', auto_proceed => true);
SELECT stage_no, name, method FROM rollout.add_stage('rollout-789', 'full', 'all', auto_proceed => true);
SELECT rollout.add_trigger('rollout-789', 'failure_rate_increase', 0.20);
SELECT rollout.add_trigger('rollout-789', 'new_critical_blocks', 50);

-- Impact preview: which tenants each stage activates, and the groups.
SELECT stage_no, stage, tenant_id, kind, bucket, weight, deferred FROM rollout.preview('rollout-789');
SELECT stage_no, stage, level, group_id, group_kind, tenants, cumulative_tenants, weight_share
  FROM rollout.preview_summary('rollout-789') ORDER BY stage_no, level, group_id;
-- Deterministic: the percentage stages draw from one order of the projects
-- (weighted by scan_volume, as the 25 % stage is): the 25 % stage takes the
-- prefix holding a quarter of the weight, the unweighted 75 % stage the
-- prefix holding three quarters of the projects (rounded up).
SELECT count(*) FILTER (WHERE kind = 'project' AND stage_no <= 3) AS projects_through_majority,
       ceil(0.75 * count(*) FILTER (WHERE kind = 'project')) AS three_quarters_of_projects
  FROM rollout.preview('rollout-789');

-- Approval: not by the author; an edit voids it.
SELECT status FROM rollout.approve_rollout('rollout-789');
SET pg_rollout.actor = 'policy-admin@acme.com';
SELECT status, approved_by, revision FROM rollout.approve_rollout('rollout-789', 'Impact acceptable.');
SET pg_rollout.actor = 'platform-admin@acme.com';
SELECT rollout.add_trigger('rollout-789', 'new_critical_blocks', 40);
SELECT status, approved_by, revision FROM rollout.rollout WHERE rollout_id = 'rollout-789';
SET pg_rollout.actor = 'policy-admin@acme.com';
SELECT status, approved_by, revision FROM rollout.approve_rollout('rollout-789', 'Impact acceptable.');
SELECT metric, threshold FROM rollout.rollout_trigger WHERE rollout_id = 'rollout-789' ORDER BY metric;

-- Baseline before the start, then the canary.
SELECT rollout.report_metrics('rollout-789', NULL, ARRAY['failure_rate', 'failure_rate'], ARRAY[0.12, 0.12], 'baseline');
SELECT status, current_stage FROM rollout.start_rollout('rollout-789', 'change window opened');
SELECT * FROM test_versions('policy:production');
SELECT step, source, tenant_id, version, decided, detail
  FROM rollout.explain_version('platform-eng-core-services', 'policy:production');
SELECT step, source, tenant_id, version, decided, detail
  FROM rollout.explain_version('platform-eng', 'policy:production');

-- Nothing is due yet.
SELECT * FROM rollout.tick();
-- 25 hours later, no metrics: monitoring is extended, not passed.
SELECT test_elapse('rollout-789', '25 hours');
SELECT * FROM rollout.tick();
SELECT * FROM rollout.tick();
-- Metrics arrive: the canary passes, but auto_proceed is off.
SELECT rollout.report_metrics('rollout-789',
    '[{"tenant": "platform-eng-core-services", "metric": "new_failures", "value": 3},
      {"tenant": "platform-eng-core-services", "metric": "failure_rate", "value": 0.13}]');
SELECT * FROM rollout.tick();
SELECT name, status, last_evaluation -> 'verdict' AS verdict, last_evaluation -> 'checks' AS checks
  FROM rollout.stage_status WHERE rollout_id = 'rollout-789';
SELECT status, current_stage_no, stage_status FROM rollout.rollout_status WHERE rollout_id = 'rollout-789';
SELECT status, current_stage FROM rollout.advance_rollout('rollout-789', 'canary looks good');
SELECT * FROM test_versions('policy:production');

-- early-adopters: 48 hours, criteria met, auto-proceed to majority.
SELECT test_elapse('rollout-789', '49 hours');
SELECT rollout.report_metrics('rollout-789', NULL, ARRAY['new_failures', 'failure_rate'], ARRAY[10, 0.15]);
SELECT * FROM rollout.tick();
SELECT * FROM rollout.tick();
SELECT * FROM test_versions('policy:production');
-- majority has no criteria, but rollback triggers are armed: due without a
-- fresh sample it is extended, never passed (the triggers could not fire).
SELECT name, passes_on FROM rollout.stage_status WHERE rollout_id = 'rollout-789' ORDER BY stage_no;
SELECT test_elapse('rollout-789', '25 hours');
SELECT * FROM rollout.tick();
SELECT status, last_evaluation ->> 'verdict' AS verdict, last_evaluation ->> 'reason' AS reason
  FROM rollout.stage_status WHERE rollout_id = 'rollout-789' AND name = 'majority';
-- with a sample it passes once due; full (no duration) then needs its own
SELECT rollout.report_metrics('rollout-789', NULL, ARRAY['failure_rate'], ARRAY[0.15]);
SELECT test_elapse('rollout-789', '2 hours');
SELECT * FROM rollout.tick();
SELECT * FROM rollout.tick();
SELECT rollout.report_metrics('rollout-789', NULL, ARRAY['failure_rate'], ARRAY[0.15]);
SELECT * FROM rollout.tick();
SELECT * FROM rollout.tick();
SELECT rollout_id, status, current_stage, tenants_activated, tenants_deferred, status_reason
  FROM rollout.rollout_status WHERE rollout_id = 'rollout-789';
SELECT * FROM test_versions('policy:production');
SELECT name, status, activated FROM rollout.stage_status WHERE rollout_id = 'rollout-789';
-- Every transition is an event, in the audit log and the outbox.
SELECT event, payload ->> 'reason' AS reason, payload -> 'details' ->> 'stage' AS stage
  FROM rollout.pending_events WHERE rollout_id = 'rollout-789' ORDER BY event_id;
SELECT count(*) AS audited FROM rollout.audit_log a JOIN rollout.event_outbox e ON e.audit_seq = a.seq
 WHERE a.action = e.event AND a.subject_id = 'rollout-789';
SELECT rollout.ack_events((SELECT max(event_id) FROM rollout.event_outbox)) > 0 AS acked;
SELECT count(*) FROM rollout.pending_events;

-- ---------------------------------------------------------------------
-- rollout-790: 2.0.0 -> 2.1.0, rolled back automatically by a trigger
-- ---------------------------------------------------------------------
SET pg_rollout.actor = 'platform-admin@acme.com';
SELECT rollout_id FROM rollout.create_rollout('rollout-790', 'policy:production', '2.0.0', '2.1.0',
                                              salt => '\x0102030405060708');
SELECT name FROM rollout.add_stage('rollout-790', 'quarter', 'percentage', percent => 25, min_duration => '1h',
                                   max_failure_rate_increase => 0.10, auto_proceed => true);
SELECT name FROM rollout.add_stage('rollout-790', 'rest', 'all', auto_proceed => true);
SELECT rollout.add_trigger('rollout-790', 'failure_rate_increase', 0.20);
SET pg_rollout.actor = 'policy-admin@acme.com';
SELECT status FROM rollout.approve_rollout('rollout-790');
SELECT rollout.report_metrics('rollout-790', NULL, ARRAY['failure_rate'], ARRAY[0.10], 'baseline');
SELECT status FROM rollout.start_rollout('rollout-790');
SELECT * FROM test_versions('policy:production');
-- A failure rate 0.35 against a 0.10 baseline: above the 0.20 trigger,
-- rolled back at the next tick, before the stage is even due.
SELECT rollout.report_metrics('rollout-790', NULL, ARRAY['failure_rate', 'failure_rate'], ARRAY[0.30, 0.40]);
SELECT * FROM rollout.tick();
SELECT status, status_reason, tenants_activated FROM rollout.rollout_status WHERE rollout_id = 'rollout-790';
-- Everyone is back on 2.0.0 (the activations of rollout-789 are restored).
SELECT * FROM test_versions('policy:production');
SELECT event, payload -> 'details' ->> 'tenants_rolled_back' AS tenants, payload ->> 'reason' AS reason
  FROM rollout.pending_events WHERE rollout_id = 'rollout-790' AND event = 'rollout.rollback';

-- ---------------------------------------------------------------------
-- Lifecycle refusals name the current state
-- ---------------------------------------------------------------------
SELECT rollout.pause_rollout('rollout-789', 'too late');
SELECT rollout.resume_rollout('rollout-790');
SELECT rollout.start_rollout('rollout-790');
SELECT rollout.advance_rollout('rollout-790');
SELECT rollout.approve_rollout('rollout-789');
SELECT rollout.retry_rollout('rollout-789', 'again');
SELECT rollout.cancel_rollout('rollout-789', 'no');
SELECT rollout.add_stage('rollout-789', 'extra', 'all');
SELECT rollout.rollback_rollout('rollout-790', 'twice');
SELECT rollout.pause_rollout('no-such-rollout', 'x');

-- rollout-791: partial rollback, pause, resume, manual advance, cancel.
SET pg_rollout.actor = 'platform-admin@acme.com';
SELECT rollout_id FROM rollout.create_rollout('rollout-791', 'policy:production', '2.0.0', '2.1.0',
                                              salt => '\x0102030405060708', rollback_automatic => false);
SELECT name FROM rollout.add_stage('rollout-791', 'one', 'tenants', tenants => ARRAY['web-app']);
SELECT name FROM rollout.add_stage('rollout-791', 'two', 'tenants', tenants => ARRAY['mobile-api', 'security-tools']);
SELECT name FROM rollout.add_stage('rollout-791', 'three', 'all');
SET pg_rollout.actor = 'policy-admin@acme.com';
SELECT status FROM rollout.approve_rollout('rollout-791');
SELECT status, current_stage FROM rollout.start_rollout('rollout-791');
SELECT rollout.pause_rollout('rollout-791', NULL);
SELECT status FROM rollout.pause_rollout('rollout-791', 'investigating');
SELECT * FROM rollout.tick();
SELECT status, current_stage FROM rollout.resume_rollout('rollout-791');
SELECT status, current_stage FROM rollout.advance_rollout('rollout-791');
SELECT * FROM test_versions('policy:production');
SELECT rollout.rollback_rollout('rollout-791', 'bad', back_to_stage => 2);
SELECT rollout.rollback_rollout('rollout-791', 'mobile-api regressed', back_to_stage => 1);
SELECT status, current_stage_no, stage_status FROM rollout.rollout_status WHERE rollout_id = 'rollout-791';
SELECT * FROM test_versions('policy:production');
-- No automatic rollback: a failed criterion leaves the rollout failed.
SELECT status FROM rollout.resume_rollout('rollout-791');
SELECT name FROM rollout.stage_status WHERE rollout_id = 'rollout-791' AND status = 'passed';
SELECT status, current_stage FROM rollout.advance_rollout('rollout-791', 'retry two');
UPDATE rollout.rollout_stage SET max_new_failures = 0 WHERE rollout_id = 'rollout-791' AND stage_no = 2;
SELECT rollout.report_metrics('rollout-791', NULL, ARRAY['new_failures'], ARRAY[4]);
SELECT * FROM rollout.tick();
SELECT status, status_reason FROM rollout.rollout WHERE rollout_id = 'rollout-791';
-- Another rollout of the component cannot start while this one is live.
SET pg_rollout.actor = 'platform-admin@acme.com';
SELECT rollout_id FROM rollout.create_rollout('rollout-792', 'policy:production', '2.0.0', '2.1.0');
SELECT name FROM rollout.add_stage('rollout-792', 'all', 'all', pass_without_metrics => true);
SET pg_rollout.actor = 'policy-admin@acme.com';
SELECT status FROM rollout.approve_rollout('rollout-792');
SELECT rollout.start_rollout('rollout-792');
SELECT status FROM rollout.retry_rollout('rollout-791', 'metrics were wrong');
SELECT status FROM rollout.cancel_rollout('rollout-791', 'superseded by 792');
SELECT * FROM test_versions('policy:production');

-- ---------------------------------------------------------------------
-- Blackouts: deferred, then picked up
-- ---------------------------------------------------------------------
SELECT rollout.add_blackout('security', tstzrange(now() - interval '1 hour', now() + interval '1 hour'),
                            'quarter-end freeze') AS blackout_id \gset
SELECT rollout.in_blackout('security-tools'), rollout.in_blackout('web-app');
SELECT status FROM rollout.start_rollout('rollout-792');
SELECT tenants_activated, tenants_deferred FROM rollout.rollout_status WHERE rollout_id = 'rollout-792';
SELECT tenant_id, reason FROM rollout.deferral WHERE rollout_id = 'rollout-792' ORDER BY tenant_id;
SELECT rollout.resolve_version('security-tools', 'policy:production') AS security_tools,
       rollout.resolve_version('web-app', 'policy:production') AS web_app;
SELECT * FROM rollout.tick();
-- The last stage passes with tenants still deferred: not completed, waiting.
SELECT status, status_reason FROM rollout.advance_rollout('rollout-792', 'everyone else is fine');
SELECT * FROM rollout.tick();
SELECT rollout.remove_blackout(:blackout_id, 'freeze lifted early');
SELECT * FROM rollout.tick();
SELECT status, tenants_activated, tenants_deferred FROM rollout.rollout_status WHERE rollout_id = 'rollout-792';
SELECT rollout.resolve_version('security-tools', 'policy:production') AS security_tools;

-- Suspended tenants are never activated.
SELECT status FROM rollout.suspend_tenant('proj-2', 'billing');
SET pg_rollout.actor = 'platform-admin@acme.com';
SELECT rollout_id FROM rollout.create_rollout('rollout-793', 'policy:production', '1.0.0', '2.0.0', allow_downgrade => false,
                                              scope_tenant_id => 'security');
SELECT count(*) FROM rollout.preview('rollout-793');
SELECT name FROM rollout.add_stage('rollout-793', 'all', 'all');
SELECT tenant_id FROM rollout.preview('rollout-793') ORDER BY 1;

-- Maintenance windows: the nearest windowed tenant's windows decide.
SELECT rollout.add_maintenance_window('security', ARRAY[1, 2, 3, 4, 5, 6, 7],
        ((now() AT TIME ZONE 'UTC') + interval '2 hours')::time,
        ((now() AT TIME ZONE 'UTC') + interval '3 hours')::time, 'UTC', 'nights only') AS closed_window \gset
SELECT tenant_id, deferred, hold_reason FROM rollout.preview('rollout-793') ORDER BY 1;
SELECT rollout.add_maintenance_window('proj-5', ARRAY[1, 2, 3, 4, 5, 6, 7],
        ((now() AT TIME ZONE 'Europe/Berlin') - interval '1 hour')::time,
        ((now() AT TIME ZONE 'Europe/Berlin') + interval '1 hour')::time, 'Europe/Berlin', 'open now') AS open_window \gset
SELECT t, rollout.activation_hold(t) FROM unnest(ARRAY['security', 'security-tools', 'proj-5', 'web-app']) t;
SELECT rollout.add_maintenance_window('security', ARRAY[0], '01:00', '02:00');
SELECT rollout.add_maintenance_window('security', ARRAY[1], '01:00', '01:00');
SELECT rollout.add_maintenance_window('security', ARRAY[1], '01:00', '02:00', 'Mars/Olympus');
SELECT rollout.remove_maintenance_window(:closed_window, 'windows lifted');
SELECT rollout.remove_maintenance_window(:open_window);
SELECT rollout.remove_maintenance_window(:open_window);
SELECT count(*) FILTER (WHERE deferred) AS deferred FROM rollout.preview('rollout-793');

-- ---------------------------------------------------------------------
-- Bad input: a clear error, and nothing stored
-- ---------------------------------------------------------------------
SELECT rollout_id FROM rollout.create_rollout('rollout-794', 'policy:production', '2.0.0', '2.1.0');
SELECT name FROM rollout.add_stage('rollout-794', 'first', 'percentage', percent => 50);
SELECT rollout_id FROM rollout.create_rollout('rollout-795', 'policy:production', '2.0.0', '2.1.0',
                                              scope_tenant_id => 'security');
SELECT count(*) AS rollouts, (SELECT count(*) FROM rollout.rollout_stage) AS stages,
       (SELECT count(*) FROM rollout.audit_log) AS audit
  FROM rollout.rollout \gset before_
SELECT rollout.create_rollout('r-x', 'policy:nope', '1.0.0', '2.0.0');
SELECT rollout.create_rollout('r-x', 'policy:production', '1.0.0', '9.0.0');
SELECT rollout.create_rollout('r-x', 'policy:production', '0.9.0', '2.0.0');
SELECT rollout.create_rollout('r-x', 'policy:production', '2.0.0', '1.0.0');
SELECT rollout.create_rollout('r-x', 'policy:production', '2.0.0', '2.0.0');
SELECT rollout.create_rollout('r-x', 'policy:production', '1.0.0', '2.0.0', strategy => 'big_bang');
SELECT rollout.create_rollout('r-x', 'policy:production', '1.0.0', '2.0.0', scope_tenant_id => 'nobody');
SELECT rollout.create_rollout('r-x', 'policy:production', '1.0.0', '2.0.0', channel_id => 'nightly');
SELECT rollout.create_rollout('r-x', 'policy:production', '1.0.0', '2.0.0', strategy => 'feature_flag');
SELECT rollout.create_rollout('r-x', 'policy:production', '1.0.0', '2.0.0', flag_id => 'f');
SELECT rollout.create_rollout('r-x', 'policy:production', '1.0.0', '2.0.0', salt => '\x01');
SELECT rollout.create_rollout('R X', 'policy:production', '1.0.0', '2.0.0');
SELECT rollout.create_rollout('rollout-789', 'policy:production', '1.0.0', '2.0.0');
SELECT rollout.add_stage('rollout-793', 'more', 'percentage', percent => 10);
SELECT rollout.add_stage('rollout-794', 'canary', 'tenants', tenants => ARRAY['ghost']);
SELECT rollout.add_stage('rollout-794', 'canary', 'tenants', tenants => ARRAY[]::text[]);
SELECT rollout.add_stage('rollout-794', 'canary', 'tenants', tenants => ARRAY['web-app', 'web-app']);
SELECT rollout.add_stage('rollout-794', 'canary', 'tenants', tenants => ARRAY['web-app'], percent => 5);
SELECT rollout.add_stage('rollout-795', 'canary', 'tenants', tenants => ARRAY['web-app']);
SELECT rollout.add_stage('rollout-794', 'first', 'all');
SELECT rollout.add_stage('rollout-794', 'zero', 'percentage', percent => 0);
SELECT rollout.add_stage('rollout-794', 'big', 'percentage', percent => 100.5);
SELECT rollout.add_stage('rollout-794', 'none', 'percentage');
SELECT rollout.add_stage('rollout-794', 'fine', 'percentage', percent => 62.34567);
SELECT rollout.add_stage('rollout-794', 'less', 'percentage', percent => 25);
SELECT rollout.add_stage('rollout-794', 'odd', 'random');
SELECT rollout.add_stage('rollout-794', 'Bad Name', 'all');
SELECT rollout.add_stage('rollout-794', 'neg', 'all', min_duration => '-1 hour');
SELECT rollout.add_stage('rollout-794', 'bounds', 'all', metric_bounds => '{"error_rate": "low"}');
SELECT rollout.add_stage('rollout-794', 'weights', 'percentage', percent => 60, weight_by => 'scan volume');
SELECT rollout.add_stage('no-such-rollout', 'x', 'all');
SELECT rollout.add_canary_stages('rollout-795', 1, 0.5, '1 hour');
SELECT rollout.add_canary_stages('rollout-795', 0, 10, '1 hour');
SELECT rollout.add_trigger('rollout-794', 'Bad Metric', 1);
SELECT rollout.add_trigger('rollout-794', 'error_rate', NULL);
SELECT rollout.report_metrics('rollout-789', NULL, ARRAY['a', 'b'], ARRAY[1.0]);
SELECT rollout.report_metrics('rollout-789', NULL, ARRAY['failure_rate'], ARRAY['NaN'::float8], 'baseline');
SELECT rollout.report_metrics('rollout-793', NULL, ARRAY['failure_rate'], ARRAY[0.1]);
SELECT rollout.report_metrics('rollout-789', '{"metric": "x"}');
SELECT rollout.report_metrics('rollout-789', '[{"metric": "x", "value": "1"}]', 'baseline');
SELECT rollout.report_metrics('rollout-789', ARRAY['ghost'], ARRAY['x'], ARRAY[1.0], 'baseline');
SELECT rollout.report_metrics('rollout-789', NULL, ARRAY['x'], ARRAY[1.0], 'no-such-stage');
SELECT rollout.approve_rollout('rollout-793');
SELECT count(*) = :before_rollouts AS rollouts_unchanged,
       (SELECT count(*) FROM rollout.rollout_stage) = :before_stages AS stages_unchanged,
       (SELECT count(*) FROM rollout.audit_log) = :before_audit AS audit_unchanged
  FROM rollout.rollout;
-- Dropping a stage keeps the numbering dense.
SELECT name FROM rollout.add_stage('rollout-794', 'second', 'percentage', percent => 80);
SELECT name FROM rollout.add_stage('rollout-794', 'third', 'all');
SELECT rollout.drop_stage('rollout-794', 'second');
SELECT stage_no, name FROM rollout.stage_status WHERE rollout_id = 'rollout-794';
SELECT rollout.drop_stage('rollout-794', 'missing');
-- The salt never changes.
UPDATE rollout.rollout SET salt = '\x0000000000000000' WHERE rollout_id = 'rollout-789';
SELECT (rollout.verify_audit()).intact;
