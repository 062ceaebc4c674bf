/*-------------------------------------------------------------------------
 *
 * resolve.c
 *	  Which version of a component does a tenant run?  Is a flag on for it?
 *
 * Resolution walks the tenant's path from the tenant up to the root:
 *
 *	 1. a pin on the tenant, else on its nearest ancestor;
 *	 2. for a component gated by a feature_flag rollout: the flag's kill
 *		switch (the rollout's activations are ignored), or an explicit
 *		override (on: the to-version; off: activations ignored);
 *	 3. of the rollout activations of the tenant and its ancestors, the one
 *		by the most recently started rollout (activation.start_no; nearest
 *		on a tie): a later rollout's decision about a node covers its
 *		subtree, superseding older activations below it (only for an
 *		active tenant);
 *	 4. the release of the tenant's effective channel, else of the next more
 *		stable channel that has one;
 *	 5. the component's platform default.
 *
 * The data of one path is read by index probes in C ("Direct reads"; a
 * database still on the 0.1.0 schema uses one prepared query), every tenant
 * of a component in one pass in path order ("Bulk resolution"); the answer
 * is kept in a per-backend hash table, and misses keep the tenant rows they
 * read ("The tenant rows").  Every table resolution reads has statement
 * triggers that send a relcache invalidation at commit
 * (rollout._invalidate_resolution); the callback registered here empties
 * the cache, or, for a change to one component's rows, only what concerns
 * that component ("Per-component invalidation"), so a change committed by
 * any session is seen by every session from its next transaction on.
 * Misses read with a fresh snapshot taken
 * after pending invalidations were accepted: an answer computed from data
 * that a concurrent commit changes is always followed by that commit's
 * invalidation.
 *
 * An invalidation can be taken in at any point where this backend takes a
 * snapshot, locks a relation or misses a catalog cache — in the middle of a
 * miss, of a statement resolving many tenants, of a transaction.  The rules
 * that keep that safe (snapshot before any cache access, resets deferred
 * while cached data is in use, tables created after the snapshot) and the
 * memory layout (answers in their own context, freed as a whole) are
 * described under "Cache management" below.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "access/visibilitymap.h"
#include "storage/shmem.h"
#include "storage/sinval.h"
#include "common/hashfn.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pg_rollout.h"
#include "pgr_limits.h"
#include "resolve.h"

#define ID_LEN 64				/* ids are at most 63 bytes (CHECK constraints) */
#define MAX_DEPTH 32			/* tenant_depth_limit */

int			pgr_resolve_cache_size = 100000;
int			pgr_resolve_tenant_cache_size = 100000;

/* ---- sources of an answer ---- */
typedef enum ResolveSource
{
	SRC_NONE,
	SRC_PIN,
	SRC_FLAG,
	SRC_ROLLOUT,
	SRC_CHANNEL,
	SRC_DEFAULT,
	SRC_KILL,
	SRC_OVERRIDE
} ResolveSource;

static const char *const source_names[] = {
	"none", "pin", "flag", "rollout", "channel", "default", "kill_switch", "override"
};

/* ---- the cache ---- */

/*
 * The key of an answer: the subject's and the tenant's bytes side by side,
 * without terminators.  Only the first CACHE_KEY_LEN(key) bytes are
 * significant: the hash and the comparison read those alone (cache_key_hash,
 * cache_key_match), so a hit hashes some ten bytes instead of the whole
 * struct, and its key is built from the arguments' text without copies to
 * C strings (lookup_text).
 */
typedef struct CacheKey
{
	uint8		slen;			/* bytes of the subject */
	uint8		tlen;			/* bytes of the tenant */
	char		kind;			/* 'v' version, 'f' flag */
	char		bytes[2 * ID_LEN];	/* subject, then tenant */
} CacheKey;

#define CACHE_KEY_LEN(k) (offsetof(CacheKey, bytes) + (k)->slen + (k)->tlen)

static uint32 cache_key_hash(const void *key, Size keysize);
static int	cache_key_match(const void *key1, const void *key2, Size keysize);
static void *cache_key_copy(void *dest, const void *src, Size keysize);

/*
 * The answers of one component (kind 'v') or flag ('f'): an answer is
 * valid while its subject's gen is the one it was stored with; a change
 * to the component bumps gen (see "Per-component invalidation").
 */
typedef struct SubjectKey
{
	char		kind;
	char		id[ID_LEN];
} SubjectKey;

typedef struct SubjectRec
{
	SubjectKey	key;
	uint64		gen;
} SubjectRec;

typedef struct CacheEntry
{
	CacheKey	key;
	SubjectRec *subject;		/* in AnswerContext, as the entry */
	uint64		subject_gen;
	bool		isnull;
	Datum		version;		/* semver, in AnswerContext */
	bool		enabled;		/* flags */
	ResolveSource source;
	char		source_tenant[ID_LEN];
} CacheEntry;

typedef struct Channel
{
	char	   *id;
	int			ordinal;
	char		eligibility;	/* a(ll), t(est), o(pt-in), s(table-only excluded) */
	bool		is_default;
} Channel;

#define PIN_CACHE_MAX 4096		/* components with more pins probe the index */

typedef struct PinEntry
{
	char		tenant[ID_LEN];
	Datum		version;		/* semver, in MetaContext */
} PinEntry;

typedef struct ComponentInfo
{
	char		id[ID_LEN];
	bool		has_default;
	Datum		default_version;
	bool	   *has_release;	/* per channel, in channel order */
	Datum	   *release;
	char	   *flag_id;		/* the bound feature_flag rollout: of the
								 * component's running, paused, failed or
								 * completed ones, the latest started */
	char	   *flag_rollout;
	Datum		flag_version;
	char	   *live_rollout;	/* the running, paused or failed rollout, if any */
	bool		live_deferrals; /* the live rollout has deferred some tenant */
	int64		max_start_no;	/* the highest start_no of its rollouts; -1:
								 * none, or not known (0.1.0 schema) */
	HTAB	   *pins;			/* every pin of the component by tenant, or NULL:
								 * more than PIN_CACHE_MAX (probe rollout.pin) */
	List	   *interned;		/* rollout ids and versions kept for ancestors */
	MemoryContext cxt;			/* everything above (a child of MetaContext) */
	uint64		load_seq;		/* unique per load: AncestorMemo refers to it */
	int			slot;			/* epoch_slot(id) */
	uint64		epoch;			/* the slot's epoch before the snapshot the
								 * data was read with; 0: not known */
} ComponentInfo;


typedef struct FlagInfo
{
	char		id[ID_LEN];
	bool		default_enabled;
	bool		killed;
	char	   *component;		/* its feature_flag rollout (running, paused,
								 * failed or completed; the latest started) */
	char	   *rollout;
} FlagInfo;

/*
 * A component's rows for a tenant as an ancestor on resolved paths (its
 * activation, its deferral by the live rollout), kept with the tenant row
 * while the answers cache is on: the tenants of a subtree share their
 * ancestors, so a miss usually probes only the tenant's own level.  Valid
 * while the component's data it was read with (seq: its load_seq, where
 * act and act_rollout are interned) is cached; a change to the component
 * drops that data, and a new load has a new load_seq.
 */
typedef struct AncestorMemo
{
	uint64		seq;			/* load_seq of the component's data; 0: empty */
	bool		has_act;
	bool		deferred;
	int			act_stage;
	int64		act_rank;
	Datum		act;			/* interned in the component's cxt */
	const char *act_rollout;	/* interned in the component's cxt */
} AncestorMemo;

#define ANCESTOR_SLOTS 2		/* components kept per ancestor */

/*
 * A tenant's own row, kept across misses (see "The tenant rows" below):
 * what the path and the channel step read.  A row is entered only after its
 * parent, so a cached row's ancestors are all cached too.
 */
typedef struct TenantRow
{
	char		id[ID_LEN];
	struct TenantRow *parent;	/* NULL for a root; entries never move */
	int			depth;			/* 1 for a root */
	bool		active;
	bool		test_tenant;
	char	   *channel_id;
	char	   *choices;		/* "channel=opt_in;..." (when choices_exist), or NULL */
	text	   *idt;			/* id as a text datum, for the probes */
	AncestorMemo memo[ANCESTOR_SLOTS];
} TenantRow;

static MemoryContext CacheContext = NULL;	/* parent of the three below */
static HTAB *answers = NULL;
static HTAB *subjects = NULL;	/* SubjectRec, in AnswerContext */
static HTAB *components = NULL;
static HTAB *flags = NULL;
static Channel *channels = NULL;
static int	nchannels = -1;		/* -1: not loaded */
static bool choices_exist = true;	/* rollout.channel_choice has rows (loaded with the channels) */
static bool direct_loaded = false;	/* direct_rels below found (reset with the metadata) */
static uint64 stat_hits = 0;
static uint64 stat_misses = 0;
static uint64 stat_invalidations = 0;
static uint64 inval_generation = 0;	/* bumped by every relevant invalidation */
static uint64 component_loads = 0;	/* ComponentInfo.load_seq */
static bool callback_registered = false;

/* ---- one level of a tenant's path ---- */
typedef struct Level
{
	char	   *tenant_id;
	bool		active;
	char	   *channel_id;
	bool		test_tenant;
	bool		has_pin;
	Datum		pin;
	bool		has_act;
	Datum		act;
	char	   *act_rollout;
	int			act_stage;
	int64		act_rank;		/* start order of the activating rollout */
	bool		deferred;		/* held back by the component's live rollout */
	char	   *choices;		/* "channel=opt_in;channel=opt_out" or NULL */
	int			flag_override;	/* -1 none, 0 off, 1 on */
	bool		flag_killed;
} Level;

/* one candidate for the explain forms */
typedef struct ExplainRow
{
	const char *source;
	char	   *tenant_id;
	bool		has_version;
	Datum		version;
	int			enabled;		/* flags: -1 n/a */
	bool		decided;
	char	   *detail;
} ExplainRow;

typedef struct Answer
{
	bool		isnull;
	Datum		version;
	bool		enabled;
	ResolveSource source;
	const char *source_tenant;
} Answer;

/* ---- prepared plans, kept for the life of the backend ---- */
static SPIPlanPtr plan_path = NULL;
static SPIPlanPtr plan_all = NULL;
static SPIPlanPtr plan_channels = NULL;
static SPIPlanPtr plan_choices = NULL;
static SPIPlanPtr plan_component = NULL;
static SPIPlanPtr plan_releases = NULL;
static SPIPlanPtr plan_binding = NULL;
static SPIPlanPtr plan_live = NULL;
static SPIPlanPtr plan_pins = NULL;
static SPIPlanPtr plan_flag = NULL;
static SPIPlanPtr plan_max_start = NULL;

#define LEVEL_COLUMNS \
	"t.tenant_id, pg_catalog.cardinality(t.path), t.status OPERATOR(pg_catalog.=) 'active', t.channel_id, t.test_tenant, " \
	"p.version, a.version, a.rollout_id, a.stage_no, "

/*
 * Column 14 says whether the component's live rollout deferred the tenant.
 * The start order of the rollout behind an activation (column 13): the
 * activation's start_no, or, on a database still on the 0.1.0 schema
 * (without that column), the rollout's start time.
 */
#define RANK_START_NO "a.start_no::pg_catalog.int8"
#define RANK_STARTED_AT \
	"(SELECT r.started_at FROM rollout.rollout r WHERE r.rollout_id OPERATOR(pg_catalog.=) a.rollout_id)"

#define SQL_PATH(rank) \
"SELECT " LEVEL_COLUMNS \
"       (SELECT pg_catalog.string_agg(cc.channel_id OPERATOR(pg_catalog.||) '=' OPERATOR(pg_catalog.||) cc.choice, ';')" \
"          FROM rollout.channel_choice cc WHERE cc.tenant_id OPERATOR(pg_catalog.=) t.tenant_id), " \
"       fs.enabled, fs.killed, " rank ", d.tenant_id IS NOT NULL " \
"  FROM rollout.tenant t " \
"  LEFT JOIN rollout.deferral d ON d.rollout_id OPERATOR(pg_catalog.=) $4 AND d.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
"  LEFT JOIN rollout.pin p ON p.component_id OPERATOR(pg_catalog.=) $2 AND p.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
"  LEFT JOIN rollout.activation a ON a.component_id OPERATOR(pg_catalog.=) $2 AND a.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
"  LEFT JOIN rollout.flag_setting fs ON fs.flag_id OPERATOR(pg_catalog.=) $3 AND fs.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
" WHERE t.tenant_id OPERATOR(pg_catalog.=) ANY (rollout.tenant_path($1)) " \
" ORDER BY pg_catalog.cardinality(t.path)"

#define SQL_ALL(rank) \
"SELECT " LEVEL_COLUMNS \
"       cc.choices, fs.enabled, fs.killed, " rank ", d.tenant_id IS NOT NULL " \
"  FROM rollout.tenant t " \
"  LEFT JOIN rollout.deferral d ON d.rollout_id OPERATOR(pg_catalog.=) $3 AND d.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
"  LEFT JOIN rollout.pin p ON p.component_id OPERATOR(pg_catalog.=) $1 AND p.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
"  LEFT JOIN rollout.activation a ON a.component_id OPERATOR(pg_catalog.=) $1 AND a.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
"  LEFT JOIN rollout.flag_setting fs ON fs.flag_id OPERATOR(pg_catalog.=) $2 AND fs.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
"  LEFT JOIN (SELECT c.tenant_id, pg_catalog.string_agg(c.channel_id OPERATOR(pg_catalog.||) '=' OPERATOR(pg_catalog.||) c.choice, ';') AS choices" \
"               FROM rollout.channel_choice c GROUP BY c.tenant_id) cc ON cc.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
" ORDER BY t.path"

/* [0]: the 0.2.0 schema (activation.start_no); [1]: the 0.1.0 schema */
static const char *const sql_path[2] = {SQL_PATH(RANK_START_NO), SQL_PATH(RANK_STARTED_AT)};
static const char *const sql_all[2] = {SQL_ALL(RANK_START_NO), SQL_ALL(RANK_STARTED_AT)};

/*
 * Which of the two: -1 not known yet, else the index above.  Checked with
 * every new cache generation (the update's ALTER TABLE invalidates it), and
 * the kept plans are prepared again when it changes.
 */
static int	schema_variant = -1;

/* ------------------------------------------------------------------------
 * Cache management
 *
 * Memory: CacheContext (a child of TopMemoryContext) has three children.
 * AnswerContext holds the answers table, the versions copied into its
 * entries and the subjects table: emptying the answers (cache full,
 * resolve_cache_size lowered, invalidation) is one MemoryContextReset,
 * which also deletes the hash tables' own contexts, so an evicted answer
 * can never leak what it owns (an answer dropped alone frees its version).
 * MetaContext holds the channels, components (each in a child context of
 * its own, deleted when a change to the component drops it) and flags read
 * on misses; it is reset by a full invalidation.  TenantContext holds the
 * tenant rows, reset by an invalidation of rollout.tenant or
 * rollout.channel_choice.
 *
 * Invalidation at any point: the relcache callback may run whenever this
 * backend takes in invalidation messages — when a snapshot is taken after
 * AcceptInvalidationMessages(), when a lock is first acquired, when a
 * catalog cache misses.  It never frees anything a computation is using:
 * while compute_depth > 0 it only records the reset (reset_pending), done
 * by the outermost compute_end().  Misses take their snapshot, and with it
 * every pending invalidation, before they look at the cache at all, and
 * create the tables afterwards (meta_ensure, answers_ensure), so they never
 * see a table the callback has just dropped.  inval_generation counts the
 * relevant invalidations: an answer is cached only when none arrived
 * between its snapshot and the moment it is stored.
 * ------------------------------------------------------------------------
 */

static MemoryContext AnswerContext = NULL;
static MemoryContext MetaContext = NULL;
static MemoryContext TenantContext = NULL;
static HTAB *tenant_rows = NULL;
static bool tenant_reset_pending = false;

/*
 * Relations whose invalidation empties the cache: the tables resolution
 * reads, recorded (by OID: no catalog access is allowed in the callback)
 * before the first data of a cache generation is read.  They are declared
 * once, in SQL: the tables that carry a trigger calling
 * rollout._invalidate_resolution() (src/sql/72_resolve/4_invalidation.sql);
 * record_watched() finds them through pg_depend.  nwatched == 0 means "not
 * recorded": every relcache invalidation then counts.
 */
#define NWATCHED_MAX 16
static Oid	watched[NWATCHED_MAX];
static int	nwatched = 0;
static Oid	watched_tenant = InvalidOid;	/* rollout.tenant and */
static Oid	watched_choice = InvalidOid;	/* rollout.channel_choice: their
											 * changes also drop the tenant rows */

static int	compute_depth = 0;	/* > 0 while cached data is in use */
static bool reset_pending = false;

/* Create the cache's memory contexts (once per backend). */
static void
cache_contexts_ensure(void)
{
	if (CacheContext != NULL)
		return;
	CacheContext = AllocSetContextCreate(TopMemoryContext, "pg_rollout resolution cache",
										 ALLOCSET_SMALL_SIZES);
	AnswerContext = AllocSetContextCreate(CacheContext, "pg_rollout cached answers",
										  ALLOCSET_DEFAULT_SIZES);
	MetaContext = AllocSetContextCreate(CacheContext, "pg_rollout cached metadata",
										ALLOCSET_SMALL_SIZES);
	TenantContext = AllocSetContextCreate(CacheContext, "pg_rollout cached tenant rows",
										  ALLOCSET_DEFAULT_SIZES);
}

/* Drop every cached tenant row and free their memory. */
static void
tenant_rows_clear(void)
{
	if (TenantContext != NULL)
		MemoryContextReset(TenantContext);
	tenant_rows = NULL;
}

/* Drop every cached answer and free their memory. */
static void
answers_clear(void)
{
	if (AnswerContext != NULL)
		MemoryContextReset(AnswerContext);
	answers = NULL;
	subjects = NULL;
}

/* Drop everything: answers, channels, components, flags, watched tables. */
static void
cache_reset(void)
{
	answers_clear();
	if (MetaContext != NULL)
		MemoryContextReset(MetaContext);
	components = NULL;
	flags = NULL;
	channels = NULL;
	nchannels = -1;
	nwatched = 0;
	direct_loaded = false;
}

/* ------------------------------------------------------------------------
 * Per-component invalidation
 *
 * A change to rollout.activation, pin, channel_release, component or
 * deferral concerns one component (or a few): it should not throw away the
 * answers of every other component.  The invalidate_resolution triggers of
 * those tables declare transition tables; the trigger function reads the
 * component_id of the changed rows (of a deferral: its rollout's, looked
 * up in rollout.rollout) and records, per transaction, the epoch
 * slots of those components (xact_slots: a hash of the id, EPOCH_SLOTS
 * slots in shared memory; two components sharing a slot only cost an
 * extra reload).  At commit (XACT_EVENT_COMMIT: after the commit is
 * visible, before its invalidations are sent) the slots' epochs are bumped,
 * and the invalidation sent is that of the table's primary key index, not
 * of the table: receivers see such an invalidation as "some component
 * changed" (scoped_pending) and, at their next look-up, drop the cached
 * data and answers of exactly the components whose epoch moved.
 *
 * Why this is as safe as a full reset: a component's data is tagged with
 * its slot's epoch read *before* the snapshot it was read with.  A commit
 * whose epoch bump came after that read may be missing from the data; its
 * invalidation is sent after the bump, and when it is taken in the epoch
 * differs, so the data and every answer computed with it are dropped.  A
 * commit bumped before the read was visible before the snapshot.  Data of
 * a component read without a known epoch (loaded for a flag or a bulk
 * walk: epoch 0) is dropped by any scoped invalidation, and flag answers
 * (they read the activations of their rollout's component) are dropped
 * whenever a component is.  The writing session drops the components of
 * its own transaction at once (xact_slots), and everything if it aborts.
 * A TRUNCATE, a database still on the 0.1.0 triggers (no transition
 * tables), a prepared transaction (its COMMIT PREPARED runs elsewhere and
 * bumps nothing) and any DDL or ANALYZE of the table itself still
 * invalidate the table (or rollout.channel): a full reset.
 * ------------------------------------------------------------------------
 */
