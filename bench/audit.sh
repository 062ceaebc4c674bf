#!/usr/bin/env bash
# bench/audit.sh — the cost of the audit log (issue 17, problem 4), side by
# side in one run on one throwaway cluster:
#   (a) audited: rollout.set_flag() on a random tenant, as it ships (one
#       audit row, no lock; rollout.seal_audit() runs every second beside
#       the clients, as pg_cron would run it);
#   (b) plain: the same transaction with its audit call replaced by an
#       INSERT of one plain row into a table of the same shape and indexes
#       (no hash, no chain): bench.set_flag_plain is rollout.set_flag's own
#       body with that one call changed;
#   (c) mixed orders: each transaction makes two audited calls, in a random
#       order — set_flag on a random shared tenant and set_flag on the
#       client's own organisation.  Each transaction holds at most one
#       contended row lock, so no deadlock is inherent in the workload; with
#       one audit lock held to commit (0.1.0) it deadlocked.  The same with
#       plain rows beside it.
# pgbench, PGR_BENCH_CLIENTS clients, PGR_BENCH_SECONDS seconds each, fsync
# off (tools/pgtmp.sh); deadlocks counted by pgbench (--failures-detailed).
# At the end the log is sealed and verify_audit() must find it intact.
#
#   bash bench/audit.sh
#   PGR_BENCH_SECONDS=5 bash bench/audit.sh      # quick run
#
# Environment:
#   PGR_BENCH_CLIENTS   pgbench clients                    (default 8)
#   PGR_BENCH_SECONDS   pgbench duration of each run       (default 10)
#   PGR_BENCH_TENANTS   tenants set_flag picks from        (default 1000)
#   PGR_BENCH_NO_BUILD  1 = use the installed extension, do not build
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

CLIENTS=${PGR_BENCH_CLIENTS:-8}
SECS=${PGR_BENCH_SECONDS:-10}
NT=${PGR_BENCH_TENANTS:-1000}
die() { echo "audit.sh: $*" >&2; exit 1; }
for v in CLIENTS SECS NT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done

pgr_install_deps
[ "${PGR_BENCH_NO_BUILD:-0}" = 1 ] || pgr_build_install
pgtmp_start "shared_buffers = 256MB" "max_connections = 100" "deadlock_timeout = 100ms"
trap pgtmp_stop EXIT
TMP=$(mktemp -d /tmp/pgr_audit_bench.XXXXXX)
trap 'pgtmp_stop; rm -rf "$TMP"' EXIT

psql -X -q -v ON_ERROR_STOP=1 -v nt="$NT" -v clients="$CLIENTS" <<'SQL'
CREATE EXTENSION pg_rollout;
SELECT rollout.create_tenant('org', kind => 'organisation') IS NOT NULL;
SELECT count(rollout.create_tenant('t' || i, parent_id => 'org')) FROM generate_series(1, :nt) i;
SELECT count(rollout.create_tenant('org' || c, kind => 'organisation')) FROM generate_series(1, :clients) c;
SELECT rollout.create_flag('f') IS NOT NULL;
SELECT count(rollout.create_flag('f' || c)) FROM generate_series(1, :clients) c;
SELECT rollout.seal_audit() >= 0;

