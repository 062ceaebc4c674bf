/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  pg_rollout beside Citus: protected tables distributed by Citus,
 *	  enforced on every node; no silent loss of tenant isolation elsewhere.
 *
 * Citus plans a statement on one of its tables by deparsing it into shard
 * queries run on the nodes that hold the shards.  pg_rollout's usual tenant
 * filter is a security qual of the range-table entry, which Citus does not
 * deparse, and the row-security hook on a worker does not know the shards.
 * A protected table that Citus hash-distributes is therefore enforced
 * here, when pg_rollout.cluster_secret is set (docs/citus.md):
 *
 *	- its policies pg_rollout_citus_* (created when it becomes distributed,
 *	  copied by Citus to every shard) mark its shards;
 *	- the planner hook, before Citus's planner, adds to every statement on
 *	  it the tenant (which Citus routes on: one shard) and a guard carrying
 *	  an HMAC signature of (database, role, table, tenant) under the secret;
 *	- the planner hook on every node gives a shard scan the signed tenant
 *	  as a security qual, and refuses a shard statement without a valid
 *	  signature; INSERT rows are checked on the coordinator.
 *
 * What cannot be enforced is refused:
 *
 *	- rollout.protect_table() on a Citus table, and create_distributed_table(),
 *	  create_reference_table(), citus_add_local_table_to_metadata() and
 *	  alter_distributed_table() on a protected table (or a parent of one),
 *	  fail when the function returns (fmgr hook), so the transaction that
 *	  would leave the table unfiltered rolls back, unless the result is a
 *	  distributed protected table as above;
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
 * Nothing links to Citus: its catalogs pg_catalog.pg_dist_partition and
 * pg_dist_shard are read by index (no SQL, so no search_path), when they
 * exist, the partition method cached per relation until the relation's
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
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "commands/dbcommands.h"
#include "rewrite/rowsecurity.h"
#include "catalog/pg_inherits.h"
#include "parser/parsetree.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "utils/guc.h"
#include "utils/plancache.h"
#include "fmgr.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "rewrite/rewriteManip.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "pg_rollout.h"
#include "citus.h"
#include "isolation.h"
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

/*
 * Citus functions that send any SQL text to other nodes as the caller
 * (run_command_on_workers() and the other run_command_on_* functions,
 * citus_stat_activity, ... are built on it): over the connections the
 * workers trust as the coordinator's (pg_rollout.citus_node_cert_cn).
 */
static const char *const citus_run_fns[] = {
	"master_run_on_worker",
};
static Oid	run_oids[MAX_CONVERSION_OIDS];
static int	n_run_oids = 0;

static Oid	dist_partition_oid = InvalidOid;
static Oid	dist_partition_index = InvalidOid;	/* on logicalrelid */
static bool dist_partition_known = false;

static Oid	conversion_oids[MAX_CONVERSION_OIDS];
static int	n_conversion_oids = 0;
static bool conversion_oids_known = false;

/*
 * rollout._citus_guard (anchor, token) and its earlier form (anchor, table,
 * tenant, mac), _citus_tenant_ok, _citus_insert_tenant, _library_loaded
 */
static Oid	fn_guard = InvalidOid;
static Oid	fn_guard4 = InvalidOid;
static Oid	fn_tenant_ok = InvalidOid;
static Oid	fn_insert_tenant = InvalidOid;
static Oid	fn_library_loaded = InvalidOid;
static bool rollout_fns_known = false;

static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;

/* pg_class, pg_namespace or pg_proc changed: look the catalog and the functions up again. */
static void forget_citus_tables(void);
static void forget_mac(void);

static void
citus_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	if (cacheid == PROCOID)
	{
		conversion_oids_known = false;
		rollout_fns_known = false;
	}
	else if (cacheid == AUTHOID)
		forget_mac();			/* a role's name is signed */
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
/*
 * What the planner hook needs of a distributed protected table at every
 * statement, read from its relcache entry once: it changes only with the
 * relation's definition (a relcache invalidation removes the entry) or a
 * schema's name (the pg_namespace callback empties the cache).
 */
typedef struct RelFacts
{
	bool		has_policies;	/* pg_rollout's select policy (it stands for all) */
	bool		only_own;		/* only pg_rollout's policies, with the baseline marker */
	char		qualname[2 * NAMEDATALEN + 2];	/* "schema.table", unquoted */
	AttrNumber	tenant_attnum;	/* the column facts below are for this tenant column */
	Oid			tenant_type;
	int32		tenant_typmod;
	Oid			tenant_coll;
	AttrNumber	anchor_attnum;	/* see anchor_var() */
	Oid			anchor_type;
	int32		anchor_typmod;
	Oid			anchor_coll;
} RelFacts;

typedef struct CitusTableEntry
{
	Oid			relid;			/* hash key */
	char		method;
	bool		facts_known;
	RelFacts	facts;
} CitusTableEntry;

static HTAB *citus_tables = NULL;

/*
 * shard_table()'s answers for shards, by relation, until the relation's
 * relcache invalidation (a shard's table never changes; a rename or drop
 * of the shard invalidates it); emptied with citus_tables.  Only shards:
 * a relation found to be none may become one when Citus's metadata
 * arrives.
 */
typedef struct ShardTableEntry
{
	Oid			relid;			/* hash key */
	char		table[2 * NAMEDATALEN + 2]; /* "schema.table" */
} ShardTableEntry;

static HTAB *shard_tables = NULL;

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
		if (!found)
			entry->facts_known = false;
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

/* The OIDs of the functions named in pg_catalog, at most MAX_CONVERSION_OIDS. */
static int
lookup_catalog_fns(const char *const *names, int n_names, Oid *oids)
{
	int			n = 0;

	for (int i = 0; i < n_names; i++)
	{
		CatCList   *list = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum(names[i]));

		for (int j = 0; j < list->n_members; j++)
		{
			HeapTuple	tup = &list->members[j]->tuple;
			Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tup);

			if (proc->pronamespace == PG_CATALOG_NAMESPACE && n < MAX_CONVERSION_OIDS)
				oids[n++] = proc->oid;
		}
		ReleaseSysCacheList(list);
	}
	return n;
}

/* The OIDs of Citus's conversion and run functions in this database. */
static void
lookup_conversion_fns(void)
{
	n_conversion_oids = lookup_catalog_fns(citus_conversion_fns, lengthof(citus_conversion_fns),
										   conversion_oids);
	n_run_oids = lookup_catalog_fns(citus_run_fns, lengthof(citus_run_fns), run_oids);
	conversion_oids_known = true;
}

static bool
citus_fns_known(Oid fn)
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
	return true;
}

static bool
is_conversion_fn(Oid fn)
{
	if (!citus_fns_known(fn))
		return false;
	for (int i = 0; i < n_conversion_oids; i++)
		if (conversion_oids[i] == fn)
			return true;
	return false;
}

static bool
is_run_fn(Oid fn)
{
	if (!citus_fns_known(fn))
		return false;
	for (int i = 0; i < n_run_oids; i++)
		if (run_oids[i] == fn)
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
refuse_entry(char *entry, const char *what, const char *why)
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
			 errdetail("pg_rollout cannot enforce tenant isolation on the shards of this table%s %s",
					   what != NULL && what[0] == '\0' ? " (the transaction is rolled back):" : ":",
					   why ? why : "its tenant filter would not reach the shard queries."),
			 errhint("Keep the table local, or call rollout.unprotect_table('%s') first (docs/citus.md).", entry)));
}

/* ------------------------------------------------------------------------
 * Distributed protected tables
 * ------------------------------------------------------------------------
 */

static char *cluster_secret = NULL;

/*
 * pg_rollout.citus_node_cert_cn: the common name of the client
 * certificate the cluster's nodes present to each other (sslcert/sslkey
 * in citus.node_conninfo).  A connection that authenticated with a
 * certificate verified against ssl_ca_file and bearing this name is the
 * coordinator's (or another node's, forwarding a statement it checked);
 * only such a connection may INSERT into a protected shard without a
 * tenant context (check_shard_insert).
 */
static char *node_cert_cn = NULL;

static bool
node_certificate_ok(void)
{
	return node_cert_cn != NULL && node_cert_cn[0] != '\0' && MyProcPort != NULL &&
		MyProcPort->ssl_in_use && MyProcPort->peer_cert_valid && MyProcPort->peer_cn != NULL &&
		strcmp(MyProcPort->peer_cn, node_cert_cn) == 0;
}

#define MIN_SECRET_LEN 16

static bool
secret_set(void)
{
	return cluster_secret != NULL && strlen(cluster_secret) >= MIN_SECRET_LEN;
}