#define EPOCH_SLOTS 1024

typedef struct ResolveShared
{
	pg_atomic_uint64 epoch[EPOCH_SLOTS];
} ResolveShared;

static ResolveShared *rshared = NULL;
static shmem_request_hook_type resolve_prev_shmem_request = NULL;
static shmem_startup_hook_type resolve_prev_shmem_startup = NULL;

/* the epoch of the subject's slot, read before the snapshot of a miss */
static bool snap_epoch_valid = false;
static int	snap_epoch_slot = 0;
static uint64 snap_epoch_value = 0;

static List *xact_slots = NIL;	/* slots changed by this transaction (TopTransactionContext) */
static bool scoped_pending = false;	/* a scoped invalidation arrived: check the epochs */

#define NSCOPED 5
static const char *const scoped_tables[NSCOPED] = {"activation", "pin", "channel_release", "component", "deferral"};
#define SCOPED_DEFERRAL 4		/* names a rollout: its component is looked up */
static Oid	watched_scoped[NSCOPED];	/* their primary key indexes */

static int
epoch_slot(const char *component)
{
	return (int) (hash_bytes((const unsigned char *) component, strlen(component)) % EPOCH_SLOTS);
}

static void
resolve_shmem_request(void)
{
	if (resolve_prev_shmem_request)
		resolve_prev_shmem_request();
	RequestAddinShmemSpace(MAXALIGN(sizeof(ResolveShared)));
}

static void
resolve_shmem_startup(void)
{
	bool		found;

	if (resolve_prev_shmem_startup)
		resolve_prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rshared = ShmemInitStruct("pg_rollout resolution epochs", sizeof(ResolveShared), &found);
	if (!found)
		for (int i = 0; i < EPOCH_SLOTS; i++)
			pg_atomic_init_u64(&rshared->epoch[i], 1);
	LWLockRelease(AddinShmemInitLock);
}

/* Record the epoch of component's slot (before a snapshot is taken). */
static void
snap_epoch_read(const char *component)
{
	snap_epoch_valid = false;
	/*
	 * A hot standby replays the primary's commits and their invalidations,
	 * but the epochs move at commit on the primary only: data read during
	 * recovery has no known epoch, so any scoped invalidation drops it
	 * (also one taken in after a promotion).
	 */
	if (rshared == NULL || component == NULL || RecoveryInProgress())
		return;
	snap_epoch_slot = epoch_slot(component);
	snap_epoch_value = pg_atomic_read_u64(&rshared->epoch[snap_epoch_slot]);
	snap_epoch_valid = true;
}

/* The answers of a subject: found, or (create) entered. */
static SubjectRec *
subject_get(char kind, const char *id, bool create)
{
	SubjectKey	key;

	if (subjects == NULL || strlen(id) >= ID_LEN)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.kind = kind;
	strlcpy(key.id, id, ID_LEN);
	if (create)
	{
		bool		found;
		SubjectRec *r = hash_search(subjects, &key, HASH_ENTER, &found);

		if (!found)
			r->gen = 1;
		return r;
	}
	return hash_search(subjects, &key, HASH_FIND, NULL);
}

/*
 * Drop the cached data and answers of every component whose epoch moved
 * (or is not known, or that this transaction changed), and then every flag
 * answer.  Only between computations: the data is not in use.
 */
static void
scoped_check(void)
{
	HASH_SEQ_STATUS st;
	ComponentInfo *ci;
	bool		dropped = false;

	if (!scoped_pending || compute_depth > 0)
		return;
	scoped_pending = false;
	if (components != NULL)
	{
		hash_seq_init(&st, components);
		while ((ci = hash_seq_search(&st)) != NULL)
		{
			SubjectRec *sr;

			if (ci->epoch != 0 && rshared != NULL &&
				pg_atomic_read_u64(&rshared->epoch[ci->slot]) == ci->epoch &&
				!list_member_int(xact_slots, ci->slot))
				continue;
			sr = subject_get('v', ci->id, false);
			if (sr != NULL)
				sr->gen++;
			MemoryContextDelete(ci->cxt);
			hash_search(components, ci->id, HASH_REMOVE, NULL);
			dropped = true;
		}
	}
	if (dropped)
		stat_invalidations++;
	if (dropped && subjects != NULL)
	{
		SubjectRec *sr;

		hash_seq_init(&st, subjects);
		while ((sr = hash_seq_search(&st)) != NULL)
			if (sr->key.kind == 'f')
				sr->gen++;
	}
}

/*
 * End of a transaction: publish the components it changed (commit), or
 * forget what this session cached from its own undone changes (abort).
 */
static void
resolve_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (xact_slots != NIL && rshared != NULL)
			{
				foreach(lc, xact_slots)
					pg_atomic_fetch_add_u64(&rshared->epoch[lfirst_int(lc)], 1);
				scoped_pending = true;
			}
			xact_slots = NIL;
			break;
		case XACT_EVENT_PRE_PREPARE:
			/* COMMIT PREPARED bumps no epoch: make it a full invalidation */
			if (xact_slots != NIL)
			{
				Oid			nsp = get_namespace_oid(PGR_SCHEMA, true);
				Oid			channel = OidIsValid(nsp) ? get_relname_relid("channel", nsp) : InvalidOid;

				if (OidIsValid(channel))
					CacheInvalidateRelcacheByRelid(channel);
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			if (xact_slots != NIL)
			{
				if (compute_depth > 0)
					reset_pending = true;
				else
					cache_reset();
			}
			xact_slots = NIL;
			break;
		default:
			break;
	}
}

/*
 * Relcache callback.  The triggers invalidate the relcache entry of the
 * changed rollout table; any relcache invalidation of a watched relation,
 * or a reset of all (InvalidOid), empties the cache — at once, or, while a
 * computation uses cached data, when it ends.
 */
static void
resolve_relcache_callback(Datum arg, Oid relid)
{
	bool		hit = !OidIsValid(relid) || nwatched == 0;
	bool		tenant_hit;

	/* a change of a component's rows (see "Per-component invalidation") */
	for (int i = 0; OidIsValid(relid) && rshared != NULL && i < NSCOPED; i++)
		if (watched_scoped[i] == relid)
		{
			inval_generation++;
			scoped_pending = true;
			return;
		}
	for (int i = 0; !hit && i < nwatched; i++)
		hit = (watched[i] == relid);
	if (!hit)
		return;
	inval_generation++;
	/*
	 * The tenant OIDs outlive cache_reset() (which forgets the others until
	 * the next miss records them again): a busy rollout's invalidations
	 * then leave the tenant rows alone.  Rows are only ever loaded after
	 * the OIDs were recorded.
	 */
	tenant_hit = !OidIsValid(relid) || !OidIsValid(watched_tenant) ||
		relid == watched_tenant || relid == watched_choice;
	if (tenant_hit && tenant_rows != NULL)
	{
		if (compute_depth > 0)
			tenant_reset_pending = true;
		else
			tenant_rows_clear();
	}
	if (answers != NULL || components != NULL || flags != NULL || nchannels >= 0)
	{
		stat_invalidations++;
		if (compute_depth > 0)
			reset_pending = true;
		else
			cache_reset();
	}
}

/* Bracket a computation that uses cached data. */
static void
compute_begin(void)
{
	compute_depth++;
}

static void
compute_end(void)
{
	if (--compute_depth > 0)
		return;
	if (reset_pending)
	{
		reset_pending = false;
		cache_reset();
	}
	if (tenant_reset_pending)
	{
		tenant_reset_pending = false;
		tenant_rows_clear();
	}
	scoped_check();
}

/*
 * Record the OIDs of the tables resolution reads.  Catalog look-ups may take
 * in invalidations: the list is published only when complete, and until
 * then (nwatched == 0) the callback counts every invalidation.
 */
static void
record_watched(void)
{
	Oid			found[NWATCHED_MAX];
	int			n = 0;
	Oid			fn;
	Relation	dep;
	Relation	trig;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;

	nwatched = 0;
	fn = LookupFuncName(list_make2(makeString(PGR_SCHEMA), makeString("_invalidate_resolution")),
						0, NULL, true);
	if (!OidIsValid(fn))
		return;

	/* the triggers that call it (they depend on it), and their tables */
	dep = table_open(DependRelationId, AccessShareLock);
	trig = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ProcedureRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(fn));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);
		ScanKeyData tkey;
		SysScanDesc tscan;
		HeapTuple	ttup;
		Oid			relid = InvalidOid;
		bool		seen = false;

		if (d->classid != TriggerRelationId)
			continue;
		ScanKeyInit(&tkey, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(d->objid));
		tscan = systable_beginscan(trig, TriggerOidIndexId, true, NULL, 1, &tkey);
		if (HeapTupleIsValid(ttup = systable_getnext(tscan)))
			relid = ((Form_pg_trigger) GETSTRUCT(ttup))->tgrelid;
		systable_endscan(tscan);
		for (int i = 0; i < n && !seen; i++)
			seen = (found[i] == relid);
		if (!OidIsValid(relid) || seen)
			continue;
		if (n == NWATCHED_MAX)
		{
			/* more than we can hold: leave nwatched 0, every invalidation counts */
			n = -1;
			break;
		}
		found[n++] = relid;
	}
	systable_endscan(scan);
	table_close(trig, AccessShareLock);
	table_close(dep, AccessShareLock);
	if (n <= 0)
		return;
	{
		Oid			nsp = get_namespace_oid(PGR_SCHEMA, true);

		watched_tenant = OidIsValid(nsp) ? get_relname_relid("tenant", nsp) : InvalidOid;
		watched_choice = OidIsValid(nsp) ? get_relname_relid("channel_choice", nsp) : InvalidOid;
		for (int i = 0; i < NSCOPED; i++)
		{
			Oid			rel = OidIsValid(nsp) ? get_relname_relid(scoped_tables[i], nsp) : InvalidOid;
			Oid			pk = InvalidOid;

			if (OidIsValid(rel))
			{
				Relation	r = table_open(rel, AccessShareLock);

				pk = RelationGetPrimaryKeyIndex(r);
				table_close(r, AccessShareLock);
			}
			watched_scoped[i] = pk;
		}
	}
	memcpy(watched, found, sizeof(Oid) * n);
	nwatched = n;
}

/*
 * Does rollout.activation have start_no (0.2.0), or is the database still on
 * the 0.1.0 schema?  On a change, the kept path plans are dropped so that
 * they are prepared again from the matching text.  Inside SPI.
 */
static void
detect_schema(void)
{
	Oid			nsp = get_namespace_oid(PGR_SCHEMA, true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("activation", nsp) : InvalidOid;
	int			variant;

	variant = (OidIsValid(rel) && get_attnum(rel, "start_no") != InvalidAttrNumber) ? 0 : 1;
	if (variant == schema_variant)
		return;
	if (plan_path != NULL)
	{
		SPI_freeplan(plan_path);
		plan_path = NULL;
	}
	if (plan_all != NULL)
	{
		SPI_freeplan(plan_all);
		plan_all = NULL;
	}
	schema_variant = variant;
}

/*
 * Make the metadata tables (components, flags) exist.  Only inside a
 * computation (compute_depth > 0), after its snapshot was taken: an
 * invalidation taken in from here on is deferred to compute_end().
 */
static void
meta_ensure(void)
{
	HASHCTL		ctl;

	Assert(compute_depth > 0);
	cache_contexts_ensure();
	if (nwatched == 0 || schema_variant < 0)
	{
		record_watched();
		detect_schema();
	}
	if (components == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = ID_LEN;
		ctl.entrysize = sizeof(ComponentInfo);
		ctl.hcxt = MetaContext;
		components = hash_create("pg_rollout components", 64, &ctl,
								 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	if (flags == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = ID_LEN;
		ctl.entrysize = sizeof(FlagInfo);
		ctl.hcxt = MetaContext;
		flags = hash_create("pg_rollout flags", 64, &ctl,
							HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
}

/* Make the answers table exist (no catalog access, no invalidation). */
static void
answers_ensure(void)
{
	HASHCTL		ctl;

	if (answers != NULL)
		return;
	cache_contexts_ensure();
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(CacheKey);
	ctl.entrysize = sizeof(CacheEntry);
	ctl.hash = cache_key_hash;
	ctl.match = cache_key_match;
	ctl.keycopy = cache_key_copy;
	ctl.hcxt = AnswerContext;
	answers = hash_create("pg_rollout resolved answers", Min(Max(pgr_resolve_cache_size, 16), 1024),
						  &ctl, HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_KEYCOPY | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(SubjectKey);
	ctl.entrysize = sizeof(SubjectRec);
	ctl.hcxt = AnswerContext;
	subjects = hash_create("pg_rollout answered subjects", 16, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * GUC assign hook of pg_rollout.resolve_cache_size: a limit below the
 * number of answers held empties the answers now, releasing their memory
 * (0 releases them all).  Answers are not in use while a GUC is assigned.
 */
static void
assign_resolve_cache_size(int newval, void *extra)
{
	if (answers != NULL && hash_get_num_entries(answers) > newval)
		answers_clear();
}

/* The same for pg_rollout.resolve_tenant_cache_size and the tenant rows. */
static void
assign_resolve_tenant_cache_size(int newval, void *extra)
{
	if (tenant_rows != NULL && hash_get_num_entries(tenant_rows) > newval)
	{
		if (compute_depth > 0)
			tenant_reset_pending = true;
		else
			tenant_rows_clear();
	}
}

/* ------------------------------------------------------------------------
 * SPI helpers
 * ------------------------------------------------------------------------
 */

static SPIPlanPtr
keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		/*
		 * A generic plan: a custom one would be planned again on every call
		 * (the planner estimates the path from the parameter's value, which
		 * always makes the custom plan look cheaper), costing more than
		 * the query itself.
		 */
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "pg_rollout: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "pg_rollout: SPI_keepplan failed");
		*slot = p;
	}
	return *slot;
}

/* Run a kept plan read-only with the given snapshot. */
static void
run_plan(SPIPlanPtr plan, Datum *values, const char *nulls, Snapshot snap, long count)
{
	int			rc = SPI_execute_snapshot(plan, values, nulls, snap, InvalidSnapshot,
										  true, false, count);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "pg_rollout: resolution query failed: %s", SPI_result_code_string(rc));
}

static char *
col_text(HeapTuple tup, TupleDesc desc, int col, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	if (isnull)
		return NULL;
	return MemoryContextStrdup(cxt, TextDatumGetCString(d));
}

static Datum
col_semver(HeapTuple tup, TupleDesc desc, int col, bool *isnull, MemoryContext cxt)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);
	MemoryContext old;

	if (*isnull)
		return (Datum) 0;
	old = MemoryContextSwitchTo(cxt);
	d = datumCopy(d, false, -1);
	MemoryContextSwitchTo(old);
	return d;
}

static bool
col_bool(HeapTuple tup, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);

	return *isnull ? false : DatumGetBool(d);
}

/*
 * A fresh snapshot, after accepting pending invalidations; the epoch of
 * component's slot (NULL: none) is read in between (load_component()).
 */
static Snapshot
fresh_snapshot(const char *component)
{
	Snapshot	snap;

	AcceptInvalidationMessages();
	snap_epoch_read(component);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scoped_check();				/* only outside a computation: data not in use */
	return snap;
}

/* ------------------------------------------------------------------------
 * Loading channels, components and flags (inside SPI)
 * ------------------------------------------------------------------------
 */

/* The channels, in order, cached in MetaContext. */
static void
load_channels(Snapshot snap)
{
	MemoryContext old;
	Channel    *loaded;

	if (nchannels >= 0)
		return;
	keep_plan(&plan_channels,
			  "SELECT c.channel_id, c.ordinal, c.eligibility, c.is_default FROM rollout.channel c ORDER BY c.ordinal",
			  0, NULL);
	run_plan(plan_channels, NULL, NULL, snap, 0);
	old = MemoryContextSwitchTo(MetaContext);
	loaded = palloc0(sizeof(Channel) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *elig = col_text(tup, desc, 3, MetaContext);

		loaded[i].id = col_text(tup, desc, 1, MetaContext);
		loaded[i].ordinal = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		loaded[i].eligibility = strcmp(elig, "all") == 0 ? 'a' :
			strcmp(elig, "test_tenants") == 0 ? 't' :
			strcmp(elig, "opt_in") == 0 ? 'o' : 's';
		loaded[i].is_default = col_bool(tup, desc, 4, &isnull);
	}
	MemoryContextSwitchTo(old);
	{
		int			count = (int) SPI_processed;
		bool		isnull;

		/* whether any tenant opted in or out: if none, misses skip that probe */
		keep_plan(&plan_choices,
				  "SELECT EXISTS (SELECT FROM rollout.channel_choice)", 0, NULL);
		run_plan(plan_choices, NULL, NULL, snap, 1);
		choices_exist = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		/* published only once complete */
		channels = loaded;
		nchannels = count;
	}
}

static int
channel_index(const char *id)
{
	for (int i = 0; i < nchannels; i++)
		if (strcmp(channels[i].id, id) == 0)
			return i;
	return -1;
}

static void
raise_unknown_component(const char *id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("component \"%s\" does not exist", id)));
}

static void
raise_unknown_flag(const char *id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("flag \"%s\" does not exist", id)));
}

/*
 * The data of a component: default version, channel releases and the
 * binding of its latest live feature_flag rollout, cached in MetaContext.
 * The entry is entered only once complete: an error (or a cancel) between
 * the queries leaves no half-filled entry behind.
 */
