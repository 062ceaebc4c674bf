/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  rollout.create_rollout_from_plan(plan text): a rollout from a JSON plan
 *	  document.
 *
 * The document is parsed with jansson and validated completely before
 * anything is created: its shape is strict (unknown fields are errors, to
 * catch typos) and every problem is reported as
 *
 *	   ERROR:  invalid rollout plan at "stages[1].selection.value"
 *	   DETAIL:  Expected a number in (0, 100], got 120.
 *
 * The validated plan is copied into palloc'd memory and every jansson value
 * is released (also on error: jansson allocates with malloc, so the parse
 * tree is freed in a PG_FINALLY block).  The rollout is then created through
 * the SQL API with SPI, in the caller's statement: create_rollout, add_stage
 * for each stage (or add_canary_stages), add_trigger for each rollback
 * trigger, set_flag for a feature flag's default and overrides.  The rules
 * those functions enforce (tenants exist, versions exist and go up, stages
 * never shrink, stage names are unique, ...) are theirs: their errors
 * propagate unchanged, with a context line naming the part of the document
 * that failed.  Because it is one statement, an error leaves nothing behind.
 * Finally the document itself is stored in rollout.rollout.plan.
 *
 * docs/plan-json.md describes the format.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "pg_rollout.h"
#include "plan.h"
#include "pgr_limits.h"
#include "semver.h"

/*
 * jansson's json_object() constructor (unused here) clashes with the SQL
 * function json_object() declared by utils/fmgrprotos.h: hide it.  Its
 * json_typeof macro shadows another declaration harmlessly, as jansson is
 * included last.
 */
#define json_object pgr_jansson_json_object_unused
#include <jansson.h>
#undef json_object

/* Longest excerpt of a string value quoted in an error detail. */
#define QUOTE_MAX_CHARS 40

/* ---- the validated plan, in palloc'd memory ---- */

typedef struct PlanStage
{
	char	   *path;			/* "stages[2]" */
	char	   *name;
	char	   *description;
	const char *method;			/* tenants, percentage or all */
	List	   *tenants;		/* of char *, for method tenants */
	char	   *percent;		/* numeric text, for method percentage */
	char	   *weight_by;
	bool		has_duration;
	Interval	duration;		/* -> min_duration */
	char	   *max_new_failures;	/* numeric text or NULL */
	char	   *max_failure_rate_increase;
	char	   *metric_bounds;	/* JSON object text or NULL */
	int			auto_proceed;	/* -1 absent, else 0 / 1 */
	int			pass_without_metrics;	/* -1 absent, else 0 / 1 */
} PlanStage;

typedef struct PlanTrigger
{
	char	   *path;			/* "rollback.triggers[0]" */
	char	   *metric;
	char	   *threshold;		/* numeric text */
} PlanTrigger;

typedef struct PlanOverride
{
	char	   *path;			/* "config.overrides[0]" */
	char	   *tenant;
	bool		value;
} PlanOverride;

typedef struct RolloutPlan
{
	char	   *rollout_id;
	char	   *policy_set;		/* exactly one of policy_set and component */
	char	   *component;
	char	   *from_version;
	char	   *to_version;
	const char *strategy_given; /* as written: canary_traffic, ... */
	const char *strategy;		/* as the SQL API spells it */
	char	   *description;
	char	   *scope;
	char	   *channel;
	char	   *target_kind;
	int			allow_downgrade;	/* -1 absent */
	bool		has_stage_timeout;
	Interval	stage_timeout;
	bool		has_monitoring_extension;
	Interval	monitoring_extension;
	List	   *stages;			/* of PlanStage *; NIL when generated */
	bool		switch_stage;	/* blue_green without stages: one "switch" stage */
	int			rollback_automatic; /* -1 absent */
	List	   *triggers;		/* of PlanTrigger * */
	/* canary with config: generated stages */
	bool		canary_generate;
	char	   *canary_initial;
	char	   *canary_increment;
	Interval	canary_interval;
	char	   *canary_bounds;	/* JSON object text or NULL */
	/* feature_flag */
	char	   *flag_id;
	int			flag_default;	/* -1 absent */
	List	   *overrides;		/* of PlanOverride * */
} RolloutPlan;

/* ---- field lists (document order) ---- */

static const char *const root_fields[] = {
	"rollout_id", "policy_set", "component", "from_version", "to_version", "strategy",
	"description", "scope", "channel", "target_kind", "allow_downgrade", "stage_timeout",
	"monitoring_extension", "stages", "rollback", "config", "notifications", NULL
};
static const char *const stage_fields[] = {
	"name", "description", "tenants", "selection", "duration", "success_criteria",
	"auto_proceed", "pass_without_metrics", NULL
};
static const char *const selection_fields[] = {"method", "value", "weight_by", "tenants", NULL};
static const char *const rollback_fields[] = {"automatic", "triggers", NULL};
static const char *const trigger_fields[] = {"metric", "threshold", NULL};
static const char *const canary_fields[] = {
	"initial_percentage", "increment", "increment_interval", "max_error_rate", NULL
};
static const char *const flag_fields[] = {"flag_name", "default", "overrides", NULL};
static const char *const override_fields[] = {"tenant", "value", NULL};
static const char *const blue_green_fields[] = {
	"parallel_evaluation", "comparison_period", "switch_threshold", NULL
};

/* ---- text helpers ---- */

/*
 * A UTF-8 string from jansson (always valid UTF-8) in the server encoding,
 * palloc'd.
 */
static char *
from_utf8(const char *s)
{
	char	   *conv = pg_any_to_server(s, strlen(s), PG_UTF8);

	return conv == s ? pstrdup(s) : conv;
}

/*
 * Jansson's error text quotes part of the input and may cut it inside a
 * character: keep the longest valid UTF-8 prefix, in the server encoding.
 */
static char *
error_text_from_utf8(const char *s)
{
	int			len = strlen(s);
	int			ok = 0;

	while (ok < len)
	{
		int			l = pg_utf_mblen((const unsigned char *) s + ok);

		if (ok + l > len || !pg_utf8_islegal((const unsigned char *) s + ok, l))
			break;
		ok += l;
	}
	return from_utf8(pnstrdup(s, ok));
}