/* Does the relation carry pg_rollout's policies (the select one stands for all)? */
static bool
has_citus_policies(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		found = false;
	ListCell   *lc;

	if (!RelationIsValid(rel))
		return false;
	if (rel->rd_rsdesc != NULL)
		foreach(lc, rel->rd_rsdesc->policies)
		{
			if (strcmp(((RowSecurityPolicy *) lfirst(lc))->policy_name, PGR_CITUS_SELECT_POLICY) == 0)
			{
				found = true;
				break;
			}
		}
	RelationClose(rel);
	return found;
}

static void lookup_rollout_fns(void);

/*
 * pg_rollout's restrictive policy PGR_LOADED_POLICY, USING and WITH CHECK
 * rollout._library_loaded() (src/pg_rollout.c): with the library loaded it
 * restricts nothing, so it does not keep the table's row security from
 * being replaced by the statement's tenant conjuncts.  A policy of that
 * name with another qual (a superuser's) counts as the table's own.
 */
static bool
is_loaded_qual(Expr *qual)
{
	return qual != NULL && IsA(qual, FuncExpr) && ((FuncExpr *) qual)->args == NIL &&
		OidIsValid(fn_library_loaded) && ((FuncExpr *) qual)->funcid == fn_library_loaded;
}

static bool
is_loaded_policy(RowSecurityPolicy *pol)
{
	if (strcmp(pol->policy_name, PGR_LOADED_POLICY) != 0 || pol->permissive || pol->hassublinks)
		return false;
	if (!rollout_fns_known)
		lookup_rollout_fns();
	return is_loaded_qual(pol->qual) &&
		(pol->with_check_qual == NULL || is_loaded_qual(pol->with_check_qual));
}

/* Read a relation's facts from its relcache entry; false when it is gone. */
static bool
load_facts(Oid relid, AttrNumber tenant_attnum, RelFacts *f)
{
	Relation	rel = RelationIdGetRelation(relid);
	TupleDesc	desc;
	char	   *nsp;
	ListCell   *lc;

	if (!RelationIsValid(rel))
		return false;
	memset(f, 0, sizeof(*f));
	if (rel->rd_rsdesc != NULL)
	{
		bool		own = true;
		bool		marker = false;

		foreach(lc, rel->rd_rsdesc->policies)
		{
			RowSecurityPolicy *pol = lfirst(lc);
			const char *name = pol->policy_name;

			if (strcmp(name, PGR_CITUS_SELECT_POLICY) == 0)
				f->has_policies = true;
			if (strncmp(name, PGR_CITUS_POLICY_PREFIX, strlen(PGR_CITUS_POLICY_PREFIX)) != 0 &&
				!is_loaded_policy(pol))
				own = false;
			if (strcmp(name, PGR_CITUS_BASELINE_POLICY) == 0)
				marker = true;
		}
		f->only_own = own && marker;
	}
	nsp = get_namespace_name(RelationGetNamespace(rel));
	if (nsp != NULL)
		snprintf(f->qualname, sizeof(f->qualname), "%s.%s", nsp, RelationGetRelationName(rel));
	desc = RelationGetDescr(rel);
	f->tenant_attnum = tenant_attnum;
	f->anchor_attnum = tenant_attnum;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && att->attnum != tenant_attnum)
		{
			f->anchor_attnum = att->attnum;
			break;
		}
	}
	if (tenant_attnum > 0 && tenant_attnum <= desc->natts)
	{
		Form_pg_attribute att = TupleDescAttr(desc, tenant_attnum - 1);

		f->tenant_type = att->atttypid;
		f->tenant_typmod = att->atttypmod;
		f->tenant_coll = att->attcollation;
	}
	if (f->anchor_attnum > 0 && f->anchor_attnum <= desc->natts)
	{
		Form_pg_attribute att = TupleDescAttr(desc, f->anchor_attnum - 1);

		f->anchor_type = att->atttypid;
		f->anchor_typmod = att->atttypmod;
		f->anchor_coll = att->attcollation;
	}
	RelationClose(rel);
	return true;
}

/*
 * The facts of a Citus table (cached in its citus_tables entry), with the
 * column facts for tenant_attnum; a copy, so that an invalidation while it
 * is used cannot pull it away.  has_policies is false for a relation that
 * is gone.
 */
static RelFacts
rel_facts(Oid relid, AttrNumber tenant_attnum)
{
	CitusTableEntry *entry = NULL;
	RelFacts	f;

	if (citus_tables != NULL)
		entry = hash_search(citus_tables, &relid, HASH_FIND, NULL);
	if (entry != NULL && entry->facts_known && entry->facts.tenant_attnum == tenant_attnum)
		return entry->facts;
	if (!load_facts(relid, tenant_attnum, &f))
	{
		memset(&f, 0, sizeof(f));
		return f;
	}
	/* the relcache access may have processed invalidations: look again */
	if (citus_tables != NULL && (entry = hash_search(citus_tables, &relid, HASH_FIND, NULL)) != NULL)
	{
		entry->facts = f;
		entry->facts_known = true;
	}
	return f;
}

bool
pgr_citus_protected_table(Oid relid)
{
	PgrProtectedInfo info;

	return pgr_citus_installed() && pgr_citus_table(relid) == 'h' &&
		pgr_isolation_protected(relid, &info) && rel_facts(relid, info.attnum).has_policies;
}

/*
 * Why a protected table that Citus distributed cannot be enforced on its
 * shards, or NULL when it can.
 */
static const char *
not_distributable(Oid relid, char method)
{
	PgrProtectedInfo info;

	if (method != 'h')
		return "Only hash-distributed tables can be protected on a Citus cluster; reference and Citus-local tables cannot.";
	if (!pgr_isolation_protected(relid, &info))
		return "The table is not protected.";
	if (info.inherited || get_rel_relkind(relid) != RELKIND_RELATION || has_subclass(relid))
		return "Partitioned tables, partitions and inheritance children cannot be protected on a Citus cluster.";
	if (info.include_descendants)
		return "A table protected with include_descendants cannot be distributed: its filter names several tenants.";
	if (!info.usable)
		return "The protection of the table is damaged (tenant column, row security); protect it again first.";
	if (!secret_set())
		return "pg_rollout.cluster_secret is not set (at least 16 characters, the same on every node): "
			"without it the workers cannot tell the coordinator's statements from direct connections.";
	return NULL;
}

/*
 * Put pg_rollout's policies on a distributed protected table; Citus copies
 * them to every shard (and to shards created later), with the shard id
 * appended to their names.  For SELECT, UPDATE and DELETE:
 * rollout._citus_tenant_ok(tenant_column).  They mark the relation; the
 * planner hook on each node replaces the call by false (so they add no
 * row: they are permissive, because Citus 13.2 copies every policy to
 * the shards as permissive, AS RESTRICTIVE lost in its deparser) and adds
 * "tenant_column = '<signed tenant>'" as a security qual of its own (and
 * as a check of updated rows), or refuses the statement without a valid
 * signature.  Evaluated without pg_rollout's hook the call is false.
 * INSERT has none: the coordinator checks inserted rows.  The baseline
 * marker (USING false) tells the row-security hook on the workers that
 * the all-rows baseline applies.  Run as the caller (the table's owner),
 * with a pinned search_path.
 */
static void
enable_distributed(Oid relid)
{
	PgrProtectedInfo info;
	char	   *col;
	int			pathlevel;

	if (has_citus_policies(relid) || !pgr_isolation_protected(relid, &info))
		return;
	col = psprintf("rollout._citus_tenant_ok(%s::pg_catalog.text)", quote_identifier(info.column));
	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_rollout: SPI_connect failed");
	if (SPI_execute(psprintf("CREATE POLICY %s ON %s FOR SELECT USING (%s)",
							 PGR_CITUS_SELECT_POLICY, info.qualname, col), false, 0) != SPI_OK_UTILITY ||
		SPI_execute(psprintf("CREATE POLICY pg_rollout_citus_update ON %s FOR UPDATE USING (%s) WITH CHECK (%s)",
							 info.qualname, col, col), false, 0) != SPI_OK_UTILITY ||
		SPI_execute(psprintf("CREATE POLICY pg_rollout_citus_delete ON %s FOR DELETE USING (%s)",
							 info.qualname, col), false, 0) != SPI_OK_UTILITY ||
		(info.baseline &&
		 SPI_execute(psprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR ALL USING (false) WITH CHECK (false)",
							  PGR_CITUS_BASELINE_POLICY, info.qualname), false, 0) != SPI_OK_UTILITY))
		elog(ERROR, "pg_rollout: could not create the policies of distributed table %s", info.qualname);
	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	CommandCounterIncrement();
}

/* The relation and method of an entry of protected_citus_tables(). */
static Oid
entry_relid(const char *entry, char *method)
{
	char	   *copy = pstrdup(entry);
	char	   *bar = strrchr(copy, '|');

	*method = bar && bar[1] ? bar[1] : 'n';
	if (bar)
		*bar = '\0';
	return DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(copy)));
}

