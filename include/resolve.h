/*-------------------------------------------------------------------------
 *
 * resolve.h
 *	  Version and flag resolution through the tenant tree, with a
 *	  per-backend cache invalidated at commit of any change it depends on.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGR_RESOLVE_H
#define PGR_RESOLVE_H

#include "postgres.h"

/* GUC: maximum entries in a session's resolution cache (0 disables it). */
extern int	pgr_resolve_cache_size;

/* Define the GUC and register the invalidation callback (from _PG_init). */
extern void pgr_resolve_init(void);

#endif							/* PGR_RESOLVE_H */
