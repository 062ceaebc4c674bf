/*-------------------------------------------------------------------------
 *
 * semver.h
 *	  The rollout.semver type: Semantic Versioning 2.0.0 values.
 *
 * A semver is a varlena with a fixed header followed by the prerelease and
 * build strings (not NUL-terminated).  The type is declared with PLAIN
 * storage and int4 alignment, so a value always carries a 4-byte header and
 * can be read in place without unpacking.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGR_SEMVER_H
#define PGR_SEMVER_H

#include "postgres.h"
#include "fmgr.h"

typedef struct SemVer
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int32		major;
	int32		minor;
	int32		patch;
	uint16		pre_len;		/* bytes of prerelease text, 0 if none */
	uint16		build_len;		/* bytes of build metadata, 0 if none */
	char		data[FLEXIBLE_ARRAY_MEMBER];	/* prerelease, then build */
} SemVer;

#define SEMVER_PRE(sv)		((sv)->data)
#define SEMVER_BUILD(sv)	((sv)->data + (sv)->pre_len)

/* Longest text accepted for one semver value. */
#define SEMVER_MAX_TEXT		1024

#define DatumGetSemVerP(d)	((SemVer *) PG_DETOAST_DATUM(d))
#define PG_GETARG_SEMVER_P(n) DatumGetSemVerP(PG_GETARG_DATUM(n))
#define PG_RETURN_SEMVER_P(x) PG_RETURN_POINTER(x)

/*
 * Parse text into a semver.  On bad input, raise an error when raise_error
 * is true; otherwise return NULL (for callers that only test validity).
 */
extern SemVer *semver_parse(const char *str, bool raise_error);

/* SemVer 2.0.0 precedence: <0, 0, >0.  Build metadata is ignored. */
extern int	semver_compare(const SemVer *a, const SemVer *b);

/* Canonical text form (no leading "v"). */
extern char *semver_to_cstring(const SemVer *sv);

#endif							/* PGR_SEMVER_H */