/* A child path: "stages[1]" + "selection" -> "stages[1].selection". */
static char *
path_key(const char *path, const char *key)
{
	return path[0] == '\0' ? pstrdup(key) : psprintf("%s.%s", path, key);
}

static char *
path_index(const char *path, size_t i)
{
	return psprintf("%s[%zu]", path, i);
}

/* "a, b and c" */
static char *
field_list(const char *const *fields)
{
	StringInfoData buf;
	int			n = 0;

	while (fields[n] != NULL)
		n++;
	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, i == n - 1 ? " and " : ", ");
		appendStringInfoString(&buf, fields[i]);
	}
	return buf.data;
}

/* A JSON number as exact decimal text: integers as is, reals shortest. */
static char *
number_text(const json_t *v)
{
	if (json_is_integer(v))
		return psprintf("%lld", (long long) json_integer_value(v));
	else
	{
		char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];

		double_to_shortest_decimal_buf(json_real_value(v), buf);
		return pstrdup(buf);
	}
}

/* A value as an error detail shows it: 120, "24 hours", true, an array. */
static char *
describe(const json_t *v)
{
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return pstrdup(json_object_size(v) > 0 ? "an object" : "an empty object");
		case JSON_ARRAY:
			return pstrdup(json_array_size(v) > 0 ? "an array" : "an empty array");
		case JSON_STRING:
			{
				char	   *s = from_utf8(json_string_value(v));
				int			len = strlen(s);
				int			cut = pg_mbcharcliplen(s, len, QUOTE_MAX_CHARS);
				StringInfoData buf;

				initStringInfo(&buf);
				if (cut < len)
					s[cut] = '\0';
				escape_json(&buf, s);
				if (cut < len)
				{
					/* ..." after the excerpt's closing quote is misleading */
					buf.data[--buf.len] = '\0';
					appendStringInfoString(&buf, "...\"");
				}
				return buf.data;
			}
		case JSON_INTEGER:
		case JSON_REAL:
			return number_text(v);
		case JSON_TRUE:
			return pstrdup("true");
		case JSON_FALSE:
			return pstrdup("false");
		case JSON_NULL:
			return pstrdup("null");
	}
	return pstrdup("a value");	/* keep the compiler quiet */
}

/* ---- errors ---- */

static void plan_error_hint(const char *path, const char *hint, const char *fmt,...)
			pg_attribute_printf(3, 4) pg_attribute_noreturn();

/*
 * Report a problem in the document: message naming the path, the problem
 * as a sentence in the detail, optionally a hint.
 */
static void
plan_error_hint(const char *path, const char *hint, const char *fmt,...)
{
	StringInfoData detail;

	initStringInfo(&detail);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&detail, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&detail, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid rollout plan at \"%s\"", path[0] != '\0' ? path : "$"),
			 errdetail_internal("%s", detail.data),
			 hint != NULL ? errhint("%s", hint) : 0));
	pg_unreachable();
}

#define plan_error(path, ...) plan_error_hint((path), NULL, __VA_ARGS__)

/* ---- shape checks ---- */

/* A field's value, or NULL when absent or JSON null (null means absent). */
static json_t *
field(const json_t *obj, const char *key)
{
	json_t	   *v = json_object_get(obj, key);

	return (v == NULL || json_is_null(v)) ? NULL : v;
}

static json_t *
required(const json_t *obj, const char *path, const char *key)
{
	json_t	   *v = field(obj, key);

	if (v == NULL)
		plan_error(path_key(path, key), "Required field \"%s\" is missing.", key);
	return v;
}

static void
expect_object(const json_t *v, const char *path)
{
	if (!json_is_object(v))
		plan_error(path, "Expected an object, got %s.", describe(v));
}

static void
expect_array(const json_t *v, const char *path)
{
	if (!json_is_array(v))
		plan_error(path, "Expected an array, got %s.", describe(v));
}

/* The known field closest to an unknown one, if it is close enough. */
static const char *
near_miss(const char *key, const char *const *fields)
{
	const char *best = NULL;
	int			best_dist = INT_MAX;

	for (int i = 0; fields[i] != NULL; i++)
	{
		int			d = varstr_levenshtein(key, strlen(key), fields[i], strlen(fields[i]),
										   1, 1, 1, true);

		if (d < best_dist)
		{
			best_dist = d;
			best = fields[i];
		}
	}
	return (best != NULL && best_dist <= 2 && best_dist * 3 <= (int) strlen(best)) ? best : NULL;
}

/*
 * Every field of obj must be one of fields; what names the object in the
 * detail ("a stage").  A near miss gets a hint.
 */
static void
check_fields(const json_t *obj, const char *path, const char *const *fields, const char *what)
{
	const char *key;
	json_t	   *value;

	json_object_foreach((json_t *) obj, key, value)
	{
		bool		known = false;
		char	   *skey;
		const char *guess;

		for (int i = 0; fields[i] != NULL && !known; i++)
			known = strcmp(key, fields[i]) == 0;
		if (known)
			continue;
		skey = from_utf8(key);
		guess = near_miss(skey, fields);
		plan_error_hint(path_key(path, skey),
						guess != NULL ? psprintf("Did you mean \"%s\"?", guess) : NULL,
						"Unknown field \"%s\"; the fields of %s are %s.",
						skey, what, field_list(fields));
	}
}

static char *
string_value(const json_t *v, const char *path)
{
	if (!json_is_string(v))
		plan_error(path, "Expected a string, got %s.", describe(v));
	return from_utf8(json_string_value(v));
}

static char *
opt_string(const json_t *obj, const char *path, const char *key)
{
	json_t	   *v = field(obj, key);

	return v == NULL ? NULL : string_value(v, path_key(path, key));
}

static char *
req_string(const json_t *obj, const char *path, const char *key)
{
	return string_value(required(obj, path, key), path_key(path, key));
}

