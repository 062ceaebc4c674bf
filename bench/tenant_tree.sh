#!/usr/bin/env bash
# bench/tenant_tree.sh — build a generated tenant tree (default 1,000,000
# tenants, depth 10) with pg_rollout and, side by side, as a plain table with
# a parent column; then time ancestors / descendants / path look-ups with
# pgbench against recursive CTEs over the plain table.  Prints ratios.
#
#   bash bench/tenant_tree.sh
#
# Environment:
#   PGR_BENCH_TENANTS   tenants in the tree            (default 1000000)
#   PGR_BENCH_DEPTH     levels, root included          (default 10)
#   PGR_BENCH_SECONDS   pgbench duration per query     (default 15)
#   PGR_BENCH_BATCH     tenants per create_tenants call (default 100000)
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

N=${PGR_BENCH_TENANTS:-1000000}
DEPTH=${PGR_BENCH_DEPTH:-10}
SECS=${PGR_BENCH_SECONDS:-15}
BATCH=${PGR_BENCH_BATCH:-100000}

pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install

# A complete k-ary tree numbered breadth-first (t-1 is the root; the parent of
# t-i is t-((i-2)/k+1)), cut at N nodes.  k is the smallest fan-out whose
# DEPTH levels hold N nodes; the first DEPTH-1 levels must not, so the tree
# has exactly DEPTH levels.
read -r K DEEP_LO MID_LO MID_HI BIG_LO BIG_HI < <(python3 - "$N" "$DEPTH" <<'EOF'
import sys
n, d = int(sys.argv[1]), int(sys.argv[2])
def total(k, levels): return sum(k ** l for l in range(levels))
k = 2
while total(k, d) < n:
    k += 1
if total(k, d - 1) >= n:
    sys.exit("no fan-out gives exactly %d levels for %d tenants" % (d, n))
mid = max(1, d - 4)          # a level whose subtrees hold tens to hundreds of tenants
big = max(1, min(3, d - 2))  # a level whose subtrees hold thousands
print(k, total(k, d - 1) + 1, total(k, mid) + 1, total(k, mid + 1), total(k, big) + 1, total(k, big + 1))
EOF
)

echo "==> starting a throwaway cluster"
pgtmp_start "shared_buffers = 1GB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
            "synchronous_commit = off" "autovacuum = off"
trap pgtmp_stop EXIT
psql -X -q -c "CREATE DATABASE bench"
export PGDATABASE=bench
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_rollout"

now() { date +%s.%N; }
elapsed() { python3 -c "print('%.1f' % ($2 - $1))"; }

echo "==> tree: $N tenants, $DEPTH levels, fan-out $K (deepest level t-$DEEP_LO..t-$N)"

echo "==> building the plain table (id, parent_id, primary key, parent index)"
t0=$(now)
psql -X -q -v ON_ERROR_STOP=1 <<EOF
CREATE TABLE bench_plain (id text COLLATE "C" PRIMARY KEY, parent_id text COLLATE "C" REFERENCES bench_plain);
INSERT INTO bench_plain
SELECT 't-' || i, CASE WHEN i > 1 THEN 't-' || ((i - 2) / $K + 1) END FROM generate_series(1, $N) i;
CREATE INDEX ON bench_plain (parent_id);
EOF
t1=$(now)
PLAIN_BUILD=$(elapsed "$t0" "$t1")

echo "==> building the pg_rollout tree (rollout.create_tenants, $BATCH per call, one audit row per tenant)"
t0=$(now)
lo=1
while [ "$lo" -le "$N" ]; do
    hi=$((lo + BATCH - 1)); [ "$hi" -le "$N" ] || hi=$N
    psql -X -q -v ON_ERROR_STOP=1 -c "
        SELECT rollout.create_tenants(
                 array_agg('t-' || i ORDER BY i),
                 array_agg(CASE WHEN i > 1 THEN 't-' || ((i - 2) / $K + 1) END ORDER BY i))
          FROM generate_series($lo, $hi) i" >/dev/null
    lo=$((hi + 1))
done
t1=$(now)
ROLLOUT_BUILD=$(elapsed "$t0" "$t1")
psql -X -q -c "VACUUM ANALYZE rollout.tenant" -c "VACUUM ANALYZE rollout.audit_log" -c "VACUUM ANALYZE bench_plain"

