/*-------------------------------------------------------------------------
 *
 * isolation.c
 *	  Tenant isolation inside the database.
 *
 * A table registered with rollout.protect_table() has row security enabled
 * (and forced); its own policies keep applying, and where row security was
 * off before, an all-rows permissive baseline comes from
 * row_security_policy_hook_permissive while the table has no permissive
 * policy of its own.  This module adds, through
 * row_security_policy_hook_restrictive, the qual
 *
 *		tenant_column = rollout._tenant_for('<table>'::oid)
 *
 * (or = ANY (rollout._tenants_for(...)) when descendants' rows are visible)
 * whenever the table is enforced.  The function is STABLE and takes a
 * constant, so it is evaluated once per scan, at run time: an index on the
 * tenant column is used, and a prepared statement executed after a tenant
 * switch sees the new tenant's rows.  A plan executed once (simple
 * protocol, custom plans) carries the tenant as a Const instead, folded by
 * the function's planner support function (see "The tenant as a constant"
 * below for why no plan runs for another tenant); a kept plan run to
 * completion (generic plans) reads it from an executor parameter that the
 * ExecutorStart hook fills ("The tenant as an executor parameter").  The current tenant lives in the GUC
 * pg_rollout.tenant, settable only through rollout.set_tenant() (it is
 * PGC_SUSET; set_tenant validates and sets it with that context), so it
 * follows transactions (SET LOCAL semantics for the transaction form) and
 * reaches parallel workers.
 *
 * The enforcement mode (pg_rollout.enforcement_mode: disabled, log_only,
 * selective, enforce) decides per table whether the qual is added; a change
 * resets the plan cache, so it takes effect at the next statement.  An
 * ExecutorStart hook checks every statement that touches a protected table
 * (cached plans skip the planner, never the executor): with no tenant
 * context it is a violation, refused with 42501 where the table is enforced
 * and counted (and, sampled, logged) otherwise.  Counters and a ring of
 * recent violations live in shared memory; nothing is written to tables.
 *
 * Per statement, enforcement reads only what it keeps per backend: the
 * registry of protected tables (a hash, reloaded after an invalidation;
 * its absence, in a database without the extension, remembered the same
 * way), each protected relation's policy (built once per registry load;
 * PostgreSQL copies policy quals before using them), and whether the
 * current role is a superuser or BYPASSRLS (remembered until pg_authid
 * changes).  Tables that are not protected cost one hash probe per
 * range-table entry; no SPI and no catalog look-up.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/heap.h"
#include "utils/elog.h"
#include "utils/regproc.h"
#include "tcop/cmdtag.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "commands/extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "parser/parse_func.h"
#include "parser/parse_type.h"
#include "parser/parsetree.h"
#include "nodes/pathnodes.h"
#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/supportnodes.h"
#include "optimizer/planner.h"
#include "parser/analyze.h"
#include "pgstat.h"
#include "rewrite/rowsecurity.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "port/atomics.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "pg_rollout.h"
#include "audit.h"
#include "citus.h"
#include "isolation.h"
#include "pgr_limits.h"

/* ---- GUCs ---- */

typedef enum EnforcementMode
{
	MODE_DISABLED,
	MODE_LOG_ONLY,
	MODE_SELECTIVE,
	MODE_ENFORCE
} EnforcementMode;

static const struct config_enum_entry mode_options[] = {
	{"disabled", MODE_DISABLED, false},
	{"log_only", MODE_LOG_ONLY, false},
	{"selective", MODE_SELECTIVE, false},
	{"enforce", MODE_ENFORCE, false},
	{NULL, 0, false}
};

/* severities, most severe first */
static const struct config_enum_entry severity_options[] = {
	{"critical", 0, false},
	{"high", 1, false},
	{"medium", 2, false},
	{"none", -1, false},
	{NULL, 0, false}
};

static const char *const severity_names[] = {"critical", "high", "medium"};

static int	enforcement_mode = MODE_LOG_ONLY;
static char *enforce_tables = NULL;
static char *log_tables = NULL;
static int	selective_severity = 0;
static double log_sample_rate = 1.0;
static char *current_tenant_guc = NULL;
static bool require_binding = false;
static bool bypass_requires_reason = true;

/* pg_rollout.session_tenant: may set_tenant(..., local => false) be used? */
typedef enum SessionTenant
{
	SESSION_TENANT_ALLOW,
	SESSION_TENANT_REFUSE
} SessionTenant;

static const struct config_enum_entry session_tenant_options[] = {
	{"allow", SESSION_TENANT_ALLOW, false},
	{"refuse", SESSION_TENANT_REFUSE, false},
	{NULL, 0, false}
};

static int	session_tenant = SESSION_TENANT_ALLOW;

/* ---- violation kinds, commands ---- */

typedef enum ViolationKind
{
	KIND_MISSING_CONTEXT,
	KIND_RLS_DISABLED,
	KIND_PRIVILEGED,
	KIND_BYPASS,
	KIND_MISSING_PREDICATE,
	KIND_PROTECTION_ALTERED,
	KIND_TRUNCATE,
	KIND_HOLDABLE_CURSOR
} ViolationKind;

static const char *const kind_names[] = {
	"missing_tenant_context", "row_security_disabled", "privileged_access", "bypass",
	"missing_tenant_predicate", "protection_altered", "truncate", "holdable_cursor"
};

static const char *
cmd_name(CmdType cmd)
{
	switch (cmd)
	{
		case CMD_SELECT:
			return "select";
		case CMD_INSERT:
			return "insert";
		case CMD_UPDATE:
			return "update";
		case CMD_DELETE:
			return "delete";
		case CMD_MERGE:
			return "merge";
		case CMD_UTILITY:
			return "truncate";	/* the one utility command counted */
		default:
			return "other";
	}
}

/* ---- shared memory ---- */

#define MAX_COUNTERS	1024
#define RING_SIZE		256
#define MAX_BYPASS		256
#define APPNAME_LEN		64
#define QUERY_LEN		256
#define REASON_LEN		128

typedef struct CounterKey
{
	Oid			dbid;
	Oid			relid;
	int16		kind;
	int16		cmd;
	int16		severity;
	bool		enforced;
} CounterKey;

typedef struct Counter
{
	bool		used;			/* changed only under the LWLock in exclusive mode */
	CounterKey	key;			/* written with used */
	slock_t		mutex;			/* protects count and last_at only */
	int64		count;
	TimestampTz last_at;
} Counter;

typedef struct RingEntry
{
	uint64		pos;			/* 1 + the position written here; 0: never written */
	TimestampTz at;
	Oid			dbid;
	Oid			relid;
	int16		kind;
	int16		cmd;
	bool		refused;
	Oid			roleid;
	uint64		queryid;
	char		appname[APPNAME_LEN];
	char		query[QUERY_LEN];
} RingEntry;

/*
 * A slot of the ring: its spinlock beside its entry, and no cache line
 * shared with another slot's spinlock.  Two sessions counting at once
 * write neighbouring slots; with the spinlocks side by side in one array
 * (as before) every event moved the same cache line between their cores.
 */
#define RING_SLOT_SIZE	TYPEALIGN(PG_CACHE_LINE_SIZE, sizeof(slock_t) + sizeof(RingEntry) + MAXIMUM_ALIGNOF)

typedef union RingSlot
{
	struct
	{
		slock_t		mutex;		/* protects entry */
		RingEntry	entry;
	}			s;
	char		pad[RING_SLOT_SIZE];
} RingSlot;

typedef struct BypassCounter
{
	bool		used;			/* set once, under the LWLock in exclusive mode */
	Oid			dbid;			/* key: written once, with used */
	Oid			roleid;
	char		reason[REASON_LEN];
	slock_t		mutex;			/* protects count and last_at only */
	int64		count;
	TimestampTz last_at;
} BypassCounter;

/*
 * Locking rules (the pattern of pg_stat_statements):
 *
 * - lock (an LWLock) guards the set of counter entries, violation and
 *   bypass: counting looks its entry up holding it in shared mode and only
 *   creating an entry (used and the key) takes it exclusive.  Violation
 *   entries are removed, also in exclusive mode, when their table's drop
 *   commits and by rollout.reset_violation_counts() (counters_remove(),
 *   which places the remaining entries again so that no probe sequence is
 *   broken); an entry found in shared mode stays what it is until the lock
 *   is released.  Bypass entries are never removed.
 * - each entry's mutex (a spinlock) guards its count and last_at: counting
 *   and reading them take it, with the LWLock held in either mode (so under
 *   the exclusive lock nobody holds one, and an entry may be moved).
 * - the ring of recent violations takes no LWLock: ring_total (an atomic)
 *   hands every event its own position; the entry at position % RING_SIZE
 *   is written under its slot's mutex and stamped with that position, so a
 *   reader copies each slot under its spinlock and keeps only entries whose
 *   stamp is within the last RING_SIZE positions (a slot still being
 *   written, or overwritten by a later lap, is skipped, never torn).
 */
typedef struct IsolationShared
{
	LWLock	   *lock;
	Counter		counters[MAX_COUNTERS];
	/* each on cache lines of its own: every event touches ring_total and one slot */
	pg_atomic_uint64 ring_total pg_attribute_aligned(PG_CACHE_LINE_SIZE);
	RingSlot	ring[RING_SIZE] pg_attribute_aligned(PG_CACHE_LINE_SIZE);
	BypassCounter bypass[MAX_BYPASS];
} IsolationShared;

static IsolationShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* ---- hooks ---- */

static row_security_policy_hook_type prev_rls_restrictive = NULL;
static row_security_policy_hook_type prev_rls_permissive = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;
static planner_hook_type prev_planner_hook = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;

/*
 * rollout.protect_table() and rollout.unprotect_table() alter protected
 * tables themselves (row security): the
 * ProcessUtility hook lets DDL through while one of them runs.  They run as
 * the caller, through fmgr_security_definer (they have a SET clause), which
 * calls fmgr_hook on entry and exit.
 */
static Oid	fn_protect_table = InvalidOid;
static Oid	fn_unprotect_table = InvalidOid;
static bool protection_fns_known = false;
static int	protection_fn_depth = 0;

/* query text for the violation ring while a utility statement is checked */
static const char *utility_source_text = NULL;

/* ---- the registry of protected tables (per backend) ---- */

/*
 * What DDL may have done to a protected table since protect_table(): the
 * state is read with the registry, which any ALTER TABLE of the table
 * invalidates (relcache invalidation), so checking it costs nothing per
 * statement.
 */
typedef enum ProtectionState
{
	PROTECTION_OK,
	PROTECTION_NO_COLUMN,		/* tenant column dropped or renamed */
	PROTECTION_BAD_TYPE,		/* tenant column retyped to other than text/varchar */
	PROTECTION_BAD_COLLATION,	/* tenant column given a nondeterministic collation */
	PROTECTION_RLS_OFF,			/* row security disabled */
	PROTECTION_NOT_FORCED		/* row security no longer forced */
} ProtectionState;

#define PGR_MAX_TOPS 8

typedef struct Protected
{
	Oid			relid;			/* hash key */
	AttrNumber	attnum;			/* InvalidAttrNumber when the column is gone */
	Oid			atttype;
	Oid			attcollation;
	int			severity;
	bool		include_descendants;
	bool		inherited;		/* registered through a parent */
	/*
	 * The protected tables whose tree holds the relation: itself when it is
	 * protected on its own, and each protected ancestor (a partition
	 * detached and attached again can be both).
	 */
	Oid			tops[PGR_MAX_TOPS];
	int			ntops;
	bool		force;			/* row security to be forced (protect_table's force) */
	bool		baseline;		/* row security was off before protect_table():
								 * pg_rollout supplies the all-rows permissive
								 * policy while the relation has none of its own */
	ProtectionState state;
	/*
	 * The restrictive policy the row-security hook returns for the
	 * relation, built at its first use and kept with the registry (in
	 * RegistryContext): PostgreSQL copies a policy's quals before it uses
	 * them, so one object serves every statement until the registry is
	 * loaded again.
	 */
	RowSecurityPolicy *policy;
	char		column[NAMEDATALEN];
	char		qualname[2 * NAMEDATALEN + 6];
} Protected;

static HTAB *registry = NULL;
/*
 * Tables that are not protected but are a parent (or ancestor) of a
 * protected table: rows inserted through them are routed into the
 * protected table without its row security.  Loaded with the registry
 * (NULL when there is none); key and a protected descendant.
 */
typedef struct Shield
{
	Oid			relid;			/* hash key: the unprotected ancestor */
	Oid			protected_relid;	/* a protected table below it */
} Shield;
static HTAB *shields = NULL;
static bool registry_valid = false;
static bool registry_loading = false;
static bool registry_recheck = false;	/* loaded with an older snapshot: reload at the next statement */
/*
 * The extension is not installed in this database (no rollout.protected_table):
 * nothing is protected, and nothing is looked up per statement until a
 * relcache invalidation (creating the table sends one) says to look again.
 */
static bool registry_absent = false;
static Oid	registry_table_oid = InvalidOid;
static MemoryContext RegistryContext = NULL;

/*
 * The memory of registries replaced during the transaction: a registry
 * entry or a policy handed out by the row-security hook stays valid until
 * the transaction ends, even when an invalidation processed meanwhile
 * (opening a catalog takes a lock, which accepts invalidations) makes the
 * next look-up load the registry again.  Deleted at transaction end.
 */
static List *retired_registries = NIL;

/* A fresh context for the registry; the old one is retired, not reset. */
static void
registry_new_context(void)
{
	if (RegistryContext != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		retired_registries = lappend(retired_registries, RegistryContext);
		MemoryContextSwitchTo(old);
	}
	RegistryContext = AllocSetContextCreate(TopMemoryContext, "pg_rollout protected tables",
											ALLOCSET_SMALL_SIZES);
}

/* OIDs of _tenant_for / _tenants_for, looked up again with the registry */
static Oid	fn_tenant_for = InvalidOid;
static Oid	fn_tenants_for = InvalidOid;

/*
 * Bypass in effect: granted at subtransaction nest level bypass_level (the
 * outermost grant), revoked when that subtransaction or the transaction
 * ends by rollback, and at the end of the transaction.  bypass_txid links
 * its log lines to the audit row.
 */
static bool bypass_active = false;
static int	bypass_level = 0;
static uint64 bypass_txid = 0;

/*
 * Tenants known to be active, and whether any role binding exists, for
 * set_tenant's fast path.  Emptied by any change to rollout.tenant or
 * rollout.tenant_binding (their statement triggers send relcache
 * invalidations).  While bindings exist every call checks them, because
 * role membership changes send no invalidation.
 */
typedef struct KnownTenant
{
	char		tenant_id[NAMEDATALEN + 16];
} KnownTenant;

static HTAB *known_tenants = NULL;
static int	bindings_state = -1;	/* -1 unknown, 0 none, 1 some */
static Oid	tenant_table_oid = InvalidOid;
static Oid	binding_table_oid = InvalidOid;

/* ------------------------------------------------------------------------
 * Shared memory
 * ------------------------------------------------------------------------
 */

static void
isolation_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(IsolationShared)));
	RequestNamedLWLockTranche("pg_rollout", 1);
}

static void
isolation_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("pg_rollout isolation", sizeof(IsolationShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(IsolationShared));
		shared->lock = &(GetNamedLWLockTranche("pg_rollout"))->lock;
		for (int i = 0; i < MAX_COUNTERS; i++)
			SpinLockInit(&shared->counters[i].mutex);
		for (int i = 0; i < MAX_BYPASS; i++)
			SpinLockInit(&shared->bypass[i].mutex);
		for (int i = 0; i < RING_SIZE; i++)
			SpinLockInit(&shared->ring[i].s.mutex);
		pg_atomic_init_u64(&shared->ring_total, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The slot where a key's probe sequence starts. */
static uint32
counter_home(const CounterKey *key)
{
	return hash_bytes((const unsigned char *) key, sizeof(CounterKey)) % MAX_COUNTERS;
}

/*
 * Removing counters: a spare copy of the table, allocated before it is
 * needed (counters_remove() runs at commit, where nothing may fail), and
 * the relations whose drop this transaction will commit, with the
 * (sub)transaction nest level that dropped them, in TopMemoryContext.
 */
typedef struct PendingForget
{
	Oid			relid;
	int			level;
} PendingForget;

static Counter *counter_spare = NULL;
static PendingForget *forget_pending = NULL;
static Oid *forget_sorted = NULL;	/* as many entries as forget_pending */
static int	forget_n = 0;
static int	forget_max = 0;
/* nest level of a DROP EXTENSION pg_rollout: every counter of the database goes; 0: none */
static int	forget_all_level = 0;

static void
counter_spare_ensure(void)
{
	if (counter_spare == NULL)
		counter_spare = MemoryContextAlloc(TopMemoryContext, sizeof(Counter) * MAX_COUNTERS);
}

static bool
counter_matches(const CounterKey *key, Oid dbid, const Oid *relids, int nrelids)
{
	if (key->dbid != dbid)
		return false;
	if (relids == NULL)
		return true;
	return bsearch(&key->relid, relids, nrelids, sizeof(Oid), oid_cmp) != NULL;
}

/*
 * Remove a database's violation counters: all of them (relids NULL) or
 * those of the relations in relids (sorted).  Whether there is anything to
 * remove is looked up in shared mode (a dropped table usually has no
 * counter); then, in exclusive mode, the entries that stay are copied
 * aside, the table emptied and they are placed again from their home slot,
 * so that every probe sequence is unbroken (linear probing has no
 * tombstones).  Nobody holds an entry's spinlock under the exclusive lock.
 * Allocates nothing and raises no error.  Returns the number removed.
 */
static int
counters_remove(Oid dbid, const Oid *relids, int nrelids)
{
	bool		any = false;
	int			nkeep = 0;
	int			removed = 0;

	if (shared == NULL || counter_spare == NULL)
		return 0;
	LWLockAcquire(shared->lock, LW_SHARED);
	for (int i = 0; i < MAX_COUNTERS && !any; i++)
		any = shared->counters[i].used &&
			counter_matches(&shared->counters[i].key, dbid, relids, nrelids);
	LWLockRelease(shared->lock);
	if (!any)
		return 0;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MAX_COUNTERS; i++)
	{
		Counter    *c = &shared->counters[i];

		if (!c->used)
			continue;
		c->used = false;
		if (counter_matches(&c->key, dbid, relids, nrelids))
		{
			removed++;
			continue;
		}
		memcpy(&counter_spare[nkeep].key, &c->key, sizeof(CounterKey));
		counter_spare[nkeep].count = c->count;
		counter_spare[nkeep].last_at = c->last_at;
		nkeep++;
	}
	for (int k = 0; k < nkeep; k++)
	{
		uint32		h = counter_home(&counter_spare[k].key);

		for (int i = 0; i < MAX_COUNTERS; i++)
		{
			Counter    *c = &shared->counters[(h + i) % MAX_COUNTERS];

			if (c->used)
				continue;
			memcpy(&c->key, &counter_spare[k].key, sizeof(CounterKey));
			c->count = counter_spare[k].count;
			c->last_at = counter_spare[k].last_at;
			c->used = true;
			break;
		}
	}
	LWLockRelease(shared->lock);
	return removed;
}

/*
 * Count one event under a key (linear probing).  The entry is looked up
 * with the LWLock in shared mode; only when it does not exist yet is the
 * lock taken again in exclusive mode to create it.  A full table: the event
 * is still logged and put into the ring, but not counted.
 */
static void
count_event(Oid relid, ViolationKind kind, CmdType cmd, int severity, bool enforced)
{
	CounterKey	key;
	uint32		h;
	TimestampTz now;
	Counter    *found = NULL;

	if (shared == NULL)
		return;
	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.relid = relid;
	key.kind = (int16) kind;
	key.cmd = (int16) cmd;
	key.severity = (int16) severity;
	key.enforced = enforced;
	h = counter_home(&key);
	now = GetCurrentTimestamp();

	for (int pass = 0; pass < 2 && found == NULL; pass++)
	{
		bool		full = true;

		LWLockAcquire(shared->lock, pass == 0 ? LW_SHARED : LW_EXCLUSIVE);
		for (int i = 0; i < MAX_COUNTERS; i++)
		{
			Counter    *c = &shared->counters[(h + i) % MAX_COUNTERS];

			if (!c->used)
			{
				full = false;
				if (pass == 0)
					break;		/* not there: create it in exclusive mode */
				memcpy(&c->key, &key, sizeof(CounterKey));	/* padding too: keys are memcmp'd */
				c->count = 0;
				c->used = true;
			}
			if (memcmp(&c->key, &key, sizeof(key)) == 0)
			{
				found = c;
				break;
			}
		}
		if (found != NULL)
		{
			SpinLockAcquire(&found->mutex);
			found->count++;
			found->last_at = now;
			SpinLockRelease(&found->mutex);
		}
		LWLockRelease(shared->lock);
		if (full)
			break;				/* every entry taken by other keys */
	}
}

static void
record_event(Oid relid, ViolationKind kind, CmdType cmd, bool refused, QueryDesc *qd)
{
	RingEntry	e;
	RingEntry  *slot;
	uint64		pos;
	int			s;
	const char *app = application_name ? application_name : "";

	if (shared == NULL)
		return;
	memset(&e, 0, sizeof(e));
	e.at = GetCurrentTimestamp();
	e.dbid = MyDatabaseId;
	e.relid = relid;
	e.kind = (int16) kind;
	e.cmd = (int16) cmd;
	e.refused = refused;
	e.roleid = GetUserId();
	e.queryid = qd && qd->plannedstmt ? qd->plannedstmt->queryId : 0;
	strlcpy(e.appname, app, APPNAME_LEN);
	strlcpy(e.query, qd && qd->sourceText ? qd->sourceText :
			utility_source_text ? utility_source_text : "", QUERY_LEN);

	pos = pg_atomic_fetch_add_u64(&shared->ring_total, 1);
	e.pos = pos + 1;
	s = (int) (pos % RING_SIZE);
	slot = &shared->ring[s].s.entry;
	SpinLockAcquire(&shared->ring[s].s.mutex);
	/* a writer a lap behind that got here late does not overwrite a newer entry */
	if (slot->pos < e.pos)
		memcpy(slot, &e, sizeof(RingEntry));
	SpinLockRelease(&shared->ring[s].s.mutex);
}

static void
count_bypass(const char *reason)
{
	Oid			roleid = GetOuterUserId();
	TimestampTz now = GetCurrentTimestamp();
	BypassCounter *found = NULL;

	if (shared == NULL)
		return;
	for (int pass = 0; pass < 2 && found == NULL; pass++)
	{
		bool		full = true;

		LWLockAcquire(shared->lock, pass == 0 ? LW_SHARED : LW_EXCLUSIVE);
		for (int i = 0; i < MAX_BYPASS; i++)
		{
			BypassCounter *b = &shared->bypass[i];

			if (!b->used)
			{
				full = false;
				if (pass == 0)
					break;		/* not there: create it in exclusive mode */
				b->dbid = MyDatabaseId;
				b->roleid = roleid;
				strlcpy(b->reason, reason, REASON_LEN);
				b->count = 0;
				b->used = true;
			}
			if (b->dbid == MyDatabaseId && b->roleid == roleid &&
				strncmp(b->reason, reason, REASON_LEN - 1) == 0)
			{
				found = b;
				break;
			}
		}
		if (found != NULL)
		{
			SpinLockAcquire(&found->mutex);
			found->count++;
			found->last_at = now;
			SpinLockRelease(&found->mutex);
		}
		LWLockRelease(shared->lock);
		if (full)
			break;				/* every entry taken by other keys */
	}
}

/* ------------------------------------------------------------------------
 * The registry
 * ------------------------------------------------------------------------
 */

static void
registry_invalidate(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == tenant_table_oid || relid == binding_table_oid)
	{
		if (known_tenants)
		{
			hash_destroy(known_tenants);
			known_tenants = NULL;
		}
		bindings_state = -1;
	}
	registry_absent = false;
	if (!registry_valid)
		return;
	if (!OidIsValid(relid) || relid == registry_table_oid ||
		(registry && hash_search(registry, &relid, HASH_FIND, NULL) != NULL) ||
		(shields && hash_search(shields, &relid, HASH_FIND, NULL) != NULL))
		registry_valid = false;
}

