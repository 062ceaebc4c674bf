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

#include "utils/array.h"

/* GUC: maximum entries in a session's resolution cache (0 disables it). */
extern int	pgr_resolve_cache_size;

/* GUC: maximum tenant rows kept for cache misses (0: none kept). */
extern int	pgr_resolve_tenant_cache_size;

/* Define the GUC and register the invalidation callback (from _PG_init). */
extern void pgr_resolve_init(void);

/*
 * One component's answer for one tenant in a bulk walk: the version (NULL
 * when nothing resolves), the level that decided ("pin", "rollout", ...)
 * and the tenant whose row decided, if any.
 */
typedef struct PgrResolved
{
	bool		isnull;
	Datum		version;
	const char *source;
	const char *source_tenant;
} PgrResolved;

/*
 * Called once per tenant of a walk, in path order (ancestors first):
 * path[0..depth-1] are the tenant ids from the root to the tenant,
 * answers[i] is the answer for components[i].  Valid only during the call.
 */
typedef void (*PgrWalkCallback) (void *arg, const char *const *path, int depth, bool decommissioned,
								 int ncomp, const char *const *components, const PgrResolved *answers);

/*
 * Resolve the listed components (NULL: every component) for every tenant
 * in one ordered pass over the tree, by the rules of rollout.resolve_version.
 */
extern void pgr_resolve_walk(ArrayType *component_ids, PgrWalkCallback cb, void *arg);

#endif							/* PGR_RESOLVE_H */
