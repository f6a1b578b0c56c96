#!/usr/bin/env bash
# ensure.sh makes sure a PostgreSQL server is there for the tests and prints
# the DSN to use on stdout (and nothing else there: all logs go to stderr).
#
#   export GATEWAY_TEST_POSTGRES_DSN=$(test/postgres/ensure.sh)
#
# 1. If a server answers at $GATEWAY_TEST_POSTGRES_DSN (default
#    postgres://postgres@127.0.0.1:5432/test?sslmode=disable), print that DSN.
# 2. Else, if a throwaway cluster from an earlier run still answers, print
#    its DSN.
# 3. Else install PostgreSQL from the distribution if it is missing (as root,
#    apt-get), start a throwaway cluster (initdb into a temporary directory,
#    trust authentication, port $GATEWAY_TEST_PG_PORT or 55432, listening on
#    127.0.0.1 only, fsync off), create database "test", and print
#    postgres://postgres@127.0.0.1:55432/test?sslmode=disable.
#
# The cluster's directory is recorded in $GATEWAY_TEST_PG_STATE/dir
# (default /tmp/gateway-test-pg/dir); test/postgres/stop.sh stops it and
# removes it. Safe to run again. It never touches any other cluster.
set -euo pipefail

# Keep stdout for the DSN alone.
exec 3>&1 1>&2

default_dsn='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
dsn=${GATEWAY_TEST_POSTGRES_DSN:-$default_dsn}
port=${GATEWAY_TEST_PG_PORT:-55432}
state=${GATEWAY_TEST_PG_STATE:-/tmp/gateway-test-pg}
own_dsn="postgres://postgres@127.0.0.1:${port}/test?sslmode=disable"

log() { echo "ensure.sh: $*"; }
die() { echo "ensure.sh: error: $*"; exit 1; }

# pgbin prints the bin directory of the newest installed PostgreSQL, if any.
pgbin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) || true
    [[ -n $d && -x $d/initdb ]] && echo "$d"
}

# answers DSN: does a server accept a connection and a query there?
answers() {
    local psql
    if command -v psql >/dev/null; then
        psql=psql
    elif [[ -n $(pgbin) ]]; then
        psql=$(pgbin)/psql
    else
        # No client yet: a bare TCP probe of host:port tells us enough to
        # decide whether to start our own.
        local hostport
        hostport=$(sed -E 's|^[a-z]+://([^@/]*@)?([^/?]*).*|\2|' <<<"$1")
        timeout 3 bash -c "exec 9<>/dev/tcp/${hostport%:*}/${hostport##*:}" 2>/dev/null
        return
    fi
    PGCONNECT_TIMEOUT=3 "$psql" "$1" -XAtqc 'SELECT 1' >/dev/null 2>&1
}

if answers "$dsn"; then
    log "PostgreSQL answers at the given DSN"
    echo "$dsn" >&3
    exit 0
fi
log "no PostgreSQL answers at ${dsn%%\?*}; starting a throwaway cluster"

if [[ -f $state/dir ]] && answers "$own_dsn"; then
    log "reusing the cluster in $(cat "$state/dir")"
    echo "$own_dsn" >&3
    exit 0
fi

if [[ -z $(pgbin) ]]; then
    [[ $(id -u) == 0 ]] || die "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
    log "installing PostgreSQL from the distribution"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql
fi
bin=$(pgbin) || die "no initdb under /usr/lib/postgresql/*/bin after installing"

# PostgreSQL refuses to run as root: run it as postgres when we are root.
if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "user postgres does not exist (the postgresql package creates it)"
    as_pg=(runuser -u postgres --)
else
    as_pg=()
fi

# A stale record (cluster gone, machine rebooted): clean up before starting.
if [[ -f $state/dir ]]; then
    old=$(cat "$state/dir")
    log "removing the stale cluster record $old"
    "${as_pg[@]}" "$bin/pg_ctl" -D "$old/data" stop -m immediate >/dev/null 2>&1 || true
    rm -rf -- "$old"
    rm -f -- "$state/dir"
fi

mkdir -p "$state"
dir=$(mktemp -d /tmp/gateway-test-pg.XXXXXX)
if [[ $(id -u) == 0 ]]; then chown postgres: "$dir"; fi
echo "$dir" >"$state/dir"

log "initdb $dir/data"
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log"; die "initdb failed"; }

log "starting PostgreSQL on 127.0.0.1:$port (log $dir/postgres.log)"
opts="-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
# The server must not inherit our stdout (fd 3) or stderr: whoever runs
# $(ensure.sh) would wait for them to close, that is for the server to stop.
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "$opts" -w -t 60 start \
    </dev/null >"$dir/pg_ctl.log" 2>&1 3>&- \
    || { tail -n 20 "$dir/pg_ctl.log" "$dir/postgres.log" || true; die "pg_ctl start failed (is port $port taken?)"; }

for _ in $(seq 1 60); do
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
done
"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" || die "PostgreSQL did not become ready on port $port"

"$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'CREATE DATABASE test' \
    || die "CREATE DATABASE test failed"
answers "$own_dsn" || die "the new cluster does not answer at $own_dsn"

log "ready; stop it with test/postgres/stop.sh"
echo "$own_dsn" >&3