/*
 * Types a tenant column may have: those protect_table() accepts, and for
 * which the qual (the column, relabelled to text, = text) is valid.
 */
static bool
tenant_type_supported(Oid typid)
{
	return typid == TEXTOID || typid == VARCHAROID;
}

/*
 * The tenant qual compares with the column's collation: a nondeterministic
 * one (ICU, e.g. case- or punctuation-insensitive) makes distinct tenant
 * ids equal ("acme-eu" = "acmeeu"), so one tenant would see another's rows.
 */
static bool
tenant_collation_supported(Oid collid)
{
	return !OidIsValid(collid) || get_collation_isdeterministic(collid);
}

/* Load the registry; false when the extension is not installed here. */
static bool
registry_load(void)
{
	volatile bool latest;
	HASHCTL		ctl;
	Oid			nsp;
	int			rc;
	Oid			save_userid;
	int			save_sec_context;
	bool		prior_recorded;

	if (registry_valid)
		return registry != NULL;
	if (registry_loading || registry_absent)
		return false;
	nsp = get_namespace_oid(PGR_SCHEMA, true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid(PGR_TABLE_PROTECTED, nsp)))
	{
		/* not installed in this database: nothing is protected */
		if (registry != NULL)
			registry_new_context();
		registry = NULL;
		shields = NULL;
		registry_table_oid = InvalidOid;
		registry_valid = false;
		registry_absent = true;	/* until a relcache invalidation */
		return false;
	}
	registry_table_oid = get_relname_relid(PGR_TABLE_PROTECTED, nsp);
	prior_recorded = OidIsValid(get_relname_relid(PGR_TABLE_PROTECTED_PRIOR, nsp));
	fn_tenant_for = InvalidOid;
	fn_tenants_for = InvalidOid;
	protection_fns_known = false;

	registry_new_context();
	registry = NULL;
	shields = NULL;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(Protected);
	ctl.hcxt = RegistryContext;

	registry_loading = true;
	latest = !IsInParallelMode();
	/*
	 * The registry is read with the bootstrap superuser's rights, whoever
	 * runs the statement being checked: the protection of a table must not
	 * depend on the querying role's privileges on pg_rollout's tables.  So
	 * nothing in it may resolve through the caller's search_path: the query
	 * is fixed and every name in it schema-qualified (operators included),
	 * and search_path is pinned while it runs.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		HTAB	   *h = hash_create("pg_rollout protected tables", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		int			pathlevel = pgr_pin_search_path();

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pg_rollout: SPI_connect failed");

		/*
		 * Read with a snapshot of now, as the catalog caches are, not with
		 * the statement's: the load follows an invalidation, which a
		 * statement may receive after its snapshot was taken (it waited for
		 * the lock of a table that protect_table() was altering; a
		 * REPEATABLE READ transaction, for its whole length).  Read with
		 * that snapshot, the registry missed the table just protected, and
		 * stayed so, valid, until the next invalidation: the backend showed
		 * every tenant's rows of it that its own policies allow.  (In
		 * parallel mode no new snapshot may be taken: the statement's
		 * serves, and the next statement reloads.)
		 */
		if (latest)
			PushActiveSnapshot(GetLatestSnapshot());
		/* protected tables and every inheritance child or partition */
		rc = SPI_execute(psprintf("WITH RECURSIVE t(relid, top, lvl) AS ("
						 "   SELECT p.tbl::pg_catalog.oid, p.tbl::pg_catalog.oid, 0 FROM rollout.protected_table p"
						 "   UNION ALL"
						 "   SELECT i.inhrelid, t.top, t.lvl OPERATOR(pg_catalog.+) 1 FROM pg_catalog.pg_inherits i"
						 "     JOIN t ON i.inhparent OPERATOR(pg_catalog.=) t.relid WHERE t.lvl OPERATOR(pg_catalog.<) 32)"
						 " SELECT t.relid, a.attnum, a.atttypid, a.attcollation,"
						 "        CASE WHEN p.severity OPERATOR(pg_catalog.=) 'critical' THEN 0"
						 "             WHEN p.severity OPERATOR(pg_catalog.=) 'high' THEN 1 ELSE 2 END,"
						 "        p.include_descendants, t.lvl OPERATOR(pg_catalog.>) 0,"
						 "        pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname),"
						 "        p.tenant_column, c.relrowsecurity, c.relforcerowsecurity, p.force_rls, %s, t.top"
						 "   FROM t JOIN rollout.protected_table p ON p.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) t.top"
						 "   JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid"
						 "   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
						 "   LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) t.relid"
						 "        AND a.attname OPERATOR(pg_catalog.=) p.tenant_column AND NOT a.attisdropped"
						 "   %s"
						 " ORDER BY t.lvl",	/* a table protected on its own: its own settings */
						 /*
						  * 0.2.0 records row security as it was before
						  * protect_table(); a relation without a record (a
						  * child attached since) had it off.  The 0.1.0
						  * schema has its own permissive policy on each
						  * table instead: no baseline.
						  */
						 prior_recorded ? "(r.prior_row_security IS NOT TRUE)" : "false",
						 prior_recorded ?
						 "LEFT JOIN rollout.protected_relation r ON r.relid::pg_catalog.oid OPERATOR(pg_catalog.=) t.relid" : ""),
						 true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "pg_rollout: could not read the protected tables: %s", SPI_result_code_string(rc));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
			bool		found;
			Protected  *p = hash_search(h, &relid, HASH_ENTER, &found);

			if (found)
			{
				/* reached again, through another protected table: first wins */
				Oid			top = DatumGetObjectId(SPI_getbinval(tup, desc, 14, &isnull));

				if (p->ntops < PGR_MAX_TOPS)
					p->tops[p->ntops++] = top;
				continue;
			}
			p->policy = NULL;	/* built at its first use */
			/* the column is gone (dropped, renamed) when the outer join found none */
			p->attnum = DatumGetInt16(SPI_getbinval(tup, desc, 2, &isnull));
			if (isnull)
				p->attnum = InvalidAttrNumber;
			p->atttype = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
			if (isnull)
				p->atttype = InvalidOid;
			p->attcollation = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
			if (isnull)
				p->attcollation = InvalidOid;
			p->severity = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
			p->include_descendants = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
			p->inherited = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
			p->tops[0] = DatumGetObjectId(SPI_getbinval(tup, desc, 14, &isnull));
			p->ntops = 1;
			strlcpy(p->qualname, TextDatumGetCString(SPI_getbinval(tup, desc, 8, &isnull)),
					sizeof(p->qualname));
			strlcpy(p->column, NameStr(*DatumGetName(SPI_getbinval(tup, desc, 9, &isnull))),
					sizeof(p->column));
			{
				bool		rls = DatumGetBool(SPI_getbinval(tup, desc, 10, &isnull));
				bool		forced = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
				bool		want_force = DatumGetBool(SPI_getbinval(tup, desc, 12, &isnull));

				p->force = want_force;
				p->baseline = DatumGetBool(SPI_getbinval(tup, desc, 13, &isnull));

				if (p->attnum == InvalidAttrNumber)
					p->state = PROTECTION_NO_COLUMN;
				else if (!tenant_type_supported(p->atttype))
					p->state = PROTECTION_BAD_TYPE;
				else if (!tenant_collation_supported(p->attcollation))
					p->state = PROTECTION_BAD_COLLATION;
				else if (!rls)
					p->state = PROTECTION_RLS_OFF;
				else if (want_force && !forced)
					p->state = PROTECTION_NOT_FORCED;
				else
					p->state = PROTECTION_OK;
			}
		}

		/* the unprotected ancestors of protected tables */
		rc = SPI_execute("WITH RECURSIVE a(relid, below, lvl) AS ("
						 "   SELECT i.inhparent, p.tbl::pg_catalog.oid, 1 FROM rollout.protected_table p"
						 "     JOIN pg_catalog.pg_inherits i ON i.inhrelid OPERATOR(pg_catalog.=) p.tbl::pg_catalog.oid"
						 "   UNION ALL"
						 "   SELECT i.inhparent, a.below, a.lvl OPERATOR(pg_catalog.+) 1 FROM pg_catalog.pg_inherits i"
						 "     JOIN a ON i.inhrelid OPERATOR(pg_catalog.=) a.relid WHERE a.lvl OPERATOR(pg_catalog.<) 32)"
						 " SELECT a.relid, a.below FROM a ORDER BY a.lvl",
						 true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "pg_rollout: could not read the parents of protected tables: %s", SPI_result_code_string(rc));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			Shield	   *sh;
			bool		found;

			if (hash_search(h, &relid, HASH_FIND, NULL) != NULL)
				continue;		/* protected itself (a parent protected on its own) */
			if (shields == NULL)
			{
				HASHCTL		sctl;

				memset(&sctl, 0, sizeof(sctl));
				sctl.keysize = sizeof(Oid);
				sctl.entrysize = sizeof(Shield);
				sctl.hcxt = RegistryContext;
				shields = hash_create("pg_rollout unprotected parents", 8, &sctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
			}
			sh = hash_search(shields, &relid, HASH_ENTER, &found);
			if (!found)
				sh->protected_relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		}
		if (latest)
			PopActiveSnapshot();
		SPI_finish();
		pgr_unpin_search_path(pathlevel);
		registry = h;
		registry_valid = true;
		registry_recheck = !latest;
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
		registry_loading = false;
	}
	PG_END_TRY();
	return true;
}

static Protected *
registry_lookup(Oid relid)
{
	if (!registry_valid && !registry_load())
		return NULL;
	if (registry == NULL)
		return NULL;
	return hash_search(registry, &relid, HASH_FIND, NULL);
}

bool
pgr_isolation_protected(Oid relid, PgrProtectedInfo *info)
{
	Protected  *p;

	if (!IsTransactionState() || registry_loading)
		return false;
	p = registry_lookup(relid);
	if (p == NULL)
		return false;
	info->attnum = p->attnum;
	info->atttype = p->atttype;
	info->attcollation = p->attcollation;
	info->usable = p->state == PROTECTION_OK;
	info->include_descendants = p->include_descendants;
	info->inherited = p->inherited;
	info->baseline = p->baseline;
	info->qualname = p->qualname;
	info->column = p->column;
	return true;
}

/* Is the table (schema.table, as quoted) in a comma-separated list? */
static bool
table_listed(const char *list, const Protected *p)
{
	char	   *copy;
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (list == NULL || list[0] == '\0')
		return false;
	copy = pstrdup(list);
	if (!SplitIdentifierString(copy, ',', &names))
		return false;			/* checked by the GUC check hook */
	foreach(lc, names)
	{
		const char *n = lfirst(lc);
		const char *dot = strchr(p->qualname, '.');

		/* "schema.table", or "table" for any schema */
		if (strcmp(n, p->qualname) == 0 || (strchr(n, '.') == NULL && dot && strcmp(n, dot + 1) == 0))
		{
			found = true;
			break;
		}
	}
	list_free(names);
	pfree(copy);
	return found;
}

/* Is the table enforced (filtered and refused without context) now? */
static bool
table_enforced(const Protected *p)
{
	switch (enforcement_mode)
	{
		case MODE_ENFORCE:
			return true;
		case MODE_SELECTIVE:
			if (table_listed(log_tables, p))
				return false;
			if (table_listed(enforce_tables, p))
				return true;
			return selective_severity >= 0 && p->severity <= selective_severity;
		default:
			return false;
	}
}

/* ------------------------------------------------------------------------
 * Row security
 * ------------------------------------------------------------------------
 */

static Oid
rollout_function_oid(const char *name)
{
	Oid			nsp = get_namespace_oid(PGR_SCHEMA, false);
	oidvector  *args = buildoidvector((Oid[]) {OIDOID}, 1);
	Oid			fn = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
									 CStringGetDatum(name), PointerGetDatum(args),
									 ObjectIdGetDatum(nsp));

	if (!OidIsValid(fn))
		elog(ERROR, "pg_rollout: function rollout.%s(oid) does not exist", name);
	return fn;
}

/*
 * Build the restrictive policy of a protected relation (in the registry's
 * memory, once per registry load): "tenant_column = rollout._tenant_for(relid)",
 * or "= ANY (rollout._tenants_for(relid))" when descendants' rows are
 * visible; for a tenant column that is gone or has another type, a policy
 * no row passes.
 */
