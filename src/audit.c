/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The append-only, tamper-evident audit log (rollout.audit_log) and its
 *	  hash chain (rollout.audit_seal).
 *
 * Design (schema 0.2.0).  An audited call appends one row and takes no lock
 * beyond the row insert's own: the row's number comes from the sequence
 * rollout.audit_log_seq, and the row carries row_hash, the SHA-256 of a
 * canonical encoding of its own fields (prev_hash is 32 zero bytes).  So
 * audited calls never wait for each other, whatever their order, and an
 * open transaction that made one holds nothing that other writers need.
 *
 * The chain is built after commit by rollout.seal_audit() (tick() calls it):
 * a sealer locks rollout.audit_seal (ExclusiveLock: sealers serialize among
 * themselves, readers and appenders are not affected), takes the latest
 * snapshot, and writes one block holding every committed row not sealed
 * yet: the exact set of their numbers (seqs), their count, and block_hash,
 * the SHA-256 of the block's columns, of the previous block's hash and of
 * the (seq, row_hash) of each of its rows in seq order.  Blocks are numbered
 * 1, 2, 3, ... without gaps, so block order is commit order at the
 * granularity of a seal.
 *
 * Finding the rows not sealed yet without rescanning the log: numbers are
 * taken in increasing order, but commit in any order, and a rolled-back
 * append leaves its number unused for ever.  Each block records the state
 * after it: sealed_upto (every number up to it is sealed or was never
 * committed), pending (the numbers above sealed_upto that are sealed), and a
 * horizon (horizon_seq, horizon_xid): the sequence's last value read before
 * the next transaction id.  An appender takes its transaction id before its
 * number, so every number up to horizon_seq belongs to a transaction older
 * than horizon_xid; once the oldest running transaction is not older than
 * horizon_xid, each of those numbers is committed (and visible: sealed by
 * this seal) or never will be, and sealed_upto passes horizon_seq.  A
 * horizon_xid beyond this cluster's next transaction id comes from another
 * cluster (a restored dump): all its transactions have ended.
 *
 * rollout.verify_audit() walks the blocks in order (links, hashes, every
 * number of every block present and its row intact), checks every row not
 * sealed yet against its own hash, and counts the log: a row that is in no
 * block although the chain has sealed past its number was added afterwards.
 * Between commit and seal a row is protected against edits (its own hash)
 * but not against deletion by someone who bypasses the triggers; once
 * sealed, edits, deletions, insertions and renumbering all break the chain;
 * removing the newest blocks with their rows is found against a head
 * recorded elsewhere (rollout.audit_head()).
 *
 * Each verification is also recorded in rollout.audit_verification (when,
 * how long, intact or the problem, against which head, by whom), so that
 * "the audit log was verified recently and found intact" is a query for
 * monitoring (rollout.metrics_audit_verification).  The row is written in
 * the caller's transaction, with the rights of the function's owner; a
 * read-only transaction (a standby) verifies without recording, and so does
 * a session user that is neither a superuser nor a member of
 * rollout_operator: a viewer may verify, but its runs (with a head of its
 * own choosing, say) do not become what monitoring reports.
 *
 * Schema 0.1.0 (the new library before ALTER EXTENSION ... UPDATE): no
 * sequence and no rollout.audit_seal.  Appenders then serialize, as 0.1.0
 * did, on a SHARE ROW EXCLUSIVE lock on the log held until commit and chain
 * each row to the previous one (seq 1, 2, 3, ... without gaps), and
 * verify_audit() walks that chain.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "pg_rollout.h"
#include "audit.h"
#include "pgr_limits.h"

#define AUDIT_DOMAIN_TAG "pg_rollout.audit.v1"
#define AUDIT_BLOCK_TAG "pg_rollout.audit.block.v1"

/* The fields of one audit row that its hash covers. */
typedef struct AuditRow
{
	int64		seq;
	TimestampTz logged_at;
	uint64		txid;
	const char *db_user;
	const char *actor;
	const char *tenant_id;
	const char *subject_kind;
	const char *subject_id;
	const char *action;
	const char *reason;
	const char *details;		/* jsonb in its canonical text form */
	uint8		prev_hash[PGR_AUDIT_HASH_LEN];
} AuditRow;

/* The relations of the audit log; seq and seal are invalid on 0.1.0. */
typedef struct AuditRels
{
	Oid			log;
	Oid			seq;
	Oid			seal;
} AuditRels;

/* The columns of one block of rollout.audit_seal that its hash covers. */
typedef struct AuditBlock
{
	int64		block;
	TimestampTz sealed_at;
	uint64		txid;
	int64		row_count;
	const char *seqs;			/* int8multirange in its text form */
	int64		sealed_upto;
	const char *pending;		/* int8multirange in its text form */
	bool		has_horizon;
	int64		horizon_seq;
	uint64		horizon_xid;
	uint8		prev_hash[PGR_AUDIT_HASH_LEN];
	uint8		block_hash[PGR_AUDIT_HASH_LEN];
} AuditBlock;

/* A set of sequence numbers as sorted, disjoint, non-adjacent [lo, hi). */
typedef struct SeqRanges
{
	int64	   *lo;
	int64	   *hi;
	int			n;
	int			cap;
} SeqRanges;

/*
 * Schema 0.1.0 only: the head of the chain as this transaction last wrote
 * it.  Valid only while this top-level transaction holds the log lock and
 * no subtransaction that may have appended has aborted.
 */
typedef struct ChainedHead
{
	bool		valid;
	FullTransactionId fxid;
	int64		seq;
	uint8		hash[PGR_AUDIT_HASH_LEN];
} ChainedHead;

static ChainedHead chained_head = {false};
static bool audit_callbacks_registered = false;
static SPIPlanPtr audit_head_plan = NULL;
static SPIPlanPtr audit_insert_plan = NULL;

/*
 * The statements of a seal, prepared once per session (a tick seals every
 * time it runs, mostly finding nothing to seal: planning them on every call
 * cost more than the rest of an idle tick).  Every relation and function is
 * schema-qualified and the sequence is a parameter, so a plan stays right
 * for a recreated extension; the plan cache re-plans after DDL.
 */
static SPIPlanPtr audit_ranges_plan = NULL;
static SPIPlanPtr audit_last_block_plan = NULL;
static SPIPlanPtr audit_last_number_plan = NULL;
static SPIPlanPtr audit_unsealed_plan = NULL;
static SPIPlanPtr audit_seal_insert_plan = NULL;


/* Forget the cached head at the end of a transaction. */
static void
audit_xact_callback(XactEvent event, void *arg)
{
	chained_head.valid = false;
}

/* Forget the cached head when a subtransaction aborts. */
static void
audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		chained_head.valid = false;
}

/* Feed one length-prefixed, NULL-aware string into the hash. */
static void
audit_hash_string(pg_cryptohash_ctx *ctx, const char *s)
{
	uint8		present = (s != NULL);
	uint32		len;

	pg_cryptohash_update(ctx, &present, 1);
	if (s == NULL)
		return;
	len = pg_hton32((uint32) strlen(s));
	pg_cryptohash_update(ctx, (uint8 *) &len, sizeof(len));
	pg_cryptohash_update(ctx, (const uint8 *) s, strlen(s));
}

