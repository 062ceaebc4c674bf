#!/usr/bin/env bash
# bench/resolve_concurrent.sh — resolution under a concurrent writer (issue 17).
# One writer commits a change every millisecond (pgbench -R 1000: a pin or a
# flag override on one of the churned organisations, an ANALYZE of
# rollout.tenant every 200 commits, autovacuum on) while 4 readers resolve
# for PGR_BENCH_SECONDS: 2 with the default cache, 2 with
# resolve_cache_size = 100; of each pair, one runs only "check" and the other
# a mix (check 8, rr 1, long 1).  Reader transactions:
#   check:  one autocommit call of resolve_version and of
#          flag_enabled for a random tenant, checked against the writer's
#          history: the answer must be one the tenant had between the
#          writer's state read just before and just after the call;
#   rr:     REPEATABLE READ, resolve_versions for every tenant
#          twice (2 ms apart) and the list form for 50 tenants, checked: a
#          project gives its organisation's answer within one bulk call,
#          unchurned tenants their fixed version;
#   long:   one autocommit statement resolving every tenant one
#          by one, unchurned tenants checked.
# A wrong "check" answer is checked again in the next transaction: still
# wrong counts as a failure; right the second time counts as "transient"
# (see docs/bench-rollout.md: the window between a commit becoming visible and
# its invalidation being sent).  At the end: no backend crashed (server log),
# no pgbench client aborted, and in a new session every tenant's cached
# answer equals resolve_versions and a fresh resolution (explain_version).
#
#   bash bench/resolve_concurrent.sh                       # 60 s
#   PGR_BENCH_SECONDS=10 bash bench/resolve_concurrent.sh  # quick run
#
# Environment:
#   PGR_BENCH_SECONDS   duration of the concurrent run                 (default 60)
#   PGR_BENCH_ORGS      organisations (the first quarter are churned)  (default 20)
#   PGR_BENCH_PROJECTS  projects per organisation                      (default 99)
#   PGR_BENCH_RATE      writer commits per second (pgbench -R)         (default 1000)
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

SECS=${PGR_BENCH_SECONDS:-60}
ORGS=${PGR_BENCH_ORGS:-20}
PROJ=${PGR_BENCH_PROJECTS:-99}
RATE=${PGR_BENCH_RATE:-1000}
die() { echo "resolve_concurrent.sh: $*" >&2; exit 1; }
for v in SECS ORGS PROJ RATE; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[ "$ORGS" -ge 4 ] || die "PGR_BENCH_ORGS must be at least 4"
CHURN=$((ORGS / 4))
N=$((ORGS * (PROJ + 1)))

pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
EXTV=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" pg_rollout.control)
EXT_ID=$(cat "$(pg_config --pkglibdir)/pg_rollout.so" "$(pg_config --sharedir)/extension/pg_rollout--$EXTV.sql" | md5sum | cut -c1-12)
GIT_ID=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ] || GIT_ID="$GIT_ID + uncommitted changes"

q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
echo "==> starting a throwaway cluster (autovacuum on)"
pgtmp_start "autovacuum = on" "autovacuum_naptime = 1s" "synchronous_commit = off" "max_connections = 50"
SCRIPTS=
trap 'pgtmp_stop; [ -z "$SCRIPTS" ] || rm -rf "$SCRIPTS"' EXIT
q -c "CREATE DATABASE bench"
export PGDATABASE=bench

echo "==> $N tenants: organisations o1..o$ORGS (o1..o$CHURN churned), $PROJ projects each"
q <<EOF >/dev/null
CREATE EXTENSION pg_rollout;
SET pg_rollout.actor = 'bench';
SELECT rollout.create_tenants(array_agg('o' || o ORDER BY o), array_agg(NULL::text ORDER BY o),
                              array_agg('organisation'::text ORDER BY o))
  FROM generate_series(1, $ORGS) o;
SELECT rollout.create_tenants(array_agg('o' || o || '-p' || p ORDER BY o, p), array_agg('o' || o ORDER BY o, p),
                              array_agg('project'::text ORDER BY o, p))
  FROM generate_series(1, $ORGS) o, generate_series(1, $PROJ) p;
SELECT rollout.create_component('svc', 'product', 'Service');
SELECT rollout.add_version('svc', ('1.0.' || v)::rollout.semver, 'published') FROM generate_series(0, 9) v;
SELECT rollout.add_version('svc', '2.0.0', 'published');
SELECT rollout.set_default_version('svc', '1.0.0');
SELECT rollout.create_flag('beta', false);
-- unchurned: odd organisations pinned on 2.0.0, even ones on the default
SELECT rollout.pin_version('o' || o, 'svc', '2.0.0', 'bench: fixed')
  FROM generate_series($CHURN + 1, $ORGS) o WHERE o % 2 = 1;