static RowSecurityPolicy *
build_tenant_policy(const Protected *p, Oid relid)
{
	MemoryContext old;
	RowSecurityPolicy *policy;
	Datum		role = ObjectIdGetDatum(ACL_ID_PUBLIC);
	Expr	   *qual;

	/* catalog look-ups first, in the caller's memory */
	if (p->state != PROTECTION_NO_COLUMN && p->state != PROTECTION_BAD_TYPE &&
		p->state != PROTECTION_BAD_COLLATION)
	{
		if (p->include_descendants && !OidIsValid(fn_tenants_for))
			fn_tenants_for = rollout_function_oid("_tenants_for");
		if (!p->include_descendants && !OidIsValid(fn_tenant_for))
			fn_tenant_for = rollout_function_oid("_tenant_for");
	}
	old = MemoryContextSwitchTo(RegistryContext);
	policy = palloc0(sizeof(RowSecurityPolicy));

	if (p->state == PROTECTION_NO_COLUMN || p->state == PROTECTION_BAD_TYPE ||
		p->state == PROTECTION_BAD_COLLATION)
	{
		/*
		 * No valid qual can be built on a column that is gone or has
		 * another type (a Var of type name read as text crashes), nor a
		 * trustworthy one under a nondeterministic collation: fail
		 * closed, no row passes.  ExecutorStart refuses the statement
		 * anyway; this covers what does not reach it.
		 */
		qual = (Expr *) makeBoolConst(false, false);
	}
	else
	{
		Node	   *col;
		Const	   *arg = makeConst(OIDOID, -1, InvalidOid, sizeof(Oid),
									ObjectIdGetDatum(relid), false, true);

		col = (Node *) makeVar(1, p->attnum, p->atttype, -1, p->attcollation, 0);
		if (p->atttype != TEXTOID)
			col = (Node *) makeRelabelType((Expr *) col, TEXTOID, -1, p->attcollation,
										   COERCE_IMPLICIT_CAST);
		if (p->include_descendants)
		{
			ScalarArrayOpExpr *saop = makeNode(ScalarArrayOpExpr);
			FuncExpr   *fn;

			fn = makeFuncExpr(fn_tenants_for, TEXTARRAYOID,
							  list_make1(arg), p->attcollation, InvalidOid,
							  COERCE_EXPLICIT_CALL);

			saop->opno = TextEqualOperator;
			saop->opfuncid = F_TEXTEQ;
			saop->useOr = true;
			saop->inputcollid = p->attcollation;
			saop->args = list_make2(col, fn);
			saop->location = -1;
			qual = (Expr *) saop;
		}
		else
		{
			FuncExpr   *fn;

			fn = makeFuncExpr(fn_tenant_for, TEXTOID,
							  list_make1(arg), p->attcollation, InvalidOid,
							  COERCE_EXPLICIT_CALL);

			qual = make_opclause(TextEqualOperator, BOOLOID, false, (Expr *) col, (Expr *) fn,
								 InvalidOid, p->attcollation);
			((OpExpr *) qual)->opfuncid = F_TEXTEQ;
		}
	}
	policy->policy_name = pstrdup("pg_rollout_tenant");
	policy->polcmd = '*';
	policy->roles = construct_array(&role, 1, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
	policy->permissive = false;
	policy->qual = qual;
	policy->with_check_qual = copyObject(qual);
	policy->hassublinks = false;
	MemoryContextSwitchTo(old);
	return policy;
}

/*
 * The restrictive side: pg_rollout's tenant filter, where the table is
 * enforced.  Per statement this is a hash look-up and the mode check; the
 * policy itself is built once per registry load (PostgreSQL treats the
 * policies a hook returns as read-only, as it does the relcache's own:
 * add_security_quals and add_with_check_options copy the quals).
 */
static List *
isolation_rls_restrictive(CmdType cmdtype, Relation relation)
{
	List	   *policies = NIL;
	Protected  *p;

	if (prev_rls_restrictive)
		policies = prev_rls_restrictive(cmdtype, relation);
	if (enforcement_mode == MODE_DISABLED || enforcement_mode == MODE_LOG_ONLY || bypass_active)
		return policies;
	p = registry_lookup(RelationGetRelid(relation));
	if (p == NULL || !table_enforced(p))
		return policies;

	/*
	 * A distributed protected table: Citus does not send this qual to the
	 * shards; the planner hook adds the tenant to the statement and to the
	 * table's security quals itself (src/citus.c).
	 */
	if (p->state == PROTECTION_OK && pgr_citus_protected_table(RelationGetRelid(relation)))
		return policies;

	if (p->policy == NULL)
		p->policy = build_tenant_policy(p, RelationGetRelid(relation));
	return lappend(policies, p->policy);
}

/*
 * The permissive side.  Row security needs at least one permissive policy
 * or it hides every row; pg_rollout's tenant filter is restrictive, so a
 * protected table whose row security protect_table() switched on needs an
 * all-rows permissive policy.  A catalog policy USING (true) would be ORed
 * with the table's own permissive policies and make them meaningless, so
 * the baseline is supplied here, and only where it cannot widen anything:
 * the relation had row security off before protect_table() (recorded in
 * rollout.protected_relation) and has no permissive policy of its own now.
 * A table that had row security on keeps exactly its own policies (default
 * deny included); a permissive policy added later replaces the baseline.
 * In every mode, under bypass too: this is what the table allowed before.
 * The relcache's policy list and the cached registry: nothing is looked up,
 * and the policy is one object built once.
 */
static RowSecurityPolicy *baseline_policy = NULL;

static List *
isolation_rls_permissive(CmdType cmdtype, Relation relation)
{
	List	   *policies = NIL;
	Protected  *p;
	ListCell   *lc;
	bool		marker;

	if (prev_rls_permissive)
		policies = prev_rls_permissive(cmdtype, relation);
	if (policies != NIL)
		return policies;		/* another module's permissive policies decide */
	p = registry_lookup(RelationGetRelid(relation));
	marker = false;
	if (relation->rd_rsdesc != NULL)
	{
		foreach(lc, relation->rd_rsdesc->policies)
		{
			RowSecurityPolicy *own = lfirst(lc);

			/*
			 * The marker pg_rollout puts on a distributed protected table
			 * (USING false), which Citus copies to every shard (named
			 * <marker>_<shard id> there): the baseline applies there too
			 * (src/citus.c).
			 */
			if (own->permissive &&
				strncmp(own->policy_name, PGR_CITUS_BASELINE_POLICY, strlen(PGR_CITUS_BASELINE_POLICY)) == 0 &&
				(own->policy_name[strlen(PGR_CITUS_BASELINE_POLICY)] == '\0' ||
				 own->policy_name[strlen(PGR_CITUS_BASELINE_POLICY)] == '_'))
				marker = true;
			else if (own->permissive &&
					 strncmp(own->policy_name, PGR_CITUS_POLICY_PREFIX, strlen(PGR_CITUS_POLICY_PREFIX)) == 0)
				continue;		/* pg_rollout's own (false once planned) */
			else if (own->permissive)
				return policies;
		}
	}
	if (!marker && (p == NULL || !p->baseline))
		return policies;
	if (baseline_policy == NULL)
	{
		/* one object for every relation and statement, as the restrictive policies */
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		RowSecurityPolicy *policy = palloc0(sizeof(RowSecurityPolicy));
		Datum		role = ObjectIdGetDatum(ACL_ID_PUBLIC);

		policy->policy_name = pstrdup("pg_rollout_baseline");
		policy->polcmd = '*';
		policy->roles = construct_array(&role, 1, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
		policy->permissive = true;
		policy->qual = (Expr *) makeBoolConst(true, false);
		policy->with_check_qual = (Expr *) makeBoolConst(true, false);
		policy->hassublinks = false;
		MemoryContextSwitchTo(old);
		baseline_policy = policy;
	}
	return lappend(policies, baseline_policy);
}

/* ------------------------------------------------------------------------
 * Execution-time checks
 * ------------------------------------------------------------------------
 */

/*
 * Is the role a superuser or BYPASSRLS (row security does not filter it)?
 * The answer for one role is remembered until pg_authid changes (the way
 * superuser_arg() remembers its own), so a statement on a protected table
 * costs no catalog look-up for it.
 */
static Oid	rls_exempt_role = InvalidOid;
static bool rls_exempt = false;

static void
rls_exempt_forget(Datum arg, int cacheid, uint32 hashvalue)
{
	rls_exempt_role = InvalidOid;
}

static bool
role_bypasses_rls(Oid roleid)
{
	if (roleid != rls_exempt_role || !OidIsValid(roleid))
	{
		bool		answer = superuser_arg(roleid) || has_bypassrls_privilege(roleid);

		rls_exempt = answer;
		rls_exempt_role = roleid;
	}
	return rls_exempt;
}

static bool
tenant_set(void)
{
	return current_tenant_guc != NULL && current_tenant_guc[0] != '\0';
}

const char *
pgr_isolation_tenant(void)
{
	return tenant_set() ? current_tenant_guc : NULL;
}

bool
pgr_isolation_privileged(void)
{
	return role_bypasses_rls(GetUserId());
}

static void
violation(Protected *p, Oid relid, ViolationKind kind, CmdType cmd, bool refuse, QueryDesc *qd)
{
	count_event(relid, kind, cmd, p->severity, refuse);
	record_event(relid, kind, cmd, refuse, qd);
	if (refuse)
	{
		if (kind == KIND_RLS_DISABLED && p->inherited && p->state == PROTECTION_RLS_OFF)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("row security is not enabled on protected table \"%s\"", p->qualname),
					 errdetail("The table is protected through a parent, but was created or attached without row security."),
					 errhint("Run rollout.protect_table() on the parent again to cover it.")));
		if (kind == KIND_RLS_DISABLED)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg(p->state == PROTECTION_RLS_OFF ?
							"row security is not enabled on protected table \"%s\"" :
							"row security is not forced on protected table \"%s\"", p->qualname),
					 errdetail("It was switched off by ALTER TABLE after rollout.protect_table()."),
					 errhint("Run rollout.protect_table() again, or rollout.unprotect_table() to stop protecting the table.")));
		if (kind == KIND_TRUNCATE)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot truncate protected table \"%s\"", p->qualname),
					 errdetail("TRUNCATE removes the rows of every tenant; pg_rollout.enforcement_mode is \"%s\" and the table is enforced.",
							   mode_options[enforcement_mode].name),
					 errhint("Delete the tenant's rows with DELETE after rollout.set_tenant(), or call rollout.bypass('reason') in the transaction first.")));
		if (kind == KIND_HOLDABLE_CURSOR)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot declare a WITH HOLD cursor on protected table \"%s\"", p->qualname),
					 errdetail("A held cursor keeps its rows after the transaction and its tenant context end: "
							   "another tenant context, or the next client of a pooled connection, could fetch them."),
					 errhint("Declare the cursor WITHOUT HOLD, in the transaction that sets the tenant.")));
		if (kind == KIND_PROTECTION_ALTERED && p->state == PROTECTION_NO_COLUMN)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("protected table \"%s\" has no tenant column \"%s\"", p->qualname, p->column),
					 errdetail("The column was dropped or renamed after rollout.protect_table()."),
					 errhint("Restore the column, or call rollout.unprotect_table() and protect the table again.")));
		if (kind == KIND_PROTECTION_ALTERED && p->state == PROTECTION_BAD_COLLATION)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("tenant column \"%s\" of protected table \"%s\" has nondeterministic collation \"%s\"",
							p->column, p->qualname, get_collation_name(p->attcollation)),
					 errdetail("Under it, distinct tenant ids can compare equal; its collation was changed after rollout.protect_table()."),
					 errhint("Give the column a deterministic collation again, or call rollout.unprotect_table().")));
		if (kind == KIND_PROTECTION_ALTERED)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("tenant column \"%s\" of protected table \"%s\" has type %s",
							p->column, p->qualname, format_type_be(p->atttype)),
					 errdetail("A tenant column must be text or varchar; its type was changed after rollout.protect_table()."),
					 errhint("Change the type back, or call rollout.unprotect_table() and protect the table again.")));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tenant context required for table \"%s\"", p->qualname),
				 errdetail("pg_rollout.enforcement_mode is \"%s\" and the table is enforced.",
						   mode_options[enforcement_mode].name),
				 errhint("Call rollout.set_tenant('...') in this transaction first.")));
	}
	if (log_sample_rate > 0 &&
		(log_sample_rate >= 1.0 || pg_prng_double(&pg_global_prng_state) < log_sample_rate))
		ereport(LOG,
				(errmsg("pg_rollout: tenant isolation violation: kind=%s table=%s command=%s severity=%s "
						"mode=%s role=%s application_name=\"%s\" query_id=" INT64_FORMAT,
						kind_names[kind], p->qualname, cmd_name(cmd), severity_names[p->severity],
						mode_options[enforcement_mode].name,
						GetUserNameFromId(GetUserId(), true) ? GetUserNameFromId(GetUserId(), true) : "?",
						application_name ? application_name : "",
						qd && qd->plannedstmt ? (int64) qd->plannedstmt->queryId : (int64) 0),
				 errhidestmt(false)));
}

/*
 * Detection phase: does the plan filter a scan of range-table entry rti by
 * its tenant column?  Looks for "tenant_column op something" (an OpExpr or
 * ScalarArrayOpExpr with the column on one side) among the quals of every
 * scan of that entry.  Returns -1 when the plan does not scan it, 0 when
 * some scan has no such predicate, 1 when every scan has one.
 */
typedef struct PredicateSearch
{
	Index		rti;
	AttrNumber	attnum;
	bool		found;
} PredicateSearch;

static bool
tenant_var(Node *node, PredicateSearch *ps)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node && IsA(node, Var) && ((Var *) node)->varno == ps->rti &&
		((Var *) node)->varattno == ps->attnum && ((Var *) node)->varlevelsup == 0;
}

static bool
predicate_walker(Node *node, PredicateSearch *ps)
{
	if (node == NULL || ps->found)
		return false;
	if (IsA(node, OpExpr) && list_length(((OpExpr *) node)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) node;

		if (tenant_var(linitial(op->args), ps) || tenant_var(lsecond(op->args), ps))
		{
			ps->found = true;
			return true;
		}
	}
	if (IsA(node, ScalarArrayOpExpr) && tenant_var(linitial(((ScalarArrayOpExpr *) node)->args), ps))
	{
		ps->found = true;
		return true;
	}
	return expression_tree_walker(node, predicate_walker, ps);
}

static bool
quals_have_predicate(List *quals, Index rti, AttrNumber attnum)
{
	PredicateSearch ps = {rti, attnum, false};

	(void) predicate_walker((Node *) quals, &ps);
	return ps.found;
}

/* result: 0 unseen, 1 all scans filtered, 2 some scan unfiltered */
static void
scan_filter_walk(Plan *plan, Index rti, AttrNumber attnum, int *result)
{
	ListCell   *lc;

	if (plan == NULL)
		return;
	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_SampleScan:
		case T_IndexScan:
		case T_IndexOnlyScan:
		case T_BitmapHeapScan:
		case T_TidScan:
		case T_TidRangeScan:
			if (((Scan *) plan)->scanrelid == rti)
			{
				bool		has = quals_have_predicate(plan->qual, rti, attnum);

				if (!has && IsA(plan, IndexScan))
					has = quals_have_predicate(((IndexScan *) plan)->indexqualorig, rti, attnum);
				if (!has && IsA(plan, IndexOnlyScan))
					has = quals_have_predicate(((IndexOnlyScan *) plan)->recheckqual, rti, attnum);
				if (!has && IsA(plan, BitmapHeapScan))
					has = quals_have_predicate(((BitmapHeapScan *) plan)->bitmapqualorig, rti, attnum);
				if (!has && IsA(plan, TidScan))
					has = quals_have_predicate(((TidScan *) plan)->tidquals, rti, attnum);
				if (!has)
					*result = 2;
				else if (*result == 0)
					*result = 1;
			}
			break;
		case T_Append:
			foreach(lc, ((Append *) plan)->appendplans)
				scan_filter_walk(lfirst(lc), rti, attnum, result);
			break;
		case T_MergeAppend:
			foreach(lc, ((MergeAppend *) plan)->mergeplans)
				scan_filter_walk(lfirst(lc), rti, attnum, result);
			break;
		case T_BitmapAnd:
			foreach(lc, ((BitmapAnd *) plan)->bitmapplans)
				scan_filter_walk(lfirst(lc), rti, attnum, result);
			break;
		case T_BitmapOr:
			foreach(lc, ((BitmapOr *) plan)->bitmapplans)
				scan_filter_walk(lfirst(lc), rti, attnum, result);
			break;
		case T_SubqueryScan:
			scan_filter_walk(((SubqueryScan *) plan)->subplan, rti, attnum, result);
			break;
		case T_CustomScan:
			foreach(lc, ((CustomScan *) plan)->custom_plans)
				scan_filter_walk(lfirst(lc), rti, attnum, result);
			break;
		default:
			break;
	}
	scan_filter_walk(plan->lefttree, rti, attnum, result);
	scan_filter_walk(plan->righttree, rti, attnum, result);
}

static bool
statement_filters_tenant(PlannedStmt *stmt, Index rti, AttrNumber attnum)
{
	int			result = 0;
	ListCell   *lc;

	scan_filter_walk(stmt->planTree, rti, attnum, &result);
	foreach(lc, stmt->subplans)
		scan_filter_walk(lfirst(lc), rti, attnum, &result);
	return result != 2;
}

/*
 * The table a statement reached a protected relation through: the first of
 * the protected tables named so far in the range table (named, in range-table
 * order) that is the relation itself or one of its protected ancestors.  The
 * planner appends the partitions and children it scans after the entries
 * the statement names, so a partition scanned because its parent is named
 * answers the parent, and a partition named directly answers itself.  Only
 * protected tables go into named (not every partition), so a statement
 * scanning many partitions costs one short list walk per partition.
 */
static Oid
statement_table(List *named, const Protected *p)
{
	ListCell   *lc;

	foreach(lc, named)
	{
		Oid			relid = lfirst_oid(lc);

		for (int t = 0; t < p->ntops; t++)
			if (p->tops[t] == relid)
				return relid;
	}
	return p->relid;
}

/* True the first time a statement reports relid: one event per table and statement. */
static bool
first_report(List **counted, Oid relid)
{
	if (list_member_oid(*counted, relid))
		return false;
	*counted = lappend_oid(*counted, relid);
	return true;
}

/*
 * A protected table that is a Citus table (made one by DDL in this
 * transaction, e.g. a partition attached to a distributed table, which
 * src/citus.c refuses only at commit): Citus does not send the tenant qual
 * to its shards, so the statement is refused where the table is enforced
 * and counted as row_security_disabled elsewhere.  True when it was counted.
 */
static bool
citus_unfiltered(Protected *p, Oid relid, CmdType cmd, QueryDesc *qd)
{
	char		method;

	if (!pgr_citus_installed() || (method = pgr_citus_table(relid)) == '\0')
		return false;
	if (table_enforced(p))
	{
		count_event(relid, KIND_RLS_DISABLED, cmd, p->severity, true);
		record_event(relid, KIND_RLS_DISABLED, cmd, true, qd);
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("protected table \"%s\" is a Citus %s table", p->qualname, pgr_citus_table_kind(method)),
				 errdetail("pg_rollout cannot enforce tenant isolation on the shards of a Citus table: "
						   "its tenant filter would not reach the shard queries."),
				 errhint("Call rollout.unprotect_table('%s') and keep the table local, or undistribute it (docs/citus.md).",
						 p->qualname)));
	}
	violation(p, relid, KIND_RLS_DISABLED, cmd, false, qd);
	return true;
}

/*
 * The relation a partition or inheritance child range-table entry was
 * expanded from, at the top of its chain of relations (the one the
 * statement named), or InvalidOid when rti was not expanded from a table.
 * PostgreSQL applies the row security of that top relation only: the
 * child's own policies (pg_rollout's tenant qual among them) do not apply.
 */
static Oid
expanded_from(PlannedStmt *stmt, Index rti)
{
	Index		top = rti;
	bool		moved = true;

	while (moved)
	{
		ListCell   *lc;

		moved = false;
		foreach(lc, stmt->appendRelations)
		{
			AppendRelInfo *a = lfirst_node(AppendRelInfo, lc);
			RangeTblEntry *parent;

			if (a->child_relid != top || a->parent_relid == top)
				continue;
			parent = rt_fetch(a->parent_relid, stmt->rtable);
			if (parent->rtekind != RTE_RELATION)
				break;			/* a UNION ALL member: not a table's child */
			top = a->parent_relid;
			moved = true;
			break;
		}
	}
	return top == rti ? InvalidOid : rt_fetch(top, stmt->rtable)->relid;
}

/*
 * A protected table read or written through a parent whose row security
 * does not filter it by tenant: a parent that is not protected (made its
 * partition or child by ALTER TABLE ... ATTACH PARTITION / INHERIT where
 * that is not refused, or before protect_table), or, in selective mode, a
 * protected parent that is not enforced while the table is (listed in
 * pg_rollout.enforce_tables).  Only the parent's row security applies to
 * the table's rows there.  Refused where the table is enforced, counted as
 * row_security_disabled otherwise.
 */
static void
unprotected_parent(Protected *p, Oid relid, Oid parent, bool parent_protected, CmdType cmd,
				   bool refuse, QueryDesc *qd)
{
	char	   *parent_name;
	char	   *parent_qualname;

	if (!refuse)
	{
		violation(p, relid, KIND_RLS_DISABLED, cmd, false, qd);
		return;
	}
	count_event(relid, KIND_RLS_DISABLED, cmd, p->severity, true);
	record_event(relid, KIND_RLS_DISABLED, cmd, true, qd);
	parent_name = get_rel_name(parent);
	parent_qualname = parent_name ?
		quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)), parent_name) : "?";
	if (parent_protected)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("protected table \"%s\" is enforced, but reached through table \"%s\", which is not",
						p->qualname, parent_qualname),
				 errdetail("Through a parent, PostgreSQL applies the parent's row security only: the table's rows would not be filtered by tenant."),
				 errhint("Enforce \"%s\" too (pg_rollout.enforce_tables), or name the table itself.", parent_qualname)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("protected table \"%s\" is reached through table \"%s\", which is not protected",
					p->qualname, parent_qualname),
			 errdetail("Through a parent, PostgreSQL applies the parent's row security only: the table's rows would not be filtered by tenant."),
			 errhint("Protect the parent with rollout.protect_table(), or name the protected table itself.")));
}

/*
 * INSERT (or MERGE, or COPY FROM) into a table that is not protected but is
 * a parent of a protected one: PostgreSQL routes the rows into the
 * partition or child checking the parent's row security only, so rows of
 * any tenant would land in the protected table.  Refused where that table
 * is enforced, counted as row_security_disabled elsewhere.
 */
static void
check_routed_insert(Oid relid, CmdType cmd, QueryDesc *qd)
{
	Shield	   *sh;
	Protected  *p;
	Oid			below;

	if (shields == NULL || (sh = hash_search(shields, &relid, HASH_FIND, NULL)) == NULL)
		return;
	below = sh->protected_relid;
	if (role_bypasses_rls(GetUserId()) || bypass_active || (p = registry_lookup(below)) == NULL)
		return;
	if (!table_enforced(p))
	{
		violation(p, below, KIND_RLS_DISABLED, cmd, false, qd);
		return;
	}
	count_event(below, KIND_RLS_DISABLED, cmd, p->severity, true);
	record_event(below, KIND_RLS_DISABLED, cmd, true, qd);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot insert into table \"%s\": its rows would reach protected table \"%s\" unfiltered",
					quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid)),
					p->qualname),
			 errdetail("Rows inserted through a parent are checked against the parent's row security only, and this parent is not protected."),
			 errhint("Protect the parent with rollout.protect_table(), or insert into the protected table itself.")));
}

