#!/usr/bin/env bash
# bench/citus.sh — tenant point look-ups with pg_rollout beside Citus, on a
# single-node Citus cluster (the coordinator holds the shards), all in one
# interleaved run:
#   (a) a table distributed by tenant_id, not protected, the application
#       writing WHERE tenant_id = ... (Citus routes it to one shard);
#   (e) the same rows in a table distributed by tenant_id and protected with
#       rollout.protect_table() (enforce mode, pg_rollout.cluster_secret
#       set), no hand-written tenant predicate: pg_rollout adds the tenant
#       and its signature, Citus routes to one shard, the shard checks the
#       signature (issue 16's goal: e/a >= 0.9);
#   (b) the same rows in a local protected table, no tenant predicate.
# Queries as a non-superuser role whose tenant is set per connection, simple
# and prepared protocol.
#
#   bash bench/citus.sh
#   PGR_BENCH_ROWS=20000 PGR_BENCH_SECONDS=1 PGR_BENCH_REPS=1 bash bench/citus.sh   # quick run
#
#   PGR_BENCH_TENANTS   tenants                       (default 1000)
#   PGR_BENCH_ROWS      rows per table                (default 200000)
#   PGR_BENCH_SECONDS   pgbench duration per run      (default 5)
#   PGR_BENCH_REPS      runs per query, interleaved a, e, b, a, e, b, ...; the median is kept (default 3)
#   PGR_BENCH_CPU_STATEMENTS  statements per side in the CPU measurement at the end (default 10000; 0: skip)
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
#   PGR_BENCH_PERF      1 = also sample one backend running (e) with perf (Linux perf, as root)
#                       and print the shares of its CPU spent in pg_rollout's planner hook,
#                       in row security and in the shard guard (less disturbed by other load
#                       than the numbers above, which compare separate runs)
#   PGR_BENCH_CALLGRIND 1 = also count instructions per statement of (a) and (e), simple and
#                       prepared protocol, with valgrind's callgrind (the server restarted under
#                       it; one pgbench session of 200 and one of 1,200 statements per side, the
#                       difference / 1,000): independent of the machine's load.  Needs valgrind;
#                       about 3 minutes more
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

NT=${PGR_BENCH_TENANTS:-1000}
ROWS=${PGR_BENCH_ROWS:-200000}
SECS=${PGR_BENCH_SECONDS:-5}
REPS=${PGR_BENCH_REPS:-3}
PER=$((ROWS / NT))
die() { echo "citus.sh: $*" >&2; exit 1; }
[ "$PER" -ge 1 ] || die "need at least one row per tenant"
[ -f "$(pg_config --pkglibdir)/citus.so" ] ||
    die "Citus is not installed in $(pg_config --pkglibdir) (bash ../shared/vendor/build-citus.sh)"

