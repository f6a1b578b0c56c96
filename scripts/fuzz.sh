#!/usr/bin/env bash
# `make fuzz`: runs every fuzz target (go test -fuzz) for FUZZTIME each
# (default 30s). `make test` runs their seed inputs only. A failing input
# is written under the package's testdata/fuzz; keep it as a regression
# test once the bug is fixed.
#
# Go 1.26's fuzz coordinator can end a run with "context deadline
# exceeded" and no failing input, a race at the end of -fuzztime
# (go.dev/issue/75804, fixed in Go 1.27); such a run counts as passed.
set -euo pipefail
cd "$(dirname "$0")/.."
GATEWAY_TEST_POSTGRES_DSN=$(test/postgres/ensure.sh)
export GATEWAY_TEST_POSTGRES_DSN
trap 'test/postgres/stop.sh >/dev/null 2>&1 || true' EXIT
time=${FUZZTIME:-30s}
inputs() { if [[ -d $1 ]]; then find "$1" -type f | wc -l; else echo 0; fi; }
failed=0
while read -r file; do
  dir=$(dirname "${file#./}")
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    echo "fuzz: ./$dir $target for $time" >&2
    corpus="$dir/testdata/fuzz/$target"
    before=$(inputs "$corpus")
    log=$(mktemp)
    if go test "./$dir" -run '^$' -fuzz "^$target\$" -fuzztime "$time" 2>&1 | tee "$log"; then
      :
    elif [[ $(inputs "$corpus") -eq $before ]] && grep -q 'context deadline exceeded' "$log"; then
      echo "fuzz: $target: no failing input; the run ended on Go's fuzztime race (go.dev/issue/75804)" >&2
    else
      failed=1
    fi
    rm -f "$log"
  done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | sort)
exit "$failed"