/* ------------------------------------------------------------------------
 * The tenant as a constant in plans that are executed once
 * ------------------------------------------------------------------------
 *
 * The qual "tenant_column = rollout._tenant_for(relid)" costs a planned
 * statement two things a hand-written "WHERE tenant_column = 'acme'" does
 * not: the planner evaluates the STABLE function to estimate the qual's
 * selectivity (an executor state built and thrown away), and every
 * execution sets the call up (ACL check, fmgr look-up).  A plan that is
 * executed once, right after it is made, can carry the tenant as a Const
 * instead: the support function of _tenant_for (SupportRequestSimplify)
 * replaces the call while the planner hook allows it.  It allows it only
 * for plans that nobody keeps:
 *
 *  - a custom plan (boundParams given): the plan cache builds one per
 *    execution and never stores it;
 *  - the plan of a statement just analysed with no parameters (a
 *    simple-protocol query), planned with no portal running (so not
 *    inside a function, EXPLAIN, a cursor or EXECUTE) from the very Query
 *    the analysis produced (the plan cache plans a copy).
 *
 * A generic plan, which the plan cache keeps and runs again, is planned
 * with the function call.  Should a plan carrying the tenant still be kept
 * (a named statement whose query is analysed again at Bind, after DDL, is
 * planned from the fresh Query), three things keep it from being run for
 * another tenant: it is marked transient (the plan cache drops it at the
 * next transaction); it depends on a marker that is invalidated whenever
 * the tenant changes (PlanCacheObjectCallback, for the kept plans); and it
 * carries the generation of the tenant context it was made for, which the
 * ExecutorStart hook compares with the current one, refusing the statement
 * when they differ.  A plan already executing (a cursor, an open portal)
 * reads the tenant it started with.
 *
 * The tenant as an executor parameter in kept plans
 * -------------------------------------------------
 *
 * A kept plan cannot carry the tenant, but it need not set the call up at
 * every execution either (ExecInitFunc: an ACL check and an fmgr look-up
 * per call site and execution).  Once standard_planner has finished a plan
 * that may be run to completion in one go (CURSOR_OPT_PARALLEL_OK: a
 * prepared statement, EXECUTE, a statement of a function body; not a
 * DECLARE'd cursor nor a PL/pgSQL FOR loop, whose plans keep the call and
 * so follow a tenant switch between fetches row by row), the planner hook
 * replaces each call of pg_rollout's own qual (a call to _tenant_for with
 * no location; a plan that reads no table is left alone) in the parts of
 * the plan the leader runs with a PARAM_EXEC Param of a slot of its own,
 * added to the plan's paramExecTypes, and names that slot in the plan (a
 * PlanInvalItem with PGR_TENANT_PARAM_CACHEID, which no invalidation
 * matches).  The Param is
 * added after planning because the planner accepts a PARAM_EXEC only from
 * a node or initplan that sets it (finalize_plan: "plan should not
 * reference subplan's variable"); planning itself, selectivity estimates
 * included, sees the call as before.  The ExecutorStart hook fills the
 * slot with the current tenant (NULL without one) right after
 * standard_ExecutorStart, before anything is evaluated (no expression of
 * the leader's part of a plan is evaluated while the plan is initialised:
 * index run-time keys, Result and Limit quals are computed on the first
 * fetch; partition pruning steps are not rewritten), and the ExecutorRun
 * hook sets it again when the tenant changed since (a portal fetched in
 * pieces through the extended protocol reads, from each fetch on, the
 * tenant of that fetch, as the call did).  Left alone, and keeping the
 * call: everything below a Gather or Gather Merge (parallel workers read
 * the tenant through the call, the GUC reaching them as before),
 * subplans, initplans and CTEs (stmt->subplans, which workers may run),
 * partition pruning steps, Custom Scans (Citus) and any field not named in
 * tenant_params_plan(); leaving a call costs time, never isolation.
 * EvalPlanQual copies the parameter values into its own executor state.
 */
#define PGR_TENANT_PLAN_HASH	((uint32) 0x70677274)	/* marker hash under PROCOID */
#define PGR_TENANT_GEN_CACHEID	(-0x7067)	/* no syscache: carries the generation */
#define PGR_TENANT_PARAM_CACHEID	(-0x7068)	/* no syscache: carries the tenant parameter's slot */

static Query *fresh_query = NULL;	/* analysed with no parameters, not planned yet */
static bool tenant_const_allowed = false;	/* inside a planner call that may fold */
static bool tenant_const_made = false;	/* the current planner call folded */
static bool tenant_const_kept_maybe = false;	/* a plan that may be kept carries the tenant */
static bool tenant_call_planning = false;	/* inside pg_rollout's planner hook */
static Oid	tenant_call_seen = InvalidOid;	/* _tenant_for left as a call in the current planner call */
static uint32 tenant_generation = 1;	/* changes with the tenant context */
static char last_tenant[PGR_NAME_MAX_LEN + 1] = "";
static bool last_tenant_known = true;

/* The tenant context changed (the GUC's assign hook): plans carrying the old one are stale. */
static void
tenant_context_changed(const char *newval)
{
	if (newval == NULL)
		newval = "";
	if (last_tenant_known && strcmp(newval, last_tenant) == 0)
		return;
	tenant_generation++;
	if (tenant_generation == 0)
		tenant_generation = 1;
	last_tenant_known = strlen(newval) <= PGR_NAME_MAX_LEN;
	if (last_tenant_known)
		strlcpy(last_tenant, newval, sizeof(last_tenant));
	if (tenant_const_kept_maybe)
	{
		tenant_const_kept_maybe = false;
		CallSyscacheCallbacks(PROCOID, PGR_TENANT_PLAN_HASH);
	}
}

static void
isolation_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);
	/* a statement with parameters comes from Parse, SPI or a function: never fresh */
	fresh_query = pstate->p_paramref_hook == NULL ? query : NULL;
}

typedef struct TenantParamContext
{
	Oid			funcid;			/* rollout._tenant_for */
	int			paramid;		/* the slot, -1 until a call is replaced */
	List	  **paramExecTypes; /* the PlannedStmt's */
} TenantParamContext;

/* A call to _tenant_for becomes the plan's tenant parameter. */
static Node *
tenant_params_mutator(Node *node, TenantParamContext *cxt)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == cxt->funcid)
	{
		FuncExpr   *call = (FuncExpr *) node;
		Param	   *param;

		/*
		 * Only pg_rollout's own qual (built by build_tenant_policy, with no
		 * location in any query text): a call written by hand stays a call.
		 * PL/pgSQL evaluates a "simple expression" (a SELECT without
		 * tables, e.g. IF rollout._tenant_for(...) = ...) straight from its
		 * plan, without ExecutorStart, so nobody would fill a parameter
		 * there.
		 */
		if (call->funcresulttype != TEXTOID || call->funcretset || call->location >= 0 ||
			list_length(call->args) != 1 || !IsA(linitial(call->args), Const))
			return node;
		if (cxt->paramid < 0)
		{
			cxt->paramid = list_length(*cxt->paramExecTypes);
			*cxt->paramExecTypes = lappend_oid(*cxt->paramExecTypes, TEXTOID);
		}
		param = makeNode(Param);
		param->paramkind = PARAM_EXEC;
		param->paramid = cxt->paramid;
		param->paramtype = TEXTOID;
		param->paramtypmod = -1;
		param->paramcollid = call->funccollid;
		param->location = -1;
		return (Node *) param;
	}
	return expression_tree_mutator(node, tenant_params_mutator, (void *) cxt);
}

#define TENANT_PARAMS(field) \
	((field) = (void *) tenant_params_mutator((Node *) (field), cxt))

/*
 * The calls in the part of a finished plan that the leader runs (see "The
 * tenant as an executor parameter in kept plans").  Only the fields named
 * here are rewritten; a call anywhere else stays a call.
 */
static void tenant_params_plan(Plan *plan, TenantParamContext *cxt);

static void
tenant_params_plans(List *plans, TenantParamContext *cxt)
{
	ListCell   *lc;

	foreach(lc, plans)
		tenant_params_plan((Plan *) lfirst(lc), cxt);
}

static void
tenant_params_plan(Plan *plan, TenantParamContext *cxt)
{
	if (plan == NULL)
		return;
	switch (nodeTag(plan))
	{
		case T_Gather:
		case T_GatherMerge:
		case T_CustomScan:
			return;				/* parallel workers, Citus: the call stays */
		case T_SeqScan:
		case T_Sort:
		case T_IncrementalSort:
		case T_Material:
		case T_Unique:
		case T_Agg:
		case T_Group:
		case T_WindowAgg:
		case T_SetOp:
		case T_LockRows:
		case T_Hash:
		case T_ProjectSet:
		case T_Limit:
		case T_Memoize:
		case T_RecursiveUnion:
		case T_SampleScan:
		case T_TidScan:
		case T_TidRangeScan:
		case T_FunctionScan:
		case T_ValuesScan:
		case T_TableFuncScan:
		case T_CteScan:
		case T_WorkTableScan:
		case T_NamedTuplestoreScan:
			break;
		case T_Result:
			TENANT_PARAMS(((Result *) plan)->resconstantqual);
			break;
		case T_IndexScan:
			TENANT_PARAMS(((IndexScan *) plan)->indexqual);
			TENANT_PARAMS(((IndexScan *) plan)->indexqualorig);
			break;
		case T_IndexOnlyScan:
			TENANT_PARAMS(((IndexOnlyScan *) plan)->indexqual);
			TENANT_PARAMS(((IndexOnlyScan *) plan)->recheckqual);
			break;
		case T_BitmapIndexScan:
			TENANT_PARAMS(((BitmapIndexScan *) plan)->indexqual);
			TENANT_PARAMS(((BitmapIndexScan *) plan)->indexqualorig);
			break;
		case T_BitmapHeapScan:
			TENANT_PARAMS(((BitmapHeapScan *) plan)->bitmapqualorig);
			break;
		case T_BitmapAnd:
			tenant_params_plans(((BitmapAnd *) plan)->bitmapplans, cxt);
			break;
		case T_BitmapOr:
			tenant_params_plans(((BitmapOr *) plan)->bitmapplans, cxt);
			break;
		case T_Append:
			tenant_params_plans(((Append *) plan)->appendplans, cxt);
			break;
		case T_MergeAppend:
			tenant_params_plans(((MergeAppend *) plan)->mergeplans, cxt);
			break;
		case T_SubqueryScan:
			tenant_params_plan(((SubqueryScan *) plan)->subplan, cxt);
			break;
		case T_NestLoop:
		case T_MergeJoin:
		case T_HashJoin:
			TENANT_PARAMS(((Join *) plan)->joinqual);
			break;
		case T_ModifyTable:
			TENANT_PARAMS(((ModifyTable *) plan)->withCheckOptionLists);
			TENANT_PARAMS(((ModifyTable *) plan)->returningLists);
			TENANT_PARAMS(((ModifyTable *) plan)->onConflictSet);
			TENANT_PARAMS(((ModifyTable *) plan)->onConflictWhere);
			break;
		default:
			/* a node not listed: neither it nor what is below it is rewritten */
			return;
	}
	TENANT_PARAMS(plan->targetlist);
	TENANT_PARAMS(plan->qual);
	tenant_params_plan(plan->lefttree, cxt);
	tenant_params_plan(plan->righttree, cxt);
}

/*
 * Rewrite a finished plan's calls to _tenant_for (funcid) into a PARAM_EXEC
 * parameter the executor hooks fill, and name its slot in the plan.
 */
static void
tenant_params(PlannedStmt *stmt, Oid funcid)
{
	TenantParamContext cxt;
	PlanInvalItem *item;

	ListCell   *lc;
	bool		reads_table = false;

	if (stmt->commandType == CMD_UTILITY || stmt->planTree == NULL)
		return;
	/* the qual comes with a table's row security: a plan without tables is left alone */
	foreach(lc, stmt->rtable)
		if (((RangeTblEntry *) lfirst(lc))->rtekind == RTE_RELATION)
			reads_table = true;
	if (!reads_table)
		return;
	cxt.funcid = funcid;
	cxt.paramid = -1;
	cxt.paramExecTypes = &stmt->paramExecTypes;
	tenant_params_plan(stmt->planTree, &cxt);
	if (cxt.paramid < 0)
		return;
	item = makeNode(PlanInvalItem);
	item->cacheId = PGR_TENANT_PARAM_CACHEID;
	item->hashValue = (uint32) cxt.paramid;
	stmt->invalItems = lappend(stmt->invalItems, item);
}

/* The slot of a plan's tenant parameter, or -1. */
static int
tenant_param_slot(PlannedStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->invalItems)
	{
		PlanInvalItem *item = lfirst(lc);

		if (item->cacheId == PGR_TENANT_PARAM_CACHEID)
			return (int) item->hashValue;
	}
	return -1;
}

/*
 * Fill the tenant parameter of an executor state with the current tenant
 * (NULL without one), unless it holds it already.
 */
static void
tenant_param_fill(QueryDesc *queryDesc, int slot)
{
	EState	   *estate = queryDesc->estate;
	ParamExecData *prm;
	size_t		len;
	MemoryContext old;

	if (estate == NULL || estate->es_param_exec_vals == NULL ||
		slot >= list_length(queryDesc->plannedstmt->paramExecTypes))
		elog(ERROR, "pg_rollout: the tenant parameter of the plan has no slot");
	prm = &estate->es_param_exec_vals[slot];
	if (!tenant_set())
	{
		prm->execPlan = NULL;
		prm->value = (Datum) 0;
		prm->isnull = true;
		return;
	}
	len = strlen(current_tenant_guc);
	if (!prm->isnull && prm->value != (Datum) 0 &&
		VARSIZE_ANY_EXHDR(DatumGetPointer(prm->value)) == len &&
		memcmp(VARDATA_ANY(DatumGetPointer(prm->value)), current_tenant_guc, len) == 0)
		return;
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	prm->value = PointerGetDatum(cstring_to_text_with_len(current_tenant_guc, len));
	MemoryContextSwitchTo(old);
	prm->execPlan = NULL;
	prm->isnull = false;
}

static PlannedStmt *
isolation_planner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	bool		save_allowed = tenant_const_allowed;
	bool		save_made = tenant_const_made;
	bool		save_planning = tenant_call_planning;
	Oid			save_seen = tenant_call_seen;
	bool		made = false;
	Oid			seen = InvalidOid;
	PlannedStmt *result;

	tenant_const_allowed = tenant_set() &&
		(boundParams != NULL || (ActivePortal == NULL && parse == fresh_query));
	tenant_const_made = false;
	tenant_call_planning = true;
	tenant_call_seen = InvalidOid;
	fresh_query = NULL;
	PG_TRY();
	{
		if (prev_planner_hook)
			result = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions, boundParams);
		made = tenant_const_made;
		seen = tenant_call_seen;
	}
	PG_FINALLY();
	{
		tenant_const_allowed = save_allowed;
		tenant_const_made = save_made;
		tenant_call_planning = save_planning;
		tenant_call_seen = save_seen;
	}
	PG_END_TRY();

	if (OidIsValid(seen) && (cursorOptions & CURSOR_OPT_PARALLEL_OK) != 0)
		tenant_params(result, seen);

	if (made)
	{
		PlanInvalItem *dep = makeNode(PlanInvalItem);
		PlanInvalItem *gen = makeNode(PlanInvalItem);

		dep->cacheId = PROCOID;
		dep->hashValue = PGR_TENANT_PLAN_HASH;
		gen->cacheId = PGR_TENANT_GEN_CACHEID;
		gen->hashValue = tenant_generation;
		result->invalItems = lappend(lappend(result->invalItems, dep), gen);
		result->transientPlan = true;
		if (boundParams == NULL)
			tenant_const_kept_maybe = true;
	}
	return result;
}

/*
 * A plan that carries a tenant as a constant runs only under the tenant
 * context it was made for.
 */
static void
check_plan_tenant(PlannedStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->invalItems)
	{
		PlanInvalItem *item = lfirst(lc);

		if (item->cacheId != PGR_TENANT_GEN_CACHEID)
			continue;
		if (item->hashValue != tenant_generation)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("statement was planned for another tenant context"),
					 errdetail("Its plan carries the tenant that was current when it was planned, and the tenant context has changed since."),
					 errhint("Run the statement again: it is planned for the current tenant.")));
		return;
	}
}

PG_FUNCTION_INFO_V1(pgr_tenant_for_support);

/*
 * rollout._tenant_for_support(internal): the planner support function of
 * _tenant_for.  Inside a planner call that may fold (above), the call
 * becomes the current tenant as a Const; elsewhere nothing changes.
 */
Datum
pgr_tenant_for_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);

	if (IsA(rawreq, SupportRequestSimplify) && tenant_const_allowed && tenant_set())
	{
		SupportRequestSimplify *req = (SupportRequestSimplify *) rawreq;
		FuncExpr   *call = req->fcall;

		if (call->funcresulttype == TEXTOID && list_length(call->args) == 1 &&
			IsA(linitial(call->args), Const))
		{
			tenant_const_made = true;
			PG_RETURN_POINTER(makeConst(TEXTOID, -1, call->funccollid, -1,
										PointerGetDatum(cstring_to_text(current_tenant_guc)),
										false, false));
		}
	}
	else if (IsA(rawreq, SupportRequestSimplify) && tenant_call_planning)
	{
		FuncExpr   *call = ((SupportRequestSimplify *) rawreq)->fcall;

		/* left as a call: the planner hook may make it a parameter (above) */
		if (call->funcresulttype == TEXTOID)
			tenant_call_seen = call->funcid;
	}
	PG_RETURN_POINTER(NULL);
}

/*
 * WITH HOLD cursors declared in this transaction (their names).  A cursor
 * over a function that reads a protected table (SELECT * FROM app_fn())
 * names no protected table in its plan (check_holdable_cursor passes it),
 * yet its rows, materialized at commit under the transaction's tenant,
 * stay fetchable after the context ends, by the next client of a pooled
 * connection too.  The function's own statements run while the cursor's
 * portal is active (a FETCH, or its materialization at commit): a
 * protected table read then is the holdable_cursor violation.
 */
static List *held_cursors = NIL;

static bool
inside_held_cursor(void)
{
	ListCell   *lc;

	foreach(lc, held_cursors)
	{
		Portal		portal = GetPortalByName((const char *) lfirst(lc));

		if (PortalIsValid(portal) && portal->status == PORTAL_ACTIVE &&
			(portal->cursorOptions & CURSOR_OPT_HOLD) != 0)
			return true;
	}
	return false;
}