/* Feed one 64-bit integer, big-endian, into the hash. */
static void
audit_hash_uint64(pg_cryptohash_ctx *ctx, uint64 v)
{
	uint64		be = pg_hton64(v);

	pg_cryptohash_update(ctx, (uint8 *) &be, sizeof(be));
}

/* A fresh SHA-256 context, started with a domain tag. */
static pg_cryptohash_ctx *
audit_hash_begin(const char *tag)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialize SHA-256 context: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_update(ctx, (const uint8 *) tag, strlen(tag) + 1);
	return ctx;
}

/* Finish a SHA-256 context into out and free it. */
static void
audit_hash_end(pg_cryptohash_ctx *ctx, uint8 *out)
{
	if (pg_cryptohash_final(ctx, out, PGR_AUDIT_HASH_LEN) < 0)
		elog(ERROR, "could not finalize SHA-256 context: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/* Compute the SHA-256 of one row (the same encoding since 0.1.0). */
static void
audit_compute_hash(const AuditRow *row, uint8 *out)
{
	pg_cryptohash_ctx *ctx = audit_hash_begin(AUDIT_DOMAIN_TAG);

	audit_hash_uint64(ctx, (uint64) row->seq);
	audit_hash_uint64(ctx, (uint64) row->logged_at);
	audit_hash_uint64(ctx, row->txid);
	audit_hash_string(ctx, row->db_user);
	audit_hash_string(ctx, row->actor);
	audit_hash_string(ctx, row->tenant_id);
	audit_hash_string(ctx, row->subject_kind);
	audit_hash_string(ctx, row->subject_id);
	audit_hash_string(ctx, row->action);
	audit_hash_string(ctx, row->reason);
	audit_hash_string(ctx, row->details);
	pg_cryptohash_update(ctx, row->prev_hash, PGR_AUDIT_HASH_LEN);
	audit_hash_end(ctx, out);
}

/*
 * Start the hash of a block: its columns and the previous block's hash.
 * The caller feeds each row with audit_block_hash_row, in seq order.
 */
static pg_cryptohash_ctx *
audit_block_hash_begin(const AuditBlock *b)
{
	pg_cryptohash_ctx *ctx = audit_hash_begin(AUDIT_BLOCK_TAG);
	uint8		present = b->has_horizon;

	audit_hash_uint64(ctx, (uint64) b->block);
	audit_hash_uint64(ctx, (uint64) b->sealed_at);
	audit_hash_uint64(ctx, b->txid);
	audit_hash_uint64(ctx, (uint64) b->row_count);
	audit_hash_string(ctx, b->seqs);
	audit_hash_uint64(ctx, (uint64) b->sealed_upto);
	audit_hash_string(ctx, b->pending);
	pg_cryptohash_update(ctx, &present, 1);
	if (b->has_horizon)
	{
		audit_hash_uint64(ctx, (uint64) b->horizon_seq);
		audit_hash_uint64(ctx, b->horizon_xid);
	}
	pg_cryptohash_update(ctx, b->prev_hash, PGR_AUDIT_HASH_LEN);
	return ctx;
}

/* Feed one row of a block into its hash. */
static void
audit_block_hash_row(pg_cryptohash_ctx *ctx, int64 seq, const uint8 *row_hash)
{
	audit_hash_uint64(ctx, (uint64) seq);
	pg_cryptohash_update(ctx, row_hash, PGR_AUDIT_HASH_LEN);
}

/*
 * Look up the audit relations, failing clearly if the extension is missing.
 * seq and seal stay invalid on a 0.1.0 schema.
 */
static void
audit_rels(AuditRels *rels)
{
	Oid			nsp = get_namespace_oid(PGR_SCHEMA, true);

	rels->log = OidIsValid(nsp) ? get_relname_relid(PGR_TABLE_AUDIT_LOG, nsp) : InvalidOid;
	if (!OidIsValid(rels->log))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"rollout.audit_log\" does not exist"),
				 errhint("Run CREATE EXTENSION pg_rollout in this database.")));
	rels->seq = get_relname_relid("audit_log_seq", nsp);
	rels->seal = get_relname_relid("audit_seal", nsp);
	if (OidIsValid(rels->seq) && get_rel_relkind(rels->seq) != RELKIND_SEQUENCE)
		rels->seq = InvalidOid;
	if (!OidIsValid(rels->seq))
		rels->seal = InvalidOid;
}

/* Prepare and keep the two statements an append runs. */
static void
audit_prepare_plans(void)
{
	Oid			types[13] = {INT8OID, TIMESTAMPTZOID, XID8OID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, BYTEAOID, BYTEAOID};

	(void) pgr_kept_plan(&audit_head_plan, "SELECT seq, row_hash FROM rollout.audit_log "
						 "ORDER BY seq DESC LIMIT 1", 0, NULL);
	(void) pgr_kept_plan(&audit_insert_plan, "INSERT INTO rollout.audit_log (seq, logged_at, txid, "
						 "db_user, actor, tenant_id, subject_kind, subject_id, "
						 "action, reason, details, prev_hash, row_hash) "
						 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
						 13, types);
}

/* Build a bytea datum from raw bytes. */
static Datum
audit_bytea(const uint8 *bytes, int len)
{
	bytea	   *b = (bytea *) palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), bytes, len);
	return PointerGetDatum(b);
}

/* Copy a bytea hash into out, checking its length. */
static bool
audit_get_hash(Datum d, uint8 *out)
{
	bytea	   *b = DatumGetByteaPP(d);

	if (VARSIZE_ANY_EXHDR(b) != PGR_AUDIT_HASH_LEN)
		return false;
	memcpy(out, VARDATA_ANY(b), PGR_AUDIT_HASH_LEN);
	return true;
}

/* Text datum or SQL NULL marker. */
#define AUDIT_TEXT_ARG(s, i) \
	do { \
		if ((s) != NULL) { values[i] = CStringGetTextDatum(s); nulls[i] = ' '; } \
		else { values[i] = (Datum) 0; nulls[i] = 'n'; } \
	} while (0)

/*
 * Schema 0.1.0: number the row after the head of the chain and link it to
 * the head's hash, under the log lock held until commit.
 */
static void
audit_chain_to_head(Oid logid, FullTransactionId fxid, AuditRow *row)
{
	int			ret;

	if (!audit_callbacks_registered)
	{
		RegisterXactCallback(audit_xact_callback, NULL);
		RegisterSubXactCallback(audit_subxact_callback, NULL);
		audit_callbacks_registered = true;
	}

	/* Serialize appenders until commit; cheap when already held. */
	LockRelationOid(logid, ShareRowExclusiveLock);

	if (chained_head.valid &&
		FullTransactionIdEquals(chained_head.fxid, fxid))
	{
		row->seq = chained_head.seq + 1;
		memcpy(row->prev_hash, chained_head.hash, PGR_AUDIT_HASH_LEN);
		return;
	}

	/* The latest snapshot sees every append committed before our lock. */
	ret = SPI_execute_snapshot(audit_head_plan, NULL, NULL,
							   GetLatestSnapshot(), InvalidSnapshot,
							   false, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the audit log head failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed == 0)
		row->seq = 1;			/* genesis: prev_hash stays all zeroes */
	else
	{
		bool		isnull;
		Datum		d;

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		row->seq = DatumGetInt64(d) + 1;
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		if (isnull || !audit_get_hash(d, row->prev_hash))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("audit log row %lld has an invalid hash",
							(long long) (row->seq - 1)),
					 errhint("Run rollout.verify_audit() to inspect the chain.")));
	}
}

