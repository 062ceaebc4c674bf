#!/usr/bin/env bash
# bench/isolation_prepared_cg.sh — the prepared point look-up of
# bench/isolation.sh ("point look-up by id, prepared") counted in
# instructions, independent of the machine's load.  The same three tables:
#   (a) orders_a, no protection, WHERE tenant_id = 't1' AND id = $1;
#   (b) orders_b, a hand-written RLS policy USING (tenant_id = current_setting('app.tenant'));
#   (c) orders_c, rollout.protect_table() in enforce mode.
# A single-user backend runs under valgrind's callgrind as the role bench
# (no superuser, no BYPASSRLS), tenant t1 set for the session: PREPARE,
# then EXECUTE with ids drawn from t1's rows, once CALLS_LOW and once
# CALLS_HIGH times; the difference divided by CALLS_HIGH - CALLS_LOW is one
# execution, start-up excluded.  Per plan_cache_mode (force_generic_plan:
# the generic plan the plan cache keeps; force_custom_plan: a plan per
# execution; auto: what a client gets, generic after five executions).
# With PGR_BENCH_ANNOTATE=1, the CALLS_HIGH profiles are kept and the
# functions whose inclusive counts differ most between the sides are printed.
# Needs valgrind.
#
#   bash bench/isolation_prepared_cg.sh
#
# Environment:
#   PGR_BENCH_CALLS_LOW   executions of the short run (default 200)
#   PGR_BENCH_CALLS_HIGH  executions of the long run (default 1200)
#   PGR_BENCH_MODES       plan_cache_mode values (default "force_generic_plan auto force_custom_plan")
#   PGR_BENCH_ANNOTATE    1 = print the functions that differ (generic plans)
#   PGR_BENCH_KEEP        a directory to keep the callgrind files in
#   PGR_BENCH_NO_BUILD    1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

LOW=${PGR_BENCH_CALLS_LOW:-200}
HIGH=${PGR_BENCH_CALLS_HIGH:-1200}
MODES=${PGR_BENCH_MODES:-force_generic_plan auto force_custom_plan}
NT=100
ROWS=100000
PER=$((ROWS / NT))
die() { echo "isolation_prepared_cg.sh: $*" >&2; exit 1; }
for v in LOW HIGH; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[ "$HIGH" -gt "$LOW" ] || die "PGR_BENCH_CALLS_HIGH ($HIGH) must exceed PGR_BENCH_CALLS_LOW ($LOW)"
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"

