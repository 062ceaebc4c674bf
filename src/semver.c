/*-------------------------------------------------------------------------
 *
 * semver.c
 *	  The rollout.semver type: parsing, SemVer 2.0.0 precedence, btree and
 *	  hash support, sort support.
 *
 * Precedence follows https://semver.org/spec/v2.0.0.html section 11:
 * major, minor and patch compare numerically; a version with a prerelease
 * sorts below the same version without one; prerelease identifiers compare
 * left to right, numeric ones numerically, alphanumeric ones in ASCII order,
 * numeric below alphanumeric, and a shorter list below a longer one that it
 * prefixes.  Build metadata is kept and printed but ignored by comparison,
 * equality and hashing, so that equal values always hash alike.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/sortsupport.h"

#include "semver.h"

#define SEMVER_BINARY_FORMAT 1

/* ----------
 * Parsing
 * ----------
 */

static inline bool
semver_ident_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		(c >= 'A' && c <= 'Z') || c == '-';
}

static inline bool
semver_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline bool
ident_is_numeric(const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}


/* A character for an error detail: itself when printable ASCII, else its byte. */
static char *
semver_char_desc(char c)
{
	unsigned char uc = (unsigned char) c;

	if (uc >= 0x20 && uc < 0x7f)
		return psprintf("character \"%c\"", c);
	return psprintf("byte 0x%02X", uc);
}

/* Raise the syntax error for str with the given detail. */
static void
pg_attribute_noreturn()
semver_syntax_error(const char *str, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type semver: \"%s\"", str),
			 errdetail_internal("%s", detail),
			 errhint("A semantic version looks like 1.4.2, 2.0.0-rc.1 or 1.0.0+build.5.")));
}