echo "==> checking both sides agree"
psql -X -q -v ON_ERROR_STOP=1 <<EOF
DO \$\$
DECLARE
    r int;
    m int;
    a bigint; b bigint;
    p1 text[]; p2 text[];
BEGIN
    IF (SELECT count(*) FROM rollout.tenant) <> $N OR (SELECT max(depth) FROM rollout.tenant_tree) <> $DEPTH - 1 THEN
        RAISE EXCEPTION 'the pg_rollout tree does not have $N tenants in $DEPTH levels';
    END IF;
    IF NOT (SELECT intact FROM rollout.verify_audit()) THEN
        RAISE EXCEPTION 'audit chain broken';
    END IF;
    FOR k IN 1..20 LOOP
        r := $DEEP_LO + floor(random() * ($N - $DEEP_LO + 1))::int;
        m := $MID_LO + floor(random() * ($MID_HI - $MID_LO + 1))::int;
        SELECT count(*) INTO a FROM rollout.ancestors('t-' || r);
        WITH RECURSIVE up(id, parent_id) AS (
            SELECT id, parent_id FROM bench_plain WHERE id = 't-' || r
            UNION ALL SELECT p.id, p.parent_id FROM bench_plain p JOIN up ON p.id = up.parent_id)
        SELECT count(*) - 1 INTO b FROM up;
        IF a <> b THEN RAISE EXCEPTION 'ancestors of t-% differ: % vs %', r, a, b; END IF;
        SELECT count(*) INTO a FROM rollout.descendants('t-' || m);
        WITH RECURSIVE down(id) AS (
            SELECT id FROM bench_plain WHERE parent_id = 't-' || m
            UNION ALL SELECT c.id FROM bench_plain c JOIN down ON c.parent_id = down.id)
        SELECT count(*) INTO b FROM down;
        IF a <> b THEN RAISE EXCEPTION 'descendants of t-% differ: % vs %', m, a, b; END IF;
        p1 := rollout.tenant_path('t-' || r);
        WITH RECURSIVE up(id, parent_id, path) AS (
            SELECT id, parent_id, ARRAY[id] FROM bench_plain WHERE id = 't-' || r
            UNION ALL SELECT p.id, p.parent_id, p.id || up.path FROM bench_plain p JOIN up ON p.id = up.parent_id)
        SELECT path INTO p2 FROM up WHERE parent_id IS NULL;
        IF p1 IS DISTINCT FROM p2 THEN RAISE EXCEPTION 'paths of t-% differ', r; END IF;
    END LOOP;
END
\$\$;
EOF
echo "    ok: same ancestors, descendants and paths for 20 random tenants; audit chain intact"

SCRIPTS=$(mktemp -d /tmp/pgr-bench.XXXXXX)
DEEP="\\set r random($DEEP_LO, $N)"
MID="\\set m random($MID_LO, $MID_HI)"
BIG="\\set m random($BIG_LO, $BIG_HI)"
UP_CTE="WITH RECURSIVE up(id, parent_id) AS (SELECT id, parent_id FROM bench_plain WHERE id = 't-' || :r UNION ALL SELECT p.id, p.parent_id FROM bench_plain p JOIN up ON p.id = up.parent_id)"
PATH_CTE="WITH RECURSIVE up(id, parent_id, path) AS (SELECT id, parent_id, ARRAY[id] FROM bench_plain WHERE id = 't-' || :r UNION ALL SELECT p.id, p.parent_id, p.id || up.path FROM bench_plain p JOIN up ON p.id = up.parent_id)"
DOWN_CTE="WITH RECURSIVE down(id) AS (SELECT id FROM bench_plain WHERE parent_id = 't-' || :m UNION ALL SELECT c.id FROM bench_plain c JOIN down ON c.parent_id = down.id)"
mk() { printf '%s\n%s\n' "$2" "$3" >"$SCRIPTS/$1.sql"; }
mk base_rollout "$DEEP" "SELECT 1;"
mk base_cte     "$DEEP" "SELECT 1;"
mk anc_rollout  "$DEEP" "SELECT count(*) FROM rollout.ancestors('t-' || :r);"
mk anc_cte      "$DEEP" "$UP_CTE SELECT count(*) - 1 FROM up;"
mk path_rollout "$DEEP" "SELECT rollout.tenant_path('t-' || :r);"
mk path_cte     "$DEEP" "$PATH_CTE SELECT path FROM up WHERE parent_id IS NULL;"
mk desc_rollout "$MID"  "SELECT count(*) FROM rollout.descendants('t-' || :m);"
mk desc_cte     "$MID"  "$DOWN_CTE SELECT count(*) FROM down;"
mk big_rollout  "$BIG"  "SELECT count(*) FROM rollout.descendants('t-' || :m);"
mk big_cte      "$BIG"  "$DOWN_CTE SELECT count(*) FROM down;"

