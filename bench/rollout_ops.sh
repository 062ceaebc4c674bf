#!/usr/bin/env bash
# bench/rollout_ops.sh — rollout operations.  Builds a generated forest
# (default 111,100 tenants: 100 organisations -> 1,000 teams -> 10,000
# projects -> 100,000 environments) with pg_rollout, then times
#   (a) rollout.start_rollout activating a stage of every environment
#       (100,000 tenants), against a bare INSERT of the same rows into a plain
#       table (without, and with foreign keys to the tenant, the component
#       and the rollout, as a plain design with referential integrity has),
#       PGR_BENCH_REPS times (cancelled in between); start_rollout and the
#       plain INSERT each start from a CHECKPOINT and take turns at going
#       first;
#   (b) rollout.tick() with nothing due (1,000 running rollouts, none due),
#       next to SELECT 1 and the bare due-rollout query over a plain copy;
#   (c) one rollout.tick(max_rollouts => 1000) with 1,000 due running
#       rollouts (one per component, each scoped to a team): once when their
#       stages are still in their minimum duration (metrics were reported:
#       check triggers, reschedule), once when every stage has passed (the
#       tick evaluates, completes the stage, starts the next and activates
#       its tenants), PGR_BENCH_REPS times with new rollouts.
#
# Every timed statement is reported twice: wall clock (psql \timing) and the
# backend's CPU time (user + system, from log_statement_stats in the server
# log).  On a shared machine the wall clock includes the time a backend
# waits for a core; CPU time does not, so its ratios stay readable when other
# work runs beside the benchmark.  For (b) a second pgbench run of
# PGR_BENCH_CPU_CALLS ticks with log_statement_stats gives the CPU per call.
#
# tick() also starts remediation (src/sql/89_remediation) when its last run
# by a tick is 5 minutes old; over this data (111,100 tenants x 1,001
# components) one run takes minutes, which would land in whichever timed
# tick comes first.  The benchmark therefore records one remediation run by
# a tick, dated in the future, before any tick: remediation has its own
# benchmark (bench/remediation.sh); this one measures the rollout work.
#
#   bash bench/rollout_ops.sh
#   PGR_BENCH_TENANTS=11110 PGR_BENCH_ROLLOUTS=100 PGR_BENCH_SECONDS=3 bash bench/rollout_ops.sh   # quick run
#
# Environment:
#   PGR_BENCH_TENANTS   tenants in the forest                   (default 111100)
#   PGR_BENCH_DEPTH     levels, organisations included (4..32)  (default 4)
#   PGR_BENCH_FANOUT    children per tenant                     (default 10)
#   PGR_BENCH_ROLLOUTS  running rollouts for (b) and (c)        (default 1000, at most one per team)
#   PGR_BENCH_REPS      repetitions of (a) and (c)              (default 3)
#   PGR_BENCH_SECONDS   pgbench duration of each (b) query      (default 10)
#   PGR_BENCH_CPU_CALLS ticks of the CPU-time run of (b)        (default 2000)
#   PGR_BENCH_BATCH     tenants per create_tenants call         (default 100000)
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

N=${PGR_BENCH_TENANTS:-111100}
DEPTH=${PGR_BENCH_DEPTH:-4}
K=${PGR_BENCH_FANOUT:-10}
NRO=${PGR_BENCH_ROLLOUTS:-1000}
REPS=${PGR_BENCH_REPS:-3}
SECS=${PGR_BENCH_SECONDS:-10}
CPU_CALLS=${PGR_BENCH_CPU_CALLS:-2000}
BATCH=${PGR_BENCH_BATCH:-100000}
SEED=20261123

die() { echo "rollout_ops.sh: $*" >&2; exit 1; }
for v in N DEPTH K NRO REPS SECS BATCH CPU_CALLS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[ "$DEPTH" -ge 4 ] && [ "$DEPTH" -le 32 ] || die "PGR_BENCH_DEPTH must be 4..32"
[ "$K" -ge 2 ] || die "PGR_BENCH_FANOUT must be at least 2"

RUN_START=$(date +%s)
pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install

