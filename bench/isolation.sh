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
# Last, pgbench's TPC-B with the library preloaded against a second cluster
# without it.
#
# Two measures:
#   - backend CPU time per transaction (bench/cpu_client.c): one connection
#     per side, PGR_BENCH_ROUNDS rounds of PGR_BENCH_TX transactions per
#     side, interleaved (a b c, b c a, c a b, ...), the same random keys on
#     every side; the server process's own CPU time (/proc/<pid>/schedstat)
#     before and after each batch.  Batches are short (a few ms), so the
#     sides of one round run under the same load from other processes.  Time spent waiting for a core on a
#     shared machine is not in it, so ratios of a few per cent are
#     readable: the median per-round ratio and its interquartile range are
#     printed;
#   - pgbench tps (PGR_BENCH_TPS=1, the default): the same queries, median
#     of PGR_BENCH_REPS interleaved runs of PGR_BENCH_SECONDS s (what the
#     client sees, noise included).
#
#   bash bench/isolation.sh
#   PGR_BENCH_ROWS=100000 PGR_BENCH_TPS=0 bash bench/isolation.sh   # quick run, CPU time only
#
#   PGR_BENCH_TENANTS   tenants                       (default 1000)
#   PGR_BENCH_ROWS      rows per table                (default 1000000)
#   PGR_BENCH_ROUNDS    CPU-time rounds per query     (default 400)
#   PGR_BENCH_TX        transactions per side and round (default 100; the aggregate: a tenth, TPC-B: a quarter)
#   PGR_BENCH_TPS       1 = also measure pgbench tps  (default 1)
#   PGR_BENCH_SECONDS   pgbench duration per run      (default 5)
#   PGR_BENCH_REPS      pgbench runs per query, interleaved a, b, c, a, b, c, ...; the median is kept (default 3)
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
#   PGR_BENCH_BEFORE    the bin directory of a second PostgreSQL installation
#                       holding an earlier build of pg_rollout: a fourth cluster
#                       runs it, with the same data, as side (d) of every CPU-time
#                       round, so the two builds are compared interleaved in one
#                       run ((c) vs (d)), e.g. with a copy of the installation:
#                         cp -a /opt/pgsand/X /tmp/before
#                         git worktree add /tmp/old <rev> && cd /tmp/old &&
#                         PATH=/tmp/before/usr/lib/postgresql/15/bin:$PATH make install
#                         PGR_BENCH_BEFORE=/tmp/before/usr/lib/postgresql/15/bin bash bench/isolation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

NT=${PGR_BENCH_TENANTS:-1000}
ROWS=${PGR_BENCH_ROWS:-1000000}
SECS=${PGR_BENCH_SECONDS:-5}
REPS=${PGR_BENCH_REPS:-3}
ROUNDS=${PGR_BENCH_ROUNDS:-400}
TX=${PGR_BENCH_TX:-100}
TPS=${PGR_BENCH_TPS:-1}
PER=$((ROWS / NT))
die() { echo "isolation.sh: $*" >&2; exit 1; }
[ "$PER" -ge 1 ] || die "need at least one row per tenant"