/* -1 when absent, else 0 or 1 */
static int
opt_bool(const json_t *obj, const char *path, const char *key)
{
	json_t	   *v = field(obj, key);

	if (v == NULL)
		return -1;
	if (!json_is_boolean(v))
		plan_error(path_key(path, key), "Expected true or false, got %s.", describe(v));
	return json_is_true(v) ? 1 : 0;
}

static bool
req_bool(const json_t *obj, const char *path, const char *key)
{
	json_t	   *v = required(obj, path, key);

	if (!json_is_boolean(v))
		plan_error(path_key(path, key), "Expected true or false, got %s.", describe(v));
	return json_is_true(v);
}

typedef enum NumberRule
{
	NUM_ANY,
	NUM_NON_NEGATIVE,
	NUM_POSITIVE,
	NUM_PERCENT
} NumberRule;

/* A number obeying rule, as exact decimal text. */
static char *
number_value(const json_t *v, const char *path, NumberRule rule)
{
	double		d = json_is_number(v) ? json_number_value(v) : 0;

	switch (rule)
	{
		case NUM_ANY:
			if (!json_is_number(v))
				plan_error(path, "Expected a number, got %s.", describe(v));
			break;
		case NUM_NON_NEGATIVE:
			if (!json_is_number(v) || d < 0)
				plan_error(path, "Expected a number of at least 0, got %s.", describe(v));
			break;
		case NUM_POSITIVE:
			if (!json_is_number(v) || d <= 0)
				plan_error(path, "Expected a number greater than 0, got %s.", describe(v));
			break;
		case NUM_PERCENT:
			if (!json_is_number(v) || d <= 0 || d > 100)
				plan_error(path, "Expected a number in (0, 100], got %s.", describe(v));
			break;
	}
	return number_text(v);
}

static char *
opt_number(const json_t *obj, const char *path, const char *key, NumberRule rule)
{
	json_t	   *v = field(obj, key);

	return v == NULL ? NULL : number_value(v, path_key(path, key), rule);
}

static char *
req_number(const json_t *obj, const char *path, const char *key, NumberRule rule)
{
	return number_value(required(obj, path, key), path_key(path, key), rule);
}

static void
duration_value(const json_t *v, const char *path, bool positive, Interval *out)
{
	char	   *s;

	if (!json_is_string(v))
		plan_error(path, "Expected a duration such as \"24h\", \"30m\", \"2d\" or \"PT24H\", got %s.",
				   describe(v));
	s = from_utf8(json_string_value(v));
	switch (pgr_parse_duration(s, out))
	{
		case PGR_DURATION_OK:
			break;
		case PGR_DURATION_SYNTAX:
			plan_error_hint(path,
							"A duration is whole numbers of w, d, h, m and s, in that order (\"1d12h\"), "
							"or ISO 8601 (\"P1DT12H\").",
							"Expected a duration such as \"24h\", \"30m\", \"2d\" or \"PT24H\", got %s.",
							describe(v));
		case PGR_DURATION_VARIABLE:
			plan_error(path, "Duration %s counts years or months, whose length varies; use weeks or days.",
					   describe(v));
		case PGR_DURATION_RANGE:
			plan_error(path, "Duration %s is out of range.", describe(v));
	}
	if (positive && out->day == 0 && out->time == 0)
		plan_error(path, "Expected a duration greater than zero, got %s.", describe(v));
}

static bool
opt_duration(const json_t *obj, const char *path, const char *key, bool positive, Interval *out)
{
	json_t	   *v = field(obj, key);

	if (v == NULL)
		return false;
	duration_value(v, path_key(path, key), positive, out);
	return true;
}

static char *
req_version(const json_t *obj, const char *path, const char *key)
{
	char	   *s = req_string(obj, path, key);

	if (semver_parse(s, false) == NULL)
		plan_error_hint(path_key(path, key),
						"A version is MAJOR.MINOR.PATCH, optionally with a leading \"v\", a -prerelease and a +build.",
						"Expected a semantic version such as \"2.0.0\", got %s.",
						describe(json_object_get(obj, key)));
	return s;
}

/* A metric name as the SQL API accepts it: ^[a-z][a-z0-9_.]*$, <= PGR_NAME_MAX_LEN bytes. */
static bool
is_metric_name(const char *s)
{
	if (s[0] < 'a' || s[0] > 'z' || strlen(s) > PGR_NAME_MAX_LEN)
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
			return false;
	return true;
}

/* A non-empty list of tenant ids. */
static List *
tenant_list(const json_t *v, const char *path)
{
	List	   *out = NIL;
	size_t		i;
	json_t	   *t;

	if (!json_is_array(v) || json_array_size(v) == 0)
		plan_error(path, "Expected a non-empty array of tenant ids, got %s.", describe(v));
	json_array_foreach(v, i, t)
	{
		if (!json_is_string(t))
			plan_error(path_index(path, i), "Expected a tenant id (a string), got %s.", describe(t));
		out = lappend(out, from_utf8(json_string_value(t)));
	}
	return out;
}

/* ---- the document ---- */

static void
parse_selection(const json_t *sel, const char *path, PlanStage *s)
{
	char	   *method;

	expect_object(sel, path);
	check_fields(sel, path, selection_fields, "a selection");
	method = req_string(sel, path, "method");
	if (strcmp(method, "percentage") == 0)
	{
		s->method = "percentage";
		s->percent = req_number(sel, path, "value", NUM_PERCENT);
		s->weight_by = opt_string(sel, path, "weight_by");
		if (field(sel, "tenants") != NULL)
			plan_error(path_key(path, "tenants"),
					   "Only the tenants method lists tenants; this selection is by percentage.");
	}
	else if (strcmp(method, "all") == 0)
	{
		s->method = "all";
		if (field(sel, "value") != NULL)
			plan_error(path_key(path, "value"), "The all method takes no value.");
		if (field(sel, "weight_by") != NULL)
			plan_error(path_key(path, "weight_by"), "Only the percentage method is weighted.");
		if (field(sel, "tenants") != NULL)
			plan_error(path_key(path, "tenants"),
					   "Only the tenants method lists tenants; this selection is all tenants.");
	}
	else if (strcmp(method, "tenants") == 0)
	{
		s->method = "tenants";
		if (field(sel, "value") != NULL)
			plan_error(path_key(path, "value"),
					   "The tenants method takes no value; it lists \"tenants\".");
		if (field(sel, "weight_by") != NULL)
			plan_error(path_key(path, "weight_by"), "Only the percentage method is weighted.");
		s->tenants = tenant_list(required(sel, path, "tenants"), path_key(path, "tenants"));
	}
	else
		plan_error(path_key(path, "method"),
				   "Expected \"percentage\", \"all\" or \"tenants\", got %s.",
				   describe(json_object_get(sel, "method")));
}

