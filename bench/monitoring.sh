#!/usr/bin/env bash
# bench/monitoring.sh — the cost of one Prometheus scrape of pg_rollout
# (issue 15): every query of monitoring/postgres_exporter.yaml (the same
# queries the sql_exporter and pg_exporter files run), as a pg_monitor role,
# over 100,000 tenants (100 organisations, 1,000 teams, 98,900 projects) and
# 100 running rollouts (one per component, each in a 10 % stage: about
# 1,000,000 activations), with protected tables and violations, a block
# policy, a refreshed compliance tally (100 organisations x statuses) and a
# verified audit log.  Prints the mean time of a whole scrape and of each
# query (pgbench, one client), and, for comparison, what the scrape would cost
# if compliance were computed live from rollout.compliance_summary (the reason
# for the tally), what counting tenants per version live would cost (the
# reason for the activation tally), and what one rollout.refresh_metrics()
# costs.
#
#   bash bench/monitoring.sh
#   PGR_BENCH_PROJECTS=9000 PGR_BENCH_ROLLOUTS=20 bash bench/monitoring.sh      # quick run
#
# Environment:
#   PGR_BENCH_PROJECTS  projects (tenants = 1,100 + this)   (default 98900)
#   PGR_BENCH_ROLLOUTS  running rollouts                    (default 100)
#   PGR_BENCH_SECONDS   pgbench duration per measurement    (default 10)
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

PROJECTS=${PGR_BENCH_PROJECTS:-98900}
ROLLOUTS=${PGR_BENCH_ROLLOUTS:-100}
SECONDS_EACH=${PGR_BENCH_SECONDS:-10}
die() { echo "monitoring.sh: $*" >&2; exit 1; }
for v in PROJECTS ROLLOUTS SECONDS_EACH; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done

pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
pgtmp_start "shared_buffers = '1GB'" "work_mem = '64MB'" "max_wal_size = '4GB'" "checkpoint_timeout = '30min'"
trap pgtmp_stop EXIT
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -v projects="$PROJECTS" -v rollouts="$ROLLOUTS")

echo "==> data: 100 organisations, 1000 teams, $PROJECTS projects, $ROLLOUTS running rollouts"
t0=$(date +%s)
"${PSQL[@]}" -c "CREATE EXTENSION pg_rollout" >/dev/null
"${PSQL[@]}" >/dev/null <<'SQL'
SET pg_rollout.actor = 'bench';
SELECT rollout.create_tenants(array_agg('org-' || i ORDER BY i), array_fill(NULL::text, ARRAY[100]),
                              array_fill('organisation'::text, ARRAY[100]))
  FROM generate_series(1, 100) i;
SELECT rollout.create_tenants(array_agg('team-' || i ORDER BY i), array_agg('org-' || (1 + (i - 1) % 100) ORDER BY i),
                              array_fill('team'::text, ARRAY[1000]))
  FROM generate_series(1, 1000) i;
SELECT rollout.create_tenants(array_agg('p-' || i ORDER BY i), array_agg('team-' || (1 + (i - 1) % 1000) ORDER BY i),
                              array_fill('project'::text, ARRAY[:projects]))
  FROM generate_series(1, :projects) i;
-- one component per rollout, two versions, 1.0.0 by default
SELECT count(*) FROM (SELECT rollout.create_component('c' || i, 'plugin') FROM generate_series(1, :rollouts) i) x;
SELECT count(*) FROM (SELECT rollout.add_version('c' || i, v::rollout.semver, 'published')
                        FROM generate_series(1, :rollouts) i, unnest(ARRAY['1.0.0', '2.0.0']) v) x;
SELECT count(*) FROM (SELECT rollout.set_default_version('c' || i, '1.0.0') FROM generate_series(1, :rollouts) i) x;
SELECT rollout.set_version_policy('c1', baseline => '2.0.0', action => 'block', reason => 'baseline');
SELECT rollout.set_version_policy('c2', min_version => '2.0.0', action => 'report', reason => 'minimum');
-- each rollout: a canary, then 10 % for a day, then everyone
SELECT count(*) FROM (SELECT rollout.create_rollout('r' || i, 'c' || i, '1.0.0', '2.0.0') FROM generate_series(1, :rollouts) i) x;
SELECT count(*) FROM (SELECT rollout.add_stage('r' || i, 'canary', 'tenants', tenants => ARRAY['p-' || i], auto_proceed => true,
                                               pass_without_metrics => true) FROM generate_series(1, :rollouts) i) x;
SELECT count(*) FROM (SELECT rollout.add_stage('r' || i, 'wave', 'percentage', percent => 10, min_duration => '1 day',
                                               pass_without_metrics => true) FROM generate_series(1, :rollouts) i) x;
SELECT count(*) FROM (SELECT rollout.add_stage('r' || i, 'rest', 'all', pass_without_metrics => true)
                        FROM generate_series(1, :rollouts) i) x;
SET pg_rollout.actor = 'approver';
SELECT count(*) FROM (SELECT rollout.approve_rollout('r' || i) FROM generate_series(1, :rollouts) i) x;
SELECT count(*) FROM (SELECT rollout.start_rollout('r' || i) FROM generate_series(1, :rollouts) i) x;
SQL
# the canaries pass at once: tick() moves every rollout into its 10 % stage
for _ in $(seq 1 20); do
    due=$("${PSQL[@]}" -At -c "SELECT rollouts_due FROM rollout.metrics_tick")
    [ "$due" = 0 ] && break
    "${PSQL[@]}" -c "SELECT count(*) FROM rollout.tick(max_rollouts => 1000)" >/dev/null