/*
 * An entry the cluster can enforce: made so (policies created) when
 * "enable", else only checked.  *why: the reason it cannot.
 */
static bool
entry_enforceable(const char *entry, bool enable, const char **why)
{
	char		method;
	Oid			relid;

	*why = NULL;
	if (strstr(entry, "|own") != NULL)
		return false;
	relid = entry_relid(entry, &method);
	if ((*why = not_distributable(relid, method)) != NULL)
		return false;
	if (enable)
		enable_distributed(relid);
	if (!has_citus_policies(relid))
	{
		*why = "pg_rollout's policies (pg_rollout_citus_*) are missing on the table: call rollout.protect_table() on it again.";
		return false;
	}
	return true;
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

		const char *why;

		if (string_member(tables_before, table))
			continue;
		if (!entry_enforceable(table, true, &why))
			refuse_entry(table, what, why);
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
	if (shard_tables != NULL)
	{
		hash_destroy(shard_tables);
		shard_tables = NULL;
	}
}

static void
citus_relcache_callback(Datum arg, Oid relid)
{
	relcache_changed = true;
	if (!OidIsValid(relid))
		forget_citus_tables();
	else
	{
		if (citus_tables != NULL)
			(void) hash_search(citus_tables, &relid, HASH_REMOVE, NULL);
		if (shard_tables != NULL)
			(void) hash_search(shard_tables, &relid, HASH_REMOVE, NULL);
	}
}

static void
check_at_commit(void)
{
	List	   *tables;
	ListCell   *lc;

	if (!relcache_changed || checked_depth > 0 ||
		!TransactionIdIsValid(GetTopTransactionIdIfAny()) || !pgr_citus_installed())
		return;
	/* the last command's invalidations are processed here, not yet at commit */
	CommandCounterIncrement();
	/* no statement runs at commit: the query needs a snapshot of its own */
	PushActiveSnapshot(GetTransactionSnapshot());
	tables = protected_citus_tables();
	PopActiveSnapshot();
	foreach(lc, tables)
	{
		const char *why;

		if (!entry_enforceable(lfirst(lc), false, &why))
			refuse_entry(lfirst(lc), "", why);
	}
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

/* needs_fmgr_hook: route Citus's conversion and run functions through fmgr_hook. */
static bool
citus_needs_fmgr_hook(Oid fn_oid)
{
	if (prev_needs_fmgr_hook && prev_needs_fmgr_hook(fn_oid))
		return true;
	return is_conversion_fn(fn_oid) || is_run_fn(fn_oid);
}

/*
 * Does this database hold a distributed protected table or a shard of
 * one (pg_rollout's policies, which Citus copies to the shards and to the
 * workers' copies of the table)?  The workers do not know pg_rollout's
 * registry, only the policies.
 */
static bool
protected_shards_here(void)
{
	bool		found;
	int			pathlevel = pgr_pin_search_path();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_rollout: SPI_connect failed");
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_policy p"
					" WHERE p.polname OPERATOR(pg_catalog.~~) 'pg\\_rollout\\_citus\\_select%' LIMIT 1",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_rollout: could not read pg_policy");
	found = SPI_processed > 0;
	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	return found;
}

/*
 * master_run_on_worker() sends the caller's SQL text, as a statement of
 * its own, over a connection that presents the node certificate; a worker
 * accepts INSERTs into protected shards on such a connection
 * (check_shard_insert), so only roles row security does not apply to may
 * call it where protected shards exist.
 */
static void
refuse_run_fn(Oid fn)
{
	char	   *name;

	if (pgr_isolation_privileged() || !protected_shards_here())
		return;
	name = get_func_name(fn);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s is reserved to superusers in a database with distributed protected tables",
					name ? name : "master_run_on_worker"),
			 errdetail("It sends any statement to the other nodes over the connections they trust as the coordinator's (pg_rollout.citus_node_cert_cn): rows would reach the shards without the coordinator's tenant check."),
			 errhint("Run it as a superuser; run_command_on_workers() and the other functions and views built on it (citus_stat_activity, citus_locks, ...) are reserved the same way (docs/citus.md).")));
}

/* fmgr_hook: when a conversion function returns, check the protected tables. */
static void
citus_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *arg)
{
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, arg);
	if (event == FHET_START && is_run_fn(flinfo->fn_oid))
		refuse_run_fn(flinfo->fn_oid);
	else if (event == FHET_START && is_conversion_fn(flinfo->fn_oid))
		pgr_citus_call_begins();
	else if (event == FHET_END && is_conversion_fn(flinfo->fn_oid))
	{
		char	   *name = get_func_name(flinfo->fn_oid);

		pgr_citus_refuse_protected(name ? name : "citus");
	}
}

/*
 * After rollout.unprotect_table(): a distributed table that is no longer
 * protected loses pg_rollout's policies (on its shards too: Citus
 * propagates DROP POLICY).  Run as the caller, who owns the table.
 */
static bool internal_ddl = false;

/* Is pg_rollout itself dropping its policies (isolation.c lets it)? */
bool
pgr_citus_internal_ddl(void)
{
	return internal_ddl;
}

void
pgr_citus_unprotected(void)
{
	int			pathlevel;
	List	   *volatile drops = NIL;
	ListCell   *lc;

	if (!pgr_citus_installed())
		return;
	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_rollout: SPI_connect failed");
	if (SPI_execute("SELECT pg_catalog.format('DROP POLICY %I ON %s', p.polname, p.polrelid::pg_catalog.regclass)"
					"  FROM pg_catalog.pg_policy p"
					"  JOIN pg_catalog.pg_dist_partition d ON d.logicalrelid::pg_catalog.oid OPERATOR(pg_catalog.=) p.polrelid"
					" WHERE p.polname OPERATOR(pg_catalog.~~) 'pg\\_rollout\\_citus\\_%'"
					"   AND NOT EXISTS (SELECT 1 FROM rollout.protected_table t"
					"                    WHERE t.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) p.polrelid)",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_rollout: could not read the policies of distributed tables");
	for (uint64 i = 0; i < SPI_processed; i++)
		drops = lappend(drops, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	internal_ddl = true;
	PG_TRY();
	{
		foreach(lc, drops)
			if (SPI_execute(lfirst(lc), false, 0) != SPI_OK_UTILITY)
				elog(ERROR, "pg_rollout: could not run %s", (char *) lfirst(lc));
	}
	PG_FINALLY();
	{
		internal_ddl = false;
	}
	PG_END_TRY();
	SPI_finish();
	pgr_unpin_search_path(pathlevel);
}

/* ------------------------------------------------------------------------
 * Signed tenant: what a worker accepts as the coordinator's word
 * ------------------------------------------------------------------------
 *
 * HMAC-SHA256 under pg_rollout.cluster_secret (the same on every node,
 * readable by superusers only) of the database, the role the statement
 * runs as (Citus connects to the workers as that role), the distributed
 * table (schema.table) and the tenant, in hex.
 */
#define MAC_HEX_LEN (PG_SHA256_DIGEST_LENGTH * 2)

/*
 * The last signature computed, by role id, table and tenant (the same
 * statement is planned again and again): TopMemoryContext; forgotten when
 * a role changes (its name is signed) or the secret does.
 */
static Oid	mac_last_user = InvalidOid;
static char *mac_last_key = NULL;	/* table \0 tenant \0 secret \0 */
static int	mac_last_len = 0;
static char mac_last_hex[MAC_HEX_LEN + 1];

static void
forget_mac(void)
{
	mac_last_user = InvalidOid;
}

static bool
compute_mac(Oid userid, const char *table, const char *tenant, char *hex)
{
	/* the database's name: a connected database cannot be renamed */
	static char *db = NULL;
	pg_hmac_ctx *ctx;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	StringInfoData msg;
	const char *role;
	int			tlen;
	int			nlen;
	int			slen;
	bool		ok;

	if (!secret_set())
		return false;
	tlen = strlen(table) + 1;
	nlen = strlen(tenant) + 1;
	slen = strlen(cluster_secret) + 1;
	if (OidIsValid(mac_last_user) && mac_last_user == userid && mac_last_len == tlen + nlen + slen &&
		memcmp(mac_last_key, table, tlen) == 0 && memcmp(mac_last_key + tlen, tenant, nlen) == 0 &&
		memcmp(mac_last_key + tlen + nlen, cluster_secret, slen) == 0)
	{
		memcpy(hex, mac_last_hex, sizeof(mac_last_hex));
		return true;
	}
	if (db == NULL)
	{
		char	   *name = get_database_name(MyDatabaseId);

		if (name == NULL)
			return false;
		db = MemoryContextStrdup(TopMemoryContext, name);
	}
	if ((role = GetUserNameFromId(userid, true)) == NULL)
		return false;
	initStringInfo(&msg);
	appendStringInfoString(&msg, "pg_rollout citus v1");
	appendStringInfoChar(&msg, '\0');
	appendBinaryStringInfo(&msg, db, strlen(db) + 1);
	appendBinaryStringInfo(&msg, role, strlen(role) + 1);
	appendBinaryStringInfo(&msg, table, strlen(table) + 1);
	appendBinaryStringInfo(&msg, tenant, strlen(tenant) + 1);
	ctx = pg_hmac_create(PG_SHA256);
	ok = ctx != NULL &&
		pg_hmac_init(ctx, (const uint8 *) cluster_secret, strlen(cluster_secret)) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) msg.data, msg.len) == 0 &&
		pg_hmac_final(ctx, digest, sizeof(digest)) == 0;
	if (ctx)
		pg_hmac_free(ctx);
	if (!ok)
	{
		pfree(msg.data);
		return false;
	}
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		static const char xd[] = "0123456789abcdef";

		hex[2 * i] = xd[digest[i] >> 4];
		hex[2 * i + 1] = xd[digest[i] & 0xf];
	}
	hex[MAC_HEX_LEN] = '\0';
	if (mac_last_key)
		pfree(mac_last_key);
	mac_last_key = MemoryContextAlloc(TopMemoryContext, tlen + nlen + slen);
	memcpy(mac_last_key, table, tlen);
	memcpy(mac_last_key + tlen, tenant, nlen);
	memcpy(mac_last_key + tlen + nlen, cluster_secret, slen);
	mac_last_len = tlen + nlen + slen;
	memcpy(mac_last_hex, hex, sizeof(mac_last_hex));
	mac_last_user = userid;
	pfree(msg.data);
	return true;
}

