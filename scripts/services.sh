#!/usr/bin/env bash
# Services the tests need, started on loopback as throwaway instances.
#
#   eval "$(bash scripts/services.sh)"     start (or reuse) them; prints NAME=VALUE lines
#   bash scripts/services.sh stop          stop them
#
# Debian packages: installs those in requirements/debian.txt that are missing (as root).
#
# PostgreSQL: runs a private
# cluster in $FEDGOV_PG_DIR (default /tmp/fedgov-pg-PORT) on 127.0.0.1:$FEDGOV_PG_PORT
# (default 55432) with trust authentication, owned by the `postgres` user when run as
# root, and a database `fedgov_test`. A cluster that is already up is reused
# (well under a second); anything left half-done is wiped and made again.
# Durability is switched off (fsync, synchronous_commit): it is for tests only.
#
# Prometheus: prints where the server and promtool are. Nothing is started: the tests
# start their own instances on free ports. If they are missing after the install step,
# that is reported on stderr and the Prometheus tests skip (or fail under CI=true); a
# missing PostgreSQL stops the script.
#
# Only the NAME=VALUE lines go to stdout; progress and errors go to stderr.
set -euo pipefail

pg_dir="${FEDGOV_PG_DIR:-/tmp/fedgov-pg-${FEDGOV_PG_PORT:-55432}}"
pg_port="${FEDGOV_PG_PORT:-55432}"
pg_db="fedgov_test"
data="$pg_dir/data"
say() { echo "services.sh: $*" >&2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
cd /  # the cluster's owner may not be able to read the caller's directory

pg_bindir() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    [[ -n "$d" && -x "$d/initdb" ]] && echo "$d"
}

# Debian packages listed in requirements/debian.txt that are not installed yet, in one
# apt-get run (as root). A failure is reported; the checks below say what is missing.
install_debian_packages() {
    local list="$root/requirements/debian.txt" missing=() pkg
    while read -r pkg; do
        [[ -z "$pkg" ]] && continue
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list")
    ((${#missing[@]} == 0)) && return 0
    if [[ $EUID -ne 0 ]]; then
        say "missing Debian packages: ${missing[*]}; run as root, or: sudo apt-get install -y ${missing[*]}"
        return 1
    fi
    say "installing ${missing[*]} (apt-get, from requirements/debian.txt)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
        apt-get update -q >&2 || return 1
        apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || return 1
    fi
}

require_postgres() {
    if pg_bindir >/dev/null && command -v psql >/dev/null; then
        return
    fi
    say "PostgreSQL is not installed (requirements/debian.txt lists it)"
    exit 1
}

# Run a command as the cluster's owner: `postgres` when we are root (the server refuses
# to run as root), otherwise ourselves.
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

psql_q() {
    as_owner "$bin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tA "$@"
}

ours_is_up() {
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -t 2 || return 1
    local dir
    dir="$(psql_q -c 'SHOW data_directory' 2>/dev/null)" || return 1
    if [[ "$dir" != "$data" ]]; then
        say "port $pg_port is taken by another PostgreSQL (data directory $dir);" \
            "set FEDGOV_PG_PORT to a free port"
        exit 1
    fi
}

fresh_cluster() {
    say "creating a PostgreSQL cluster in $data (port $pg_port)"
    [[ -f "$data/PG_VERSION" ]] && as_owner "$bin/pg_ctl" -D "$data" -m immediate stop \
        >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
    mkdir -p "$pg_dir"
    [[ $EUID -eq 0 ]] && chown postgres:postgres "$pg_dir"
    as_owner "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
        >"$pg_dir/initdb.log" 2>&1 || { cat "$pg_dir/initdb.log" >&2; exit 1; }
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$pg_dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    as_owner "$bin/pg_ctl" -D "$data" -l "$pg_dir/server.log" -w -t 60 start >/dev/null 9>&- \
        || { tail -n 30 "$pg_dir/server.log" >&2; exit 1; }
}

prom_bins() {
    command -v prometheus >/dev/null && command -v promtool >/dev/null
}

prometheus_env() {
    if prom_bins; then
        echo "FEDGOV_PROMETHEUS_BIN=$(command -v prometheus)"
        echo "FEDGOV_PROMTOOL_BIN=$(command -v promtool)"
    else
        say "prometheus/promtool unavailable: the Prometheus tests will skip (fail under CI=true)"
    fi
}

start() {
    # apt only when a program is missing (a PostgreSQL or Prometheus installed some
    # other way, without Debian's package, is used as it is)
    { pg_bindir >/dev/null && command -v psql >/dev/null && prom_bins; } ||
        install_debian_packages || true
    prometheus_env
    require_postgres
    bin="$(pg_bindir)"
    mkdir -p "$(dirname "$pg_dir")"
    exec 9>"$pg_dir.lock"  # one caller at a time sets the cluster up
    flock 9
    if ! ours_is_up; then
        fresh_cluster
    fi
    if [[ -z "$(psql_q -c "SELECT 1 FROM pg_database WHERE datname = '$pg_db'")" ]]; then
        psql_q -c "CREATE DATABASE $pg_db" >/dev/null
    fi
    echo "FEDGOV_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$pg_port/$pg_db"
}

stop() {
    bin="$(pg_bindir)" || exit 0
    if [[ -f "$data/PG_VERSION" ]]; then
        as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
        say "stopped PostgreSQL in $data"
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) say "usage: $0 [start|stop]"; exit 2 ;;
esac
