/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  rollout.stage_metric() and rollout._stage_metric() in C.
 *
 * A metric of a stage is the mean (metrics named *_rate or *_ratio) or the
 * sum of its samples of the stage's latest run (samples taken since the
 * stage started; all of them for the baseline, stage 0), NULL without
 * samples; failure_rate_increase is the stage's mean failure_rate minus the
 * baseline's (src/sql/75_tick/2_metrics.sql has the definitions' comments).
 * tick() asks for every due rollout: its rollback triggers
 * (rollout.breached_trigger, also here) and its success criteria
 * (rollout._evaluate_stage_row).  As PL/pgSQL each metric was two function
 * calls, each setting and restoring search_path, around one query planned
 * inside a RETURN (SELECT ...); here it is one query with a plan kept for
 * the session (one for the mean, one for the sum).  breached_trigger was
 * one query sorting the triggers with a metric computed per row through
 * those calls; here it reads the triggers in order and computes their
 * metrics with the kept plans.
 *
 * None of the functions is SECURITY DEFINER: the query runs as the caller, with
 * the caller's snapshot (the functions are STABLE), and search_path pinned
 * for its duration.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "pg_rollout.h"

/* the kept plans: [0] the sum, [1] the mean */
static SPIPlanPtr metric_plans[2] = {NULL, NULL};

#define METRIC_SQL(agg) \
	"SELECT " agg "(m.value) FROM rollout.metric_sample m " \
	"WHERE m.rollout_id OPERATOR(pg_catalog.=) $1 AND m.stage_no OPERATOR(pg_catalog.=) $2 " \
	"  AND m.metric OPERATOR(pg_catalog.=) $3 " \
	"  AND ($2 OPERATOR(pg_catalog.=) 0 " \
	"       OR m.sampled_at OPERATOR(pg_catalog.>=) (SELECT s.started_at FROM rollout.rollout_stage s " \
	"                                                 WHERE s.rollout_id OPERATOR(pg_catalog.=) $1 " \
	"                                                   AND s.stage_no OPERATOR(pg_catalog.=) $2))"

/* Does the metric's name end in _rate or _ratio (the regex '_(rate|ratio)$')? */
static bool
metric_is_mean(text *metric)
{
	const char *s = VARDATA_ANY(metric);
	int			len = VARSIZE_ANY_EXHDR(metric);

	return (len >= 5 && memcmp(s + len - 5, "_rate", 5) == 0) ||
		(len >= 6 && memcmp(s + len - 6, "_ratio", 6) == 0);
}

/*
 * The metric over the samples of one stage (inside SPI); false when NULL.
 * A NULL argument matches no sample.
 */
