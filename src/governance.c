/*-------------------------------------------------------------------------
 *
 * governance.c
 *	  The bulk form of the governance evaluation: every (tenant, component)
 *	  of the tree with its resolved version, governing policy, EOL, grace,
 *	  exemption and status, in one pass over the tree.
 *
 * rollout._evaluate_all(at, policies, component_ids) returns what
 * rollout._evaluate_given() (SQL) returns for every tenant, computed this
 * way:
 *
 *	 1. The rules stay in SQL.  rollout._policy_lookup() gives, for every
 *		policy node (its "anchor") and the global level, each component and
 *		each version: the governing policy and the status by
 *		rollout._version_status() (a few thousand rows).
 *	 2. pgr_resolve_walk() (resolve.c) resolves every component for every
 *		tenant in path order.  Carried down the path: the tenant's anchor
 *		(the deepest policy node on its path, '' for none) and which
 *		components have an exemption on a node of the path.  Each pair's
 *		row is then a hash look-up of (anchor, component) and a comparison
 *		of versions.
 *	 3. The few pairs whose status needs more than the look-up — a tenant
 *		with approved grace extensions on an EOL version, or an exemption on
 *		its path while the version is not compliant — are evaluated
 *		afterwards by rollout._evaluate_given() in one call, so grace
 *		extensions and rollout.exemption_applies() are decided in SQL only.
 *
 * Which pairs go to step 3 is only a filter: a pair kept in step 2 has no
 * exemption on its path (so none can apply) and no grace extension.  The
 * regression test 25_governance_conflicts compares this function with the
 * SQL evaluation of every tenant.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "pg_rollout.h"
#include "pgr_limits.h"
#include "resolve.h"
#include "semver.h"

#define GOV_KEY_LEN 132			/* anchor (< 64) + separator + component (< 64) */
#define GOV_MAX_DEPTH 32
#define GOV_NCOLS 19

/* one (anchor, component, version) of rollout._policy_lookup() */
typedef struct GovVersion
{
	SemVer	   *version;
	Datum		values[GOV_NCOLS];	/* policy columns of the result row */
	bool		nulls[GOV_NCOLS];
	bool		has_eol;
	bool		needs_care;		/* violation not compliant (exemptions matter) */
	int			status_idx;		/* counting: index of the status in GovState.statuses */
} GovVersion;

typedef struct GovEntry
{
	char		key[GOV_KEY_LEN];
	int			n;
	int			cap;
	GovVersion *versions;
} GovEntry;

/*
 * Counting: the pairs of one (organisation, team) per component and status
 * (team "" with team_null for the organisation's own row).
 */
#define GOV_MAX_STATUS 32
#define GOV_MAX_TEXTS 16

typedef struct GovGroup
{
	char		key[GOV_KEY_LEN];
	char	   *org;
	char	   *team;			/* NULL: the organisation itself */
	int64	   *counts;			/* [component * GOV_MAX_STATUS + status] */
} GovGroup;

typedef struct GovNode
{
	char		key[64];
	int			ncomp;
	char	  **components;		/* exemptions on this node */
} GovNode;

typedef struct GovState
{
	ReturnSetInfo *rsinfo;
	MemoryContext cxt;			/* look-ups and deferred pairs */
	HTAB	   *lookup;			/* (anchor, component) -> versions */
	HTAB	   *anchors;		/* policy nodes */
	HTAB	   *exempt_nodes;	/* nodes with exemptions -> components */
	HTAB	   *ext_tenants;	/* tenants with approved grace extensions */
	DateADT		at_date;
	Oid			policies_type;	/* rollout.version_policy[] */
	bool		roster;			/* write the roster's columns (no org_id, team_id) */
	bool		counting;		/* count (organisation, team, component, status) instead */
	HTAB	   *groups;			/* counting: (organisation, team) -> counts */
	int			nstatus;		/* counting: statuses seen; 0 is NULL */
	char	   *statuses[GOV_MAX_STATUS];
	int			not_deployed_idx;
	GovGroup   *last_group;		/* counting: the group of the previous tenant */
	char	  **comp_names;		/* counting: the walk's components */
	/* rows: text datums made once, not per pair */
	Datum	   *comp_text;		/* per component */
	Datum		not_deployed_text;
	int			ntext;
	const char *text_of[GOV_MAX_TEXTS];	/* sources */
	Datum		text_datum[GOV_MAX_TEXTS];
	Oid			semver_type;
	/* carried down the path */
	const char *anchor[GOV_MAX_DEPTH];
	bool	   *candidate[GOV_MAX_DEPTH];	/* [depth][component] */
	int			ncomp;
	GovEntry  **entry_of;		/* per component, for the current anchor */
	const char *entry_anchor;	/* the anchor entry_of was looked up for */
	/* deferred pairs */
	int			ndeferred;
	int			capdeferred;
	Datum	   *d_tenant, *d_component, *d_version, *d_source, *d_source_tenant;
	bool	   *d_source_tenant_null;
} GovState;

