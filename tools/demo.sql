-- The demo script run by tools/demo.sh.
\set QUIET on
\pset footer off
CREATE EXTENSION pg_rollout;
\echo
\echo '== seed 000: the acme-corp tenant tree (organisation -> teams -> projects)'
SET pg_rollout.actor = 'platform-admin@acme.example';
SELECT rollout.create_tenant('acme-corp', 'ACME Corp', kind => 'organisation') \g /dev/null
SELECT rollout.create_tenants(
    ARRAY['platform-eng', 'platform-eng-core-services', 'platform-eng-infrastructure',
          'product-dev', 'product-dev-web-app', 'product-dev-mobile-api', 'product-dev-data-pipeline',
          'security', 'security-tools'],
    ARRAY['acme-corp', 'platform-eng', 'platform-eng',
          'acme-corp', 'product-dev', 'product-dev', 'product-dev',
          'acme-corp', 'security'],
    kinds => ARRAY['team', 'project', 'project', 'team', 'project', 'project', 'project', 'team', 'project'],
    display_names => ARRAY['Platform Engineering', 'core-services', 'infrastructure',
                           'Product Development', 'web-app', 'mobile-api', 'data-pipeline',
                           'Security', 'security-tools'],
    attributes => ARRAY['{}', '{"scan_volume": 1200}', '{"scan_volume": 300}',
                        '{}', '{"scan_volume": 5000}', '{"scan_volume": 2500}', '{"scan_volume": 800}',
                        '{}', '{"scan_volume": 150}']::jsonb[],
    reason => 'onboarding acme-corp') \g /dev/null
SELECT label AS tenant, kind, path, attributes FROM rollout.tenant_tree;

\echo '== ancestors of product-dev-web-app (nearest first), descendants of product-dev'
SELECT tenant_id, kind, distance FROM rollout.ancestors('product-dev-web-app');
SELECT tenant_id, kind, distance FROM rollout.descendants('product-dev');

\echo '== a component with semantically ordered versions'
SELECT rollout.create_component('policy:production', 'policy_set', 'Production policy set') \g /dev/null
SELECT rollout.add_version('policy:production', v, 'published') FROM unnest(ARRAY['v1.0.0', '1.10.0', '1.9.2']::rollout.semver[]) v \g /dev/null
SELECT rollout.add_version('policy:production', '2.0.0-rc.1') \g /dev/null
SELECT rollout.add_version('policy:production', '2.0.0') \g /dev/null
SELECT rollout.set_default_version('policy:production', '1.10.0', reason => 'current platform baseline') \g /dev/null
SELECT rollout.set_version_eol('policy:production', '1.0.0', '2027-03-31', reason => 'superseded') \g /dev/null
SELECT component_id, version, status, is_default, eol_date, grace_ends FROM rollout.component_versions;

\echo '== channels: product-dev opts in to experimental; payments-like projects can stay stable-only'
SELECT rollout.opt_in('product-dev', 'experimental', reason => 'team lead consent, ticket OPS-42') \g /dev/null
SELECT rollout.set_tenant_channel('product-dev', 'experimental', reason => 'early adopter') \g /dev/null
SELECT rollout.opt_out('product-dev-data-pipeline', 'experimental', reason => 'batch jobs stay conservative') \g /dev/null
SELECT t AS tenant, rollout.effective_channel(t) AS channel
  FROM unnest(ARRAY['acme-corp', 'product-dev', 'product-dev-web-app', 'product-dev-data-pipeline', 'security-tools']) t;
SELECT channel_id, followed, eligible, effective, reason FROM rollout.tenant_channels('product-dev-data-pipeline');

\echo '== lifecycle: suspend, decommission (kept for audit)'
SELECT rollout.suspend_tenant('security-tools', reason => 'contract paused') \g /dev/null
SELECT rollout.decommission_tenant('platform-eng-infrastructure', reason => 'merged into core-services') \g /dev/null
SELECT tenant_id, status FROM rollout.tenant WHERE status <> 'active';

\echo '== a staged rollout (seed 000 rollout-789): canary -> 25 % by scan volume -> 75 % -> all'
SELECT rollout.set_default_version('policy:production', '1.9.2', reason => 'before rollout-789') \g /dev/null
SELECT rollout.create_rollout('rollout-789', 'policy:production', '1.9.2', '2.0.0',
                              description => 'Updated production policy with KEV blocking') \g /dev/null
SELECT rollout.add_stage('rollout-789', 'canary', 'tenants', tenants => ARRAY['platform-eng-core-services'],
                         max_new_failures => 5, max_failure_rate_increase => 0.05) \g /dev/null
SELECT rollout.add_stage('rollout-789', 'early-adopters', 'percentage', percent => 25, weight_by => 'scan_volume',
                         max_new_failures => 20, auto_proceed => true) \g /dev/null
SELECT rollout.add_stage('rollout-789', 'majority', 'percentage', percent => 75, auto_proceed => true) \g /dev/null
SELECT rollout.add_stage('rollout-789', 'full', 'all', auto_proceed => true) \g /dev/null
SELECT rollout.add_trigger('rollout-789', 'failure_rate_increase', 0.20) \g /dev/null
\echo '-- impact preview, per stage and organisation'
SELECT stage_no, stage, group_id, tenants, cumulative_tenants, weight_share
  FROM rollout.preview_summary('rollout-789') WHERE level = 1;
\echo '-- approval by someone other than the author, then start'
SET pg_rollout.actor = 'policy-admin@acme.example';
SELECT rollout.approve_rollout('rollout-789', 'impact acceptable') \g /dev/null
SELECT rollout.report_metrics('rollout-789', NULL, ARRAY['failure_rate'], ARRAY[0.12], stage => 'baseline') \g /dev/null
SELECT rollout_id, status, current_stage FROM rollout.start_rollout('rollout-789', 'change window');
SELECT step, source, tenant_id, version, decided, detail
  FROM rollout.explain_version('platform-eng-core-services', 'policy:production');
\echo '-- canary metrics arrive; tick() (pg_cron runs it every minute) evaluates the stage'
SELECT rollout.report_metrics('rollout-789', '[{"tenant": "platform-eng-core-services", "metric": "new_failures", "value": 2},
                                              {"tenant": "platform-eng-core-services", "metric": "failure_rate", "value": 0.13}]') \g /dev/null
SELECT * FROM rollout.tick();
SELECT rollout.advance_rollout('rollout-789', 'canary looks good') \g /dev/null
SELECT rollout.report_metrics('rollout-789', NULL, ARRAY['new_failures'], ARRAY[4]) \g /dev/null
SELECT * FROM rollout.tick();
SELECT * FROM rollout.tick();
SELECT * FROM rollout.tick();
SELECT rollout_id, status, current_stage, tenants_activated, status_reason FROM rollout.rollout_status;
\echo '-- which version does each tenant run (suspended and decommissioned tenants were never activated)'
SELECT tenant_id, version, source FROM rollout.resolve_versions('policy:production') ORDER BY tenant_id;
\echo '-- events for notifiers (also sent with NOTIFY pg_rollout_events)'
SELECT event_id, event, payload ->> 'reason' AS reason FROM rollout.pending_events;
RESET pg_rollout.actor;

\echo '== the audit log: every change, hash-chained'
SELECT seq, actor, tenant_id, action, reason FROM rollout.audit_log ORDER BY seq DESC LIMIT 8;
SELECT * FROM rollout.verify_audit();
