# tools/deps.sh — install the Debian packages pg_rollout needs, when missing.
# Sourced by tools/demo.sh and tools/test.sh.

PGR_PACKAGES="build-essential postgresql-15 postgresql-server-dev-15 postgresql-contrib libjansson-dev libssl-dev \
postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl postgresql-15-cron libipc-run-perl pgbouncer \
prometheus-postgres-exporter prometheus libyaml-libyaml-perl"

pgr_sudo() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

pgr_install_deps() {
    local missing="" pkg
    for pkg in $PGR_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        echo "==> installing Debian packages:$missing"
        pgr_sudo apt-get update -qq
        pgr_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
    # Debian's postgresql package starts a main cluster we don't need; leave it alone.
    export PATH="$(pg_config --bindir):$PATH"
}

# Build and install the extension into the system PostgreSQL 15.
pgr_build_install() {
    echo "==> building and installing pg_rollout"
    make -s clean >/dev/null
    make -s >/dev/null
    pgr_sudo make -s install >/dev/null
}