static ComponentInfo *
load_component(const char *id, Snapshot snap)
{
	ComponentInfo *ci;
	ComponentInfo info;
	bool		isnull;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	if (strlen(id) >= ID_LEN)
		raise_unknown_component(id);
	ci = hash_search(components, id, HASH_FIND, NULL);
	if (ci != NULL)
		return ci;

	values[0] = CStringGetTextDatum(id);
	keep_plan(&plan_component,
			  "SELECT c.default_version FROM rollout.component c WHERE c.component_id OPERATOR(pg_catalog.=) $1",
			  1, argtypes);
	run_plan(plan_component, values, NULL, snap, 1);
	if (SPI_processed == 0)
		raise_unknown_component(id);

	memset(&info, 0, sizeof(info));
	strlcpy(info.id, id, ID_LEN);
	/* its own memory: dropped alone when a change to the component arrives */
	info.cxt = AllocSetContextCreate(MetaContext, "pg_rollout cached component", ALLOCSET_SMALL_SIZES);
	info.load_seq = ++component_loads;
	info.slot = epoch_slot(id);
	info.epoch = (snap_epoch_valid && snap_epoch_slot == info.slot) ? snap_epoch_value : 0;
	info.default_version = col_semver(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									  &isnull, info.cxt);
	info.has_default = !isnull;
	info.has_release = MemoryContextAllocZero(info.cxt, sizeof(bool) * Max(nchannels, 1));
	info.release = MemoryContextAllocZero(info.cxt, sizeof(Datum) * Max(nchannels, 1));

	keep_plan(&plan_releases,
			  "SELECT r.channel_id, r.version FROM rollout.channel_release r WHERE r.component_id OPERATOR(pg_catalog.=) $1",
			  1, argtypes);
	run_plan(plan_releases, values, NULL, snap, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *ch = col_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, CurrentMemoryContext);
		int			idx = channel_index(ch);

		if (idx < 0)
			continue;
		info.release[idx] = col_semver(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull, info.cxt);
		info.has_release[idx] = !isnull;
	}

	keep_plan(&plan_binding,
			  "SELECT r.flag_id, r.rollout_id, r.to_version FROM rollout.rollout r "
			  " WHERE r.component_id OPERATOR(pg_catalog.=) $1 AND r.strategy OPERATOR(pg_catalog.=) 'feature_flag' "
			  "   AND r.status OPERATOR(pg_catalog.=) ANY ('{running,paused,failed,completed}') "
			  " ORDER BY r.started_at DESC NULLS LAST LIMIT 1",
			  1, argtypes);
	run_plan(plan_binding, values, NULL, snap, 1);
	if (SPI_processed == 1)
	{
		info.flag_id = col_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, info.cxt);
		info.flag_rollout = col_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, info.cxt);
		info.flag_version = col_semver(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull, info.cxt);
	}

	/* the live rollout: its deferrals hold tenants back (at most one) */
	keep_plan(&plan_live,
			  "SELECT r.rollout_id, EXISTS (SELECT FROM rollout.deferral d "
			  "                              WHERE d.rollout_id OPERATOR(pg_catalog.=) r.rollout_id) "
			  "  FROM rollout.rollout r "
			  " WHERE r.component_id OPERATOR(pg_catalog.=) $1 "
			  "   AND r.status OPERATOR(pg_catalog.=) ANY ('{running,paused,failed}') LIMIT 1",
			  1, argtypes);
	run_plan(plan_live, values, NULL, snap, 1);
	if (SPI_processed == 1)
	{
		info.live_rollout = col_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, info.cxt);
		info.live_deferrals = col_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	}

	/*
	 * The start order of its latest started rollout: no activation of the
	 * component ranks above it (activation.start_no is its rollout's, and
	 * a start, insertion or deletion of a rollout invalidates every cache).
	 */
	info.max_start_no = -1;
	if (schema_variant == 0)
	{
		keep_plan(&plan_max_start,
				  "SELECT pg_catalog.max(r.start_no) FROM rollout.rollout r WHERE r.component_id OPERATOR(pg_catalog.=) $1",
				  1, argtypes);
		run_plan(plan_max_start, values, NULL, snap, 1);
		if (SPI_processed == 1)
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				info.max_start_no = DatumGetInt32(d);
		}
	}

	/* the pins, if few: a miss then looks them up here, not in the index */
	keep_plan(&plan_pins,
			  "SELECT p.tenant_id, p.version FROM rollout.pin p WHERE p.component_id OPERATOR(pg_catalog.=) $1 "
			  " LIMIT " CppAsString2(PIN_CACHE_MAX) " + 1",
			  1, argtypes);
	run_plan(plan_pins, values, NULL, snap, 0);
	if (SPI_processed <= PIN_CACHE_MAX)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = ID_LEN;
		ctl.entrysize = sizeof(PinEntry);
		ctl.hcxt = info.cxt;
		info.pins = hash_create("pg_rollout pins of a component", Max(SPI_processed, 8), &ctl,
								HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *tenant = col_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, CurrentMemoryContext);
			Datum		v = col_semver(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull, info.cxt);
			PinEntry   *pe;

			if (tenant == NULL || isnull || strlen(tenant) >= ID_LEN)
				continue;
			pe = hash_search(info.pins, tenant, HASH_ENTER, NULL);
			pe->version = v;
		}
	}

	ci = hash_search(components, id, HASH_ENTER, NULL);
	*ci = info;
	return ci;
}

/* The data of a flag, cached in MetaContext (entered once complete). */
static FlagInfo *
load_flag(const char *id, Snapshot snap)
{
	FlagInfo   *fi;
	FlagInfo	info;
	bool		isnull;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	HeapTuple	tup;
	TupleDesc	desc;

	if (strlen(id) >= ID_LEN)
		raise_unknown_flag(id);
	fi = hash_search(flags, id, HASH_FIND, NULL);
	if (fi != NULL)
		return fi;
	values[0] = CStringGetTextDatum(id);
	keep_plan(&plan_flag,
			  "SELECT f.default_enabled, f.killed, r.component_id, r.rollout_id FROM rollout.flag f "
			  "  LEFT JOIN LATERAL (SELECT x.component_id, x.rollout_id FROM rollout.rollout x "
			  "                      WHERE x.flag_id OPERATOR(pg_catalog.=) f.flag_id "
			  "                        AND x.status OPERATOR(pg_catalog.=) ANY ('{running,paused,failed,completed}') "
			  "                      ORDER BY x.started_at DESC NULLS LAST LIMIT 1) r ON true "
			  " WHERE f.flag_id OPERATOR(pg_catalog.=) $1",
			  1, argtypes);
	run_plan(plan_flag, values, NULL, snap, 1);
	if (SPI_processed == 0)
		raise_unknown_flag(id);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	memset(&info, 0, sizeof(info));
	strlcpy(info.id, id, ID_LEN);
	info.default_enabled = col_bool(tup, desc, 1, &isnull);
	info.killed = col_bool(tup, desc, 2, &isnull);
	info.component = col_text(tup, desc, 3, MetaContext);
	info.rollout = col_text(tup, desc, 4, MetaContext);
	fi = hash_search(flags, id, HASH_ENTER, NULL);
	*fi = info;
	return fi;
}

/* Fill a Level from a row of the path queries. */
static void
level_from_tuple(Level *lv, HeapTuple tup, TupleDesc desc, MemoryContext cxt)
{
	bool		isnull;
	bool		b;

	lv->tenant_id = col_text(tup, desc, 1, cxt);
	lv->active = col_bool(tup, desc, 3, &isnull);
	lv->channel_id = col_text(tup, desc, 4, cxt);
	lv->test_tenant = col_bool(tup, desc, 5, &isnull);
	lv->pin = col_semver(tup, desc, 6, &isnull, cxt);
	lv->has_pin = !isnull;
	lv->act = col_semver(tup, desc, 7, &isnull, cxt);
	lv->has_act = !isnull;
	lv->act_rollout = col_text(tup, desc, 8, cxt);
	lv->act_stage = lv->has_act ? DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull)) : 0;
	lv->choices = col_text(tup, desc, 10, cxt);
	b = col_bool(tup, desc, 11, &isnull);
	lv->flag_override = isnull ? -1 : (b ? 1 : 0);
	lv->flag_killed = col_bool(tup, desc, 12, &isnull);
	lv->act_rank = 0;
	if (lv->has_act)
	{
		Datum		d = SPI_getbinval(tup, desc, 13, &isnull);

		if (!isnull)
			lv->act_rank = SPI_gettypeid(desc, 13) == TIMESTAMPTZOID ?
				(int64) DatumGetTimestampTz(d) : DatumGetInt64(d);
	}
	lv->deferred = col_bool(tup, desc, 14, &isnull);
}

/*
 * Read the path of a tenant (root first) with the data of one component and
 * one flag (either may be NULL).  Raises 42704 for an unknown tenant.
 */
static int
load_path(const char *tenant, const char *component, const char *flag, const char *live,
		  Snapshot snap, Level *levels, MemoryContext cxt)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			n;

	values[0] = CStringGetTextDatum(tenant);
	values[1] = component ? CStringGetTextDatum(component) : (Datum) 0;
	values[2] = flag ? CStringGetTextDatum(flag) : (Datum) 0;
	if (!component)
		nulls[1] = 'n';
	if (!flag)
		nulls[2] = 'n';
	values[3] = live ? CStringGetTextDatum(live) : (Datum) 0;
	if (!live)
		nulls[3] = 'n';
	keep_plan(&plan_path, sql_path[schema_variant], 4, argtypes);
	run_plan(plan_path, values, nulls, snap, 0);
	n = (int) Min(SPI_processed, MAX_DEPTH);
	for (int i = 0; i < n; i++)
		level_from_tuple(&levels[i], SPI_tuptable->vals[i], SPI_tuptable->tupdesc, cxt);
	return n;
}

/* ------------------------------------------------------------------------
 * Direct reads: a miss answered by index probes, without SPI
 *
 * The levels of one path are read by probing the primary keys of the
 * tables the path query joins: the tenant and its ancestors (read
 * index-only from tenant_resolve_idx, each row naming its parent), with
 * their channel choices (kept across misses: "The tenant rows"), then per
 * level the pin, the activation, the flag setting
 * and the deferral by the live rollout, with the snapshot of the miss and
 * the caller's SELECT privileges, like the query.  A probe whose answer
 * cannot change the result is skipped: pins above the nearest one (it
 * decides), everything but the tenants once a pin decides a version,
 * deferrals when the live rollout has none, choices when no tenant has any,
 * flag settings when no flag is bound, an ancestor's activation and
 * deferral already read for the component (AncestorMemo), and every
 * ancestor when the tenant's own activation decides alone
 * (own_activation_decides).
 * resolve_levels() decides on the levels exactly as for the query (which
 * the 0.1.0 schema still uses).
 * ------------------------------------------------------------------------
 */

/* One relation read through its primary key (columns in key order). */
typedef struct DirectRel
{
	Oid			relid;
	Oid			pkey;
	int			nkeys;
	Oid			collation[2];
	AttrNumber	att[6];			/* the columns read, per table below */
} DirectRel;

enum
{
	DR_TENANT, DR_PIN, DR_ACTIVATION, DR_FLAG_SETTING, DR_DEFERRAL, DR_CHOICE, DR_COUNT
};

static const struct
{
	const char *table;
	int			nkeys;
	const char *keys[2];
	const char *cols[6];
}			direct_def[DR_COUNT] = {
	{"tenant", 1, {"tenant_id"}, {"tenant_id", "path", "status", "channel_id", "test_tenant", "parent_id"}},
	{"pin", 2, {"component_id", "tenant_id"}, {"version"}},
	{"activation", 2, {"component_id", "tenant_id"}, {"version", "rollout_id", "stage_no", "start_no"}},
	{"flag_setting", 2, {"flag_id", "tenant_id"}, {"enabled", "killed"}},
	{"deferral", 2, {"rollout_id", "tenant_id"}, {NULL}},
	{"channel_choice", 2, {"tenant_id", "channel_id"}, {"channel_id", "choice"}},
};

static DirectRel direct_rels[DR_COUNT];
static Oid	direct_path_index = InvalidOid;	/* tenant_path_idx: rollout.tenant (path) */

/*
 * tenant_resolve_idx: rollout.tenant (tenant_id) INCLUDE (parent_id, status,
 * channel_id, test_tenant), what a miss reads of a tenant row, in this
 * order (RESOLVE_IDX_COLS: the heap columns of direct_def[DR_TENANT].cols).
 */
static Oid	direct_resolve_index = InvalidOid;
static Oid	direct_resolve_collation = InvalidOid;
#define RESOLVE_IDX_NATTS 5
static const int resolve_idx_cols[RESOLVE_IDX_NATTS] = {0, 5, 2, 3, 4};

/*
 * Find the tables, their primary keys and columns.  Catalog look-ups only
 * (inside a computation: an invalidation is deferred); a primary key that
 * does not lead with the expected columns is an error, not a wrong answer.
 */
static void
direct_load(void)
{
	Oid			nsp = get_namespace_oid(PGR_SCHEMA, false);

	for (int t = 0; t < DR_COUNT; t++)
	{
		DirectRel  *dr = &direct_rels[t];
		Relation	rel;
		Relation	idx;
		Oid			relid = get_relname_relid(direct_def[t].table, nsp);

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation \"%s.%s\" does not exist", PGR_SCHEMA, direct_def[t].table)));
		rel = table_open(relid, AccessShareLock);
		dr->relid = relid;
		dr->pkey = RelationGetPrimaryKeyIndex(rel);
		dr->nkeys = direct_def[t].nkeys;
		if (!OidIsValid(dr->pkey))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("relation \"%s.%s\" has no primary key", PGR_SCHEMA, direct_def[t].table)));
		idx = index_open(dr->pkey, AccessShareLock);
		for (int k = 0; k < dr->nkeys; k++)
		{
			AttrNumber	att = get_attnum(relid, direct_def[t].keys[k]);

			if (att == InvalidAttrNumber || idx->rd_index->indnkeyatts <= k ||
				idx->rd_index->indkey.values[k] != att ||
				TupleDescAttr(RelationGetDescr(rel), att - 1)->atttypid != TEXTOID)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("primary key of relation \"%s.%s\" does not lead with column \"%s\"",
								PGR_SCHEMA, direct_def[t].table, direct_def[t].keys[k])));
			dr->collation[k] = idx->rd_indcollation[k];
		}
		for (int c = 0; c < 6 && direct_def[t].cols[c]; c++)
		{
			dr->att[c] = get_attnum(relid, direct_def[t].cols[c]);
			if (dr->att[c] == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relation \"%s.%s\" does not exist",
								direct_def[t].cols[c], PGR_SCHEMA, direct_def[t].table)));
		}
		index_close(idx, AccessShareLock);
		table_close(rel, AccessShareLock);
	}
	/* the pre-order index of the tenants, for bulk resolution */
	direct_path_index = get_relname_relid("tenant_path_idx", nsp);
	{
		Relation	idx;
		bool		ok;

		if (!OidIsValid(direct_path_index))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("index \"%s.tenant_path_idx\" does not exist", PGR_SCHEMA)));
		idx = index_open(direct_path_index, AccessShareLock);
		ok = idx->rd_index->indrelid == direct_rels[DR_TENANT].relid &&
			idx->rd_index->indnkeyatts == 1 &&
			idx->rd_index->indkey.values[0] == direct_rels[DR_TENANT].att[1] &&
			idx->rd_rel->relam == BTREE_AM_OID;
		index_close(idx, AccessShareLock);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("index \"%s.tenant_path_idx\" is not a btree index on rollout.tenant (path)", PGR_SCHEMA)));
	}
	/*
	 * The covering index of the tenant rows, for misses.  Not there, not
	 * valid or not of that shape (dropped, being built, made differently by
	 * hand), or not yet usable for every snapshot (indcheckxmin, as the
	 * planner checks): misses read the rows through the primary key and the
	 * table instead (direct_resolve_index stays invalid).
	 */
	direct_resolve_index = InvalidOid;
	{
		Oid			ri = get_relname_relid("tenant_resolve_idx", nsp);
		Relation	idx;
		bool		ok;

		if (OidIsValid(ri))
		{
			idx = index_open(ri, AccessShareLock);
			ok = idx->rd_index->indrelid == direct_rels[DR_TENANT].relid &&
				idx->rd_index->indisvalid &&
				idx->rd_index->indnkeyatts == 1 &&
				idx->rd_index->indnatts == RESOLVE_IDX_NATTS &&
				idx->rd_rel->relam == BTREE_AM_OID &&
				RelationGetIndexPredicate(idx) == NIL &&
				RelationGetIndexExpressions(idx) == NIL &&
				(!idx->rd_index->indcheckxmin ||
				 TransactionIdPrecedes(HeapTupleHeaderGetXmin(idx->rd_indextuple->t_data),
									   TransactionXmin));
			for (int k = 0; ok && k < RESOLVE_IDX_NATTS; k++)
				ok = idx->rd_index->indkey.values[k] == direct_rels[DR_TENANT].att[resolve_idx_cols[k]];
			if (ok)
			{
				direct_resolve_index = ri;
				direct_resolve_collation = idx->rd_indcollation[0];
			}
			index_close(idx, AccessShareLock);
		}
	}
	direct_loaded = true;
}

/* An open primary-key scan, rescanned for every key. */
typedef struct Probe
{
	DirectRel  *dr;
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int			nkeys;			/* key columns compared */
	ScanKeyData key[2];
	bool		ios;			/* index-only (tenant_resolve_idx: tenant_probe) */
	Buffer		vmbuf;			/* visibility map page, when ios */
	Snapshot	snap;
} Probe;

static void
probe_open(Probe *p, int which, int nkeys, Snapshot snap)
{
	DirectRel  *dr = &direct_rels[which];
	AclResult	acl = pg_class_aclcheck(dr->relid, GetUserId(), ACL_SELECT);

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, direct_def[which].table);
	p->dr = dr;
	p->rel = table_open(dr->relid, AccessShareLock);
	p->idx = index_open(dr->pkey, AccessShareLock);
	p->slot = table_slot_create(p->rel, NULL);
	Assert(nkeys >= 1 && nkeys <= dr->nkeys);
	p->nkeys = nkeys;
	p->scan = index_beginscan(p->rel, p->idx, snap, nkeys, 0);
	p->ios = false;
	p->vmbuf = InvalidBuffer;
	p->snap = snap;
	for (int k = 0; k < nkeys; k++)
		ScanKeyEntryInitialize(&p->key[k], 0, k + 1, BTEqualStrategyNumber, InvalidOid,
							   dr->collation[k], F_TEXTEQ, (Datum) 0);
}

/* Position on the first row with these keys (the second one if opened with two); found? */
static bool
probe(Probe *p, Datum k1, Datum k2)
{
	p->key[0].sk_argument = k1;
	p->key[1].sk_argument = k2;
	index_rescan(p->scan, p->key, p->nkeys, NULL, 0);
	return index_getnext_slot(p->scan, ForwardScanDirection, p->slot);
}

static bool
probe_next(Probe *p)
{
	return index_getnext_slot(p->scan, ForwardScanDirection, p->slot);
}

static void
probe_close(Probe *p)
{
	if (p->rel == NULL)
		return;
	index_endscan(p->scan);
	if (BufferIsValid(p->vmbuf))
		ReleaseBuffer(p->vmbuf);
	ExecDropSingleTupleTableSlot(p->slot);
	/* the locks are kept to the end of the transaction, as the executor does */
	index_close(p->idx, NoLock);
	table_close(p->rel, NoLock);
	p->rel = NULL;
}

static char *
slot_text(TupleTableSlot *slot, AttrNumber att, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, att, &isnull);

	return isnull ? NULL : MemoryContextStrdup(cxt, TextDatumGetCString(d));
}

static Datum
copy_semver(Datum v, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	v = datumCopy(v, false, -1);
	MemoryContextSwitchTo(old);
	return v;
}

/* ------------------------------------------------------------------------
 * The tenant rows
 *
 * A tenant's own row (path, status, channel, test tenant, channel choices)
 * changes far more rarely than what is resolved for it (activations, pins,
 * flags, releases), and every tenant of a subtree shares its ancestors'
 * rows.  Misses keep the rows they read in tenant_rows (TenantContext), up
 * to pg_rollout.resolve_tenant_cache_size rows (full: emptied before the
 * next miss reads, as the answers; 0: the rows of a miss are dropped when
 * it ends).  Only an invalidation of rollout.tenant or
 * rollout.channel_choice (or a reset of all) drops them: a miss after an
 * activation, pin, flag or release change reads only the component's rows
 * per level.  The rules of the answers hold: a row read by a computation
 * during which a relevant invalidation arrived is dropped when it ends
 * (tenant_reset_pending).  The caller's SELECT privilege on the tables is
 * checked on every miss, as a probe would.
 * ------------------------------------------------------------------------
 */

static void
direct_acl(int which)
{
	AclResult	acl = pg_class_aclcheck(direct_rels[which].relid, GetUserId(), ACL_SELECT);

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, direct_def[which].table);
}

static bool text_equals(Datum d, const char *s, size_t slen);

/* What a miss reads of one tenant row. */
typedef struct TenantFields
{
	bool		has_parent;
	char		parent[ID_LEN];
	bool		active;
	bool		test_tenant;
	char	   *channel_id;		/* in TenantContext, or NULL */
} TenantFields;

