#!/usr/bin/env bash
# bench/remediation.sh — remediation (issue 13): 10,000 tenants reach the
# same notification milestone on the same day.  One component whose version
# 1.0.0 (run by every tenant) reaches EOL in 90 days, so today is everyone's
# eol-90 milestone.  Half of the organisations read an e-mail digest, the
# other half in-app notices (more than 10 in a run become a digest too).
# Times, each from clock_timestamp() around one statement:
#   (a) the first remediation run (yesterday's clock): every upgrade task opened
#   (b) tick(): its remediation run records every eol-90 milestone and writes
#       the digests (one outbox event per organisation)
#   (c) a second remediation run the same day (nothing new: the idempotent cost)
#   (d) a tick that skips remediation (its last run is under 5 minutes old)
# and checks: one notification per tenant, one digest per organisation, no
# notification without its event.
#
#   bash bench/remediation.sh
#   PGR_BENCH_ORGS=10 PGR_BENCH_PROJECTS=1000 bash bench/remediation.sh     # quick run
#
# Environment:
#   PGR_BENCH_ORGS       organisations                  (default 50)
#   PGR_BENCH_PROJECTS   projects, spread over them     (default 9950; 10,000 tenants in all)
#   PGR_BENCH_NO_BUILD   1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

ORGS=${PGR_BENCH_ORGS:-50}
PROJECTS=${PGR_BENCH_PROJECTS:-9950}
die() { echo "remediation.sh: $*" >&2; exit 1; }
for v in ORGS PROJECTS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done

pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
pgtmp_start "shared_buffers = '512MB'" "work_mem = '64MB'" "max_wal_size = '4GB'"
trap pgtmp_stop EXIT
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -v orgs="$ORGS" -v projects="$PROJECTS")

echo "==> data: $ORGS organisations, $PROJECTS projects ($((ORGS + PROJECTS)) tenants), 1 component"
"${PSQL[@]}" -c "CREATE EXTENSION pg_rollout" >/dev/null
"${PSQL[@]}" >/dev/null <<'SQL'
SET pg_rollout.actor = 'bench';
SELECT rollout.create_tenants(array_agg('org-' || i ORDER BY i), array_fill(NULL::text, ARRAY[:orgs]),
                              array_fill('organisation'::text, ARRAY[:orgs]))
  FROM generate_series(1, :orgs) i;
SELECT rollout.create_tenants(array_agg('p-' || i ORDER BY i), array_agg('org-' || (1 + (i - 1) % :orgs) ORDER BY i),
                              array_fill('project'::text, ARRAY[:projects]))
  FROM generate_series(1, :projects) i;
SELECT rollout.create_component('agent', 'plugin');
SELECT rollout.add_version('agent', '1.0.0', 'published');
SELECT rollout.add_version('agent', '2.0.0', 'published');
SELECT rollout.set_default_version('agent', '1.0.0');
SELECT rollout.set_version_policy('agent', min_version => '1.0.0', action => 'schedule', grace_limit => '60 days',
                                  reason => 'bench');
SELECT rollout.set_tenant_preference('org-' || i, 'email_digest', 'ops@org-' || i || '.example')
  FROM generate_series(1, :orgs, 2) i;
SELECT rollout.set_version_eol('agent', '1.0.0', current_date + 90, 'bench: EOL in 90 days');
VACUUM ANALYZE;
SQL

time_ms() {   # time_ms LABEL SQL: one statement, milliseconds from clock_timestamp()
    local ms
    ms=$("${PSQL[@]}" -At <<SQL
SET pg_rollout.actor = 'bench';
SELECT clock_timestamp() AS t0 \gset
$2
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000);
SQL
)
    printf '  %-62s %8s ms\n' "$1" "$(echo "$ms" | tail -1)"
}

echo "==> timings (one run on a shared machine: absolute numbers, not precise)"
time_ms "(a) remediate(yesterday): open every upgrade task" \
    "SELECT rollout.remediate(now() - interval '1 day') \\g /dev/null"
time_ms "(b) tick(): every eol-90 milestone, digests per organisation" \
    "SELECT rollout.tick() \\g /dev/null"
time_ms "(c) remediate() again the same day (nothing new)" \
    "SELECT rollout.remediate() \\g /dev/null"
time_ms "(d) tick() skipping remediation (last run < 5 minutes)" \
    "SELECT rollout.tick() \\g /dev/null"

echo "==> checks"
"${PSQL[@]}" -At <<'SQL'
SELECT format('  tasks %s, notifications %s (distinct keys %s), tenants %s',
              (SELECT count(*) FROM rollout.upgrade_task),
              count(*), count(DISTINCT (tenant_id, component_id, version::text, milestone)),
              (SELECT count(*) FROM rollout.tenant))
  FROM rollout.notification;
SELECT format('  outbox events: %s digests (largest %s items), %s single milestones',
              count(*) FILTER (WHERE event = 'remediation.digest'),
              max((payload #>> '{details,count}')::int),
              count(*) FILTER (WHERE event = 'remediation.milestone'))
  FROM rollout.event_outbox;
SELECT format('  notifications without their event: %s',
              count(*)) FROM rollout.notification n
 WHERE NOT EXISTS (SELECT 1 FROM rollout.event_outbox e WHERE e.event_id = n.event_id);
SELECT format('  runs: %s (%s by tick), tick run: %s ms in the remediation ledger',
              count(*), count(*) FILTER (WHERE by_tick),
              round(extract(epoch FROM max(finished_at - started_at) FILTER (WHERE by_tick)) * 1000))
  FROM rollout.remediation_run;
SQL
