#!/usr/bin/env bash
# bench/resolve_unrelated.sh — what a busy writer on one component costs
# the resolution of another (issue 11: "an invalidation after a change to
# one component should not throw away the cached answers of every other
# component").
#
# Data: the tree of bench/resolve_cpu.sh (N tenants, 2 organisations,
# fan-out 10), component svc (default 1.0.0, stable release 1.5.0, a
# started rollout activating 50 % of the leaves) and component web (no
# rollout).  The reader is one session calling
# rollout.resolve_version(t, 'svc') for CALLS look-ups over a working set of
# W tenants (default settings: answers cached), committing every 10
# look-ups (a procedure: every transaction takes in the invalidations
# committed since), timed in backend CPU time (log_statement_stats).  The
# writer is pgbench (-R RATE) re-pinning a random tenant on web
# (rollout.pin_version: one commit that changes rollout.pin, audited).  The
# reader runs once without a writer and once per rate, interleaved, ROUNDS
# times; medians are printed.
#
#   bash bench/resolve_unrelated.sh
#   PGR_BENCH_RATES="10 100" PGR_BENCH_ROUNDS=3 bash bench/resolve_unrelated.sh
#
# Environment:
#   PGR_BENCH_TENANTS   tenants                                (default 20000)
#   PGR_BENCH_WORKING   tenants the reader resolves            (default 2000)
#   PGR_BENCH_CALLS     look-ups per reader run                (default 200000)
#   PGR_BENCH_RATES     writer commits per second, one run each (default "10 100 1000")
#   PGR_BENCH_ROUNDS    interleaved rounds                     (default 3)
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh
N=${PGR_BENCH_TENANTS:-20000}
W=${PGR_BENCH_WORKING:-2000}
CALLS=${PGR_BENCH_CALLS:-200000}
RATES=${PGR_BENCH_RATES:-10 100 1000}
ROUNDS=${PGR_BENCH_ROUNDS:-3}
for v in N W CALLS ROUNDS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "resolve_unrelated.sh: $v must be a positive integer" >&2; exit 1; }
done
for r in $RATES; do
    [[ $r =~ ^[1-9][0-9]*$ ]] || { echo "resolve_unrelated.sh: PGR_BENCH_RATES must list positive integers" >&2; exit 1; }
done
[ "$N" -ge 1000 ] && [ "$W" -lt "$N" ] || { echo "resolve_unrelated.sh: need PGR_BENCH_TENANTS >= 1000 and PGR_BENCH_WORKING < PGR_BENCH_TENANTS" >&2; exit 1; }
pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
GIT_ID=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
pgtmp_start "shared_buffers = 256MB" "synchronous_commit = off" "autovacuum = off" "log_min_messages = log"
trap 'kill $(jobs -p) 2>/dev/null || true; pgtmp_stop' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
LO=$((N - W))              # the working set: the last W tenants (leaves)
q >/dev/null <<EOF
CREATE EXTENSION pg_rollout;
SELECT rollout.create_tenants(array_agg('t-' || i ORDER BY i),
         array_agg(CASE WHEN i > 2 THEN 't-' || ((i - 3) / 10 + 1) END ORDER BY i)) FROM generate_series(1, $N) i;
SET pg_rollout.actor = 'bench-author';
SELECT rollout.create_component(c, 'product', c) FROM unnest('{svc,web}'::text[]) c;
SELECT rollout.add_version(c, v::rollout.semver, 'published')
  FROM unnest('{svc,web}'::text[]) c, unnest('{1.0.0,1.5.0,2.0.0,3.0.0}'::text[]) v;
SELECT rollout.set_default_version(c, '1.0.0') FROM unnest('{svc,web}'::text[]) c;
SELECT rollout.set_channel_release('svc', 'stable', '1.5.0');
SELECT rollout.create_rollout('r-main', 'svc', '1.5.0', '3.0.0');
SELECT rollout.add_stage('r-main', 'half', 'percentage', percent => 50);
SET pg_rollout.actor = 'bench-approver';
SELECT rollout.approve_rollout('r-main');
SELECT rollout.start_rollout('r-main');
CREATE PROCEDURE bench_reader(calls int) LANGUAGE plpgsql AS \$\$
DECLARE
    v rollout.semver;
