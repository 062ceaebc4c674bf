#!/usr/bin/env bash
# bench/isolation.sh — the cost of tenant isolation.  One table of
# PGR_BENCH_ROWS rows over PGR_BENCH_TENANTS tenants, in three copies:
#   (a) no protection: the application writes WHERE tenant_id = ...;
#   (b) a hand-written RLS policy USING (tenant_id = current_setting('app.tenant'));
#   (c) rollout.protect_table() in enforce mode.
# Queries, as a non-superuser role whose tenant is set once per connection
# (ALTER ROLE ... SET app.tenant / pg_rollout.tenant): point look-ups by id
# and a per-tenant aggregate, simple and prepared protocol.  Then the same
# with the tenant set in every transaction (set_config vs rollout.set_tenant).
# Last, pgbench's TPC-B with the library preloaded in disabled mode against a
# restart without it.
#
#   bash bench/isolation.sh
#   PGR_BENCH_ROWS=100000 PGR_BENCH_SECONDS=3 bash bench/isolation.sh   # quick run
#
#   PGR_BENCH_TENANTS   tenants                       (default 1000)
#   PGR_BENCH_ROWS      rows per table                (default 1000000)
#   PGR_BENCH_SECONDS   pgbench duration per run      (default 5)
#   PGR_BENCH_REPS      runs per query, interleaved a, b, c, a, b, c, ...; the median is kept (default 3)
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

NT=${PGR_BENCH_TENANTS:-1000}
ROWS=${PGR_BENCH_ROWS:-1000000}
SECS=${PGR_BENCH_SECONDS:-5}
REPS=${PGR_BENCH_REPS:-3}
PER=$((ROWS / NT))
die() { echo "isolation.sh: $*" >&2; exit 1; }
[ "$PER" -ge 1 ] || die "need at least one row per tenant"

