#!/usr/bin/env bash
# Builds the images docker-compose.yml needs without pulling anything, for
# machines whose Docker engine has no registry:
#
#   1. two Debian bookworm base images from mmdebstrap, imported with
#      `docker import`, only when they are missing: a minimal one and one
#      with Debian's PostgreSQL server;
#   2. a PostgreSQL image on the second, with an entry point that reads the
#      official postgres image's variables (docker/postgres/);
#   3. the services image on the first, from binaries compiled here with
#      cargo (docker/prebuilt.Dockerfile).
#
# Usage: scripts/docker-images.sh [--profile debug|release]
#
# Environment (the names docker-compose.yml reads):
#   BANK_SERVICES_IMAGE  services image to build, default bank-local/services:dev
#   BANK_POSTGRES_IMAGE  PostgreSQL image to build, default bank-local/postgres:15
#   BANK_DEBIAN_MIRROR   Debian mirror for mmdebstrap, default http://deb.debian.org/debian
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile)
      profile=${2:-}
      shift 2 || { echo "error: --profile needs a value: debug or release" >&2; exit 2; }
      ;;
    *)
      echo "error: unknown argument $1; usage: scripts/docker-images.sh [--profile debug|release]" >&2
      exit 2
      ;;
  esac
done
if [[ "$profile" != debug && "$profile" != release ]]; then
  echo "error: invalid --profile ${profile@Q}: expected debug or release" >&2
  exit 2
fi

services_image=${BANK_SERVICES_IMAGE:-bank-local/services:dev}
postgres_image=${BANK_POSTGRES_IMAGE:-bank-local/postgres:15}
mirror=${BANK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
minimal_base=bank-local/bookworm:minbase
postgresql_base=bank-local/bookworm:postgresql
work_dir=target/docker

step() { printf '\n==> %s\n' "$*"; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

ensure_mmdebstrap() {
  command -v mmdebstrap >/dev/null && return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    step "installing mmdebstrap with apt-get, because building the base images needs it"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mmdebstrap
  else
    echo "error: mmdebstrap not found, and this script can install it only as root on Debian. Install the mmdebstrap package" >&2
    exit 1
  fi
}

# Builds a Debian bookworm root file system with the packages in $2
# (comma-separated, may be empty) and imports it as image $1.
build_base_image() {
  local image=$1 packages=$2
  local tarball="$work_dir/${image//[\/:]/-}.tar"
  step "building base image $image with mmdebstrap (bookworm, minbase${packages:+, $packages})"
  ensure_mmdebstrap
  mkdir -p "$work_dir"
  # Debian's postgresql package creates a cluster "main" when installed; the
  # image's entry point creates its own in PGDATA instead.
  mmdebstrap --variant=minbase ${packages:+--include="$packages"} \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/lib/postgresql/*/main "$1"/etc/postgresql/*/main' \
    bookworm "$tarball" "$mirror"
  docker import --message "mmdebstrap --variant=minbase bookworm${packages:+ --include=$packages}" \
    "$tarball" "$image"
  rm -f "$tarball"
}

if ! image_exists "$minimal_base"; then
  build_base_image "$minimal_base" ""
else
  step "base image $minimal_base exists"
fi
if ! image_exists "$postgresql_base"; then
  build_base_image "$postgresql_base" "postgresql-15"
else
  step "base image $postgresql_base exists"
fi

step "building $postgres_image"
docker build --quiet --tag "$postgres_image" --build-arg BASE_IMAGE="$postgresql_base" docker/postgres

cargo_command=(cargo build --locked --package deposit-status --package withdrawal-authorization)
[[ "$profile" == release ]] && cargo_command+=(--release)
step "building the service binaries: ${cargo_command[*]}"
"${cargo_command[@]}"

step "building $services_image from target/$profile"
context="$work_dir/services-context"
rm -rf "$context"
mkdir -p "$context"
for binary in deposit-status withdrawal-authorization; do
  # Debug information is dropped from the copies only: it makes up most of
  # a debug binary and no container needs it.
  objcopy --strip-debug "target/$profile/$binary" "$context/$binary"
done
cp docker/prebuilt.Dockerfile "$context/Dockerfile"
cp docker/generate-compose-keys.sh "$context/generate-compose-keys.sh"
docker build --quiet --tag "$services_image" --build-arg RUNTIME_IMAGE="$minimal_base" "$context"
rm -rf "$context"

step "images ready: BANK_SERVICES_IMAGE=$services_image BANK_POSTGRES_IMAGE=$postgres_image"
