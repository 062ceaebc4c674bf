/*-------------------------------------------------------------------------
 *
 * select.c
 *	  The tenants a stage activation writes, computed in C.
 *
 * rollout._selection() (src/sql/70_rollout/4_selection.sql) is the
 * definition of which tenants a rollout selects through a stage: the
 * eligible tenants of rollout._eligible() (active, in the rollout's scope,
 * of its target kind and channel, with their blackout and maintenance
 * window state), each at the first stage that selects it (an 'all' stage,
 * a 'tenants' stage naming it, or the percentage stage whose cut its
 * bucket is below).  Stage activation (rollout._activate_rows) needs only
 * three arrays of it: the tenants to activate, the tenants held back, and
 * why.  Through SQL that is two PL/pgSQL functions, a CTE query over a
 * function scan and an aggregate; a tick advancing a thousand rollouts
 * spent about 1 ms per rollout there, and start_rollout of 100,000 tenants
 * materialized the rows twice.
 *
 * rollout._select_rows() computes the same arrays with one scan of
 * rollout.tenant (a range of the path index when the rollout has a scope,
 * the heap otherwise), a hash of the tenants that have children (leaves),
 * and the small inputs read through SPI with plans kept for the session:
 * the rollout's row, its stages, the current blackouts, the maintenance
 * windows (opened or not by rollout._window_open, as in SQL) and, for a
 * rollout bound to a channel, the tenants whose effective channel it is.
 * A rollout with a weighted stage (weighted order, running sums) is left
 * to SQL: the function then returns NULLs and the caller uses
 * rollout._selection.  Test 37_select_rows compares the two over many
 * rollouts.
 *
 * The function is internal: its callers are SECURITY DEFINER functions.
 * It reads with the caller's snapshot, like the SQL it stands in for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "bucket.h"
#include "pg_rollout.h"
#include "pgr_limits.h"
#include "tree.h"

/* keys of the hashes below: tenant ids (at most PGR_NAME_MAX_LEN bytes) */
#define SEL_KEYLEN (PGR_NAME_MAX_LEN + 1)

typedef struct SelEntry
{
	char		key[SEL_KEYLEN];
	int32		stage;			/* listed: first stage naming the tenant */
	bool		open;			/* windowed: is one of its windows open */
	bool		known;			/* windowed: has a window said open or not */
} SelEntry;

typedef struct SelCandidate
{
	char	   *id;
	bool		dark;
	bool		window_open;
} SelCandidate;

/* The statements, prepared once per session (see audit.c's audit_plan). */
static SPIPlanPtr sel_rollout_plan = NULL;
static SPIPlanPtr sel_holds_plan = NULL;
static SPIPlanPtr sel_channel_plan = NULL;