int64
pgr_audit_append(const char *action, const char *tenant_id,
				 const char *subject_kind, const char *subject_id,
				 const char *reason, Jsonb *details)
{
	AuditRow	row;
	AuditRels	rels;
	uint8		hash[PGR_AUDIT_HASH_LEN];
	FullTransactionId fxid;
	Datum		values[13];
	char		nulls[13];
	int			ret;
	int			pathlevel;

	pgr_require_preload("the audit log");

	if (action == NULL || action[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("audit action must not be empty")));

	audit_rels(&rels);

	/*
	 * The transaction id first, then the number: every number up to a
	 * sealer's horizon then belongs to a transaction older than its horizon
	 * transaction id (see the file header).
	 */
	fxid = GetTopFullTransactionId();
	memset(&row, 0, sizeof(row));
	if (OidIsValid(rels.seq))
		row.seq = nextval_internal(rels.seq, false);

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	audit_prepare_plans();

	if (!OidIsValid(rels.seq))
		audit_chain_to_head(rels.log, fxid, &row);

	row.logged_at = GetCurrentTimestamp();
	row.txid = U64FromFullTransactionId(fxid);
	row.db_user = GetUserNameFromId(GetSessionUserId(), false);
	row.actor = (pgr_actor != NULL && pgr_actor[0] != '\0') ? pgr_actor : NULL;
	row.tenant_id = tenant_id;
	row.subject_kind = subject_kind;
	row.subject_id = subject_id;
	row.action = action;
	row.reason = reason;
	if (details == NULL)
		details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	row.details = JsonbToCString(NULL, &details->root, VARSIZE(details));

	audit_compute_hash(&row, hash);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(row.seq);
	values[1] = TimestampTzGetDatum(row.logged_at);
	values[2] = FullTransactionIdGetDatum(fxid);
	values[3] = CStringGetTextDatum(row.db_user);
	AUDIT_TEXT_ARG(row.actor, 4);
	AUDIT_TEXT_ARG(row.tenant_id, 5);
	AUDIT_TEXT_ARG(row.subject_kind, 6);
	AUDIT_TEXT_ARG(row.subject_id, 7);
	values[8] = CStringGetTextDatum(row.action);
	AUDIT_TEXT_ARG(row.reason, 9);
	values[10] = JsonbPGetDatum(details);
	values[11] = audit_bytea(row.prev_hash, PGR_AUDIT_HASH_LEN);
	values[12] = audit_bytea(hash, PGR_AUDIT_HASH_LEN);

	ret = SPI_execute_plan(audit_insert_plan, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "appending to the audit log failed: %s",
			 SPI_result_code_string(ret));

	if (!OidIsValid(rels.seq))
	{
		chained_head.valid = true;
		chained_head.fxid = fxid;
		chained_head.seq = row.seq;
		memcpy(chained_head.hash, hash, PGR_AUDIT_HASH_LEN);
	}

	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	return row.seq;
}

PG_FUNCTION_INFO_V1(pgr_audit);

/*
 * rollout._audit(action, tenant_id, subject_kind, subject_id, reason, details)
 * Internal: append one audit row; returns its sequence number.
 */
Datum
pgr_audit(PG_FUNCTION_ARGS)
{
	char	   *action = pgr_text_arg(fcinfo, 0);

	PG_RETURN_INT64(pgr_audit_append(action,
									 pgr_text_arg(fcinfo, 1),
									 pgr_text_arg(fcinfo, 2),
									 pgr_text_arg(fcinfo, 3),
									 pgr_text_arg(fcinfo, 4),
									 PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5)));
}

PG_FUNCTION_INFO_V1(pgr_audit_each);

/*
 * rollout._audit_each(action, tenant_ids text[], subject_kind, reason, details)
 * Internal: append one audit row per tenant (subject_id = the tenant id);
 * returns the number of rows written.
 */
Datum
pgr_audit_each(PG_FUNCTION_ARGS)
{
	char	   *action = pgr_text_arg(fcinfo, 0);
	char	   *subject_kind = pgr_text_arg(fcinfo, 2);
	char	   *reason = pgr_text_arg(fcinfo, 3);
	Jsonb	   *details = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elnulls;
	int			n;
	int64		count = 0;
	MemoryContext loopcxt,
				oldcxt;

	if (PG_ARGISNULL(1))
		PG_RETURN_INT64(0);
	arr = PG_GETARG_ARRAYTYPE_P(1);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elnulls, &n);

	loopcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout audit batch",
									ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < n; i++)
	{
		char	   *tenant;

		if (elnulls[i])
			continue;
		oldcxt = MemoryContextSwitchTo(loopcxt);
		tenant = TextDatumGetCString(elems[i]);
		pgr_audit_append(action, tenant, subject_kind, tenant, reason, details);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(loopcxt);
		count++;
	}
	MemoryContextDelete(loopcxt);
	PG_RETURN_INT64(count);
}

/* ---- sets of sequence numbers ---------------------------------------- */

/* Append [lo, hi) after every range already in r, merging when adjacent. */
static void
seqranges_add(SeqRanges *r, int64 lo, int64 hi)
{
	if (lo >= hi)
		return;
	if (r->n > 0 && lo <= r->hi[r->n - 1])
	{
		if (hi > r->hi[r->n - 1])
			r->hi[r->n - 1] = hi;
		return;
	}
	if (r->n == r->cap)
	{
		r->cap = r->cap ? r->cap * 2 : 16;
		r->lo = r->lo ? repalloc(r->lo, sizeof(int64) * r->cap) : palloc(sizeof(int64) * r->cap);
		r->hi = r->hi ? repalloc(r->hi, sizeof(int64) * r->cap) : palloc(sizeof(int64) * r->cap);
	}
	r->lo[r->n] = lo;
	r->hi[r->n] = hi;
	r->n++;
}

/* The union of two sets. */
static SeqRanges
seqranges_union(const SeqRanges *a, const SeqRanges *b)
{
	SeqRanges	u = {0};
	int			i = 0,
				j = 0;

	while (i < a->n || j < b->n)
	{
		if (j >= b->n || (i < a->n && a->lo[i] <= b->lo[j]))
		{
			seqranges_add(&u, a->lo[i], a->hi[i]);
			i++;
		}
		else
		{
			seqranges_add(&u, b->lo[j], b->hi[j]);
			j++;
		}
	}
	return u;
}

/*
 * Drop every number up to *upto from r, then move *upto over the numbers
 * that follow it without a hole (they are sealed).
 */
