/*-------------------------------------------------------------------------
 *
 * pg_rollout.h
 *	  Declarations shared by every pg_rollout subsystem: GUCs and the
 *	  preload check.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ROLLOUT_H
#define PG_ROLLOUT_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"

/* GUC: the application-supplied actor recorded in the audit log. */
extern char *pgr_actor;

/* True when the library was loaded through shared_preload_libraries. */
extern bool pgr_loaded_at_startup;

/*
 * Raise a clear error when a feature that needs the preloaded library is
 * used in a server that did not preload it.  "what" names the feature.
 */
extern void pgr_require_preload(const char *what);

/* The installed extension version in this database (palloc'd), or NULL. */
extern char *pgr_schema_version(void);

/*
 * Raise a clear error naming ALTER EXTENSION ... UPDATE when a feature
 * ("what") needs schema version "needed" and the database has an older one.
 */
extern void pgr_require_schema(const char *needed, const char *what);

/*
 * The search_path every internal query of pg_rollout runs under, whoever
 * calls it: "pg_catalog, pg_temp".  Internal queries are also written with
 * schema-qualified operators, functions and types; the pinned path makes
 * any name that was missed resolve to the catalog, never to an object the
 * caller created.  pgr_pin_search_path() returns a GUC nest level to pass
 * to pgr_unpin_search_path() once the queries are done (on error, the
 * (sub)transaction abort restores the caller's path).
 */
#define PGR_SAFE_SEARCH_PATH "pg_catalog, pg_temp"

extern int	pgr_pin_search_path(void);
extern void pgr_unpin_search_path(int nestlevel);

/*
 * The SPI plan kept in *slot: prepared and kept for the session on first
 * use (the statements of the C functions that run many times a session).
 */
extern SPIPlanPtr pgr_kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types);

/* Argument n of a C function that takes text, as a C string; NULL for NULL. */
extern char *pgr_text_arg(FunctionCallInfo fcinfo, int n);

#endif							/* PG_ROLLOUT_H */
