#!/usr/bin/env bash
# bench/isolation_scaling.sh — do pg_rollout's hot paths scale from one
# client to two as well as a plain statement does on the same machine?
#
# Issue 11 asks that resolve_version() and a log_only statement on a
# protected table without tenant context each scale to >= 1.8x their
# one-client throughput with two clients.  On a machine whose cores are
# shared with other work, a plain statement does not scale that far either,
# so this script measures pg_rollout's scaling *relative to* a reference
# statement's, side by side, in the same rounds:
#
#   pair        statement (the role runs it)                           reference
#   violation   point look-up on a protected table, log_only, no        the same look-up, enforcement_mode
#               tenant context: every statement a counted violation     = disabled (nothing counted)
#   violation100  the same, 100 look-ups in one statement (PL/pgSQL)    the same in disabled mode
#   resolve     SELECT rollout.resolve_version(tenant, 'svc'), warm     a point look-up on a plain table
#   resolve100  100 resolve_version calls in one statement              100 plain look-ups in one statement
#
# The "100" forms keep pgbench (the client) out of the picture: the two
# backends spend their time in the server, so a lock taken per event would
# show.  Each round runs, for each pair, the statement and its reference
# with -c 1 and -c 2 (-j as many), PGR_BENCH_SECONDS each, in a rotating
# order; per run: tps, and the backends' CPU time per transaction (what the
# postmaster's reaped children used, /proc/<postmaster>/stat cutime +
# cstime, read after the run's backends exited).  Per round and pair:
#
#   scaling        = tps(-c 2) / tps(-c 1), for the statement and the reference
#   relative       = scaling(statement) / scaling(reference)   (1.00: scales as well as plain SQL)
#   CPU inflation  = CPU per transaction at -c 2 / at -c 1      (a spinning lock makes it grow)
#
# The medians over the rounds (and the interquartile range of "relative")
# are printed.  Fails unless every statement of the log_only role was
# counted exactly once.  Code reading (docs/isolation.md, section 5): a
# counted violation takes the module's LWLock in shared mode and the
# counter's spinlock (exclusive only to create a key), the ring of recent
# violations an atomic position and one slot's spinlock; a warm
# resolve_version reads a per-backend cache and one atomic epoch.
#
#   PATH=/opt/pgsand/X/usr/lib/postgresql/15/bin:$PATH bash bench/isolation_scaling.sh
#
#   PGR_BENCH_SECONDS   pgbench duration per run    (default 2)
#   PGR_BENCH_ROUNDS    rounds                      (default 15; about 11 minutes)
#   PGR_BENCH_PAIRS     pairs to run                (default "violation violation100 resolve resolve100")
# Uses the installed extension (make install first).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/pgtmp.sh

SECS=${PGR_BENCH_SECONDS:-2}
ROUNDS=${PGR_BENCH_ROUNDS:-15}
PAIRS=${PGR_BENCH_PAIRS:-violation violation100 resolve resolve100}
LOOP=100
NT=1000
die() { echo "isolation_scaling.sh: $*" >&2; exit 1; }

pgtmp_start "shared_buffers = 128MB" "synchronous_commit = off" "autovacuum = off"
SCRIPTS=$(mktemp -d)
chmod 755 "$SCRIPTS"
trap 'pgtmp_stop; rm -rf "$SCRIPTS"' EXIT
PM_PID=$(head -1 "$PGTMP_DIR/data/postmaster.pid")
psql -X -q -v ON_ERROR_STOP=1 <<EOS >/dev/null
CREATE EXTENSION pg_rollout;
SET pg_rollout.actor = 'bench';
CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount int NOT NULL);
INSERT INTO orders SELECT i, 't' || (i % $NT + 1), i % 1000 FROM generate_series(0, 9999) i;
CREATE INDEX ON orders (tenant_id);
CREATE TABLE plain_orders (LIKE orders INCLUDING ALL);
INSERT INTO plain_orders SELECT * FROM orders;
SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
SELECT rollout.create_tenants(array_agg('t' || i), array_fill(NULL::text, ARRAY[$NT])) FROM generate_series(1, $NT) i;
SELECT rollout.create_component('svc', 'product', 'Service');
SELECT rollout.add_version('svc', ('1.0.' || v)::rollout.semver, 'published') FROM generate_series(0, 4) v;
SELECT rollout.set_default_version('svc', '1.0.0');
SELECT count(*) FROM (SELECT rollout.pin_version('t' || i, 'svc', '1.0.3', 'bench') FROM generate_series(1, $NT, 10) i) x;
CREATE ROLE bench_off LOGIN IN ROLE rollout_app, rollout_viewer;
CREATE ROLE bench_log LOGIN IN ROLE rollout_app, rollout_viewer;
GRANT SELECT ON orders, plain_orders TO bench_off, bench_log;
ALTER ROLE bench_off SET pg_rollout.enforcement_mode = 'disabled';
ALTER ROLE bench_log SET pg_rollout.enforcement_mode = 'log_only';
ALTER SYSTEM SET pg_rollout.log_sample_rate = 0;
SELECT pg_reload_conf();
-- LOOP statements in one: no client round trip, the backends do the work
CREATE FUNCTION bench_lookups(n int) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 1 .. n LOOP
        PERFORM amount FROM orders WHERE id = i % 10000;
    END LOOP;