static void
parse_criteria(const json_t *crit, const char *path, PlanStage *s)
{
	const char *key;
	json_t	   *value;
	StringInfoData bounds;
	int			nbounds = 0;

	expect_object(crit, path);
	initStringInfo(&bounds);
	appendStringInfoChar(&bounds, '{');
	json_object_foreach((json_t *) crit, key, value)
	{
		char	   *skey = from_utf8(key);
		char	   *kpath = path_key(path, skey);

		if (json_is_null(value))
			continue;
		if (strcmp(key, "max_new_failures") == 0)
			s->max_new_failures = number_value(value, kpath, NUM_NON_NEGATIVE);
		else if (strcmp(key, "max_failure_rate_increase") == 0)
			s->max_failure_rate_increase = number_value(value, kpath, NUM_ANY);
		else if (strncmp(key, "max_", 4) == 0 && is_metric_name(key + 4))
		{
			char	   *n = number_value(value, kpath, NUM_ANY);

			if (nbounds++ > 0)
				appendStringInfoString(&bounds, ", ");
			escape_json(&bounds, key + 4);
			appendStringInfo(&bounds, ": %s", n);
		}
		else if (strncmp(key, "max_", 4) == 0)
			plan_error(kpath,
					   "\"%s\" is not a metric name: a metric name is lower-case letters, digits, \"_\" and \".\", "
					   "starting with a letter.", skey + 4);
		else
			plan_error(kpath,
					   "Unknown criterion \"%s\"; the criteria are max_new_failures, "
					   "max_failure_rate_increase and max_<metric> (an upper bound on any metric).",
					   skey);
	}
	appendStringInfoChar(&bounds, '}');
	if (nbounds > 0)
		s->metric_bounds = bounds.data;
}

static PlanStage *
parse_stage(const json_t *st, const char *path)
{
	PlanStage  *s = palloc0(sizeof(PlanStage));
	json_t	   *tenants;
	json_t	   *selection;
	json_t	   *crit;

	s->path = pstrdup(path);
	expect_object(st, path);
	check_fields(st, path, stage_fields, "a stage");
	s->name = req_string(st, path, "name");
	s->description = opt_string(st, path, "description");
	tenants = field(st, "tenants");
	selection = field(st, "selection");
	if (tenants != NULL && selection != NULL)
		plan_error(path_key(path, "selection"),
				   "A stage selects by \"tenants\" or by \"selection\", not both.");
	if (tenants != NULL)
	{
		s->method = "tenants";
		s->tenants = tenant_list(tenants, path_key(path, "tenants"));
	}
	else if (selection != NULL)
		parse_selection(selection, path_key(path, "selection"), s);
	else
		plan_error_hint(path_key(path, "selection"),
						"List the stage's \"tenants\", or give a \"selection\" with a method (percentage, all or tenants).",
						"Required field \"selection\" (or \"tenants\") is missing.");
	s->has_duration = opt_duration(st, path, "duration", false, &s->duration);
	crit = field(st, "success_criteria");
	if (crit != NULL)
		parse_criteria(crit, path_key(path, "success_criteria"), s);
	s->auto_proceed = opt_bool(st, path, "auto_proceed");
	s->pass_without_metrics = opt_bool(st, path, "pass_without_metrics");
	if (s->pass_without_metrics >= 0)
		pgr_require_schema("0.2.0", "\"pass_without_metrics\" in a rollout plan");
	return s;
}

static void
parse_stages(const json_t *root, RolloutPlan *plan)
{
	json_t	   *stages = field(root, "stages");
	size_t		i;
	json_t	   *st;

	expect_array(stages, "stages");
	if (json_array_size(stages) == 0)
		plan_error("stages", "Expected a non-empty array of stages, got an empty array.");
	json_array_foreach(stages, i, st)
		plan->stages = lappend(plan->stages, parse_stage(st, path_index("stages", i)));
}

static void
parse_rollback(const json_t *rb, RolloutPlan *plan)
{
	json_t	   *triggers;

	expect_object(rb, "rollback");
	check_fields(rb, "rollback", rollback_fields, "rollback");
	plan->rollback_automatic = opt_bool(rb, "rollback", "automatic");
	triggers = field(rb, "triggers");
	if (triggers != NULL)
	{
		size_t		i;
		json_t	   *t;

		expect_array(triggers, "rollback.triggers");
		json_array_foreach(triggers, i, t)
		{
			PlanTrigger *tr = palloc0(sizeof(PlanTrigger));
			ListCell   *lc;

			tr->path = path_index("rollback.triggers", i);
			expect_object(t, tr->path);
			check_fields(t, tr->path, trigger_fields, "a trigger");
			tr->metric = req_string(t, tr->path, "metric");
			tr->threshold = req_number(t, tr->path, "threshold", NUM_ANY);
			foreach(lc, plan->triggers)
			{
				PlanTrigger *prev = lfirst(lc);

				if (strcmp(prev->metric, tr->metric) == 0)
					plan_error(path_key(tr->path, "metric"),
							   "Metric \"%s\" already has a trigger at %s.", tr->metric, prev->path);
			}
			plan->triggers = lappend(plan->triggers, tr);
		}
	}
}