static void
seqranges_clip(SeqRanges *r, int64 *upto)
{
	int			k = 0;

	for (int i = 0; i < r->n; i++)
	{
		int64		lo = Max(r->lo[i], *upto + 1);

		if (lo >= r->hi[i])
			continue;
		if (k == 0 && lo == *upto + 1)
		{
			*upto = r->hi[i] - 1;
			continue;
		}
		r->lo[k] = lo;
		r->hi[k] = r->hi[i];
		k++;
	}
	r->n = k;
}

/* The set as the text of an int8multirange: {[1,4),[6,7)}. */
static char *
seqranges_text(const SeqRanges *r)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < r->n; i++)
		appendStringInfo(&buf, "%s[" INT64_FORMAT "," INT64_FORMAT ")",
						 i > 0 ? "," : "", r->lo[i], r->hi[i]);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* Read the ranges of an int8multirange (given as text) through SPI. */
static SeqRanges
seqranges_read(const char *multirange)
{
	SeqRanges	r = {0};
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(multirange);
	int			ret;

	ret = SPI_execute_plan(pgr_kept_plan(&audit_ranges_plan,
									  "SELECT pg_catalog.lower(r), pg_catalog.upper(r) "
									  "FROM pg_catalog.unnest($1::pg_catalog.int8multirange) r ORDER BY 1",
									  1, &type),
						   &arg, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading a set of audit numbers failed: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		n1,
					n2;
		int64		lo = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &n1));
		int64		hi = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &n2));

		if (n1 || n2)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("audit seal holds an unbounded range of numbers: %s", multirange)));
		seqranges_add(&r, lo, hi);
	}
	SPI_freetuptable(SPI_tuptable);
	return r;
}

/* ---- sealing ----------------------------------------------------------- */

/* A 32-bit transaction id of a running snapshot as a full one. */
static FullTransactionId
audit_widen_xid(TransactionId xid)
{
	FullTransactionId next = ReadNextFullTransactionId();
	uint32		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next) && epoch > 0)
		epoch--;
	return FullTransactionIdFromEpochAndXid(epoch, xid);
}

/* Column n of an SPI row, or the default when NULL. */
static Datum
audit_spi_value(int n, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n, isnull);
}

/* Read the newest block into b; false when there is none yet. */
static bool
audit_last_block(Snapshot snap, AuditBlock *b)
{
	SPIPlanPtr	plan;
	int			ret;
	bool		isnull;

	plan = pgr_kept_plan(&audit_last_block_plan,
					  "SELECT s.block, s.sealed_upto, s.pending::pg_catalog.text, s.horizon_seq, "
					  "s.horizon_xid, s.block_hash FROM rollout.audit_seal s "
					  "ORDER BY s.block DESC LIMIT 1", 0, NULL);
	ret = SPI_execute_snapshot(plan, NULL, NULL, snap, InvalidSnapshot, true, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the audit seal failed: %s", SPI_result_code_string(ret));
	memset(b, 0, sizeof(*b));
	b->pending = "{}";
	if (SPI_processed == 0)
		return false;
	b->block = DatumGetInt64(audit_spi_value(1, &isnull));
	b->sealed_upto = DatumGetInt64(audit_spi_value(2, &isnull));
	b->pending = TextDatumGetCString(audit_spi_value(3, &isnull));
	b->horizon_seq = DatumGetInt64(audit_spi_value(4, &isnull));
	b->has_horizon = !isnull;
	if (b->has_horizon)
	{
		Datum		d = audit_spi_value(5, &isnull);

		b->has_horizon = !isnull;
		if (!isnull)
			b->horizon_xid = U64FromFullTransactionId(DatumGetFullTransactionId(d));
	}
	if (!audit_get_hash(audit_spi_value(6, &isnull), b->block_hash))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("audit block %lld has an invalid hash", (long long) b->block),
				 errhint("Run rollout.verify_audit() to inspect the chain.")));
	return true;
}