[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install

echo "==> starting a throwaway cluster (pg_rollout preloaded)"
pgtmp_start "shared_buffers = 512MB" "synchronous_commit = off" "autovacuum = off" "max_wal_size = 4GB"
SCRIPTS=$(mktemp -d)
trap 'pgtmp_stop; rm -rf "$SCRIPTS"' EXIT
psql -X -q -c "CREATE DATABASE bench"
export PGDATABASE=bench

echo "==> $NT tenants, $ROWS rows in each of orders_a (plain), orders_b (RLS policy), orders_c (pg_rollout)"
psql -X -q -v ON_ERROR_STOP=1 <<EOF
CREATE EXTENSION pg_rollout;
SELECT rollout.create_tenants(array_agg('t' || i), array_fill(NULL::text, ARRAY[$NT])) FROM generate_series(1, $NT) i;
CREATE ROLE bench LOGIN IN ROLE rollout_app;
CREATE TABLE orders_a (id int PRIMARY KEY, tenant_id text NOT NULL, amount numeric NOT NULL);
INSERT INTO orders_a SELECT i, 't' || (i / $PER % $NT + 1), i % 1000 FROM generate_series(0, $ROWS - 1) i;
CREATE INDEX ON orders_a (tenant_id);
CREATE TABLE orders_b (LIKE orders_a INCLUDING ALL);
INSERT INTO orders_b SELECT * FROM orders_a;
CREATE TABLE orders_c (LIKE orders_a INCLUDING ALL);
INSERT INTO orders_c SELECT * FROM orders_a;
ALTER TABLE orders_b ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON orders_b USING (tenant_id = current_setting('app.tenant'));
SELECT rollout.protect_table('orders_c', 'tenant_id', 'critical');
GRANT SELECT ON orders_a, orders_b, orders_c TO bench;
ALTER SYSTEM SET pg_rollout.enforcement_mode = 'enforce';
SELECT pg_reload_conf();
VACUUM ANALYZE;
CHECKPOINT;
EOF

# tenant t1 owns ids 0 .. PER-1 (and every NT*PER block after)
T=t1
psql -X -q -c "ALTER ROLE bench SET app.tenant = '$T'" -c "ALTER ROLE bench SET pg_rollout.tenant = '$T'"

echo "==> checking the three sides agree for $T"
r=$(psql -X -At -U bench -c "SELECT (SELECT count(*) FROM orders_a WHERE tenant_id = '$T') || ' ' ||
                                    (SELECT count(*) FROM orders_b) || ' ' || (SELECT count(*) FROM orders_c)")
set -- $r
[ "$1" = "$2" ] && [ "$2" = "$3" ] && [ "$1" -gt 0 ] || die "row counts differ: $r"
echo "    $1 rows each"
psql -X -At -U bench -c "EXPLAIN (COSTS OFF) SELECT count(*), sum(amount) FROM orders_c" | sed 's/^/    /'

run() {  # run NAME MODE SCRIPT -> prints tps
    local name=$1 mode=$2 file=$SCRIPTS/$1.sql
    printf '%s\n' "$3" > "$file"
    pgbench -n -U bench -M "$mode" -c 1 -T "$SECS" --random-seed=20261123 -f "$file" 2>/dev/null \
        | awk '/^tps/ { printf "%.0f", $3 }'
}
ID="\\set id random(0, $((PER - 1)))"
TID="\\set t random(1, $NT)
\\set id random(0, $((PER - 1)))"
declare -A Q M R
# query key -> script, protocol
for mode in simple prepared; do
    Q[point_a_$mode]="$ID
SELECT amount FROM orders_a WHERE tenant_id = '$T' AND id = :id;"
    Q[point_b_$mode]="$ID
SELECT amount FROM orders_b WHERE id = :id;"
    Q[point_c_$mode]="$ID
SELECT amount FROM orders_c WHERE id = :id;"
    Q[agg_a_$mode]="SELECT count(*), sum(amount) FROM orders_a WHERE tenant_id = '$T';"
    Q[agg_b_$mode]="SELECT count(*), sum(amount) FROM orders_b;"
    Q[agg_c_$mode]="SELECT count(*), sum(amount) FROM orders_c;"
    for k in point_a point_b point_c agg_a agg_b agg_c; do M[${k}_$mode]=$mode; done
done
Q[tx_a]="$TID
BEGIN;
SELECT set_config('app.tenant', 't' || :t, true);
SELECT amount FROM orders_a WHERE tenant_id = 't' || :t AND id = :id + (:t - 1) * $PER;
COMMIT;"
Q[tx_b]="$TID
BEGIN;
SELECT set_config('app.tenant', 't' || :t, true);
SELECT amount FROM orders_b WHERE id = :id + (:t - 1) * $PER;
COMMIT;"
Q[tx_c]="$TID
BEGIN;
SELECT rollout.set_tenant('t' || :t);
SELECT amount FROM orders_c WHERE id = :id + (:t - 1) * $PER;
COMMIT;"
M[tx_a]=prepared; M[tx_b]=prepared; M[tx_c]=prepared
ORDER="point_a_simple point_b_simple point_c_simple agg_a_simple agg_b_simple agg_c_simple
       point_a_prepared point_b_prepared point_c_prepared agg_a_prepared agg_b_prepared agg_c_prepared tx_a tx_b tx_c"
declare -A ALL
for rep in $(seq 1 "$REPS"); do
    echo "==> run $rep of $REPS (each query $SECS s)"
    for k in $ORDER; do
        v=$(run "$k" "${M[$k]}" "${Q[$k]}")
        ALL[$k]="${ALL[$k]:-} $v"
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for k in $ORDER; do
    R[$k]=$(echo "${ALL[$k]}" | median)
    echo "    $k:${ALL[$k]} -> ${R[$k]} tps"
done

echo "==> TPC-B (pgbench -i -s 10; 1 client, $((SECS * 3)) s per run): library preloaded in disabled mode and not loaded, alternately, $REPS times each"
pgbench -i -q -s 10 bench >/dev/null 2>&1
psql -X -q -c "ALTER SYSTEM SET pg_rollout.enforcement_mode = 'disabled'" -c "SELECT pg_reload_conf()" >/dev/null
restart_with() {  # restart_with LIBS
    echo "shared_preload_libraries = '$1'" | pgtmp_as tee -a "$PGTMP_DIR/data/postgresql.conf" >/dev/null
    pgtmp_as "$PG_BINDIR/pg_ctl" -D "$PGTMP_DIR/data" -l "$PGTMP_DIR/server.log" -w restart >/dev/null
    psql -X -q -c "CHECKPOINT"
}
W=""; WO=""
for rep in $(seq 1 "$REPS"); do
    restart_with pg_rollout
    [ "$(psql -X -At -c "SELECT rollout.preloaded()")" = t ] || die "the library is not preloaded"
    W="$W $(pgbench -n -c 1 -T "$((SECS * 3))" bench 2>/dev/null | awk '/^tps/ { printf "%.0f", $3 }')"
    restart_with ''
    WO="$WO $(pgbench -n -c 1 -T "$((SECS * 3))" bench 2>/dev/null | awk '/^tps/ { printf "%.0f", $3 }')"
done
TPCB_WITH=$(echo "$W" | median)
TPCB_WITHOUT=$(echo "$WO" | median)
echo "    with:$W -> $TPCB_WITH tps; without:$WO -> $TPCB_WITHOUT tps"

pct() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.1f %%", 100 * x / y }'; }
echo
echo "---- summary (markdown) ----"
echo "$NT tenants, $ROWS rows per table ($PER per tenant); $(psql -X -At -c 'SELECT version()' | sed 's/ on .*//'), $(nproc) cores; pgbench, 1 client, median of $REPS interleaved runs of $SECS s per query; role without superuser or BYPASSRLS."
echo
echo "| query | protocol | (a) WHERE tenant_id = ... tps | (b) RLS on current_setting() tps | (c) pg_rollout enforce tps | (c) / (a) | (c) / (b) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for mode in simple prepared; do
    for q in point agg; do
        a=${R[${q}_a_$mode]}; b=${R[${q}_b_$mode]}; c=${R[${q}_c_$mode]}
        label=$([ $q = point ] && echo "point look-up by id" || echo "per-tenant count and sum ($PER rows)")
        echo "| $label | $mode | $a | $b | $c | $(pct "$c" "$a") | $(pct "$c" "$b") |"
    done
done
echo "| look-up, tenant set in the transaction (set_config / rollout.set_tenant) | prepared | ${R[tx_a]} | ${R[tx_b]} | ${R[tx_c]} | $(pct "${R[tx_c]}" "${R[tx_a]}") | $(pct "${R[tx_c]}" "${R[tx_b]}") |"
echo
echo "| TPC-B (pgbench -s 10, median of $REPS alternating runs of $((SECS * 3)) s) | tps |"
echo "| --- | ---: |"
echo "| pg_rollout preloaded, enforcement_mode = disabled | $TPCB_WITH |"
echo "| without the library | $TPCB_WITHOUT |"
echo "| ratio | $(pct "$TPCB_WITH" "$TPCB_WITHOUT") |"
echo "---- end of summary ----"