static bool
metric_value(Datum rollout_id, bool rollout_null, Datum stage_no, bool stage_null,
			 Datum metric, bool metric_null, float8 *out)
{
	Oid			types[3] = {TEXTOID, INT4OID, TEXTOID};
	Datum		values[3];
	char		nulls[3];
	int			which = (!metric_null && metric_is_mean(DatumGetTextPP(metric))) ? 1 : 0;
	SPIPlanPtr	plan;
	bool		isnull;
	Datum		d;
	int			rc;

	values[0] = rollout_id;
	values[1] = stage_no;
	values[2] = metric;
	nulls[0] = rollout_null ? 'n' : ' ';
	nulls[1] = stage_null ? 'n' : ' ';
	nulls[2] = metric_null ? 'n' : ' ';
	plan = pgr_kept_plan(&metric_plans[which],
						 which == 1 ? METRIC_SQL("pg_catalog.avg") : METRIC_SQL("pg_catalog.sum"),
						 3, types);
	rc = SPI_execute_plan(plan, values, nulls, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return false;
	*out = DatumGetFloat8(d);
	return true;
}

/*
 * rollout.stage_metric's value (inside SPI); false when NULL.
 * failure_rate_increase: the stage's failure_rate minus the baseline's
 * (float8 subtraction, as SQL's -); any other metric as _stage_metric.
 */
static bool
derived_metric_value(Datum rollout_id, bool rollout_null, Datum stage_no, bool stage_null,
					 Datum metric, bool metric_null, float8 *out)
{
	bool		increase = false;
	Datum		rate;
	float8		base;
	bool		found;

	if (!metric_null)
	{
		text	   *m = DatumGetTextPP(metric);

		increase = VARSIZE_ANY_EXHDR(m) == strlen("failure_rate_increase") &&
			memcmp(VARDATA_ANY(m), "failure_rate_increase", VARSIZE_ANY_EXHDR(m)) == 0;
	}
	if (!increase)
		return metric_value(rollout_id, rollout_null, stage_no, stage_null, metric, metric_null, out);

	/* both sides are read, as SQL evaluates both operands */
	rate = CStringGetTextDatum("failure_rate");
	found = metric_value(rollout_id, rollout_null, stage_no, stage_null, rate, false, out);
	if (!metric_value(rollout_id, rollout_null, Int32GetDatum(0), false, rate, false, &base))
		return false;
	if (found)
		*out = DatumGetFloat8(DirectFunctionCall2(float8mi, Float8GetDatum(*out), Float8GetDatum(base)));
	return found;
}

typedef bool (*MetricValueFn) (Datum rollout_id, bool rollout_null, Datum stage_no, bool stage_null,
							   Datum metric, bool metric_null, float8 *out);

/* A metric function's call: its three arguments, search_path pinned, inside SPI. */
static Datum
metric_call(FunctionCallInfo fcinfo, MetricValueFn fn)
{
	int			pathlevel;
	float8		v;
	bool		found;

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	found = fn(PG_GETARG_DATUM(0), PG_ARGISNULL(0), PG_GETARG_DATUM(1), PG_ARGISNULL(1),
			   PG_GETARG_DATUM(2), PG_ARGISNULL(2), &v);
	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(v);
}

PG_FUNCTION_INFO_V1(pgr_stage_metric_raw);

/*
 * rollout._stage_metric(rollout_id text, stage_no integer, metric text)
 *	 RETURNS double precision
 */
Datum
pgr_stage_metric_raw(PG_FUNCTION_ARGS)
{
	return metric_call(fcinfo, metric_value);
}

PG_FUNCTION_INFO_V1(pgr_stage_metric);

/*
 * rollout.stage_metric(rollout_id text, stage_no integer, metric text)
 *	 RETURNS double precision
 */
Datum
pgr_stage_metric(PG_FUNCTION_ARGS)
{
	return metric_call(fcinfo, derived_metric_value);
}

static SPIPlanPtr trigger_plan = NULL;
static SPIPlanPtr breach_plan = NULL;

PG_FUNCTION_INFO_V1(pgr_breached_trigger);

/*
 * rollout.breached_trigger(rollout_id text) RETURNS jsonb
 *
 * The rollout's rollback triggers in metric order (the column's collation,
 * as the SQL it replaces sorted them), each metric of the current stage as
 * stage_metric computes it, compared as SQL compares double precision with
 * numeric (the threshold cast to double precision); the first breached one
 * as jsonb_build_object('metric', ..., 'threshold', ..., 'value', ...).
 */
Datum
pgr_breached_trigger(PG_FUNCTION_ARGS)
{
	Oid			types[3] = {TEXTOID, NUMERICOID, FLOAT8OID};
	Datum		arg[1];
	char		arg_null[1];
	Datum		result = (Datum) 0;
	bool		breached = false;
	int			pathlevel;
	int			rc;
	SPITupleTable *triggers;
	uint64		ntriggers;

	arg[0] = PG_GETARG_DATUM(0);
	arg_null[0] = PG_ARGISNULL(0) ? 'n' : ' ';

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(pgr_kept_plan(&trigger_plan,
										"SELECT r.current_stage, t.metric, t.threshold "
										"FROM rollout.rollout r "
										"JOIN rollout.rollout_trigger t ON t.rollout_id OPERATOR(pg_catalog.=) r.rollout_id "
										"WHERE r.rollout_id OPERATOR(pg_catalog.=) $1 AND r.current_stage IS NOT NULL "
										"ORDER BY t.metric",
										1, types),
						  arg, arg_null, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	/* the metric queries below replace SPI_tuptable */
	triggers = SPI_tuptable;
	ntriggers = SPI_processed;
	/* every trigger's metric is computed, as the SQL computed them before
	 * sorting (an error in one is an error either way) */
	for (uint64 i = 0; i < ntriggers; i++)
	{
		HeapTuple	tup = triggers->vals[i];
		TupleDesc	td = triggers->tupdesc;
		bool		isnull;
		Datum		stage = SPI_getbinval(tup, td, 1, &isnull);
		Datum		metric = SPI_getbinval(tup, td, 2, &isnull);
		Datum		threshold = SPI_getbinval(tup, td, 3, &isnull);
		float8		v;

		if (!derived_metric_value(arg[0], false, stage, false, metric, false, &v) || breached)
			continue;
		if (float8_cmp_internal(v, DatumGetFloat8(DirectFunctionCall1(numeric_float8, threshold))) > 0)
		{
			Datum		values[3];
			bool		rnull;

			values[0] = metric;
			values[1] = threshold;
			values[2] = Float8GetDatum(v);
			rc = SPI_execute_plan(pgr_kept_plan(&breach_plan,
												"SELECT pg_catalog.jsonb_build_object('metric', $1, 'threshold', $2, 'value', $3)",
												3, types),
								  values, NULL, true, 1);
			if (rc != SPI_OK_SELECT || SPI_processed != 1)
				elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
			result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &rnull);
			result = SPI_datumTransfer(result, false, -1);
			breached = true;
		}
	}
	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	if (!breached)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
