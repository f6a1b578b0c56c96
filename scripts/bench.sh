#!/usr/bin/env bash
# `make bench`: runs the benchmarks and rewrites BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v softhsm2-util >/dev/null; then
  [[ $(id -u) -eq 0 ]] || { echo "bench: softhsm2 is missing (apt-get install softhsm2)" >&2; exit 1; }
  apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q softhsm2 >&2
fi
# PostgreSQL for the issuance benchmark: the one that answers, or a throwaway one.
GATEWAY_TEST_POSTGRES_DSN=$(test/postgres/ensure.sh)
export GATEWAY_TEST_POSTGRES_DSN
trap 'test/postgres/stop.sh >/dev/null 2>&1 || true' EXIT
go run ./test/bench -out BENCHMARKS.md "$@"
