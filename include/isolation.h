/*-------------------------------------------------------------------------
 *
 * isolation.h
 *	  Tenant isolation (src/isolation.c): what src/citus.c needs of it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGR_ISOLATION_H
#define PGR_ISOLATION_H

#include "postgres.h"

/* A protected table, as src/citus.c sees it. */
typedef struct PgrProtectedInfo
{
	AttrNumber	attnum;			/* tenant column; InvalidAttrNumber when gone */
	Oid			atttype;		/* text or varchar */
	Oid			attcollation;
	bool		usable;			/* column present, of a tenant type, row security on and forced as asked */
	bool		include_descendants;
	bool		inherited;		/* protected through a parent */
	bool		baseline;		/* pg_rollout supplies the all-rows permissive policy */
	const char *qualname;		/* schema.table, quoted */
	const char *column;
} PgrProtectedInfo;

extern void pgr_isolation_init(bool preloaded);

/* Is relid protected (on its own or through a parent)?  Fills *info. */
extern bool pgr_isolation_protected(Oid relid, PgrProtectedInfo *info);

/* The current tenant, or NULL without tenant context. */
extern const char *pgr_isolation_tenant(void);

/* Does row security not apply to the current user (superuser, BYPASSRLS)? */
extern bool pgr_isolation_privileged(void);

#endif							/* PGR_ISOLATION_H */
