#!/usr/bin/env bash
# bench/remediation_scale.sh — the cost of one remediation run when few
# components can need a task.  PGR_BENCH_TENANTS tenants (organisations of
# 100 projects), PGR_BENCH_COMPONENTS components (versions 1.0.0 default and
# 2.0.0, run by every tenant), of which PGR_BENCH_EOL_COMPONENTS have an EOL
# date on 1.0.0 (90 days ahead) and the first one a policy with action
# schedule; the other components have neither, so nothing of theirs can
# ever need an upgrade task.  Times, wall clock (psql \timing) and the
# backend's CPU time (user + system, log_statement_stats in the server log):
#   (a) remediate(): the first run, every upgrade task opened
#   (b) remediate() again: nothing new (the cost of every later run),
#       then each of its three steps alone: (b1) tasks, (b2) notifications,
#       (b3) forced upgrades
#   (c) tick() whose remediation step runs (no run by a tick yet)
#   (d) tick() right after: remediation not due
#   (g) a wave: an EOL date (200 days ahead) on one more component, so
#       every tenant needs one more task; the step of a tick's run
#       (rollout._remediate with the tick's budget of 10,000 tasks), run
#       until complete: each run opens at most 10,000
# With PGR_BENCH_OLD_SYNC=<git revision>, the task step of that revision
# (rollout._sync_tasks, loaded as rollout._sync_tasks_old) and today's run
# interleaved, twice each, on the same data: the before/after of the step
# that evaluates the roster.
#
#   bash bench/remediation_scale.sh
#   PGR_BENCH_TENANTS=2000 PGR_BENCH_COMPONENTS=50 bash bench/remediation_scale.sh   # quick run
#
# Environment:
#   PGR_BENCH_TENANTS         tenants                              (default 20000)
#   PGR_BENCH_COMPONENTS      components                           (default 200)
#   PGR_BENCH_EOL_COMPONENTS  components with an EOL date          (default 2)
#   PGR_BENCH_OLD_SYNC        a git revision to compare _sync_tasks with (e.g. 9523a45)
#   PGR_BENCH_NO_BUILD        1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

N=${PGR_BENCH_TENANTS:-20000}
M=${PGR_BENCH_COMPONENTS:-200}
E=${PGR_BENCH_EOL_COMPONENTS:-2}
die() { echo "remediation_scale.sh: $*" >&2; exit 1; }
for v in N M E; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[ "$E" -le "$M" ] || die "PGR_BENCH_EOL_COMPONENTS ($E) exceeds PGR_BENCH_COMPONENTS ($M)"
[ "$N" -ge 101 ] || die "PGR_BENCH_TENANTS must be at least 101"
ORGS=$(( (N + 100) / 101 )); PROJECTS=$(( N - ORGS ))

pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
pgtmp_start "shared_buffers = '512MB'" "work_mem = '64MB'" "max_wal_size = '4GB'"
trap pgtmp_stop EXIT

q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
log_lines() { pgtmp_as wc -l < "$PGTMP_DIR/server.log"; }
# CPU ms of the statement logged after line $1 whose text matches $2 (as in bench/rollout_ops.sh)
log_cpu() {
    pgtmp_as tail -n +"$(($1 + 1))" "$PGTMP_DIR/server.log" | awk -v pat="$2" '
        / s user, .* elapsed/ { cpu = ($2 + $5) * 1000 }
        /STATEMENT:  / { if (index($0, pat) > 0) { sum += cpu; n++ } }
        END { printf "%.1f %d\n", sum, n }'
}
timed() {   # timed LABEL SQL
    local out l0 c ms
    l0=$(log_lines)
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "SET pg_rollout.actor = 'bench'" -c 'SET log_statement_stats = on' \
               -c '\timing on' -c "$2" 2>&1) || { echo "$out" >&2; die "failed: $2"; }
    ms=$(awk '/^Time: / { printf "%.0f", $2 }' <<<"$out" | tail -1)
    c=$(log_cpu "$l0" "$2")
    [ "${c#* }" = 1 ] || die "no CPU time in the server log for: $2"
    printf '  %-58s %9s ms wall %9s ms CPU\n' "$1" "$ms" "$(awk -v t="${c% *}" 'BEGIN { printf "%.0f", t }')"
}

