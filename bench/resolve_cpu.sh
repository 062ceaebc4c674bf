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
# Three kinds of cache miss are timed (docs/bench-rollout.md, issue 11
# second pass): "nothing kept" (every call reads the tenant rows and the
# component's rows of every level), "tenant rows kept" (the answers cache
# off, the tenant rows a session read kept: what the first look-up of a
# tenant costs after an invalidation by a change of activations, pins,
# flags or releases) and "cold session" (a new session resolving CALLS
# distinct tenants once each, against the CTE in a new session).  A build
# without pg_rollout.resolve_tenant_cache_size ignores the setting: its
# first two rows then time the same thing.
#
# Environment:
#   PGR_BENCH_TENANTS   tenants (default 20000)
#   PGR_BENCH_CALLS     single calls per statement (default 10000)
#   PGR_BENCH_ROUNDS    interleaved rounds (default 3); medians are printed
#   PGR_BENCH_SHARED_BUFFERS  shared_buffers (default 1GB: both sides' tables
#                       and indexes stay in it at 1,000,000 tenants; with
#                       256MB, the earlier setting, they did not, and the
#                       side whose pages were touched more often kept them:
#                       docs/bench-rollout.md, issue 11 fourth pass)
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh
N=${PGR_BENCH_TENANTS:-20000}
CALLS=${PGR_BENCH_CALLS:-10000}
ROUNDS=${PGR_BENCH_ROUNDS:-3}
SB=${PGR_BENCH_SHARED_BUFFERS:-1GB}
[[ $SB =~ ^[1-9][0-9]*[kMG]B$ ]] || { echo "resolve_cpu.sh: PGR_BENCH_SHARED_BUFFERS must look like 1GB or 256MB" >&2; exit 1; }
for v in N CALLS ROUNDS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "resolve_cpu.sh: $v must be a positive integer" >&2; exit 1; }
done
[ "$N" -ge 1000 ] || { echo "resolve_cpu.sh: PGR_BENCH_TENANTS must be at least 1000" >&2; exit 1; }
pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
GIT_ID=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
pgtmp_start "shared_buffers = $SB" "synchronous_commit = off" "autovacuum = off" "log_min_messages = log"
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
# every timed statement carries its kind as a comment: SELECT /*k:KIND*/ ...
single() { echo "SELECT /*k:$2*/ count($1('t-' || ($LO + (i * 7919) % $SPAN), 'svc')) FROM generate_series(1, $CALLS) i;"; }
session() { PGOPTIONS="-c log_statement_stats=on -c client_min_messages=warning" q -o /dev/null -c "$1"; }
{
    echo "SET client_min_messages = warning;"
    echo "SET pg_rollout.resolve_cache_size = 0;"
    single rollout.resolve_version warmup; single bench_resolve warmup   # untimed warm-up (reads the tenant rows)
    echo "SELECT count(version) FROM rollout.resolve_versions('svc');"
    echo "SELECT count(version) FROM bench_resolve_all('svc');"
    echo "SET log_statement_stats = on;"
    for ((r = 0; r < ROUNDS; r++)); do
        # no answer and no tenant row kept: every call reads every table
        echo "SELECT set_config(name, '0', false) FROM pg_settings WHERE name = 'pg_rollout.resolve_tenant_cache_size';"
        single rollout.resolve_version strict
        # answers off, tenant rows kept: what a first look-up costs after an
        # invalidation by anything but a tenant change (activations, pins, ...)
        echo "SELECT set_config(name, reset_val, false) FROM pg_settings WHERE name = 'pg_rollout.resolve_tenant_cache_size';"
        single rollout.resolve_version kept
        # defaults, right after a change to one of svc's activations (an
        # UPDATE that rewrites one row as it is): every answer of svc is
        # gone, the same tenants are resolved again
        echo "RESET pg_rollout.resolve_cache_size;"
        echo "UPDATE rollout.activation SET stage_no = stage_no WHERE component_id = 'svc' AND tenant_id = (SELECT min(tenant_id) FROM rollout.activation WHERE component_id = 'svc');"
        single rollout.resolve_version after_inval
        # warm: the same CALLS tenants, now cached, 10 times over (a warm call
        # is too short for the CPU clock's resolution in CALLS calls)
        echo "SELECT /*k:warm*/ count(rollout.resolve_version('t-' || ($LO + ((i % $CALLS + 1) * 7919) % $SPAN), 'svc')) FROM generate_series(1, $((CALLS * 10))) i;"
        # the floor of a warm call: the same statement calling a built-in C
        # function of two text arguments that returns at once (texteq: the
        # lengths differ), i.e. the loop, the arguments and the call alone
        echo "SELECT /*k:floor*/ count(texteq('t-' || ($LO + ((i % $CALLS + 1) * 7919) % $SPAN), 'svc')) FROM generate_series(1, $((CALLS * 10))) i;"
        echo "SET pg_rollout.resolve_cache_size = 0;"
        single bench_resolve miss_cte
        echo "SELECT /*k:bulk*/ count(version) FROM rollout.resolve_versions('svc');"
        echo "SELECT /*k:bulk_cte*/ count(version) FROM bench_resolve_all('svc');"
    done
} | q -o /dev/null
# cold sessions: a new session resolves CALLS distinct tenants, each once
# (default settings: every call is a miss; the rows of the ancestors are
# read once per session), against the CTE in a new session
# (the side that goes first alternates from round to round)
for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2 == 0)); then
        session "$(single rollout.resolve_version cold)"
        session "$(single bench_resolve cold_cte)"
    else
        session "$(single bench_resolve cold_cte)"
        session "$(single rollout.resolve_version cold)"
    fi
