#!/usr/bin/env bash
# bench/isolation_scaling.sh — do counted isolation violations scale with
# clients?  A protected table read, without tenant context, by a role in
# pg_rollout.enforcement_mode = log_only: every statement is a violation,
# counted in shared memory and put into the ring of recent violations
# (log lines are sampled away, pg_rollout.log_sample_rate = 0, so the
# counters are what is measured).  The same statement by a role in
# disabled mode is the reference: what the machine gives two clients.
# pgbench -c 1 and -c 2 (-j as many), interleaved disabled/log_only,
# 1 client/2 clients, PGR_BENCH_REPS times; the medians and the
# two-client/one-client ratios are printed.
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
EOS
echo '\set id random(0, 9999)
SELECT amount FROM orders WHERE id = :id;' >"$SCRIPTS/q.sql"

LOGGED=0   # statements run by the log_only role: each must be counted once
run() {  # role clients
    local out
    out=$(pgbench -n -U "$1" -c "$2" -j "$2" -T "$SECS" -f "$SCRIPTS/q.sql" postgres 2>/dev/null)
    [ "$1" = bench_log ] && LOGGED=$((LOGGED + $(echo "$out" | awk '/actually processed/ { print $NF }' | cut -d/ -f1)))
    echo "$out" | awk '/^tps/ { printf "%.0f", $3 }'
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A R
for rep in $(seq "$REPS"); do
    for c in 1 2; do
        for role in bench_off bench_log; do
            run "$role" "$c" >"$SCRIPTS/tps"
            t=$(cat "$SCRIPTS/tps")
            R[$role.$c]="${R[$role.$c]:-} $t"
            echo "run $rep: $role -c $c: $t tps"
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
echo "| mode | 1 client tps | 2 clients tps | 2 / 1 |"
echo "| --- | ---: | ---: | ---: |"
for role in bench_off bench_log; do
    m1=$(median ${R[$role.1]}); m2=$(median ${R[$role.2]})
    echo "| ${role#bench_} | $m1 | $m2 | $(awk -v a="$m2" -v b="$m1" 'BEGIN { printf "%.2f", a / b }') |"
done
