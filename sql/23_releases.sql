-- Release readiness (issue 14, seed 004): seed 004 §10's example (the
-- audit-filter UI release) from classification to stable with its GO
-- memo, then every refusal: unclassified, side door, channel skip, hard
-- stops, self-approval, distinct people, voided approvals, short soak,
-- class change after promotion, promotion without (or with a stale) memo,
-- SEV-1 during soak, and bad input.  Time comes from the superuser clock
-- override (rollout.set_release_clock).
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
DROP ROLE IF EXISTS "Jane Doe", "Bob Smith", "Quinn Adams", regress_rel_author;
RESET client_min_messages;
CREATE ROLE "Jane Doe" IN ROLE rollout_release_dev_lead, rollout_release_qa;
CREATE ROLE "Bob Smith" IN ROLE rollout_release_system_owner;
CREATE ROLE "Quinn Adams" IN ROLE rollout_release_qa;
CREATE ROLE regress_rel_author IN ROLE rollout_admin;
-- record every recorded (non-derived) check matching a pattern as passed
CREATE FUNCTION pg_temp.pass(rel text, pattern text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(rollout.record_check(rel, k.check_id, true, 'verified'))
      FROM rollout.release_check_catalog() k WHERE NOT k.derived AND k.check_id LIKE pattern $$;

SELECT rollout.set_release_clock('2025-01-10 09:00+00');
SELECT (rollout.create_tenant('sbnc-dev', test_tenant => true)).tenant_id;
SELECT (rollout.create_tenant('sbnc-staging', test_tenant => true)).tenant_id;
SELECT (rollout.create_tenant('partner-a')).tenant_id;
SELECT (rollout.create_component('clubos-admin', 'product')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('clubos-admin', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.4.0', '1.5.0', '1.6.0', '1.7.0']) v) x;
SELECT (rollout.create_flag('audit_filter_ui_enabled', false, 'kill switch of the audit filter UI')).flag_id;
-- before any release the component is ungoverned: a direct channel release works
SELECT rollout.set_channel_release('clubos-admin', 'stable', '1.4.0', 'baseline');

-- 1. The release, unclassified, by its author
SET SESSION AUTHORIZATION regress_rel_author;
SELECT release_id, class, revision, status FROM rollout.create_release('2025-01-15-audit-filter-ui', 'clubos-admin', '1.5.0', $m${
  "description": "Add date range and action type filters to audit panel",
  "files_changed": ["src/components/admin/AuditPanel.tsx", "src/lib/audit/filters.ts"],
  "data_changes": "None",
  "kill_switch": "audit_filter_ui_enabled",
  "rollback_plan": {
    "trigger": ["Filter queries return incorrect results", "Page load time increases > 500ms", "Any cross-tenant data visible in results"],
    "procedure": ["Set AUDIT_FILTER_UI_ENABLED=false in config", "Verify filter UI is hidden for all tenants",
                  "Monitor error logs for 15 minutes", "Notify Dev Lead of rollback completion"],
    "verification": ["Confirm filter controls not visible", "Confirm audit panel loads without errors"],
    "owner": "Jane Doe, Dev Lead"}}$m$);
-- unclear classification: no channel, not even dev
SELECT rollout.promote('2025-01-15-audit-filter-ui', 'dev');
RESET SESSION AUTHORIZATION;
-- the component is now governed: set_channel_release is no side door, even for a superuser
SELECT rollout.set_channel_release('clubos-admin', 'dev', '1.5.0', 'side door');
SELECT rollout.set_channel_release('clubos-admin', 'stable', '1.4.0', 'side door');
SELECT rollout.set_release_clock('2025-01-13 09:00+00');
SET SESSION AUTHORIZATION regress_rel_author;
SELECT class, revision FROM rollout.classify_release('2025-01-15-audit-filter-ui', 'workflow', 'new filtering UI, no data changes');
SELECT channel_id, automatic FROM rollout.promote('2025-01-15-audit-filter-ui', 'dev', 'internal testing');
SELECT version::text FROM rollout.channel_release WHERE component_id = 'clubos-admin' AND channel_id = 'dev';

-- 2. Channel skip, and every failing check at once
SELECT rollout.promote('2025-01-15-audit-filter-ui', 'candidate');
SELECT check_id, passed, detail FROM rollout.readiness('2025-01-15-audit-filter-ui') WHERE NOT passed ORDER BY kind, check_id;
SELECT rollout.promote('2025-01-15-audit-filter-ui', 'experimental');

-- 3. The checks before experimental: hard stops, observability, kill-switch test, exposure plan
SELECT pg_temp.pass('2025-01-15-audit-filter-ui', 'hs.%');
SELECT pg_temp.pass('2025-01-15-audit-filter-ui', 'ob.%');
RESET SESSION AUTHORIZATION;
SELECT rollout.set_release_clock('2025-01-14 10:00+00');
SET SESSION AUTHORIZATION regress_rel_author;
SELECT flag_id, channel_id, passed FROM rollout.record_kill_switch_test('2025-01-15-audit-filter-ui', true,
    'AUDIT_FILTER_UI_ENABLED toggled off in dev: filter UI hidden, no errors');
SELECT release_id, tenants, min_duration FROM rollout.set_exposure_plan('2025-01-15-audit-filter-ui',
    ARRAY['sbnc-dev', 'sbnc-staging'], 'Internal decision (dev/staging only)', '7 days',
    ARRAY['Zero errors in filter query execution', 'Page load time increase < 200ms', 'No cross-tenant data leakage in filter results'],
    'Jane Doe, Dev Lead');
-- consent is not recorded yet
SELECT check_id, detail FROM rollout.readiness('2025-01-15-audit-filter-ui') WHERE NOT passed ORDER BY kind, check_id;
SELECT tenant_id, choice FROM rollout.opt_in('sbnc-dev', 'experimental', 'written confirmation from tenant admin');
SELECT tenant_id, choice FROM rollout.opt_in('sbnc-staging', 'experimental', 'written confirmation from tenant admin');
RESET SESSION AUTHORIZATION;

-- 4. Approvals: the author may not approve; roles are checked; distinct people
SET SESSION AUTHORIZATION regress_rel_author;
SELECT rollout.approve_release('2025-01-15-audit-filter-ui', 'experimental', 'dev_lead');
RESET SESSION AUTHORIZATION;
SELECT rollout.create_release('self-made', 'clubos-admin', '1.4.0', class => 'ui_only');
SELECT rollout.approve_release('self-made', 'experimental', 'dev_lead');   -- self-approval (superuser author)
SET SESSION AUTHORIZATION "Bob Smith";
SELECT rollout.approve_release('2025-01-15-audit-filter-ui', 'experimental', 'dev_lead');
SELECT rollout.approve_release('2025-01-15-audit-filter-ui', 'experimental', 'system_owner');  -- not needed for workflow
SET SESSION AUTHORIZATION "Jane Doe";
SELECT to_channel, role, approver, revision FROM rollout.approve_release('2025-01-15-audit-filter-ui', 'experimental', 'dev_lead', 'exposure plan approved');
RESET SESSION AUTHORIZATION;
-- a manifest change voids the approval
SET SESSION AUTHORIZATION regress_rel_author;
SELECT revision FROM rollout.update_release_manifest('2025-01-15-audit-filter-ui',
    (SELECT manifest || jsonb_build_object('rollback_plan', manifest->'rollback_plan' || '{"communication": ["Notify Dev Lead immediately", "Notify System Owner within 1 hour"]}')
       FROM rollout.release WHERE release_id = '2025-01-15-audit-filter-ui'),
    'communication plan added');
SELECT check_id, detail FROM rollout.readiness('2025-01-15-audit-filter-ui') WHERE NOT passed ORDER BY kind, check_id;
SELECT rollout.promote('2025-01-15-audit-filter-ui', 'experimental');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "Jane Doe";
SELECT role, revision FROM rollout.approve_release('2025-01-15-audit-filter-ui', 'experimental', 'dev_lead', 'exposure plan approved');
RESET SESSION AUTHORIZATION;

-- 5. Into experimental; the class is frozen from now on
SELECT rollout.set_release_clock('2025-01-15 09:00+00');
SET SESSION AUTHORIZATION regress_rel_author;
SELECT channel_id FROM rollout.promote('2025-01-15-audit-filter-ui', 'experimental', 'exposure plan approved');
SELECT rollout.classify_release('2025-01-15-audit-filter-ui', 'ui_only', 'it is only UI after all');
SELECT class FROM rollout.classify_release('2025-01-15-audit-filter-ui', 'workflow', 'same class: no change');
RESET SESSION AUTHORIZATION;
-- exposure: only tenants that consented may follow experimental
SELECT (rollout.set_tenant_channel('sbnc-dev', 'experimental', 'exposure plan')).channel_id;
SELECT rollout.set_tenant_channel('partner-a', 'experimental', 'not in the plan');
SELECT rollout.resolve_version('sbnc-dev', 'clubos-admin')::text, rollout.resolve_version('partner-a', 'clubos-admin')::text;
-- tenants may opt out of experimental (that does not block the release later), not of stable
SELECT choice FROM rollout.opt_out('sbnc-staging', 'experimental', 'tenant changed its mind');
SELECT rollout.opt_out('sbnc-staging', 'stable', 'no thanks');
-- the same facts in another session's time zone and styles give the same memo digest later
SET TimeZone = 'Asia/Tokyo';
SET IntervalStyle = 'iso_8601';

-- 6. A newer release entering experimental does not reset this one's soak
SELECT rollout.set_release_clock('2025-01-18 09:00+00');
SELECT release_id FROM rollout.create_release('2025-01-18-audit-export', 'clubos-admin', '1.6.0', $m${
  "description": "CSV export of the audit panel", "kill_switch": "audit_filter_ui_enabled", "auto_kill_on_sev1": true,
  "rollback_plan": {"trigger": ["export errors"], "procedure": ["disable flag"], "verification": ["button hidden"], "owner": "Jane Doe"}}$m$,
  'ui_only');
SELECT channel_id FROM rollout.promote('2025-01-18-audit-export', 'dev');
SELECT pg_temp.pass('2025-01-18-audit-export', 'hs.%') + pg_temp.pass('2025-01-18-audit-export', 'ob.%');
SELECT passed FROM rollout.record_kill_switch_test('2025-01-18-audit-export', true, 'flag off in dev hides the button');
SELECT (rollout.set_exposure_plan('2025-01-18-audit-export', ARRAY['sbnc-dev'], 'internal', '3 days', ARRAY['no export errors'], 'Jane Doe')).release_id;
SET SESSION AUTHORIZATION "Jane Doe";
SELECT role FROM rollout.approve_release('2025-01-18-audit-export', 'experimental', 'dev_lead');
RESET SESSION AUTHORIZATION;
SELECT channel_id FROM rollout.promote('2025-01-18-audit-export', 'experimental');
SELECT version::text FROM rollout.channel_release WHERE component_id = 'clubos-admin' AND channel_id = 'experimental';

-- 7. Short soak: two days before the week in experimental is over
SELECT rollout.set_release_clock('2025-01-20 09:00+00');
SELECT pg_temp.pass('2025-01-15-audit-filter-ui', 'ds.%') + pg_temp.pass('2025-01-15-audit-filter-ui', 'ov.%')
       + pg_temp.pass('2025-01-15-audit-filter-ui', 'exp.%');
SET SESSION AUTHORIZATION "Jane Doe";
SELECT role FROM rollout.approve_release('2025-01-15-audit-filter-ui', 'candidate', 'dev_lead');
SELECT rollout.approve_release('2025-01-15-audit-filter-ui', 'candidate', 'qa');   -- same person, second role
SET SESSION AUTHORIZATION "Quinn Adams";
SELECT role FROM rollout.approve_release('2025-01-15-audit-filter-ui', 'candidate', 'qa');
RESET SESSION AUTHORIZATION;
SELECT rollout.promote('2025-01-15-audit-filter-ui', 'candidate');
SELECT check_id, detail FROM rollout.readiness('2025-01-15-audit-filter-ui', 'candidate') WHERE check_id = 'soak';
-- soak is measured from this release's own entry (2025-01-15), not the newer one's (2025-01-18)
SELECT rollout.set_release_clock('2025-01-22 09:00+00');
SELECT channel_id, to_char(entered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM rollout.promote('2025-01-15-audit-filter-ui', 'candidate');

-- 8. Stable: approvals, no memo, a GO memo, a stale memo
RESET TimeZone;
RESET IntervalStyle;
SELECT rollout.set_release_clock('2025-01-29 09:00+00');
SET SESSION AUTHORIZATION "Jane Doe";
SELECT role FROM rollout.approve_release('2025-01-15-audit-filter-ui', 'stable', 'dev_lead');
SET SESSION AUTHORIZATION "Bob Smith";
SELECT role FROM rollout.approve_release('2025-01-15-audit-filter-ui', 'stable', 'system_owner');
RESET SESSION AUTHORIZATION;
SELECT rollout.promote('2025-01-15-audit-filter-ui', 'stable');
SET SESSION AUTHORIZATION "Quinn Adams";
SELECT rollout.record_memo('2025-01-15-audit-filter-ui', 'GO');   -- QA does not sign memos
SET SESSION AUTHORIZATION "Bob Smith";
SELECT rollout.record_memo('2025-01-15-audit-filter-ui', 'GO');   -- rollback plan not tested yet
SELECT rollout.record_memo('2025-01-15-audit-filter-ui', 'NO-GO', notes => 'waiting');
SELECT decision, rationale FROM rollout.record_memo('2025-01-15-audit-filter-ui', 'NO-GO',
    rationale => 'rollback plan not tested', remediation => 'run the rollback procedure in staging');
RESET SESSION AUTHORIZATION;
SELECT rollout.promote('2025-01-15-audit-filter-ui', 'stable');
SELECT rollout.record_check('2025-01-15-audit-filter-ui', 'rb.tested', true, 'rollback procedure run in staging on 2025-01-28') IS NOT NULL;
SET SESSION AUTHORIZATION "Bob Smith";
SELECT memo_id, decision FROM rollout.record_memo('2025-01-15-audit-filter-ui', 'GO', '[]',
    E'Filter UI performed well in experimental and candidate.\nPage load increase was 85ms (within 200ms threshold).\nNo errors or cross-tenant issues observed.');
RESET SESSION AUTHORIZATION;
SELECT body FROM rollout.release_memo WHERE release_id = '2025-01-15-audit-filter-ui' ORDER BY memo_id DESC LIMIT 1;
-- the state changes after the memo (an incident): the memo no longer matches
SELECT severity FROM rollout.report_incident('2025-01-15-audit-filter-ui', 'candidate', 4, 'tooltip typo');
SELECT rollout.promote('2025-01-15-audit-filter-ui', 'stable');
SELECT resolution FROM rollout.resolve_incident((SELECT max(incident_id) FROM rollout.release_incident), 'typo fixed');
SELECT rollout.promote('2025-01-15-audit-filter-ui', 'stable');
SET SESSION AUTHORIZATION "Bob Smith";
SELECT memo_id, decision FROM rollout.record_memo('2025-01-15-audit-filter-ui', 'GO', '[{"risk": "tooltip typo seen in candidate", "rationale": "cosmetic, fixed"}]',
    'Filter UI performed well in experimental and candidate.');
RESET SESSION AUTHORIZATION;
-- promoted from a session with other TimeZone and IntervalStyle than the memo's: the digest still matches
SET TimeZone = 'Asia/Tokyo';
SET IntervalStyle = 'sql_standard';
SELECT channel_id FROM rollout.promote('2025-01-15-audit-filter-ui', 'stable', 'GO memo');
RESET TimeZone;
RESET IntervalStyle;
SELECT channel_id, version::text FROM rollout.channel_release WHERE component_id = 'clubos-admin' ORDER BY channel_id;
SELECT channel_id, to_char(entered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS entered, entered_by
  FROM rollout.release_channel WHERE release_id = '2025-01-15-audit-filter-ui' ORDER BY entered_at;
-- the memos' digests are in the audit log, and the chain holds
SELECT m.memo_id, m.decision, a.details->>'body_sha256' = encode(m.body_digest, 'hex') AS digest_logged
  FROM rollout.release_memo m JOIN rollout.audit_log a
    ON a.action = 'release.memo_recorded' AND (a.details->>'memo')::bigint = m.memo_id ORDER BY m.memo_id;
SELECT rollout.seal_audit() > 0 AS sealed;
SELECT intact FROM rollout.verify_audit();

-- 9. Automatic promotion from tick(): the ui_only release, pre-approved, once its soak is over; never into stable
SELECT pg_temp.pass('2025-01-18-audit-export', '%');
SET SESSION AUTHORIZATION "Jane Doe";
SELECT role FROM rollout.approve_release('2025-01-18-audit-export', 'candidate', 'dev_lead');
SET SESSION AUTHORIZATION "Quinn Adams";
SELECT role FROM rollout.approve_release('2025-01-18-audit-export', 'candidate', 'qa');
RESET SESSION AUTHORIZATION;
SELECT * FROM rollout.tick() WHERE action LIKE 'release%';    -- 2025-01-29: soak (7 days from 2025-01-18) is over
SELECT channel_id, automatic, entered_by FROM rollout.release_channel WHERE release_id = '2025-01-18-audit-export' ORDER BY entered_at;
SELECT rollout.set_release_clock('2025-02-20 09:00+00');
SELECT count(*) FROM rollout.tick() WHERE action LIKE 'release%';

-- 10. SEV-1 during soak: halts at once, opens a rollback evaluation, flips the kill switch
SELECT incident_id > 0, severity FROM rollout.report_incident('2025-01-18-audit-export', 'candidate', 1, 'export leaks rows of another tenant');
SELECT halted, halted_reason LIKE 'SEV-1 incident #% in candidate: export leaks rows of another tenant' FROM rollout.release WHERE release_id = '2025-01-18-audit-export';
SELECT killed, kill_reason LIKE 'SEV-1 incident%' FROM rollout.flag WHERE flag_id = 'audit_filter_ui_enabled';
SELECT decision IS NULL AS open FROM rollout.release_rollback_evaluation WHERE release_id = '2025-01-18-audit-export';
SELECT rollout.promote('2025-01-18-audit-export', 'stable');
SET SESSION AUTHORIZATION "Bob Smith";
SELECT rollout.decide_rollback('2025-01-18-audit-export', 'rollback', 'leak');   -- ui_only: the dev lead decides
SET SESSION AUTHORIZATION "Jane Doe";
SELECT status, halted FROM rollout.decide_rollback('2025-01-18-audit-export', 'rollback', 'leak confirmed');
RESET SESSION AUTHORIZATION;
SELECT channel_id, version::text FROM rollout.channel_release WHERE component_id = 'clubos-admin' ORDER BY channel_id;
SELECT rollout.promote('2025-01-18-audit-export', 'stable');
-- a SEV-2 during soak fails the exit criteria even once resolved
SELECT rollout.set_release_clock('2025-03-01 09:00+00');
SELECT channel_id FROM rollout.promote('self-made', 'dev');
SELECT severity FROM rollout.report_incident('self-made', 'dev', 2, 'slow');
SELECT resolved_at IS NOT NULL FROM rollout.resolve_incident((SELECT max(incident_id) FROM rollout.release_incident), 'fixed');
SELECT check_id, detail FROM rollout.readiness('self-made') WHERE check_id LIKE 'exit.%' ORDER BY check_id;

-- 11. Bad input
SELECT rollout.create_release('Bad Id', 'clubos-admin', '1.5.0');
SELECT rollout.create_release('dup', 'clubos-admin', '1.5.0');
SELECT rollout.create_release('nover', 'clubos-admin', '9.9.9');
SELECT rollout.create_release('nocomp', 'nope', '1.0.0');
SELECT rollout.create_release('badclass', 'clubos-admin', '1.6.0', class => 'cosmetic');
SELECT rollout.create_release('badkey', 'clubos-admin', '1.6.0', '{"colour": "red"}');
SELECT rollout.create_release('badplan', 'clubos-admin', '1.6.0', '{"rollback_plan": {"when": "never"}}');
SELECT rollout.create_release('badks', 'clubos-admin', '1.6.0', '{"kill_switch": 1}');
SELECT rollout.create_release('notobj', 'clubos-admin', '1.6.0', '[]');
SELECT rollout.classify_release('nope', 'ui_only', 'x');
SELECT rollout.classify_release('self-made', 'ui_only', NULL);
SELECT rollout.record_check('self-made', 'hs.nothing', true, 'x');
SELECT rollout.record_check('self-made', 'hs.kill_switch', true, 'x');
SELECT rollout.record_check('self-made', 'hs.restore_path', true, '');
SELECT rollout.record_kill_switch_test('self-made', true, 'x');
SELECT rollout.record_kill_switch_test('2025-01-15-audit-filter-ui', true, 'x');
SELECT rollout.set_exposure_plan('self-made', ARRAY['nobody'], 'x', '1 day', ARRAY['x'], 'me');
SELECT rollout.set_exposure_plan('self-made', ARRAY['sbnc-dev'], 'x', '2 days', ARRAY['x'], 'me', '1 day');
SELECT rollout.set_exposure_plan('self-made', ARRAY[]::text[], 'x', '1 day', ARRAY['x'], 'me');
SELECT rollout.report_incident('self-made', 'dev', 5, 'x');
SELECT rollout.report_incident('self-made', 'stable', 3, 'x');
SELECT rollout.resolve_incident(999999, 'x');
SELECT rollout.promote('self-made', 'nowhere');
SELECT rollout.promote('nope', 'dev');
SET SESSION AUTHORIZATION "Jane Doe";
SELECT rollout.approve_release('self-made', 'experimental', 'boss');
SELECT rollout.approve_release('self-made', 'dev', 'dev_lead');
SELECT rollout.approve_release('self-made', 'nowhere', 'dev_lead');
SELECT rollout.decide_rollback('self-made', 'maybe', 'x');
SELECT rollout.decide_rollback('self-made', 'continue', 'x');
SELECT rollout.record_memo('self-made', 'GO');
SELECT rollout.record_memo('2025-01-15-audit-filter-ui', 'MAYBE');
RESET SESSION AUTHORIZATION;
-- a mechanism change: the system owner decides a rollback, and only with an incident logged
SELECT class FROM rollout.create_release('mech', 'clubos-admin', '1.7.0', class => 'mechanism');
SELECT channel_id FROM rollout.promote('mech', 'dev');
SET SESSION AUTHORIZATION "Jane Doe";
SELECT rollout.decide_rollback('mech', 'rollback', 'schema trouble');
SET SESSION AUTHORIZATION "Bob Smith";
SELECT rollout.decide_rollback('mech', 'rollback', 'schema trouble');
RESET SESSION AUTHORIZATION;
SELECT severity FROM rollout.report_incident('mech', 'dev', 2, 'migration slow on large tenants');
SET SESSION AUTHORIZATION "Bob Smith";
SELECT status FROM rollout.decide_rollback('mech', 'rollback', 'schema trouble');
RESET SESSION AUTHORIZATION;
-- mechanism releases need the system owner at every transition, and their own checks
SELECT pg_catalog.array_to_string(rollout._release_required_roles('mechanism', 2, 4), ', ') AS into_experimental,
       pg_catalog.array_to_string(rollout._release_required_roles('mechanism', 3, 4), ', ') AS into_candidate;
SELECT check_id FROM rollout.release_check_catalog() WHERE classes IS NOT NULL ORDER BY check_id;
SET SESSION AUTHORIZATION regress_rel_author;
SELECT rollout.set_release_clock(NULL);    -- superuser only
RESET SESSION AUTHORIZATION;
SELECT rollout.set_release_clock(NULL);
SELECT count(*) FROM rollout.release_clock;

DROP EXTENSION pg_rollout CASCADE;
DROP ROLE "Jane Doe", "Bob Smith", "Quinn Adams", regress_rel_author;
