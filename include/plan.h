/*-------------------------------------------------------------------------
 *
 * plan.h
 *	  JSON rollout plans: rollout.create_rollout_from_plan(plan text) and
 *	  the duration syntax plans use.
 *
 * A plan document (seed 000's "Rollout Plan Definition") is parsed with
 * jansson, validated strictly (every problem names the field's path, e.g.
 * stages[1].selection.value), and then created through the SQL API
 * (create_rollout, add_stage or add_canary_stages, add_trigger, set_flag) in
 * the caller's statement.  docs/plan-json.md describes the format.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGR_PLAN_H
#define PGR_PLAN_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "fmgr.h"

typedef enum PgrDurationResult
{
	PGR_DURATION_OK,
	PGR_DURATION_SYNTAX,		/* not a duration */
	PGR_DURATION_VARIABLE,		/* ISO 8601 years or months: no fixed length */
	PGR_DURATION_RANGE			/* a duration, but too long for an interval */
} PgrDurationResult;

/*
 * Parse a plan duration into an interval: a short form of one or more
 * <integer><unit> groups with units w, d, h, m, s in that order ("24h",
 * "1d12h", "45s"), or an ISO-8601 duration of weeks, days, hours, minutes
 * and seconds ("PT24H", "P2D", "P1DT12H", "P1W").  Weeks and days go to the
 * interval's day field, the rest to its time field; months and years
 * (whose length varies) are not accepted.  *result is set only on success.
 */
extern PgrDurationResult pgr_parse_duration(const char *str, Interval *result);

/* rollout.create_rollout_from_plan(plan text) -> rollout.rollout */
extern Datum pgr_create_rollout_from_plan(PG_FUNCTION_ARGS);

#endif							/* PGR_PLAN_H */