echo "==> data: $N tenants ($ORGS organisations), $M components, $E with an EOL date"
q -c "CREATE EXTENSION pg_rollout" >/dev/null
q -v orgs="$ORGS" -v projects="$PROJECTS" -v m="$M" -v e="$E" >/dev/null <<'SQL'
SET pg_rollout.actor = 'bench';
SELECT rollout.create_tenants(array_agg('org-' || i ORDER BY i), array_fill(NULL::text, ARRAY[:orgs]),
                              array_fill('organisation'::text, ARRAY[:orgs]))
  FROM generate_series(1, :orgs) i;
SELECT rollout.create_tenants(array_agg('p-' || i ORDER BY i), array_agg('org-' || (1 + (i - 1) % :orgs) ORDER BY i),
                              array_fill('project'::text, ARRAY[:projects]))
  FROM generate_series(1, :projects) i;
SELECT rollout.create_component('c-' || i, 'plugin'), rollout.add_version('c-' || i, '1.0.0', 'published'),
       rollout.add_version('c-' || i, '2.0.0', 'published'), rollout.set_default_version('c-' || i, '1.0.0')
  FROM generate_series(1, :m) i;
SELECT rollout.set_version_policy('c-1', min_version => '1.0.0', action => 'schedule', grace_limit => '60 days',
                                  reason => 'bench');
SELECT rollout.set_version_eol('c-' || i, '1.0.0', current_date + 90, 'bench: EOL in 90 days')
  FROM generate_series(1, :e) i;
VACUUM ANALYZE;
SQL

echo "==> one run each (a shared machine: ratios, not precise numbers)"
timed "(a) remediate(): first run, opens every task" "SELECT tasks_opened FROM rollout.remediate()"
timed "(b) remediate() again: nothing new" "SELECT tasks_opened FROM rollout.remediate()"
timed "(b1) its task step alone (_sync_tasks)" "SELECT * FROM rollout._sync_tasks(now())"
timed "(b2) its notification step alone (_notify)" "SELECT * FROM rollout._notify(now(), 10)"
timed "(b3) its forced-upgrade step alone (_force)" "SELECT rollout._force(now())"
timed "(c) tick(): its remediation step runs" "SELECT rollout.tick()"
timed "(d) tick(): remediation not due" "SELECT rollout.tick()"
if [ "$E" -lt "$M" ]; then
    echo "==> (g) EOL date on c-$((E + 1)): $N more tasks, opened by runs with the tick's budget"
    q -c "SET pg_rollout.actor = 'bench'" \
      -c "SELECT rollout.set_version_eol('c-$((E + 1))', '1.0.0', current_date + 200, 'bench: wave')" >/dev/null
    G0=$(q -At -c "SELECT coalesce(max(run_id), 0) FROM rollout.remediation_run")
    for i in $(seq 1 $(( N / 10000 + 2 ))); do
        timed "(g$i) a tick's run (budget 10,000)" "SELECT tasks_opened, complete FROM rollout._remediate(now(), 10, true, 10000)"
        [ "$(q -At -c "SELECT complete FROM rollout.remediation_run ORDER BY run_id DESC LIMIT 1")" = t ] && break
    done
    q -At -c "SELECT format('  opened per run: %s', string_agg(tasks_opened::text, ', ' ORDER BY run_id))
                FROM rollout.remediation_run WHERE run_id > $G0"
fi
if [ -n "${PGR_BENCH_OLD_SYNC:-}" ]; then
    git show "$PGR_BENCH_OLD_SYNC:src/sql/89_remediation/2_functions.sql" \
        | awk '/^CREATE FUNCTION rollout._sync_tasks\(/,/^\$\$;/' \
        | sed 's/^CREATE FUNCTION rollout._sync_tasks(/CREATE FUNCTION rollout._sync_tasks_old(/' > "$PGTMP_DIR/old_sync.sql"
    grep -q _sync_tasks_old "$PGTMP_DIR/old_sync.sql" || die "no rollout._sync_tasks in $PGR_BENCH_OLD_SYNC"
    q -f "$PGTMP_DIR/old_sync.sql" >/dev/null
    echo "==> the task step alone, $PGR_BENCH_OLD_SYNC against this tree, interleaved (nothing new to open)"
    for i in 1 2; do
        timed "(e$i) _sync_tasks of $PGR_BENCH_OLD_SYNC" "SELECT * FROM rollout._sync_tasks_old(now())"
        timed "(f$i) _sync_tasks of this tree" "SELECT * FROM rollout._sync_tasks(now())"
    done
fi
q -At -c "SELECT format('  runs: %s; open tasks: %s (expected %s)', (SELECT count(*) FROM rollout.remediation_run),
                        (SELECT count(*) FROM rollout.upgrade_task WHERE closed_at IS NULL), $(( E < M ? (E + 1) * N : E * N )))"
