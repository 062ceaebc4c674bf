/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  pg_rollout beside Citus: no silent loss of tenant isolation.
 *
 * Citus plans a statement on one of its tables (distributed, reference or
 * Citus-local) by deparsing it into shard queries run on the nodes that
 * hold the shards.  The tenant qual pg_rollout adds through the row
 * security hook is a security qual of the range-table entry, which Citus
 * does not deparse: the shard queries carry no tenant filter, and the
 * shards on the workers are not registered with pg_rollout there (with row
 * security forced and no catalog policy they hide every row; with the
 * table's own permissive policies, which Citus copies, they show every
 * tenant's rows).  Until isolation is enforced on the shards, a protected
 * Citus table is refused:
 *
 *	- rollout.protect_table() on a Citus table, and create_distributed_table(),
 *	  create_reference_table(), citus_add_local_table_to_metadata() and
 *	  alter_distributed_table() on a protected table (or a parent of one),
 *	  fail when the function returns (fmgr hook), so the transaction that
 *	  would leave the table unfiltered rolls back;
 *	- a transaction that changed a relation's definition and leaves a
 *	  protected table (or its relation, renamed into a shard) a Citus table
 *	  some other way (a partition attached to a distributed table, a
 *	  foreign key to a reference table that makes it Citus-local) fails at
 *	  commit, before Citus commits on the workers;
 *	- before that commit, every statement on such a table is refused where
 *	  the table is enforced, and counted elsewhere (ExecutorStart, in
 *	  isolation.c, through pgr_citus_table()).
 *
 * pg_rollout's own tables (schema rollout) are refused as Citus tables the
 * same ways: they stay on the coordinator.
 *
 * Nothing links to Citus: its catalog pg_catalog.pg_dist_partition is read
 * by OID through its logicalrelid index (no SQL, so no search_path), when
 * it exists, and the answer cached per relation until the relation's
 * relcache invalidation; without Citus each check is one cached OID
 * comparison.  The functions are recognised by name in schema pg_catalog,
 * where Citus creates them and only a superuser can create functions.  The
 * checks at function return and at commit read pg_rollout's registry and
 * Citus's catalogs with SPI, as the bootstrap superuser with a pinned
 * search_path, like the registry itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "pg_rollout.h"
#include "citus.h"
#include "pgr_limits.h"

/* Citus functions that turn a table into a Citus table (pg_catalog). */
static const char *const citus_conversion_fns[] = {
	"create_distributed_table",
	"create_distributed_table_concurrently",
	"create_reference_table",
	"citus_add_local_table_to_metadata",
	"alter_distributed_table",
};

#define MAX_CONVERSION_OIDS 32

static Oid	dist_partition_oid = InvalidOid;
static Oid	dist_partition_index = InvalidOid;	/* on logicalrelid */
static bool dist_partition_known = false;

static Oid	conversion_oids[MAX_CONVERSION_OIDS];
static int	n_conversion_oids = 0;
static bool conversion_oids_known = false;

static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;

/* pg_class or pg_proc changed: look the catalog and the functions up again. */
static void forget_citus_tables(void);

static void
citus_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	if (cacheid == PROCOID)
		conversion_oids_known = false;
	else
	{
		dist_partition_known = false;
		forget_citus_tables();
	}
}

static Oid
dist_partition_relid(void)
{
	if (!dist_partition_known)
	{
		dist_partition_oid = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
		dist_partition_index = get_relname_relid("pg_dist_partition_logical_relid_index",
												 PG_CATALOG_NAMESPACE);
		dist_partition_known = true;
	}
	return dist_partition_oid;
}

bool
pgr_citus_installed(void)
{
	return IsTransactionState() && OidIsValid(dist_partition_relid());
}

/*
 * Partition methods looked up, by relation: Citus sends a relcache
 * invalidation of a table whenever it changes the table's metadata
 * (CitusInvalidateRelcacheByRelid), which removes its entry here; a change
 * of pg_class (Citus installed or dropped) empties the cache.
 */
typedef struct CitusTableEntry
{
	Oid			relid;			/* hash key */
	char		method;
} CitusTableEntry;

static HTAB *citus_tables = NULL;

