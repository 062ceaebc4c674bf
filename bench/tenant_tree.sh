#!/usr/bin/env bash
# bench/tenant_tree.sh — build a generated tenant tree (default 1,000,000
# tenants, depth 10) with pg_rollout and, side by side, as a plain table with
# a parent column; then time ancestors / path / descendants look-ups with
# pgbench against recursive CTEs over the plain table.  Prints ratios.
#
#   bash bench/tenant_tree.sh
#   PGR_BENCH_TENANTS=100000 PGR_BENCH_SECONDS=3 bash bench/tenant_tree.sh   # quick run
#
# Environment:
#   PGR_BENCH_TENANTS   tenants in the tree             (default 1000000)
#   PGR_BENCH_DEPTH     levels, root included           (default 10)
#   PGR_BENCH_SECONDS   pgbench duration per query      (default 15)
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
SEED=20261123   # pgbench --random-seed: both sides draw the same tenants

die() { echo "tenant_tree.sh: $*" >&2; exit 1; }
for v in N DEPTH SECS BATCH; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[ "$DEPTH" -ge 3 ] && [ "$DEPTH" -le 32 ] || die "PGR_BENCH_DEPTH must be 3..32"

RUN_START=$(date +%s)
pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install

# ---------------------------------------------------------------------------
# The tree: a complete k-ary tree numbered breadth-first (t-1 is the root; the
# parent of t-i is t-((i-2)/k+1)), cut at N tenants, so parents always come
# before their children.  k is the smallest fan-out whose DEPTH levels hold N
# tenants; the first DEPTH-1 levels must not, so the tree has exactly DEPTH
# levels and the last level holds most tenants.
# total L = tenants in levels 0..L-1 = 1 + k + ... + k^(L-1); level L is
# t-(total L + 1) .. t-(total (L+1)).
total() {  # total K LEVELS
    local k=$1 l=$2 s=0 p=1 i
    for ((i = 0; i < l; i++)); do
        s=$((s + p)); p=$((p * k))
        [ "$s" -le 4000000000000 ] || { echo "$s"; return; }   # big enough: stop before overflow
    done
    echo "$s"
}
K=$(awk -v n="$N" -v d="$DEPTH" 'BEGIN { k = int(exp(log(n) / (d - 1))); print (k < 2 ? 2 : k) }')
while [ "$K" -gt 2 ] && [ "$(total $((K - 1)) "$DEPTH")" -ge "$N" ]; do K=$((K - 1)); done
while [ "$(total "$K" "$DEPTH")" -lt "$N" ]; do K=$((K + 1)); done
[ "$(total "$K" $((DEPTH - 1)))" -lt "$N" ] || die "no fan-out gives exactly $DEPTH levels for $N tenants"
DEEP_LO=$(($(total "$K" $((DEPTH - 1))) + 1))                 # deepest level: t-DEEP_LO .. t-N
MID_LEVEL=$((DEPTH - 4)); [ "$MID_LEVEL" -ge 1 ] || MID_LEVEL=1   # subtrees of tens to hundreds of tenants
BIG_LEVEL=3; [ "$BIG_LEVEL" -le $((DEPTH - 2)) ] || BIG_LEVEL=1  # subtrees of thousands
MID_LO=$(($(total "$K" "$MID_LEVEL") + 1)); MID_HI=$(total "$K" $((MID_LEVEL + 1)))
BIG_LO=$(($(total "$K" "$BIG_LEVEL") + 1)); BIG_HI=$(total "$K" $((BIG_LEVEL + 1)))
# mean subtree size at a level: every tenant below the level, shared by its tenants
avg_below() { awk -v n="$N" -v below="$2" -v cnt="$1" 'BEGIN { printf "%.0f", (n - below) / cnt }'; }
AVG_MID=$(avg_below $((MID_HI - MID_LO + 1)) "$MID_HI")
AVG_BIG=$(avg_below $((BIG_HI - BIG_LO + 1)) "$BIG_HI")

calc() { awk "BEGIN { printf \"%.1f\", $1 }"; }
now() { date +%s.%N; }