/* Report one syntax problem, or return NULL when not raising. */
#define SEMVER_FAIL(detail_fmt, ...) \
	do { \
		if (!raise_error) \
			return NULL; \
		semver_syntax_error(str, psprintf(detail_fmt, ##__VA_ARGS__)); \
	} while (0)

/* What went wrong in one part of a version. */
typedef enum SemVerProblem
{
	SEMVER_OK,
	SEMVER_MISSING,				/* no number where one is needed */
	SEMVER_LEADING_ZERO,		/* number, or numeric prerelease identifier */
	SEMVER_OVERFLOW,			/* number above PG_INT32_MAX */
	SEMVER_EMPTY_IDENT,			/* empty prerelease or build identifier */
	SEMVER_BAD_CHAR				/* character outside [0-9A-Za-z-] */
} SemVerProblem;

/* Parse one of major, minor, patch at *p, advancing *p past it. */
static SemVerProblem
semver_parse_number(const char **p, int32 *out)
{
	const char *s = *p;
	int64		val = 0;

	if (*s < '0' || *s > '9')
		return SEMVER_MISSING;
	if (*s == '0' && s[1] >= '0' && s[1] <= '9')
		return SEMVER_LEADING_ZERO;
	while (*s >= '0' && *s <= '9')
	{
		val = val * 10 + (*s - '0');
		if (val > PG_INT32_MAX)
			return SEMVER_OVERFLOW;
		s++;
	}
	*out = (int32) val;
	*p = s;
	return SEMVER_OK;
}

/*
 * Scan a dot-separated identifier list at start, stopping at the end, '+'
 * (for prereleases) or a blank.  Sets *len to the length scanned, or
 * *bad_pos to the offset of the problem.
 */
static SemVerProblem
semver_scan_idents(const char *start, bool is_pre, int *len, int *bad_pos)
{
	const char *s = start;
	const char *ident = s;

	for (;;)
	{
		if (*s == '.' || *s == '\0' || (is_pre && *s == '+') || semver_is_blank(*s))
		{
			if (s == ident)
			{
				*bad_pos = s - start;
				return SEMVER_EMPTY_IDENT;
			}
			if (is_pre && s - ident > 1 && ident[0] == '0' && ident_is_numeric(ident, s - ident))
			{
				*bad_pos = ident - start;
				return SEMVER_LEADING_ZERO;
			}
			if (*s != '.')
			{
				*len = s - start;
				return SEMVER_OK;
			}
			ident = s + 1;
		}
		else if (!semver_ident_char(*s))
		{
			*bad_pos = s - start;
			return SEMVER_BAD_CHAR;
		}
		s++;
	}
}

/*
 * Scan the prerelease (is_pre) or build part at start, within str.  Returns
 * its length, or -1 on bad syntax when not raising.
 */
static int
semver_scan_part(const char *str, const char *start, bool is_pre, bool raise_error)
{
	int			len = 0;
	int			bad = 0;
	SemVerProblem problem = semver_scan_idents(start, is_pre, &len, &bad);
	int			pos = (int) (start - str) + bad + 1;
	const char *part = is_pre ? "prerelease" : "build metadata";

	if (problem == SEMVER_OK)
		return len;
	if (!raise_error)
		return -1;
	if (problem == SEMVER_BAD_CHAR)
		semver_syntax_error(str, psprintf("Unexpected %s at position %d; identifiers use only [0-9A-Za-z-].",
										  semver_char_desc(start[bad]), pos));
	if (problem == SEMVER_LEADING_ZERO)
		semver_syntax_error(str, psprintf("The %s has a numeric identifier with a leading zero at position %d.",
										  part, pos));
	semver_syntax_error(str, psprintf("The %s has an empty identifier at position %d.", part, pos));
}

SemVer *
semver_parse(const char *str, bool raise_error)
{
	const char *p = str;
	int32		nums[3];
	static const char *const names[3] = {"major", "minor", "patch"};
	const char *pre = NULL;
	const char *build = NULL;
	int			pre_len = 0;
	int			build_len = 0;
	SemVer	   *sv;
	int			i;

	if (strlen(str) > SEMVER_MAX_TEXT)
	{
		if (!raise_error)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("semver value is too long"),
				 errdetail("The text has %zu bytes; at most %d are allowed.",
						   strlen(str), SEMVER_MAX_TEXT)));
	}

	while (semver_is_blank(*p))
		p++;
	if (*p == 'v' || *p == 'V')
		p++;

	for (i = 0; i < 3; i++)
	{
		SemVerProblem problem = semver_parse_number(&p, &nums[i]);

		if (problem == SEMVER_OVERFLOW)
		{
			if (!raise_error)
				return NULL;
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s version number in semver \"%s\" is out of range", names[i], str),
					 errdetail("Version numbers must be at most %d.", PG_INT32_MAX)));
		}
		if (problem == SEMVER_LEADING_ZERO)
			SEMVER_FAIL("The %s version number has a leading zero.", names[i]);
		if (problem != SEMVER_OK)
			SEMVER_FAIL("Expected the %s version number at position %d; a version needs MAJOR.MINOR.PATCH.",
						names[i], (int) (p - str) + 1);
		if (i < 2)
		{
			if (*p != '.')
				SEMVER_FAIL("Expected \".\" after the %s version number at position %d; a version needs MAJOR.MINOR.PATCH.",
							names[i], (int) (p - str) + 1);
			p++;
		}
	}

	if (*p == '-')
	{
		pre = ++p;
		pre_len = semver_scan_part(str, pre, true, raise_error);
		if (pre_len < 0)
			return NULL;
		p += pre_len;
	}
	if (*p == '+')
	{
		build = ++p;
		build_len = semver_scan_part(str, build, false, raise_error);
		if (build_len < 0)
			return NULL;
		p += build_len;
	}

	while (semver_is_blank(*p))
		p++;
	if (*p != '\0')
		SEMVER_FAIL("Unexpected %s at position %d.", semver_char_desc(*p), (int) (p - str) + 1);

	sv = (SemVer *) palloc0(offsetof(SemVer, data) + pre_len + build_len);
	SET_VARSIZE(sv, offsetof(SemVer, data) + pre_len + build_len);
	sv->major = nums[0];
	sv->minor = nums[1];
	sv->patch = nums[2];
	sv->pre_len = (uint16) pre_len;
	sv->build_len = (uint16) build_len;
	if (pre_len > 0)
		memcpy(SEMVER_PRE(sv), pre, pre_len);
	if (build_len > 0)
		memcpy(SEMVER_BUILD(sv), build, build_len);
	return sv;
}

char *
semver_to_cstring(const SemVer *sv)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%d.%d.%d", sv->major, sv->minor, sv->patch);
	if (sv->pre_len > 0)
	{
		appendStringInfoChar(&buf, '-');
		appendBinaryStringInfo(&buf, SEMVER_PRE(sv), sv->pre_len);
	}
	if (sv->build_len > 0)
	{
		appendStringInfoChar(&buf, '+');
		appendBinaryStringInfo(&buf, SEMVER_BUILD(sv), sv->build_len);
	}
	return buf.data;
}