[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
SCRIPTS=$(mktemp -d)
chmod 755 "$SCRIPTS"
CLIENT=$SCRIPTS/cpu_client
gcc -O2 -Wall -I"$(pg_config --includedir)" -I/usr/include/postgresql -o "$CLIENT" bench/cpu_client.c \
    -L"$(pg_config --libdir)" -lpq || die "cannot build bench/cpu_client.c (needs libpq-dev)"

# Three clusters, configured alike (no checkpoint during a run: after the
# CHECKPOINT before each TPC-B run both sides pay the same full-page writes):
# the queries' (pg_rollout preloaded), and for TPC-B two with the same
# content and history, one preloading the library and one not.
echo "==> starting three throwaway clusters: the queries', and TPC-B's with and without the library"
CONF=("shared_buffers = 1GB" "synchronous_commit = off" "autovacuum = off" "max_wal_size = 4GB" "checkpoint_timeout = 1h")
pgtmp_start "${CONF[@]}" "shared_preload_libraries = ''"
PLAIN_DIR=$PGTMP_DIR PLAIN_PORT=$PGTMP_PORT
pgtmp_start "${CONF[@]}"
LIB_DIR=$PGTMP_DIR LIB_PORT=$PGTMP_PORT
pgtmp_start "${CONF[@]}"
BEFORE=${PGR_BENCH_BEFORE:-}
BEFORE_DIR=
if [ -n "$BEFORE" ]; then
    [ -x "$BEFORE/postgres" ] || die "PGR_BENCH_BEFORE=$BEFORE holds no postgres"
    MAIN_DIR=$PGTMP_DIR MAIN_PORT=$PGTMP_PORT
    AFTER_BINDIR=$PG_BINDIR
    PG_BINDIR=$BEFORE
    pgtmp_start "${CONF[@]}"
    PG_BINDIR=$AFTER_BINDIR
    BEFORE_DIR=$PGTMP_DIR BEFORE_PORT=$PGTMP_PORT
    PGTMP_DIR=$MAIN_DIR PGTMP_PORT=$MAIN_PORT
    export PGHOST=$MAIN_DIR PGPORT=$MAIN_PORT
    echo "    a fourth cluster runs the earlier build installed under $BEFORE"
fi
trap 'pgtmp_stop; PGTMP_DIR=$PLAIN_DIR; pgtmp_stop; PGTMP_DIR=$LIB_DIR; pgtmp_stop; if [ -n "$BEFORE_DIR" ]; then PGTMP_DIR=$BEFORE_DIR; pgtmp_stop; fi; rm -rf "$SCRIPTS"' EXIT
export PGDATABASE=bench
CLUSTERS="$PGHOST:$PGPORT"
[ -z "$BEFORE_DIR" ] || CLUSTERS="$CLUSTERS $BEFORE_DIR:$BEFORE_PORT"

echo "==> $NT tenants, $ROWS rows in each of orders_a (plain), orders_b (RLS policy), orders_c (pg_rollout)"
for cl in $CLUSTERS; do
psql -X -q -h "${cl%:*}" -p "${cl#*:}" -d postgres -c "CREATE DATABASE bench"
psql -X -q -h "${cl%:*}" -p "${cl#*:}" -v ON_ERROR_STOP=1 <<EOF
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
done

# tenant t1 owns ids 0 .. PER-1 (and every NT*PER block after)
T=t1
for cl in $CLUSTERS; do
    psql -X -q -h "${cl%:*}" -p "${cl#*:}" -c "ALTER ROLE bench SET app.tenant = '$T'" -c "ALTER ROLE bench SET pg_rollout.tenant = '$T'"
    echo "==> checking the three sides agree for $T (cluster on port ${cl#*:})"
    r=$(psql -X -At -h "${cl%:*}" -p "${cl#*:}" -U bench -c "SELECT (SELECT count(*) FROM orders_a WHERE tenant_id = '$T') || ' ' ||
                                        (SELECT count(*) FROM orders_b) || ' ' || (SELECT count(*) FROM orders_c)")
    set -- $r
    [ "$1" = "$2" ] && [ "$2" = "$3" ] && [ "$1" -gt 0 ] || die "row counts differ: $r"
    echo "    $1 rows each"
done
psql -X -At -U bench -c "EXPLAIN (COSTS OFF) SELECT count(*), sum(amount) FROM orders_c" | sed 's/^/    /'

conn="host=$PGHOST port=$PGPORT dbname=bench user=bench"
# side scripts: one statement per line, :t and :id drawn per transaction
declare -A Q
Q[point_a]="SELECT amount FROM orders_a WHERE tenant_id = '$T' AND id = :id"
Q[point_b]="SELECT amount FROM orders_b WHERE id = :id"
Q[point_c]="SELECT amount FROM orders_c WHERE id = :id"
Q[agg_a]="SELECT count(*), sum(amount) FROM orders_a WHERE tenant_id = '$T'"
Q[agg_b]="SELECT count(*), sum(amount) FROM orders_b"
Q[agg_c]="SELECT count(*), sum(amount) FROM orders_c"
Q[tx_a]="BEGIN
SELECT set_config('app.tenant', 't' || :t, true)
SELECT amount FROM orders_a WHERE tenant_id = 't' || :t AND id = :id + (:t - 1) * $PER
COMMIT"
Q[tx_b]="BEGIN
SELECT set_config('app.tenant', 't' || :t, true)
SELECT amount FROM orders_b WHERE id = :id + (:t - 1) * $PER
COMMIT"
Q[tx_c]="BEGIN
SELECT rollout.set_tenant('t' || :t)
SELECT amount FROM orders_c WHERE id = :id + (:t - 1) * $PER
COMMIT"
for k in "${!Q[@]}"; do printf '%s\n' "${Q[$k]}" > "$SCRIPTS/$k.sql"; done
VARS="-v t=1:$NT -v id=0:$((PER - 1))"

# cpu_row KEY MODE TX: the three sides of one query, interleaved -> $SCRIPTS/cpu_KEY_MODE.out
cpu_row() {
    local q=$1 mode=$2 n=$3 warm=2000
    # set_tenant reads a tenant the first time a backend sees it: every tenant is seen in the warm-up
    [ "$q" = tx ] && warm=$((NT * 10))
    local before=()
    [ -z "$BEFORE_DIR" ] || before=(d "host=$BEFORE_DIR port=$BEFORE_PORT dbname=bench user=bench" "$SCRIPTS/${q}_c.sql")
    "$CLIENT" -M "$mode" -n "$n" -r "$ROUNDS" -w "$warm" $VARS \
        a "$conn" "$SCRIPTS/${q}_a.sql" b "$conn" "$SCRIPTS/${q}_b.sql" c "$conn" "$SCRIPTS/${q}_c.sql" "${before[@]}" \
        > "$SCRIPTS/cpu_${q}_$mode.out" || die "cpu_client failed for $q ($mode)"
}
# cpu_stats FILE SIDE -> median backend µs per transaction
cpu_stats() {
    awk -v s="$2" '$4 == s { print $8 / $6 / 1000 }' "$1" | sort -g \
        | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] }'
}
# cpu_ratio FILE REF SIDE -> "median p25 p75" of the per-round ratios REF cpu / SIDE cpu (in %)
cpu_ratio() {
    awk -v r="$2" -v s="$3" '$4 == r { ref[$2] = $8 } $4 == s { side[$2] = $8 }
        END { for (k in ref) if (k in side) print 100 * ref[k] / side[k] }' "$1" | sort -g \
        | awk '{ a[NR] = $1 } END { printf "%.1f %.1f %.1f", a[int((NR + 1) / 2)], a[int((NR + 3) / 4)], a[int((3 * NR + 1) / 4)] }'
}

