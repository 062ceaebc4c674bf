-- Monitoring (issue 15): verify_audit() runs recorded and shown as metrics
-- and in rollout.health(); rollout.refresh_metrics(), the compliance views,
-- which agree with rollout.compliance_summary, and tenants per version; the
-- live rollouts' tenants activated, counted from the stages' counters, equal
-- the activations through advances, a partial rollback and a re-run.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET pg_rollout.actor = 'alice';

-- never verified, never refreshed
SELECT * FROM rollout.metrics_audit_verification;
SELECT status, detail FROM rollout.health() WHERE check_name = 'audit verification';
SELECT * FROM rollout.metrics_refresh_last;
SELECT pairs, drift_pairs, enforced_pairs, conflict_pairs, ratio FROM rollout.metrics_compliance_totals;
SELECT count(*) FROM rollout.metrics_compliance;
SELECT count(*) FROM rollout.metrics_activations;

-- two organisations, one component, a block policy with baseline 2.0.0
SELECT (rollout.create_tenant('acme', kind => 'organisation')).tenant_id;
SELECT rollout.create_tenants(ARRAY['a1', 'a2', 'a3'], ARRAY['acme', 'acme', 'acme']);
SELECT (rollout.create_tenant('globex', kind => 'organisation')).tenant_id;
SELECT rollout.create_tenants(ARRAY['g1', 'g2'], ARRAY['globex', 'globex']);
SELECT (rollout.create_component('agent', 'plugin')).component_id;
SELECT (rollout.create_component('cli', 'plugin')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('agent', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;
SELECT (rollout.set_default_version('agent', '2.0.0')).default_version;
SELECT rollout.pin_version('a1', 'agent', '1.0.0', 'holding back');
SELECT rollout.pin_version('g1', 'agent', '1.0.0', 'holding back');
SELECT rollout.pin_version('g2', 'agent', '1.0.0', 'holding back');
SELECT action FROM rollout.set_version_policy('agent', baseline => '2.0.0', action => 'block', reason => 'baseline');

SELECT pairs, activations FROM rollout.refresh_metrics();
SELECT pairs, drift_pairs, enforced_pairs, conflict_pairs, round(ratio::numeric, 4) AS ratio
  FROM rollout.metrics_compliance_totals;
SELECT last_timestamp_seconds > 0 AS refreshed FROM rollout.metrics_refresh_last;
SELECT * FROM rollout.metrics_compliance_status WHERE pairs > 0;
SELECT org_id, pairs, deployed, compliant, round(ratio::numeric, 4) AS ratio FROM rollout.metrics_compliance;
-- the same ratio as compliance_summary's percentage, organisation by organisation
SELECT s.node_id, s.compliance_pct, round(100 * m.ratio::numeric, 2) AS metric_pct
  FROM rollout.compliance_summary s JOIN rollout.metrics_compliance m ON m.org_id = s.node_id
 WHERE s.depth = 0 AND s.component_id IS NULL
 ORDER BY s.node_id;
-- the same counts per status as the roster
SELECT count(*) AS mismatches
  FROM (SELECT d.status, count(*) AS n FROM rollout.drift_roster d GROUP BY d.status) r
  FULL JOIN rollout.metrics_compliance_status m ON m.status = r.status
 WHERE coalesce(r.n, 0) <> coalesce(m.pairs, 0);

-- a change shows at the next refresh, not before; the old run's rows go
SELECT rollout.unpin_version('g1', 'agent', 'upgraded');
SELECT round(ratio::numeric, 4) AS ratio FROM rollout.metrics_compliance WHERE org_id = 'globex';
SELECT pairs FROM rollout.refresh_metrics();
SELECT round(ratio::numeric, 4) AS ratio FROM rollout.metrics_compliance WHERE org_id = 'globex';
SELECT count(DISTINCT run_id) AS runs_in_tally FROM rollout.compliance_tally;

-- who may refresh: an operator, not a viewer, not a session bound to tenants
CREATE ROLE mon_op IN ROLE rollout_operator;
CREATE ROLE mon_viewer IN ROLE rollout_viewer;
CREATE ROLE mon_bound IN ROLE rollout_operator;
SELECT rollout.bind_tenant('mon_bound', 'acme');
SET SESSION AUTHORIZATION mon_op;
SELECT pairs FROM rollout.refresh_metrics();
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION mon_viewer;
SELECT rollout.refresh_metrics();
-- the viewer reads the metric views
SELECT count(*) > 0 AS reads FROM rollout.metrics_compliance;
SELECT last_failed FROM rollout.metrics_audit_verification;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION mon_bound;
SELECT rollout.refresh_metrics();
RESET SESSION AUTHORIZATION;
SELECT ran_by FROM rollout.metrics_refresh ORDER BY run_id DESC LIMIT 1;

-- a rollout of agent to 2.0.0 over acme's projects: tenants activated, from
-- the stages' counters, equal the activation rows at every step, and the
-- tally counts tenants per version at the next refresh
SELECT rollout.unpin_version('a1', 'agent', 'rolling out');
SELECT (rollout.set_default_version('agent', '1.0.0')).default_version;
SELECT (rollout.create_rollout('ra', 'agent', '1.0.0', '2.0.0')).rollout_id;
SELECT stage_no FROM rollout.add_stage('ra', 'one', 'tenants', tenants => ARRAY['a1']);
SELECT stage_no FROM rollout.add_stage('ra', 'two', 'tenants', tenants => ARRAY['a2', 'a3']);
SELECT stage_no FROM rollout.add_stage('ra', 'rest', 'all');
SET pg_rollout.actor = 'bob';
SELECT (rollout.approve_rollout('ra')).status;
SELECT (rollout.start_rollout('ra')).status;
CREATE FUNCTION pg_temp.progress() RETURNS TABLE (stage text, tenants_activated bigint, exact bigint)
LANGUAGE sql AS $$
    SELECT p.stage, p.tenants_activated, (SELECT count(*) FROM rollout.activation a WHERE a.rollout_id = p.rollout_id)
      FROM rollout.metrics_rollout_progress p WHERE p.rollout_id = 'ra'
$$;
SELECT * FROM pg_temp.progress();
-- at a glance: one line per live rollout
SELECT rollout_id, versions, status, stage, progress, activated, deferred, next_due_in IS NOT NULL AS due, reason
  FROM rollout.dashboard;
SELECT (rollout.advance_rollout('ra', 'canary fine')).current_stage;
SELECT rollout_id, stage, progress, activated FROM rollout.dashboard;
SELECT * FROM pg_temp.progress();
SELECT rollout.rollback_rollout('ra', 'wave two broke', back_to_stage => 1) AS undone;
SELECT status, stage, tenants_activated FROM rollout.metrics_rollout_progress WHERE rollout_id = 'ra';
SELECT (rollout.resume_rollout('ra', 'fixed')).status;
SELECT (rollout.advance_rollout('ra', 'again')).current_stage;
SELECT * FROM pg_temp.progress();
-- (the stages' counters alone would say 5: stage two ran twice)
SELECT sum(activated) AS counters FROM rollout.rollout_stage WHERE rollout_id = 'ra';
SELECT count(*) FROM rollout.metrics_activations;
SELECT activations FROM rollout.refresh_metrics();
SELECT * FROM rollout.metrics_activations ORDER BY component_id, version;

-- verify_audit() records each run: intact, by whom
SELECT rollout.seal_audit() > 0 AS sealed;
SELECT intact FROM rollout.verify_audit();
SELECT intact, problem, head_block, ran_by, rows_checked > 0 AS checked FROM rollout.audit_verification
 ORDER BY verification_id DESC LIMIT 1;
SELECT last_failed, last_timestamp_seconds > 0 AS verified, last_rows_checked > 0 AS checked
  FROM rollout.metrics_audit_verification;
SELECT status FROM rollout.health() WHERE check_name = 'audit verification';
-- against a recorded head
SELECT intact FROM rollout.audit_head() h, rollout.verify_audit(h.block, h.block_hash);
SELECT head_block = (SELECT block FROM rollout.audit_head()) AS against_head FROM rollout.audit_verification
 ORDER BY verification_id DESC LIMIT 1;
-- a viewer verifies without recording (monitoring reports the runs of
-- operators and superusers only: a viewer could pass a head of its own
-- choosing); an operator's run is recorded, though it has no INSERT on the table
SELECT count(*) AS runs FROM rollout.audit_verification \gset
SET SESSION AUTHORIZATION mon_viewer;
SELECT intact FROM rollout.verify_audit();
INSERT INTO rollout.audit_verification (started_at, finished_at, intact, rows_checked, ran_by)
VALUES (now(), now(), true, 0, 'forged');
RESET SESSION AUTHORIZATION;
SELECT count(*) - :runs AS viewer_runs_recorded FROM rollout.audit_verification;
SET SESSION AUTHORIZATION mon_op;
SELECT intact FROM rollout.verify_audit();
INSERT INTO rollout.audit_verification (started_at, finished_at, intact, rows_checked, ran_by)
VALUES (now(), now(), true, 0, 'forged');
RESET SESSION AUTHORIZATION;
SELECT ran_by FROM rollout.audit_verification ORDER BY verification_id DESC LIMIT 1;
-- a read-only transaction verifies without recording
SELECT count(*) AS runs FROM rollout.audit_verification \gset
BEGIN READ ONLY;
SELECT intact FROM rollout.verify_audit();
COMMIT;
SELECT count(*) = :runs AS not_recorded FROM rollout.audit_verification;
-- an edited row: the run is recorded as failed, the metric and health say so
ALTER TABLE rollout.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE rollout.audit_log SET reason = 'tampered' WHERE seq = 2;
ALTER TABLE rollout.audit_log ENABLE TRIGGER audit_log_append_only;
SELECT intact FROM rollout.verify_audit();
SELECT intact, regexp_replace(problem, '\d+', 'N', 'g') AS problem FROM rollout.audit_verification
 ORDER BY verification_id DESC LIMIT 1;
SELECT last_failed FROM rollout.metrics_audit_verification;
SELECT status, regexp_replace(detail, '^.*found', 'found') AS detail FROM rollout.health()
 WHERE check_name = 'audit verification';
-- a stale intact run is a warning
UPDATE rollout.audit_verification SET intact = true, problem = NULL,
       started_at = now() - interval '2 days', finished_at = now() - interval '2 days';
SELECT status, hint FROM rollout.health() WHERE check_name = 'audit verification';

SELECT rollout.cancel_rollout('ra', 'done testing') IS NOT NULL AS cancelled;
-- tenants by status, as of the refresh
SELECT (rollout.suspend_tenant('g2', 'unpaid')).status;
SELECT tenants_active, tenants_suspended FROM rollout.metrics_refresh_last;
SELECT tenants_active, tenants_suspended FROM rollout.refresh_metrics();
SELECT tenants_active, tenants_suspended FROM rollout.metrics_refresh_last;
DROP OWNED BY mon_op, mon_viewer, mon_bound;
DROP ROLE mon_op, mon_viewer, mon_bound;
