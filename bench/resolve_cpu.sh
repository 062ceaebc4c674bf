#!/usr/bin/env bash
# bench/resolve_cpu.sh — CPU time of a resolution cache miss and of bulk
# resolution against the recursive CTEs of bench/resolve.sh, from the
# server's own accounting (log_statement_stats: user + system time of the
# backend per statement).  On a shared machine wall-clock time includes the
# time a backend waits for a core; CPU time does not, so the ratio stays
# readable when other work runs beside the benchmark.
#
#   bash bench/resolve_cpu.sh
#   PGR_BENCH_TENANTS=100000 PGR_BENCH_ROUNDS=5 bash bench/resolve_cpu.sh
#
# Data: R = 2 organisations, fan-out 10, N tenants numbered breadth-first
# (the parent of t-i, i > 2, is t-((i-3)/10+1)); component svc (default
# 1.0.0, stable release 1.5.0) and a started rollout r-main (1.5.0 -> 3.0.0,
# one stage: 50 % of the leaves).  The plain copies and the CTE functions
# are those of bench/resolve.sh (the same text, read from it).
#
# Environment:
#   PGR_BENCH_TENANTS   tenants (default 20000)
#   PGR_BENCH_CALLS     single calls per statement (default 10000)
#   PGR_BENCH_ROUNDS    interleaved rounds (default 3); medians are printed
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh
N=${PGR_BENCH_TENANTS:-20000}
CALLS=${PGR_BENCH_CALLS:-10000}
ROUNDS=${PGR_BENCH_ROUNDS:-3}
for v in N CALLS ROUNDS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "resolve_cpu.sh: $v must be a positive integer" >&2; exit 1; }
done
[ "$N" -ge 1000 ] || { echo "resolve_cpu.sh: PGR_BENCH_TENANTS must be at least 1000" >&2; exit 1; }
pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
GIT_ID=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
pgtmp_start "shared_buffers = 256MB" "synchronous_commit = off" "autovacuum = off" "log_min_messages = log"
trap pgtmp_stop EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
LO=$((N / 10))            # single calls draw from t-LO .. t-(LO + span), leaves and their parents
SPAN=$((N - LO - 1))
q >/dev/null <<EOF
CREATE EXTENSION pg_rollout;
SELECT rollout.create_tenants(array_agg('t-' || i ORDER BY i),
         array_agg(CASE WHEN i > 2 THEN 't-' || ((i - 3) / 10 + 1) END ORDER BY i)) FROM generate_series(1, $N) i;
