#!/usr/bin/env bash
# bench/resolve.sh — version resolution.  Builds a generated forest (default
# 1,000,000 tenants: organisations -> teams -> projects -> environments) with
# pg_rollout, a component with pins, a stable channel release, a default and a
# real rollout that activates some projects and half of the environments; then
# copies the same data into plain tables and times
#   (a) rollout.resolve_version with its per-backend cache warm,
#   (b) rollout.resolve_version with the cache off (resolve_cache_size = 0),
#   (c) rollout.resolve_versions for every tenant,
# against recursive CTEs over the plain copies.  Prints ratios.
#
#   bash bench/resolve.sh
#   PGR_BENCH_TENANTS=100000 PGR_BENCH_SECONDS=5 PGR_BENCH_WARM_SET=2000 bash bench/resolve.sh   # quick run
#
# Environment:
#   PGR_BENCH_TENANTS    tenants in the forest                     (default 1000000)
#   PGR_BENCH_DEPTH      levels, organisations included (4..32)    (default 4)
#   PGR_BENCH_FANOUT     children per tenant                       (default 10)
#   PGR_BENCH_SECONDS    pgbench duration of each single-call side (default 15)
#   PGR_BENCH_WARM_SET   distinct leaf tenants the calls draw from (default 10000)
#   PGR_BENCH_BULK_RUNS  timed runs of each all-tenants query      (default 3)
#   PGR_BENCH_LOOP_CALLS calls per in-server loop (>= WARM_SET)    (default 10000)
#   PGR_BENCH_BATCH      tenants per create_tenants call           (default 100000)
#   PGR_BENCH_NO_BUILD   1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

N=${PGR_BENCH_TENANTS:-1000000}
DEPTH=${PGR_BENCH_DEPTH:-4}
K=${PGR_BENCH_FANOUT:-10}
SECS=${PGR_BENCH_SECONDS:-15}
WARM=${PGR_BENCH_WARM_SET:-10000}
BULK_RUNS=${PGR_BENCH_BULK_RUNS:-3}
LOOP_CALLS=${PGR_BENCH_LOOP_CALLS:-10000}
BATCH=${PGR_BENCH_BATCH:-100000}
SEED=20261123   # pgbench --random-seed: every side draws the same tenants

die() { echo "resolve.sh: $*" >&2; exit 1; }
for v in N DEPTH K SECS WARM BULK_RUNS LOOP_CALLS BATCH; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[ "$DEPTH" -ge 4 ] && [ "$DEPTH" -le 32 ] || die "PGR_BENCH_DEPTH must be 4..32"
[ "$K" -ge 2 ] || die "PGR_BENCH_FANOUT must be at least 2"

RUN_START=$(date +%s)
pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install

# ---------------------------------------------------------------------------
# The forest: R roots (organisations), every tenant with K children, DEPTH
# levels, numbered breadth-first and cut at N tenants.  t-1..t-R are the
# roots; the parent of t-i (i > R) is t-((i - R - 1) / K + 1); level L holds
# t-(R*S(L) + 1) .. t-(R*S(L+1)) with S(L) = 1 + K + ... + K^(L-1).  R is the
# smallest count whose DEPTH levels hold N tenants, so parents come before
# children and the last level (environments) holds most tenants.
S() {  # S LEVELS
    local l=$1 s=0 p=1 i
    for ((i = 0; i < l; i++)); do
        s=$((s + p)); p=$((p * K))
        [ "$s" -le 4000000000000 ] || { echo "$s"; return; }
    done
    echo "$s"
}
R=$(( (N + $(S "$DEPTH") - 1) / $(S "$DEPTH") ))
[ $((R * $(S $((DEPTH - 1))))) -lt "$N" ] || die "$N tenants do not fill $DEPTH levels with fan-out $K"
lo() { echo $((R * $(S "$1") + 1)); }                        # first tenant of level L
hi() { local h=$((R * $(S $(($1 + 1))))); [ "$h" -le "$N" ] || h=$N; echo "$h"; }
TEAM_LO=$(lo 1); TEAM_HI=$(hi 1)
PROJ_LO=$(lo $((DEPTH - 2))); PROJ_HI=$(hi $((DEPTH - 2)))
LEAF_LO=$(lo $((DEPTH - 1))); LEAVES=$((N - LEAF_LO + 1))
[ "$WARM" -le "$LEAVES" ] || die "PGR_BENCH_WARM_SET ($WARM) exceeds the $LEAVES leaf tenants"
[ "$LOOP_CALLS" -ge "$WARM" ] && [ $((WARM % 7919)) -ne 0 ] || die "PGR_BENCH_LOOP_CALLS must be >= PGR_BENCH_WARM_SET (and WARM_SET not a multiple of 7919)"
STRIDE=$((LEAVES / WARM))        # the warm set: t-(LEAF_LO + k*STRIDE), k = 0..WARM-1
# Pins: every 50th organisation on 2.0.0, every 97th team held back on 1.0.0
# (some inside pinned organisations: the nearest pin wins).  Rollout stage 1
# lists every 1000th project (inherited by its environments), stage 2 takes
# 50 % of the leaves.
ORG_PIN_STEP=50; TEAM_PIN_STEP=97; PROJ_STEP=1000