# ---------------------------------------------------------------------------
# The forest (as in bench/resolve.sh): R roots, K children per tenant, DEPTH
# levels, numbered breadth-first and cut at N; the parent of t-i (i > R) is
# t-((i - R - 1) / K + 1); level L starts at t-(R*S(L) + 1),
# S(L) = 1 + K + ... + K^(L-1).  The first child of t-m is t-(R + (m-1)*K + 1).
S() {
    local l=$1 s=0 p=1 i
    for ((i = 0; i < l; i++)); do
        s=$((s + p)); p=$((p * K))
        [ "$s" -le 4000000000000 ] || { echo "$s"; return; }
    done
    echo "$s"
}
R=$(( (N + $(S "$DEPTH") - 1) / $(S "$DEPTH") ))
[ $((R * $(S $((DEPTH - 1))))) -lt "$N" ] || die "$N tenants do not fill $DEPTH levels with fan-out $K"
lo() { echo $((R * $(S "$1") + 1)); }
TEAM_LO=$(lo 1)
LEAF_LO=$(lo $((DEPTH - 1))); LEAVES=$((N - LEAF_LO + 1))
NTEAMS=$((R * K)); [ $((TEAM_LO + NTEAMS - 1)) -lt "$LEAF_LO" ] || die "internal: team range"
[ "$NRO" -le "$NTEAMS" ] || die "PGR_BENCH_ROLLOUTS ($NRO) exceeds the $NTEAMS teams (one rollout per team)"
# A team's first leaf: follow first children down to the last level.
first_leaf() { local m=$1 l; for ((l = 1; l < DEPTH - 1; l++)); do m=$((R + (m - 1) * K + 1)); done; echo "$m"; }
[ "$(first_leaf $((TEAM_LO + NRO - 1)))" -le "$N" ] || die "the forest is cut before the last rollout's team has a leaf"

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
# timed SQL: run one statement with \timing and log_statement_stats; sets
# T_MS (wall clock, ms), T_CPU (the backend's user + system time for the
# statement, ms, from the server log) and T_OUT (its output)
log_lines() { pgtmp_as wc -l < "$PGTMP_DIR/server.log"; }
# CPU ms of the statements logged after line $1 whose text matches $2, summed
# over every message of the statement (with the extended protocol: bind and
# execute), and how many were executed
log_cpu() {
    pgtmp_as tail -n +"$(($1 + 1))" "$PGTMP_DIR/server.log" | awk -v pat="$2" '
        /LOG:  .*STATISTICS$/ { exec = ($0 ~ /QUERY STATISTICS|EXECUTE MESSAGE STATISTICS/) }
        / s user, .* elapsed/ { cpu = ($2 + $5) * 1000 }
        /STATEMENT:  / { if (index($0, pat) > 0) { sum += cpu; if (exec) n++ } }
        END { printf "%.1f %d\n", sum, n }'
}
timed() {
    local out l0 c
    l0=$(log_lines)
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -c 'SET log_statement_stats = on' -c '\timing on' -c "$1" 2>&1) \
        || { echo "$out" >&2; die "failed: $1"; }
    T_MS=$(awk '/^Time: / { printf "%.1f", $2 }' <<<"$out")
    T_OUT=$(grep -v '^Time: ' <<<"$out" || true)
    [ -n "$T_MS" ] || { echo "$out" >&2; die "no timing for: $1"; }
    c=$(log_cpu "$l0" "$(head -1 <<<"$1")")
    [ "${c#* }" = 1 ] || die "no CPU time in the server log for: $1"
    T_CPU=${c% *}
}
one() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
maxof() { tr ' ' '\n' | grep . | sort -n | tail -1; }

EXT_ID=$(ext_id)
GIT_ID=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ] || GIT_ID="$GIT_ID + uncommitted changes"
EXT_WHAT="installed build $EXT_ID ($( [ "$EXT_ID" = "$(tree_id)" ] && echo "the build of this checkout, $GIT_ID" || echo "NOT the build of this checkout ($GIT_ID)"))"
echo "==> extension: $EXT_WHAT"
echo "==> starting a throwaway cluster"
pgtmp_start "shared_buffers = 1GB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
            "synchronous_commit = off" "autovacuum = off" "work_mem = 64MB" "log_min_messages = log"