static void
isolation_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	int			slot;

	fresh_query = NULL;
	if (registry_recheck && !IsInParallelMode())
		registry_valid = registry_recheck = false;
	if (queryDesc->plannedstmt != NULL && queryDesc->plannedstmt->invalItems != NIL &&
		!IsParallelWorker() && (eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
		check_plan_tenant(queryDesc->plannedstmt);
	if (enforcement_mode != MODE_DISABLED && !IsParallelWorker() && !registry_loading &&
		(eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 && queryDesc->plannedstmt != NULL &&
		IsTransactionState())
	{
		List	   *rtable = queryDesc->plannedstmt->rtable;
		ListCell   *lc;
		int			rti = 0;
		CmdType		cmd = queryDesc->operation;
		int			privileged = -1;	/* looked up at the first protected table */
		List	   *counted = NIL;	/* protected tables counted in this statement */
		List	   *named = NIL;	/* protected tables met so far, in range-table order */

		foreach(lc, rtable)
		{
			RangeTblEntry *rte = lfirst(lc);
			Protected  *p;
			CmdType		rcmd = cmd;
			bool		enforced;
			bool		through_parent;
			Oid			report_relid;
			Oid			parent;
			Protected  *top;
			int			kind = -1;
			bool		refuse = false;

			rti++;
			if (rte->rtekind != RTE_RELATION)
				continue;
			p = registry_lookup(rte->relid);
			if (p == NULL)
			{
				if (shields != NULL && (cmd == CMD_INSERT || cmd == CMD_MERGE) &&
					list_member_int(queryDesc->plannedstmt->resultRelations, rti))
					check_routed_insert(rte->relid, cmd, queryDesc);
				continue;
			}
			/* tables read by a write command are reads */
			if (cmd != CMD_SELECT && !list_member_int(queryDesc->plannedstmt->resultRelations, rti))
				rcmd = CMD_SELECT;

			/*
			 * A partition or child scanned because the statement names its
			 * protected parent is that table's business: the parent's row
			 * security applies to it, and the statement is one event for
			 * the parent, not one per partition scanned.
			 */
			report_relid = statement_table(named, p);
			through_parent = report_relid != rte->relid;
			if (p->ntops > 0 && p->tops[0] == rte->relid)
				named = lappend_oid(named, rte->relid);	/* protected on its own */

			if (privileged < 0)
				privileged = role_bypasses_rls(GetUserId()) ? 1 : 0;

			/*
			 * A distributed protected table (src/citus.c): its shards are
			 * filtered on the workers by the signed tenant the planner hook
			 * attached to the statement, in every enforcement mode and
			 * under rollout.bypass() alike (the workers know neither).  No
			 * tenant context: refused.
			 */
			if (!privileged && pgr_citus_protected_table(rte->relid))
			{
				if (!tenant_set())
				{
					count_event(report_relid, KIND_MISSING_CONTEXT, rcmd, p->severity, true);
					record_event(report_relid, KIND_MISSING_CONTEXT, rcmd, true, queryDesc);
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("tenant context required for distributed table \"%s\"", p->qualname),
							 errdetail("A distributed protected table is enforced in every enforcement mode, and rollout.bypass() does not reach its shards."),
							 errhint("Call rollout.set_tenant('...') in this transaction first.")));
				}
				continue;
			}
			if (privileged || bypass_active)
			{
				if (first_report(&counted, report_relid))
					count_event(report_relid, privileged ? KIND_PRIVILEGED : KIND_BYPASS, rcmd, p->severity, false);
				continue;
			}
			if (held_cursors != NIL && inside_held_cursor())
			{
				if (table_enforced(p) || first_report(&counted, report_relid))
					violation(p, report_relid, KIND_HOLDABLE_CURSOR, rcmd, table_enforced(p), queryDesc);
				continue;
			}
			if (citus_unfiltered(p, rte->relid, rcmd, queryDesc))
				continue;

			/*
			 * Row security is checked as the range-table entry's checkAsUser:
			 * through a view or rule, its owner.  A superuser or BYPASSRLS
			 * owner shows every tenant's rows to whoever may read the view:
			 * counted and logged as privileged access (not refused: the
			 * owner's rights are PostgreSQL's to decide).
			 */
			if (OidIsValid(rte->checkAsUser) && rte->checkAsUser != GetUserId() &&
				role_bypasses_rls(rte->checkAsUser))
			{
				if (first_report(&counted, report_relid))
					violation(p, report_relid, KIND_PRIVILEGED, rcmd, false, queryDesc);
				continue;
			}

			/*
			 * One verdict per table: the first that applies of
			 *  - DDL since protect_table() that leaves the table unfiltered
			 *    or the qual unbuildable (fail closed);
			 *  - no tenant context;
			 *  - row security disabled or no longer forced: nothing (or not
			 *    the owner) is filtered (a partition or child created
			 *    without row security and read directly: refused where
			 *    enforced; through the parent its row security does not
			 *    apply);
			 *  - detection, where row security does not filter the table
			 *    yet: a read without its own tenant predicate would see
			 *    every tenant's rows.
			 * Refused where the table is enforced (detection never is),
			 * counted once per protected table and statement otherwise.
			 */
			enforced = table_enforced(p);
			if (p->state == PROTECTION_NO_COLUMN || p->state == PROTECTION_BAD_TYPE ||
				p->state == PROTECTION_BAD_COLLATION)
				kind = KIND_PROTECTION_ALTERED, refuse = enforced;
			else if (!tenant_set())
				kind = KIND_MISSING_CONTEXT, refuse = enforced;
			else if (!through_parent &&
					 OidIsValid(parent = expanded_from(queryDesc->plannedstmt, rti)) &&
					 registry_lookup(parent) == NULL)
			{
				if (enforced || first_report(&counted, report_relid))
					unprotected_parent(p, rte->relid, parent, false, rcmd, enforced, queryDesc);
				continue;
			}
			else if (through_parent && enforced &&
					 (top = registry_lookup(report_relid)) != NULL && !table_enforced(top))
			{
				/* selective mode: the partition is enforced, the parent named is not */
				unprotected_parent(p, rte->relid, report_relid, true, rcmd, true, queryDesc);
			}
			else if ((p->state == PROTECTION_RLS_OFF || p->state == PROTECTION_NOT_FORCED) &&
					 !through_parent && (!p->inherited || enforced))
				kind = KIND_RLS_DISABLED, refuse = enforced;
			else if (!enforced && rcmd != CMD_INSERT &&
					 !statement_filters_tenant(queryDesc->plannedstmt, rti, p->attnum))
				kind = KIND_MISSING_PREDICATE;
			if (kind < 0)
				continue;
			if (refuse)
				violation(p, rte->relid, (ViolationKind) kind, rcmd, true, queryDesc);	/* does not return */
			if (first_report(&counted, report_relid))
				violation(p, report_relid, (ViolationKind) kind, rcmd, false, queryDesc);
		}
		list_free(counted);
		list_free(named);
	}
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (queryDesc->plannedstmt != NULL && queryDesc->plannedstmt->invalItems != NIL &&
		(slot = tenant_param_slot(queryDesc->plannedstmt)) >= 0)
		tenant_param_fill(queryDesc, slot);
}

/* A plan with a tenant parameter reads the tenant of each fetch (see above). */
static void
isolation_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once)
{
	int			slot;

	if (queryDesc->plannedstmt != NULL && queryDesc->plannedstmt->invalItems != NIL &&
		(slot = tenant_param_slot(queryDesc->plannedstmt)) >= 0)
		tenant_param_fill(queryDesc, slot);
	if (prev_ExecutorRun)
		prev_ExecutorRun(queryDesc, direction, count, execute_once);
	else
		standard_ExecutorRun(queryDesc, direction, count, execute_once);
}

/* ------------------------------------------------------------------------
 * Utility statements: TRUNCATE, and DDL that would switch protection off
 * ------------------------------------------------------------------------
 */

/* Look up the OIDs of protect_table() and unprotect_table() (once per registry load). */
static void
lookup_protection_fns(void)
{
	Oid			nsp = get_namespace_oid(PGR_SCHEMA, true);

	fn_protect_table = InvalidOid;
	fn_unprotect_table = InvalidOid;
	if (OidIsValid(nsp))
	{
		Oid			protect_args[5] = {REGCLASSOID, NAMEOID, TEXTOID, BOOLOID, BOOLOID};

		fn_protect_table = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
										   CStringGetDatum("protect_table"),
										   PointerGetDatum(buildoidvector(protect_args, 5)),
										   ObjectIdGetDatum(nsp));
		fn_unprotect_table = GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
											 CStringGetDatum("unprotect_table"),
											 PointerGetDatum(buildoidvector((Oid[]) {REGCLASSOID}, 1)),
											 ObjectIdGetDatum(nsp));
	}
	protection_fns_known = true;
}

/*
 * fmgr_hook: count how deep we are inside protect_table() / unprotect_table().
 * Called on entry and exit (and on error) of functions with a SET clause or
 * SECURITY DEFINER; the OID comparison is all it costs the others.
 */
static void
isolation_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *arg)
{
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, arg);
	if (!protection_fns_known && event == FHET_START && IsTransactionState())
		lookup_protection_fns();
	if (OidIsValid(flinfo->fn_oid) &&
		(flinfo->fn_oid == fn_protect_table || flinfo->fn_oid == fn_unprotect_table))
	{
		if (event == FHET_START)
			protection_fn_depth++;
		else if (protection_fn_depth > 0)
			protection_fn_depth--;
		/* a Citus table must not become protected (src/citus.c) */
		if (event == FHET_START && flinfo->fn_oid == fn_protect_table)
			pgr_citus_call_begins();
		if (event == FHET_END && flinfo->fn_oid == fn_protect_table)
			pgr_citus_refuse_protected(NULL);
		/* a distributed table no longer protected loses pg_rollout's policies */
		if (event == FHET_END && flinfo->fn_oid == fn_unprotect_table)
			pgr_citus_unprotected();
	}
}

/* Refuse DDL that would leave a protected table unfiltered. */
static void
refuse_protection_ddl(const Protected *p, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot %s on protected table \"%s\"", what, p->qualname),
			 errdetail("The table's rows are isolated by tenant (rollout.protect_table()); this would switch that off."),
			 errhint("Call rollout.unprotect_table('%s') first: it is audited.", p->qualname)));
}

/*
 * The tables a column change on rv reaches: the table and, unless ONLY,
 * its inheritance children and partitions (column DDL recurses to them).
 */
static List *
column_ddl_targets(RangeVar *rv, Oid *relid)
{
	*relid = rv ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;
	if (!OidIsValid(*relid))
		return NIL;
	if (rv->inh)
		return find_all_inheritors(*relid, NoLock, NULL);
	return list_make1_oid(*relid);
}

/* Retyping tenant column p->column of a protected table to def's type. */
static void
check_column_retype(const Protected *p, ColumnDef *def)
{
	Oid			typid;
	int32		typmod;
	Oid			collid;

	/* text <-> varchar (any length) keeps the qual valid */
	typenameTypeIdAndMod(NULL, def->typeName, &typid, &typmod);
	if (!tenant_type_supported(typid))
		refuse_protection_ddl(p, psprintf("change the type of tenant column \"%s\" to %s",
										  p->column, format_type_be(typid)));
	/* ... under a deterministic collation (the new type's, or COLLATE's) */
	collid = GetColumnDefCollation(NULL, def, typid);
	if (!tenant_collation_supported(collid))
		refuse_protection_ddl(p, psprintf("give tenant column \"%s\" nondeterministic collation \"%s\"",
										  p->column, get_collation_name(collid)));
	/*
	 * USING rewrites the tenant ids of every row, whatever its tenant (ALTER
	 * TABLE is not filtered by row security): USING 'acme' made every
	 * tenant's rows acme's.
	 */
	if (def->raw_default != NULL)
		refuse_protection_ddl(p, psprintf("rewrite tenant column \"%s\" with USING", p->column));
}

/*
 * ALTER TABLE on a protected table (or on a parent whose column changes
 * reach one): no switching row security off, no dropping or retyping the
 * tenant column.
 */
/*
 * pg_rollout's policies on a distributed protected table (src/citus.c)
 * mark its shards as enforced on the workers: dropping, altering or
 * renaming one would open the shards to direct connections.  The policy
 * PGR_LOADED_POLICY refuses the table while the library is not preloaded
 * (src/pg_rollout.c): without it the table's own permissive policies would
 * show every tenant's rows then.
 */
/* Is this one of pg_rollout's policy names? */
static bool
pgr_policy_name(const char *policy)
{
	return policy != NULL &&
		(strncmp(policy, PGR_CITUS_POLICY_PREFIX, strlen(PGR_CITUS_POLICY_PREFIX)) == 0 ||
		 strcmp(policy, PGR_LOADED_POLICY) == 0);
}

typedef enum NamedAccess
{
	NAMED_ANY,					/* the statement locks before its permission check */
	NAMED_OWNER,				/* the owner only */
	NAMED_TRUNCATE				/* TRUNCATE privilege */
} NamedAccess;

static void lock_named(RangeVar *rv, LOCKMODE mode, NamedAccess access);

/*
 * The relation a policy statement names, locked as the statement will lock
 * it (AccessExclusiveLock), before the checks below decide on it.  Resolved
 * without a lock, the name could designate another relation by the time the
 * statement resolves it again: a concurrent transaction that renames a
 * table away and a protected table to that name, holding the first table's
 * lock, makes the statement wait, then find the protected table (the
 * checks had passed on the other one: a permissive policy without the
 * guard, the guard itself dropped or altered).  Holding the lock, nobody
 * renames or moves the relation until this transaction ends.  (See
 * lock_utility_relations.)
 */
static Oid
policy_relation(RangeVar *rv)
{
	if (rv == NULL)
		return InvalidOid;
	lock_named(rv, AccessExclusiveLock, NAMED_OWNER);
	return RangeVarGetRelid(rv, NoLock, true);
}

static void
refuse_citus_policy(Oid relid, const char *policy)
{
	Protected  *p;

	if (!pgr_policy_name(policy) || !OidIsValid(relid) || (p = registry_lookup(relid)) == NULL)
		return;
	refuse_protection_ddl(p, psprintf("drop, alter or rename policy \"%s\"", policy));
}

static void
check_citus_policy_ddl(Node *parsetree)
{
	if (IsA(parsetree, DropStmt) && ((DropStmt *) parsetree)->removeType == OBJECT_POLICY)
	{
		ListCell   *lc;

		foreach(lc, ((DropStmt *) parsetree)->objects)
		{
			List	   *names = lfirst(lc);
			List	   *relname;

			if (list_length(names) < 2 || !pgr_policy_name(strVal(llast(names))))
				continue;
			relname = list_copy_head(names, list_length(names) - 1);
			refuse_citus_policy(policy_relation(makeRangeVarFromNameList(relname)), strVal(llast(names)));
		}
	}
	else if (IsA(parsetree, AlterPolicyStmt))
	{
		AlterPolicyStmt *stmt = (AlterPolicyStmt *) parsetree;

		if (pgr_policy_name(stmt->policy_name))
			refuse_citus_policy(policy_relation(stmt->table), stmt->policy_name);
	}
	else if (IsA(parsetree, RenameStmt) && ((RenameStmt *) parsetree)->renameType == OBJECT_POLICY)
	{
		RenameStmt *stmt = (RenameStmt *) parsetree;
		Oid			relid;

		if (!pgr_policy_name(stmt->subname) &&
			(stmt->newname == NULL || strcmp(stmt->newname, PGR_LOADED_POLICY) != 0))
			return;
		relid = policy_relation(stmt->relation);
		refuse_citus_policy(relid, stmt->subname);
		/*
		 * Renamed to the guard's name, a policy of the owner's (USING (true),
		 * made restrictive) would stand in for the guard: a permissive
		 * policy created later gets no guard (check_create_policy), and the
		 * table shows every tenant's rows without the library.
		 */
		if (stmt->newname != NULL && strcmp(stmt->newname, PGR_LOADED_POLICY) == 0 &&
			OidIsValid(relid) && registry_lookup(relid) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_RESERVED_NAME),
					 errmsg("policy name \"%s\" is reserved to pg_rollout", PGR_LOADED_POLICY),
					 errhint("Give the policy another name.")));
	}
}

/*
 * ALTER TABLE child INHERIT parent / ALTER TABLE parent ATTACH PARTITION
 * child, where child (or a partition or child of it) is protected and
 * parent is not: read through parent, the protected rows would be filtered
 * by the parent's row security only, i.e. not by tenant.
 */
/*
 * ALTER TABLE ... ATTACH PARTITION / INHERIT of a table that is not
 * protected under an enforced protected parent: its rows never went
 * through the tenant filter, and become rows of whatever tenants they name.
 * A table owner could so add rows to another tenant's data ("globex"
 * rows it wrote into a table of its own).  Allowed when every row belongs
 * to the current tenant (or the table is empty); otherwise refused, except
 * under rollout.bypass() (superusers and BYPASSRLS roles are not checked).
 */
static void
check_attached_rows(const Protected *pp, Oid child)
{
	const char *tenant = pgr_isolation_tenant();
	int			pathlevel;
	int			rc;
	volatile bool foreign_rows = false;
	char	   *child_name;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	char		nulls[1] = {' '};
	Oid			save_userid;
	int			save_sec_context;

	if (!table_enforced(pp) || bypass_active || role_bypasses_rls(GetUserId()) ||
		registry_lookup(child) != NULL)
		return;
	child_name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(child)), get_rel_name(child));
	args[0] = tenant ? CStringGetTextDatum(tenant) : (Datum) 0;
	nulls[0] = tenant ? ' ' : 'n';
	/*
	 * Every row, as the bootstrap superuser, with a snapshot of now.  Read as
	 * the caller, the table's own row security (forced, "USING (tenant_id =
	 * 'acme')") hid the other tenants' rows from the check, and they were
	 * attached; read with the statement's snapshot, taken before the wait
	 * for the table's lock, rows a concurrent transaction committed during
	 * the wait were not seen.  The query is fixed, its names quoted and
	 * schema-qualified, search_path pinned: nothing of the caller's runs.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		pathlevel = pgr_pin_search_path();
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pg_rollout: SPI_connect failed");
		PushActiveSnapshot(GetLatestSnapshot());
		rc = SPI_execute_with_args(psprintf("SELECT EXISTS (SELECT 1 FROM %s c WHERE c.%s IS DISTINCT FROM $1::pg_catalog.text)",
											child_name, quote_identifier(pp->column)),
								   1, argtypes, args, nulls, true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "pg_rollout: could not read the rows of \"%s\": %s", child_name, SPI_result_code_string(rc));
		{
			bool		isnull;

			foreign_rows = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		PopActiveSnapshot();
		SPI_finish();
		pgr_unpin_search_path(pathlevel);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	if (foreign_rows)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot attach table \"%s\" to protected table \"%s\": it holds rows of %s",
						child_name, pp->qualname, tenant ? "other tenants" : "tenants"),
				 errdetail("Its rows did not go through the tenant filter; attached, they would become the rows of the tenants they name."),
				 errhint("Attach a table holding only the current tenant's rows, or call rollout.bypass('reason') in the transaction first (it is audited).")));
}

static void
check_new_parent(Oid parent, RangeVar *child_rv, const char *what)
{
	Oid			child = RangeVarGetRelid(child_rv, NoLock, true);
	Protected  *pp;
	ListCell   *lc;

	if (!OidIsValid(child) || !OidIsValid(parent))
		return;
	if ((pp = registry_lookup(parent)) != NULL)
	{
		check_attached_rows(pp, child);
		/*
		 * A parent protected with force => false does not filter its owner:
		 * through it, the owner would read a forced child's rows unfiltered.
		 */
		if (pp->force)
			return;
		foreach(lc, find_all_inheritors(child, NoLock, NULL))
		{
			Protected  *p = registry_lookup(lfirst_oid(lc));

			if (p != NULL && p->force)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("cannot make protected table \"%s\" %s of table \"%s\", whose row security is not forced",
								p->qualname, what, pp->qualname),
						 errdetail("The table's row security is forced; through the parent, its owner would read every tenant's rows."),
						 errhint("Protect \"%s\" with force => true first.", pp->qualname)));
		}
		return;
	}
	foreach(lc, find_all_inheritors(child, NoLock, NULL))
	{
		Protected  *p = registry_lookup(lfirst_oid(lc));

		if (p == NULL)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot make protected table \"%s\" %s of table \"%s\", which is not protected",
						p->qualname, what,
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)), get_rel_name(parent))),
				 errdetail("Through a parent, PostgreSQL applies the parent's row security only: the table's rows would not be filtered by tenant."),
				 errhint("Protect the parent first with rollout.protect_table(), on the same tenant column.")));
	}
}

static void
check_alter_table(AlterTableStmt *stmt)
{
	Oid			relid;
	List	   *targets;
	ListCell   *lt;

	if (stmt->objtype != OBJECT_TABLE)
		return;
	foreach(lt, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lt);

		if (cmd->subtype == AT_AddInherit && cmd->def != NULL)
			check_new_parent(RangeVarGetRelid((RangeVar *) cmd->def, NoLock, true), stmt->relation,
							 "an inheritance child");
		else if (cmd->subtype == AT_AttachPartition && cmd->def != NULL && IsA(cmd->def, PartitionCmd))
			check_new_parent(RangeVarGetRelid(stmt->relation, NoLock, true),
							 ((PartitionCmd *) cmd->def)->name, "a partition");
	}
	targets = column_ddl_targets(stmt->relation, &relid);
	foreach(lt, targets)
	{
		Oid			target = lfirst_oid(lt);
		Protected  *p = registry_lookup(target);
		ListCell   *lc;

		if (p == NULL)
			continue;
		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

			switch (cmd->subtype)
			{
				case AT_DisableRowSecurity:
					/* row security commands do not recurse */
					if (target == relid)
						refuse_protection_ddl(p, "disable row level security");
					break;
				case AT_NoForceRowSecurity:
					if (target == relid && p->force)
						refuse_protection_ddl(p, "stop forcing row level security");
					break;
				case AT_DropColumn:
					if (cmd->name && strcmp(cmd->name, p->column) == 0)
						refuse_protection_ddl(p, psprintf("drop tenant column \"%s\"", p->column));
					break;
				case AT_AlterColumnType:
					if (cmd->name && strcmp(cmd->name, p->column) == 0)
						check_column_retype(p, (ColumnDef *) cmd->def);
					break;
				default:
					break;
			}
		}
	}
}

/*
 * pg_rollout.enforce_tables and pg_rollout.log_tables name tables: while
 * either lists any, renaming a protected table (or its schema), or moving
 * it to another schema, could take it off enforce_tables or put it on
 * log_tables, and so switch its enforcement off in selective mode.
 * relid: a table renamed or moved; nsp: a schema renamed.
 */
