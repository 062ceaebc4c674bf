/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The append-only, hash-chained audit log (rollout.audit_log).
 *
 * Every row carries the SHA-256 of a canonical encoding of its own fields
 * and of the previous row's hash.  Appenders serialize on a
 * SHARE ROW EXCLUSIVE lock on the log held until commit, and read the
 * chain's head with the latest snapshot, so concurrent writers at any
 * isolation level extend one unbroken chain.  Sequence numbers have no gaps:
 * a rolled-back append gives its number back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "pg_rollout.h"
#include "audit.h"
#include "pgr_limits.h"

#define AUDIT_DOMAIN_TAG "pg_rollout.audit.v1"

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

/*
 * The head of the chain as this transaction last wrote it.  Valid only while
 * this top-level transaction holds the log lock and no subtransaction that
 * may have appended has aborted.
 */
typedef struct AuditHead
{
	bool		valid;
	FullTransactionId fxid;
	int64		seq;
	uint8		hash[PGR_AUDIT_HASH_LEN];
} AuditHead;

static AuditHead audit_head = {false};
static bool audit_callbacks_registered = false;
static SPIPlanPtr audit_head_plan = NULL;
static SPIPlanPtr audit_insert_plan = NULL;

/* Forget the cached head at the end of a transaction. */
static void
audit_xact_callback(XactEvent event, void *arg)
{
	audit_head.valid = false;
}

/* Forget the cached head when a subtransaction aborts. */
static void
audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		audit_head.valid = false;
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

/* Compute the SHA-256 that chains one row. */
static void
audit_compute_hash(const AuditRow *row, uint8 *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialize SHA-256 context: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_update(ctx, (const uint8 *) AUDIT_DOMAIN_TAG,
						 sizeof(AUDIT_DOMAIN_TAG));
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
	if (pg_cryptohash_final(ctx, out, PGR_AUDIT_HASH_LEN) < 0)
		elog(ERROR, "could not finalize SHA-256 context: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/* Look up rollout.audit_log, failing clearly if the extension is missing. */
static Oid
audit_log_relid(void)
{
	Oid			nsp = get_namespace_oid(PGR_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(PGR_TABLE_AUDIT_LOG, nsp) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"rollout.audit_log\" does not exist"),
				 errhint("Run CREATE EXTENSION pg_rollout in this database.")));
	return relid;
}

/* Prepare and keep the two statements an append runs. */
static void
audit_prepare_plans(void)
{
	if (audit_head_plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT seq, row_hash FROM rollout.audit_log "
									"ORDER BY seq DESC LIMIT 1", 0, NULL);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		audit_head_plan = p;
	}
	if (audit_insert_plan == NULL)
	{
		Oid			types[13] = {INT8OID, TIMESTAMPTZOID, XID8OID, TEXTOID, TEXTOID,
			TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, BYTEAOID, BYTEAOID};
		SPIPlanPtr	p = SPI_prepare("INSERT INTO rollout.audit_log (seq, logged_at, txid, "
									"db_user, actor, tenant_id, subject_kind, subject_id, "
									"action, reason, details, prev_hash, row_hash) "
									"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
									13, types);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		audit_insert_plan = p;
	}
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

int64
pgr_audit_append(const char *action, const char *tenant_id,
				 const char *subject_kind, const char *subject_id,
				 const char *reason, Jsonb *details)
{
	AuditRow	row;
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

	if (!audit_callbacks_registered)
	{
		RegisterXactCallback(audit_xact_callback, NULL);
		RegisterSubXactCallback(audit_subxact_callback, NULL);
		audit_callbacks_registered = true;
	}

	/* Serialize appenders until commit; cheap when already held. */
	LockRelationOid(audit_log_relid(), ShareRowExclusiveLock);
	fxid = GetTopFullTransactionId();

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	audit_prepare_plans();

	memset(&row, 0, sizeof(row));
	if (audit_head.valid &&
		FullTransactionIdEquals(audit_head.fxid, fxid))
	{
		row.seq = audit_head.seq + 1;
		memcpy(row.prev_hash, audit_head.hash, PGR_AUDIT_HASH_LEN);
	}
	else
	{
		/* The latest snapshot sees every append committed before our lock. */
		ret = SPI_execute_snapshot(audit_head_plan, NULL, NULL,
								   GetLatestSnapshot(), InvalidSnapshot,
								   false, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "reading the audit log head failed: %s",
				 SPI_result_code_string(ret));
		if (SPI_processed == 0)
			row.seq = 1;		/* genesis: prev_hash stays all zeroes */
		else
		{
			bool		isnull;
			Datum		d;

			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			row.seq = DatumGetInt64(d) + 1;
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			if (isnull || !audit_get_hash(d, row.prev_hash))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("audit log row %lld has an invalid hash",
								(long long) (row.seq - 1)),
						 errhint("Run rollout.verify_audit() to inspect the chain.")));
		}
	}

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

	audit_head.valid = true;
	audit_head.fxid = fxid;
	audit_head.seq = row.seq;
	memcpy(audit_head.hash, hash, PGR_AUDIT_HASH_LEN);

	SPI_finish();
	pgr_unpin_search_path(pathlevel);
	return row.seq;
}

/* Text argument as a C string, or NULL. */
static char *
audit_text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

PG_FUNCTION_INFO_V1(pgr_audit);

