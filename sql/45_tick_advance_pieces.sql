-- The pieces of an advancing tick rewritten for speed (issue 11, fourth
-- pass) against their previous definitions, kept here as pg_temp
-- functions: rollout.stage_metric and rollout._stage_metric (now C), the
-- evaluation of a stage (criteria listed without a query), the stage gate,
-- and the maintenance windows of rollout._select_rows (several windows of
-- one tenant: open when one of them is).
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_rollout CASCADE;
CREATE EXTENSION pg_rollout;
RESET client_min_messages;

-- the previous definitions
CREATE FUNCTION pg_temp.old_stage_metric_raw(rollout_id text, stage_no integer, metric text)
RETURNS double precision LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN $3 ~ '_(rate|ratio)$' THEN avg(m.value) ELSE sum(m.value) END
      FROM rollout.metric_sample m
     WHERE m.rollout_id = $1 AND m.stage_no = $2 AND m.metric = $3
       AND ($2 = 0 OR m.sampled_at >= (SELECT s.started_at FROM rollout.rollout_stage s
                                        WHERE s.rollout_id = $1 AND s.stage_no = $2))
$$;
CREATE FUNCTION pg_temp.old_stage_metric(rollout_id text, stage_no integer, metric text)
RETURNS double precision LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN $3 = 'failure_rate_increase'
                THEN pg_temp.old_stage_metric_raw($1, $2, 'failure_rate') - pg_temp.old_stage_metric_raw($1, 0, 'failure_rate')
                ELSE pg_temp.old_stage_metric_raw($1, $2, $3) END
