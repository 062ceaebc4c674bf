/*-------------------------------------------------------------------------
 *
 * bucket.h
 *	  Deterministic tenant bucketing for staged rollouts.
 *
 * A tenant's bucket under a rollout is derived from SHA-256 over the
 * rollout's immutable salt and the tenant id, so it never changes while the
 * rollout runs, on any machine or after a dump and restore.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGR_BUCKET_H
#define PGR_BUCKET_H

#include "postgres.h"

/* Buckets per rollout: a stage at p % selects buckets below p * 10000. */
#define PGR_BUCKETS 1000000

/* The bucket (0 .. PGR_BUCKETS - 1) of a tenant under a salt. */
extern int32 pgr_bucket_of(const char *salt, int salt_len, const char *tenant, int tenant_len);

#endif							/* PGR_BUCKET_H */
