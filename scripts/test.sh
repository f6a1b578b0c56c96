#!/usr/bin/env bash
# `make test`: installs or starts what the tests need, then runs every suite.
# A missing dependency that cannot be installed fails the run with a message;
# nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "test: $*" >&2; }

command -v go >/dev/null || { say "Go is missing: install Go 1.26 or later"; exit 1; }

# Debian packages the suites use: SoftHSM and pkcs11-tool (signer and
# quickstart), openssl and curl (client checks), PostgreSQL client tools,
# certbot (ACME), the PC/SC headers step-ca's build needs (an external ACME
# CA of the upstream tests). The Go clients (estclient, scepclient, lego,
# pebble, pebble-challtestsrv) are pinned in test/tools and built by the
# tests from the Go module proxy; step-ca is built by test/stepca.
need=()
command -v softhsm2-util >/dev/null || need+=(softhsm2)
command -v pkcs11-tool >/dev/null || need+=(opensc)
command -v openssl >/dev/null || need+=(openssl)
command -v pg_isready >/dev/null || need+=(postgresql-client)
command -v curl >/dev/null || need+=(curl)
command -v certbot >/dev/null || need+=(certbot)
command -v pkg-config >/dev/null && pkg-config --exists libpcsclite 2>/dev/null || need+=(libpcsclite-dev pkg-config)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    say "missing packages: ${need[*]}; install them (sudo apt-get install -y ${need[*]}) or run as root"; exit 1
  fi
  say "installing ${need[*]}"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi

# PostgreSQL: the one that answers, or a throwaway cluster.
GATEWAY_TEST_POSTGRES_DSN=$(test/postgres/ensure.sh)
export GATEWAY_TEST_POSTGRES_DSN
trap 'test/postgres/stop.sh >/dev/null 2>&1 || true' EXIT
say "PostgreSQL for tests: ${GATEWAY_TEST_POSTGRES_DSN%%\?*}"

say "go vet"
go vet ./...
say "go test"
go test -count=1 -timeout 15m ./... 2>&1 | tee /tmp/gateway-test.$$.log
status=${PIPESTATUS[0]}
passed=$(grep -c '^ok ' /tmp/gateway-test.$$.log || true)
failed=$(grep -cE '^(FAIL|--- FAIL)' /tmp/gateway-test.$$.log || true)
rm -f /tmp/gateway-test.$$.log
echo "packages: $passed passed, $failed failed"
exit "$status"