echo "==> backend CPU time: $ROUNDS rounds of $TX transactions per side, interleaved"
CPU_ROWS="point:simple agg:simple point:prepared agg:prepared tx:simple tx:prepared"
for row in $CPU_ROWS; do
    q=${row%%:*}; mode=${row#*:}
    n=$TX; [ "$q" = agg ] && n=$(( TX / 10 > 0 ? TX / 10 : 1 ))      # an aggregate reads $PER rows
    echo "    $q ($mode)"
    cpu_row "$q" "$mode" "$n"
done

echo "==> TPC-B (pgbench -i -s 10) in the clusters with and without the library"
PLAIN="-h $PLAIN_DIR -p $PLAIN_PORT"
LIB="-h $LIB_DIR -p $LIB_PORT"
for c in "$PLAIN" "$LIB"; do
    psql -X -q $c -d postgres -c "CREATE DATABASE tpcb"
    pgbench -i -q $c -s 10 tpcb >/dev/null 2>&1
    psql -X -q $c -d tpcb -c "VACUUM ANALYZE"
done
psql -X -q $LIB -d tpcb -c "CREATE EXTENSION pg_rollout"
[ "$(psql -X -At $LIB -d tpcb -c "SELECT rollout.preloaded()")" = t ] || die "the library is not preloaded"
[ -z "$(psql -X -At $PLAIN -d postgres -c "SHOW shared_preload_libraries")" ] || die "the plain cluster preloads a library"
printf '%s\n' BEGIN \
    "UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid" \
    "SELECT abalance FROM pgbench_accounts WHERE aid = :aid" \
    "UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid" \
    "UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid" \
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP)" \
    END > "$SCRIPTS/tpcb.sql"