static void
sel_exec(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	int			rc = SPI_execute_plan(plan, values, nulls, true, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

static HTAB *
sel_hash(const char *name, MemoryContext cxt)
{
	HASHCTL		ctl;

	ctl.keysize = SEL_KEYLEN;
	ctl.entrysize = sizeof(SelEntry);
	ctl.hcxt = cxt;
	return hash_create(name, 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/*
 * The entry of a tenant id (a text datum) in h, entered when enter is set;
 * NULL when absent or when the id is longer than any tenant id can be.
 */
static SelEntry *
sel_lookup(HTAB *h, const char *id, int len, bool enter, bool *found)
{
	char		key[SEL_KEYLEN];
	bool		dummy;

	if (found == NULL)
		found = &dummy;
	*found = false;
	if (h == NULL || len >= SEL_KEYLEN)
		return NULL;
	memcpy(key, id, len);
	key[len] = '\0';
	return (SelEntry *) hash_search(h, key, enter ? HASH_ENTER : HASH_FIND, found);
}

static bool
sel_text_eq(Datum d, const char *s)
{
	text	   *t = DatumGetTextPP(d);
	int			len = VARSIZE_ANY_EXHDR(t);

	return len == (int) strlen(s) && memcmp(VARDATA_ANY(t), s, len) == 0;
}

/* Build a text[] of n C strings in the current memory context. */
static Datum
sel_text_array(char **items, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * width_bucket(operand, thresholds) over an int4 array, as PostgreSQL's
 * width_bucket_array computes it: the number of thresholds (sorted
 * ascending) that are <= operand, by the same binary search.
 */
static int
sel_width_bucket(int32 operand, const int32 *thresholds, int n)
{
	int			left = 0;
	int			right = n;

	while (left < right)
	{
		int			mid = (left + right) / 2;

		if (operand < thresholds[mid])
			right = mid;
		else
			left = mid + 1;
	}
	return left;
}

PG_FUNCTION_INFO_V1(pgr_select_rows);

/*
 * rollout._select_rows(rollout_id text, through_stage integer,
 *                      OUT go text[], OUT held text[], OUT why text[])
 *
 * The tenants rollout._selection(rollout_id, through_stage) selects: go,
 * those not held (blacked_out false); held and why (hold_reason), the
 * others, in the same order.  All three NULL when a stage through
 * through_stage is weighted.
 */
Datum
pgr_select_rows(PG_FUNCTION_ARGS)
{
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext workcxt;
	TupleDesc	tupdesc;
	Datum		result[3];
	bool		result_nulls[3] = {false, false, false};
	Datum		args[2];
	char		arg_nulls[2] = {' ', ' '};
	Oid			types[2] = {TEXTOID, INT4OID};
	int			pathlevel;
	bool		weighted = false;
	/* the rollout */
	char	   *scope = NULL;
	char	   *target_kind = NULL;
	char	   *channel = NULL;
	bytea	   *salt = NULL;
	/* its stages through through_stage */
	int32		all_stage = INT_MAX;
	int32	   *pct_stages;
	int32	   *pct_cuts;
	int			npct = 0;
	HTAB	   *listed;
	/* holds and channel */
	HTAB	   *dark = NULL;
	HTAB	   *windowed = NULL;
	HTAB	   *chan = NULL;
	HTAB	   *parents;
	Datum		scope_path = (Datum) 0;
	/* the eligible tenants */
	SelCandidate *cands;
	int			ncands = 0;
	int			maxcands = 256;
	char	  **go;
	char	  **held;
	char	  **why;
	int			ngo = 0;
	int			nheld = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rollout id and stage must not be NULL")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);

	workcxt = AllocSetContextCreate(callercxt, "pg_rollout selection", ALLOCSET_DEFAULT_SIZES);
	listed = sel_hash("pg_rollout selection: listed", workcxt);
	parents = sel_hash("pg_rollout selection: parents", workcxt);

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * The rollout and its stages through through_stage, in no particular
	 * order (a sort node costs more to set up than the few stages cost to
	 * order here: see the percentage stages below).
	 */
	sel_exec(pgr_kept_plan(&sel_rollout_plan,
					  "SELECT r.scope_tenant_id, r.target_kind, r.channel_id, r.salt, "
					  "       s.stage_no, s.method, (s.percent OPERATOR(pg_catalog.*) 10000)::pg_catalog.int4, "
					  "       s.tenants, s.weight_by IS NOT NULL "
					  "FROM rollout.rollout r "
					  "LEFT JOIN rollout.rollout_stage s ON s.rollout_id OPERATOR(pg_catalog.=) r.rollout_id "
					  "                                 AND s.stage_no OPERATOR(pg_catalog.<=) $2 "
					  "WHERE r.rollout_id OPERATOR(pg_catalog.=) $1",
					  2, types), args, arg_nulls);
	if (SPI_processed < 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("rollout \"%s\" does not exist", TextDatumGetCString(args[0]))));
	pct_stages = MemoryContextAlloc(workcxt, sizeof(int32) * SPI_processed);
	pct_cuts = MemoryContextAlloc(workcxt, sizeof(int32) * SPI_processed);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		int32		stage_no;
		Datum		method;
		Datum		d;

		if (i == 0)
		{
			MemoryContext old = MemoryContextSwitchTo(workcxt);

			d = SPI_getbinval(tup, td, 1, &isnull);
			if (!isnull)
				scope = TextDatumGetCString(d);
			d = SPI_getbinval(tup, td, 2, &isnull);
			if (!isnull)
				target_kind = TextDatumGetCString(d);
			d = SPI_getbinval(tup, td, 3, &isnull);
			if (!isnull)
				channel = TextDatumGetCString(d);
			d = SPI_getbinval(tup, td, 4, &isnull);
			if (!isnull)
				salt = DatumGetByteaPCopy(d);
			MemoryContextSwitchTo(old);
		}
		stage_no = DatumGetInt32(SPI_getbinval(tup, td, 5, &isnull));
		if (isnull)
			continue;			/* a rollout without stages through through_stage */
		method = SPI_getbinval(tup, td, 6, &isnull);
		if (DatumGetBool(SPI_getbinval(tup, td, 9, &isnull)))
			weighted = true;
		if (sel_text_eq(method, "all"))
			all_stage = Min(all_stage, stage_no);
		else if (sel_text_eq(method, "percentage"))
		{
			Datum		cut = SPI_getbinval(tup, td, 7, &isnull);
			int			j;

			if (isnull)
				continue;		/* cannot happen: a CHECK constraint */
			/* in stage order, as SQL's width_bucket reads the cuts */
			for (j = npct; j > 0 && pct_stages[j - 1] > stage_no; j--)
			{
				pct_stages[j] = pct_stages[j - 1];
				pct_cuts[j] = pct_cuts[j - 1];
			}
			pct_stages[j] = stage_no;
			pct_cuts[j] = DatumGetInt32(cut);
			npct++;
		}
		else if (sel_text_eq(method, "tenants"))
		{
			Datum		arr = SPI_getbinval(tup, td, 8, &isnull);
			Datum	   *ids;
			bool	   *id_nulls;
			int			n;

			if (isnull)
				continue;
			deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false, TYPALIGN_INT,
							  &ids, &id_nulls, &n);
			for (int j = 0; j < n; j++)
			{
				text	   *t;
				bool		found;
				SelEntry   *e;

				if (id_nulls[j])
					continue;
				t = DatumGetTextPP(ids[j]);
				e = sel_lookup(listed, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true, &found);
				if (e != NULL && (!found || stage_no < e->stage))
					e->stage = stage_no;
			}
		}
	}

	/* the scope's path (rollout.tenant_path: it raises for a missing tenant) */
	if (scope != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(workcxt);

		scope_path = DirectFunctionCall1(pgr_tenant_path, CStringGetTextDatum(scope));
		MemoryContextSwitchTo(old);
	}

	if (weighted)
	{
		/* left to rollout._selection */
		SPI_finish();
		pgr_unpin_search_path(pathlevel);
		MemoryContextDelete(workcxt);
		result_nulls[0] = result_nulls[1] = result_nulls[2] = true;
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, result, result_nulls)));
	}

	/*
	 * Holds: the tenants under a current blackout (second column true), and
	 * each maintenance window (second column false) with whether it is open
	 * now.  A windowed tenant is open when one of its windows is; NULL, not
	 * decidable, counts for nothing, and a tenant whose windows are all NULL
	 * counts as open: coalesce(bool_or(...), true) in SQL, computed here
	 * (no aggregate to set up on every call).
	 */
	sel_exec(pgr_kept_plan(&sel_holds_plan,
					  "SELECT b.tenant_id, true, NULL::pg_catalog.bool FROM rollout.blackout b "
					  "WHERE b.during OPERATOR(pg_catalog.@>) pg_catalog.now() "
					  "UNION ALL "
					  "SELECT w.tenant_id, false, rollout._window_open("
					  "           w.weekdays, w.starts, w.ends, w.time_zone, pg_catalog.now()) "
					  "FROM rollout.maintenance_window w",
					  0, NULL), NULL, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		bool		window_null;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		bool		is_blackout;
		Datum		o;
		text	   *t;
		SelEntry   *e;
		bool		found;

		if (isnull)
			continue;
		is_blackout = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &window_null));
		o = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &window_null);
		t = DatumGetTextPP(d);
		if (is_blackout)
		{
			if (dark == NULL)
				dark = sel_hash("pg_rollout selection: blackouts", workcxt);
			sel_lookup(dark, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true, NULL);
		}
		else
		{
			if (windowed == NULL)
				windowed = sel_hash("pg_rollout selection: windows", workcxt);
			e = sel_lookup(windowed, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true, &found);
			if (e == NULL)
				continue;
			if (!found)
			{
				e->open = true;		/* no window decided yet */
				e->known = false;
			}
			if (!window_null)
			{
				e->open = e->known ? (e->open || DatumGetBool(o)) : DatumGetBool(o);
				e->known = true;
			}
		}
	}

	/* the tenants whose effective channel is the rollout's */
	if (channel != NULL)
	{
		Datum		a[1];

		a[0] = CStringGetTextDatum(channel);
		sel_exec(pgr_kept_plan(&sel_channel_plan,
						  "SELECT c.tenant_id FROM rollout.effective_channels() c "
						  "WHERE c.channel_id OPERATOR(pg_catalog.=) $1",
						  1, types), a, NULL);
		chan = sel_hash("pg_rollout selection: channel", workcxt);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				sel_lookup(chan, VARDATA_ANY(DatumGetTextPP(d)), VARSIZE_ANY_EXHDR(DatumGetTextPP(d)), true, NULL);
		}
	}

	SPI_finish();
	pgr_unpin_search_path(pathlevel);

	/*
	 * One pass over the tenants: in the scope's range of the path index, or
	 * the whole heap.  Children of a tenant in scope are in scope, so the
	 * tenants with children (for leaves) are found in the same pass.
	 */
	MemoryContextSwitchTo(workcxt);
	cands = palloc(sizeof(SelCandidate) * maxcands);
	if (scope == NULL || scope_path != (Datum) 0)
	{
		Oid			nsp = get_namespace_oid(PGR_SCHEMA, false);
		Oid			relid = get_relname_relid(PGR_TABLE_TENANT, nsp);
		Relation	rel;
		Relation	idx = NULL;
		TupleTableSlot *slot;
		Snapshot	snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
		IndexScanDesc iscan = NULL;
		TableScanDesc hscan = NULL;
		AttrNumber	att_id,
					att_parent,
					att_kind,
					att_status,
					att_path;
		AclResult	acl;
		int			scope_depth = 0;

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation \"rollout.tenant\" does not exist")));
		acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
		if (acl != ACLCHECK_OK)
			aclcheck_error(acl, OBJECT_TABLE, PGR_TABLE_TENANT);
		att_id = get_attnum(relid, "tenant_id");
		att_parent = get_attnum(relid, "parent_id");
		att_kind = get_attnum(relid, "kind");
		att_status = get_attnum(relid, "status");
		att_path = get_attnum(relid, "path");
		if (att_id == InvalidAttrNumber || att_parent == InvalidAttrNumber || att_kind == InvalidAttrNumber ||
			att_status == InvalidAttrNumber || att_path == InvalidAttrNumber)
			elog(ERROR, "relation \"rollout.tenant\" lacks a column the selection reads");

		rel = table_open(relid, AccessShareLock);
		slot = table_slot_create(rel, NULL);
		if (scope_path != (Datum) 0)
		{
			Oid			idxid = get_relname_relid("tenant_path_idx", nsp);
			ScanKeyData key;

			if (!OidIsValid(idxid))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("index \"rollout.tenant_path_idx\" does not exist")));
			scope_depth = ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(scope_path)),
										 ARR_DIMS(DatumGetArrayTypeP(scope_path)));
			/*
			 * From the scope's path on, in path order: its subtree is the
			 * paths that follow with the scope's id at its depth (ids are
			 * unique, so that element fixes the whole prefix); the first
			 * other path ends the subtree.
			 */
			idx = index_open(idxid, AccessShareLock);
			ScanKeyEntryInitialize(&key, 0, 1, BTGreaterEqualStrategyNumber, InvalidOid,
								   C_COLLATION_OID, F_ARRAY_GE, scope_path);
			iscan = index_beginscan(rel, idx, snapshot, 1, 0);
			index_rescan(iscan, &key, 1, NULL, 0);
		}
		else
			hscan = table_beginscan(rel, snapshot, 0, NULL);

		for (;;)
		{
			bool		isnull;
			Datum		id,
						status,
						d;
			text	   *idt;
			bool		active;
			bool		counts_as_child;

			CHECK_FOR_INTERRUPTS();
			if (iscan != NULL ? !index_getnext_slot(iscan, ForwardScanDirection, slot)
				: !table_scan_getnextslot(hscan, ForwardScanDirection, slot))
				break;
			if (iscan != NULL)
			{
				int			at = scope_depth;
				Datum		p = slot_getattr(slot, att_path, &isnull);

				if (isnull)
					continue;
				d = array_get_element(p, 1, &at, -1, -1, false, TYPALIGN_INT, &isnull);
				if (isnull || !sel_text_eq(d, scope))
					break;		/* past the subtree */
			}
			id = slot_getattr(slot, att_id, &isnull);
			if (isnull)
				continue;
			idt = DatumGetTextPP(id);
			status = slot_getattr(slot, att_status, &isnull);
			active = !isnull && sel_text_eq(status, "active");
			counts_as_child = !isnull && !sel_text_eq(status, "decommissioned");
			/* a tenant with a child that is not decommissioned is no leaf */
			if (target_kind == NULL && counts_as_child)
			{
				d = slot_getattr(slot, att_parent, &isnull);
				if (!isnull)
					sel_lookup(parents, VARDATA_ANY(DatumGetTextPP(d)), VARSIZE_ANY_EXHDR(DatumGetTextPP(d)),
							   true, NULL);
			}
			if (!active)
				continue;
			if (target_kind != NULL)
			{
				d = slot_getattr(slot, att_kind, &isnull);
				if (isnull || !sel_text_eq(d, target_kind))
					continue;
			}
			if (chan != NULL && sel_lookup(chan, VARDATA_ANY(idt), VARSIZE_ANY_EXHDR(idt), false, NULL) == NULL)
				continue;
			if (ncands == maxcands)
			{
				maxcands *= 2;
				cands = repalloc_huge(cands, sizeof(SelCandidate) * maxcands);
			}
			cands[ncands].id = text_to_cstring(idt);
			cands[ncands].dark = false;
			cands[ncands].window_open = true;
			if (dark != NULL || windowed != NULL)
			{
				Datum	   *pe;
				bool	   *pn;
				int			np;

				d = slot_getattr(slot, att_path, &isnull);
				if (!isnull)
				{
					deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &pe, &pn, &np);
					for (int j = 0; j < np; j++)
					{
						text	   *pt;

						if (pn[j])
							continue;
						pt = DatumGetTextPP(pe[j]);
						if (dark != NULL &&
							sel_lookup(dark, VARDATA_ANY(pt), VARSIZE_ANY_EXHDR(pt), false, NULL) != NULL)
							cands[ncands].dark = true;
					}
					/* the windows of the nearest windowed tenant on the path decide */
					for (int j = np - 1; windowed != NULL && j >= 0; j--)
					{
						text	   *pt;
						SelEntry   *e;

						if (pn[j])
							continue;
						pt = DatumGetTextPP(pe[j]);
						e = sel_lookup(windowed, VARDATA_ANY(pt), VARSIZE_ANY_EXHDR(pt), false, NULL);
						if (e != NULL)
						{
							cands[ncands].window_open = e->open;
							break;
						}
					}
				}
			}
			ncands++;
		}
		if (iscan != NULL)
		{
			index_endscan(iscan);
			index_close(idx, AccessShareLock);
		}
		else
			table_endscan(hscan);
		ExecDropSingleTupleTableSlot(slot);
		table_close(rel, AccessShareLock);
	}

	/* each eligible tenant at the first stage that selects it */
	go = palloc(sizeof(char *) * Max(ncands, 1));
	held = palloc(sizeof(char *) * Max(ncands, 1));
	why = palloc(sizeof(char *) * Max(ncands, 1));
	for (int i = 0; i < ncands; i++)
	{
		SelCandidate *c = &cands[i];
		int			len = strlen(c->id);
		int32		stage = all_stage;
		SelEntry   *e;

		e = sel_lookup(listed, c->id, len, false, NULL);
		if (e != NULL)
			stage = Min(stage, e->stage);
		if (npct > 0 && salt != NULL && pct_stages[0] < stage &&
			(target_kind != NULL || sel_lookup(parents, c->id, len, false, NULL) == NULL))
		{
			int32		b = pgr_bucket_of(VARDATA_ANY(salt), VARSIZE_ANY_EXHDR(salt), c->id, len);
			int			w = sel_width_bucket(b, pct_cuts, npct);

			if (w < npct)
				stage = Min(stage, pct_stages[w]);
		}
		if (stage == INT_MAX)
			continue;
		if (c->dark || !c->window_open)
		{
			held[nheld] = c->id;
			why[nheld] = c->dark ? "maintenance blackout" : "outside maintenance window";
			nheld++;
		}
		else
			go[ngo++] = c->id;
	}

	MemoryContextSwitchTo(callercxt);
	result[0] = sel_text_array(go, ngo);
	result[1] = sel_text_array(held, nheld);
	result[2] = sel_text_array(why, nheld);
	{
		HeapTuple	tup = heap_form_tuple(tupdesc, result, result_nulls);

		MemoryContextDelete(workcxt);
		PG_RETURN_DATUM(HeapTupleGetDatum(tup));
	}
}