/* The last number handed out by rollout.audit_log_seq, 0 before any. */
static int64
audit_last_number(Oid seqid)
{
	int			ret;
	bool		isnull;
	Datum		d;
	Oid			type = REGCLASSOID;
	Datum		arg = ObjectIdGetDatum(seqid);

	ret = SPI_execute_plan(pgr_kept_plan(&audit_last_number_plan,
									  "SELECT pg_catalog.pg_sequence_last_value($1)", 1, &type),
						   &arg, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading rollout.audit_log_seq failed: %s", SPI_result_code_string(ret));
	d = audit_spi_value(1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

PG_FUNCTION_INFO_V1(pgr_seal_audit);

/*
 * rollout.seal_audit(wait, max_rows): chain the committed audit rows not
 * sealed yet into one new block (see the file header).  Returns the number
 * of rows sealed, or NULL when wait is false and another seal is running.
 */
Datum
pgr_seal_audit(PG_FUNCTION_ARGS)
{
	bool		wait = PG_ARGISNULL(0) ? true : PG_GETARG_BOOL(0);
	int32		max_rows = PG_ARGISNULL(1) ? 1000000 : PG_GETARG_INT32(1);
	AuditRels	rels;
	AuditBlock	prev;
	AuditBlock	b;
	bool		have_prev;
	Snapshot	snap;
	FullTransactionId fxid;
	FullTransactionId xmin;
	FullTransactionId next;
	bool		final;
	SPIPlanPtr	plan;
	Oid			types[11];
	Datum		values[11];
	char		nulls[11];
	int			ret;
	int			pathlevel;
	uint64		nrows;
	int64	   *seqs;
	uint8	   *hashes;
	SeqRanges	sealed = {0};
	SeqRanges	pending;
	SeqRanges	old_pending;
	pg_cryptohash_ctx *ctx;

	pgr_require_preload("the audit log");
	if (max_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be at least 1, not %d", max_rows)));
	audit_rels(&rels);
	if (!OidIsValid(rels.seal))
		pgr_require_schema("0.2.0", "rollout.seal_audit()");
	if (!OidIsValid(rels.seal))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"rollout.audit_seal\" does not exist")));

	/* Sealers serialize among themselves only; held until commit. */
	if (wait)
		LockRelationOid(rels.seal, ExclusiveLock);
	else if (!ConditionalLockRelationOid(rels.seal, ExclusiveLock))
		PG_RETURN_NULL();

	fxid = GetTopFullTransactionId();
	snap = RegisterSnapshot(GetLatestSnapshot());
	xmin = audit_widen_xid(snap->xmin);

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	have_prev = audit_last_block(snap, &prev);

	/*
	 * Nothing to seal: no number above sealed_upto was ever handed out (a
	 * row's number is at most the sequence's last value), so the query
	 * below would find no row.  The usual case of a tick with nothing to
	 * do; it then reads one block and the sequence, and writes nothing.
	 */
	if (audit_last_number(rels.seq) <= prev.sealed_upto)
	{
		SPI_finish();
		pgr_unpin_search_path(pathlevel);
		UnregisterSnapshot(snap);
		PG_RETURN_INT64(0);
	}
	old_pending = seqranges_read(prev.pending);

	/* Every number up to the horizon is committed by now, or never will be. */
	next = ReadNextFullTransactionId();
	final = have_prev && prev.has_horizon &&
		(U64FromFullTransactionId(xmin) >= prev.horizon_xid ||
		 U64FromFullTransactionId(next) < prev.horizon_xid);

	/* The rows to seal: committed, above sealed_upto, not sealed yet. */
	types[0] = INT8OID;
	types[1] = TEXTOID;
	types[2] = INT4OID;
	plan = pgr_kept_plan(&audit_unsealed_plan,
					  "SELECT a.seq, a.row_hash FROM rollout.audit_log a "
					  "WHERE a.seq OPERATOR(pg_catalog.>) $1 "
					  "AND NOT (a.seq OPERATOR(pg_catalog.<@) $2::pg_catalog.int8multirange) "
					  "ORDER BY a.seq LIMIT $3", 3, types);
	values[0] = Int64GetDatum(prev.sealed_upto);
	values[1] = CStringGetTextDatum(prev.pending);
	values[2] = Int32GetDatum(max_rows);
	ret = SPI_execute_snapshot(plan, values, NULL, snap, InvalidSnapshot, true, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading unsealed audit rows failed: %s", SPI_result_code_string(ret));
	nrows = SPI_processed;
	if (nrows == 0)
	{
		SPI_finish();
		pgr_unpin_search_path(pathlevel);
		UnregisterSnapshot(snap);
		PG_RETURN_INT64(0);
	}
	seqs = palloc(sizeof(int64) * nrows);
	hashes = palloc(PGR_AUDIT_HASH_LEN * nrows);
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];

		seqs[i] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		if (!audit_get_hash(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull),
							hashes + i * PGR_AUDIT_HASH_LEN) || isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("audit log row %lld has an invalid hash", (long long) seqs[i]),
					 errhint("Run rollout.verify_audit() to inspect the log.")));
		seqranges_add(&sealed, seqs[i], seqs[i] + 1);
	}
	SPI_freetuptable(SPI_tuptable);

	/* The state after this block. */
	memset(&b, 0, sizeof(b));
	b.block = have_prev ? prev.block + 1 : 1;
	b.sealed_at = GetCurrentTimestamp();
	b.txid = U64FromFullTransactionId(fxid);
	b.row_count = (int64) nrows;
	b.seqs = seqranges_text(&sealed);
	b.sealed_upto = prev.sealed_upto;
	if (final)
	{
		int64		upto = prev.horizon_seq;

		/*
		 * A seal cut short by max_rows may have left committed rows below
		 * the horizon: then sealed_upto stops at the last row sealed, and
		 * the horizon is kept for the next seal.
		 */
		if (nrows == (uint64) max_rows && seqs[nrows - 1] < upto)
		{
			upto = seqs[nrows - 1];
			final = false;
		}
		if (upto > b.sealed_upto)
			b.sealed_upto = upto;
	}
	pending = seqranges_union(&old_pending, &sealed);
	seqranges_clip(&pending, &b.sealed_upto);
	b.pending = seqranges_text(&pending);
	if (!have_prev || !prev.has_horizon || final)
	{
		/* the number first, then the transaction id (see the file header) */
		b.horizon_seq = audit_last_number(rels.seq);
		b.horizon_xid = U64FromFullTransactionId(ReadNextFullTransactionId());
	}
	else
	{
		b.horizon_seq = prev.horizon_seq;
		b.horizon_xid = prev.horizon_xid;
	}
	b.has_horizon = true;
	if (have_prev)
		memcpy(b.prev_hash, prev.block_hash, PGR_AUDIT_HASH_LEN);

	ctx = audit_block_hash_begin(&b);
	for (uint64 i = 0; i < nrows; i++)
		audit_block_hash_row(ctx, seqs[i], hashes + i * PGR_AUDIT_HASH_LEN);
	audit_hash_end(ctx, b.block_hash);

	types[0] = INT8OID;
	types[1] = TIMESTAMPTZOID;
	types[2] = XID8OID;
	types[3] = INT8OID;
	types[4] = TEXTOID;
	types[5] = INT8OID;
	types[6] = TEXTOID;
	types[7] = INT8OID;
	types[8] = XID8OID;
	types[9] = BYTEAOID;
	types[10] = BYTEAOID;
	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(b.block);
	values[1] = TimestampTzGetDatum(b.sealed_at);
	values[2] = FullTransactionIdGetDatum(fxid);
	values[3] = Int64GetDatum(b.row_count);
	values[4] = CStringGetTextDatum(b.seqs);
	values[5] = Int64GetDatum(b.sealed_upto);
	values[6] = CStringGetTextDatum(b.pending);
	values[7] = Int64GetDatum(b.horizon_seq);
	values[8] = FullTransactionIdGetDatum(FullTransactionIdFromU64(b.horizon_xid));
	values[9] = audit_bytea(b.prev_hash, PGR_AUDIT_HASH_LEN);
	values[10] = audit_bytea(b.block_hash, PGR_AUDIT_HASH_LEN);
	ret = SPI_execute_plan(pgr_kept_plan(&audit_seal_insert_plan,
									  "INSERT INTO rollout.audit_seal (block, sealed_at, txid, row_count, seqs, "
									  "sealed_upto, pending, horizon_seq, horizon_xid, prev_hash, block_hash) "
									  "VALUES ($1, $2, $3, $4, $5::pg_catalog.int8multirange, $6, "
									  "$7::pg_catalog.int8multirange, $8, $9, $10, $11)",
									  11, types),
						   values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "writing the audit seal failed: %s", SPI_result_code_string(ret));

	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	UnregisterSnapshot(snap);
	PG_RETURN_INT64((int64) nrows);
}

/* ---- verification ------------------------------------------------------ */

/* What a verification found. */
typedef struct AuditVerdict
{
	char	   *problem;		/* NULL: intact */
	bool		has_seq;
	int64		broken_seq;
	bool		has_block;
	int64		broken_block;
	int64		checked;
	int64		unsealed;
} AuditVerdict;

/* The columns of an audit row a verification reads, in AuditRow order. */
#define AUDIT_ROW_COLUMNS \
	"a.seq, a.logged_at, a.txid, a.db_user, a.actor, a.tenant_id, a.subject_kind, " \
	"a.subject_id, a.action, a.reason, a.details::pg_catalog.text, a.prev_hash, a.row_hash"

/* Text column of an SPI row as a C string, or NULL. */
static char *
audit_spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* Read the hashed fields of an audit row (AUDIT_ROW_COLUMNS) but prev_hash. */
static void
audit_row_read(HeapTuple tup, TupleDesc desc, AuditRow *row)
{
	bool		isnull;
	Datum		d;

	memset(row, 0, sizeof(*row));
	row->seq = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	row->logged_at = isnull ? 0 : DatumGetTimestampTz(d);
	d = SPI_getbinval(tup, desc, 3, &isnull);
	row->txid = isnull ? 0 : U64FromFullTransactionId(DatumGetFullTransactionId(d));
	row->db_user = audit_spi_text(tup, desc, 4);
	row->actor = audit_spi_text(tup, desc, 5);
	row->tenant_id = audit_spi_text(tup, desc, 6);
	row->subject_kind = audit_spi_text(tup, desc, 7);
	row->subject_id = audit_spi_text(tup, desc, 8);
	row->action = audit_spi_text(tup, desc, 9);
	row->reason = audit_spi_text(tup, desc, 10);
	row->details = audit_spi_text(tup, desc, 11);
}

