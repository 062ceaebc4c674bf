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
 * (rollout.breached_trigger) and its success criteria
 * (rollout._evaluate_stage_row).  As PL/pgSQL each metric was two function
 * calls, each setting and restoring search_path, around one query planned
 * inside a RETURN (SELECT ...); here it is one query with a plan kept for
 * the session (one for the mean, one for the sum).
 *
 * Neither function is SECURITY DEFINER: the query runs as the caller, with
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

PG_FUNCTION_INFO_V1(pgr_stage_metric_raw);

/*
 * rollout._stage_metric(rollout_id text, stage_no integer, metric text)
 *	 RETURNS double precision
 */
Datum
pgr_stage_metric_raw(PG_FUNCTION_ARGS)
{
	int			pathlevel;
	float8		v;
	bool		found;

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	found = metric_value(PG_GETARG_DATUM(0), PG_ARGISNULL(0), PG_GETARG_DATUM(1), PG_ARGISNULL(1),
						 PG_GETARG_DATUM(2), PG_ARGISNULL(2), &v);
	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(v);
}

PG_FUNCTION_INFO_V1(pgr_stage_metric);

/*
 * rollout.stage_metric(rollout_id text, stage_no integer, metric text)
 *	 RETURNS double precision
 *
 * failure_rate_increase: the stage's failure_rate minus the baseline's
 * (float8 subtraction, as SQL's -); any other metric as _stage_metric.
 */
Datum
pgr_stage_metric(PG_FUNCTION_ARGS)
{
	bool		increase = false;
	int			pathlevel;
	float8		v;
	float8		base;
	bool		found;

	if (!PG_ARGISNULL(2))
	{
		text	   *m = PG_GETARG_TEXT_PP(2);

		increase = VARSIZE_ANY_EXHDR(m) == strlen("failure_rate_increase") &&
			memcmp(VARDATA_ANY(m), "failure_rate_increase", VARSIZE_ANY_EXHDR(m)) == 0;
	}

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!increase)
		found = metric_value(PG_GETARG_DATUM(0), PG_ARGISNULL(0), PG_GETARG_DATUM(1), PG_ARGISNULL(1),
							 PG_GETARG_DATUM(2), PG_ARGISNULL(2), &v);
	else
	{
		Datum		rate = CStringGetTextDatum("failure_rate");

		/* both sides are read, as SQL evaluates both operands */
		found = metric_value(PG_GETARG_DATUM(0), PG_ARGISNULL(0), PG_GETARG_DATUM(1), PG_ARGISNULL(1),
							 rate, false, &v);
		if (metric_value(PG_GETARG_DATUM(0), PG_ARGISNULL(0), Int32GetDatum(0), false, rate, false, &base))
		{
			if (found)
				v = DatumGetFloat8(DirectFunctionCall2(float8mi, Float8GetDatum(v), Float8GetDatum(base)));
		}
		else
			found = false;
	}
	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(v);
}