# The installed extension this run uses: its library is preloaded when the
# cluster starts (backends keep that copy: a library is looked up by file
# name), its install script is read at CREATE EXTENSION.  The fingerprint is
# taken before the start and checked after CREATE EXTENSION, so the run uses
# exactly that build even if another one is installed later (make install from
# another checkout); the summary names it.
EXTV=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" pg_rollout.control)
ext_id() { cat "$(pg_config --pkglibdir)/pg_rollout.so" "$(pg_config --sharedir)/extension/pg_rollout--$EXTV.sql" 2>/dev/null | md5sum | cut -c1-12; }
tree_id() { cat pg_rollout.so "pg_rollout--$EXTV.sql" 2>/dev/null | md5sum | cut -c1-12; }

calc() { awk "BEGIN { printf \"%.1f\", $1 }"; }
now() { date +%s.%N; }
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

EXT_ID=$(ext_id)
GIT_ID=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ] || GIT_ID="$GIT_ID + uncommitted changes"
EXT_WHAT="installed build $EXT_ID ($( [ "$EXT_ID" = "$(tree_id)" ] && echo "the build of this checkout, $GIT_ID" || echo "NOT the build of this checkout ($GIT_ID)"))"
echo "==> extension: $EXT_WHAT"
echo "==> starting a throwaway cluster"
pgtmp_start "shared_buffers = 1GB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
            "synchronous_commit = off" "autovacuum = off" "work_mem = 64MB"
SCRIPTS=
trap 'pgtmp_stop; [ -z "$SCRIPTS" ] || rm -rf "$SCRIPTS"' EXIT
psql -X -q -c "CREATE DATABASE bench"
export PGDATABASE=bench
q -c "CREATE EXTENSION pg_rollout"
[ "$(ext_id)" = "$EXT_ID" ] || die "another build of pg_rollout was installed while the cluster started; run again"

echo "==> forest: $N tenants, $DEPTH levels, $R organisations, fan-out $K; environments t-$LEAF_LO..t-$N ($LEAVES)"
t0=$(now)
lo_=1
while [ "$lo_" -le "$N" ]; do
    hi_=$((lo_ + BATCH - 1)); [ "$hi_" -le "$N" ] || hi_=$N
    q -c "
        SELECT rollout.create_tenants(
                 array_agg('t-' || i ORDER BY i),
                 array_agg(CASE WHEN i > $R THEN 't-' || ((i - $R - 1) / $K + 1) END ORDER BY i),
                 array_agg(CASE WHEN i <= $R THEN 'organisation' WHEN i < $(lo 2) THEN 'team'
                                WHEN i < $LEAF_LO THEN 'project' ELSE 'environment' END ORDER BY i))
          FROM generate_series($lo_, $hi_) i" >/dev/null
    lo_=$((hi_ + 1))
done
echo "    create_tenants: $(calc "$(now) - $t0") s"

echo "==> component svc: versions 1.0.0 1.5.0 2.0.0 3.0.0, default 1.0.0, stable release 1.5.0, pins"
t0=$(now)
q <<EOF >/dev/null
SET pg_rollout.actor = 'bench-author';
SELECT rollout.create_component('svc', 'product', 'Service');
SELECT rollout.add_version('svc', v::rollout.semver, 'published') FROM unnest('{1.0.0,1.5.0,2.0.0,3.0.0}'::text[]) v;
SELECT rollout.set_default_version('svc', '1.0.0');
SELECT rollout.set_channel_release('svc', 'stable', '1.5.0');
SELECT count(rollout.pin_version('t-' || i, 'svc', '2.0.0', 'bench: organisation held on 2.0.0'))
  FROM generate_series($ORG_PIN_STEP, $R, $ORG_PIN_STEP) i;