END
\$\$;
CREATE FUNCTION bench_plain_lookups(n int) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 1 .. n LOOP
        PERFORM amount FROM plain_orders WHERE id = i % 10000;
    END LOOP;
END
\$\$;
CREATE FUNCTION bench_resolves(n int) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 1 .. n LOOP
        PERFORM rollout.resolve_version('t' || (i % $NT + 1), 'svc');
    END LOOP;
END
\$\$;
GRANT EXECUTE ON FUNCTION bench_lookups(int), bench_plain_lookups(int), bench_resolves(int) TO bench_off, bench_log;
VACUUM ANALYZE;
EOS
[ "$(psql -X -At -U bench_off -c "SELECT rollout.resolve_version('t1', 'svc')")" = 1.0.3 ] || die "resolve_version('t1', 'svc') is not the pinned 1.0.3"
[ "$(psql -X -At -U bench_off -c "SELECT rollout.resolve_version('t2', 'svc')")" = 1.0.0 ] || die "resolve_version('t2', 'svc') is not the default 1.0.0"

printf '\\set id random(0, 9999)\nSELECT amount FROM orders WHERE id = :id;\n' >"$SCRIPTS/lookup.sql"
printf '\\set id random(0, 9999)\nSELECT amount FROM plain_orders WHERE id = :id;\n' >"$SCRIPTS/plain.sql"
printf '\\set t random(1, %d)\nSELECT rollout.resolve_version('"'"'t'"'"' || :t, '"'"'svc'"'"');\n' "$NT" >"$SCRIPTS/resolve.sql"
echo "SELECT bench_lookups($LOOP);" >"$SCRIPTS/lookup100.sql"
echo "SELECT bench_plain_lookups($LOOP);" >"$SCRIPTS/plain100.sql"
echo "SELECT bench_resolves($LOOP);" >"$SCRIPTS/resolve100.sql"

# pair -> "script role" of the statement and of its reference
declare -A STMT REF PER
STMT[violation]="lookup bench_log";      REF[violation]="lookup bench_off";      PER[violation]=1
STMT[violation100]="lookup100 bench_log"; REF[violation100]="lookup100 bench_off"; PER[violation100]=$LOOP
STMT[resolve]="resolve bench_off";       REF[resolve]="plain bench_off";         PER[resolve]=1
STMT[resolve100]="resolve100 bench_off"; REF[resolve100]="plain100 bench_off";   PER[resolve100]=$LOOP
for p in $PAIRS; do [ -n "${STMT[$p]:-}" ] || die "unknown pair $p"; done

