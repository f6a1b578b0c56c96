#!/usr/bin/env bash
# The quickstart behind `make run`: a gateway with an embedded store and a
# SoftHSM token, all state under ./var (or $GATEWAY_VAR). Safe to run again:
# it reuses the token, the configuration and the CA hierarchy it finds.
#
#   GATEWAY_BIN   the gateway binary (default bin/gateway)
#   GATEWAY_VAR   the state directory (default var)
#   QUICKSTART_NO_SERVE=1  set up only, do not start the server
set -euo pipefail

BIN=${GATEWAY_BIN:-bin/gateway}
VAR=${GATEWAY_VAR:-var}
say() { echo "quickstart: $*" >&2; }

find_module() {
  for p in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
           /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
    [[ -f $p ]] && { echo "$p"; return 0; }
  done
  return 1
}

# 1. SoftHSM, from the distribution's packages.
if ! command -v softhsm2-util >/dev/null || ! find_module >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    say "SoftHSM is missing; install it with: sudo apt-get install -y softhsm2 opensc"; exit 1
  fi
  say "installing softhsm2 and opensc"
  apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q softhsm2 opensc >&2
fi
MODULE=$(find_module)

umask 077
mkdir -p "$VAR/tokens"
VARABS=$(cd "$VAR" && pwd)

# 2. The token: label gateway, PIN in var/pin.
if [[ ! -f $VAR/softhsm2.conf ]]; then
  cat >"$VAR/softhsm2.conf" <<CONF
directories.tokendir = $VARABS/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
fi
export SOFTHSM2_CONF=$VARABS/softhsm2.conf
random_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c "$1"; }
[[ -f $VAR/pin ]] || { random_secret 16 >"$VAR/pin"; chmod 600 "$VAR/pin"; }
[[ -f $VAR/so-pin ]] || { random_secret 16 >"$VAR/so-pin"; chmod 600 "$VAR/so-pin"; }
if ! softhsm2-util --show-slots 2>/dev/null | grep -qE '^\s*Label:\s+gateway\s*$'; then
  say "creating SoftHSM token 'gateway' in $VAR/tokens"
  softhsm2-util --init-token --free --label gateway --pin "$(cat "$VAR/pin")" --so-pin "$(cat "$VAR/so-pin")" >&2
fi

# 3. The configuration.
if [[ ! -f $VAR/gateway.yaml ]]; then
  say "writing $VAR/gateway.yaml"
  cat >"$VAR/gateway.yaml" <<YAML
# Written by the quickstart (scripts/quickstart.sh); see gateway.example.yaml
# for every key. Environment variables GATEWAY_* override scalar keys.
log: {format: text, level: info}
listen:
  https: ":8443"
  http: ":8080"
  public_url: "http://localhost:8080"
  tls:
    auto: true
    cert_file: $VAR/tls.pem
    key_file: $VAR/tls.key
    ca: issuing
    dns_names: [localhost]
    ip_addresses: [127.0.0.1]
storage:
  driver: sqlite
  path: $VAR/gateway.db
signer:
  type: pkcs11
  pkcs11:
    members:
      - module: $MODULE
        token_label: gateway
    pin_file: $VAR/pin
cas:
  - name: root
    key: {type: ecdsa-p384, label: gateway-root}
    subject: {common_name: Gateway quickstart root CA, organization: Certificate Gateway, country: XX}
  - name: issuing
    parent: root
    key: {type: ecdsa-p256, label: gateway-issuing}
    subject: {common_name: Gateway quickstart issuing CA, organization: Certificate Gateway, country: XX}
profiles:
  # Every enrollment method, any DNS name (wildcards too), any IP address,
  # e-mail address and URI; the gateway may generate keys.
  - name: default
    ca: issuing
    methods: [acme, est, scep, cmp, api]
    names:
      dns: ["*"]
      wildcards: true
      ip_ranges: [0.0.0.0/0, "::/0"]
      emails: ["*"]
      uris: ["*"]
    server_keygen: true
    scep:
      # First enrollments carry this challenge password (RFC 8894).
      challenge_file: $VAR/scep-challenge
    cmp:
      # CMP requests name this secret (senderKID) and are protected with it.
      reference: quickstart
      secret_file: $VAR/cmp-secret
keystore:
  # The keys the gateway generates are sealed under a key-encryption key
  # kept in kek_file, wrapped by the AES key kek_label in the token.
  kek_file: $VAR/kek
  wrap: token
  kek_label: gateway-kek
acme:
  validation:
    # Everything the quickstart serves is on this machine.
    allow_private_targets: true
YAML
fi
export GATEWAY_CONFIG=$VAR/gateway.yaml

# 4. The CA hierarchy (idempotent) and the root to trust.
"$BIN" init -config "$VAR/gateway.yaml" -root-out "$VAR/root.pem" >&2

# 5. An API token with every scope, once.
if [[ ! -f $VAR/admin-token ]]; then
  "$BIN" token create -config "$VAR/gateway.yaml" -name quickstart-admin \
    -scope admin,issue,read,revoke -out "$VAR/admin-token" >&2
fi

# 6. EST HTTP Basic credentials for the profile default, once.
if [[ ! -f $VAR/est-credentials ]]; then
  est_pass=$(random_secret 32)
  printf '%s\n' "$est_pass" | "$BIN" est user add -config "$VAR/gateway.yaml" -profile default \
    -user estuser -password-stdin -replace >&2
  printf 'estuser:%s\n' "$est_pass" >"$VAR/est-credentials"
  chmod 600 "$VAR/est-credentials"
fi

# 7. The SCEP challenge password of the profile default, once.
if [[ ! -f $VAR/scep-challenge ]]; then
  random_secret 32 >"$VAR/scep-challenge"
  chmod 600 "$VAR/scep-challenge"
fi

# 8. The CMP shared secret of the profile default, once.
if [[ ! -f $VAR/cmp-secret ]]; then
  random_secret 32 >"$VAR/cmp-secret"
  chmod 600 "$VAR/cmp-secret"
fi

[[ ${QUICKSTART_NO_SERVE:-} == 1 ]] && exit 0
say "serving: https://localhost:8443 (trust $VAR/root.pem), http://localhost:8080"
exec "$BIN" serve -config "$VAR/gateway.yaml"