static void
parse_canary_config(const json_t *cfg, RolloutPlan *plan)
{
	char	   *max_error_rate;

	check_fields(cfg, "config", canary_fields, psprintf("the config of a %s plan", plan->strategy_given));
	plan->canary_generate = true;
	plan->canary_initial = req_number(cfg, "config", "initial_percentage", NUM_PERCENT);
	plan->canary_increment = req_number(cfg, "config", "increment", NUM_POSITIVE);
	duration_value(required(cfg, "config", "increment_interval"), "config.increment_interval", false,
				   &plan->canary_interval);
	max_error_rate = opt_number(cfg, "config", "max_error_rate", NUM_ANY);
	if (max_error_rate != NULL)
		plan->canary_bounds = psprintf("{\"error_rate\": %s}", max_error_rate);
}

static void
parse_flag_config(const json_t *cfg, RolloutPlan *plan)
{
	json_t	   *overrides;

	check_fields(cfg, "config", flag_fields, "the config of a feature_flag plan");
	plan->flag_id = req_string(cfg, "config", "flag_name");
	plan->flag_default = opt_bool(cfg, "config", "default");
	overrides = field(cfg, "overrides");
	if (overrides != NULL)
	{
		size_t		i;
		json_t	   *o;

		expect_array(overrides, "config.overrides");
		json_array_foreach(overrides, i, o)
		{
			PlanOverride *ov = palloc0(sizeof(PlanOverride));
			ListCell   *lc;

			ov->path = path_index("config.overrides", i);
			expect_object(o, ov->path);
			check_fields(o, ov->path, override_fields, "an override");
			ov->tenant = req_string(o, ov->path, "tenant");
			ov->value = req_bool(o, ov->path, "value");
			foreach(lc, plan->overrides)
			{
				PlanOverride *prev = lfirst(lc);

				if (strcmp(prev->tenant, ov->tenant) == 0)
					plan_error(path_key(ov->path, "tenant"),
							   "Tenant \"%s\" already has an override at %s.", ov->tenant, prev->path);
			}
			plan->overrides = lappend(plan->overrides, ov);
		}
	}
}

static void
parse_blue_green_config(const json_t *cfg)
{
	json_t	   *threshold;
	Interval	period;

	check_fields(cfg, "config", blue_green_fields, "the config of a blue_green plan");
	(void) opt_bool(cfg, "config", "parallel_evaluation");
	(void) opt_duration(cfg, "config", "comparison_period", false, &period);
	threshold = field(cfg, "switch_threshold");
	if (threshold != NULL)
	{
		const char *key;
		json_t	   *value;

		expect_object(threshold, "config.switch_threshold");
		json_object_foreach(threshold, key, value)
		{
			if (!json_is_null(value))
				(void) number_value(value, path_key("config.switch_threshold", from_utf8(key)), NUM_ANY);
		}
	}
}

/* Validate the whole document into plan (palloc'd; nothing of root kept). */
static void
parse_plan(const json_t *root, RolloutPlan *plan)
{
	json_t	   *strategy;
	json_t	   *config;
	json_t	   *rollback;
	bool		has_stages;

	memset(plan, 0, sizeof(RolloutPlan));
	plan->allow_downgrade = -1;
	plan->rollback_automatic = -1;
	plan->flag_default = -1;

	expect_object(root, "");
	check_fields(root, "", root_fields, "a rollout plan");

	plan->rollout_id = req_string(root, "", "rollout_id");
	plan->policy_set = opt_string(root, "", "policy_set");
	plan->component = opt_string(root, "", "component");
	if (plan->policy_set != NULL && plan->component != NULL)
		plan_error("component",
				   "A plan names its component by \"policy_set\" or by \"component\", not both.");
	if (plan->policy_set == NULL && plan->component == NULL)
		plan_error_hint("policy_set",
						"\"policy_set\": \"production\" names component \"policy:production\"; "
						"\"component\" names any component by its id.",
						"Required field \"policy_set\" (or \"component\") is missing.");
	plan->from_version = req_version(root, "", "from_version");
	plan->to_version = req_version(root, "", "to_version");

	strategy = field(root, "strategy");
	plan->strategy_given = "staged";
	if (strategy != NULL)
	{
		static const char *const names[][2] = {
			{"staged", "staged"}, {"canary_traffic", "canary"}, {"canary", "canary"},
			{"blue_green", "blue_green"}, {"feature_flag", "feature_flag"}
		};

		if (json_is_string(strategy))
			for (int i = 0; i < lengthof(names); i++)
				if (strcmp(json_string_value(strategy), names[i][0]) == 0)
				{
					plan->strategy_given = names[i][0];
					plan->strategy = names[i][1];
				}
		if (plan->strategy == NULL)
			plan_error("strategy",
					   "Expected \"staged\", \"canary_traffic\", \"canary\", \"blue_green\" or \"feature_flag\", got %s.",
					   describe(strategy));
	}
	else
		plan->strategy = "staged";

	plan->description = opt_string(root, "", "description");
	plan->scope = opt_string(root, "", "scope");
	plan->channel = opt_string(root, "", "channel");
	plan->target_kind = opt_string(root, "", "target_kind");
	plan->allow_downgrade = opt_bool(root, "", "allow_downgrade");
	plan->has_stage_timeout = opt_duration(root, "", "stage_timeout", false, &plan->stage_timeout);
	plan->has_monitoring_extension = opt_duration(root, "", "monitoring_extension", true,
												  &plan->monitoring_extension);

	/* stages, and the config that goes with the strategy */
	has_stages = field(root, "stages") != NULL;
	config = field(root, "config");
	if (config != NULL)
	{
		if (strcmp(plan->strategy, "staged") == 0)
			plan_error("config",
					   "A staged plan takes no config; config belongs to canary_traffic, canary, "
					   "blue_green and feature_flag plans.");
		expect_object(config, "config");
	}
	if (strcmp(plan->strategy, "canary") == 0 && config != NULL)
	{
		if (has_stages)
			plan_error_hint("stages",
							"Give either \"stages\" or a \"config\" to generate them from, not both.",
							"A %s plan with a config generates its stages.", plan->strategy_given);
		parse_canary_config(config, plan);
	}
	else if (has_stages)
		parse_stages(root, plan);
	else if (strcmp(plan->strategy, "blue_green") == 0)
		plan->switch_stage = true;
	else
		plan_error_hint("stages",
						strcmp(plan->strategy, "canary") == 0
						? psprintf("A %s plan lists its stages or generates them from a \"config\" "
								   "with initial_percentage, increment and increment_interval.",
								   plan->strategy_given)
						: NULL,
						"Required field \"stages\" is missing.");
	if (strcmp(plan->strategy, "feature_flag") == 0)
	{
		if (config == NULL)
			plan_error_hint("config",
							"A feature_flag plan names its flag: \"config\": {\"flag_name\": \"...\"}.",
							"Required field \"config\" is missing.");
		parse_flag_config(config, plan);
	}
	else if (strcmp(plan->strategy, "blue_green") == 0 && config != NULL)
		parse_blue_green_config(config);

	rollback = field(root, "rollback");
	if (rollback != NULL)
		parse_rollback(rollback, plan);

	/* "notifications" is kept in the stored plan only: any value */
}