#define ROSTER_NCOLS 17

/* result columns (rollout._evaluate) */
enum
{
	C_TENANT, C_ORG, C_TEAM, C_COMPONENT, C_VERSION, C_SOURCE, C_SOURCE_TENANT, C_STATUS, C_VIOLATION,
	C_POLICY_ID, C_POLICY_TENANT, C_ACTION, C_BASELINE, C_EOL, C_FORCED, C_DAYS_LEFT, C_EXEMPTION_ID,
	C_EXEMPT_UNTIL, C_EXEMPT_REASON
};

static HTAB *
gov_hash(const char *name, Size keysize, Size entrysize, MemoryContext cxt)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = cxt;
	return hash_create(name, 256, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

static void
gov_key(char *key, const char *anchor, const char *component)
{
	snprintf(key, GOV_KEY_LEN, "%s\x01%s", anchor, component);
}

static char *
gov_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* A source name as text, made once (the walk's few constant names). */
static Datum
gov_text_once(GovState *st, const char *s)
{
	for (int k = 0; k < st->ntext; k++)
		if (st->text_of[k] == s || strcmp(st->text_of[k], s) == 0)
			return st->text_datum[k];
	if (st->ntext >= GOV_MAX_TEXTS)
		return CStringGetTextDatum(s);	/* in the walker's per-tenant context */
	{
		MemoryContext old = MemoryContextSwitchTo(st->cxt);

		st->text_of[st->ntext] = pstrdup(s);
		st->text_datum[st->ntext] = CStringGetTextDatum(s);
		MemoryContextSwitchTo(old);
	}
	return st->text_datum[st->ntext++];
}

/* Counting: the index of a status (NULL: 0), registered on first sight. */
static int
gov_status_idx(GovState *st, const char *status)
{
	if (status == NULL)
		return 0;
	for (int k = 1; k < st->nstatus; k++)
		if (strcmp(st->statuses[k], status) == 0)
			return k;
	if (st->nstatus >= GOV_MAX_STATUS)
		elog(ERROR, "pg_rollout: more than %d governance statuses", GOV_MAX_STATUS - 1);
	st->statuses[st->nstatus] = MemoryContextStrdup(st->cxt, status);
	return st->nstatus++;
}

/* Counting: the counts of (organisation, team); team NULL for the organisation's own row. */
static GovGroup *
gov_group(GovState *st, const char *org, const char *team)
{
	char		key[GOV_KEY_LEN];
	GovGroup   *g = st->last_group;
	bool		found;

	if (g && strcmp(g->org, org) == 0 &&
		(team == NULL ? g->team == NULL : (g->team != NULL && strcmp(g->team, team) == 0)))
		return g;
	if (strlen(org) > PGR_NAME_MAX_LEN || (team && strlen(team) > PGR_NAME_MAX_LEN))
		elog(ERROR, "pg_rollout: tenant id longer than %d characters", PGR_NAME_MAX_LEN);
	snprintf(key, GOV_KEY_LEN, "%s\x01%s\x01%c", org, team ? team : "", team ? 't' : 'o');
	g = hash_search(st->groups, key, HASH_ENTER, &found);
	if (!found)
	{
		g->org = MemoryContextStrdup(st->cxt, org);
		g->team = team ? MemoryContextStrdup(st->cxt, team) : NULL;
		g->counts = MemoryContextAllocZero(st->cxt, sizeof(int64) * Max(st->ncomp, 1) * GOV_MAX_STATUS);
	}
	st->last_group = g;
	return g;
}

/* Counting: one row of rollout._evaluate's shape (a deferred pair). */
static void
gov_count_row(GovState *st, Datum *values, bool *nulls)
{
	char	   *org;
	char	   *team;
	char	   *component;
	char	   *status;
	int			i;
	GovGroup   *g;

	if (nulls[C_ORG] || nulls[C_COMPONENT])
		elog(ERROR, "pg_rollout: governance row without organisation or component");
	org = TextDatumGetCString(values[C_ORG]);
	team = nulls[C_TEAM] ? NULL : TextDatumGetCString(values[C_TEAM]);
	component = TextDatumGetCString(values[C_COMPONENT]);
	status = nulls[C_STATUS] ? NULL : TextDatumGetCString(values[C_STATUS]);
	for (i = 0; i < st->ncomp; i++)
		if (strcmp(st->comp_names[i], component) == 0)
			break;
	if (i == st->ncomp)
		elog(ERROR, "pg_rollout: governance row of component \"%s\" outside the walk", component);
	g = gov_group(st, org, team);
	g->counts[i * GOV_MAX_STATUS + gov_status_idx(st, status)]++;
}

/* One row of rollout._evaluate's shape into the result (without org_id and team_id for the roster). */
static void
gov_put(GovState *st, Datum *values, bool *nulls)
{
	if (st->counting)
		gov_count_row(st, values, nulls);
	else if (st->roster)
	{
		Datum		v[ROSTER_NCOLS];
		bool		n[ROSTER_NCOLS];
		int			k = 0;

		for (int c = 0; c < GOV_NCOLS; c++)
		{
			if (c == C_ORG || c == C_TEAM)
				continue;
			v[k] = values[c];
			n[k] = nulls[c];
			k++;
		}
		tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc, v, n);
	}
	else
		tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc, values, nulls);
}

