#!/usr/bin/env bash
# `make bench`: runs the benchmarks and rewrites BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages: SoftHSM (the token), wrk (the OCSP load generator) and
# the PC/SC headers step-ca's build needs (the ACME benchmark's peer).
need=()
command -v softhsm2-util >/dev/null || need+=(softhsm2)
command -v wrk >/dev/null || need+=(wrk)
pkg-config --exists libpcsclite 2>/dev/null || need+=(libpcsclite-dev pkg-config)
if ((${#need[@]})); then
  [[ $(id -u) -eq 0 ]] || { echo "bench: missing packages: ${need[*]} (apt-get install ${need[*]})" >&2; exit 1; }
  apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi
# PostgreSQL for the issuance benchmark: the one that answers, or a throwaway one.
GATEWAY_TEST_POSTGRES_DSN=$(test/postgres/ensure.sh)
export GATEWAY_TEST_POSTGRES_DSN
trap 'test/postgres/stop.sh >/dev/null 2>&1 || true' EXIT
go run ./test/bench -out BENCHMARKS.md "$@"