/* Is mac the signature of (current role, table, tenant)?  Constant time. */
static bool
mac_valid(const char *table, const char *tenant, const char *mac)
{
	char		expect[MAC_HEX_LEN + 1];
	int			diff = 0;

	if (strlen(mac) != MAC_HEX_LEN || !compute_mac(GetUserId(), table, tenant, expect))
		return false;
	for (int i = 0; i < MAC_HEX_LEN; i++)
		diff |= expect[i] ^ mac[i];
	return diff == 0;
}

/*
 * The guard's token: "<length of table>:<table>:<tenant>:<mac>", one text
 * constant where the earlier form of rollout._citus_guard took three
 * (every node of a statement is walked by Citus's planner and by the
 * shard's; a tenant point look-up costs about 5,000 instructions less,
 * docs/citus.md section 8).  The table is found by its length, the mac by
 * its fixed length at the end; the tenant is what lies between.
 */
static text *
guard_token(const char *table, const char *tenant, const char *mac)
{
	char		digits[12];
	int			ndigits = pg_ultoa_n((uint32) strlen(table), digits);
	size_t		tl = strlen(table);
	size_t		nl = strlen(tenant);
	size_t		ml = strlen(mac);
	text	   *t = palloc(VARHDRSZ + ndigits + 1 + tl + 1 + nl + 1 + ml);
	char	   *p = VARDATA(t);

	/* assembled by hand: psprintf() cost more than the rest of the guard's construction */
	SET_VARSIZE(t, VARHDRSZ + ndigits + 1 + tl + 1 + nl + 1 + ml);
	memcpy(p, digits, ndigits);
	p += ndigits;
	*p++ = ':';
	memcpy(p, table, tl);
	p += tl;
	*p++ = ':';
	memcpy(p, tenant, nl);
	p += nl;
	*p++ = ':';
	memcpy(p, mac, ml);
	return t;
}

/* Split a token (len bytes, not NUL-terminated) into palloc'd parts; false when malformed. */
static bool
parse_guard_token(const char *tok, int len, char **table, char **tenant, char **mac)
{
	int			tlen = 0;
	int			i = 0;
	int			tenant_len;

	while (i < len && i < 4 && tok[i] >= '0' && tok[i] <= '9')
		tlen = tlen * 10 + (tok[i++] - '0');
	if (i == 0 || i >= len || tok[i] != ':' || tlen == 0)
		return false;
	i++;
	/* table, ':', tenant (at least one byte), ':', mac */
	tenant_len = len - i - tlen - 1 - 1 - MAC_HEX_LEN;
	if (tlen > len - i || tenant_len < 1 || tok[i + tlen] != ':' || tok[len - MAC_HEX_LEN - 1] != ':')
		return false;
	*table = pnstrdup(tok + i, tlen);
	*tenant = pnstrdup(tok + i + tlen + 1, tenant_len);
	*mac = pnstrdup(tok + len - MAC_HEX_LEN, MAC_HEX_LEN);
	return strlen(*table) == (size_t) tlen && strlen(*tenant) == (size_t) tenant_len;
}

/* rollout functions by name and argument types, looked up once per pg_proc change */

static void
lookup_rollout_fns(void)
{
	Oid			nsp = get_namespace_oid(PGR_SCHEMA, true);

	fn_guard = fn_guard4 = fn_tenant_ok = fn_insert_tenant = fn_library_loaded = InvalidOid;
	if (OidIsValid(nsp))
	{
		fn_library_loaded = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum("_library_loaded"),
											PointerGetDatum(buildoidvector(NULL, 0)),
											ObjectIdGetDatum(nsp));
		fn_guard = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum("_citus_guard"),
								   PointerGetDatum(buildoidvector((Oid[]) {ANYELEMENTOID, TEXTOID}, 2)),
								   ObjectIdGetDatum(nsp));
		fn_guard4 = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum("_citus_guard"),
									PointerGetDatum(buildoidvector((Oid[]) {ANYELEMENTOID, TEXTOID, TEXTOID, TEXTOID}, 4)),
									ObjectIdGetDatum(nsp));
		fn_tenant_ok = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum("_citus_tenant_ok"),
									   PointerGetDatum(buildoidvector((Oid[]) {TEXTOID}, 1)),
									   ObjectIdGetDatum(nsp));
		fn_insert_tenant = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum("_citus_insert_tenant"),
										   PointerGetDatum(buildoidvector((Oid[]) {TEXTOID}, 1)),
										   ObjectIdGetDatum(nsp));
	}
	rollout_fns_known = true;
}

/* "schema.table" of a relation, unquoted: what the signature names. */
static char *
plain_qualname(Oid relid)
{
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));
	char	   *rel = get_rel_name(relid);

	return nsp && rel ? psprintf("%s.%s", nsp, rel) : NULL;
}

/* ------------------------------------------------------------------------
 * The planner hook
 * ------------------------------------------------------------------------
 *
 * Installed after Citus's, so it runs before Citus's distributed planner.
 * On the coordinator, every range-table entry of a distributed protected
 * table gets, at its level of the query, the conjuncts
 *
 *		tenant_column = '<tenant>' AND rollout._citus_guard(col, '<table>', '<tenant>', '<mac>')
 *
 * The first lets Citus route the statement to the tenant's shard (its
 * fast path takes "distribution column = constant"); the second carries
 * the signature to the shard query (its column, see anchor_var(), keeps
 * Citus from evaluating it on the coordinator).  On every node, a scan of a relation that is not
 * a Citus table (a shard) whose row security includes
 * rollout._citus_tenant_ok(col) gets that qual replaced by
 * col = '<tenant>' for the tenant a valid signature in the statement
 * names for its table, and is refused without one.
 */
static planner_hook_type prev_planner_hook = NULL;
static bool planned_distributed = false;	/* a plan holds a tenant constant */

void
pgr_citus_tenant_changed(void)
{
	if (planned_distributed)
	{
		planned_distributed = false;
		ResetPlanCache();
	}
}

static Node *
tenant_column_var(Index rti, const RelFacts *f)
{
	Node	   *col = (Node *) makeVar(rti, f->tenant_attnum, f->tenant_type, f->tenant_typmod, f->tenant_coll, 0);

	if (f->tenant_type != TEXTOID)
		col = (Node *) makeRelabelType((Expr *) col, TEXTOID, -1, f->tenant_coll, COERCE_IMPLICIT_CAST);
	return col;
}

/*
 * The column the guard is anchored to: a Var keeps Citus from evaluating
 * the guard on the coordinator.  Not the tenant column, which Citus's fast
 * path wants to meet once, and not a system column, which Citus loses
 * where it turns a relation into a subquery: the first other column (the
 * tenant column when there is none).
 */
static Var *
anchor_var(Index rti, const RelFacts *f)
{
	return makeVar(rti, f->anchor_attnum, f->anchor_type, f->anchor_typmod, f->anchor_coll, 0);
}