/*
 * Whether the stored row_hash of a row matches its fields (with the
 * prev_hash already in row); the stored hash is copied to stored.
 */
static bool
audit_row_matches(HeapTuple tup, TupleDesc desc, const AuditRow *row, uint8 *stored)
{
	uint8		computed[PGR_AUDIT_HASH_LEN];
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, 13, &isnull);

	if (isnull || !audit_get_hash(d, stored))
		return false;
	audit_compute_hash(row, computed);
	return memcmp(stored, computed, PGR_AUDIT_HASH_LEN) == 0;
}

/* Record the first problem (in memory of the caller's context). */
static void
audit_fail(AuditVerdict *v, MemoryContext cxt, bool has_seq, int64 seq,
		   bool has_block, int64 block, const char *fmt,...) pg_attribute_printf(7, 8);

static void
audit_fail(AuditVerdict *v, MemoryContext cxt, bool has_seq, int64 seq,
		   bool has_block, int64 block, const char *fmt,...)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	v->problem = buf.data;
	v->has_seq = has_seq;
	v->broken_seq = seq;
	v->has_block = has_block;
	v->broken_block = block;
	MemoryContextSwitchTo(old);
}

/*
 * Schema 0.1.0: walk the row chain in sequence order (1, 2, 3, ... each
 * linked to the previous row's hash).
 */
static void
audit_verify_chained(AuditVerdict *v, MemoryContext callercxt)
{
	int64		expect_seq = 1;
	uint8		prev[PGR_AUDIT_HASH_LEN];
	Portal		portal;
	MemoryContext rowcxt,
				oldcxt;

	memset(prev, 0, sizeof(prev));
	portal = SPI_cursor_open_with_args("pg_rollout_verify_audit",
									   "SELECT " AUDIT_ROW_COLUMNS " FROM rollout.audit_log a ORDER BY a.seq",
									   0, NULL, NULL, NULL, true, 0);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout verify",
								   ALLOCSET_DEFAULT_SIZES);

	while (v->problem == NULL)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed && v->problem == NULL; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			AuditRow	row;
			uint8		stored_prev[PGR_AUDIT_HASH_LEN];
			uint8		stored_hash[PGR_AUDIT_HASH_LEN];
			bool		isnull;
			Datum		d;

			oldcxt = MemoryContextSwitchTo(rowcxt);
			audit_row_read(tup, desc, &row);
			memcpy(row.prev_hash, prev, PGR_AUDIT_HASH_LEN);

			if (row.seq != expect_seq)
				audit_fail(v, callercxt, true, expect_seq, false, 0,
						   "row %lld is missing: the next row has sequence number %lld",
						   (long long) expect_seq, (long long) row.seq);
			else if ((d = SPI_getbinval(tup, desc, 12, &isnull), isnull) ||
					 !audit_get_hash(d, stored_prev) ||
					 memcmp(stored_prev, prev, PGR_AUDIT_HASH_LEN) != 0)
				audit_fail(v, callercxt, true, row.seq, false, 0,
						   "row %lld does not link to the hash of row %lld",
						   (long long) row.seq, (long long) (row.seq - 1));
			else if (!audit_row_matches(tup, desc, &row, stored_hash))
				audit_fail(v, callercxt, true, row.seq, false, 0,
						   "row %lld does not match its hash: its contents were changed",
						   (long long) row.seq);
			else
			{
				memcpy(prev, stored_hash, PGR_AUDIT_HASH_LEN);
				v->checked++;
				expect_seq++;
			}
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(rowcxt);
}

/*
 * Check the rows of one block, range by range in seq order, and finish the
 * block's hash with them.  Returns the number of rows read.
 */
