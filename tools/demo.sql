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

\echo '== the audit log: every change, hash-chained'
SELECT seq, actor, tenant_id, action, reason FROM rollout.audit_log ORDER BY seq DESC LIMIT 8;
SELECT * FROM rollout.verify_audit();