static Expr *
tenant_equals(Node *col, const char *tenant, Oid coll)
{
	Const	   *c = makeConst(TEXTOID, -1, coll, -1, CStringGetTextDatum(tenant), false, false);
	OpExpr	   *op = (OpExpr *) make_opclause(TextEqualOperator, BOOLOID, false, (Expr *) col, (Expr *) c,
											  InvalidOid, coll);

	op->opfuncid = F_TEXTEQ;
	return (Expr *) op;
}

/*
 * Replace rollout._citus_tenant_ok(x) by false (when tenant is set),
 * remembering x and its collation.
 */
typedef struct TenantOkReplace
{
	const char *tenant;
	int			found;
	Node	   *arg;
	Oid			coll;
} TenantOkReplace;

static Node *
tenant_ok_mutator(Node *node, TenantOkReplace *r)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == fn_tenant_ok &&
		list_length(((FuncExpr *) node)->args) == 1)
	{
		FuncExpr   *f = (FuncExpr *) node;

		r->found++;
		if (r->arg == NULL)
		{
			r->arg = copyObject(linitial(f->args));
			r->coll = f->inputcollid;
		}
		if (r->tenant == NULL)
			return node;
		return (Node *) makeBoolConst(false, false);
	}
	return expression_tree_mutator(node, tenant_ok_mutator, r);
}

/*
 * The relation's row security with pg_rollout's policy calls replaced:
 * "x = '<tenant>'" first among its security quals, and as a check of the
 * rows an UPDATE writes.
 */
static bool
apply_tenant(Query *q, Index rti, RangeTblEntry *rte, const char *tenant)
{
	TenantOkReplace r = {tenant, 0, NULL, InvalidOid};
	Expr	   *qual;

	rte->securityQuals = (List *) tenant_ok_mutator((Node *) rte->securityQuals, &r);
	if (rti == (Index) q->resultRelation)
	{
		ListCell   *wl;

		foreach(wl, q->withCheckOptions)
		{
			WithCheckOption *wco = lfirst(wl);

			wco->qual = tenant_ok_mutator(wco->qual, &r);
		}
	}
	if (r.arg == NULL)
		return false;
	qual = tenant_equals(r.arg, tenant, r.coll);
	rte->securityQuals = lcons(qual, rte->securityQuals);
	if (rti == (Index) q->resultRelation && q->commandType == CMD_UPDATE)
	{
		WithCheckOption *wco = makeNode(WithCheckOption);

		wco->kind = WCO_RLS_UPDATE_CHECK;
		wco->relname = get_rel_name(rte->relid);
		wco->polname = pstrdup("pg_rollout_citus");
		wco->qual = (Node *) copyObject(qual);
		wco->cascaded = false;
		q->withCheckOptions = lappend(q->withCheckOptions, wco);
	}
	return true;
}

/*
 * Add qual where it restricts range-table entry rti: in the WHERE of the
 * FROM list or inner join holding it, in the ON of an outer join whose
 * nullable side holds it.  False when the entry is not in the tree;
 * refuses a FULL JOIN (no place filters one side only).
 */
static bool
place_qual(Node *jt, Node **target, Index rti, Expr *qual, const char *table)
{
	if (jt == NULL)
		return false;
	if (IsA(jt, RangeTblRef))
	{
		if (((RangeTblRef *) jt)->rtindex != (int) rti)
			return false;

		/*
		 * First: Citus's fast path takes the first "column = constant or
		 * parameter" it meets for the distribution key value, so a user's
		 * "id = $1" before the tenant would defer its shard pruning to
		 * every execution.
		 */
		*target = make_and_qual((Node *) qual, *target);
		return true;
	}
	if (IsA(jt, FromExpr))
	{
		FromExpr   *f = (FromExpr *) jt;
		ListCell   *lc;

		foreach(lc, f->fromlist)
			if (place_qual(lfirst(lc), &f->quals, rti, qual, table))
				return true;
		return false;
	}
	if (IsA(jt, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) jt;
		Node	  **left_target = &j->quals;
		Node	  **right_target = &j->quals;

		if (j->jointype == JOIN_LEFT)
			left_target = target;
		else if (j->jointype == JOIN_RIGHT)
			right_target = target;
		else if (j->jointype == JOIN_FULL)
		{
			if (place_qual(j->larg, target, rti, qual, table) || place_qual(j->rarg, target, rti, qual, table))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("distributed protected table \"%s\" cannot be in a FULL JOIN", table),
						 errdetail("pg_rollout adds the tenant filter to the query; a full join has no place for it that filters one side only.")));
			return false;
		}
		else if (j->jointype != JOIN_INNER)
			return false;
		return place_qual(j->larg, left_target, rti, qual, table) ||
			place_qual(j->rarg, right_target, rti, qual, table);
	}
	return false;
}

static void
refuse_statement(const char *table, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s on distributed protected table \"%s\" is not supported", what, table),
			 errdetail("pg_rollout enforces tenant isolation on the shards through the statement it sends them; this form carries no tenant filter to them."),
			 errhint("See docs/citus.md, section Limits.")));
}

/*
 * An inserted tenant value e wrapped in rollout._citus_insert_tenant(), which
 * Citus evaluates on the coordinator (checked against the tenant context),
 * through text and back to e's type.
 */
static Node *
insert_tenant_checked(Node *e)
{
	Node	   *arg = exprType(e) == TEXTOID ? e :
		(Node *) makeRelabelType((Expr *) e, TEXTOID, -1, exprCollation(e), COERCE_IMPLICIT_CAST);
	Node	   *f = (Node *) makeFuncExpr(fn_insert_tenant, TEXTOID, list_make1(arg), InvalidOid,
										  exprCollation(e), COERCE_EXPLICIT_CALL);

	if (exprType(e) != TEXTOID)
		f = (Node *) makeRelabelType((Expr *) f, exprType(e), exprTypmod(e), exprCollation(e),
									 COERCE_IMPLICIT_CAST);
	return f;
}

/* INSERT into a distributed protected table: every row's tenant checked on the coordinator. */
static void
check_insert(Query *q, Index rti, const PgrProtectedInfo *info)
{
	ListCell   *lc;
	TargetEntry *te = NULL;
	RangeTblEntry *values = NULL;

	if (q->onConflict != NULL && q->onConflict->action == ONCONFLICT_UPDATE)
		refuse_statement(info->qualname, "INSERT ... ON CONFLICT DO UPDATE");
	if (q->returningList != NIL)
		refuse_statement(info->qualname, "INSERT ... RETURNING");
	foreach(lc, q->targetList)
		if (((TargetEntry *) lfirst(lc))->resno == info->attnum)
			te = lfirst(lc);
	if (te == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("INSERT into distributed protected table \"%s\" must set its tenant column \"%s\"",
						info->qualname, info->column)));
	foreach(lc, q->rtable)
	{
		RangeTblEntry *r = lfirst(lc);

		if (r->rtekind == RTE_SUBQUERY)
			refuse_statement(info->qualname, "INSERT ... SELECT");
		if (r->rtekind == RTE_VALUES)
			values = r;
	}
	if (values != NULL && IsA(te->expr, Var) && ((Var *) te->expr)->varlevelsup == 0 &&
		rt_fetch(((Var *) te->expr)->varno, q->rtable) == values)
	{
		AttrNumber	col = ((Var *) te->expr)->varattno;

		foreach(lc, values->values_lists)
		{
			List	   *row = lfirst(lc);
			ListCell   *cell = list_nth_cell(row, col - 1);

			lfirst(cell) = insert_tenant_checked(lfirst(cell));
		}
	}
	else
		te->expr = (Expr *) insert_tenant_checked((Node *) te->expr);
}