/*
 * Citus's partition method of a relation ('h' hash, 'n' reference or
 * Citus-local, 'a'/'r' append/range), '\0' when it is not a Citus table
 * or Citus is not installed in this database.  Sees the current
 * transaction's own changes up to its last command boundary.
 */
char
pgr_citus_table(Oid relid)
{
	Oid			catalog;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char		method = '\0';
	CitusTableEntry *entry;
	bool		found;

	if (!IsTransactionState())
		return '\0';
	catalog = dist_partition_relid();
	if (!OidIsValid(catalog))
		return '\0';
	if (citus_tables == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CitusTableEntry);
		citus_tables = hash_create("pg_rollout Citus tables", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(citus_tables, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->method;

	rel = table_open(catalog, AccessShareLock);
	/* logicalrelid regclass (attribute 1), partmethod "char" (attribute 2) */
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, dist_partition_index, OidIsValid(dist_partition_index),
							  SnapshotSelf, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup) && RelationGetDescr(rel)->natts >= 2)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);

		method = isnull ? 'n' : DatumGetChar(d);
		if (method == '\0')
			method = 'n';
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	/* an invalidation during the scan may have emptied the cache */
	if (citus_tables != NULL)
	{
		entry = hash_search(citus_tables, &relid, HASH_ENTER, &found);
		entry->method = method;
	}
	return method;
}

const char *
pgr_citus_table_kind(char method)
{
	switch (method)
	{
		case 'h':
			return "distributed";
		case 'n':
			return "reference or Citus-local";
		default:
			return "distributed (append or range)";
	}
}

/* The OIDs of Citus's conversion functions in this database. */
static void
lookup_conversion_fns(void)
{
	n_conversion_oids = 0;
	for (int i = 0; i < lengthof(citus_conversion_fns); i++)
	{
		CatCList   *list = SearchSysCacheList1(PROCNAMEARGSNSP,
											   CStringGetDatum(citus_conversion_fns[i]));

		for (int j = 0; j < list->n_members; j++)
		{
			HeapTuple	tup = &list->members[j]->tuple;
			Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tup);

			if (proc->pronamespace == PG_CATALOG_NAMESPACE && n_conversion_oids < MAX_CONVERSION_OIDS)
				conversion_oids[n_conversion_oids++] = proc->oid;
		}
		ReleaseSysCacheList(list);
	}
	conversion_oids_known = true;
}

static bool
is_conversion_fn(Oid fn)
{
	if (!OidIsValid(fn) || !IsTransactionState())
		return false;
	if (!conversion_oids_known)
	{
		/* without Citus in this database there is nothing to find */
		if (!OidIsValid(dist_partition_relid()))
			return false;
		lookup_conversion_fns();
	}
	for (int i = 0; i < n_conversion_oids; i++)
		if (conversion_oids[i] == fn)
			return true;
	return false;
}

/*
 * The protected tables (partitions and inheritance children included)
 * that are Citus tables, as "name|method" strings in the caller's memory
 * context.  Read with the bootstrap superuser's rights and a pinned
 * search_path, like the registry.
 */