static int64
audit_verify_block_rows(AuditVerdict *v, MemoryContext callercxt, const AuditBlock *b,
						pg_cryptohash_ctx *ctx, MemoryContext rowcxt)
{
	SeqRanges	ranges = seqranges_read(b->seqs);
	Oid			types[2] = {INT8OID, INT8OID};
	int64		count = 0;

	for (int k = 0; k < ranges.n && v->problem == NULL; k++)
	{
		Datum		args[2];
		Portal		portal;
		int64		next = ranges.lo[k];

		args[0] = Int64GetDatum(ranges.lo[k]);
		args[1] = Int64GetDatum(ranges.hi[k]);
		portal = SPI_cursor_open_with_args(NULL,
										   "SELECT " AUDIT_ROW_COLUMNS " FROM rollout.audit_log a "
										   "WHERE a.seq OPERATOR(pg_catalog.>=) $1 AND a.seq OPERATOR(pg_catalog.<) $2 "
										   "ORDER BY a.seq",
										   2, types, args, NULL, true, 0);
		while (v->problem == NULL)
		{
			SPI_cursor_fetch(portal, true, 10000);
			if (SPI_processed == 0)
				break;
			for (uint64 i = 0; i < SPI_processed && v->problem == NULL; i++)
			{
				HeapTuple	tup = SPI_tuptable->vals[i];
				TupleDesc	desc = SPI_tuptable->tupdesc;
				MemoryContext oldcxt = MemoryContextSwitchTo(rowcxt);
				AuditRow	row;
				uint8		stored_hash[PGR_AUDIT_HASH_LEN];
				bool		isnull;
				Datum		d;

				audit_row_read(tup, desc, &row);
				d = SPI_getbinval(tup, desc, 12, &isnull);
				if (row.seq != next)
					audit_fail(v, callercxt, true, next, true, b->block,
							   "row %lld of block %lld is missing",
							   (long long) next, (long long) b->block);
				else if (isnull || !audit_get_hash(d, row.prev_hash) ||
						 !audit_row_matches(tup, desc, &row, stored_hash))
					audit_fail(v, callercxt, true, row.seq, true, b->block,
							   "row %lld does not match its hash: its contents were changed",
							   (long long) row.seq);
				else
				{
					audit_block_hash_row(ctx, row.seq, stored_hash);
					next++;
					count++;
				}
				MemoryContextSwitchTo(oldcxt);
				MemoryContextReset(rowcxt);
			}
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
		if (v->problem == NULL && next != ranges.hi[k])
			audit_fail(v, callercxt, true, next, true, b->block,
					   "row %lld of block %lld is missing",
					   (long long) next, (long long) b->block);
	}
	return count;
}

/*
 * Schema 0.2.0: the chain of blocks, the rows of each block, the rows not
 * sealed yet, and no row outside both; with a recorded head, that the chain
 * still reaches it unchanged.
 */
static void
audit_verify_sealed(AuditVerdict *v, MemoryContext callercxt,
					bool have_head, int64 head_block, const uint8 *head_hash)
{
	Portal		portal;
	MemoryContext blockcxt,
				rowcxt,
				oldcxt;
	uint8		prev_hash[PGR_AUDIT_HASH_LEN];
	int64		expect = 1;
	int64		sealed_upto = 0;
	char	   *pending = pstrdup("{}");
	Oid			types[2];
	Datum		args[2];
	int			ret;
	int64		total;
	bool		isnull;

	memset(prev_hash, 0, sizeof(prev_hash));
	blockcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout verify block",
									 ALLOCSET_DEFAULT_SIZES);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout verify row",
								   ALLOCSET_DEFAULT_SIZES);

	/* The chain of blocks, and the rows of each. */
	portal = SPI_cursor_open_with_args("pg_rollout_verify_seal",
									   "SELECT s.block, s.sealed_at, s.txid, s.row_count, s.seqs::pg_catalog.text, "
									   "s.sealed_upto, s.pending::pg_catalog.text, s.horizon_seq, s.horizon_xid, "
									   "s.prev_hash, s.block_hash FROM rollout.audit_seal s ORDER BY s.block",
									   0, NULL, NULL, NULL, true, 0);
	while (v->problem == NULL)
	{
		AuditBlock	b;
		uint8		stored_prev[PGR_AUDIT_HASH_LEN];
		uint8		computed[PGR_AUDIT_HASH_LEN];
		bool		links;
		bool		hash_ok;
		Datum		d;
		pg_cryptohash_ctx *ctx;
		int64		count;

		SPI_cursor_fetch(portal, true, 1);
		if (SPI_processed == 0)
			break;
		MemoryContextReset(blockcxt);
		oldcxt = MemoryContextSwitchTo(blockcxt);
		memset(&b, 0, sizeof(b));
		b.block = DatumGetInt64(audit_spi_value(1, &isnull));
		b.sealed_at = DatumGetTimestampTz(audit_spi_value(2, &isnull));
		b.txid = U64FromFullTransactionId(DatumGetFullTransactionId(audit_spi_value(3, &isnull)));
		b.row_count = DatumGetInt64(audit_spi_value(4, &isnull));
		b.seqs = TextDatumGetCString(audit_spi_value(5, &isnull));
		b.sealed_upto = DatumGetInt64(audit_spi_value(6, &isnull));
		b.pending = TextDatumGetCString(audit_spi_value(7, &isnull));
		d = audit_spi_value(8, &isnull);
		b.has_horizon = !isnull;
		b.horizon_seq = isnull ? 0 : DatumGetInt64(d);
		d = audit_spi_value(9, &isnull);
		b.has_horizon = b.has_horizon && !isnull;
		b.horizon_xid = isnull ? 0 : U64FromFullTransactionId(DatumGetFullTransactionId(d));
		links = audit_get_hash(audit_spi_value(10, &isnull), stored_prev) &&
			memcmp(stored_prev, prev_hash, PGR_AUDIT_HASH_LEN) == 0;
		hash_ok = audit_get_hash(audit_spi_value(11, &isnull), b.block_hash);
		MemoryContextSwitchTo(oldcxt);
		SPI_freetuptable(SPI_tuptable);

		if (b.block != expect)
		{
			audit_fail(v, callercxt, false, 0, true, expect,
					   "block %lld is missing: the next block is %lld",
					   (long long) expect, (long long) b.block);
			break;
		}
		if (!links)
		{
			audit_fail(v, callercxt, false, 0, true, b.block,
					   "block %lld does not link to the hash of block %lld",
					   (long long) b.block, (long long) (b.block - 1));
			break;
		}
		memcpy(b.prev_hash, prev_hash, PGR_AUDIT_HASH_LEN);

		oldcxt = MemoryContextSwitchTo(blockcxt);
		ctx = audit_block_hash_begin(&b);
		count = audit_verify_block_rows(v, callercxt, &b, ctx, rowcxt);
		audit_hash_end(ctx, computed);
		MemoryContextSwitchTo(oldcxt);
		if (v->problem != NULL)
			break;
		if (!hash_ok || count != b.row_count ||
			memcmp(computed, b.block_hash, PGR_AUDIT_HASH_LEN) != 0)
		{
			audit_fail(v, callercxt, false, 0, true, b.block,
					   "block %lld does not match its hash: the block or one of its rows was rewritten",
					   (long long) b.block);
			break;
		}
		if (have_head && b.block == head_block &&
			memcmp(b.block_hash, head_hash, PGR_AUDIT_HASH_LEN) != 0)
		{
			audit_fail(v, callercxt, false, 0, true, b.block,
					   "block %lld does not match the recorded head: the chain was rewritten",
					   (long long) b.block);
			break;
		}
		memcpy(prev_hash, b.block_hash, PGR_AUDIT_HASH_LEN);
		sealed_upto = b.sealed_upto;
		pending = MemoryContextStrdup(callercxt, b.pending);
		v->checked += count;
		expect++;
	}
	SPI_cursor_close(portal);
	if (v->problem == NULL && have_head && head_block >= expect)
		audit_fail(v, callercxt, false, 0, true, head_block,
				   "the recorded head block %lld is missing: the chain ends at block %lld",
				   (long long) head_block, (long long) (expect - 1));

	/* The rows not sealed yet: each must match its own hash. */
	if (v->problem == NULL)
	{
		types[0] = INT8OID;
		types[1] = TEXTOID;
		args[0] = Int64GetDatum(sealed_upto);
		args[1] = CStringGetTextDatum(pending);
		portal = SPI_cursor_open_with_args("pg_rollout_verify_unsealed",
										   "SELECT " AUDIT_ROW_COLUMNS " FROM rollout.audit_log a "
										   "WHERE a.seq OPERATOR(pg_catalog.>) $1 "
										   "AND NOT (a.seq OPERATOR(pg_catalog.<@) $2::pg_catalog.int8multirange) "
										   "ORDER BY a.seq",
										   2, types, args, NULL, true, 0);
		while (v->problem == NULL)
		{
			SPI_cursor_fetch(portal, true, 10000);
			if (SPI_processed == 0)
				break;
			for (uint64 i = 0; i < SPI_processed && v->problem == NULL; i++)
			{
				HeapTuple	tup = SPI_tuptable->vals[i];
				TupleDesc	desc = SPI_tuptable->tupdesc;
				AuditRow	row;
				uint8		stored_hash[PGR_AUDIT_HASH_LEN];
				Datum		d;

				oldcxt = MemoryContextSwitchTo(rowcxt);
				audit_row_read(tup, desc, &row);
				d = SPI_getbinval(tup, desc, 12, &isnull);
				if (isnull || !audit_get_hash(d, row.prev_hash) ||
					!audit_row_matches(tup, desc, &row, stored_hash))
					audit_fail(v, callercxt, true, row.seq, false, 0,
							   "row %lld (not sealed yet) does not match its hash: its contents were changed",
							   (long long) row.seq);
				else
					v->unsealed++;
				MemoryContextSwitchTo(oldcxt);
				MemoryContextReset(rowcxt);
			}
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
	}

	/* No row outside the blocks and the unsealed rows. */
	if (v->problem == NULL)
	{
		ret = SPI_execute("SELECT pg_catalog.count(*) FROM rollout.audit_log", true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "counting the audit log failed: %s", SPI_result_code_string(ret));
		total = DatumGetInt64(audit_spi_value(1, &isnull));
		SPI_freetuptable(SPI_tuptable);
		if (total != v->checked + v->unsealed)
		{
			int64		stray = 0;

			types[0] = INT8OID;
			args[0] = Int64GetDatum(sealed_upto);
			ret = SPI_execute_with_args("SELECT pg_catalog.min(a.seq) FROM rollout.audit_log a "
										"WHERE a.seq OPERATOR(pg_catalog.<=) $1 AND NOT EXISTS "
										"(SELECT FROM rollout.audit_seal s WHERE a.seq OPERATOR(pg_catalog.<@) s.seqs)",
										1, types, args, NULL, true, 1);
			if (ret == SPI_OK_SELECT && SPI_processed == 1)
			{
				Datum		d = audit_spi_value(1, &isnull);

				if (!isnull)
					stray = DatumGetInt64(d);
			}
			if (stray > 0)
				audit_fail(v, callercxt, true, stray, false, 0,
						   "row %lld is in no block, though the chain was sealed past it: it was added afterwards",
						   (long long) stray);
			else
				audit_fail(v, callercxt, false, 0, false, 0,
						   "the log holds %lld rows, but the chain and the unsealed rows account for %lld",
						   (long long) total, (long long) (v->checked + v->unsealed));
		}
	}
	v->checked += v->unsealed;
	MemoryContextDelete(rowcxt);
	MemoryContextDelete(blockcxt);
}