/* Step 1: the policy look-up, the policy nodes, exemption nodes, extensions. */
static void
gov_load(GovState *st, Datum at, Datum policies, bool policies_null, Datum component_ids, bool comps_null)
{
	Oid			argtypes[3];
	Datum		values[3] = {at, policies, component_ids};
	char		nulls[3] = {' ', policies_null ? 'n' : ' ', comps_null ? 'n' : ' '};
	MemoryContext old;
	int			ret;

	argtypes[0] = TIMESTAMPTZOID;
	argtypes[1] = st->policies_type;
	argtypes[2] = TEXTARRAYOID;

	st->lookup = gov_hash("pg_rollout governance look-up", GOV_KEY_LEN, sizeof(GovEntry), st->cxt);
	st->anchors = gov_hash("pg_rollout policy nodes", 64, 64, st->cxt);
	st->exempt_nodes = gov_hash("pg_rollout exemption nodes", 64, sizeof(GovNode), st->cxt);
	st->ext_tenants = gov_hash("pg_rollout extension tenants", 64, 64, st->cxt);

	ret = SPI_execute_with_args("SELECT pg_catalog.timezone('UTC', $1)::pg_catalog.date", 1, argtypes, values, nulls, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "pg_rollout: governance date failed");
	{
		bool		isnull;

		st->at_date = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	ret = SPI_execute_with_args(
		"SELECT l.anchor, l.component_id, l.version, l.policy_id, l.policy_tenant_id, l.action, l.baseline, "
		"       l.eol_date, l.violation, l.forced_upgrade_on "
		"  FROM rollout._policy_lookup($1, $2, $3, NULL) l",
		3, argtypes, values, nulls, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "pg_rollout: governance look-up failed");
	old = MemoryContextSwitchTo(st->cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char		key[GOV_KEY_LEN];
		GovEntry   *e;
		GovVersion *v;
		bool		found;
		bool		isnull;
		char	   *anchor = gov_text(tup, desc, 1);
		char	   *component = gov_text(tup, desc, 2);
		Datum		d;
		char	   *violation;

		d = SPI_getbinval(tup, desc, 3, &isnull);
		if (isnull || anchor == NULL || component == NULL)
			continue;
		if (anchor[0] != '\0')
			(void) hash_search(st->anchors, anchor, HASH_ENTER, NULL);
		gov_key(key, anchor, component);
		e = hash_search(st->lookup, key, HASH_ENTER, &found);
		if (!found)
		{
			e->n = 0;
			e->cap = 8;
			e->versions = palloc(sizeof(GovVersion) * e->cap);
		}
		if (e->n == e->cap)
		{
			e->cap *= 2;
			e->versions = repalloc(e->versions, sizeof(GovVersion) * e->cap);
		}
		v = &e->versions[e->n++];
		memset(v, 0, sizeof(GovVersion));
		for (int c = 0; c < GOV_NCOLS; c++)
			v->nulls[c] = true;
		v->version = (SemVer *) PG_DETOAST_DATUM_COPY(d);
		st->semver_type = SPI_gettypeid(desc, 3);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		if (!isnull)
		{
			v->values[C_POLICY_ID] = d;	/* int8 is by value */
			v->nulls[C_POLICY_ID] = false;
		}
		for (int k = 0; k < 2; k++)
		{
			int			col = k == 0 ? 5 : 6;
			int			out = k == 0 ? C_POLICY_TENANT : C_ACTION;
			char	   *s = gov_text(tup, desc, col);

			if (s)
			{
				v->values[out] = CStringGetTextDatum(s);
				v->nulls[out] = false;
			}
		}
		d = SPI_getbinval(tup, desc, 7, &isnull);
		if (!isnull)
		{
			v->values[C_BASELINE] = datumCopy(d, false, -1);
			v->nulls[C_BASELINE] = false;
		}
		d = SPI_getbinval(tup, desc, 8, &isnull);
		if (!isnull)
		{
			v->values[C_EOL] = d;
			v->nulls[C_EOL] = false;
			v->has_eol = true;
		}
		violation = gov_text(tup, desc, 9);
		if (violation)
		{
			v->values[C_VIOLATION] = CStringGetTextDatum(violation);
			v->nulls[C_VIOLATION] = false;
			v->values[C_STATUS] = v->values[C_VIOLATION];
			v->nulls[C_STATUS] = false;
		}
		v->needs_care = violation == NULL || strcmp(violation, "compliant") != 0;
		if (st->counting)
			v->status_idx = gov_status_idx(st, violation);
		d = SPI_getbinval(tup, desc, 10, &isnull);
		if (!isnull)
		{
			v->values[C_FORCED] = d;
			v->nulls[C_FORCED] = false;
			v->values[C_DAYS_LEFT] = Int32GetDatum((int32) (DatumGetDateADT(d) - st->at_date));
			v->nulls[C_DAYS_LEFT] = false;
		}
	}
	MemoryContextSwitchTo(old);

	/* the policy nodes (also those of components without versions) */
	ret = SPI_execute_with_args(
		"SELECT DISTINCT p.tenant_id FROM pg_catalog.unnest($2) p WHERE p.tenant_id IS NOT NULL AND $1 IS NOT NULL",
		2, argtypes, values, nulls, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "pg_rollout: governance policy nodes failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *n = gov_text(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);

		if (n && strlen(n) < 64)
			(void) hash_search(st->anchors, n, HASH_ENTER, NULL);
	}

	ret = SPI_execute("SELECT e.tenant_id, pg_catalog.array_agg(DISTINCT e.component_id) "
					  "  FROM rollout.exemption e GROUP BY e.tenant_id", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "pg_rollout: governance exemption nodes failed");
	old = MemoryContextSwitchTo(st->cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		char	   *n = gov_text(tup, SPI_tuptable->tupdesc, 1);
		bool		isnull;
		Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull);
		Datum	   *elems;
		bool	   *enulls;
		int			nelems;
		GovNode    *node;

		if (n == NULL || isnull || strlen(n) >= 64)
			continue;
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &nelems);
		node = hash_search(st->exempt_nodes, n, HASH_ENTER, NULL);
		node->ncomp = 0;
		node->components = palloc(sizeof(char *) * Max(nelems, 1));
		for (int k = 0; k < nelems; k++)
			if (!enulls[k])
				node->components[node->ncomp++] = TextDatumGetCString(elems[k]);
	}
	MemoryContextSwitchTo(old);

	ret = SPI_execute("SELECT DISTINCT g.tenant_id FROM rollout.grace_extension g "
					  " WHERE g.status OPERATOR(pg_catalog.=) 'approved'", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "pg_rollout: governance extensions failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *n = gov_text(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);

		if (n && strlen(n) < 64)
			(void) hash_search(st->ext_tenants, n, HASH_ENTER, NULL);
	}
}