# cpu_tpcb STATE: one run, the cluster without the library (a) against the one with it (b)
cpu_tpcb() {
    psql -X -q $PLAIN -d postgres -c "CHECKPOINT"
    psql -X -q $LIB -d postgres -c "CHECKPOINT"
    "$CLIENT" -M prepared -n $(( TX / 4 > 0 ? TX / 4 : 1 )) -r "$ROUNDS" -w 1000 \
        -v aid=1:1000000 -v bid=1:10 -v tid=1:100 -v delta=-5000:5000 \
        a "host=$PLAIN_DIR port=$PLAIN_PORT dbname=tpcb user=postgres" "$SCRIPTS/tpcb.sql" \
        b "host=$LIB_DIR port=$LIB_PORT dbname=tpcb user=postgres" "$SCRIPTS/tpcb.sql" \
        > "$SCRIPTS/cpu_tpcb_$1.out" || die "cpu_client failed for TPC-B ($1)"
}
echo "    CPU time, preloaded: enforcement_mode = enforce (the tables not protected)"
psql -X -q $LIB -d tpcb -c "ALTER DATABASE tpcb SET pg_rollout.enforcement_mode = 'enforce'"
cpu_tpcb enforce
echo "    CPU time, preloaded: the extension not installed in the database"
psql -X -q $LIB -d tpcb -c "DROP EXTENSION pg_rollout"
cpu_tpcb noext
echo "    CPU time, preloaded: enforcement_mode = disabled"
psql -X -q $LIB -d tpcb -c "CREATE EXTENSION pg_rollout" -c "ALTER DATABASE tpcb SET pg_rollout.enforcement_mode = 'disabled'"
cpu_tpcb disabled

if [ "$TPS" = 1 ]; then
    run() {  # run NAME MODE SCRIPT -> prints tps
        local name=$1 mode=$2 file=$SCRIPTS/pgbench_$1.sql
        printf '%s\n' "$3" > "$file"
        pgbench -n -U bench -M "$mode" -c 1 -T "$SECS" --random-seed=20261123 -f "$file" bench 2>/dev/null \
            | awk '/^tps/ { printf "%.0f", $3 }'
    }
    ID="\\set id random(0, $((PER - 1)))"
    TID="\\set t random(1, $NT)
\\set id random(0, $((PER - 1)))"
    declare -A PQ M R ALL
    for mode in simple prepared; do
        for side in a b c; do
            PQ[point_${side}_$mode]="$ID
${Q[point_$side]};"
            PQ[agg_${side}_$mode]="${Q[agg_$side]};"
            M[point_${side}_$mode]=$mode; M[agg_${side}_$mode]=$mode
        done
    done
    for side in a b c; do
        PQ[tx_$side]="$TID
$(printf '%s\n' "${Q[tx_$side]}" | sed 's/$/;/')"
        M[tx_$side]=prepared
    done
    ORDER="point_a_simple point_b_simple point_c_simple agg_a_simple agg_b_simple agg_c_simple
           point_a_prepared point_b_prepared point_c_prepared agg_a_prepared agg_b_prepared agg_c_prepared tx_a tx_b tx_c"
    for rep in $(seq 1 "$REPS"); do
        echo "==> pgbench tps, run $rep of $REPS (each query $SECS s)"
        for k in $ORDER; do
            v=$(run "$k" "${M[$k]}" "${PQ[$k]}")
            ALL[$k]="${ALL[$k]:-} $v"
        done
    done
    median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
    for k in $ORDER; do
        R[$k]=$(echo "${ALL[$k]}" | median)
        echo "    $k:${ALL[$k]} -> ${R[$k]} tps"
    done
    echo "==> TPC-B tps: 1 client, $((SECS * 3)) s per run, preloaded (disabled) and not loaded, alternately, $REPS times each"
    W=""; WO=""
    for rep in $(seq 1 "$REPS"); do
        W="$W $(pgbench -n -c 1 -T "$((SECS * 3))" $LIB tpcb 2>/dev/null | awk '/^tps/ { printf "%.0f", $3 }')"
        WO="$WO $(pgbench -n -c 1 -T "$((SECS * 3))" $PLAIN tpcb 2>/dev/null | awk '/^tps/ { printf "%.0f", $3 }')"
    done
    TPCB_WITH=$(echo "$W" | median)
    TPCB_WITHOUT=$(echo "$WO" | median)
    echo "    with:$W -> $TPCB_WITH tps; without:$WO -> $TPCB_WITHOUT tps"