/* Copy the fields from their datums (index or table columns). */
static void
tenant_fields_set(TenantFields *f, Datum parent, bool parent_null, Datum status, bool status_null,
				  Datum channel, bool channel_null, Datum test, bool test_null)
{
	f->has_parent = !parent_null;
	if (!parent_null)
	{
		if (VARSIZE_ANY_EXHDR(DatumGetPointer(parent)) >= ID_LEN)
			elog(ERROR, "pg_rollout: parent id longer than %d bytes", ID_LEN - 1);
		text_to_cstring_buffer((text *) DatumGetPointer(parent), f->parent, ID_LEN);
	}
	f->active = !status_null && text_equals(status, "active", 6);
	f->test_tenant = !test_null && DatumGetBool(test);
	f->channel_id = channel_null ? NULL :
		MemoryContextStrdup(TenantContext, TextDatumGetCString(channel));
}

/*
 * Open the scan that reads tenant rows: index-only on tenant_resolve_idx
 * when it is usable (direct_load), else the primary key and the table.
 */
static void
tenant_probe_open(Probe *p, Snapshot snap)
{
	if (!OidIsValid(direct_resolve_index))
	{
		probe_open(p, DR_TENANT, 1, snap);
		return;
	}
	direct_acl(DR_TENANT);
	p->dr = &direct_rels[DR_TENANT];
	p->rel = table_open(p->dr->relid, AccessShareLock);
	p->idx = index_open(direct_resolve_index, AccessShareLock);
	p->slot = table_slot_create(p->rel, NULL);
	p->nkeys = 1;
	p->scan = index_beginscan(p->rel, p->idx, snap, 1, 0);
	p->scan->xs_want_itup = true;
	p->ios = true;
	p->vmbuf = InvalidBuffer;
	p->snap = snap;
	ScanKeyEntryInitialize(&p->key[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   direct_resolve_collation, F_TEXTEQ, (Datum) 0);
}

/*
 * Read the row of tenant id (a text datum) into *f; found?  Index-only as
 * the executor's index-only scan does it: the index tuple's columns when
 * the heap page is all-visible (with the predicate lock of the page), else
 * the visible row of the table.
 */
static bool
tenant_probe(Probe *p, Datum id, TenantFields *f)
{
	ItemPointer tid;
	Datum		d[RESOLVE_IDX_NATTS];
	bool		nulls[RESOLVE_IDX_NATTS];
	const AttrNumber *att = p->dr->att;

	if (!p->ios)
	{
		if (!probe(p, id, 0))
			return false;
		for (int k = 1; k < RESOLVE_IDX_NATTS; k++)
			d[k] = slot_getattr(p->slot, att[resolve_idx_cols[k]], &nulls[k]);
		tenant_fields_set(f, d[1], nulls[1], d[2], nulls[2], d[3], nulls[3], d[4], nulls[4]);
		return true;
	}
	p->key[0].sk_argument = id;
	index_rescan(p->scan, p->key, 1, NULL, 0);
	while ((tid = index_getnext_tid(p->scan, ForwardScanDirection)) != NULL)
	{
		BlockNumber blk = ItemPointerGetBlockNumber(tid);

		if (!VM_ALL_VISIBLE(p->rel, blk, &p->vmbuf))
		{
			if (!index_fetch_heap(p->scan, p->slot))
				continue;		/* not visible to the snapshot: the next one */
			for (int k = 1; k < RESOLVE_IDX_NATTS; k++)
				d[k] = slot_getattr(p->slot, att[resolve_idx_cols[k]], &nulls[k]);
		}
		else
		{
			if (p->scan->xs_itup == NULL)
				elog(ERROR, "pg_rollout: index-only read of tenant_resolve_idx returned no tuple");
			index_deform_tuple(p->scan->xs_itup, p->scan->xs_itupdesc, d, nulls);
			PredicateLockPage(p->rel, blk, p->snap);
		}
		tenant_fields_set(f, d[1], nulls[1], d[2], nulls[2], d[3], nulls[3], d[4], nulls[4]);
		return true;
	}
	return false;
}

/* Fill a cached row (its id, parent and depth set) from f, and its choices. */
static void
tenant_row_fill(TenantRow *r, const TenantFields *f, Probe *cp)
{
	MemoryContext old = MemoryContextSwitchTo(TenantContext);

	r->active = f->active;
	r->channel_id = f->channel_id;
	r->test_tenant = f->test_tenant;
	r->idt = cstring_to_text(r->id);
	r->choices = NULL;
	MemoryContextSwitchTo(old);
	if (cp != NULL && probe(cp, PointerGetDatum(r->idt), 0))
	{
		StringInfoData buf;

		initStringInfo(&buf);
		do
		{
			char	   *ch = slot_text(cp->slot, cp->dr->att[0], CurrentMemoryContext);
			char	   *choice = slot_text(cp->slot, cp->dr->att[1], CurrentMemoryContext);

			if (ch == NULL || choice == NULL)
				continue;
			if (buf.len > 0)
				appendStringInfoChar(&buf, ';');
			appendStringInfo(&buf, "%s=%s", ch, choice);
		} while (probe_next(cp));
		r->choices = MemoryContextStrdup(TenantContext, buf.data);
		pfree(buf.data);
	}
}

/*
 * The row of a tenant, with its ancestors', from the cache or read (and
 * kept).  Inside a computation (compute_depth > 0), after its snapshot.
 * Raises 42704 for an unknown tenant, like rollout.tenant_path().
 *
 * A miss reads the tenant's row, then its parent's, and so on up to the
 * nearest cached ancestor (or a root): one index-only probe of
 * tenant_resolve_idx per level read, and none of the table's wide rows.
 * The rows read are entered root first, each under its cached parent, so
 * a cached row's ancestors are all cached too and depth = parent's + 1.
 * A cached ancestor is as old as the last invalidation of rollout.tenant
 * taken in: a move committed since (visible to this snapshot, its
 * invalidation not yet sent) may be missed, as by any cached answer, until
 * that invalidation drops every row.
 */
static TenantRow *
tenant_row(const char *tenant, Snapshot snap)
{
	TenantRow  *r;
	TenantRow  *above = NULL;
	Probe		tp = {0};
	Probe		cp = {0};
	int			nread = 0;
	int			depth;
	bool		found;
	HASHCTL		ctl;
	TenantRow	chain[MAX_DEPTH];
	TenantFields f[MAX_DEPTH];

	Assert(compute_depth > 0);
	if (!direct_loaded)
		direct_load();
	direct_acl(DR_TENANT);
	if (strlen(tenant) >= ID_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant \"%s\" does not exist", tenant)));
	if (pgr_resolve_tenant_cache_size <= 0)
		tenant_reset_pending = true;	/* this miss's rows only */
	if (tenant_rows != NULL)
	{
		r = hash_search(tenant_rows, tenant, HASH_FIND, NULL);
		if (r != NULL)
			return r;
		/* full: start over, unless an outer computation still uses rows */
		if (pgr_resolve_tenant_cache_size > 0 && compute_depth == 1 &&
			hash_get_num_entries(tenant_rows) + MAX_DEPTH > pgr_resolve_tenant_cache_size)
			tenant_rows_clear();
	}
	if (tenant_rows == NULL)
	{
		cache_contexts_ensure();
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = ID_LEN;
		ctl.entrysize = sizeof(TenantRow);
		ctl.hcxt = TenantContext;
		tenant_rows = hash_create("pg_rollout tenant rows",
								  Min(Max(pgr_resolve_tenant_cache_size, 16), 1024), &ctl,
								  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}

	/* the tenant's row, then its parent's, ..., up to a cached one or a root */
	tenant_probe_open(&tp, snap);
	if (choices_exist)
		probe_open(&cp, DR_CHOICE, 1, snap);
	for (const char *id = tenant;;)
	{
		if (nread == MAX_DEPTH)
			elog(ERROR, "pg_rollout: tenant depth out of range above \"%s\"", tenant);
		if (!tenant_probe(&tp, CStringGetTextDatum(id), &f[nread]))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("tenant \"%s\" does not exist", id)));
		memset(&chain[nread], 0, sizeof(TenantRow));
		strlcpy(chain[nread].id, id, ID_LEN);
		id = f[nread].parent;
		if (!f[nread++].has_parent)
			break;
		above = hash_search(tenant_rows, id, HASH_FIND, NULL);
		if (above != NULL)
			break;
	}
	depth = above ? above->depth : 0;
	if (depth + nread > MAX_DEPTH)
		elog(ERROR, "pg_rollout: tenant depth %d out of range", depth + nread);

	/* entered root first, each once complete */
	for (int i = nread - 1; i >= 0; i--)
	{
		chain[i].parent = above;
		chain[i].depth = ++depth;
		tenant_row_fill(&chain[i], &f[i], cp.rel ? &cp : NULL);
		r = hash_search(tenant_rows, chain[i].id, HASH_ENTER, &found);
		*r = chain[i];
		above = r;
	}
	probe_close(&cp);
	probe_close(&tp);
	return above;
}

/* A version kept for ancestors, held once per component (few versions). */
static Datum
memo_intern_version(ComponentInfo *ci, Datum v)
{
	Pointer		p = DatumGetPointer(v);
	Size		len = VARSIZE_ANY(p);
	ListCell   *lc;
	MemoryContext old;
	Pointer		copy;

	foreach(lc, ci->interned)
	{
		Pointer		q = lfirst(lc);

		if (q[0] == 'v' && VARSIZE_ANY(q + MAXALIGN(1)) == len && memcmp(q + MAXALIGN(1), p, len) == 0)
			return PointerGetDatum(q + MAXALIGN(1));
	}
	old = MemoryContextSwitchTo(ci->cxt);
	copy = palloc(MAXALIGN(1) + len);
	copy[0] = 'v';
	memcpy(copy + MAXALIGN(1), p, len);
	ci->interned = lappend(ci->interned, copy);
	MemoryContextSwitchTo(old);
	return PointerGetDatum(copy + MAXALIGN(1));
}

/* A rollout id kept for ancestors, held once per component. */
static const char *
memo_intern_text(ComponentInfo *ci, const char *t)
{
	ListCell   *lc;
	MemoryContext old;
	char	   *copy;

	foreach(lc, ci->interned)
	{
		char	   *q = lfirst(lc);

		if (q[0] == 't' && strcmp(q + 1, t) == 0)
			return q + 1;
	}
	old = MemoryContextSwitchTo(ci->cxt);
	copy = psprintf("t%s", t);
	ci->interned = lappend(ci->interned, copy);
	MemoryContextSwitchTo(old);
	return copy + 1;
}

/*
 * A miss decided by the tenant's own activation alone: when the component
 * has no pin and no bound flag, and the tenant's own activation is by the
 * component's latest started rollout (ci->max_start_no), no ancestor can
 * change the answer — no activation ranks above it, a tie goes to the
 * nearest level, deferrals only hold back activations of ancestors, and
 * the channel and default steps are not reached — so an active tenant's
 * answer is that activation, read with one probe of rollout.activation and
 * the tenant's row (cached, or one probe of tenant_resolve_idx, not kept:
 * a kept row needs its ancestors), without reading the ancestors.
 * Returns true with *ans set then; else false, with the activation read in
 * *own (own->has_act: found) for load_path_direct().  *ap (zeroed) is
 * opened on rollout.activation and left open for load_path_direct(); the
 * caller closes it.  The answer is the
 * one resolve_levels() gives on the whole path (regression test
 * 36_resolve_own_activation).  Not for the explain forms: they list every
 * candidate.
 */
static bool
own_activation_decides(const char *tenant, ComponentInfo *ci, const char *component, Snapshot snap,
					   Probe *ap, Level *own, Answer *ans, MemoryContext cxt)
{
	Datum		tenant_d;
	bool		isnull;
	bool		active;
	TenantRow  *r;

	memset(own, 0, sizeof(Level));
	if (strlen(tenant) >= ID_LEN)
		return false;			/* tenant_row() raises the error */
	if (!direct_loaded)
		direct_load();
	tenant_d = CStringGetTextDatum(tenant);
	probe_open(ap, DR_ACTIVATION, 2, snap);
	if (probe(ap, CStringGetTextDatum(component), tenant_d))
	{
		Datum		v = slot_getattr(ap->slot, ap->dr->att[0], &isnull);

		if (!isnull)
		{
			Datum		d;

			own->has_act = true;
			own->act = copy_semver(v, cxt);
			own->act_rollout = slot_text(ap->slot, ap->dr->att[1], cxt);
			d = slot_getattr(ap->slot, ap->dr->att[2], &isnull);
			own->act_stage = isnull ? 0 : DatumGetInt32(d);
			d = slot_getattr(ap->slot, ap->dr->att[3], &isnull);
			own->act_rank = isnull ? 0 : (int64) DatumGetInt32(d);
		}
	}
	if (!own->has_act || ci->max_start_no < 0 || own->act_rank < ci->max_start_no)
		return false;

	/* the tenant's status: rollouts apply to an active tenant only */
	direct_acl(DR_TENANT);
	r = tenant_rows != NULL ? hash_search(tenant_rows, tenant, HASH_FIND, NULL) : NULL;
	if (r != NULL)
		active = r->active;
	else
	{
		Probe		tp = {0};
		TenantFields f;
		bool		found;

		tenant_probe_open(&tp, snap);
		found = tenant_probe(&tp, tenant_d, &f);
		probe_close(&tp);
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("tenant \"%s\" does not exist", tenant)));
		active = f.active;
		if (f.channel_id != NULL)
			pfree(f.channel_id);
	}
	if (!active)
		return false;
	/* the path would have probed the live rollout's deferrals: its privilege */
	if (ci->live_deferrals && ci->live_rollout != NULL)
		direct_acl(DR_DEFERRAL);
	memset(ans, 0, sizeof(Answer));
	ans->isnull = false;
	ans->version = own->act;
	ans->source = SRC_ROLLOUT;
	ans->source_tenant = tenant;
	return true;
}

/*
 * The levels of a tenant's path (root first) for one component and one
 * flag (either may be NULL): the own rows of the tenant and its ancestors
 * (tenant_row(): usually cached; the levels point into the cache, valid to
 * the end of the computation), and per level the data of the component
 * and the flag.  With a component ci, a pin decides: levels above the
 * nearest pin are not read, nor, once a pin is found, anything else.  With
 * memo (the component's ComponentInfo, whose live rollout gave live), the
 * ancestors' activations and deferrals are taken from, or kept in, its
 * LevelMemo table.  Raises 42704 for an unknown tenant, like
 * rollout.tenant_path().  *path_ids receives the ids (as text datums).
 * own, if given, is the tenant's activation of the component, read before
 * (own_activation_decides): it is not read again; own_ap, if open, is the
 * activation probe it used, taken over (and closed) here.
 */
static int
load_path_direct(const char *tenant, ComponentInfo *ci, ComponentInfo *memo, const char *component,
				 const char *flag, const char *live, Snapshot snap, Level *levels, Datum **path_ids,
				 MemoryContext cxt, const Level *own, Probe *own_ap)
{
	Probe		pp = {0};
	Probe		ap = {0};
	Probe		fp = {0};
	Probe		dp = {0};
	Datum	   *ids;
	int			n;
	bool		pinned = false;
	TenantRow  *row;
	TenantRow  *rows[MAX_DEPTH];
	Datum		comp_d = component ? CStringGetTextDatum(component) : (Datum) 0;
	Datum		flag_d = flag ? CStringGetTextDatum(flag) : (Datum) 0;
	Datum		live_d = live ? CStringGetTextDatum(live) : (Datum) 0;

	/* the activation probe already open (own_activation_decides), if any */
	if (own_ap != NULL && own_ap->rel != NULL)
	{
		ap = *own_ap;
		own_ap->rel = NULL;		/* closed here */
	}
	/* the tenant and its ancestors, own rows included (tenant_row()) */
	row = tenant_row(tenant, snap);
	n = row->depth;
	ids = palloc(sizeof(Datum) * n);
	for (int i = n - 1; i >= 0; i--, row = row->parent)
	{
		Level	   *lv = &levels[i];

		rows[i] = row;

		Assert(row != NULL && row->depth == i + 1);
		memset(lv, 0, sizeof(Level));
		lv->tenant_id = row->id;
		lv->active = row->active;
		lv->channel_id = row->channel_id;
		lv->test_tenant = row->test_tenant;
		lv->choices = row->choices;
		lv->flag_override = -1;
		ids[i] = PointerGetDatum(row->idt);
	}
	*path_ids = ids;

	/* pins: the nearest decides a version, nothing else is read then */
	if (ci != NULL)
	{
		if (ci->pins != NULL)
		{
			/* all of its pins are in ci->pins: none, nothing to look up */
			for (int i = n - 1; i >= 0 && !pinned && hash_get_num_entries(ci->pins) > 0; i--)
			{
				PinEntry   *pe = strlen(levels[i].tenant_id) < ID_LEN ?
					hash_search(ci->pins, levels[i].tenant_id, HASH_FIND, NULL) : NULL;

				if (pe != NULL)
				{
					levels[i].pin = copy_semver(pe->version, cxt);
					levels[i].has_pin = pinned = true;
				}
			}
		}
		else
		{
			probe_open(&pp, DR_PIN, 2, snap);
			for (int i = n - 1; i >= 0 && !pinned; i--)
				if (probe(&pp, comp_d, ids[i]))
				{
					bool		isnull;
					Datum		v = slot_getattr(pp.slot, pp.dr->att[0], &isnull);

					if (isnull)
						continue;
					levels[i].pin = copy_semver(v, cxt);
					levels[i].has_pin = pinned = true;
				}
			probe_close(&pp);
		}
	}
	if (pinned)
	{
		probe_close(&ap);
		return n;
	}

	if (flag)
		probe_open(&fp, DR_FLAG_SETTING, 2, snap);
	for (int i = 0; i < n; i++)
	{
		Level	   *lv = &levels[i];
		bool		isnull;
		AncestorMemo *am = NULL;
		bool		keep = false;

		/* an ancestor's rows of the component, kept with its tenant row */
		if (component && memo != NULL && i < n - 1 && pgr_resolve_cache_size > 0)
		{
			AncestorMemo *slots = rows[i]->memo;

			for (int k = 0; k < ANCESTOR_SLOTS && am == NULL; k++)
				if (slots[k].seq == memo->load_seq)
					am = &slots[k];
			keep = (am == NULL);
		}
		if (own != NULL && i == n - 1)
		{
			/* the tenant's activation, read already (own_activation_decides) */
			lv->has_act = own->has_act;
			lv->act = own->act;
			lv->act_rollout = own->act_rollout;
			lv->act_stage = own->act_stage;
			lv->act_rank = own->act_rank;
			if (live)
			{
				if (dp.rel == NULL)
					probe_open(&dp, DR_DEFERRAL, 2, snap);
				lv->deferred = probe(&dp, live_d, ids[i]);
			}
		}
		else if (am != NULL)
		{
			lv->has_act = am->has_act;
			lv->act = am->act;
			lv->act_rollout = (char *) am->act_rollout;
			lv->act_stage = am->act_stage;
			lv->act_rank = am->act_rank;
			lv->deferred = am->deferred;
		}
		else if (component)
		{
			if (ap.rel == NULL)
				probe_open(&ap, DR_ACTIVATION, 2, snap);
			if (probe(&ap, comp_d, ids[i]))
			{
				Datum		v = slot_getattr(ap.slot, ap.dr->att[0], &isnull);

				if (!isnull)
				{
					Datum		d;

					lv->has_act = true;
					lv->act = keep ? memo_intern_version(memo, v) : copy_semver(v, cxt);
					lv->act_rollout = slot_text(ap.slot, ap.dr->att[1], cxt);
					if (keep && lv->act_rollout)
						lv->act_rollout = (char *) memo_intern_text(memo, lv->act_rollout);
					d = slot_getattr(ap.slot, ap.dr->att[2], &isnull);
					lv->act_stage = isnull ? 0 : DatumGetInt32(d);
					d = slot_getattr(ap.slot, ap.dr->att[3], &isnull);
					lv->act_rank = isnull ? 0 : (int64) DatumGetInt32(d);
				}
			}
			if (live)
			{
				if (dp.rel == NULL)
					probe_open(&dp, DR_DEFERRAL, 2, snap);
				lv->deferred = probe(&dp, live_d, ids[i]);
			}
			if (keep)
			{
				/* an empty slot, else the oldest goes (stale ones never match) */
				AncestorMemo *slots = rows[i]->memo;
				AncestorMemo *slot = NULL;

				for (int k = 0; k < ANCESTOR_SLOTS && slot == NULL; k++)
					if (slots[k].seq == 0)
						slot = &slots[k];
				if (slot == NULL)
				{
					memmove(&slots[0], &slots[1], sizeof(AncestorMemo) * (ANCESTOR_SLOTS - 1));
					slot = &slots[ANCESTOR_SLOTS - 1];
				}
				slot->has_act = lv->has_act;
				slot->act = lv->act;
				slot->act_rollout = lv->act_rollout;
				slot->act_stage = lv->act_stage;
				slot->act_rank = lv->act_rank;
				slot->deferred = lv->deferred;
				slot->seq = memo->load_seq; /* complete */
			}
		}
		if (flag && probe(&fp, flag_d, ids[i]))
		{
			Datum		d = slot_getattr(fp.slot, fp.dr->att[0], &isnull);

			lv->flag_override = isnull ? -1 : (DatumGetBool(d) ? 1 : 0);
			d = slot_getattr(fp.slot, fp.dr->att[1], &isnull);
			lv->flag_killed = !isnull && DatumGetBool(d);
		}
	}
	probe_close(&dp);
	probe_close(&fp);
	probe_close(&ap);
	return n;
}

