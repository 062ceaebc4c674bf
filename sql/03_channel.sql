-- Channels: built-in order, eligibility, following with inheritance,
-- opt-in / opt-out, and every error.
\set VERBOSITY terse

SELECT channel_id, ordinal, eligibility, min_soak, allow_opt_in, allow_opt_out, is_default, builtin
  FROM rollout.channel ORDER BY ordinal;

SELECT (rollout.create_tenant('globex', kind => 'organisation')).tenant_id;
SELECT (rollout.create_tenant('globex-qa', parent_id => 'globex', kind => 'team', test_tenant => true)).tenant_id;
SELECT (rollout.create_tenant('globex-qa-sandbox', parent_id => 'globex-qa', kind => 'project')).tenant_id;
SELECT (rollout.create_tenant('globex-retail', parent_id => 'globex', kind => 'team')).tenant_id;
SELECT (rollout.create_tenant('globex-retail-shop', parent_id => 'globex-retail', kind => 'project')).tenant_id;
SELECT (rollout.create_tenant('globex-retail-pos', parent_id => 'globex-retail', kind => 'project')).tenant_id;

-- everyone follows the default channel until told otherwise
SELECT t, rollout.effective_channel(t) FROM unnest(ARRAY['globex', 'globex-qa-sandbox', 'globex-retail-pos']) t;
SELECT * FROM rollout.tenant_channels('globex-retail-shop');

-- dev: test tenants only (test_tenant is inherited by descendants)
SELECT rollout.set_tenant_channel('globex-retail', 'dev');
SELECT channel_id FROM rollout.set_tenant_channel('globex-qa', 'dev', reason => 'QA tracks dev builds');
SELECT * FROM rollout.tenant_channels('globex-qa-sandbox');

-- experimental: opt-in with explicit consent, inherited by the subtree
SELECT rollout.set_tenant_channel('globex-retail', 'experimental');
SELECT tenant_id, channel_id, choice, reason FROM rollout.opt_in('globex-retail', 'experimental', reason => 'signed consent 2026-11-01');
SELECT channel_id FROM rollout.set_tenant_channel('globex-retail', 'experimental');
SELECT t, rollout.effective_channel(t) FROM unnest(ARRAY['globex', 'globex-retail', 'globex-retail-shop', 'globex-retail-pos']) t;
-- a project opts out of experimental: it falls to the next channel it is eligible for
SELECT choice FROM rollout.opt_out('globex-retail-pos', 'experimental', reason => 'payment terminals stay conservative');
SELECT * FROM rollout.tenant_channels('globex-retail-pos');
-- and out of candidate too: it becomes stable-only
SELECT choice FROM rollout.opt_out('globex-retail-pos', 'candidate', reason => 'stable only');
SELECT rollout.effective_channel('globex-retail-pos');
SELECT rollout.set_tenant_channel('globex-retail-pos', 'candidate');
-- changing one's mind replaces the choice
SELECT choice FROM rollout.opt_in('globex-retail-pos', 'experimental', reason => 'changed our mind');
SELECT rollout.effective_channel('globex-retail-pos');
SELECT rollout.clear_channel_choice('globex-retail-pos', 'experimental', reason => 'back to inherited choice');
SELECT rollout.clear_channel_choice('globex-retail-pos', 'experimental');
SELECT tenant_id, channel_id, choice FROM rollout.channel_choice ORDER BY 1, 2;
-- inherit again
SELECT channel_id FROM rollout.set_tenant_channel('globex-retail', NULL, reason => 'back to default');
SELECT rollout.effective_channel('globex-retail-shop');

-- opt-in / opt-out only where the channel allows it; reason required
SELECT rollout.opt_out('globex', 'stable', reason => 'no');
SELECT rollout.opt_in('globex', 'stable', reason => 'no');
SELECT rollout.opt_in('globex', 'candidate', reason => 'no');
SELECT rollout.opt_in('globex', 'experimental', reason => NULL);
SELECT rollout.opt_in('globex', 'no-such-channel', reason => 'x');
SELECT rollout.opt_in('no-such-tenant', 'experimental', reason => 'x');
SELECT rollout.set_tenant_channel('globex', 'no-such-channel');
SELECT rollout.set_tenant_channel('no-such-tenant', 'stable');
SELECT rollout.tenant_channels('no-such-tenant');

-- managing channels
SELECT channel_id, ordinal, eligibility, min_soak
  FROM rollout.create_channel('beta', 25, 'opt_in', min_soak => '3 days', allow_opt_in => true, allow_opt_out => true,
                              description => 'between experimental and candidate');
SELECT channel_id FROM rollout.channel ORDER BY ordinal;
SELECT rollout.create_channel('beta', 26, 'all');
SELECT rollout.create_channel('gamma', 25, 'all');
SELECT rollout.create_channel('gamma', 0, 'all');
SELECT rollout.create_channel('gamma', NULL, 'all');
SELECT rollout.create_channel('gamma', 26, 'everyone');
SELECT rollout.create_channel('gamma', 26, 'all', min_soak => '-1 day');
SELECT rollout.create_channel('Gamma', 26, 'all');
SELECT min_soak, eligibility FROM rollout.update_channel('beta', min_soak => '5 days', reason => 'longer soak');
SELECT ordinal FROM rollout.update_channel('beta', ordinal => 27);
SELECT rollout.update_channel('beta', ordinal => 30);
SELECT rollout.update_channel('beta', eligibility => 'some');
SELECT rollout.update_channel('beta', min_soak => '-1 hour');
SELECT rollout.update_channel('no-such-channel', min_soak => '1 day');
-- the default channel
SELECT channel_id, is_default FROM rollout.set_default_channel('candidate', reason => 'faster cadence');
SELECT channel_id FROM rollout.channel WHERE is_default;
SELECT rollout.effective_channel('globex-retail-shop');
SELECT channel_id FROM rollout.set_default_channel('stable');
SELECT rollout.set_default_channel('no-such-channel');
-- dropping
SELECT channel_id FROM rollout.set_tenant_channel('globex-qa', 'beta');
SELECT rollout.drop_channel('stable');
SELECT rollout.drop_channel('no-such-channel');
SELECT choice FROM rollout.opt_in('globex-qa', 'beta', reason => 'consent');
SELECT channel_id FROM rollout.set_tenant_channel('globex-qa', 'beta');
SELECT rollout.drop_channel('beta');
SELECT channel_id FROM rollout.set_tenant_channel('globex-qa', 'dev');
SELECT rollout.drop_channel('beta', reason => 'merged into experimental');
SELECT count(*) FROM rollout.channel_choice WHERE channel_id = 'beta';

-- every change above is in the audit log
SELECT action, tenant_id, subject_id, reason FROM rollout.audit_log
 WHERE action LIKE 'channel.%' OR action LIKE 'tenant.%opted%' OR action LIKE 'tenant.channel%'
 ORDER BY seq;