static void
check_table_rename(Oid relid, Oid nsp)
{
	Protected  *p = NULL;

	if ((enforce_tables == NULL || enforce_tables[0] == '\0') &&
		(log_tables == NULL || log_tables[0] == '\0'))
		return;
	if (OidIsValid(relid))
		p = registry_lookup(relid);
	else if (OidIsValid(nsp) && (registry_valid || registry_load()) && registry != NULL)
	{
		HASH_SEQ_STATUS seq;
		Protected  *q;

		hash_seq_init(&seq, registry);
		while ((q = hash_seq_search(&seq)) != NULL)
		{
			if (get_rel_namespace(q->relid) == nsp)
			{
				p = q;
				hash_seq_term(&seq);
				break;
			}
		}
	}
	if (p == NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg(OidIsValid(relid) ? "cannot rename or move protected table \"%s\"" :
					"cannot rename the schema of protected table \"%s\"", p->qualname),
			 errdetail("pg_rollout.enforce_tables and pg_rollout.log_tables name tables: under another name, "
					   "the table could stop being enforced in selective mode."),
			 errhint("Call rollout.unprotect_table('%s') first (it is audited) and protect the table again after, "
					 "or have a superuser do it and update the lists.", p->qualname)));
}

/* ALTER TABLE ... SET SCHEMA of a protected table (see check_table_rename). */
static void
check_set_schema(AlterObjectSchemaStmt *stmt)
{
	if (stmt->objectType == OBJECT_TABLE && stmt->relation != NULL)
		check_table_rename(RangeVarGetRelid(stmt->relation, NoLock, true), InvalidOid);
}

/* RENAME of a protected table's tenant column (also through a parent). */
static void
check_rename(RenameStmt *stmt)
{
	Oid			relid;
	ListCell   *lt;

	/* ALTER INDEX ... RENAME renames a table too (PostgreSQL's leniency) */
	if (stmt->renameType == OBJECT_TABLE || stmt->renameType == OBJECT_INDEX ||
		stmt->renameType == OBJECT_SCHEMA)
	{
		check_table_rename(stmt->renameType != OBJECT_SCHEMA ?
						   RangeVarGetRelid(stmt->relation, NoLock, true) : InvalidOid,
						   stmt->renameType == OBJECT_SCHEMA ?
						   get_namespace_oid(stmt->subname, true) : InvalidOid);
		return;
	}
	if (stmt->subname == NULL || stmt->renameType != OBJECT_COLUMN)
		return;
	foreach(lt, column_ddl_targets(stmt->relation, &relid))
	{
		Protected  *p = registry_lookup(lfirst_oid(lt));

		if (p != NULL && strcmp(stmt->subname, p->column) == 0)
			refuse_protection_ddl(p, psprintf("rename tenant column \"%s\"", p->column));
	}
}

/*
 * DROP EXTENSION pg_rollout: put row security of every protected relation
 * back as it was before protect_table() (rollout.protected_relation), so
 * that the tables keep exactly their own policies and do not fall into
 * row security's default deny once the registry is gone.  A 0.1.0 schema
 * gave each table a permissive policy instead: it is dropped, and row
 * security switched off where the table has no other policy (what 0.1.0's
 * unprotect_table() did).  Runs, before the drop, with the bootstrap
 * superuser's rights (the tables belong to their owners), pinned
 * search_path, in the dropping transaction; only for the extension's owner.
 */
/* Does this DROP name the extension pg_rollout? */
static bool
drops_pg_rollout(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "pg_rollout") == 0)
			return true;
	return false;
}

static void
restore_before_drop_extension(DropStmt *stmt)
{
	Oid			extoid;
	Oid			nsp;
	Oid			save_userid;
	int			save_sec_context;

	extoid = get_extension_oid("pg_rollout", true);
	nsp = get_namespace_oid(PGR_SCHEMA, true);
	if (!OidIsValid(extoid) || !OidIsValid(nsp) || !OidIsValid(get_relname_relid(PGR_TABLE_PROTECTED, nsp)))
		return;
	if (!pg_extension_ownercheck(extoid, GetUserId()))
		return;					/* the drop itself will refuse */

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		int			pathlevel = pgr_pin_search_path();
		bool		prior_recorded = OidIsValid(get_relname_relid(PGR_TABLE_PROTECTED_PRIOR, nsp));
		List	   *commands = NIL;
		ListCell   *lcmd;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pg_rollout: SPI_connect failed");
		if (SPI_execute(prior_recorded ?
						"SELECT pg_catalog.format('ALTER TABLE %s %s ROW LEVEL SECURITY, %s ROW LEVEL SECURITY',"
						"       c.oid::pg_catalog.regclass,"
						"       CASE WHEN r.prior_row_security THEN 'ENABLE' ELSE 'DISABLE' END,"
						"       CASE WHEN r.prior_force_rls THEN 'FORCE' ELSE 'NO FORCE' END)"
						"  FROM rollout.protected_relation r"
						"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.relid::pg_catalog.oid"
						"  JOIN rollout.protected_table p ON p.tbl OPERATOR(pg_catalog.=) r.tbl"
						" UNION ALL"
						" SELECT pg_catalog.format('DROP POLICY IF EXISTS " PGR_LOADED_POLICY " ON %s', o.polrelid::pg_catalog.regclass)"
						"  FROM pg_catalog.pg_policy o"
						" WHERE o.polname OPERATOR(pg_catalog.=) '" PGR_LOADED_POLICY "'"
						"   AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
						"                WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass"
						"                  AND d.objid OPERATOR(pg_catalog.=) o.oid"
						"                  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass"
						"                  AND d.refobjid OPERATOR(pg_catalog.=)"
						"                      pg_catalog.to_regprocedure('rollout._library_loaded()'))" :
						"WITH RECURSIVE t(relid) AS ("
						"   SELECT p.tbl::pg_catalog.oid FROM rollout.protected_table p"
						"   UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i"
						"     JOIN t ON i.inhparent OPERATOR(pg_catalog.=) t.relid)"
						" SELECT pg_catalog.format('DROP POLICY IF EXISTS pg_rollout_permissive ON %s', t.relid::pg_catalog.regclass)"
						"   FROM t"
						" UNION ALL"
						" SELECT pg_catalog.format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY%s', t.relid::pg_catalog.regclass,"
						"        CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_policy o"
						"                           WHERE o.polrelid OPERATOR(pg_catalog.=) t.relid"
						"                             AND o.polname OPERATOR(pg_catalog.<>) 'pg_rollout_permissive')"
						"             THEN '' ELSE ', DISABLE ROW LEVEL SECURITY' END)"
						"   FROM t",
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "pg_rollout: could not read the protected tables");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				commands = lappend(commands, TextDatumGetCString(d));
		}
		foreach(lcmd, commands)
		{
			if (SPI_execute(lfirst(lcmd), false, 0) != SPI_OK_UTILITY)
				elog(ERROR, "pg_rollout: could not run \"%s\"", (char *) lfirst(lcmd));
		}
		SPI_finish();
		pgr_unpin_search_path(pathlevel);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
}

/*
 * TRUNCATE removes every tenant's rows, and row security does not apply to
 * it: refused where the table is enforced, counted (and sampled-logged)
 * otherwise; allowed, and counted, for superusers and BYPASSRLS roles
 * (privileged_access) and under an audited rollout.bypass() (bypass).
 */
static void
check_truncate(TruncateStmt *stmt)
{
	ListCell   *lc;
	List	   *relids = NIL;
	int			privileged = -1;

	/* what TRUNCATE will empty: the tables, their children, and with CASCADE the referencing tables */
	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);

		if (!OidIsValid(relid))
			continue;
		if (rv->inh)
			relids = list_concat_unique_oid(relids, find_all_inheritors(relid, NoLock, NULL));
		else
			relids = list_append_unique_oid(relids, relid);
	}
	if (stmt->behavior == DROP_CASCADE)
	{
		for (;;)
		{
			List	   *more = list_difference_oid(heap_truncate_find_FKs(relids), relids);

			if (more == NIL)
				break;
			relids = list_concat(relids, more);
		}
	}

	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		Protected  *p = registry_lookup(relid);

		if (p == NULL)
			continue;
		if (privileged < 0)
			privileged = role_bypasses_rls(GetUserId()) ? 1 : 0;
		if (privileged)
			count_event(relid, KIND_PRIVILEGED, CMD_UTILITY, p->severity, false);
		else if (bypass_active)
			count_event(relid, KIND_BYPASS, CMD_UTILITY, p->severity, false);
		else
			violation(p, relid, KIND_TRUNCATE, CMD_UTILITY, table_enforced(p), NULL);
	}
}

/*
 * DECLARE ... WITH HOLD: the cursor's rows are materialized at commit and
 * stay fetchable, by name, after the transaction and its tenant context
 * end — by the same session under another tenant, or by the next client
 * of a transaction-mode pooler on the same server connection.  Checked
 * after the portal is set up (its plans name every table the query reads,
 * views expanded): refused where a protected table is enforced, counted as
 * holdable_cursor elsewhere; privileged roles and bypass are counted as
 * usual.  The error aborts the transaction, which drops the portal.
 */
static void
check_holdable_cursor(DeclareCursorStmt *stmt)
{
	Portal		portal;
	ListCell   *ls;
	int			privileged = -1;

	if ((stmt->options & CURSOR_OPT_HOLD) == 0 || stmt->portalname == NULL)
		return;
	portal = GetPortalByName(stmt->portalname);
	if (!PortalIsValid(portal))
		return;
	foreach(ls, portal->stmts)
	{
		PlannedStmt *ps = lfirst(ls);
		ListCell   *lc;

		if (!IsA(ps, PlannedStmt) || ps->commandType == CMD_UTILITY)
			continue;
		foreach(lc, ps->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);
			Protected  *p;

			if (rte->rtekind != RTE_RELATION)
				continue;
			p = registry_lookup(rte->relid);
			if (p == NULL)
				continue;
			if (privileged < 0)
				privileged = role_bypasses_rls(GetUserId()) ? 1 : 0;
			if (privileged)
				count_event(rte->relid, KIND_PRIVILEGED, CMD_SELECT, p->severity, false);
			else if (bypass_active)
				count_event(rte->relid, KIND_BYPASS, CMD_SELECT, p->severity, false);
			else
				violation(p, rte->relid, KIND_HOLDABLE_CURSOR, CMD_SELECT, table_enforced(p), NULL);
		}
	}
}

/*
 * The policy PGR_LOADED_POLICY (src/pg_rollout.c) goes on each protected
 * relation that has a permissive policy of its own (rollout._add_loaded_policy
 * decides and creates it).  protect_table() and the DDL event trigger put it
 * on the relations they protect; a permissive policy created later on a
 * protected relation gets it here, right after the CREATE POLICY.  A CREATE
 * POLICY of that name on a relation that has it already is a no-op: a
 * restore creates the table's own policies, and so the guard, before the
 * dump's copy of the guard.  Otherwise, on a protected relation, only
 * pg_rollout (protect_table, the event trigger) and superusers create a
 * policy of that name.
 */
static bool
relation_has_policy(Oid relid, const char *name)
{
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	bool		found;

	rel = table_open(PolicyRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_policy_polrelid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&key[1], Anum_pg_policy_polname, BTEqualStrategyNumber, F_NAMEEQ, CStringGetDatum(name));
	scan = systable_beginscan(rel, PolicyPolrelidPolnameIndexId, true, NULL, 2, key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * A CREATE POLICY that makes the guard: named PGR_LOADED_POLICY, USING (and
 * WITH CHECK, if given) a call of _library_loaded(), schema-qualified or not.  Citus
 * re-creates a distributed table's policies on its shards from the catalog
 * and drops AS RESTRICTIVE on the way (CreatePolicyCommandForPolicy): such a
 * copy is made restrictive, as the guard is, before it runs.  A permissive
 * guard would OR "true" into the shard's permissive policies.
 */
static bool
is_library_loaded_call(Node *expr)
{
	FuncCall   *call;
	char	   *schema;
	char	   *name;

	if (expr == NULL || !IsA(expr, FuncCall))
		return false;
	call = (FuncCall *) expr;
	if (call->args != NIL || call->agg_star || call->func_variadic || call->over != NULL)
		return false;
	DeconstructQualifiedName(call->funcname, &schema, &name);
	return strcmp(name, "_library_loaded") == 0 && (schema == NULL || strcmp(schema, "rollout") == 0);
}

static bool
is_loaded_guard(CreatePolicyStmt *stmt)
{
	return strcmp(stmt->policy_name, PGR_LOADED_POLICY) == 0 &&
		is_library_loaded_call(stmt->qual) &&
		(stmt->with_check == NULL || is_library_loaded_call(stmt->with_check));
}

/* Before a CREATE POLICY: false to skip it (the guard exists already). */
static bool
check_create_policy(CreatePolicyStmt *stmt, Oid *guard_relid)
{
	Oid			relid = policy_relation(stmt->table);

	*guard_relid = InvalidOid;
	if (!OidIsValid(relid))
		return true;			/* the statement reports it */
	if (strcmp(stmt->policy_name, PGR_LOADED_POLICY) == 0)
	{
		if (registry_lookup(relid) == NULL)
			return true;		/* not protected: rollout._add_loaded_policy replaces it if it must */
		if (relation_has_policy(relid, PGR_LOADED_POLICY))
			return false;
		if (protection_fn_depth == 0 && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_RESERVED_NAME),
					 errmsg("policy name \"%s\" is reserved to pg_rollout", PGR_LOADED_POLICY),
					 errhint("rollout.protect_table() creates it where it is needed.")));
		return true;
	}
	if (stmt->permissive && registry_lookup(relid) != NULL &&
		!relation_has_policy(relid, PGR_LOADED_POLICY))
		*guard_relid = relid;
	return true;
}

/* After a permissive CREATE POLICY on a protected relation: the guard. */
static void
add_loaded_policy(Oid relid)
{
	Oid			save_userid;
	int			save_sec_context;
	Oid			argtype = REGCLASSOID;

	if (!OidIsValid(LookupFuncName(list_make2(makeString(PGR_SCHEMA), makeString("_add_loaded_policy")),
								   1, &argtype, true)))
		return;					/* a schema older than the library */
	CommandCounterIncrement();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		int			pathlevel = pgr_pin_search_path();
		Oid			argtypes[1] = {REGCLASSOID};
		Datum		values[1] = {ObjectIdGetDatum(relid)};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pg_rollout: SPI_connect failed");
		if (SPI_execute_with_args("SELECT rollout._add_loaded_policy($1)", 1, argtypes, values, NULL,
								  false, 0) != SPI_OK_SELECT)
			elog(ERROR, "pg_rollout: could not add policy %s", PGR_LOADED_POLICY);
		SPI_finish();
		pgr_unpin_search_path(pathlevel);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
}

/* ------------------------------------------------------------------------
 * The relations a checked utility statement names, locked before the checks
 * ------------------------------------------------------------------------
 *
 * The checks above resolve the names a statement gives without a lock, and
 * the statement resolves them again, with its lock.  Between the two, a
 * concurrent transaction of the table's owner can move a protected table
 * onto the name: it renames the table the name designates away and the
 * protected table to that name, holding both locks; the statement waits for
 * the first table's lock, then finds the protected table under the name
 * (RangeVarGetRelidExtended resolves again after a wait).  The checks had
 * passed on the other table: TRUNCATE emptied the protected table, CREATE
 * INDEX ran the owner's function over every tenant's rows, ALTER TABLE
 * rewrote its tenant column.  So before the checks, each relation they
 * resolve is resolved and locked here as the statement will lock it (not
 * when the role may not run the statement on it: naming a table one may
 * not touch queues no lock on it); the checks then find the same relation,
 * and nobody renames or moves it before the statement runs.
 */
static void
lock_named(RangeVar *rv, LOCKMODE mode, NamedAccess access)
{
	Oid			relid;

	if (rv == NULL)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		return;
	/*
	 * Not allowed to the role: no lock (the statement fails on its own
	 * permission check, after pg_rollout's refusals are counted as before).
	 */
	if ((access == NAMED_OWNER && !pg_class_ownercheck(relid, GetUserId())) ||
		(access == NAMED_TRUNCATE && pg_class_aclcheck(relid, GetUserId(), ACL_TRUNCATE) != ACLCHECK_OK))
		return;
	(void) RangeVarGetRelidExtended(rv, mode, RVR_MISSING_OK, NULL, NULL);
}

static bool
concurrently_option(List *params)
{
	ListCell   *lc;

	foreach(lc, params)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "concurrently") == 0)
			return defGetBoolean(opt);
	}
	return false;
}

static void
lock_utility_relations(Node *parsetree)
{
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_TruncateStmt:
			foreach(lc, ((TruncateStmt *) parsetree)->relations)
				lock_named(lfirst_node(RangeVar, lc), AccessExclusiveLock, NAMED_TRUNCATE);
			break;
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;

				lock_named(stmt->relation, AlterTableGetLockLevel(stmt->cmds), NAMED_OWNER);
				foreach(lc, stmt->cmds)
				{
					AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

					if (cmd->subtype == AT_AddInherit && cmd->def != NULL)
						lock_named((RangeVar *) cmd->def, ShareUpdateExclusiveLock, NAMED_OWNER);
					else if (cmd->subtype == AT_AttachPartition && cmd->def != NULL && IsA(cmd->def, PartitionCmd))
						lock_named(((PartitionCmd *) cmd->def)->name, AccessExclusiveLock, NAMED_OWNER);
				}
			}
			break;
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				/* RenameRelation locks an index with ShareUpdateExclusiveLock */
				if (stmt->renameType != OBJECT_POLICY && stmt->renameType != OBJECT_SCHEMA)
					lock_named(stmt->relation,
							   stmt->renameType == OBJECT_INDEX ? ShareUpdateExclusiveLock : AccessExclusiveLock,
							   NAMED_OWNER);
			}
			break;
		case T_AlterObjectSchemaStmt:
			lock_named(((AlterObjectSchemaStmt *) parsetree)->relation, AccessExclusiveLock,
					   NAMED_OWNER);
			break;
		case T_CopyStmt:
			if (((CopyStmt *) parsetree)->is_from)
				lock_named(((CopyStmt *) parsetree)->relation, RowExclusiveLock, NAMED_ANY);
			break;
		case T_IndexStmt:
			lock_named(((IndexStmt *) parsetree)->relation,
					   ((IndexStmt *) parsetree)->concurrent ? ShareUpdateExclusiveLock : ShareLock,
					   NAMED_OWNER);
			break;
		case T_ReindexStmt:
			if (((ReindexStmt *) parsetree)->kind == REINDEX_OBJECT_TABLE)
				lock_named(((ReindexStmt *) parsetree)->relation,
						   concurrently_option(((ReindexStmt *) parsetree)->params) ? ShareUpdateExclusiveLock : ShareLock,
						   NAMED_OWNER);
			break;
		case T_ClusterStmt:
			lock_named(((ClusterStmt *) parsetree)->relation, AccessExclusiveLock, NAMED_OWNER);
			break;
		case T_VacuumStmt:
			/* as VACUUM and ANALYZE look their relations up (expand_vacuum_rel) */
			foreach(lc, ((VacuumStmt *) parsetree)->rels)
				lock_named(lfirst_node(VacuumRelation, lc)->relation, AccessShareLock, NAMED_ANY);
			break;
		default:
			break;
	}
}

/*
 * ProcessUtility hook (chained): the checks above, before the statement
 * runs.  Nothing is looked up for other statements, nor outside a
 * transaction, nor in disabled mode.
 */
/* ------------------------------------------------------------------------
 * Code run over every tenant's rows by maintenance statements
 * ------------------------------------------------------------------------
 *
 * Some utility statements evaluate code over every row of a table, whatever
 * its tenant and whatever row security says: CREATE INDEX (expressions,
 * predicates, operator classes), REINDEX, CLUSTER, VACUUM FULL, ANALYZE
 * (index and statistics expressions), ALTER TABLE (CHECK constraints
 * validated, columns retyped with USING or generated), ALTER DOMAIN
 * (constraints checked over every column of the domain).  A table owner
 * could so print every tenant's rows with a function of its own (RAISE
 * NOTICE in an index expression), or read them from error texts ("invalid
 * input syntax for type integer: \"globex\"").  While such a statement runs
 * over a protected table for a role that row security filters:
 *  - a function whose owner is not a superuser is refused when it is looked
 *    up (needs_fmgr_hook: every function that is not built in);
 *  - a data error (SQLSTATE classes 22 and 23) reaches the client with its
 *    SQLSTATE but without its text, which goes to the server log only.
 */
static int	maintenance_depth = 0;
static const char *maintenance_table = NULL;	/* a protected table it reaches, "" for all */
static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;

