/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  The tamper-evident audit log: append and verify.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGR_AUDIT_H
#define PGR_AUDIT_H

#include "postgres.h"
#include "utils/jsonb.h"

#define PGR_AUDIT_HASH_LEN 32	/* SHA-256 */

/*
 * Append one row to rollout.audit_log in the current transaction and return
 * its sequence number.  Any argument but action may be NULL.
 */
extern int64 pgr_audit_append(const char *action, const char *tenant_id,
							  const char *subject_kind, const char *subject_id,
							  const char *reason, Jsonb *details);

#endif							/* PGR_AUDIT_H */