/* Coordinator: one level of the query. */
static void
rewrite_level(Query *q)
{
	ListCell   *lc;
	Index		rti = 0;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		PgrProtectedInfo info;
		RelFacts	facts;
		const char *tenant;
		char		mac[MAC_HEX_LEN + 1];
		Node	   *col;
		Expr	   *quals;
		FuncExpr   *guard;

		rti++;
		/* pgr_citus_protected_table(), keeping what it reads */
		if (rte->rtekind != RTE_RELATION || pgr_citus_table(rte->relid) != 'h' ||
			!pgr_isolation_protected(rte->relid, &info))
			continue;
		facts = rel_facts(rte->relid, info.attnum);
		if (!facts.has_policies)
			continue;
		planned_distributed = true;
		if (pgr_isolation_privileged())
			continue;			/* row security does not apply to it on the workers either */
		tenant = pgr_isolation_tenant();
		if (tenant == NULL)
			continue;			/* refused at ExecutorStart */
		if (!info.usable)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("protection of distributed table \"%s\" is damaged", info.qualname),
					 errdetail("Its tenant column or row security was changed after rollout.protect_table()."),
					 errhint("Call rollout.protect_table() on it again.")));
		if (!rollout_fns_known)
			lookup_rollout_fns();
		if ((!OidIsValid(fn_guard) && !OidIsValid(fn_guard4)) || !OidIsValid(fn_tenant_ok) || !OidIsValid(fn_insert_tenant))
			elog(ERROR, "pg_rollout: functions rollout._citus_guard, _citus_tenant_ok, _citus_insert_tenant missing");
		if (q->commandType == CMD_MERGE)
			refuse_statement(info.qualname, "MERGE");

		/*
		 * The coordinator's own copy of the policies (local execution plans
		 * it): the tenant qual; nothing at all when the relation has no
		 * policy but pg_rollout's, since the statement carries the tenant
		 * where the table is read (Citus and the planner have less to do).
		 */
		if (facts.only_own && rti != (Index) q->resultRelation)
			rte->securityQuals = NIL;	/* a read: the tenant is in the statement itself (below) */
		else if (apply_tenant(q, rti, rte, tenant) && facts.only_own)
			rte->securityQuals = NIL;	/* the tenant is in the statement itself (below) */

		if (q->commandType == CMD_INSERT && rti == (Index) q->resultRelation)
		{
			check_insert(q, rti, &info);
			continue;
		}
		if (facts.qualname[0] == '\0' || !compute_mac(GetUserId(), facts.qualname, tenant, mac))
			elog(ERROR, "pg_rollout: could not sign the tenant for table %s", info.qualname);
		col = tenant_column_var(rti, &facts);
		if (OidIsValid(fn_guard))
			guard = makeFuncExpr(fn_guard, BOOLOID,
								 list_make2(anchor_var(rti, &facts),
											makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
													  PointerGetDatum(guard_token(facts.qualname, tenant, mac)), false, false)),
								 InvalidOid, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL);
		else					/* a schema not updated yet: the earlier form */
			guard = makeFuncExpr(fn_guard4, BOOLOID,
								 list_make4(anchor_var(rti, &facts),
											makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1, CStringGetTextDatum(facts.qualname), false, false),
											makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1, CStringGetTextDatum(tenant), false, false),
											makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1, CStringGetTextDatum(mac), false, false)),
								 InvalidOid, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL);
		quals = make_andclause(list_make2(tenant_equals(col, tenant, exprCollation(col)), guard));
		if (place_qual((Node *) q->jointree, &q->jointree->quals, rti, quals, info.qualname))
			continue;
		if ((q->commandType == CMD_UPDATE || q->commandType == CMD_DELETE) && rti == (Index) q->resultRelation)
		{
			q->jointree->quals = make_and_qual((Node *) quals, q->jointree->quals);
			continue;
		}
		refuse_statement(info.qualname, "this statement");
	}
}

/*
 * Call fn on every level of a query: the query, its subqueries in FROM,
 * its CTEs and, only when it has any, the subqueries of its sublinks (a
 * simple statement is not walked expression by expression).
 */
typedef struct LevelWalk
{
	void		(*fn) (Query *q, void *arg);
	void	   *arg;
} LevelWalk;

static void for_each_level(Query *q, LevelWalk *lw);

static bool
sublink_walker(Node *node, LevelWalk *lw)
{
	if (node == NULL)
		return false;
	if (IsA(node, SubLink))
	{
		for_each_level((Query *) ((SubLink *) node)->subselect, lw);
		return sublink_walker(((SubLink *) node)->testexpr, lw);
	}
	if (IsA(node, Query))
		return false;			/* reached through for_each_level */
	return expression_tree_walker(node, sublink_walker, lw);
}

static void
for_each_level(Query *q, LevelWalk *lw)
{
	ListCell   *lc;

	if (q == NULL || !IsA(q, Query))
		return;
	check_stack_depth();
	lw->fn(q, lw->arg);
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_SUBQUERY)
			for_each_level(rte->subquery, lw);
	}
	foreach(lc, q->cteList)
		for_each_level((Query *) ((CommonTableExpr *) lfirst(lc))->ctequery, lw);
	if (q->hasSubLinks)
		(void) query_tree_walker(q, sublink_walker, lw,
								 QTW_IGNORE_RT_SUBQUERIES | QTW_IGNORE_CTE_SUBQUERIES);
}

static bool tenant_ok_walker(Node *node, void *context);

static char *shard_table(Oid relid);

typedef struct PlanWalk
{
	bool		shards;			/* a shard with pg_rollout's policies is read or changed */
	bool		client_statement;	/* the statement the client sent, not a nested one */
} PlanWalk;

/*
 * The argument of rollout._citus_tenant_ok() in the policies of a
 * relation (a shard of a distributed protected table): its tenant column
 * as text, its Vars numbered rti; NULL when the relation has none.
 */
static Node *
policy_tenant_arg(Oid relid, Index rti, Oid *coll)
{
	Relation	rel = RelationIdGetRelation(relid);
	Node	   *arg = NULL;
	ListCell   *lc;

	if (!RelationIsValid(rel))
		return NULL;
	if (rel->rd_rsdesc != NULL)
		foreach(lc, rel->rd_rsdesc->policies)
		{
			RowSecurityPolicy *pol = lfirst(lc);
			TenantOkReplace r = {NULL, 0, NULL, InvalidOid};

			if (!tenant_ok_walker((Node *) pol->qual, NULL))
				continue;
			(void) tenant_ok_mutator((Node *) pol->qual, &r);
			arg = r.arg;
			*coll = r.coll;
			break;
		}
	RelationClose(rel);
	if (arg != NULL && rti != 1)
		ChangeVarNodes(arg, 1, rti, 0);
	return arg;
}

/*
 * An INSERT into a shard of a distributed protected table, on any node.
 * The coordinator never signs inserted rows (Citus evaluates every
 * function of an INSERT on the coordinator, so a signature could not
 * travel with them): it checks them itself (check_insert) and sends them
 * over a connection that presents the cluster's node certificate.  So a
 * shard accepts an INSERT, from a role that row security applies to, when
 *
 *	- it is the statement the client sent (not one nested in a function,
 *	  a DO block or a procedure), on a connection authenticated with a
 *	  client certificate that ssl_ca_file verifies and whose common name
 *	  is pg_rollout.citus_node_cert_cn; or
 *	- this backend has a tenant context (Citus's local execution of a
 *	  statement checked here, or a direct insert of one's own rows): every
 *	  row's tenant is checked against it, like rows inserted through the
 *	  coordinator;
 *
 * and refuses it otherwise.  Superusers and BYPASSRLS roles (Citus's shard
 * moves and copies) insert as on any table.
 */
static void
check_shard_insert(Query *q, bool client_statement)
{
	RangeTblEntry *rte = rt_fetch(q->resultRelation, q->rtable);
	Node	   *arg;
	Oid			coll = InvalidOid;
	char	   *table;

	if (rte->rtekind != RTE_RELATION)
		return;
	if (pgr_citus_table(rte->relid) != '\0')
	{
		/*
		 * A Citus table: checked by rewrite_level() where it is protected
		 * (the coordinator).  A worker with Citus's metadata knows the
		 * table and its policies, but not its protection, and would send
		 * the rows to the other nodes over its node certificate.
		 */
		if (!has_citus_policies(rte->relid) || pgr_citus_protected_table(rte->relid) ||
			check_enable_rls(rte->relid, InvalidOid, true) != RLS_ENABLED)
			return;
		table = plain_qualname(rte->relid);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("insert into distributed protected table \"%s\" is refused on this node", table),
				 errdetail("pg_rollout checks the tenant of inserted rows on the coordinator, where the table is protected; this node does not know its protection."),
				 errhint("Insert through the coordinator after rollout.set_tenant() (docs/citus.md).")));
	}
	arg = policy_tenant_arg(rte->relid, q->resultRelation, &coll);
	if (arg == NULL || check_enable_rls(rte->relid, InvalidOid, true) != RLS_ENABLED)
		return;
	if (client_statement && node_certificate_ok())
		return;
	if (pgr_isolation_tenant() != NULL)
	{
		WithCheckOption *wco = makeNode(WithCheckOption);
		FuncExpr   *checked = makeFuncExpr(fn_insert_tenant, TEXTOID, list_make1(copyObject(arg)),
										   InvalidOid, coll, COERCE_EXPLICIT_CALL);
		OpExpr	   *op = (OpExpr *) make_opclause(TextEqualOperator, BOOLOID, false, (Expr *) checked,
												  (Expr *) arg, InvalidOid, coll);

		op->opfuncid = F_TEXTEQ;
		wco->kind = WCO_RLS_INSERT_CHECK;
		wco->relname = get_rel_name(rte->relid);
		wco->polname = pstrdup("pg_rollout_citus");
		wco->qual = (Node *) op;
		wco->cascaded = false;
		q->withCheckOptions = lappend(q->withCheckOptions, wco);
		return;
	}
	table = shard_table(rte->relid);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("insert into shard \"%s\" of protected table \"%s\" is refused: only the coordinator writes rows into it",
					get_rel_name(rte->relid), table ? table : get_rel_name(rte->relid)),
			 node_cert_cn == NULL || node_cert_cn[0] == '\0' ?
			 errdetail("pg_rollout.citus_node_cert_cn is not set on this node: no connection is trusted as the coordinator's, and this session has no tenant context.") :
			 !client_statement && node_certificate_ok() ?
			 errdetail("The insert is nested in a function, procedure or DO block; the coordinator's connection sends its inserts as statements of their own.") :
			 errdetail("The connection did not authenticate with the cluster's node certificate (common name \"%s\", verified by ssl_ca_file), and this session has no tenant context.",
					   node_cert_cn),
			 errhint("Insert through the distributed table on the coordinator after rollout.set_tenant(); for the coordinator's own inserts, set pg_rollout.citus_node_cert_cn and citus.node_conninfo's sslcert and sslkey on every node (docs/citus.md).")));
}