/* ---- durations ---- */

PgrDurationResult
pgr_parse_duration(const char *str, Interval *result)
{
	/* units by rank: weeks, days, hours, minutes, seconds */
	static const int64 usecs[] = {0, 0, USECS_PER_HOUR, USECS_PER_MINUTE, USECS_PER_SEC};
	int64		amount[5] = {0, 0, 0, 0, 0};
	const char *p = str;
	bool		iso = false;
	bool		in_time = false;
	int			groups = 0;
	int			time_groups = 0;
	int			last = -1;
	int64		days;
	int64		time = 0;

	if (*p == 'P')
	{
		iso = true;
		p++;
	}
	while (*p != '\0')
	{
		int64		n = 0;
		int			rank;

		if (iso && *p == 'T')
		{
			if (in_time)
				return PGR_DURATION_SYNTAX;
			in_time = true;
			p++;
			continue;
		}
		if (*p < '0' || *p > '9')
			return PGR_DURATION_SYNTAX;
		while (*p >= '0' && *p <= '9')
		{
			if (n > PG_INT32_MAX)
			{
				/* keep scanning: a syntax error beats an overflow */
				while (*p >= '0' && *p <= '9')
					p++;
				n = -1;
				break;
			}
			n = n * 10 + (*p++ - '0');
		}
		if (iso && !in_time && (*p == 'Y' || *p == 'M'))
			return PGR_DURATION_VARIABLE;
		if (iso)
			rank = in_time ? (*p == 'H' ? 2 : *p == 'M' ? 3 : *p == 'S' ? 4 : -1)
				: (*p == 'W' ? 0 : *p == 'D' ? 1 : -1);
		else
			rank = *p == 'w' ? 0 : *p == 'd' ? 1 : *p == 'h' ? 2 : *p == 'm' ? 3 : *p == 's' ? 4 : -1;
		if (rank < 0 || rank <= last)
			return PGR_DURATION_SYNTAX;
		p++;
		last = rank;
		amount[rank] = n;
		groups++;
		if (in_time)
			time_groups++;
	}
	if (groups == 0 || (in_time && time_groups == 0))
		return PGR_DURATION_SYNTAX;

	for (int i = 0; i < 5; i++)
		if (amount[i] < 0)
			return PGR_DURATION_RANGE;
	days = amount[0] * 7 + amount[1];
	if (days > PG_INT32_MAX)
		return PGR_DURATION_RANGE;
	for (int i = 2; i < 5; i++)
	{
		int64		part;

		if (pg_mul_s64_overflow(amount[i], usecs[i], &part) ||
			pg_add_s64_overflow(time, part, &time))
			return PGR_DURATION_RANGE;
	}
	result->month = 0;
	result->day = (int32) days;
	result->time = time;
	return PGR_DURATION_OK;
}

/* ---- creating the rollout through the SQL API ---- */

#define MAX_CALL_ARGS 16

/* One call of an SQL API function with named arguments. */
typedef struct SqlCall
{
	StringInfoData sql;
	int			nargs;
	Oid			types[MAX_CALL_ARGS];
	Datum		values[MAX_CALL_ARGS];
} SqlCall;

static void
call_start(SqlCall *c, const char *function)
{
	initStringInfo(&c->sql);
	appendStringInfo(&c->sql, "SELECT %s(", function);
	c->nargs = 0;
}

/* Add "name => $n" (with an optional cast after the parameter). */
static void
call_arg(SqlCall *c, const char *name, Oid type, Datum value, const char *cast)
{
	Assert(c->nargs < MAX_CALL_ARGS);
	appendStringInfo(&c->sql, "%s%s => $%d%s", c->nargs > 0 ? ", " : "", name, c->nargs + 1,
					 cast != NULL ? cast : "");
	c->types[c->nargs] = type;
	c->values[c->nargs] = value;
	c->nargs++;
}

/* The helpers below skip absent (NULL / -1) values: the function's default applies. */
static void
call_text(SqlCall *c, const char *name, const char *value)
{
	if (value != NULL)
		call_arg(c, name, TEXTOID, CStringGetTextDatum(value), NULL);
}

static void
call_bool(SqlCall *c, const char *name, int value)
{
	if (value >= 0)
		call_arg(c, name, BOOLOID, BoolGetDatum(value != 0), NULL);
}

static void
call_numeric(SqlCall *c, const char *name, const char *value)
{
	if (value != NULL)
		call_arg(c, name, NUMERICOID,
				 DirectFunctionCall3(numeric_in, CStringGetDatum(value),
									 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)),
				 NULL);
}

static void
call_interval(SqlCall *c, const char *name, bool present, const Interval *value)
{
	if (present)
	{
		Interval   *copy = palloc(sizeof(Interval));

		*copy = *value;
		call_arg(c, name, INTERVALOID, IntervalPGetDatum(copy), NULL);
	}
}