SCRIPTS=
trap 'pgtmp_stop; [ -z "$SCRIPTS" ] || rm -rf "$SCRIPTS"' EXIT
psql -X -q -c "CREATE DATABASE bench"
export PGDATABASE=bench
q -c "CREATE EXTENSION pg_rollout"
# remediation is kept out of the ticks (see the header): one run by a tick, dated in the future
q -c "INSERT INTO rollout.remediation_run (clock, started_at, finished_at, tasks_opened, tasks_closed, notifications,
                                          events, forced, by_tick, ran_by)
      VALUES (now(), 'infinity', 'infinity', 0, 0, 0, 0, 0, true, 'bench/rollout_ops.sh')"
[ "$(ext_id)" = "$EXT_ID" ] || die "another build of pg_rollout was installed while the cluster started; run again"

echo "==> forest: $N tenants, $DEPTH levels, $R organisations, $NTEAMS teams, fan-out $K; environments t-$LEAF_LO..t-$N ($LEAVES)"
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

echo "==> component svc (1.0.0 default, 2.0.0); plain copies bench_tenant(id, parent_id, kind) and plain_activation"
q <<'EOF' >/dev/null
SET pg_rollout.actor = 'bench-author';
SELECT rollout.create_component('svc', 'product', 'Service');
SELECT rollout.add_version('svc', '1.0.0', 'published');
SELECT rollout.add_version('svc', '2.0.0', 'published');
SELECT rollout.set_default_version('svc', '1.0.0');
CREATE TABLE bench_tenant (id text COLLATE "C" PRIMARY KEY, parent_id text COLLATE "C" REFERENCES bench_tenant, kind text NOT NULL);
INSERT INTO bench_tenant SELECT tenant_id, parent_id, kind FROM rollout.tenant ORDER BY path;
CREATE INDEX ON bench_tenant (parent_id);
-- the columns and indexes of rollout.activation, without the extension around them
CREATE TABLE plain_activation (
    component_id text COLLATE "C" NOT NULL, tenant_id text COLLATE "C" NOT NULL, version text NOT NULL,
    rollout_id text COLLATE "C" NOT NULL, stage_no integer NOT NULL, activated_at timestamptz NOT NULL,
    PRIMARY KEY (component_id, tenant_id));
CREATE INDEX ON plain_activation (rollout_id, stage_no);
-- the same with foreign keys to the tenant, the component and the rollout (checked row by row)
CREATE TABLE fk_activation (
    component_id text COLLATE "C" NOT NULL REFERENCES rollout.component,
    tenant_id text COLLATE "C" NOT NULL REFERENCES rollout.tenant, version text NOT NULL,
    rollout_id text COLLATE "C" NOT NULL REFERENCES rollout.rollout, stage_no integer NOT NULL,
    activated_at timestamptz NOT NULL, PRIMARY KEY (component_id, tenant_id));
CREATE INDEX ON fk_activation (rollout_id, stage_no);
EOF
q -c "VACUUM ANALYZE" -c "CHECKPOINT"

# ---------------------------------------------------------------------------
echo "==> (a) start_rollout: one stage 'all' of target_kind environment ($LEAVES tenants), $REPS times"
declare -a A_START A_PLAIN A_FK A_CANCEL A_DELETE A_START_CPU A_PLAIN_CPU A_FK_CPU A_CANCEL_CPU A_DELETE_CPU
for ((r = 1; r <= REPS; r++)); do
    q <<EOF >/dev/null
