/*-------------------------------------------------------------------------
 *
 * bucket.c
 *	  Deterministic tenant bucketing for staged rollouts.
 *
 * digest = SHA-256(domain tag || salt || 0x00 || tenant id).  The first
 * eight bytes, read big-endian, give the bucket (modulo 1,000,000; the bias
 * of the modulo is below 1e-13).  The next seven bytes give a uniform number
 * u in (0, 1) for weighted sampling: ordering tenants by -ln(u) / weight
 * (Efraimidis and Spirakis) draws them with probability proportional to
 * weight, and a larger share is always a longer prefix of the same order.
 *
 * A stage activation buckets every target tenant (a tick: every due
 * rollout's).  pg_cryptohash_create() allocates an OpenSSL context and
 * registers it with the resource owner for each digest, and OpenSSL 3
 * looks the SHA-256 implementation up again (under a lock) for each
 * EVP_sha256() initialisation: together about two thirds of a bucket's
 * cost.  With OpenSSL the backend keeps one context and the implementation
 * fetched once; the digest is the same.  Anything that fails there falls
 * back to pg_cryptohash.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#ifdef USE_OPENSSL
#include <openssl/evp.h>
#endif

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "bucket.h"

#define BUCKET_DOMAIN_TAG "pg_rollout.bucket.v1"

#ifdef USE_OPENSSL
static EVP_MD_CTX *bucket_ctx = NULL;
static const EVP_MD *bucket_md = NULL;
static bool bucket_openssl_failed = false;

/* The digest through the backend's own OpenSSL context; false on failure. */
static bool
bucket_digest_openssl(const char *salt, int salt_len, const char *tenant, int tenant_len,
					  uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	uint8		zero = 0;
	unsigned int len = 0;

	if (bucket_openssl_failed)
		return false;
	if (bucket_ctx == NULL)
	{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
		bucket_md = EVP_MD_fetch(NULL, "SHA256", NULL);
#else
		bucket_md = EVP_sha256();
#endif
		bucket_ctx = bucket_md != NULL ? EVP_MD_CTX_new() : NULL;
		if (bucket_ctx == NULL)
		{
			bucket_openssl_failed = true;
			return false;
		}
	}
	if (EVP_DigestInit_ex(bucket_ctx, bucket_md, NULL) != 1 ||
		EVP_DigestUpdate(bucket_ctx, BUCKET_DOMAIN_TAG, strlen(BUCKET_DOMAIN_TAG)) != 1 ||
		EVP_DigestUpdate(bucket_ctx, salt, salt_len) != 1 ||
		EVP_DigestUpdate(bucket_ctx, &zero, 1) != 1 ||
		EVP_DigestUpdate(bucket_ctx, tenant, tenant_len) != 1 ||
		EVP_DigestFinal_ex(bucket_ctx, digest, &len) != 1 ||
		len != PG_SHA256_DIGEST_LENGTH)
	{
		bucket_openssl_failed = true;
		return false;
	}
	return true;
}
#endif

static void
bucket_digest(const char *salt, int salt_len, const char *tenant, int tenant_len,
			  uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	pg_cryptohash_ctx *ctx;
	uint8		zero = 0;

#ifdef USE_OPENSSL
	if (bucket_digest_openssl(salt, salt_len, tenant, tenant_len, digest))
		return;
#endif
	ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) BUCKET_DOMAIN_TAG, strlen(BUCKET_DOMAIN_TAG)) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) salt, salt_len) < 0 ||
		pg_cryptohash_update(ctx, &zero, 1) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) tenant, tenant_len) < 0 ||
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
	{
		pg_cryptohash_free(ctx);
		elog(ERROR, "could not compute SHA-256 for a tenant bucket");
	}
	pg_cryptohash_free(ctx);
}

static uint64
read_be(const uint8 *p, int n)
{
	uint64		v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

int32
pgr_bucket_of(const char *salt, int salt_len, const char *tenant, int tenant_len)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	bucket_digest(salt, salt_len, tenant, tenant_len, digest);
	return (int32) (read_be(digest, 8) % PGR_BUCKETS);
}

PG_FUNCTION_INFO_V1(pgr_bucket);

/*
 * rollout.bucket(salt bytea, tenant_id text) -> integer in [0, 1000000)
 */
Datum
pgr_bucket(PG_FUNCTION_ARGS)
{
	bytea	   *salt = PG_GETARG_BYTEA_PP(0);
	text	   *tenant = PG_GETARG_TEXT_PP(1);

	PG_RETURN_INT32(pgr_bucket_of(VARDATA_ANY(salt), VARSIZE_ANY_EXHDR(salt),
								  VARDATA_ANY(tenant), VARSIZE_ANY_EXHDR(tenant)));
}

PG_FUNCTION_INFO_V1(pgr_weight_key);

/*
 * rollout.weight_key(salt bytea, tenant_id text, weight float8) -> float8
 *
 * -ln(u) / weight; +Infinity for a weight that is zero, negative or NaN, so
 * such tenants come last.
 */
Datum
pgr_weight_key(PG_FUNCTION_ARGS)
{
	bytea	   *salt = PG_GETARG_BYTEA_PP(0);
	text	   *tenant = PG_GETARG_TEXT_PP(1);
	float8		weight = PG_GETARG_FLOAT8(2);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	float8		u;

	if (isnan(weight) || weight <= 0)
		PG_RETURN_FLOAT8(get_float8_infinity());

	bucket_digest(VARDATA_ANY(salt), VARSIZE_ANY_EXHDR(salt),
				  VARDATA_ANY(tenant), VARSIZE_ANY_EXHDR(tenant), digest);
	/* 53 random bits, shifted into the open interval (0, 1) */
	u = ((float8) (read_be(digest + 8, 7) >> 3) + 0.5) / 9007199254740992.0;
	PG_RETURN_FLOAT8(-log(u) / weight);
}
