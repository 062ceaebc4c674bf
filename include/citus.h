/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  pg_rollout beside Citus (src/citus.c): Citus tables recognised
 *	  without linking to Citus; protected tables distributed by Citus
 *	  enforced on every node.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGR_CITUS_H
#define PGR_CITUS_H

#include "postgres.h"

#include "nodes/parsenodes.h"

/* Catalog policies pg_rollout puts on a distributed protected table. */
#define PGR_CITUS_POLICY_PREFIX		"pg_rollout_citus_"
#define PGR_CITUS_SELECT_POLICY		"pg_rollout_citus_select"
#define PGR_CITUS_BASELINE_POLICY	"pg_rollout_citus_baseline"

extern void pgr_citus_init(bool preloaded);

/* Is Citus installed in this database? */
extern bool pgr_citus_installed(void);

/* Citus's partition method of a relation, '\0' when not a Citus table. */
extern char pgr_citus_table(Oid relid);

extern const char *pgr_citus_table_kind(char method);

/* A protected table hash-distributed by Citus, with pg_rollout's policies. */
extern bool pgr_citus_protected_table(Oid relid);

/* Around rollout.protect_table() and Citus's conversion functions. */
extern void pgr_citus_call_begins(void);
extern void pgr_citus_refuse_protected(const char *what);

/* After rollout.unprotect_table(). */
extern void pgr_citus_unprotected(void);

/* pg_rollout dropping its own policies (allowed past the DDL check). */
extern bool pgr_citus_internal_ddl(void);

/* COPY FROM into a distributed protected table or a shard of one (ProcessUtility). */
extern void pgr_citus_check_copy(CopyStmt *stmt);

/* pg_rollout.tenant changed. */
extern void pgr_citus_tenant_changed(void);

#endif							/* PGR_CITUS_H */