echo "==> starting a throwaway cluster"
# shared_buffers holds both sides (about 0.6 GB of tables and indexes at
# 1,000,000 tenants; the audit log adds 0.4 GB); nothing checkpoints or
# vacuums behind the measurements.
pgtmp_start "shared_buffers = 1GB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
            "synchronous_commit = off" "autovacuum = off" "work_mem = 64MB"
SCRIPTS=
trap 'pgtmp_stop; [ -z "$SCRIPTS" ] || rm -rf "$SCRIPTS"' EXIT
psql -X -q -c "CREATE DATABASE bench"
export PGDATABASE=bench
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_rollout"

echo "==> tree: $N tenants, $DEPTH levels (0..$((DEPTH - 1))), fan-out $K; deepest level t-$DEEP_LO..t-$N ($((N - DEEP_LO + 1)) tenants)"

echo "==> plain side: one INSERT into bench_plain(id primary key, parent_id references bench_plain), then an index on parent_id"
t0=$(now)
psql -X -q -v ON_ERROR_STOP=1 <<EOF
CREATE TABLE bench_plain (id text COLLATE "C" PRIMARY KEY, parent_id text COLLATE "C" REFERENCES bench_plain);
INSERT INTO bench_plain
SELECT 't-' || i, CASE WHEN i > 1 THEN 't-' || ((i - 2) / $K + 1) END FROM generate_series(1, $N) i;
CREATE INDEX ON bench_plain (parent_id);
EOF
PLAIN_BUILD=$(calc "$(now) - $t0")
echo "    $PLAIN_BUILD s"

echo "==> pg_rollout side: rollout.create_tenants, $BATCH tenants per call (ids, parents, paths checked; one hash-chained audit row per tenant)"
t0=$(now)
lo=1
while [ "$lo" -le "$N" ]; do
    hi=$((lo + BATCH - 1)); [ "$hi" -le "$N" ] || hi=$N
    tb=$(now)
    psql -X -q -v ON_ERROR_STOP=1 -c "
        SELECT rollout.create_tenants(
                 array_agg('t-' || i ORDER BY i),
                 array_agg(CASE WHEN i > 1 THEN 't-' || ((i - 2) / $K + 1) END ORDER BY i),
                 array_agg(CASE WHEN i = 1 THEN 'organisation' WHEN i < $MID_LO THEN 'team'
                                WHEN i < $DEEP_LO THEN 'project' ELSE 'tenant' END ORDER BY i))
          FROM generate_series($lo, $hi) i" >/dev/null
    echo "    t-$lo..t-$hi: $(calc "$(now) - $tb") s"
    lo=$((hi + 1))
done
ROLLOUT_BUILD=$(calc "$(now) - $t0")
echo "    $ROLLOUT_BUILD s in all"
psql -X -q -c "VACUUM ANALYZE rollout.tenant" -c "VACUUM ANALYZE rollout.audit_log" \
     -c "VACUUM ANALYZE bench_plain" -c "CHECKPOINT"

echo "==> checking both sides agree"
psql -X -q -v ON_ERROR_STOP=1 <<EOF
DO \$\$
DECLARE
    r int;
    m int;
    a bigint; b bigint;
    p1 text[]; p2 text[];
    audit record;
