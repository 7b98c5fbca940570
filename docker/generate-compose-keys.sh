#!/bin/sh
# Writes the stack's Ed25519 signing keys into KEYS_DIR (default /keys)
# unless they are there already, so the compose stack keeps its keys across
# restarts. The services read them read-only:
#   deposit-status.pem                deposit-status signs maturity attestations
#   withdrawal-authorization.pem      both replicas sign release orders
#   withdrawal-authorization.pem.pub  deposit-status trusts these orders
set -eu

keys_dir=${KEYS_DIR:-/keys}

for service in deposit-status withdrawal-authorization; do
  private_key="$keys_dir/$service.pem"
  public_key="$private_key.pub"
  if [ -e "$private_key" ] && [ -e "$public_key" ]; then
    echo "keeping $private_key and $public_key"
  elif [ -e "$private_key" ] || [ -e "$public_key" ]; then
    echo "error: only one of $private_key and $public_key exists; delete it to generate a new pair" >&2
    exit 1
  else
    "$service" generate-key --out "$private_key"
  fi
done