/* ------------------------------------------------------------------------
 * The resolution rules
 * ------------------------------------------------------------------------
 */

static void
explain_add(List **explain, const char *source, const char *tenant, bool has_version, Datum version,
			int enabled, bool decided, char *detail)
{
	ExplainRow *row;

	if (explain == NULL)
		return;
	row = palloc0(sizeof(ExplainRow));
	row->source = source;
	row->tenant_id = tenant ? pstrdup(tenant) : NULL;
	row->has_version = has_version;
	row->version = has_version ? datumCopy(version, false, -1) : (Datum) 0;
	row->enabled = enabled;
	row->decided = decided;
	row->detail = detail;
	*explain = lappend(*explain, row);
}

static const char *
inherited_from(const Level *lv, int i, int n)
{
	return i == n - 1 ? "the tenant itself" : psprintf("ancestor \"%s\"", lv[i].tenant_id);
}

/* The choice recorded for a channel on a level: 'i' opt-in, 'o' opt-out, 0. */
static char
level_choice(const Level *lv, const char *channel)
{
	const char *p = lv->choices;
	size_t		len = strlen(channel);

	while (p != NULL && *p)
	{
		const char *end = strchr(p, ';');
		size_t		seg = end ? (size_t) (end - p) : strlen(p);

		if (seg > len && strncmp(p, channel, len) == 0 && p[len] == '=')
			return strncmp(p + len + 1, "opt_in", 6) == 0 ? 'i' : 'o';
		p = end ? end + 1 : NULL;
	}
	return 0;
}

/* The effective channel of the tenant at levels[n-1], or -1. */
static int
effective_channel(const Level *lv, int n, const char **followed_from)
{
	int			followed = -1;
	bool		is_test = false;

	*followed_from = NULL;
	for (int i = n - 1; i >= 0 && followed < 0; i--)
		if (lv[i].channel_id != NULL)
		{
			followed = channel_index(lv[i].channel_id);
			*followed_from = lv[i].tenant_id;
		}
	if (followed < 0)
		for (int c = 0; c < nchannels; c++)
			if (channels[c].is_default)
				followed = c;
	if (followed < 0)
		return -1;
	for (int i = 0; i < n; i++)
		is_test = is_test || lv[i].test_tenant;

	for (int c = followed; c < nchannels; c++)
	{
		char		choice = 0;
		bool		eligible;

		for (int i = n - 1; i >= 0 && choice == 0; i--)
			choice = level_choice(&lv[i], channels[c].id);
		switch (channels[c].eligibility)
		{
			case 'a':
				eligible = true;
				break;
			case 't':
				eligible = is_test;
				break;
			case 'o':
				eligible = (choice == 'i');
				break;
			default:
				eligible = (choice != 'o');
				break;
		}
		if (eligible)
			return c;
	}
	return -1;
}

/*
 * Step 3, the one rule for versions (resolve_levels) and flags
 * (resolve_flag_levels): of the activations on the tenant's path lv[0..n-1],
 * the one by the most recently started rollout (act_rank: activation.start_no)
 * decides; on a tie (the same rollout on several levels) the nearest.
 * Activations by ignore_rollout (a killed or overridden flag's rollout) are
 * skipped (*skipped is set).  A tenant the live rollout deferred (a
 * blackout) is not reached by that rollout's activations of its ancestors,
 * nor are its descendants.  Returns the level, or -1.
 */
static int
deciding_activation(const Level *lv, int n, const char *ignore_rollout,
					const char *live_rollout, bool *skipped, List **explain, int explain_enabled)
{
	int			best = -1;
	int			deferred_at = -1;

	for (int i = n - 1; i >= 0; i--)
	{
		if (lv[i].has_act && ignore_rollout && lv[i].act_rollout &&
			strcmp(ignore_rollout, lv[i].act_rollout) == 0)
			*skipped = true;
		else if (lv[i].has_act && deferred_at >= 0 && lv[i].act_rollout &&
				 strcmp(live_rollout, lv[i].act_rollout) == 0)
		{
			if (explain)
				explain_add(explain, "rollout", lv[i].tenant_id, true, lv[i].act, explain_enabled, false,
							psprintf("ancestor \"%s\" was activated by rollout \"%s\" at stage %d, which deferred %s",
									 lv[i].tenant_id, lv[i].act_rollout, lv[i].act_stage,
									 deferred_at == n - 1 ? "the tenant" :
									 psprintf("ancestor \"%s\"", lv[deferred_at].tenant_id)));
		}
		else if (lv[i].has_act && (best < 0 || lv[i].act_rank > lv[best].act_rank))
			best = i;
		if (lv[i].deferred && deferred_at < 0 && live_rollout != NULL)
			deferred_at = i;
	}
	return best;
}

/*
 * Resolve the version of component ci for the tenant at levels[n-1].
 * flag_killed / flag_override describe ci's feature_flag binding (if any).
 */
static void
resolve_levels(ComponentInfo *ci, FlagInfo *fi, const Level *lv, int n, Answer *ans, List **explain)
{
	const Level *self = &lv[n - 1];
	const char *ignore_rollout = NULL;
	int			eff;
	const char *followed_from;

	memset(ans, 0, sizeof(Answer));
	ans->isnull = true;

	/* 1. pins */
	for (int i = n - 1; i >= 0; i--)
		if (lv[i].has_pin)
		{
			ans->isnull = false;
			ans->version = lv[i].pin;
			ans->source = SRC_PIN;
			ans->source_tenant = lv[i].tenant_id;
			if (explain)
				explain_add(explain, "pin", lv[i].tenant_id, true, lv[i].pin, -1, true,
							psprintf("pinned on %s", inherited_from(lv, i, n)));
			return;
		}
	if (explain)
		explain_add(explain, "pin", NULL, false, 0, -1, false,
					pstrdup("no pin on the tenant or its ancestors"));

	/* 2. feature flag gating the component's latest feature_flag rollout */
	if (ci->flag_id != NULL && fi != NULL)
	{
		int			killed_at = -1;
		int			override_at = -1;

		for (int i = n - 1; i >= 0; i--)
			if (lv[i].flag_killed && killed_at < 0)
				killed_at = i;
		for (int i = n - 1; i >= 0 && override_at < 0; i--)
			if (lv[i].flag_override >= 0)
				override_at = i;
		if (fi->killed || killed_at >= 0)
		{
			ignore_rollout = ci->flag_rollout;
			if (explain)
				explain_add(explain, "kill_switch", killed_at >= 0 ? lv[killed_at].tenant_id : NULL,
							false, 0, 0, false,
							psprintf("kill switch on flag \"%s\" (%s): activations of rollout \"%s\" are ignored",
									 ci->flag_id,
									 killed_at >= 0 ? psprintf("set on %s", inherited_from(lv, killed_at, n)) : "global",
									 ci->flag_rollout));
		}
		else if (override_at >= 0 && lv[override_at].flag_override == 1)
		{
			ans->isnull = false;
			ans->version = ci->flag_version;
			ans->source = SRC_FLAG;
			ans->source_tenant = lv[override_at].tenant_id;
			if (explain)
				explain_add(explain, "flag", lv[override_at].tenant_id, true, ci->flag_version, 1, true,
							psprintf("flag \"%s\" of rollout \"%s\" is on by override on %s",
									 ci->flag_id, ci->flag_rollout, inherited_from(lv, override_at, n)));
			return;
		}
		else if (override_at < 0 && fi->default_enabled)
		{
			ans->isnull = false;
			ans->version = ci->flag_version;
			ans->source = SRC_FLAG;
			ans->source_tenant = NULL;
			if (explain)
				explain_add(explain, "flag", NULL, true, ci->flag_version, 1, true,
							psprintf("flag \"%s\" of rollout \"%s\" is on by default",
									 ci->flag_id, ci->flag_rollout));
			return;
		}
		else if (override_at >= 0)
		{
			ignore_rollout = ci->flag_rollout;
			if (explain)
				explain_add(explain, "flag", lv[override_at].tenant_id, false, 0, 0, false,
							psprintf("flag \"%s\" is off by override on %s: activations of rollout \"%s\" are ignored",
									 ci->flag_id, inherited_from(lv, override_at, n), ci->flag_rollout));
		}
	}

	/* 3. rollout activations, own or inherited: the latest rollout's decides */
	if (!self->active)
	{
		if (explain)
			explain_add(explain, "rollout", NULL, false, 0, -1, false,
						pstrdup("the tenant is not active: rollouts do not apply to it"));
	}
	else
	{
		bool		skipped = false;
		int			best = deciding_activation(lv, n, ignore_rollout, ci->live_rollout, &skipped, explain, -1);

		if (best >= 0)
		{
			bool		superseded = false;

			if (explain)
				for (int i = n - 1; i >= 0; i--)
				{
					/* only the older rollouts' activations are superseded */
					if (i == best || !lv[i].has_act || lv[i].act_rank >= lv[best].act_rank ||
						(ignore_rollout && lv[i].act_rollout &&
						 strcmp(ignore_rollout, lv[i].act_rollout) == 0))
						continue;
					superseded = true;
					explain_add(explain, "rollout", lv[i].tenant_id, true, lv[i].act, -1, false,
								psprintf("%s was activated by rollout \"%s\" at stage %d, superseded by rollout \"%s\" on %s",
										 i == n - 1 ? "the tenant" : psprintf("ancestor \"%s\"", lv[i].tenant_id),
										 lv[i].act_rollout, lv[i].act_stage, lv[best].act_rollout,
										 best == n - 1 ? "the tenant itself" :
										 psprintf("ancestor \"%s\"", lv[best].tenant_id)));
				}
			ans->isnull = false;
			ans->version = lv[best].act;
			ans->source = SRC_ROLLOUT;
			ans->source_tenant = lv[best].tenant_id;
			if (explain)
				explain_add(explain, "rollout", lv[best].tenant_id, true, lv[best].act, -1, true,
							psprintf("%s was activated by rollout \"%s\" at stage %d%s",
									 best == n - 1 ? "the tenant" : psprintf("ancestor \"%s\"", lv[best].tenant_id),
									 lv[best].act_rollout, lv[best].act_stage,
									 superseded ? ", the latest rollout to decide on the tenant's path" : ""));
			return;
		}
		if (explain)
			explain_add(explain, "rollout", NULL, false, 0, -1, false,
						skipped ?
						psprintf("the activation by rollout \"%s\" is ignored (see above)", ignore_rollout) :
						pstrdup("no rollout has activated the tenant or its ancestors"));
	}

	/* 4. channel release */
	eff = effective_channel(lv, n, &followed_from);
	if (eff >= 0)
	{
		for (int c = eff; c < nchannels; c++)
			if (ci->has_release[c])
			{
				ans->isnull = false;
				ans->version = ci->release[c];
				ans->source = SRC_CHANNEL;
				ans->source_tenant = followed_from;
				if (explain)
					explain_add(explain, "channel", followed_from, true, ci->release[c], -1, true,
								c == eff ?
								psprintf("release of channel \"%s\", the tenant's effective channel (%s)",
										 channels[c].id,
										 followed_from ? psprintf("followed as set on \"%s\"", followed_from) : "the default channel") :
								psprintf("release of channel \"%s\": the effective channel \"%s\" has no release",
										 channels[c].id, channels[eff].id));
				return;
			}
		if (explain)
			explain_add(explain, "channel", followed_from, false, 0, -1, false,
						psprintf("no release in the effective channel \"%s\" or a more stable one",
								 channels[eff].id));
	}
	else if (explain)
		explain_add(explain, "channel", NULL, false, 0, -1, false,
					pstrdup("the tenant has no effective channel"));

	/* 5. platform default */
	if (ci->has_default)
	{
		ans->isnull = false;
		ans->version = ci->default_version;
		ans->source = SRC_DEFAULT;
		ans->source_tenant = NULL;
		if (explain)
			explain_add(explain, "default", NULL, true, ci->default_version, -1, true,
						pstrdup("the component's platform default"));
		return;
	}
	if (explain)
		explain_add(explain, "default", NULL, false, 0, -1, false,
					pstrdup("nothing decides: the component has no default version"));
	ans->source = SRC_NONE;
}

/*
 * Resolve flag fi for the tenant at levels[n-1].  live_rollout is the live
 * rollout of the component the flag's rollout belongs to (NULL: none): its
 * deferrals hold its activations back exactly as for the version
 * (deciding_activation()).
 */
static void
resolve_flag_levels(FlagInfo *fi, const char *flag_id, const char *live_rollout,
					const Level *lv, int n, Answer *ans, List **explain)
{
	memset(ans, 0, sizeof(Answer));
	ans->isnull = false;

	if (fi->killed)
	{
		ans->enabled = false;
		ans->source = SRC_KILL;
		if (explain)
			explain_add(explain, "kill_switch", NULL, false, 0, 0, true,
						psprintf("the global kill switch of flag \"%s\" is on", flag_id));
		return;
	}
	for (int i = n - 1; i >= 0; i--)
		if (lv[i].flag_killed)
		{
			ans->enabled = false;
			ans->source = SRC_KILL;
			ans->source_tenant = lv[i].tenant_id;
			if (explain)
				explain_add(explain, "kill_switch", lv[i].tenant_id, false, 0, 0, true,
							psprintf("kill switch set on %s", inherited_from(lv, i, n)));
			return;
		}
	if (explain)
		explain_add(explain, "kill_switch", NULL, false, 0, -1, false, pstrdup("no kill switch is on"));
	for (int i = n - 1; i >= 0; i--)
		if (lv[i].flag_override >= 0)
		{
			ans->enabled = lv[i].flag_override == 1;
			ans->source = SRC_OVERRIDE;
			ans->source_tenant = lv[i].tenant_id;
			if (explain)
				explain_add(explain, "override", lv[i].tenant_id, false, 0, lv[i].flag_override, true,
							psprintf("override on %s", inherited_from(lv, i, n)));
			return;
		}
	if (explain)
		explain_add(explain, "override", NULL, false, 0, -1, false,
					pstrdup("no override on the tenant or its ancestors"));
	if (fi->rollout != NULL && lv[n - 1].active)
	{
		bool		skipped = false;
		int			best;
		bool		found = false;
		bool		held = false;	/* a deferral by the live rollout at or below level i */

		/* held-back activations are flag candidates only when they are the flag's rollout's */
		best = deciding_activation(lv, n, NULL, live_rollout, &skipped,
								   live_rollout && strcmp(live_rollout, fi->rollout) == 0 ? explain : NULL, 1);

		/*
		 * The flag is on by its rollout only where that rollout's activation
		 * is the deciding one on the path, as for the component's version: a
		 * later rollout's activation of the tenant or an ancestor supersedes
		 * it, and an ancestor's activation by the live rollout does not
		 * reach a tenant that rollout deferred (deciding_activation() listed
		 * those for explain).
		 */
		for (int i = n - 1; i >= 0; i--)
		{
			bool		blocked = held && live_rollout != NULL && lv[i].act_rollout != NULL &&
				strcmp(lv[i].act_rollout, live_rollout) == 0;

			held = held || (lv[i].deferred && live_rollout != NULL);
			if (!lv[i].has_act || !lv[i].act_rollout || strcmp(lv[i].act_rollout, fi->rollout) != 0)
				continue;
			found = true;
			if (blocked)
				continue;
			if (i == best)
			{
				ans->enabled = true;
				ans->source = SRC_ROLLOUT;
				ans->source_tenant = lv[i].tenant_id;
				if (explain)
					explain_add(explain, "rollout", lv[i].tenant_id, false, 0, 1, true,
								psprintf("%s was activated by rollout \"%s\" at stage %d",
										 i == n - 1 ? "the tenant" : psprintf("ancestor \"%s\"", lv[i].tenant_id),
										 fi->rollout, lv[i].act_stage));
				return;
			}
			if (explain)
				explain_add(explain, "rollout", lv[i].tenant_id, false, 0, 1, false,
							psprintf("%s was activated by rollout \"%s\" at stage %d, superseded by rollout \"%s\" on %s",
									 i == n - 1 ? "the tenant" : psprintf("ancestor \"%s\"", lv[i].tenant_id),
									 fi->rollout, lv[i].act_stage, lv[best].act_rollout,
									 best == n - 1 ? "the tenant itself" :
									 psprintf("ancestor \"%s\"", lv[best].tenant_id)));
		}
		if (explain && !found)
			explain_add(explain, "rollout", NULL, false, 0, -1, false,
						psprintf("rollout \"%s\" has not activated the tenant or its ancestors", fi->rollout));
	}
	ans->enabled = fi->default_enabled;
	ans->source = SRC_DEFAULT;
	if (explain)
		explain_add(explain, "default", NULL, false, 0, fi->default_enabled ? 1 : 0, true,
					pstrdup("the flag's default"));
}

/* ------------------------------------------------------------------------
 * Single look-ups, cached
 * ------------------------------------------------------------------------
 */

static bool
make_key(CacheKey *key, char kind, const char *subject, size_t sl, const char *tenant, size_t tl)
{
	if (sl >= ID_LEN || tl >= ID_LEN)
		return false;
	key->slen = (uint8) sl;
	key->tlen = (uint8) tl;
	key->kind = kind;
	memcpy(key->bytes, subject, sl);
	memcpy(key->bytes + sl, tenant, tl);
	return true;
}

/* dynahash support for CacheKey: only the significant bytes count */
static uint32
cache_key_hash(const void *key, Size keysize)
{
	const CacheKey *k = (const CacheKey *) key;

	return hash_bytes((const unsigned char *) k, (int) CACHE_KEY_LEN(k));
}