/*
 * rollout._audit(action, tenant_id, subject_kind, subject_id, reason, details)
 * Internal: append one audit row; returns its sequence number.
 */
Datum
pgr_audit(PG_FUNCTION_ARGS)
{
	char	   *action = audit_text_arg(fcinfo, 0);

	PG_RETURN_INT64(pgr_audit_append(action,
									 audit_text_arg(fcinfo, 1),
									 audit_text_arg(fcinfo, 2),
									 audit_text_arg(fcinfo, 3),
									 audit_text_arg(fcinfo, 4),
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
	char	   *action = audit_text_arg(fcinfo, 0);
	char	   *subject_kind = audit_text_arg(fcinfo, 2);
	char	   *reason = audit_text_arg(fcinfo, 3);
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

/* Text column of an SPI row as a C string, or NULL. */
static char *
audit_spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

PG_FUNCTION_INFO_V1(pgr_verify_audit);

/*
 * rollout.verify_audit(): walk the whole chain in sequence order and report
 * whether it is intact, how many rows were checked, and the first broken row.
 */
Datum
pgr_verify_audit(PG_FUNCTION_ARGS)
{
	TupleDesc	resdesc;
	Datum		result[4];
	bool		resnull[4] = {false, false, true, true};
	char	   *problem = NULL;
	int64		broken_seq = 0;
	int64		checked = 0;
	int64		expect_seq = 1;
	uint8		prev[PGR_AUDIT_HASH_LEN];
	Portal		portal;
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext rowcxt,
				oldcxt;
	int			pathlevel;

	if (get_call_result_type(fcinfo, NULL, &resdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	resdesc = BlessTupleDesc(resdesc);

	(void) audit_log_relid();
	memset(prev, 0, sizeof(prev));

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	portal = SPI_cursor_open_with_args("pg_rollout_verify_audit",
									   "SELECT seq, logged_at, txid, db_user, actor, tenant_id, "
									   "subject_kind, subject_id, action, reason, details::pg_catalog.text, "
									   "prev_hash, row_hash FROM rollout.audit_log ORDER BY seq",
									   0, NULL, NULL, NULL, true, 0);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_rollout verify",
								   ALLOCSET_DEFAULT_SIZES);

	while (problem == NULL)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed && problem == NULL; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			AuditRow	row;
			uint8		stored_prev[PGR_AUDIT_HASH_LEN];
			uint8		stored_hash[PGR_AUDIT_HASH_LEN];
			uint8		computed[PGR_AUDIT_HASH_LEN];
			bool		isnull;
			Datum		d;

			oldcxt = MemoryContextSwitchTo(rowcxt);
			memset(&row, 0, sizeof(row));
			row.seq = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			d = SPI_getbinval(tup, desc, 2, &isnull);
			row.logged_at = isnull ? 0 : DatumGetTimestampTz(d);
			d = SPI_getbinval(tup, desc, 3, &isnull);
			row.txid = isnull ? 0 : U64FromFullTransactionId(DatumGetFullTransactionId(d));
			row.db_user = audit_spi_text(tup, desc, 4);
			row.actor = audit_spi_text(tup, desc, 5);
			row.tenant_id = audit_spi_text(tup, desc, 6);
			row.subject_kind = audit_spi_text(tup, desc, 7);
			row.subject_id = audit_spi_text(tup, desc, 8);
			row.action = audit_spi_text(tup, desc, 9);
			row.reason = audit_spi_text(tup, desc, 10);
			row.details = audit_spi_text(tup, desc, 11);
			memcpy(row.prev_hash, prev, PGR_AUDIT_HASH_LEN);

			if (row.seq != expect_seq)
				problem = psprintf("row %lld is missing: the next row has sequence number %lld",
								   (long long) expect_seq, (long long) row.seq);
			else if ((d = SPI_getbinval(tup, desc, 12, &isnull), isnull) ||
					 !audit_get_hash(d, stored_prev) ||
					 memcmp(stored_prev, prev, PGR_AUDIT_HASH_LEN) != 0)
				problem = psprintf("row %lld does not link to the hash of row %lld",
								   (long long) row.seq, (long long) (row.seq - 1));
			else
			{
				d = SPI_getbinval(tup, desc, 13, &isnull);
				audit_compute_hash(&row, computed);
				if (isnull || !audit_get_hash(d, stored_hash) ||
					memcmp(stored_hash, computed, PGR_AUDIT_HASH_LEN) != 0)
					problem = psprintf("row %lld does not match its hash: its contents were changed",
									   (long long) row.seq);
				else
				{
					memcpy(prev, stored_hash, PGR_AUDIT_HASH_LEN);
					checked++;
					expect_seq++;
				}
			}
			MemoryContextSwitchTo(oldcxt);
			if (problem != NULL)
			{
				broken_seq = expect_seq;
				problem = MemoryContextStrdup(callercxt, problem);
			}
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	SPI_finish();
	pgr_unpin_search_path(pathlevel);

	/* Back in the caller's memory context. */
	result[0] = BoolGetDatum(problem == NULL);
	result[1] = Int64GetDatum(checked);
	if (problem != NULL)
	{
		result[2] = Int64GetDatum(broken_seq);
		result[3] = CStringGetTextDatum(problem);
		resnull[2] = resnull[3] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(resdesc, result, resnull)));
}
