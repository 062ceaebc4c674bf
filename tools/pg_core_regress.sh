#!/usr/bin/env bash
# tools/pg_core_regress.sh — PostgreSQL's own regression suite (src/test/regress,
# parallel schedule) three times on throwaway instances: without pg_rollout,
# then with pg_rollout in shared_preload_libraries in log_only and in enforce
# mode.  Prints the failing tests of each run and whether the runs with the
# library fail anything the baseline does not (the baseline can fail a test
# or two when the source is a different minor release than the server).
#
#   bash tools/pg_core_regress.sh [PGSRC]
#
# PGSRC: an unpacked PostgreSQL 15 source tree.  Without it, the Debian
# source package of the installed server (or the nearest one available) is
# fetched with `apt-get source`, which needs deb-src lines in apt's sources
# (see docs/isolation.md, "PostgreSQL's regression suite").  Not part of
# tools/test.sh: it takes several minutes and the source package.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
BINDIR=$(pg_config --bindir)
PGXS=$(pg_config --pgxs)
REGRESS_BIN=$(dirname "$PGXS")/../test/regress/pg_regress
WORK=$(mktemp -d /tmp/pg_core_regress.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

PGSRC=${1:-}
if [ -z "$PGSRC" ]; then
    ver=$(pg_config --version | awk '{print $2}')
    (cd "$WORK" && { apt-get source --download-only -qq "postgresql-15=$ver-0+deb12u1" >/dev/null 2>&1 \
        || apt-get source --download-only -qq postgresql-15 >/dev/null 2>&1; }) \
        || { echo "could not fetch the postgresql-15 source package: add deb-src to apt's sources, or pass a source tree" >&2; exit 2; }
    tar xjf "$WORK"/postgresql-15_*.orig.tar.bz2 -C "$WORK"
    PGSRC=$(ls -d "$WORK"/postgresql-15.*/ | head -1)
fi
PGSRC=${PGSRC%/}
echo "source: $PGSRC   server: $(pg_config --version)"

# regress.so, and autoinc.so / refint.so from contrib/spi, built with PGXS
mkdir -p "$WORK/lib"
cp "$PGSRC/src/test/regress/regress.c" "$PGSRC/contrib/spi/autoinc.c" "$PGSRC/contrib/spi/refint.c" "$WORK/lib/"
printf 'MODULES = regress autoinc refint\nPG_CONFIG = pg_config\nPGXS := $(shell $(PG_CONFIG) --pgxs)\ninclude $(PGXS)\n' > "$WORK/lib/Makefile"
make -s -C "$WORK/lib" >/dev/null
cp -a "$PGSRC/src/test/regress" "$WORK/regress"
[ "$(id -u)" = 0 ] && chown -R postgres: "$WORK"

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

run() {  # run NAME [postgresql.conf lines...]
    local name=$1; shift
    local out="$WORK/out-$name"
    mkdir -p "$out"
    printf '%s\n' "$@" > "$WORK/$name.conf"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$out" "$WORK/$name.conf"
    set +e
    (cd "$WORK/regress" && as_pg "$REGRESS_BIN" --temp-instance="$out/tmp" --temp-config="$WORK/$name.conf" \
        --bindir="$BINDIR" --inputdir="$WORK/regress" --outputdir="$out" --dlpath="$WORK/lib" \
        --schedule=parallel_schedule --max-concurrent-tests=20 >"$out/summary.txt" 2>&1)
    set -e
    grep -E "^(not ok|test .*FAILED| +[a-z_0-9]+ +\.\.\. FAILED)" "$out/summary.txt" | sed -E 's/^not ok +[0-9]+ +[-+] +//; s/^test +//; s/ +\.\.\. FAILED.*//; s/^ +//; s/ +[0-9]+ ms$//' \
        | awk '{print $1}' | sort -u > "$out/failed.txt" || true
    printf '%-10s %s tests failed: %s\n' "$name" "$(wc -l < "$out/failed.txt")" "$(tr '\n' ' ' < "$out/failed.txt")"
}

run baseline
run log_only "shared_preload_libraries = 'pg_rollout'" "pg_rollout.enforcement_mode = 'log_only'"
run enforce "shared_preload_libraries = 'pg_rollout'" "pg_rollout.enforcement_mode = 'enforce'"

status=0
for m in log_only enforce; do
    new=$(comm -13 "$WORK/out-baseline/failed.txt" "$WORK/out-$m/failed.txt")
    # beyond pass/fail: every test's output must be the baseline's
    changed=""
    for f in "$WORK/out-baseline/results/"*.out; do
        t=$(basename "$f" .out)
        cmp -s "$f" "$WORK/out-$m/results/$t.out" || changed="$changed $t"
    done
    if [ -n "$new" ] || [ -n "$changed" ]; then
        echo "$m: new failures:${new:- none}; output different from the baseline:${changed:- none}"
        for t in $new $changed; do
            diff -u "$WORK/out-baseline/results/$t.out" "$WORK/out-$m/results/$t.out" | head -40 || true
        done
        status=1
    else
        echo "$m: no failure the baseline does not have, and every test's output equals the baseline's"
    fi
done
[ -n "${KEEP:-}" ] && { trap - EXIT; echo "kept: $WORK"; }
exit $status