SET pg_rollout.actor = 'bench-author';
SELECT rollout.create_rollout('act-$r', 'svc', '1.0.0', '2.0.0', target_kind => 'environment');
SELECT rollout.add_stage('act-$r', 'all', 'all');
SET pg_rollout.actor = 'bench-approver';
SELECT rollout.approve_rollout('act-$r');
EOF
    q -c "VACUUM ANALYZE rollout.activation" -c "VACUUM ANALYZE plain_activation" -c "VACUUM ANALYZE fk_activation"
    # Each side starts from a checkpoint (every page it writes needs a full
    # page image either way, and the WAL of the other side is flushed, not
    # left in the WAL buffers for it to write), and the sides take turns at
    # going first (odd repetitions: start_rollout first).
    for side in $( [ $((r % 2)) = 1 ] && echo "start plain" || echo "plain start" ); do
        q -c "CHECKPOINT"
        if [ "$side" = start ]; then
            timed "SELECT status || ' stage ' || current_stage FROM rollout.start_rollout('act-$r')"
            A_START[r]=$T_MS; A_START_CPU[r]=$T_CPU
            [ "$T_OUT" = "running stage 1" ] || die "start_rollout act-$r returned '$T_OUT'"
            got=$(one "SELECT (SELECT count(*) FROM rollout.activation WHERE rollout_id = 'act-$r' AND version::text = '2.0.0')
                         || ' ' || (SELECT activated FROM rollout.rollout_stage WHERE rollout_id = 'act-$r' AND stage_no = 1)")
            [ "$got" = "$LEAVES $LEAVES" ] || die "act-$r activated '$got' tenants, expected $LEAVES"
        else
            timed "INSERT INTO plain_activation (component_id, tenant_id, version, rollout_id, stage_no, activated_at)
                   SELECT 'svc', id, '2.0.0', 'plain-$r', 1, now() FROM bench_tenant WHERE kind = 'environment'"
            A_PLAIN[r]=$T_MS; A_PLAIN_CPU[r]=$T_CPU
            [ "$(one "SELECT count(*) FROM plain_activation")" = "$LEAVES" ] || die "plain INSERT did not insert $LEAVES rows"
        fi
    done
    q -c "CHECKPOINT"
    timed "INSERT INTO fk_activation (component_id, tenant_id, version, rollout_id, stage_no, activated_at)
           SELECT 'svc', id, '2.0.0', 'act-$r', 1, now() FROM bench_tenant WHERE kind = 'environment'"
    A_FK[r]=$T_MS; A_FK_CPU[r]=$T_CPU
    [ "$(one "SELECT count(*) FROM fk_activation")" = "$LEAVES" ] || die "plain INSERT with foreign keys did not insert $LEAVES rows"
    timed "SELECT status FROM rollout.cancel_rollout('act-$r', 'bench')"
    A_CANCEL[r]=$T_MS; A_CANCEL_CPU[r]=$T_CPU
    [ "$T_OUT" = cancelled ] && [ "$(one "SELECT count(*) FROM rollout.activation")" = 0 ] || die "cancel_rollout act-$r left activations"
    timed "DELETE FROM plain_activation"
    A_DELETE[r]=$T_MS; A_DELETE_CPU[r]=$T_CPU
    q -c "TRUNCATE fk_activation"
    echo "    rep $r: start_rollout ${A_START[r]} ms, plain INSERT ${A_PLAIN[r]} ms, plain INSERT with 3 foreign keys ${A_FK[r]} ms;" \
         "cancel_rollout ${A_CANCEL[r]} ms, plain DELETE ${A_DELETE[r]} ms"
done
q -c "VACUUM ANALYZE rollout.activation" -c "VACUUM ANALYZE plain_activation" -c "VACUUM ANALYZE fk_activation"

# ---------------------------------------------------------------------------
# NRO components c-1..c-NRO, each with a rollout scoped to team t-(TEAM_LO + i - 1):
# stage canary (its first environment), ten (10 % of its environments), rest (all);
# each at least an hour, auto-proceeding, with a rollback trigger on error_rate.
echo "==> $NRO components, each with a running rollout scoped to one team"
t0=$(now)
q <<EOF >/dev/null
DO \$\$
BEGIN
    PERFORM set_config('pg_rollout.actor', 'bench-author', true);
    FOR i IN 1..$NRO LOOP
        PERFORM rollout.create_component('c-' || i, 'product', 'Component ' || i);
        PERFORM rollout.add_version('c-' || i, '1.0.0', 'published');
        PERFORM rollout.add_version('c-' || i, '2.0.0', 'published');
        PERFORM rollout.set_default_version('c-' || i, '1.0.0');
    END LOOP;
END
\$\$;
EOF
start_rollouts() {  # start_rollouts REP: rollouts ro-REP-1..ro-REP-NRO
    q <<EOF >/dev/null
DO \$\$
DECLARE
    m int;
    leaf int;
    id text;
BEGIN
    FOR i IN 1..$NRO LOOP
        m := $TEAM_LO + i - 1;
        leaf := m;
        FOR l IN 1..$((DEPTH - 2)) LOOP leaf := $R + (leaf - 1) * $K + 1; END LOOP;
        id := 'ro-$1-' || i;
        PERFORM set_config('pg_rollout.actor', 'bench-author', true);
        PERFORM rollout.create_rollout(id, 'c-' || i, '1.0.0', '2.0.0', scope_tenant_id => 't-' || m);
        PERFORM rollout.add_stage(id, 'canary', 'tenants', tenants => ARRAY['t-' || leaf], min_duration => '1 hour',
                                  max_new_failures => 10, auto_proceed => true);
        PERFORM rollout.add_stage(id, 'ten', 'percentage', percent => 10, min_duration => '1 hour', auto_proceed => true);
        PERFORM rollout.add_stage(id, 'rest', 'all', min_duration => '1 hour');
        PERFORM rollout.add_trigger(id, 'error_rate', 0.05);
        PERFORM set_config('pg_rollout.actor', 'bench-approver', true);
        PERFORM rollout.approve_rollout(id);
        PERFORM rollout.start_rollout(id);
    END LOOP;
END
\$\$;
EOF
    local got
    got=$(one "SELECT count(*) FILTER (WHERE status = 'running' AND current_stage = 1 AND next_due_at > now())
                 || ' ' || (SELECT count(*) FROM rollout.activation a JOIN rollout.rollout x USING (rollout_id) WHERE x.rollout_id LIKE 'ro-$1-%')
                 FROM rollout.rollout WHERE rollout_id LIKE 'ro-$1-%'")
    [ "$got" = "$NRO $NRO" ] || die "rollouts ro-$1-*: '$got' (running at stage 1 and not due, activations), expected '$NRO $NRO'"
}
start_rollouts 1
echo "    components and rollouts: $(calc "$(now) - $t0") s"
q -c "VACUUM ANALYZE" -c "CHECKPOINT"

# ---------------------------------------------------------------------------
echo "==> (b) tick with nothing due: pgbench -n -M prepared -c 1 -T $SECS ($NRO running rollouts, none due)"
[ "$(one "SELECT count(*) FROM rollout.tick()")" = 0 ] || die "tick() did something with nothing due"
q <<'EOF'
CREATE TABLE plain_rollout AS SELECT rollout_id, component_id, status, next_due_at FROM rollout.rollout;
ALTER TABLE plain_rollout ADD PRIMARY KEY (rollout_id);
CREATE INDEX ON plain_rollout (next_due_at) WHERE status = 'running';
VACUUM ANALYZE plain_rollout;
EOF
SCRIPTS=$(mktemp -d /tmp/pgr-bench.XXXXXX)
echo "SELECT 1;" >"$SCRIPTS/one.sql"
echo "SELECT * FROM plain_rollout WHERE status = 'running' AND next_due_at <= now() ORDER BY next_due_at LIMIT 100 FOR UPDATE SKIP LOCKED;" >"$SCRIPTS/due.sql"
echo "SELECT * FROM rollout.tick();" >"$SCRIPTS/tick.sql"
declare -A LAT TPS
for op in one due tick; do
    f="$SCRIPTS/$op.sql"
    pgbench -n -M prepared -c 1 -t 200 -f "$f" >/dev/null 2>&1 || die "pgbench warm-up of $op failed"
    out=$(pgbench -n -M prepared -c 1 -T "$SECS" --random-seed="$SEED" -f "$f" 2>&1) || { echo "$out" >&2; die "pgbench $op failed"; }
    LAT[$op]=$(awk '/latency average/ { printf "%.1f", $4 * 1000 }' <<<"$out")
    TPS[$op]=$(awk '/^tps/ { printf "%.0f", $3 }' <<<"$out")
    [ -n "${LAT[$op]}" ] && [ -n "${TPS[$op]}" ] || { echo "$out" >&2; die "no pgbench result for $op"; }
    echo "    $op: ${TPS[$op]} tps, ${LAT[$op]} us"
done
# CPU time of the backend per call: a run of CPU_CALLS calls with log_statement_stats
declare -A CPU
for op in one due tick; do
    l0=$(log_lines)
    PGOPTIONS="-c log_statement_stats=on" pgbench -n -M prepared -c 1 -t "$CPU_CALLS" -f "$SCRIPTS/$op.sql" >/dev/null 2>&1 \
        || die "pgbench CPU run of $op failed"
    c=$(log_cpu "$l0" "$(cat "$SCRIPTS/$op.sql")")
    [ "${c#* }" = "$CPU_CALLS" ] || die "CPU run of $op: ${c#* } statements in the server log, expected $CPU_CALLS"
    CPU[$op]=$(awk -v t="${c% *}" -v n="$CPU_CALLS" 'BEGIN { printf "%.1f", t * 1000 / n }')
    echo "    $op: ${CPU[$op]} us CPU per call"
done
[ "$(one "SELECT count(*) FROM rollout.rollout WHERE status = 'running' AND next_due_at <= now()")" = 0 ] || die "a rollout became due during (b)"

# ---------------------------------------------------------------------------
echo "==> (c) one tick(max_rollouts => $NRO) with $NRO due rollouts, $REPS times"
declare -a C_RESCHED C_ADVANCE C_ACT C_RESCHED_CPU C_ADVANCE_CPU
for ((r = 1; r <= REPS; r++)); do
    [ "$r" = 1 ] || start_rollouts "$r"
    q -c "VACUUM ANALYZE" -c "CHECKPOINT"
    # Metrics for the current stage (no failures, error rate under the trigger):
    # report_metrics makes each rollout due; its stage is still in its hour.
    q <<EOF >/dev/null
DO \$\$
BEGIN
    PERFORM set_config('pg_rollout.actor', 'bench-monitor', true);
    FOR i IN 1..$NRO LOOP
        PERFORM rollout.report_metrics('ro-$r-' || i, NULL, ARRAY['new_failures', 'error_rate'], ARRAY[0, 0.01]::float8[]);
    END LOOP;
END
\$\$;
EOF
    [ "$(one "SELECT count(*) FROM rollout.rollout WHERE status = 'running' AND next_due_at <= now()")" = "$NRO" ] \
        || die "reporting metrics did not make the $NRO rollouts due"
    timed "SELECT count(*) FROM rollout.tick($NRO)"
    C_RESCHED[r]=$T_MS; C_RESCHED_CPU[r]=$T_CPU
    [ "$T_OUT" = 0 ] || die "tick with stages in their minimum duration returned $T_OUT rows"
    got=$(one "SELECT count(*) FROM rollout.rollout WHERE rollout_id LIKE 'ro-$r-%' AND status = 'running' AND current_stage = 1 AND next_due_at > now()")
    [ "$got" = "$NRO" ] || die "after the rescheduling tick only $got rollouts are running at stage 1, not due"
    # The stages' minimum duration is over (superuser shortcut): due again, and passing.
    q <<EOF >/dev/null
UPDATE rollout.rollout_stage s SET due_at = now()
  FROM rollout.rollout x WHERE x.rollout_id = s.rollout_id AND s.stage_no = x.current_stage AND x.rollout_id LIKE 'ro-$r-%';
UPDATE rollout.rollout SET next_due_at = now() WHERE rollout_id LIKE 'ro-$r-%';
EOF
    before=$(one "SELECT count(*) FROM rollout.activation WHERE rollout_id LIKE 'ro-$r-%'")
    timed "SELECT coalesce(string_agg(action || '=' || n, ',' ORDER BY action), 'none') FROM (SELECT action, count(*) AS n FROM rollout.tick($NRO) GROUP BY 1) x"
    C_ADVANCE[r]=$T_MS; C_ADVANCE_CPU[r]=$T_CPU
    [ "$T_OUT" = "advanced=$NRO" ] || die "the passing tick did '$T_OUT', expected advanced=$NRO"
    after=$(one "SELECT count(*) FROM rollout.activation WHERE rollout_id LIKE 'ro-$r-%'")
    got=$(one "SELECT count(*) FROM rollout.rollout WHERE rollout_id LIKE 'ro-$r-%' AND status = 'running' AND current_stage = 2")
    [ "$got" = "$NRO" ] && [ "$after" -gt "$before" ] || die "after the passing tick: $got rollouts at stage 2, activations $before -> $after"
    C_ACT[r]=$((after - before))
    echo "    rep $r: rescheduling tick ${C_RESCHED[r]} ms; advancing tick ${C_ADVANCE[r]} ms (${C_ACT[r]} tenants activated)"
    q <<EOF >/dev/null
DO \$\$
BEGIN
    FOR i IN 1..$NRO LOOP
        PERFORM rollout.cancel_rollout('ro-$r-' || i, 'bench');
    END LOOP;
END
\$\$;
EOF
done

# ---------------------------------------------------------------------------
PGVER=$(psql -X -At -c "SHOW server_version")
EXT_CHANGED=
[ "$(ext_id)" = "$EXT_ID" ] || EXT_CHANGED="(Another build, $(ext_id), was installed during the run; this cluster kept build $EXT_ID.)"
ELAPSED=$(( $(date +%s) - RUN_START ))
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
med() { echo "$@" | median; }
MS=$(med "${A_START[*]}"); MP=$(med "${A_PLAIN[*]}"); MF=$(med "${A_FK[*]}"); MC=$(med "${A_CANCEL[*]}"); MD=$(med "${A_DELETE[*]}")
CS=$(med "${A_START_CPU[*]}"); CP=$(med "${A_PLAIN_CPU[*]}"); CC=$(med "${A_CANCEL_CPU[*]}"); CD=$(med "${A_DELETE_CPU[*]}")
MAXR=$(for ((r = 1; r <= REPS; r++)); do ratio "${A_START[r]}" "${A_PLAIN[r]}"; echo; done | maxof)
MAXRC=$(for ((r = 1; r <= REPS; r++)); do ratio "${A_START_CPU[r]}" "${A_PLAIN_CPU[r]}"; echo; done | maxof)
CR=$(med "${C_RESCHED_CPU[*]}"); CA=$(med "${C_ADVANCE_CPU[*]}")
GOAL_A=$(awk -v m="$MAXR" 'BEGIN { print (m <= 1.5 ? "met" : "NOT met") }')
GOAL_AC=$(awk -v m="$MAXRC" 'BEGIN { print (m <= 1.5 ? "met" : "NOT met") }')
GOAL_B=$(awk -v m="${LAT[tick]}" 'BEGIN { print (m < 1000 ? "met" : "NOT met") }')
NET_TICK=$(awk -v a="${LAT[tick]}" -v b="${LAT[one]}" 'BEGIN { printf "%.1f", a - b }')
NET_DUE=$(awk -v a="${LAT[due]}" -v b="${LAT[one]}" 'BEGIN { printf "%.1f", a - b }')
NET_TICK_CPU=$(awk -v a="${CPU[tick]}" -v b="${CPU[one]}" 'BEGIN { printf "%.1f", a - b }')
NET_DUE_CPU=$(awk -v a="${CPU[due]}" -v b="${CPU[one]}" 'BEGIN { printf "%.1f", a - b }')
MR=$(med "${C_RESCHED[*]}"); MA=$(med "${C_ADVANCE[*]}")
per() { awk -v t="$1" -v n="$NRO" 'BEGIN { printf "%.2f", t / n }'; }
MAXA=$(echo "${C_ADVANCE[*]}" | maxof); MAXAC=$(echo "${C_ADVANCE_CPU[*]}" | maxof)
GOAL_C=$(awk -v m="$MAXA" -v n="$NRO" 'BEGIN { print (m / n <= 1 ? "met" : "NOT met") }')
GOAL_CC=$(awk -v m="$MAXAC" -v n="$NRO" 'BEGIN { print (m / n <= 1 ? "met" : "NOT met") }')

echo
echo "---- summary (markdown) ----"
echo "$N tenants ($R organisations, $NTEAMS teams, $LEAVES environments), $NRO rollouts; PostgreSQL $PGVER, $(nproc) cores; $REPS repetitions."
echo "Wall clock from psql \`\\timing\` (round trip included; synchronous_commit = off); CPU = the backend's user + system time for the statement (log_statement_stats)."
echo
echo "(a) Activating a stage of $LEAVES tenants (ms):"
echo
echo "| rep | \`start_rollout\` wall | plain \`INSERT ... SELECT\` wall | ratio | \`start_rollout\` CPU | plain \`INSERT\` CPU | ratio | \`INSERT\` with foreign keys, wall | \`cancel_rollout\` wall | plain \`DELETE\` wall | ratio | \`cancel_rollout\` CPU | plain \`DELETE\` CPU | ratio |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for ((r = 1; r <= REPS; r++)); do
    echo "| $r | ${A_START[r]} | ${A_PLAIN[r]} | $(ratio "${A_START[r]}" "${A_PLAIN[r]}")x | ${A_START_CPU[r]} | ${A_PLAIN_CPU[r]} | $(ratio "${A_START_CPU[r]}" "${A_PLAIN_CPU[r]}")x | ${A_FK[r]} | ${A_CANCEL[r]} | ${A_DELETE[r]} | $(ratio "${A_CANCEL[r]}" "${A_DELETE[r]}")x | ${A_CANCEL_CPU[r]} | ${A_DELETE_CPU[r]} | $(ratio "${A_CANCEL_CPU[r]}" "${A_DELETE_CPU[r]}")x |"
done
echo "| median | $MS | $MP | $(ratio "$MS" "$MP")x | $CS | $CP | $(ratio "$CS" "$CP")x | $MF | $MC | $MD | $(ratio "$MC" "$MD")x | $CC | $CD | $(ratio "$CC" "$CD")x |"
echo
echo "Goal, start_rollout <= 1.5x the plain INSERT in every repetition: wall clock $GOAL_A (worst ${MAXR}x), CPU $GOAL_AC (worst ${MAXRC}x)."
echo
echo "(b) Tick with nothing due, $NRO running rollouts (pgbench -M prepared, 1 client; wall: ${SECS} s each; CPU: $CPU_CALLS calls with log_statement_stats):"
echo
echo "| query | tps | mean µs | net of \`SELECT 1\` µs | CPU µs per call | CPU net of \`SELECT 1\` µs |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
echo "| \`SELECT 1\` | ${TPS[one]} | ${LAT[one]} | | ${CPU[one]} | |"
echo "| due-rollout query over a plain copy (\`LIMIT 100 FOR UPDATE SKIP LOCKED\`) | ${TPS[due]} | ${LAT[due]} | $NET_DUE | ${CPU[due]} | $NET_DUE_CPU |"
echo "| \`SELECT * FROM rollout.tick()\` | ${TPS[tick]} | ${LAT[tick]} | $NET_TICK | ${CPU[tick]} | $NET_TICK_CPU |"
echo
echo "Goal, under 1 ms: $GOAL_B (${LAT[tick]} µs)."
echo
echo "(c) One \`rollout.tick(max_rollouts => $NRO)\` with $NRO due rollouts (ms; per rollout in brackets):"
echo
echo "| rep | stages in their minimum duration, wall | CPU | stages passed (evaluated, completed, next stage started and activated), wall | CPU | tenants activated |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for ((r = 1; r <= REPS; r++)); do
    echo "| $r | ${C_RESCHED[r]} ($(per "${C_RESCHED[r]}")) | ${C_RESCHED_CPU[r]} ($(per "${C_RESCHED_CPU[r]}")) | ${C_ADVANCE[r]} ($(per "${C_ADVANCE[r]}")) | ${C_ADVANCE_CPU[r]} ($(per "${C_ADVANCE_CPU[r]}")) | ${C_ACT[r]} |"
done
echo "| median | $MR ($(per "$MR")) | $CR ($(per "$CR")) | $MA ($(per "$MA")) | $CA ($(per "$CA")) | |"
echo
echo "Goal, advancing tick <= 1 ms per rollout in every repetition: wall clock $GOAL_C (worst $(per "$MAXA") ms), CPU $GOAL_CC (worst $(per "$MAXAC") ms)."
echo "Extension: $EXT_WHAT."
[ -z "$EXT_CHANGED" ] || echo "$EXT_CHANGED"
echo "run time: ${ELAPSED} s"
echo "---- end of summary ----"
