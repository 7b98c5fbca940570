#!/bin/sh
# Writes the stack's Ed25519 signing keys unless they are there already, so
# the compose stack keeps its keys across restarts. Each private key goes
# into a volume that only its own service mounts, so neither service can
# sign what the other signs. The public halves go into the shared
# public-keys volume:
#   /keys/deposit-status/signing-key.pem            signs maturity attestations
#   /keys/withdrawal-authorization/signing-key.pem  signs release orders (both replicas)
#   /public-keys/deposit-status.pem.pub             verify-audit checks attestations with it
#   /public-keys/withdrawal-authorization.pem.pub   deposit-status trusts release orders signed by it
set -eu

keys_dir=${KEYS_DIR:-/keys}
public_dir=${PUBLIC_KEYS_DIR:-/public-keys}

for service in deposit-status withdrawal-authorization; do
  private_key="$keys_dir/$service/signing-key.pem"
  public_key="$private_key.pub"
  if [ -e "$private_key" ] && [ -e "$public_key" ]; then
    echo "keeping $private_key and $public_key"
  elif [ -e "$private_key" ] || [ -e "$public_key" ]; then
    echo "error: only one of $private_key and $public_key exists; delete it to generate a new pair" >&2
    exit 1
  else
    "$service" generate-key --out "$private_key"
  fi
  cp "$public_key" "$public_dir/$service.pem.pub"
done
