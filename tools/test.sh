#!/usr/bin/env bash
# tools/test.sh — run every pg_rollout test suite on throwaway clusters:
# pg_regress (sql/, expected/), isolation specs (test/specs), TAP tests
# (test/t, PostgreSQL::Test::Cluster), the Citus cluster test (test/citus,
# skipped when Citus is not installed) and pgTAP (test/pgtap, pg_prove).
# Installs the Debian packages it needs.  Usage: bash tools/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
. tools/deps.sh
. tools/pgtmp.sh

pgr_install_deps
pgr_build_install

passed=0
failed=0
failures=""
skipped=""
record() {  # record NAME STATUS
    if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures="$failures $1"; fi
}

# pg_regress, isolation and TAP run under `make installcheck`, which starts its
# own instances.  initdb refuses root: as root, run them as postgres in a copy.
WORK="$SRC"
if [ "$(id -u)" = 0 ]; then
    WORK=$(mktemp -d /tmp/pg_rollout-test.XXXXXX)
    cp -a "$SRC/." "$WORK/"
    chown -R postgres: "$WORK"
fi
run_make() {
    if [ "$(id -u)" = 0 ]; then
        (cd "$WORK" && runuser -u postgres -- make -s "$@")
    else
        (cd "$WORK" && make -s "$@")
    fi
}

echo "==> pg_regress"
set +e
run_make installcheck ISOLATION= TAP_TESTS=
st=$?; set -e
[ $st = 0 ] || { [ -f "$WORK/regression.diffs" ] && cat "$WORK/regression.diffs"; }
record pg_regress $st

echo "==> isolation"
set +e
run_make installcheck REGRESS= TAP_TESTS=
st=$?; set -e
[ $st = 0 ] || { [ -f "$WORK/output_iso/regression.diffs" ] && cat "$WORK/output_iso/regression.diffs"; }
record isolation $st

echo "==> TAP (PostgreSQL::Test::Cluster)"
set +e
run_make installcheck REGRESS= ISOLATION= PROVE_FLAGS=-v
st=$?; set -e
if [ $st != 0 ]; then
    for f in "$WORK"/tmp_check/log/*; do [ -f "$f" ] && { echo "--- $f"; tail -n 50 "$f"; }; done
fi
record tap $st

# Citus (test/citus): a coordinator and two workers; needs Citus installed
# in this PostgreSQL (CI builds it with ../shared/vendor/build-citus.sh).
echo "==> Citus (test/citus: coordinator + 2 workers)"
if [ -f "$(pg_config --pkglibdir)/citus.so" ]; then
    set +e
    run_make installcheck REGRESS= ISOLATION= PROVE_TESTS='test/citus/*.pl' PROVE_FLAGS=-v
    st=$?; set -e
    if [ $st != 0 ]; then
        for f in "$WORK"/tmp_check/log/*; do [ -f "$f" ] && { echo "--- $f"; tail -n 50 "$f"; }; done
    fi
    record citus $st
else
    echo "skipped: Citus not installed ($(pg_config --pkglibdir)/citus.so missing; bash ../shared/vendor/build-citus.sh installs it)"
    skipped="$skipped citus"
fi

echo "==> pgTAP (pg_prove)"
pgtmp_start
trap pgtmp_stop EXIT
set +e
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE pgtap_test" &&
    PGDATABASE=pgtap_test psql -X -q -v ON_ERROR_STOP=1 \
        -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION pg_rollout" &&
    PGDATABASE=pgtap_test pg_prove --ext .sql test/pgtap/
st=$?; set -e
record pgtap $st

echo "==> demo script (tools/demo.sql) on the same cluster"
set +e
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE demo_test" &&
    PGDATABASE=demo_test psql -X -q -v ON_ERROR_STOP=1 -f tools/demo.sql >/dev/null
st=$?; set -e
record demo $st

if [ "$WORK" != "$SRC" ] && [ $failed = 0 ]; then rm -rf "$WORK"; fi
echo
echo "suites: $passed passed, $failed failed${failures:+ (failed:$failures)}${skipped:+, skipped:$skipped (Citus not installed)}"
[ $failed = 0 ]
