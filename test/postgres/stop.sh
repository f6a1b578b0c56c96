#!/usr/bin/env bash
# stop.sh stops and removes the throwaway PostgreSQL cluster that ensure.sh
# started, if any. It touches nothing else: a server that ensure.sh merely
# found running is left alone.
set -euo pipefail

state=${GATEWAY_TEST_PG_STATE:-/tmp/gateway-test-pg}
log() { echo "stop.sh: $*" >&2; }

if [[ ! -f $state/dir ]]; then
    log "no throwaway cluster recorded in $state/dir; nothing to stop"
    exit 0
fi
dir=$(cat "$state/dir")
case $dir in
    /tmp/gateway-test-pg.*) ;;
    *) log "refusing to remove $dir: not a directory ensure.sh creates"; exit 1 ;;
esac

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) || true
if [[ -d $dir/data && -n $bin ]]; then
    as_pg=()
    if [[ $(id -u) == 0 ]]; then as_pg=(runuser -u postgres --); fi
    if "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        log "stopping the cluster in $dir"
        "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" stop -m fast -w >/dev/null
    fi
fi
rm -rf -- "$dir"
rm -f -- "$state/dir"
log "removed $dir"