CREATE TABLE bench_fixed (org text PRIMARY KEY, version text NOT NULL);
INSERT INTO bench_fixed SELECT 'o' || o, CASE WHEN o % 2 = 1 THEN '2.0.0' ELSE '1.0.0' END
  FROM generate_series($CHURN + 1, $ORGS) o;

-- the writer's state and history: step k set (version, enabled) on org
CREATE TABLE bench_step (k bigint NOT NULL);
INSERT INTO bench_step VALUES (0);
CREATE TABLE bench_org (org text PRIMARY KEY, k bigint NOT NULL, version text NOT NULL, enabled boolean NOT NULL);
INSERT INTO bench_org SELECT 'o' || o, 0, '1.0.0', false FROM generate_series(1, $CHURN) o;
CREATE TABLE bench_hist (org text, k bigint, version text NOT NULL, enabled boolean NOT NULL, PRIMARY KEY (org, k));
INSERT INTO bench_hist SELECT org, 0, '1.0.0', false FROM bench_org;
CREATE TABLE bench_bad (at timestamptz DEFAULT clock_timestamp(), kind text, tenant_id text, detail text);

-- one audited change per commit: a pin (odd steps) or a flag override (even)
CREATE FUNCTION bench_write() RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE
    step bigint;
    o text;
    v text;
    e boolean;
BEGIN
    UPDATE bench_step SET k = k + 1 RETURNING k INTO step;
    o := 'o' || (1 + step % $CHURN);
    SELECT b.version, b.enabled INTO v, e FROM bench_org b WHERE b.org = o;
    IF step % 2 = 1 THEN
        v := '1.0.' || (step / 2 % 10);
        PERFORM rollout.pin_version(o, 'svc', v::rollout.semver, 'bench churn');
    ELSE
        e := NOT e;
        PERFORM rollout.set_flag('beta', o, e, 'bench churn');
    END IF;
    UPDATE bench_org SET k = step, version = v, enabled = e WHERE org = o;
    INSERT INTO bench_hist VALUES (o, step, v, e);
    IF step % 200 = 0 THEN
        ANALYZE rollout.tenant;
    END IF;
END \$\$;

-- One checked call: the answers must be ones the tenant had between the
-- writer's state read before and after.  Returns 1 (and records it) if not.
CREATE FUNCTION bench_check(t text, kind text) RETURNS int LANGUAGE plpgsql AS \$\$
DECLARE
    o text := split_part(t, '-', 1);
    k1 bigint;
    k2 bigint;
    v text;
    e boolean;
    ok boolean;
BEGIN
    SELECT b.k INTO k1 FROM bench_org b WHERE b.org = o;
    v := rollout.resolve_version(t, 'svc')::text;
    e := rollout.flag_enabled(t, 'beta');
    SELECT b.k INTO k2 FROM bench_org b WHERE b.org = o;
    IF k1 IS NULL THEN
        ok := v = (SELECT f.version FROM bench_fixed f WHERE f.org = o) AND NOT e;
    ELSE
        ok := EXISTS (SELECT FROM bench_hist h WHERE h.org = o AND h.k BETWEEN k1 AND k2 AND h.version = v)
          AND EXISTS (SELECT FROM bench_hist h WHERE h.org = o AND h.k BETWEEN k1 AND k2 AND h.enabled = e);
    END IF;
    IF ok IS NOT TRUE THEN
        INSERT INTO bench_bad (kind, tenant_id, detail)
        VALUES (kind, t, format('version %s flag %s, writer steps %s..%s', v, e, k1, k2));
        RETURN 1;
    END IF;
    RETURN 0;
END \$\$;

-- Bulk answers (one snapshot): unchurned tenants give their fixed version,
-- every project its organisation's answer.
CREATE FUNCTION bench_bulk(kind text) RETURNS int LANGUAGE plpgsql AS \$\$
DECLARE n int;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS r (tenant_id text, version text);
    TRUNCATE r;
    INSERT INTO r SELECT x.tenant_id, x.version::text FROM rollout.resolve_versions('svc') x;
    INSERT INTO bench_bad (kind, tenant_id, detail)
    SELECT kind, r.tenant_id, format('version %s, expected %s', r.version, coalesce(f.version, org.version))
      FROM r
      LEFT JOIN bench_fixed f ON f.org = split_part(r.tenant_id, '-', 1)
      LEFT JOIN r org ON org.tenant_id = split_part(r.tenant_id, '-', 1)
     WHERE r.version IS DISTINCT FROM coalesce(f.version, org.version);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF (SELECT count(*) FROM r) <> $N THEN
        INSERT INTO bench_bad (kind, detail) VALUES (kind, format('%s rows', (SELECT count(*) FROM r)));
        n := n + 1;
    END IF;
    -- the list form, through the cache: unchurned tenants only are fixed
    INSERT INTO bench_bad (kind, tenant_id, detail)
    SELECT kind || ' list', x.tenant_id, format('version %s, expected %s', x.version, f.version)
      FROM rollout.resolve_versions('svc', (SELECT array_agg('o' || (1 + (random() * ($ORGS - 1))::int) || '-p' || (1 + (random() * ($PROJ - 1))::int))
                                              FROM generate_series(1, 50))) x
      JOIN bench_fixed f ON f.org = split_part(x.tenant_id, '-', 1)
     WHERE x.version::text <> f.version;
    RETURN n;