/* The policy row of the version component i resolved to, NULL if none. */
static GovVersion *
gov_version_of(GovState *st, int i, const PgrResolved *a)
{
	SemVer	   *sv;
	GovEntry   *e = st->entry_of[i];

	if (a->isnull || e == NULL)
		return NULL;
	sv = DatumGetSemVerP(a->version);
	for (int k = 0; k < e->n; k++)
		if (semver_compare(sv, e->versions[k].version) == 0)
			return &e->versions[k];
	return NULL;
}

/*
 * Is the pair decided by the SQL evaluation (gov_defer) rather than here?
 * A grace extension of the tenant on an end-of-life version, or an
 * exemption candidate on its path for a version that needs one: only
 * rollout.exemption_applies() decides those.
 */
static bool
gov_left_to_sql(const GovVersion *v, bool ext, bool candidate)
{
	return v != NULL && ((ext && v->has_eol) || (candidate && v->needs_care));
}

static void
gov_defer(GovState *st, const char *tenant, const char *component, const PgrResolved *a)
{
	MemoryContext old = MemoryContextSwitchTo(st->cxt);

	if (st->ndeferred == st->capdeferred)
	{
		st->capdeferred = st->capdeferred == 0 ? 1024 : st->capdeferred * 2;
		if (st->d_tenant == NULL)
		{
			st->d_tenant = palloc(sizeof(Datum) * st->capdeferred);
			st->d_component = palloc(sizeof(Datum) * st->capdeferred);
			st->d_version = palloc(sizeof(Datum) * st->capdeferred);
			st->d_source = palloc(sizeof(Datum) * st->capdeferred);
			st->d_source_tenant = palloc(sizeof(Datum) * st->capdeferred);
			st->d_source_tenant_null = palloc(sizeof(bool) * st->capdeferred);
		}
		else
		{
			st->d_tenant = repalloc(st->d_tenant, sizeof(Datum) * st->capdeferred);
			st->d_component = repalloc(st->d_component, sizeof(Datum) * st->capdeferred);
			st->d_version = repalloc(st->d_version, sizeof(Datum) * st->capdeferred);
			st->d_source = repalloc(st->d_source, sizeof(Datum) * st->capdeferred);
			st->d_source_tenant = repalloc(st->d_source_tenant, sizeof(Datum) * st->capdeferred);
			st->d_source_tenant_null = repalloc(st->d_source_tenant_null, sizeof(bool) * st->capdeferred);
		}
	}
	st->d_tenant[st->ndeferred] = CStringGetTextDatum(tenant);
	st->d_component[st->ndeferred] = CStringGetTextDatum(component);
	st->d_version[st->ndeferred] = datumCopy(a->version, false, -1);
	st->d_source[st->ndeferred] = CStringGetTextDatum(a->source);
	st->d_source_tenant_null[st->ndeferred] = a->source_tenant == NULL;
	st->d_source_tenant[st->ndeferred] = a->source_tenant ? CStringGetTextDatum(a->source_tenant) : (Datum) 0;
	st->ndeferred++;
	MemoryContextSwitchTo(old);
}