static void
call_jsonb(SqlCall *c, const char *name, const char *value)
{
	if (value != NULL)
		call_arg(c, name, JSONBOID, DirectFunctionCall1(jsonb_in, CStringGetDatum(value)), NULL);
}

static void
call_text_array(SqlCall *c, const char *name, List *values)
{
	Datum	   *elems;
	int			n = 0;
	ListCell   *lc;

	if (values == NIL)
		return;
	elems = palloc(sizeof(Datum) * list_length(values));
	foreach(lc, values)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	call_arg(c, name, TEXTARRAYOID,
			 PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT)), NULL);
}

static void
call_exec(SqlCall *c)
{
	int			ret;

	appendStringInfoChar(&c->sql, ')');
	ret = SPI_execute_with_args(c->sql.data, c->nargs, c->types, c->values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
}

/* Context of an error raised by the SQL API: which part of the plan. */
typedef struct PlanErrorContext
{
	const char *where;
} PlanErrorContext;

static void
plan_error_callback(void *arg)
{
	PlanErrorContext *ctx = (PlanErrorContext *) arg;

	if (ctx->where != NULL)
		errcontext("rollout plan, %s", ctx->where);
}

/* policy_set X names component "policy:X" when that exists, else X. */
static char *
resolve_component(const RolloutPlan *plan)
{
	char	   *candidate;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			ret;

	if (plan->component != NULL)
		return plan->component;
	candidate = psprintf("policy:%s", plan->policy_set);
	values[0] = CStringGetTextDatum(candidate);
	ret = SPI_execute_with_args("SELECT 1 FROM rollout.component c "
								" WHERE c.component_id OPERATOR(pg_catalog.=) $1",
								1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	return SPI_processed > 0 ? candidate : plan->policy_set;
}

/*
 * Store the document in rollout.rollout.plan.  The SQL API has no function
 * for it and the roles that may create rollouts have no UPDATE on the
 * table, so this one statement runs as the owner of this function (the
 * extension's owner), like a SECURITY DEFINER function would, while every
 * API call above ran with the caller's privileges.
 */
static void
store_plan(Oid fn_oid, const char *rollout_id, text *doc)
{
	HeapTuple	proctup;
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	int			ret;

	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	if (!HeapTupleIsValid(proctup))
		elog(ERROR, "cache lookup failed for function %u", fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(proctup))->proowner;
	ReleaseSysCache(proctup);

	values[0] = CStringGetTextDatum(rollout_id);
	values[1] = PointerGetDatum(doc);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	ret = SPI_execute_with_args("UPDATE rollout.rollout r SET plan = $2::pg_catalog.jsonb "
								" WHERE r.rollout_id OPERATOR(pg_catalog.=) $1",
								2, argtypes, values, NULL, false, 0);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (ret != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not store the plan of rollout \"%s\"", rollout_id);
}

/* Create the validated plan; returns the rollout row (in the caller's context). */
static Datum
create_from_plan(const RolloutPlan *plan, text *doc, Oid fn_oid)
{
	PlanErrorContext ctx = {NULL};
	ErrorContextCallback callback;
	char	   *component;
	SqlCall		c;
	ListCell   *lc;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	Datum		row;
	int			ret;
	int			pathlevel;

	/*
	 * The calls below name every function, type and operator with its
	 * schema; search_path is pinned too, so that nothing the caller created
	 * is picked up (store_plan runs as the extension's owner).
	 */
	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	callback.callback = plan_error_callback;
	callback.arg = &ctx;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	component = resolve_component(plan);

	ctx.where = psprintf("rollout \"%s\" of component \"%s\"", plan->rollout_id, component);
	call_start(&c, "rollout.create_rollout");
	call_text(&c, "rollout_id", plan->rollout_id);
	call_text(&c, "component_id", component);
	call_arg(&c, "from_version", TEXTOID, CStringGetTextDatum(plan->from_version), "::rollout.semver");
	call_arg(&c, "to_version", TEXTOID, CStringGetTextDatum(plan->to_version), "::rollout.semver");
	call_text(&c, "strategy", plan->strategy);
	call_text(&c, "scope_tenant_id", plan->scope);
	call_text(&c, "channel_id", plan->channel);
	call_text(&c, "target_kind", plan->target_kind);
	call_bool(&c, "allow_downgrade", plan->allow_downgrade);
	call_bool(&c, "rollback_automatic", plan->rollback_automatic);
	call_text(&c, "description", plan->description);
	call_interval(&c, "stage_timeout", plan->has_stage_timeout, &plan->stage_timeout);
	call_interval(&c, "monitoring_extension", plan->has_monitoring_extension,
				  &plan->monitoring_extension);
	call_text(&c, "flag_id", plan->flag_id);
	call_exec(&c);

	foreach(lc, plan->stages)
	{
		PlanStage  *s = lfirst(lc);

		ctx.where = psprintf("%s \"%s\"", s->path, s->name);
		call_start(&c, "rollout.add_stage");
		call_text(&c, "rollout_id", plan->rollout_id);
		call_text(&c, "name", s->name);
		call_text(&c, "method", s->method);
		call_text_array(&c, "tenants", s->tenants);
		call_numeric(&c, "percent", s->percent);
		call_text(&c, "weight_by", s->weight_by);
		call_interval(&c, "min_duration", s->has_duration, &s->duration);
		call_numeric(&c, "max_new_failures", s->max_new_failures);
		call_numeric(&c, "max_failure_rate_increase", s->max_failure_rate_increase);
		call_jsonb(&c, "metric_bounds", s->metric_bounds);
		call_bool(&c, "auto_proceed", s->auto_proceed);
		call_text(&c, "description", s->description);
		call_bool(&c, "pass_without_metrics", s->pass_without_metrics);
		call_exec(&c);
	}
	if (plan->canary_generate)
	{
		ctx.where = "config (generated canary stages)";
		call_start(&c, "rollout.add_canary_stages");
		call_text(&c, "rollout_id", plan->rollout_id);
		call_numeric(&c, "initial_percent", plan->canary_initial);
		call_numeric(&c, "increment", plan->canary_increment);
		call_interval(&c, "increment_interval", true, &plan->canary_interval);
		call_jsonb(&c, "metric_bounds", plan->canary_bounds);
		call_exec(&c);
	}
	if (plan->switch_stage)
	{
		ctx.where = "generated stage \"switch\"";
		call_start(&c, "rollout.add_stage");
		call_text(&c, "rollout_id", plan->rollout_id);
		call_text(&c, "name", "switch");
		call_text(&c, "method", "all");
		call_text(&c, "description", "blue_green: switch every tenant at once");
		call_exec(&c);
	}

	foreach(lc, plan->triggers)
	{
		PlanTrigger *t = lfirst(lc);

		ctx.where = psprintf("%s \"%s\"", t->path, t->metric);
		call_start(&c, "rollout.add_trigger");
		call_text(&c, "rollout_id", plan->rollout_id);
		call_text(&c, "metric", t->metric);
		call_numeric(&c, "threshold", t->threshold);
		call_exec(&c);
	}

	if (plan->flag_default >= 0)
	{
		ctx.where = psprintf("config.default of flag \"%s\"", plan->flag_id);
		call_start(&c, "rollout.set_flag");
		call_text(&c, "flag_id", plan->flag_id);
		/* tenant NULL: the flag's default */
		appendStringInfoString(&c.sql, ", tenant_id => NULL");
		call_bool(&c, "enabled", plan->flag_default);
		call_text(&c, "reason", psprintf("from rollout plan %s", plan->rollout_id));
		call_exec(&c);
	}
	foreach(lc, plan->overrides)
	{
		PlanOverride *o = lfirst(lc);

		ctx.where = psprintf("%s \"%s\"", o->path, o->tenant);
		call_start(&c, "rollout.set_flag");
		call_text(&c, "flag_id", plan->flag_id);
		call_text(&c, "tenant_id", o->tenant);
		call_bool(&c, "enabled", o->value ? 1 : 0);
		call_text(&c, "reason", psprintf("from rollout plan %s", plan->rollout_id));
		call_exec(&c);
	}

	ctx.where = "storing the plan";
	store_plan(fn_oid, plan->rollout_id, doc);

	ctx.where = NULL;
	values[0] = CStringGetTextDatum(plan->rollout_id);
	ret = SPI_execute_with_args("SELECT r FROM rollout.rollout r WHERE r.rollout_id OPERATOR(pg_catalog.=) $1",
								1, argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "rollout \"%s\" vanished after it was created", plan->rollout_id);
	row = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	Assert(!isnull);
	row = SPI_datumTransfer(row, false, -1);

	error_context_stack = callback.previous;
	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	return row;
}

/*
 * Refuse a number that jansson read silently as 0 or as a denormal: it
 * accepts an underflow such as 1e-400, which would be stored as 0.  The
 * text is already known to be valid JSON; numbers are the tokens outside
 * strings that start with '-' or a digit.
 */
static void
check_number_range(const char *s, size_t len)
{
	int			line = 1;
	int			column = 1;
	size_t		i = 0;

	while (i < len)
	{
		char		c = s[i];

		if (c == '"')
		{
			/* skip the string, escapes included */
			for (i++, column++; i < len && s[i] != '"'; i++)
			{
				if (s[i] == '\\' && i + 1 < len)
					i++;
				if (((unsigned char) s[i] & 0xC0) != 0x80)
					column++;
			}
			i++;
			column++;
			continue;
		}
		if (c == '-' || (c >= '0' && c <= '9'))
		{
			size_t		start = i;
			char	   *token;
			double		v;

			while (i < len && strchr("+-0123456789.eE", s[i]) != NULL)
				i++;
			token = pnstrdup(s + start, i - start);
			errno = 0;
			v = strtod(token, NULL);
			if ((errno == ERANGE && fabs(v) < 1.0) || (v != 0.0 && fabs(v) < DBL_MIN))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("invalid rollout plan: number %s is out of range", token),
						 errdetail("Line %d, column %d.", line, column),
						 errhint("A number in a plan must fit a double precision value; write 0 for zero.")));
			pfree(token);
			column += (int) (i - start);
			continue;
		}
		if (c == '\n')
		{
			line++;
			column = 1;
		}
		else if (((unsigned char) c & 0xC0) != 0x80)
			column++;
		i++;
	}
}

