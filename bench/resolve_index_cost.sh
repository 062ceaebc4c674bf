#!/usr/bin/env bash
# bench/resolve_index_cost.sh — what the covering index of resolution misses
# (rollout.tenant_resolve_idx) costs a writer of rollout.tenant:
# rollout.create_tenants of N tenants (the tree of resolve_cpu.sh) in a new
# extension, with the index and with it dropped, alternating, in backend CPU
# time (log_statement_stats) and wall clock.
#
#   bash bench/resolve_index_cost.sh
#   PGR_BENCH_TENANTS=1000000 PGR_BENCH_ROUNDS=2 bash bench/resolve_index_cost.sh
#
# Environment:
#   PGR_BENCH_TENANTS   tenants per create_tenants call (default 200000)
#   PGR_BENCH_ROUNDS    alternations (default 3)
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh
N=${PGR_BENCH_TENANTS:-200000}
ROUNDS=${PGR_BENCH_ROUNDS:-3}
for v in N ROUNDS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "resolve_index_cost.sh: $v must be a positive integer" >&2; exit 1; }
done
pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
pgtmp_start "shared_buffers = 256MB" "synchronous_commit = off" "autovacuum = off" "log_min_messages = log"
trap pgtmp_stop EXIT
LOG="$PGTMP_DIR/server.log"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
echo "| round | with tenant_resolve_idx: CPU ms (wall ms) | without: CPU ms (wall ms) | with / without (CPU) |"
echo "| ---: | ---: | ---: | ---: |"
for ((r = 1; r <= ROUNDS; r++)); do
    declare -A CPU WALL
    for side in with without; do
        q -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS pg_rollout CASCADE" -c "CREATE EXTENSION pg_rollout" >/dev/null
        [ "$side" = with ] || q -c "DROP INDEX rollout.tenant_resolve_idx"
        q -c "CHECKPOINT"
        START=$(pgtmp_as wc -l < "$LOG")
        PGOPTIONS="-c log_statement_stats=on -c client_min_messages=warning" q -o /dev/null -c "SELECT /*k:$side*/ rollout.create_tenants(array_agg('t-' || i ORDER BY i),
                     array_agg(CASE WHEN i > 2 THEN 't-' || ((i - 3) / 10 + 1) END ORDER BY i))
              FROM generate_series(1, $N) i"
        read -r CPU[$side] WALL[$side] < <(pgtmp_as tail -n +"$START" "$LOG" | awk '
            / s user, .* elapsed/ { cpu = ($2 + $5) * 1000; wall = $8 * 1000 }
            /STATEMENT:  SELECT \/\*k:/ { printf "%.0f %.0f\n", cpu, wall }')
    done
    echo "| $r | ${CPU[with]} (${WALL[with]}) | ${CPU[without]} (${WALL[without]}) | $(awk -v a="${CPU[with]}" -v b="${CPU[without]}" 'BEGIN { printf "%.3f", a / b }') |"
done
echo "$N tenants per create_tenants; PostgreSQL $(psql -X -At -c 'SHOW server_version'), $(nproc) cores; checkout $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