fi

pct() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.1f %%", 100 * x / y }'; }
# ratio cell: median of the per-round ratios, with the interquartile range
rcell() { set -- $(cpu_ratio "$1" "$2" "$3"); echo "$1 % ($2–$3)"; }
echo
echo "---- summary (markdown) ----"
echo "$NT tenants, $ROWS rows per table ($PER per tenant); $(psql -X -At -c 'SELECT version()' | sed 's/ on .*//'), $(nproc) cores; role without superuser or BYPASSRLS."
echo
echo "Backend CPU time per transaction (µs, median of $ROUNDS interleaved rounds; $TX transactions per side and round, $((TX / 10)) for the aggregate, $((TX / 4)) for TPC-B). A ratio is (reference CPU time) / (pg_rollout CPU time) per round, as a throughput ratio: 100 % = the same cost, above = cheaper; median of the rounds and, in brackets, the interquartile range."
echo
echo "| query | protocol | (a) WHERE tenant_id = ... µs | (b) RLS on current_setting() µs | (c) pg_rollout enforce µs | (c) vs (a) | (c) vs (b) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for row in $CPU_ROWS; do
    q=${row%%:*}; mode=${row#*:}; f=$SCRIPTS/cpu_${q}_$mode.out
    case $q in
        point) label="point look-up by id" ;;
        agg) label="per-tenant count and sum ($PER rows)" ;;
        tx) label="look-up, tenant set in the transaction (set_config / rollout.set_tenant)" ;;
    esac
    echo "| $label | $mode | $(cpu_stats "$f" a) | $(cpu_stats "$f" b) | $(cpu_stats "$f" c) | $(rcell "$f" a c) | $(rcell "$f" b c) |"
done
if [ -n "$BEFORE_DIR" ]; then
    echo
    echo "The earlier build (installed under $BEFORE) as side (d): a fourth cluster, configured alike, with the same data, in the same rounds. (c) vs (d) compares the two builds directly; (d) vs (a) is the earlier build against the first cluster's hand-written WHERE."
    echo
    echo "| query | protocol | (c) this build µs | (d) earlier build µs | (c) vs (d) | (c) vs (a) | (d) vs (a) |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    for row in $CPU_ROWS; do
        q=${row%%:*}; mode=${row#*:}; f=$SCRIPTS/cpu_${q}_$mode.out
        case $q in
            point) label="point look-up by id" ;;
            agg) label="per-tenant count and sum ($PER rows)" ;;
            tx) label="look-up, tenant set in the transaction" ;;
        esac
        echo "| $label | $mode | $(cpu_stats "$f" c) | $(cpu_stats "$f" d) | $(rcell "$f" d c) | $(rcell "$f" a c) | $(rcell "$f" a d) |"
    done
fi
echo
echo "| TPC-B (pgbench -s 10 transaction, prepared), two clusters alike | not loaded µs | preloaded µs | preloaded vs not loaded |"
echo "| --- | ---: | ---: | ---: |"
for st in disabled enforce noext; do
    f=$SCRIPTS/cpu_tpcb_$st.out
    case $st in
        disabled) label="enforcement_mode = disabled" ;;
        enforce) label="enforcement_mode = enforce (these tables not protected)" ;;
        noext) label="the extension not installed in the database" ;;
    esac
    echo "| $label | $(cpu_stats "$f" a) | $(cpu_stats "$f" b) | $(rcell "$f" a b) |"
done
if [ "$TPS" = 1 ]; then
    echo
    echo "pgbench tps: 1 client, median of $REPS interleaved runs of $SECS s per query."
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
    echo "| without the library (second cluster) | $TPCB_WITHOUT |"
    echo "| ratio | $(pct "$TPCB_WITH" "$TPCB_WITHOUT") |"
fi
echo "---- end of summary ----"
if [ -n "${PGR_BENCH_KEEP:-}" ]; then
    mkdir -p "$PGR_BENCH_KEEP" && cp "$SCRIPTS"/cpu_*.out "$PGR_BENCH_KEEP"/
    echo "(per-round CPU times kept in $PGR_BENCH_KEEP)"
fi
