-- rollout.semver: SemVer 2.0.0 parsing, precedence, hashing and indexing.
\set VERBOSITY terse
SET search_path = rollout, public;

-- canonical output: leading "v" and surrounding blanks dropped, build kept
SELECT 'v1.2.3'::semver, ' 1.2.3-rc.1+build.5 '::semver, 'V0.0.0'::semver;
SELECT '1.2.3'::text::semver AS from_text, '2147483647.0.0'::semver AS largest;

-- precedence, the example list of semver.org section 11, shuffled
SELECT v FROM unnest('{1.0.0,2.1.1,1.0.0-rc.1,1.0.0-beta.11,1.0.0-alpha.beta,2.0.0,1.0.0-beta,
                       1.0.0-alpha.1,1.0.0-beta.2,1.0.0-alpha,2.1.0}'::semver[]) AS v
ORDER BY v;
-- numbers compare numerically, not as text
SELECT '1.10.0'::semver > '1.9.0'::semver AS minor, '1.0.0-rc.10'::semver > '1.0.0-rc.9' AS pre_numeric,
       '1.0.0-10'::semver < '1.0.0-9a' AS numeric_below_alpha, '1.0.0-a'::semver < '1.0.0-a.0' AS shorter_below;
-- build metadata is ignored by comparison, equality and hashing
SELECT '1.0.0+a'::semver = '1.0.0+b' AS eq, '1.0.0+a'::semver < '1.0.0+b' AS lt,
       semver_cmp('1.0.0+zzz', '1.0.0') AS cmp,
       semver_hash('1.0.0+a') = semver_hash('1.0.0') AS same_hash,
       semver_hash_extended('1.0.0+a', 42) = semver_hash_extended('1.0.0', 42) AS same_hash64;
SELECT semver_cmp('1.0.0', '2.0.0'), semver_cmp('2.0.0', '1.0.0'), semver_cmp('1.0.0-1', '1.0.0-1');
SELECT '1.0.0'::semver <> '1.0.1', '1.0.0'::semver <= '1.0.0+x', '1.0.0'::semver >= '1.0.0-rc.1';

-- accessors
SELECT semver_major(v), semver_minor(v), semver_patch(v), semver_prerelease(v), semver_build(v),
       semver_is_prerelease(v)
FROM unnest('{3.14.159-beta.2+exp.sha.5114f85,1.0.0}'::semver[]) AS v;
SELECT semver_is_valid('1.2.3-rc.1'), semver_is_valid('1.2'), semver_is_valid('01.2.3');
SELECT max(v), min(v), semver_larger('1.0.0', '1.0.0-rc.1'), semver_smaller('1.0.0', '1.0.0-rc.1')
FROM unnest('{1.0.0,1.10.0,1.9.0,1.10.0-rc.1}'::semver[]) AS v;

-- binary send/receive round trip (COPY BINARY uses semver_send and semver_recv)
CREATE TEMP TABLE sv_bin (v semver);
INSERT INTO sv_bin VALUES ('1.2.3'), ('4.5.6-alpha.7+b.8');
SELECT '/tmp/pg_rollout_semver_' || pg_backend_pid() || '.bin' AS binfile \gset
COPY sv_bin TO :'binfile' (FORMAT binary);
TRUNCATE sv_bin;
COPY sv_bin FROM :'binfile' (FORMAT binary);
SELECT v FROM sv_bin ORDER BY v;
SELECT semver_send('1.2.3-a+b');

-- hashing spreads values (a hash of one field only would collapse these)
CREATE TEMP TABLE sv AS
SELECT format('%s.%s.%s%s', i % 7, i % 11, i % 5, CASE WHEN i % 3 = 0 THEN '-rc.' || (i % 4) ELSE '' END)::semver AS v
FROM generate_series(1, 2000) AS i;
ANALYZE sv;
SELECT count(DISTINCT v) AS distinct_values, count(DISTINCT semver_hash(v)) AS distinct_hashes FROM sv;
-- hash aggregate and hash join give the same answers as sort-based plans
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT v, count(*) FROM sv GROUP BY v;
SELECT count(*) AS groups, sum(n) AS rows FROM (SELECT v, count(*) AS n FROM sv GROUP BY v) g;
RESET enable_sort;
SET enable_hashagg = off;
SELECT count(*) AS groups, sum(n) AS rows FROM (SELECT v, count(*) AS n FROM sv GROUP BY v) g;
RESET enable_hashagg;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM sv a JOIN (SELECT DISTINCT v FROM sv) b ON a.v = b.v;
SELECT count(*) FROM sv a JOIN (SELECT DISTINCT v FROM sv) b ON a.v = b.v;
RESET enable_mergejoin;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM sv a JOIN (SELECT DISTINCT v FROM sv) b ON a.v = b.v;
SELECT count(*) FROM sv a JOIN (SELECT DISTINCT v FROM sv) b ON a.v = b.v;
RESET enable_hashjoin;
RESET enable_nestloop;

-- btree and hash indexes
CREATE INDEX sv_btree ON sv (v);
CREATE INDEX sv_hash ON sv USING hash (v);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM sv WHERE v >= '6.0.0-rc.1' AND v < '6.1.0';
SELECT count(*) FROM sv WHERE v >= '6.0.0-rc.1' AND v < '6.1.0';
DROP INDEX sv_btree;
EXPLAIN (COSTS OFF) SELECT count(*) FROM sv WHERE v = '6.10.4+ignored';
SELECT count(*) FROM sv WHERE v = '6.10.4+ignored';
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT count(*) FROM sv WHERE v >= '6.0.0-rc.1' AND v < '6.1.0';
-- a unique index treats versions differing only in build metadata as duplicates
CREATE TEMP TABLE sv_unique (v semver PRIMARY KEY);
INSERT INTO sv_unique VALUES ('1.0.0+build.1');
INSERT INTO sv_unique VALUES ('1.0.0+build.2');

-- invalid input names the offending text and says what is wrong with it
\set VERBOSITY default
SELECT ''::semver;
SELECT '1.2'::semver;
SELECT '1.2.x'::semver;
SELECT '01.2.3'::semver;
SELECT '1.02.3'::semver;
SELECT '1.2.3-'::semver;
SELECT '1.2.3-alpha..1'::semver;
SELECT '1.2.3-01'::semver;
SELECT '1.2.3-alpha_1'::semver;
SELECT '1.2.3-café'::semver;
SELECT '1.2.3+'::semver;
SELECT '1.2.3+a+b'::semver;
SELECT '1.2.3 beta'::semver;
SELECT 'vv1.2.3'::semver;
SELECT '2147483648.0.0'::semver;
SELECT '1.99999999999.0'::semver;
SELECT ('1.0.0-' || repeat('a', 1100))::semver;
\set VERBOSITY terse
