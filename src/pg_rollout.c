/*-------------------------------------------------------------------------
 *
 * pg_rollout.c
 *	  Module entry point: GUC definitions and the preload check.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/supportnodes.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "pg_rollout.h"
#include "citus.h"
#include "resolve.h"
#include "isolation.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

char	   *pgr_actor = NULL;
bool		pgr_loaded_at_startup = false;

/*
 * Module load: define GUCs and reserve the pg_rollout prefix.
 */
void
_PG_init(void)
{
	pgr_loaded_at_startup = process_shared_preload_libraries_in_progress;

	DefineCustomStringVariable("pg_rollout.actor",
							   "Application-supplied actor recorded in the audit log.",
							   "Set it per transaction (SET LOCAL) or per session to the "
							   "person or service on whose behalf the database session acts. "
							   "When empty, only the session user is recorded.",
							   &pgr_actor,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	pgr_resolve_init();
	pgr_isolation_init(pgr_loaded_at_startup);
	pgr_citus_init(pgr_loaded_at_startup);

	MarkGUCPrefixReserved("pg_rollout");
}

/*
 * Refuse to run a feature that needs shared_preload_libraries.
 */
void
pgr_require_preload(const char *what)
{
	if (!pgr_loaded_at_startup)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_rollout must be loaded via shared_preload_libraries to use %s", what),
				 errhint("Add pg_rollout to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * The schema versions this library knows, oldest first.  A new library is
 * installed before ALTER EXTENSION ... UPDATE runs, so it must work with
 * every older schema and refuse, clearly, what needs a newer one.
 */
static const char *const pgr_schema_versions[] = {"0.1.0", "0.2.0"};

/*
 * The installed version of the extension in this database (palloc'd), or
 * NULL when it is not installed.
 */
char *
pgr_schema_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("pg_rollout"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/* Position of a version in pgr_schema_versions, -1 when unknown. */
static int
schema_version_rank(const char *version)
{
	for (int i = 0; i < lengthof(pgr_schema_versions); i++)
		if (version != NULL && strcmp(pgr_schema_versions[i], version) == 0)
			return i;
	return -1;
}

/*
 * Refuse a feature ("what") that needs schema version "needed" or later
 * when the database still has an older one.
 */
void
pgr_require_schema(const char *needed, const char *what)
{
	char	   *installed = pgr_schema_version();
	int			have = schema_version_rank(installed);

	Assert(schema_version_rank(needed) >= 0);
	if (have >= 0 && have < schema_version_rank(needed))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs pg_rollout %s, but this database has %s", what, needed, installed),
				 errhint("Run ALTER EXTENSION pg_rollout UPDATE.")));
}

/*
 * Pin search_path to PGR_SAFE_SEARCH_PATH for the internal queries that
 * follow, as core does for its own internal SQL (a new GUC nest level and
 * a GUC_ACTION_SAVE setting, undone by AtEOXact_GUC).  Returns the nest
 * level for pgr_unpin_search_path(), or -1 when the path already is the
 * safe one (inside pg_rollout's SECURITY DEFINER functions, which set it):
 * then nothing is changed and nothing costs.
 */
int
pgr_pin_search_path(void)
{
	int			nestlevel;

	if (namespace_search_path != NULL &&
		strcmp(namespace_search_path, PGR_SAFE_SEARCH_PATH) == 0)
		return -1;
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", PGR_SAFE_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Restore the caller's search_path after pgr_pin_search_path().
 */
void
pgr_unpin_search_path(int nestlevel)
{
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
}

SPIPlanPtr
pgr_kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*slot = p;
	}
	return *slot;
}

char *
pgr_text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

PG_FUNCTION_INFO_V1(pgr_preloaded);

/*
 * rollout.preloaded(): whether the library was loaded at server start.
 */
Datum
pgr_preloaded(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(pgr_loaded_at_startup);
}

PG_FUNCTION_INFO_V1(pgr_library_loaded);
PG_FUNCTION_INFO_V1(pgr_library_loaded_support);

/*
 * rollout._library_loaded(): the qual of the restrictive policy
 * PGR_LOADED_POLICY that protect_table() puts on every protected relation.
 * The tenant filter is a row-security hook of the library; without the
 * library preloaded, a table with permissive policies of its own would
 * show every tenant's rows.  So the qual refuses the table then.
 *
 * It costs nothing with the library: its support function replaces the
 * call by the constant true while the statement is planned, and the
 * planner drops a true qual.  (The function is STABLE, not IMMUTABLE: the
 * planner would evaluate an IMMUTABLE call itself, in an executor state of
 * its own, about 7,500 instructions per planned statement under
 * callgrind, before it asks a support function.)  Without the library the
 * support function, loaded on demand, raises the error while planning; the
 * function itself, should a plan ever call it, raises it too.  Superusers,
 * BYPASSRLS roles and the owner of a table not forced bypass row security
 * and never reach either.
 */
static void
refuse_without_library(void)
{
	if (!pgr_loaded_at_startup)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_rollout is not loaded: tables it protects are refused"),
				 errdetail("Without the library in shared_preload_libraries nothing filters a protected table by tenant."),
				 errhint("Add pg_rollout to shared_preload_libraries in postgresql.conf and restart the server.")));
}

Datum
pgr_library_loaded(PG_FUNCTION_ARGS)
{
	refuse_without_library();
	PG_RETURN_BOOL(true);
}

Datum
pgr_library_loaded_support(PG_FUNCTION_ARGS)
{
	Node	   *req = (Node *) PG_GETARG_POINTER(0);

	if (!IsA(req, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	refuse_without_library();
	PG_RETURN_POINTER(makeBoolConst(true, false));
}