BEGIN
    IF (SELECT count(*) FROM rollout.tenant) <> $N OR (SELECT count(*) FROM bench_plain) <> $N
       OR (SELECT max(cardinality(path)) FROM rollout.tenant) <> $DEPTH THEN
        RAISE EXCEPTION 'the trees do not both have $N tenants in $DEPTH levels';
    END IF;
    IF EXISTS (SELECT FROM rollout.tenant t JOIN bench_plain p ON p.id = t.tenant_id
                WHERE p.parent_id IS DISTINCT FROM t.parent_id) THEN
        RAISE EXCEPTION 'parents differ between the two sides';
    END IF;
    SELECT * INTO audit FROM rollout.verify_audit();
    IF NOT audit.intact OR (SELECT count(*) FROM rollout.audit_log WHERE action = 'tenant.created') <> $N THEN
        RAISE EXCEPTION 'audit log: intact %, % rows checked, problem %', audit.intact, audit.rows_checked, audit.problem;
    END IF;
    PERFORM setseed(0.5);
    FOR k IN 1..50 LOOP
        r := $DEEP_LO + floor(random() * ($N - $DEEP_LO + 1))::int;
        m := CASE WHEN k % 2 = 0 THEN $MID_LO + floor(random() * ($MID_HI - $MID_LO + 1))::int
                  ELSE $BIG_LO + floor(random() * ($BIG_HI - $BIG_LO + 1))::int END;
        SELECT count(*) INTO a FROM rollout.ancestors('t-' || r);
        WITH RECURSIVE up(id, parent_id) AS (
            SELECT id, parent_id FROM bench_plain WHERE id = 't-' || r
            UNION ALL SELECT p.id, p.parent_id FROM bench_plain p JOIN up ON p.id = up.parent_id)
        SELECT count(*) - 1 INTO b FROM up;
        IF a <> b OR a <> $DEPTH - 1 THEN RAISE EXCEPTION 'ancestors of t-% differ: % vs %', r, a, b; END IF;
        SELECT count(*) INTO a FROM rollout.descendants('t-' || m);
        WITH RECURSIVE down(id) AS (
            SELECT id FROM bench_plain WHERE parent_id = 't-' || m
            UNION ALL SELECT c.id FROM bench_plain c JOIN down ON c.parent_id = down.id)
        SELECT count(*) INTO b FROM down;
        IF a <> b OR a = 0 THEN RAISE EXCEPTION 'descendants of t-% differ: % vs %', m, a, b; END IF;
        p1 := rollout.tenant_path('t-' || r);
        WITH RECURSIVE up(id, parent_id, path) AS (
            SELECT id, parent_id, ARRAY[id] FROM bench_plain WHERE id = 't-' || r
            UNION ALL SELECT p.id, p.parent_id, p.id || up.path FROM bench_plain p JOIN up ON p.id = up.parent_id)
        SELECT path INTO p2 FROM up WHERE parent_id IS NULL;
        IF p1 IS DISTINCT FROM p2 THEN RAISE EXCEPTION 'paths of t-% differ: % vs %', r, p1, p2; END IF;
    END LOOP;
END
\$\$;
EOF
echo "    ok: same parents; same ancestors, paths and descendants for 50 random tenants; audit chain intact ($N rows)"

# ---------------------------------------------------------------------------
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

echo "==> look-ups: pgbench -n -M prepared -c 1 -T $SECS --random-seed=$SEED, each side in turn"
declare -A LAT TPS
for op in base anc path desc big; do
    for side in rollout cte; do
        f="$SCRIPTS/${op}_${side}.sql"
        pgbench -n -M prepared -c 1 -t 200 -f "$f" >/dev/null 2>&1 || die "pgbench warm-up of ${op}_${side} failed"
        out=$(pgbench -n -M prepared -c 1 -T "$SECS" --random-seed="$SEED" -f "$f" 2>&1) \
            || { echo "$out" >&2; die "pgbench ${op}_${side} failed"; }
        LAT[${op}_${side}]=$(awk '/latency average/ { printf "%.1f", $4 * 1000 }' <<<"$out")
        TPS[${op}_${side}]=$(awk '/^tps/ { printf "%.0f", $3 }' <<<"$out")
        [ -n "${LAT[${op}_${side}]}" ] && [ -n "${TPS[${op}_${side}]}" ] || { echo "$out" >&2; die "no pgbench result for ${op}_${side}"; }
        echo "    ${op}_${side}: ${TPS[${op}_${side}]} tps, ${LAT[${op}_${side}]} us"
    done
done