SELECT count(rollout.pin_version('t-' || i, 'svc', '1.0.0', 'bench: team held back'))
  FROM generate_series($TEAM_LO + $TEAM_PIN_STEP - 1, $TEAM_HI, $TEAM_PIN_STEP) i;
EOF
echo "    $(calc "$(now) - $t0") s"

echo "==> rollout r-main 1.5.0 -> 3.0.0: stage 1 every ${PROJ_STEP}th project, stage 2 50 % of the environments"
q <<EOF >/dev/null
SET pg_rollout.actor = 'bench-author';
SELECT rollout.create_rollout('r-main', 'svc', '1.5.0', '3.0.0');
SELECT rollout.add_stage('r-main', 'projects', 'tenants',
                         tenants => (SELECT array_agg('t-' || i) FROM generate_series($PROJ_LO, $PROJ_HI, $PROJ_STEP) i));
SELECT rollout.add_stage('r-main', 'half', 'percentage', percent => 50);
SET pg_rollout.actor = 'bench-approver';
SELECT rollout.approve_rollout('r-main');
EOF
t0=$(now); q -c "SELECT rollout.start_rollout('r-main')" >/dev/null; START_S=$(calc "$(now) - $t0")
t0=$(now); q -c "SELECT rollout.advance_rollout('r-main')" >/dev/null; ADVANCE_S=$(calc "$(now) - $t0")
echo "    start_rollout (stage 1): $START_S s; advance_rollout (stage 2): $ADVANCE_S s"

echo "==> plain copies: bench_tenant(id, parent_id), bench_pin, bench_activation, bench_channel_release, bench_component"
q <<'EOF'
CREATE TABLE bench_tenant (id text COLLATE "C" PRIMARY KEY, parent_id text COLLATE "C" REFERENCES bench_tenant);
INSERT INTO bench_tenant SELECT tenant_id, parent_id FROM rollout.tenant ORDER BY path;
CREATE INDEX ON bench_tenant (parent_id);
CREATE TABLE bench_component (component_id text COLLATE "C" PRIMARY KEY, default_version text);
INSERT INTO bench_component SELECT component_id, default_version::text FROM rollout.component;
CREATE TABLE bench_pin (component_id text COLLATE "C", tenant_id text COLLATE "C", version text NOT NULL,
                        PRIMARY KEY (component_id, tenant_id));
INSERT INTO bench_pin SELECT component_id, tenant_id, version::text FROM rollout.pin;
CREATE TABLE bench_activation (component_id text COLLATE "C", tenant_id text COLLATE "C", version text NOT NULL,
                               PRIMARY KEY (component_id, tenant_id));
INSERT INTO bench_activation SELECT component_id, tenant_id, version::text FROM rollout.activation;
CREATE TABLE bench_channel_release (component_id text COLLATE "C", channel_id text COLLATE "C", version text NOT NULL,
                                    PRIMARY KEY (component_id, channel_id));
