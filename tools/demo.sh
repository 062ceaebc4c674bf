#!/usr/bin/env bash
# tools/demo.sh — pg_rollout on a throwaway cluster: installs what is missing,
# builds and installs the extension, starts a temporary PostgreSQL 15 with the
# library preloaded, builds seed 000's acme-corp tenant tree and shows it.
# On a terminal it then opens psql on the demo database; the cluster is
# removed when you quit.  Usage: bash tools/demo.sh [--no-shell]
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. tools/pgtmp.sh

pgr_install_deps
pgr_build_install
echo "==> starting a throwaway cluster"
pgtmp_start
trap pgtmp_stop EXIT
psql -X -q -c "CREATE DATABASE demo"
export PGDATABASE=demo
psql -X -v ON_ERROR_STOP=1 -f tools/demo.sql

if [ -t 0 ] && [ -t 1 ] && [ "${1:-}" != "--no-shell" ]; then
    echo
    echo "==> psql on the demo database (\\q quits and removes the cluster)"
    psql -X
fi