END \$\$;
EOF
q -c "VACUUM ANALYZE"

SCRIPTS=$(mktemp -d /tmp/pgr-bench.XXXXXX)
chmod 755 "$SCRIPTS"
PICK="\\set o random(1, $ORGS)
\\set p random(0, $PROJ)"
T="CASE WHEN :p = 0 THEN 'o' || :o ELSE 'o' || :o || '-p' || :p END"
printf '%s\n' "SELECT bench_write();" >"$SCRIPTS/write.sql"
cat >"$SCRIPTS/check.sql" <<EOF
$PICK
SELECT bench_check($T, 'check') AS bad \\gset
\\if :bad
SELECT bench_check($T, 'check again') AS bad2 \\gset
\\endif
EOF
cat >"$SCRIPTS/rr.sql" <<'EOF'
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT bench_bulk('rr 1');
SELECT pg_sleep(0.002);
SELECT bench_bulk('rr 2');
COMMIT;
EOF
cat >"$SCRIPTS/long.sql" <<'EOF'
INSERT INTO bench_bad (kind, tenant_id, detail)
SELECT 'long', x.tenant_id, format('version %s, expected %s', x.v, f.version)
  FROM (SELECT t.tenant_id, rollout.resolve_version(t.tenant_id, 'svc')::text AS v,
               rollout.flag_enabled(t.tenant_id, 'beta') AS e
          FROM rollout.tenant t) x
  JOIN bench_fixed f ON f.org = split_part(x.tenant_id, '-', 1)
 WHERE x.v <> f.version OR x.e;
EOF

LOG_OFFSET=$(stat -c %s "$PGTMP_DIR/server.log")
echo "==> $SECS s: writer at $RATE commits/s; readers: 2 with the default cache, 2 with resolve_cache_size = 100"
run_pgbench() {  # NAME PGOPTIONS pgbench-args...
    local name=$1 opts=$2; shift 2
    (cd "$SCRIPTS" && { PGOPTIONS="$opts" pgbench -n "$@" >"$SCRIPTS/$name.out" 2>&1 && rc=0 || rc=$?; echo "$rc" >"$SCRIPTS/$name.rc"; }) &
}
run_pgbench writer "" -c 1 -R "$RATE" -T "$SECS" -f "$SCRIPTS/write.sql"
MIX=(-f "$SCRIPTS/check.sql@8" -f "$SCRIPTS/rr.sql@1" -f "$SCRIPTS/long.sql@1")
SMALL="-c pg_rollout.resolve_cache_size=100"
run_pgbench checks "" -c 1 -T "$SECS" -f "$SCRIPTS/check.sql"
run_pgbench mix "" -c 1 -T "$SECS" "${MIX[@]}"
run_pgbench checks_small "$SMALL" -c 1 -T "$SECS" -f "$SCRIPTS/check.sql"
run_pgbench mix_small "$SMALL" -c 1 -T "$SECS" "${MIX[@]}"
wait
READERS="checks mix checks_small mix_small"
# after a crash the server restarts: wait until it accepts connections
for _ in $(seq 1 60); do psql -X -At -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done

FAIL=0
CRASHES=$(tail -c +"$((LOG_OFFSET + 1))" "$PGTMP_DIR/server.log" | grep -c "terminated by signal" || true)
[ "$CRASHES" = 0 ] || { FAIL=1; tail -c +"$((LOG_OFFSET + 1))" "$PGTMP_DIR/server.log" | grep -B2 -A2 "terminated by signal" >&2; }
declare -A TX
for r in writer $READERS; do
    rc=$(cat "$SCRIPTS/$r.rc")
    TX[$r]=$(awk '/number of transactions actually processed/ { print $NF }' "$SCRIPTS/$r.out")
    if [ "$rc" != 0 ] || grep -q "aborted" "$SCRIPTS/$r.out"; then
        FAIL=1; echo "---- pgbench $r (exit $rc)" >&2; tail -20 "$SCRIPTS/$r.out" >&2
    fi
    echo "    $r: $(grep -E 'number of transactions actually processed|^tps' "$SCRIPTS/$r.out" | tr '\n' ' ')"
