#!/usr/bin/env bash
# `make bench`: runs the benchmarks and rewrites BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v softhsm2-util >/dev/null; then
  [[ $(id -u) -eq 0 ]] || { echo "bench: softhsm2 is missing (apt-get install softhsm2)" >&2; exit 1; }
  apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q softhsm2 >&2
fi
go run ./test/bench -out BENCHMARKS.md "$@"