children_cpu() {  # the postmaster's reaped children's CPU time, clock ticks
    awk '{ print $16 + $17 }' "/proc/$PM_PID/stat"
}
TICK=$(getconf CLK_TCK)
LOGGED=0   # statements run by the log_only role on the protected table: each must be counted once
RESULTS=$SCRIPTS/results   # pair side clients round tps cpu_us_per_tx
: >"$RESULTS"
run() {  # pair side(stmt|ref) clients round
    local pair=$1 side=$2 c=$3 round=$4 spec script role out n tps c0 c1
    if [ "$side" = stmt ]; then spec=${STMT[$pair]}; else spec=${REF[$pair]}; fi
    script=${spec% *}; role=${spec#* }
    sleep 0.2
    c0=$(children_cpu)
    out=$(pgbench -n -U "$role" -c "$c" -j "$c" -T "$SECS" -f "$SCRIPTS/$script.sql" postgres 2>/dev/null)
    sleep 0.3    # the run's backends exit and are reaped
    c1=$(children_cpu)
    n=$(echo "$out" | awk '/actually processed/ { print $NF }' | cut -d/ -f1)
    tps=$(echo "$out" | awk '/^tps/ { printf "%.1f", $3 }')
    [ -n "$n" ] && [ "$n" -gt 0 ] || die "pgbench failed for $pair $side -c $c"
    if [ "$role" = bench_log ]; then LOGGED=$((LOGGED + ${PER[$pair]} * n)); fi
    echo "$pair $side $c $round $tps $(awk -v d=$((c1 - c0)) -v t="$TICK" -v n="$n" 'BEGIN { printf "%.2f", d / t * 1e6 / n }')" >>"$RESULTS"
}

echo "==> $ROUNDS rounds; pairs: $PAIRS; $SECS s per run, -c 1 and -c 2, statement and reference in a rotating order"
ORDERS=("stmt 1" "ref 1" "stmt 2" "ref 2")
for round in $(seq "$ROUNDS"); do
    for pair in $PAIRS; do
        for k in 0 1 2 3; do
            o=${ORDERS[$(( (k + round) % 4 ))]}
            run "$pair" ${o% *} ${o#* } "$round"
        done
    done
    echo "    round $round done ($(uptime | sed 's/.*load average/load average/'))"
done

COUNTED=$(psql -X -At -c "SELECT coalesce(sum(count), 0) FROM rollout.violation_counts()")
RING=$(psql -X -At -c "SELECT count(*) FROM rollout.recent_violations()")
echo "violations counted: $COUNTED; statements run by the log_only role: $LOGGED; ring of recent violations: $RING entries"
[ "$COUNTED" = "$LOGGED" ] || die "counted $COUNTED violations for $LOGGED statements"

med() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else printf "%.2f", a[int((NR + 1) / 2)] }'; }
q1() { sort -g | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 3) / 4)] }'; }
q3() { sort -g | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((3 * NR + 1) / 4)] }'; }
# per round: the value of a cell
cell() { awk -v p="$1" -v s="$2" -v c="$3" -v f="$4" '$1 == p && $2 == s && $3 == c { print $4, $f }' "$RESULTS"; }
# per round: ratio -c 2 / -c 1 of field f
perround() { join <(cell "$1" "$2" 2 "$3" | sort) <(cell "$1" "$2" 1 "$3" | sort) | awk '{ print $1, $2 / $3 }'; }

echo
echo "---- summary (markdown) ----"
echo "$(nproc) cores; pgbench -c 1 and -c 2 (-j as many), $SECS s per run, $ROUNDS rounds, statement and reference interleaved; medians over the rounds."
echo
echo "| pair | statement: 1 client tps | 2 clients tps | scaling | reference: 1 client tps | 2 clients tps | scaling | relative scaling (IQR) | CPU per tx, 2 / 1 clients: statement | reference |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for p in $PAIRS; do
    s1=$(cell "$p" stmt 1 5 | awk '{ print $2 }' | med); s2=$(cell "$p" stmt 2 5 | awk '{ print $2 }' | med)
    r1=$(cell "$p" ref 1 5 | awk '{ print $2 }' | med); r2=$(cell "$p" ref 2 5 | awk '{ print $2 }' | med)
    ss=$(perround "$p" stmt 5 | awk '{ print $2 }' | med); rs=$(perround "$p" ref 5 | awk '{ print $2 }' | med)
    rel=$(join <(perround "$p" stmt 5 | sort) <(perround "$p" ref 5 | sort) | awk '{ print $2 / $3 }')
    cs=$(perround "$p" stmt 6 | awk '{ print $2 }' | med); cr=$(perround "$p" ref 6 | awk '{ print $2 }' | med)
    echo "| $p | $s1 | $s2 | $ss | $r1 | $r2 | $rs | $(echo "$rel" | med) ($(echo "$rel" | q1)–$(echo "$rel" | q3)) | $cs | $cr |"
done
echo "---- end of summary ----"
if [ -n "${PGR_BENCH_KEEP:-}" ]; then
    mkdir -p "$PGR_BENCH_KEEP" && cp "$RESULTS" "$PGR_BENCH_KEEP/scaling_results"
    echo "(per-run results kept in $PGR_BENCH_KEEP/scaling_results)"
fi
