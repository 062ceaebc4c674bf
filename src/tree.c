/*-------------------------------------------------------------------------
 *
 * tree.c
 *	  Tenant-tree look-ups in C.
 *
 * rollout.tenant keeps every tenant's path from the root (text[]), so the
 * ancestors of a tenant are one primary-key probe for its path and one per
 * ancestor for their rows: no recursion, no SQL executor per call.  The
 * functions read rollout.tenant with the caller's privileges (SELECT is
 * checked) and the caller's snapshot, like the SQL they replace.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "tree.h"
#include "pgr_limits.h"

typedef struct TenantRel
{
	Relation	rel;
	Relation	pkey;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	AttrNumber	att_id;
	AttrNumber	att_parent;
	AttrNumber	att_kind;
	AttrNumber	att_name;
	AttrNumber	att_status;
	AttrNumber	att_path;
} TenantRel;

static AttrNumber
tenant_attnum(Oid relid, const char *name)
{
	AttrNumber	att = get_attnum(relid, name);

	if (att == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"rollout.tenant\" does not exist", name)));
	return att;
}

/* Open rollout.tenant and its primary key for reading, as the current user. */
static void
tenant_rel_open(TenantRel *tr)
{
	Oid			nsp = get_namespace_oid(PGR_SCHEMA, false);
	Oid			relid = get_relname_relid(PGR_TABLE_TENANT, nsp);
	Oid			pkey;
	AclResult	acl;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"rollout.tenant\" does not exist")));
	acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, "tenant");

	tr->rel = table_open(relid, AccessShareLock);
	pkey = RelationGetPrimaryKeyIndex(tr->rel);
	if (!OidIsValid(pkey))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"rollout.tenant\" has no primary key")));
	tr->pkey = index_open(pkey, AccessShareLock);
	tr->slot = table_slot_create(tr->rel, NULL);
	tr->snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
	tr->att_id = tenant_attnum(relid, "tenant_id");
	tr->att_parent = tenant_attnum(relid, "parent_id");
	tr->att_kind = tenant_attnum(relid, "kind");
	tr->att_name = tenant_attnum(relid, "display_name");
	tr->att_status = tenant_attnum(relid, "status");
	tr->att_path = tenant_attnum(relid, "path");
}

static void
tenant_rel_close(TenantRel *tr)
{
	ExecDropSingleTupleTableSlot(tr->slot);
	index_close(tr->pkey, AccessShareLock);
	table_close(tr->rel, AccessShareLock);
}

/* Fetch the tenant with this id (a text datum) into tr->slot. */
static bool
tenant_fetch(TenantRel *tr, Datum id)
{
	ScanKeyData key;
	IndexScanDesc scan;
	bool		found;

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   C_COLLATION_OID, F_TEXTEQ, id);
	scan = index_beginscan(tr->rel, tr->pkey, tr->snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, tr->slot);
	index_endscan(scan);
	return found;
}

/* The tenant's path, copied out of the buffer; raise if there is none. */
static ArrayType *
tenant_fetch_path(TenantRel *tr, text *id)
{
	bool		isnull;
	Datum		path;

	if (!tenant_fetch(tr, PointerGetDatum(id)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant \"%s\" does not exist", text_to_cstring(id))));
	path = slot_getattr(tr->slot, tr->att_path, &isnull);
	if (isnull)
		elog(ERROR, "tenant \"%s\" has no path", text_to_cstring(id));
	return DatumGetArrayTypePCopy(path);
}

/*
 * rollout.tenant_path(tenant_id text) RETURNS text[]
 */
PG_FUNCTION_INFO_V1(pgr_tenant_path);
Datum
pgr_tenant_path(PG_FUNCTION_ARGS)
{
	TenantRel	tr;
	ArrayType  *path;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	tenant_rel_open(&tr);
	path = tenant_fetch_path(&tr, PG_GETARG_TEXT_PP(0));
	tenant_rel_close(&tr);
	PG_RETURN_ARRAYTYPE_P(path);
}

/*
 * rollout.ancestors(tenant_id text, include_self boolean)
 *	 RETURNS TABLE (tenant_id, parent_id, kind, display_name, status, depth, distance)
 *
 * Nearest first: distance 1 is the parent (0 the tenant itself).
 */
PG_FUNCTION_INFO_V1(pgr_ancestors);
Datum
pgr_ancestors(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		include_self = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	TenantRel	tr;
	ArrayType  *path;
	Datum	   *ids;
	bool	   *id_nulls;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;

	tenant_rel_open(&tr);
	path = tenant_fetch_path(&tr, PG_GETARG_TEXT_PP(0));
	deconstruct_array(path, TEXTOID, -1, false, TYPALIGN_INT, &ids, &id_nulls, &n);

	for (i = include_self ? n - 1 : n - 2; i >= 0; i--)
	{
		Datum		values[7];
		bool		nulls[7];
		AttrNumber	atts[5] = {tr.att_id, tr.att_parent, tr.att_kind, tr.att_name, tr.att_status};
		int			c;

		if (id_nulls[i] || !tenant_fetch(&tr, ids[i]))
			continue;			/* cannot happen: paths name existing tenants */
		for (c = 0; c < 5; c++)
			values[c] = slot_getattr(tr.slot, atts[c], &nulls[c]);
		values[5] = Int32GetDatum(i);
		nulls[5] = false;
		values[6] = Int32GetDatum(n - 1 - i);
		nulls[6] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	tenant_rel_close(&tr);
	return (Datum) 0;
}