/*
 * Record a verification in rollout.audit_verification, with the rights of
 * the owner of the SQL function (the extension's owner), like a SECURITY
 * DEFINER function would: the roles that may verify have no INSERT on the
 * table.  Nothing is recorded on a 0.1.0 schema (no table), in a
 * read-only transaction, or for a session user that is neither a superuser
 * nor a member of rollout_operator.  Rows older than 90 days are deleted; the newest
 * is always kept.  Runs inside the caller's SPI connection.
 */
static void
audit_record_verification(Oid fn_oid, const AuditVerdict *v, TimestampTz started,
						  bool have_head, int64 head_block)
{
	Oid			nsp = get_namespace_oid(PGR_SCHEMA, true);
	HeapTuple	proctup;
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	Oid			types[6] = {TIMESTAMPTZOID, BOOLOID, INT8OID, TEXTOID, INT8OID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			ret;

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("audit_verification", nsp)))
		return;
	if (XactReadOnly || RecoveryInProgress())
		return;
	/* only runs that monitoring may trust: superusers and operators */
	{
		Oid			session = GetSessionUserId();
		Oid			operator_role = get_role_oid("rollout_operator", true);

		if (!superuser_arg(session) &&
			!(OidIsValid(operator_role) && has_privs_of_role(session, operator_role)))
			return;
	}

	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	if (!HeapTupleIsValid(proctup))
		elog(ERROR, "cache lookup failed for function %u", fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(proctup))->proowner;
	ReleaseSysCache(proctup);

	values[0] = TimestampTzGetDatum(started);
	values[1] = BoolGetDatum(v->problem == NULL);
	values[2] = Int64GetDatum(v->checked);
	if (v->problem != NULL)
		values[3] = CStringGetTextDatum(v->problem);
	else
		nulls[3] = 'n';
	if (have_head)
		values[4] = Int64GetDatum(head_block);
	else
		nulls[4] = 'n';
	values[5] = CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(), false));

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		ret = SPI_execute_with_args("INSERT INTO rollout.audit_verification "
									"(started_at, finished_at, intact, rows_checked, problem, head_block, ran_by) "
									"VALUES ($1, pg_catalog.clock_timestamp(), $2, $3, $4, $5, $6)",
									6, types, values, nulls, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "recording the audit verification failed: %s", SPI_result_code_string(ret));
		ret = SPI_execute("DELETE FROM rollout.audit_verification v "
						  "WHERE v.finished_at OPERATOR(pg_catalog.<) "
						  "(pg_catalog.now() OPERATOR(pg_catalog.-) '90 days'::pg_catalog.interval) "
						  "AND v.verification_id OPERATOR(pg_catalog.<) "
						  "(SELECT pg_catalog.max(w.verification_id) FROM rollout.audit_verification w)",
						  false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "trimming the audit verifications failed: %s", SPI_result_code_string(ret));
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
}

PG_FUNCTION_INFO_V1(pgr_verify_audit);

/*
 * rollout.verify_audit([head_block, head_hash]): check the whole audit log
 * and report whether it is intact, how many rows were checked, and the
 * first problem found (see the file header).
 */
Datum
pgr_verify_audit(PG_FUNCTION_ARGS)
{
	TupleDesc	resdesc;
	Datum		result[6];
	bool		resnull[6] = {false, false, true, true, false, true};
	AuditVerdict v;
	AuditRels	rels;
	bool		have_head = false;
	int64		head_block = 0;
	uint8		head_hash[PGR_AUDIT_HASH_LEN];
	MemoryContext callercxt = CurrentMemoryContext;
	int			pathlevel;
	TimestampTz started = GetCurrentTimestamp();

	if (get_call_result_type(fcinfo, NULL, &resdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	resdesc = BlessTupleDesc(resdesc);

	if (PG_NARGS() >= 2 && (!PG_ARGISNULL(0) || !PG_ARGISNULL(1)))
	{
		if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a recorded head needs both head_block and head_hash"),
					 errhint("Pass the block and block_hash that rollout.audit_head() returned.")));
		head_block = PG_GETARG_INT64(0);
		if (!audit_get_hash(PG_GETARG_DATUM(1), head_hash))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("head_hash must be %d bytes long", PGR_AUDIT_HASH_LEN)));
		have_head = true;
	}

	audit_rels(&rels);
	memset(&v, 0, sizeof(v));

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (OidIsValid(rels.seal))
		audit_verify_sealed(&v, callercxt, have_head, head_block, head_hash);
	else
		audit_verify_chained(&v, callercxt);
	audit_record_verification(fcinfo->flinfo->fn_oid, &v, started, have_head, head_block);
	SPI_finish();
	pgr_unpin_search_path(pathlevel);

	/* Back in the caller's memory context. */
	result[0] = BoolGetDatum(v.problem == NULL);
	result[1] = Int64GetDatum(v.checked);
	if (v.has_seq)
	{
		result[2] = Int64GetDatum(v.broken_seq);
		resnull[2] = false;
	}
	if (v.problem != NULL)
	{
		result[3] = CStringGetTextDatum(v.problem);
		resnull[3] = false;
	}
	result[4] = Int64GetDatum(v.unsealed);
	if (v.has_block)
	{
		result[5] = Int64GetDatum(v.broken_block);
		resnull[5] = false;
	}
	/* a 0.1.0 definition has the first four columns only */
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(resdesc, result, resnull)));
}