done
"${PSQL[@]}" >/dev/null <<'SQL'
CREATE ROLE app LOGIN IN ROLE rollout_app;
CREATE TABLE orders (id int PRIMARY KEY, tenant_id text NOT NULL);
CREATE TABLE invoices (id int PRIMARY KEY, tenant_id text NOT NULL);
INSERT INTO orders SELECT g, 'p-' || g FROM generate_series(1, 1000) g;
INSERT INTO invoices SELECT g, 'p-' || g FROM generate_series(1, 1000) g;
GRANT SELECT ON orders, invoices TO app;
SELECT rollout.protect_table('orders', 'tenant_id', 'critical');
SELECT rollout.protect_table('invoices', 'tenant_id', 'high');
CREATE ROLE scraper LOGIN IN ROLE pg_monitor;
VACUUM ANALYZE;
SQL
for _ in 1 2 3; do "${PSQL[@]}" -c "SET ROLE app; SELECT count(*) FROM orders; SELECT count(*) FROM invoices" >/dev/null; done
refresh=$("${PSQL[@]}" -At -c "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 2) FROM rollout.refresh_metrics()")
verify=$("${PSQL[@]}" -At -c "SELECT rollout.verify_audit()" -c "SELECT round(last_duration_seconds::numeric, 2) FROM rollout.metrics_audit_verification" | tail -1)
t1=$(date +%s)
read -r tenants activations running audit_rows <<<"$("${PSQL[@]}" -At -F ' ' -c "SELECT (SELECT count(*) FROM rollout.tenant), (SELECT count(*) FROM rollout.activation), (SELECT count(*) FROM rollout.rollout WHERE status = 'running'), (SELECT count(*) FROM rollout.audit_log)")"
echo "    $tenants tenants, $running running rollouts, $activations activations, $audit_rows audit rows (loaded in $((t1 - t0)) s)"
[ "$running" = "$ROLLOUTS" ] || die "expected $ROLLOUTS running rollouts, got $running"

# the scrape: every query of the postgres_exporter file, as the scraper role
WORK=$(mktemp -d /tmp/pgr-bench-mon.XXXXXX)
chmod 755 "$WORK"
perl -MYAML::XS=LoadFile -e '
    my ($file, $dir) = @ARGV;
    my $c = LoadFile($file);
    open(my $all, ">", "$dir/scrape.sql") or die;
    for my $k (sort keys %$c) {
        (my $q = $c->{$k}{query}) =~ s/\s+/ /g;
        print $all "$q;\n";
        open(my $one, ">", "$dir/q_$k.sql") or die;
        print $one "$q;\n";
        close $one;
    }
    close $all;' monitoring/postgres_exporter.yaml "$WORK"
# what a live compliance query per scrape would cost instead of the tally
echo "SELECT node_id, compliance_pct FROM rollout.compliance_summary WHERE depth = 0 AND component_id IS NULL;" > "$WORK/live_compliance.sql"
# and tenants per version, or per live rollout, counted at each scrape
echo "SELECT component_id, version::text, count(*) FROM rollout.activation GROUP BY component_id, version;" > "$WORK/live_versions.sql"
echo "SELECT r.rollout_id, (SELECT count(*) FROM rollout.activation a WHERE a.rollout_id = r.rollout_id) FROM rollout.rollout r WHERE r.status IN ('running', 'paused', 'failed');" > "$WORK/live_progress.sql"

bench() {  # bench FILE [ROLE] -> mean latency in ms (as the scraper unless a role is given)
    pgbench -n -U "${2:-scraper}" -c 1 -T "$SECONDS_EACH" -f "$1" 2>/dev/null | sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p'
}
# every query must run for the scraper (pgbench would report failures as no latency)
psql -X -q -v ON_ERROR_STOP=1 -U scraper -f "$WORK/scrape.sql" >/dev/null || die "a scrape query fails for the pg_monitor role"

echo "==> timing (pgbench, 1 client, ${SECONDS_EACH} s each)"
scrape=$(bench "$WORK/scrape.sql")
printf '%-40s %10s ms\n' "whole scrape ($(grep -c . "$WORK/scrape.sql") queries)" "$scrape"
rows=""
for f in "$WORK"/q_*.sql; do
    k=$(basename "$f" .sql); k=${k#q_}
    ms=$(bench "$f")
    printf '    %-36s %10s ms\n' "$k" "$ms"
    rows="$rows| \`$k\` | $ms |"$'\n'
done
live=$(bench "$WORK/live_compliance.sql" postgres)
printf '%-40s %10s ms\n' "compliance_summary live (one query)" "$live"
live_versions=$(bench "$WORK/live_versions.sql" postgres)
printf '%-40s %10s ms\n' "tenants per version counted live" "$live_versions"
live_progress=$(bench "$WORK/live_progress.sql" postgres)
printf '%-40s %10s ms\n' "activations per live rollout counted" "$live_progress"
rm -rf "$WORK"

echo
echo "---- summary (markdown) ----"
echo "\`bash bench/monitoring.sh\` ($tenants tenants, $running running rollouts, $activations activations, $audit_rows audit rows; pgbench, 1 client, ${SECONDS_EACH} s each):"
echo
echo "| what | mean ms |"
echo "| --- | --- |"
echo "| **one scrape: every query of postgres_exporter.yaml** | **$scrape** |"
printf '%s' "$rows"
echo "| for comparison, counted at each scrape instead: compliance per organisation (\`rollout.compliance_summary\`) | $live |"
echo "| for comparison, counted at each scrape instead: tenants per version (\`GROUP BY\` over \`rollout.activation\`) | $live_versions |"
echo "| for comparison, counted at each scrape instead: activations of each live rollout | $live_progress |"
echo
echo "\`rollout.refresh_metrics()\` (run by a scheduled job, not by the scrape): $refresh s; \`rollout.verify_audit()\` over $audit_rows rows: $verify s."
echo "---- end of summary ----"
