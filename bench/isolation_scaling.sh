#!/usr/bin/env bash
# bench/isolation_scaling.sh — do counted isolation violations scale with
# clients?  A protected table read, without tenant context, by a role in
# pg_rollout.enforcement_mode = log_only: every statement is a violation,
# counted in shared memory and put into the ring of recent violations
# (log lines are sampled away, pg_rollout.log_sample_rate = 0, so the
# counters are what is measured).  The same statement by a role in
# disabled mode is the reference: what the machine gives two clients.
# Two statements: one point look-up per transaction, and 100 look-ups
# inside one statement (a PL/pgSQL loop: no client round trip, so the
# backends, not pgbench, use the cores).  pgbench -c 1 and -c 2 (-j as
# many), interleaved disabled/log_only, 1 client/2 clients, PGR_BENCH_REPS
# times; the medians and the two-client/one-client ratios are printed.
# Fails unless every statement of the log_only role was counted exactly once.
#
#   PATH=/opt/pgsand/X/usr/lib/postgresql/15/bin:$PATH bash bench/isolation_scaling.sh
#
#   PGR_BENCH_SECONDS   pgbench duration per run   (default 5)
#   PGR_BENCH_REPS      runs per cell              (default 3)
# Uses the installed extension (make install first).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/pgtmp.sh

SECS=${PGR_BENCH_SECONDS:-5}
REPS=${PGR_BENCH_REPS:-3}
LOOP=100

pgtmp_start "shared_buffers = 128MB" "synchronous_commit = off" "autovacuum = off"
SCRIPTS=$(mktemp -d)
trap 'pgtmp_stop; rm -rf "$SCRIPTS"' EXIT
psql -X -q -v ON_ERROR_STOP=1 <<EOS
CREATE EXTENSION pg_rollout;
CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL, amount int NOT NULL);
INSERT INTO orders SELECT i, 't' || (i % 100), i % 1000 FROM generate_series(0, 9999) i;
CREATE INDEX ON orders (tenant_id);
SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
CREATE ROLE bench_off LOGIN;
CREATE ROLE bench_log LOGIN;
GRANT SELECT ON orders TO bench_off, bench_log;
ALTER ROLE bench_off SET pg_rollout.enforcement_mode = 'disabled';
ALTER ROLE bench_log SET pg_rollout.enforcement_mode = 'log_only';
ALTER SYSTEM SET pg_rollout.log_sample_rate = 0;
SELECT pg_reload_conf();
-- the same look-up LOOP times inside one statement: no client round trip,
-- so the two backends spend their time in the executor and the counters
CREATE FUNCTION bench_loop(n int) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 1 .. n LOOP
        PERFORM amount FROM orders WHERE id = i % 10000;
    END LOOP;
END
\$\$;
EOS
echo '\set id random(0, 9999)
SELECT amount FROM orders WHERE id = :id;' >"$SCRIPTS/point.sql"
echo "SELECT bench_loop($LOOP);" >"$SCRIPTS/loop.sql"

LOGGED=0   # statements run by the log_only role: each must be counted once
run() {  # query role clients
    local out per=1
    [ "$1" = loop ] && per=$LOOP
    out=$(pgbench -n -U "$2" -c "$3" -j "$3" -T "$SECS" -f "$SCRIPTS/$1.sql" postgres 2>/dev/null)
    [ "$2" = bench_log ] && LOGGED=$((LOGGED + per * $(echo "$out" | awk '/actually processed/ { print $NF }' | cut -d/ -f1)))
    echo "$out" | awk '/^tps/ { printf "%.0f", $3 }'
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A R
for rep in $(seq "$REPS"); do
    for q in point loop; do
        for c in 1 2; do
            for role in bench_off bench_log; do
                run "$q" "$role" "$c" >"$SCRIPTS/tps"
                t=$(cat "$SCRIPTS/tps")
                R[$q.$role.$c]="${R[$q.$role.$c]:-} $t"
                echo "run $rep: $q, $role -c $c: $t tps"
            done
        done
    done
done
COUNTED=$(psql -X -At -c "SELECT coalesce(sum(count), 0) FROM rollout.violation_counts()")
RING=$(psql -X -At -c "SELECT count(*) || ' entries, ' || count(*) FILTER (WHERE query LIKE 'SELECT amount FROM orders WHERE id = %') || ' with the statement' FROM rollout.recent_violations()")
echo "violations counted: $COUNTED; statements run by the log_only role: $LOGGED; ring of recent violations: $RING"
[ "$COUNTED" = "$LOGGED" ] || { echo "isolation_scaling.sh: counted $COUNTED violations for $LOGGED statements" >&2; exit 1; }

echo
echo "$(nproc) cores; pgbench -c 1 / -c 2, $SECS s per run, median of $REPS interleaved runs"
echo
echo "| statement | mode | 1 client tps | 2 clients tps | 2 / 1 |"
echo "| --- | --- | ---: | ---: | ---: |"
for q in point loop; do
    for role in bench_off bench_log; do
        m1=$(median ${R[$q.$role.1]}); m2=$(median ${R[$q.$role.2]})
        label="point look-up"; [ "$q" = loop ] && label="$LOOP look-ups in one statement"
        echo "| $label | ${role#bench_} | $m1 | $m2 | $(awk -v a="$m2" -v b="$m1" 'BEGIN { printf "%.2f", a / b }') |"
    done
done