[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || { pgr_install_deps; pgr_build_install; }
pgtmp_start "shared_buffers = 256MB" "autovacuum = off"
trap pgtmp_stop EXIT

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE EXTENSION pg_rollout;
SELECT rollout.create_tenants(array_agg('t' || i), array_fill(NULL::text, ARRAY[$NT])) FROM generate_series(1, $NT) i;
CREATE ROLE bench LOGIN IN ROLE rollout_app;
CREATE TABLE orders_a (id int PRIMARY KEY, tenant_id text NOT NULL, amount numeric NOT NULL);
INSERT INTO orders_a SELECT i, 't' || (i / $PER % $NT + 1), i % 1000 FROM generate_series(0, $ROWS - 1) i;
CREATE INDEX ON orders_a (tenant_id);
CREATE TABLE orders_b (LIKE orders_a INCLUDING ALL);
INSERT INTO orders_b SELECT * FROM orders_a;
CREATE TABLE orders_c (LIKE orders_a INCLUDING ALL);
INSERT INTO orders_c SELECT * FROM orders_a;
ALTER TABLE orders_b ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON orders_b USING (tenant_id = current_setting('app.tenant'));
SELECT rollout.protect_table('orders_c', 'tenant_id', 'critical');
GRANT SELECT ON orders_a, orders_b, orders_c TO bench;
ALTER SYSTEM SET pg_rollout.enforcement_mode = 'enforce';
VACUUM ANALYZE;
CHECKPOINT;
SQL

DATA=$PGTMP_DIR/data
POSTGRES=$(pg_config --bindir)/postgres
OUT=${PGR_BENCH_KEEP:-$(mktemp -d /tmp/pgr_callgrind.XXXXXX)}
mkdir -p "$OUT"
chmod 777 "$OUT"
declare -A QUERY=(
    [a]="SELECT amount FROM orders_a WHERE tenant_id = 't1' AND id = \$1"
    [b]="SELECT amount FROM orders_b WHERE id = \$1"
    [c]="SELECT amount FROM orders_c WHERE id = \$1"
)
# instructions SIDE MODE N: one single-user session, N executions
instructions() {
    local side=$1 mode=$2 n=$3 f=$OUT/in_$1_$2_$3.sql
    {
        printf "SET ROLE bench;\nSET app.tenant = 't1';\nSELECT rollout.set_tenant('t1', false);\n"
        printf "SET plan_cache_mode = %s;\nPREPARE q(int) AS %s;\n" "$mode" "${QUERY[$side]}"
        # the same ids on every side: t1 owns 0 .. PER-1
        awk -v n="$n" -v per="$PER" 'BEGIN { x = 12345; for (i = 0; i < n; i++) { x = (x * 1103515245 + 12345) % 2147483648; printf "EXECUTE q(%d);\n", x % per } }'
    } > "$f"
    chmod 644 "$f"
    rm -f "$OUT"/cg."$side"."$mode"."$n".*
    pgtmp_as valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$side.$mode.$n.%p" \
        "$POSTGRES" --single -D "$DATA" postgres < "$f" > "$OUT/run.log" 2>&1 \
        || { cat "$OUT/run.log" >&2; die "the single-user run failed"; }
    grep -q 'ERROR' "$OUT/run.log" && { grep 'ERROR' "$OUT/run.log" | head -3 >&2; die "an execution failed ($side, $mode)"; }
    [ "$(grep -c 'amount = ' "$OUT/run.log")" -ge "$n" ] || die "fewer rows than executions ($side, $mode)"
    grep -h '^summary:' "$OUT"/cg."$side"."$mode"."$n".* | awk '{ s += $2 } END { print s }'
}
pgtmp_as pg_ctl -D "$DATA" -w stop >/dev/null
echo "==> instructions per execution of the prepared point look-up ($LOW and $HIGH executions per side)"
declare -A PER_EXEC
for mode in $MODES; do
    for side in a b c; do
        lo=$(instructions "$side" "$mode" "$LOW"); hi=$(instructions "$side" "$mode" "$HIGH")
        PER_EXEC[$side.$mode]=$(( (hi - lo) / (HIGH - LOW) ))
    done
done
pgtmp_as pg_ctl -D "$DATA" -w -l "$PGTMP_DIR/server.log" start >/dev/null

echo
echo "---- summary (markdown) ----"
echo "| plan_cache_mode | (a) WHERE | (b) hand RLS | (c) pg_rollout enforce | (c) / (a) | (c) / (b) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for mode in $MODES; do
    a=${PER_EXEC[a.$mode]} b=${PER_EXEC[b.$mode]} c=${PER_EXEC[c.$mode]}
    awk -v m="$mode" -v a="$a" -v b="$b" -v c="$c" \
        'BEGIN { printf "| %s | %d | %d | %d | %.1f %% | %.1f %% |\n", m, a, b, c, 100 * c / a, 100 * c / b }'
done
echo "---- end of summary ----"

if [ "${PGR_BENCH_ANNOTATE:-0}" = 1 ]; then
    mode=force_generic_plan
    # inclusive instructions per function ("count<TAB>function"), recursion levels merged
    incl() {
        callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null \
            | sed -n -E "s/^ *([0-9,]+) \( *[0-9.]+%\) +([^ =<].*)$/\1\t\2/p" \
            | sed -E "s/'[0-9]+//" | tr -d ',' \
            | awk -F'\t' '{ s[$2] += $1 } END { for (k in s) print s[k] "\t" k }'
    }
    for side in a b c; do
        for n in "$LOW" "$HIGH"; do
            incl "$(ls "$OUT"/cg."$side".$mode."$n".* | head -1)" > "$OUT/incl.$side.$n"
        done
    done
    echo
    echo "==> inclusive instructions per execution ($mode; runs of $HIGH minus runs of $LOW), by |c - a|"
    echo "    c - a      b - a          a          b          c  function"
    awk -F'\t' -v lo="$LOW" -v hi="$HIGH" '
        { split(FILENAME, f, "."); side = f[length(f) - 1]; n = f[length(f)]
          v[side, $2] += (n == hi ? $1 : -$1); names[$2] = 1 }
        END { for (k in names) { a = v["a", k] / (hi - lo); b = v["b", k] / (hi - lo); c = v["c", k] / (hi - lo)
              d = c - a; if (d < 0) d = -d
              if (d >= 20) printf "%9.0f %10.0f %10.0f %10.0f %10.0f  %s\n", c - a, b - a, a, b, c, k } }' \
        "$OUT"/incl.[abc].* | sort -k1,1 -rn | awk '{ d = $1 < 0 ? -$1 : $1; print d "\t" $0 }' | sort -rn | cut -f2- | head -40
fi
[ -n "${PGR_BENCH_KEEP:-}" ] || rm -rf "$OUT"
