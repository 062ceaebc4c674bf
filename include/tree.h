/*-------------------------------------------------------------------------
 *
 * tree.h
 *	  Tenant-tree look-ups in C: a tenant's materialized path and its
 *	  ancestors, read through the primary key of rollout.tenant.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGR_TREE_H
#define PGR_TREE_H

#include "postgres.h"
#include "fmgr.h"

extern Datum pgr_tenant_path(PG_FUNCTION_ARGS);
extern Datum pgr_ancestors(PG_FUNCTION_ARGS);

#endif							/* PGR_TREE_H */