/* Step 2: one tenant of the walk. */
static void
gov_tenant(void *arg, const char *const *path, int depth, bool decommissioned, int ncomp,
		   const char *const *components, const PgrResolved *answers)
{
	GovState   *st = (GovState *) arg;
	const char *self = path[depth - 1];
	bool		ext;
	GovNode    *node;
	bool	   *cand;
	Datum		values[GOV_NCOLS];
	bool		nulls[GOV_NCOLS];
	const char *prev_anchor;

	if (depth > GOV_MAX_DEPTH)
		elog(ERROR, "pg_rollout: tenant depth %d out of range", depth);
	if (st->ncomp != ncomp || st->candidate[0] == NULL)
	{
		st->ncomp = ncomp;
		for (int d = 0; d < GOV_MAX_DEPTH; d++)
			st->candidate[d] = MemoryContextAllocZero(st->cxt, sizeof(bool) * Max(ncomp, 1));
		st->entry_of = MemoryContextAllocZero(st->cxt, sizeof(GovEntry *) * Max(ncomp, 1));
		st->entry_anchor = NULL;
		{
			MemoryContext old = MemoryContextSwitchTo(st->cxt);

			st->comp_text = palloc(sizeof(Datum) * Max(ncomp, 1));
			for (int i = 0; i < ncomp; i++)
				st->comp_text[i] = CStringGetTextDatum(components[i]);
			st->not_deployed_text = CStringGetTextDatum("not_deployed");
			MemoryContextSwitchTo(old);
		}
		if (st->counting)
		{
			if (st->comp_names != NULL)
				elog(ERROR, "pg_rollout: the components of a governance walk changed");
			st->comp_names = MemoryContextAlloc(st->cxt, sizeof(char *) * Max(ncomp, 1));
			for (int i = 0; i < ncomp; i++)
				st->comp_names[i] = MemoryContextStrdup(st->cxt, components[i]);
		}
	}

	/* what the path carries down */
	prev_anchor = depth > 1 ? st->anchor[depth - 2] : "";
	st->anchor[depth - 1] = (strlen(self) < 64 && hash_search(st->anchors, self, HASH_FIND, NULL)) ? self : prev_anchor;
	if (st->anchor[depth - 1] == self)
		st->anchor[depth - 1] = MemoryContextStrdup(st->cxt, self);	/* outlives the call */
	cand = st->candidate[depth - 1];
	for (int i = 0; i < ncomp; i++)
		cand[i] = depth > 1 ? st->candidate[depth - 2][i] : false;
	node = strlen(self) < 64 ? hash_search(st->exempt_nodes, self, HASH_FIND, NULL) : NULL;
	if (node)
		for (int k = 0; k < node->ncomp; k++)
			for (int i = 0; i < ncomp; i++)
				if (strcmp(node->components[k], components[i]) == 0)
					cand[i] = true;
	if (decommissioned)
		return;
	ext = strlen(self) < 64 && hash_search(st->ext_tenants, self, HASH_FIND, NULL) != NULL;

	/* anchors are "" or copies that live as long as st: the same pointer, the same anchor */
	if (st->entry_anchor != st->anchor[depth - 1])
	{
		for (int i = 0; i < ncomp; i++)
		{
			char		key[GOV_KEY_LEN];

			gov_key(key, st->anchor[depth - 1], components[i]);
			st->entry_of[i] = hash_search(st->lookup, key, HASH_FIND, NULL);
		}
		st->entry_anchor = st->anchor[depth - 1];
	}

	if (st->counting)
	{
		GovGroup   *g = gov_group(st, path[0], depth < 2 ? NULL : path[1]);

		for (int i = 0; i < ncomp; i++)
		{
			const PgrResolved *a = &answers[i];
			GovVersion *v = gov_version_of(st, i, a);
			int			sidx;

			if (gov_left_to_sql(v, ext, cand[i]))
			{
				gov_defer(st, self, components[i], a);
				continue;
			}
			sidx = a->isnull ? st->not_deployed_idx : (v ? v->status_idx : 0);
			g->counts[i * GOV_MAX_STATUS + sidx]++;
		}
		return;
	}

	/* the walker's per-tenant context: tuplestore_putvalues copies the row */
	values[C_TENANT] = CStringGetTextDatum(self);
	nulls[C_TENANT] = false;
	values[C_ORG] = CStringGetTextDatum(path[0]);
	nulls[C_ORG] = false;
	nulls[C_TEAM] = depth < 2;
	values[C_TEAM] = depth < 2 ? (Datum) 0 : CStringGetTextDatum(path[1]);
	for (int i = 0; i < ncomp; i++)
	{
		const PgrResolved *a = &answers[i];
		GovVersion *v = gov_version_of(st, i, a);

		if (gov_left_to_sql(v, ext, cand[i]))
		{
			gov_defer(st, self, components[i], a);
			continue;
		}
		/* the policy columns (all NULL when nothing resolves or no version row) */
		for (int c = C_STATUS; c < GOV_NCOLS; c++)
		{
			values[c] = v ? v->values[c] : (Datum) 0;
			nulls[c] = v ? v->nulls[c] : true;
		}
		if (a->isnull)
		{
			values[C_STATUS] = values[C_VIOLATION] = st->not_deployed_text;
			nulls[C_STATUS] = nulls[C_VIOLATION] = false;
		}
		values[C_COMPONENT] = st->comp_text[i];
		nulls[C_COMPONENT] = false;
		values[C_VERSION] = a->isnull ? (Datum) 0 : a->version;
		nulls[C_VERSION] = a->isnull;
		values[C_SOURCE] = gov_text_once(st, a->source);
		nulls[C_SOURCE] = false;
		values[C_SOURCE_TENANT] = a->source_tenant ? CStringGetTextDatum(a->source_tenant) : (Datum) 0;
		nulls[C_SOURCE_TENANT] = a->source_tenant == NULL;
		gov_put(st, values, nulls);
	}
}