INSERT INTO bench_channel_release SELECT component_id, channel_id, version::text FROM rollout.channel_release;
EOF
q -c "VACUUM ANALYZE" -c "CHECKPOINT"
read -r NPIN NACT NACT_LEAF < <(psql -X -At -F ' ' -c "
    SELECT (SELECT count(*) FROM rollout.pin), (SELECT count(*) FROM rollout.activation),
           (SELECT count(*) FROM rollout.activation a JOIN rollout.tenant t USING (tenant_id) WHERE t.kind = 'environment')")
echo "    $NPIN pins, $NACT activations ($NACT_LEAF environments, $((NACT - NACT_LEAF)) projects)"

# ---------------------------------------------------------------------------
# The baseline resolver, as a user would write it over the plain tables:
# walk up from the tenant with a recursive CTE, joining each level's pin and
# activation (primary-key probes); the nearest pin, else the nearest
# activation, else the stable channel's release, else the default.  (Joining
# the finished walk to the pin and activation tables instead lets the planner
# hash the whole activation table on small data sets: 10x slower at 20,000
# tenants.)  $1 is the tenant expression, $2 the component expression.
cte_one() {
    cat <<EOF
WITH RECURSIVE up(id, parent_id, depth, pin, act) AS (
    SELECT b.id, b.parent_id, 0, p.version, a.version
      FROM bench_tenant b
      LEFT JOIN bench_pin p ON p.component_id = $2 AND p.tenant_id = b.id
      LEFT JOIN bench_activation a ON a.component_id = $2 AND a.tenant_id = b.id
     WHERE b.id = $1
    UNION ALL
    SELECT b.id, b.parent_id, up.depth + 1, p.version, a.version
      FROM up JOIN bench_tenant b ON b.id = up.parent_id
      LEFT JOIN bench_pin p ON p.component_id = $2 AND p.tenant_id = b.id
      LEFT JOIN bench_activation a ON a.component_id = $2 AND a.tenant_id = b.id)
SELECT coalesce(
    (SELECT up.pin FROM up WHERE up.pin IS NOT NULL ORDER BY up.depth LIMIT 1),
    (SELECT up.act FROM up WHERE up.act IS NOT NULL ORDER BY up.depth LIMIT 1),
    (SELECT r.version FROM bench_channel_release r WHERE r.component_id = $2 AND r.channel_id = 'stable'),
    (SELECT c.default_version FROM bench_component c WHERE c.component_id = $2))
EOF
}
# Set-based, every tenant: walk down from the roots, carrying the nearest pin
# and activation (and where they are set) to every child.
cte_all() {
    cat <<EOF
WITH RECURSIVE down(id, pin, pin_at, act, act_at) AS (
    SELECT t.id, p.version, CASE WHEN p.version IS NOT NULL THEN t.id END,
           a.version, CASE WHEN a.version IS NOT NULL THEN t.id END
      FROM bench_tenant t
      LEFT JOIN bench_pin p ON p.component_id = $1 AND p.tenant_id = t.id
      LEFT JOIN bench_activation a ON a.component_id = $1 AND a.tenant_id = t.id
     WHERE t.parent_id IS NULL
    UNION ALL
    SELECT t.id, coalesce(p.version, d.pin), CASE WHEN p.version IS NOT NULL THEN t.id ELSE d.pin_at END,
           coalesce(a.version, d.act), CASE WHEN a.version IS NOT NULL THEN t.id ELSE d.act_at END
      FROM down d
      JOIN bench_tenant t ON t.parent_id = d.id
      LEFT JOIN bench_pin p ON p.component_id = $1 AND p.tenant_id = t.id
      LEFT JOIN bench_activation a ON a.component_id = $1 AND a.tenant_id = t.id)
SELECT d.id AS tenant_id,
       coalesce(d.pin, d.act, rel.version, c.default_version) AS version,
       CASE WHEN d.pin IS NOT NULL THEN 'pin' WHEN d.act IS NOT NULL THEN 'rollout'
            WHEN rel.version IS NOT NULL THEN 'channel' WHEN c.default_version IS NOT NULL THEN 'default'
            ELSE 'none' END AS source,
       CASE WHEN d.pin IS NOT NULL THEN d.pin_at WHEN d.act IS NOT NULL THEN d.act_at END AS source_tenant_id
  FROM down d
  CROSS JOIN (SELECT $1::text AS component_id) k
  LEFT JOIN bench_channel_release rel ON rel.component_id = k.component_id AND rel.channel_id = 'stable'
  LEFT JOIN bench_component c ON c.component_id = k.component_id
EOF
}
q <<EOF
CREATE FUNCTION bench_resolve(text, text) RETURNS text LANGUAGE sql STABLE AS \$\$ $(cte_one '$1' '$2') \$\$;
CREATE FUNCTION bench_resolve_all(text) RETURNS TABLE (tenant_id text, version text, source text, source_tenant_id text)
LANGUAGE sql STABLE AS \$\$ $(cte_all '$1') \$\$;
EOF

echo "==> checking both sides agree"
# 1,000 tenants of every level (fixed seed): resolve_version against the CTE.
CHECK=$(psql -X -q -At -v ON_ERROR_STOP=1 <<EOF
SELECT setseed(0.25) \\g /dev/null
CREATE TEMP TABLE sample AS
SELECT DISTINCT 't-' || (1 + floor(random() * $N)::int) AS id FROM generate_series(1, 3000) LIMIT 1000;
SELECT 'counts ' || count(*) || ' ' || count(*) FILTER (WHERE rollout.resolve_version(id, 'svc')::text IS DISTINCT FROM bench_resolve(id, 'svc'))
  FROM sample;
SELECT 'mismatch ' || id || ': resolve_version ' || coalesce(rollout.resolve_version(id, 'svc')::text, 'NULL')
       || ', CTE ' || coalesce(bench_resolve(id, 'svc'), 'NULL')
  FROM sample WHERE rollout.resolve_version(id, 'svc')::text IS DISTINCT FROM bench_resolve(id, 'svc') LIMIT 10;
EOF
)
read -r NSAMPLE NBAD <<<"$(grep '^counts' <<<"$CHECK" | cut -d' ' -f2-)"
[ "$NSAMPLE" = 1000 ] || die "sample has $NSAMPLE tenants, not 1000"
if [ "$NBAD" != 0 ]; then
    grep '^mismatch' <<<"$CHECK" >&2 || true
    die "MISMATCH: resolve_version and the CTE differ for $NBAD of 1000 tenants"
fi
echo "    ok: resolve_version = CTE for 1000 random tenants"
# Every tenant: version, source and deciding tenant of resolve_versions against the set-based CTE.
BULK=$(psql -X -q -At -v ON_ERROR_STOP=1 <<'EOF'
CREATE TEMP TABLE r AS SELECT tenant_id, version::text AS version, source, source_tenant_id FROM rollout.resolve_versions('svc');
CREATE TEMP TABLE c AS SELECT * FROM bench_resolve_all('svc');
SELECT 'counts ' || (SELECT count(*) FROM r) || ' ' || (SELECT count(*) FROM c) || ' ' ||
       (SELECT count(*) FROM r FULL JOIN c USING (tenant_id)
         WHERE r.tenant_id IS NULL OR c.tenant_id IS NULL
            OR (r.version, r.source, r.source_tenant_id) IS DISTINCT FROM (c.version, c.source, c.source_tenant_id));
SELECT 'mismatch ' || coalesce(r.tenant_id, c.tenant_id) || ': resolve_versions ' || coalesce(r.version || ' ' || r.source || ' ' || coalesce(r.source_tenant_id, '-'), 'missing')
       || ', CTE ' || coalesce(c.version || ' ' || c.source || ' ' || coalesce(c.source_tenant_id, '-'), 'missing')
  FROM r FULL JOIN c USING (tenant_id)
 WHERE r.tenant_id IS NULL OR c.tenant_id IS NULL
    OR (r.version, r.source, r.source_tenant_id) IS DISTINCT FROM (c.version, c.source, c.source_tenant_id)
 LIMIT 10;
SELECT 'sources ' || string_agg(source || '=' || n, ' ' ORDER BY source) FROM (SELECT source, count(*) n FROM r GROUP BY 1) x;
EOF
)
read -r NR NC NBAD <<<"$(grep '^counts' <<<"$BULK" | cut -d' ' -f2-)"
if [ "$NR" != "$N" ] || [ "$NC" != "$N" ] || [ "$NBAD" != 0 ]; then
    grep '^mismatch' <<<"$BULK" >&2 || true
    die "MISMATCH: resolve_versions gave $NR rows, the CTE $NC, $NBAD differ (of $N tenants)"
fi
SOURCES=$(grep '^sources' <<<"$BULK" | cut -d' ' -f2-)
for s in pin rollout channel; do
    grep -q "$s=" <<<"$SOURCES" || die "no tenant is decided by $s: the data does not exercise the order"
done
echo "    ok: resolve_versions = CTE for all $N tenants (version, source and deciding tenant); $SOURCES"
# The cache answers a repeated call.
HIT=$(psql -X -At -c "SELECT rollout.resolve_version('t-$LEAF_LO', 'svc')" -c "SELECT rollout.resolve_version('t-$LEAF_LO', 'svc')" \
           -c "SELECT hits FROM rollout.resolve_cache_stats()" | tail -1)
[ "$HIT" = 1 ] || die "the resolution cache did not answer a repeated call (hits $HIT)"
echo "    ok: a repeated call is a cache hit"

# ---------------------------------------------------------------------------
# Single calls: every pgbench transaction draws a tenant of the warm set.  The
# first WARM transactions of each run visit the whole set once, in order (the
# cache is per backend, so it is warmed in the timed connection); they are
# left out of the statistics, which come from pgbench's per-transaction log.
SCRIPTS=$(mktemp -d /tmp/pgr-bench.XXXXXX)
chmod 755 "$SCRIPTS"
PICK="\\set n :n + 1
\\if :n <= $WARM
\\set k :n - 1
\\else
\\set k random(0, $((WARM - 1)))
\\endif
\\set t $LEAF_LO + :k * $STRIDE"
printf '%s\n%s\n' "$PICK" "SELECT 1;" >"$SCRIPTS/base.sql"
printf '%s\n%s\n' "$PICK" "SELECT rollout.resolve_version('t-' || :t, 'svc');" >"$SCRIPTS/warm.sql"
cp "$SCRIPTS/warm.sql" "$SCRIPTS/cold.sql"
printf '%s\n%s;\n' "$PICK" "$(cte_one "'t-' || :t" "'svc'" | tr '\n' ' ')" >"$SCRIPTS/cte.sql"
printf '%s\n' "SELECT count(version) FROM rollout.resolve_versions('svc');" >"$SCRIPTS/bulk_rollout.sql"
printf '%s\n' "SELECT count(version) FROM ($(cte_all "'svc'" | tr '\n' ' ')) x;" >"$SCRIPTS/bulk_cte.sql"

declare -A LAT TPS CNT
single() {  # single NAME [PGOPTIONS]
    local name=$1 opts=${2:-} out stats
    rm -f "$SCRIPTS"/log.*
    out=$(cd "$SCRIPTS" && PGOPTIONS="$opts" pgbench -n -M prepared -c 1 -T "$SECS" --random-seed="$SEED" \
              -D n=0 -l --log-prefix="$SCRIPTS/log" -f "$SCRIPTS/$name.sql" 2>&1) \
        || { echo "$out" >&2; die "pgbench $name failed"; }
    # log line: client transaction latency_us script epoch_s epoch_us
    stats=$(cat "$SCRIPTS"/log.* | awk -v w="$WARM" '
        $2 >= w { n++; sum += $3; e = $5 + $6 / 1e6; if (n == 1) s = e - $3 / 1e6; last = e }
        END { if (n < 100) exit 1; printf "%.1f %.0f %d", sum / n, n / (last - s), n }') \
        || die "pgbench $name ran too few transactions after the $WARM warm-up ones (raise PGR_BENCH_SECONDS)"
    read -r LAT[$name] TPS[$name] CNT[$name] <<<"$stats"
    echo "    $name: ${TPS[$name]} tps, ${LAT[$name]} us (${CNT[$name]} calls after the warm-up)"
}
echo "==> single calls: pgbench -n -M prepared -c 1 -T $SECS --random-seed=$SEED, $WARM leaf tenants, first $WARM calls left out"
single base
single warm
single cold "-c pg_rollout.resolve_cache_size=0"
single cte

# The same calls without the round trip: LOOP_CALLS calls in one statement
# (tenant (i * 7919) mod WARM of the warm set, every one of them visited),
# one untimed execution then the median of three, in one session: the cache
# is warm for "warm"; "cold" sets resolve_cache_size = 0 in the same session.
echo "==> in-server loops: $LOOP_CALLS calls per statement, median of 3 after one untimed run"
LOOP_T="'t-' || ($LEAF_LO + ((i::bigint * 7919) % $WARM) * $STRIDE)"
LOOPS=$(psql -X -q -At -v ON_ERROR_STOP=1 <<EOF
CREATE FUNCTION pg_temp.us_per_call(q text) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz; d float8[] := '{}';
BEGIN
    EXECUTE q;
    FOR k IN 1..3 LOOP
        t0 := clock_timestamp(); EXECUTE q; d := d || extract(epoch FROM clock_timestamp() - t0)::float8;
    END LOOP;
    RETURN round(((SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(d) x) * 1e6 / $LOOP_CALLS)::numeric, 2);
END \$\$;
SELECT 'loop_empty ' || pg_temp.us_per_call(\$q\$ SELECT count($LOOP_T) FROM generate_series(0, $((LOOP_CALLS - 1))) i \$q\$);
SELECT 'loop_warm ' || pg_temp.us_per_call(\$q\$ SELECT count(rollout.resolve_version($LOOP_T, 'svc')) FROM generate_series(0, $((LOOP_CALLS - 1))) i \$q\$);
SELECT 'loop_hits ' || hits || ' ' || misses FROM rollout.resolve_cache_stats();
SET pg_rollout.resolve_cache_size = 0;
SELECT 'loop_cold ' || pg_temp.us_per_call(\$q\$ SELECT count(rollout.resolve_version($LOOP_T, 'svc')) FROM generate_series(0, $((LOOP_CALLS - 1))) i \$q\$);
SELECT 'loop_cte ' || pg_temp.us_per_call(\$q\$ SELECT count(bench_resolve($LOOP_T, 'svc')) FROM generate_series(0, $((LOOP_CALLS - 1))) i \$q\$);
EOF
)
for k in loop_empty loop_warm loop_cold loop_cte; do
    LAT[$k]=$(awk -v k="$k" '$1 == k { print $2 }' <<<"$LOOPS")
    [ -n "${LAT[$k]}" ] || { echo "$LOOPS" >&2; die "no result for $k"; }
done
read -r HITS MISSES <<<"$(awk '$1 == "loop_hits" { print $2, $3 }' <<<"$LOOPS")"
# the warm loop's 4 executions: misses only in the first pass over the warm set
[ "$MISSES" -le "$WARM" ] || die "the warm loop missed the cache $MISSES times (more than the $WARM tenants)"
echo "    per call: empty loop ${LAT[loop_empty]} us, warm ${LAT[loop_warm]} us, cache off ${LAT[loop_cold]} us, CTE function ${LAT[loop_cte]} us (warm loop: $HITS hits, $MISSES misses)"

echo "==> every tenant: pgbench -n -M prepared -c 1 -t $BULK_RUNS (after one untimed run)"
for side in rollout cte; do
    f="$SCRIPTS/bulk_$side.sql"
    pgbench -n -M prepared -c 1 -t 1 -f "$f" >/dev/null 2>&1 || die "pgbench warm-up of bulk_$side failed"
    out=$(pgbench -n -M prepared -c 1 -t "$BULK_RUNS" -f "$f" 2>&1) || { echo "$out" >&2; die "pgbench bulk_$side failed"; }
    LAT[bulk_$side]=$(awk '/latency average/ { printf "%.0f", $4 }' <<<"$out")
    [ -n "${LAT[bulk_$side]}" ] || { echo "$out" >&2; die "no pgbench result for bulk_$side"; }
    echo "    bulk_$side: ${LAT[bulk_$side]} ms per call"
done

BASE=${LAT[base]}
net() { awk -v a="$1" -v b="$BASE" 'BEGIN { d = a - b; if (d < 0.1) d = 0.1; printf "%.1f", d }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# net ratio: a difference of two pgbench means is only good to about 1 us, so a
# pg_rollout net below 1 us counts as 1 us and the ratio is a lower bound (>=).
nratio() { awk -v a="$(net "$1")" -v b="$(net "$2")" 'BEGIN { p = (b < 1 ? ">=" : ""); if (b < 1) b = 1; printf "%s%.2f", p, a / b }'; }
PGVER=$(psql -X -At -c "SHOW server_version")
EXT_CHANGED=
[ "$(ext_id)" = "$EXT_ID" ] || EXT_CHANGED="(Another build, $(ext_id), was installed during the run; this cluster kept build $EXT_ID.)"
ELAPSED=$(( $(date +%s) - RUN_START ))
W_R=$(ratio "${LAT[cte]}" "${LAT[warm]}"); W_N=$(nratio "${LAT[cte]}" "${LAT[warm]}")
C_R=$(ratio "${LAT[cte]}" "${LAT[cold]}"); C_N=$(nratio "${LAT[cte]}" "${LAT[cold]}")
B_R=$(ratio "${LAT[bulk_cte]}" "${LAT[bulk_rollout]}")
LW_R=$(ratio "${LAT[loop_cte]}" "${LAT[loop_warm]}")
LC_R=$(ratio "${LAT[loop_cte]}" "${LAT[loop_cold]}")
CEIL=$(ratio "${LAT[cte]}" "$BASE")
met() { awk -v r="${1#>=}" 'BEGIN { print (r >= 20 ? "met" : "NOT met") }'; }
GOAL="in-server ${LW_R}x ($(met "$LW_R")), pgbench net of round trip ${W_N}x ($(met "$W_N")), pgbench with the round trip ${W_R}x ($(met "$W_R"); at most CTE / round trip = ${CEIL}x)"
LBL_W="resolve_version, cache warm"
LBL_C="resolve_version, cache off (resolve_cache_size = 0)"
LBL_B="every tenant: resolve_versions('svc') ($N rows)"

echo
echo "== resolution benchmark: $N tenants, $DEPTH levels, $R organisations, fan-out $K; PostgreSQL $PGVER, $(nproc) cores"
echo "   $NPIN pins, $NACT activations, stable release 1.5.0, default 1.0.0; sources over all tenants: $SOURCES"
echo
echo "pgbench, one call per transaction:"
printf '%-52s | %10s %9s | %9s %9s | %8s | %9s %9s %8s\n' "" "pg_rollout" "" "recursive" "CTE" "speed-up" "net us" "net us" "speed-up"
printf '%-52s | %10s %9s | %9s %9s | %8s | %9s %9s %8s\n' "operation" "tps" "mean us" "tps" "mean us" "" "pg_rollout" "CTE" "net"
printf '%-52s | %10s %9s | %9s %9s | %7sx | %9s %9s %7sx\n' "$LBL_W" "${TPS[warm]}" "${LAT[warm]}" "${TPS[cte]}" "${LAT[cte]}" \
    "$W_R" "$(net "${LAT[warm]}")" "$(net "${LAT[cte]}")" "$W_N"
printf '%-52s | %10s %9s | %9s %9s | %7sx | %9s %9s %7sx\n' "$LBL_C" "${TPS[cold]}" "${LAT[cold]}" "${TPS[cte]}" "${LAT[cte]}" \
    "$C_R" "$(net "${LAT[cold]}")" "$(net "${LAT[cte]}")" "$C_N"
printf '%-52s | %10s %9s |\n' "empty round trip (SELECT 1, same \\set)" "${TPS[base]}" "${LAT[base]}"
echo
echo "in-server, $LOOP_CALLS calls in one statement, per call (loop overhead included: the empty loop costs ${LAT[loop_empty]} us):"
printf '%-52s | %10s | %12s | %8s\n' "call" "pg_rollout" "CTE function" "speed-up"
printf '%-52s | %7s us | %9s us | %7sx\n' "$LBL_W" "${LAT[loop_warm]}" "${LAT[loop_cte]}" "$LW_R"
printf '%-52s | %7s us | %9s us | %7sx\n' "$LBL_C" "${LAT[loop_cold]}" "${LAT[loop_cte]}" "$LC_R"
echo
echo "every tenant, pgbench -t $BULK_RUNS:"
printf '%-52s | %7s ms | %9s ms | %7sx\n' "$LBL_B" "${LAT[bulk_rollout]}" "${LAT[bulk_cte]}" "$B_R"
echo
echo "speed-up = CTE time / pg_rollout time (> 1: pg_rollout is faster)."
echo "goal >= 20x for warm calls: $GOAL."
echo "net = mean latency minus the empty round trip ($BASE us).  One CTE run serves both pgbench rows."
echo "Single calls draw from $WARM leaf tenants; each pgbench run's first $WARM calls visit them all (warming"
echo "the per-backend cache) and are left out.  Rollout set-up: start_rollout $START_S s, advance_rollout $ADVANCE_S s."
echo "run time: ${ELAPSED} s"

echo
echo "---- summary (markdown) ----"
echo "$N tenants ($R organisations, $DEPTH levels, fan-out $K), $NPIN pins, $NACT activations; PostgreSQL $PGVER, $(nproc) cores;"
echo "pgbench -M prepared, 1 client, ${SECS} s per single-call side ($WARM leaf tenants, first $WARM calls left out); in-server loops of $LOOP_CALLS calls; $BULK_RUNS runs per all-tenants side."
echo
echo "| one call per pgbench transaction | pg_rollout tps | pg_rollout µs | recursive CTE tps | recursive CTE µs | speed-up | speed-up net of round trip |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
echo "| $LBL_W | ${TPS[warm]} | ${LAT[warm]} | ${TPS[cte]} | ${LAT[cte]} | ${W_R}x | ${W_N}x |"
echo "| $LBL_C | ${TPS[cold]} | ${LAT[cold]} | ${TPS[cte]} | ${LAT[cte]} | ${C_R}x | ${C_N}x |"
echo "| empty round trip (\`SELECT 1\`) | ${TPS[base]} | ${LAT[base]} | | | | |"
echo
echo "| in-server, $LOOP_CALLS calls in one statement (empty loop ${LAT[loop_empty]} µs per call) | pg_rollout µs per call | CTE function µs per call | speed-up |"
echo "| --- | ---: | ---: | ---: |"
echo "| $LBL_W | ${LAT[loop_warm]} | ${LAT[loop_cte]} | ${LW_R}x |"
echo "| $LBL_C | ${LAT[loop_cold]} | ${LAT[loop_cte]} | ${LC_R}x |"
echo
echo "| all tenants | pg_rollout \`resolve_versions\` | set-based recursive CTE | speed-up |"
echo "| --- | ---: | ---: | ---: |"
echo "| $N tenants, one component | ${LAT[bulk_rollout]} ms | ${LAT[bulk_cte]} ms | ${B_R}x |"
echo
echo "Goal >= 20x for warm single calls: $GOAL."
echo "Extension: $EXT_WHAT."
[ -z "$EXT_CHANGED" ] || echo "$EXT_CHANGED"
echo "---- end of summary ----"
