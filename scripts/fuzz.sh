#!/usr/bin/env bash
# `make fuzz`: runs every fuzz target (go test -fuzz) for FUZZTIME each
# (default 30s). `make test` runs their seed inputs only. A failing input
# is written under the package's testdata/fuzz; keep it as a regression
# test once the bug is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
GATEWAY_TEST_POSTGRES_DSN=$(test/postgres/ensure.sh)
export GATEWAY_TEST_POSTGRES_DSN
trap 'test/postgres/stop.sh >/dev/null 2>&1 || true' EXIT
time=${FUZZTIME:-30s}
grep -rlE '^func Fuzz' --include='*_test.go' . | sort | while read -r file; do
  pkg=./$(dirname "${file#./}")
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    echo "fuzz: $pkg $target for $time" >&2
    go test "$pkg" -run '^$' -fuzz "^$target\$" -fuzztime "$time"
  done
done