static int
cache_key_match(const void *key1, const void *key2, Size keysize)
{
	const CacheKey *a = (const CacheKey *) key1;
	const CacheKey *b = (const CacheKey *) key2;

	if (a->slen != b->slen || a->tlen != b->tlen || a->kind != b->kind)
		return 1;
	return memcmp(a->bytes, b->bytes, a->slen + a->tlen);
}

/* copies the significant bytes (a key on the stack is not zeroed beyond) */
static void *
cache_key_copy(void *dest, const void *src, Size keysize)
{
	return memcpy(dest, src, CACHE_KEY_LEN((const CacheKey *) src));
}

/*
 * Compute an answer (version or flag) without the answers cache; with
 * explain, the candidates are appended there (in the caller's memory
 * context).  The answer is in the caller's memory context.  *generation is
 * set to inval_generation as it was when the snapshot was taken: the answer
 * may be cached only while inval_generation still has that value.
 *
 * Order matters: the snapshot is taken, and pending invalidations taken in
 * (which may empty the cache right away), before any cached data is looked
 * at; from compute_begin() on, an invalidation only marks the cache for a
 * reset at compute_end(), so the channels, components and flags in use stay
 * valid until the answer is copied out.
 */
static void
compute(char kind, const char *subject, const char *tenant, Answer *ans, List **explain,
		uint64 *generation)
{
	Snapshot	snap;
	Level		levels[MAX_DEPTH];
	int			n;
	MemoryContext caller = CurrentMemoryContext;

	pgr_require_preload("version resolution");
	snap = fresh_snapshot(kind == 'v' ? subject : NULL);
	*generation = inval_generation;
	compute_begin();
	PG_TRY();
	{
		MemoryContext old;
		int			pathlevel = -1;
		bool		spi;
		ComponentInfo *ci = NULL;
		FlagInfo   *fi = NULL;

		meta_ensure();

		/*
		 * The channels, the component and its flag are usually cached: then
		 * nothing here needs SPI (the 0.1.0 schema still reads the path
		 * with the query).
		 */
		spi = schema_variant != 0 || nchannels < 0 || strlen(subject) >= ID_LEN;
		if (!spi && kind == 'v')
		{
			ci = hash_search(components, subject, HASH_FIND, NULL);
			fi = (ci && ci->flag_id) ? hash_search(flags, ci->flag_id, HASH_FIND, NULL) : NULL;
			spi = ci == NULL || (ci->flag_id != NULL && fi == NULL);
		}
		else if (!spi)
		{
			fi = hash_search(flags, subject, HASH_FIND, NULL);
			ci = (fi && fi->component) ? hash_search(components, fi->component, HASH_FIND, NULL) : NULL;
			spi = fi == NULL || (fi->component != NULL && ci == NULL);
		}
		if (spi)
		{
			pathlevel = pgr_pin_search_path();
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "pg_rollout: SPI_connect failed");
			load_channels(snap);
			if (kind == 'v')
			{
				ci = load_component(subject, snap);
				fi = ci->flag_id ? load_flag(ci->flag_id, snap) : NULL;
			}
			else
			{
				fi = load_flag(subject, snap);
				/* the live rollout of the flag's component: its deferrals */
				ci = fi->component ? load_component(fi->component, snap) : NULL;
			}
		}
		if (kind == 'v' && schema_variant == 0)
		{
			const char *live = ci->live_deferrals ? ci->live_rollout : NULL;
			Datum	   *ids;
			Level		own;
			Probe		ap = {0};
			bool		own_read = false;
			bool		decided = false;

			if (explain == NULL && ci->flag_id == NULL && ci->pins != NULL &&
				hash_get_num_entries(ci->pins) == 0 && ci->max_start_no >= 0)
			{
				own_read = true;
				decided = own_activation_decides(tenant, ci, subject, snap, &ap, &own, ans, caller);
			}
			if (decided)
				probe_close(&ap);
			else
			{
				n = load_path_direct(tenant, ci, ci, subject, ci->flag_id, live, snap, levels, &ids, caller,
									 own_read ? &own : NULL, &ap);
				old = MemoryContextSwitchTo(caller);
				resolve_levels(ci, fi, levels, n, ans, explain);
				MemoryContextSwitchTo(old);
				/* the channel step read the choices: the privilege a probe checks */
				if (choices_exist &&
					(ans->source == SRC_CHANNEL || ans->source == SRC_DEFAULT || ans->source == SRC_NONE))
					direct_acl(DR_CHOICE);
			}
		}
		else if (kind == 'v')
		{
			n = load_path(tenant, subject, ci->flag_id, ci->live_rollout, snap, levels, caller);
			old = MemoryContextSwitchTo(caller);
			resolve_levels(ci, fi, levels, n, ans, explain);
			MemoryContextSwitchTo(old);
		}
		else
		{
			Datum	   *ids;

			const char *live = ci ? ci->live_rollout : NULL;

			/*
			 * Flags do not read channels: the ancestors' own rows are not
			 * needed.  The deferrals of the component's live rollout are, as
			 * for the version.
			 */
			if (schema_variant == 0)
				n = load_path_direct(tenant, NULL, ci, fi->component, subject,
									 ci && ci->live_deferrals ? live : NULL, snap, levels, &ids, caller, NULL, NULL);
			else
				n = load_path(tenant, fi->component, subject, live, snap, levels, caller);
			old = MemoryContextSwitchTo(caller);
			resolve_flag_levels(fi, subject, live, levels, n, ans, explain);
			MemoryContextSwitchTo(old);
		}
		/* The answer must outlive the cached data it may point into. */
		old = MemoryContextSwitchTo(caller);
		if (!ans->isnull && kind == 'v')
			ans->version = datumCopy(ans->version, false, -1);
		if (ans->source_tenant)
			ans->source_tenant = pstrdup(ans->source_tenant);
		MemoryContextSwitchTo(old);
		if (spi)
		{
			SPI_finish();
			pgr_unpin_search_path(pathlevel);
		}
	}
	PG_FINALLY();
	{
		UnregisterSnapshot(snap);
		compute_end();
	}
	PG_END_TRY();
}

/*
 * Cached look-up of subject (sl bytes) for tenant (tl bytes), neither
 * necessarily NUL-terminated.  On a hit the answer's version points into
 * the cache: it is valid until this backend next takes in invalidations,
 * so the caller copies it before doing anything else.  A hit builds its
 * key from the bytes it is given and makes no copy of them.
 */
static void
lookup_bytes(char kind, const char *subject, size_t sl, const char *tenant, size_t tl, Answer *ans)
{
	CacheKey	key;
	CacheEntry *e;
	bool		found;
	uint64		generation;
	bool		cacheable = pgr_resolve_cache_size > 0 && make_key(&key, kind, subject, sl, tenant, tl);
	char	   *subject_str;
	char	   *tenant_str;

	if (scoped_pending)
		scoped_check();
	if (cacheable && answers != NULL)
	{
		e = hash_search(answers, &key, HASH_FIND, NULL);
		if (e != NULL && e->subject->gen != e->subject_gen)
		{
			/* its component changed: computed again below */
			if (!e->isnull && kind == 'v')
				pfree(DatumGetPointer(e->version));
			hash_search(answers, &key, HASH_REMOVE, NULL);
			e = NULL;
		}
		if (e != NULL)
		{
			stat_hits++;
			ans->isnull = e->isnull;
			ans->version = e->version;
			ans->enabled = e->enabled;
			ans->source = e->source;
			ans->source_tenant = e->source_tenant[0] ? e->source_tenant : NULL;
			return;
		}
	}
	stat_misses++;
	subject_str = pnstrdup(subject, sl);
	tenant_str = pnstrdup(tenant, tl);
	compute(kind, subject_str, tenant_str, ans, NULL, &generation);

	/*
	 * An invalidation that arrived after the snapshot was taken (when a
	 * table was first locked, say) may stand for a commit the snapshot does
	 * not see: such an answer is returned but not cached.  Nothing from here
	 * to the insertion takes in invalidations.
	 */
	if (!cacheable || generation != inval_generation || pgr_resolve_cache_size <= 0)
		return;
	if (answers != NULL && hash_get_num_entries(answers) >= pgr_resolve_cache_size)
		answers_clear();		/* full: start over rather than track recency */
	answers_ensure();
	e = hash_search(answers, &key, HASH_ENTER, &found);
	if (found && !e->isnull && kind == 'v')
		pfree(DatumGetPointer(e->version));
	e->subject = subject_get(kind, subject_str, true);
	e->subject_gen = e->subject->gen;
	e->isnull = ans->isnull;
	e->enabled = ans->enabled;
	e->source = ans->source;
	e->version = (Datum) 0;
	if (!e->isnull && kind == 'v')
	{
		MemoryContext old = MemoryContextSwitchTo(AnswerContext);

		e->version = datumCopy(ans->version, false, -1);
		MemoryContextSwitchTo(old);
	}
	memset(e->source_tenant, 0, ID_LEN);
	if (ans->source_tenant)
		strlcpy(e->source_tenant, ans->source_tenant, ID_LEN);
}

/* lookup_bytes() for C strings */
static void
lookup(char kind, const char *subject, const char *tenant, Answer *ans)
{
	lookup_bytes(kind, subject, strlen(subject), tenant, strlen(tenant), ans);
}

/* lookup_bytes() for the text arguments of the SQL functions, as given */
static void
lookup_text(char kind, text *subject, text *tenant, Answer *ans)
{
	lookup_bytes(kind, VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject),
				 VARDATA_ANY(tenant), VARSIZE_ANY_EXHDR(tenant), ans);
}

PG_FUNCTION_INFO_V1(pgr_resolve_version);

/* rollout.resolve_version(tenant_id text, component_id text) -> semver */
Datum
pgr_resolve_version(PG_FUNCTION_ARGS)
{
	Answer		ans;

	lookup_text('v', PG_GETARG_TEXT_PP(1), PG_GETARG_TEXT_PP(0), &ans);
	if (ans.isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(datumCopy(ans.version, false, -1));
}

PG_FUNCTION_INFO_V1(pgr_flag_enabled);

/* rollout.flag_enabled(tenant_id text, flag_id text) -> boolean */
Datum
pgr_flag_enabled(PG_FUNCTION_ARGS)
{
	Answer		ans;

	lookup_text('f', PG_GETARG_TEXT_PP(1), PG_GETARG_TEXT_PP(0), &ans);
	PG_RETURN_BOOL(ans.enabled);
}

/* Shared by the two explain forms. */
static Datum
explain_common(FunctionCallInfo fcinfo, char kind)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *tenant = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *subject = text_to_cstring(PG_GETARG_TEXT_PP(1));
	List	   *rows = NIL;
	Answer		ans;
	ListCell   *lc;
	int			step = 0;

	uint64		generation;

	InitMaterializedSRF(fcinfo, 0);
	compute(kind, subject, tenant, &ans, &rows, &generation);
	foreach(lc, rows)
	{
		ExplainRow *r = lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = Int32GetDatum(++step);
		values[1] = CStringGetTextDatum(r->source);
		if (r->tenant_id)
			values[2] = CStringGetTextDatum(r->tenant_id);
		else
			nulls[2] = true;
		if (kind == 'v')
		{
			if (r->has_version)
				values[3] = r->version;
			else
				nulls[3] = true;
		}
		else
		{
			if (r->enabled >= 0)
				values[3] = BoolGetDatum(r->enabled == 1);
			else
				nulls[3] = true;
		}
		values[4] = BoolGetDatum(r->decided);
		values[5] = CStringGetTextDatum(r->detail);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgr_explain_version);

Datum
pgr_explain_version(PG_FUNCTION_ARGS)
{
	return explain_common(fcinfo, 'v');
}

PG_FUNCTION_INFO_V1(pgr_explain_flag);

Datum
pgr_explain_flag(PG_FUNCTION_ARGS)
{
	return explain_common(fcinfo, 'f');
}

/* ------------------------------------------------------------------------
 * Bulk resolution
 * ------------------------------------------------------------------------
 */

static void
put_answer(ReturnSetInfo *rsinfo, const char *tenant, const Answer *ans)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	values[0] = CStringGetTextDatum(tenant);
	if (ans->isnull)
		nulls[1] = true;
	else
		values[1] = ans->version;
	values[2] = CStringGetTextDatum(source_names[ans->source]);
	if (ans->source_tenant)
		values[3] = CStringGetTextDatum(ans->source_tenant);
	else
		nulls[3] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* ------------------------------------------------------------------------
 * Bulk resolution in one pass in path order, without SPI
 *
 * rollout.tenant is read through its path index (tenant_path_idx), which
 * lists a parent before its subtree: when a tenant at depth d is read, the
 * levels 0..d-2 hold its ancestors, read just before; the tenant only adds
 * its own level.  The component's pins, activations, deferrals, flag
 * settings and the channel choices are read once, each with one sequential
 * scan, into hash tables keyed by tenant (pins: the component's cache when
 * it holds them all).  Rows go to the result as they are resolved; nothing
 * is sorted and the tenants are never held in memory.
 * ------------------------------------------------------------------------
 */

typedef struct BulkAct
{
	char		tenant[ID_LEN];
	Datum		version;
	const char *rollout;		/* interned: few distinct rollouts */
	int			stage;
	int64		rank;
} BulkAct;

typedef struct BulkFlag
{
	char		tenant[ID_LEN];
	int			override;
	bool		killed;
} BulkFlag;

typedef struct BulkChoice
{
	char		tenant[ID_LEN];
	char	   *choices;
} BulkChoice;

/* A hash table by tenant, sized for the rows the table has (last ANALYZE). */
static HTAB *
bulk_hash(const char *name, Size entrysize, int which, MemoryContext cxt)
{
	HASHCTL		ctl;
	long		nelem = 64;
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(direct_rels[which].relid));

	if (HeapTupleIsValid(tup))
	{
		float4		reltuples = ((Form_pg_class) GETSTRUCT(tup))->reltuples;

		if (reltuples > 0)
			nelem = (long) Min(reltuples, 16.0 * 1024 * 1024);
		ReleaseSysCache(tup);
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = ID_LEN;
	ctl.entrysize = entrysize;
	ctl.hcxt = cxt;
	return hash_create(name, Max(nelem, 64), &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/* Copy a text datum into a fixed buffer; false if it does not fit. */
static bool
text_to_id(Datum d, char *buf)
{
	text	   *t = DatumGetTextPP(d);
	int			len = VARSIZE_ANY_EXHDR(t);

	if (len >= ID_LEN)
		return false;
	memcpy(buf, VARDATA_ANY(t), len);
	buf[len] = '\0';
	if ((Pointer) t != DatumGetPointer(d))
		pfree(t);
	return true;
}

/* Does the text datum equal this C string? */
static bool
text_equals(Datum d, const char *s, size_t slen)
{
	text	   *t = DatumGetTextPP(d);
	bool		eq = (size_t) VARSIZE_ANY_EXHDR(t) == slen && memcmp(VARDATA_ANY(t), s, slen) == 0;

	if ((Pointer) t != DatumGetPointer(d))
		pfree(t);
	return eq;
}

/*
 * Scan one table sequentially as the current user, calling fn for each row
 * whose first key column equals key (NULL: every row).
 */
typedef void (*bulk_row_fn) (TupleTableSlot *slot, DirectRel *dr, void *arg);

static void
bulk_scan(int which, const char *key, Snapshot snap, bulk_row_fn fn, void *arg, MemoryContext tmpcxt)
{
	DirectRel  *dr = &direct_rels[which];
	AclResult	acl = pg_class_aclcheck(dr->relid, GetUserId(), ACL_SELECT);
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	AttrNumber	keyatt = get_attnum(dr->relid, direct_def[which].keys[0]);
	size_t		keylen = key ? strlen(key) : 0;
	uint64		rows = 0;

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, direct_def[which].table);
	rel = table_open(dr->relid, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snap, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		MemoryContext old;

		if (key != NULL)
		{
			bool		isnull;
			Datum		k = slot_getattr(slot, keyatt, &isnull);

			if (isnull || !text_equals(k, key, keylen))
				continue;
		}
		old = MemoryContextSwitchTo(tmpcxt);
		fn(slot, dr, arg);
		MemoryContextSwitchTo(old);
		if ((++rows & 1023) == 0)
		{
			MemoryContextReset(tmpcxt);
			CHECK_FOR_INTERRUPTS();
		}
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	MemoryContextReset(tmpcxt);
}

static AttrNumber bulk_tenant_att[DR_COUNT];	/* tenant_id of each table */

typedef struct BulkState
{
	MemoryContext cxt;			/* where the hash tables and their data live */
	HTAB	   *pins;
	HTAB	   *acts;
	HTAB	   *deferred;
	HTAB	   *flags;
	HTAB	   *choices;
	List	   *rollouts;		/* interned rollout ids */
	const char *last_rollout;
	List	   *versions;		/* interned versions (semver datums) */
	Datum		last_version;
} BulkState;

static const char *
bulk_intern(BulkState *bs, const char *s)
{
	ListCell   *lc;
	MemoryContext old;
	char	   *copy;

	foreach(lc, bs->rollouts)
		if (strcmp((const char *) lfirst(lc), s) == 0)
			return (const char *) lfirst(lc);
	old = MemoryContextSwitchTo(bs->cxt);
	copy = pstrdup(s);
	bs->rollouts = lappend(bs->rollouts, copy);
	MemoryContextSwitchTo(old);
	return copy;
}

/* The same version as a datum held once: a component has few versions. */
static Datum
bulk_intern_version(BulkState *bs, Datum v)
{
	Pointer		p = DatumGetPointer(v);
	Size		len = VARSIZE_ANY(p);
	ListCell   *lc;
	Datum		copy;

	if (bs->last_version != (Datum) 0 &&
		VARSIZE_ANY(DatumGetPointer(bs->last_version)) == len &&
		memcmp(DatumGetPointer(bs->last_version), p, len) == 0)
		return bs->last_version;
	foreach(lc, bs->versions)
	{
		Pointer		q = lfirst(lc);

		if (VARSIZE_ANY(q) == len && memcmp(q, p, len) == 0)
			return bs->last_version = PointerGetDatum(q);
	}
	copy = copy_semver(v, bs->cxt);
	{
		MemoryContext old = MemoryContextSwitchTo(bs->cxt);

		bs->versions = lappend(bs->versions, DatumGetPointer(copy));
		MemoryContextSwitchTo(old);
	}
	return bs->last_version = copy;
}

static void
bulk_pin_row(TupleTableSlot *slot, DirectRel *dr, void *arg)
{
	BulkState  *bs = arg;
	bool		isnull;
	char		tenant[ID_LEN];
	Datum		t = slot_getattr(slot, bulk_tenant_att[DR_PIN], &isnull);
	Datum		v;
	PinEntry   *pe;

	if (isnull || !text_to_id(t, tenant))
		return;
	v = slot_getattr(slot, dr->att[0], &isnull);
	if (isnull)
		return;
	pe = hash_search(bs->pins, tenant, HASH_ENTER, NULL);
	pe->version = copy_semver(v, bs->cxt);
}

static void
bulk_act_row(TupleTableSlot *slot, DirectRel *dr, void *arg)
{
	BulkState  *bs = arg;
	bool		isnull;
	char		tenant[ID_LEN];
	Datum		d = slot_getattr(slot, bulk_tenant_att[DR_ACTIVATION], &isnull);
	Datum		v;
	BulkAct    *e;

	if (isnull || !text_to_id(d, tenant))
		return;
	v = slot_getattr(slot, dr->att[0], &isnull);
	if (isnull)
		return;
	e = hash_search(bs->acts, tenant, HASH_ENTER, NULL);
	e->version = bulk_intern_version(bs, v);
	d = slot_getattr(slot, dr->att[1], &isnull);
	if (isnull)
		e->rollout = NULL;
	else if (bs->last_rollout != NULL && text_equals(d, bs->last_rollout, strlen(bs->last_rollout)))
		e->rollout = bs->last_rollout;
	else
		e->rollout = bs->last_rollout = bulk_intern(bs, TextDatumGetCString(d));
	d = slot_getattr(slot, dr->att[2], &isnull);
	e->stage = isnull ? 0 : DatumGetInt32(d);
	d = slot_getattr(slot, dr->att[3], &isnull);
	e->rank = isnull ? 0 : (int64) DatumGetInt32(d);
}

static void
bulk_deferral_row(TupleTableSlot *slot, DirectRel *dr, void *arg)
{
	BulkState  *bs = arg;
	bool		isnull;
	char		tenant[ID_LEN];
	Datum		d = slot_getattr(slot, bulk_tenant_att[DR_DEFERRAL], &isnull);

	if (!isnull && text_to_id(d, tenant))
		(void) hash_search(bs->deferred, tenant, HASH_ENTER, NULL);
}

static void
bulk_flag_row(TupleTableSlot *slot, DirectRel *dr, void *arg)
{
	BulkState  *bs = arg;
	bool		isnull;
	char		tenant[ID_LEN];
	Datum		d = slot_getattr(slot, bulk_tenant_att[DR_FLAG_SETTING], &isnull);
	BulkFlag   *e;

	if (isnull || !text_to_id(d, tenant))
		return;
	e = hash_search(bs->flags, tenant, HASH_ENTER, NULL);
	d = slot_getattr(slot, dr->att[0], &isnull);
	e->override = isnull ? -1 : (DatumGetBool(d) ? 1 : 0);
	d = slot_getattr(slot, dr->att[1], &isnull);
	e->killed = !isnull && DatumGetBool(d);
}

static void
bulk_choice_row(TupleTableSlot *slot, DirectRel *dr, void *arg)
{
	BulkState  *bs = arg;
	bool		isnull;
	char		tenant[ID_LEN];
	Datum		d = slot_getattr(slot, bulk_tenant_att[DR_CHOICE], &isnull);
	char	   *ch;
	char	   *choice;
	BulkChoice *e;
	bool		found;
	MemoryContext old;

	if (isnull || !text_to_id(d, tenant))
		return;
	ch = slot_text(slot, dr->att[0], CurrentMemoryContext);
	choice = slot_text(slot, dr->att[1], CurrentMemoryContext);
	if (ch == NULL || choice == NULL)
		return;
	e = hash_search(bs->choices, tenant, HASH_ENTER, &found);
	old = MemoryContextSwitchTo(bs->cxt);
	e->choices = found ? psprintf("%s;%s=%s", e->choices, ch, choice) : psprintf("%s=%s", ch, choice);
	MemoryContextSwitchTo(old);
}

/*
 * The number of elements of a one-dimensional array datum (a path), read
 * from its header without copying it (the path of a row on disk usually
 * has a one-byte header, which detoasting would copy to align it).
 */
static int
tenant_path_depth(Datum d)
{
	Pointer		p = DatumGetPointer(d);
	int32		hdr[4];			/* ndim, dataoffset, elemtype, dims[0] */

	if (VARATT_IS_SHORT(p))
	{
		if (VARSIZE_SHORT(p) < VARHDRSZ_SHORT + sizeof(hdr))
			return 0;
		memcpy(hdr, VARDATA_SHORT(p), sizeof(hdr));
	}
	else if (!VARATT_IS_EXTENDED(p))
	{
		if (VARSIZE(p) < VARHDRSZ + sizeof(hdr))
			return 0;
		memcpy(hdr, VARDATA(p), sizeof(hdr));
	}
	else
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));

		pfree(arr);
		return n;
	}
	return hdr[0] == 1 ? hdr[3] : 0;
}