PG_FUNCTION_INFO_V1(pgr_create_rollout_from_plan);

/*
 * rollout.create_rollout_from_plan(plan text) -> rollout.rollout
 */
Datum
pgr_create_rollout_from_plan(PG_FUNCTION_ARGS)
{
	text	   *doc;
	char	   *raw;
	int			raw_len;
	char	   *utf8;
	size_t		utf8_len;
	json_t	   *root;
	json_error_t err;
	RolloutPlan		plan;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rollout plan must not be null")));
	doc = PG_GETARG_TEXT_PP(0);
	raw = VARDATA_ANY(doc);
	raw_len = VARSIZE_ANY_EXHDR(doc);

	/* jansson reads UTF-8 */
	utf8 = pg_server_to_any(raw, raw_len, PG_UTF8);
	utf8_len = (utf8 == raw) ? (size_t) raw_len : strlen(utf8);

	root = json_loadb(utf8, utf8_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (root == NULL)
	{
		/* column 0: the end of the text, at the start of a line */
		if (err.line > 0 && err.column > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid rollout plan: %s", error_text_from_utf8(err.text)),
					 errdetail("Line %d, column %d.", err.line, err.column)));
		else if (err.line > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid rollout plan: %s", error_text_from_utf8(err.text)),
					 errdetail("Line %d, at the end of the text.", err.line)));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid rollout plan: %s", error_text_from_utf8(err.text))));
	}

	/* jansson allocates with malloc: free the tree however validation ends */
	PG_TRY();
	{
		check_number_range(utf8, utf8_len);
		parse_plan(root, &plan);
	}
	PG_FINALLY();
	{
		json_decref(root);
	}
	PG_END_TRY();

	PG_RETURN_DATUM(create_from_plan(&plan, doc, fcinfo->flinfo->fn_oid));
}