static List *
protected_citus_tables(void)
{
	Oid			nsp;
	Oid			save_userid;
	int			save_sec_context;
	MemoryContext caller = CurrentMemoryContext;
	List	   *volatile result = NIL;

	if (!pgr_citus_installed())
		return NIL;
	nsp = get_namespace_oid(PGR_SCHEMA, true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid(PGR_TABLE_PROTECTED, nsp)))
		return NIL;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		int			pathlevel = pgr_pin_search_path();

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pg_rollout: SPI_connect failed");
		if (SPI_execute("WITH RECURSIVE t(relid, lvl) AS ("
						"   SELECT p.tbl::pg_catalog.oid, 0 FROM rollout.protected_table p"
						"   UNION ALL"
						"   SELECT i.inhrelid, t.lvl OPERATOR(pg_catalog.+) 1 FROM pg_catalog.pg_inherits i"
						"     JOIN t ON i.inhparent OPERATOR(pg_catalog.=) t.relid WHERE t.lvl OPERATOR(pg_catalog.<) 32)"
						" SELECT t.relid::pg_catalog.regclass::pg_catalog.text OPERATOR(pg_catalog.||) '|'"
						"        OPERATOR(pg_catalog.||) d.partmethod::pg_catalog.text, t.lvl"
						"   FROM t JOIN pg_catalog.pg_dist_partition d"
						"     ON d.logicalrelid::pg_catalog.oid OPERATOR(pg_catalog.=) t.relid"
						/*
						 * citus_add_local_table_to_metadata() renames the
						 * table itself into its shard and creates a shell
						 * table under the old name: the protected relation
						 * is now a shard, relname_shardid, of a Citus table.
						 * Names through regclass: Citus hides shards from
						 * queries on pg_class.
						 */
						" UNION ALL"
						" SELECT s.logicalrelid::pg_catalog.text OPERATOR(pg_catalog.||) '|'"
						"        OPERATOR(pg_catalog.||) d.partmethod::pg_catalog.text, t.lvl"
						"   FROM t CROSS JOIN pg_catalog.pg_dist_shard s"
						"   JOIN pg_catalog.pg_dist_partition d ON d.logicalrelid OPERATOR(pg_catalog.=) s.logicalrelid"
						"  WHERE t.relid::pg_catalog.regclass::pg_catalog.text OPERATOR(pg_catalog.=)"
						"        (s.logicalrelid::pg_catalog.text OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) s.shardid::pg_catalog.text)"
						/* pg_rollout's own tables stay coordinator-only */
						" UNION ALL"
						" SELECT d.logicalrelid::pg_catalog.text OPERATOR(pg_catalog.||) '|'"
						"        OPERATOR(pg_catalog.||) d.partmethod::pg_catalog.text OPERATOR(pg_catalog.||) '|own', -1"
						"   FROM pg_catalog.pg_dist_partition d"
						"   JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.logicalrelid::pg_catalog.oid"
						"  WHERE c.relnamespace OPERATOR(pg_catalog.=) 'rollout'::pg_catalog.regnamespace"
						"  ORDER BY 2, 1",
						false, 0) != SPI_OK_SELECT)
			elog(ERROR, "pg_rollout: could not read the protected tables");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			MemoryContext old = MemoryContextSwitchTo(caller);

			result = lappend(result, pstrdup(v));
			MemoryContextSwitchTo(old);
		}
		SPI_finish();
		pgr_unpin_search_path(pathlevel);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	return result;
}

/*
 * Protected Citus tables when the outermost checked call began: only the
 * tables a call makes Citus tables (or protects) are refused, so a table
 * that became one earlier (refused at every statement, see isolation.c)
 * does not block every later call.
 */
static List *tables_before = NIL;
static int	checked_depth = 0;

void
pgr_citus_call_begins(void)
{
	if (checked_depth++ == 0 && pgr_citus_installed())
	{
		List	   *now;
		ListCell   *lc;
		MemoryContext old;

		list_free_deep(tables_before);
		tables_before = NIL;
		now = protected_citus_tables();
		old = MemoryContextSwitchTo(TopMemoryContext);
		foreach(lc, now)
			tables_before = lappend(tables_before, pstrdup(lfirst(lc)));
		MemoryContextSwitchTo(old);
	}
}

/*
 * Raise the error for one entry of protected_citus_tables(): "what" is the
 * Citus function, NULL for rollout.protect_table(), "" at commit.
 */
static void
refuse_entry(char *entry, const char *what)
{
	char	   *own = strstr(entry, "|own");
	char	   *bar;
	char		method;

	if (own)
		*own = '\0';
	bar = strrchr(entry, '|');
	method = bar && bar[1] ? bar[1] : 'n';
	if (bar)
		*bar = '\0';
	if (own)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_rollout's table \"%s\" cannot be a Citus %s table", entry,
						pgr_citus_table_kind(method)),
				 errdetail("pg_rollout's tables stay on the coordinator: its triggers, sequences, caches and audit chain assume one node."),
				 errhint("Call pg_rollout's functions on the coordinator (docs/citus.md).")));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 what == NULL ?
			 errmsg("cannot protect table \"%s\": it is a Citus %s table", entry,
					pgr_citus_table_kind(method)) :
			 what[0] == '\0' ?
			 errmsg("protected table \"%s\" is a Citus %s table", entry, pgr_citus_table_kind(method)) :
			 errmsg("%s cannot make protected table \"%s\" a Citus %s table", what, entry,
					pgr_citus_table_kind(method)),
			 errdetail(what != NULL && what[0] == '\0' ?
					   "pg_rollout cannot enforce tenant isolation on the shards of a Citus table: "
					   "its tenant filter would not reach the shard queries; the transaction is rolled back." :
					   "pg_rollout cannot enforce tenant isolation on the shards of a Citus table: "
					   "its tenant filter would not reach the shard queries."),
			 errhint("Keep protected tables local, or call rollout.unprotect_table('%s') first (docs/citus.md).", entry)));
}