BEGIN
    FOR i IN 1 .. calls LOOP
        v := rollout.resolve_version('t-' || ($LO + 1 + (i * 7919) % $W), 'svc');
        IF i % 10 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
END
\$\$;
VACUUM ANALYZE;
EOF
cat > "$PGTMP_DIR/writer.sql" <<EOF
\set t random(1, $N)
SELECT rollout.pin_version('t-' || :t, 'web', '2.0.0', 'bench');
EOF
chmod 644 "$PGTMP_DIR/writer.sql"

LOG="$PGTMP_DIR/server.log"
START=$(pgtmp_as wc -l < "$LOG")
reader() {  # reader LABEL
    PGOPTIONS="-c log_statement_stats=on -c client_min_messages=warning -c pg_rollout.actor=bench" \
        q -c "CALL /*k:$1*/ bench_reader($CALLS)"
}
q -c "CALL bench_reader($W)"     # untimed warm-up
for ((r = 0; r < ROUNDS; r++)); do
    reader none
    for rate in $RATES; do
        PGOPTIONS="-c pg_rollout.actor=bench-writer" pgbench -n -c 1 -R "$rate" -T 3600 -f "$PGTMP_DIR/writer.sql" \
            >"$PGTMP_DIR/writer-$rate.log" 2>&1 &
        WPID=$!
        sleep 1
        B=$(q -At -c "SELECT count(*) FROM rollout.audit_log WHERE action = 'version.pinned'")
        T0=$(date +%s.%N)
        reader "rate$rate"
        T1=$(date +%s.%N)
        E=$(q -At -c "SELECT count(*) FROM rollout.audit_log WHERE action = 'version.pinned'")
        kill "$WPID" 2>/dev/null || true
        wait "$WPID" 2>/dev/null || true
        grep -i -m3 "error\|fatal" "$PGTMP_DIR/writer-$rate.log" >&2 || true
        echo "writer at -R $rate: $(awk -v b="$B" -v e="$E" -v t0="$T0" -v t1="$T1" 'BEGIN { printf "%.0f", (e - b) / (t1 - t0) }') commits/s during the reader run" >&2
    done
done
STATS=$(q -At -c "SELECT hits, misses, invalidations FROM rollout.resolve_cache_stats()")
pgtmp_as tail -n +"$START" "$LOG" | awk -v calls="$CALLS" -v rates="$RATES" '
    / s user, .* elapsed/ { cpu = ($2 + $5) * 1000; wall = $8 * 1000 }
    /STATEMENT:  CALL \/\*k:/ {
        k = $0; sub(/.*\/\*k:/, "", k); sub(/\*\/.*/, "", k);
        n[k]++; c[k, n[k]] = cpu; w[k, n[k]] = wall }
    function median(a, k, m,   i, j, t, v) {
        for (i = 1; i <= m; i++) v[i] = a[k, i];
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
    END {
        base = median(c, "none", n["none"]);
        printf "| writer on web (median of %d rounds) | reader CPU us per look-up of svc | reader wall-clock us | vs no writer (CPU) |\n", n["none"];
        printf "| --- | ---: | ---: | ---: |\n";
        printf "| none | %.2f | %.2f | 1.00x |\n", base * 1000 / calls, median(w, "none", n["none"]) * 1000 / calls;
        m = split(rates, rs, " ");
        for (i = 1; i <= m; i++) {
            k = "rate" rs[i]; x = median(c, k, n[k]);
            printf "| %s commits/s | %.2f | %.2f | %.2fx |\n", rs[i], x * 1000 / calls, median(w, k, n[k]) * 1000 / calls, x / base } }'
echo "$N tenants, reader working set $W, $CALLS look-ups per run, commit every 10; PostgreSQL $(psql -X -At -c 'SHOW server_version'), $(nproc) cores; checkout $GIT_ID"