-- (b): one plain row of the same shape and indexes, numbered by a sequence
CREATE SCHEMA bench;
CREATE TABLE bench.plain_log (LIKE rollout.audit_log INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE SEQUENCE bench.plain_log_seq;
CREATE FUNCTION bench.plain_row(action text, tenant_id text, subject_kind text, subject_id text,
                                reason text, details jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO bench.plain_log (seq, logged_at, txid, db_user, actor, tenant_id, subject_kind, subject_id,
                                 action, reason, details, prev_hash, row_hash)
    VALUES (nextval('bench.plain_log_seq'), clock_timestamp(), pg_current_xact_id(), session_user,
            nullif(current_setting('pg_rollout.actor', true), ''), tenant_id, subject_kind, subject_id,
            action, reason, details, '\x', '\x')
    RETURNING seq
$$;
DO $$
DECLARE
    def text := pg_get_functiondef('rollout.set_flag(text, text, boolean, text)'::regprocedure);
BEGIN
    def := replace(def, 'FUNCTION rollout.set_flag(', 'FUNCTION bench.set_flag_plain(');
    IF strpos(def, 'rollout._audit(') = 0 THEN
        RAISE EXCEPTION 'rollout.set_flag no longer calls rollout._audit()';
    END IF;
    EXECUTE replace(def, 'rollout._audit(', 'bench.plain_row(');
END $$;

-- (c): two calls in a given order
CREATE FUNCTION bench.two_calls(c int, t int, first_shared boolean, plain boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF plain THEN
        IF first_shared THEN
            PERFORM bench.set_flag_plain('f' || c, 't' || t, t % 2 = 0, 'mixed');
            PERFORM bench.set_flag_plain('f' || c, 'org' || c, t % 2 = 0, 'mixed');
        ELSE
            PERFORM bench.set_flag_plain('f' || c, 'org' || c, t % 2 = 0, 'mixed');
            PERFORM bench.set_flag_plain('f' || c, 't' || t, t % 2 = 0, 'mixed');
        END IF;
    ELSIF first_shared THEN
        PERFORM rollout.set_flag('f' || c, 't' || t, t % 2 = 0, 'mixed');
        PERFORM rollout.set_flag('f' || c, 'org' || c, t % 2 = 0, 'mixed');
    ELSE
        PERFORM rollout.set_flag('f' || c, 'org' || c, t % 2 = 0, 'mixed');
        PERFORM rollout.set_flag('f' || c, 't' || t, t % 2 = 0, 'mixed');
    END IF;
END $$;
VACUUM ANALYZE;
SQL

cat > "$TMP/audited.sql" <<EOF
\set t random(1, $NT)
SELECT rollout.set_flag('f', 't' || :t, :t % 2 = 0, 'bench');
EOF
cat > "$TMP/plain.sql" <<EOF
\set t random(1, $NT)
SELECT bench.set_flag_plain('f', 't' || :t, :t % 2 = 0, 'bench');
EOF
for kind in audited plain; do
    plain=false; [ $kind = plain ] && plain=true
    cat > "$TMP/mixed_$kind.sql" <<EOF
\set t random(1, $NT)
\set o random(0, 1)
BEGIN;
SELECT bench.two_calls(:client_id + 1, :t, :o = 1, $plain);
COMMIT;
EOF
done

# run NAME FILE: pgbench; prints "tps committed deadlocks"
run() {
    local out sealer=""
    if [[ $1 != plain* ]]; then
        ( end=$((SECONDS + SECS + 2)); while [ $SECONDS -lt $end ]; do
              psql -X -q -A -t -c 'SELECT rollout.seal_audit()' >/dev/null 2>&1 || true; sleep 1; done ) &
        sealer=$!
    fi
    out=$(pgbench -n -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" --max-tries=1 --failures-detailed -f "$2" 2>&1) \
        || { echo "$out" >&2; die "pgbench failed for $1"; }
    [ -z "$sealer" ] || wait "$sealer"
    echo "$out" > "$TMP/$1.out"
    local tps committed deadlocks
    tps=$(awk '/^tps/ { printf "%.0f", $3; exit }' <<<"$out")
    committed=$(awk -F': ' '/^number of transactions actually processed/ { split($2, a, "/"); print a[1]; exit }' <<<"$out")
    deadlocks=$(awk -F': ' '/^number of deadlock failures/ { split($2, a, " "); print a[1]; exit }' <<<"$out")
    echo "$tps ${committed:-?} ${deadlocks:-0}"
}

echo "==> $CLIENTS clients, $SECS s per run, set_flag on $NT tenants (seal_audit() every second during audited runs)"
read -r A_TPS A_N A_DL < <(run audited "$TMP/audited.sql")
read -r P_TPS P_N P_DL < <(run plain "$TMP/plain.sql")
read -r MA_TPS MA_N MA_DL < <(run mixed_audited "$TMP/mixed_audited.sql")
read -r MP_TPS MP_N MP_DL < <(run plain_mixed "$TMP/mixed_plain.sql")

psql -X -q -A -t -c 'SELECT rollout.seal_audit()' >/dev/null
VERIFY=$(psql -X -A -t -F ' ' -c 'SELECT intact, rows_checked, rows_unsealed, (SELECT count(*) FROM rollout.audit_seal) FROM rollout.verify_audit()')
read -r INTACT ROWS UNSEALED BLOCKS <<<"$VERIFY"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
printf '| %-52s | %10s | %10s | %9s |\n' "workload ($CLIENTS clients, $SECS s)" "tps" "committed" "deadlocks"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..11})"
printf '| %-52s | %10s | %10s | %9s |\n' "(a) set_flag, audited" "$A_TPS" "$A_N" "$A_DL"
printf '| %-52s | %10s | %10s | %9s |\n' "(b) same transaction, one plain row instead" "$P_TPS" "$P_N" "$P_DL"
printf '| %-52s | %10s | %10s | %9s |\n' "(c) two audited calls, random order" "$MA_TPS" "$MA_N" "$MA_DL"
printf '| %-52s | %10s | %10s | %9s |\n' "(c') two calls, random order, plain rows" "$MP_TPS" "$MP_N" "$MP_DL"
echo
echo "audited / plain: $(ratio "$A_TPS" "$P_TPS") (one call), $(ratio "$MA_TPS" "$MP_TPS") (two calls, mixed order)"
echo "after a final seal: verify_audit() intact = $INTACT, $ROWS rows checked, $UNSEALED unsealed, $BLOCKS blocks"
[ "$INTACT" = t ] || die "the audit log does not verify"
[ "$UNSEALED" = 0 ] || die "rows left unsealed after the final seal"