static bool
string_member(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp(lfirst(lc), s) == 0)
			return true;
	return false;
}

/*
 * When a checked call returns: a protected table (or a partition or child
 * of one) it made a Citus table, or a Citus table it protected, is an
 * error naming it; "what" is the Citus function, NULL for
 * rollout.protect_table().
 */
void
pgr_citus_refuse_protected(const char *what)
{
	ListCell   *lc;

	if (checked_depth > 0)
		checked_depth--;
	if (!pgr_citus_installed())
		return;
	foreach(lc, protected_citus_tables())
	{
		char	   *table = lfirst(lc);

		if (!string_member(tables_before, table))
			refuse_entry(table, what);
	}
}

/*
 * A relation's definition changed in this transaction (a relcache
 * invalidation was processed): at commit, no protected table may be a
 * Citus table.  This catches what no function hook sees — a partition
 * attached to a distributed table, a foreign key to a reference table that
 * makes the table Citus-local, a Citus function called in a way that
 * bypasses fmgr hooks — before Citus commits on the workers (this
 * callback, registered after Citus's, runs before it).
 */
static bool relcache_changed = false;

static void
forget_citus_tables(void)
{
	if (citus_tables != NULL)
	{
		hash_destroy(citus_tables);
		citus_tables = NULL;
	}
}

static void
citus_relcache_callback(Datum arg, Oid relid)
{
	relcache_changed = true;
	if (!OidIsValid(relid))
		forget_citus_tables();
	else if (citus_tables != NULL)
		(void) hash_search(citus_tables, &relid, HASH_REMOVE, NULL);
}

static void
check_at_commit(void)
{
	List	   *tables;

	if (!relcache_changed || checked_depth > 0 ||
		!TransactionIdIsValid(GetTopTransactionIdIfAny()) || !pgr_citus_installed())
		return;
	/* the last command's invalidations are processed here, not yet at commit */
	CommandCounterIncrement();
	/* no statement runs at commit: the query needs a snapshot of its own */
	PushActiveSnapshot(GetTransactionSnapshot());
	tables = protected_citus_tables();
	PopActiveSnapshot();
	if (tables != NIL)
		refuse_entry(linitial(tables), "");
}

static void
citus_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
		check_at_commit();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		checked_depth = 0;
		relcache_changed = false;
		list_free_deep(tables_before);
		tables_before = NIL;
	}
}

/* needs_fmgr_hook: route Citus's conversion functions through fmgr_hook. */
static bool
citus_needs_fmgr_hook(Oid fn_oid)
{
	if (prev_needs_fmgr_hook && prev_needs_fmgr_hook(fn_oid))
		return true;
	return is_conversion_fn(fn_oid);
}

/* fmgr_hook: when a conversion function returns, check the protected tables. */
static void
citus_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *arg)
{
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, arg);
	if (event == FHET_START && is_conversion_fn(flinfo->fn_oid))
		pgr_citus_call_begins();
	else if (event == FHET_END && is_conversion_fn(flinfo->fn_oid))
	{
		char	   *name = get_func_name(flinfo->fn_oid);

		pgr_citus_refuse_protected(name ? name : "citus");
	}
}

void
pgr_citus_init(bool preloaded)
{
	CacheRegisterSyscacheCallback(RELNAMENSP, citus_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, citus_syscache_callback, (Datum) 0);
	CacheRegisterRelcacheCallback(citus_relcache_callback, (Datum) 0);
	RegisterXactCallback(citus_xact_callback, NULL);
	if (!preloaded)
		return;
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = citus_needs_fmgr_hook;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = citus_fmgr_hook;
}