/*
 * The pass itself: ci NULL lists every tenant's effective channel.  Inside a
 * computation (compute_begin), after the snapshot; the metadata is loaded.
 */
static void
resolve_all_direct(ReturnSetInfo *rsinfo, ComponentInfo *ci, FlagInfo *fi, Snapshot snap, MemoryContext walkcxt)
{
	BulkState	bs = {0};
	MemoryContext tmpcxt = AllocSetContextCreate(walkcxt, "pg_rollout bulk rows", ALLOCSET_DEFAULT_SIZES);
	Level		levels[MAX_DEPTH];
	char		idbuf[MAX_DEPTH][ID_LEN];
	char		chbuf[MAX_DEPTH][ID_LEN];
	union
	{
		struct varlena hdr;
		char		data[VARHDRSZ + ID_LEN];
		int32		align;
	}			idtext_store[MAX_DEPTH];
	struct varlena *idtext[MAX_DEPTH];
	Datum		source_text[lengthof(source_names)];
	Datum	   *channel_text;
	DirectRel  *tr = &direct_rels[DR_TENANT];
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	AclResult	acl;
	uint64		rows = 0;
	long		npins = 0;
	long		nacts = 0;
	MemoryContext old;

	bs.cxt = walkcxt;
	for (int i = 0; i < MAX_DEPTH; i++)
		idtext[i] = &idtext_store[i].hdr;
	for (int t = DR_PIN; t < DR_COUNT; t++)
		bulk_tenant_att[t] = get_attnum(direct_rels[t].relid, "tenant_id");
	old = MemoryContextSwitchTo(walkcxt);
	for (int s = 0; s < (int) lengthof(source_names); s++)
		source_text[s] = CStringGetTextDatum(source_names[s]);
	channel_text = palloc(sizeof(Datum) * Max(nchannels, 1));
	for (int c = 0; c < nchannels; c++)
		channel_text[c] = CStringGetTextDatum(channels[c].id);
	MemoryContextSwitchTo(old);

	/* what the component adds to the tenants, keyed by tenant */
	if (ci != NULL)
	{
		if (ci->pins != NULL)
			bs.pins = ci->pins;
		else
		{
			bs.pins = bulk_hash("pg_rollout bulk pins", sizeof(PinEntry), DR_PIN, walkcxt);
			bulk_scan(DR_PIN, ci->id, snap, bulk_pin_row, &bs, tmpcxt);
		}
		bs.acts = bulk_hash("pg_rollout bulk activations", sizeof(BulkAct), DR_ACTIVATION, walkcxt);
		bulk_scan(DR_ACTIVATION, ci->id, snap, bulk_act_row, &bs, tmpcxt);
		if (ci->live_rollout != NULL && ci->live_deferrals)
		{
			bs.deferred = bulk_hash("pg_rollout bulk deferrals", ID_LEN, DR_DEFERRAL, walkcxt);
			bulk_scan(DR_DEFERRAL, ci->live_rollout, snap, bulk_deferral_row, &bs, tmpcxt);
		}
		if (ci->flag_id != NULL)
		{
			bs.flags = bulk_hash("pg_rollout bulk flag settings", sizeof(BulkFlag), DR_FLAG_SETTING, walkcxt);
			bulk_scan(DR_FLAG_SETTING, ci->flag_id, snap, bulk_flag_row, &bs, tmpcxt);
		}
	}
	if (choices_exist)
	{
		bs.choices = bulk_hash("pg_rollout bulk channel choices", sizeof(BulkChoice), DR_CHOICE, walkcxt);
		bulk_scan(DR_CHOICE, NULL, snap, bulk_choice_row, &bs, tmpcxt);
	}

	if (ci != NULL)
	{
		npins = hash_get_num_entries(bs.pins);
		nacts = hash_get_num_entries(bs.acts);
	}

	/* the tenants in path order */
	acl = pg_class_aclcheck(tr->relid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, PGR_TABLE_TENANT);
	rel = table_open(tr->relid, AccessShareLock);
	idx = index_open(direct_path_index, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snap, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	old = MemoryContextSwitchTo(tmpcxt);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d;
		int			depth;
		uint32		hashv;
		Level	   *lv;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		d = slot_getattr(slot, tr->att[1], &isnull);
		if (isnull)
			continue;
		depth = tenant_path_depth(d);
		if (depth < 1 || depth > MAX_DEPTH)
			elog(ERROR, "pg_rollout: tenant depth %d out of range", depth);
		lv = &levels[depth - 1];
		memset(lv, 0, sizeof(Level));
		d = slot_getattr(slot, tr->att[0], &isnull);
		if (isnull || !text_to_id(d, idbuf[depth - 1]))
			elog(ERROR, "pg_rollout: a tenant id is null or longer than %d bytes", ID_LEN - 1);
		lv->tenant_id = idbuf[depth - 1];
		/* the id as a text datum too, for the rows of this tenant and its subtree */
		SET_VARSIZE(idtext[depth - 1], VARHDRSZ + strlen(lv->tenant_id));
		memcpy(VARDATA(idtext[depth - 1]), lv->tenant_id, VARSIZE(idtext[depth - 1]) - VARHDRSZ);
		d = slot_getattr(slot, tr->att[2], &isnull);
		lv->active = !isnull && text_equals(d, "active", 6);
		d = slot_getattr(slot, tr->att[3], &isnull);
		if (!isnull && text_to_id(d, chbuf[depth - 1]))
			lv->channel_id = chbuf[depth - 1];
		d = slot_getattr(slot, tr->att[4], &isnull);
		lv->test_tenant = !isnull && DatumGetBool(d);
		lv->flag_override = -1;
		/* every table is keyed the same way: one hash value serves them all */
		hashv = string_hash(lv->tenant_id, ID_LEN);
		if (bs.choices)
		{
			BulkChoice *e = hash_search_with_hash_value(bs.choices, lv->tenant_id, hashv, HASH_FIND, NULL);

			lv->choices = e ? e->choices : NULL;
		}

		if (ci == NULL)
		{
			const char *from;
			int			eff = effective_channel(levels, depth, &from);
			Datum		cvalues[2];
			bool		cnulls[2] = {false, eff < 0};

			cvalues[0] = PointerGetDatum(idtext[depth - 1]);
			cvalues[1] = eff < 0 ? (Datum) 0 : channel_text[eff];
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, cvalues, cnulls);
		}
		else
		{
			Answer		ans;
			PinEntry   *pe = npins == 0 ? NULL :
				hash_search_with_hash_value(bs.pins, lv->tenant_id, hashv, HASH_FIND, NULL);
			BulkAct    *ae = nacts == 0 ? NULL :
				hash_search_with_hash_value(bs.acts, lv->tenant_id, hashv, HASH_FIND, NULL);

			if (pe)
			{
				lv->has_pin = true;
				lv->pin = pe->version;
			}
			if (ae)
			{
				lv->has_act = true;
				lv->act = ae->version;
				lv->act_rollout = (char *) ae->rollout;
				lv->act_stage = ae->stage;
				lv->act_rank = ae->rank;
			}
			if (bs.deferred)
				lv->deferred = hash_search_with_hash_value(bs.deferred, lv->tenant_id, hashv, HASH_FIND, NULL) != NULL;
			if (bs.flags)
			{
				BulkFlag   *fe = hash_search_with_hash_value(bs.flags, lv->tenant_id, hashv, HASH_FIND, NULL);

				if (fe)
				{
					lv->flag_override = fe->override;
					lv->flag_killed = fe->killed;
				}
			}
			resolve_levels(ci, fi, levels, depth, &ans, NULL);
			values[0] = PointerGetDatum(idtext[depth - 1]);
			if (ans.isnull)
				nulls[1] = true;
			else
				values[1] = ans.version;
			values[2] = source_text[ans.source];
			nulls[3] = true;
			for (int i = 0; i < depth && ans.source_tenant; i++)
				if (ans.source_tenant == idbuf[i])
				{
					values[3] = PointerGetDatum(idtext[i]);
					nulls[3] = false;
					break;
				}
			if (nulls[3] && ans.source_tenant)
			{
				values[3] = CStringGetTextDatum(ans.source_tenant);
				nulls[3] = false;
			}
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		if ((++rows & 1023) == 0)
		{
			MemoryContextReset(tmpcxt);
			CHECK_FOR_INTERRUPTS();
		}
	}
	MemoryContextSwitchTo(old);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
}

/*
 * Every tenant, in one ordered pass over the tree: the version of a
 * component, or (component NULL) the effective channel.
 */
static void
resolve_all(ReturnSetInfo *rsinfo, const char *component)
{
	Snapshot	snap;
	MemoryContext walkcxt;
	MemoryContext levelcxt[MAX_DEPTH];
	Level		levels[MAX_DEPTH];

	/* the snapshot first: see compute() */
	snap = fresh_snapshot(NULL);
	walkcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout bulk resolution", ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < MAX_DEPTH; i++)
		levelcxt[i] = AllocSetContextCreate(walkcxt, "pg_rollout level", ALLOCSET_SMALL_SIZES);

	compute_begin();
	PG_TRY();
	{
		ComponentInfo *ci = NULL;
		FlagInfo   *fi = NULL;
		Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
		Datum		values[3];
		char		nulls[3] = {' ', ' ', ' '};
		Portal		portal;
		MemoryContext rowcxt = AllocSetContextCreate(walkcxt, "pg_rollout row", ALLOCSET_DEFAULT_SIZES);
		int			pathlevel = pgr_pin_search_path();

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pg_rollout: SPI_connect failed");
		meta_ensure();
		load_channels(snap);
		if (component)
		{
			ci = load_component(component, snap);
			fi = ci->flag_id ? load_flag(ci->flag_id, snap) : NULL;
			values[0] = CStringGetTextDatum(component);
		}
		else
			nulls[0] = 'n';
		if (ci && ci->flag_id)
			values[1] = CStringGetTextDatum(ci->flag_id);
		else
			nulls[1] = 'n';
		if (ci && ci->live_rollout)
			values[2] = CStringGetTextDatum(ci->live_rollout);
		else
			nulls[2] = 'n';
		if (schema_variant == 0)
		{
			if (!direct_loaded)
				direct_load();
			resolve_all_direct(rsinfo, ci, fi, snap, walkcxt);
			goto done;
		}
		keep_plan(&plan_all, sql_all[schema_variant], 3, argtypes);
		PushActiveSnapshot(snap);
		portal = SPI_cursor_open(NULL, plan_all, values, nulls, true);
		PopActiveSnapshot();
		for (;;)
		{
			SPI_cursor_fetch(portal, true, 10000);
			if (SPI_processed == 0)
				break;
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				HeapTuple	tup = SPI_tuptable->vals[r];
				bool		isnull;
				int			depth = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
				Answer		ans;
				MemoryContext old;

				if (depth < 1 || depth > MAX_DEPTH)
					elog(ERROR, "pg_rollout: tenant depth %d out of range", depth);
				MemoryContextReset(levelcxt[depth - 1]);
				level_from_tuple(&levels[depth - 1], tup, SPI_tuptable->tupdesc, levelcxt[depth - 1]);
				if (ci == NULL)
				{
					const char *from;
					int			eff = effective_channel(levels, depth, &from);
					Datum		cvalues[2];
					bool		cnulls[2] = {false, eff < 0};

					old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
					cvalues[0] = CStringGetTextDatum(levels[depth - 1].tenant_id);
					cvalues[1] = eff < 0 ? (Datum) 0 : CStringGetTextDatum(channels[eff].id);
					tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, cvalues, cnulls);
					MemoryContextSwitchTo(old);
					MemoryContextReset(rowcxt);
					continue;
				}
				old = MemoryContextSwitchTo(rowcxt);
				resolve_levels(ci, fi, levels, depth, &ans, NULL);
				MemoryContextSwitchTo(old);
				old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
				put_answer(rsinfo, levels[depth - 1].tenant_id, &ans);
				MemoryContextSwitchTo(old);
				MemoryContextReset(rowcxt);
			}
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
done:
		SPI_finish();
		pgr_unpin_search_path(pathlevel);
	}
	PG_FINALLY();
	{
		UnregisterSnapshot(snap);
		compute_end();
	}
	PG_END_TRY();
	MemoryContextDelete(walkcxt);
}

PG_FUNCTION_INFO_V1(pgr_resolve_versions);

/* rollout.resolve_versions(component_id text, tenant_ids text[] DEFAULT NULL) */
Datum
pgr_resolve_versions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *component;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("component id must not be null")));
	pgr_require_preload("version resolution");
	component = text_to_cstring(PG_GETARG_TEXT_PP(0));
	InitMaterializedSRF(fcinfo, 0);

	if (PG_ARGISNULL(1))
		resolve_all(rsinfo, component);
	else
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
		Datum	   *elems;
		bool	   *enulls;
		int			nelems;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &nelems);
		for (int i = 0; i < nelems; i++)
		{
			char	   *tenant;
			Answer		ans;

			if (enulls[i])
				continue;
			tenant = TextDatumGetCString(elems[i]);
			lookup('v', component, tenant, &ans);
			if (!ans.isnull)
				ans.version = datumCopy(ans.version, false, -1);
			put_answer(rsinfo, tenant, &ans);
		}
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgr_effective_channels);

/* rollout.effective_channels(): every tenant's effective channel, one pass. */
Datum
pgr_effective_channels(PG_FUNCTION_ARGS)
{
	pgr_require_preload("version resolution");
	InitMaterializedSRF(fcinfo, 0);
	resolve_all((ReturnSetInfo *) fcinfo->resultinfo, NULL);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgr_resolve_cache_stats);

Datum
pgr_resolve_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(answers ? (int64) hash_get_num_entries(answers) : 0);
	values[1] = Int64GetDatum((int64) stat_hits);
	values[2] = Int64GetDatum((int64) stat_misses);
	values[3] = Int64GetDatum((int64) stat_invalidations);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * The component of a rollout (rollout.rollout by its primary key, with the
 * latest snapshot: the trigger's own transaction's rows included); false if
 * there is no such rollout.
 */
static bool
rollout_component(Relation ro, Oid ro_pkey, AttrNumber comp_att, Datum rollout_id, char *out)
{
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;
	Relation	idx = index_open(ro_pkey, AccessShareLock);
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   idx->rd_indcollation[0], F_TEXTEQ, rollout_id);
	index_close(idx, AccessShareLock);
	scan = systable_beginscan(ro, ro_pkey, true, snap, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, comp_att, RelationGetDescr(ro), &isnull);

		found = !isnull && text_to_id(d, out);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	return found;
}

/*
 * Record in xact_slots the components named by the rows of a statement's
 * transition tables (of scoped_tables[which]); false when one cannot be
 * told (the caller then invalidates the whole table).
 */
static bool
record_changed_components(Relation rel, int which, Tuplestorestate *newrows, Tuplestorestate *oldrows)
{
	Tuplestorestate *stores[2] = {newrows, oldrows};
	AttrNumber	att = get_attnum(RelationGetRelid(rel), which == SCOPED_DEFERRAL ? "rollout_id" : "component_id");
	TupleTableSlot *slot;
	char		last[ID_LEN] = "";
	bool		have_last = false;
	bool		ok = true;
	Relation	ro = NULL;
	Oid			ro_pkey = InvalidOid;
	AttrNumber	ro_comp = InvalidAttrNumber;

	if (att == InvalidAttrNumber)
		return false;
	if (which == SCOPED_DEFERRAL)
	{
		Oid			ro_id = get_relname_relid("rollout", RelationGetNamespace(rel));

		if (!OidIsValid(ro_id))
			return false;
		ro = table_open(ro_id, AccessShareLock);
		ro_pkey = RelationGetPrimaryKeyIndex(ro);
		ro_comp = get_attnum(ro_id, "component_id");
		if (!OidIsValid(ro_pkey) || ro_comp == InvalidAttrNumber)
		{
			table_close(ro, AccessShareLock);
			return false;
		}
	}
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	for (int k = 0; k < 2 && ok; k++)
	{
		if (stores[k] == NULL)
			continue;
		tuplestore_rescan(stores[k]);
		while (ok && tuplestore_gettupleslot(stores[k], true, false, slot))
		{
			bool		isnull;
			Datum		d = slot_getattr(slot, att, &isnull);
			char		id[ID_LEN];
			char		comp[ID_LEN];
			MemoryContext old;

			/* rows of one statement usually name one component (rollout) */
			if (isnull || !text_to_id(d, id))
				continue;
			if (have_last && strcmp(id, last) == 0)
				continue;
			strlcpy(last, id, ID_LEN);
			have_last = true;
			if (which == SCOPED_DEFERRAL)
			{
				if (!rollout_component(ro, ro_pkey, ro_comp, d, comp))
				{
					ok = false;
					break;
				}
			}
			else
				strlcpy(comp, id, ID_LEN);
			old = MemoryContextSwitchTo(TopTransactionContext);
			xact_slots = list_append_unique_int(xact_slots, epoch_slot(comp));
			MemoryContextSwitchTo(old);
		}
		tuplestore_rescan(stores[k]);
	}
	ExecDropSingleTupleTableSlot(slot);
	if (ro != NULL)
		table_close(ro, AccessShareLock);
	return ok;
}