BASE=$(calc "(${LAT[base_rollout]} + ${LAT[base_cte]}) / 2")
net() { awk -v a="$1" -v b="$BASE" 'BEGIN { d = a - b; if (d < 0.1) d = 0.1; printf "%.1f", d }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

LABEL_anc="ancestors of a level-$((DEPTH - 1)) tenant ($((DEPTH - 1)) rows)"
LABEL_path="tenant_path of a level-$((DEPTH - 1)) tenant"
LABEL_desc="descendants of a level-$MID_LEVEL tenant (~$AVG_MID rows)"
LABEL_big="descendants of a level-$BIG_LEVEL tenant (~$AVG_BIG rows)"
BUILD_RATIO=$(ratio "$ROLLOUT_BUILD" "$PLAIN_BUILD")
PGVER=$(psql -X -At -c "SHOW server_version")
ELAPSED=$(( $(date +%s) - RUN_START ))

echo
echo "== tenant tree benchmark: $N tenants, $DEPTH levels, fan-out $K; PostgreSQL $PGVER, $(nproc) cores, ${SECS}s per query"
printf '%-48s | %8s %9s | %8s %9s | %8s | %9s %9s %8s\n' "" "pg_rollout" "" "recursive" "CTE" "speed-up" "net us" "net us" "speed-up"
printf '%-48s | %8s %9s | %8s %9s | %8s | %9s %9s %8s\n' "operation" "tps" "mean us" "tps" "mean us" "" "pg_rollout" "CTE" "net"
for op in anc path desc big; do
    lbl=LABEL_$op; a=${LAT[${op}_rollout]}; b=${LAT[${op}_cte]}
    printf '%-48s | %8s %9s | %8s %9s | %7sx | %9s %9s %7sx\n' "${!lbl}" \
        "${TPS[${op}_rollout]}" "$a" "${TPS[${op}_cte]}" "$b" "$(ratio "$b" "$a")" \
        "$(net "$a")" "$(net "$b")" "$(ratio "$(net "$b")" "$(net "$a")")"
done
printf '%-48s | %8s %9s | %8s %9s |\n' "empty round trip (SELECT 1, same \\set)" \
    "${TPS[base_rollout]}" "${LAT[base_rollout]}" "${TPS[base_cte]}" "${LAT[base_cte]}"
echo
printf 'build %s tenants: pg_rollout %s s, plain %s s -> pg_rollout takes %sx as long\n' \
    "$N" "$ROLLOUT_BUILD" "$PLAIN_BUILD" "$BUILD_RATIO"
echo "speed-up = recursive CTE latency / pg_rollout latency (> 1: pg_rollout is faster)."
echo "net = mean latency minus the empty round trip (client, protocol, executor start: $BASE us)."
echo "The pg_rollout build does more than the plain one: it validates every id and parent, computes"
echo "and indexes the materialized paths and writes one SHA-256-chained audit row per tenant"
echo "($BATCH tenants per rollout.create_tenants call); the plain side is one INSERT with a foreign key"
echo "and two indexes.  The ratios are the result, not the absolute times."
echo "run time: ${ELAPSED} s"

echo
echo "---- summary (markdown) ----"
echo "$N tenants, $DEPTH levels, fan-out $K; PostgreSQL $PGVER, $(nproc) cores; pgbench -M prepared, 1 client, ${SECS} s per query."
echo
echo "| operation | pg_rollout tps | pg_rollout µs | recursive CTE tps | recursive CTE µs | speed-up | speed-up net of round trip |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for op in anc path desc big; do
    lbl=LABEL_$op; a=${LAT[${op}_rollout]}; b=${LAT[${op}_cte]}
    echo "| ${!lbl} | ${TPS[${op}_rollout]} | $a | ${TPS[${op}_cte]} | $b | $(ratio "$b" "$a")x | $(ratio "$(net "$b")" "$(net "$a")")x |"
done
echo "| empty round trip (\`SELECT 1\`) | ${TPS[base_rollout]} | ${LAT[base_rollout]} | ${TPS[base_cte]} | ${LAT[base_cte]} | | |"
echo
echo "| build | pg_rollout (create_tenants, audited) | plain INSERT + index | ratio |"
echo "| --- | ---: | ---: | ---: |"
echo "| $N tenants | $ROLLOUT_BUILD s | $PLAIN_BUILD s | ${BUILD_RATIO}x |"
echo "---- end of summary ----"
