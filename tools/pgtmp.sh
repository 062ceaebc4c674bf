# tools/pgtmp.sh — start and stop a throwaway PostgreSQL 15 cluster in a temp
# directory, with pg_rollout preloaded.  Sourced by tools/demo.sh and
# tools/test.sh.  As root the cluster runs as the postgres user (initdb
# refuses root); otherwise as the current user.
#
#   pgtmp_start [extra postgresql.conf lines...]   exports PGHOST PGPORT PGUSER PGDATABASE
#   pgtmp_stop

PG_BINDIR=$(pg_config --bindir)

pgtmp_as() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pgtmp_free_port() {
    local port
    for port in $(seq 54400 54499); do
        if ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null \
           && [ ! -e "/tmp/.s.PGSQL.$port" ]; then
            echo "$port"
            return 0
        fi
    done
    echo "no free port in 54400-54499" >&2
    return 1
}

pgtmp_start() {
    PGTMP_DIR=$(mktemp -d /tmp/pg_rollout.XXXXXX)
    chmod 755 "$PGTMP_DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$PGTMP_DIR"
    PGTMP_PORT=$(pgtmp_free_port) || return 1
    pgtmp_as "$PG_BINDIR/initdb" -D "$PGTMP_DIR/data" -A trust -U postgres --no-sync >"$PGTMP_DIR/initdb.log" 2>&1 \
        || { cat "$PGTMP_DIR/initdb.log" >&2; return 1; }
    {
        echo "port = $PGTMP_PORT"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$PGTMP_DIR'"
        echo "shared_preload_libraries = 'pg_rollout'"
        echo "fsync = off"
        local line
        for line in "$@"; do echo "$line"; done
    } | pgtmp_as tee -a "$PGTMP_DIR/data/postgresql.conf" >/dev/null
    pgtmp_as "$PG_BINDIR/pg_ctl" -D "$PGTMP_DIR/data" -l "$PGTMP_DIR/server.log" -w start >/dev/null \
        || { cat "$PGTMP_DIR/server.log" >&2; return 1; }
    export PGHOST="$PGTMP_DIR" PGPORT="$PGTMP_PORT" PGUSER=postgres PGDATABASE=postgres
}

pgtmp_stop() {
    [ -n "${PGTMP_DIR:-}" ] || return 0
    pgtmp_as "$PG_BINDIR/pg_ctl" -D "$PGTMP_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PGTMP_DIR"
    PGTMP_DIR=
}