/*
 * COPY ... FROM into a distributed protected table or a shard of one, on
 * any node (ProcessUtility, before Citus).  PostgreSQL refuses COPY FROM
 * under row security, but Citus handles COPY into its tables itself and
 * checks no row security (multi_copy.c, "TODO: Perform RLS checks"): it
 * would write the rows of shards on this node directly, whatever their
 * tenant, and send the others to the workers (which refuse them).  So,
 * for a role that row security applies to, it is refused here with the
 * table's name; superusers and BYPASSRLS roles copy as on any table.
 */
void
pgr_citus_check_copy(CopyStmt *stmt)
{
	Oid			relid;
	Oid			coll;
	char	   *table;
	bool		shard;

	if (!stmt->is_from || stmt->relation == NULL || !pgr_citus_installed())
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	if (!rollout_fns_known)
		lookup_rollout_fns();
	shard = pgr_citus_table(relid) == '\0';
	if (shard ? (!OidIsValid(fn_tenant_ok) || policy_tenant_arg(relid, 1, &coll) == NULL) :
		!has_citus_policies(relid))
		return;
	if (check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED)
		return;
	table = shard ? shard_table(relid) : plain_qualname(relid);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 shard ?
			 errmsg("COPY FROM into shard \"%s\" of protected table \"%s\" is refused",
					get_rel_name(relid), table ? table : get_rel_name(relid)) :
			 errmsg("COPY FROM into distributed protected table \"%s\" is refused", table ? table : get_rel_name(relid)),
			 errdetail("Citus copies rows into the shards without row security; pg_rollout checks the tenant of inserted rows for INSERT only."),
			 errhint("Insert the rows with INSERT ... VALUES through the coordinator after rollout.set_tenant(), or copy them as a superuser (docs/citus.md).")));
}

/*
 * One level on the coordinator: rewrite_level(); and note whether a
 * relation that is not a Citus table (a shard) carries pg_rollout's
 * policies.  On every node: an INSERT into a protected shard.
 */
static void
plan_level(Query *q, void *arg)
{
	PlanWalk   *pw = (PlanWalk *) arg;
	bool	   *shards = &pw->shards;
	ListCell   *lc;

	rewrite_level(q);
	if (q->commandType == CMD_INSERT && q->resultRelation > 0)
		check_shard_insert(q, pw->client_statement);
	if (*shards)
		return;
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind != RTE_RELATION || (rte->securityQuals == NIL && q->withCheckOptions == NIL))
			continue;
		if ((tenant_ok_walker((Node *) rte->securityQuals, NULL) ||
			 tenant_ok_walker((Node *) q->withCheckOptions, NULL)) &&
			pgr_citus_table(rte->relid) == '\0')
		{
			*shards = true;
			return;
		}
	}
}

/* Every node: signatures in the statement, then the shards' policies. */
typedef struct Signed
{
	char	   *table;
	char	   *tenant;
} Signed;

typedef struct ShardCheck
{
	List	   *signed_tables;	/* of Signed */
} ShardCheck;

static char *
const_text(Node *n)
{
	if (n == NULL || !IsA(n, Const) || ((Const *) n)->constisnull || ((Const *) n)->consttype != TEXTOID)
		return NULL;
	return TextDatumGetCString(((Const *) n)->constvalue);
}

static bool
guard_walker(Node *node, ShardCheck *sc)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, guard_walker, sc, 0);
	if (IsA(node, FuncExpr) &&
		((((FuncExpr *) node)->funcid == fn_guard && list_length(((FuncExpr *) node)->args) == 2) ||
		 (((FuncExpr *) node)->funcid == fn_guard4 && list_length(((FuncExpr *) node)->args) == 4)))
	{
		List	   *args = ((FuncExpr *) node)->args;
		char	   *table = NULL;
		char	   *tenant = NULL;
		char	   *mac = NULL;
		ListCell   *lc;
		Signed	   *s;

		if (list_length(args) == 2)
		{
			char	   *tok = const_text(lsecond(args));

			if (tok == NULL || !parse_guard_token(tok, strlen(tok), &table, &tenant, &mac))
				table = tenant = mac = NULL;
		}
		else
		{
			table = const_text(lsecond(args));
			tenant = const_text(lthird(args));
			mac = const_text(lfourth(args));
		}

		if (table && tenant && mac && mac_valid(table, tenant, mac))
		{
			foreach(lc, sc->signed_tables)
			{
				s = lfirst(lc);
				if (strcmp(s->table, table) == 0)
				{
					if (strcmp(s->tenant, tenant) != 0)
						ereport(ERROR,
								(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
								 errmsg("statement names two tenants for table \"%s\"", table)));
					return false;
				}
			}
			s = palloc(sizeof(Signed));
			s->table = table;
			s->tenant = tenant;
			sc->signed_tables = lappend(sc->signed_tables, s);
		}
		/* an invalid one is an error where it is evaluated (rollout._citus_guard) */
		return false;
	}
	return expression_tree_walker(node, guard_walker, sc);
}

static char *lookup_shard_table(Oid relid);

/*
 * The distributed table a shard belongs to, "schema.table", from Citus's
 * metadata (pg_dist_shard, on every node with metadata synced): the shard
 * is <table>_<shardid> in the table's schema.  NULL when it is not a shard.
 * Cached: every statement on a shard asks.
 */
static char *
shard_table(Oid relid)
{
	ShardTableEntry *entry;
	char	   *table;
	bool		found;

	if (shard_tables == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ShardTableEntry);
		shard_tables = hash_create("pg_rollout Citus shards", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(shard_tables, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		return pstrdup(entry->table);
	table = lookup_shard_table(relid);
	/* an invalidation during the scan may have emptied the cache */
	if (shard_tables != NULL && table != NULL && strlen(table) < sizeof(entry->table))
	{
		entry = hash_search(shard_tables, &relid, HASH_ENTER, &found);
		strlcpy(entry->table, table, sizeof(entry->table));
	}
	return table;
}

static char *
lookup_shard_table(Oid relid)
{
	char	   *name = get_rel_name(relid);
	char	   *us;
	Oid			shards;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *result = NULL;
	int64		shardid;
	char	   *end;

	if (name == NULL || (us = strrchr(name, '_')) == NULL || us[1] == '\0')
		return NULL;
	errno = 0;
	shardid = strtoi64(us + 1, &end, 10);
	if (*end != '\0' || errno != 0 || shardid <= 0)
		return NULL;
	shards = get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE);
	if (!OidIsValid(shards))
		return NULL;
	rel = table_open(shards, AccessShareLock);
	/* logicalrelid (attribute 1), shardid bigint (attribute 2) */
	ScanKeyInit(&key, 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(shardid));
	scan = systable_beginscan(rel, get_relname_relid("pg_dist_shard_shardid_index", PG_CATALOG_NAMESPACE),
							  OidIsValid(get_relname_relid("pg_dist_shard_shardid_index", PG_CATALOG_NAMESPACE)),
							  NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Oid			logical = DatumGetObjectId(heap_getattr(tup, 1, RelationGetDescr(rel), &isnull));

		if (!isnull && get_rel_namespace(logical) == get_rel_namespace(relid))
			result = plain_qualname(logical);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

static void
enforce_level(Query *q, ShardCheck *sc)
{
	ListCell   *lc;
	Index		rti = 0;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		TenantOkReplace r = {NULL, 0, NULL, InvalidOid};
		char	   *table;
		ListCell   *sl;

		rti++;
		if (rte->rtekind != RTE_RELATION || pgr_citus_table(rte->relid) != '\0')
			continue;
		(void) tenant_ok_mutator((Node *) rte->securityQuals, &r);
		if (rti == (Index) q->resultRelation && q->withCheckOptions != NIL)
		{
			ListCell   *wl;

			foreach(wl, q->withCheckOptions)
				(void) tenant_ok_mutator(((WithCheckOption *) lfirst(wl))->qual, &r);
		}
		if (r.found == 0)
			continue;
		table = shard_table(rte->relid);
		if (table == NULL)
			table = plain_qualname(rte->relid);
		foreach(sl, sc->signed_tables)
			if (strcmp(((Signed *) lfirst(sl))->table, table) == 0)
				r.tenant = ((Signed *) lfirst(sl))->tenant;
		if (r.tenant == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("shard \"%s\" of protected table \"%s\" can be queried only through the coordinator with a tenant context",
							get_rel_name(rte->relid), table),
					 errdetail("The statement carries no valid signed tenant for the table (pg_rollout.cluster_secret)."),
					 errhint("Query the distributed table on the coordinator after rollout.set_tenant().")));
		apply_tenant(q, rti, rte, r.tenant);
	}
}

static void
enforce_level_cb(Query *q, void *arg)
{
	enforce_level(q, (ShardCheck *) arg);
}

static bool
tenant_ok_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == fn_tenant_ok)
		return true;
	return expression_tree_walker(node, tenant_ok_walker, context);
}

