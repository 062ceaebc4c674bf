#!/usr/bin/env bash
# bench/loaded_policy.sh — what the policy pg_rollout_loaded costs a
# statement on a protected table (docs/isolation.md, "Without the library").
# pg_rollout puts it on protected relations that have a permissive policy of
# their own.  With the library preloaded its qual, rollout._library_loaded(),
# is replaced by the constant true while the statement is planned (a planner
# support function) and dropped, so what it costs is planning work.
#
# Counted in instructions, not time: the backend runs in single-user mode
# under valgrind's callgrind, as the application role with a tenant set, a
# PL/pgSQL loop of point look-ups each run by EXECUTE (parsed, planned and
# executed every time, as the simple protocol does), once with CALLS_LOW and
# once with CALLS_HIGH look-ups; the difference divided by CALLS_HIGH -
# CALLS_LOW is the cost of one look-up, without start-up.  The same with the
# policy dropped and with it.  Instruction counts do not depend on what else
# runs on the machine.  Needs valgrind (Debian package valgrind).
#
#   bash bench/loaded_policy.sh
#
# Environment:
#   PGR_BENCH_CALLS_LOW   look-ups of the short run (default 500)
#   PGR_BENCH_CALLS_HIGH  look-ups of the long run (default 1500)
#   PGR_BENCH_NO_BUILD    1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

LOW=${PGR_BENCH_CALLS_LOW:-500}
HIGH=${PGR_BENCH_CALLS_HIGH:-1500}
die() { echo "loaded_policy.sh: $*" >&2; exit 1; }
for v in LOW HIGH; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[ "$HIGH" -gt "$LOW" ] || die "PGR_BENCH_CALLS_HIGH ($HIGH) must exceed PGR_BENCH_CALLS_LOW ($LOW)"
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"

pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
pgtmp_start "shared_preload_libraries = 'pg_rollout'" "pg_rollout.enforcement_mode = 'enforce'"
trap pgtmp_stop EXIT

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION pg_rollout;
CREATE ROLE bench_app LOGIN IN ROLE rollout_app;
SET pg_rollout.actor = 'bench';
SELECT count(*) FROM (SELECT rollout.create_tenant('t' || i) FROM generate_series(1, 100) i) x;
CREATE TABLE orders (id int PRIMARY KEY, tenant_id text, v int);
INSERT INTO orders SELECT i, 't' || (i % 100 + 1), i FROM generate_series(1, 100000) i;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON orders USING (true) WITH CHECK (true);   -- a permissive policy of its own
GRANT SELECT ON orders TO bench_app;
SELECT rollout.protect_table('orders', 'tenant_id');
ANALYZE orders;
CREATE FUNCTION public.lookups(n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    x int;
BEGIN
    FOR i IN 1..n LOOP
        EXECUTE 'SELECT v FROM orders WHERE id = ' || (i * 7 % 100000 + 1) INTO x;
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION public.lookups(int) TO bench_app;
SQL

DATA=$PGTMP_DIR/data
POSTGRES=$(pg_config --bindir)/postgres
OUT=$(mktemp -d /tmp/pgr_callgrind.XXXXXX)
chmod 777 "$OUT"
# instructions of one single-user session running n look-ups
instructions() {
    local n=$1
    printf "SET ROLE bench_app;\nSELECT rollout.set_tenant('t5', false);\nSELECT public.lookups(%s);\n" "$n" > "$OUT/in.sql"
    chmod 644 "$OUT/in.sql"
    rm -f "$OUT"/cg.*
    pgtmp_as valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.%p" \
        "$POSTGRES" --single -D "$DATA" postgres < "$OUT/in.sql" > "$OUT/run.log" 2>&1 \
        || { cat "$OUT/run.log" >&2; die "the single-user run failed"; }
    grep -h '^summary:' "$OUT"/cg.* | awk '{ s += $2 } END { print s }'
}
per_lookup() {
    pgtmp_as pg_ctl -D "$DATA" -w stop >/dev/null
    local a b
    a=$(instructions "$LOW"); b=$(instructions "$HIGH")
    pgtmp_as pg_ctl -D "$DATA" -w -l "$PGTMP_DIR/server.log" start >/dev/null
    echo $(( (b - a) / (HIGH - LOW) ))
}
echo "==> instructions per planned point look-up on a protected table with a permissive policy of its own"
with=$(per_lookup)
psql -X -q -v ON_ERROR_STOP=1 -c "DROP POLICY pg_rollout_loaded ON orders"
without=$(per_lookup)
printf '  %-34s %10s\n' "without pg_rollout_loaded" "$without" "with pg_rollout_loaded" "$with"
awk -v a="$without" -v b="$with" 'BEGIN { printf "  %-34s %10d (%.1f %%)\n", "difference", b - a, (b - a) * 100 / a }'
rm -rf "$OUT"