/* Step 3: the deferred pairs, evaluated by rollout._evaluate_given(). */
static void
gov_deferred(GovState *st, Datum at, Datum policies, bool policies_null, Datum component_ids, bool comps_null)
{
	Oid			argtypes[8];
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Portal		portal;

	if (st->ndeferred == 0)
		return;
	argtypes[0] = TIMESTAMPTZOID;
	argtypes[1] = st->policies_type;
	argtypes[2] = TEXTARRAYOID;
	argtypes[3] = TEXTARRAYOID;
	argtypes[4] = TEXTARRAYOID;
	argtypes[5] = get_array_type(st->semver_type);
	argtypes[6] = TEXTARRAYOID;
	argtypes[7] = TEXTARRAYOID;
	values[0] = at;
	values[1] = policies;
	nulls[1] = policies_null ? 'n' : ' ';
	values[2] = component_ids;
	nulls[2] = comps_null ? 'n' : ' ';
	values[3] = PointerGetDatum(construct_array(st->d_tenant, st->ndeferred, TEXTOID, -1, false, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_array(st->d_component, st->ndeferred, TEXTOID, -1, false, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_array(st->d_version, st->ndeferred, st->semver_type, -1, false,
												TYPALIGN_INT));
	values[6] = PointerGetDatum(construct_array(st->d_source, st->ndeferred, TEXTOID, -1, false, TYPALIGN_INT));
	{
		int			dims[1] = {st->ndeferred};
		int			lbs[1] = {1};
		bool	   *anulls = st->d_source_tenant_null;

		values[7] = PointerGetDatum(construct_md_array(st->d_source_tenant, anulls, 1, dims, lbs, TEXTOID, -1, false,
													   TYPALIGN_INT));
	}
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT g.* FROM rollout._evaluate_given($1, $2, $3, NULL, NULL, $4, $5, $6, $7, $8) g",
									   8, argtypes, values, nulls, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			Datum		out[GOV_NCOLS];
			bool		outnulls[GOV_NCOLS];

			heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, out, outnulls);
			gov_put(st, out, outnulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

PG_FUNCTION_INFO_V1(pgr_evaluate_all);

/* rollout._evaluate_all(at timestamptz, policies rollout.version_policy[], component_ids text[]) */
Datum
pgr_evaluate_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovState	st;
	Datum		at;
	int			pathlevel;

	pgr_require_preload("version governance");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the instant of a governance evaluation must not be null")));
	at = PG_GETARG_DATUM(0);
	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != GOV_NCOLS)
		elog(ERROR, "pg_rollout: _evaluate_all returns %d columns, expected %d", rsinfo->setDesc->natts, GOV_NCOLS);

	memset(&st, 0, sizeof(st));
	st.rsinfo = rsinfo;
	{
		Oid		   *argtypes;
		int			nargs;

		(void) get_func_signature(fcinfo->flinfo->fn_oid, &argtypes, &nargs);
		if (nargs != 3)
			elog(ERROR, "pg_rollout: _evaluate_all takes %d arguments, expected 3", nargs);
		st.policies_type = argtypes[1];
	}
	st.cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout governance", ALLOCSET_DEFAULT_SIZES);

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_rollout: SPI_connect failed");
	gov_load(&st, at, PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1), PG_ARGISNULL(1),
			 PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2), PG_ARGISNULL(2));
	SPI_finish();

	pgr_resolve_walk(PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2), gov_tenant, &st);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_rollout: SPI_connect failed");
	gov_deferred(&st, at, PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1), PG_ARGISNULL(1),
				 PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2), PG_ARGISNULL(2));
	SPI_finish();
	pgr_unpin_search_path(pathlevel);

	MemoryContextDelete(st.cxt);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgr_drift_roster_at);