$$;
CREATE FUNCTION pg_temp.old_breached(rollout_id text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('metric', t.metric, 'threshold', t.threshold, 'value', v.value)
      FROM rollout.rollout r
      JOIN rollout.rollout_trigger t ON t.rollout_id = r.rollout_id
     CROSS JOIN LATERAL (SELECT pg_temp.old_stage_metric(r.rollout_id, r.current_stage, t.metric) AS value) v
     WHERE r.rollout_id = $1 AND r.current_stage IS NOT NULL AND v.value > t.threshold
     ORDER BY t.metric
     LIMIT 1
$$;
CREATE FUNCTION pg_temp.old_gate(s rollout.rollout_stage)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN s.max_new_failures IS NOT NULL OR s.max_failure_rate_increase IS NOT NULL
             OR s.metric_bounds <> '{}'::jsonb THEN 'criteria'
        WHEN EXISTS (SELECT 1 FROM rollout.rollout_trigger t WHERE t.rollout_id = s.rollout_id) THEN 'triggers'
        WHEN s.pass_without_metrics THEN 'time'
        ELSE 'samples' END
$$;
CREATE FUNCTION pg_temp.old_evaluate(s rollout.rollout_stage)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    checks jsonb := '[]';
    verdict text := 'pass';
    val double precision;
    bound numeric;
    name text;
    gate text;
    samples bigint;
BEGIN
    SELECT count(*) INTO samples FROM rollout.metric_sample m
     WHERE m.rollout_id = s.rollout_id AND m.stage_no = s.stage_no AND m.sampled_at >= s.started_at;
    gate := pg_temp.old_gate(s);
    IF gate = 'time' THEN
        RETURN jsonb_build_object('verdict', 'pass', 'samples', samples, 'checks', checks, 'gate', gate,
                                  'reason', 'the stage passes on time (pass_without_metrics, no rollback trigger)');
    END IF;
    IF samples = 0 THEN
        RETURN jsonb_build_object('verdict', 'no_data', 'samples', 0, 'checks', checks, 'gate', gate,
                                  'reason', CASE gate
                                      WHEN 'triggers' THEN 'no metric sample was reported for the stage: its rollback triggers cannot fire'
                                      WHEN 'samples' THEN 'no metric sample was reported for the stage (without criteria it passes on samples, or on time with pass_without_metrics)'
                                      ELSE 'no metric sample was reported for the stage' END);
    END IF;
    IF gate <> 'criteria' THEN
        RETURN jsonb_build_object('verdict', 'pass', 'samples', samples, 'checks', checks, 'gate', gate,
                                  'reason', 'the stage has no success criteria and samples were reported');
    END IF;
    FOR name, bound IN
        SELECT 'new_failures', s.max_new_failures WHERE s.max_new_failures IS NOT NULL
        UNION ALL
        SELECT 'failure_rate_increase', s.max_failure_rate_increase WHERE s.max_failure_rate_increase IS NOT NULL
        UNION ALL
        SELECT e.key, (e.value #>> '{}')::numeric FROM jsonb_each(s.metric_bounds) e
    LOOP
        val := pg_temp.old_stage_metric(s.rollout_id, s.stage_no, name);
        checks := checks || jsonb_build_object('metric', name, 'value', val, 'max', bound,
                                               'ok', CASE WHEN val IS NULL THEN NULL ELSE val <= bound END);
        IF val IS NULL THEN
            IF verdict = 'pass' THEN
                verdict := 'inconclusive';
            END IF;
        ELSIF val > bound THEN
            verdict := 'fail';
        END IF;
    END LOOP;
    RETURN jsonb_build_object('verdict', verdict, 'samples', samples, 'checks', checks, 'gate', gate,
                              'reason', CASE verdict
                                  WHEN 'pass' THEN 'every criterion is met'
                                  WHEN 'fail' THEN 'a criterion is exceeded'
                                  ELSE 'a criterion''s metric (or the baseline) has no sample' END);
END
$$;

SELECT rollout.create_tenants(ARRAY['o', 't-1', 't-2', 'e-1', 'e-2', 'e-3', 'e-4'],
                              ARRAY[NULL, 'o', 'o', 't-1', 't-1', 't-2', 't-2'],
                              ARRAY['organisation', 'team', 'team', 'environment', 'environment', 'environment', 'environment']);
SELECT (rollout.create_component('svc')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('svc', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;
SELECT (rollout.create_component('api')).component_id;
SELECT count(*) FROM (SELECT rollout.add_version('api', v::rollout.semver, 'published')
                        FROM unnest(ARRAY['1.0.0', '2.0.0']) v) x;

-- One rollout with criteria of every kind (metric bounds in an order that
-- is not jsonb's), one gated by triggers, one on time, one on samples.
SET pg_rollout.actor = 'author';
SELECT rollout_id FROM rollout.create_rollout('crit', 'svc', '1.0.0', '2.0.0');
SELECT stage_no FROM rollout.add_stage('crit', 'one', 'tenants', tenants => ARRAY['e-1'], max_new_failures => 3,
                                       max_failure_rate_increase => 0.05,
                                       metric_bounds => '{"p99_latency": 900, "error_ratio": 0.2, "a_rate": 0.5}');
SELECT stage_no FROM rollout.add_stage('crit', 'two', 'tenants', tenants => ARRAY['e-2'], metric_bounds => '{"error_ratio": 0.1}');
SELECT stage_no FROM rollout.add_stage('crit', 'rest', 'all');
SELECT rollout_id FROM rollout.create_rollout('trig', 'api', '1.0.0', '2.0.0', scope_tenant_id => 't-2');
SELECT stage_no FROM rollout.add_stage('trig', 'all', 'all');
SELECT rollout.add_trigger('trig', 'failure_rate_increase', 0.2) IS NOT NULL AS trigger;
SELECT rollout.add_trigger('trig', 'error_rate', 0.5) IS NOT NULL AS trigger;
SELECT rollout_id FROM rollout.create_rollout('timed', 'svc', '1.0.0', '2.0.0', scope_tenant_id => 't-1');
SELECT stage_no FROM rollout.add_stage('timed', 'all', 'all', pass_without_metrics => true);
SELECT rollout_id FROM rollout.create_rollout('plain', 'svc', '1.0.0', '2.0.0', scope_tenant_id => 't-1');
SELECT stage_no FROM rollout.add_stage('plain', 'all', 'all');

-- Samples: a baseline, stage 1 of 'crit' (and samples from before the
-- stage's latest run started, which do not count), none for stage 2; the
-- other rollouts' stages are still pending (started_at NULL).
SET pg_rollout.actor = 'approver';
SELECT status FROM rollout.approve_rollout('crit');
SELECT status, current_stage FROM rollout.start_rollout('crit');
SELECT status FROM rollout.approve_rollout('trig');
SET pg_rollout.actor = 'monitor';
SELECT rollout.report_metrics('crit', NULL, ARRAY['failure_rate', 'failure_rate', 'error_ratio'], ARRAY[0.1, 0.2, 0.05], 'baseline');
SELECT rollout.report_metrics('trig', NULL, ARRAY['failure_rate'], ARRAY[0.1], 'baseline');
SELECT rollout.report_metrics('crit', NULL, ARRAY['new_failures', 'new_failures', 'failure_rate', 'failure_rate', 'error_ratio',
                                                  'error_ratio', 'p99_latency', 'a_rate', 'x.count'],
                              ARRAY[1, 1, 0.2, 0.3, 0.1, 0.4, 700, 0.5, 4]);
-- the stage's latest run started after two of these samples (a re-run)
UPDATE rollout.metric_sample SET sampled_at = sampled_at - interval '1 hour'
 WHERE rollout_id = 'crit' AND stage_no = 1 AND metric IN ('new_failures', 'a_rate')
   AND sample_id IN (SELECT min(sample_id) FROM rollout.metric_sample WHERE rollout_id = 'crit' AND stage_no = 1
                      GROUP BY metric);
-- samples of 'trig' stage 1 from before it started (they do not count)
INSERT INTO rollout.metric_sample (rollout_id, stage_no, tenant_id, metric, value, reported_by)
VALUES ('trig', 1, NULL, 'failure_rate', 0.5, 'monitor'), ('trig', 1, NULL, 'error_rate', 0.25, 'monitor');

-- stage_metric and _stage_metric both ways: every rollout, stages 0 to 3
-- and NULL, metrics of every kind (a mean, a sum, the derived one, names
-- without samples, NULL), and NULL rollouts.
CREATE TEMP TABLE metric_cases AS
SELECT r, k, m,
       rollout.stage_metric(r, k, m) AS c_value, pg_temp.old_stage_metric(r, k, m) AS sql_value,
       rollout._stage_metric(r, k, m) AS c_raw, pg_temp.old_stage_metric_raw(r, k, m) AS sql_raw
  FROM unnest(ARRAY['crit', 'trig', 'timed', 'plain', 'nope', NULL]) r,
       unnest(ARRAY[0, 1, 2, 3, NULL]) k,
       unnest(ARRAY['failure_rate', 'failure_rate_increase', 'new_failures', 'error_ratio', 'error_rate', 'a_rate',
                    'p99_latency', 'x.count', 'rate', '_rate', 'nothing', NULL]) m;
SELECT count(*) AS compared, count(*) FILTER (WHERE c_value IS DISTINCT FROM sql_value) AS differ,
       count(*) FILTER (WHERE c_raw IS DISTINCT FROM sql_raw) AS raw_differ,
       count(*) FILTER (WHERE c_value IS NOT NULL) AS with_value
  FROM metric_cases;
-- what was compared, where there is a value
SELECT r, k, m, round(c_value::numeric, 6) AS value FROM metric_cases
 WHERE c_value IS NOT NULL ORDER BY r, k, m;

-- The gate and the evaluation of every stage, both ways (the checks in the
-- same order).
SELECT s.rollout_id, s.stage_no, rollout._stage_gate(s) AS gate, rollout._stage_gate(s) = pg_temp.old_gate(s) AS same_gate,
       rollout._evaluate_stage_row(s) = pg_temp.old_evaluate(s) AS same_evaluation
  FROM rollout.rollout_stage s ORDER BY 1, 2;
SELECT jsonb_pretty(rollout.evaluate_stage('crit', 1));
-- the rollback triggers: none breached before 'trig' starts; then a
-- failure rate 0.4 above the baseline (trigger at 0.2), an error rate under
-- its trigger
SELECT rollout.breached_trigger('trig');
SET pg_rollout.actor = 'approver';
SELECT status, current_stage FROM rollout.start_rollout('trig');
SELECT rollout.breached_trigger('trig');
SET pg_rollout.actor = 'monitor';
SELECT rollout.report_metrics('trig', NULL, ARRAY['failure_rate', 'error_rate', 'error_rate'], ARRAY[0.5, 0.25, 0.5]);
SELECT rollout.breached_trigger('trig');
-- two breached triggers (thresholds lowered directly): the first in metric
-- order; a trigger without samples never fires
UPDATE rollout.rollout_trigger SET threshold = 0.3 WHERE rollout_id = 'trig' AND metric = 'error_rate';
INSERT INTO rollout.rollout_trigger (rollout_id, metric, threshold) VALUES ('trig', 'a_ratio', 0), ('trig', 'z.count', -1);
SELECT rollout.breached_trigger('trig');
UPDATE rollout.rollout_trigger SET threshold = 'NaN' WHERE rollout_id = 'trig' AND metric = 'error_rate';
SELECT rollout.breached_trigger('trig');
SELECT r, rollout.breached_trigger(r) IS NOT DISTINCT FROM pg_temp.old_breached(r) AS same
  FROM unnest(ARRAY['trig', 'crit', 'timed', 'nope', NULL]) r;
SELECT round(rollout.stage_metric('trig', 1, 'failure_rate_increase')::numeric, 6) AS increase,
       rollout.stage_metric('trig', 1, 'error_rate') AS error_rate,
       rollout.stage_metric('trig', 1, 'error_rate') = pg_temp.old_stage_metric('trig', 1, 'error_rate') AS same;
-- a bound that is not a number fails the same way
UPDATE rollout.rollout_stage SET metric_bounds = '{"error_ratio": "low"}' WHERE rollout_id = 'crit' AND stage_no = 2;
UPDATE rollout.rollout_stage SET started_at = now() WHERE rollout_id = 'crit' AND stage_no = 2;
INSERT INTO rollout.metric_sample (rollout_id, stage_no, tenant_id, metric, value, reported_by)
VALUES ('crit', 2, NULL, 'error_ratio', 0.5, 'monitor');
SELECT rollout.evaluate_stage('crit', 2);
SELECT pg_temp.old_evaluate(s) FROM rollout.rollout_stage s WHERE rollout_id = 'crit' AND stage_no = 2;

-- Maintenance windows: several windows of one tenant, open when one of
-- them is (t-1: a closed and an open one; t-2: two closed ones).
SELECT rollout.add_maintenance_window('t-1', ARRAY[1, 2, 3, 4, 5, 6, 7], '00:00', '00:00:00.000001') > 0 AS closed_window;
SELECT rollout.add_maintenance_window('t-1', ARRAY[1, 2, 3, 4, 5, 6, 7], '00:00', '24:00') > 0 AS open_window;
SELECT rollout.add_maintenance_window('t-2', ARRAY[1, 2, 3, 4, 5, 6, 7], '00:00', '00:00:00.000001') > 0 AS closed_window;
SELECT rollout.add_maintenance_window('t-2', ARRAY[1, 2, 3, 4, 5, 6, 7], '00:00:00.000001', '00:00:00.000002') > 0 AS closed_window;
SELECT f.go, f.held, f.why,
       (SELECT coalesce(array_agg(s.tenant_id ORDER BY s.tenant_id), '{}') FROM rollout._selection('crit', 3) s
         WHERE NOT s.blacked_out) = (SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM unnest(f.go) x) AS same_go,
       (SELECT coalesce(array_agg(s.tenant_id || ':' || s.hold_reason ORDER BY s.tenant_id), '{}')
          FROM rollout._selection('crit', 3) s WHERE s.blacked_out)
       = (SELECT coalesce(array_agg(x || ':' || y ORDER BY x), '{}') FROM unnest(f.held, f.why) u(x, y)) AS same_held
  FROM rollout._select_rows('crit', 3) f;

-- Privileges as before.
SELECT has_function_privilege('rollout_viewer', 'rollout.stage_metric(text, integer, text)', 'EXECUTE') AS viewer_metric,
       has_function_privilege('rollout_viewer', 'rollout._stage_metric(text, integer, text)', 'EXECUTE') AS viewer_raw,
       has_function_privilege('public', 'rollout._stage_metric(text, integer, text)', 'EXECUTE') AS public_raw;