/* The qualified name of a protected table in relid's tree, or NULL. */
static const char *
protected_in_tree(Oid relid)
{
	ListCell   *lc;

	/* nothing protected here (or no extension): no catalog look-up */
	if (!OidIsValid(relid) || (!registry_valid && !registry_load()) || registry == NULL ||
		hash_get_num_entries(registry) == 0)
		return NULL;
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		Protected  *p = registry_lookup(lfirst_oid(lc));

		if (p != NULL)
			return p->qualname;
	}
	return NULL;
}

/*
 * A statement that names no table (VACUUM, REINDEX DATABASE, ALTER DOMAIN,
 * ...) reaches every protected table: "" when there is one, else NULL.
 */
static const char *
any_protected(void)
{
	if ((!registry_valid && !registry_load()) || registry == NULL ||
		hash_get_num_entries(registry) == 0)
		return NULL;
	return "";
}

/*
 * The protected table a maintenance statement may evaluate code over
 * (see above), or NULL.
 */
static const char *
maintenance_target(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_IndexStmt:
			return protected_in_tree(RangeVarGetRelid(((IndexStmt *) parsetree)->relation, NoLock, true));
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;

				if (stmt->objtype != OBJECT_TABLE)
					return NULL;
				return protected_in_tree(RangeVarGetRelid(stmt->relation, NoLock, true));
			}
		case T_ReindexStmt:
			{
				ReindexStmt *stmt = (ReindexStmt *) parsetree;
				Oid			relid;

				if (stmt->kind == REINDEX_OBJECT_TABLE)
					return protected_in_tree(RangeVarGetRelid(stmt->relation, NoLock, true));
				if (stmt->kind == REINDEX_OBJECT_INDEX)
				{
					relid = RangeVarGetRelid(stmt->relation, NoLock, true);
					return OidIsValid(relid) ? protected_in_tree(IndexGetRelation(relid, true)) : NULL;
				}
				return any_protected();
			}
		case T_ClusterStmt:
			{
				ClusterStmt *stmt = (ClusterStmt *) parsetree;

				if (stmt->relation == NULL)
					return any_protected();
				return protected_in_tree(RangeVarGetRelid(stmt->relation, NoLock, true));
			}
		case T_VacuumStmt:
			{
				VacuumStmt *stmt = (VacuumStmt *) parsetree;
				ListCell   *lc;

				if (stmt->rels == NIL)
					return any_protected();
				foreach(lc, stmt->rels)
				{
					VacuumRelation *vrel = lfirst_node(VacuumRelation, lc);
					const char *t;

					t = protected_in_tree(vrel->relation ? RangeVarGetRelid(vrel->relation, NoLock, true) : vrel->oid);
					if (t != NULL)
						return t;
				}
				return NULL;
			}
		case T_AlterDomainStmt:
			/* a constraint added or validated is checked in every table */
			if (((AlterDomainStmt *) parsetree)->subtype == 'C' ||
				((AlterDomainStmt *) parsetree)->subtype == 'V')
				return any_protected();
			return NULL;
		default:
			return NULL;
	}
}

/* needs_fmgr_hook: while a maintenance statement runs over a protected table, only superusers' functions. */
static bool
isolation_needs_fmgr_hook(Oid fn_oid)
{
	if (maintenance_depth > 0)
	{
		HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));

		if (HeapTupleIsValid(tup))
		{
			Oid			owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;

			ReleaseSysCache(tup);
			if (!superuser_arg(owner))
			{
				const char *table = maintenance_table;
				char	   *owner_name = GetUserNameFromId(owner, true);

				maintenance_depth = 0;	/* the error report may look functions up */
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 table[0] == '\0' ?
						 errmsg("function %s may not run over the rows of protected tables",
								format_procedure(fn_oid)) :
						 errmsg("function %s may not run over the rows of protected table \"%s\"",
								format_procedure(fn_oid), table),
						 errdetail("This statement evaluates it over every tenant's rows, and its owner (%s) is not a superuser.",
								   owner_name ? owner_name : "?"),
						 errhint("Call rollout.unprotect_table() first (it is audited), or have a superuser run the statement.")));
			}
		}
	}
	return prev_needs_fmgr_hook ? prev_needs_fmgr_hook(fn_oid) : false;
}

/*
 * In a PG_CATCH of a maintenance statement: a data error (classes 22, 23)
 * is reported again with its SQLSTATE but without its text, which could
 * quote another tenant's values; the server log gets the original.
 * Returns when the error is to be re-thrown as it is.
 */
static void
withhold_data_error(MemoryContext cxt, const char *table, CommandTag tag)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ErrorData  *ed = CopyErrorData();
	int			category = ERRCODE_TO_CATEGORY(ed->sqlerrcode);

	if (category != ERRCODE_DATA_EXCEPTION && category != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
	{
		FreeErrorData(ed);
		MemoryContextSwitchTo(old);
		return;
	}
	FlushErrorState();
	ereport(LOG_SERVER_ONLY,
			(errmsg("pg_rollout: error withheld from the client (%s over protected table \"%s\"): %s",
					GetCommandTagName(tag), table[0] ? table : "*", ed->message),
			 ed->detail ? errdetail_internal("%s", ed->detail) : 0,
			 errhidestmt(false)));
	ereport(ERROR,
			(errcode(ed->sqlerrcode),
			 table[0] == '\0' ?
			 errmsg("%s failed on a row of a protected table", GetCommandTagName(tag)) :
			 errmsg("%s failed on a row of protected table \"%s\"", GetCommandTagName(tag), table),
			 errdetail("The error's text is withheld: it could show another tenant's values. The server log has it (SQLSTATE %s).",
					   unpack_sql_state(ed->sqlerrcode)),
			 errhint("Run the statement as a superuser, or after rollout.unprotect_table() (audited), to see it.")));
}

static void
isolation_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						 ProcessUtilityContext context, ParamListInfo params,
						 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	NodeTag		tag = nodeTag(parsetree);
	volatile bool drops_extension = false;
	volatile Oid dropped_db = InvalidOid;
	volatile Oid guard_relid = InvalidOid;
	const char *volatile guarded_table = NULL;

	fresh_query = NULL;
	if ((tag == T_TruncateStmt || tag == T_AlterTableStmt || tag == T_RenameStmt ||
		 tag == T_AlterObjectSchemaStmt || tag == T_CopyStmt || tag == T_IndexStmt ||
		 tag == T_ReindexStmt || tag == T_ClusterStmt || tag == T_VacuumStmt) &&
		enforcement_mode != MODE_DISABLED && IsTransactionState() && !registry_loading &&
		!superuser() && any_protected() != NULL)
		lock_utility_relations(parsetree);
	if (tag == T_DropStmt && IsTransactionState() && !registry_loading)
	{
		drops_extension = drops_pg_rollout((DropStmt *) parsetree);
		if (drops_extension)
			restore_before_drop_extension((DropStmt *) parsetree);
	}
	/*
	 * The violation counters of a dropped database, or of this one when the
	 * extension is dropped, go with it (the sql_drop event trigger sees
	 * neither).  Allocated here, where an error is still allowed.
	 */
	if (tag == T_DropdbStmt && IsTransactionState())
		dropped_db = get_database_oid(((DropdbStmt *) parsetree)->dbname, true);
	if (drops_extension || OidIsValid(dropped_db))
		counter_spare_ensure();
	if (tag == T_CopyStmt && IsTransactionState() && !registry_loading)
		pgr_citus_check_copy((CopyStmt *) parsetree);
	if ((tag == T_DropStmt || tag == T_AlterPolicyStmt || tag == T_RenameStmt) &&
		IsTransactionState() && !registry_loading && protection_fn_depth == 0 &&
		!pgr_citus_internal_ddl() && !superuser())
		check_citus_policy_ddl(parsetree);
	if (enforcement_mode != MODE_DISABLED && IsTransactionState() && !registry_loading &&
		(tag == T_TruncateStmt || tag == T_AlterTableStmt || tag == T_RenameStmt ||
		 tag == T_AlterObjectSchemaStmt ||
		 (tag == T_CopyStmt && ((CopyStmt *) parsetree)->is_from && ((CopyStmt *) parsetree)->relation)))
	{
		utility_source_text = queryString;
		PG_TRY();
		{
			if (tag == T_TruncateStmt)
				check_truncate((TruncateStmt *) parsetree);
			else if (tag == T_CopyStmt)
			{
				/* COPY FROM routes rows like INSERT (see check_routed_insert) */
				Oid			relid = RangeVarGetRelid(((CopyStmt *) parsetree)->relation, NoLock, true);

				if (OidIsValid(relid) && registry_lookup(relid) == NULL)
					check_routed_insert(relid, CMD_INSERT, NULL);
			}
			else if (protection_fn_depth == 0 && !superuser())
			{
				if (tag == T_AlterTableStmt)
					check_alter_table((AlterTableStmt *) parsetree);
				else if (tag == T_AlterObjectSchemaStmt)
					check_set_schema((AlterObjectSchemaStmt *) parsetree);
				else
					check_rename((RenameStmt *) parsetree);
			}
		}
		PG_FINALLY();
		{
			utility_source_text = NULL;
		}
		PG_END_TRY();
	}
	if (tag == T_CreatePolicyStmt && ((CreatePolicyStmt *) parsetree)->permissive &&
		is_loaded_guard(((CreatePolicyStmt *) parsetree)))
	{
		/*
		 * Citus's copy of the guard for a shard: restrictive, as the guard
		 * is.  Changed in place even in a read-only (cached) tree: every
		 * execution would make the same change.
		 */
		((CreatePolicyStmt *) parsetree)->permissive = false;
	}
	if (tag == T_CreatePolicyStmt && IsTransactionState() && !registry_loading)
	{
		Oid			guard;

		if (!check_create_policy((CreatePolicyStmt *) parsetree, &guard))
			return;
		guard_relid = guard;
	}
	if (enforcement_mode != MODE_DISABLED && IsTransactionState() && !registry_loading &&
		protection_fn_depth == 0 && !role_bypasses_rls(GetUserId()) &&
		(guarded_table = maintenance_target(parsetree)) != NULL)
	{
		/* code over every tenant's rows: see maintenance_target() */
		MemoryContext cxt = CurrentMemoryContext;
		int			saved_depth = maintenance_depth;
		const char *saved_table = maintenance_table;

		PG_TRY();
		{
			maintenance_depth++;
			maintenance_table = guarded_table;
			if (prev_ProcessUtility)
				prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
			else
				standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
		}
		PG_CATCH();
		{
			maintenance_depth = saved_depth;
			maintenance_table = saved_table;
			withhold_data_error(cxt, guarded_table, CreateCommandTag(parsetree));
			PG_RE_THROW();
		}
		PG_END_TRY();
		maintenance_depth = saved_depth;
		maintenance_table = saved_table;
	}
	else if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);

	if (OidIsValid(guard_relid))
		add_loaded_policy(guard_relid);
	/* the extension's counters go when the drop commits */
	if (drops_extension && (forget_all_level == 0 || forget_all_level > GetCurrentTransactionNestLevel()))
		forget_all_level = GetCurrentTransactionNestLevel();
	/* DROP DATABASE runs outside a transaction block: done once it returns */
	if (OidIsValid(dropped_db))
		(void) counters_remove(dropped_db, NULL, 0);

	if (tag == T_DeclareCursorStmt && enforcement_mode != MODE_DISABLED && IsTransactionState() &&
		!registry_loading && (((DeclareCursorStmt *) parsetree)->options & CURSOR_OPT_HOLD) != 0)
	{
		utility_source_text = queryString;
		PG_TRY();
		{
			check_holdable_cursor((DeclareCursorStmt *) parsetree);
			if (((DeclareCursorStmt *) parsetree)->portalname != NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				held_cursors = lappend(held_cursors, pstrdup(((DeclareCursorStmt *) parsetree)->portalname));
				MemoryContextSwitchTo(old);
			}
		}
		PG_FINALLY();
		{
			utility_source_text = NULL;
		}
		PG_END_TRY();
	}
}

/* ------------------------------------------------------------------------
 * GUC hooks and transaction end
 * ------------------------------------------------------------------------
 */

/* A change of what is enforced must reach cached plans at once. */
static void
assign_reset_plans_int(int newval, void *extra)
{
	ResetPlanCache();
}

static void
assign_reset_plans_str(const char *newval, void *extra)
{
	ResetPlanCache();
}

/*
 * A plan of a statement on a distributed protected table carries the
 * tenant as a constant (src/citus.c): when the tenant changes, such plans
 * are planned again.
 */
static void
assign_tenant(const char *newval, void *extra)
{
	tenant_context_changed(newval);
	pgr_citus_tenant_changed();
}

static bool
check_table_list(char **newval, void **extra, GucSource source)
{
	char	   *copy = pstrdup(*newval);
	List	   *names;
	bool		ok = SplitIdentifierString(copy, ',', &names);

	if (!ok)
		GUC_check_errdetail("List syntax is invalid: give table names separated by commas.");
	list_free(names);
	pfree(copy);
	return ok;
}

static void
isolation_xact_callback(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		 event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		 event == XACT_EVENT_PREPARE) && bypass_active)
	{
		bypass_active = false;
		bypass_level = 0;
		ResetPlanCache();
		if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
			ereport(LOG,
					(errmsg("pg_rollout: tenant isolation bypass rolled back: txid=" UINT64_FORMAT " backend_pid=%d",
							bypass_txid, MyProcPid),
					 errdetail("Its audit row was not kept; its log line and the rollout.bypasses counter stand."),
					 errhidestmt(true)));
	}
	/*
	 * Counters of the tables this transaction dropped go when the drop
	 * commits (or is prepared: PREPARE TRANSACTION is where this session
	 * last sees it); a drop rolled back keeps them.
	 */
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE) && forget_all_level > 0)
		(void) counters_remove(MyDatabaseId, NULL, 0);
	else if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE) && forget_n > 0)
	{
		for (int i = 0; i < forget_n; i++)
			forget_sorted[i] = forget_pending[i].relid;
		qsort(forget_sorted, forget_n, sizeof(Oid), oid_cmp);
		(void) counters_remove(MyDatabaseId, forget_sorted, forget_n);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		forget_n = 0;
		forget_all_level = 0;
		protection_fn_depth = 0;
		fresh_query = NULL;
		list_free_deep(held_cursors);
		held_cursors = NIL;
		if (registry_recheck)
			registry_valid = registry_recheck = false;
		if (retired_registries != NIL)
		{
			ListCell   *lc;

			foreach(lc, retired_registries)
				MemoryContextDelete((MemoryContext) lfirst(lc));
			list_free(retired_registries);
			retired_registries = NIL;
		}
	}
}

/*
 * A bypass never outlives the (sub)transaction that granted it: rolled
 * back with it (a savepoint, a PL/pgSQL exception block), or handed to the
 * parent when it commits.  So with the drops whose counters go at commit.
 */
static void
isolation_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (forget_all_level >= level && event == SUBXACT_EVENT_ABORT_SUB)
		forget_all_level = 0;
	else if (forget_all_level >= level && event == SUBXACT_EVENT_COMMIT_SUB)
		forget_all_level = level - 1;
	if (forget_n > 0 && event == SUBXACT_EVENT_ABORT_SUB)
	{
		int			kept = 0;

		for (int i = 0; i < forget_n; i++)
			if (forget_pending[i].level < level)
				forget_pending[kept++] = forget_pending[i];
		forget_n = kept;
	}
	else if (forget_n > 0 && event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < forget_n; i++)
			if (forget_pending[i].level >= level)
				forget_pending[i].level = level - 1;
	}
	if (!bypass_active)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB && bypass_level >= level)
	{
		bypass_active = false;
		bypass_level = 0;
		ResetPlanCache();
		ereport(LOG,
				(errmsg("pg_rollout: tenant isolation bypass rolled back with its subtransaction: txid=" UINT64_FORMAT
						" backend_pid=%d", bypass_txid, MyProcPid),
				 errhidestmt(true)));
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB && bypass_level >= level)
		bypass_level = level - 1;
}

void
pgr_isolation_init(bool preloaded)
{
	DefineCustomEnumVariable("pg_rollout.enforcement_mode",
							 "Tenant isolation phase: disabled, log_only, selective or enforce.",
							 "log_only counts and logs statements on protected tables without tenant context; "
							 "selective enforces the tables of pg_rollout.enforce_tables and of severity "
							 "pg_rollout.selective_enforce_severity or above; enforce enforces every protected table.",
							 &enforcement_mode, MODE_LOG_ONLY, mode_options,
							 PGC_SUSET, 0, NULL, assign_reset_plans_int, NULL);
	DefineCustomStringVariable("pg_rollout.enforce_tables",
							   "Protected tables enforced in selective mode (comma-separated, schema.table or table).",
							   NULL, &enforce_tables, "", PGC_SUSET, GUC_LIST_INPUT,
							   check_table_list, assign_reset_plans_str, NULL);
	DefineCustomStringVariable("pg_rollout.log_tables",
							   "Protected tables only logged in selective mode, whatever their severity.",
							   NULL, &log_tables, "", PGC_SUSET, GUC_LIST_INPUT,
							   check_table_list, assign_reset_plans_str, NULL);
	DefineCustomEnumVariable("pg_rollout.selective_enforce_severity",
							 "In selective mode, tables of this severity or more severe are enforced.",
							 "none enforces only the tables listed in pg_rollout.enforce_tables.",
							 &selective_severity, 0, severity_options,
							 PGC_SUSET, 0, NULL, assign_reset_plans_int, NULL);
	DefineCustomRealVariable("pg_rollout.log_sample_rate",
							 "Fraction of tenant isolation violations written to the server log.",
							 "Every violation is counted; this samples the log lines.",
							 &log_sample_rate, 1.0, 0.0, 1.0, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pg_rollout.tenant",
							   "The current tenant; set it with rollout.set_tenant().",
							   "Only rollout.set_tenant() (which validates the tenant and the role's bindings) "
							   "or a superuser can set it.",
							   &current_tenant_guc, "", PGC_SUSET, 0, NULL, assign_tenant, NULL);
	DefineCustomBoolVariable("pg_rollout.require_tenant_binding",
							 "Only roles bound to tenants (rollout.bind_tenant) may set a tenant context.",
							 NULL, &require_binding, false, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("pg_rollout.session_tenant",
							 "Whether rollout.set_tenant(..., local => false) may set a session-level tenant context.",
							 "refuse: only transaction-level contexts (set it for the logins a transaction-mode "
							 "connection pooler uses, with ALTER ROLE ... SET).",
							 &session_tenant, SESSION_TENANT_ALLOW, session_tenant_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pg_rollout.bypass_requires_reason",
							 "rollout.bypass() requires a reason.",
							 NULL, &bypass_requires_reason, true, PGC_SUSET, 0, NULL, NULL, NULL);

	CacheRegisterRelcacheCallback(registry_invalidate, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, rls_exempt_forget, (Datum) 0);
	RegisterXactCallback(isolation_xact_callback, NULL);
	RegisterSubXactCallback(isolation_subxact_callback, NULL);

	if (!preloaded)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = isolation_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = isolation_shmem_startup;
	prev_rls_restrictive = row_security_policy_hook_restrictive;
	row_security_policy_hook_restrictive = isolation_rls_restrictive;
	prev_rls_permissive = row_security_policy_hook_permissive;
	row_security_policy_hook_permissive = isolation_rls_permissive;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = isolation_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = isolation_ExecutorRun;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = isolation_ProcessUtility;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = isolation_fmgr_hook;
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = isolation_needs_fmgr_hook;
	prev_planner_hook = planner_hook;
	planner_hook = isolation_planner;
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = isolation_post_parse_analyze;
}

/* ------------------------------------------------------------------------
 * SQL functions
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(pgr_current_tenant);

Datum
pgr_current_tenant(PG_FUNCTION_ARGS)
{
	if (!tenant_set())
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(current_tenant_guc));
}

PG_FUNCTION_INFO_V1(pgr_tenant_for);

/*
 * rollout._tenant_for(oid): the tenant a protected table is filtered by.
 * Without tenant context it is NULL (no row matches): the ExecutorStart
 * hook has already refused, and counted, the statement where the table is
 * enforced.  It does not raise itself because the planner evaluates it to
 * estimate selectivity.
 */
Datum
pgr_tenant_for(PG_FUNCTION_ARGS)
{
	if (!tenant_set())
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(current_tenant_guc));
}