static PlannedStmt *
citus_planner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	if (IsTransactionState() && pgr_citus_installed())
	{
		ShardCheck	sc = {NIL};

		if (!rollout_fns_known)
			lookup_rollout_fns();
		if (OidIsValid(fn_tenant_ok))
		{
			/*
			 * The statement the client sent is planned with the text of
			 * its message (simple or extended protocol); a nested one with
			 * its function's or its own.
			 */
			PlanWalk	pw = {false, query_string != NULL && query_string == debug_query_string};
			LevelWalk	lw = {plan_level, &pw};

			for_each_level(parse, &lw);
			if (pw.shards)
			{
				LevelWalk	enforce = {enforce_level_cb, &sc};

				(void) guard_walker((Node *) parse, &sc);
				for_each_level(parse, &enforce);
			}
		}
	}
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

/* ------------------------------------------------------------------------
 * SQL functions
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(pgr_citus_guard);

/*
 * rollout._citus_guard(anchor anyelement, token text), and its earlier form
 * rollout._citus_guard(anchor anyelement, tbl text, tenant text, mac text)
 * (one C function): true when mac signs (current role, tbl, tenant), an
 * error otherwise; the token is "<length of tbl>:<tbl>:<tenant>:<mac>"
 * (guard_token).  The filtering itself is the policy qual the planner hook
 * substitutes; this rejects a forged signature wherever it is evaluated.
 * The last valid one is remembered, with the role and the secret (it is
 * evaluated once per row).
 */
Datum
pgr_citus_guard(PG_FUNCTION_ARGS)
{
	/* the last valid one: its arguments after the anchor, each NUL-terminated */
	static char *last = NULL;
	static int	last_len = 0;
	static int	last_nargs = 0;
	static Oid	last_user = InvalidOid;
	static char *last_secret = NULL;
	int			nargs = PG_NARGS();
	text	   *t[3];
	int			len = 0;
	char	   *key;
	char	   *table;
	char	   *tenant;
	char	   *mac;

	if (nargs != 2 && nargs != 4)
		elog(ERROR, "pg_rollout: rollout._citus_guard called with %d arguments", nargs);
	for (int i = 1; i < nargs; i++)
	{
		if (PG_ARGISNULL(i))
			PG_RETURN_BOOL(false);
		t[i - 1] = PG_GETARG_TEXT_PP(i);
		len += VARSIZE_ANY_EXHDR(t[i - 1]) + 1;
	}
	key = palloc(len);
	len = 0;
	for (int i = 0; i < nargs - 1; i++)
	{
		memcpy(key + len, VARDATA_ANY(t[i]), VARSIZE_ANY_EXHDR(t[i]));
		len += VARSIZE_ANY_EXHDR(t[i]);
		key[len++] = '\0';
	}
	if (last != NULL && last_nargs == nargs && last_user == GetUserId() && last_len == len &&
		memcmp(last, key, len) == 0 && cluster_secret != NULL && strcmp(last_secret, cluster_secret) == 0)
		PG_RETURN_BOOL(true);
	if (nargs == 2)
	{
		if (!parse_guard_token(key, len - 1, &table, &tenant, &mac))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("invalid tenant signature"),
					 errdetail("Only the coordinator signs tenants (pg_rollout.cluster_secret), for the role it runs the statement as.")));
	}
	else
	{
		table = key;
		tenant = table + strlen(table) + 1;
		mac = tenant + strlen(tenant) + 1;
	}
	if (!mac_valid(table, tenant, mac))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("invalid tenant signature for table \"%s\"", table),
				 errdetail("Only the coordinator signs tenants (pg_rollout.cluster_secret), for the role it runs the statement as.")));
	if (last)
		pfree(last);
	last = MemoryContextAlloc(TopMemoryContext, len);
	memcpy(last, key, len);
	last_len = len;
	last_nargs = nargs;
	last_user = GetUserId();
	if (last_secret)
		pfree(last_secret);
	last_secret = MemoryContextStrdup(TopMemoryContext, cluster_secret);
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(pgr_citus_tenant_ok);

/*
 * rollout._citus_tenant_ok(tenant text): the qual of pg_rollout's policies
 * on a distributed protected table.  pg_rollout's planner hook replaces
 * every call by "tenant = '<signed tenant>'"; a call that is evaluated
 * (pg_rollout not preloaded on the node) is false: no row.
 */
Datum
pgr_citus_tenant_ok(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(false);
}

PG_FUNCTION_INFO_V1(pgr_citus_insert_tenant);

/*
 * rollout._citus_insert_tenant(tenant text): the tenant of a row inserted
 * into a distributed protected table, checked against the tenant context
 * where it is evaluated (Citus evaluates it on the coordinator before it
 * routes the row).
 */
Datum
pgr_citus_insert_tenant(PG_FUNCTION_ARGS)
{
	const char *current = pgr_isolation_tenant();
	char	   *tenant = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (current == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tenant context required to insert into a distributed protected table"),
				 errhint("Call rollout.set_tenant('...') in this transaction first.")));
	if (tenant == NULL || strcmp(tenant, current) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("new row for tenant \"%s\" is outside the tenant context \"%s\"",
						tenant ? tenant : "(null)", current)));
	PG_RETURN_TEXT_P(cstring_to_text(tenant));
}

/*
 * A plan that accepted a shard INSERT for a node connection was made
 * under the old name: plan again.
 */
static void
assign_node_cert_cn(const char *newval, void *extra)
{
	if (node_cert_cn != NULL && newval != NULL && strcmp(node_cert_cn, newval) != 0)
		ResetPlanCache();
}

/*
 * SHOW, current_setting() and pg_settings never show the secret (members
 * of pg_read_all_settings, pg_monitor among them, could read a
 * GUC_SUPERUSER_ONLY setting otherwise): only whether it is set.
 */
static const char *
show_cluster_secret(void)
{
	if (cluster_secret == NULL || cluster_secret[0] == '\0')
		return "";
	return secret_set() ? "(set)" : "(too short)";
}

void
pgr_citus_init(bool preloaded)
{
	DefineCustomStringVariable("pg_rollout.cluster_secret",
							   "Key of the tenant signatures the coordinator sends to the workers of a Citus cluster.",
							   "The same on every node, at least 16 characters; in postgresql.conf. "
							   "Without it, protected tables cannot be distributed.",
							   &cluster_secret, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_AUTO_FILE,
							   NULL, NULL, show_cluster_secret);

	DefineCustomStringVariable("pg_rollout.citus_node_cert_cn",
							   "Common name of the client certificate the nodes of a Citus cluster present to each other.",
							   "The same on every node.  A connection authenticated with a certificate of this name, "
							   "verified by ssl_ca_file, may insert into the shards of distributed protected tables "
							   "(the coordinator's, which checked the rows); empty: no connection may.",
							   &node_cert_cn, "", PGC_SIGHUP, 0,
							   NULL, assign_node_cert_cn, NULL);

	CacheRegisterSyscacheCallback(RELNAMENSP, citus_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, citus_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, citus_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, citus_syscache_callback, (Datum) 0);
	CacheRegisterRelcacheCallback(citus_relcache_callback, (Datum) 0);
	RegisterXactCallback(citus_xact_callback, NULL);
	if (!preloaded)
		return;
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = citus_needs_fmgr_hook;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = citus_fmgr_hook;
	prev_planner_hook = planner_hook;
	planner_hook = citus_planner;
}
