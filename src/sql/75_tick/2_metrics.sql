-- The value of a metric over a stage's samples (NULL: no sample): the mean
-- for *_rate / *_ratio, else the sum, over the samples of the stage's latest
-- run (a stage monitored afresh, a retry or a re-run after a partial
-- rollback, counts only the samples taken since it started; the baseline,
-- stage 0, all of its samples).  In C (src/metrics.c): tick() asks for the
-- triggers and criteria of every due rollout, and as PL/pgSQL each metric
-- was two function calls around one query.
CREATE FUNCTION rollout._stage_metric(rollout_id text, stage_no integer, metric text)
RETURNS double precision
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'pgr_stage_metric_raw';
COMMENT ON FUNCTION rollout._stage_metric(text, integer, text) IS
    'internal: a metric over the samples of one stage''s latest run: the mean for *_rate / *_ratio, else the sum; NULL without samples';

-- Derived metrics: failure_rate_increase = stage mean failure_rate minus
-- the baseline's (src/metrics.c).
CREATE FUNCTION rollout.stage_metric(rollout_id text, stage_no integer, metric text)
RETURNS double precision
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'pgr_stage_metric';
COMMENT ON FUNCTION rollout.stage_metric(text, integer, text) IS
    'a metric of a stage as the gates see it: mean for *_rate / *_ratio, sum otherwise; failure_rate_increase is the stage''s mean failure_rate minus the baseline''s';

CREATE FUNCTION rollout.report_metrics(rollout_id text, tenant_ids text[], metrics text[],
                                       metric_values double precision[], stage text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r rollout.rollout;
    k integer;
    n bigint;
    bad text;
BEGIN
    -- NO KEY UPDATE: concurrent reporters of one rollout queue instead of
    -- deadlocking on the upgrade to the UPDATE below.
    SELECT * INTO r FROM rollout.rollout x WHERE x.rollout_id = report_metrics.rollout_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('rollout "%s" does not exist', rollout_id);
    END IF;
    IF metrics IS NULL OR metric_values IS NULL
       OR cardinality(metrics) <> cardinality(metric_values)
       OR (tenant_ids IS NOT NULL AND cardinality(tenant_ids) <> cardinality(metrics)) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'metrics, values and tenant ids must be arrays of the same length',
            DETAIL = format('%s metrics, %s values, %s tenant ids were given.', cardinality(metrics),
                            cardinality(metric_values), coalesce(cardinality(tenant_ids)::text, 'no'));
    END IF;
    IF stage = 'baseline' THEN
        k := 0;
    ELSIF stage IS NULL THEN
        IF r.status NOT IN ('running', 'paused', 'failed') THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('cannot report metrics of the current stage of rollout "%s": it is %s', r.rollout_id, r.status),
                HINT = 'Samples taken before the rollout starts go to stage => ''baseline''.';
        END IF;
        k := r.current_stage;
    ELSE
        IF r.status IN ('draft', 'approved') THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('cannot report metrics of stage "%s" of rollout "%s": it is %s', stage, r.rollout_id, r.status),
                HINT = 'Samples taken before the rollout starts go to stage => ''baseline''.';
        END IF;
        SELECT s.stage_no INTO k FROM rollout.rollout_stage s WHERE s.rollout_id = r.rollout_id AND s.name = stage;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('stage "%s" of rollout "%s" does not exist', stage, r.rollout_id);
        END IF;
    END IF;
    SELECT u.m INTO bad FROM unnest(metrics) AS u(m) WHERE u.m IS NULL OR u.m !~ '^[a-z][a-z0-9_.]*$' OR length(u.m) > @PGR_NAME_MAX_LEN@ LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid metric name "%s"', coalesce(bad, 'NULL')),
            DETAIL = 'A metric name is lower-case letters, digits, "_" and ".", starting with a letter.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(metric_values) AS u(v) WHERE u.v IS NULL OR u.v IN ('NaN', 'Infinity', '-Infinity')) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'metric values must be finite numbers';
    END IF;
    IF tenant_ids IS NOT NULL THEN
        SELECT u.t INTO bad FROM unnest(tenant_ids) AS u(t)
         WHERE u.t IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rollout.tenant x WHERE x.tenant_id = u.t) LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('tenant "%s" does not exist', bad);
        END IF;
    END IF;
    INSERT INTO rollout.metric_sample (rollout_id, stage_no, tenant_id, metric, value, reported_by)
    SELECT r.rollout_id, k, u.t, u.m, u.v, rollout._actor()
      FROM unnest(coalesce(tenant_ids, array_fill(NULL::text, ARRAY[cardinality(metrics)])), metrics, metric_values)
           AS u(t, m, v);
    GET DIAGNOSTICS n = ROW_COUNT;
    -- New evidence: let the next tick evaluate triggers and criteria.
    IF r.status = 'running' AND k = r.current_stage THEN
        UPDATE rollout.rollout x SET next_due_at = least(x.next_due_at, now())
         WHERE x.rollout_id = r.rollout_id AND x.next_due_at IS DISTINCT FROM least(x.next_due_at, now());
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION rollout.report_metrics(text, text[], text[], double precision[], text) IS
    'report a batch of metric samples (tenant, metric, value) for the current stage, a named stage, or the pre-rollout baseline (stage => ''baseline'')';