done
declare -A PER
for r in mix mix_small; do
    # "SQL script N: .../check.sql" followed by " - M transactions (...)"
    PER[$r]=$(awk '/^SQL script [0-9]+:/ { n = $NF; sub(/.*\//, "", n); sub(/\.sql$/, "", n) }
                   /^ - [0-9]+ transactions/ && n != "" { printf "%s%s %s", sep, n, $2; sep = ", "; n = "" }' "$SCRIPTS/$r.out")
    echo "    $r per script: ${PER[$r]}"
done

STEPS=$(psql -X -At -c "SELECT k FROM bench_step")
# every wrong 'check' is checked again at once: 'check again' rows are the
# answers wrong twice in a row, the others were right the second time
read -r CHECKS PERSISTENT BULK LONG < <(psql -X -At -F ' ' -c "
    SELECT (SELECT count(*) FROM bench_bad WHERE kind = 'check'),
           (SELECT count(*) FROM bench_bad WHERE kind = 'check again'),
           (SELECT count(*) FROM bench_bad WHERE kind LIKE 'rr%'),
           (SELECT count(*) FROM bench_bad WHERE kind = 'long')")
TRANSIENT=$((CHECKS - PERSISTENT))
echo "    writer: $STEPS commits (pin_version or set_flag each; an ANALYZE every 200)"
echo "    checked calls wrong once then right in the next transaction (transient): $TRANSIENT"
echo "    wrong twice in a row: $PERSISTENT; bulk/list wrong: $BULK; long statements wrong: $LONG"
[ "$PERSISTENT" = 0 ] && [ "$BULK" = 0 ] && [ "$LONG" = 0 ] || {
    FAIL=1; psql -X -c "SELECT * FROM bench_bad WHERE kind <> 'check' ORDER BY at LIMIT 20" >&2; }
[ "$TRANSIENT" = 0 ] || psql -X -c "SELECT * FROM bench_bad WHERE kind = 'check' ORDER BY at LIMIT 10"

echo "==> at rest: every tenant's cached answer against resolve_versions and a fresh resolution"
REST=$(psql -X -At -v ON_ERROR_STOP=1 <<'EOF'
SELECT count(*) FROM rollout.tenant t;
SELECT count(*) FROM rollout.tenant t
  LEFT JOIN rollout.resolve_versions('svc') r USING (tenant_id)
 WHERE rollout.resolve_version(t.tenant_id, 'svc')::text IS DISTINCT FROM r.version::text
    OR rollout.resolve_version(t.tenant_id, 'svc')::text IS DISTINCT FROM
           (SELECT e.version::text FROM rollout.explain_version(t.tenant_id, 'svc') e WHERE e.decided)
    OR rollout.flag_enabled(t.tenant_id, 'beta') IS DISTINCT FROM
           (SELECT e.enabled FROM rollout.explain_flag(t.tenant_id, 'beta') e WHERE e.decided);
EOF
)
read -r NT NREST <<<"$(echo $REST)"
echo "    $NREST of $NT tenants differ"
[ "$NREST" = 0 ] || FAIL=1
RESULT=$([ "$FAIL" = 0 ] && echo PASS || echo FAIL)

echo
echo "---- summary (markdown) ----"
echo "$N tenants ($ORGS organisations, $CHURN churned), $SECS s; PostgreSQL $(psql -X -At -c 'SHOW server_version'), $(nproc) cores;"
echo "extension build $EXT_ID (checkout $GIT_ID)."
echo
echo "| what | result |"
echo "| --- | ---: |"
echo "| writer commits (pin_version or set_flag, target $RATE/s; ANALYZE every 200; autovacuum on) | $STEPS |"
echo "| reader 1, default cache: checked calls | ${TX[checks]} |"
echo "| reader 2, default cache: mixed transactions | ${TX[mix]} (${PER[mix]}) |"
echo "| reader 3, resolve_cache_size = 100: checked calls | ${TX[checks_small]} |"
echo "| reader 4, resolve_cache_size = 100: mixed transactions | ${TX[mix_small]} (${PER[mix_small]}) |"
echo "| backend crashes (server log) | $CRASHES |"
echo "| checked calls wrong twice in a row | $PERSISTENT |"
echo "| checked calls wrong once, right in the next transaction (transient) | $TRANSIENT |"
echo "| bulk / list / long-statement answers wrong | $((BULK + LONG)) |"
echo "| tenants whose cached answer differs from a fresh resolution at rest | $NREST of $NT |"
echo
echo "Result: $RESULT."
echo "---- end of summary ----"
[ "$FAIL" = 0 ]