PG_FUNCTION_INFO_V1(pgr_invalidate_resolution);

/*
 * Trigger: queue a relcache invalidation of the changed table.  It is
 * applied in this backend at the end of the command and sent to every other
 * backend at commit (and discarded, after local application, at abort).
 */
Datum
pgr_invalidate_resolution(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	Oid			target;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("rollout._invalidate_resolution() must be called as a trigger")));
	rel = trigdata->tg_relation;
	target = RelationGetRelid(rel);

	/*
	 * A table of one component's rows, with its transition tables: record
	 * the components changed, invalidate the primary key index (receivers:
	 * "some component changed", see "Per-component invalidation").
	 */
	if (rshared != NULL && (trigdata->tg_newtable != NULL || trigdata->tg_oldtable != NULL))
	{
		int			which = -1;
		Oid			pkey = RelationGetPrimaryKeyIndex(rel);

		if (strcmp(get_namespace_name(RelationGetNamespace(rel)), PGR_SCHEMA) == 0)
			for (int i = 0; i < NSCOPED; i++)
				if (strcmp(RelationGetRelationName(rel), scoped_tables[i]) == 0)
					which = i;
		if (which >= 0 && OidIsValid(pkey) &&
			record_changed_components(rel, which, trigdata->tg_newtable, trigdata->tg_oldtable))
		{
			CacheInvalidateRelcacheByRelid(pkey);
			return PointerGetDatum(NULL);
		}
	}
	CacheInvalidateRelcacheByRelid(target);
	return PointerGetDatum(NULL);
}

void
pgr_resolve_init(void)
{
	DefineCustomIntVariable("pg_rollout.resolve_cache_size",
							"Maximum number of answers kept in a session's resolution cache.",
							"0 disables the cache: every call reads the tables.",
							&pgr_resolve_cache_size,
							100000, 0, INT_MAX / 2,
							PGC_USERSET, 0,
							NULL, assign_resolve_cache_size, NULL);
	DefineCustomIntVariable("pg_rollout.resolve_tenant_cache_size",
							"Maximum number of tenant rows kept in a session for resolution cache misses.",
							"Kept until a change of rollout.tenant or rollout.channel_choice; 0: every miss reads them.",
							&pgr_resolve_tenant_cache_size,
							100000, 0, INT_MAX / 2,
							PGC_USERSET, 0,
							NULL, assign_resolve_tenant_cache_size, NULL);
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(resolve_relcache_callback, (Datum) 0);
		RegisterXactCallback(resolve_xact_callback, NULL);
		callback_registered = true;
	}
	/* the epochs of per-component invalidation (without them: full resets) */
	if (process_shared_preload_libraries_in_progress)
	{
		resolve_prev_shmem_request = shmem_request_hook;
		shmem_request_hook = resolve_shmem_request;
		resolve_prev_shmem_startup = shmem_startup_hook;
		shmem_startup_hook = resolve_shmem_startup;
	}
}

/* ------------------------------------------------------------------------
 * Bulk resolution of many components in one pass over the tree
 *
 * rollout.resolve_versions_all(component_ids text[] DEFAULT NULL): the
 * answer of resolve_versions(c) for every listed component (NULL: every
 * component) and every tenant, from one ordered scan of the tenants with
 * each tenant's pins, activations and flag overrides of those components
 * aggregated into arrays.  Each (tenant, component) goes through the same
 * resolve_levels() as every other form of resolution; only the reading of
 * the levels differs.  The governance roster (rollout.drift_roster) reads
 * 20 components of 100,000 tenants in one pass instead of twenty.
 * ------------------------------------------------------------------------
 */

static SPIPlanPtr plan_all_many[2] = {NULL, NULL};
static SPIPlanPtr plan_component_ids = NULL;

/*
 * One row per tenant (in path order) with its pins, activations (with the
 * start order of their rollouts), flag overrides and deferrals by the
 * components' live rollouts, of the listed components, aggregated into
 * arrays.  Columns 1-14 have the layout level_from_tuple() reads (the
 * per-component columns left NULL); 15 onwards are read by walk_many().
 */
#define SQL_ALL_MANY(rank) \
"SELECT t.tenant_id, pg_catalog.cardinality(t.path), t.status OPERATOR(pg_catalog.=) 'active', t.channel_id, t.test_tenant, " \
"       NULL::rollout.semver, NULL::rollout.semver, NULL::text, NULL::integer, cc.choices, NULL::boolean, NULL::boolean, " \
"       NULL::pg_catalog.int8, NULL::boolean, t.status OPERATOR(pg_catalog.=) 'decommissioned', " \
"       p.components, p.versions, a.components, a.versions, a.rollouts, a.stages, a.ranks, " \
"       fs.flags, fs.enabled, fs.killed, d.rollouts " \
"  FROM rollout.tenant t " \
"  LEFT JOIN (SELECT x.tenant_id, pg_catalog.array_agg(x.component_id) AS components, pg_catalog.array_agg(x.version) AS versions " \
"               FROM rollout.pin x WHERE x.component_id OPERATOR(pg_catalog.=) ANY ($1) GROUP BY x.tenant_id) p " \
"         ON p.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
"  LEFT JOIN (SELECT a.tenant_id, pg_catalog.array_agg(a.component_id) AS components, pg_catalog.array_agg(a.version) AS versions, " \
"                    pg_catalog.array_agg(a.rollout_id) AS rollouts, pg_catalog.array_agg(a.stage_no) AS stages, " \
"                    pg_catalog.array_agg(" rank ") AS ranks " \
"               FROM rollout.activation a WHERE a.component_id OPERATOR(pg_catalog.=) ANY ($1) GROUP BY a.tenant_id) a " \
"         ON a.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
"  LEFT JOIN (SELECT x.tenant_id, pg_catalog.array_agg(x.flag_id) AS flags, pg_catalog.array_agg(x.enabled) AS enabled, " \
"                    pg_catalog.array_agg(x.killed) AS killed " \
"               FROM rollout.flag_setting x WHERE x.flag_id OPERATOR(pg_catalog.=) ANY ($2) GROUP BY x.tenant_id) fs " \
"         ON fs.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
"  LEFT JOIN (SELECT x.tenant_id, pg_catalog.array_agg(x.rollout_id) AS rollouts " \
"               FROM rollout.deferral x WHERE x.rollout_id OPERATOR(pg_catalog.=) ANY ($3) GROUP BY x.tenant_id) d " \
"         ON d.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
"  LEFT JOIN (SELECT c.tenant_id, pg_catalog.string_agg(c.channel_id OPERATOR(pg_catalog.||) '=' OPERATOR(pg_catalog.||) c.choice, ';') AS choices" \
"               FROM rollout.channel_choice c GROUP BY c.tenant_id) cc ON cc.tenant_id OPERATOR(pg_catalog.=) t.tenant_id " \
" ORDER BY t.path"

static const char *const sql_all_many[2] = {SQL_ALL_MANY(RANK_START_NO), SQL_ALL_MANY(RANK_STARTED_AT)};

/* the elements of an array column of the current row (none when NULL) */
static int
col_array(HeapTuple tup, TupleDesc desc, int col, Datum **elems, bool **enulls)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	ArrayType  *arr;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			n;

	if (isnull)
		return 0;
	arr = DatumGetArrayTypeP(d);
	get_typlenbyvalalign(ARR_ELEMTYPE(arr), &typlen, &typbyval, &typalign);
	deconstruct_array(arr, ARR_ELEMTYPE(arr), typlen, typbyval, typalign, elems, enulls, &n);
	return n;
}

static int
component_slot(char **ids, int n, const char *id)
{
	for (int i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return i;
	return -1;
}

/*
 * The walk behind rollout.resolve_versions_all() and the governance
 * evaluation (src/governance.c): every tenant in path order, each listed
 * component (NULL: every component) resolved by resolve_levels() from the
 * levels of its path, then handed to cb with the tenant's path.  cb runs
 * in a memory context reset after each call; what it receives is valid only
 * during the call.
 */
void
pgr_resolve_walk(ArrayType *component_ids, PgrWalkCallback cb, void *arg)
{
	Snapshot	snap;
	MemoryContext walkcxt;
	MemoryContext levelcxt[MAX_DEPTH];

	snap = fresh_snapshot(NULL);
	walkcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout bulk resolution", ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < MAX_DEPTH; i++)
		levelcxt[i] = AllocSetContextCreate(walkcxt, "pg_rollout level", ALLOCSET_SMALL_SIZES);

	compute_begin();
	PG_TRY();
	{
		MemoryContext rowcxt = AllocSetContextCreate(walkcxt, "pg_rollout row", ALLOCSET_DEFAULT_SIZES);
		int			pathlevel = pgr_pin_search_path();
		int			ncomp = 0;
		char	  **ids;
		ComponentInfo **cis;
		FlagInfo  **fis;
		Level	  **levels;		/* levels[component][depth] */
		const char *path[MAX_DEPTH];
		PgrResolved *answers;
		Oid			argtypes[3] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
		Datum		values[3];
		Datum	   *flagdatums;
		Datum	   *livedatums;
		int			nflags = 0;
		int			nlive = 0;
		Portal		portal;
		ArrayType  *comps = component_ids;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pg_rollout: SPI_connect failed");
		meta_ensure();
		load_channels(snap);

		/* the components, in the order given (duplicates and NULLs skipped) */
		if (comps == NULL)
		{
			keep_plan(&plan_component_ids,
					  "SELECT pg_catalog.array_agg(c.component_id ORDER BY c.component_id) FROM rollout.component c",
					  0, NULL);
			run_plan(plan_component_ids, NULL, NULL, snap, 1);
			{
				bool		isnull;
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

				comps = isnull ? NULL : DatumGetArrayTypePCopy(d);
			}
		}
		{
			Datum	   *elems = NULL;
			bool	   *enulls = NULL;
			int			nelems = 0;

			if (comps)
				deconstruct_array(comps, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &nelems);
			ids = palloc(sizeof(char *) * Max(nelems, 1));
			cis = palloc(sizeof(ComponentInfo *) * Max(nelems, 1));
			fis = palloc(sizeof(FlagInfo *) * Max(nelems, 1));
			levels = palloc(sizeof(Level *) * Max(nelems, 1));
			flagdatums = palloc(sizeof(Datum) * Max(nelems, 1));
			livedatums = palloc(sizeof(Datum) * Max(nelems, 1));
			answers = palloc(sizeof(PgrResolved) * Max(nelems, 1));
			for (int i = 0; i < nelems; i++)
			{
				char	   *id;

				if (enulls[i])
					continue;
				id = TextDatumGetCString(elems[i]);
				if (component_slot(ids, ncomp, id) >= 0)
					continue;
				ids[ncomp] = id;
				cis[ncomp] = load_component(id, snap);
				fis[ncomp] = cis[ncomp]->flag_id ? load_flag(cis[ncomp]->flag_id, snap) : NULL;
				if (cis[ncomp]->flag_id)
					flagdatums[nflags++] = CStringGetTextDatum(cis[ncomp]->flag_id);
				if (cis[ncomp]->live_rollout)
					livedatums[nlive++] = CStringGetTextDatum(cis[ncomp]->live_rollout);
				levels[ncomp] = palloc0(sizeof(Level) * MAX_DEPTH);
				ncomp++;
			}
		}
		if (ncomp > 0)
		{
			Datum	   *compdatums = palloc(sizeof(Datum) * ncomp);

			for (int i = 0; i < ncomp; i++)
				compdatums[i] = CStringGetTextDatum(ids[i]);
			values[0] = PointerGetDatum(construct_array(compdatums, ncomp, TEXTOID, -1, false, TYPALIGN_INT));
			values[1] = PointerGetDatum(construct_array(flagdatums, nflags, TEXTOID, -1, false, TYPALIGN_INT));
			values[2] = PointerGetDatum(construct_array(livedatums, nlive, TEXTOID, -1, false, TYPALIGN_INT));
			keep_plan(&plan_all_many[schema_variant], sql_all_many[schema_variant], 3, argtypes);
			PushActiveSnapshot(snap);
			portal = SPI_cursor_open(NULL, plan_all_many[schema_variant], values, NULL, true);
			PopActiveSnapshot();
			for (;;)
			{
				SPITupleTable *tt;

				SPI_cursor_fetch(portal, true, 10000);
				if (SPI_processed == 0)
					break;
				tt = SPI_tuptable;
				for (uint64 r = 0; r < SPI_processed; r++)
				{
					HeapTuple	tup = tt->vals[r];
					TupleDesc	desc = tt->tupdesc;
					bool		isnull;
					int			depth = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
					bool		decommissioned = col_bool(tup, desc, 15, &isnull);
					Level		base;
					Datum	   *pc, *pv, *ac, *av, *ar, *as, *ak, *ff, *fe, *fk, *dr;
					bool	   *pcn, *pvn, *acn, *avn, *arn, *asn, *akn, *ffn, *fen, *fkn, *drn;
					int			np, na, nf, nd;
					Oid			ranktype = InvalidOid;
					MemoryContext old;

					if (depth < 1 || depth > MAX_DEPTH)
						elog(ERROR, "pg_rollout: tenant depth %d out of range", depth);
					MemoryContextReset(levelcxt[depth - 1]);
					level_from_tuple(&base, tup, desc, levelcxt[depth - 1]);
					for (int i = 0; i < ncomp; i++)
						levels[i][depth - 1] = base;
					path[depth - 1] = base.tenant_id;

					old = MemoryContextSwitchTo(levelcxt[depth - 1]);
					np = col_array(tup, desc, 16, &pc, &pcn);
					if (np > 0)
						(void) col_array(tup, desc, 17, &pv, &pvn);
					for (int k = 0; k < np; k++)
					{
						int			i = component_slot(ids, ncomp, TextDatumGetCString(pc[k]));

						if (i >= 0 && !pvn[k])
						{
							levels[i][depth - 1].has_pin = true;
							levels[i][depth - 1].pin = datumCopy(pv[k], false, -1);
						}
					}
					na = col_array(tup, desc, 18, &ac, &acn);
					if (na > 0)
					{
						bool		rnull;
						Datum		rd = SPI_getbinval(tup, desc, 22, &rnull);

						(void) col_array(tup, desc, 19, &av, &avn);
						(void) col_array(tup, desc, 20, &ar, &arn);
						(void) col_array(tup, desc, 21, &as, &asn);
						(void) col_array(tup, desc, 22, &ak, &akn);
						if (!rnull)
							ranktype = ARR_ELEMTYPE(DatumGetArrayTypeP(rd));
					}
					for (int k = 0; k < na; k++)
					{
						int			i = component_slot(ids, ncomp, TextDatumGetCString(ac[k]));

						if (i >= 0 && !avn[k])
						{
							Level	   *lv = &levels[i][depth - 1];

							lv->has_act = true;
							lv->act = datumCopy(av[k], false, -1);
							lv->act_rollout = arn[k] ? NULL : TextDatumGetCString(ar[k]);
							lv->act_stage = asn[k] ? 0 : DatumGetInt32(as[k]);
							lv->act_rank = akn[k] ? 0 : (ranktype == TIMESTAMPTZOID ?
														 (int64) DatumGetTimestampTz(ak[k]) : DatumGetInt64(ak[k]));
						}
					}
					nf = col_array(tup, desc, 23, &ff, &ffn);
					if (nf > 0)
					{
						(void) col_array(tup, desc, 24, &fe, &fen);
						(void) col_array(tup, desc, 25, &fk, &fkn);
					}
					for (int k = 0; k < nf; k++)
					{
						char	   *flag = TextDatumGetCString(ff[k]);

						for (int i = 0; i < ncomp; i++)
						{
							if (cis[i]->flag_id == NULL || strcmp(cis[i]->flag_id, flag) != 0)
								continue;
							levels[i][depth - 1].flag_override = fen[k] ? -1 : (DatumGetBool(fe[k]) ? 1 : 0);
							levels[i][depth - 1].flag_killed = fkn[k] ? false : DatumGetBool(fk[k]);
						}
					}
					nd = col_array(tup, desc, 26, &dr, &drn);
					for (int k = 0; k < nd; k++)
					{
						char	   *rollout = drn[k] ? NULL : TextDatumGetCString(dr[k]);

						for (int i = 0; i < ncomp; i++)
							if (rollout && cis[i]->live_rollout && strcmp(cis[i]->live_rollout, rollout) == 0)
								levels[i][depth - 1].deferred = true;
					}
					MemoryContextSwitchTo(old);

					old = MemoryContextSwitchTo(rowcxt);
					for (int i = 0; i < ncomp; i++)
					{
						Answer		ans;

						resolve_levels(cis[i], fis[i], levels[i], depth, &ans, NULL);
						answers[i].isnull = ans.isnull;
						answers[i].version = ans.isnull ? (Datum) 0 : ans.version;
						answers[i].source = source_names[ans.source];
						answers[i].source_tenant = ans.source_tenant;
					}
					cb(arg, path, depth, decommissioned, ncomp, (const char *const *) ids, answers);
					MemoryContextSwitchTo(old);
					MemoryContextReset(rowcxt);
				}
				SPI_freetuptable(tt);
			}
			SPI_cursor_close(portal);
		}
		SPI_finish();
		pgr_unpin_search_path(pathlevel);
	}
	PG_FINALLY();
	{
		UnregisterSnapshot(snap);
		compute_end();
	}
	PG_END_TRY();
	MemoryContextDelete(walkcxt);
}

/* resolve_versions_all: one row per (tenant, component) */
static void
put_many(void *arg, const char *const *path, int depth, bool decommissioned, int ncomp,
		 const char *const *components, const PgrResolved *answers)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		tenant = CStringGetTextDatum(path[depth - 1]);

	for (int i = 0; i < ncomp; i++)
	{
		Datum		out[5];
		bool		outnulls[5] = {false, false, false, false, false};

		out[0] = CStringGetTextDatum(components[i]);
		out[1] = tenant;
		if (answers[i].isnull)
			outnulls[2] = true;
		else
			out[2] = answers[i].version;
		out[3] = CStringGetTextDatum(answers[i].source);
		if (answers[i].source_tenant)
			out[4] = CStringGetTextDatum(answers[i].source_tenant);
		else
			outnulls[4] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);	/* copies */
	}
}

PG_FUNCTION_INFO_V1(pgr_resolve_versions_all);

/* rollout.resolve_versions_all(component_ids text[] DEFAULT NULL) */
Datum
pgr_resolve_versions_all(PG_FUNCTION_ARGS)
{
	pgr_require_preload("version resolution");
	InitMaterializedSRF(fcinfo, 0);
	pgr_resolve_walk(PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0), put_many, fcinfo->resultinfo);
	return (Datum) 0;
}