# mean latency in microseconds of one pgbench run (single client, prepared)
latency() {
    pgbench -n -M prepared -c 1 -T "$SECS" -f "$1" 2>&1 |
        awk '/latency average/ { printf "%.1f", $4 * 1000 }'
}

echo "==> look-ups: pgbench -M prepared, 1 client, ${SECS}s per query"
declare -A LAT
for op in base anc path desc big; do
    for side in rollout cte; do
        pgbench -n -M prepared -c 1 -t 100 -f "$SCRIPTS/${op}_${side}.sql" >/dev/null 2>&1   # warm up
        LAT[${op}_${side}]=$(latency "$SCRIPTS/${op}_${side}.sql")
    done
done
rm -rf "$SCRIPTS"

avg_desc() {
    psql -X -At -c "SELECT round(avg((SELECT count(*) FROM rollout.descendants('t-' || i))))
                      FROM generate_series($1, LEAST($2, $1 + 99)) i"
}
AVG_MID=$(avg_desc "$MID_LO" "$MID_HI")
AVG_BIG=$(avg_desc "$BIG_LO" "$BIG_HI")
MID_LEVEL=$(python3 -c "print(max(1, $DEPTH - 4))")
BIG_LEVEL=$(python3 -c "print(max(1, min(3, $DEPTH - 2)))")
BASE=$(python3 -c "print('%.1f' % ((${LAT[base_rollout]} + ${LAT[base_cte]}) / 2))")

ratio() { python3 -c "print('%.1f' % ($1 / $2))"; }
net() { python3 -c "print('%.1f' % max(0.1, $1 - $BASE))"; }

echo
echo "== tenant tree benchmark: $N tenants, $DEPTH levels (fan-out $K); PostgreSQL $(pg_config --version | awk '{print $2}'), $(nproc) cores"
printf '%-46s %12s %12s %9s %12s %12s %9s\n' "operation (mean latency per call, us)" "pg_rollout" "recursive" "speed-up" "pg_rollout" "recursive" "speed-up"
printf '%-46s %12s %12s %9s %12s %12s %9s\n' "" "round trip" "CTE" "" "net" "CTE net" "net"
row() {  # row LABEL OP
    local a=${LAT[$2_rollout]} b=${LAT[$2_cte]}
    printf '%-46s %12s %12s %8sx %12s %12s %8sx\n' "$1" "$a" "$b" "$(ratio "$b" "$a")" \
        "$(net "$a")" "$(net "$b")" "$(ratio "$(net "$b")" "$(net "$a")")"
}
row "ancestors of a deepest tenant (rows)" anc
row "root-to-tenant path of a deepest tenant" path
row "descendants, level-$MID_LEVEL tenant (~$AVG_MID rows)" desc
row "descendants, level-$BIG_LEVEL tenant (~$AVG_BIG rows)" big
printf '%-46s %12s\n' "empty round trip (SELECT 1)" "$BASE"
printf '%-46s %10s s %10s s %8sx\n' "build the tree (pg_rollout / plain INSERT)" "$ROLLOUT_BUILD" "$PLAIN_BUILD" \
    "$(ratio "$ROLLOUT_BUILD" "$PLAIN_BUILD")"
echo "speed-up = recursive CTE / pg_rollout; 'net' subtracts the empty round trip (client, protocol, executor start)."
echo "Build: pg_rollout validates every id and parent, stores paths and writes one SHA-256-chained audit row"
echo "per tenant, $BATCH tenants per rollout.create_tenants call; the plain side is one INSERT and two indexes."
