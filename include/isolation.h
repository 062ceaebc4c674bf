/*-------------------------------------------------------------------------
 *
 * isolation.h
 *	  Tenant isolation inside the database: tenant context, the row-security
 *	  hook, execution-time enforcement, violation counters in shared
 *	  memory, and the audited bypass.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGR_ISOLATION_H
#define PGR_ISOLATION_H

#include "postgres.h"

/* Define GUCs; with preload, install hooks and request shared memory. */
extern void pgr_isolation_init(bool preloaded);

#endif							/* PGR_ISOLATION_H */