/* ----------
 * Precedence
 * ----------
 */

/* Compare two prerelease identifiers (neither empty). */
static int
semver_ident_cmp(const char *a, int alen, const char *b, int blen)
{
	bool		anum = ident_is_numeric(a, alen);
	bool		bnum = ident_is_numeric(b, blen);
	int			c;

	if (anum && bnum)
	{
		/* no leading zeros, so a longer digit string is a larger number */
		if (alen != blen)
			return alen < blen ? -1 : 1;
		c = memcmp(a, b, alen);
		return c < 0 ? -1 : (c > 0 ? 1 : 0);
	}
	if (anum)
		return -1;
	if (bnum)
		return 1;
	c = memcmp(a, b, Min(alen, blen));
	if (c != 0)
		return c < 0 ? -1 : 1;
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return 0;
}

static int
semver_pre_cmp(const char *a, int alen, const char *b, int blen)
{
	int			ai = 0,
				bi = 0;

	/* a version without a prerelease has the higher precedence */
	if (alen == 0 || blen == 0)
		return (alen == 0 ? 1 : 0) - (blen == 0 ? 1 : 0);

	while (ai < alen && bi < blen)
	{
		int			ae = ai,
					be = bi;
		int			c;

		while (ae < alen && a[ae] != '.')
			ae++;
		while (be < blen && b[be] != '.')
			be++;
		c = semver_ident_cmp(a + ai, ae - ai, b + bi, be - bi);
		if (c != 0)
			return c;
		ai = ae + 1;
		bi = be + 1;
	}
	/* a larger set of identifiers has the higher precedence */
	if (ai < alen)
		return 1;
	if (bi < blen)
		return -1;
	return 0;
}

int
semver_compare(const SemVer *a, const SemVer *b)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	if (a->patch != b->patch)
		return a->patch < b->patch ? -1 : 1;
	return semver_pre_cmp(SEMVER_PRE(a), a->pre_len, SEMVER_PRE(b), b->pre_len);
}

/* Compare two datums, freeing any detoasted copies. */
static int
semver_datum_cmp(Datum x, Datum y)
{
	SemVer	   *a = DatumGetSemVerP(x);
	SemVer	   *b = DatumGetSemVerP(y);
	int			c = semver_compare(a, b);

	if ((Pointer) a != DatumGetPointer(x))
		pfree(a);
	if ((Pointer) b != DatumGetPointer(y))
		pfree(b);
	return c;
}

/* ----------
 * SQL-callable functions
 * ----------
 */

PG_FUNCTION_INFO_V1(semver_in);
Datum
semver_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_SEMVER_P(semver_parse(PG_GETARG_CSTRING(0), true));
}

PG_FUNCTION_INFO_V1(semver_out);
Datum
semver_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(semver_to_cstring(PG_GETARG_SEMVER_P(0)));
}

/*
 * Binary form: a format byte, then the canonical text.  Parsing the text on
 * receipt validates it exactly as input does.
 */
PG_FUNCTION_INFO_V1(semver_recv);
Datum
semver_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			format = pq_getmsgbyte(buf);
	char	   *str;
	int			nbytes;

	if (format != SEMVER_BINARY_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported binary format %d for type semver", format),
				 errdetail("This version of pg_rollout reads format %d.", SEMVER_BINARY_FORMAT)));
	str = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);
	PG_RETURN_SEMVER_P(semver_parse(str, true));
}

PG_FUNCTION_INFO_V1(semver_send);
Datum
semver_send(PG_FUNCTION_ARGS)
{
	SemVer	   *sv = PG_GETARG_SEMVER_P(0);
	char	   *str = semver_to_cstring(sv);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, SEMVER_BINARY_FORMAT);
	pq_sendtext(&buf, str, strlen(str));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(semver_is_valid);
Datum
semver_is_valid(PG_FUNCTION_ARGS)
{
	char	   *str = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_BOOL(semver_parse(str, false) != NULL);
}

PG_FUNCTION_INFO_V1(semver_cmp);
Datum
semver_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(semver_compare(PG_GETARG_SEMVER_P(0), PG_GETARG_SEMVER_P(1)));
}

#define SEMVER_CMP_FN(name, test) \
	PG_FUNCTION_INFO_V1(name); \
	Datum \
	name(PG_FUNCTION_ARGS) \
	{ \
		int c = semver_compare(PG_GETARG_SEMVER_P(0), PG_GETARG_SEMVER_P(1)); \
		PG_RETURN_BOOL(test); \
	}