[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install

echo "==> starting a throwaway single-node Citus cluster (shared_preload_libraries = 'citus,pg_rollout')"
pgtmp_start "shared_preload_libraries = 'citus,pg_rollout'" "shared_buffers = 256MB" "synchronous_commit = off" \
    "autovacuum = off" "max_prepared_transactions = 20" "citus.shard_count = 8" \
    "listen_addresses = 'localhost'" "citus.node_conninfo = 'sslmode=disable'" \
    "pg_rollout.cluster_secret = 'bench-secret-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')'"
SCRIPTS=$(mktemp -d)
trap 'pgtmp_stop; rm -rf "$SCRIPTS"' EXIT

setup_tenants() {  # the tenants, the application role's grants, the protected table
    psql -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null <<EOF
CREATE EXTENSION pg_rollout;
SELECT rollout.create_tenants(array_agg('t' || i), array_fill(NULL::text, ARRAY[$NT])) FROM generate_series(1, $NT) i;
CREATE TABLE orders_local (id int PRIMARY KEY, tenant_id text NOT NULL, amount numeric NOT NULL);
INSERT INTO orders_local SELECT i, 't' || (i / $PER % $NT + 1), i % 1000 FROM generate_series(0, $ROWS - 1) i;
CREATE INDEX ON orders_local (tenant_id);
SELECT rollout.protect_table('orders_local', 'tenant_id', 'critical');
GRANT SELECT ON orders_local TO bench;
EOF
}
psql -X -q -c "CREATE ROLE bench LOGIN" -c "CREATE DATABASE bench_citus"
echo "==> bench_citus: Citus, $ROWS rows over $NT tenants in orders_dist (distributed), orders_pdist (distributed, protected) and orders_local (protected)"
psql -X -q -v ON_ERROR_STOP=1 -d bench_citus >/dev/null <<EOF
CREATE EXTENSION citus;
SELECT citus_set_coordinator_host('localhost', $PGTMP_PORT);
SELECT citus_set_node_property('localhost', $PGTMP_PORT, 'shouldhaveshards', true);
EOF
setup_tenants -d bench_citus
psql -X -q -v ON_ERROR_STOP=1 -d bench_citus >/dev/null <<EOF
GRANT rollout_app TO bench;
CREATE TABLE orders_pdist (id int, tenant_id text NOT NULL, amount numeric NOT NULL, PRIMARY KEY (tenant_id, id));
INSERT INTO orders_pdist SELECT id, tenant_id, amount FROM orders_local;
SELECT rollout.protect_table('orders_pdist', 'tenant_id', 'critical');
SELECT create_distributed_table('orders_pdist', 'tenant_id');
GRANT SELECT ON orders_pdist TO bench;
CREATE TABLE orders_dist (id int, tenant_id text NOT NULL, amount numeric NOT NULL, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('orders_dist', 'tenant_id');
INSERT INTO orders_dist SELECT id, tenant_id, amount FROM orders_local;
GRANT SELECT ON orders_dist TO bench;
VACUUM ANALYZE;
EOF
psql -X -q -c "ALTER SYSTEM SET pg_rollout.enforcement_mode = 'enforce'" -c "SELECT pg_reload_conf()" -c "CHECKPOINT" >/dev/null

T=t1
psql -X -q -c "ALTER ROLE bench SET pg_rollout.tenant = '$T'"

echo "==> checking the three sides agree for $T"
r=$(psql -X -At -U bench -d bench_citus -c "SELECT (SELECT count(*) FROM orders_dist WHERE tenant_id = '$T') || ' ' ||
                                                   (SELECT count(*) FROM orders_pdist) || ' ' ||
                                                   (SELECT count(*) FROM orders_local)")
set -- $r
[ "$1" = "$2" ] && [ "$2" = "$3" ] && [ "$1" -gt 0 ] || die "row counts differ: $r"
echo "    $1 rows each"
psql -X -At -U bench -d bench_citus -c "EXPLAIN (COSTS OFF) SELECT amount FROM orders_dist WHERE tenant_id = '$T' AND id = 1" \
    | grep -E "Task Count|Custom Scan" | sed 's/^/    (a) /'
psql -X -At -U bench -d bench_citus -c "EXPLAIN (COSTS OFF) SELECT amount FROM orders_pdist WHERE id = 1" \
    | grep -E "Task Count|Custom Scan" | sed 's/^/    (e) /'
psql -X -At -U bench -d bench_citus -c "EXPLAIN (COSTS OFF) SELECT amount FROM orders_pdist WHERE id = 1" \
    | grep -q "Task Count: 1$" || die "(e) is not routed to one shard"

run() {  # run NAME DB MODE SCRIPT -> prints tps
    local name=$1 db=$2 mode=$3 file=$SCRIPTS/$1.sql
    printf '%s\n' "$4" > "$file"
    pgbench -n -U bench -d "$db" -M "$mode" -c 1 -T "$SECS" --random-seed=20261201 -f "$file" 2>/dev/null \
        | awk '/^tps/ { printf "%.0f", $3 }'
}
ID="\\set id random(0, $((PER - 1)))"
declare -A Q D M R ALL
for mode in simple prepared; do
    Q[a_$mode]="$ID
SELECT amount FROM orders_dist WHERE tenant_id = '$T' AND id = :id;"; D[a_$mode]=bench_citus
    Q[b_$mode]="$ID
SELECT amount FROM orders_local WHERE id = :id;"; D[b_$mode]=bench_citus
    Q[e_$mode]="$ID
SELECT amount FROM orders_pdist WHERE id = :id;"; D[e_$mode]=bench_citus
    for k in a b e; do M[${k}_$mode]=$mode; done
done
ORDER="a_simple e_simple b_simple a_prepared e_prepared b_prepared"
for rep in $(seq 1 "$REPS"); do
    echo "==> run $rep of $REPS (each query $SECS s)"
    for k in $ORDER; do
        v=$(run "$k" "${D[$k]}" "${M[$k]}" "${Q[$k]}")
        [ -n "$v" ] || die "pgbench failed for $k"
        ALL[$k]="${ALL[$k]:-} $v"
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for k in $ORDER; do
    R[$k]=$(echo "${ALL[$k]}" | median)
    echo "    $k:${ALL[$k]} -> ${R[$k]} tps"
done
echo
echo "results (median tps, 1 client; ratio > 1: faster than the reference)"
for mode in simple prepared; do
    echo "  $mode: (a) distributed + WHERE ${R[a_$mode]}, (e) distributed protected ${R[e_$mode]}," \
        "(b) protected local ${R[b_$mode]};" \
        "e/a $(awk -v x="${R[e_$mode]}" -v y="${R[a_$mode]}" 'BEGIN { printf "%.2f", x / y }')," \
        "b/a $(awk -v x="${R[b_$mode]}" -v y="${R[a_$mode]}" 'BEGIN { printf "%.2f", x / y }')"
done

# Backend CPU per statement (Linux: /proc/<pid>/stat), which other load on
# the machine disturbs less than throughput: PGR_BENCH_CPU_STATEMENTS
# autocommit statements of (a) and of (e), simple protocol, interleaved
# three times in one session (a superuser reading its own /proc entry, the
# statements run as bench with SET ROLE).
NCPU=${PGR_BENCH_CPU_STATEMENTS:-10000}
if [ "$NCPU" -gt 0 ] && [ -r /proc/self/stat ]; then
    echo
    echo "==> backend CPU per statement, $NCPU statements each, simple protocol, autocommit"
    gen() {  # gen TEMPLATE LABEL
        echo "SELECT (string_to_array(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ' '))[14:15] AS s0 \\gset"
        echo "SET ROLE bench;"
        awk -v n="$NCPU" -v per="$PER" -v t="$1" 'BEGIN { srand(20261201); for (i = 0; i < n; i++) { s = t; sub("%s", int(rand() * per), s); print s ";" } }'
        echo "RESET ROLE;"
        echo "SELECT '$2', round(((SELECT sum(v::bigint) FROM unnest((string_to_array(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ' '))[14:15]) v)"
        echo "        - (SELECT sum(v::bigint) FROM unnest(:'s0'::text[]) v)) * 1e6 / $(getconf CLK_TCK) / $NCPU, 1);"
    }
    {
        echo "SET pg_rollout.tenant = '$T';"
        for rep in 1 2 3; do
            gen "SELECT amount FROM orders_dist WHERE tenant_id = '$T' AND id = %s" a
            gen "SELECT amount FROM orders_pdist WHERE id = %s" e
        done
    } > "$SCRIPTS/cpu.sql"
    psql -X -At -d bench_citus -f "$SCRIPTS/cpu.sql" 2>&1 | grep -E '^[ae]\|' > "$SCRIPTS/cpu.out" || die "the CPU measurement failed"
    sed 's/^/    /; s/|/: /; s/$/ us/' "$SCRIPTS/cpu.out"
    ca=$(grep '^a|' "$SCRIPTS/cpu.out" | cut -d'|' -f2 | median)
    ce=$(grep '^e|' "$SCRIPTS/cpu.out" | cut -d'|' -f2 | median)
    echo "  CPU per statement (median of 3): (a) $ca us, (e) $ce us; a/e $(awk -v x="$ca" -v y="$ce" 'BEGIN { printf "%.2f", x / y }') (the throughput ratio CPU alone would give)"
fi

# Where (e) spends its CPU: perf samples (cpu-clock, call graphs) of one
# backend running PGR_BENCH_CPU_STATEMENTS statements of (e); the shares of
# the samples in pg_rollout's planner hook (its own work, not the Citus and
# PostgreSQL planners it calls), in row security (get_row_security_policies:
# PostgreSQL's and pg_rollout's hooks) and in the guard evaluated on the
# shard (rollout._citus_guard).  Shares of one run, not comparisons of two.
if [ "${PGR_BENCH_PERF:-0}" = 1 ] && [ "$NCPU" -gt 0 ]; then
    command -v perf >/dev/null || die "PGR_BENCH_PERF=1 needs perf"
    echo
    echo "==> perf: where (e) spends its CPU, $NCPU statements, simple protocol"
    {
        echo "SET pg_rollout.tenant = '$T';"
        echo "SET ROLE bench;"
        echo "SELECT pg_sleep(1);"
        awk -v n="$NCPU" -v per="$PER" 'BEGIN { srand(20261201); for (i = 0; i < n; i++) print "SELECT amount FROM orders_pdist WHERE id = " int(rand() * per) ";" }'
    } > "$SCRIPTS/perf.sql"
    psql -X -q -d bench_citus -f "$SCRIPTS/perf.sql" >/dev/null &
    psql_pid=$!
    sleep 0.5
    pid=$(psql -X -At -d bench_citus -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(1)%' AND pid <> pg_backend_pid() LIMIT 1")
    [ -n "$pid" ] || die "could not find the backend to sample"
    perf record -F 2000 -g -p "$pid" -o "$SCRIPTS/perf.data" >/dev/null 2>&1 &
    perf_pid=$!
    wait "$psql_pid"
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    perf script -i "$SCRIPTS/perf.data" 2>/dev/null | awk '
        function flush() {
            if (n == 0) return
            total++
            hook = 0; rls = 0; guard = 0
            for (i = 1; i <= n; i++) {          # leaf first
                if (f[i] == "distributed_planner" || f[i] == "standard_planner") planner_below = 1
                if (f[i] == "citus_planner" && !planner_below) hook = 1
                if (f[i] == "get_row_security_policies") rls = 1
                if (f[i] == "pgr_citus_guard") guard = 1
            }
            h += hook; r += rls; g += guard; n = 0; planner_below = 0
        }
        /^[^ \t]/ { flush(); next }
        /^[ \t]*$/ { flush(); next }
        { s = $2; sub(/\+0x[0-9a-f]+$/, "", s); f[++n] = s }
        END {
            flush()
            if (total == 0) { print "    no samples"; exit }
            printf "    %d samples: pg_rollout planner hook %.1f%%, row security %.1f%%, shard guard %.1f%%\n",
                   total, 100 * h / total, 100 * r / total, 100 * g / total
        }'
fi

# Instructions per statement (callgrind): the server restarted under
# valgrind, one pgbench session (one backend: the coordinator's statement and
# its local shard query) of LOW and one of HIGH statements per side and
# protocol; (instructions of HIGH - those of LOW) / (HIGH - LOW) leaves out
# the connection's start and end and the caches' first fill.  Deterministic:
# the ratio is what CPU alone would give, whatever else runs.
if [ "${PGR_BENCH_CALLGRIND:-0}" = 1 ]; then
    command -v valgrind >/dev/null || die "PGR_BENCH_CALLGRIND=1 needs valgrind (apt-get install valgrind)"
    LOW=200; HIGH=1200
    CG=$SCRIPTS/callgrind; mkdir -p "$CG"; chmod 755 "$SCRIPTS"; chmod 777 "$CG"
    echo
    echo "==> instructions per statement (callgrind; sessions of $LOW and $HIGH statements per side)"
    pgtmp_as pg_ctl -D "$PGTMP_DIR/data" -m fast -w stop >/dev/null
    pgtmp_as bash -c "valgrind --tool=callgrind --callgrind-out-file='$CG/cg.%p' '$(pg_config --bindir)/postgres' \
        -D '$PGTMP_DIR/data' > '$CG/server.log' 2>&1 &"
    for _ in $(seq 1 120); do pg_isready -q && break; sleep 1; done
    pg_isready -q || die "the server did not start under valgrind: $(tail -5 "$CG/server.log")"
    chmod 644 "$SCRIPTS"/*.sql
    instructions() {  # instructions KEY N -> the session backend's total (the largest profile of the run)
        local k=$1 n=$2 before f
        before=$(ls "$CG" | grep '^cg\.' | sort)
        pgbench -n -U bench -d "${D[$k]}" -M "${M[$k]}" -c 1 -t "$n" --random-seed=20261201 \
            -f "$SCRIPTS/$k.sql" >/dev/null 2>&1 || die "pgbench under valgrind failed for $k"
        sleep 2    # the profile is written when the backend exits
        f=$(comm -13 <(echo "$before") <(ls "$CG" | grep '^cg\.' | sort) | while read -r x; do
                echo "$(grep '^summary:' "$CG/$x" | awk '{ print $2 }') $x"; done | sort -n | tail -1)
        echo "${f%% *}"
    }
    declare -A IPS
    for k in a_simple e_simple a_prepared e_prepared; do
        lo=$(instructions "$k" "$LOW"); hi=$(instructions "$k" "$HIGH")
        [ -n "$lo" ] && [ -n "$hi" ] || die "no callgrind profile for $k"
        IPS[$k]=$(( (hi - lo) / (HIGH - LOW) ))
    done
    pgtmp_as pg_ctl -D "$PGTMP_DIR/data" -m fast -w stop >/dev/null
    pgtmp_as pg_ctl -D "$PGTMP_DIR/data" -w -l "$PGTMP_DIR/server.log" start >/dev/null
    for mode in simple prepared; do
        echo "  $mode: (a) ${IPS[a_$mode]}, (e) ${IPS[e_$mode]} instructions per statement;" \
            "a/e $(awk -v x="${IPS[a_$mode]}" -v y="${IPS[e_$mode]}" 'BEGIN { printf "%.3f", x / y }')" \
            "(the throughput ratio CPU alone would give)"
    done
fi