/*
 * rollout.drift_roster_at(at timestamptz, component_id text): the roster,
 * written straight into this function's result.  For a caller who sees
 * every tenant, with no conflict rule in force, the bulk evaluation above;
 * otherwise the rows of rollout._evaluate (the tenants the caller may see,
 * the conflict rules), copied.  Either way the rows rollout._evaluate gives.
 */
Datum
pgr_drift_roster_at(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovState	st;
	Datum		at;
	Datum		policies;
	Datum		comps = (Datum) 0;
	bool		comps_null = PG_ARGISNULL(1);
	bool		vis_null;
	Datum		vis = (Datum) 0;
	bool		conflicts;
	int			pathlevel;
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	MemoryContext old;

	pgr_require_preload("version governance");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the instant of a drift roster must not be null")));
	at = PG_GETARG_DATUM(0);
	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != ROSTER_NCOLS)
		elog(ERROR, "pg_rollout: drift_roster_at returns %d columns, expected %d", rsinfo->setDesc->natts, ROSTER_NCOLS);

	memset(&st, 0, sizeof(st));
	st.rsinfo = rsinfo;
	st.roster = true;
	st.cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout governance", ALLOCSET_DEFAULT_SIZES);
	if (!comps_null)
	{
		Datum		one = PG_GETARG_DATUM(1);

		old = MemoryContextSwitchTo(st.cxt);
		comps = PointerGetDatum(construct_array(&one, 1, TEXTOID, -1, false, TYPALIGN_INT));
		MemoryContextSwitchTo(old);
	}

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_rollout: SPI_connect failed");
	if (SPI_execute_with_args("SELECT rollout._policies_as_of($1), rollout._visible_tenants(), rollout._conflict_rules_exist($1)",
							  1, argtypes, &at, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "pg_rollout: drift roster set-up failed");
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		st.policies_type = SPI_gettypeid(desc, 1);
		old = MemoryContextSwitchTo(st.cxt);
		policies = datumCopy(SPI_getbinval(tup, desc, 1, &isnull), false, -1);
		vis = SPI_getbinval(tup, desc, 2, &vis_null);
		if (!vis_null)
			vis = datumCopy(vis, false, -1);
		MemoryContextSwitchTo(old);
		conflicts = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	}

	if (vis_null && !conflicts)
	{
		gov_load(&st, at, policies, false, comps, comps_null);
		SPI_finish();
		pgr_resolve_walk(comps_null ? NULL : DatumGetArrayTypeP(comps), gov_tenant, &st);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pg_rollout: SPI_connect failed");
		gov_deferred(&st, at, policies, false, comps, comps_null);
	}
	else
	{
		Oid			types[4] = {TIMESTAMPTZOID, st.policies_type, TEXTARRAYOID, TEXTARRAYOID};
		Datum		values[4] = {at, policies, comps, vis};
		char		nulls[4] = {' ', ' ', comps_null ? 'n' : ' ', vis_null ? 'n' : ' '};
		Portal		portal;

		portal = SPI_cursor_open_with_args(NULL,
										   "SELECT e.* FROM rollout._evaluate($1, $2, $3, $4, NULL) e",
										   4, types, values, nulls, true, 0);
		for (;;)
		{
			SPI_cursor_fetch(portal, true, 10000);
			if (SPI_processed == 0)
				break;
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				Datum		out[GOV_NCOLS];
				bool		outnulls[GOV_NCOLS];

				heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, out, outnulls);
				gov_put(&st, out, outnulls);
			}
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
	}
	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	MemoryContextDelete(st.cxt);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgr_summary_counts);