SET pg_rollout.actor = 'bench-author';
SELECT rollout.create_component('svc', 'product', 'Service');
SELECT rollout.add_version('svc', v::rollout.semver, 'published') FROM unnest('{1.0.0,1.5.0,2.0.0,3.0.0}'::text[]) v;
SELECT rollout.set_default_version('svc', '1.0.0');
SELECT rollout.set_channel_release('svc', 'stable', '1.5.0');
SELECT rollout.create_rollout('r-main', 'svc', '1.5.0', '3.0.0');
SELECT rollout.add_stage('r-main', 'half', 'percentage', percent => 50);
SET pg_rollout.actor = 'bench-approver';
SELECT rollout.approve_rollout('r-main');
SELECT rollout.start_rollout('r-main');
EOF
q <<'EOF'
CREATE TABLE bench_tenant (id text COLLATE "C" PRIMARY KEY, parent_id text COLLATE "C" REFERENCES bench_tenant);
INSERT INTO bench_tenant SELECT tenant_id, parent_id FROM rollout.tenant ORDER BY path;
CREATE INDEX ON bench_tenant (parent_id);
CREATE TABLE bench_component (component_id text COLLATE "C" PRIMARY KEY, default_version text);
INSERT INTO bench_component SELECT component_id, default_version::text FROM rollout.component;
CREATE TABLE bench_pin (component_id text COLLATE "C", tenant_id text COLLATE "C", version text NOT NULL, PRIMARY KEY (component_id, tenant_id));
INSERT INTO bench_pin SELECT component_id, tenant_id, version::text FROM rollout.pin;
CREATE TABLE bench_activation (component_id text COLLATE "C", tenant_id text COLLATE "C", version text NOT NULL, PRIMARY KEY (component_id, tenant_id));
INSERT INTO bench_activation SELECT component_id, tenant_id, version::text FROM rollout.activation;
CREATE TABLE bench_channel_release (component_id text COLLATE "C", channel_id text COLLATE "C", version text NOT NULL, PRIMARY KEY (component_id, channel_id));
INSERT INTO bench_channel_release SELECT component_id, channel_id, version::text FROM rollout.channel_release;
VACUUM ANALYZE;
EOF
eval "$(sed -n '/^cte_one() {/,/^}/p;/^cte_all() {/,/^}/p' bench/resolve.sh)"
q <<EOF
CREATE FUNCTION bench_resolve(text, text) RETURNS text LANGUAGE sql STABLE AS \$\$ $(cte_one '$1' '$2') \$\$;
CREATE FUNCTION bench_resolve_all(text) RETURNS TABLE (tenant_id text, version text, source text, source_tenant_id text)
LANGUAGE sql STABLE AS \$\$ $(cte_all '$1') \$\$;
EOF
# both sides agree before anything is timed
BAD=$(PGOPTIONS="-c pg_rollout.resolve_cache_size=0" psql -X -At -c "
    SELECT (SELECT count(*) FROM generate_series($LO, $((LO + SPAN))) i
             WHERE rollout.resolve_version('t-' || i, 'svc')::text IS DISTINCT FROM bench_resolve('t-' || i, 'svc'))
         + (SELECT count(*) FROM rollout.resolve_versions('svc') r FULL JOIN bench_resolve_all('svc') c USING (tenant_id)
             WHERE (r.version::text, r.source, r.source_tenant_id) IS DISTINCT FROM (c.version, c.source, c.source_tenant_id))")
[ "$BAD" = 0 ] || { echo "resolve_cpu.sh: MISMATCH: $BAD answers differ" >&2; exit 1; }
echo "==> ok: resolve_version and resolve_versions equal the CTEs for t-$LO..t-$((LO + SPAN)) and all $N tenants"

LOG="$PGTMP_DIR/server.log"
START=$(pgtmp_as wc -l < "$LOG")
single() { echo "SELECT count($1('t-' || ($LO + (i * 7919) % $SPAN), 'svc')) FROM generate_series(1, $CALLS) i;"; }
{
    echo "SET client_min_messages = warning;"
    echo "SET pg_rollout.resolve_cache_size = 0;"
    single rollout.resolve_version; single bench_resolve        # untimed warm-up
    echo "SELECT count(version) FROM rollout.resolve_versions('svc');"
    echo "SELECT count(version) FROM bench_resolve_all('svc');"
    echo "SET log_statement_stats = on;"
    for ((r = 0; r < ROUNDS; r++)); do
        single rollout.resolve_version; single bench_resolve
        echo "SELECT count(version) FROM rollout.resolve_versions('svc');"
        echo "SELECT count(version) FROM bench_resolve_all('svc');"
    done
} | q -o /dev/null
# "!	u s user, s s system, e s elapsed" then the statement
pgtmp_as tail -n +"$START" "$LOG" | awk -v calls="$CALLS" '
    / s user, .* elapsed/ { cpu = ($2 + $5) * 1000; wall = $8 * 1000 }
    /STATEMENT:  SELECT count/ {
        if ($0 ~ /rollout.resolve_version\(/) k = "miss"; else if ($0 ~ /bench_resolve\(/) k = "miss_cte";
        else if ($0 ~ /rollout.resolve_versions/) k = "bulk"; else k = "bulk_cte";
        n[k]++; c[k, n[k]] = cpu; w[k, n[k]] = wall }
    function median(a, k, m,   i, j, t, v) {
        for (i = 1; i <= m; i++) v[i] = a[k, i];
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
    END {
        mc = median(c, "miss", n["miss"]); mcc = median(c, "miss_cte", n["miss_cte"]);
        bc = median(c, "bulk", n["bulk"]); bcc = median(c, "bulk_cte", n["bulk_cte"]);
        mw = median(w, "miss", n["miss"]); mwc = median(w, "miss_cte", n["miss_cte"]);
        bw = median(w, "bulk", n["bulk"]); bwc = median(w, "bulk_cte", n["bulk_cte"]);
        printf "| measure (median of %d interleaved rounds) | pg_rollout | recursive CTE | speed-up |\n", n["miss"];
        printf "| --- | ---: | ---: | ---: |\n";
        printf "| cache miss (resolve_cache_size = 0), CPU us per call | %.2f | %.2f | %.2fx |\n", mc * 1000 / calls, mcc * 1000 / calls, mcc / mc;
        printf "| cache miss, wall-clock us per call | %.2f | %.2f | %.2fx |\n", mw * 1000 / calls, mwc * 1000 / calls, mwc / mw;
        printf "| all tenants, one component, CPU ms | %.1f | %.1f | %.2fx |\n", bc, bcc, bcc / bc;
        printf "| all tenants, one component, wall-clock ms | %.1f | %.1f | %.2fx |\n", bw, bwc, bwc / bw }'
echo "$N tenants, $CALLS single calls per statement; PostgreSQL $(psql -X -At -c 'SHOW server_version'), $(nproc) cores; checkout $GIT_ID"