SEMVER_CMP_FN(semver_eq, c == 0)
SEMVER_CMP_FN(semver_ne, c != 0)
SEMVER_CMP_FN(semver_lt, c < 0)
SEMVER_CMP_FN(semver_le, c <= 0)
SEMVER_CMP_FN(semver_gt, c > 0)
SEMVER_CMP_FN(semver_ge, c >= 0)

PG_FUNCTION_INFO_V1(semver_larger);
Datum
semver_larger(PG_FUNCTION_ARGS)
{
	SemVer	   *a = PG_GETARG_SEMVER_P(0);
	SemVer	   *b = PG_GETARG_SEMVER_P(1);

	PG_RETURN_SEMVER_P(semver_compare(a, b) >= 0 ? a : b);
}

PG_FUNCTION_INFO_V1(semver_smaller);
Datum
semver_smaller(PG_FUNCTION_ARGS)
{
	SemVer	   *a = PG_GETARG_SEMVER_P(0);
	SemVer	   *b = PG_GETARG_SEMVER_P(1);

	PG_RETURN_SEMVER_P(semver_compare(a, b) <= 0 ? a : b);
}

static int
semver_fastcmp(Datum x, Datum y, SortSupport ssup)
{
	return semver_datum_cmp(x, y);
}

PG_FUNCTION_INFO_V1(semver_sortsupport);
Datum
semver_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0);

	ssup->comparator = semver_fastcmp;
	PG_RETURN_VOID();
}

/*
 * Hashing covers exactly what equality compares: the three numbers and the
 * prerelease text (two prereleases are equal only when their texts are,
 * since numeric identifiers have no leading zeros).  Build metadata is left
 * out, as equality ignores it.
 */
static uint64
semver_hash_internal(const SemVer *sv, uint64 seed, bool extended)
{
	int32		nums[3];
	uint64		h;

	nums[0] = sv->major;
	nums[1] = sv->minor;
	nums[2] = sv->patch;
	if (extended)
	{
		h = DatumGetUInt64(hash_any_extended((const unsigned char *) nums, sizeof(nums), seed));
		if (sv->pre_len > 0)
			h = hash_combine64(h, DatumGetUInt64(hash_any_extended((const unsigned char *) SEMVER_PRE(sv),
																   sv->pre_len, seed)));
	}
	else
	{
		h = DatumGetUInt32(hash_any((const unsigned char *) nums, sizeof(nums)));
		if (sv->pre_len > 0)
			h = hash_combine((uint32) h, DatumGetUInt32(hash_any((const unsigned char *) SEMVER_PRE(sv),
																 sv->pre_len)));
	}
	return h;
}

PG_FUNCTION_INFO_V1(semver_hash);
Datum
semver_hash(PG_FUNCTION_ARGS)
{
	PG_RETURN_UINT32((uint32) semver_hash_internal(PG_GETARG_SEMVER_P(0), 0, false));
}

PG_FUNCTION_INFO_V1(semver_hash_extended);
Datum
semver_hash_extended(PG_FUNCTION_ARGS)
{
	PG_RETURN_UINT64(semver_hash_internal(PG_GETARG_SEMVER_P(0), PG_GETARG_INT64(1), true));
}

/* ----------
 * Accessors
 * ----------
 */

PG_FUNCTION_INFO_V1(semver_major);
Datum
semver_major(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_SEMVER_P(0)->major);
}

PG_FUNCTION_INFO_V1(semver_minor);
Datum
semver_minor(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_SEMVER_P(0)->minor);
}

PG_FUNCTION_INFO_V1(semver_patch);
Datum
semver_patch(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_SEMVER_P(0)->patch);
}

PG_FUNCTION_INFO_V1(semver_prerelease);
Datum
semver_prerelease(PG_FUNCTION_ARGS)
{
	SemVer	   *sv = PG_GETARG_SEMVER_P(0);

	if (sv->pre_len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(SEMVER_PRE(sv), sv->pre_len));
}

PG_FUNCTION_INFO_V1(semver_build);
Datum
semver_build(PG_FUNCTION_ARGS)
{
	SemVer	   *sv = PG_GETARG_SEMVER_P(0);

	if (sv->build_len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(SEMVER_BUILD(sv), sv->build_len));
}

PG_FUNCTION_INFO_V1(semver_is_prerelease);
Datum
semver_is_prerelease(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_SEMVER_P(0)->pre_len > 0);
}