PG_FUNCTION_INFO_V1(pgr_tenants_for);

/* rollout._tenants_for(oid): the current tenant and its descendants. */
Datum
pgr_tenants_for(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	Datum	   *elems;
	int			n;
	ArrayType  *result;
	MemoryContext caller = CurrentMemoryContext;
	int			pathlevel;

	if (!tenant_set())
		PG_RETURN_NULL();
	values[0] = CStringGetTextDatum(current_tenant_guc);
	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_rollout: SPI_connect failed");
	if (SPI_execute_with_args("SELECT d.tenant_id FROM rollout.descendants($1, true) d",
							  1, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_rollout: could not list the descendants of the current tenant");
	n = (int) SPI_processed;
	elems = MemoryContextAlloc(caller, sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext old = MemoryContextSwitchTo(caller);

		elems[i] = PointerGetDatum(DatumGetTextPCopy(d));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	result = construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
	PG_RETURN_ARRAYTYPE_P(result);
}

PG_FUNCTION_INFO_V1(pgr_set_tenant);

/*
 * Refuse a tenant to a role whose bindings do not cover it.  The same
 * error whether the tenant exists or not, and whatever its status: a
 * bound role learns nothing about tenants outside its subtrees.
 */
static void
refuse_unbound_tenant(Oid role, const char *tenant)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not act for tenant \"%s\"",
					GetUserNameFromId(role, false), tenant),
			 errdetail("The role may act only for the tenants of the subtrees it is bound to (rollout.tenant_binding).")));
}

/*
 * One role's bindings, as the query below returns them: whether the role
 * (as a member of a bound role) is bound at all, and whether a binding
 * covers the tenant.  Bindings of roles that no longer exist are ignored.
 */
#define BINDING_OF(param, covers) \
	"EXISTS (SELECT 1 FROM rollout.tenant_binding b" \
	"          JOIN pg_catalog.pg_authid r ON r.rolname OPERATOR(pg_catalog.=) b.role_name" \
	"         WHERE pg_catalog.pg_has_role(" param ", r.oid, 'MEMBER')" covers ")"
#define COVERS_TENANT " AND b.tenant_id OPERATOR(pg_catalog.=) ANY (t.path)"

/*
 * rollout.set_tenant(tenant_id text, local boolean DEFAULT true)
 * Validates the tenant (exists, active) and the role bindings, then sets
 * pg_rollout.tenant for the transaction (local) or the session.
 *
 * Bindings are checked against the session user, the identity SET ROLE
 * cannot change: a bound login that switches to an unbound role (SET ROLE,
 * SET LOCAL ROLE, a SECURITY DEFINER function) keeps its own bindings.
 * The current user's bindings, when it has any, narrow that further (a
 * tenant must be allowed to both).  Superusers are not restricted.  To a
 * bound role, a tenant outside its subtrees gives the same error whether
 * it exists or not, and whatever its status.
 */
Datum
pgr_set_tenant(PG_FUNCTION_ARGS)
{
	char	   *tenant;
	bool		local = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	Oid			argtypes[3] = {TEXTOID, OIDOID, OIDOID};
	Datum		values[3];
	/* set inside PG_TRY */
	char	   *volatile status = NULL;
	volatile bool cur_bound = false;
	volatile bool cur_ok = false;
	volatile bool ses_bound = false;
	volatile bool ses_ok = false;
	volatile bool any_binding = false;
	Oid			current = GetUserId();
	Oid			session = GetSessionUserId();
	bool		current_super = superuser_arg(current);
	bool		session_super = superuser_arg(session);
	Oid			save_userid;
	int			save_sec_context;
	MemoryContext caller_cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tenant id must not be null"),
				 errhint("Use rollout.reset_tenant() to clear the tenant context.")));
	tenant = text_to_cstring(PG_GETARG_TEXT_PP(0));

	/*
	 * Behind a transaction-mode pooler a session-level context stays with
	 * the server connection and reaches the next client: refused where
	 * pg_rollout.session_tenant says so (superusers excepted).
	 */
	if (session_tenant == SESSION_TENANT_REFUSE && !superuser_arg(session))
	{
		if (!local)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("session-level tenant context is not allowed"),
					 errdetail("pg_rollout.session_tenant is \"refuse\": behind a transaction-mode connection pooler "
							   "a session-level context would stay with the server connection and reach its next client."),
					 errhint("Call rollout.set_tenant('%s') after BEGIN: the context ends with the transaction.", tenant)));
		if (!IsTransactionBlock())
			ereport(WARNING,
					(errmsg("rollout.set_tenant() outside a transaction block has no effect"),
					 errhint("Call it after BEGIN: the context lasts until the end of the transaction.")));
	}

	/* fast path: a tenant known to be active, and no binding anywhere */
	if (bindings_state == 0 && known_tenants != NULL && strlen(tenant) < NAMEDATALEN + 16 &&
		hash_search(known_tenants, tenant, HASH_FIND, NULL) != NULL &&
		(!require_binding || session_super))
	{
		(void) set_config_option("pg_rollout.tenant", tenant, PGC_SUSET, PGC_S_SESSION,
								 local ? GUC_ACTION_LOCAL : GUC_ACTION_SET, true, 0, false);
		PG_RETURN_TEXT_P(cstring_to_text(tenant));
	}

	values[0] = CStringGetTextDatum(tenant);
	values[1] = ObjectIdGetDatum(current);
	values[2] = ObjectIdGetDatum(session);
	{
		Oid			nsp = get_namespace_oid(PGR_SCHEMA, false);

		tenant_table_oid = get_relname_relid(PGR_TABLE_TENANT, nsp);
		binding_table_oid = get_relname_relid(PGR_TABLE_BINDING, nsp);
	}

	/* read with the bootstrap superuser's rights: the caller need not see the tables */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		int			pathlevel = pgr_pin_search_path();

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pg_rollout: SPI_connect failed");

		/*
		 * A snapshot of now, not the statement's (see registry_load): what
		 * is read here is remembered for the fast path (no binding, active
		 * tenants) until the next invalidation of the two tables, which
		 * this statement may already have received.  Read with an older
		 * snapshot (a REPEATABLE READ transaction begun before the first
		 * rollout.bind_tenant()), "no binding" stayed, and the bound role
		 * could then set any tenant, in every later transaction.
		 */
		PushActiveSnapshot(IsInParallelMode() ? GetActiveSnapshot() : GetLatestSnapshot());
		/* one row, whether the tenant exists or not */
		if (SPI_execute_with_args(
				"SELECT t.status,"
				"       " BINDING_OF("$2", "") ","
				"       " BINDING_OF("$2", COVERS_TENANT) ","
				"       " BINDING_OF("$3", "") ","
				"       " BINDING_OF("$3", COVERS_TENANT) ","
				"       EXISTS (SELECT 1 FROM rollout.tenant_binding b)"
				"  FROM (VALUES (1)) AS one(x)"
				"  LEFT JOIN rollout.tenant t ON t.tenant_id OPERATOR(pg_catalog.=) $1",
				3, argtypes, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "pg_rollout: could not read the tenant");
		{
			bool		isnull;
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			Datum		d = SPI_getbinval(tup, desc, 1, &isnull);

			if (!isnull)
				status = MemoryContextStrdup(caller_cxt, TextDatumGetCString(d));
			cur_bound = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
			cur_ok = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
			ses_bound = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
			ses_ok = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
			any_binding = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		}
		PopActiveSnapshot();
		SPI_finish();
		pgr_unpin_search_path(pathlevel);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();

	/* bindings first: a bound role may not tell a foreign tenant from none */
	if (!session_super && ses_bound && !ses_ok)
		refuse_unbound_tenant(session, tenant);
	if (!current_super && cur_bound && !cur_ok)
		refuse_unbound_tenant(current, tenant);
	/*
	 * require_tenant_binding: the session user must be bound, or the
	 * current user (which has then just been checked, and which RESET ROLE
	 * turns back into the unbound session user).
	 */
	if (require_binding && !session_super && !ses_bound && !(cur_bound && !current_super))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is bound to no tenant", GetUserNameFromId(session, false)),
				 errdetail("pg_rollout.require_tenant_binding is on."),
				 errhint("Bind the role with rollout.bind_tenant().")));
	if (status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant \"%s\" does not exist", tenant)));
	if (strcmp(status, "active") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant \"%s\" is %s", tenant, status),
				 errdetail("Only an active tenant can be the tenant context.")));

	/* remember it for the fast path (only while no binding exists) */
	bindings_state = any_binding ? 1 : 0;
	if (!any_binding && strlen(tenant) < NAMEDATALEN + 16)
	{
		if (known_tenants == NULL)
		{
			HASHCTL		ctl;

			memset(&ctl, 0, sizeof(ctl));
			ctl.keysize = NAMEDATALEN + 16;
			ctl.entrysize = sizeof(KnownTenant);
			known_tenants = hash_create("pg_rollout known tenants", 256, &ctl, HASH_ELEM | HASH_STRINGS);
		}
		if (hash_get_num_entries(known_tenants) < 100000)
			(void) hash_search(known_tenants, tenant, HASH_ENTER, NULL);
	}

	(void) set_config_option("pg_rollout.tenant", tenant, PGC_SUSET, PGC_S_SESSION,
							 local ? GUC_ACTION_LOCAL : GUC_ACTION_SET, true, 0, false);
	PG_RETURN_TEXT_P(cstring_to_text(tenant));
}

PG_FUNCTION_INFO_V1(pgr_reset_tenant);

Datum
pgr_reset_tenant(PG_FUNCTION_ARGS)
{
	(void) set_config_option("pg_rollout.tenant", "", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SET, true, 0, false);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgr_bypass);

/*
 * rollout.bypass(reason text): no tenant filter for the rest of the
 * transaction.  Members of rollout_bypass only; counted and audited.
 */
Datum
pgr_bypass(PG_FUNCTION_ARGS)
{
	Oid			caller = GetOuterUserId();
	Oid			bypass_role = get_role_oid("rollout_bypass", true);
	char	   *reason = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *trimmed = reason;

	pgr_require_preload("the tenant isolation bypass");
	if (!OidIsValid(bypass_role) || !has_privs_of_role(caller, bypass_role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not bypass tenant isolation", GetUserNameFromId(caller, false)),
				 errhint("Grant it the role rollout_bypass.")));
	/* whitespace of any kind is no reason */
	while (trimmed && *trimmed != '\0' && isspace((unsigned char) *trimmed))
		trimmed++;
	if ((trimmed == NULL || *trimmed == '\0') && bypass_requires_reason)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a reason is required to bypass tenant isolation"),
				 errhint("Pass reason => '...': it is counted and recorded in the audit log.")));
	if (!IsTransactionBlock())
		ereport(WARNING,
				(errmsg("rollout.bypass() outside a transaction block has no effect"),
				 errhint("Call it after BEGIN: it lasts until the end of the transaction.")));
	pgr_audit_append("isolation.bypass", current_tenant_guc && current_tenant_guc[0] ? current_tenant_guc : NULL,
					 "role", GetUserNameFromId(caller, false), reason, NULL);
	count_bypass(reason ? reason : "");

	/*
	 * A durable record even when the transaction rolls back (and takes the
	 * audit row with it): one structured log line per bypass, never
	 * sampled, with the transaction id the audit row carries.
	 */
	bypass_txid = U64FromFullTransactionId(GetTopFullTransactionIdIfAny());
	{
		StringInfoData quoted;
		const char *app = application_name ? application_name : "";

		initStringInfo(&quoted);
		for (const char *c = reason ? reason : ""; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				appendStringInfoChar(&quoted, '\\');
			if (*c == '\n' || *c == '\r')
				appendStringInfoChar(&quoted, ' ');
			else
				appendStringInfoChar(&quoted, *c);
		}
		ereport(LOG,
				(errmsg("pg_rollout: tenant isolation bypass: role=%s tenant=%s reason=\"%s\" application_name=\"%s\" "
						"txid=" UINT64_FORMAT " backend_pid=%d",
						GetUserNameFromId(caller, false),
						current_tenant_guc && current_tenant_guc[0] ? current_tenant_guc : "-",
						quoted.data, app, bypass_txid, MyProcPid),
				 errhidestmt(true)));
	}
	if (!bypass_active)
	{
		bypass_active = true;
		bypass_level = GetCurrentTransactionNestLevel();
		ResetPlanCache();
	}
	else
		bypass_level = Min(bypass_level, GetCurrentTransactionNestLevel());
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgr_violation_counts);

Datum
pgr_violation_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Counter    *copy;

	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;
	copy = palloc(sizeof(Counter) * MAX_COUNTERS);
	LWLockAcquire(shared->lock, LW_SHARED);
	for (int i = 0; i < MAX_COUNTERS; i++)
	{
		Counter    *c = &shared->counters[i];

		copy[i].used = c->used;
		if (!c->used)
			continue;
		copy[i].key = c->key;
		SpinLockAcquire(&c->mutex);
		copy[i].count = c->count;
		copy[i].last_at = c->last_at;
		SpinLockRelease(&c->mutex);
	}
	LWLockRelease(shared->lock);
	for (int i = 0; i < MAX_COUNTERS; i++)
	{
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};

		if (!copy[i].used || copy[i].key.dbid != MyDatabaseId)
			continue;
		/*
		 * A table this session cannot see: created by a transaction that
		 * rolled back (or has not committed yet), or dropped where the
		 * sql_drop event trigger did not run (single-user mode, the
		 * extension not installed then).  Not shown as a bare OID;
		 * reset_violation_counts() removes it.
		 */
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(copy[i].key.relid)))
			continue;
		values[0] = ObjectIdGetDatum(copy[i].key.relid);
		values[1] = CStringGetTextDatum(kind_names[copy[i].key.kind]);
		values[2] = CStringGetTextDatum(cmd_name((CmdType) copy[i].key.cmd));
		values[3] = CStringGetTextDatum(severity_names[copy[i].key.severity]);
		values[4] = BoolGetDatum(copy[i].key.enforced);
		values[5] = Int64GetDatum(copy[i].count);
		values[6] = TimestampTzGetDatum(copy[i].last_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgr_recent_violations);

Datum
pgr_recent_violations(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RingEntry  *copy;
	uint64		total;
	Oid			admin = get_role_oid("rollout_admin", true);
	/*
	 * Query texts hold other roles' literals (another tenant's ids, e-mail
	 * addresses, ...): shown, as pg_stat_statements does, only to those
	 * allowed to read every role's statements, and to rollout_admin.  The
	 * view rollout.recent_violation_log masked them, but rollout_viewer may
	 * call this function itself.
	 */
	bool		show_query = superuser() ||
		is_member_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS) ||
		(OidIsValid(admin) && is_member_of_role(GetUserId(), admin));

	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;
	copy = palloc(sizeof(RingEntry) * RING_SIZE);
	/* positions handed out before the copy; a slot is kept if it holds one of the last RING_SIZE */
	total = pg_atomic_read_u64(&shared->ring_total);
	for (int i = 0; i < RING_SIZE; i++)
	{
		SpinLockAcquire(&shared->ring[i].s.mutex);
		memcpy(&copy[i], &shared->ring[i].s.entry, sizeof(RingEntry));
		SpinLockRelease(&shared->ring[i].s.mutex);
	}
	for (uint64 k = total > RING_SIZE ? total - RING_SIZE : 0; k < total; k++)
	{
		RingEntry  *e = &copy[k % RING_SIZE];
		Datum		values[9];
		bool		nulls[9] = {false, false, false, false, false, false, false, false, false};
		char	   *role;

		if (e->pos != k + 1 || e->dbid != MyDatabaseId)
			continue;
		role = GetUserNameFromId(e->roleid, true);
		values[0] = TimestampTzGetDatum(e->at);
		values[1] = ObjectIdGetDatum(e->relid);
		values[2] = CStringGetTextDatum(kind_names[e->kind]);
		values[3] = CStringGetTextDatum(cmd_name((CmdType) e->cmd));
		values[4] = BoolGetDatum(e->refused);
		if (role)
			values[5] = CStringGetTextDatum(role);
		else
			nulls[5] = true;
		values[6] = CStringGetTextDatum(e->appname);
		values[7] = Int64GetDatum((int64) e->queryid);
		values[8] = CStringGetTextDatum(show_query ? e->query : "<insufficient privilege>");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgr_bypass_counts);

Datum
pgr_bypass_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BypassCounter *copy;

	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;
	copy = palloc(sizeof(BypassCounter) * MAX_BYPASS);
	LWLockAcquire(shared->lock, LW_SHARED);
	for (int i = 0; i < MAX_BYPASS; i++)
	{
		BypassCounter *b = &shared->bypass[i];

		copy[i].used = b->used;
		if (!b->used)
			continue;
		copy[i].dbid = b->dbid;
		copy[i].roleid = b->roleid;
		memcpy(copy[i].reason, b->reason, REASON_LEN);
		SpinLockAcquire(&b->mutex);
		copy[i].count = b->count;
		copy[i].last_at = b->last_at;
		SpinLockRelease(&b->mutex);
	}
	LWLockRelease(shared->lock);
	for (int i = 0; i < MAX_BYPASS; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		char	   *role;

		if (!copy[i].used || copy[i].dbid != MyDatabaseId)
			continue;
		role = GetUserNameFromId(copy[i].roleid, true);
		if (role)
			values[0] = CStringGetTextDatum(role);
		else
			nulls[0] = true;
		values[1] = CStringGetTextDatum(copy[i].reason);
		values[2] = Int64GetDatum(copy[i].count);
		values[3] = TimestampTzGetDatum(copy[i].last_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgr_reset_violations);

/*
 * rollout.reset_violation_counts(): remove this database's violation
 * counters (a reset table is no longer listed, not listed with zero); the
 * next event creates its counter again.  At once, not at commit, as
 * pg_stat_statements_reset() does.  The ring of recent violations and the
 * bypass counters stay.
 */
Datum
pgr_reset_violations(PG_FUNCTION_ARGS)
{
	counter_spare_ensure();
	(void) counters_remove(MyDatabaseId, NULL, 0);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgr_forget_violations);

/*
 * rollout._forget_violations(relids oid[]): called by the sql_drop event
 * trigger with the relations dropped; their counters in this database are
 * removed when the transaction commits (a rolled-back drop keeps them, and
 * a table created later with the same OID does not inherit them).  A
 * relation that still exists is ignored, so the function can only forget
 * counters of tables that are gone.
 */
Datum
pgr_forget_violations(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			level = GetCurrentTransactionNestLevel();

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	arr = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("relids must be a one-dimensional array of relation OIDs")));
	deconstruct_array(arr, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &elems, &nulls, &n);
	counter_spare_ensure();
	for (int i = 0; i < n; i++)
	{
		Oid			relid;

		if (nulls[i])
			continue;
		relid = DatumGetObjectId(elems[i]);
		if (!OidIsValid(relid) || SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			continue;
		if (forget_n == forget_max)
		{
			int			newmax = forget_max == 0 ? 16 : forget_max * 2;

			if (forget_pending == NULL)
			{
				forget_pending = MemoryContextAlloc(TopMemoryContext, sizeof(PendingForget) * newmax);
				forget_sorted = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * newmax);
			}
			else
			{
				forget_pending = repalloc(forget_pending, sizeof(PendingForget) * newmax);
				forget_sorted = repalloc(forget_sorted, sizeof(Oid) * newmax);
			}
			forget_max = newmax;
		}
		forget_pending[forget_n].relid = relid;
		forget_pending[forget_n].level = level;
		forget_n++;
	}
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgr_inside_protection);

/* rollout._inside_protection(): is protect_table() or unprotect_table() running? */
Datum
pgr_inside_protection(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(protection_fn_depth > 0);
}

PG_FUNCTION_INFO_V1(pgr_invalidate_protection);

/* Trigger on rollout.protected_table: every session reloads the registry
 * and replans statements on the affected tables. */
Datum
pgr_invalidate_protection(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("rollout._invalidate_protection() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
	{
		TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
		HeapTuple	tups[2] = {trigdata->tg_trigtuple, trigdata->tg_newtuple};

		for (int i = 0; i < 2; i++)
		{
			bool		isnull;
			Datum		d;

			if (tups[i] == NULL)
				continue;
			d = heap_getattr(tups[i], 1, desc, &isnull);
			if (!isnull && SearchSysCacheExists1(RELOID, d))
				CacheInvalidateRelcacheByRelid(DatumGetObjectId(d));
		}
	}
	return PointerGetDatum(NULL);
}