CREATE FUNCTION rollout.report_metrics(rollout_id text, samples jsonb, stage text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text[];
    m text[];
    v double precision[];
BEGIN
    IF samples IS NULL OR jsonb_typeof(samples) <> 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'metric samples must be a JSON array of {"tenant", "metric", "value"} objects';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(samples) e
                WHERE jsonb_typeof(e) <> 'object' OR jsonb_typeof(e -> 'metric') IS DISTINCT FROM 'string'
                   OR jsonb_typeof(e -> 'value') IS DISTINCT FROM 'number'
                   OR (e ? 'tenant' AND jsonb_typeof(e -> 'tenant') NOT IN ('string', 'null'))) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'metric samples must be a JSON array of {"tenant", "metric", "value"} objects',
            DETAIL = 'Each element needs "metric" (a string) and "value" (a number); "tenant" is optional.';
    END IF;
    SELECT array_agg(e ->> 'tenant' ORDER BY o), array_agg(e ->> 'metric' ORDER BY o),
           array_agg((e ->> 'value')::double precision ORDER BY o)
      INTO t, m, v
      FROM jsonb_array_elements(samples) WITH ORDINALITY AS x(e, o);
    RETURN rollout.report_metrics(rollout_id, coalesce(t, '{}'), coalesce(m, '{}'), coalesce(v, '{}'), stage);
END
$$;
COMMENT ON FUNCTION rollout.report_metrics(text, jsonb, text) IS
    'report metric samples as a JSON array [{"tenant": ..., "metric": ..., "value": ...}, ...]';

CREATE FUNCTION rollout.evaluate_stage(rollout_id text, stage_no integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    s rollout.rollout_stage;
BEGIN
    SELECT * INTO s FROM rollout.rollout_stage x WHERE x.rollout_id = evaluate_stage.rollout_id AND x.stage_no = evaluate_stage.stage_no;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('stage %s of rollout "%s" does not exist', stage_no, rollout_id);
    END IF;
    RETURN rollout._evaluate_stage_row(s);
END
$$;
COMMENT ON FUNCTION rollout.evaluate_stage(text, integer) IS
    'evaluate a stage''s success criteria against its samples and the baseline: verdict pass, fail, no_data or inconclusive, with each check';

-- The evaluation of a stage's row as read (tick() has just read it).
CREATE FUNCTION rollout._evaluate_stage_row(s rollout.rollout_stage)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    checks jsonb := '[]';
    verdict text := 'pass';
    val double precision;
    bound numeric;
    name text;
    gate text;
    samples bigint;
    names text[] := '{}';
    bounds numeric[] := '{}';
BEGIN
    SELECT count(*) INTO samples FROM rollout.metric_sample m
     WHERE m.rollout_id = s.rollout_id AND m.stage_no = s.stage_no AND m.sampled_at >= s.started_at;
    gate := rollout._stage_gate(s);
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
    -- the criteria in order: new_failures, failure_rate_increase, then the
    -- metric bounds (a query only when there are some: a tick evaluates
    -- every due stage)
    IF s.max_new_failures IS NOT NULL THEN
        names := names || 'new_failures'::text;
        bounds := bounds || s.max_new_failures;
    END IF;
    IF s.max_failure_rate_increase IS NOT NULL THEN
        names := names || 'failure_rate_increase'::text;
        bounds := bounds || s.max_failure_rate_increase;
    END IF;
    IF s.metric_bounds <> '{}' THEN
        SELECT names || array_agg(e.key ORDER BY e.n), bounds || array_agg((e.value #>> '{}')::numeric ORDER BY e.n)
          INTO names, bounds
          FROM jsonb_each(s.metric_bounds) WITH ORDINALITY e(key, value, n);
    END IF;
    FOR i IN 1 .. cardinality(names) LOOP
        name := names[i];
        bound := bounds[i];
        val := rollout.stage_metric(s.rollout_id, s.stage_no, name);
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
COMMENT ON FUNCTION rollout._evaluate_stage_row(rollout.rollout_stage) IS
    'internal: rollout.evaluate_stage on the stage''s row';

-- The first breached rollback trigger of the current stage, or NULL: the
-- triggers in metric order, each metric as stage_metric computes it, the
-- first above its threshold as {"metric", "threshold", "value"}.  In C
-- (src/metrics.c): tick() calls it for every due rollout.
CREATE FUNCTION rollout.breached_trigger(rollout_id text)
RETURNS jsonb
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'pgr_breached_trigger';
COMMENT ON FUNCTION rollout.breached_trigger(text) IS
    'the first rollback trigger whose metric, over the current stage, is above its threshold; NULL when none is';

-- Privileges of the objects above.
REVOKE ALL ON FUNCTION
    rollout._stage_metric(text, integer, text),
    rollout.stage_metric(text, integer, text),
    rollout.report_metrics(text, text[], text[], double precision[], text),
    rollout.report_metrics(text, jsonb, text),
    rollout.evaluate_stage(text, integer),
    rollout._evaluate_stage_row(rollout.rollout_stage),
    rollout.breached_trigger(text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    rollout.stage_metric(text, integer, text),
    rollout.evaluate_stage(text, integer),
    rollout.breached_trigger(text)
TO rollout_viewer;
GRANT EXECUTE ON FUNCTION
    rollout.report_metrics(text, text[], text[], double precision[], text),
    rollout.report_metrics(text, jsonb, text)
TO rollout_operator;
-- Internal helpers that stage_metric() calls with the caller's rights.
GRANT EXECUTE ON FUNCTION rollout._stage_metric(text, integer, text) TO rollout_viewer;
GRANT EXECUTE ON FUNCTION rollout._evaluate_stage_row(rollout.rollout_stage) TO rollout_viewer;
