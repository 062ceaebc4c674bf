/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  pg_rollout beside Citus (src/citus.c): Citus tables recognised
 *	  without linking to Citus, and protected tables kept off them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGR_CITUS_H
#define PGR_CITUS_H

#include "postgres.h"

/* Install the checks (fmgr hooks) when preloaded; register cache callbacks. */
extern void pgr_citus_init(bool preloaded);

/* Is Citus installed in this database (pg_catalog.pg_dist_partition exists)? */
extern bool pgr_citus_installed(void);

/* Citus's partition method of a relation, '\0' when not a Citus table. */
extern char pgr_citus_table(Oid relid);

/* "distributed", "reference or Citus-local", ... for a partition method. */
extern const char *pgr_citus_table_kind(char method);

/* A checked call (rollout.protect_table(), a Citus conversion function) begins. */
extern void pgr_citus_call_begins(void);

/* It returns: error when it left a protected table (or a child of one) a Citus table;
 * what: the Citus function, NULL for rollout.protect_table(). */
extern void pgr_citus_refuse_protected(const char *what);

#endif							/* PGR_CITUS_H */
