/*-------------------------------------------------------------------------
 *
 * pgr_limits.h
 *	  The one definition of pg_rollout's names and limits, for C and SQL.
 *
 * The Makefile substitutes every "@PGR_<NAME>@" in the SQL pieces
 * (src/sql/) with the value defined here, so the CHECK constraints, the
 * validation messages and the C buffers cannot disagree.  Released scripts
 * (released/) keep the literal values they shipped with; test/t/004_upgrade.pl
 * checks that the installed schema enforces the limits below.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGR_LIMITS_H
#define PGR_LIMITS_H

/* The extension's schema (control file: schema = rollout). */
#define PGR_SCHEMA				"rollout"

/* Longest identifier (tenant, kind, channel, component, flag, rollout, stage, metric), in bytes. */
#define PGR_NAME_MAX_LEN 63

/* Deepest tenant tree: a path has at most this many elements. */
#define PGR_MAX_DEPTH 32

/* Tables, as named in the schema. */
#define PGR_TABLE_TENANT		"tenant"
#define PGR_TABLE_AUDIT_LOG		"audit_log"
#define PGR_TABLE_PROTECTED		"protected_table"
#define PGR_TABLE_PROTECTED_PRIOR	"protected_relation"
#define PGR_TABLE_BINDING		"tenant_binding"

/*
 * The restrictive policy protect_table() puts on every protected relation:
 * USING (rollout._library_loaded()), which refuses the table when the
 * library is not preloaded (src/pg_rollout.c).
 */
#define PGR_LOADED_POLICY		"pg_rollout_loaded"

#endif							/* PGR_LIMITS_H */
