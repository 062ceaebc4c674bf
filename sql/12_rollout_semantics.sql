-- Rollout semantics: the percentage stages of a rollout draw from one order
-- of its tenants, so mixed weighted and unweighted stages stay exact and
-- every tenant of an earlier stage stays selected.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;
SET search_path = public, rollout;

SELECT (rollout.create_tenant('org')).tenant_id;
SELECT rollout.create_tenants(array_agg('team-' || i ORDER BY i), array_agg('org'::text ORDER BY i))
  FROM generate_series(1, 20) i;
-- 10,000 projects with skewed scan volumes
SELECT rollout.create_tenants(array_agg('p-' || i ORDER BY i), array_agg('team-' || (1 + i % 20) ORDER BY i), NULL, NULL,
                              array_agg(jsonb_build_object('scan_volume', CASE WHEN i % 10 = 0 THEN 5000 ELSE 1 + (i * 7919) % 300 END)
                                        ORDER BY i))
  FROM generate_series(1, 10000) i;
SELECT (rollout.create_component('svc')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;

-- seed 000's shape: 25 % weighted by scan_volume, then 75 % unweighted
SELECT rollout_id FROM rollout.create_rollout('mix', 'svc', '1.0.0', '2.0.0');
SELECT stage_no FROM rollout.add_stage('mix', 'quarter', 'percentage', percent => 25, weight_by => 'scan_volume');
SELECT stage_no FROM rollout.add_stage('mix', 'most', 'percentage', percent => 75);
-- one order per rollout: every weighted stage uses the same attribute
SELECT rollout.add_stage('mix', 'other', 'percentage', percent => 90, weight_by => 'seats');
SELECT stage_no FROM rollout.add_stage('mix', 'rest', 'all');

CREATE TEMP TABLE sel AS SELECT * FROM rollout.preview('mix');
-- stage 1 holds 25 % of the weight (and at most one tenant more), stage 2
-- 75 % of the projects, and stage 2 keeps every tenant of stage 1
SELECT round(100.0 * sum(weight) FILTER (WHERE stage_no = 1) / sum(weight)) AS stage1_weight_pct,
       round(100.0 * count(*) FILTER (WHERE stage_no <= 2) / count(*), 1) AS stage2_count_pct,
       count(*) FILTER (WHERE stage_no = 3) AS stage3_tenants
  FROM sel WHERE tenant_id LIKE 'p-%';
SELECT count(*) AS stage1_not_in_stage2
  FROM rollout._selection('mix', 1) a
 WHERE NOT EXISTS (SELECT 1 FROM rollout._selection('mix', 2) b WHERE b.tenant_id = a.tenant_id);

-- unweighted rollouts keep bucket thresholds: a tenant's stage depends only
-- on its own bucket
SELECT rollout_id FROM rollout.create_rollout('plain', 'svc', '1.0.0', '2.0.0');
SELECT stage_no FROM rollout.add_stage('plain', 'ten', 'percentage', percent => 10);
SELECT stage_no FROM rollout.add_stage('plain', 'half', 'percentage', percent => 50);
SELECT count(*) AS misplaced FROM rollout.preview('plain') v
 WHERE v.stage_no <> CASE WHEN v.bucket < 100000 THEN 1 ELSE 2 END;
SELECT count(*) BETWEEN 4700 AND 5300 AS half_within_sampling_error FROM rollout.preview('plain');

-- No data never passes.  What lets a due stage pass, by stage_status and
-- preview_summary: criteria; else armed rollback triggers (a fresh sample
-- needed); else time alone if the stage says pass_without_metrics; else a
-- fresh sample.
SELECT (rollout.create_component('gate')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('gate', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;
SET pg_rollout.actor = 'author';
SELECT rollout_id FROM rollout.create_rollout('gated', 'gate', '1.0.0', '2.0.0');
SELECT stage_no FROM rollout.add_stage('gated', 'one', 'tenants', tenants => ARRAY['team-1'], auto_proceed => true);
SELECT stage_no FROM rollout.add_stage('gated', 'two', 'tenants', tenants => ARRAY['team-2'], auto_proceed => true,
                                       pass_without_metrics => true);
SELECT stage_no FROM rollout.add_stage('gated', 'three', 'tenants', tenants => ARRAY['team-3'], auto_proceed => true,
                                       max_new_failures => 0);
SELECT DISTINCT stage_no, stage, passes_on FROM rollout.preview_summary('gated') ORDER BY stage_no;
SET pg_rollout.actor = 'approver';
SELECT status FROM rollout.approve_rollout('gated');
SELECT status FROM rollout.start_rollout('gated');
-- stage one: no criteria, no triggers, no flag: no sample, no pass
SELECT rollout_id, action FROM rollout.tick();
SELECT name, status, last_evaluation ->> 'verdict' AS verdict FROM rollout.stage_status WHERE rollout_id = 'gated' AND name = 'one';
-- counted for monitoring (alert PgRolloutStageExtendedNoMetrics)
SELECT stage, stage_monitoring_extensions FROM rollout.metrics_rollout_progress WHERE rollout_id = 'gated';
-- a sample reported for the stage lets it pass when due
SELECT rollout.report_metrics('gated', ARRAY['team-1'], ARRAY['new_failures'], ARRAY[0]);
UPDATE rollout.rollout_stage SET due_at = now() - interval '1 second' WHERE rollout_id = 'gated' AND stage_no = 1;
SELECT rollout_id, action, detail FROM rollout.tick();
-- stage two says pass_without_metrics: it passes on time
SELECT rollout_id, action, detail FROM rollout.tick();
SELECT name, status, last_evaluation ->> 'reason' AS reason FROM rollout.stage_status WHERE rollout_id = 'gated' AND stage_no = 2;
-- an armed rollback trigger overrides pass_without_metrics: triggers need data
SELECT rollout_id FROM rollout.create_rollout('armed', 'svc', '1.0.0', '2.0.0');
SELECT stage_no FROM rollout.add_stage('armed', 'only', 'tenants', tenants => ARRAY['team-4'], pass_without_metrics => true);
SELECT rollout.add_trigger('armed', 'error_rate', 0.1) IS NOT NULL AS armed;
SELECT passes_on FROM rollout.stage_status WHERE rollout_id = 'armed';