done
# "!	u s user, s s system, e s elapsed" then the statement
pgtmp_as tail -n +"$START" "$LOG" | awk -v calls="$CALLS" '
    / s user, .* elapsed/ { cpu = ($2 + $5) * 1000; wall = $8 * 1000 }
    /STATEMENT:  SELECT \/\*k:/ {
        k = $0; sub(/.*\/\*k:/, "", k); sub(/\*\/.*/, "", k);
        n[k]++; c[k, n[k]] = cpu; w[k, n[k]] = wall }
    function median(a, k, m,   i, j, t, v) {
        for (i = 1; i <= m; i++) v[i] = a[k, i];
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
    function row(label, k, kc, per,   x, y) {
        x = median(c, k, n[k]); y = median(c, kc, n[kc]);
        if (per) printf "| %s, CPU us per call | %.2f | %.2f | %.2fx |\n", label, x * 1000 / calls, y * 1000 / calls, y / x;
        else printf "| %s, CPU ms | %.1f | %.1f | %.2fx |\n", label, x, y, y / x;
        x = median(w, k, n[k]); y = median(w, kc, n[kc]);
        if (per) printf "| %s, wall-clock us per call | %.2f | %.2f | %.2fx |\n", label, x * 1000 / calls, y * 1000 / calls, y / x;
        else printf "| %s, wall-clock ms | %.1f | %.1f | %.2fx |\n", label, x, y, y / x }
    END {
        printf "| measure (median of %d interleaved rounds) | pg_rollout | recursive CTE | speed-up |\n", n["strict"];
        printf "| --- | ---: | ---: | ---: |\n";
        row("cache miss, nothing kept (resolve_cache_size = 0, resolve_tenant_cache_size = 0)", "strict", "miss_cte", 1);
        row("cache miss, tenant rows kept (resolve_cache_size = 0): first look-up after an invalidation that is not a tenant change", "kept", "miss_cte", 1);
        row("after a change to one of svc activations (default settings): the same tenants again", "after_inval", "miss_cte", 1);
        wc = median(c, "warm", n["warm"]) / 10; ww = median(w, "warm", n["warm"]) / 10;
        printf "| cache warm (the same tenants cached, 10 x CALLS calls), CPU us per call | %.2f | %.2f | %.0fx |\n", wc * 1000 / calls, median(c, "miss_cte", n["miss_cte"]) * 1000 / calls, median(c, "miss_cte", n["miss_cte"]) / wc;
        printf "| cache warm, wall-clock us per call | %.2f | %.2f | %.0fx |\n", ww * 1000 / calls, median(w, "miss_cte", n["miss_cte"]) * 1000 / calls, median(w, "miss_cte", n["miss_cte"]) / ww;
        fc = median(c, "floor", n["floor"]) / 10;
        printf "| call floor: the warm statement with texteq() in place of resolve_version, CPU us per call | %.2f | %.2f | %.0fx |\n", fc * 1000 / calls, median(c, "miss_cte", n["miss_cte"]) * 1000 / calls, median(c, "miss_cte", n["miss_cte"]) / fc;
        printf "| cache warm above the floor, CPU us per call | %.2f | | |\n", (wc - fc) * 1000 / calls;
        row("cold session: first look-up of each tenant in a new session", "cold", "cold_cte", 1);
        row("all tenants, one component", "bulk", "bulk_cte", 0) }'
echo "$N tenants, $CALLS single calls per statement, shared_buffers $SB; PostgreSQL $(psql -X -At -c 'SHOW server_version'), $(nproc) cores; checkout $GIT_ID"