/*
 * rollout._summary_counts(at, policies, component_ids, tenant_ids): the
 * pairs of rollout._evaluate(at, policies, component_ids, tenant_ids, NULL)
 * counted per (org_id, team_id, component_id, status).  For every tenant
 * with no conflict rule in force, counted in the bulk evaluation above
 * without materialising a row per pair; otherwise the same GROUP BY over
 * rollout._evaluate in SQL.
 */
Datum
pgr_summary_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GovState	st;
	Datum		at;
	bool		conflicts;
	int			pathlevel;
	Oid			argtypes1[1] = {TIMESTAMPTZOID};

	pgr_require_preload("version governance");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the instant of a governance evaluation must not be null")));
	at = PG_GETARG_DATUM(0);
	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != 5)
		elog(ERROR, "pg_rollout: _summary_counts returns %d columns, expected 5", rsinfo->setDesc->natts);

	memset(&st, 0, sizeof(st));
	st.rsinfo = rsinfo;
	{
		Oid		   *argtypes;
		int			nargs;

		(void) get_func_signature(fcinfo->flinfo->fn_oid, &argtypes, &nargs);
		if (nargs != 4)
			elog(ERROR, "pg_rollout: _summary_counts takes %d arguments, expected 4", nargs);
		st.policies_type = argtypes[1];
	}
	st.cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout governance", ALLOCSET_DEFAULT_SIZES);

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_rollout: SPI_connect failed");
	if (SPI_execute_with_args("SELECT rollout._conflict_rules_exist($1)", 1, argtypes1, &at, NULL, true, 1)
		!= SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "pg_rollout: governance summary set-up failed");
	{
		bool		isnull;

		conflicts = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	if (PG_ARGISNULL(3) && !conflicts)
	{
		Datum		policies = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
		Datum		comps = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
		HASH_SEQ_STATUS seq;
		GovGroup   *g;

		st.counting = true;
		st.nstatus = 1;			/* 0 is NULL */
		st.not_deployed_idx = gov_status_idx(&st, "not_deployed");
		st.groups = gov_hash("pg_rollout governance counts", GOV_KEY_LEN, sizeof(GovGroup), st.cxt);
		gov_load(&st, at, policies, PG_ARGISNULL(1), comps, PG_ARGISNULL(2));
		SPI_finish();
		pgr_resolve_walk(PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2), gov_tenant, &st);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pg_rollout: SPI_connect failed");
		gov_deferred(&st, at, policies, PG_ARGISNULL(1), comps, PG_ARGISNULL(2));

		hash_seq_init(&seq, st.groups);
		while ((g = hash_seq_search(&seq)) != NULL)
		{
			for (int i = 0; i < st.ncomp; i++)
				for (int k = 0; k < st.nstatus; k++)
				{
					int64		n = g->counts[i * GOV_MAX_STATUS + k];
					Datum		values[5];
					bool		nulls[5] = {false, g->team == NULL, false, k == 0, false};

					if (n == 0)
						continue;
					values[0] = CStringGetTextDatum(g->org);
					values[1] = g->team ? CStringGetTextDatum(g->team) : (Datum) 0;
					values[2] = CStringGetTextDatum(st.comp_names[i]);
					values[3] = k == 0 ? (Datum) 0 : CStringGetTextDatum(st.statuses[k]);
					values[4] = Int64GetDatum(n);
					tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
				}
		}
	}
	else
	{
		Oid			types[4] = {TIMESTAMPTZOID, st.policies_type, TEXTARRAYOID, TEXTARRAYOID};
		Datum		values[4];
		char		nulls[4];
		Portal		portal;

		for (int k = 0; k < 4; k++)
		{
			values[k] = PG_ARGISNULL(k) ? (Datum) 0 : PG_GETARG_DATUM(k);
			nulls[k] = PG_ARGISNULL(k) ? 'n' : ' ';
		}
		portal = SPI_cursor_open_with_args(NULL,
										   "SELECT e.org_id, e.team_id, e.component_id, e.status, pg_catalog.count(*) "
										   "  FROM rollout._evaluate($1, $2, $3, $4, NULL) e "
										   " GROUP BY e.org_id, e.team_id, e.component_id, e.status",
										   4, types, values, nulls, true, 0);
		for (;;)
		{
			SPI_cursor_fetch(portal, true, 10000);
			if (SPI_processed == 0)
				break;
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				Datum		out[5];
				bool		outnulls[5];

				heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, out, outnulls);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);
			}
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
	}
	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	MemoryContextDelete(st.cxt);
	return (Datum) 0;
}
